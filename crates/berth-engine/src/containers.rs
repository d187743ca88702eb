//! Containers: records, lifecycle (create, start, wait, stop, kill, remove), exec, and
//! re-attaching to live shims after a daemon restart.
//!
//! Each container's process is owned by its shim (`berth shim`, see `berth-runtime`);
//! the engine keeps the record (in the store's database), a watch channel that fires on
//! every state change, and a monitor task that waits for the exit.

use crate::error::{EngineError, Result};
use crate::filters::Filters;
use crate::Engine;
use berth_oci::Reference;
use berth_runtime::config::{
    ContainerSpec, MountSpec, Resources, RootfsSpec, SeccompMode, Security,
};
use berth_runtime::{ExecOptions, ShimClient, SpawnOptions};
use bollard_stubs::models::{
    ContainerConfig, ContainerCreateBody, ContainerCreateResponse, ContainerInspectResponse,
    ContainerState, ContainerStateStatusEnum, ContainerSummary, ContainerSummaryStateEnum,
    ContainerWaitResponse, DriverData, HostConfig,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// What berth remembers about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    pub created: String,
    /// Image ID (`sha256:…`).
    pub image: String,
    /// The image as the user named it.
    pub image_ref: String,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub path: String,
    pub args: Vec<String>,
    pub state: StateRecord,
    pub restart_count: i64,
    /// Lower dirs of the rootfs overlay, top first.
    pub lower: Vec<PathBuf>,
}

/// The runtime state part of a record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StateRecord {
    pub status: String,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub oom_killed: bool,
    pub started_at: String,
    pub finished_at: String,
    /// The shim has been spawned (the container exists in the runtime).
    pub shim: bool,
    /// Exit generation: bumped at every exit (for `wait?condition=next-exit`).
    #[serde(default)]
    pub exits: u64,
    /// Stopped by `stop`/`kill`/`rm -f`: restart policies leave it alone (Docker's
    /// HasBeenManuallyStopped).
    #[serde(default)]
    pub manually_stopped: bool,
}

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A container as the engine holds it in memory.
pub struct Ctr {
    pub rec: Mutex<ContainerRecord>,
    /// Fires on every state change; the value is the exit generation (`u64::MAX` = removed).
    pub changed: watch::Sender<u64>,
}

impl Ctr {
    fn snapshot(&self) -> ContainerRecord {
        self.rec.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// In-memory exec instances.
#[derive(Debug, Clone)]
pub struct ExecInstance {
    pub id: String,
    pub container: String,
    pub opts: ExecOptions,
    pub attach_stdin: bool,
    pub running: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
}

/// Engine-wide container tables.
#[derive(Default)]
pub struct Containers {
    pub by_id: Mutex<HashMap<String, Arc<Ctr>>>,
    pub execs: Mutex<HashMap<String, ExecInstance>>,
    /// Exit codes of recently removed containers: a `wait?condition=removed` that arrives
    /// after an `--rm` container is already gone still gets its exit code.
    pub removed: Mutex<HashMap<String, (i64, std::time::Instant)>>,
}

fn random_id() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

fn now() -> String {
    berth_store::now_rfc3339()
}

/// Docker's random names are adjective_surname; ours are adjective_noun from short lists.
fn random_name() -> String {
    const A: &[&str] = &[
        "brave", "calm", "eager", "fervent", "gentle", "happy", "jolly", "keen", "lucid", "merry",
        "nifty", "quirky", "serene", "vigilant", "witty", "zealous",
    ];
    const B: &[&str] = &[
        "turing",
        "hopper",
        "lovelace",
        "ritchie",
        "thompson",
        "knuth",
        "dijkstra",
        "torvalds",
        "pike",
        "liskov",
        "lamport",
        "hamilton",
        "wozniak",
        "kernighan",
        "shannon",
        "babbage",
    ];
    let r: u32 = rand::random();
    format!("{}_{}", A[(r % 16) as usize], B[((r >> 8) % 16) as usize])
}

fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Signal names and numbers (`SIGTERM`, `TERM`, `15`).
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "WINCH" => libc::SIGWINCH,
        "IO" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => return Err(EngineError::BadRequest(format!("Invalid signal: {s}"))),
    };
    Ok(n)
}

impl Engine {
    fn ctr_dir(&self, id: &str) -> PathBuf {
        self.data_root().join("containers").join(id)
    }
    /// The shim's state dir. Named by the first 16 hex digits of the ID: unix socket
    /// paths must stay under 108 bytes whatever the exec root is.
    fn state_dir(&self, id: &str) -> PathBuf {
        self.config
            .exec_root
            .join("containers")
            .join(&id[..id.len().min(16)])
    }
    fn runtime_root(&self) -> PathBuf {
        self.config.exec_root.join("runtime")
    }
    fn log_path(&self, id: &str) -> PathBuf {
        self.ctr_dir(id).join(format!("{id}-json.log"))
    }

    fn persist(&self, rec: &ContainerRecord) -> Result<()> {
        let bytes = serde_json::to_vec(rec).map_err(|e| EngineError::Internal(e.to_string()))?;
        self.store.put_container(&rec.id, &bytes)?;
        Ok(())
    }

    /// Finds a container by full ID, unique ID prefix or name.
    pub fn container(&self, name: &str) -> Result<Arc<Ctr>> {
        let map = self
            .containers
            .by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let name = name.strip_prefix('/').unwrap_or(name);
        if let Some(c) = map.get(name) {
            return Ok(c.clone());
        }
        if let Some(c) = map.values().find(|c| c.snapshot().name == name) {
            return Ok(c.clone());
        }
        let hits: Vec<&Arc<Ctr>> = map
            .keys()
            .filter(|k| !name.is_empty() && k.starts_with(name))
            .map(|k| &map[k])
            .collect();
        match hits.len() {
            1 => Ok(hits[0].clone()),
            0 => Err(EngineError::NotFound(format!("No such container: {name}"))),
            _ => Err(EngineError::BadRequest(format!(
                "multiple IDs found with provided prefix: {name}"
            ))),
        }
    }

