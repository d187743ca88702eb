//! One layer tar parsed into a list of entries (path, kind, size, mode, owner), with
//! whiteouts (`.wh.NAME`) and opaque markers (`.wh..wh..opq`) recognised.
//!
//! Only tar headers are kept: file contents are skipped (by seeking when the layer is an
//! uncompressed region of a file, by reading through otherwise), so memory grows with
//! the number of files, never with their size.

use crate::error::{AnalyzeError, Result};
use serde::Serialize;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// Prefix of whiteout entries.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the opaque-directory marker.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// What a layer entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Hardlink,
    /// Character/block devices, FIFOs.
    Other,
    /// A whiteout: `path` is the deleted path.
    Whiteout,
    /// An opaque marker: `path` is the directory whose lower contents are hidden.
    Opaque,
}

/// One entry of a layer tar. `path` is relative, cleaned, without a leading `/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerEntry {
    pub path: String,
    pub kind: EntryKind,
    /// Size from the tar header (0 for directories, links, whiteouts).
    pub size: u64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Target of a symlink or hardlink.
    pub link: Option<String>,
    /// The raw tar type flag (dive's `typeFlag`).
    pub type_flag: u8,
}

/// How a layer blob is compressed (judged by its first bytes, not by its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// A parsed layer.
#[derive(Debug, Clone, Default)]
pub struct ParsedLayer {
    pub entries: Vec<LayerEntry>,
    /// Σ tar-header sizes of all entries: dive's `Layer.Size`.
    pub size: u64,
}

/// Guesses the compression from the first bytes of a blob. `None` if it looks like
/// neither gzip, zstd nor a tar (ustar/gnu magic at offset 257, or an all-zero end block).
pub fn sniff(head: &[u8]) -> Option<Compression> {
    if head.starts_with(&[0x1f, 0x8b]) {
        return Some(Compression::Gzip);
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Some(Compression::Zstd);
    }
    if head.len() >= 262 && &head[257..262] == b"ustar" {
        return Some(Compression::None);
    }
    if head.len() >= 512 && head[..512].iter().all(|b| *b == 0) {
        // An empty tar (only the end-of-archive blocks).
        return Some(Compression::None);
    }
    if head.len() >= 512 && looks_like_v7_header(&head[..512]) {
        return Some(Compression::None);
    }
    None
}

/// Old-style tar headers have no magic: check the header checksum instead.
fn looks_like_v7_header(h: &[u8]) -> bool {
    let field = &h[148..156];
    let text: String = field
        .iter()
        .take_while(|b| **b != 0 && **b != b' ')
        .map(|b| *b as char)
        .collect();
    let Ok(want) = u32::from_str_radix(text.trim(), 8) else {
        return false;
    };
    let sum: u32 = h
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
    sum == want && h[0] != 0
}

/// Cleans a tar entry name the way Go's `path.Clean` does, without a leading `/`.
/// Returns `None` for the root (`.`, `/`, `./`).
pub fn clean_path(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    }
}

