//! The plain description of a container that the daemon hands to the runtime.
//!
//! `ContainerSpec` holds only what Docker's `run` flags can express; [`crate::spec::build`]
//! turns it into an OCI runtime spec with Docker's default profile applied.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Everything the runtime needs to know to run one container.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ContainerSpec {
    /// Container ID (64 hex characters in Docker; any `[A-Za-z0-9_+.-]` here).
    pub id: String,
    /// Where the root filesystem comes from.
    pub rootfs: RootfsSpec,
    /// Command and arguments (entrypoint + cmd, already combined). Must not be empty.
    pub args: Vec<String>,
    /// `KEY=value` pairs. `PATH` and `HOSTNAME` are added when missing, `TERM` with a tty.
    pub env: Vec<String>,
    /// Working directory inside the container (absolute); `/` when empty.
    pub cwd: String,
    /// Numeric user to run as, used when `user_name` is empty.
    pub user: UserSpec,
    /// Docker's `-u` value (`name`, `uid`, `name:group`, `uid:gid`); resolved by the shim
    /// against the container's own `/etc/passwd` and `/etc/group` once the rootfs is mounted.
    pub user_name: String,
    /// `--group-add` (names or numbers), resolved the same way.
    pub group_add: Vec<String>,
    /// Allocate a pseudo-terminal (`-t`).
    pub tty: bool,
    /// Keep stdin open (`-i`).
    pub open_stdin: bool,
    /// Hostname; defaults to the first 12 characters of the ID.
    pub hostname: String,
    /// `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` files to bind-mount into the container.
    pub etc_files: Option<EtcFiles>,
    /// Extra mounts (`-v`, `--mount`, `--tmpfs`).
    pub mounts: Vec<MountSpec>,
    /// cgroup limits.
    pub resources: Resources,
    /// Security settings.
    pub security: Security,
    /// Network namespace.
    pub network: NetworkMode,
    /// PID, IPC and UTS namespaces (`--pid`, `--ipc`, `--uts`).
    pub namespaces: Namespaces,
    /// `--ulimit`: process rlimits; `nofile` replaces the default.
    pub rlimits: Vec<Rlimit>,
    /// `--device` (and every host device with `--privileged`): nodes made in `/dev`
    /// and allowed in the device cgroup.
    pub devices: Vec<Device>,
    /// `--shm-size` in bytes for the private `/dev/shm` (Docker's 64 MiB when 0).
    pub shm_size: u64,
    /// `--init`: a static init binary on the host (Docker's `docker-init`, i.e.
    /// `/usr/bin/tini-static`), bind-mounted read-only at `/sbin/docker-init` and run as PID 1
    /// in front of `args`; it reaps zombies and forwards signals.
    pub init: Option<PathBuf>,
}

/// Root filesystem: an overlay of image layers plus the container's writable layer, or a
/// ready directory.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum RootfsSpec {
    /// Overlay: `lower` is ordered top-most layer first (overlayfs `lowerdir` order).
    Overlay {
        /// Read-only image layers, top-most first.
        lower: Vec<PathBuf>,
        /// The container's writable layer (`containers/<id>/upper`).
        upper: PathBuf,
        /// overlayfs work dir on the same filesystem as `upper`.
        work: PathBuf,
    },
    /// A directory that already holds the root filesystem (used as is).
    Path(PathBuf),
}

impl Default for RootfsSpec {
    fn default() -> Self {
        RootfsSpec::Path(PathBuf::new())
    }
}

/// The numeric identity of the container process.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct UserSpec {
    /// User ID.
    pub uid: u32,
    /// Primary group ID.
    pub gid: u32,
    /// Supplementary group IDs.
    pub additional_gids: Vec<u32>,
}

/// Host files bind-mounted over the container's `/etc` files.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct EtcFiles {
    /// Mounted on `/etc/hostname`.
    pub hostname: PathBuf,
    /// Mounted on `/etc/hosts`.
    pub hosts: PathBuf,
    /// Mounted on `/etc/resolv.conf`.
    pub resolv_conf: PathBuf,
}

/// An extra mount.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum MountSpec {
    /// Bind mount of a host path (volumes are bind mounts of `volumes/<name>/_data`).
    Bind {
        /// Host path.
        source: PathBuf,
        /// Path inside the container.
        destination: String,
        /// Mount read-only.
        #[serde(default)]
        read_only: bool,
    },
    /// A tmpfs (`--tmpfs /run:size=64m`).
    Tmpfs {
        /// Path inside the container.
        destination: String,
        /// Extra mount options such as `size=64m` or `mode=1777`.
        #[serde(default)]
        options: Vec<String>,
        /// Mount read-only.
        #[serde(default)]
        read_only: bool,
    },
}