    /// Loads container records at startup and reconnects to live shims.
    pub async fn restore_containers(self: &Arc<Self>) -> Result<()> {
        for raw in self.store.containers()? {
            let Ok(mut rec) = serde_json::from_slice::<ContainerRecord>(&raw) else {
                tracing::warn!("skipping unreadable container record");
                continue;
            };
            let id = rec.id.clone();
            let mut monitor = false;
            if rec.state.status == "running" || rec.state.status == "paused" {
                let shim = ShimClient::connect(&id, &self.state_dir(&id));
                if shim.is_alive().await {
                    monitor = true;
                } else if let Ok(Some(exit)) = shim.exit_record() {
                    apply_exit(&mut rec, &exit);
                } else {
                    rec.state.status = "exited".into();
                    rec.state.exit_code = 255;
                    rec.state.finished_at = now();
                    rec.state.pid = 0;
                }
                self.persist(&rec)?;
            }
            let (tx, _) = watch::channel(rec.state.exits);
            let ctr = Arc::new(Ctr {
                rec: Mutex::new(rec),
                changed: tx,
            });
            self.containers
                .by_id
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id.clone(), ctr.clone());
            if monitor {
                self.spawn_monitor(ctr);
            } else {
                let snap = ctr.snapshot();
                if snap.state.status == "exited" && self.should_restart(&snap) {
                    self.restart_later(ctr, 0);
                }
            }
        }
        Ok(())
    }

    /// `POST /containers/create`.
    pub fn container_create(
        self: &Arc<Self>,
        name: Option<&str>,
        body: ContainerCreateBody,
    ) -> Result<ContainerCreateResponse> {
        let image_ref = body
            .image
            .clone()
            .filter(|i| !i.is_empty())
            .ok_or_else(|| {
                EngineError::BadRequest(
                    "Config cannot be empty in order to create a container".into(),
                )
            })?;
        let img = self.store.resolve(&image_ref).map_err(|e| match e {
            berth_store::StoreError::NoSuchImage(_) => {
                EngineError::NotFound(format!("No such image: {}", familiar(&image_ref)))
            }
            other => other.into(),
        })?;
        let (_, icfg) = self.store.config(&img.id)?;
        let ic = icfg.config.clone().unwrap_or_default();
        let mut host_config = body.host_config.clone().unwrap_or_default();
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                let n = n.strip_prefix('/').unwrap_or(n);
                if !valid_name(n) {
                    return Err(EngineError::BadRequest(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                n.to_string()
            }
            None => random_name() + &format!("_{}", rand::random::<u16>() % 1000),
        };
        let id = random_id();
        {
            let map = self
                .containers
                .by_id
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(other) = map.values().find(|c| c.snapshot().name == name) {
                return Err(EngineError::Conflict(format!(
                    "Conflict. The container name \"/{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                    other.snapshot().id
                )));
            }
        }
        // Validate resources like Docker does.
        if let Some(m) = host_config.memory {
            if m != 0 && m < 6 * 1024 * 1024 {
                return Err(EngineError::BadRequest(
                    "Minimum memory limit allowed is 6MB".into(),
                ));
            }
        }
        if let Some(c) = host_config.nano_cpus {
            let ncpu = std::thread::available_parallelism()
                .map(|n| n.get() as i64)
                .unwrap_or(1);
            if c < 0 || c > ncpu * 1_000_000_000 {
                return Err(EngineError::BadRequest(format!(
                    "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
                )));
            }
        }
        // Merge image defaults into the container config.
        let mut env: Vec<String> = ic.env.clone().unwrap_or_default();
        for e in body.env.clone().unwrap_or_default() {
            let k = e.split('=').next().unwrap_or("").to_string();
            env.retain(|x| x.split('=').next() != Some(k.as_str()));
            env.push(e);
        }
        let entrypoint = match &body.entrypoint {
            Some(ep) if ep.len() == 1 && ep[0].is_empty() => Vec::new(),
            Some(ep) if !ep.is_empty() => ep.clone(),
            _ => ic.entrypoint.clone().unwrap_or_default(),
        };
        let cmd = match &body.cmd {
            Some(c) if !c.is_empty() => c.clone(),
            _ if body.entrypoint.as_ref().is_some_and(|e| !e.is_empty()) => Vec::new(),
            _ => ic.cmd.clone().unwrap_or_default(),
        };
        let mut argv: Vec<String> = entrypoint.iter().chain(cmd.iter()).cloned().collect();
        if argv.is_empty() {
            return Err(EngineError::BadRequest("No command specified".into()));
        }
        let path = argv.remove(0);
        let mut labels: HashMap<String, String> =
            ic.labels.clone().unwrap_or_default().into_iter().collect();
        labels.extend(body.labels.clone().unwrap_or_default());
        let config = ContainerConfig {
            hostname: Some(
                body.hostname
                    .clone()
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| id[..12].to_string()),
            ),
            domainname: body.domainname.clone(),
            user: Some(
                body.user
                    .clone()
                    .filter(|u| !u.is_empty())
                    .or(ic.user.clone())
                    .unwrap_or_default(),
            ),
            attach_stdin: body.attach_stdin,
            attach_stdout: body.attach_stdout,
            attach_stderr: body.attach_stderr,
            exposed_ports: body.exposed_ports.clone().or_else(|| {
                ic.exposed_ports
                    .as_ref()
                    .map(|m| m.keys().cloned().collect())
            }),
            tty: Some(body.tty.unwrap_or(false)),
            open_stdin: Some(body.open_stdin.unwrap_or(false)),
            stdin_once: Some(body.stdin_once.unwrap_or(false)),
            env: Some(env),
            cmd: Some(cmd),
            healthcheck: body.healthcheck.clone(),
            image: Some(image_ref.clone()),
            volumes: body
                .volumes
                .clone()
                .or_else(|| ic.volumes.as_ref().map(|m| m.keys().cloned().collect())),
            working_dir: Some(
                body.working_dir
                    .clone()
                    .filter(|w| !w.is_empty())
                    .or(ic.working_dir.clone())
                    .unwrap_or_default(),
            ),
            entrypoint: Some(entrypoint),
            labels: Some(labels),
            stop_signal: body.stop_signal.clone().or(ic.stop_signal.clone()),
            stop_timeout: body.stop_timeout,
            ..Default::default()
        };
        if host_config.network_mode.as_deref().unwrap_or("").is_empty() {
            host_config.network_mode = Some("bridge".into());
        }
        let lower: Vec<PathBuf> = img
            .chain_ids
            .iter()
            .rev()
            .map(|c| self.store.layer_diff(c))
            .collect();
        let rec = ContainerRecord {
            id: id.clone(),
            name,
            created: now(),
            image: img.id.to_string(),
            image_ref,
            config,
            host_config,
            path,
            args: argv,
            state: StateRecord {
                status: "created".into(),
                started_at: ZERO_TIME.into(),
                finished_at: ZERO_TIME.into(),
                ..Default::default()
            },
            restart_count: 0,
            lower,
        };
        let dir = self.ctr_dir(&id);
        for d in ["upper", "work"] {
            std::fs::create_dir_all(dir.join(d))
                .map_err(|e| EngineError::Internal(format!("{}: {e}", dir.display())))?;
        }
        self.persist(&rec)?;
        let (tx, _) = watch::channel(0);
        self.containers
            .by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                id.clone(),
                Arc::new(Ctr {
                    rec: Mutex::new(rec),
                    changed: tx,
                }),
            );
        Ok(ContainerCreateResponse {
            id,
            warnings: Vec::new(),
        })
    }

    /// Builds the runtime's description of a container from its record.
    fn runtime_spec(&self, rec: &ContainerRecord) -> Result<ContainerSpec> {
        let hc = &rec.host_config;
        let dir = self.ctr_dir(&rec.id);
        let hostname = rec
            .config
            .hostname
            .clone()
            .unwrap_or_else(|| rec.id[..12].to_string());
        let etc = berth_runtime::rootfs::write_etc_files(&dir, &hostname, None, &[])
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        let mut security = Security {
            privileged: hc.privileged.unwrap_or(false),
            cap_add: hc.cap_add.clone().unwrap_or_default(),
            cap_drop: hc.cap_drop.clone().unwrap_or_default(),
            read_only_rootfs: hc.readonly_rootfs.unwrap_or(false),
            ..Default::default()
        };
        for opt in hc.security_opt.clone().unwrap_or_default() {
            let (k, v) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), "true"));
            match (k, v) {
                ("no-new-privileges", v) => security.no_new_privileges = v != "false",
                ("seccomp", "unconfined") => security.seccomp = SeccompMode::Unconfined,
                ("seccomp", _) => {}
                ("label", _) | ("apparmor", _) => {}
                _ => {
                    return Err(EngineError::BadRequest(format!(
                        "Invalid --security-opt: {opt:?}"
                    )))
                }
            }
        }
        let mut mounts = Vec::new();
        for (dest, opts) in hc.tmpfs.clone().unwrap_or_default() {
            let options: Vec<String> = opts
                .split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            let read_only = options.iter().any(|o| o == "ro");
            mounts.push(MountSpec::Tmpfs {
                destination: dest,
                options: options
                    .into_iter()
                    .filter(|o| o != "ro" && o != "rw")
                    .collect(),
                read_only,
            });
        }
        for b in hc.binds.clone().unwrap_or_default() {
            let parts: Vec<&str> = b.split(':').collect();
            if parts.len() >= 2 && parts[0].starts_with('/') {
                mounts.push(MountSpec::Bind {
                    source: PathBuf::from(parts[0]),
                    destination: parts[1].to_string(),
                    read_only: parts
                        .get(2)
                        .is_some_and(|o| o.split(',').any(|x| x == "ro")),
                });
            }
        }
        let network = match hc.network_mode.as_deref() {
            Some("host") => berth_runtime::config::NetworkMode::Host,
            _ => berth_runtime::config::NetworkMode::New,
        };
        let mut args = vec![rec.path.clone()];
        args.extend(rec.args.iter().cloned());
        Ok(ContainerSpec {
            id: rec.id.clone(),
            rootfs: RootfsSpec::Overlay {
                lower: rec.lower.clone(),
                upper: dir.join("upper"),
                work: dir.join("work"),
            },
            args,
            env: rec.config.env.clone().unwrap_or_default(),
            cwd: rec
                .config
                .working_dir
                .clone()
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "/".into()),
            user_name: rec.config.user.clone().unwrap_or_default(),
            group_add: hc.group_add.clone().unwrap_or_default(),
            tty: rec.config.tty.unwrap_or(false),
            open_stdin: rec.config.open_stdin.unwrap_or(false),
            hostname,
            etc_files: Some(etc),
            mounts,
            resources: Resources {
                memory_bytes: hc.memory.unwrap_or(0),
                nano_cpus: hc.nano_cpus.unwrap_or(0),
                cpu_shares: hc.cpu_shares.unwrap_or(0).max(0) as u64,
                pids_limit: hc.pids_limit.unwrap_or(0),
            },
            security,
            network,
            init: hc
                .init
                .unwrap_or(false)
                .then(|| PathBuf::from("/usr/bin/tini-static"))
                .filter(|p| p.exists()),
            ..Default::default()
        })
    }

    /// Spawns the shim for a container that has none (created, or exited and restarted).
    async fn spawn_shim(self: &Arc<Self>, ctr: &Arc<Ctr>, start: bool) -> Result<ShimClient> {
        let rec = ctr.snapshot();
        let spec = self.runtime_spec(&rec)?;
        let dir = self.ctr_dir(&rec.id);
        let bundle = dir.join("bundle");
        let _ = std::fs::remove_dir_all(self.state_dir(&rec.id));
        let console = rec
            .host_config
            .console_size
            .as_ref()
            .and_then(|v| (v.len() == 2 && v[0] > 0).then(|| (v[0] as u16, v[1] as u16)));
        berth_runtime::bundle::write_bundle(
            &bundle,
            &spec,
            Some(&self.log_path(&rec.id)),
            console,
            &berth_runtime::spec::HostInfo::detect(),
        )
        .map_err(|e| EngineError::BadRequest(e.to_string()))?;
        let opts = SpawnOptions {
            berth_exe: self.config.berth_exe.clone(),
            id: rec.id.clone(),
            bundle,
            state_dir: self.state_dir(&rec.id),
            runtime_root: self.runtime_root(),
            start,
        };
        match ShimClient::spawn(&opts).await {
            Ok((shim, pid)) => {
                let mut r = ctr.rec.lock().unwrap_or_else(|p| p.into_inner());
                r.state.shim = true;
                r.state.pid = pid as i64;
                if start {
                    r.state.status = "running".into();
                    r.state.started_at = now();
                    r.state.finished_at = ZERO_TIME.into();
                    r.state.exit_code = 0;
                    r.state.error.clear();
                }
                let snapshot = r.clone();
                drop(r);
                self.persist(&snapshot)?;
                Ok(shim)
            }
            Err(berth_runtime::RuntimeError::Shim { exit_code, message }) => {
                let mut r = ctr.rec.lock().unwrap_or_else(|p| p.into_inner());
                r.state.status = if start {
                    "exited".into()
                } else {
                    "created".into()
                };
                r.state.exit_code = exit_code as i64;
                if start {
                    r.state.finished_at = now();
                }
                r.state.error = message.clone();
                let snapshot = r.clone();
                drop(r);
                self.persist(&snapshot)?;
                Err(EngineError::StartFailed { exit_code, message })
            }
            Err(e) => Err(EngineError::Internal(e.to_string())),
        }
    }

    fn shim_of(&self, id: &str) -> ShimClient {
        ShimClient::connect(id, &self.state_dir(id))
    }

    /// `POST /containers/{id}/start`.
    pub async fn container_start(self: &Arc<Self>, name: &str) -> Result<bool> {
        let ctr = self.container(name)?;
        ctr.rec
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .state
            .manually_stopped = false;
        let rec = ctr.snapshot();
        match rec.state.status.as_str() {
            "running" | "paused" => return Ok(false),
            "created" if rec.state.shim => {
                let shim = self.shim_of(&rec.id);
                let pid = match shim.start().await {
                    Ok(pid) => pid,
                    Err(e) => {
                        let err = match e {
                            berth_runtime::RuntimeError::Shim { exit_code, message } => {
                                EngineError::StartFailed { exit_code, message }
                            }
                            other => EngineError::Internal(other.to_string()),
                        };
                        if rec.host_config.auto_remove.unwrap_or(false) {
                            let _ = self.container_remove(&rec.id, true, true).await;
                        }
                        return Err(err);
                    }
                };
                let snapshot = {
                    let mut r = ctr.rec.lock().unwrap_or_else(|p| p.into_inner());
                    r.state.status = "running".into();
                    r.state.pid = pid as i64;
                    r.state.started_at = now();
                    r.clone()
                };
                self.persist(&snapshot)?;
            }
            _ => {
                if let Err(e) = self.spawn_shim(&ctr, true).await {
                    // Like Docker: a container that cannot start is removed at once
                    // when it was created with --rm (the CLI waits for "removed").
                    if rec.host_config.auto_remove.unwrap_or(false) {
                        let _ = self.container_remove(&rec.id, true, true).await;
                    } else {
                        ctr.changed.send_modify(|_| {});
                    }
                    return Err(e);
                }
            }
        }
        ctr.changed.send_modify(|_| {});
        self.spawn_monitor(ctr);
        Ok(true)
    }

    /// Attaches to a container's stdio, spawning its shim (not started) when needed so the
    /// attach is in place before `start`, as the docker CLI expects.
    pub async fn container_attach(
        self: &Arc<Self>,
        name: &str,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> Result<(Option<berth_runtime::StdioStream>, bool)> {
        let ctr = self.container(name)?;
        let rec = ctr.snapshot();
        let tty = rec.config.tty.unwrap_or(false);
        if rec.state.status == "created" && !rec.state.shim {
            match self.spawn_shim(&ctr, false).await {
                Ok(_) => {}
                // The process cannot be created: the attach ends at once and `start`
                // reports the error (with Docker's 126/127 wording).
                Err(EngineError::StartFailed { .. }) => return Ok((None, tty)),
                Err(e) => return Err(e),
            }
        } else if rec.state.status != "running"
            && rec.state.status != "created"
            && rec.state.status != "paused"
        {
            return Err(EngineError::Conflict(
                "You cannot attach to a stopped container, start it first".into(),
            ));
        }
        let s = self
            .shim_of(&rec.id)
            .attach(
                stdin && rec.config.open_stdin.unwrap_or(false),
                stdout,
                stderr,
            )
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        Ok((Some(s), tty))
    }

    fn spawn_monitor(self: &Arc<Self>, ctr: Arc<Ctr>) {
        let engine = self.clone();
        tokio::spawn(async move {
            let id = ctr.snapshot().id;
            let shim = engine.shim_of(&id);
            let exit = match shim.wait().await {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(container = %id, "wait failed: {e}");
                    return;
                }
            };
            let (snapshot, auto_remove) = {
                let mut r = ctr.rec.lock().unwrap_or_else(|p| p.into_inner());
                if r.state.status != "running" && r.state.status != "paused" {
                    return;
                }
                apply_exit(&mut r, &exit);
                (r.clone(), r.host_config.auto_remove.unwrap_or(false))
            };
            if let Err(e) = engine.persist(&snapshot) {
                tracing::error!(container = %id, "persist: {e}");
            }
            let gen = snapshot.state.exits;
            ctr.changed.send_replace(gen);
            if engine.should_restart(&snapshot) {
                engine.restart_later(ctr.clone(), snapshot.restart_count);
                return;
            }
            if auto_remove {
                if let Err(e) = engine.container_remove(&id, true, true).await {
                    tracing::warn!(container = %id, "auto-remove: {e}");
                }
            }
        });
    }

    /// Whether the restart policy brings this (just exited) container back.
    fn should_restart(&self, r: &ContainerRecord) -> bool {
        if r.state.manually_stopped {
            return false;
        }
        let Some(p) = r.host_config.restart_policy.as_ref() else {
            return false;
        };
        use bollard_stubs::models::RestartPolicyNameEnum as P;
        match p.name {
            Some(P::ALWAYS) | Some(P::UNLESS_STOPPED) => true,
            Some(P::ON_FAILURE) => {
                r.state.exit_code != 0
                    && p.maximum_retry_count
                        .map(|max| max <= 0 || r.restart_count < max)
                        .unwrap_or(true)
            }
            _ => false,
        }
    }

    /// Restarts a container after Docker's back-off (100 ms doubling, capped at 1 min).
    fn restart_later(self: &Arc<Self>, ctr: Arc<Ctr>, count: i64) {
        let engine = self.clone();
        tokio::spawn(async move {
            let delay = 100u64.saturating_mul(1 << count.clamp(0, 10)).min(60_000);
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
            let rec = ctr.snapshot();
            if rec.state.manually_stopped || rec.state.status != "exited" {
                return;
            }
            if !engine
                .containers
                .by_id
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(&rec.id)
            {
                return;
            }
            ctr.rec
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .restart_count += 1;
            if let Err(e) = engine.spawn_shim(&ctr, true).await {
                tracing::warn!(container = %rec.id, "restart failed: {e}");
                return;
            }
            ctr.changed.send_modify(|_| {});
            engine.spawn_monitor(ctr);
        });
    }

    /// `POST /containers/{id}/wait`: resolves when the condition is met.
    pub async fn container_wait(
        self: &Arc<Self>,
        name: &str,
        condition: &str,
    ) -> Result<ContainerWaitResponse> {
        let ctr = match self.container(name) {
            Ok(c) => c,
            Err(EngineError::NotFound(m)) => {
                let gone = self
                    .containers
                    .removed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                let hit = gone
                    .iter()
                    .find(|(id, _)| id.starts_with(name))
                    .map(|(_, (c, _))| *c);
                return match hit {
                    Some(code) if name.len() >= 12 => Ok(ContainerWaitResponse {
                        status_code: code,
                        error: None,
                    }),
                    _ => Err(EngineError::NotFound(m)),
                };
            }
            Err(e) => return Err(e),
        };
        let mut rx = ctr.changed.subscribe();
        let start_gen = ctr.snapshot().state.exits;
        loop {
            let rec = ctr.snapshot();
            let removed = *rx.borrow() == u64::MAX;
            let done = match condition {
                "removed" => removed,
                "next-exit" => rec.state.exits > start_gen || removed,
                _ => !matches!(rec.state.status.as_str(), "running" | "paused") || removed,
            };
            if done {
                return Ok(ContainerWaitResponse {
                    status_code: rec.state.exit_code,
                    error: None,
                });
            }
            if rx.changed().await.is_err() {
                let rec = ctr.snapshot();
                return Ok(ContainerWaitResponse {
                    status_code: rec.state.exit_code,
                    error: None,
                });
            }
        }
    }

    /// `POST /containers/{id}/kill`.
    pub async fn container_kill(self: &Arc<Self>, name: &str, signal: Option<&str>) -> Result<()> {
        let ctr = self.container(name)?;
        let rec = ctr.snapshot();
        if rec.state.status != "running" && rec.state.status != "paused" {
            return Err(EngineError::Conflict(format!(
                "Cannot kill container: {}: Container {} is not running",
                name, rec.id
            )));
        }
        let sig = parse_signal(signal.unwrap_or("KILL"))?;
        ctr.rec
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .state
            .manually_stopped = true;
        self.shim_of(&rec.id)
            .kill(sig)
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))
    }

    /// `POST /containers/{id}/stop`: stop signal, then SIGKILL after the timeout.
    pub async fn container_stop(
        self: &Arc<Self>,
        name: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<bool> {
        let ctr = self.container(name)?;
        let rec = ctr.snapshot();
        if rec.state.status != "running" && rec.state.status != "paused" {
            return Ok(false);
        }
        let sig = parse_signal(
            signal
                .or(rec.config.stop_signal.as_deref())
                .unwrap_or("SIGTERM"),
        )?;
        ctr.rec
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .state
            .manually_stopped = true;
        let t = timeout.or(rec.config.stop_timeout).unwrap_or(10);
        let shim = self.shim_of(&rec.id);
        let mut rx = ctr.changed.subscribe();
        if rec.state.status == "paused" {
            let _ = shim.resume().await;
        }
        let _ = shim.kill(sig).await;
        let exited = async {
            loop {
                if !matches!(ctr.snapshot().state.status.as_str(), "running" | "paused") {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        };
        let wait = if t < 0 {
            None
        } else {
            Some(std::time::Duration::from_secs(t as u64))
        };
        let timed_out = match wait {
            Some(d) => tokio::time::timeout(d, exited).await.is_err(),
            None => {
                exited.await;
                false
            }
        };
        if timed_out {
            let _ = shim.kill(libc::SIGKILL).await;
            let mut rx = ctr.changed.subscribe();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), async {
                while matches!(ctr.snapshot().state.status.as_str(), "running" | "paused") {
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
            })
            .await;
        }
        Ok(true)
    }

    /// `DELETE /containers/{id}`.
    pub async fn container_remove(
        self: &Arc<Self>,
        name: &str,
        force: bool,
        _volumes: bool,
    ) -> Result<()> {
        let ctr = self.container(name)?;
        let rec = ctr.snapshot();
        if matches!(rec.state.status.as_str(), "running" | "paused") {
            if !force {
                return Err(EngineError::Conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    rec.name
                )));
            }
            let _ = self.shim_of(&rec.id).kill(libc::SIGKILL).await;
            let mut rx = ctr.changed.subscribe();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), async {
                while matches!(ctr.snapshot().state.status.as_str(), "running" | "paused") {
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
            })
            .await;
        } else if rec.state.shim && rec.state.status == "created" {
            // A created-but-never-started container still has a shim holding it.
            let shim = self.shim_of(&rec.id);
            let _ = shim.kill(libc::SIGKILL).await;
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), shim.wait()).await;
        }
        self.containers
            .by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&rec.id);
        {
            let mut gone = self
                .containers
                .removed
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            gone.retain(|_, (_, at)| at.elapsed() < std::time::Duration::from_secs(300));
            let code = ctr.snapshot().state.exit_code;
            gone.insert(rec.id.clone(), (code, std::time::Instant::now()));
        }
        self.store.delete_container(&rec.id)?;
        let _ = std::fs::remove_dir_all(self.ctr_dir(&rec.id));
        let _ = std::fs::remove_dir_all(self.state_dir(&rec.id));
        ctr.changed.send_replace(u64::MAX);
        Ok(())
    }

    /// `GET /containers/json`.
    pub fn container_list(
        &self,
        all: bool,
        limit: Option<usize>,
        filters: &Filters,
    ) -> Result<Vec<ContainerSummary>> {
        filters.only(&[
            "status", "name", "id", "label", "ancestor", "exited", "before", "since",
        ])?;
        let mut recs: Vec<ContainerRecord> = self
            .containers
            .by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|c| c.snapshot())
            .collect();
        recs.sort_by(|a, b| b.created.cmp(&a.created));
        let mut out = Vec::new();
        for r in recs {
            let running = matches!(r.state.status.as_str(), "running" | "paused");
            if !all && !running && !filters.contains("status") && !filters.contains("exited") {
                continue;
            }
            if filters.contains("status") && !filters.get("status").contains(&r.state.status) {
                continue;
            }
            if filters.contains("name")
                && !filters
                    .get("name")
                    .iter()
                    .any(|n| r.name.contains(n.trim_start_matches('/')))
            {
                continue;
            }
            if filters.contains("id")
                && !filters
                    .get("id")
                    .iter()
                    .any(|i| r.id.starts_with(i.as_str()))
            {
                continue;
            }
            if filters.contains("exited")
                && (r.state.status != "exited"
                    || !filters
                        .get("exited")
                        .iter()
                        .any(|e| e.parse::<i64>().ok() == Some(r.state.exit_code)))
            {
                continue;
            }
            let labels: std::collections::BTreeMap<String, String> = r
                .config
                .labels
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect();
            if !filters.labels_match(&labels) {
                continue;
            }
            if filters.contains("ancestor") {
                let ok = filters.get("ancestor").iter().any(|a| {
                    a == &r.image_ref
                        || self
                            .store
                            .resolve(a)
                            .map(|i| i.id.to_string() == r.image)
                            .unwrap_or(false)
                });
                if !ok {
                    continue;
                }
            }
            out.push(summary(&r));
            if limit.is_some_and(|l| out.len() >= l) {
                break;
            }
        }
        Ok(out)
    }

    /// `GET /containers/{id}/json`.
    pub fn container_inspect(&self, name: &str) -> Result<ContainerInspectResponse> {
        let r = self.container(name)?.snapshot();
        let dir = self.ctr_dir(&r.id);
        let mut gd = HashMap::new();
        gd.insert(
            "LowerDir".to_string(),
            r.lower
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(":"),
        );
        gd.insert(
            "UpperDir".to_string(),
            dir.join("upper").display().to_string(),
        );
        gd.insert(
            "WorkDir".to_string(),
            dir.join("work").display().to_string(),
        );
        gd.insert(
            "MergedDir".to_string(),
            dir.join("bundle/rootfs").display().to_string(),
        );
        let sandbox = {
            use sha2_free::hash_hex;
            hash_hex(&r.id)
        };
        Ok(ContainerInspectResponse {
            id: Some(r.id.clone()),
            created: Some(r.created.clone()),
            path: Some(r.path.clone()),
            args: Some(r.args.clone()),
            state: Some(state(&r)),
            image: Some(r.image.clone()),
            resolv_conf_path: Some(dir.join("resolv.conf").display().to_string()),
            hostname_path: Some(dir.join("hostname").display().to_string()),
            hosts_path: Some(dir.join("hosts").display().to_string()),
            log_path: Some(self.log_path(&r.id).display().to_string()),
            name: Some(format!("/{}", r.name)),
            restart_count: Some(r.restart_count),
            driver: Some("overlay2".into()),
            platform: Some("linux".into()),
            host_config: Some(r.host_config.clone()),
            graph_driver: Some(DriverData {
                name: "overlay2".into(),
                data: gd,
            }),
            mounts: Some(Vec::new()),
            config: Some(r.config.clone()),
            network_settings: Some(bollard_stubs::models::NetworkSettings {
                sandbox_id: Some(sandbox),
                sandbox_key: Some(format!("/var/run/docker/netns/{}", &r.id[..12])),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    /// Path of the json-file log and whether the container has a tty.
    pub fn container_log_info(&self, name: &str) -> Result<(PathBuf, bool, Arc<Ctr>)> {
        let ctr = self.container(name)?;
        let r = ctr.snapshot();
        Ok((self.log_path(&r.id), r.config.tty.unwrap_or(false), ctr))
    }

    /// `POST /containers/{id}/exec`.
    pub fn exec_create(
        &self,
        name: &str,
        cfg: bollard_stubs::models::ExecConfig,
    ) -> Result<String> {
        let ctr = self.container(name)?;
        let r = ctr.snapshot();
        if r.state.status != "running" {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                r.id
            )));
        }
        let cmd = cfg.cmd.clone().unwrap_or_default();
        if cmd.is_empty() {
            return Err(EngineError::BadRequest("No exec command specified".into()));
        }
        let id = random_id();
        let console_size = cfg
            .console_size
            .as_ref()
            .and_then(|v| (v.len() == 2 && v[0] > 0).then(|| (v[0] as u16, v[1] as u16)));
        let opts = ExecOptions {
            args: cmd,
            env: cfg.env.clone().unwrap_or_default(),
            cwd: cfg.working_dir.clone().unwrap_or_default(),
            user: cfg.user.clone().unwrap_or_default(),
            tty: cfg.tty.unwrap_or(false),
            stdin: cfg.attach_stdin.unwrap_or(false),
            console_size,
            ..Default::default()
        };
        self.containers
            .execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                id.clone(),
                ExecInstance {
                    id: id.clone(),
                    container: r.id,
                    opts,
                    attach_stdin: cfg.attach_stdin.unwrap_or(false),
                    running: false,
                    exit_code: None,
                    pid: 0,
                },
            );
        Ok(id)
    }

    pub fn exec_get(&self, id: &str) -> Result<ExecInstance> {
        self.containers
            .execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("No such exec instance: {id}")))
    }

    pub fn exec_update(&self, id: &str, f: impl FnOnce(&mut ExecInstance)) {
        if let Some(e) = self
            .containers
            .execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(id)
        {
            f(e);
        }
    }

    /// Starts an exec; returns the stream unless detached.
    pub async fn exec_start(
        self: &Arc<Self>,
        id: &str,
        detach: bool,
        tty: Option<bool>,
    ) -> Result<Option<berth_runtime::StdioStream>> {
        let mut inst = self.exec_get(id)?;
        if let Some(t) = tty {
            inst.opts.tty = t;
        }
        inst.opts.detach = detach;
        let shim = self.shim_of(&inst.container);
        let (pid, stream) = shim.exec(&inst.opts).await.map_err(|e| match e {
            berth_runtime::RuntimeError::Shim { exit_code, message } => {
                EngineError::StartFailed { exit_code, message }
            }
            other => EngineError::Internal(other.to_string()),
        })?;
        self.exec_update(id, |e| {
            e.running = true;
            e.pid = pid as i64;
        });
        Ok(stream)
    }

    /// Resizes a container's (or an exec's) pty.
    pub async fn container_resize(
        &self,
        name: &str,
        h: u16,
        w: u16,
        exec_pid: Option<i32>,
    ) -> Result<()> {
        let r = self.container(name)?.snapshot();
        self.shim_of(&r.id)
            .resize(h, w, exec_pid)
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))
    }

    pub async fn container_pause(&self, name: &str, pause: bool) -> Result<()> {
        let ctr = self.container(name)?;
        let r = ctr.snapshot();
        if r.state.status != if pause { "running" } else { "paused" } {
            return Err(EngineError::Conflict(format!(
                "Container {} is not {}",
                r.id,
                if pause { "running" } else { "paused" }
            )));
        }
        let shim = self.shim_of(&r.id);
        if pause {
            shim.pause().await
        } else {
            shim.resume().await
        }
        .map_err(|e| EngineError::Internal(e.to_string()))?;
        let snap = {
            let mut rec = ctr.rec.lock().unwrap_or_else(|p| p.into_inner());
            rec.state.status = if pause { "paused" } else { "running" }.into();
            rec.clone()
        };
        self.persist(&snap)?;
        ctr.changed.send_modify(|_| {});
        Ok(())
    }
}

