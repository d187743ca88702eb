//! [`ShimClient`]: the daemon's async (tokio) handle on one container's shim.
//!
//! The daemon spawns a shim with [`ShimClient::spawn`] (the shim detaches and outlives the
//! daemon), or finds one again after a restart with [`ShimClient::connect`]. Each call opens
//! a fresh connection to `<state-dir>/control.sock` (see [`crate::protocol`]). When the shim
//! is gone because the container has exited, [`ShimClient::wait`] and
//! [`ShimClient::state`] fall back to the exit record it left in `exit.json`.

use std::path::{Path, PathBuf};
use std::process::Stdio as ProcStdio;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use crate::error::RuntimeError;
use crate::protocol::{
    encode_frame, ExecRequest, Request, Response, Status, HEADER_LEN, STREAM_EXIT, STREAM_STDERR,
    STREAM_STDIN, STREAM_STDOUT,
};
use crate::status::{read_exit, read_json, ExitRecord, ShimRecord, SHIM_FILE, SOCKET_FILE};

/// Settings of an exec (`docker exec`).
pub type ExecOptions = ExecRequest;

/// How to start a shim.
#[derive(Clone, Debug)]
pub struct SpawnOptions {
    /// The `berth` executable (the daemon's own: `std::env::current_exe()`).
    pub berth_exe: PathBuf,
    /// Container ID.
    pub id: String,
    /// Bundle directory written by [`crate::bundle::write_bundle`].
    pub bundle: PathBuf,
    /// The shim's state directory (`/run/berth/containers/<id>`).
    pub state_dir: PathBuf,
    /// libcontainer's state root ([`crate::shim::DEFAULT_RUNTIME_ROOT`]).
    pub runtime_root: PathBuf,
    /// Start the container at once (otherwise call [`ShimClient::start`], e.g. after attaching).
    pub start: bool,
}

/// What `state` reports.
#[derive(Clone, Debug, PartialEq)]
pub struct ShimState {
    /// Created, running, paused or exited.
    pub status: Status,
    /// Host PID of the container's init.
    pub pid: i32,
    /// RFC 3339 start time (empty before start).
    pub started_at: String,
    /// The exit record once exited.
    pub exit: Option<ExitRecord>,
}

/// One event read from an attach or exec stream.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    /// Output on stdout (or the pty).
    Stdout(Vec<u8>),
    /// Output on stderr.
    Stderr(Vec<u8>),
    /// The process ended; the stream is over.
    Exit(ExitRecord),
}

/// Handle on one shim.
#[derive(Clone, Debug)]
pub struct ShimClient {
    id: String,
    state_dir: PathBuf,
}

fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> RuntimeError + 'a {
    move |e| RuntimeError::io(op, path, e)
}

impl ShimClient {
    /// Spawns `berth shim` for a prepared bundle and waits until it reports the container
    /// created (or started). Errors carry Docker's exit code (125/126/127) in
    /// [`RuntimeError::Shim`]. Returns the client and the init's host PID.
    pub async fn spawn(opts: &SpawnOptions) -> Result<(ShimClient, i32), RuntimeError> {
        tokio::fs::create_dir_all(&opts.state_dir)
            .await
            .map_err(io_err("create dir", &opts.state_dir))?;
        let mut cmd = tokio::process::Command::new(&opts.berth_exe);
        cmd.arg("shim")
            .arg("--id")
            .arg(&opts.id)
            .arg("--bundle")
            .arg(&opts.bundle)
            .arg("--state-dir")
            .arg(&opts.state_dir)
            .arg("--runtime-root")
            .arg(&opts.runtime_root);
        if opts.start {
            cmd.arg("--start");
        }
        cmd.stdin(ProcStdio::null())
            .stdout(ProcStdio::piped())
            .stderr(ProcStdio::inherit())
            .kill_on_drop(false);
        let out = cmd
            .output()
            .await
            .map_err(io_err("spawn", &opts.berth_exe))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let detail = format!("status {}", out.status);
        ShimClient::from_report(opts, &text, &detail)
    }

