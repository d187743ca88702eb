//! The parts of a container's runtime spec that `HostConfig` sets besides mounts,
//! networking and cgroup limits: the PID/IPC/UTS namespace modes (`--pid`, `--ipc`,
//! `--uts`: private, `host`, or `container:<name>`), `--ulimit`s, `--device`s (every
//! host device with `--privileged`) and `--shm-size`. Checked as dockerd checks them,
//! with its messages.

use super::*;
use berth_runtime::config::{Device, Namespaces, NsMode, Rlimit};

/// What [`Engine::spec_extras`] adds to a `ContainerSpec`.
pub(crate) struct SpecExtras {
    pub namespaces: Namespaces,
    pub rlimits: Vec<Rlimit>,
    pub devices: Vec<Device>,
    pub shm_size: u64,
}

/// The rlimit names `--ulimit` takes (Go's `units.ParseUlimit`).
const ULIMITS: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

impl Engine {
    /// Namespaces, rlimits, devices and shm size for a runtime spec from `hc`.
    pub(crate) fn spec_extras(&self, hc: &HostConfig) -> Result<SpecExtras> {
        let namespaces = Namespaces {
            pid: self.ns_mode(hc.pid_mode.as_deref(), "pid", "PID")?,
            ipc: self.ns_mode(hc.ipc_mode.as_deref(), "ipc", "IPC")?,
            uts: match hc.uts_mode.as_deref().unwrap_or("") {
                "" => NsMode::Private,
                "host" => NsMode::Host,
                m => return Err(EngineError::BadRequest(format!("invalid UTS mode: {m}"))),
            },
        };
        let mut rlimits = Vec::new();
        for u in hc.ulimits.iter().flatten() {
            let name = u.name.clone().unwrap_or_default();
            if !ULIMITS.contains(&name.as_str()) {
                return Err(EngineError::BadRequest(format!(
                    "invalid ulimit type: {name}"
                )));
            }
            let (soft, hard) = (u.soft.unwrap_or(0), u.hard.unwrap_or(0));
            if soft > hard {
                return Err(EngineError::BadRequest(format!(
                    "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
                )));
            }
            rlimits.push(Rlimit {
                kind: format!("RLIMIT_{}", name.to_ascii_uppercase()),
                // -1 (unlimited) is RLIM_INFINITY.
                soft: u64::try_from(soft).unwrap_or(u64::MAX),
                hard: u64::try_from(hard).unwrap_or(u64::MAX),
            });
        }
        let mut devices = if hc.privileged.unwrap_or(false) {
            berth_runtime::spec::host::host_devices()
        } else {
            Vec::new()
        };
        for m in hc.devices.iter().flatten() {
            for d in device_mapping(m)? {
                devices.retain(|x| x.path != d.path);
                devices.push(d);
            }
        }
        let shm_size = match hc.shm_size.unwrap_or(0) {
            s if s < 0 => {
                return Err(EngineError::BadRequest(
                    "SHM size can not be less than 0".into(),
                ))
            }
            s => s as u64,
        };
        Ok(SpecExtras {
            namespaces,
            rlimits,
            devices,
            shm_size,
        })
    }

    /// `--pid`/`--ipc` mode → namespace: `host`, `container:<name>` (which must be
    /// running), or a private one.
    fn ns_mode(&self, mode: Option<&str>, kind: &str, label: &str) -> Result<NsMode> {
        match mode.unwrap_or("") {
            "" | "private" | "shareable" | "none" if kind == "ipc" => Ok(NsMode::Private),
            "" | "private" => Ok(NsMode::Private),
            "host" => Ok(NsMode::Host),
            m => match m.strip_prefix("container:") {
                Some(target) => {
                    let t = self.container(target)?.snapshot();
                    if t.state.pid <= 0 || !matches!(t.state.status.as_str(), "running" | "paused")
                    {
                        return Err(EngineError::Conflict(format!(
                            "cannot join {label} of a non running container: {}",
                            t.id
                        )));
                    }
                    Ok(NsMode::Join(PathBuf::from(format!(
                        "/proc/{}/ns/{kind}",
                        t.state.pid
                    ))))
                }
                None => Err(EngineError::BadRequest(format!(
                    "invalid {label} mode: {m}"
                ))),
            },
        }
    }
}

/// One `--device host[:container[:perms]]` → the device nodes it names (a directory
/// gives every device under it, mapped below the container path).
fn device_mapping(m: &bollard_stubs::models::DeviceMapping) -> Result<Vec<Device>> {
    let host = m.path_on_host.clone().unwrap_or_default();
    let inside = m
        .path_in_container
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| host.clone());
    let access = m
        .cgroup_permissions
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "rwm".into());
    if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
        return Err(EngineError::BadRequest(format!(
            "invalid device mode: {access}"
        )));
    }
    let gather = |e: std::io::Error| {
        // Go's wording ("no such file or directory"), without Rust's "(os error N)".
        let text = e.to_string();
        let text = text
            .split(" (os error")
            .next()
            .unwrap_or_default()
            .to_lowercase();
        EngineError::BadRequest(format!(
            "error gathering device information while adding custom device {host:?}: {text}"
        ))
    };
    let real = std::fs::canonicalize(&host).map_err(gather)?;
    let meta = std::fs::metadata(&real).map_err(gather)?;
    let mut out = Vec::new();
    if meta.is_dir() {
        let mut stack = vec![real.clone()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).map_err(gather)?.flatten() {
                let p = e.path();
                let Ok(md) = std::fs::symlink_metadata(&p) else {
                    continue;
                };
                if md.is_dir() {
                    stack.push(p);
                } else if let Some(mut d) = berth_runtime::spec::host::device_of(&p, &md) {
                    let rel = p.strip_prefix(&real).unwrap_or(&p);
                    d.path = std::path::Path::new(&inside)
                        .join(rel)
                        .to_string_lossy()
                        .into_owned();
                    d.access = access.clone();
                    out.push(d);
                }
            }
        }
        return Ok(out);
    }
    let mut d = berth_runtime::spec::host::device_of(&real, &meta).ok_or_else(|| {
        EngineError::BadRequest(format!(
            "error gathering device information while adding custom device {host:?}: not a device node"
        ))
    })?;
    d.path = inside;
    d.access = access;
    out.push(d);
    Ok(out)
}
