//! Layer tars: from an overlay upper directory (after RUN) and from a COPY plan.
//!
//! [`diff_tar`] turns an overlayfs upper dir into a Docker layer the way go-archive's
//! overlay whiteout converter does: entries in lexical order (parents first), an
//! overlay whiteout (character device 0/0) becomes an empty `.wh.<name>` file (mode
//! 0600, same owner), a directory with `trusted.overlay.opaque=y` is followed by a
//! `.wh..wh..opq` entry, overlay's own xattrs are dropped, other xattrs go into PAX
//! records, and files sharing an inode become hard links. [`copy_layer_tar`] writes
//! the layer of a COPY/ADD straight from its [`CopyPlan`] (sorted, last write wins,
//! archives of ADD unpacked into it). Both return the diff ID (SHA-256 of the tar)
//! and whether the layer is empty — an empty diff is recorded as `empty_layer`.

use crate::archive::{self, clean_entry_name};
use crate::copy::{CopyPlan, EntryData, EntryKind, PlacedEntry, PlanItem};
use berth_oci::{Digest, Sha256Writer};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Prefix of whiteout files.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the opaque-directory marker.
pub const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";

/// Errors writing a layer.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("URL source {0} was not downloaded")]
    NotDownloaded(String),
    #[error("ADD archive {0}: {1}")]
    Archive(String, String),
}

fn io_err(path: impl AsRef<Path>, source: io::Error) -> LayerError {
    LayerError::Io {
        path: path.as_ref().display().to_string(),
        source,
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// SHA-256 of the uncompressed tar.
    pub diff_id: Digest,
    /// Bytes written.
    pub size: u64,
    /// Number of entries (0 = an empty layer).
    pub entries: usize,
}

impl LayerInfo {
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }
}

fn header(
    kind: tar::EntryType,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    size: u64,
) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(uid as u64);
    h.set_gid(gid as u64);
    h.set_mtime(mtime.max(0) as u64);
    h.set_size(size);
    h
}

fn pax_xattrs<W: Write>(b: &mut tar::Builder<W>, xattrs: &[(String, Vec<u8>)]) -> io::Result<()> {
    if xattrs.is_empty() {
        return Ok(());
    }
    let recs: Vec<(String, &[u8])> = xattrs
        .iter()
        .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice()))
        .collect();
    b.append_pax_extensions(recs.iter().map(|(k, v)| (k.as_str(), *v)))
}

fn read_xattrs(p: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if let Ok(names) = xattr::list(p) {
        for n in names {
            let n = n.to_string_lossy().into_owned();
            if n.starts_with("trusted.overlay.") || n.starts_with("user.overlay.") {
                continue;
            }
            if let Ok(Some(v)) = xattr::get(p, &n) {
                out.push((n, v));
            }
        }
    }
    out.sort();
    out
}

/// Writes the layer for an overlay upper directory.
pub fn diff_tar<W: Write>(upper: &Path, out: W) -> Result<(W, LayerInfo), LayerError> {
    diff_tar_excluding(upper, out, &BTreeSet::new())
}

/// Files the runtime creates in a container's upper dir as mount points when the
/// image lacks them: Docker keeps these in a separate "init" layer that never reaches
/// a commit (`/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf` are bind mounts,
/// `/proc`, `/sys`, `/dev` are mounted over).
const RUNTIME_FILES: &[&str] = &[
    "etc/hosts",
    "etc/hostname",
    "etc/resolv.conf",
    "etc/mtab",
    ".dockerenv",
];
const RUNTIME_DIRS: &[&str] = &["dev", "proc", "sys"];

/// The upper-dir paths (relative) that are runtime mount points rather than changes
/// made by the container: see [`RUNTIME_FILES`]. A directory is listed when all it
/// holds is such entries (e.g. an `etc/` created or copied up only to hold them).
pub fn runtime_artifacts(upper: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for f in RUNTIME_FILES {
        if let Ok(m) = fs::symlink_metadata(upper.join(f)) {
            if m.is_file() && m.len() == 0 {
                out.insert(f.to_string());
            }
        }
    }
    for d in RUNTIME_DIRS {
        let p = upper.join(d);
        if fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir())
            && fs::read_dir(&p).is_ok_and(|mut r| r.next().is_none())
        {
            out.insert(d.to_string());
        }
    }
    let etc = upper.join("etc");
    if let Ok(rd) = fs::read_dir(&etc) {
        let names: Vec<String> = rd
            .flatten()
            .map(|e| format!("etc/{}", e.file_name().to_string_lossy()))
            .collect();
        let opaque = xattr::get(&etc, "trusted.overlay.opaque")
            .ok()
            .flatten()
            .is_some();
        if !opaque && !names.is_empty() && names.iter().all(|n| out.contains(n)) {
            out.insert("etc".into());
        }
    }
    out
}

