//! Safe extraction of a layer tar into a directory, turning OCI whiteouts into overlayfs
//! whiteouts.
//!
//! Written by hand on top of the `tar` crate's reader because `tar::Entry::unpack_in`
//! neither converts whiteouts (`.wh.<name>` → a 0/0 character device, `.wh..wh..opq` →
//! the `trusted.overlay.opaque` xattr) nor resolves symlinks inside the layer root the way
//! Docker does. Every path is resolved component by component *inside* the root: `..`
//! cannot climb above it, absolute paths are made relative, and symlinks met on the way
//! (including absolute ones) are followed as if the root were `/`. Hard-link targets are
//! resolved the same way. Modes, owners, xattrs, device nodes, fifos, hard links and
//! mtimes are preserved.

use std::ffi::{CString, OsStr};
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Error while unpacking a layer.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("reading layer tar: {0}")]
    Read(#[source] io::Error),
    #[error("layer entry {path:?}: {source}")]
    Entry {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("layer entry {0:?}: path escapes the layer root")]
    Escape(String),
    #[error("layer entry {0:?}: hard link target {1:?} does not exist in the layer")]
    BadLink(String, String),
}

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";
const MAX_SYMLINKS: usize = 255;

/// Told when a regular file's content is about to be read from the tar and when it has
/// been written (with its path relative to the root), so a caller can keep the tar's
/// headers apart from file contents (see [`crate::tarsplit`]).
pub trait ContentObserver {
    fn before_content(&self) {}
    fn after_content(&self, _rel: &Path, _size: u64) -> io::Result<()> {
        Ok(())
    }
}

/// An observer that does nothing.
pub struct NoObserver;
impl ContentObserver for NoObserver {}

/// Unpacks `reader` (an uncompressed tar) into `root`, which must exist.
/// Returns the sum of the regular files' sizes (the layer's content size).
pub fn unpack(reader: impl Read, root: &Path) -> Result<u64, UnpackError> {
    unpack_observed(reader, root, &NoObserver)
}

