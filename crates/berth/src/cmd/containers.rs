//! Container commands: `run`, `create`, `start`, `stop`, `restart`, `kill`, `rm`, `ps`,
//! `logs`, `exec`, `wait`, `pause`, `unpause` — through the Docker Engine API, so they also
//! work against a real dockerd.

use super::client::{api_error, runtime, ClientOpts};
use crate::format::{human_duration, print_table, Template};
use anyhow::{anyhow, bail, Context, Result};
use bollard::models::{ContainerCreateBody, HostConfig, RestartPolicy, RestartPolicyNameEnum};
use bollard::query_parameters as qp;
use bollard::Docker;
use futures::StreamExt;
use std::collections::HashMap;
use std::io::Write;
use tokio::io::AsyncWriteExt;

/// An error that ends the process with a specific exit code (Docker's 125/126/127).
#[derive(Debug)]
pub struct Exit(pub i32, pub String);
impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}
impl std::error::Error for Exit {}

fn exit125(e: anyhow::Error) -> anyhow::Error {
    if e.downcast_ref::<Exit>().is_some() {
        return e;
    }
    anyhow::Error::new(Exit(125, format!("berth: {e:#}")))
}

/// The flags `create` and `run` share.
#[derive(clap::Args, Debug, Default)]
pub struct CreateFlags {
    /// Keep STDIN open even if not attached.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// Automatically remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables.
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables.
    #[arg(long)]
    pub env_file: Vec<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short, long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Set meta data on a container.
    #[arg(short, long = "label")]
    pub label: Vec<String>,
    /// Memory limit (e.g. 512m, 1g).
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Number of CPUs.
    #[arg(long, allow_hyphen_values = true)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<i64>,
    /// Tune container pids limit (-1 for unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Give extended privileges to this container.
    #[arg(long)]
    pub privileged: bool,
    /// Add Linux capabilities.
    #[arg(long)]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities.
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// Security options (no-new-privileges, seccomp=unconfined).
    #[arg(long)]
    pub security_opt: Vec<String>,
    /// Mount the container's root filesystem as read only.
    #[arg(long)]
    pub read_only: bool,
    /// Mount a tmpfs directory (/path[:options]).
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Bind mount a volume (/host:/ctr[:ro]).
    #[arg(short, long = "volume")]
    pub volume: Vec<String>,
    /// Restart policy (no, always, on-failure[:N], unless-stopped).
    #[arg(long)]
    pub restart: Option<String>,
    /// Signal to stop the container.
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container.
    #[arg(long)]
    pub stop_timeout: Option<i64>,
    /// Run an init inside the container that forwards signals and reaps processes.
    #[arg(long)]
    pub init: bool,
    /// Connect a container to a network (none, host, bridge).
    #[arg(long, alias = "net")]
    pub network: Option<String>,
    #[command(flatten)]
    pub mounts: super::volume::MountFlags,
    #[command(flatten)]
    pub net: super::network::NetFlags,
    #[command(flatten)]
    pub health: super::health::HealthFlags,
    #[command(flatten)]
    pub host: super::host_flags::HostFlags,
    /// Image.
    pub image: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Docker's `units.RAMInBytes`: `512m`, `1g`, `100k`, bytes.
pub fn parse_size(s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num.parse().map_err(|_| anyhow!("invalid size: '{s}'"))?;
    if v < 0.0 {
        bail!("invalid size: '{s}'");
    }
    Ok((v * mult as f64) as i64)
}

/// `--cpus` (a decimal number of CPUs) in nano CPUs, with docker's flag error.
pub fn parse_cpus(c: &str) -> Result<i64> {
    c.parse::<f64>().map(|v| (v * 1e9) as i64).map_err(|_| {
        anyhow!("invalid argument \"{c}\" for \"--cpus\" flag: failed to parse {c} as a rational number")
    })
}

fn read_env_file(path: &str) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("open {path}"))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim_start();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if l.contains(char::is_whitespace) && !l.contains('=') {
            bail!("{path}:{}: variable '{l}' contains whitespaces", i + 1);
        }
        if l.contains('=') {
            out.push(l.to_string());
        } else if let Ok(v) = std::env::var(l) {
            out.push(format!("{l}={v}"));
        }
    }
    Ok(out)
}

