//! Pull, push and login end to end: the `berth` CLI and the real `docker` CLI against a
//! berth daemon, with `berth registry serve` and Debian's distribution 2.8 as the
//! registries: tag → push → rmi → pull by tag and by digest → run; layer reuse (already
//! exists, cross-repository mount, no recompression); multi-layer parallel pulls;
//! zstd; progress streams; Docker Hub's clear "unreachable" error.

mod dist_common;
mod support;

use dist_common::*;
use support::{fails, ok, stdout};

fn round_trip(kind: Kind) {
    let Some(reg) = Registry::start(kind, "") else {
        return;
    };
    let d = daemon(&[]);
    busybox_image(&d, "bb:1");
    let target = format!("{}/team/bb:1", reg.host());
    ok(berth(&d, &["tag", "bb:1", &target]));
    let out = ok(berth(&d, &["push", &target]));
    assert!(
        out.contains(&format!(
            "The push refers to repository [{}/team/bb]",
            reg.host()
        )),
        "{out}"
    );
    assert!(out.contains("Pushed"), "{out}");
    let digest = out
        .lines()
        .find_map(|l| l.strip_prefix("1: digest: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest line in {out}"))
        .to_string();
    assert!(digest.starts_with("sha256:"), "{digest}");
    // RepoDigests recorded by the push.
    let i = inspect(&d, &target);
    assert_eq!(
        i["RepoDigests"][0],
        format!("{}/team/bb@{digest}", reg.host())
    );
    // rmi everything, pull back by tag and run it.
    ok(berth(&d, &["rmi", "bb:1", &target]));
    fails(berth(&d, &["image", "inspect", &target]));
    let out = ok(berth(&d, &["pull", &target]));
    assert!(out.contains("Pull complete"), "{out}");
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {target}")),
        "{out}"
    );
    let i = inspect(&d, &target);
    assert_eq!(i["RepoTags"][0], target);
    assert_eq!(
        i["RepoDigests"][0],
        format!("{}/team/bb@{digest}", reg.host())
    );
    let run = ok(berth(
        &d,
        &["run", "--rm", &target, "echo", "pulled-and-running"],
    ));
    assert_eq!(run.trim(), "pulled-and-running");
    // By digest: nothing to download, image up to date, no tag added.
    let by_digest = format!("{}/team/bb@{digest}", reg.host());
    ok(berth(&d, &["rmi", &target]));
    let out = ok(berth(&d, &["pull", &by_digest]));
    assert!(out.contains("Pull complete"), "{out}");
    let i = inspect(&d, &by_digest);
    assert_eq!(i["RepoTags"].as_array().map(|a| a.len()), Some(0), "{i}");
    let run = ok(berth(&d, &["run", "--rm", &by_digest, "echo", "by-digest"]));
    assert_eq!(run.trim(), "by-digest");
    let out = ok(berth(&d, &["pull", &by_digest]));
    assert!(
        out.contains("Already exists") || out.contains("Image is up to date"),
        "{out}"
    );
    assert!(
        tmp_files(&d).iter().all(|f| !f.starts_with("pull-")),
        "{:?}",
        tmp_files(&d)
    );
}

#[test]
fn push_rmi_pull_run_against_berth_registry() {
    round_trip(Kind::Berth);
}

#[test]
fn push_rmi_pull_run_against_distribution() {
    round_trip(Kind::Distribution);
}

