//! Real clients written by others against `berth registry`: skopeo (copy, inspect,
//! list-tags, delete), TLS trust through a `certs.d/<host:port>/ca.crt` directory with
//! certificates made by openssl as in the guide, client certificates, htpasswd, and the
//! token flow (401 challenge → token from the built-in token server → manifest) with curl.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

fn skopeo() -> Command {
    let mut c = Command::new("skopeo");
    c.arg("--insecure-policy");
    c
}

/// CA + server certificate made with openssl, as the guide does (plus a SAN, which Go
/// clients require). Returns (ca.crt, server.crt, server.key).
fn openssl_certs(dir: &Path) -> (String, String, String) {
    let sh = format!(
        "set -e; cd {d}
openssl genrsa -out rootCA.key 2048 2>/dev/null
openssl req -x509 -new -nodes -key rootCA.key -sha256 -days 10000 -subj /CN=test-root-ca -out rootCA.crt
openssl genrsa -out registry.key 2048 2>/dev/null
openssl req -new -key registry.key -subj /CN=127.0.0.1 -out registry.csr
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext
openssl x509 -req -in registry.csr -CA rootCA.crt -CAkey rootCA.key -CAcreateserial -out registry.crt -days 5000 -sha256 -extfile san.ext 2>/dev/null",
        d = dir.display()
    );
    let (ok, out) = run(Command::new("sh").arg("-c").arg(&sh));
    assert!(ok, "openssl: {out}");
    let p = |n: &str| dir.join(n).display().to_string();
    (p("rootCA.crt"), p("registry.crt"), p("registry.key"))
}

#[test]
fn skopeo_copy_inspect_list_tags_delete() {
    if !have("skopeo") {
        return;
    }
    let s = Berth::start("");
    let work = tempfile::tempdir().expect("tmp");
    let layer = busybox_oci_layout(work.path());
    let oci = format!("oci:{}:latest", work.path().join("oci").display());
    let dest = format!("docker://{}/library/busybox:latest", s.host());
    let (ok, out) = run(skopeo().args(["copy", "--dest-tls-verify=false", &oci, &dest]));
    assert!(ok, "skopeo copy push: {out}");
    let (ok, out) = run(skopeo().args(["inspect", "--tls-verify=false", &dest]));
    assert!(ok, "inspect: {out}");
    let j: serde_json::Value = serde_json::from_str(&out).expect("inspect json");
    assert_eq!(j["Layers"][0], serde_json::json!(layer));
    assert_eq!(j["Architecture"], "amd64");
    // Registry-to-registry copy (cross-repo) and a second tag.
    let dest2 = format!("docker://{}/mirror/busybox:1.36", s.host());
    let (ok, out) = run(skopeo().args([
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &dest,
        &dest2,
    ]));
    assert!(ok, "copy registry→registry: {out}");
    let (ok, out) = run(skopeo().args([
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{}/mirror/busybox", s.host()),
    ]));
    assert!(ok, "list-tags: {out}");
    assert!(out.contains("1.36"), "{out}");
    // Pull back into a directory and compare the layer bytes.
    let pulled = work.path().join("pulled");
    let (ok, out) = run(skopeo().args([
        "copy",
        "--src-tls-verify=false",
        &dest2,
        &format!("dir:{}", pulled.display()),
    ]));
    assert!(ok, "pull: {out}");
    let got = std::fs::read(pulled.join(&layer[7..])).expect("pulled layer");
    assert_eq!(sha256(&got), layer);
    let (ok, out) = run(skopeo().args(["delete", "--tls-verify=false", &dest2]));
    assert!(ok, "delete: {out}");
    let (ok, _) = run(skopeo().args(["inspect", "--tls-verify=false", &dest2]));
    assert!(!ok, "deleted image must be gone");
    // The original is untouched and one copy of the layer is stored.
    let (ok, _) = run(skopeo().args(["inspect", "--tls-verify=false", &dest]));
    assert!(ok);
    let n = blob_files(&s.data())
        .iter()
        .filter(|p| p.to_string_lossy().contains(&layer[7..]))
        .count();
    assert_eq!(n, 1, "layer stored once across repositories");
}

