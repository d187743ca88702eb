//! Creating processes with youki's libcontainer: the container's init (`create`, with pipes or
//! a pty from the console socket) and exec processes (the tenant builder). Errors are mapped
//! to Docker's exit codes and wording (127 "executable file not found", 126 "permission
//! denied", 125 otherwise).

use std::fs::{self, File};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::oci_spec::runtime::{LinuxSeccomp, Process, Spec, UserBuilder};
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use nix::fcntl::OFlag;
use nix::unistd::pipe2;

use super::sys::{receive_pty_master, set_nonblocking, set_winsize};
use crate::protocol::ExecRequest;

/// The shim's ends of a process's stdio.
#[derive(Default)]
pub struct Stdio {
    /// Write end of the process's stdin pipe (or a dup of the pty master), non-blocking.
    pub stdin: Option<OwnedFd>,
    /// Read end of stdout (or the pty master), non-blocking.
    pub stdout: Option<OwnedFd>,
    /// Read end of stderr (none with a pty).
    pub stderr: Option<OwnedFd>,
    /// The pty master, kept for resizes.
    pub master: Option<OwnedFd>,
}

/// A creation failure with Docker's exit code.
#[derive(Debug)]
pub struct CreateError {
    /// 125, 126 or 127.
    pub exit_code: i32,
    /// Message for the user.
    pub message: String,
}

impl CreateError {
    fn runtime(message: impl Into<String>) -> Self {
        CreateError {
            exit_code: 125,
            message: message.into(),
        }
    }
}

impl<E: std::fmt::Display> From<(&str, E)> for CreateError {
    fn from((what, e): (&str, E)) -> Self {
        CreateError::runtime(format!("{what}: {e}"))
    }
}

/// Maps a libcontainer error to Docker's message and exit code.
pub fn classify(err: &libcontainer::error::LibcontainerError, args0: &str) -> CreateError {
    let text = format!("{err:?} {err}");
    if text.contains("not found in $PATH")
        || text.contains("No such file or directory") && text.contains("executable")
    {
        CreateError {
            exit_code: 127,
            message: format!(
                "OCI runtime create failed: unable to start container process: exec: \"{args0}\": executable file not found in $PATH"
            ),
        }
    } else if text.contains("does not have correct permissions") || text.contains("EACCES") {
        CreateError {
            exit_code: 126,
            message: format!(
                "OCI runtime create failed: unable to start container process: exec: \"{args0}\": permission denied"
            ),
        }
    } else {
        CreateError::runtime(format!("OCI runtime create failed: {err}"))
    }
}

/// Pipes for a process without a pty: returns (child stdin, child stdout, child stderr) and
/// fills the shim's ends into `io`.
fn pipes(open_stdin: bool, io: &mut Stdio) -> Result<(OwnedFd, OwnedFd, OwnedFd), CreateError> {
    let child_in: OwnedFd = if open_stdin {
        let (r, w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| ("pipe", e))?;
        set_nonblocking(w.as_raw_fd()).map_err(|e| ("stdin", e))?;
        io.stdin = Some(w);
        r
    } else {
        File::open("/dev/null")
            .map_err(|e| ("open /dev/null", e))?
            .into()
    };
    let (or, ow) = pipe2(OFlag::O_CLOEXEC).map_err(|e| ("pipe", e))?;
    let (er, ew) = pipe2(OFlag::O_CLOEXEC).map_err(|e| ("pipe", e))?;
    set_nonblocking(or.as_raw_fd()).map_err(|e| ("stdout", e))?;
    set_nonblocking(er.as_raw_fd()).map_err(|e| ("stderr", e))?;
    io.stdout = Some(or);
    io.stderr = Some(er);
    Ok((child_in, ow, ew))
}

/// Fills `io` from a received pty master.
fn pty_io(master: OwnedFd, size: Option<(u16, u16)>, io: &mut Stdio) -> Result<(), CreateError> {
    if let Some((rows, cols)) = size {
        set_winsize(master.as_raw_fd(), rows, cols).map_err(|e| ("resize", e))?;
    }
    set_nonblocking(master.as_raw_fd()).map_err(|e| ("pty", e))?;
    io.stdin = Some(master.try_clone().map_err(|e| ("dup", e))?);
    io.stdout = Some(master.try_clone().map_err(|e| ("dup", e))?);
    io.master = Some(master);
    Ok(())
}