    /// Turns a shim's readiness report (its last line) into a client and the init's PID.
    fn from_report(
        opts: &SpawnOptions,
        text: &str,
        detail: &str,
    ) -> Result<(ShimClient, i32), RuntimeError> {
        let line = text.lines().last().unwrap_or("");
        let resp: Response = serde_json::from_str(line).map_err(|_| RuntimeError::Shim {
            exit_code: 125,
            message: format!("shim for {} failed to start ({detail}): {text}", opts.id),
        })?;
        if !resp.ok {
            return Err(RuntimeError::Shim {
                exit_code: resp.exit_code.unwrap_or(125),
                message: resp.error.unwrap_or_else(|| "shim failed".into()),
            });
        }
        let client = ShimClient {
            id: opts.id.clone(),
            state_dir: opts.state_dir.clone(),
        };
        Ok((client, resp.pid.unwrap_or(0)))
    }

    /// A handle on an existing shim (after a daemon restart). Does not check that it is alive;
    /// see [`ShimClient::is_alive`].
    pub fn connect(id: &str, state_dir: &Path) -> ShimClient {
        ShimClient {
            id: id.to_string(),
            state_dir: state_dir.to_path_buf(),
        }
    }

    /// Container ID.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The shim's identity record, if it got as far as creating the container.
    pub fn record(&self) -> Result<Option<ShimRecord>, RuntimeError> {
        read_json(&self.state_dir.join(SHIM_FILE))
    }

    /// Whether the shim process is still running (its control socket answers).
    pub async fn is_alive(&self) -> bool {
        UnixStream::connect(self.state_dir.join(SOCKET_FILE))
            .await
            .is_ok()
    }

    /// The exit record, once the container has exited.
    pub fn exit_record(&self) -> Result<Option<ExitRecord>, RuntimeError> {
        read_exit(&self.state_dir)
    }

    async fn open(
        &self,
        req: &Request,
    ) -> Result<(BufReader<OwnedReadHalf>, OwnedWriteHalf, Response), RuntimeError> {
        let path = self.state_dir.join(SOCKET_FILE);
        let stream = UnixStream::connect(&path)
            .await
            .map_err(|_| RuntimeError::ShimGone(self.id.clone()))?;
        let (r, mut w) = stream.into_split();
        let mut line = serde_json::to_vec(req).map_err(|e| RuntimeError::Json {
            what: "request".into(),
            source: e,
        })?;
        line.push(b'\n');
        w.write_all(&line)
            .await
            .map_err(|_| RuntimeError::ShimGone(self.id.clone()))?;
        let mut reader = BufReader::new(r);
        let mut resp_line = String::new();
        let n = reader
            .read_line(&mut resp_line)
            .await
            .map_err(|_| RuntimeError::ShimGone(self.id.clone()))?;
        if n == 0 {
            return Err(RuntimeError::ShimGone(self.id.clone()));
        }
        let resp: Response = serde_json::from_str(&resp_line).map_err(|e| RuntimeError::Json {
            what: "shim response".into(),
            source: e,
        })?;
        if !resp.ok {
            return Err(RuntimeError::Shim {
                exit_code: resp.exit_code.unwrap_or(125),
                message: resp.error.unwrap_or_default(),
            });
        }
        Ok((reader, w, resp))
    }

    async fn call(&self, req: &Request) -> Result<Response, RuntimeError> {
        self.open(req).await.map(|(_, _, r)| r)
    }

    /// Current state; `Exited` with the exit record when the shim is gone after an exit.
    pub async fn state(&self) -> Result<ShimState, RuntimeError> {
        match self.call(&Request::State).await {
            Ok(r) => Ok(ShimState {
                status: r.status.unwrap_or(Status::Running),
                pid: r.pid.unwrap_or(0),
                started_at: r.started_at.unwrap_or_default(),
                exit: r.exit,
            }),
            Err(RuntimeError::ShimGone(id)) => match self.exit_record()? {
                Some(rec) => Ok(ShimState {
                    status: Status::Exited,
                    pid: 0,
                    started_at: rec.started_at.clone(),
                    exit: Some(rec),
                }),
                None => Err(RuntimeError::ShimGone(id)),
            },
            Err(e) => Err(e),
        }
    }