#[test]
fn tls_with_certs_d_trust_and_refusal_without() {
    if !have("skopeo") || !have("openssl") {
        return;
    }
    let certs = tempfile::tempdir().expect("tmp");
    let (ca, crt, key) = openssl_certs(certs.path());
    let s = Berth::start(&format!(
        "http:\n  addr: 127.0.0.1:0\n  tls:\n    certificate: {crt}\n    key: {key}\n"
    ));
    assert!(s.base.starts_with("https://"));
    let work = tempfile::tempdir().expect("tmp");
    busybox_oci_layout(work.path());
    // certs.d/<host:port>/ca.crt, as docker and skopeo read it.
    let certs_d = work.path().join("certs.d").join(s.host());
    std::fs::create_dir_all(&certs_d).expect("mkdir");
    std::fs::copy(&ca, certs_d.join("ca.crt")).expect("copy ca");
    let oci = format!("oci:{}:latest", work.path().join("oci").display());
    let dest = format!("docker://{}/secure/busybox:v1", s.host());
    let (ok, out) = run(skopeo().args([
        "copy",
        "--dest-cert-dir",
        &certs_d.display().to_string(),
        &oci,
        &dest,
    ]));
    assert!(ok, "push trusting the CA: {out}");
    let (ok, out) = run(skopeo().args([
        "inspect",
        "--cert-dir",
        &certs_d.display().to_string(),
        &dest,
    ]));
    assert!(ok, "inspect trusting the CA: {out}");
    // A client that does not trust the CA is refused.
    let empty = work.path().join("empty-certs");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let (ok, out) =
        run(skopeo().args(["inspect", "--cert-dir", &empty.display().to_string(), &dest]));
    assert!(!ok, "untrusting client must fail");
    assert!(out.contains("certificate") || out.contains("x509"), "{out}");
    if have("curl") {
        let (ok, out) =
            run(Command::new("curl").args(["-sf", "--cacert", &ca, &format!("{}/v2/", s.base)]));
        assert!(ok, "curl with CA: {out}");
        let (ok, _) = run(Command::new("curl").args(["-sf", &format!("{}/v2/", s.base)]));
        assert!(!ok, "curl without CA must fail");
    }
}

#[test]
fn tls_client_certificates_required_with_clientcas() {
    if !have("curl") || !have("openssl") {
        return;
    }
    let certs = tempfile::tempdir().expect("tmp");
    let (ca, crt, key) = openssl_certs(certs.path());
    let sh = format!(
        "set -e; cd {d}
openssl genrsa -out client.key 2048 2>/dev/null
openssl req -new -key client.key -subj /CN=client -out client.csr
printf 'extendedKeyUsage=clientAuth\\n' > client.ext
openssl x509 -req -in client.csr -CA rootCA.crt -CAkey rootCA.key -CAcreateserial -out client.crt -days 100 -sha256 -extfile client.ext 2>/dev/null",
        d = certs.path().display()
    );
    let (ok, out) = run(Command::new("sh").arg("-c").arg(&sh));
    assert!(ok, "{out}");
    let s = Berth::start(&format!(
        "http:\n  addr: 127.0.0.1:0\n  tls:\n    certificate: {crt}\n    key: {key}\n    clientcas:\n      - {ca}\n"
    ));
    let url = format!("{}/v2/", s.base);
    let (ok, _) = run(Command::new("curl").args(["-sf", "--cacert", &ca, &url]));
    assert!(!ok, "no client certificate: refused");
    let cc = certs.path().join("client.crt").display().to_string();
    let ck = certs.path().join("client.key").display().to_string();
    let (ok, out) = run(
        Command::new("curl").args(["-sSf", "--cacert", &ca, "--cert", &cc, "--key", &ck, &url])
    );
    assert!(ok, "with client certificate: {out}");
}

fn htpasswd_file(dir: &Path, users: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (u, p) in users {
        s.push_str(&format!("{u}:{}\n", bcrypt::hash(p, 5).expect("bcrypt")));
    }
    let p = dir.join("htpasswd");
    std::fs::write(&p, s).expect("write htpasswd");
    p.display().to_string()
}

