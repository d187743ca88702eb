//! A container's filesystem from outside: `cp` in both directions (`/archive` GET, HEAD,
//! PUT) and `export`.
//!
//! A running container's merged rootfs is mounted on `<container>/bundle/rootfs` in the
//! host's mount namespace; a stopped one is mounted for the duration of the call on a
//! private directory and unmounted after. Paths inside are always resolved with
//! [`berth_store::unpack::resolve_in_root`], so a symlink in the container can never lead
//! outside its rootfs.
//!
//! Trees are written into tars by [`berth_store::pack::append_tree`] (Docker's entry
//! naming, owners, device numbers and hard links), as the `berth cp` CLI does.

use super::*;
use berth_store::pack::append_tree;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// What `X-Docker-Container-Path-Stat` carries.
#[derive(Debug, Clone, Serialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode` bits (type bits in the high bits, as Docker encodes them).
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// A mounted view of a container's rootfs; unmounts on drop when it mounted it.
pub struct RootfsView {
    pub root: PathBuf,
    mounted_here: bool,
}

impl Drop for RootfsView {
    fn drop(&mut self) {
        if self.mounted_here {
            let _ = berth_runtime::rootfs::unmount(&self.root);
            let _ = std::fs::remove_dir(&self.root);
        }
    }
}

fn io_internal(what: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(format!("{what}: {e}"))
}

/// Go `os.FileMode` bits for a file's metadata (what docker puts in the path stat).
fn go_mode(m: &std::fs::Metadata) -> u32 {
    let ft = m.file_type();
    let mut mode = m.mode() & 0o777;
    if ft.is_dir() {
        mode |= 1 << 31;
    } else if ft.is_symlink() {
        mode |= 1 << 27;
    } else if ft.is_block_device() {
        mode |= 1 << 26;
    } else if ft.is_char_device() {
        mode |= (1 << 26) | (1 << 21);
    } else if ft.is_fifo() {
        mode |= 1 << 25;
    } else if ft.is_socket() {
        mode |= 1 << 24;
    }
    if m.mode() & libc::S_ISUID != 0 {
        mode |= 1 << 23;
    }
    if m.mode() & libc::S_ISGID != 0 {
        mode |= 1 << 22;
    }
    if m.mode() & libc::S_ISVTX != 0 {
        mode |= 1 << 20;
    }
    mode
}

