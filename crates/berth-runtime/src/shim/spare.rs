//! Spare shims: a shim started ahead of need, so that starting a container does not wait
//! for the `berth` executable to be loaded, initialised and detached (fork, `setsid`, fork)
//! — about a fifth of `run --rm`'s time (the same idea as the daemon's spare network
//! namespaces).
//!
//! The daemon spawns `berth shim --spare` with one end of a socket pair as its stdin
//! ([`crate::client::ShimLauncher`]). The process detaches like any shim, keeps the socket,
//! and blocks reading one JSON line, an [`Assignment`]. From then on it is that container's
//! shim and reports its readiness as one JSON line on the same socket, exactly as a freshly
//! spawned shim reports through its first process's stdout. End of file before an
//! assignment means the daemon stopped or dropped the spare: the process exits.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

use nix::unistd::{dup2, fork, ForkResult};
use serde::{Deserialize, Serialize};

use super::daemonize::Reporter;
use super::ShimOptions;
use crate::error::RuntimeError;

/// What the daemon sends a spare shim: the container it is to run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Assignment {
    /// Container ID.
    pub id: String,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// The shim's state directory.
    pub state_dir: PathBuf,
    /// libcontainer's state root.
    pub runtime_root: PathBuf,
    /// Start the container right after creating it.
    pub start: bool,
}

/// The outcome of [`detach_spare`] in the calling process.
pub enum SpareRole {
    /// The original process: exit with this code.
    Parent(i32),
    /// The detached spare, with its socket to the daemon.
    Spare(File),
}

fn sys(op: &str) -> impl FnOnce(nix::Error) -> RuntimeError + '_ {
    move |e| RuntimeError::Sys {
        op: op.to_string(),
        source: e,
    }
}

/// Detaches a spare shim: the socket on stdin moves to a close-on-exec descriptor, stdio
/// goes to `/dev/null`, and the process forks, `setsid`s and forks again. The original
/// process returns once the intermediate one is gone (so the daemon can reap it at once).
/// Must be called while single-threaded.
pub fn detach_spare() -> Result<SpareRole, RuntimeError> {
    // fd 0 is the socket the daemon passed.
    let sock = nix::fcntl::fcntl(0, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3))
        .map_err(sys("dup socket"))?;
    // SAFETY: `sock` was just returned by fcntl and is owned by nobody else.
    let sock = unsafe { OwnedFd::from_raw_fd(sock) };
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| RuntimeError::io("open", std::path::Path::new("/dev/null"), e))?;
    for fd in 0..3 {
        dup2(null.as_raw_fd(), fd).map_err(sys("dup2"))?;
    }
    // SAFETY: the shim is single-threaded (no tokio, no helper threads) when it forks.
    match unsafe { fork() }.map_err(sys("fork"))? {
        ForkResult::Parent { child } => {
            drop(sock);
            let status = nix::sys::wait::waitpid(child, None);
            let ok = matches!(status, Ok(nix::sys::wait::WaitStatus::Exited(_, 0)));
            Ok(SpareRole::Parent(if ok { 0 } else { 125 }))
        }
        ForkResult::Child => {
            super::daemonize::leave_session();
            Ok(SpareRole::Spare(File::from(sock)))
        }
    }
}

/// Blocks until the daemon sends an assignment: `Ok(None)` on end of file, `Err` (with the
/// reporter to answer on) for a line that is not an [`Assignment`] or a state directory that
/// cannot be made.
#[allow(clippy::type_complexity)]
pub fn await_assignment(
    mut sock: File,
) -> Result<Option<(ShimOptions, Reporter)>, (String, Reporter)> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match sock.read(&mut byte) {
            Ok(0) => return Ok(None),
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Ok(None),
        }
    }
    let reporter = Reporter { out: Some(sock) };
    let a: Assignment = match serde_json::from_slice(&line) {
        Ok(a) => a,
        Err(e) => return Err((format!("spare shim: bad assignment: {e}"), reporter)),
    };
    if let Err(e) = std::fs::create_dir_all(&a.state_dir) {
        return Err((
            format!("state dir {}: {e}", a.state_dir.display()),
            reporter,
        ));
    }
    Ok(Some((
        ShimOptions {
            id: a.id,
            bundle: a.bundle,
            state_dir: a.state_dir,
            runtime_root: a.runtime_root,
            foreground: false,
            start: a.start,
        },
        reporter,
    )))
}