/// Splits `a/b/c` into (`a/b`, `c`); the parent of a top-level name is `""`.
pub fn split_parent(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

fn entry_from_header<R: Read>(
    entry: &tar::Entry<'_, R>,
    layer: &str,
) -> Result<Option<LayerEntry>> {
    let header = entry.header();
    let raw_path = entry.path_bytes();
    let name = String::from_utf8_lossy(&raw_path).into_owned();
    let Some(path) = clean_path(&name) else {
        return Ok(None);
    };
    let type_flag = header.entry_type().as_byte();
    let kind = match header.entry_type() {
        tar::EntryType::Regular | tar::EntryType::Continuous => EntryKind::File,
        tar::EntryType::Directory => EntryKind::Dir,
        tar::EntryType::Symlink => EntryKind::Symlink,
        tar::EntryType::Link => EntryKind::Hardlink,
        tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => EntryKind::Other,
        // PAX/GNU meta entries are consumed by the tar crate; anything else unknown is
        // treated as a regular file (as Go's archive/tar does for unknown flags).
        _ => EntryKind::File,
    };
    let (parent, base) = split_parent(&path);
    let (path, kind) = if base == OPAQUE_MARKER {
        (parent.to_string(), EntryKind::Opaque)
    } else if let Some(target) = base.strip_prefix(WHITEOUT_PREFIX) {
        if target.starts_with(WHITEOUT_PREFIX) || target.is_empty() {
            // Other AUFS meta files (.wh..wh.plnk, .wh..wh.aufs): not content.
            return Ok(None);
        }
        let p = if parent.is_empty() {
            target.to_string()
        } else {
            format!("{parent}/{target}")
        };
        (p, EntryKind::Whiteout)
    } else {
        (path, kind)
    };
    let link = match kind {
        EntryKind::Symlink | EntryKind::Hardlink => entry
            .link_name_bytes()
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
        _ => None,
    };
    let size = entry.size();
    // Empty numeric fields read as 0, as Go's archive/tar does; garbage is an error.
    let old = header.as_old();
    let mode = lenient(header.mode().map(u64::from), &old.mode)
        .map_err(|e| layer_err(layer, &path, "mode", e))? as u32;
    let uid = lenient(header.uid(), &old.uid).map_err(|e| layer_err(layer, &path, "uid", e))?;
    let gid = lenient(header.gid(), &old.gid).map_err(|e| layer_err(layer, &path, "gid", e))?;
    Ok(Some(LayerEntry {
        path,
        kind,
        size,
        mode,
        uid,
        gid,
        link,
        type_flag,
    }))
}

fn lenient(v: io::Result<u64>, raw: &[u8]) -> io::Result<u64> {
    match v {
        Ok(v) => Ok(v),
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        Err(e) => Err(e),
    }
}

fn layer_err(layer: &str, path: &str, field: &str, e: io::Error) -> AnalyzeError {
    AnalyzeError::Layer {
        layer: layer.to_string(),
        message: format!("entry {path:?}: bad {field}: {e}"),
    }
}

fn collect<'a, R: Read + 'a>(
    entries: impl Iterator<Item = io::Result<tar::Entry<'a, R>>>,
    layer: &str,
) -> Result<ParsedLayer> {
    let mut out = ParsedLayer::default();
    for entry in entries {
        let entry = entry.map_err(|e| AnalyzeError::Layer {
            layer: layer.to_string(),
            message: format!("after {} entries: {e}", out.entries.len()),
        })?;
        out.size += entry.size();
        if let Some(e) = entry_from_header(&entry, layer)? {
            out.entries.push(e);
        }
    }
    Ok(out)
}

/// Parses a layer tar from a stream (already decompressed).
pub fn parse_tar<R: Read>(reader: R, layer: &str) -> Result<ParsedLayer> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|e| AnalyzeError::Layer {
        layer: layer.to_string(),
        message: e.to_string(),
    })?;
    collect(entries, layer)
}

/// Parses a layer tar that can seek: file contents are skipped without reading them.
pub fn parse_tar_seek<R: Read + Seek>(reader: R, layer: &str) -> Result<ParsedLayer> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries_with_seek()
        .map_err(|e| AnalyzeError::Layer {
            layer: layer.to_string(),
            message: e.to_string(),
        })?;
    collect(entries, layer)
}

/// Parses a possibly-compressed layer blob from a stream, sniffing its compression.
pub fn parse_blob<R: Read>(reader: R, layer: &str) -> Result<ParsedLayer> {
    let mut buf = BufReader::with_capacity(256 * 1024, reader);
    let head = buf
        .fill_buf()
        .map_err(|e| AnalyzeError::io(format!("reading layer {layer}"), e))?;
    let kind = sniff(head).unwrap_or(Compression::None);
    parse_with(buf, kind, layer)
}

fn parse_with<R: BufRead>(buf: R, kind: Compression, layer: &str) -> Result<ParsedLayer> {
    match kind {
        Compression::None => parse_tar(buf, layer),
        Compression::Gzip => parse_tar(flate2::bufread::MultiGzDecoder::new(buf), layer),
        Compression::Zstd => {
            let dec = zstd::stream::read::Decoder::with_buffer(buf)
                .map_err(|e| AnalyzeError::io(format!("zstd layer {layer}"), e))?;
            parse_tar(dec, layer)
        }
    }
}

/// A byte range of a file, read with `pread` so that many threads can share the file
/// and seeking costs no system call.
#[derive(Debug, Clone)]
pub struct Region {
    file: Arc<File>,
    start: u64,
    len: u64,
    pos: u64,
}

impl Region {
    pub fn new(file: Arc<File>, start: u64, len: u64) -> Region {
        Region {
            file,
            start,
            len,
            pos: 0,
        }
    }

