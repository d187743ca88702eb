//! The `run`/`create` flags that choose namespaces, process limits and the finer
//! cgroup settings: `--pid`, `--ipc`, `--uts`, `--ulimit`, `--device`, `--shm-size`,
//! `--memory-swap`, `--memory-reservation`, `--cpu-period`, `--cpu-quota`,
//! `--cpuset-cpus`, `--cpuset-mems`, `--blkio-weight`, parsed as the docker CLI parses
//! them (`opts.ParseUlimit`, `parseDevice`, `units.RAMInBytes`).

use anyhow::{anyhow, bail, Result};
use bollard::models::{ContainerCreateBody, DeviceMapping, ResourcesUlimits};

#[derive(clap::Args, Debug, Default)]
pub struct HostFlags {
    /// PID namespace to use (host, container:<name|id>).
    #[arg(long)]
    pub pid: Option<String>,
    /// IPC mode to use (private, shareable, host, container:<name|id>).
    #[arg(long)]
    pub ipc: Option<String>,
    /// UTS namespace to use (host).
    #[arg(long)]
    pub uts: Option<String>,
    /// Ulimit options (name=soft[:hard], e.g. nofile=1024:2048).
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Add a host device to the container (host[:container][:permissions]).
    #[arg(long)]
    pub device: Vec<String>,
    /// Size of /dev/shm (e.g. 64m).
    #[arg(long)]
    pub shm_size: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap.
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit.
    #[arg(long)]
    pub memory_reservation: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period.
    #[arg(long)]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota.
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1).
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable.
    #[arg(long)]
    pub blkio_weight: Option<u16>,
}

/// `name=soft[:hard]` (hard defaults to soft; -1 is unlimited).
pub fn parse_ulimit(v: &str) -> Result<ResourcesUlimits> {
    let bad = || anyhow!("invalid ulimit argument: {v}");
    let (name, limits) = v.split_once('=').ok_or_else(bad)?;
    let (soft, hard) = match limits.split_once(':') {
        Some((s, h)) => (s, h),
        None => (limits, limits),
    };
    let soft: i64 = soft.parse().map_err(|_| bad())?;
    let hard: i64 = hard.parse().map_err(|_| bad())?;
    if soft > hard && hard != -1 {
        bail!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}");
    }
    Ok(ResourcesUlimits {
        name: Some(name.to_string()),
        soft: Some(soft),
        hard: Some(hard),
    })
}

/// `host[:container][:permissions]`; a second part made only of `rwm` is permissions.
pub fn parse_device(v: &str) -> Result<DeviceMapping> {
    let perms_ok = |p: &str| !p.is_empty() && p.chars().all(|c| "rwm".contains(c));
    let parts: Vec<&str> = v.split(':').collect();
    let (host, inside, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, p] if perms_ok(p) => (*h, *h, *p),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] if perms_ok(p) => (*h, *c, *p),
        [_, _, p] => bail!("invalid device mode: {p}"),
        _ => bail!("invalid device specification: {v}"),
    };
    if !inside.starts_with('/') {
        bail!("{inside} is not an absolute path");
    }
    Ok(DeviceMapping {
        path_on_host: Some(host.to_string()),
        path_in_container: Some(inside.to_string()),
        cgroup_permissions: Some(perms.to_string()),
    })
}

impl HostFlags {
    pub fn apply(&self, body: &mut ContainerCreateBody) -> Result<()> {
        let hc = body.host_config.get_or_insert_with(Default::default);
        hc.pid_mode = self.pid.clone();
        hc.ipc_mode = self.ipc.clone();
        hc.uts_mode = self.uts.clone();
        if !self.ulimit.is_empty() {
            hc.ulimits = Some(
                self.ulimit
                    .iter()
                    .map(|u| parse_ulimit(u))
                    .collect::<Result<_>>()?,
            );
        }
        if !self.device.is_empty() {
            hc.devices = Some(
                self.device
                    .iter()
                    .map(|d| parse_device(d))
                    .collect::<Result<_>>()?,
            );
        }
        let size = |v: &Option<String>| v.as_deref().map(super::containers::parse_size).transpose();
        if let Some(s) = size(&self.shm_size)? {
            hc.shm_size = Some(s);
        }
        hc.memory_swap = match self.memory_swap.as_deref() {
            Some("-1") => Some(-1),
            _ => size(&self.memory_swap)?,
        };
        hc.memory_reservation = size(&self.memory_reservation)?;
        hc.cpu_period = self.cpu_period;
        hc.cpu_quota = self.cpu_quota;
        hc.cpuset_cpus = self.cpuset_cpus.clone();
        hc.cpuset_mems = self.cpuset_mems.clone();
        hc.blkio_weight = self.blkio_weight;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulimits_and_devices_parse_as_docker() {
        let u = parse_ulimit("nofile=100:200").unwrap();
        assert_eq!((u.soft, u.hard), (Some(100), Some(200)));
        let u = parse_ulimit("nproc=50").unwrap();
        assert_eq!((u.soft, u.hard), (Some(50), Some(50)));
        assert!(parse_ulimit("nofile=3:2").is_err());
        assert!(parse_ulimit("nofile").is_err());
        let d = parse_device("/dev/null").unwrap();
        assert_eq!(d.path_in_container.as_deref(), Some("/dev/null"));
        assert_eq!(d.cgroup_permissions.as_deref(), Some("rwm"));
        let d = parse_device("/dev/null:r").unwrap();
        assert_eq!(
            (
                d.path_in_container.as_deref(),
                d.cgroup_permissions.as_deref()
            ),
            (Some("/dev/null"), Some("r"))
        );
        let d = parse_device("/dev/null:/dev/x:rw").unwrap();
        assert_eq!(
            (
                d.path_in_container.as_deref(),
                d.cgroup_permissions.as_deref()
            ),
            (Some("/dev/x"), Some("rw"))
        );
        assert!(parse_device("/dev/null:/dev/x:q").is_err());
        assert!(parse_device("/dev/null:rel").is_err());
    }
}
