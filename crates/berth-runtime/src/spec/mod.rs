//! Turns a [`ContainerSpec`] into an OCI runtime [`Spec`] with Docker's default profile:
//! capabilities, masked and read-only paths, default mounts, the device cgroup, Docker's
//! seccomp policy, rlimits capped at the host's hard limits and an explicit `cgroupsPath`.
//!
//! The spec is assembled as OCI JSON and parsed into `oci_spec` types, so the result is
//! checked by the same deserializer libcontainer uses when it reads `config.json`.

pub mod defaults;
pub mod host;
pub mod seccomp;

use std::path::Path;

use libcontainer::oci_spec::runtime::Spec;
use serde_json::{json, Value};

pub use host::HostInfo;

use crate::config::{ContainerSpec, MountSpec, NetworkMode, NsMode, SeccompMode};
use crate::error::SpecError;

/// The cgroup path (relative to each controller's root) used for a container.
pub fn cgroups_path(id: &str) -> String {
    format!("/berth/{id}")
}

/// Where `--init`'s binary is mounted (as in Docker).
pub const INIT_PATH: &str = "/sbin/docker-init";

/// Docker's minimum for `--memory`.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// cgroup CPU period used for `--cpus` (Docker's 100 ms).
pub(crate) const CPU_PERIOD: u64 = 100_000;

/// Builds the OCI runtime spec for `c`, with its root at `rootfs` (absolute path of the
/// mounted root filesystem, normally `<bundle>/rootfs`).
pub fn build(c: &ContainerSpec, rootfs: &Path, host: &HostInfo) -> Result<Spec, SpecError> {
    validate(c)?;
    let privileged = c.security.privileged;
    let caps = capabilities(c, host)?;

    let host_uts = c.namespaces.uts == NsMode::Host;
    let hostname = if host_uts {
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else if c.hostname.is_empty() {
        c.id.chars().take(12).collect()
    } else {
        c.hostname.clone()
    };
    let env = environment(c, &hostname);
    let nofile = defaults::NOFILE_TARGET.min(host.nofile_hard);
    let args: Vec<String> = match &c.init {
        Some(_) => [INIT_PATH.to_string(), "--".to_string()]
            .into_iter()
            .chain(c.args.iter().cloned())
            .collect(),
        None => c.args.clone(),
    };

    let mut process = json!({
        "terminal": c.tty,
        "user": {"uid": c.user.uid, "gid": c.user.gid},
        "args": args,
        "env": env,
        "cwd": if c.cwd.is_empty() { "/" } else { c.cwd.as_str() },
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": rlimits(c, nofile),
    });
    // Only set when true: libcontainer 0.7 loads seccomp after dropping capabilities whenever
    // the field is present (even `false`), which then fails without CAP_SYS_ADMIN.
    if c.security.no_new_privileges {
        process["noNewPrivileges"] = json!(true);
    }
    if !c.user.additional_gids.is_empty() {
        process["user"]["additionalGids"] = json!(c.user.additional_gids);
    }

    let mut namespaces = vec![json!({"type": "mount"}), json!({"type": "cgroup"})];
    for (kind, mode) in [
        ("pid", &c.namespaces.pid),
        ("ipc", &c.namespaces.ipc),
        ("uts", &c.namespaces.uts),
    ] {
        match mode {
            NsMode::Private => namespaces.push(json!({"type": kind})),
            NsMode::Join(path) => namespaces.push(json!({"type": kind, "path": path})),
            NsMode::Host => {}
        }
    }
    match &c.network {
        NetworkMode::New => namespaces.push(json!({"type": "network"})),
        NetworkMode::Join(path) => namespaces.push(json!({"type": "network", "path": path})),
        NetworkMode::Host => {}
    }

    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": cgroups_path(&c.id),
        "resources": resources(c),
    });
    if !c.devices.is_empty() {
        linux["devices"] = c
            .devices
            .iter()
            .map(|d| {
                json!({"path": d.path, "type": d.kind.to_string(), "major": d.major,
                       "minor": d.minor, "fileMode": d.file_mode, "uid": d.uid, "gid": d.gid})
            })
            .collect();
    }
    if !privileged {
        linux["maskedPaths"] = json!(defaults::MASKED_PATHS);
        linux["readonlyPaths"] = json!(defaults::READONLY_PATHS);
        if c.security.seccomp == SeccompMode::Default {
            linux["seccomp"] = seccomp::docker_default(&caps);
        }
    }

    let mut doc = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": rootfs, "readonly": c.security.read_only_rootfs},
        "mounts": mounts(c),
        "linux": linux,
    });
    // A hostname needs a UTS namespace of the container's own.
    if !host_uts {
        doc["hostname"] = json!(hostname);
    }
    serde_json::from_value(doc).map_err(|e| SpecError::Invalid {
        field: "spec".into(),
        reason: e.to_string(),
    })
}