impl CreateFlags {
    fn body(&self, attach: bool) -> Result<ContainerCreateBody> {
        let mut env = Vec::new();
        for f in &self.env_file {
            env.extend(read_env_file(f)?);
        }
        for e in &self.env {
            if e.contains('=') {
                env.push(e.clone());
            } else if let Ok(v) = std::env::var(e) {
                env.push(format!("{e}={v}"));
            }
        }
        let memory = self
            .memory
            .as_deref()
            .map(|m| {
                parse_size(m)
                    .map_err(|e| anyhow!("invalid argument \"{m}\" for \"-m, --memory\" flag: {e}"))
            })
            .transpose()?;
        let nano_cpus = self.cpus.as_deref().map(parse_cpus).transpose()?;
        let restart_policy = match self.restart.as_deref() {
            None | Some("no") | Some("") => None,
            Some(p) => {
                let (name, max) = p
                    .split_once(':')
                    .map(|(n, m)| (n, Some(m)))
                    .unwrap_or((p, None));
                let name = match name {
                    "always" => RestartPolicyNameEnum::ALWAYS,
                    "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
                    "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
                    other => bail!("invalid restart policy '{other}'"),
                };
                let max = max
                    .map(|m| {
                        m.parse::<i64>()
                            .map_err(|_| anyhow!("invalid restart policy count '{m}'"))
                    })
                    .transpose()?;
                Some(RestartPolicy {
                    name: Some(name),
                    maximum_retry_count: max,
                })
            }
        };
        let labels: HashMap<String, String> = self
            .label
            .iter()
            .map(|l| match l.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (l.clone(), String::new()),
            })
            .collect();
        let tmpfs: HashMap<String, String> = self
            .tmpfs
            .iter()
            .map(|t| match t.split_once(':') {
                Some((p, o)) => (p.to_string(), o.to_string()),
                None => (t.clone(), String::new()),
            })
            .collect();
        let (w, h) = terminal_size().unwrap_or((0, 0));
        let mut body = ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: (!self.command.is_empty()).then(|| self.command.clone()),
            entrypoint: self.entrypoint.as_ref().map(|e| {
                if e.is_empty() {
                    vec![String::new()]
                } else {
                    vec![e.clone()]
                }
            }),
            env: (!env.is_empty()).then_some(env),
            working_dir: self.workdir.clone(),
            user: self.user.clone(),
            hostname: self.hostname.clone(),
            labels: (!labels.is_empty()).then_some(labels),
            tty: Some(self.tty),
            open_stdin: Some(self.interactive),
            stdin_once: Some(self.interactive && attach),
            attach_stdin: Some(self.interactive && attach),
            attach_stdout: Some(attach),
            attach_stderr: Some(attach),
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            host_config: Some(HostConfig {
                auto_remove: Some(self.rm),
                memory,
                nano_cpus,
                cpu_shares: self.cpu_shares,
                pids_limit: self.pids_limit,
                privileged: Some(self.privileged),
                cap_add: (!self.cap_add.is_empty()).then(|| self.cap_add.clone()),
                cap_drop: (!self.cap_drop.is_empty()).then(|| self.cap_drop.clone()),
                security_opt: (!self.security_opt.is_empty()).then(|| self.security_opt.clone()),
                readonly_rootfs: Some(self.read_only),
                tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
                binds: (!self.volume.is_empty()).then(|| self.volume.clone()),
                restart_policy,
                init: self.init.then_some(true),
                network_mode: self.network.clone(),
                console_size: (self.tty && h > 0).then(|| vec![h as usize, w as usize]),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.mounts.apply(&mut body)?;
        self.net.apply(&mut body)?;
        self.health.apply(&mut body)?;
        self.host.apply(&mut body)?;
        Ok(body)
    }
}

fn terminal_size() -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ fills a plain struct.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    if unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_col > 0 {
        Some((ws.ws_col, ws.ws_row))
    } else {
        None
    }
}