fn apply_exit(r: &mut ContainerRecord, exit: &berth_runtime::ExitRecord) {
    r.state.status = "exited".into();
    r.state.exit_code = exit.exit_code as i64;
    r.state.oom_killed = exit.oom_killed;
    r.state.pid = 0;
    r.state.shim = false;
    r.state.finished_at = if exit.finished_at.is_empty() {
        now()
    } else {
        exit.finished_at.clone()
    };
    if let Some(e) = &exit.error {
        r.state.error = e.clone();
    }
    r.state.exits += 1;
}

fn familiar(name: &str) -> String {
    Reference::parse_normalized(name)
        .map(|r| r.with_default_tag().familiar())
        .unwrap_or_else(|_| name.to_string())
}

fn state(r: &ContainerRecord) -> ContainerState {
    let status = match r.state.status.as_str() {
        "created" => ContainerStateStatusEnum::CREATED,
        "running" => ContainerStateStatusEnum::RUNNING,
        "paused" => ContainerStateStatusEnum::PAUSED,
        "exited" => ContainerStateStatusEnum::EXITED,
        "dead" => ContainerStateStatusEnum::DEAD,
        _ => ContainerStateStatusEnum::EMPTY,
    };
    ContainerState {
        status: Some(status),
        running: Some(matches!(r.state.status.as_str(), "running" | "paused")),
        paused: Some(r.state.status == "paused"),
        restarting: Some(false),
        oom_killed: Some(r.state.oom_killed),
        dead: Some(false),
        pid: Some(r.state.pid),
        exit_code: Some(r.state.exit_code),
        error: Some(r.state.error.clone()),
        started_at: Some(r.state.started_at.clone()),
        finished_at: Some(r.state.finished_at.clone()),
        health: None,
    }
}

