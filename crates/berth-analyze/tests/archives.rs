//! End to end: images written in every supported layout are read back and scored;
//! the expected figures are computed here from the image description, independently
//! of the analyzer's code.

use berth_analyze::fixture::{write_docker_archive, write_oci_dir, Entry, FLayer};
use berth_analyze::layer::Compression;
use berth_analyze::rules::{self, CiConfig, Metrics};
use berth_analyze::source::archive::load_stream;
use berth_analyze::{analyze, Image, Source, SourceKind};

const BASE: usize = 400_000;
const CONF: usize = 1_000;
const DATA1: usize = 50_000;
const DATA2: usize = 60_000;

fn layers() -> Vec<FLayer> {
    let d = |p: &str| Entry::Dir(p.to_string());
    let f = |p: &str, n| Entry::File(p.to_string(), n);
    vec![
        FLayer {
            command: "ADD rootfs /".into(),
            entries: vec![
                d("bin"),
                f("bin/busybox", BASE),
                d("etc"),
                f("etc/conf", CONF),
            ],
        },
        FLayer {
            command: "COPY data /app/data".into(),
            entries: vec![d("app"), f("app/data", DATA1)],
        },
        FLayer {
            command: "RUN regenerate".into(),
            entries: vec![d("app"), f("app/data", DATA2)],
        },
        FLayer {
            command: "RUN rm /etc/conf".into(),
            entries: vec![d("etc"), Entry::Whiteout("etc/conf".into())],
        },
    ]
}

/// Expected figures from first principles: every path's occurrences (a file whiteout
/// counts 0), dive's score Σmin/Σsum, dive's waste Σsum over paths seen twice, and the
/// corrected waste = bytes of every copy that is not the final visible one.
struct Expected {
    efficiency: f64,
    wasted: u64,
    user_percent: f64,
    corrected_wasted: u64,
    corrected_efficiency: f64,
}

fn expected() -> Expected {
    let occurrences: [&[usize]; 3] = [&[BASE], &[CONF, 0], &[DATA1, DATA2]];
    let min: usize = occurrences.iter().map(|o| *o.iter().min().unwrap()).sum();
    let sum: usize = occurrences.iter().map(|o| o.iter().sum::<usize>()).sum();
    let wasted: usize = occurrences
        .iter()
        .filter(|o| o.len() > 1)
        .map(|o| o.iter().sum::<usize>())
        .sum();
    let total = BASE + CONF + DATA1 + DATA2;
    let user = DATA1 + DATA2;
    let corrected = CONF + DATA1; // the deleted conf and the overwritten first data copy
    Expected {
        efficiency: min as f64 / sum as f64,
        wasted: wasted as u64,
        user_percent: wasted as f64 / user as f64,
        corrected_wasted: corrected as u64,
        corrected_efficiency: 1.0 - corrected as f64 / total as f64,
    }
}

fn check(img: &Image, what: &str) {
    let e = expected();
    let a = analyze(img);
    assert_eq!(img.layers.len(), 4, "{what}");
    assert_eq!(a.size_bytes, (BASE + CONF + DATA1 + DATA2) as u64, "{what}");
    assert!(
        (a.efficiency - e.efficiency).abs() < 1e-12,
        "{what}: {} vs {}",
        a.efficiency,
        e.efficiency
    );
    assert_eq!(a.wasted_bytes, e.wasted, "{what}");
    assert!(
        (a.user_wasted_percent - e.user_percent).abs() < 1e-12,
        "{what}"
    );
    assert_eq!(a.corrected_wasted_bytes, e.corrected_wasted, "{what}");
    assert!(
        (a.corrected_efficiency - e.corrected_efficiency).abs() < 1e-12,
        "{what}"
    );
    // History: the empty-layer entry is skipped, `/bin/sh -c ` trimmed.
    assert_eq!(img.layers[2].command, "RUN regenerate", "{what}");
    assert!(
        img.layers[1]
            .digest
            .as_deref()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{what}"
    );
    assert_eq!(a.inefficiencies[0].path, "/app/data", "{what}");
    assert_eq!(a.wasted_paths[0].path, "/app/data", "{what}");
    assert_eq!(a.wasted_paths[0].wasted_bytes, DATA1 as u64, "{what}");
}

fn load(path: &std::path::Path, kind: Option<SourceKind>) -> Image {
    let none = |_: &str| None;
    let s = Source::resolve(path.to_str().unwrap(), kind, None, &none);
    s.load().unwrap()
}

#[test]
fn docker_legacy_archive_file_and_stream() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("legacy.tar");
    write_docker_archive(&p, "test/waste:1", &layers(), false).unwrap();
    let img = load(&p, None);
    assert_eq!(img.name, "test/waste:1");
    check(&img, "legacy file");
    let img = load_stream(std::fs::File::open(&p).unwrap(), None, "legacy").unwrap();
    check(&img, "legacy stream");
}

