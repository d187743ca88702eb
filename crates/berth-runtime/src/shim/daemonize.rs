//! Detaching the shim from the daemon: fork, `setsid`, fork again, so the shim is an orphan
//! in its own session and survives the daemon. The first process waits on a pipe until the
//! detached shim reports that the container was created (or why it was not), prints that
//! report as one JSON line on stdout and exits with 0 or the failure's Docker exit code.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::unistd::{dup2, fork, pipe2, setsid, ForkResult};

use crate::error::RuntimeError;
use crate::protocol::Response;

/// Where the detached shim sends its single readiness report.
pub struct Reporter {
    pub(crate) out: Option<File>,
}

impl Reporter {
    /// A reporter that prints to this process's stdout (foreground mode).
    pub fn stdout() -> Self {
        Reporter { out: None }
    }

    /// Sends the report (once) and closes the channel.
    pub fn report(&mut self, r: &Response) {
        let mut line = serde_json::to_vec(r).unwrap_or_else(|_| b"{\"ok\":false}".to_vec());
        line.push(b'\n');
        match self.out.take() {
            Some(mut f) => {
                let _ = f.write_all(&line);
            }
            None => {
                let mut so = std::io::stdout();
                let _ = so.write_all(&line);
                let _ = so.flush();
            }
        }
    }
}

/// The outcome of [`detach`] in the calling process.
pub enum Role {
    /// The original process: exit with this code.
    Parent(i32),
    /// The detached shim: carry on and report through this.
    Shim(Reporter),
}

fn sys(op: &str) -> impl FnOnce(nix::Error) -> RuntimeError + '_ {
    move |e| RuntimeError::Sys {
        op: op.to_string(),
        source: e,
    }
}

/// Forks the detached shim. Must be called while single-threaded.
pub fn detach(state_dir: &Path) -> Result<Role, RuntimeError> {
    let (r, w) = pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe"))?;
    // SAFETY: the shim is single-threaded (no tokio, no helper threads) when it forks.
    match unsafe { fork() }.map_err(sys("fork"))? {
        ForkResult::Parent { child } => {
            drop(w);
            // Read one line, not to EOF: the container's init inherits the write end until it
            // execs, so EOF may come much later than the report.
            let mut buf = Vec::new();
            let mut f = File::from(r);
            let mut byte = [0u8; 1];
            while let Ok(1) = f.read(&mut byte) {
                if byte[0] == b'\n' {
                    break;
                }
                buf.push(byte[0]);
            }
            let _ = nix::sys::wait::waitpid(child, None);
            let line = String::from_utf8_lossy(&buf);
            let line = line.lines().next().unwrap_or("").to_string();
            let resp: Response = serde_json::from_str(&line).unwrap_or_else(|_| {
                Response::err("shim exited before reporting; see shim.log", 125)
            });
            let mut so = std::io::stdout();
            let _ = writeln!(so, "{}", serde_json::to_string(&resp).unwrap_or_default());
            let _ = so.flush();
            Ok(Role::Parent(if resp.ok {
                0
            } else {
                resp.exit_code.unwrap_or(125)
            }))
        }
        ForkResult::Child => {
            drop(r);
            leave_session();
            redirect_stdio(state_dir)?;
            Ok(Role::Shim(Reporter {
                out: Some(File::from(w)),
            }))
        }
    }
}

/// In the first fork's child: a new session, then a second fork whose parent exits at once,
/// so the process carrying on is an orphan that can never regain a controlling terminal;
/// its working directory is `/`. Must be called while single-threaded.
pub(crate) fn leave_session() {
    let _ = setsid();
    // SAFETY: single-threaded (the caller's contract).
    match unsafe { fork() } {
        Ok(ForkResult::Parent { .. }) => unsafe { libc::_exit(0) },
        Ok(ForkResult::Child) => {}
        Err(_) => unsafe { libc::_exit(125) },
    }
    let _ = std::env::set_current_dir("/");
}

/// stdin and stdout → `/dev/null`, stderr → `<state-dir>/shim.log` (tracing output).
pub(crate) fn redirect_stdio(state_dir: &Path) -> Result<(), RuntimeError> {
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| RuntimeError::io("open", "/dev/null", e))?;
    let log_path = state_dir.join("shim.log");
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| RuntimeError::io("open", &log_path, e))?;
    dup2(null.as_raw_fd(), 0).map_err(sys("dup2 stdin"))?;
    dup2(null.as_raw_fd(), 1).map_err(sys("dup2 stdout"))?;
    dup2(log.as_raw_fd(), 2).map_err(sys("dup2 stderr"))?;
    Ok(())
}
