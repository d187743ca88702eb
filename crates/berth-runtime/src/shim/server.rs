//! The shim's single-threaded event loop: one `poll(2)` over the control socket, the SIGCHLD
//! self-pipe, the container's stdio (pipes or pty master), exec processes' stdio and the
//! connected clients. It writes the json-file log, fans output out to attached clients,
//! forwards stdin, reaps processes, and on the container's exit records the exit status,
//! answers waiters, then deletes the container (cgroups, libcontainer state) and unmounts
//! the rootfs before exiting (holding [`crate::status::LOCK_FILE`] until it does).
//!
//! A hand-written poll loop instead of an async runtime: libcontainer clones and runs Rust
//! code in the child (for exec too), which is only safe while this process has one thread.

use std::collections::HashMap;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use libcontainer::container::Container;
use libcontainer::oci_spec::runtime::{Spec, UserBuilder};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::create::{create_exec, create_init, ExecParams, InitParams, Stdio};
use super::sys;
use super::ShimOptions;
use crate::bundle::{read_shim_config, ShimConfig};
use crate::jsonlog::{LogWriter, Stream};
use crate::protocol::{
    decode_frame, encode_frame, ExecRequest, Request, Response, Status, STREAM_EXIT, STREAM_STDERR,
    STREAM_STDIN, STREAM_STDOUT,
};
use crate::rootfs;
use crate::status::{
    now_rfc3339, write_atomic_volatile, write_json_volatile, ExitRecord, ShimRecord, EXIT_FILE,
    SHIM_FILE, SOCKET_FILE,
};

/// How long output may keep flowing after a process exited before its pipes are closed.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// A client that falls this far behind is disconnected (the log keeps everything).
const MAX_CLIENT_BUFFER: usize = 16 << 20;
/// How long a finished shim waits for clients to read their last bytes.
const LINGER: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Target {
    Init,
    Exec(i32),
}

#[derive(Debug)]
enum Mode {
    Request,
    Attached {
        target: Target,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    Waiting,
    Done,
}

struct Client {
    stream: UnixStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    mode: Mode,
    read_closed: bool,
    close_after_flush: bool,
    dead: bool,
}

impl Client {
    fn respond(&mut self, r: &Response) {
        if let Ok(mut line) = serde_json::to_vec(r) {
            line.push(b'\n');
            self.outbuf.extend_from_slice(&line);
        }
    }

    fn frame(&mut self, stream: u8, payload: &[u8]) {
        if self.outbuf.len() > MAX_CLIENT_BUFFER {
            tracing::warn!("client too slow; disconnecting it");
            self.dead = true;
            return;
        }
        encode_frame(stream, payload, &mut self.outbuf);
    }

    fn finish_with_exit(&mut self, rec: &ExitRecord) {
        let payload = serde_json::to_vec(rec).unwrap_or_default();
        self.frame(STREAM_EXIT, &payload);
        self.mode = Mode::Done;
        self.close_after_flush = true;
    }
}

/// A process (init or exec) seen from the shim.
struct Proc {
    io: Stdio,
    stdin_buf: Vec<u8>,
    stdin_close: bool,
    exit: Option<ExitRecord>,
    exited_at: Option<Instant>,
    started_at: String,
}

impl Proc {
    fn new(io: Stdio) -> Self {
        Proc {
            io,
            stdin_buf: Vec::new(),
            stdin_close: false,
            exit: None,
            exited_at: None,
            started_at: String::new(),
        }
    }

    fn outputs_closed(&self) -> bool {
        self.io.stdout.is_none() && self.io.stderr.is_none()
    }

