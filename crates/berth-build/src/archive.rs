//! Archives: compression detection by content, and safe tar extraction.
//!
//! ADD extracts local archives (plain tar, gzip, bzip2, xz) detected by their *bytes*,
//! never by file name (moby `archive.IsArchivePath`: the stream decompresses and a tar
//! header parses), and the build context arrives as a possibly compressed tar. Both
//! go through [`extract_tar`], which refuses to write outside its destination: names
//! are cleaned and `..` escapes rejected, parent directories are resolved inside the
//! root ([`resolve_in_root`], moby/sys `symlink.FollowSymlinkInScope`), symlinks and
//! hard links pointing outside are rejected, and an existing path is replaced unless
//! both are directories (archive wins, directories merge) — the rules of moby's
//! `archive.Unpack`, enforced without a chroot.

use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::reuse::{self, Fingerprints};

/// Compression formats we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

/// Detects the compression of a stream from its first bytes.
pub fn detect_compression(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b, 0x08]) {
        Compression::Gzip
    } else if head.starts_with(b"BZh") {
        Compression::Bzip2
    } else if head.starts_with(&[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Errors of archive handling; each names the entry or path concerned.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("invalid tar entry {0:?}: path escapes the destination")]
    Breakout(String),
    #[error("invalid {kind} {name:?} -> {target:?}: target escapes the destination")]
    LinkBreakout {
        kind: &'static str,
        name: String,
        target: String,
    },
    #[error("unsupported compression: zstd")]
    Zstd,
    #[error("xz: {0}")]
    Xz(String),
}

fn io_err(path: impl AsRef<Path>, source: io::Error) -> ArchiveError {
    ArchiveError::Io {
        path: path.as_ref().display().to_string(),
        source,
    }
}

/// Wraps `r` in the decompressor its first bytes call for.
pub fn decompress<'a, R: Read + 'a>(r: R) -> Result<Box<dyn Read + 'a>, ArchiveError> {
    let mut br = BufReader::with_capacity(64 * 1024, r);
    let head = br.fill_buf().map_err(|e| io_err("<stream>", e))?.to_vec();
    Ok(match detect_compression(&head) {
        Compression::None => Box::new(br),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(br)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(br)),
        Compression::Xz => {
            // lzma-rs decodes whole streams; buffer the decompressed data.
            let mut out = Vec::new();
            lzma_rs::xz_decompress(&mut br, &mut out)
                .map_err(|e| ArchiveError::Xz(e.to_string()))?;
            Box::new(io::Cursor::new(out))
        }
        Compression::Zstd => return Err(ArchiveError::Zstd),
    })
}

fn valid_tar_header(h: &[u8]) -> bool {
    if h.len() < 512 || h.iter().all(|b| *b == 0) {
        return false;
    }
    let field = &h[148..156];
    let s: String = field
        .iter()
        .take_while(|b| **b != 0 && **b != b' ')
        .map(|b| *b as char)
        .collect();
    let s = s.trim();
    let Ok(want) = u32::from_str_radix(s, 8) else {
        return false;
    };
    let sum: u32 = h[..512]
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                *b as u32
            }
        })
        .sum();
    sum == want
}

/// Is the file at `path` a (possibly compressed) tar archive? Detection by content.
pub fn is_archive_path(path: &Path) -> bool {
    let Ok(f) = fs::File::open(path) else {
        return false;
    };
    let Ok(mut r) = decompress(f) else {
        return false;
    };
    let mut head = [0u8; 512];
    let mut n = 0;
    while n < 512 {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return false,
        }
    }
    n == 512 && valid_tar_header(&head)
}

/// Cleans an archive entry name into a relative path; None if it escapes.
pub fn clean_entry_name(name: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(name).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
        }
    }
    Some(out)
}