impl Engine {
    /// The container's merged rootfs, mounting it when the container is not running.
    pub fn rootfs_view(&self, name: &str) -> Result<(ContainerRecord, RootfsView)> {
        let mut r = self.container(name)?.snapshot();
        if !matches!(r.state.status.as_str(), "running" | "paused") {
            // An exited container's shim may still be unmounting the rootfs (callers run
            // on blocking threads).
            let dir = self.state_dir(&r.id);
            let t0 = std::time::Instant::now();
            while !berth_runtime::status::shim_gone(&dir)
                && t0.elapsed() < std::time::Duration::from_secs(10)
            {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            r = self.container(name)?.snapshot();
        }
        let dir = self.ctr_dir(&r.id);
        let merged = dir.join("bundle/rootfs");
        if berth_runtime::rootfs::is_mounted(&merged) {
            return Ok((
                r,
                RootfsView {
                    root: merged,
                    mounted_here: false,
                },
            ));
        }
        let target = dir.join(format!("view-{:08x}", rand::random::<u32>()));
        std::fs::create_dir_all(&target).map_err(|e| io_internal("rootfs view", e))?;
        if let Err(e) = berth_runtime::rootfs::mount_overlay(
            &r.lower,
            &dir.join("upper"),
            &dir.join("work"),
            &target,
        ) {
            let _ = std::fs::remove_dir(&target);
            return Err(io_internal("mounting the container's rootfs", e));
        }
        Ok((
            r,
            RootfsView {
                root: target,
                mounted_here: true,
            },
        ))
    }

    /// Resolves a container path (absolute or relative to `/`) inside the view. The last
    /// component is not followed, as Docker's archive endpoints do, unless the path ends
    /// with `/` or `/.`.
    fn resolve_ctr_path(view: &RootfsView, path: &str) -> Result<PathBuf> {
        if path.is_empty() {
            return Err(EngineError::BadRequest("path cannot be empty".into()));
        }
        let follow = path.ends_with('/') || path.ends_with("/.");
        berth_store::unpack::resolve_in_root(&view.root, Path::new(path), follow)
            .map_err(|e| EngineError::BadRequest(format!("{path}: {e}")))
    }

    /// `HEAD /containers/{id}/archive?path=`.
    pub fn container_path_stat(&self, name: &str, path: &str) -> Result<PathStat> {
        let (r, view) = self.rootfs_view(name)?;
        let p = Self::resolve_ctr_path(&view, path)?;
        let meta = std::fs::symlink_metadata(&p).map_err(|_| {
            EngineError::NotFound(format!(
                "Could not find the file {path} in container {}",
                r.name
            ))
        })?;
        let link_target = if meta.file_type().is_symlink() {
            std::fs::read_link(&p)
                .map(|t| t.display().to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        let base = Path::new(path.trim_end_matches('/'))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".into());
        let mtime = chrono::DateTime::from_timestamp(meta.mtime(), meta.mtime_nsec() as u32)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        Ok(PathStat {
            name: base,
            size: meta.len() as i64,
            mode: go_mode(&meta),
            mtime,
            link_target,
        })
    }

    /// `GET /containers/{id}/archive?path=`: the tar of `path`, its entries named from
    /// the path's base name (`.` contents for a path ending in `/.`).
    pub fn container_archive(&self, name: &str, path: &str, out: impl Write) -> Result<()> {
        let stat = self.container_path_stat(name, path)?;
        let (_, view) = self.rootfs_view(name)?;
        let p = Self::resolve_ctr_path(&view, path)?;
        let base = if path.ends_with("/.") {
            ".".to_string()
        } else {
            stat.name.clone()
        };
        let mut b = tar::Builder::new(out);
        append_tree(&mut b, &p, &base).map_err(|e| io_internal("archive", e))?;
        b.into_inner()
            .and_then(|mut w| w.flush())
            .map_err(|e| io_internal("archive", e))?;
        Ok(())
    }

    /// `PUT /containers/{id}/archive?path=`: extracts a tar into the directory `path`.
    pub fn container_extract(&self, name: &str, path: &str, mut body: impl io::Read) -> Result<()> {
        let (r, view) = self.rootfs_view(name)?;
        if r.host_config.readonly_rootfs.unwrap_or(false) {
            return Err(EngineError::Forbidden(
                "container rootfs is marked read-only".into(),
            ));
        }
        let dir = berth_store::unpack::resolve_in_root(&view.root, Path::new(path), true)
            .map_err(|e| EngineError::BadRequest(format!("{path}: {e}")))?;
        let meta = std::fs::metadata(&dir).map_err(|_| {
            EngineError::NotFound(format!(
                "Could not find the file {path} in container {}",
                r.name
            ))
        })?;
        if !meta.is_dir() {
            return Err(EngineError::BadRequest(format!(
                "extraction point is not a directory: {path}"
            )));
        }
        berth_store::unpack::unpack(&mut body, &dir)
            .map_err(|e| EngineError::BadRequest(format!("extracting into {path}: {e}")))?;
        // The client may still be sending the archive's trailing padding: read it all so
        // the answer does not cut its upload short.
        io::copy(&mut body, &mut io::sink()).map_err(|e| io_internal("reading the archive", e))?;
        Ok(())
    }

    /// `GET /containers/{id}/export`: the whole filesystem as a tar.
    pub fn container_export(&self, name: &str, out: impl Write) -> Result<()> {
        let (_, view) = self.rootfs_view(name)?;
        let mut b = tar::Builder::new(out);
        let mut kids: Vec<_> = std::fs::read_dir(&view.root)
            .map_err(|e| io_internal("export", e))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        kids.sort();
        for k in kids {
            append_tree(&mut b, &view.root.join(&k), &k.to_string_lossy())
                .map_err(|e| io_internal("export", e))?;
        }
        b.into_inner()
            .and_then(|mut w| w.flush())
            .map_err(|e| io_internal("export", e))?;
        Ok(())
    }
}