    fn close_all(&mut self) {
        self.io = Stdio::default();
        self.stdin_buf.clear();
    }
}

#[derive(Clone, Copy)]
enum Tok {
    Listener,
    Sig,
    Out(Target, Stream),
    In(Target),
    Client(usize),
}

/// The running shim.
pub struct Server {
    id: String,
    cfg: ShimConfig,
    bundle: PathBuf,
    state_dir: PathBuf,
    runtime_root: PathBuf,
    spec: Spec,
    container: Container,
    init_pid: i32,
    status: Status,
    init: Proc,
    execs: HashMap<i32, (Proc, Option<usize>)>,
    clients: Vec<Option<Client>>,
    listener: UnixListener,
    sig_r: OwnedFd,
    log: Option<LogWriter>,
    finished_at: Option<Instant>,
    exec_seq: u64,
    rootfs_path: PathBuf,
    seccomp_bpf: Option<std::sync::Arc<Vec<u8>>>,
    /// Held until the shim exits: see [`crate::status::LOCK_FILE`].
    _lock: fs::File,
}

/// A failure before the container runs, with Docker's exit code.
pub struct StartupError {
    /// 125, 126 or 127.
    pub exit_code: i32,
    /// Message.
    pub message: String,
}

impl<E: std::fmt::Display> From<(&str, E)> for StartupError {
    fn from((what, e): (&str, E)) -> Self {
        StartupError {
            exit_code: 125,
            message: format!("{what}: {e}"),
        }
    }
}

/// Removes libcontainer's state for `id` after a failed create, reaping the failed init and
/// removing cgroup directories it left.
fn cleanup_libcontainer(root: &std::path::Path, id: &str) {
    while let Ok(ws) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
        if ws == WaitStatus::StillAlive {
            break;
        }
    }
    let dir = root.join(id);
    if dir.exists() {
        match Container::load(dir.clone()) {
            Ok(mut c) => {
                if let Err(e) = c.delete(true) {
                    tracing::warn!(error = %e, "deleting half-created container");
                    let _ = fs::remove_dir_all(&dir);
                }
            }
            Err(_) => {
                let _ = fs::remove_dir_all(&dir);
            }
        }
    }
    remove_cgroups(id, true);
}

/// Removes cgroup directories libcontainer left behind (it gives up on a busy cgroup).
/// With `kill_rest`, first kills the processes left in them (a container without its own
/// PID namespace: they outlive its init, as runc's `signalAllProcesses` handles). Only
/// then: reading a v1 `cgroup.procs` makes the later rmdir wait for the kernel's pidlist
/// clean-up (~6 ms of every `run --rm`, measured).
fn remove_cgroups(id: &str, kill_rest: bool) {
    if kill_rest {
        let killed = crate::cgroups::kill_all(&crate::spec::cgroups_path(id));
        if killed > 0 {
            tracing::debug!(
                killed,
                "killed the processes left in the container's cgroup"
            );
        }
    }
    let left =
        crate::cgroups::remove_leftovers(&crate::spec::cgroups_path(id), Duration::from_secs(2));
    if !left.is_empty() {
        tracing::warn!(?left, "cgroup directories could not be removed");
    }
}

/// Resolves `-u`/`--group-add` in the mounted rootfs and rewrites `config.json` with the
/// numeric user (and `HOME` from passwd unless the image or caller set one).
fn apply_user(
    spec: &mut Spec,
    bundle: &std::path::Path,
    rootfs: &std::path::Path,
    cfg: &ShimConfig,
) -> Result<(), StartupError> {
    let r = crate::user::resolve_user(rootfs, &cfg.user_name, &cfg.group_add).map_err(|e| {
        StartupError {
            exit_code: 125,
            message: e.to_string(),
        }
    })?;
    let mut process = spec
        .process()
        .clone()
        .ok_or(("config.json", "no process"))?;
    let mut ub = UserBuilder::default().uid(r.user.uid).gid(r.user.gid);
    if !r.user.additional_gids.is_empty() {
        ub = ub.additional_gids(r.user.additional_gids.clone());
    }
    process.set_user(ub.build().map_err(|e| ("user", e))?);
    let mut env = process.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", r.home));
    }
    process.set_env(Some(env));
    spec.set_process(Some(process));
    let data = serde_json::to_vec_pretty(spec).map_err(|e| ("config.json", e))?;
    crate::status::write_atomic_volatile(&bundle.join("config.json"), &data)
        .map_err(|e| ("config.json", e))?;
    Ok(())
}