/// Parameters of [`create_init`].
pub struct InitParams<'a> {
    /// Container ID.
    pub id: &'a str,
    /// Bundle directory (holds `config.json`).
    pub bundle: &'a Path,
    /// libcontainer's state root.
    pub runtime_root: &'a Path,
    /// Where to listen for the pty master.
    pub console_socket: &'a Path,
    /// Allocate a pty.
    pub tty: bool,
    /// Keep stdin open.
    pub open_stdin: bool,
    /// Initial pty size.
    pub console_size: Option<(u16, u16)>,
    /// First argument, for error messages.
    pub args0: &'a str,
    /// The precompiled seccomp filter (`seccomp.bpf` in the bundle), if any.
    pub seccomp_bpf: Option<std::sync::Arc<Vec<u8>>>,
}

/// Creates (but does not start) the container's init process.
pub fn create_init(p: &InitParams<'_>) -> Result<(Container, Stdio), CreateError> {
    let mut io = Stdio::default();
    let mut builder = ContainerBuilder::new(p.id.to_string(), SyscallType::default())
        .with_root_path(p.runtime_root)
        .map_err(|e| ("runtime root", e))?
        .with_executor(SeccompExecutor {
            bpf: p.seccomp_bpf.clone(),
            profile: None,
        });
    let listener = if p.tty {
        let _ = fs::remove_file(p.console_socket);
        let l = UnixListener::bind(p.console_socket).map_err(|e| ("console socket", e))?;
        builder = builder.with_console_socket(Some(p.console_socket));
        Some(l)
    } else {
        let (i, o, e) = pipes(p.open_stdin, &mut io)?;
        builder = builder.with_stdin(i).with_stdout(o).with_stderr(e);
        None
    };
    let container = builder
        .validate_id()
        .map_err(|e| classify(&e, p.args0))?
        .as_init(p.bundle)
        .with_systemd(false)
        .with_detach(p.tty)
        .build()
        .map_err(|e| classify(&e, p.args0))?;
    if let Some(l) = listener {
        let master = receive_pty_master(&l, Duration::from_secs(10));
        let _ = fs::remove_file(p.console_socket);
        pty_io(
            master.map_err(|e| ("pty master", e))?,
            p.console_size,
            &mut io,
        )?;
    }
    Ok((container, io))
}

/// Runs the process like libcontainer's default executor, after loading a seccomp filter:
/// - `bpf`: the program the daemon compiled once ([`crate::seccomp_bpf`]); used for the
///   init and exec processes of containers with `no_new_privs` (berth's default);
/// - `profile`: an OCI profile compiled here with libseccomp, for exec processes of a
///   container without a precompiled program (libcontainer 0.7's tenant path builds a spec
///   without `linux.seccomp`, so without this `docker exec` processes would run
///   unfiltered). Loading a filter after capabilities are dropped needs `no_new_privs`,
///   which the exec process therefore gets whenever a filter applies.
#[derive(Clone, Default)]
struct SeccompExecutor {
    bpf: Option<std::sync::Arc<Vec<u8>>>,
    profile: Option<LinuxSeccomp>,
}

impl Executor for SeccompExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        if let Some(prog) = &self.bpf {
            crate::seccomp_bpf::load(prog)
                .map_err(|e| ExecutorError::Other(format!("loading seccomp filter: {e}")))?;
        } else if let Some(profile) = &self.profile {
            libcontainer::seccomp::initialize_seccomp(profile)
                .map_err(|e| ExecutorError::Other(format!("loading seccomp profile: {e}")))?;
        }
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}

/// Parameters of [`create_exec`].
pub struct ExecParams<'a> {
    /// Container ID.
    pub id: &'a str,
    /// libcontainer's state root.
    pub runtime_root: &'a Path,
    /// The container's OCI spec (its process is the template for the exec).
    pub spec: &'a Spec,
    /// A directory for the process file and console socket.
    pub scratch: &'a Path,
    /// A unique number for file names.
    pub seq: u64,
    /// The mounted root filesystem (for `-u` name lookups).
    pub rootfs: &'a Path,
    /// The container's precompiled seccomp filter, if any.
    pub seccomp_bpf: Option<std::sync::Arc<Vec<u8>>>,
}