#[test]
fn htpasswd_basic_auth() {
    let dir = tempfile::tempdir().expect("tmp");
    let ht = htpasswd_file(dir.path(), &[("alice", "wonderland")]);
    let s = Berth::start(&format!(
        "auth:\n  htpasswd:\n    realm: Registry Realm\n    path: {ht}\n"
    ));
    let r = req("GET", &format!("{}/v2/", s.base), &[], None);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"Registry Realm\"")
    );
    assert_eq!(r.code(), "UNAUTHORIZED");
    let good = ("Authorization", "Basic YWxpY2U6d29uZGVybGFuZA=="); // alice:wonderland
    let bad = ("Authorization", "Basic YWxpY2U6bm9wZQ=="); // alice:nope
    assert_eq!(
        req("GET", &format!("{}/v2/", s.base), &[good], None).status,
        200
    );
    assert_eq!(
        req("GET", &format!("{}/v2/", s.base), &[bad], None).status,
        401
    );
    push_image(&s.base, "alice/app", "v1", b"layer", &[good]);
    let r = req(
        "GET",
        &format!("{}/v2/alice/app/manifests/v1", s.base),
        &[],
        None,
    );
    assert_eq!(r.status, 401, "pull needs credentials");
    if have("skopeo") {
        let work = tempfile::tempdir().expect("tmp");
        busybox_oci_layout(work.path());
        let oci = format!("oci:{}:latest", work.path().join("oci").display());
        let dest = format!("docker://{}/alice/busybox:v1", s.host());
        let (ok, out) = run(skopeo().args([
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "alice:wonderland",
            &oci,
            &dest,
        ]));
        assert!(ok, "skopeo with htpasswd creds: {out}");
        let (ok, _) = run(skopeo().args([
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "alice:wrong",
            &oci,
            &dest,
        ]));
        assert!(!ok, "wrong password refused");
    }
}

fn token_setup(dir: &Path) -> (String, String) {
    let sh = format!(
        "set -e; cd {d}; openssl req -x509 -newkey rsa:2048 -nodes -keyout token.key -out token.crt -days 30 -subj /CN=berth-token 2>/dev/null",
        d = dir.display()
    );
    let (ok, out) = run(Command::new("sh").arg("-c").arg(&sh));
    assert!(ok, "{out}");
    (
        dir.join("token.crt").display().to_string(),
        dir.join("token.key").display().to_string(),
    )
}