/// Puts stdin in raw mode for `-t`, restoring it on drop.
struct RawMode(Option<libc::termios>);
impl RawMode {
    fn enable() -> RawMode {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            return RawMode(None);
        }
        // SAFETY: termios calls on fd 0 with valid pointers.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return RawMode(None);
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(0, libc::TCSANOW, &t);
            RawMode(Some(saved))
        }
    }
}
impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = self.0 {
            // SAFETY: restoring the saved settings.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        }
    }
}

fn start_error_exit(msg: &str) -> i32 {
    if msg.contains("executable file not found") || msg.contains("no such file or directory") {
        127
    } else if msg.contains("permission denied") {
        126
    } else {
        125
    }
}

async fn create(d: &Docker, f: &CreateFlags, attach: bool) -> Result<String> {
    let body = f.body(attach).map_err(exit125)?;
    let opts = qp::CreateContainerOptions {
        name: f.name.clone(),
        platform: String::new(),
    };
    match d.create_container(Some(opts), body).await {
        Ok(r) => Ok(r.id),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            message,
        }) if message.contains("No such image") => {
            eprintln!("Unable to find image '{}' locally", f.image);
            Err(anyhow::Error::new(Exit(
                125,
                format!("berth: Error response from daemon: {message}"),
            )))
        }
        Err(e) => Err(exit125(api_error(e))),
    }
}

/// Runs `op` on each named container, printing the name on success and docker's error
/// otherwise; the exit code is 1 if any failed.
async fn for_each<F>(names: &[String], op: F) -> i32
where
    F: AsyncFn(&str) -> Result<(), bollard::errors::Error>,
{
    let mut code = 0;
    for c in names {
        match op(c).await {
            Ok(()) => println!("{c}"),
            Err(e) => {
                eprintln!("{}", api_error(e));
                code = 1;
            }
        }
    }
    code
}

/// `berth run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Run container in background and print container ID.
    #[arg(short, long)]
    pub detach: bool,
    #[command(flatten)]
    pub flags: CreateFlags,
}

pub fn run(opts: &ClientOpts, a: RunArgs) -> Result<i32> {
    // A blocked stdin read must not keep the process alive after the container is gone.
    let rt = runtime()?;
    let r = rt.block_on(async {
        let d = opts.connect().await.map_err(exit125)?;
        // `docker run` gives a failed create the start's exit codes (127 for a missing
        // file, 126 for a permission error); `docker create` always 125.
        let id =
            create(&d, &a.flags, !a.detach)
                .await
                .map_err(|e| match e.downcast_ref::<Exit>() {
                    Some(Exit(125, msg)) => {
                        anyhow::Error::new(Exit(start_error_exit(msg), msg.clone()))
                    }
                    _ => e,
                })?;
        if a.detach {
            d.start_container(&id, None::<qp::StartContainerOptions>)
                .await
                .map_err(|e| {
                    let msg = api_error(e).to_string();
                    anyhow::Error::new(Exit(start_error_exit(&msg), format!("berth: {msg}")))
                })?;
            println!("{id}");
            return Ok(0);
        }
        attach_and_start(
            opts,
            &d,
            &id,
            a.flags.interactive,
            a.flags.tty,
            a.flags.rm,
            true,
        )
        .await
    });
    rt.shutdown_background();
    r
}