/// Resolves `rel` under `root` following symlinks but never leaving `root` (absolute
/// link targets are taken relative to `root`, `..` stops at it), like moby/sys
/// `symlink.FollowSymlinkInScope`. The last component is followed too when
/// `follow_last` is set.
pub fn resolve_in_root(root: &Path, rel: &Path, follow_last: bool) -> PathBuf {
    let mut parts: Vec<std::ffi::OsString> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    parts.reverse();
    let mut cur: Vec<std::ffi::OsString> = Vec::new();
    let mut hops = 0;
    while let Some(p) = parts.pop() {
        if p == ".." {
            cur.pop();
            continue;
        }
        let is_last = parts.is_empty();
        let mut candidate = root.to_path_buf();
        candidate.extend(cur.iter());
        candidate.push(&p);
        if (!is_last || follow_last) && hops < 255 {
            if let Ok(target) = fs::read_link(&candidate) {
                hops += 1;
                if target.is_absolute() {
                    cur.clear();
                }
                let mut t: Vec<std::ffi::OsString> = target
                    .components()
                    .filter_map(|c| match c {
                        Component::Normal(x) => Some(x.to_os_string()),
                        Component::ParentDir => Some("..".into()),
                        _ => None,
                    })
                    .collect();
                t.reverse();
                parts.extend(t);
                continue;
            }
        }
        cur.push(p);
    }
    let mut out = root.to_path_buf();
    out.extend(cur.iter());
    out
}

/// How to treat ownership while extracting.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractOptions<'a> {
    /// Apply the uid/gid recorded in the archive (as Docker does when root).
    pub preserve_owner: bool,
    /// Override every entry's owner.
    pub owner: Option<(u32, u32)>,
    /// Keep an existing regular file (one link) whose size, mtime (seconds), mode and
    /// owner match the entry, writing only from the first chunk whose content differs
    /// ([`crate::reuse::sync_content`]): re-extracting a mostly unchanged context into
    /// the previous build's directory.
    pub reuse_unchanged: bool,
    /// Chunk fingerprints of the destination's files (see [`crate::reuse`]): used to
    /// compare a kept file without reading it, and filled for every file written.
    pub fingerprints: Option<&'a Fingerprints>,
}

fn set_times(path: &Path, mtime: u64, follow: bool) {
    let ts = libc::timespec {
        tv_sec: mtime as libc::time_t,
        tv_nsec: 0,
    };
    let times = [ts, ts];
    if let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) {
        let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
        // SAFETY: valid NUL-terminated path and a two-element timespec array.
        unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), flags) };
    }
}

fn lchown(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
}