#[test]
fn token_flow_with_builtin_token_server_and_scopes() {
    if !have("curl") || !have("openssl") {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let ht = htpasswd_file(dir.path(), &[("alice", "pw-a"), ("bob", "pw-b")]);
    let (crt, key) = token_setup(dir.path());
    let port = free_port();
    let realm = format!("http://127.0.0.1:{port}/token");
    let s = Berth::start(&format!(
        "http:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: berth\n    path: {ht}\n  token:\n    realm: {realm}\n    service: berth-registry\n    issuer: berth-token-issuer\n    rootcertbundle: {crt}\n    signingkey: {key}\n    acl:\n      - account: alice\n        name: alice/*\n        actions: [pull, push, delete]\n      - account: '*'\n        name: alice/*\n        actions: [pull]\n      - account: '*'\n        name: catalog\n        actions: ['*']\n"
    ));
    let base = s.base.clone();
    // 1. Anonymous request → 401 with a Bearer challenge carrying realm, service, scope.
    let r = req(
        "GET",
        &format!("{base}/v2/alice/app/manifests/v1"),
        &[],
        None,
    );
    assert_eq!(r.status, 401);
    let chal = r.header("www-authenticate").expect("challenge").to_string();
    assert_eq!(
        chal,
        format!("Bearer realm=\"{realm}\",service=\"berth-registry\",scope=\"repository:alice/app:pull\"")
    );
    // 2. Token for alice with push+pull, via curl as in the guide.
    let curl_token = |user: &str, scope: &str| -> String {
        let (ok, out) = run(Command::new("curl").args([
            "-sf",
            "-u",
            user,
            &format!("{realm}?service=berth-registry&scope={scope}"),
        ]));
        assert!(ok, "token request: {out}");
        let j: serde_json::Value = serde_json::from_str(&out).expect("token json");
        assert!(j["expires_in"].as_u64().unwrap_or(0) >= 60);
        assert_eq!(j["token"], j["access_token"]);
        j["token"].as_str().expect("token").to_string()
    };
    let t_alice = curl_token("alice:pw-a", "repository:alice/app:pull,push");
    let bearer = format!("Bearer {t_alice}");
    let auth = [("Authorization", bearer.as_str())];
    let (d, _) = push_image(&base, "alice/app", "v1", b"alice layer", &auth);
    // 3. Pull with the token via curl.
    let (ok, out) = run(Command::new("curl").args([
        "-sf",
        "-H",
        &format!("Authorization: {bearer}"),
        "-H",
        "Accept: application/vnd.oci.image.manifest.v1+json",
        "-D",
        "-",
        &format!("{base}/v2/alice/app/manifests/v1"),
    ]));
    assert!(ok, "{out}");
    assert!(
        out.to_lowercase()
            .contains(&format!("docker-content-digest: {d}")),
        "{out}"
    );
    // 4. Scope is enforced per repository: alice's token does not open bob/app.
    let r = req(
        "POST",
        &format!("{base}/v2/bob/app/blobs/uploads/"),
        &auth,
        None,
    );
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap_or("")
        .contains("insufficient_scope"));
    // 5. bob may pull alice/app but not push: the token server grants a subset.
    let t_bob = curl_token("bob:pw-b", "repository:alice/app:pull,push");
    let bb = format!("Bearer {t_bob}");
    let r = req(
        "GET",
        &format!("{base}/v2/alice/app/manifests/v1"),
        &[("Authorization", &bb)],
        None,
    );
    assert_eq!(r.status, 200, "bob pulls");
    let r = req(
        "POST",
        &format!("{base}/v2/alice/app/blobs/uploads/"),
        &[("Authorization", &bb)],
        None,
    );
    assert_eq!(r.status, 401, "bob may not push");
    // 6. Wrong password: no token. A forged token is refused.
    let (ok, _) = run(Command::new("curl").args([
        "-sf",
        "-u",
        "alice:bad",
        &format!("{realm}?service=berth-registry&scope=repository:alice/app:pull"),
    ]));
    assert!(!ok);
    // Change one signature character well before the end (the last one may only carry
    // padding bits).
    let mut forged: Vec<char> = t_alice.chars().collect();
    let at = forged.len() - 10;
    forged[at] = if forged[at] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    let r = req(
        "GET",
        &format!("{base}/v2/alice/app/manifests/v1"),
        &[("Authorization", &format!("Bearer {forged}"))],
        None,
    );
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap_or("")
        .contains("invalid_token"));
    // Catalog needs registry:catalog:*.
    let r = req("GET", &format!("{base}/v2/_catalog"), &auth, None);
    assert_eq!(
        r.status, 401,
        "a repository token does not open the catalog"
    );
    assert!(r
        .header("www-authenticate")
        .unwrap_or("")
        .contains("scope=\"registry:catalog:*\""));
    let t_cat = curl_token("bob:pw-b", "registry:catalog:*");
    let r = req(
        "GET",
        &format!("{base}/v2/_catalog"),
        &[("Authorization", &format!("Bearer {t_cat}"))],
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["repositories"], serde_json::json!(["alice/app"]));
    // 7. The OAuth2 POST variant of the token endpoint.
    let r = req(
        "POST",
        &realm,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(b"grant_type=password&username=alice&password=pw-a&service=berth-registry&scope=repository%3Aalice%2Fapp%3Apull&client_id=test"),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let t = r.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_string();
    let r = req(
        "GET",
        &format!("{base}/v2/alice/app/manifests/v1"),
        &[("Authorization", &format!("Bearer {t}"))],
        None,
    );
    assert_eq!(r.status, 200, "OAuth token pulls");
    // 8. skopeo follows the same flow by itself.
    if have("skopeo") {
        let work = tempfile::tempdir().expect("tmp");
        busybox_oci_layout(work.path());
        let oci = format!("oci:{}:latest", work.path().join("oci").display());
        let dest = format!("docker://{}/alice/busybox:v1", s.host());
        let (ok, out) = run(skopeo().args([
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "alice:pw-a",
            &oci,
            &dest,
        ]));
        assert!(ok, "skopeo token flow push: {out}");
        let (ok, out) = run(skopeo().args([
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "bob:pw-b",
            &oci,
            &format!("docker://{}/alice/other:v1", s.host()),
        ]));
        assert!(!ok, "bob's push refused: {out}");
    }
}

