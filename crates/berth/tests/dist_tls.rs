//! TLS trust as the guide describes it: a registry with an openssl-made CA and server
//! certificate is refused until its CA is in `certs.d/<host:port>/ca.crt` (the error
//! names the registry and the three ways out); `--insecure-registry` accepts it
//! unverified; a registry that demands client certificates gets `client.cert` /
//! `client.key` from the same folder.

mod dist_common;
mod support;

use dist_common::*;
use std::path::Path;
use support::{fails, ok};

fn tls_yaml(crt: &Path, key: &Path, client_ca: Option<&Path>) -> String {
    let mut s = format!(
        "http:\n  addr: 127.0.0.1:{{port}}\n  tls:\n    certificate: {}\n    key: {}\n",
        crt.display(),
        key.display()
    );
    if let Some(ca) = client_ca {
        s.push_str(&format!("    clientcas:\n      - {}\n", ca.display()));
    }
    s
}

#[test]
fn certs_d_trust_refusal_and_insecure_registry() {
    let Some(name) = loopback_name() else {
        println!("SKIP: no non-localhost name for 127.0.0.0/8 in /etc/hosts");
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let (ca, crt, key) = openssl_certs(dir.path(), &name);
    let Some(reg) = Registry::start(Kind::Berth, &tls_yaml(&crt, &key, None)) else {
        return;
    };
    let host = format!("{name}:{}", reg.port);
    let certs_d = dir.path().join("certs.d");
    std::fs::create_dir_all(&certs_d).expect("certs.d");
    let d = daemon(&["--registry-certs-dir", certs_d.to_str().expect("utf8")]);
    busybox_image(&d, "bb:1");
    let image = format!("{host}/secure/bb:1");
    ok(berth(&d, &["tag", "bb:1", &image]));
    // Unknown CA: refused, and the error says what to do.
    let err = fails(berth(&d, &["push", &image]));
    for want in [
        host.as_str(),
        "certs.d",
        "ca.crt",
        "--insecure-registry",
        "certificate",
    ] {
        assert!(err.contains(want), "error lacks {want:?}: {err}");
    }
    // The CA in certs.d/<host:port>/ca.crt: trusted.
    std::fs::create_dir_all(certs_d.join(&host)).expect("mkdir");
    std::fs::copy(&ca, certs_d.join(&host).join("ca.crt")).expect("copy ca");
    let out = ok(berth(&d, &["push", &image]));
    assert!(out.contains("Pushed"), "{out}");
    ok(berth(&d, &["rmi", "bb:1", &image]));
    ok(berth(&d, &["pull", &image]));
    assert_eq!(
        ok(berth(&d, &["run", "--rm", &image, "echo", "tls"])).trim(),
        "tls"
    );
    // Another daemon without the CA but with --insecure-registry: accepted unverified.
    let d2 = daemon(&[
        "--registry-certs-dir",
        dir.path().join("empty").to_str().expect("utf8"),
        "--insecure-registry",
        &host,
    ]);
    ok(berth(&d2, &["pull", &image]));
    // And without either: refused on pull too.
    let d3 = daemon(&[
        "--registry-certs-dir",
        dir.path().join("empty").to_str().expect("utf8"),
    ]);
    let err = fails(berth(&d3, &["pull", &image]));
    assert!(err.contains("certs.d") && err.contains(&host), "{err}");
}

#[test]
fn client_certificates_from_certs_d() {
    let Some(name) = loopback_name() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let (ca, crt, key) = openssl_certs(dir.path(), &name);
    let sh = format!(
        "set -e; cd {d}
openssl genrsa -out client.key 2048 2>/dev/null
openssl req -new -key client.key -subj /CN=berth-client -out client.csr
printf 'extendedKeyUsage=clientAuth\\n' > client.ext
openssl x509 -req -in client.csr -CA rootCA.crt -CAkey rootCA.key -CAcreateserial -out client.cert -days 10 -sha256 -extfile client.ext 2>/dev/null",
        d = dir.path().display()
    );
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(&sh)
        .output()
        .expect("sh");
    assert!(o.status.success(), "{}", support::stderr(&o));
    let Some(reg) = Registry::start(Kind::Berth, &tls_yaml(&crt, &key, Some(&ca))) else {
        return;
    };
    let host = format!("{name}:{}", reg.port);
    let certs_d = dir.path().join("certs.d");
    let hd = certs_d.join(&host);
    std::fs::create_dir_all(&hd).expect("mkdir");
    std::fs::copy(&ca, hd.join("ca.crt")).expect("ca");
    let d = daemon(&["--registry-certs-dir", certs_d.to_str().expect("utf8")]);
    busybox_image(&d, "bb:1");
    let image = format!("{host}/mtls/bb:1");
    ok(berth(&d, &["tag", "bb:1", &image]));
    let err = fails(berth(&d, &["push", &image]));
    assert!(err.contains(&host), "{err}");
    std::fs::copy(dir.path().join("client.cert"), hd.join("client.cert")).expect("cert");
    std::fs::copy(dir.path().join("client.key"), hd.join("client.key")).expect("key");
    let out = ok(berth(&d, &["push", &image]));
    assert!(out.contains("Pushed"), "{out}");
}
