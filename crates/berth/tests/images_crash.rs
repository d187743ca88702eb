//! Crash safety: the daemon is SIGKILLed in the middle of large `load`s, several times.
//! After each restart `berth system check` finds nothing wrong and no partial image is
//! listed; finally the same load completes.

mod support;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

#[test]
fn sigkill_during_load_leaves_nothing_half_written() {
    let mut d = Daemon::start();
    // ~120 MB in 3 layers of many files, so a load takes a while.
    let mut layers = Vec::new();
    let mut seed = 0x9e3779b97f4a7c15u64;
    for l in 0..3 {
        let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
        for f in 0..400 {
            let mut data = vec![0u8; 100_000];
            for chunk in data.chunks_mut(8) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                chunk.copy_from_slice(&seed.to_le_bytes()[..chunk.len()]);
            }
            entries.push((format!("layer{l}/dir{}/file{f}", f % 10), data));
        }
        let refs: Vec<(&str, Option<&[u8]>)> = entries
            .iter()
            .map(|(p, d)| (p.as_str(), Some(d.as_slice())))
            .collect();
        layers.push(layer_tar(&refs));
    }
    let (archive, id) = legacy_archive(d.dir.path(), "big", "v1", &layers);

    let mut interrupted = 0;
    for (i, delay_ms) in [150u64, 400, 800, 1200].into_iter().enumerate() {
        let mut load = Command::new(BERTH)
            .env("BERTH_HOST", d.host())
            .args(["load", "-i", archive.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        d.kill9();
        let _ = load.wait();
        d.spawn();
        let check = d.berth(&["system", "check"]);
        assert!(
            check.status.success(),
            "round {i}: system check found problems: {}{}",
            stdout(&check),
            stderr(&check)
        );
        let images = ok(d.berth(&["images", "-a", "-q", "--no-trunc"]));
        // Either the load finished before the kill (the whole image is there) or nothing is.
        if !images.trim().is_empty() {
            assert_eq!(images.trim(), id, "round {i}: unexpected images");
            assert_eq!(
                ok(d.berth(&["inspect", "--format", "{{.Id}}", "big:v1"])).trim(),
                id
            );
            ok(d.berth(&["rmi", "big:v1"]));
        } else {
            interrupted += 1;
        }
        let tmp = std::fs::read_dir(d.data_root().join("tmp"))
            .unwrap()
            .count();
        assert_eq!(tmp, 0, "round {i}: leftovers in tmp/ after restart");
    }
    assert!(interrupted > 0, "no kill landed in the middle of a load");
    let out = ok(d.berth(&["load", "-i", archive.to_str().unwrap()]));
    assert_eq!(out.trim(), "Loaded image: big:v1");
    assert_eq!(
        ok(d.berth(&["system", "check"])).trim(),
        "no problems found"
    );
}