pub(crate) async fn attach_and_start(
    opts: &ClientOpts,
    d: &Docker,
    id: &str,
    stdin: bool,
    tty: bool,
    rm: bool,
    start: bool,
) -> Result<i32> {
    let att = d
        .attach_container(
            id,
            Some(qp::AttachContainerOptions {
                stdin,
                stdout: true,
                stderr: true,
                stream: true,
                logs: false,
                detach_keys: None,
            }),
        )
        .await
        .map_err(|e| exit125(api_error(e)))?;
    let condition = if rm { "removed" } else { "next-exit" };
    let mut wait = register_wait(opts, id, condition).await?;
    if start {
        if let Err(e) = d
            .start_container(id, None::<qp::StartContainerOptions>)
            .await
        {
            let msg = api_error(e).to_string();
            return Err(anyhow::Error::new(Exit(
                start_error_exit(&msg),
                format!("berth: {msg}"),
            )));
        }
    }
    let raw = if tty { Some(RawMode::enable()) } else { None };
    if tty {
        if let Some((w, h)) = terminal_size() {
            let _ = d
                .resize_container_tty(
                    id,
                    qp::ResizeContainerTTYOptions {
                        h: h as i32,
                        w: w as i32,
                    },
                )
                .await;
        }
    }
    let mut input = att.input;
    let stdin_task = stdin.then(|| {
        tokio::spawn(async move {
            let mut src = tokio::io::stdin();
            let _ = tokio::io::copy(&mut src, &mut input).await;
            let _ = input.shutdown().await;
        })
    });
    let mut output = att.output;
    while let Some(item) = output.next().await {
        match item {
            Ok(bollard::container::LogOutput::StdErr { message }) => {
                let mut e = std::io::stderr().lock();
                let _ = e.write_all(&message);
                let _ = e.flush();
            }
            Ok(other) => {
                let mut o = std::io::stdout().lock();
                let _ = o.write_all(other.as_ref());
                let _ = o.flush();
            }
            Err(_) => break,
        }
    }
    drop(raw);
    if let Some(t) = stdin_task {
        t.abort();
    }
    let code = match (&mut wait).await {
        Ok(r) => r?,
        Err(e) => return Err(exit125(anyhow::anyhow!("wait: {e}"))),
    };
    Ok(code)
}

/// Sends `POST /containers/{id}/wait` and returns once the daemon has answered with the
/// headers: berth's daemon (like dockerd) registers the wait before it sends them, so an
/// exit from then on cannot be missed and the container can be started at once. The task
/// resolves to the exit code.
async fn register_wait(
    opts: &ClientOpts,
    id: &str,
    condition: &str,
) -> Result<tokio::task::JoinHandle<Result<i32>>> {
    let path = format!("/containers/{id}/wait?condition={condition}");
    let resp = super::client::request(opts, "POST", &path, &[], Vec::new())
        .await
        .map_err(exit125)?;
    let status = resp.status();
    Ok(tokio::spawn(async move {
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let failure = if status.is_success() {
            v["Error"]["Message"].as_str().filter(|m| !m.is_empty())
        } else {
            Some(v["message"].as_str().unwrap_or("wait failed"))
        };
        if let Some(msg) = failure {
            return Err(exit125(anyhow::anyhow!(
                "Error response from daemon: {msg}"
            )));
        }
        Ok(v["StatusCode"].as_i64().unwrap_or(0) as i32)
    }))
}

/// `berth create`.
#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    #[command(flatten)]
    pub flags: CreateFlags,
}

pub fn create_cmd(opts: &ClientOpts, a: CreateArgs) -> Result<i32> {
    runtime()?.block_on(async {
        let d = opts.connect().await.map_err(exit125)?;
        println!("{}", create(&d, &a.flags, false).await?);
        Ok(0)
    })
}

