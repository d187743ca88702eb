//! Taking content in: a stream becomes either a temporary blob or a *staged layer*
//! (unpacked into `tmp/stage-*/diff` with its tar skeleton), without ever buffering it
//! whole. Nothing ingested is visible until [`crate::Store`] commits it.

use crate::content::ContentStore;
use crate::error::StoreError;
use crate::tarsplit;
use crate::unpack::unpack_observed;
use berth_oci::media_types::LayerCompression;
use berth_oci::{Digest, Sha256Writer};
use sha2::{Digest as _, Sha256};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read};
use std::path::PathBuf;

/// A blob written under `tmp/`, hashed, not yet in the store.
#[derive(Debug)]
pub struct TempBlob {
    pub path: PathBuf,
    pub digest: Digest,
    pub size: u64,
}

impl Drop for TempBlob {
    fn drop(&mut self) {
        // Committed blobs have been renamed away; anything left is garbage.
        let _ = fs::remove_file(&self.path);
    }
}

/// A layer unpacked under `tmp/stage-*`, not yet in the store.
#[derive(Debug)]
pub struct StagedLayer {
    /// `tmp/stage-*`, holding `diff/` and `tar-split`.
    pub dir: PathBuf,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
    /// Length of the uncompressed tar.
    pub diff_size: u64,
    /// Sum of the regular files' sizes.
    pub size: u64,
    /// Digest and size of the stream as it came in (compressed or not).
    pub blob_digest: Digest,
    pub blob_size: u64,
    pub compression: LayerCompression,
}

