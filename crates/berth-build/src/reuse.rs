//! Re-extracting a build context into the previous build's directory without
//! rewriting what did not change, and without trusting metadata to say so.
//!
//! A context tar carries whole-second mtimes, so size + mtime cannot tell a same-size
//! rewrite within one second from an unchanged file: the entry's bytes must be
//! compared with the file's. Reading the old file back costs as much as the build
//! itself (200 MB in 2000 files: +110–170 ms on a 0.2 s cached build), so each file
//! the extraction writes or checks gets **chunk fingerprints** — XXH3-128 of every
//! 256 KiB chunk of its content, computed from the bytes as they stream past — stamped
//! with the file's inode and ctime. The next extraction hashes the incoming chunks
//! (cheap: they are in cache) and compares fingerprints instead of bytes, as long as
//! the stamp still matches (the kernel moves ctime on every write, chmod, chown or
//! rename, and nothing can set it back). A file without a valid stamp — first build
//! after a daemon start, or touched since — is compared byte for byte against a
//! mapping of it. XXH3 is not a cryptographic hash; it only decides whether to keep
//! bytes the daemon wrote itself, and the tarsum (SHA-256) of what was kept is what
//! the build cache uses. Hand-written because no crate does incremental tar
//! re-extraction.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Bytes per fingerprinted chunk.
pub const CHUNK: usize = 256 * 1024;

/// What identifies one version of a file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    size: u64,
    ctime: i64,
    ctime_ns: i64,
}

impl Stamp {
    fn of(m: &fs::Metadata) -> Self {
        Stamp {
            ino: m.ino(),
            size: m.len(),
            ctime: m.ctime(),
            ctime_ns: m.ctime_nsec(),
        }
    }
}

/// Chunk fingerprints of files in reused context directories, by absolute path.
/// Held in memory by the builder for the daemon's lifetime.
#[derive(Debug, Default)]
pub struct Fingerprints {
    files: Mutex<HashMap<PathBuf, (Stamp, Vec<u128>)>>,
}

impl Fingerprints {
    /// The fingerprints of `path` if they were taken of the version `meta` describes.
    fn get(&self, path: &Path, meta: &fs::Metadata) -> Option<Vec<u128>> {
        let files = self.files.lock().ok()?;
        let (stamp, tags) = files.get(path)?;
        (*stamp == Stamp::of(meta)).then(|| tags.clone())
    }

    /// Whether `path` is still the very version the extraction wrote or checked (its
    /// inode, size and ctime match the recorded stamp).
    pub fn is_current(&self, path: &Path) -> bool {
        let Ok(m) = fs::symlink_metadata(path) else {
            return false;
        };
        let Ok(files) = self.files.lock() else {
            return false;
        };
        m.is_file() && files.get(path).is_some_and(|(s, _)| *s == Stamp::of(&m))
    }

    /// Records `tags` for the version of `path` now on disk.
    pub fn record(&self, path: &Path, tags: Vec<u128>) {
        if let (Ok(m), Ok(mut files)) = (fs::symlink_metadata(path), self.files.lock()) {
            files.insert(path.to_path_buf(), (Stamp::of(&m), tags));
        }
    }

    /// Forgets every file under `dir` that is not in `keep` (paths relative to `dir`).
    pub fn retain_under(&self, dir: &Path, keep: &HashSet<PathBuf>) {
        if let Ok(mut files) = self.files.lock() {
            files.retain(|p, _| match p.strip_prefix(dir) {
                Ok(rel) => keep.contains(rel),
                Err(_) => true,
            });
        }
    }

    /// How many files have fingerprints.
    pub fn len(&self) -> usize {
        self.files.lock().map(|f| f.len()).unwrap_or(0)
    }

    /// Are there none?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn tag(chunk: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(chunk)
}

/// Reads until `buf` is full or the reader is at its end.
pub fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Copies `r` to `w` in [`CHUNK`]s, returning each chunk's fingerprint.
pub fn copy_tagged<R: Read + ?Sized, W: Write>(
    r: &mut R,
    w: &mut W,
    buf: &mut Vec<u8>,
) -> io::Result<Vec<u128>> {
    buf.resize(CHUNK, 0);
    let mut tags = Vec::new();
    loop {
        let n = read_full(r, buf)?;
        if n == 0 {
            return Ok(tags);
        }
        tags.push(tag(&buf[..n]));
        w.write_all(&buf[..n])?;
    }
}

