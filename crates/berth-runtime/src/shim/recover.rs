//! Cleaning up after a shim that died (SIGKILL, OOM kill) while its container may still run:
//! the daemon finds `control.sock` dead and no `exit.json`. This kills what is left of the
//! container, deletes libcontainer's state and the cgroups, unmounts the rootfs and writes an
//! exit record, so that the container reads as exited and nothing leaks.
//!
//! Unlike creating containers, none of this clones, so it may run in the daemon (blocking:
//! call it from `tokio::task::spawn_blocking`).

use std::path::Path;
use std::time::{Duration, Instant};

use libcontainer::container::Container;
use nix::sys::signal::Signal;

use crate::bundle::read_shim_config;
use crate::error::RuntimeError;
use crate::rootfs;
use crate::status::{
    now_rfc3339, read_exit, write_json_volatile, ExitRecord, EXIT_FILE, SOCKET_FILE,
};

/// Cleans up container `id` whose shim is gone and returns its exit record (the one the
/// shim wrote, if it got that far; else exit 137 with an error saying the shim died).
pub fn cleanup_dead_shim(
    id: &str,
    bundle: &Path,
    state_dir: &Path,
    runtime_root: &Path,
) -> Result<ExitRecord, RuntimeError> {
    let dir = runtime_root.join(id);
    if dir.exists() {
        match Container::load(dir.clone()) {
            Ok(mut c) => {
                let pid = c.pid();
                let _ = c.kill(Signal::SIGKILL, true);
                if let Some(pid) = pid {
                    let end = Instant::now() + Duration::from_secs(5);
                    while Path::new(&format!("/proc/{}", pid.as_raw())).exists()
                        && Instant::now() < end
                    {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                if let Err(e) = c.delete(true) {
                    tracing::warn!(error = %e, id, "deleting orphaned container");
                    let _ = std::fs::remove_dir_all(&dir);
                }
            }
            Err(_) => {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
    crate::cgroups::remove_leftovers(&crate::spec::cgroups_path(id), Duration::from_secs(2));
    if let Ok(cfg) = read_shim_config(bundle) {
        rootfs::unmount_rootfs(&cfg.rootfs, &bundle.join("rootfs"))?;
    }
    let _ = std::fs::remove_file(state_dir.join(SOCKET_FILE));
    if let Some(rec) = read_exit(state_dir)? {
        return Ok(rec);
    }
    let rec = ExitRecord {
        exit_code: 137,
        signal: Some(9),
        oom_killed: false,
        started_at: String::new(),
        finished_at: now_rfc3339(),
        error: Some(format!("shim for container {id} exited unexpectedly")),
    };
    write_json_volatile(&state_dir.join(EXIT_FILE), &rec)?;
    Ok(rec)
}