/// `berth start`.
#[derive(clap::Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals.
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN.
    #[arg(short, long)]
    pub interactive: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn start(opts: &ClientOpts, a: StartArgs) -> Result<i32> {
    let rt = runtime()?;
    let r = rt.block_on(async {
        let d = opts.connect().await?;
        if a.attach || a.interactive {
            let c = &a.containers[0];
            let info = d
                .inspect_container(c, None::<qp::InspectContainerOptions>)
                .await
                .map_err(api_error)?;
            let tty = info.config.as_ref().and_then(|c| c.tty).unwrap_or(false);
            let id = info.id.unwrap_or_default();
            return attach_and_start(opts, &d, &id, a.interactive, tty, false, true).await;
        }
        Ok(for_each(&a.containers, async |c: &str| {
            d.start_container(c, None::<qp::StartContainerOptions>)
                .await
        })
        .await)
    });
    rt.shutdown_background();
    r
}

/// `berth stop` / `berth restart`.
#[derive(clap::Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait before killing the container.
    #[arg(short, long = "time", alias = "timeout")]
    pub time: Option<i32>,
    /// Signal to send to the container.
    #[arg(short, long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn stop(opts: &ClientOpts, a: StopArgs, restart: bool) -> Result<i32> {
    runtime()?.block_on(async {
        let d = opts.connect().await?;
        Ok(for_each(&a.containers, async |c: &str| {
            if restart {
                d.restart_container(
                    c,
                    Some(qp::RestartContainerOptions {
                        t: a.time,
                        signal: a.signal.clone(),
                    }),
                )
                .await
            } else {
                d.stop_container(
                    c,
                    Some(qp::StopContainerOptions {
                        t: a.time,
                        signal: a.signal.clone(),
                    }),
                )
                .await
            }
        })
        .await)
    })
}

/// `berth kill`.
#[derive(clap::Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container.
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn kill(opts: &ClientOpts, a: KillArgs) -> Result<i32> {
    runtime()?.block_on(async {
        let d = opts.connect().await?;
        Ok(for_each(&a.containers, async |c: &str| {
            d.kill_container(
                c,
                Some(qp::KillContainerOptions {
                    signal: a.signal.clone(),
                }),
            )
            .await
        })
        .await)
    })
}

/// `berth pause` / `unpause`.
#[derive(clap::Args, Debug)]
pub struct PauseArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn pause(opts: &ClientOpts, a: PauseArgs, pause: bool) -> Result<i32> {
    runtime()?.block_on(async {
        let d = opts.connect().await?;
        Ok(for_each(&a.containers, async |c: &str| {
            if pause {
                d.pause_container(c).await
            } else {
                d.unpause_container(c).await
            }
        })
        .await)
    })
}

/// `berth rm`.
#[derive(clap::Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL).
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container.
    #[arg(short, long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn rm(opts: &ClientOpts, a: RmArgs) -> Result<i32> {
    runtime()?.block_on(async {
        let d = opts.connect().await?;
        Ok(for_each(&a.containers, async |c: &str| {
            d.remove_container(
                c,
                Some(qp::RemoveContainerOptions {
                    force: a.force,
                    v: a.volumes,
                    link: false,
                }),
            )
            .await
        })
        .await)
    })
}

/// `berth ps`.
#[derive(clap::Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show n last created containers.
    #[arg(short = 'n', long)]
    pub last: Option<i32>,
    /// Show the latest created container.
    #[arg(short, long)]
    pub latest: bool,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Display total file sizes.
    #[arg(short, long)]
    pub size: bool,
    /// Filter output based on conditions provided.
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output using a Go template.
    #[arg(long)]
    pub format: Option<String>,
}

