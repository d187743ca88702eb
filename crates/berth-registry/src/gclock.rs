//! The lock that makes garbage collection safe while the server runs.
//!
//! Operations that make a blob or manifest reachable (finishing an upload, mounting a
//! blob, a blob HEAD that lets a client skip an upload, a manifest PUT) hold a **shared**
//! `flock` on `<root>/docker/registry/v2/.berth-gc.lock` while they check and link. The
//! collector holds it **exclusively** for its mark and sweep, so it sees a consistent state
//! and no reference can appear between its mark and its sweep. `flock` works across
//! processes, so `berth registry garbage-collect` run beside a live `berth registry serve`
//! is covered too. (An object-store driver would need a lease object instead.)

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

/// A held lock; released on drop (closing the descriptor releases the flock).
#[derive(Debug)]
pub struct GcLock {
    _file: File,
}

fn open(root: &Path) -> std::io::Result<File> {
    let p = root.join(crate::paths::GC_LOCK);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent)?;
    }
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(p)
}

fn lock(root: &Path, op: libc::c_int) -> std::io::Result<GcLock> {
    let f = open(root)?;
    loop {
        // SAFETY: flock on a descriptor we own.
        let r = unsafe { libc::flock(f.as_raw_fd(), op) };
        if r == 0 {
            return Ok(GcLock { _file: f });
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Blocks until a shared lock is held (many pushes at once).
pub fn shared(root: &Path) -> std::io::Result<GcLock> {
    lock(root, libc::LOCK_SH)
}

/// Blocks until the exclusive lock is held (the collector).
pub fn exclusive(root: &Path) -> std::io::Result<GcLock> {
    lock(root, libc::LOCK_EX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn exclusive_waits_for_shared() {
        let d = tempfile::tempdir().unwrap();
        let s = shared(d.path()).unwrap();
        let s2 = shared(d.path()).unwrap();
        // A non-blocking exclusive attempt must fail while shared locks are held.
        let f = open(d.path()).unwrap();
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(r, -1);
        drop(s);
        drop(s2);
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(r, 0);
    }
}
