//! A bundle directory as the shim reads it: `config.json` (the OCI spec libcontainer loads)
//! and `berth-shim.json` ([`ShimConfig`]: what the shim itself must set up around it).

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{ContainerSpec, RootfsSpec};
use crate::error::RuntimeError;
use crate::spec::{self, HostInfo};
use crate::status::{read_json, write_atomic, write_json_atomic};

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
    let oci = spec::build(c, &rootfs_path, host)?;
    let json = serde_json::to_vec_pretty(&oci).map_err(|e| RuntimeError::Json {
        what: "config.json".into(),
        source: e,
    })?;
    write_atomic(&bundle.join("config.json"), &json)?;
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
    write_json_atomic(&bundle.join(SHIM_CONFIG), &shim)
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