/// [`unpack`], telling `obs` where each regular file's content starts and ends.
pub fn unpack_observed(
    reader: impl Read,
    root: &Path,
    obs: &dyn ContentObserver,
) -> Result<u64, UnpackError> {
    let pool = crate::writers::WriterPool::new(2);
    let mut archive = tar::Archive::new(reader);
    let mut dirs: Vec<(PathBuf, filetime::FileTime)> = Vec::new();
    let mut size = 0u64;
    let entries = archive.entries().map_err(UnpackError::Read)?;
    for entry in entries {
        let mut entry = entry.map_err(UnpackError::Read)?;
        let raw_path = entry.path().map_err(UnpackError::Read)?.into_owned();
        let shown = raw_path.to_string_lossy().into_owned();
        let rel = clean_relative(&raw_path);
        let Some(file_name) = rel.file_name().map(|n| n.to_os_string()) else {
            // The root itself ("./"): apply its metadata to root.
            continue;
        };
        let parent_rel = rel.parent().unwrap_or(Path::new(""));
        let parent = resolve_in_root(root, parent_rel, true)
            .map_err(|_| UnpackError::Escape(shown.clone()))?;
        let wrap = |source: io::Error| UnpackError::Entry {
            path: shown.clone(),
            source,
        };
        fs::create_dir_all(&parent).map_err(wrap)?;
        let name = file_name.to_string_lossy();
        let pool_err = |e: io::Error| UnpackError::Entry {
            path: shown.clone(),
            source: e,
        };
        if name == OPAQUE_MARKER {
            xattr::set(&parent, "trusted.overlay.opaque", b"y").map_err(wrap)?;
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            let target = parent.join(hidden);
            pool.wait_for(&target).map_err(pool_err)?;
            remove_any(&target).map_err(wrap)?;
            mknod(&target, libc::S_IFCHR, 0).map_err(wrap)?;
            continue;
        }
        let dest = parent.join(&file_name);
        let header = entry.header().clone();
        let kind = header.entry_type();
        let mode = header.mode().unwrap_or(0o644);
        let uid = header.uid().unwrap_or(0) as u32;
        let gid = header.gid().unwrap_or(0) as u32;
        let mtime = filetime::FileTime::from_unix_time(header.mtime().unwrap_or(0) as i64, 0);
        let xattrs = read_xattrs(&mut entry).map_err(wrap)?;
        pool.wait_for(&dest).map_err(pool_err)?;

        if kind.is_dir() {
            match fs::symlink_metadata(&dest) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    remove_any(&dest).map_err(wrap)?;
                    fs::create_dir(&dest).map_err(wrap)?;
                }
                Err(_) => fs::create_dir(&dest).map_err(wrap)?,
            }
            lchown(&dest, uid, gid).map_err(wrap)?;
            fs::set_permissions(&dest, fs::Permissions::from_mode(mode)).map_err(wrap)?;
            set_xattrs(&dest, &xattrs).map_err(wrap)?;
            dirs.push((dest, mtime));
            continue;
        }
        remove_any(&dest).map_err(wrap)?;
        if kind.is_hard_link() {
            pool.barrier().map_err(pool_err)?;
            let target = entry
                .link_name()
                .map_err(wrap)?
                .map(|l| l.into_owned())
                .unwrap_or_default();
            let tdisplay = target.to_string_lossy().into_owned();
            let resolved = resolve_in_root(root, &clean_relative(&target), false)
                .map_err(|_| UnpackError::Escape(shown.clone()))?;
            match fs::symlink_metadata(&resolved) {
                Ok(m) if !m.is_dir() => fs::hard_link(&resolved, &dest).map_err(wrap)?,
                _ => return Err(UnpackError::BadLink(shown, tdisplay)),
            }
            continue;
        }
        if kind.is_symlink() {
            let target = entry
                .link_name()
                .map_err(wrap)?
                .map(|l| l.into_owned())
                .unwrap_or_default();
            symlink(&target, &dest).map_err(wrap)?;
            lchown(&dest, uid, gid).map_err(wrap)?;
            set_xattrs(&dest, &xattrs).map_err(wrap)?;
            let _ = filetime::set_symlink_file_times(&dest, mtime, mtime);
            continue;
        }
        if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            let fmt = if kind.is_character_special() {
                libc::S_IFCHR
            } else if kind.is_block_special() {
                libc::S_IFBLK
            } else {
                libc::S_IFIFO
            };
            let dev = libc::makedev(
                header.device_major().ok().flatten().unwrap_or(0),
                header.device_minor().ok().flatten().unwrap_or(0),
            );
            mknod(&dest, fmt | (mode & 0o7777), dev).map_err(wrap)?;
            lchown(&dest, uid, gid).map_err(wrap)?;
            set_xattrs(&dest, &xattrs).map_err(wrap)?;
            let _ = filetime::set_file_times(&dest, mtime, mtime);
            continue;
        }
        let small = header.entry_size().unwrap_or(u64::MAX) <= crate::writers::MAX_BUFFERED;
        if (kind.is_file() || kind.is_contiguous()) && small {
            obs.before_content();
            let mut data = Vec::with_capacity(header.entry_size().unwrap_or(0) as usize);
            let n = entry.read_to_end(&mut data).map_err(wrap)? as u64;
            size += n;
            let rel = dest.strip_prefix(root).unwrap_or(&dest);
            obs.after_content(rel, n).map_err(wrap)?;
            pool.submit(crate::writers::FileJob {
                dest,
                data,
                uid,
                gid,
                mode,
                mtime,
                xattrs,
            })
            .map_err(pool_err)?;
            continue;
        }
        if kind.is_file() || kind.is_contiguous() || kind == tar::EntryType::GNUSparse {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&dest)
                .map_err(wrap)?;
            let sparse = kind == tar::EntryType::GNUSparse;
            if !sparse {
                obs.before_content();
            }
            let n = io::copy(&mut entry, &mut f).map_err(wrap)?;
            size += n;
            crate::writers::start_writeback(&f);
            drop(f);
            if !sparse {
                let rel = dest.strip_prefix(root).unwrap_or(&dest);
                obs.after_content(rel, n).map_err(wrap)?;
            }
            lchown(&dest, uid, gid).map_err(wrap)?;
            // chmod after chown: chown clears set-id bits.
            fs::set_permissions(&dest, fs::Permissions::from_mode(mode)).map_err(wrap)?;
            set_xattrs(&dest, &xattrs).map_err(wrap)?;
            filetime::set_file_times(&dest, mtime, mtime).map_err(wrap)?;
            continue;
        }
        // GNU sparse, long-name continuation and other metadata-only types are handled
        // by the tar reader; anything else is skipped, as Docker does.
        tracing::debug!(
            path = shown.as_str(),
            ?kind,
            "skipping unsupported tar entry type"
        );
    }
    pool.finish().map_err(|e| UnpackError::Entry {
        path: root.display().to_string(),
        source: e,
    })?;
    // Directory mtimes last: creating children changes them.
    for (dir, mtime) in dirs.into_iter().rev() {
        let _ = filetime::set_file_times(&dir, mtime, mtime);
    }
    Ok(size)
}

