//! 200 `run --rm` through the daemon leave nothing behind: mounts, cgroup directories,
//! shim processes, container dirs, shim state dirs, and the daemon's open file
//! descriptors are back to where they started.

mod support;
use std::time::{Duration, Instant};
use support::*;

fn count_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|r| r.count())
        .unwrap_or(0)
}

fn mounts_under(root: &std::path::Path) -> usize {
    let r = root.to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&r))
        .count()
}

/// Cgroup directories (in any hierarchy) left for these container IDs.
fn cgroup_dirs(ids: &[String]) -> usize {
    let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") else {
        return 0;
    };
    let mut roots: Vec<std::path::PathBuf> = rd.flatten().map(|e| e.path()).collect();
    roots.push("/sys/fs/cgroup".into());
    roots
        .iter()
        .flat_map(|r| ids.iter().map(move |id| r.join("berth").join(id)))
        .filter(|p| p.is_dir())
        .count()
}

fn shims_of(dir: &std::path::Path) -> usize {
    let needle = dir.to_string_lossy().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| {
                    let c = String::from_utf8_lossy(&c);
                    c.contains("shim") && c.contains(&needle)
                })
                .unwrap_or(false)
        })
        .count()
}

fn entries(p: &std::path::Path) -> usize {
    std::fs::read_dir(p).map(|r| r.count()).unwrap_or(0)
}

#[test]
fn two_hundred_run_rm_leave_nothing_behind() {
    let d = Daemon::start();
    let tar = busybox_tar(d.dir.path());
    ok(d.berth(&["import", tar.to_str().unwrap(), "busybox"]));
    // One warm-up run so lazily opened files (DB, log dirs) are counted in the baseline.
    ok(d.berth(&["run", "--rm", "busybox", "true"]));
    std::thread::sleep(Duration::from_millis(300));
    let pid = d.child.as_ref().unwrap().id();
    let fds0 = count_fds(pid);
    let mounts0 = mounts_under(d.dir.path());
    // The daemon keeps one spare shim ready (berth_runtime::shim::spare).
    let shims0 = shims_of(d.dir.path());
    assert!(shims0 <= 1, "{shims0} shims before any container runs");
    // The IDs of the containers, from the daemon's live event stream.
    let mut events = std::process::Command::new(BERTH)
        .env("BERTH_HOST", d.host())
        .args([
            "events",
            "--filter",
            "event=destroy",
            "--format",
            "{{.Actor.ID}}",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let ctrs0 = entries(&d.data_root().join("containers"));
    let state0 = entries(&d.dir.path().join("exec/containers"));
    for i in 0..200 {
        let args: Vec<&str> = match i % 4 {
            0 => vec!["run", "--rm", "busybox", "true"],
            1 => vec![
                "run",
                "--rm",
                "busybox",
                "sh",
                "-c",
                "echo out; echo err >&2; exit 3",
            ],
            2 => vec!["run", "--rm", "-t", "busybox", "echo", "tty"],
            _ => vec!["run", "--rm", "busybox", "nosuchbinary"],
        };
        let o = d.berth(&args);
        let want = [0, 3, 0, 127][i % 4];
        assert_eq!(o.status.code(), Some(want), "run {i}: {}", stderr(&o));
    }
    let mut ids = Vec::new();
    let mut r = std::io::BufReader::new(events.stdout.take().unwrap());
    while ids.len() < 200 {
        let mut l = String::new();
        if std::io::BufRead::read_line(&mut r, &mut l).unwrap() == 0 {
            break;
        }
        ids.push(l.trim().to_string());
    }
    let _ = events.kill();
    let _ = events.wait();
    assert_eq!(ids.len(), 200, "every container was destroyed");
    // Everything is released shortly after the last container is removed.
    let start = Instant::now();
    loop {
        let now = (
            count_fds(pid),
            mounts_under(d.dir.path()),
            cgroup_dirs(&ids),
            shims_of(d.dir.path()),
            entries(&d.data_root().join("containers")),
            entries(&d.dir.path().join("exec/containers")),
        );
        let want = (fds0, mounts0, 0, shims0, ctrs0, state0);
        if now == want || start.elapsed() > Duration::from_secs(15) {
            assert_eq!(
                now, want,
                "(daemon fds, mounts, cgroup dirs, shims, container dirs, shim state dirs)"
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(ok(d.berth(&["ps", "-aq"])), "");
}