/// Starts an exec process in the running container; returns its pid and stdio.
pub fn create_exec(p: &ExecParams<'_>, req: &ExecRequest) -> Result<(i32, Stdio), CreateError> {
    let args0 = req.args.first().cloned().unwrap_or_default();
    if req.args.is_empty() {
        return Err(CreateError::runtime("no command specified"));
    }
    let mut process = exec_process(p.spec, p.rootfs, req)?;
    if p.seccomp_bpf.is_some() {
        process.set_no_new_privileges(Some(true));
    }
    let process_file = p.scratch.join(format!("exec-{}.json", p.seq));
    let data = serde_json::to_vec(&process).map_err(|e| ("encode process", e))?;
    fs::write(&process_file, data).map_err(|e| ("write process file", e))?;
    let console = p.scratch.join(format!("exec-{}.sock", p.seq));
    let mut io = Stdio::default();
    let executor = match &p.seccomp_bpf {
        Some(prog) => SeccompExecutor {
            bpf: Some(prog.clone()),
            profile: None,
        },
        None => SeccompExecutor {
            bpf: None,
            profile: p.spec.linux().as_ref().and_then(|l| l.seccomp().clone()),
        },
    };
    let mut builder = ContainerBuilder::new(p.id.to_string(), SyscallType::default())
        .with_root_path(p.runtime_root)
        .map_err(|e| ("runtime root", e))?
        .with_executor(executor);
    let listener = if req.tty {
        let _ = fs::remove_file(&console);
        let l = UnixListener::bind(&console).map_err(|e| ("console socket", e))?;
        builder = builder.with_console_socket(Some(&console));
        Some(l)
    } else {
        let (i, o, e) = pipes(req.stdin, &mut io)?;
        builder = builder.with_stdin(i).with_stdout(o).with_stderr(e);
        None
    };
    let result = builder
        .as_tenant()
        .with_detach(req.tty)
        .with_process(Some(&process_file))
        .build();
    let _ = fs::remove_file(&process_file);
    let pid = match result {
        Ok(pid) => pid,
        Err(e) => {
            let _ = fs::remove_file(&console);
            return Err(classify(&e, &args0));
        }
    };
    if let Some(l) = listener {
        let master = receive_pty_master(&l, Duration::from_secs(10));
        let _ = fs::remove_file(&console);
        pty_io(
            master.map_err(|e| ("pty master", e))?,
            req.console_size,
            &mut io,
        )?;
    }
    Ok((pid.as_raw(), io))
}

/// The exec's process: the container's process with the request's args, env, cwd, user, tty.
fn exec_process(spec: &Spec, rootfs: &Path, req: &ExecRequest) -> Result<Process, CreateError> {
    let mut process = spec
        .process()
        .clone()
        .ok_or_else(|| CreateError::runtime("container spec has no process"))?;
    process.set_args(Some(req.args.clone()));
    process.set_terminal(Some(req.tty));
    if spec.linux().as_ref().is_some_and(|l| l.seccomp().is_some()) {
        process.set_no_new_privileges(Some(true));
    }
    process.set_console_size(None);
    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    for e in &req.env {
        let key = e.split_once('=').map(|(k, _)| k).unwrap_or(e);
        env.retain(|x| x.split_once('=').map(|(k, _)| k).unwrap_or(x) != key);
        env.push(e.clone());
    }
    if req.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    process.set_env(Some(env));
    if !req.cwd.is_empty() {
        if !req.cwd.starts_with('/') {
            return Err(CreateError::runtime(format!(
                "the working directory '{}' is invalid, it needs to be an absolute path",
                req.cwd
            )));
        }
        process.set_cwd(PathBuf::from(&req.cwd));
    }
    if !req.user.is_empty() {
        let r = crate::user::resolve_user(rootfs, &req.user, &[])
            .map_err(|e| CreateError::runtime(e.to_string()))?;
        let mut ub = UserBuilder::default().uid(r.user.uid).gid(r.user.gid);
        if !r.user.additional_gids.is_empty() {
            ub = ub.additional_gids(r.user.additional_gids.clone());
        }
        process.set_user(ub.build().map_err(|e| ("user", e))?);
        if let Some(env) = process.env().clone() {
            let env: Vec<String> = env
                .into_iter()
                .map(|e| {
                    if e.starts_with("HOME=") {
                        format!("HOME={}", r.home)
                    } else {
                        e
                    }
                })
                .collect();
            process.set_env(Some(env));
        }
    } else if req.uid.is_some() || req.gid.is_some() || !req.additional_gids.is_empty() {
        let current = process.user().clone();
        let mut ub = UserBuilder::default()
            .uid(req.uid.unwrap_or(current.uid()))
            .gid(
                req.gid
                    .unwrap_or(if req.uid.is_some() { 0 } else { current.gid() }),
            );
        if !req.additional_gids.is_empty() {
            ub = ub.additional_gids(req.additional_gids.clone());
        }
        process.set_user(ub.build().map_err(|e| ("user", e))?);
    }
    Ok(process)
}