/// Strips the root, `.` and leading `/` from a tar path; `..` stays (resolved later).
pub fn clean_relative(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => out.push(".."),
            _ => {}
        }
    }
    out
}

/// Resolves `rel` under `root` as if `root` were `/`: `..` stops at the root and symlinks
/// are followed inside the root. With `follow_last == false` the final component is not
/// followed (for hard-link targets and entries themselves).
pub fn resolve_in_root(root: &Path, rel: &Path, follow_last: bool) -> io::Result<PathBuf> {
    let mut stack: Vec<std::ffi::OsString> = Vec::new();
    let mut pending: Vec<std::ffi::OsString> = rel
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsStr::new("..").to_os_string()),
            _ => None,
        })
        .collect();
    let mut followed = 0usize;
    while let Some(comp) = pending.pop() {
        if comp == ".." {
            stack.pop();
            continue;
        }
        let is_last = pending.is_empty();
        let mut candidate = root.to_path_buf();
        candidate.extend(&stack);
        candidate.push(&comp);
        if is_last && !follow_last {
            stack.push(comp);
            break;
        }
        match fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                followed += 1;
                if followed > MAX_SYMLINKS {
                    return Err(io::Error::other("too many symlinks"));
                }
                let target = fs::read_link(&candidate)?;
                if target.is_absolute() {
                    stack.clear();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(n) => pending.push(n.to_os_string()),
                        Component::ParentDir => pending.push(OsStr::new("..").to_os_string()),
                        _ => {}
                    }
                }
            }
            _ => stack.push(comp),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&stack);
    Ok(out)
}

fn remove_any(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::other("path contains NUL"))
}

fn mknod(p: &Path, mode: libc::mode_t, dev: libc::dev_t) -> io::Result<()> {
    let c = cstr(p)?;
    // SAFETY: c is a valid NUL-terminated path.
    if unsafe { libc::mknod(c.as_ptr(), mode, dev) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn lchown(p: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid))
}

fn read_xattrs<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    if let Some(exts) = entry.pax_extensions()? {
        for ext in exts {
            let ext = ext?;
            if let Ok(key) = ext.key() {
                if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    out.push((name.to_string(), ext.value_bytes().to_vec()));
                }
            }
        }
    }
    Ok(out)
}