impl Server {
    /// Mounts the rootfs, creates the container (not started), brings `lo` up and opens the
    /// control socket.
    pub fn create(opts: &ShimOptions) -> Result<Server, StartupError> {
        let bundle = fs::canonicalize(&opts.bundle).map_err(|e| ("bundle", e))?;
        let cfg = read_shim_config(&bundle).map_err(|e| ("bundle", e))?;
        if cfg.id != opts.id {
            return Err((
                "bundle",
                format!("is for container {:?}, not {:?}", cfg.id, opts.id),
            )
                .into());
        }
        fs::create_dir_all(&opts.runtime_root).map_err(|e| ("runtime root", e))?;
        let lock = crate::status::hold_shim_lock(&opts.state_dir).map_err(|e| ("shim lock", e))?;
        let sig_r = sys::install_signals().map_err(|e| ("signals", e))?;
        let spec = Spec::load(bundle.join("config.json")).map_err(|e| ("config.json", e))?;
        let args0 = spec
            .process()
            .as_ref()
            .and_then(|p| p.args().as_ref())
            .and_then(|a| a.first().cloned())
            .unwrap_or_default();
        let rootfs_target = bundle.join("rootfs");
        rootfs::mount_rootfs(&cfg.rootfs, &rootfs_target).map_err(|e| ("rootfs", e))?;
        let mut spec = spec;
        let rootfs_path = match &cfg.rootfs {
            crate::config::RootfsSpec::Path(p) => p.clone(),
            crate::config::RootfsSpec::Overlay { .. } => rootfs_target.clone(),
        };
        if !cfg.user_name.is_empty() || !cfg.group_add.is_empty() {
            if let Err(e) = apply_user(&mut spec, &bundle, &rootfs_path, &cfg) {
                let _ = rootfs::unmount_rootfs(&cfg.rootfs, &rootfs_target);
                return Err(e);
            }
        }
        let undo = |_: &()| {
            cleanup_libcontainer(&opts.runtime_root, &opts.id);
            let _ = rootfs::unmount_rootfs(&cfg.rootfs, &rootfs_target);
        };
        let seccomp_bpf = match fs::read(bundle.join(crate::seccomp_bpf::BPF_FILE)) {
            Ok(p) => Some(std::sync::Arc::new(p)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                undo(&());
                return Err(("seccomp filter", e).into());
            }
        };
        let created = create_init(&InitParams {
            id: &opts.id,
            bundle: &bundle,
            runtime_root: &opts.runtime_root,
            console_socket: &opts.state_dir.join("console.sock"),
            tty: cfg.tty,
            open_stdin: cfg.open_stdin,
            console_size: cfg.console_size,
            args0: &args0,
            seccomp_bpf: seccomp_bpf.clone(),
        });
        let (container, io) = match created {
            Ok(v) => v,
            Err(e) => {
                undo(&());
                return Err(StartupError {
                    exit_code: e.exit_code,
                    message: e.message,
                });
            }
        };
        let init_pid = container.pid().map(|p| p.as_raw()).unwrap_or(0);
        let setup = || -> Result<(UnixListener, Option<LogWriter>), StartupError> {
            if cfg.new_netns {
                sys::loopback_up(init_pid).map_err(|e| ("loopback", e))?;
            }
            let sock = opts.state_dir.join(SOCKET_FILE);
            let _ = fs::remove_file(&sock);
            let listener = UnixListener::bind(&sock).map_err(|e| ("control socket", e))?;
            listener
                .set_nonblocking(true)
                .map_err(|e| ("control socket", e))?;
            let log = match &cfg.log_path {
                Some(p) => Some(LogWriter::open(p).map_err(|e| ("log", e))?),
                None => None,
            };
            let record = serde_json::to_vec(&ShimRecord {
                id: opts.id.clone(),
                shim_pid: std::process::id() as i32,
                init_pid,
            })
            .map_err(|e| ("shim record", e))?;
            write_atomic_volatile(&opts.state_dir.join(SHIM_FILE), &record)
                .map_err(|e| ("shim record", e))?;
            let _ = fs::remove_file(opts.state_dir.join(EXIT_FILE));
            Ok((listener, log))
        };
        let (listener, log) = match setup() {
            Ok(v) => v,
            Err(e) => {
                let _ = kill(Pid::from_raw(init_pid), Signal::SIGKILL);
                let _ = waitpid(Pid::from_raw(init_pid), None);
                undo(&());
                return Err(e);
            }
        };
        Ok(Server {
            id: opts.id.clone(),
            cfg,
            bundle,
            state_dir: opts.state_dir.clone(),
            runtime_root: opts.runtime_root.clone(),
            spec,
            container,
            init_pid,
            status: Status::Created,
            init: Proc::new(io),
            execs: HashMap::new(),
            clients: Vec::new(),
            listener,
            sig_r,
            log,
            finished_at: None,
            exec_seq: 0,
            rootfs_path,
            seccomp_bpf,
            _lock: lock,
        })
    }