/// Brings the existing regular file `target` (one link, metadata equal to the entry's)
/// to the content of `entry`, writing from the first differing chunk on. Chunks are
/// compared by fingerprint when `known` has valid ones for this version of the file,
/// else byte for byte against a mapping of it. Returns whether anything was written
/// and the fingerprints of the new content.
pub fn sync_content<R: Read + ?Sized>(
    entry: &mut R,
    target: &Path,
    known: Option<&Fingerprints>,
    buf: &mut Vec<u8>,
) -> io::Result<(bool, Vec<u128>)> {
    let mut f = fs::OpenOptions::new().read(true).write(true).open(target)?;
    let meta = f.metadata()?;
    let len = meta.len() as usize;
    let old_tags = known.and_then(|k| k.get(target, &meta));
    let map = match (&old_tags, len) {
        (None, 1..) => {
            // SAFETY: the context directory is the daemon's own and this file has one
            // link; nothing else writes it while it is mapped (a concurrent truncation
            // would make the comparison fault, never read another file's data).
            Some(unsafe { memmap2::MmapOptions::new().populate().map(&f)? })
        }
        _ => None,
    };
    let old: &[u8] = map.as_deref().unwrap_or(&[]);
    buf.resize(CHUNK, 0);
    let mut tags = Vec::new();
    let mut pos = 0usize;
    loop {
        let n = read_full(entry, buf)?;
        if n == 0 {
            if pos == len {
                return Ok((false, tags));
            }
            f.set_len(pos as u64)?;
            return Ok((true, tags));
        }
        let t = tag(&buf[..n]);
        let same = match &old_tags {
            Some(o) => o.get(tags.len()) == Some(&t) && pos + n <= len,
            None => old.get(pos..pos + n) == Some(&buf[..n]),
        };
        tags.push(t);
        if !same {
            drop(map);
            f.seek(SeekFrom::Start(pos as u64))?;
            f.write_all(&buf[..n])?;
            tags.extend(copy_tagged(entry, &mut f, buf)?);
            let end = f.stream_position()?;
            f.set_len(end)?;
            return Ok((true, tags));
        }
        pos += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(data: &[u8]) -> &[u8] {
        data
    }

    #[test]
    fn fingerprints_decide_when_valid_bytes_otherwise() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        let v1: Vec<u8> = (0..CHUNK * 2 + 100).map(|i| (i % 251) as u8).collect();
        fs::write(&p, &v1).unwrap();
        let fp = Fingerprints::default();
        let mut buf = Vec::new();
        // No fingerprints yet: compared byte for byte, nothing written.
        let (changed, tags) = sync_content(&mut stream(&v1), &p, Some(&fp), &mut buf).unwrap();
        assert!(!changed);
        assert_eq!(tags.len(), 3);
        // Valid fingerprints are trusted over the bytes: wrong ones for this very
        // version make identical content look changed.
        fp.record(&p, vec![0; 3]);
        let (changed, _) = sync_content(&mut stream(&v1), &p, Some(&fp), &mut buf).unwrap();
        assert!(changed);
        assert_eq!(fs::read(&p).unwrap(), v1);
        fp.record(&p, tags.clone());
        let mut v2 = v1.clone();
        v2[CHUNK + 5] ^= 1;
        let (changed, tags2) = sync_content(&mut stream(&v2), &p, Some(&fp), &mut buf).unwrap();
        assert!(changed);
        assert_eq!(fs::read(&p).unwrap(), v2);
        assert_eq!(tags2[0], tags[0]);
        assert_ne!(tags2[1], tags[1]);
        // The write moved the stamp: the old fingerprints no longer apply, and the
        // bytes are compared again.
        let m = fs::metadata(&p).unwrap();
        assert!(fp.get(&p, &m).is_none());
        fp.record(&p, tags2.clone());
        let (changed, _) = sync_content(&mut stream(&v2), &p, Some(&fp), &mut buf).unwrap();
        assert!(!changed);
        // Shorter and longer content of the same prefix.
        let (changed, _) = sync_content(&mut stream(&v2[..10]), &p, None, &mut buf).unwrap();
        assert!(changed);
        assert_eq!(fs::read(&p).unwrap(), &v2[..10]);
        let (changed, _) = sync_content(&mut stream(&v2), &p, None, &mut buf).unwrap();
        assert!(changed);
        assert_eq!(fs::read(&p).unwrap(), v2);
    }

    #[test]
    fn retain_under_drops_files_no_longer_in_the_context() {
        let d = tempfile::tempdir().unwrap();
        for n in ["a", "b"] {
            fs::write(d.path().join(n), n).unwrap();
        }
        let fp = Fingerprints::default();
        fp.record(&d.path().join("a"), vec![1]);
        fp.record(&d.path().join("b"), vec![2]);
        let other = tempfile::tempdir().unwrap();
        let c = other.path().join("c");
        fs::write(&c, "c").unwrap();
        fp.record(&c, vec![3]);
        let keep: HashSet<PathBuf> = [PathBuf::from("a")].into_iter().collect();
        fp.retain_under(d.path(), &keep);
        let m = fs::metadata(d.path().join("a")).unwrap();
        assert_eq!(fp.get(&d.path().join("a"), &m), Some(vec![1]));
        assert!(fp
            .get(
                &d.path().join("b"),
                &fs::metadata(d.path().join("b")).unwrap()
            )
            .is_none());
        assert_eq!(fp.get(&c, &fs::metadata(&c).unwrap()), Some(vec![3]));
    }
}
