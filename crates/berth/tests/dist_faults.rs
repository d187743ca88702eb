//! Pulls that go wrong: the registry dies mid-pull (the retry resumes with `Range`
//! and does not download finished layers again, within one pull and across pulls),
//! and a registry serving a corrupted blob (digest error, nothing stored).

mod dist_common;
mod support;

use dist_common::*;
use std::time::Duration;
use support::{eventually, fails, ok};

/// Pushes busybox + a small and a big incompressible layer; returns (name, small
/// digests, big digest) as the registry stores them.
fn setup(reg: &Registry, big: usize) -> (String, Vec<String>, String, String) {
    let src = daemon(&[]);
    layered_image(
        &src,
        "faulty",
        "1",
        &[("small.bin", noise(7, 100_000)), ("big.bin", noise(8, big))],
    );
    let name = format!("{}/faulty:1", reg.host());
    ok(berth(&src, &["tag", "faulty:1", &name]));
    ok(berth(&src, &["push", &name]));
    let id = inspect(&src, &name)["Id"].as_str().expect("id").to_string();
    let o = std::process::Command::new("curl")
        .args([
            "-sf",
            "-H",
            "Accept: application/vnd.docker.distribution.manifest.v2+json",
        ])
        .arg(format!("http://{}/v2/faulty/manifests/1", reg.host()))
        .output()
        .expect("curl");
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).expect("manifest");
    let mut layers: Vec<(i64, String)> = m["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| {
            (
                l["size"].as_i64().unwrap_or(0),
                l["digest"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    layers.sort();
    let big_digest = layers.pop().expect("big").1;
    (
        name,
        layers.into_iter().map(|l| l.1).collect(),
        big_digest,
        id,
    )
}

fn wait_for(what: &str, f: impl Fn() -> bool) {
    assert!(
        eventually(Duration::from_secs(30), f),
        "timed out waiting for {what}"
    );
}

#[test]
fn registry_dies_mid_pull_and_the_retry_resumes_with_range() {
    let Some(reg) = Registry::start(Kind::Berth, "") else {
        return;
    };
    let (_, small, big, id) = setup(&reg, 6_000_000);
    let mut proxy = Proxy::start(reg.port, 2_000_000);
    let name = format!("{}/faulty:1", proxy.host());
    let d = daemon(&[]);
    let host = d.host();
    let cfgdir = docker_config(&d);
    let name2 = name.clone();
    let puller = std::thread::spawn(move || {
        std::process::Command::new(support::BERTH)
            .env("BERTH_HOST", host)
            .env("DOCKER_CONFIG", cfgdir)
            .args(["pull", &name2])
            .output()
            .expect("pull")
    });
    // Let the small layers finish and the big one get going, then kill the "registry".
    wait_for("the big layer to start", || {
        !proxy.blob_gets(&big).is_empty()
    });
    std::thread::sleep(Duration::from_millis(1200));
    proxy.cut();
    std::thread::sleep(Duration::from_millis(300));
    proxy.resume();
    let out = puller.join().expect("join");
    assert!(
        out.status.success(),
        "pull after the registry came back: {}{}",
        support::stdout(&out),
        support::stderr(&out)
    );
    for s in &small {
        assert_eq!(
            proxy.blob_gets(s).len(),
            1,
            "finished layer {s} fetched once: {:?}",
            proxy.log.lock().expect("log").requests
        );
    }
    let gets = proxy.blob_gets(&big);
    assert!(gets.len() >= 2, "{gets:?}");
    let resumed = gets.last().expect("last");
    let from: u64 = resumed
        .split("range=bytes=")
        .nth(1)
        .and_then(|r| r.trim_end_matches('-').parse().ok())
        .unwrap_or_else(|| panic!("resumed without Range: {gets:?}"));
    assert!(from > 0, "{gets:?}");
    assert_eq!(inspect(&d, &name)["Id"], id.as_str());
    assert!(
        tmp_files(&d).iter().all(|f| !f.starts_with("pull-")),
        "{:?}",
        tmp_files(&d)
    );
}

#[test]
fn failed_pull_keeps_finished_layers_for_the_next_pull() {
    let Some(reg) =
        Registry::start(Kind::Distribution, "").or_else(|| Registry::start(Kind::Berth, ""))
    else {
        return;
    };
    let (_, small, big, id) = setup(&reg, 6_000_000);
    let mut proxy = Proxy::start(reg.port, 2_000_000);
    let name = format!("{}/faulty:1", proxy.host());
    let d = daemon(&["--max-download-attempts", "1"]);
    let host = d.host();
    let cfgdir = docker_config(&d);
    let name2 = name.clone();
    let puller = std::thread::spawn(move || {
        std::process::Command::new(support::BERTH)
            .env("BERTH_HOST", host)
            .env("DOCKER_CONFIG", cfgdir)
            .args(["pull", &name2])
            .output()
            .expect("pull")
    });
    wait_for("the big layer to start", || {
        !proxy.blob_gets(&big).is_empty()
    });
    std::thread::sleep(Duration::from_millis(1200));
    proxy.cut();
    let out = puller.join().expect("join");
    assert!(
        !out.status.success(),
        "pull with the registry gone must fail"
    );
    let err = support::stderr(&out);
    assert!(
        err.contains(&proxy.host()),
        "error names the registry: {err}"
    );
    fails(berth(&d, &["image", "inspect", &name]));
    // The registry is back: pull again. Finished layers are not fetched again, the
    // interrupted one resumes.
    let before = proxy.log.lock().expect("log").requests.len();
    proxy.resume();
    ok(berth(&d, &["pull", &name]));
    let after: Vec<String> = proxy.log.lock().expect("log").requests[before..].to_vec();
    for s in &small {
        assert!(
            !after.iter().any(|r| r.contains(s.as_str())),
            "{s} fetched again: {after:?}"
        );
    }
    let again: Vec<&String> = after.iter().filter(|r| r.contains(big.as_str())).collect();
    assert_eq!(again.len(), 1, "{after:?}");
    assert!(
        again[0].contains("range=bytes="),
        "resumed with Range: {again:?}"
    );
    assert_eq!(inspect(&d, &name)["Id"], id.as_str());
}

#[test]
fn corrupted_blob_fails_with_a_digest_error_and_stores_nothing() {
    let Some(reg) = Registry::start(Kind::Berth, "") else {
        return;
    };
    let (name, small, big, _) = setup(&reg, 300_000);
    let d = daemon(&[]);
    let before = d.store_fingerprint();
    // Flip one byte in the middle of the big layer's stored blob.
    let f = reg.blob_file(&big);
    let mut data = std::fs::read(&f).expect("blob");
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(&f, &data).expect("corrupt");
    let err = fails(berth(&d, &["pull", &name]));
    assert!(err.contains("digest") && err.contains(&big), "{err}");
    fails(berth(&d, &["image", "inspect", &name]));
    assert_eq!(d.store_fingerprint(), before, "nothing stored");
    assert!(
        tmp_files(&d)
            .iter()
            .all(|f| !f.contains(big.trim_start_matches("sha256:"))),
        "no partial left for the bad blob: {:?}",
        tmp_files(&d)
    );
    // Replaced by a well-formed but different gzip stream: still a digest error.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &support::layer_tar(&[("evil", Some(b"x"))])).expect("gz");
    std::fs::write(reg.blob_file(&small[0]), gz.finish().expect("gz")).expect("swap");
    let err = fails(berth(&d, &["pull", &name]));
    assert!(err.contains("digest"), "{err}");
    fails(berth(&d, &["image", "inspect", &name]));
}