pub fn ps(opts: &ClientOpts, a: PsArgs) -> Result<i32> {
    let mut filters: HashMap<String, Vec<String>> = HashMap::new();
    for f in &a.filter {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value): {f}"))?;
        filters.entry(k.into()).or_default().push(v.into());
    }
    let limit = if a.latest { Some(1) } else { a.last };
    let list = runtime()?.block_on(async {
        let d = opts.connect().await?;
        d.list_containers(Some(qp::ListContainersOptions {
            all: a.all,
            limit,
            size: a.size,
            filters: Some(filters),
        }))
        .await
        .map_err(api_error)
    })?;
    let short = |id: &str| {
        if a.no_trunc {
            id.to_string()
        } else {
            id.chars().take(12).collect()
        }
    };
    if a.quiet {
        for c in &list {
            println!("{}", short(c.id.as_deref().unwrap_or("")));
        }
        return Ok(0);
    }
    let rows: Vec<serde_json::Value> = list
        .iter()
        .map(|c| {
            let mut cmd = c.command.clone().unwrap_or_default();
            if !a.no_trunc && cmd.chars().count() > 20 {
                cmd = cmd.chars().take(19).collect::<String>() + "…";
            }
            let created = c.created.unwrap_or(0);
            serde_json::json!({
                "ID": short(c.id.as_deref().unwrap_or("")),
                "Image": c.image.clone().unwrap_or_default(),
                "Command": format!("\"{cmd}\""),
                "CreatedAt": created,
                "RunningFor": format!("{} ago", human_duration(chrono::Utc::now().timestamp() - created)),
                "Status": c.status.clone().unwrap_or_default(),
                "State": serde_json::to_value(c.state).unwrap_or_default(),
                "Ports": "",
                "Names": c.names.clone().unwrap_or_default().iter().map(|n| n.trim_start_matches('/').to_string()).collect::<Vec<_>>().join(","),
                "Labels": c.labels.clone().unwrap_or_default().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                "Size": match (c.size_rw, c.size_root_fs) {
                    (Some(rw), Some(root)) => format!("{} (virtual {})", crate::format::human_size(rw), crate::format::human_size(root)),
                    _ => String::new(),
                },
            })
        })
        .collect();
    if let Some(f) = a.format.as_deref().filter(|f| !f.starts_with("table")) {
        let t = Template::parse(f)?;
        for r in &rows {
            println!("{}", t.render(r)?);
        }
        return Ok(0);
    }
    let mut table = vec![[
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect::<Vec<_>>()];
    if a.size {
        table[0].push("SIZE".into());
    }
    for r in &rows {
        let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
        table.push(vec![
            s("ID"),
            s("Image"),
            s("Command"),
            s("RunningFor"),
            s("Status"),
            s("Ports"),
            s("Names"),
        ]);
        if a.size {
            table.last_mut().expect("row just pushed").push(s("Size"));
        }
    }
    print_table(&table);
    Ok(0)
}

/// `berth logs`.
#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// Follow log output.
    #[arg(short, long)]
    pub follow: bool,
    /// Show timestamps.
    #[arg(short, long)]
    pub timestamps: bool,
    /// Number of lines to show from the end of the logs.
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show logs since a timestamp (unix seconds, RFC 3339) or relative (e.g. 42m).
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp (unix seconds, RFC 3339) or relative (e.g. 42m).
    #[arg(long)]
    pub until: Option<String>,
    pub container: String,
}

/// A `--since`/`--until` value as whole unix seconds (what the logs API takes).
fn unix_secs(v: Option<&str>) -> Result<i32> {
    let Some(v) = v else { return Ok(0) };
    let t = super::events::time_arg(v)?;
    let secs = match t.parse::<f64>() {
        Ok(s) => s,
        Err(_) => chrono::DateTime::parse_from_rfc3339(&t)
            .map(|d| d.timestamp() as f64)
            .map_err(|_| anyhow!("invalid time {v:?}"))?,
    };
    Ok(secs as i32)
}

pub fn logs(opts: &ClientOpts, a: LogsArgs) -> Result<i32> {
    let since = unix_secs(a.since.as_deref())?;
    let until = unix_secs(a.until.as_deref())?;
    runtime()?.block_on(async {
        let d = opts.connect().await?;
        let mut s = d.logs(
            &a.container,
            Some(qp::LogsOptions {
                follow: a.follow,
                stdout: true,
                stderr: true,
                since,
                until,
                timestamps: a.timestamps,
                tail: a.tail.clone(),
            }),
        );
        while let Some(item) = s.next().await {
            match item.map_err(api_error)? {
                bollard::container::LogOutput::StdErr { message } => {
                    std::io::stderr().write_all(&message)?;
                }
                other => {
                    let mut o = std::io::stdout().lock();
                    o.write_all(other.as_ref())?;
                    o.flush()?;
                }
            }
        }
        Ok(0)
    })
}