    /// PID of the container's init process.
    pub fn init_pid(&self) -> i32 {
        self.init_pid
    }

    /// Starts the created container.
    pub fn start(&mut self) -> Result<(), String> {
        if self.status != Status::Created {
            return Err(format!("container {} is not in the created state", self.id));
        }
        if let Err(e) = self.container.start() {
            // Do not leave a half-started init behind: kill it so the normal exit path
            // cleans up and records the failure.
            let _ = kill(Pid::from_raw(self.init_pid), Signal::SIGKILL);
            return Err(format!("OCI runtime start failed: {e}"));
        }
        self.status = Status::Running;
        self.init.started_at = now_rfc3339();
        Ok(())
    }

    /// Serves until the container has exited and clients are answered. Returns the exit code
    /// of the shim process itself.
    pub fn run(mut self) -> i32 {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            self.check_exits();
            if let Some(t) = self.finished_at {
                let busy = self
                    .clients
                    .iter()
                    .flatten()
                    .any(|c| !c.outbuf.is_empty() || !matches!(c.mode, Mode::Done));
                if !busy || t.elapsed() > LINGER {
                    break;
                }
            }
            let (mut fds, toks) = self.pollset();
            let pending_exit =
                self.init.exit.is_some() || self.execs.values().any(|(p, _)| p.exit.is_some());
            let timeout = if pending_exit || self.finished_at.is_some() {
                50
            } else {
                -1
            };
            // SAFETY: fds is a valid array of pollfd.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                if nix::Error::last() == nix::Error::EINTR {
                    continue;
                }
                tracing::error!(error = %nix::Error::last(), "poll");
                break;
            }
            for (pfd, tok) in fds.iter().zip(toks.iter()) {
                if pfd.revents != 0 {
                    self.handle(*tok, pfd.revents, &mut buf);
                }
            }
            for slot in self.clients.iter_mut() {
                if slot.as_ref().is_some_and(|c| c.dead) {
                    *slot = None;
                }
            }
        }
        let _ = fs::remove_file(self.state_dir.join(SOCKET_FILE));
        0
    }

    fn pollset(&self) -> (Vec<libc::pollfd>, Vec<Tok>) {
        let mut fds = Vec::new();
        let mut toks = Vec::new();
        let mut add = |fd: RawFd, events: libc::c_short, tok: Tok| {
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
            toks.push(tok);
        };
        // Keep accepting after the exit too: late `state`/`wait`/`attach` calls get the exit
        // record at once instead of waiting for the shim to go away.
        add(self.listener.as_raw_fd(), libc::POLLIN, Tok::Listener);
        add(self.sig_r.as_raw_fd(), libc::POLLIN, Tok::Sig);
        let procs = std::iter::once((Target::Init, &self.init)).chain(
            self.execs
                .iter()
                .map(|(pid, (p, _))| (Target::Exec(*pid), p)),
        );
        for (t, p) in procs {
            if let Some(fd) = &p.io.stdout {
                add(fd.as_raw_fd(), libc::POLLIN, Tok::Out(t, Stream::Stdout));
            }
            if let Some(fd) = &p.io.stderr {
                add(fd.as_raw_fd(), libc::POLLIN, Tok::Out(t, Stream::Stderr));
            }
            if let Some(fd) = &p.io.stdin {
                if !p.stdin_buf.is_empty() {
                    add(fd.as_raw_fd(), libc::POLLOUT, Tok::In(t));
                }
            }
        }
        for (i, c) in self.clients.iter().enumerate() {
            if let Some(c) = c {
                let mut ev = 0;
                if !c.read_closed {
                    ev |= libc::POLLIN;
                }
                if !c.outbuf.is_empty() {
                    ev |= libc::POLLOUT;
                }
                add(c.stream.as_raw_fd(), ev, Tok::Client(i));
            }
        }
        (fds, toks)
    }

    fn handle(&mut self, tok: Tok, revents: libc::c_short, buf: &mut [u8]) {
        match tok {
            Tok::Listener => self.accept(),
            Tok::Sig => {
                sys::drain(self.sig_r.as_raw_fd());
                self.reap();
            }
            Tok::Out(t, s) => self.read_output(t, s, buf),
            Tok::In(t) => self.write_stdin(t),
            Tok::Client(i) => {
                if revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                    self.read_client(i, buf);
                }
                if revents & libc::POLLOUT != 0 {
                    self.flush_client(i);
                }
            }
        }
    }

    fn accept(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let client = Client {
                stream,
                inbuf: Vec::new(),
                outbuf: Vec::new(),
                mode: Mode::Request,
                read_closed: false,
                close_after_flush: false,
                dead: false,
            };
            match self.clients.iter().position(|c| c.is_none()) {
                Some(i) => self.clients[i] = Some(client),
                None => self.clients.push(Some(client)),
            }
        }
    }

    fn proc_mut(&mut self, t: Target) -> Option<&mut Proc> {
        match t {
            Target::Init => Some(&mut self.init),
            Target::Exec(pid) => self.execs.get_mut(&pid).map(|(p, _)| p),
        }
    }

    fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(ws) => {
                    let Some(pid) = ws.pid() else { break };
                    let Some((code, signal)) = ExitRecord::from_wait(ws) else {
                        continue;
                    };
                    let target = if pid.as_raw() == self.init_pid {
                        Target::Init
                    } else {
                        Target::Exec(pid.as_raw())
                    };
                    if let Some(p) = self.proc_mut(target) {
                        p.exit = Some(ExitRecord {
                            exit_code: code,
                            signal,
                            oom_killed: false,
                            started_at: p.started_at.clone(),
                            finished_at: now_rfc3339(),
                            error: None,
                        });
                        p.exited_at = Some(Instant::now());
                    }
                }
            }
        }
    }

    fn read_output(&mut self, t: Target, s: Stream, buf: &mut [u8]) {
        let Some(p) = self.proc_mut(t) else { return };
        let slot = match s {
            Stream::Stdout => &mut p.io.stdout,
            Stream::Stderr => &mut p.io.stderr,
        };
        let Some(fd) = slot.as_ref() else { return };
        let n = match nix::unistd::read(fd.as_raw_fd(), buf) {
            Ok(n) => n,
            Err(nix::Error::EAGAIN) | Err(nix::Error::EINTR) => return,
            Err(_) => 0, // EIO from a pty master whose slave side is gone means EOF
        };
        if n == 0 {
            *slot = None;
            if t == Target::Init {
                if let Some(log) = &mut self.log {
                    let _ = log.flush_stream(s);
                }
            }
            return;
        }
        let data = &buf[..n];
        if t == Target::Init {
            if let Some(log) = &mut self.log {
                if let Err(e) = log.write(s, data) {
                    tracing::warn!(error = %e, "writing container log");
                }
            }
        }
        let stream_id = if s == Stream::Stdout {
            STREAM_STDOUT
        } else {
            STREAM_STDERR
        };
        for c in self.clients.iter_mut().flatten() {
            if let Mode::Attached {
                target,
                stdout,
                stderr,
                ..
            } = c.mode
            {
                let wanted = if s == Stream::Stdout { stdout } else { stderr };
                if target == t && wanted {
                    c.frame(stream_id, data);
                }
            }
        }
    }

    fn write_stdin(&mut self, t: Target) {
        let Some(p) = self.proc_mut(t) else { return };
        let Some(fd) = &p.io.stdin else {
            p.stdin_buf.clear();
            return;
        };
        match nix::unistd::write(fd, &p.stdin_buf) {
            Ok(n) => {
                p.stdin_buf.drain(..n);
            }
            Err(nix::Error::EAGAIN) | Err(nix::Error::EINTR) => {}
            Err(_) => {
                p.stdin_buf.clear();
                p.io.stdin = None;
            }
        }
        if p.stdin_buf.is_empty() && p.stdin_close {
            p.io.stdin = None;
        }
    }

    fn stdin_data(&mut self, t: Target, data: &[u8]) {
        if let Some(p) = self.proc_mut(t) {
            if p.io.stdin.is_some() && !p.stdin_close {
                p.stdin_buf.extend_from_slice(data);
            }
        }
        self.write_stdin(t);
    }

    fn stdin_eof(&mut self, t: Target) {
        if let Some(p) = self.proc_mut(t) {
            p.stdin_close = true;
            if p.stdin_buf.is_empty() {
                p.io.stdin = None;
            }
        }
    }

    fn read_client(&mut self, i: usize, buf: &mut [u8]) {
        let Some(c) = self.clients[i].as_mut() else {
            return;
        };
        match c.stream.read(buf) {
            Ok(0) => {
                c.read_closed = true;
                let mut eof_target = None;
                match &mut c.mode {
                    Mode::Attached { target, stdin, .. } if *stdin => {
                        *stdin = false;
                        eof_target = Some(*target);
                    }
                    Mode::Request => c.dead = true,
                    _ => {}
                }
                if let Some(t) = eof_target {
                    self.stdin_eof(t);
                }
            }
            Ok(n) => {
                c.inbuf.extend_from_slice(&buf[..n]);
                self.process_input(i);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {}
            Err(_) => c.dead = true,
        }
    }

    fn process_input(&mut self, i: usize) {
        loop {
            let Some(c) = self.clients[i].as_mut() else {
                return;
            };
            match c.mode {
                Mode::Request => {
                    let Some(pos) = c.inbuf.iter().position(|b| *b == b'\n') else {
                        return;
                    };
                    let line: Vec<u8> = c.inbuf.drain(..=pos).collect();
                    match serde_json::from_slice::<Request>(&line) {
                        Ok(req) => self.handle_request(i, req),
                        Err(e) => {
                            c.respond(&Response::err(format!("bad request: {e}"), 125));
                            c.mode = Mode::Done;
                            c.close_after_flush = true;
                        }
                    }
                }
                Mode::Attached { target, stdin, .. } => {
                    let Some((stream, payload, used)) = decode_frame(&c.inbuf) else {
                        return;
                    };
                    let payload = payload.to_vec();
                    c.inbuf.drain(..used);
                    if stream == STREAM_STDIN && stdin {
                        if payload.is_empty() {
                            self.stdin_eof(target);
                        } else {
                            self.stdin_data(target, &payload);
                        }
                    }
                }
                Mode::Waiting | Mode::Done => {
                    c.inbuf.clear();
                    return;
                }
            }
        }
    }

    fn flush_client(&mut self, i: usize) {
        let Some(c) = self.clients[i].as_mut() else {
            return;
        };
        match c.stream.write(&c.outbuf) {
            Ok(n) => {
                c.outbuf.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {}
            Err(_) => c.dead = true,
        }
        if c.outbuf.is_empty() && c.close_after_flush {
            c.dead = true;
        }
    }

    fn exit_record(&self) -> Option<ExitRecord> {
        if self.finished_at.is_some() {
            self.init.exit.clone()
        } else {
            None
        }
    }

    fn handle_request(&mut self, i: usize, req: Request) {
        tracing::debug!(?req, "request");
        let mut mode = Mode::Done;
        let mut trailer: Option<ExitRecord> = None;
        let resp = match req {
            Request::State => Response {
                ok: true,
                status: Some(if self.finished_at.is_some() {
                    Status::Exited
                } else {
                    self.status
                }),
                pid: Some(self.init_pid),
                started_at: Some(self.init.started_at.clone()),
                exit: self.exit_record(),
                ..Default::default()
            },
            Request::Start => match self.start() {
                Ok(()) => Response {
                    pid: Some(self.init_pid),
                    ..Response::ok()
                },
                Err(e) => Response::err(e, 125),
            },
            Request::Kill { signal } => self.kill(signal),
            Request::Resize {
                height,
                width,
                exec_pid,
            } => {
                let target = exec_pid.map(Target::Exec).unwrap_or(Target::Init);
                match self
                    .proc_mut(target)
                    .and_then(|p| p.io.master.as_ref().map(|m| m.as_raw_fd()))
                {
                    Some(fd) => match sys::set_winsize(fd, height, width) {
                        Ok(()) => Response::ok(),
                        Err(e) => Response::err(e.to_string(), 125),
                    },
                    None => Response::err("no tty to resize", 125),
                }
            }
            Request::Attach {
                stdin,
                stdout,
                stderr,
            } => {
                if let Some(rec) = self.exit_record() {
                    trailer = Some(rec);
                } else {
                    mode = Mode::Attached {
                        target: Target::Init,
                        stdin: stdin && self.init.io.stdin.is_some(),
                        stdout,
                        stderr,
                    };
                }
                Response::ok()
            }
            Request::Wait => match self.exit_record() {
                Some(rec) => Response {
                    exit: Some(rec),
                    ..Response::ok()
                },
                None => {
                    if let Some(c) = self.clients[i].as_mut() {
                        c.mode = Mode::Waiting;
                    }
                    return;
                }
            },
            Request::Exec(er) => match self.exec(&er) {
                Ok(pid) => {
                    if !er.detach {
                        mode = Mode::Attached {
                            target: Target::Exec(pid),
                            stdin: er.stdin,
                            stdout: true,
                            stderr: true,
                        };
                        if let Some((_, client)) = self.execs.get_mut(&pid) {
                            *client = Some(i);
                        }
                    }
                    Response {
                        pid: Some(pid),
                        ..Response::ok()
                    }
                }
                Err(r) => *r,
            },
            Request::Pause => self.freeze(true),
            Request::Resume => self.freeze(false),
        };
        let Some(c) = self.clients[i].as_mut() else {
            return;
        };
        c.respond(&resp);
        if let Some(rec) = trailer {
            c.finish_with_exit(&rec);
            return;
        }
        c.close_after_flush = matches!(mode, Mode::Done);
        c.mode = mode;
    }

    fn kill(&mut self, signal: i32) -> Response {
        if self.finished_at.is_some() || self.init.exit.is_some() {
            return Response::err(format!("container {} is not running", self.id), 125);
        }
        let sig = match Signal::try_from(signal) {
            Ok(s) => s,
            Err(_) => return Response::err(format!("invalid signal: {signal}"), 125),
        };
        if let Err(e) = kill(Pid::from_raw(self.init_pid), sig) {
            return Response::err(format!("kill: {e}"), 125);
        }
        if self.status == Status::Paused && sig == Signal::SIGKILL {
            let _ = self.freeze(false);
        }
        Response::ok()
    }

    fn freeze(&mut self, pause: bool) -> Response {
        if self.finished_at.is_some() || self.init.exit.is_some() {
            return Response::err(format!("container {} is not running", self.id), 125);
        }
        let r = if pause {
            self.container.pause()
        } else {
            self.container.resume()
        };
        match r {
            Ok(()) => {
                self.status = if pause {
                    Status::Paused
                } else {
                    Status::Running
                };
                Response::ok()
            }
            Err(e) => Response::err(
                format!(
                    "cannot {} container {}: {e}",
                    if pause { "pause" } else { "unpause" },
                    self.id
                ),
                125,
            ),
        }
    }

    fn exec(&mut self, req: &ExecRequest) -> Result<i32, Box<Response>> {
        if self.status != Status::Running || self.init.exit.is_some() {
            let what = if self.status == Status::Paused {
                "paused"
            } else {
                "not running"
            };
            return Err(Box::new(Response::err(
                format!("container {} is {what}", self.id),
                125,
            )));
        }
        self.exec_seq += 1;
        let params = ExecParams {
            id: &self.id,
            runtime_root: &self.runtime_root,
            spec: &self.spec,
            scratch: &self.state_dir,
            seq: self.exec_seq,
            rootfs: &self.rootfs_path,
            seccomp_bpf: self.seccomp_bpf.clone(),
        };
        match create_exec(&params, req) {
            Ok((pid, io)) => {
                let mut p = Proc::new(io);
                p.started_at = now_rfc3339();
                self.execs.insert(pid, (p, None));
                Ok(pid)
            }
            Err(e) => Err(Box::new(Response::err(e.message, e.exit_code))),
        }
    }

    /// Finalises processes whose exit was reaped once their output has drained.
    fn check_exits(&mut self) {
        let done: Vec<i32> = self
            .execs
            .iter()
            .filter(|(_, (p, _))| {
                p.exit.is_some()
                    && (p.outputs_closed()
                        || p.exited_at.is_some_and(|t| t.elapsed() > DRAIN_GRACE))
            })
            .map(|(pid, _)| *pid)
            .collect();
        for pid in done {
            if let Some((mut p, client)) = self.execs.remove(&pid) {
                p.close_all();
                let rec = p.exit.unwrap_or_default();
                if let Some(c) = client
                    .and_then(|i| self.clients.get_mut(i))
                    .and_then(|c| c.as_mut())
                {
                    if matches!(c.mode, Mode::Attached { target: Target::Exec(x), .. } if x == pid)
                    {
                        c.finish_with_exit(&rec);
                    }
                }
            }
        }
        if self.finished_at.is_none()
            && self.init.exit.is_some()
            && (self.init.outputs_closed()
                || self
                    .init
                    .exited_at
                    .is_some_and(|t| t.elapsed() > DRAIN_GRACE))
        {
            self.finish();
        }
    }

    /// The container's init has exited: record, answer, then clean up. Waiters learn of
    /// the exit before the cgroups, libcontainer state and rootfs mount are released
    /// (~2.5 ms that `run --rm` no longer waits for); the shim lock tells those who need
    /// them released when that is done.
    fn finish(&mut self) {
        self.init.close_all();
        if let Some(log) = &mut self.log {
            let _ = log.finish();
        }
        let mut rec = self.init.exit.clone().unwrap_or_default();
        rec.oom_killed = sys::oom_killed(&self.cfg.cgroups_path);
        if let Err(e) = write_json_volatile(&self.state_dir.join(EXIT_FILE), &rec) {
            tracing::error!(error = %e, "writing exit record");
        }
        self.init.exit = Some(rec.clone());
        self.status = Status::Exited;
        self.finished_at = Some(Instant::now());
        for c in self.clients.iter_mut().flatten() {
            match c.mode {
                Mode::Attached {
                    target: Target::Init,
                    ..
                } => c.finish_with_exit(&rec),
                Mode::Waiting => {
                    c.respond(&Response {
                        exit: Some(rec.clone()),
                        ..Response::ok()
                    });
                    c.mode = Mode::Done;
                    c.close_after_flush = true;
                }
                Mode::Request => {}
                _ => {}
            }
        }
        for i in 0..self.clients.len() {
            self.flush_client(i);
        }
        self.release();
    }

    /// Releases what the exited container held. When the init was PID 1 of the container's
    /// own pid namespace the kernel has killed every other process in it (else
    /// `remove_cgroups` kills what is left in the cgroup); berth's specs
    /// have no hooks and no Intel RDT. What libcontainer's `delete` would do is then just
    /// this, without its cgroup manager (which parses mountinfo once per controller: ~3 ms
    /// of every `run`). The daemon may have unmounted the rootfs already (removing the
    /// container): that is not an error.
    fn release(&mut self) {
        let state = self.runtime_root.join(&self.id);
        if let Err(e) = fs::remove_dir_all(&state) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(error = %e, "removing libcontainer state");
            }
        }
        let own_pid_ns = self
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|ns| {
                ns.iter().any(|n| {
                    n.typ() == libcontainer::oci_spec::runtime::LinuxNamespaceType::Pid
                        && n.path().is_none()
                })
            });
        remove_cgroups(&self.id, !own_pid_ns);
        if let Err(e) = rootfs::unmount_rootfs(&self.cfg.rootfs, &self.bundle.join("rootfs")) {
            tracing::warn!(error = %e, "unmount rootfs");
        }
    }
}