    /// Starts a created container; returns the init's PID.
    pub async fn start(&self) -> Result<i32, RuntimeError> {
        Ok(self.call(&Request::Start).await?.pid.unwrap_or(0))
    }

    /// Sends `signal` to the container's init.
    pub async fn kill(&self, signal: i32) -> Result<(), RuntimeError> {
        self.call(&Request::Kill { signal }).await.map(|_| ())
    }

    /// Resizes the pty of the container (or of exec process `exec_pid`).
    pub async fn resize(
        &self,
        height: u16,
        width: u16,
        exec_pid: Option<i32>,
    ) -> Result<(), RuntimeError> {
        self.call(&Request::Resize {
            height,
            width,
            exec_pid,
        })
        .await
        .map(|_| ())
    }

    /// Freezes the container.
    pub async fn pause(&self) -> Result<(), RuntimeError> {
        self.call(&Request::Pause).await.map(|_| ())
    }

    /// Thaws the container.
    pub async fn resume(&self) -> Result<(), RuntimeError> {
        self.call(&Request::Resume).await.map(|_| ())
    }

    /// Waits for the container to exit and returns its exit record (also after the shim has
    /// gone).
    pub async fn wait(&self) -> Result<ExitRecord, RuntimeError> {
        match self.call(&Request::Wait).await {
            Ok(Response {
                exit: Some(rec), ..
            }) => Ok(rec),
            Ok(_) | Err(RuntimeError::ShimGone(_)) => self
                .exit_record()?
                .ok_or_else(|| RuntimeError::ShimGone(self.id.clone())),
            Err(e) => Err(e),
        }
    }

    /// Attaches to the container's stdio.
    pub async fn attach(
        &self,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> Result<StdioStream, RuntimeError> {
        let (reader, writer, _) = self
            .open(&Request::Attach {
                stdin,
                stdout,
                stderr,
            })
            .await?;
        Ok(StdioStream {
            reader: StdioReader { inner: reader },
            writer: StdioWriter { inner: writer },
        })
    }

    /// Runs a process in the container. Returns its PID and, unless `detach`, its stdio
    /// stream (which ends with [`StreamEvent::Exit`]).
    pub async fn exec(
        &self,
        opts: &ExecOptions,
    ) -> Result<(i32, Option<StdioStream>), RuntimeError> {
        let (reader, writer, resp) = self.open(&Request::Exec(opts.clone())).await?;
        let pid = resp.pid.unwrap_or(0);
        if opts.detach {
            return Ok((pid, None));
        }
        Ok((
            pid,
            Some(StdioStream {
                reader: StdioReader { inner: reader },
                writer: StdioWriter { inner: writer },
            }),
        ))
    }
}

/// Both halves of an attach/exec stream.
pub struct StdioStream {
    /// Output side.
    pub reader: StdioReader,
    /// Input side.
    pub writer: StdioWriter,
}

impl StdioStream {
    /// Splits into halves usable from two tasks.
    pub fn into_split(self) -> (StdioReader, StdioWriter) {
        (self.reader, self.writer)
    }

    /// Reads the next event; `None` at end of stream.
    pub async fn next(&mut self) -> Result<Option<StreamEvent>, RuntimeError> {
        self.reader.next().await
    }

