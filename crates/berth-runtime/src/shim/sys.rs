//! Small Linux helpers the shim needs around libcontainer: the SIGCHLD self-pipe, non-blocking
//! fds, bringing `lo` up inside a new network namespace, pty window size and receiving the
//! pty master over the console socket, and the memory cgroup's OOM-kill counter.
//!
//! Hand-written with `nix`/`libc` because each is a few syscalls; the SIGCHLD handler is a
//! self-pipe rather than a blocked signal + signalfd because libcontainer does not reset the
//! signal mask, so a blocked SIGCHLD would leak into the container's processes.

use std::fs::File;
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::socket::{
    recvmsg, socket, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};

use crate::error::RuntimeError;

static SIGCHLD_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigchld(_: libc::c_int) {
    let fd = SIGCHLD_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = 1u8;
        // SAFETY: write(2) is async-signal-safe; errors (full pipe) are fine to drop.
        unsafe {
            libc::write(fd, &b as *const u8 as *const libc::c_void, 1);
        }
    }
}

fn sys(op: impl Into<String>) -> impl FnOnce(nix::Error) -> RuntimeError {
    let op = op.into();
    move |e| RuntimeError::Sys { op, source: e }
}

extern "C" fn on_ignored(_: libc::c_int) {}

/// Kernel layout of `struct sigaction` for the raw `rt_sigaction` syscall.
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// Resets every signal's disposition to the default and unblocks all signals, so nothing
/// inherited from whoever started the shim (ignored SIGQUIT, SIGPIPE …) reaches the
/// container. Uses the raw syscall because glibc refuses its internal real-time signals.
fn reset_signals() {
    let dfl = KernelSigaction {
        handler: 0, // SIG_DFL
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: a valid sigaction struct of the kernel's layout; sigsetsize is 8.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &dfl as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8,
            );
        }
    }
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&SigSet::empty()),
        None,
    );
}

/// Resets inherited signal state, installs the SIGCHLD handler and returns the read end of
/// its self-pipe. SIGPIPE and SIGHUP get no-op handlers (not SIG_IGN, which would survive
/// exec into the container's processes): writes to gone clients then fail with EPIPE.
pub fn install_signals() -> Result<OwnedFd, RuntimeError> {
    reset_signals();
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).map_err(sys("pipe"))?;
    SIGCHLD_FD.store(w.as_raw_fd(), Ordering::Relaxed);
    std::mem::forget(w);
    let act = SigAction::new(
        SigHandler::Handler(on_sigchld),
        SaFlags::SA_RESTART | SaFlags::SA_NOCLDSTOP,
        SigSet::empty(),
    );
    let ign = SigAction::new(
        SigHandler::Handler(on_ignored),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only calls write(2).
    unsafe {
        sigaction(Signal::SIGCHLD, &act).map_err(sys("sigaction SIGCHLD"))?;
        sigaction(Signal::SIGPIPE, &ign).map_err(sys("sigaction SIGPIPE"))?;
        sigaction(Signal::SIGHUP, &ign).map_err(sys("sigaction SIGHUP"))?;
    }
    Ok(r)
}

/// Empties the SIGCHLD self-pipe.
pub fn drain(fd: RawFd) {
    let mut buf = [0u8; 64];
    while nix::unistd::read(fd, &mut buf)
        .map(|n| n > 0)
        .unwrap_or(false)
    {}
}

/// Sets `O_NONBLOCK` on `fd`.
pub fn set_nonblocking(fd: RawFd) -> Result<(), RuntimeError> {
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(sys("fcntl F_GETFL"))?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags)).map_err(sys("fcntl F_SETFL"))?;
    Ok(())
}

/// Brings `lo` up in the network namespace of `pid`: a socket is created inside that
/// namespace and the interface flags are set through it, so the shim never stays in it.
pub fn loopback_up(pid: i32) -> Result<(), RuntimeError> {
    let path = format!("/proc/{pid}/ns/net");
    let own = File::open("/proc/self/ns/net")
        .map_err(|e| RuntimeError::io("open", "/proc/self/ns/net", e))?;
    let target = File::open(&path).map_err(|e| RuntimeError::io("open", &path, e))?;
    setns(&target, CloneFlags::CLONE_NEWNET).map_err(sys(format!("setns {path}")))?;
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    );
    setns(&own, CloneFlags::CLONE_NEWNET).map_err(sys("setns back to the shim's namespace"))?;
    let sock = sock.map_err(sys("socket in container netns"))?;
    // SAFETY: ifreq is plain data; the name is NUL-terminated within IFNAMSIZ.
    unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo\0".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(RuntimeError::Sys {
                op: "SIOCGIFFLAGS lo".into(),
                source: nix::Error::last(),
            });
        }
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(RuntimeError::Sys {
                op: "SIOCSIFFLAGS lo up".into(),
                source: nix::Error::last(),
            });
        }
    }
    Ok(())
}

/// Sets the window size of a pty master.
pub fn set_winsize(master: RawFd, rows: u16, cols: u16) -> Result<(), RuntimeError> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct.
    if unsafe { libc::ioctl(master, libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(RuntimeError::Sys {
            op: "TIOCSWINSZ".into(),
            source: nix::Error::last(),
        });
    }
    Ok(())
}

/// Accepts libcontainer's connection on the console socket and receives the pty master
/// (SCM_RIGHTS). libcontainer connects and sends before its `build()` returns, so the
/// message is already queued; the wait is bounded anyway.
pub fn receive_pty_master(
    listener: &UnixListener,
    timeout: Duration,
) -> Result<OwnedFd, RuntimeError> {
    listener
        .set_nonblocking(true)
        .map_err(|e| RuntimeError::io("set_nonblocking", "console socket", e))?;
    let deadline = Instant::now() + timeout;
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(RuntimeError::io("accept", "console socket", e)),
        }
    };
    stream
        .set_nonblocking(false)
        .map_err(|e| RuntimeError::io("set_blocking", "console socket", e))?;
    let mut buf = [0u8; 64];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(sys("recvmsg pty master"))?;
    for c in msg.cmsgs().map_err(sys("cmsgs"))? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just installed this fd for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(RuntimeError::Sys {
        op: "console socket message carried no fd".into(),
        source: nix::Error::EBADMSG,
    })
}

/// Whether the memory cgroup at `cgroups_path` recorded an OOM kill (cgroup v1
/// `memory.oom_control`, or v2 `memory.events`).
pub fn oom_killed(cgroups_path: &str) -> bool {
    let rel = cgroups_path.trim_start_matches('/');
    let candidates = [
        format!("/sys/fs/cgroup/memory/{rel}/memory.oom_control"),
        format!("/sys/fs/cgroup/{rel}/memory.events"),
        format!("/sys/fs/cgroup/unified/{rel}/memory.events"),
    ];
    candidates.iter().any(|p| {
        std::fs::read_to_string(p)
            .map(|s| oom_count(&s) > 0)
            .unwrap_or(false)
    })
}

/// Reads the `oom_kill N` counter of `memory.oom_control` / `memory.events`.
pub fn oom_count(text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_counter_parses_v1_and_v2() {
        assert_eq!(
            oom_count("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
            2
        );
        assert_eq!(oom_count("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"), 1);
        assert_eq!(oom_count("oom_kill_disable 0\n"), 0);
    }
}