#[test]
fn second_push_reuses_layers_and_mounts_across_repositories() {
    let Some(reg) =
        Registry::start(Kind::Distribution, "").or_else(|| Registry::start(Kind::Berth, ""))
    else {
        return;
    };
    let Some(reg2) = Registry::start(Kind::Berth, "") else {
        return;
    };
    let d = daemon(&[]);
    busybox_image(&d, "bb:1");
    let a = format!("{}/one/bb:1", reg.host());
    let b = format!("{}/two/bb:1", reg.host());
    ok(berth(&d, &["tag", "bb:1", &a]));
    ok(berth(&d, &["tag", "bb:1", &b]));
    let first = ok(berth(&d, &["push", &a]));
    assert!(first.contains("Pushed"), "{first}");
    // Same repository again: HEAD finds the layer, nothing is compressed or sent.
    let again = ok(berth(&d, &["push", &a]));
    assert!(again.contains("Layer already exists"), "{again}");
    assert!(!again.contains("Pushed"), "{again}");
    // Another repository of the same registry: mounted, not uploaded.
    let other = ok(berth(&d, &["push", &b]));
    assert!(other.contains("Mounted from one/bb"), "{other}");
    // Another registry: compressed again, deterministically (same digest).
    let c = format!("{}/three/bb:1", reg2.host());
    ok(berth(&d, &["tag", "bb:1", &c]));
    let third = ok(berth(&d, &["push", &c]));
    assert!(third.contains("Pushed"), "{third}");
    let dig = |s: &str| {
        s.lines()
            .find(|l| l.contains(": digest: "))
            .map(|l| l.split_whitespace().nth(2).unwrap_or("").to_string())
    };
    assert_eq!(dig(&first), dig(&third), "recompression is deterministic");
    // -a pushes every tag of the repository.
    ok(berth(
        &d,
        &["tag", "bb:1", &format!("{}/one/bb:2", reg.host())],
    ));
    let all = ok(berth(
        &d,
        &["push", "-a", &format!("{}/one/bb", reg.host())],
    ));
    assert!(
        all.contains("1: digest:") && all.contains("2: digest:"),
        "{all}"
    );
    // --quiet prints the pushed reference only.
    let q = ok(berth(&d, &["push", "-q", &a]));
    assert_eq!(q.trim(), a);
}

#[test]
fn pulled_image_pushed_back_reuses_the_original_blobs() {
    let Some(reg) = Registry::start(Kind::Berth, "") else {
        return;
    };
    let src = daemon(&[]);
    busybox_image(&src, "bb:1");
    let a = format!("{}/src/bb:1", reg.host());
    ok(berth(&src, &["tag", "bb:1", &a]));
    ok(berth(&src, &["push", &a]));
    let d = daemon(&[]);
    ok(berth(&d, &["pull", &a]));
    let b = format!("{}/copy/bb:1", reg.host());
    ok(berth(&d, &["tag", &a, &b]));
    let out = ok(berth(&d, &["push", &b]));
    assert!(out.contains("Mounted from src/bb"), "{out}");
    assert!(!out.contains("Pushed"), "{out}");
}

#[test]
fn multi_layer_pull_in_parallel_skips_layers_already_present() {
    let Some(reg) = Registry::start(Kind::Berth, "") else {
        return;
    };
    let src = daemon(&[]);
    let layers: Vec<(&str, Vec<u8>)> = vec![
        ("a.bin", noise(1, 300_000)),
        ("b.bin", noise(2, 200_000)),
        ("c.txt", b"hello layers\n".repeat(1000)),
        ("d.bin", noise(4, 50_000)),
    ];
    layered_image(&src, "multi", "1", &layers);
    let name = format!("{}/multi:1", reg.host());
    ok(berth(&src, &["tag", "multi:1", &name]));
    ok(berth(&src, &["push", &name]));
    // A second image sharing busybox + the first two layers.
    layered_image(&src, "multi", "2", &layers[..2]);
    let name2 = format!("{}/multi:2", reg.host());
    ok(berth(&src, &["tag", "multi:2", &name2]));
    ok(berth(&src, &["push", &name2]));

    let d = daemon(&["--max-concurrent-downloads", "3"]);
    let out = ok(berth(&d, &["pull", &name2]));
    assert_eq!(out.matches("Pull complete").count(), 3, "{out}");
    let out = ok(berth(&d, &["pull", &name]));
    assert_eq!(out.matches("Already exists").count(), 3, "{out}");
    assert_eq!(out.matches("Pull complete").count(), 2, "{out}");
    let cat = ok(berth(&d, &["run", "--rm", &name, "cat", "/c.txt"]));
    assert_eq!(cat.len(), 13 * 1000);
    let i = inspect(&d, &name);
    assert_eq!(i["RootFS"]["Layers"].as_array().map(|a| a.len()), Some(5));
    assert_eq!(i["Id"], inspect(&src, &name)["Id"]);
}