    /// Collects output until the process ends: (stdout, stderr, exit record).
    pub async fn collect(mut self) -> Result<(Vec<u8>, Vec<u8>, Option<ExitRecord>), RuntimeError> {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        while let Some(ev) = self.next().await? {
            match ev {
                StreamEvent::Stdout(d) => out.extend(d),
                StreamEvent::Stderr(d) => err.extend(d),
                StreamEvent::Exit(rec) => return Ok((out, err, Some(rec))),
            }
        }
        Ok((out, err, None))
    }
}

/// Output half of a stream.
pub struct StdioReader {
    inner: BufReader<OwnedReadHalf>,
}

impl StdioReader {
    /// Reads the next event; `None` at end of stream.
    pub async fn next(&mut self) -> Result<Option<StreamEvent>, RuntimeError> {
        let mut header = [0u8; HEADER_LEN];
        match self.inner.read_exact(&mut header).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(RuntimeError::io("read", "shim stream", e)),
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut payload = vec![0u8; len];
        self.inner
            .read_exact(&mut payload)
            .await
            .map_err(|e| RuntimeError::io("read", "shim stream", e))?;
        Ok(Some(match header[0] {
            STREAM_STDOUT => StreamEvent::Stdout(payload),
            STREAM_STDERR => StreamEvent::Stderr(payload),
            STREAM_EXIT => StreamEvent::Exit(serde_json::from_slice(&payload).map_err(|e| {
                RuntimeError::Json {
                    what: "exit frame".into(),
                    source: e,
                }
            })?),
            other => {
                return Err(RuntimeError::Shim {
                    exit_code: 125,
                    message: format!("unknown stream id {other} from shim"),
                })
            }
        }))
    }
}

/// Input half of a stream.
pub struct StdioWriter {
    inner: OwnedWriteHalf,
}

impl StdioWriter {
    /// Sends stdin data.
    pub async fn write_stdin(&mut self, data: &[u8]) -> Result<(), RuntimeError> {
        if data.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(data.len() + HEADER_LEN);
        encode_frame(STREAM_STDIN, data, &mut buf);
        self.inner
            .write_all(&buf)
            .await
            .map_err(|e| RuntimeError::io("write", "shim stream", e))
    }