fn summary(r: &ContainerRecord) -> ContainerSummary {
    let ago = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|t| (chrono::Utc::now().timestamp() - t.timestamp()).max(0))
            .unwrap_or(0)
    };
    let status = match r.state.status.as_str() {
        "running" => format!("Up {}", human(ago(&r.state.started_at))),
        "paused" => format!("Up {} (Paused)", human(ago(&r.state.started_at))),
        "exited" => format!(
            "Exited ({}) {} ago",
            r.state.exit_code,
            human(ago(&r.state.finished_at))
        ),
        _ => "Created".into(),
    };
    let state = match r.state.status.as_str() {
        "running" => ContainerSummaryStateEnum::RUNNING,
        "paused" => ContainerSummaryStateEnum::PAUSED,
        "exited" => ContainerSummaryStateEnum::EXITED,
        "created" => ContainerSummaryStateEnum::CREATED,
        _ => ContainerSummaryStateEnum::DEAD,
    };
    let mut command = std::iter::once(r.path.clone())
        .chain(r.args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    if command.is_empty() {
        command = String::new();
    }
    ContainerSummary {
        id: Some(r.id.clone()),
        names: Some(vec![format!("/{}", r.name)]),
        image: Some(familiar(&r.image_ref)),
        image_id: Some(r.image.clone()),
        command: Some(command),
        created: chrono::DateTime::parse_from_rfc3339(&r.created)
            .ok()
            .map(|t| t.timestamp()),
        ports: Some(Vec::new()),
        labels: Some(r.config.labels.clone().unwrap_or_default()),
        state: Some(state),
        status: Some(status),
        host_config: Some(bollard_stubs::models::ContainerSummaryHostConfig {
            network_mode: r.host_config.network_mode.clone(),
            ..Default::default()
        }),
        mounts: Some(Vec::new()),
        ..Default::default()
    }
}

