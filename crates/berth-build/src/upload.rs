//! Incremental context upload between the berth CLI and the berth daemon.
//!
//! `docker build` (legacy builder) sends the whole context tar on every build: a
//! cached rebuild of a 200 MB context moves 200 MB through the client, the socket and
//! the daemon just to find that nothing changed. BuildKit avoids that with its
//! file-sync session (the daemon asks for the files whose stat changed); berth does
//! the same within the legacy `POST /build` API, so the docker CLI is unaffected:
//!
//! 1. The CLI names its context with a [`context_key`] (machine id, absolute
//!    directory, Dockerfile) and asks `GET /berth/build/contexts/{key}` for the client
//!    stamps the daemon recorded at that context's last upload.
//! 2. It walks the context as usual and leaves out of the tar every regular file
//!    whose [`stamp`] (device, inode, size, mtime and ctime to the nanosecond, mode,
//!    owner) equals the recorded one. The tar starts with a PAX global header
//!    ([`write_manifest`], key [`PAX_KEY`]) holding a [`Manifest`]: the key, the
//!    stamp of every file and the list of files left out (`keep`).
//! 3. The daemon ([`peek`]) reads that header before choosing a build slot, takes the
//!    slot holding that key, and accepts a kept file only if the slot recorded the
//!    same stamp for it and its own copy is unchanged since it wrote it
//!    ([`crate::reuse::Fingerprints::is_current`]). Anything else fails the upload
//!    with [`STALE_BASE`] in the message and the CLI sends the whole context again.
//!
//! A stamp is only trusted when the file was not modified "recently" ([`is_racy`],
//! git's racy-index rule): the kernel's file timestamps come from a coarse clock, so a
//! second write within the same tick as the one the stamp saw would leave ctime
//! unchanged. Files changed within [`RACY_WINDOW`] of the walk are sent in full and
//! get no stamp. Without a manifest (the docker CLI, `-` contexts) [`peek`] still
//! reads the first tar headers so the daemon can pick the slot holding the most
//! similar previous context. Hand-written because no crate speaks this exchange.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The PAX global-header key carrying the [`Manifest`] (JSON).
pub const PAX_KEY: &str = "BERTH.context";

/// Marker in the error of an upload whose kept files the daemon no longer holds: the
/// client sends the whole context again.
pub const STALE_BASE: &str = "berth: build context base changed";

/// How recent a change makes a stamp untrustworthy.
pub const RACY_WINDOW: Duration = Duration::from_secs(2);

/// How much of a context tar [`peek`] reads to learn its first paths.
const PEEK_BYTES: usize = 64 * 1024;

/// What the CLI tells the daemon about an incremental upload.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// The context's [`context_key`].
    pub key: String,
    /// Client stamp of each regular file the slot holds after this upload (context
    /// path → [`stamp`]); files without a trustworthy stamp are absent.
    pub stamps: HashMap<String, String>,
    /// Files left out of the tar: the slot's copy is current.
    pub keep: Vec<String>,
}

/// The identity of one version of a client file (see the module docs).
pub fn stamp(m: &fs::Metadata) -> String {
    format!(
        "{}:{}:{}:{}.{}:{}.{}:{:o}:{}:{}",
        m.dev(),
        m.ino(),
        m.len(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
        m.mode(),
        m.uid(),
        m.gid()
    )
}

/// Whether `m` changed within [`RACY_WINDOW`] of `now` (or claims a future time): its
/// stamp could miss a second change within the same clock tick.
pub fn is_racy(m: &fs::Metadata, now: SystemTime) -> bool {
    let Ok(now) = now.duration_since(SystemTime::UNIX_EPOCH) else {
        return true;
    };
    let limit = now.saturating_sub(RACY_WINDOW);
    [(m.ctime(), m.ctime_nsec()), (m.mtime(), m.mtime_nsec())]
        .iter()
        .any(|&(s, ns)| s < 0 || Duration::new(s as u64, ns.clamp(0, 999_999_999) as u32) >= limit)
}

/// The name of a context directory as seen from one machine: XXH3-128 of the
/// machine id, the canonical directory and the Dockerfile's path in it.
pub fn context_key(dir: &Path, dockerfile: &str) -> io::Result<String> {
    let dir = dir.canonicalize()?;
    let machine = fs::read("/etc/machine-id").unwrap_or_default();
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&machine);
    h.update(b"\0");
    h.update(dir.as_os_str().as_encoded_bytes());
    h.update(b"\0");
    h.update(dockerfile.as_bytes());
    Ok(format!("{:032x}", h.digest128()))
}

/// Writes `m` as the tar's PAX global header (must come first).
pub fn write_manifest<W: Write>(b: &mut tar::Builder<W>, m: &Manifest) -> io::Result<()> {
    let json = serde_json::to_vec(m).map_err(io::Error::other)?;
    // A PAX record is "<len> <key>=<value>\n", <len> counting its own digits.
    let body = PAX_KEY.len() + json.len() + 3;
    let mut len = body + 1;
    while body + len.to_string().len() != len {
        len = body + len.to_string().len();
    }
    let mut rec = format!("{len} {PAX_KEY}=").into_bytes();
    rec.extend_from_slice(&json);
    rec.push(b'\n');
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XGlobalHeader);
    h.set_mode(0o644);
    h.set_size(rec.len() as u64);
    b.append_data(&mut h, "pax_global_header", &rec[..])
}

/// What [`peek`] learned from the start of a context tar.
#[derive(Debug, Default)]
pub struct Peeked {
    /// The incremental-upload manifest, if the tar starts with one.
    pub manifest: Option<Manifest>,
    /// The paths of the first entries (no trailing slash).
    pub names: Vec<String>,
}