    /// Closes the process's stdin (EOF), keeping output flowing.
    pub async fn close_stdin(&mut self) -> Result<(), RuntimeError> {
        let mut buf = Vec::new();
        encode_frame(STREAM_STDIN, &[], &mut buf);
        self.inner
            .write_all(&buf)
            .await
            .map_err(|e| RuntimeError::io("write", "shim stream", e))
    }
}

/// Starts shims for the daemon, from a spare shim when one is ready ([`crate::shim::spare`]):
/// the new container's shim is then already loaded and detached. Without a spare (the first
/// start, or concurrent starts) it spawns a shim as [`ShimClient::spawn`] does. The caller
/// calls [`ShimLauncher::refill`] once the container has started, so the next spare's start
/// does not compete with this container's (after a failure the launcher refills itself).
///
/// A spare is only kept while containers are being started: the first start makes one, and
/// a spare left unused for [`SPARE_IDLE`] (`BERTH_SPARE_SHIM_IDLE_MS` overrides it) exits,
/// so an idle daemon holds no extra process.
pub struct ShimLauncher {
    exe: PathBuf,
    runtime_root: PathBuf,
    spare: std::sync::Mutex<Option<Spare>>,
    filling: std::sync::atomic::AtomicBool,
    generation: std::sync::atomic::AtomicU64,
    idle: std::time::Duration,
}

/// How long an unused spare shim is kept.
pub const SPARE_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// A spare shim: the daemon's end of its socket, and which spare it is.
struct Spare {
    sock: UnixStream,
    generation: u64,
}

impl ShimLauncher {
    /// A launcher for shims of `exe` whose libcontainer state root is `runtime_root` (the
    /// spare's command line names it, so a spare can be told apart per daemon).
    pub fn new(exe: PathBuf, runtime_root: PathBuf) -> Arc<ShimLauncher> {
        Arc::new(ShimLauncher {
            exe,
            runtime_root,
            spare: std::sync::Mutex::new(None),
            filling: std::sync::atomic::AtomicBool::new(false),
            generation: std::sync::atomic::AtomicU64::new(0),
            idle: std::env::var("BERTH_SPARE_SHIM_IDLE_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .map(std::time::Duration::from_millis)
                .unwrap_or(SPARE_IDLE),
        })
    }

    /// Spawns (or assigns) the shim for a prepared bundle; see [`ShimClient::spawn`].
    pub async fn spawn(
        self: &Arc<Self>,
        opts: &SpawnOptions,
    ) -> Result<(ShimClient, i32), RuntimeError> {
        let spare = self.take_spare();
        let r = match spare {
            Some(sock) => self.assign(sock, opts).await,
            None => ShimClient::spawn(opts).await,
        };
        if r.is_err() {
            // Nothing is starting: replace the used spare now.
            self.refill();
        }
        r
    }

    async fn assign(
        &self,
        mut sock: UnixStream,
        opts: &SpawnOptions,
    ) -> Result<(ShimClient, i32), RuntimeError> {
        let assignment = crate::shim::spare::Assignment {
            id: opts.id.clone(),
            bundle: opts.bundle.clone(),
            state_dir: opts.state_dir.clone(),
            runtime_root: opts.runtime_root.clone(),
            start: opts.start,
        };
        let mut line = serde_json::to_vec(&assignment).map_err(|e| RuntimeError::Shim {
            exit_code: 125,
            message: format!("spare shim: {e}"),
        })?;
        line.push(b'\n');
        if let Err(e) = sock.write_all(&line).await {
            // The spare died before it was needed (nothing was assigned): start afresh.
            tracing::warn!("spare shim gone ({e}); spawning a shim");
            return ShimClient::spawn(opts).await;
        }
        let mut report = Vec::new();
        let mut reader = BufReader::new(sock);
        let read = reader.read_until(b'\n', &mut report).await;
        let text = String::from_utf8_lossy(&report);
        let detail = match read {
            Ok(0) => "the spare shim exited before reporting; see shim.log".to_string(),
            Ok(_) => "spare shim".to_string(),
            Err(e) => format!("spare shim: {e}"),
        };
        ShimClient::from_report(opts, &text, &detail)
    }

    fn take_spare(&self) -> Option<UnixStream> {
        self.spare
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .map(|s| s.sock)
    }

    /// Starts a spare shim in the background unless one is ready or starting. Needs a
    /// tokio runtime.
    pub fn refill(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        if self
            .spare
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
            || self.filling.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let generation = this.generation.fetch_add(1, Ordering::AcqRel);
            match this.start_spare().await {
                Ok(sock) => {
                    *this.spare.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(Spare { sock, generation });
                    this.filling.store(false, Ordering::Release);
                }
                Err(e) => {
                    tracing::warn!("starting a spare shim: {e}");
                    this.filling.store(false, Ordering::Release);
                    return;
                }
            }
            // Retire it if no container start has used it meanwhile.
            tokio::time::sleep(this.idle).await;
            let mut slot = this.spare.lock().unwrap_or_else(|p| p.into_inner());
            if slot.as_ref().map(|s| s.generation) == Some(generation) {
                slot.take();
            }
        });
    }

    /// Drops the spare (it exits when its socket closes).
    pub fn drop_spare(&self) {
        drop(self.take_spare());
    }

    async fn start_spare(&self) -> Result<UnixStream, RuntimeError> {
        let (ours, theirs) =
            std::os::unix::net::UnixStream::pair().map_err(io_err("socketpair", &self.exe))?;
        ours.set_nonblocking(true)
            .map_err(io_err("socketpair", &self.exe))?;
        let ours = UnixStream::from_std(ours).map_err(io_err("socketpair", &self.exe))?;
        let mut cmd = tokio::process::Command::new(&self.exe);
        cmd.arg("shim")
            .arg("--spare")
            .arg("--runtime-root")
            .arg(&self.runtime_root)
            .stdin(ProcStdio::from(std::os::fd::OwnedFd::from(theirs)))
            .stdout(ProcStdio::null())
            .stderr(ProcStdio::null())
            .kill_on_drop(false);
        let mut child = cmd.spawn().map_err(io_err("spawn", &self.exe))?;
        drop(cmd);
        // The first process exits as soon as the spare has detached.
        let status = child.wait().await.map_err(io_err("spawn", &self.exe))?;
        if !status.success() {
            return Err(RuntimeError::Shim {
                exit_code: 125,
                message: format!("spare shim failed to detach ({status})"),
            });
        }
        Ok(ours)
    }
}