/// `berth exec`.
#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run command in the background.
    #[arg(short, long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables.
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID.
    #[arg(short, long)]
    pub user: Option<String>,
    pub container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

pub fn exec(opts: &ClientOpts, a: ExecArgs) -> Result<i32> {
    let rt = runtime()?;
    let r = rt.block_on(async {
        let d = opts.connect().await?;
        let e = d
            .create_exec(
                &a.container,
                bollard::exec::CreateExecOptions {
                    attach_stdin: Some(a.interactive && !a.detach),
                    attach_stdout: Some(!a.detach),
                    attach_stderr: Some(!a.detach),
                    tty: Some(a.tty),
                    env: (!a.env.is_empty()).then(|| a.env.clone()),
                    cmd: Some(a.command.clone()),
                    user: a.user.clone(),
                    working_dir: a.workdir.clone(),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| exit125(api_error(e)))?;
        let started = d
            .start_exec(
                &e.id,
                Some(bollard::exec::StartExecOptions {
                    detach: a.detach,
                    tty: a.tty,
                    output_capacity: None,
                }),
            )
            .await
            .map_err(|err| {
                let msg = api_error(err).to_string();
                anyhow::Error::new(Exit(start_error_exit(&msg), format!("berth: {msg}")))
            })?;
        if let bollard::exec::StartExecResults::Attached {
            mut output,
            mut input,
        } = started
        {
            let raw = if a.tty { Some(RawMode::enable()) } else { None };
            let stdin_task = a.interactive.then(|| {
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut tokio::io::stdin(), &mut input).await;
                    let _ = input.shutdown().await;
                })
            });
            while let Some(item) = output.next().await {
                match item {
                    Ok(bollard::container::LogOutput::StdErr { message }) => {
                        let _ = std::io::stderr().write_all(&message);
                    }
                    Ok(other) => {
                        let mut o = std::io::stdout().lock();
                        let _ = o.write_all(other.as_ref());
                        let _ = o.flush();
                    }
                    Err(_) => break,
                }
            }
            drop(raw);
            if let Some(t) = stdin_task {
                t.abort();
            }
            let info = d.inspect_exec(&e.id).await.map_err(api_error)?;
            return Ok(info.exit_code.unwrap_or(0) as i32);
        }
        Ok(0)
    });
    rt.shutdown_background();
    r
}

/// `berth wait`.
#[derive(clap::Args, Debug)]
pub struct WaitArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn wait(opts: &ClientOpts, a: WaitArgs) -> Result<i32> {
    runtime()?.block_on(async {
        let d = opts.connect().await?;
        for c in &a.containers {
            let mut s = d.wait_container(
                c,
                Some(qp::WaitContainerOptions {
                    condition: "not-running".into(),
                }),
            );
            match s.next().await {
                Some(Ok(r)) => println!("{}", r.status_code),
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => {
                    println!("{code}")
                }
                Some(Err(e)) => return Err(api_error(e)),
                None => {}
            }
        }
        Ok(0)
    })
}

/// `berth diff`.
#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    pub container: String,
}

pub fn diff(opts: &ClientOpts, a: DiffArgs) -> Result<i32> {
    let changes = runtime()?.block_on(async {
        let d = opts.connect().await?;
        d.container_changes(&a.container).await.map_err(api_error)
    })?;
    for c in changes.unwrap_or_default() {
        let kind = match c.kind {
            bollard::models::ChangeType::_0 => "C",
            bollard::models::ChangeType::_1 => "A",
            bollard::models::ChangeType::_2 => "D",
        };
        println!("{kind} {}", c.path);
    }
    Ok(0)
}