impl Drop for StagedLayer {
    fn drop(&mut self) {
        if self.dir.exists() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// What an ingested stream turned out to be.
#[derive(Debug)]
pub enum Ingested {
    Blob(TempBlob),
    Layer(StagedLayer),
}

impl Ingested {
    /// Digest of the stream as received.
    pub fn digest(&self) -> &Digest {
        match self {
            Ingested::Blob(b) => &b.digest,
            Ingested::Layer(l) => &l.blob_digest,
        }
    }
}

/// What the first bytes of a stream say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    Tar(LayerCompression),
    Other,
}

/// Guesses a stream's kind from its first (up to 512) bytes.
pub fn sniff(head: &[u8]) -> Sniffed {
    if head.starts_with(&[0x1f, 0x8b]) {
        return Sniffed::Tar(LayerCompression::Gzip);
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Sniffed::Tar(LayerCompression::Zstd);
    }
    if head.len() == 512 && (&head[257..262] == b"ustar" || tar_checksum_ok(head)) {
        return Sniffed::Tar(LayerCompression::None);
    }
    // An empty archive: nothing but zero blocks.
    if head.len() == 512 && head.iter().all(|b| *b == 0) {
        return Sniffed::Tar(LayerCompression::None);
    }
    Sniffed::Other
}

fn tar_checksum_ok(h: &[u8]) -> bool {
    let field = &h[148..156];
    let s: String = field
        .iter()
        .take_while(|b| **b != 0 && **b != b' ')
        .map(|b| *b as char)
        .collect();
    let Ok(want) = u32::from_str_radix(s.trim(), 8) else {
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
    sum == want && want != 0
}

fn read_head(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = vec![0u8; 512];
    let mut n = 0;
    while n < 512 {
        let k = r.read(&mut head[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    head.truncate(n);
    Ok(head)
}

/// Ingests a stream, unpacking it as a layer when it looks like a (compressed) tar.
pub fn ingest_auto(content: &ContentStore, mut r: impl Read) -> Result<Ingested, StoreError> {
    let head = read_head(&mut r).map_err(|e| StoreError::Invalid(format!("reading: {e}")))?;
    match sniff(&head) {
        Sniffed::Tar(c) => Ok(Ingested::Layer(stage(content, &head[..], r, c, true)?)),
        Sniffed::Other => Ok(Ingested::Blob(write_temp(content, (&head[..]).chain(r))?)),
    }
}

/// Ingests a stream that must be a layer (plain, gzip or zstd tar).
pub fn ingest_layer(content: &ContentStore, r: impl Read) -> Result<StagedLayer, StoreError> {
    ingest_layer_opts(content, r, true)
}

/// [`ingest_layer`]; with `hash_blob` false the compressed stream is not hashed here and
/// `blob_digest` is left for the caller to fill (a puller that hashes the download on
/// its network thread, so that this thread only decompresses and unpacks).
pub fn ingest_layer_opts(
    content: &ContentStore,
    mut r: impl Read,
    hash_blob: bool,
) -> Result<StagedLayer, StoreError> {
    let head = read_head(&mut r).map_err(|e| StoreError::Invalid(format!("reading: {e}")))?;
    match sniff(&head) {
        Sniffed::Tar(c) => stage(content, &head[..], r, c, hash_blob),
        Sniffed::Other if head.is_empty() => Err(StoreError::Invalid(
            "empty input: expected a tar archive".into(),
        )),
        Sniffed::Other => Err(StoreError::Invalid(
            "input is not a tar archive (plain, gzip or zstd)".into(),
        )),
    }
}

/// Writes a stream to a temp blob, hashing it.
pub fn write_temp(content: &ContentStore, mut r: impl Read) -> Result<TempBlob, StoreError> {
    let path = content.temp_path("blob");
    let f = File::create(&path).map_err(|e| StoreError::io(&path, e))?;
    let mut w = Sha256Writer::new(BufWriter::with_capacity(1 << 20, f));
    let copied = io::copy(&mut r, &mut w);
    let (bw, digest, size) = w.finish();
    let res = copied.and_then(|_| {
        let f = bw.into_inner().map_err(|e| e.into_error())?;
        f.sync_data()
    });
    let blob = TempBlob { path, digest, size };
    res.map_err(|e| StoreError::Invalid(format!("writing blob: {e}")))?;
    Ok(blob)
}

/// Hashes (optionally) and counts what is read through it.
struct HashReader<R> {
    inner: R,
    hasher: Option<Sha256>,
    n: u64,
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..k]);
        }
        self.n += k as u64;
        Ok(k)
    }
}

fn stage(
    content: &ContentStore,
    head: &[u8],
    rest: impl Read,
    compression: LayerCompression,
    hash_blob: bool,
) -> Result<StagedLayer, StoreError> {
    let dir = content.temp_path("stage");
    let diff = dir.join("diff");
    fs::create_dir_all(&diff).map_err(|e| StoreError::io(&diff, e))?;
    let mut staged = StagedLayer {
        dir: dir.clone(),
        diff_id: Digest::sha256_of(b""),
        diff_size: 0,
        size: 0,
        blob_digest: Digest::sha256_of(b""),
        blob_size: 0,
        compression,
    };
    let skel_path = dir.join("tar-split");
    let skel = File::create(&skel_path).map_err(|e| StoreError::io(&skel_path, e))?;
    let mut outer = HashReader {
        inner: head.chain(rest),
        hasher: (hash_blob && compression != LayerCompression::None).then(Sha256::new),
        n: 0,
    };
    let bad = |e: io::Error| StoreError::Invalid(format!("decompressing layer: {e}"));
    {
        let dec: Box<dyn Read + '_> = match compression {
            LayerCompression::None => Box::new(&mut outer),
            LayerCompression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(&mut outer)),
            LayerCompression::Zstd => Box::new(zstd::Decoder::new(&mut outer).map_err(bad)?),
        };
        let (mut rec, obs) = tarsplit::record(dec, skel);
        staged.size = unpack_observed(&mut rec, &diff, &obs)?;
        let (diff_id, diff_size) = rec
            .finish()
            .map_err(|e| StoreError::Invalid(format!("reading layer: {e}")))?;
        staged.diff_id = diff_id;
        staged.diff_size = diff_size;
    }
    io::copy(&mut outer, &mut io::sink())
        .map_err(|e| StoreError::Invalid(format!("reading layer: {e}")))?;
    staged.blob_size = outer.n;
    staged.blob_digest = match outer.hasher.take() {
        Some(h) => Digest::from_sha256_hex(&hex::encode(h.finalize()))
            .map_err(|e| StoreError::Invalid(e.to_string()))?,
        None => staged.diff_id.clone(),
    };
    Ok(staged)
}
