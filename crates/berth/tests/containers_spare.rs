//! The daemon's spare shim (`berth shim --spare`, see `berth_runtime::shim::spare`): one is
//! ready after each container start (none before the first, none after it went unused for
//! a while), a container runs in it, a dead spare is replaced by a freshly spawned shim,
//! spares never outlive their daemon, and a container whose start was recorded without
//! waiting for the disk is found again after a SIGKILL.

mod support;
use std::time::Duration;
use support::*;

/// PIDs of this daemon's spare shims, idle or assigned (their command line names the
/// exec root).
fn spares(d: &Daemon) -> Vec<i32> {
    let runtime = d.dir.path().join("exec/runtime");
    let needle = format!("shim\0--spare\0--runtime-root\0{}\0", runtime.display());
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
            if String::from_utf8_lossy(&c).contains(&needle) {
                out.push(pid);
            }
        }
    }
    out
}

/// How long a spare may take to appear or go.
const WAIT: Duration = Duration::from_secs(10);

fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[test]
fn a_container_runs_in_the_spare_and_a_new_spare_follows() {
    let d = Daemon::with_busybox();
    // An idle daemon keeps no spare; the first start makes one.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(spares(&d).len(), 0, "a spare before any container started");
    ok(d.berth(&["run", "--rm", "--network", "none", "busybox", "true"]));
    // The container's own shim (the former spare) exits just after the removal.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        eventually(WAIT, || spares(&d).len() == 1),
        "no spare after a start"
    );
    let first = spares(&d)[0];
    let id = ok(d.berth(&["run", "-d", "--network", "none", "busybox", "sleep", "100"]));
    let id = id.trim();
    // The container's shim is the process that was the spare: the init's parent.
    let pid: i32 = ok(d.berth(&["inspect", "-f", "{{.State.Pid}}", id]))
        .trim()
        .parse()
        .unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let ppid: i32 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(ppid, first, "the container's shim is the former spare");
    assert!(
        eventually(WAIT, || spares(&d).iter().any(|p| *p != first)),
        "no new spare after the start"
    );
    // The former spare keeps its command line (renaming it needs CAP_SYS_RESOURCE).
    assert_eq!(
        spares(&d).iter().filter(|p| **p != first).count(),
        1,
        "exactly one new spare"
    );
    // It serves the container.
    assert_eq!(stdout(&d.berth(&["exec", id, "echo", "in"])).trim(), "in");
    ok(d.berth(&["rm", "-f", id]));
    // Attached runs (create, attach, start) and failures go through spares too.
    let o = d.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo out; exit 7",
    ]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert_eq!(stdout(&o), "out\n");
    let o = d.berth(&["run", "--rm", "--network", "none", "busybox", "nosuchcmd"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("executable file not found"),
        "{}",
        stderr(&o)
    );
    assert!(
        eventually(WAIT, || spares(&d).len() == 1),
        "one spare after the runs"
    );
}

#[test]
fn a_dead_spare_is_replaced() {
    let d = Daemon::with_busybox();
    ok(d.berth(&["run", "--rm", "--network", "none", "busybox", "true"]));
    // The container's own shim (the former spare) exits just after the removal.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        eventually(WAIT, || spares(&d).len() == 1),
        "no spare after a start"
    );
    let spare = spares(&d)[0];
    unsafe { libc::kill(spare, libc::SIGKILL) };
    assert!(eventually(WAIT, || !alive(spare)), "spare not killed");
    let o = d.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "echo",
        "fresh",
    ]);
    assert_eq!(stdout(&o), "fresh\n", "{}", stderr(&o));
    assert!(
        eventually(WAIT, || spares(&d).len() == 1),
        "no spare after a run without one"
    );
}

#[test]
fn spares_end_with_their_daemon_and_when_unused() {
    let mut d = Daemon::with_busybox_env(&[("BERTH_SPARE_SHIM_IDLE_MS", "1500")]);
    ok(d.berth(&["run", "--rm", "--network", "none", "busybox", "true"]));
    // The container's own shim (the former spare) exits just after the removal.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        eventually(WAIT, || spares(&d).len() == 1),
        "no spare after a start"
    );
    let spare = spares(&d)[0];
    d.kill9();
    assert!(
        eventually(WAIT, || !alive(spare)),
        "the spare outlived its daemon"
    );
    d.spawn();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(spares(&d).len(), 0, "a spare after a restart");
    ok(d.berth(&["run", "--rm", "--network", "none", "busybox", "true"]));
    // The container's own shim (the former spare) exits just after the removal.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        eventually(WAIT, || spares(&d).len() == 1),
        "no spare after a start"
    );
    let spare = spares(&d)[0];
    // Unused for the idle time (1.5 s here), it exits.
    std::thread::sleep(Duration::from_millis(1000));
    assert!(alive(spare), "the spare retired too early");
    assert!(
        eventually(WAIT, || !alive(spare)),
        "an unused spare was kept"
    );
    assert_eq!(spares(&d).len(), 0);
}

#[test]
fn a_rm_container_started_just_before_a_sigkill_is_found_again() {
    let mut d = Daemon::with_busybox();
    // The running state of a --rm container is committed without waiting for the disk;
    // after a SIGKILL the record may still say "created": the live shim decides.
    let id = ok(d.berth(&[
        "run",
        "-d",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; sleep 100 & wait",
    ]));
    let id = id.trim().to_string();
    d.kill9();
    d.spawn();
    assert_eq!(
        ok(d.berth(&["inspect", "-f", "{{.State.Status}}", &id])).trim(),
        "running"
    );
    assert!(ok(d.berth(&["ps", "-q", "--no-trunc"])).contains(&id));
    ok(d.berth(&["stop", "-t", "5", &id]));
    // --rm still applies.
    assert!(
        eventually(WAIT, || !d.berth(&["inspect", &id]).status.success()),
        "the --rm container was not removed after its stop"
    );
}

#[test]
fn a_removed_rm_container_stays_removed_after_a_sigkill() {
    let mut d = Daemon::with_busybox();
    // Every record of a --rm container (start, exit, removal) is committed without waiting
    // for the disk; a SIGKILL right after may bring the record back, and the next start
    // removes it again, as dockerd removes non-running --rm containers at start.
    let o = d.berth(&["run", "--rm", "--network", "none", "busybox", "true"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = d.berth(&["run", "--rm", "--network", "none", "busybox", "true"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(ok(d.berth(&["ps", "-a", "-q"])).trim(), "");
    d.kill9();
    d.spawn();
    assert_eq!(ok(d.berth(&["ps", "-a", "-q"])).trim(), "");
    // A plain container's records still survive the same.
    let id = ok(d.berth(&["create", "--network", "none", "busybox", "true"]));
    d.kill9();
    d.spawn();
    assert!(ok(d.berth(&["ps", "-a", "-q", "--no-trunc"])).contains(id.trim()));
}