/// cgroup resource limits; zero (or an empty string) means "not set" as in Docker.
///
/// In a container's spec a field not set is no limit. Given to
/// [`crate::cgroups::update`], a field not set leaves the live value as it is, and `-1`
/// lifts a limit (memory, swap, reservation, CPU quota, pids).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Resources {
    /// `--memory` in bytes.
    pub memory_bytes: i64,
    /// `--memory-swap`: memory plus swap, bytes (`-1`: unlimited swap).
    pub memory_swap: i64,
    /// `--memory-reservation` (soft limit), bytes.
    pub memory_reservation: i64,
    /// `--cpus` × 10⁹ (a CFS quota over a 100 ms period; wins over the two below).
    pub nano_cpus: i64,
    /// `--cpu-period`, µs.
    pub cpu_period: i64,
    /// `--cpu-quota`, µs per period (`-1`: none).
    pub cpu_quota: i64,
    /// `--cpu-shares`.
    pub cpu_shares: u64,
    /// `--cpuset-cpus` (`0-3`, `0,1`).
    pub cpuset_cpus: String,
    /// `--cpuset-mems`.
    pub cpuset_mems: String,
    /// `--pids-limit` (in a spec, 0 or negative: unlimited).
    pub pids_limit: i64,
    /// `--blkio-weight` (10 to 1000).
    pub blkio_weight: u16,
}

impl Resources {
    /// The CFS `(quota, period)` in µs these resources ask for, if any: `--cpus` over
    /// Docker's 100 ms period, else `--cpu-quota`/`--cpu-period` (0 when not set).
    pub fn cfs_quota_period(&self) -> Option<(i64, i64)> {
        if self.nano_cpus > 0 {
            let period = crate::spec::CPU_PERIOD as i64;
            let quota = (self.nano_cpus as i128 * period as i128 / 1_000_000_000) as i64;
            // The kernel refuses a quota under 1 ms.
            return Some((quota.max(1000), period));
        }
        (self.cpu_quota != 0 || self.cpu_period != 0).then_some((self.cpu_quota, self.cpu_period))
    }
}

/// Whether a container gets its own namespace of a kind, shares the host's, or joins
/// another process's.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NsMode {
    /// A new namespace (Docker's default).
    #[default]
    Private,
    /// The host's (`--pid host`).
    Host,
    /// Another container's (`--pid container:x`): its `/proc/<pid>/ns/<kind>` path.
    Join(PathBuf),
}

/// The PID, IPC and UTS namespace modes.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Namespaces {
    pub pid: NsMode,
    pub ipc: NsMode,
    pub uts: NsMode,
}

/// One `--ulimit` (`nofile=1024:2048`): the OCI `RLIMIT_*` name and its limits.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rlimit {
    /// `RLIMIT_NOFILE`, `RLIMIT_NPROC`, ...
    pub kind: String,
    pub soft: u64,
    pub hard: u64,
}

/// A device node given to the container.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Device {
    /// Path inside the container (`/dev/xnull`).
    pub path: String,
    /// `c` (character) or `b` (block).
    pub kind: char,
    pub major: i64,
    pub minor: i64,
    /// Permission bits of the node.
    pub file_mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Device cgroup access (`rwm` or a subset).
    pub access: String,
}

/// Which seccomp profile to apply.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SeccompMode {
    /// Docker's default profile.
    #[default]
    Default,
    /// `--security-opt seccomp=unconfined`.
    Unconfined,
}

/// Security options.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Security {
    /// `--privileged`: all capabilities and devices, no seccomp, no masked paths.
    pub privileged: bool,
    /// `--cap-add` (with or without the `CAP_` prefix; `ALL` allowed).
    pub cap_add: Vec<String>,
    /// `--cap-drop` (with or without the `CAP_` prefix; `ALL` allowed).
    pub cap_drop: Vec<String>,
    /// `--security-opt no-new-privileges`.
    pub no_new_privileges: bool,
    /// Seccomp profile.
    pub seccomp: SeccompMode,
    /// `--read-only`.
    pub read_only_rootfs: bool,
}

/// Network namespace of the container.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    /// A fresh namespace with only `lo` (up).
    #[default]
    New,
    /// Join an existing namespace (e.g. `/run/berth/netns/<id>` made by berth-net).
    Join(PathBuf),
    /// Share the host's namespace (`--network host`).
    Host,
}
