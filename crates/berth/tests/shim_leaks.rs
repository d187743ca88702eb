//! End-to-end: running many containers through `berth shim` leaves no mounts, cgroup
//! directories, libcontainer state or processes behind.

#[path = "shim_common.rs"]
mod common;

use std::fs;
use std::time::Duration;

use common::*;

/// Live processes whose command line mentions `needle`.
fn processes_matching(needle: &str) -> usize {
    fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .chars()
                        .all(|c| c.is_ascii_digit())
                })
                .filter(|e| {
                    fs::read(e.path().join("cmdline"))
                        .map(|c| String::from_utf8_lossy(&c).contains(needle))
                        .unwrap_or(false)
                })
                .filter(|e| alive(e.file_name().to_string_lossy().parse().unwrap_or(0)))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn shim_no_leaks_after_many_runs() {
    if !can_run() {
        return;
    }
    let env = TestEnv::new("leak");
    let root = env.root.to_string_lossy().to_string();
    let mounts_before = mounts_under(&env.root).len();
    let procs_before = processes_matching(&root);
    const N: usize = 20;
    let mut ids = Vec::new();
    for i in 0..N {
        let name = format!("leak{i}");
        let args: &[&str] = if i % 2 == 0 {
            &["true"]
        } else {
            &["sh", "-c", "echo x; exit 1"]
        };
        let p = env.prepare(&name, args, |s| s.tty = i % 4 == 1);
        let (client, _) = env.spawn(&p, true).await.expect("spawn");
        let rec = client.wait().await.expect("wait");
        assert_eq!(rec.exit_code, if i % 2 == 0 { 0 } else { 1 });
        ids.push(p.id.clone());
    }
    // Shims exit shortly after answering the last waiter.
    assert!(
        eventually(Duration::from_secs(10), || processes_matching(&root)
            == procs_before),
        "left-over processes: {}",
        processes_matching(&root)
    );
    assert_eq!(
        mounts_under(&env.root).len(),
        mounts_before,
        "{:?}",
        mounts_under(&env.root)
    );
    for id in &ids {
        assert!(
            cgroup_dirs(id).is_empty(),
            "cgroup dirs of {id}: {:?}",
            cgroup_dirs(id)
        );
    }
    let runtime_left: Vec<_> = fs::read_dir(env.runtime_root())
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        runtime_left.is_empty(),
        "libcontainer state left: {runtime_left:?}"
    );
}
