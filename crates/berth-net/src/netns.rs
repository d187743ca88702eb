//! Persistent network namespaces: a namespace made by `unshare(CLONE_NEWNET)` on a
//! short-lived thread and kept alive by bind-mounting its `/proc/thread-self/ns/net` onto
//! a file (what `ip netns add` does). The container's runtime spec joins it by path, so
//! the namespace — with its veth, address and routes — outlives the container's process
//! and a daemon restart, and is removed only with the container.

use crate::error::{NetError, Result};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// Creates a namespace and pins it at `path` (an existing pin is kept).
pub fn create(path: &Path) -> Result<()> {
    if is_pinned(path) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| NetError::io(dir.display().to_string(), e))?;
    }
    std::fs::File::create(path).map_err(|e| NetError::io(path.display().to_string(), e))?;
    let p = path.to_path_buf();
    let r = std::thread::spawn(move || -> Result<()> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| NetError::io("unshare(CLONE_NEWNET)", e.into()))?;
        nix::mount::mount(
            Some("/proc/thread-self/ns/net"),
            &p,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| NetError::io(format!("bind-mount netns on {}", p.display()), e.into()))
    })
    .join()
    .map_err(|_| NetError::Invalid("netns thread panicked".into()))?;
    if r.is_err() {
        let _ = std::fs::remove_file(path);
    }
    r
}

/// Moves a pinned namespace from `from` to `to` (bind-mounted there, then unpinned at
/// `from`): how a prepared spare namespace becomes a container's.
pub fn transfer(from: &Path, to: &Path) -> Result<()> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(|e| NetError::io(dir.display().to_string(), e))?;
    }
    std::fs::File::create(to).map_err(|e| NetError::io(to.display().to_string(), e))?;
    nix::mount::mount(
        Some(from),
        to,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| NetError::io(format!("bind-mount netns on {}", to.display()), e.into()))?;
    remove(from)
}

/// Unpins and deletes a namespace file (the namespace goes away with its last user).
pub fn remove(path: &Path) -> Result<()> {
    let _ = nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH);
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetError::io(path.display().to_string(), e)),
    }
}

/// Whether `path` holds a pinned namespace (an nsfs mount, not just the empty file).
pub fn is_pinned(path: &Path) -> bool {
    const NSFS_MAGIC: i64 = 0x6e73_6673;
    nix::sys::statfs::statfs(path)
        .map(|s| s.filesystem_type().0 == NSFS_MAGIC)
        .unwrap_or(false)
}

/// Opens a pinned namespace.
pub fn open(path: &Path) -> Result<OwnedFd> {
    let f = std::fs::File::open(path).map_err(|e| NetError::io(path.display().to_string(), e))?;
    Ok(OwnedFd::from(f))
}

/// Runs `f` on a thread that has entered the namespace at `path`. Sockets made there
/// (netlink, UDP) stay in that namespace wherever they are used afterwards.
pub fn run_in<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let fd = open(path)?;
    std::thread::spawn(move || -> Result<T> {
        nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| NetError::io(format!("setns({})", fd.as_raw_fd()), e.into()))?;
        f()
    })
    .join()
    .map_err(|_| NetError::Invalid("netns thread panicked".into()))?
}
