//! Differential test against Docker's own legacy builder: every Dockerfile under
//! `tests/build_diff/` is built from the same context by `berth daemon` and by a real
//! `dockerd` (Debian's docker.io, `DOCKER_BUILDKIT=0`), both on the same imported
//! busybox base. The image configs (Env, Cmd, Entrypoint, WorkingDir, User,
//! ExposedPorts, Volumes, Labels, StopSignal, Healthcheck, OnBuild, Shell, history
//! length and empty-layer pattern) and the resulting filesystems (path, type, mode,
//! uid/gid, size, content hash, link target — everything but times) must be equal.
//! Both images are read back through the same client (the docker CLI) with
//! `docker save`, and their layers applied in order with whiteouts.
//!
//! Skipped (with a message) when `dockerd` is not installed.

mod support;
use serde_json::Value;
use sha2::Digest as _;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::*;

fn docker_at(host: &str, cfg: &Path, args: &[&str]) -> Output {
    Command::new("docker")
        .env("DOCKER_HOST", host)
        .env("DOCKER_BUILDKIT", "0")
        .env("DOCKER_CONFIG", cfg)
        .args(args)
        .output()
        .unwrap()
}

/// One filesystem object as the test compares it (no times).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    kind: char,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    sha256: String,
    link: String,
}

fn clean(p: &str) -> String {
    p.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

/// Applies the layers of a `docker save` archive in order (whiteouts included).
fn filesystem(save: &[u8]) -> BTreeMap<String, Entry> {
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut a = tar::Archive::new(save);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = clean(&e.path().unwrap().to_string_lossy());
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        files.insert(name, data);
    }
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let layers: Vec<String> = manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| clean(l.as_str().unwrap()))
        .collect();
    let mut fs: BTreeMap<String, Entry> = BTreeMap::new();
    for l in layers {
        let mut a = tar::Archive::new(&files[&l][..]);
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let path = clean(&e.path().unwrap().to_string_lossy());
            let (dir, base) = match path.rsplit_once('/') {
                Some((d, b)) => (format!("{d}/"), b.to_string()),
                None => (String::new(), path.clone()),
            };
            if base == ".wh..wh..opq" {
                fs.retain(|k, _| !k.starts_with(&dir));
                continue;
            }
            if let Some(gone) = base.strip_prefix(".wh.") {
                let target = format!("{dir}{gone}");
                let prefix = format!("{target}/");
                fs.retain(|k, _| *k != target && !k.starts_with(&prefix));
                continue;
            }
            let h = e.header().clone();
            let kind = h.entry_type();
            if kind.is_hard_link() {
                let target = clean(&e.link_name().unwrap().unwrap().to_string_lossy());
                let t = fs.get(&target).cloned().expect("hard link target");
                fs.insert(path, t);
                continue;
            }
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            let k = if kind.is_dir() {
                'd'
            } else if kind.is_symlink() {
                'l'
            } else if kind.is_file() {
                'f'
            } else {
                '?'
            };
            // A non-directory replaces whatever was there (and below it).
            if k != 'd' {
                let prefix = format!("{path}/");
                fs.retain(|p, _| !p.starts_with(&prefix));
            }
            fs.insert(
                path,
                Entry {
                    kind: k,
                    mode: h.mode().unwrap_or(0) & 0o7777,
                    uid: h.uid().unwrap_or(0),
                    gid: h.gid().unwrap_or(0),
                    size: if k == 'f' { data.len() as u64 } else { 0 },
                    sha256: hex::encode(sha2::Sha256::digest(&data)),
                    link: e
                        .link_name()
                        .unwrap()
                        .map(|l| l.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                },
            );
        }
    }
    fs
}

/// The config fields compared, with null / empty normalised to null.
fn config_fields(inspect: &Value) -> BTreeMap<&'static str, Value> {
    let c = &inspect["Config"];
    let mut m = BTreeMap::new();
    for k in [
        "Env",
        "Cmd",
        "Entrypoint",
        "WorkingDir",
        "User",
        "ExposedPorts",
        "Volumes",
        "Labels",
        "StopSignal",
        "Healthcheck",
        "OnBuild",
        "Shell",
    ] {
        let v = c.get(k).cloned().unwrap_or(Value::Null);
        let empty = v.is_null()
            || v.as_str() == Some("")
            || v.as_array().is_some_and(|a| a.is_empty())
            || v.as_object().is_some_and(|o| o.is_empty());
        m.insert(k, if empty { Value::Null } else { v });
    }
    m.insert("Author", inspect["Author"].clone());
    m
}

/// The history as (created_by, empty_layer) pairs, via `docker history`.
fn history(host: &str, cfg: &Path, image: &str) -> Vec<(String, String)> {
    let o = docker_at(
        host,
        cfg,
        &[
            "history",
            "--no-trunc",
            "--format",
            "{{.CreatedBy}}\t{{.Size}}",
            image,
        ],
    );
    ok(o)
        .lines()
        .map(|l| {
            let (c, s) = l.split_once('\t').unwrap_or((l, ""));
            // Only "is it empty" is comparable: sizes are unit-formatted.
            (c.to_string(), (s == "0B").to_string())
        })
        .collect()
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let p = e.path();
        let t = dst.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &t);
        } else {
            std::fs::copy(&p, &t).unwrap();
        }
    }
}