    /// Reads up to `buf.len()` bytes at `offset` within the region, without moving.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (buf.len() as u64).min(self.len) as usize;
        let mut got = 0;
        while got < want {
            let n = self
                .file
                .read_at(&mut buf[got..want], self.start + got as u64)?;
            if n == 0 {
                break;
            }
            got += n;
        }
        Ok(got)
    }
}

impl Read for Region {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len {
            return Ok(0);
        }
        let want = (buf.len() as u64).min(self.len - self.pos) as usize;
        let n = self.file.read_at(&mut buf[..want], self.start + self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Region {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let new = match pos {
            SeekFrom::Start(p) => p as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
            SeekFrom::End(d) => self.len as i128 + d as i128,
        };
        if new < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before start of region",
            ));
        }
        self.pos = new as u64;
        Ok(self.pos)
    }
}

/// Parses a layer blob stored in a region of a file: plain tars are walked by seeking
/// over contents; compressed ones are decompressed as a stream.
pub fn parse_region(region: Region, layer: &str) -> Result<ParsedLayer> {
    let mut head = [0u8; 512];
    let n = region
        .peek(&mut head)
        .map_err(|e| AnalyzeError::io(format!("reading layer {layer}"), e))?;
    match sniff(&head[..n]).unwrap_or(Compression::None) {
        Compression::None => parse_tar_seek(region, layer),
        kind => parse_with(BufReader::with_capacity(256 * 1024, region), kind, layer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_uid(7);
            h.set_gid(8);
            if *kind == tar::EntryType::Link || *kind == tar::EntryType::Symlink {
                h.set_link_name("bin/busybox").unwrap();
            }
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn parses_kinds_whiteouts_and_opaque() {
        let data = tar_of(&[
            ("./etc/", tar::EntryType::Directory, b""),
            ("./etc/passwd", tar::EntryType::Regular, b"root:x:0:0"),
            ("etc/.wh.shadow", tar::EntryType::Regular, b""),
            ("var/.wh..wh..opq", tar::EntryType::Regular, b""),
            ("bin/sh", tar::EntryType::Link, b""),
            ("bin/.wh..wh.plnk", tar::EntryType::Regular, b""),
        ]);
        let l = parse_blob(&data[..], "t").unwrap();
        let got: Vec<(&str, EntryKind, u64)> = l
            .entries
            .iter()
            .map(|e| (e.path.as_str(), e.kind, e.size))
            .collect();
        assert_eq!(
            got,
            vec![
                ("etc", EntryKind::Dir, 0),
                ("etc/passwd", EntryKind::File, 10),
                ("etc/shadow", EntryKind::Whiteout, 0),
                ("var", EntryKind::Opaque, 0),
                ("bin/sh", EntryKind::Hardlink, 0),
            ]
        );
        assert_eq!(l.size, 10);
        assert_eq!(l.entries[1].uid, 7);
        assert_eq!(l.entries[4].link.as_deref(), Some("bin/busybox"));
    }

    #[test]
    fn gzip_and_zstd_are_sniffed() {
        use std::io::Write;
        let data = tar_of(&[("a", tar::EntryType::Regular, b"hello")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let zs = zstd::encode_all(&data[..], 1).unwrap();
        for blob in [&data, &gz, &zs] {
            let l = parse_blob(&blob[..], "t").unwrap();
            assert_eq!(l.entries.len(), 1);
            assert_eq!(l.size, 5);
        }
    }

    #[test]
    fn region_parse_matches_stream_parse() {
        use std::io::Write;
        let data = tar_of(&[
            ("a", tar::EntryType::Regular, &[1u8; 3000]),
            ("b/c", tar::EntryType::Regular, &[2u8; 10]),
        ]);
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"JUNK").unwrap();
        f.write_all(&data).unwrap();
        f.write_all(b"TAIL").unwrap();
        let r = Region::new(Arc::new(f), 4, data.len() as u64);
        let a = parse_region(r, "t").unwrap();
        let b = parse_blob(&data[..], "t").unwrap();
        assert_eq!(a.entries, b.entries);
        assert_eq!(a.size, 3010);
    }

    #[test]
    fn clean_path_is_go_like() {
        assert_eq!(clean_path("./a//b/./c/").as_deref(), Some("a/b/c"));
        assert_eq!(clean_path("/"), None);
        assert_eq!(clean_path("./"), None);
        assert_eq!(clean_path("a/../b").as_deref(), Some("b"));
    }
}