fn validate(c: &ContainerSpec) -> Result<(), SpecError> {
    let bad = |field: &str, reason: String| SpecError::Invalid {
        field: field.into(),
        reason,
    };
    if c.id.is_empty()
        || c.id == "."
        || c.id == ".."
        || !c
            .id
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "_+.-".contains(ch))
    {
        return Err(bad("id", format!("invalid container id {:?}", c.id)));
    }
    if c.args.is_empty() || c.args[0].is_empty() {
        return Err(bad("args", "no command specified".into()));
    }
    if !c.cwd.is_empty() && !c.cwd.starts_with('/') {
        return Err(bad(
            "cwd",
            format!(
                "the working directory '{}' is invalid, it needs to be an absolute path",
                c.cwd
            ),
        ));
    }
    for (i, e) in c.env.iter().enumerate() {
        if e.starts_with('=') || e.is_empty() {
            return Err(bad(
                &format!("env[{i}]"),
                format!("invalid environment variable {e:?}"),
            ));
        }
    }
    let r = &c.resources;
    if r.memory_bytes != 0 && r.memory_bytes < MIN_MEMORY {
        return Err(bad(
            "resources.memory_bytes",
            "Minimum memory limit allowed is 6MB".into(),
        ));
    }
    if r.nano_cpus < 0 {
        return Err(bad(
            "resources.nano_cpus",
            format!("invalid value {} for cpus: must be positive", r.nano_cpus),
        ));
    }
    for (i, m) in c.mounts.iter().enumerate() {
        let dest = match m {
            MountSpec::Bind { destination, .. } | MountSpec::Tmpfs { destination, .. } => {
                destination
            }
        };
        if !dest.starts_with('/') {
            return Err(bad(
                &format!("mounts[{i}].destination"),
                format!("mount destination {dest:?} is not an absolute path"),
            ));
        }
    }
    Ok(())
}

