//! Registry authentication end to end: htpasswd (Basic) with `berth login`/`logout`
//! and `docker login` through berth's `POST /auth`; Bearer tokens from berth's
//! built-in token server (ACLs: push for one user, pull for another, nothing for
//! anonymous) and from a small fixture token server that records every token request
//! (scopes asked, pull → push upgrade, tokens cached until `expires_in`).

mod dist_common;
mod support;

use base64::Engine as _;
use dist_common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use support::{fails, ok};

fn config_json(d: &support::Daemon) -> Option<serde_json::Value> {
    std::fs::read(docker_config(d).join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

fn htpasswd_flow(kind: Kind) {
    let dir = tempfile::tempdir().expect("tmp");
    let ht = htpasswd(dir.path(), &[("alice", "wonderland")]);
    let Some(reg) = Registry::start(
        kind,
        &format!(
            "auth:\n  htpasswd:\n    realm: Registry Realm\n    path: {}\n",
            ht.display()
        ),
    ) else {
        return;
    };
    let host = reg.host();
    let d = daemon(&[]);
    busybox_image(&d, "bb:1");
    let name = format!("{host}/alice/bb:1");
    ok(berth(&d, &["tag", "bb:1", &name]));
    // Not logged in: refused, clearly.
    let err = fails(berth(&d, &["push", &name]));
    assert!(
        err.contains("no basic auth credentials") && err.contains(&host),
        "{err}"
    );
    // Wrong password: a clear error, nothing written.
    let err = fails(berth_in(
        &d,
        &["login", "-u", "alice", "--password-stdin", &host],
        Some("nope\n"),
    ));
    assert!(err.contains("401") && err.contains(&host), "{err}");
    assert!(
        config_json(&d).is_none(),
        "no credentials written on failure"
    );
    // Right password: stored as docker does.
    let out = ok(berth_in(
        &d,
        &["login", "-u", "alice", "--password-stdin", &host],
        Some("wonderland\n"),
    ));
    assert!(out.contains("Login Succeeded"), "{out}");
    let cfg = config_json(&d).expect("config.json");
    let want = base64::engine::general_purpose::STANDARD.encode("alice:wonderland");
    assert_eq!(cfg["auths"][&host]["auth"], want.as_str());
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(docker_config(&d).join("config.json"))
            .expect("meta")
            .permissions(),
    );
    assert_eq!(mode & 0o077, 0, "config.json is private");
    ok(berth(&d, &["push", &name]));
    ok(berth(&d, &["rmi", "bb:1", &name]));
    ok(berth(&d, &["pull", &name]));
    assert_eq!(
        ok(berth(&d, &["run", "--rm", &name, "echo", "authed"])).trim(),
        "authed"
    );
    // Logout removes them; pulling is refused again.
    let out = ok(berth(&d, &["logout", &host]));
    assert!(
        out.contains(&format!("Removing login credentials for {host}")),
        "{out}"
    );
    assert!(config_json(&d).expect("config")["auths"]
        .get(&host)
        .is_none());
    ok(berth(&d, &["rmi", &name]));
    let err = fails(berth(&d, &["pull", &name]));
    assert!(err.contains("no basic auth credentials"), "{err}");
    // The real docker CLI logs in through berth's POST /auth.
    if support::have("docker") {
        let mut c = std::process::Command::new("docker");
        c.env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", d.dir.path().join("docker-cli-config"))
            .args(["login", "-u", "alice", "--password-stdin", &host])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut ch = c.spawn().expect("docker");
        ch.stdin
            .take()
            .expect("stdin")
            .write_all(b"wonderland\n")
            .expect("write");
        let o = ch.wait_with_output().expect("docker login");
        assert!(o.status.success(), "docker login: {}", support::stderr(&o));
        assert!(support::stdout(&o).contains("Login Succeeded"));
    }
}

#[test]
fn htpasswd_login_push_pull_logout_berth_registry() {
    htpasswd_flow(Kind::Berth);
}

#[test]
fn htpasswd_login_push_pull_logout_distribution() {
    htpasswd_flow(Kind::Distribution);
}

#[test]
fn bearer_tokens_from_the_builtin_token_server() {
    let dir = tempfile::tempdir().expect("tmp");
    let ht = htpasswd(dir.path(), &[("alice", "pw-a"), ("bob", "pw-b")]);
    let (crt, key) = token_cert(dir.path());
    let Some(reg) = Registry::start(
        Kind::Berth,
        &format!(
            "http:\n  addr: 127.0.0.1:{{port}}\nauth:\n  htpasswd:\n    realm: berth\n    path: {ht}\n  token:\n    realm: http://127.0.0.1:{{port}}/token\n    service: berth-registry\n    issuer: berth-token-issuer\n    rootcertbundle: {crt}\n    signingkey: {key}\n    acl:\n      - account: alice\n        name: alice/*\n        actions: [pull, push]\n      - account: bob\n        name: alice/*\n        actions: [pull]\n",
            ht = ht.display(),
            crt = crt.display(),
            key = key.display()
        ),
    ) else {
        return;
    };
    let host = reg.host();
    let d = daemon(&[]);
    busybox_image(&d, "bb:1");
    let name = format!("{host}/alice/app:1");
    ok(berth(&d, &["tag", "bb:1", &name]));
    let err = fails(berth(&d, &["push", &name]));
    assert!(
        err.to_lowercase().contains("unauthorized") || err.contains("denied"),
        "{err}"
    );
    ok(berth_in(
        &d,
        &["login", "-u", "alice", "--password-stdin", &host],
        Some("pw-a\n"),
    ));
    ok(berth(&d, &["push", &name]));
    // bob may pull but not push.
    ok(berth(&d, &["logout", &host]));
    let err = fails(berth_in(
        &d,
        &["login", "-u", "bob", "--password-stdin", &host],
        Some("wrong\n"),
    ));
    assert!(
        err.contains("401") || err.to_lowercase().contains("unauthorized"),
        "{err}"
    );
    ok(berth_in(
        &d,
        &["login", "-u", "bob", "--password-stdin", &host],
        Some("pw-b\n"),
    ));
    ok(berth(&d, &["rmi", "bb:1", &name]));
    ok(berth(&d, &["pull", &name]));
    assert_eq!(
        ok(berth(&d, &["run", "--rm", &name, "echo", "bob"])).trim(),
        "bob"
    );
    let err = fails(berth(&d, &["push", &name]));
    assert!(!err.is_empty());
    // Anonymous: nothing.
    ok(berth(&d, &["logout", &host]));
    ok(berth(&d, &["rmi", &name]));
    let err = fails(berth(&d, &["pull", &name]));
    assert!(err.contains("pull access denied"), "{err}");
}

/// (user, scopes) of each token request the fixture token server answered.
type SeenScopes = Arc<Mutex<Vec<(String, Vec<String>)>>>;

/// A token server in the shape of Docker Hub's auth service: Basic-authenticated
/// `GET /token?service=&scope=`, answering RS256 JWTs (with the signing certificate
/// in `x5c`) that grant what was asked to `alice` and only `pull` to anonymous users.
struct FixtureTokens {
    port: u16,
    /// (user, scopes) per token request.
    seen: SeenScopes,
}

fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

fn start_fixture_tokens(
    crt: &std::path::Path,
    key: &std::path::Path,
    issuer: &str,
) -> FixtureTokens {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen: SeenScopes = Default::default();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&std::fs::read(key).expect("key"))
        .expect("rsa key");
    let x5c = pem_body(&std::fs::read_to_string(crt).expect("crt"));
    let issuer = issuer.to_string();
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut r = BufReader::new(conn.try_clone().expect("clone"));
            let mut first = String::new();
            let _ = r.read_line(&mut first);
            let mut user = String::new();
            loop {
                let mut l = String::new();
                if r.read_line(&mut l).unwrap_or(0) == 0 || l == "\r\n" {
                    break;
                }
                if let Some(v) = l
                    .strip_prefix("Authorization: Basic ")
                    .or_else(|| l.strip_prefix("authorization: Basic "))
                {
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(v.trim())
                        .unwrap_or_default();
                    let s = String::from_utf8_lossy(&raw).into_owned();
                    if s == "alice:pw-a" {
                        user = "alice".into();
                    } else {
                        user = "!bad".into();
                    }
                }
            }
            let target = first.split_whitespace().nth(1).unwrap_or("").to_string();
            let url = url::Url::parse(&format!("http://x{target}")).expect("url");
            let mut service = String::new();
            let mut scopes = Vec::new();
            for (k, v) in url.query_pairs() {
                match k.as_ref() {
                    "service" => service = v.into_owned(),
                    "scope" => scopes.push(v.into_owned()),
                    _ => {}
                }
            }
            s2.lock()
                .expect("seen")
                .push((user.clone(), scopes.clone()));
            let mut w = conn;
            if user == "!bad" {
                let _ = w.write_all(
                    b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                continue;
            }
            let access: Vec<serde_json::Value> = scopes
                .iter()
                .filter_map(|s| {
                    let mut p = s.splitn(3, ':');
                    let (t, n, a) = (p.next()?, p.next()?, p.next()?);
                    let actions: Vec<&str> = a
                        .split(',')
                        .filter(|x| user == "alice" || *x == "pull")
                        .collect();
                    Some(serde_json::json!({"type": t, "name": n, "actions": actions}))
                })
                .collect();
            let now = chrono::Utc::now().timestamp();
            let claims = serde_json::json!({
                "iss": issuer, "sub": user, "aud": service, "exp": now + 300, "nbf": now - 10,
                "iat": now, "jti": format!("{now}-{}", rand_suffix()), "access": access,
            });
            let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
            h.x5c = Some(vec![x5c.clone()]);
            let tok = jsonwebtoken::encode(&h, &claims, &key).expect("jwt");
            let body = serde_json::json!({"token": tok, "expires_in": 300}).to_string();
            let _ = write!(
                w,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    FixtureTokens { port, seen }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0)
}

#[test]
fn bearer_tokens_from_a_fixture_token_server_with_scope_upgrade_and_caching() {
    let dir = tempfile::tempdir().expect("tmp");
    let (crt, key) = token_cert(dir.path());
    let tokens = start_fixture_tokens(&crt, &key, "fixture-issuer");
    let kind = if std::path::Path::new(DISTRIBUTION).exists() {
        Kind::Distribution
    } else {
        Kind::Berth
    };
    let Some(reg) = Registry::start(
        kind,
        &format!(
            "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: fixture-registry\n    issuer: fixture-issuer\n    rootcertbundle: {}\n",
            tokens.port,
            crt.display()
        ),
    ) else {
        return;
    };
    let host = reg.host();
    let d = daemon(&[]);
    busybox_image(&d, "bb:1");
    let name = format!("{host}/fx/app:1");
    ok(berth(&d, &["tag", "bb:1", &name]));
    ok(berth_in(
        &d,
        &["login", "-u", "alice", "--password-stdin", &host],
        Some("pw-a\n"),
    ));
    let out = ok(berth(&d, &["push", &name]));
    assert!(out.contains("Pushed"), "{out}");
    let seen = tokens.seen.lock().expect("seen").clone();
    assert!(
        seen.iter()
            .any(|(u, s)| u == "alice" && s.iter().any(|x| x == "repository:fx/app:pull,push")),
        "push asked for pull,push: {seen:?}"
    );
    // Pull twice: the pull-scoped token is fetched once, then served from the cache.
    ok(berth(&d, &["rmi", "bb:1", &name]));
    let before = tokens.seen.lock().expect("seen").len();
    ok(berth(&d, &["pull", &name]));
    let mid = tokens.seen.lock().expect("seen").clone();
    assert!(
        mid[before..]
            .iter()
            .all(|(_, s)| s == &vec!["repository:fx/app:pull".to_string()]),
        "{mid:?}"
    );
    assert!(
        mid.len() - before <= 1,
        "one token for the pull: {:?}",
        &mid[before..]
    );
    ok(berth(&d, &["rmi", &name]));
    ok(berth(&d, &["pull", &name]));
    assert_eq!(
        tokens.seen.lock().expect("seen").len(),
        mid.len(),
        "cached token reused"
    );
    assert_eq!(
        ok(berth(&d, &["run", "--rm", &name, "echo", "fx"])).trim(),
        "fx"
    );
    // A wrong password at the token server: clear error, nothing stored.
    let d2 = daemon(&[]);
    let err = fails(berth_in(
        &d2,
        &["login", "-u", "alice", "--password-stdin", &host],
        Some("bad\n"),
    ));
    assert!(
        err.to_lowercase().contains("unauthorized") && err.contains(&host),
        "{err}"
    );
    assert!(config_json(&d2).is_none());
}

/// `credsStore` in config.json: the secret goes to `docker-credential-<name>`, the
/// file only lists the registry, and pushes/pulls get the secret back from the helper.
#[test]
fn credentials_helper_from_creds_store() {
    let dir = tempfile::tempdir().expect("tmp");
    let ht = htpasswd(dir.path(), &[("carol", "helper-pw")]);
    let Some(reg) = Registry::start(
        Kind::Berth,
        &format!(
            "auth:\n  htpasswd:\n    realm: r\n    path: {}\n",
            ht.display()
        ),
    ) else {
        return;
    };
    let host = reg.host();
    // A helper speaking the docker-credential-helpers protocol, storing in a file.
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let store = dir.path().join("helper-store.json");
    let script = format!(
        "#!/bin/sh\nS={s}\ncase \"$1\" in\n store) cat > \"$S\" ;;\n get) read url; if [ -f \"$S\" ]; then cat \"$S\"; else echo 'credentials not found in native keychain'; exit 1; fi ;;\n erase) rm -f \"$S\" ;;\nesac\n",
        s = store.display()
    );
    let helper = bin.join("docker-credential-berthtest");
    std::fs::write(&helper, script).expect("helper");
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let d = daemon(&[]);
    std::fs::create_dir_all(docker_config(&d)).expect("cfg dir");
    std::fs::write(
        docker_config(&d).join("config.json"),
        r#"{"credsStore": "berthtest"}"#,
    )
    .expect("cfg");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut c = std::process::Command::new(support::BERTH);
        c.env("BERTH_HOST", d.host())
            .env("DOCKER_CONFIG", docker_config(&d))
            .env("PATH", &path)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut ch = c.spawn().expect("berth");
        if let (Some(mut i), Some(s)) = (ch.stdin.take(), stdin) {
            i.write_all(s.as_bytes()).expect("stdin");
        }
        ch.wait_with_output().expect("out")
    };
    ok(run(
        &["login", "-u", "carol", "--password-stdin", &host],
        Some("helper-pw\n"),
    ));
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&store).expect("helper store")).expect("json");
    assert_eq!(stored["ServerURL"], host.as_str());
    assert_eq!(stored["Username"], "carol");
    assert_eq!(stored["Secret"], "helper-pw");
    let cfg = config_json(&d).expect("cfg");
    assert_eq!(
        cfg["auths"][&host],
        serde_json::json!({}),
        "no secret in the file: {cfg}"
    );
    assert_eq!(cfg["credsStore"], "berthtest");
    busybox_image(&d, "bb:1");
    let name = format!("{host}/carol/bb:1");
    ok(berth(&d, &["tag", "bb:1", &name]));
    ok(run(&["push", &name], None));
    ok(run(&["logout", &host], None));
    assert!(!store.exists(), "helper erase called");
}
