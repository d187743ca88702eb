//! dive's own test image and dive's own expected numbers
//! (wagoodman/dive `dive/image/docker/image_archive_analysis_test.go`, `export_test.snap`):
//! the dive-compatible figures must match bit for bit. The image is read from a dive
//! checkout (`DIVE_REPO`, or the local mirror) and the test is skipped without one.

use berth_analyze::{analyze, report, Source};
use std::path::PathBuf;
use std::process::Command;

fn dive_test_image() -> Option<PathBuf> {
    let repo = std::env::var("DIVE_REPO")
        .ok()
        .unwrap_or_else(|| "/work/.mirror/wagoodman+dive/repo".to_string());
    let plain = PathBuf::from(&repo).join(".data/test-docker-image.tar");
    if plain.is_file() {
        return Some(plain);
    }
    let out = Command::new("git")
        .args([
            "--git-dir",
            &repo,
            "show",
            "HEAD:.data/test-docker-image.tar",
        ])
        .output()
        .ok()?;
    if !out.status.success() || out.stdout.len() < 1_000_000 {
        return None;
    }
    let p = std::env::temp_dir().join(format!("dive-test-image-{}.tar", std::process::id()));
    std::fs::write(&p, &out.stdout).ok()?;
    Some(p)
}

#[test]
fn matches_dives_expected_analysis() {
    let Some(path) = dive_test_image() else {
        eprintln!("SKIP: no dive checkout (set DIVE_REPO to a dive clone or git dir)");
        return;
    };
    let none = |_: &str| None;
    let img = Source::resolve(path.to_str().unwrap(), None, None, &none)
        .load()
        .unwrap();
    let a = analyze(&img);
    // dive's Test_Analysis table.
    assert_eq!(a.efficiency, 0.9844212134184309);
    assert_eq!(a.size_bytes, 1220598);
    assert_eq!(a.user_size_bytes, 66237);
    assert_eq!(a.wasted_bytes, 32025);
    assert_eq!(a.user_wasted_percent, 0.4834911001404049);
    // dive's export snapshot: layers and inefficient files (ties in any order).
    let sizes: Vec<u64> = img.layers.iter().map(|l| l.size).collect();
    assert_eq!(
        sizes,
        vec![1154361, 6405, 0, 6405, 6405, 6405, 6405, 6405, 6405, 0, 2187, 6405, 6405, 6405]
    );
    assert_eq!(
        img.layers[2].command,
        "mkdir -p /root/example/really/nested"
    );
    let export = report::export(&img, &a, None);
    let mut refs: Vec<(usize, u64, String)> = export
        .image
        .file_reference
        .iter()
        .map(|r| (r.count, r.size_bytes, r.file.clone()))
        .collect();
    refs.sort();
    assert_eq!(
        refs,
        vec![
            (2, 6405, "/root/example/somefile3.txt".to_string()),
            (2, 12810, "/root/example/somefile1.txt".to_string()),
            (2, 12810, "/root/saved.txt".to_string()),
        ]
    );
    assert_eq!(export.layer[0].file_list.len(), 415);
    // Corrected: /root/saved.txt's kept copy is not waste, but everything under the
    // deleted /root/example is (dive misses somefile2, seen once before the rm).
    let mut hidden: Vec<(String, usize, u64)> = a
        .wasted_paths
        .iter()
        .map(|p| (p.path.clone(), p.hidden_copies, p.wasted_bytes))
        .collect();
    hidden.sort();
    assert_eq!(
        hidden,
        vec![
            ("/root/example/somefile1.txt".to_string(), 2, 12810),
            ("/root/example/somefile2.txt".to_string(), 1, 6405),
            ("/root/example/somefile3.txt".to_string(), 1, 6405),
            ("/root/saved.txt".to_string(), 1, 6405),
        ]
    );
    assert_eq!(a.corrected_wasted_bytes, 32025);
    assert_eq!(a.corrected_efficiency, 1.0 - 32025.0 / 1220598.0);
    if path.starts_with(std::env::temp_dir()) {
        let _ = std::fs::remove_file(&path);
    }
}