/// Normalises a capability name: upper case with a `CAP_` prefix (`ALL` stays `ALL`).
fn normalise_cap(name: &str) -> String {
    let up = name.trim().to_ascii_uppercase();
    if up == "ALL" || up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// Docker's capability arithmetic (moby `oci/caps.TweakCapabilities`), limited to what the
/// host's bounding set can grant.
fn capabilities(c: &ContainerSpec, host: &HostInfo) -> Result<Vec<String>, SpecError> {
    let add: Vec<String> = c
        .security
        .cap_add
        .iter()
        .map(|s| normalise_cap(s))
        .collect();
    let drop: Vec<String> = c
        .security
        .cap_drop
        .iter()
        .map(|s| normalise_cap(s))
        .collect();
    for (field, list) in [("security.cap_add", &add), ("security.cap_drop", &drop)] {
        for cap in list {
            if cap != "ALL" && !defaults::ALL_CAPS.contains(&cap.as_str()) {
                return Err(SpecError::Invalid {
                    field: field.into(),
                    reason: format!("unknown capability: {cap:?}"),
                });
            }
        }
    }
    let all = || {
        defaults::ALL_CAPS
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    };
    let mut caps: Vec<String> = if c.security.privileged {
        all()
    } else if add.iter().any(|a| a == "ALL") {
        all().into_iter().filter(|c| !drop.contains(c)).collect()
    } else if drop.iter().any(|d| d == "ALL") {
        add.clone()
    } else {
        let mut v: Vec<String> = defaults::DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .filter(|c| !drop.contains(c))
            .collect();
        for a in &add {
            if !v.contains(a) {
                v.push(a.clone());
            }
        }
        v
    };
    caps.retain(|cap| host.can_grant(cap));
    Ok(caps)
}

fn environment(c: &ContainerSpec, hostname: &str) -> Vec<String> {
    let mut env = c.env.clone();
    let has = |env: &[String], key: &str| {
        env.iter()
            .any(|e| e.split_once('=').map(|(k, _)| k) == Some(key) || e == key)
    };
    if !has(&env, "PATH") {
        env.insert(0, defaults::DEFAULT_PATH.to_string());
    }
    if !has(&env, "HOSTNAME") {
        env.insert(1.min(env.len()), format!("HOSTNAME={hostname}"));
    }
    if c.tty && !has(&env, "TERM") {
        env.push("TERM=xterm".to_string());
    }
    env
}

/// Docker's default `RLIMIT_NOFILE`, replaced or joined by `--ulimit`s.
fn rlimits(c: &ContainerSpec, nofile: u64) -> Vec<Value> {
    let mut out = vec![json!({"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile})];
    for r in &c.rlimits {
        out.retain(|x| x["type"] != r.kind.as_str());
        out.push(json!({"type": r.kind, "hard": r.hard, "soft": r.soft}));
    }
    out
}

/// `/dev/shm`: a private tmpfs (`--shm-size`, 64 MiB by default), the host's with
/// `--ipc host`, or the joined container's with `--ipc container:x`.
fn shm_mount(c: &ContainerSpec) -> Value {
    match &c.namespaces.ipc {
        NsMode::Host => json!({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm",
                               "options": ["rbind", "rprivate"]}),
        NsMode::Join(ns) => {
            // `/proc/<pid>/ns/ipc` → that process's `/dev/shm` through `/proc/<pid>/root`.
            let root = ns
                .parent()
                .and_then(|p| p.parent())
                .map(|p| p.join("root/dev/shm"));
            json!({"destination": "/dev/shm", "type": "bind", "source": root,
                   "options": ["rbind", "rprivate"]})
        }
        NsMode::Private => {
            let size = if c.shm_size > 0 {
                format!("size={}k", c.shm_size.div_ceil(1024))
            } else {
                "size=65536k".to_string()
            };
            json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                   "options": ["nosuid", "noexec", "nodev", "mode=1777", size]})
        }
    }
}

fn mounts(c: &ContainerSpec) -> Vec<Value> {
    let privileged = c.security.privileged;
    let user_dests: Vec<&str> = c
        .mounts
        .iter()
        .map(|m| match m {
            MountSpec::Bind { destination, .. } | MountSpec::Tmpfs { destination, .. } => {
                destination.trim_end_matches('/')
            }
        })
        .collect();
    let mut out = Vec::new();
    for (dest, typ, source, opts) in defaults::DEFAULT_MOUNTS {
        if user_dests.contains(dest) {
            continue;
        }
        if *dest == "/dev/shm" {
            out.push(shm_mount(c));
            continue;
        }
        let opts: Vec<&str> = opts
            .iter()
            .copied()
            .filter(|o| {
                !(privileged && *o == "ro" && (*dest == "/sys" || *dest == "/sys/fs/cgroup"))
            })
            .collect();
        out.push(json!({"destination": dest, "type": typ, "source": source, "options": opts}));
    }
    if let Some(etc) = &c.etc_files {
        for (dest, src) in [
            ("/etc/resolv.conf", &etc.resolv_conf),
            ("/etc/hostname", &etc.hostname),
            ("/etc/hosts", &etc.hosts),
        ] {
            if user_dests.contains(&dest) {
                continue;
            }
            out.push(json!({"destination": dest, "type": "bind", "source": src, "options": ["rbind", "rprivate"]}));
        }
    }
    if let Some(init) = &c.init {
        out.push(json!({"destination": INIT_PATH, "type": "bind", "source": init, "options": ["rbind", "rprivate", "ro"]}));
    }
    for m in &c.mounts {
        match m {
            MountSpec::Bind {
                source,
                destination,
                read_only,
            } => {
                let mut opts = vec!["rbind", "rprivate"];
                if *read_only {
                    opts.push("ro");
                }
                out.push(json!({"destination": destination, "type": "bind", "source": source, "options": opts}));
            }
            MountSpec::Tmpfs {
                destination,
                options,
                read_only,
            } => {
                let mut opts: Vec<String> = ["nosuid", "noexec", "nodev"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                opts.extend(options.iter().cloned());
                if *read_only {
                    opts.push("ro".into());
                }
                out.push(json!({"destination": destination, "type": "tmpfs", "source": "tmpfs", "options": opts}));
            }
        }
    }
    out
}

fn resources(c: &ContainerSpec) -> Value {
    let r = &c.resources;
    let devices: Vec<Value> = if c.security.privileged {
        vec![json!({"allow": true, "access": "rwm"})]
    } else {
        let mut v = vec![json!({"allow": false, "access": "rwm"})];
        for (typ, major, minor, access) in defaults::DEFAULT_DEVICE_RULES {
            let mut d = json!({"allow": true, "type": typ, "access": access});
            if let Some(m) = major {
                d["major"] = json!(m);
            }
            if let Some(m) = minor {
                d["minor"] = json!(m);
            }
            v.push(d);
        }
        for d in &c.devices {
            v.push(
                json!({"allow": true, "type": d.kind.to_string(), "major": d.major,
                          "minor": d.minor, "access": d.access}),
            );
        }
        v
    };
    let mut res = json!({"devices": devices});
    let mut memory = serde_json::Map::new();
    if r.memory_bytes > 0 {
        memory.insert("limit".into(), json!(r.memory_bytes));
        // Swap is memory + swap, so only meaningful beside a limit (Docker passes it
        // only when positive).
        if r.memory_swap > 0 {
            memory.insert("swap".into(), json!(r.memory_swap));
        }
    }
    if r.memory_reservation > 0 {
        memory.insert("reservation".into(), json!(r.memory_reservation));
    }
    if !memory.is_empty() {
        res["memory"] = Value::Object(memory);
    }
    let mut cpu = serde_json::Map::new();
    if let Some((quota, period)) = r.cfs_quota_period() {
        if quota != 0 {
            cpu.insert("quota".into(), json!(quota));
        }
        if period > 0 {
            cpu.insert("period".into(), json!(period));
        }
    }
    if r.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(r.cpu_shares));
    }
    if !r.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), json!(r.cpuset_cpus));
    }
    if !r.cpuset_mems.is_empty() {
        cpu.insert("mems".into(), json!(r.cpuset_mems));
    }
    if !cpu.is_empty() {
        res["cpu"] = Value::Object(cpu);
    }
    if r.pids_limit > 0 {
        res["pids"] = json!({"limit": r.pids_limit});
    }
    if r.blkio_weight > 0 {
        res["blockIO"] = json!({"weight": r.blkio_weight});
    }
    res
}

#[cfg(test)]
mod tests;