fn set_xattrs(p: &Path, xattrs: &[(String, Vec<u8>)]) -> io::Result<()> {
    for (k, v) in xattrs {
        // Overlay's own attributes in a layer would change how the union behaves.
        if k.starts_with("trusted.overlay.") {
            continue;
        }
        xattr::set(p, k, v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    fn tar_with(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_uid(1000);
        h.set_gid(1001);
        h.set_mtime(1_600_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        // set_path refuses "..": write the raw name for hostile entries.
        let name = path.as_bytes();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    fn link(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, path: &str, target: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_entry_type(kind);
        h.set_mode(0o777);
        let name = path.as_bytes();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        let t = target.as_bytes();
        h.as_old_mut().linkname[..t.len()].copy_from_slice(t);
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
    }

    #[test]
    fn extracts_files_modes_owners() {
        let dir = tempfile::tempdir().unwrap();
        let data = tar_with(|b| {
            file(b, "bin/tool", b"#!/bin/sh\n", 0o4755);
            link(b, tar::EntryType::Symlink, "bin/alias", "tool");
            link(b, tar::EntryType::Link, "bin/hard", "bin/tool");
        });
        let size = unpack(&data[..], dir.path()).unwrap();
        assert_eq!(size, 10);
        let m = fs::metadata(dir.path().join("bin/tool")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o4755);
        assert_eq!((m.uid(), m.gid()), (1000, 1001));
        assert_eq!(m.mtime(), 1_600_000_000);
        assert_eq!(m.nlink(), 2);
        assert_eq!(
            fs::read_link(dir.path().join("bin/alias")).unwrap(),
            Path::new("tool")
        );
    }

    #[test]
    fn dotdot_and_absolute_paths_stay_inside() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        fs::create_dir(&root).unwrap();
        let data = tar_with(|b| {
            file(b, "../../escaped", b"x", 0o644);
            file(b, "/abs", b"y", 0o644);
        });
        unpack(&data[..], &root).unwrap();
        assert!(!outer.path().join("escaped").exists());
        assert!(root.join("escaped").exists());
        assert!(root.join("abs").exists());
    }

    #[test]
    fn symlink_escape_is_resolved_inside_root() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        fs::create_dir(&root).unwrap();
        let victim = outer.path().join("victim");
        fs::create_dir(&victim).unwrap();
        let data = tar_with(|b| {
            link(b, tar::EntryType::Symlink, "evil", victim.to_str().unwrap());
            link(b, tar::EntryType::Symlink, "rel", "../../..");
            file(b, "evil/pwned", b"x", 0o644);
            file(b, "rel/pwned2", b"x", 0o644);
        });
        unpack(&data[..], &root).unwrap();
        assert!(!victim.join("pwned").exists());
        assert!(!outer.path().join("pwned2").exists());
        // followed inside the root instead
        assert!(root
            .join(victim.strip_prefix("/").unwrap())
            .join("pwned")
            .exists());
        assert!(root.join("pwned2").exists());
    }

    #[test]
    fn hardlink_escape_is_refused() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        fs::create_dir(&root).unwrap();
        fs::write(outer.path().join("secret"), b"s").unwrap();
        let data = tar_with(|b| {
            link(b, tar::EntryType::Link, "h", "../secret");
        });
        let err = unpack(&data[..], &root).unwrap_err();
        assert!(matches!(err, UnpackError::BadLink(..)), "{err}");
        assert_eq!(fs::read(outer.path().join("secret")).unwrap(), b"s");
    }

    #[test]
    fn whiteouts_become_overlay_whiteouts() {
        let dir = tempfile::tempdir().unwrap();
        let data = tar_with(|b| {
            file(b, "etc/.wh.gone", b"", 0o644);
            file(b, "var/.wh..wh..opq", b"", 0o644);
        });
        unpack(&data[..], dir.path()).unwrap();
        let m = fs::symlink_metadata(dir.path().join("etc/gone")).unwrap();
        assert!(m.file_type().is_char_device());
        assert_eq!(m.rdev(), 0);
        assert_eq!(
            xattr::get(dir.path().join("var"), "trusted.overlay.opaque").unwrap(),
            Some(b"y".to_vec())
        );
    }
}