/// [`diff_tar`] leaving out the relative paths in `skip` (and what is under them).
pub fn diff_tar_excluding<W: Write>(
    upper: &Path,
    out: W,
    skip: &BTreeSet<String>,
) -> Result<(W, LayerInfo), LayerError> {
    let mut b = tar::Builder::new(Sha256Writer::new(out));
    let mut entries = 0usize;
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    walk_upper(upper, upper, &mut b, &mut entries, &mut links, skip)?;
    let w = b.into_inner().map_err(|e| io_err(upper, e))?;
    let (inner, diff_id, size) = w.finish();
    Ok((
        inner,
        LayerInfo {
            diff_id,
            size,
            entries,
        },
    ))
}

fn walk_upper<W: Write>(
    root: &Path,
    dir: &Path,
    b: &mut tar::Builder<W>,
    entries: &mut usize,
    links: &mut HashMap<(u64, u64), String>,
    skip: &BTreeSet<String>,
) -> Result<(), LayerError> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .map_err(|e| io_err(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    for n in names {
        let full = dir.join(&n);
        let rel = full
            .strip_prefix(root)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if skip.contains(&rel) {
            continue;
        }
        let meta = fs::symlink_metadata(&full).map_err(|e| io_err(&full, e))?;
        let ft = meta.file_type();
        let mode = meta.mode() & 0o7777;
        let (uid, gid, mtime) = (meta.uid(), meta.gid(), meta.mtime());
        if ft.is_char_device() && meta.rdev() == 0 {
            // Overlay whiteout → AUFS-style `.wh.` file.
            let name = match rel.rfind('/') {
                Some(i) => format!("{}/{WHITEOUT_PREFIX}{}", &rel[..i], &rel[i + 1..]),
                None => format!("{WHITEOUT_PREFIX}{rel}"),
            };
            let mut h = header(tar::EntryType::Regular, 0o600, uid, gid, mtime, 0);
            b.append_data(&mut h, &name, io::empty())
                .map_err(|e| io_err(&full, e))?;
            *entries += 1;
            continue;
        }
        let xattrs = if ft.is_symlink() {
            Vec::new()
        } else {
            read_xattrs(&full)
        };
        pax_xattrs(b, &xattrs).map_err(|e| io_err(&full, e))?;
        if ft.is_dir() {
            let mut h = header(tar::EntryType::Directory, mode, uid, gid, mtime, 0);
            b.append_data(&mut h, format!("{rel}/"), io::empty())
                .map_err(|e| io_err(&full, e))?;
            *entries += 1;
            let opaque = xattr::get(&full, "trusted.overlay.opaque")
                .ok()
                .flatten()
                .or_else(|| xattr::get(&full, "user.overlay.opaque").ok().flatten());
            if opaque.as_deref() == Some(b"y") {
                let mut h = header(tar::EntryType::Regular, mode & 0o777, uid, gid, mtime, 0);
                b.append_data(&mut h, format!("{rel}/{WHITEOUT_OPAQUE}"), io::empty())
                    .map_err(|e| io_err(&full, e))?;
                *entries += 1;
            }
            walk_upper(root, &full, b, entries, links, skip)?;
            continue;
        }
        if ft.is_file() && meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = links.get(&key) {
                let mut h = header(tar::EntryType::Link, mode, uid, gid, mtime, 0);
                b.append_link(&mut h, &rel, first)
                    .map_err(|e| io_err(&full, e))?;
                *entries += 1;
                continue;
            }
            links.insert(key, rel.clone());
        }
        if ft.is_symlink() {
            let target = fs::read_link(&full).map_err(|e| io_err(&full, e))?;
            let mut h = header(tar::EntryType::Symlink, mode, uid, gid, mtime, 0);
            b.append_link(&mut h, &rel, &target)
                .map_err(|e| io_err(&full, e))?;
        } else if ft.is_file() {
            let f = fs::File::open(&full).map_err(|e| io_err(&full, e))?;
            let mut h = header(tar::EntryType::Regular, mode, uid, gid, mtime, meta.len());
            b.append_data(&mut h, &rel, f)
                .map_err(|e| io_err(&full, e))?;
        } else {
            let kind = if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            };
            let mut h = header(kind, mode, uid, gid, mtime, 0);
            if ft.is_char_device() || ft.is_block_device() {
                let _ = h.set_device_major(libc::major(meta.rdev()));
                let _ = h.set_device_minor(libc::minor(meta.rdev()));
            }
            b.append_data(&mut h, &rel, io::empty())
                .map_err(|e| io_err(&full, e))?;
        }
        *entries += 1;
    }
    Ok(())
}

