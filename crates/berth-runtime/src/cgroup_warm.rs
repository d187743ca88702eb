//! Taking the wait for an RCU grace period out of a container's start.
//!
//! Moving a process into a cgroup (libcontainer writes the intermediate process's pid to
//! `cgroup.procs`) takes the kernel's global `cgroup_threadgroup_rwsem` for writing. That
//! per-CPU rwsem switches readers to a slow path first, which waits for a full RCU grace
//! period when the lock has been idle: 10–25 ms on this host, a third of a whole `run`
//! (measured: the first of two back-to-back writes of a pid into its own cgroup took
//! 24.8 ms, the second 0.05 ms, one made 50 ms later 9.9 ms again). Once a writer has been
//! through, writers for about one more grace period are fast.
//!
//! So when a container is about to be created or started, [`warm`] moves a short-lived
//! thread of the daemon into the cgroup it is already in (a no-op for the cgroup tree, but
//! a writer of the lock), and keeps doing so every few milliseconds for [`HOLD`] after the
//! last request: the container's own migration then finds the lock warm, and so do the
//! next starts of a burst (`run` in a loop, `compose up`). Without container starts the
//! thread ends, the lock goes back to idle and the rest of the system's forks and exits
//! keep their fast path.

use std::fs;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the lock is kept warm after the last request.
pub const HOLD: Duration = Duration::from_secs(2);
/// Interval between no-op migrations: well under an RCU grace period (~10 ms here).
const EVERY: Duration = Duration::from_millis(3);

/// `Some(deadline)` while a warming thread runs.
static UNTIL: Mutex<Option<Instant>> = Mutex::new(None);

/// Starts (or extends) keeping the cgroup-migration lock warm. Errors are ignored: this
/// only saves time.
pub fn warm() {
    let mut until = UNTIL.lock().unwrap_or_else(|p| p.into_inner());
    let running = until.is_some();
    *until = Some(Instant::now() + HOLD);
    if running {
        return;
    }
    drop(until);
    let spawned = std::thread::Builder::new()
        .name("cgroup-warm".into())
        .spawn(|| loop {
            let _ = move_self_in_place();
            std::thread::sleep(EVERY);
            let mut until = UNTIL.lock().unwrap_or_else(|p| p.into_inner());
            if until.is_none_or(|d| Instant::now() >= d) {
                *until = None;
                return;
            }
        });
    if spawned.is_err() {
        *UNTIL.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Writes the calling thread's id into the `tasks` file of its own cgroup in one cgroup v1
/// hierarchy, or into `cgroup.threads`/`cgroup.procs` of its cgroup v2 group.
fn move_self_in_place() -> std::io::Result<()> {
    let tid = nix::unistd::gettid().as_raw();
    let own = fs::read_to_string("/proc/thread-self/cgroup")?;
    let target = target_file(&own).ok_or_else(|| std::io::Error::other("no cgroup found"))?;
    let mut f = fs::OpenOptions::new().write(true).open(target)?;
    f.write_all(tid.to_string().as_bytes())
}

/// The file to write to, from `/proc/<tid>/cgroup` content: a v1 hierarchy with a single
/// controller that is always there (`pids`, else `memory`, `cpu…`), else the v2 group.
fn target_file(proc_cgroup: &str) -> Option<String> {
    let mut v2 = None;
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        if controllers.is_empty() {
            v2 = Some(path.to_string());
            continue;
        }
        for c in ["pids", "memory", "freezer"] {
            if controllers.split(',').any(|x| x == c) {
                let f = format!("/sys/fs/cgroup/{controllers}{path}/tasks");
                let f = f.replace("//", "/");
                if std::path::Path::new(&f).exists() {
                    return Some(f);
                }
            }
        }
    }
    let path = v2?;
    for base in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
        let f = format!("{base}{path}/cgroup.procs").replace("//", "/");
        let is_v2 = std::path::Path::new(&format!("{base}/cgroup.controllers")).exists();
        if is_v2 && std::path::Path::new(&f).exists() {
            return Some(f);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_a_v1_hierarchy_or_the_v2_group() {
        let hybrid = "9:name=systemd:/\n8:pids:/user.slice\n0::/user.slice\n";
        if std::path::Path::new("/sys/fs/cgroup/pids/user.slice/tasks").exists() {
            assert_eq!(
                target_file(hybrid).as_deref(),
                Some("/sys/fs/cgroup/pids/user.slice/tasks")
            );
        }
        assert_eq!(target_file("garbage"), None);
    }

    #[test]
    fn own_cgroup_is_found_and_writable() {
        // Root-only (writing to cgroupfs); the test suite runs as root.
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let own = fs::read_to_string("/proc/thread-self/cgroup").expect("own cgroup");
        assert!(target_file(&own).is_some(), "no target in {own:?}");
        let before = fs::read_to_string("/proc/thread-self/cgroup").expect("read");
        move_self_in_place().expect("no-op migration");
        let after = fs::read_to_string("/proc/thread-self/cgroup").expect("read");
        assert_eq!(before, after, "the thread must stay in its cgroups");
    }
}