#[test]
fn docker_cli_pulls_and_pushes_through_berth_with_its_own_progress() {
    let Some(reg) = Registry::start(Kind::Berth, "") else {
        return;
    };
    if !support::have("docker") {
        return;
    }
    let d = daemon(&[]);
    busybox_image(&d, "bb:1");
    let name = format!("{}/viadocker:1", reg.host());
    ok(d.docker(&["tag", "bb:1", &name]));
    let out = ok(d.docker(&["push", &name]));
    assert!(out.contains("Pushed"), "{out}");
    assert!(out.contains("1: digest: sha256:"), "{out}");
    ok(d.docker(&["rmi", "bb:1", &name]));
    let out = ok(d.docker(&["pull", &name]));
    assert!(out.contains("1: Pulling from viadocker"), "{out}");
    assert!(out.contains("Pull complete"), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {name}")),
        "{out}"
    );
    let digests = ok(d.docker(&["image", "inspect", "-f", "{{json .RepoDigests}}", &name]));
    assert!(
        digests.contains(&format!("{}/viadocker@sha256:", reg.host())),
        "{digests}"
    );
    // The raw stream is docker's JSON messages.
    let sock = d.socket();
    let o = std::process::Command::new("curl")
        .args(["-s", "--unix-socket"])
        .arg(&sock)
        .args(["-X", "POST"])
        .arg(format!(
            "http://d/v1.44/images/create?fromImage={}/viadocker&tag=1",
            reg.host()
        ))
        .output()
        .expect("curl");
    let body = stdout(&o);
    let lines: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines[0]["status"], "Pulling from viadocker");
    assert_eq!(lines[0]["id"], "1");
    assert!(
        lines
            .iter()
            .any(|l| l["status"] == "Already exists"
                && l["id"].as_str().map(|s| s.len()) == Some(12)),
        "{body}"
    );
    assert!(
        lines
            .last()
            .and_then(|l| l["status"].as_str())
            .is_some_and(|s| s.starts_with("Status: Image is up to date")),
        "{body}"
    );
    // Errors before streaming come back as HTTP errors, in docker's words.
    let err = fails(d.docker(&["pull", &format!("{}/nope:1", reg.host())]));
    assert!(
        err.contains(&format!(
            "manifest for {}/nope:1 not found: manifest unknown",
            reg.host()
        )),
        "{err}"
    );
    let err = fails(d.docker(&["push", &format!("{}/missing:1", reg.host())]));
    assert!(
        err.contains("does not exist locally") || err.contains("tag does not exist"),
        "{err}"
    );
}

#[test]
fn zstd_push_makes_an_oci_manifest_that_pulls_back() {
    let Some(reg) = Registry::start(Kind::Berth, "") else {
        return;
    };
    let d = daemon(&[]);
    busybox_image(&d, "bb:1");
    let name = format!("{}/zst:1", reg.host());
    ok(berth(&d, &["tag", "bb:1", &name]));
    let out = ok(berth(&d, &["push", "--compression", "zstd", &name]));
    assert!(out.contains("Pushed"), "{out}");
    let o = std::process::Command::new("curl")
        .args([
            "-sf",
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json",
        ])
        .arg(format!("http://{}/v2/zst/manifests/1", reg.host()))
        .output()
        .expect("curl");
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).expect("manifest");
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(
        m["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    let d2 = daemon(&[]);
    ok(berth(&d2, &["pull", &name]));
    assert_eq!(
        ok(berth(&d2, &["run", "--rm", &name, "echo", "zstd"])).trim(),
        "zstd"
    );
}

#[test]
fn docker_hub_names_fail_clearly_and_bad_references_are_refused() {
    let d = daemon(&[]);
    let err = fails(berth(&d, &["pull", "busybox"]));
    assert!(
        err.contains("docker.io")
            && err.contains("registry-1.docker.io")
            && err.contains("unreachable"),
        "{err}"
    );
    let err = fails(berth(&d, &["pull", "Upper/Case"]));
    assert!(err.contains("invalid reference format"), "{err}");
    let err = fails(berth(&d, &["pull", "--platform", "linux", "127.0.0.1:1/x"]));
    assert!(!err.is_empty());
}