/// Writes the layer of a COPY/ADD from its plan. URL sources must have been replaced
/// by file entries (see [`crate::copy::PlanItem::Download`]).
pub fn copy_layer_tar<W: Write>(plan: &CopyPlan, out: W) -> Result<(W, LayerInfo), LayerError> {
    let mut all: BTreeMap<String, PlacedEntry> = BTreeMap::new();
    for item in &plan.items {
        match item {
            PlanItem::Entry(e) => {
                let key = e.target.trim_start_matches('/').to_string();
                // A file replacing a directory drops what was planned below it.
                if e.kind != EntryKind::Dir {
                    let prefix = format!("{key}/");
                    all.retain(|k, _| !k.starts_with(&prefix));
                }
                all.insert(key, e.clone());
            }
            PlanItem::Extract {
                archive: a,
                target_dir,
            } => {
                let base = target_dir.trim_matches('/').to_string();
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0);
                for e in archive_entries(a, target_dir)? {
                    let key = e.target.trim_start_matches('/').to_string();
                    // Parents the archive does not list are created 0755 root, as
                    // Docker's untar does (MkdirAll).
                    let mut parent = key.as_str();
                    while let Some((p, _)) = parent.rsplit_once('/') {
                        if p.len() <= base.len() || all.contains_key(p) {
                            break;
                        }
                        all.insert(
                            p.to_string(),
                            PlacedEntry {
                                target: format!("/{p}"),
                                kind: EntryKind::Dir,
                                data: EntryData::None,
                                mode: 0o755,
                                uid: 0,
                                gid: 0,
                                size: 0,
                                mtime: now,
                                xattrs: Vec::new(),
                            },
                        );
                        parent = p;
                    }
                    all.insert(key, e);
                }
            }
            PlanItem::Download { url, .. } => return Err(LayerError::NotDownloaded(url.clone())),
        }
    }
    let mut b = tar::Builder::new(Sha256Writer::new(out));
    let mut entries = 0;
    for (name, e) in &all {
        pax_xattrs(&mut b, &e.xattrs).map_err(|er| io_err(name, er))?;
        match &e.kind {
            EntryKind::Dir => {
                let mut h = header(tar::EntryType::Directory, e.mode, e.uid, e.gid, e.mtime, 0);
                b.append_data(&mut h, format!("{name}/"), io::empty())
                    .map_err(|er| io_err(name, er))?;
            }
            EntryKind::File => {
                let mut h = header(tar::EntryType::Regular, e.mode, e.uid, e.gid, e.mtime, 0);
                match &e.data {
                    EntryData::Path(p) => {
                        let f = fs::File::open(p).map_err(|er| io_err(p, er))?;
                        let len = f.metadata().map_err(|er| io_err(p, er))?.len();
                        h.set_size(len);
                        b.append_data(&mut h, name, f.take(len))
                            .map_err(|er| io_err(p, er))?;
                    }
                    EntryData::Bytes(d) => {
                        h.set_size(d.len() as u64);
                        b.append_data(&mut h, name, d.as_slice())
                            .map_err(|er| io_err(name, er))?;
                    }
                    EntryData::None => {
                        b.append_data(&mut h, name, io::empty())
                            .map_err(|er| io_err(name, er))?;
                    }
                }
            }
            EntryKind::Symlink(t) => {
                let mut h = header(tar::EntryType::Symlink, e.mode, e.uid, e.gid, e.mtime, 0);
                b.append_link(&mut h, name, t)
                    .map_err(|er| io_err(name, er))?;
            }
            EntryKind::Char(ma, mi) | EntryKind::Block(ma, mi) => {
                let kind = if matches!(e.kind, EntryKind::Char(..)) {
                    tar::EntryType::Char
                } else {
                    tar::EntryType::Block
                };
                let mut h = header(kind, e.mode, e.uid, e.gid, e.mtime, 0);
                let _ = h.set_device_major(*ma);
                let _ = h.set_device_minor(*mi);
                b.append_data(&mut h, name, io::empty())
                    .map_err(|er| io_err(name, er))?;
            }
            EntryKind::Fifo => {
                let mut h = header(tar::EntryType::Fifo, e.mode, e.uid, e.gid, e.mtime, 0);
                b.append_data(&mut h, name, io::empty())
                    .map_err(|er| io_err(name, er))?;
            }
        }
        entries += 1;
    }
    let w = b.into_inner().map_err(|er| io_err("<layer>", er))?;
    let (inner, diff_id, size) = w.finish();
    Ok((
        inner,
        LayerInfo {
            diff_id,
            size,
            entries,
        },
    ))
}