/// The rest of a tar after [`peek`]: the bytes it read, then the stream.
pub type Rest<R> = io::Chain<io::Cursor<Vec<u8>>, R>;

/// Reads the start of a (decompressed) context tar: the manifest header if there is
/// one (consumed) and the names of the entries in the next [`PEEK_BYTES`]. Returns
/// them and a reader giving the rest of the tar from where the manifest ended.
pub fn peek<R: Read>(mut r: R) -> io::Result<(Peeked, Rest<R>)> {
    let mut peeked = Peeked::default();
    let mut head = vec![0u8; 512];
    let n = crate::reuse::read_full(&mut r, &mut head)?;
    head.truncate(n);
    if n == 512 && head[156] == b'g' {
        let size = tar::Header::from_byte_slice(&head)
            .entry_size()
            .map_err(|e| bad(format!("PAX global header: {e}")))?;
        if size > 1 << 30 {
            return Err(bad(format!("PAX global header of {size} bytes")));
        }
        let padded = size.div_ceil(512) * 512;
        let mut data = vec![0u8; padded as usize];
        if crate::reuse::read_full(&mut r, &mut data)? != data.len() {
            return Err(bad("truncated PAX global header".into()));
        }
        data.truncate(size as usize);
        for ext in tar::PaxExtensions::new(&data) {
            let ext = ext.map_err(|e| bad(format!("PAX global header: {e}")))?;
            if ext.key() == Ok(PAX_KEY) {
                let m = serde_json::from_slice(ext.value_bytes())
                    .map_err(|e| bad(format!("{PAX_KEY}: {e}")))?;
                peeked.manifest = Some(m);
            }
        }
        if peeked.manifest.is_some() {
            head.clear();
        } else {
            // Somebody else's global header: hand it on untouched.
            head.extend_from_slice(&data);
            head.resize(512 + padded as usize, 0);
        }
    }
    let start = head.len();
    head.resize(start + PEEK_BYTES, 0);
    let got = crate::reuse::read_full(&mut r, &mut head[start..])?;
    head.truncate(start + got);
    peeked.names = entry_names(&head);
    Ok((peeked, io::Cursor::new(head).chain(r)))
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// The paths of the tar entries whose headers lie wholly in `head`.
fn entry_names(head: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let mut off = 0;
    while off + 512 <= head.len() {
        let block = &head[off..off + 512];
        if block.iter().all(|b| *b == 0) {
            break;
        }
        let h = tar::Header::from_byte_slice(block);
        let Ok(size) = h.entry_size() else { break };
        let kind = h.entry_type();
        if !matches!(
            kind,
            tar::EntryType::XHeader
                | tar::EntryType::XGlobalHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        ) {
            if let Ok(p) = h.path() {
                let p = p.to_string_lossy();
                let p = p.trim_start_matches("./").trim_end_matches('/');
                if !p.is_empty() {
                    names.push(p.to_string());
                }
            }
        }
        off += 512 + (size.div_ceil(512) * 512) as usize;
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(manifest: Option<&Manifest>, files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        if let Some(m) = manifest {
            write_manifest(&mut b, m).unwrap();
        }
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn manifest_round_trips_and_is_consumed() {
        let m = Manifest {
            key: "k".into(),
            stamps: [("a".to_string(), "1:2:3".to_string())].into(),
            keep: vec!["a".into()],
        };
        let t = tar_of(Some(&m), &[("b", b"bee"), ("dir/c", b"")]);
        let (p, mut rest) = peek(&t[..]).unwrap();
        assert_eq!(p.manifest.as_ref(), Some(&m));
        assert_eq!(p.names, vec!["b", "dir/c"]);
        // The rest is a plain tar of the two files, nothing of the manifest.
        let mut out = Vec::new();
        rest.read_to_end(&mut out).unwrap();
        let mut a = tar::Archive::new(&out[..]);
        let names: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, vec!["b", "dir/c"]);
    }

    #[test]
    fn a_tar_without_manifest_passes_through_whole() {
        let big = vec![7u8; 100_000];
        let t = tar_of(
            None,
            &[("Dockerfile", b"FROM x"), ("big", &big), ("late", b"l")],
        );
        let (p, mut rest) = peek(&t[..]).unwrap();
        assert!(p.manifest.is_none());
        // "late" lies beyond the peeked bytes.
        assert_eq!(p.names, vec!["Dockerfile", "big"]);
        let mut out = Vec::new();
        rest.read_to_end(&mut out).unwrap();
        assert_eq!(out, t);
        // Short input.
        let (p, mut rest) = peek(&b"abc"[..]).unwrap();
        assert!(p.names.is_empty());
        let mut out = Vec::new();
        rest.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abc");
    }

    #[test]
    fn racy_and_stamp() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        fs::write(&f, b"x").unwrap();
        let m = fs::metadata(&f).unwrap();
        assert!(is_racy(&m, SystemTime::now()));
        assert!(!is_racy(&m, SystemTime::now() + Duration::from_secs(5)));
        let s1 = stamp(&m);
        fs::write(&f, b"y").unwrap();
        // Same size; ctime/mtime may or may not have moved within one tick, the
        // racy rule is what covers that. A chmod always changes the stamp.
        fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        assert_ne!(s1, stamp(&fs::metadata(&f).unwrap()));
        let k1 = context_key(d.path(), "Dockerfile").unwrap();
        assert_eq!(k1, context_key(d.path(), "Dockerfile").unwrap());
        assert_ne!(k1, context_key(d.path(), "other/Dockerfile").unwrap());
    }
}