fn mknod(path: &Path, kind: libc::mode_t, mode: u32, major: u32, minor: u32) -> io::Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let dev = libc::makedev(major, minor);
    // SAFETY: valid NUL-terminated path.
    let r = unsafe { libc::mknod(c.as_ptr(), kind | (mode & 0o7777) as libc::mode_t, dev) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Extracts a tar stream (decompress it first with [`decompress`]) under `dest`.
/// Returns the relative paths written, in archive order.
pub fn extract_tar<R: Read>(
    r: R,
    dest: &Path,
    opts: ExtractOptions<'_>,
) -> Result<Vec<PathBuf>, ArchiveError> {
    fs::create_dir_all(dest).map_err(|e| io_err(dest, e))?;
    let mut ar = tar::Archive::new(r);
    let mut written = Vec::new();
    let mut dir_times: Vec<(PathBuf, u64)> = Vec::new();
    let mut scratch = Vec::new();
    let entries = ar.entries().map_err(|e| io_err(dest, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| io_err(dest, e))?;
        let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(rel) = clean_entry_name(&raw_name) else {
            return Err(ArchiveError::Breakout(raw_name));
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        let parent_rel = rel.parent().unwrap_or(Path::new(""));
        let parent = resolve_in_root(dest, parent_rel, true);
        if !parent.starts_with(dest) {
            return Err(ArchiveError::Breakout(raw_name));
        }
        fs::create_dir_all(&parent).map_err(|e| io_err(&parent, e))?;
        let Some(file_name) = rel.file_name() else {
            continue;
        };
        let target = parent.join(file_name);
        let mut tags: Option<Vec<u128>> = None;
        let header = entry.header().clone();
        let kind = header.entry_type();
        let mode = header.mode().unwrap_or(0o644);
        let mtime = header.mtime().unwrap_or(0);
        let (uid, gid) = match opts.owner {
            Some(o) => o,
            None => (
                header.uid().unwrap_or(0) as u32,
                header.gid().unwrap_or(0) as u32,
            ),
        };
        if let Ok(meta) = fs::symlink_metadata(&target) {
            if opts.reuse_unchanged
                && kind.is_file()
                && meta.is_file()
                && meta.len() == header.size().unwrap_or(u64::MAX)
                && meta.mtime() == mtime as i64
                && meta.mode() & 0o7777 == mode & 0o7777
                && (meta.uid(), meta.gid()) == (uid, gid)
                && meta.nlink() == 1
            {
                let (changed, tags) =
                    reuse::sync_content(&mut entry, &target, opts.fingerprints, &mut scratch)
                        .map_err(|e| io_err(&target, e))?;
                if changed {
                    set_times(&target, mtime, true);
                }
                if let Some(fp) = opts.fingerprints {
                    fp.record(&target, tags);
                }
                written.push(rel);
                continue;
            }
            if !(meta.is_dir() && kind.is_dir()) {
                if meta.is_dir() {
                    fs::remove_dir_all(&target).map_err(|e| io_err(&target, e))?;
                } else {
                    fs::remove_file(&target).map_err(|e| io_err(&target, e))?;
                }
            }
        }
        if kind.is_dir() {
            if !target.is_dir() {
                fs::create_dir(&target).map_err(|e| io_err(&target, e))?;
            }
            fs::set_permissions(&target, fs::Permissions::from_mode(mode & 0o7777))
                .map_err(|e| io_err(&target, e))?;
            dir_times.push((target.clone(), mtime));
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            let mut f = fs::File::create(&target).map_err(|e| io_err(&target, e))?;
            if opts.fingerprints.is_some() {
                tags = Some(
                    reuse::copy_tagged(&mut entry, &mut f, &mut scratch)
                        .map_err(|e| io_err(&target, e))?,
                );
            } else {
                io::copy(&mut entry, &mut f).map_err(|e| io_err(&target, e))?;
            }
            fs::set_permissions(&target, fs::Permissions::from_mode(mode & 0o7777))
                .map_err(|e| io_err(&target, e))?;
        } else if kind.is_symlink() {
            let link = entry
                .link_name()
                .map_err(|e| io_err(&target, e))?
                .map(|l| l.into_owned())
                .unwrap_or_default();
            let joined = if link.is_absolute() {
                link.clone()
            } else {
                Path::new("/").join(parent_rel).join(&link)
            };
            if clean_entry_name(&joined.to_string_lossy()).is_none()
                || crate::paths::clean(&joined.to_string_lossy()).starts_with("/..")
            {
                return Err(ArchiveError::LinkBreakout {
                    kind: "symlink",
                    name: raw_name,
                    target: link.display().to_string(),
                });
            }
            if !link.is_absolute() {
                let mut depth: i64 = parent_rel.components().count() as i64;
                for c in link.components() {
                    match c {
                        Component::ParentDir => depth -= 1,
                        Component::Normal(_) => depth += 1,
                        _ => {}
                    }
                    if depth < 0 {
                        return Err(ArchiveError::LinkBreakout {
                            kind: "symlink",
                            name: raw_name,
                            target: link.display().to_string(),
                        });
                    }
                }
            }
            symlink(&link, &target).map_err(|e| io_err(&target, e))?;
        } else if kind.is_hard_link() {
            let link = entry
                .link_name()
                .map_err(|e| io_err(&target, e))?
                .map(|l| l.into_owned())
                .unwrap_or_default();
            let Some(lrel) = clean_entry_name(&link.to_string_lossy()) else {
                return Err(ArchiveError::LinkBreakout {
                    kind: "hardlink",
                    name: raw_name,
                    target: link.display().to_string(),
                });
            };
            let src = resolve_in_root(dest, &lrel, false);
            if !src.starts_with(dest) {
                return Err(ArchiveError::LinkBreakout {
                    kind: "hardlink",
                    name: raw_name,
                    target: link.display().to_string(),
                });
            }
            fs::hard_link(&src, &target).map_err(|e| io_err(&target, e))?;
        } else if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            let t = if kind.is_character_special() {
                libc::S_IFCHR
            } else if kind.is_block_special() {
                libc::S_IFBLK
            } else {
                libc::S_IFIFO
            };
            let major = header.device_major().ok().flatten().unwrap_or(0);
            let minor = header.device_minor().ok().flatten().unwrap_or(0);
            mknod(&target, t, mode, major, minor).map_err(|e| io_err(&target, e))?;
        } else {
            // PAX/GNU metadata entries are consumed by the tar crate; skip others.
            continue;
        }
        if opts.preserve_owner || opts.owner.is_some() {
            lchown(&target, uid, gid).map_err(|e| io_err(&target, e))?;
            if !kind.is_symlink() && mode & 0o6000 != 0 {
                // chown clears setuid/setgid: apply the mode again.
                let _ = fs::set_permissions(&target, fs::Permissions::from_mode(mode & 0o7777));
            }
        }
        if let Ok(Some(exts)) = entry.pax_extensions() {
            for ext in exts.flatten() {
                if let (Ok(k), v) = (ext.key(), ext.value_bytes()) {
                    if let Some(name) = k.strip_prefix("SCHILY.xattr.") {
                        let _ = xattr::set(&target, name, v);
                    }
                }
            }
        }
        if !kind.is_dir() {
            set_times(&target, mtime, !kind.is_symlink());
        }
        // Stamped after the last metadata change (each moves ctime).
        if let (Some(fp), Some(t)) = (opts.fingerprints, tags) {
            fp.record(&target, t);
        }
        written.push(rel);
    }
    // Directory times last: writing into a directory changes its mtime.
    for (d, t) in dir_times.into_iter().rev() {
        set_times(&d, t, true);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tar_with(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
            h.set_size(data.len() as u64);
            h.set_mtime(1_000_000);
            if !link.is_empty() {
                h.set_link_name(link).unwrap();
            }
            // Write raw names (possibly with `..`) bypassing the builder's checks.
            let bytes = name.as_bytes();
            h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn detects_archives_by_content() {
        let d = tempfile::tempdir().unwrap();
        let t = tar_with(&[("a.txt", tar::EntryType::Regular, b"hi", "")]);
        let plain = d.path().join("notatar.gz");
        fs::write(&plain, &t).unwrap();
        assert!(is_archive_path(&plain));
        let gz = d.path().join("x.bin");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&t).unwrap();
        fs::write(&gz, e.finish().unwrap()).unwrap();
        assert!(is_archive_path(&gz));
        let bz = d.path().join("y");
        let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        e.write_all(&t).unwrap();
        fs::write(&bz, e.finish().unwrap()).unwrap();
        assert!(is_archive_path(&bz));
        let xz = d.path().join("z");
        let mut out = Vec::new();
        lzma_rs::xz_compress(&mut io::Cursor::new(&t), &mut out).unwrap();
        fs::write(&xz, out).unwrap();
        assert!(is_archive_path(&xz));
        let txt = d.path().join("file.tar");
        fs::write(&txt, b"just text, named like a tar").unwrap();
        assert!(!is_archive_path(&txt));
    }

    #[test]
    fn extraction_refuses_escapes() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("root");
        let bad = tar_with(&[("../evil", tar::EntryType::Regular, b"x", "")]);
        assert!(matches!(
            extract_tar(&bad[..], &dest, ExtractOptions::default()),
            Err(ArchiveError::Breakout(_))
        ));
        let bad = tar_with(&[("l", tar::EntryType::Symlink, b"", "../../etc")]);
        assert!(matches!(
            extract_tar(&bad[..], &dest, ExtractOptions::default()),
            Err(ArchiveError::LinkBreakout { .. })
        ));
        // A symlinked directory inside the archive must not lead writes outside.
        let outside = d.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        let t = tar_with(&[
            ("dir", tar::EntryType::Symlink, b"", "/"),
            ("dir/file", tar::EntryType::Regular, b"x", ""),
        ]);
        extract_tar(&t[..], &dest, ExtractOptions::default()).unwrap();
        assert!(dest.join("file").exists());
        assert!(!outside.join("file").exists());
        let abs = tar_with(&[("/abs/f", tar::EntryType::Regular, b"y", "")]);
        extract_tar(&abs[..], &dest, ExtractOptions::default()).unwrap();
        assert_eq!(fs::read(dest.join("abs/f")).unwrap(), b"y");
    }

    #[test]
    fn archive_wins_over_existing_files() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("a")).unwrap();
        fs::write(d.path().join("a/old"), b"keep").unwrap();
        fs::write(d.path().join("f"), b"old").unwrap();
        let t = tar_with(&[
            ("a", tar::EntryType::Directory, b"", ""),
            ("a/new", tar::EntryType::Regular, b"n", ""),
            ("f", tar::EntryType::Directory, b"", ""),
        ]);
        extract_tar(&t[..], d.path(), ExtractOptions::default()).unwrap();
        assert!(d.path().join("a/old").exists());
        assert!(d.path().join("a/new").exists());
        assert!(d.path().join("f").is_dir());
    }
}