/// Reads an ADD archive into planned entries under `target_dir` (escaping names
/// refused, owners and modes from the archive).
fn archive_entries(a: &Path, target_dir: &str) -> Result<Vec<PlacedEntry>, LayerError> {
    let name = a.display().to_string();
    let f = fs::File::open(a).map_err(|e| io_err(a, e))?;
    let r = archive::decompress(f).map_err(|e| LayerError::Archive(name.clone(), e.to_string()))?;
    let mut ar = tar::Archive::new(r);
    let mut out = Vec::new();
    let entries = ar
        .entries()
        .map_err(|e| LayerError::Archive(name.clone(), e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| LayerError::Archive(name.clone(), e.to_string()))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(rel) = clean_entry_name(&raw) else {
            return Err(LayerError::Archive(
                name.clone(),
                format!("entry {raw:?} escapes the destination"),
            ));
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        let target = crate::paths::join(&[target_dir, &rel.to_string_lossy()]);
        let h = entry.header().clone();
        let t = h.entry_type();
        let kind = if t.is_dir() {
            EntryKind::Dir
        } else if t.is_symlink() {
            EntryKind::Symlink(
                entry
                    .link_name()
                    .ok()
                    .flatten()
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            )
        } else if t.is_file() {
            EntryKind::File
        } else {
            continue;
        };
        let mut data = Vec::new();
        if kind == EntryKind::File {
            entry
                .read_to_end(&mut data)
                .map_err(|e| LayerError::Archive(name.clone(), e.to_string()))?;
        }
        out.push(PlacedEntry {
            target,
            size: data.len() as u64,
            data: if kind == EntryKind::File {
                EntryData::Bytes(data)
            } else {
                EntryData::None
            },
            kind,
            mode: h.mode().unwrap_or(0o644),
            uid: h.uid().unwrap_or(0) as u32,
            gid: h.gid().unwrap_or(0) as u32,
            mtime: h.mtime().unwrap_or(0) as i64,
            xattrs: Vec::new(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::{plan_copy, CopyRequest, EmptyDest};

    fn list(t: &[u8]) -> Vec<(String, tar::EntryType, u32)> {
        let mut a = tar::Archive::new(t);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().entry_type(),
                    e.header().mode().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn copy_layer_is_sorted_and_deterministic() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("src/b")).unwrap();
        fs::write(d.path().join("src/z.txt"), b"z").unwrap();
        fs::write(d.path().join("src/b/a.txt"), b"a").unwrap();
        let srcs = vec!["src".to_string()];
        let req = CopyRequest {
            keyword: "COPY",
            sources: &srcs,
            contents: &[],
            dest: "/app/",
            root: d.path(),
            from_image: false,
            owner: None,
            chmod: None,
            allow_decompress: false,
            hash_cache: None,
            tar_paths: None,
            excludes: &[],
            checksum: None,
        };
        let plan = plan_copy(&req, &EmptyDest).unwrap();
        let (t1, i1) = copy_layer_tar(&plan, Vec::new()).unwrap();
        let (t2, i2) = copy_layer_tar(&plan, Vec::new()).unwrap();
        assert_eq!(t1, t2);
        assert_eq!(i1, i2);
        assert_eq!(i1.diff_id, Digest::sha256_of(&t1));
        let names: Vec<String> = list(&t1).into_iter().map(|x| x.0).collect();
        assert_eq!(names, vec!["app/", "app/b/", "app/b/a.txt", "app/z.txt"]);
        assert_eq!(i1.entries, 4);
    }

    #[test]
    fn empty_upper_is_empty_layer() {
        let d = tempfile::tempdir().unwrap();
        let (t, info) = diff_tar(d.path(), Vec::new()).unwrap();
        assert!(info.is_empty());
        // An empty tar is 1024 zero bytes: Docker's well-known empty-layer digest.
        assert_eq!(t.len(), 1024);
        assert_eq!(
            info.diff_id.to_string(),
            "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
        );
    }
}