/// Extra context files that are better generated than committed (an archive, a
/// symlink).
fn add_generated(ctx: &Path) {
    let mut gz = Vec::new();
    {
        let enc = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::default());
        let mut b = tar::Builder::new(enc);
        for (name, data, mode) in [
            ("pkg/bin/tool", &b"#!/bin/sh\necho tool\n"[..], 0o755),
            ("pkg/share/readme", &b"read me\n"[..], 0o644),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_mode(mode);
            h.set_uid(1000);
            h.set_gid(1000);
            h.set_size(data.len() as u64);
            h.set_mtime(1_600_000_000);
            b.append_data(&mut h, name, data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
    }
    std::fs::write(ctx.join("archive.tar.gz"), gz).unwrap();
    let _ = std::os::unix::fs::symlink("hello.txt", ctx.join("link"));
}

#[test]
fn dockerfiles_build_the_same_as_docker_legacy_builder() {
    let Some(dockerd) = Dockerd::start(&["--ip-masq=false"]) else {
        eprintln!("skipping: dockerd is not installed");
        return;
    };
    // Through `docker_at` (DOCKER_BUILDKIT=0) on both sides.
    let dockerd_cfg = dockerd.config_dir();
    let berth = Daemon::start();
    let busybox = busybox_tar(berth.dir.path());
    let bb = busybox.to_str().unwrap();
    ok(berth.berth(&["import", "-c", "CMD [\"sh\"]", bb, "busybox"]));
    ok(docker_at(
        &dockerd.host(),
        &dockerd_cfg,
        &["import", "-c", "CMD [\"sh\"]", bb, "busybox"],
    ));
    let cases_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/build_diff");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&cases_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("Dockerfile").exists())
        .collect();
    cases.sort();
    assert!(cases.len() >= 5);
    let berth_cfg = berth.dir.path().join("docker-config");
    let mut failures = Vec::new();
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let ctx = berth.dir.path().join(format!("ctx-{name}"));
        copy_dir(&case, &ctx);
        add_generated(&ctx);
        let tag = format!("diff-{name}");
        let args = [
            "build",
            "--network",
            "none",
            "-t",
            &tag,
            ctx.to_str().unwrap(),
        ];
        let d_out = docker_at(&dockerd.host(), &dockerd_cfg, &args);
        assert!(d_out.status.success(), "dockerd {name}: {}", stderr(&d_out));
        let b_out = docker_at(&berth.host(), &berth_cfg, &args);
        assert!(b_out.status.success(), "berth {name}: {}", stderr(&b_out));

        let inspect = |host: &str, cfg: &Path| -> Value {
            let o = docker_at(host, cfg, &["image", "inspect", &tag]);
            serde_json::from_str::<Value>(&ok(o)).unwrap()[0].clone()
        };
        let d_cfg = config_fields(&inspect(&dockerd.host(), &dockerd_cfg));
        let b_cfg = config_fields(&inspect(&berth.host(), &berth_cfg));
        if d_cfg != b_cfg {
            failures.push(format!(
                "{name}: config differs\n docker: {d_cfg:?}\n berth:  {b_cfg:?}"
            ));
        }
        let d_hist = history(&dockerd.host(), &dockerd_cfg, &tag);
        let b_hist = history(&berth.host(), &berth_cfg, &tag);
        if d_hist.len() != b_hist.len()
            || d_hist.iter().map(|h| &h.1).ne(b_hist.iter().map(|h| &h.1))
        {
            failures.push(format!(
                "{name}: history differs\n docker: {d_hist:?}\n berth:  {b_hist:?}"
            ));
        }

        let save = |host: &str, cfg: &Path| -> Vec<u8> {
            let o = docker_at(host, cfg, &["save", &tag]);
            assert!(o.status.success(), "save {name}: {}", stderr(&o));
            o.stdout
        };
        let d_fs = filesystem(&save(&dockerd.host(), &dockerd_cfg));
        let b_fs = filesystem(&save(&berth.host(), &berth_cfg));
        let mut diffs = Vec::new();
        for (p, e) in &d_fs {
            match b_fs.get(p) {
                None => diffs.push(format!("  only in docker: {p} {e:?}")),
                Some(b) if b != e => diffs.push(format!("  {p}: docker {e:?} berth {b:?}")),
                _ => {}
            }
        }
        for (p, e) in &b_fs {
            if !d_fs.contains_key(p) {
                diffs.push(format!("  only in berth: {p} {e:?}"));
            }
        }
        if !diffs.is_empty() {
            failures.push(format!("{name}: filesystems differ\n{}", diffs.join("\n")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