/// A token whose `x5c` leaf is issued by a CA in `rootcertbundle` verifies; one from an
/// unrelated key does not (distribution's chain rule).
#[test]
fn token_x5c_chain_to_bundle_ca() {
    if !have("openssl") {
        return;
    }
    use berth_registry::auth::jwt::{Signer, Verifier};
    use berth_registry::auth::Scope;
    let dir = tempfile::tempdir().expect("tmp");
    let (ca, _, _) = openssl_certs(dir.path());
    let sh = format!(
        "set -e; cd {d}
openssl genrsa -out signer.key 2048 2>/dev/null
openssl req -new -key signer.key -subj /CN=token-signer -out signer.csr
openssl x509 -req -in signer.csr -CA rootCA.crt -CAkey rootCA.key -CAcreateserial -out signer.crt -days 10 -sha256 -extfile san.ext 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout rogue.key -out rogue.crt -days 10 -subj /CN=rogue 2>/dev/null",
        d = dir.path().display()
    );
    let (ok, out) = run(Command::new("sh").arg("-c").arg(&sh));
    assert!(ok, "{out}");
    let p = |n: &str| dir.path().join(n);
    let verifier =
        Verifier::new("https://x/token", "svc", "iss", Path::new(&ca)).expect("verifier");
    let signer = Signer::new("iss", "svc", &p("signer.key"), &p("signer.crt")).expect("signer");
    let tok = signer
        .sign("alice", &[Scope::repo("a/b", &["pull"])], 300)
        .expect("sign");
    let claims = verifier.verify(&tok).expect("chained token verifies");
    assert!(claims.grants("repository", "a/b", "pull"));
    let rogue = Signer::new("iss", "svc", &p("rogue.key"), &p("rogue.crt")).expect("rogue signer");
    let bad = rogue
        .sign("alice", &[Scope::repo("a/b", &["pull"])], 300)
        .expect("sign");
    assert!(
        verifier.verify(&bad).is_err(),
        "token from an untrusted key is refused"
    );
    // Wrong audience (service) is refused too.
    let other =
        Signer::new("iss", "other-svc", &p("signer.key"), &p("signer.crt")).expect("signer");
    let t = other.sign("alice", &[], 300).expect("sign");
    assert!(
        verifier.verify(&t).is_err(),
        "token for another service is refused"
    );
}

/// The guide's exact openssl commands (no SAN, a v1 certificate signed by a self-made CA;
/// and the one-line self-signed `req -x509 -newkey rsa:4096 -nodes -sha256`) load in
/// berth and serve a client that trusts the CA.
#[test]
fn guide_openssl_certificates_load() {
    if !have("openssl") || !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let sh = format!(
        "set -e; cd {d}
openssl genrsa -out rootCA.key 2048 2>/dev/null
openssl req -x509 -new -key rootCA.key -days 10000 -subj /CN=guide-ca -out rootCA.crt
openssl genrsa -out registry.key 2048 2>/dev/null
openssl req -new -key registry.key -subj /CN=127.0.0.1 -out registry.csr
openssl x509 -req -in registry.csr -CA rootCA.crt -CAkey rootCA.key -CAcreateserial -out registry.crt -days 5000 2>/dev/null
openssl req -newkey rsa:4096 -nodes -sha256 -keyout domain.key -x509 -days 365 -subj /CN=127.0.0.1 -out domain.crt 2>/dev/null",
        d = dir.path().display()
    );
    let (ok, out) = run(Command::new("sh").arg("-c").arg(&sh));
    assert!(ok, "{out}");
    let p = |n: &str| dir.path().join(n).display().to_string();
    for (crt, key, ca) in [
        (p("registry.crt"), p("registry.key"), p("rootCA.crt")),
        (p("domain.crt"), p("domain.key"), p("domain.crt")),
    ] {
        let s = Berth::start(&format!(
            "http:\n  addr: 127.0.0.1:0\n  tls:\n    certificate: {crt}\n    key: {key}\n"
        ));
        let (ok, out) =
            run(Command::new("curl").args(["-sSf", "--cacert", &ca, &format!("{}/v2/", s.base)]));
        assert!(ok, "curl trusting {ca}: {out}");
    }
}