#[test]
fn docker25_oci_archive_file_and_stream() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("oci.tar");
    write_docker_archive(&p, "test/waste:1", &layers(), true).unwrap();
    check(&load(&p, Some(SourceKind::DockerArchive)), "docker25 file");
    let img = load_stream(std::fs::File::open(&p).unwrap(), None, "docker25").unwrap();
    check(&img, "docker25 stream");
}

#[test]
fn oci_layout_dir_with_mixed_compression() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("layout");
    write_oci_dir(
        &d,
        "1",
        &layers(),
        &[Compression::Gzip, Compression::Zstd, Compression::None],
    )
    .unwrap();
    check(&load(&d, None), "oci dir");
}

#[test]
fn dive_ci_thresholds_fail_and_pass() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("img.tar");
    write_docker_archive(&p, "test/waste:1", &layers(), true).unwrap();
    let a = analyze(&load(&p, None));
    let e = expected();
    assert!(
        e.efficiency > 0.5 && e.efficiency < 0.95,
        "fixture must sit between the thresholds"
    );
    let m = Metrics {
        efficiency: a.efficiency,
        wasted_bytes: a.wasted_bytes,
        user_wasted_percent: a.user_wasted_percent,
    };
    let strict = CiConfig::from_yaml(
        "rules:\n  lowestEfficiency: 0.95\n  highestUserWastedPercent: disabled\n",
        ".dive-ci",
    )
    .unwrap();
    let ev = rules::evaluate(&strict.rules().unwrap(), &m);
    assert!(!ev.pass);
    assert_eq!(
        ev.outcomes
            .iter()
            .find(|o| o.rule == "lowestEfficiency")
            .unwrap()
            .status,
        rules::RuleStatus::Fail
    );
    let lax = CiConfig::from_yaml(
        "rules:\n  lowestEfficiency: 0.5\n  highestUserWastedPercent: disabled\n",
        ".dive-ci",
    )
    .unwrap();
    assert!(rules::evaluate(&lax.rules().unwrap(), &m).pass);
}

#[test]
fn missing_layer_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("layout");
    write_oci_dir(&d, "1", &layers(), &[Compression::None]).unwrap();
    // Remove one layer blob.
    let idx: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("index.json")).unwrap()).unwrap();
    let md = idx["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("blobs/sha256").join(md)).unwrap()).unwrap();
    let l1 = m["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    std::fs::remove_file(d.join("blobs/sha256").join(&l1)).unwrap();
    let none = |_: &str| None;
    let err = Source::resolve(d.to_str().unwrap(), None, None, &none)
        .load()
        .unwrap_err()
        .to_string();
    assert!(err.contains(&l1), "{err}");
}

/// Old `docker save` archives link a layer shared by several images:
/// `<id>/layer.tar -> ../<other>/layer.tar`. Both the file and the stream reader follow it.
#[test]
fn legacy_archive_with_symlinked_layer() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("legacy.tar");
    write_docker_archive(&src, "test/waste:1", &layers(), false).unwrap();
    let manifest: serde_json::Value = {
        let mut a = tar::Archive::new(std::fs::File::open(&src).unwrap());
        let mut found = None;
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap().to_str() == Some("manifest.json") {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut e, &mut s).unwrap();
                found = Some(serde_json::from_str(&s).unwrap());
            }
        }
        found.unwrap()
    };
    let linked = manifest[0]["Layers"][1].as_str().unwrap().to_string();
    // Rewrite: the real bytes move to shared/layer.tar (written last, after the link).
    let out = dir.path().join("linked.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&out).unwrap());
    let mut a = tar::Archive::new(std::fs::File::open(&src).unwrap());
    let mut moved = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        let mut h = e.header().clone();
        if path == linked {
            moved = data;
            let mut l = tar::Header::new_ustar();
            l.set_entry_type(tar::EntryType::Symlink);
            l.set_size(0);
            l.set_link_name("../shared/layer.tar").unwrap();
            b.append_data(&mut l, &path, &[][..]).unwrap();
        } else {
            b.append_data(&mut h, &path, &data[..]).unwrap();
        }
    }
    let mut h = tar::Header::new_ustar();
    h.set_size(moved.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, "shared/layer.tar", &moved[..])
        .unwrap();
    b.into_inner().unwrap();
    check(&load(&out, None), "symlinked file");
    check(
        &load_stream(std::fs::File::open(&out).unwrap(), None, "s").unwrap(),
        "symlinked stream",
    );
}

/// `docker save IMG | gzip > img.tar.gz` and `| zstd` are read too (dive cannot).
#[test]
fn compressed_docker_archives() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("img.tar");
    write_docker_archive(&p, "test/waste:1", &layers(), false).unwrap();
    let raw = std::fs::read(&p).unwrap();
    let gz = dir.path().join("img.tar.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&raw).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    check(&load(&gz, None), "gzip archive");
    let zs = dir.path().join("img.tar.zst");
    std::fs::write(&zs, zstd::encode_all(&raw[..], 1).unwrap()).unwrap();
    check(&load(&zs, None), "zstd archive");
    let img = berth_analyze::source::archive::load_any_stream(
        std::fs::File::open(&gz).unwrap(),
        None,
        "s",
    )
    .unwrap();
    check(&img, "gzip stream");
}
