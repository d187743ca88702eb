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

mod commit;
pub use commit::CommitOptions;
mod create;
mod diff;
mod exec;
mod fs;
mod health;
pub use fs::PathStat;
mod lifecycle;
mod manage;
pub(crate) use manage::dir_size;
mod observe;
mod query;
mod resources;
mod spec_extras;
mod update;
pub use update::{UpdatePolicy, UpdateRequest};

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
    /// Health-check state (containers with a health check, once started).
    #[serde(default)]
    pub health: Option<bollard_stubs::models::Health>,
    /// Resolved mount points (`-v`, `--mount`, `--volumes-from`, image `VOLUME`s).
    #[serde(default)]
    pub mounts: Vec<crate::volumes::MountRecord>,
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
    pub(crate) fn snapshot(&self) -> ContainerRecord {
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
    pub(crate) fn ctr_dir(&self, id: &str) -> PathBuf {
        self.data_root().join("containers").join(id)
    }
    /// The shim's state dir. Named by the first 16 hex digits of the ID: unix socket
    /// paths must stay under 108 bytes whatever the exec root is.
    pub(crate) fn state_dir(&self, id: &str) -> PathBuf {
        self.config
            .exec_root
            .join("containers")
            .join(&id[..id.len().min(16)])
    }
    pub(crate) fn runtime_root(&self) -> PathBuf {
        self.config.exec_root.join("runtime")
    }
    pub(crate) fn log_path(&self, id: &str) -> PathBuf {
        self.ctr_dir(id).join(format!("{id}-json.log"))
    }

    pub(crate) fn persist(&self, rec: &ContainerRecord) -> Result<()> {
        let bytes = serde_json::to_vec(rec).map_err(|e| EngineError::Internal(e.to_string()))?;
        self.store.put_container(&rec.id, &bytes)?;
        Ok(())
    }

    /// Commits a record without waiting for the disk (the next durable commit carries it).
    pub(crate) fn persist_volatile(&self, rec: &ContainerRecord) -> Result<()> {
        let bytes = serde_json::to_vec(rec).map_err(|e| EngineError::Internal(e.to_string()))?;
        self.store.put_container_volatile(&rec.id, &bytes)?;
        Ok(())
    }

    /// Once a container runs: the next spare shim and spare network namespaces are made
    /// now, off the start path they would slow down. For a `--rm` container they are made
    /// once it is removed instead (`container_remove`, `net_release`): a short-lived one
    /// would have its exit and removal compete with them for the CPU and the RTNL lock.
    pub(crate) fn after_start(self: &Arc<Self>, rec: &ContainerRecord) {
        if !rec.host_config.auto_remove.unwrap_or(false) {
            self.shims.refill();
            self.fill_spares();
        }
    }

    /// Records that a container's shim runs (spawned or started). A `--rm` container's
    /// record does not wait for the disk: it is removed soon anyway, and after an unclean
    /// stop `restore_containers` finds its live shim whatever the record says.
    pub(crate) fn persist_started(&self, rec: &ContainerRecord) -> Result<()> {
        if rec.host_config.auto_remove.unwrap_or(false) {
            self.persist_volatile(rec)
        } else {
            self.persist(rec)
        }
    }

    /// Publishes a container event with docker's attributes (image, name, labels, and
    /// `extra` such as `exitCode` or `signal`).
    pub(crate) fn ctr_event(&self, rec: &ContainerRecord, action: &str, extra: &[(&str, String)]) {
        let mut attrs: HashMap<String, String> = rec.config.labels.clone().unwrap_or_default();
        attrs.insert("image".into(), rec.image_ref.clone());
        attrs.insert("name".into(), rec.name.clone());
        for (k, v) in extra {
            attrs.insert((*k).to_string(), v.clone());
        }
        self.events.emit(
            bollard_stubs::models::EventMessageTypeEnum::CONTAINER,
            action,
            &rec.id,
            attrs,
        );
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

    /// Snapshots of the containers that are not running (nor paused, nor restarting)
    /// and that `keep` accepts: the candidates of prune and of the `--rm` sweep.
    pub(crate) fn stopped_records(
        &self,
        keep: impl Fn(&ContainerRecord) -> bool,
    ) -> Vec<ContainerRecord> {
        self.all_records()
            .into_iter()
            .filter(|r| {
                !matches!(r.state.status.as_str(), "running" | "paused" | "restarting") && keep(r)
            })
            .collect()
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
        health: r.health.clone(),
    }
}

fn summary(r: &ContainerRecord) -> ContainerSummary {
    let ago = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|t| (chrono::Utc::now().timestamp() - t.timestamp()).max(0))
            .unwrap_or(0)
    };
    let status = match r.state.status.as_str() {
        "running" => {
            let health = match r.health.as_ref().and_then(|h| h.status) {
                Some(bollard_stubs::models::HealthStatusEnum::STARTING) => " (health: starting)",
                Some(bollard_stubs::models::HealthStatusEnum::HEALTHY) => " (healthy)",
                Some(bollard_stubs::models::HealthStatusEnum::UNHEALTHY) => " (unhealthy)",
                _ => "",
            };
            format!("Up {}{health}", human(ago(&r.state.started_at)))
        }
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
        _ if secs == 1 => "1 second".into(),
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