fn human(secs: i64) -> String {
    let m = secs / 60;
    let h = m / 60;
    match () {
        _ if secs < 1 => "Less than a second".into(),
        _ if secs < 60 => format!("{secs} seconds"),
        _ if m == 1 => "About a minute".into(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".into(),
        _ if h < 48 => format!("{h} hours"),
        _ => format!("{} days", h / 24),
    }
}

/// A sandbox ID that is stable per container (there is no network sandbox object yet).
mod sha2_free {
    pub fn hash_hex(id: &str) -> String {
        berth_oci::Digest::sha256_of(format!("sandbox:{id}").as_bytes())
            .hex()
            .to_string()
    }
}

impl Engine {
    /// `GET /containers/{id}/changes`: what the container changed, from its writable
    /// layer (`upper/`) compared with the image's layers. Kind 0 = modified, 1 = added,
    /// 2 = deleted, as Docker reports them.
    pub fn container_changes(&self, name: &str) -> Result<Vec<(String, u8)>> {
        use std::os::unix::fs::FileTypeExt;
        let r = self.container(name)?.snapshot();
        let upper = self.ctr_dir(&r.id).join("upper");
        let in_lower = |rel: &std::path::Path| {
            r.lower
                .iter()
                .any(|l| std::fs::symlink_metadata(l.join(rel)).is_ok())
        };
        let mut out = Vec::new();
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(upper.join(&rel)) else {
                continue;
            };
            for e in rd.flatten() {
                let child = rel.join(e.file_name());
                let Ok(ft) = e.file_type() else { continue };
                let meta = e.metadata().ok();
                let whiteout = ft.is_char_device()
                    && meta.as_ref().map(|m| {
                        use std::os::unix::fs::MetadataExt;
                        m.rdev() == 0
                    }) == Some(true);
                let shown = format!("/{}", child.display());
                if whiteout {
                    out.push((shown, 2));
                    continue;
                }
                out.push((shown, if in_lower(&child) { 0 } else { 1 }));
                if ft.is_dir() {
                    stack.push(child);
                }
            }
        }
        out.sort();
        Ok(out)
    }
}
