//! A bundle directory as the shim reads it: `config.json` (the OCI spec libcontainer loads)
//! and `berth-shim.json` ([`ShimConfig`]: what the shim itself must set up around it).

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{ContainerSpec, RootfsSpec};
use crate::error::RuntimeError;
use crate::oci_spec;
use crate::spec::{self, HostInfo};
use crate::status::{read_json, write_atomic_volatile, write_json_volatile};

/// File name of the shim's settings inside a bundle.
pub const SHIM_CONFIG: &str = "berth-shim.json";

/// What the shim needs besides the OCI spec.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ShimConfig {
    /// Container ID.
    pub id: String,
    /// Root filesystem to mount on `<bundle>/rootfs` before create (and unmount after).
    pub rootfs: RootfsSpec,
    /// The process has a pty.
    pub tty: bool,
    /// Keep the process's stdin open for attach (`-i`).
    pub open_stdin: bool,
    /// json-file log path (`<container dir>/<id>-json.log`); no log when `None`.
    pub log_path: Option<PathBuf>,
    /// cgroup path used for the container (for OOM detection).
    pub cgroups_path: String,
    /// The network namespace is new and `lo` must be brought up.
    pub new_netns: bool,
    /// Initial pty size (rows, columns).
    #[serde(default)]
    pub console_size: Option<(u16, u16)>,
    /// `-u` to resolve inside the rootfs (see [`crate::user::resolve_user`]).
    #[serde(default)]
    pub user_name: String,
    /// `--group-add` to resolve inside the rootfs.
    #[serde(default)]
    pub group_add: Vec<String>,
}

/// With `no_new_privs`, moves the spec's seccomp profile out of `config.json` into a
/// precompiled [`crate::seccomp_bpf::BPF_FILE`] that the shim's executor loads (see
/// [`crate::seccomp_bpf`] for why); otherwise removes a stale program.
fn precompile_seccomp(
    bundle: &Path,
    oci: &mut oci_spec::runtime::Spec,
) -> Result<(), RuntimeError> {
    let bpf_path = bundle.join(crate::seccomp_bpf::BPF_FILE);
    let nnp = oci
        .process()
        .as_ref()
        .and_then(|p| p.no_new_privileges())
        .unwrap_or(false);
    let profile = oci.linux().as_ref().and_then(|l| l.seccomp().clone());
    match profile {
        Some(profile) if nnp && !crate::seccomp_bpf::needs_libcontainer(&profile) => {
            let prog = crate::seccomp_bpf::compile_cached(&profile).map_err(|e| {
                RuntimeError::Spec(crate::error::SpecError::Invalid {
                    field: "linux.seccomp".into(),
                    reason: e.to_string(),
                })
            })?;
            write_atomic_volatile(&bpf_path, &prog)?;
            if let Some(mut linux) = oci.linux().clone() {
                linux.set_seccomp(None);
                oci.set_linux(Some(linux));
            }
        }
        _ => {
            if let Err(e) = fs::remove_file(&bpf_path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(RuntimeError::io("remove", &bpf_path, e));
                }
            }
        }
    }
    Ok(())
}

/// Writes `config.json` and `berth-shim.json` for `c` into `bundle` (created if needed).
pub fn write_bundle(
    bundle: &Path,
    c: &ContainerSpec,
    log_path: Option<&Path>,
    console_size: Option<(u16, u16)>,
    host: &HostInfo,
) -> Result<(), RuntimeError> {
    fs::create_dir_all(bundle).map_err(|e| RuntimeError::io("create dir", bundle, e))?;
    let bundle =
        fs::canonicalize(bundle).map_err(|e| RuntimeError::io("canonicalize", bundle, e))?;
    let rootfs_path = match &c.rootfs {
        RootfsSpec::Path(p) => p.clone(),
        RootfsSpec::Overlay { .. } => bundle.join("rootfs"),
    };
    let mut oci = spec::build(c, &rootfs_path, host)?;
    precompile_seccomp(&bundle, &mut oci)?;
    let json = serde_json::to_vec_pretty(&oci).map_err(|e| RuntimeError::Json {
        what: "config.json".into(),
        source: e,
    })?;
    // Both files are rewritten at every start (see `write_atomic_volatile`).
    write_atomic_volatile(&bundle.join("config.json"), &json)?;
    let shim = ShimConfig {
        id: c.id.clone(),
        rootfs: c.rootfs.clone(),
        tty: c.tty,
        open_stdin: c.open_stdin,
        log_path: log_path.map(Path::to_path_buf),
        cgroups_path: spec::cgroups_path(&c.id),
        new_netns: c.network == crate::config::NetworkMode::New,
        console_size,
        user_name: c.user_name.clone(),
        group_add: c.group_add.clone(),
    };
    write_json_volatile(&bundle.join(SHIM_CONFIG), &shim)
}

/// Reads `berth-shim.json` from `bundle`.
pub fn read_shim_config(bundle: &Path) -> Result<ShimConfig, RuntimeError> {
    let path = bundle.join(SHIM_CONFIG);
    read_json(&path)?.ok_or_else(|| {
        RuntimeError::io(
            "read",
            &path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "bundle has no shim config"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_roundtrip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = ContainerSpec {
            id: "abc".into(),
            args: vec!["true".into()],
            rootfs: RootfsSpec::Overlay {
                lower: vec!["/l1".into()],
                upper: "/u".into(),
                work: "/w".into(),
            },
            ..Default::default()
        };
        let host = HostInfo {
            cap_bounding: u64::MAX,
            nofile_hard: 1024,
        };
        write_bundle(
            dir.path(),
            &c,
            Some(Path::new("/x/abc-json.log")),
            None,
            &host,
        )
        .expect("write");
        let cfg = read_shim_config(dir.path()).expect("read");
        assert_eq!(cfg.cgroups_path, "/berth/abc");
        assert!(cfg.new_netns);
        let spec = libcontainer::oci_spec::runtime::Spec::load(dir.path().join("config.json"))
            .expect("load");
        let root = spec.root().clone().expect("root");
        assert_eq!(
            root.path(),
            &fs::canonicalize(dir.path()).expect("canon").join("rootfs")
        );
    }
}
