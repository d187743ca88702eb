//! Compressing layers for push, on every core.
//!
//! gzip is done pigz-style by hand: the tar stream is cut into fixed 4 MiB chunks, each
//! compressed on a worker thread into its own gzip member, and the members written in
//! order. A multi-member gzip file is a valid gzip stream (RFC 1952 §2.2) that every
//! reader in the field (Go's `compress/gzip`, containerd, skopeo, zlib) decompresses in
//! one go; the fixed chunking keeps the output deterministic, so recompressing a layer
//! gives the same digest. (The `gzp` crate does the same job but its 1.x releases build
//! zlib-ng from C with cmake.) zstd uses libzstd's own worker threads.

use berth_oci::media_types::LayerCompression;
use berth_oci::{Digest, Sha256Writer};
use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

const CHUNK: usize = 4 << 20;

type Job = (Vec<u8>, mpsc::SyncSender<io::Result<Vec<u8>>>);

/// A `Write` that gzips what it is given on `threads` workers into `out`.
pub struct ParallelGzip<W: Write> {
    out: Option<W>,
    buf: Vec<u8>,
    jobs: Option<mpsc::SyncSender<Job>>,
    pending: VecDeque<mpsc::Receiver<io::Result<Vec<u8>>>>,
    workers: Vec<JoinHandle<()>>,
    max_pending: usize,
}

/// Does a chunk look like it will not compress (already compressed or random data)?
/// Judged from a 64 KiB sample at the fastest level; such chunks are written as stored
/// deflate blocks, which costs a copy and a CRC instead of a futile search for matches.
fn incompressible(data: &[u8]) -> bool {
    const SAMPLE: usize = 64 << 10;
    if data.len() < 2 * SAMPLE {
        return false;
    }
    let mid = data.len() / 2;
    let mut enc = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(SAMPLE + 1024),
        flate2::Compression::fast(),
    );
    let packed = enc
        .write_all(&data[mid..mid + SAMPLE])
        .and_then(|_| enc.finish())
        .map(|v| v.len())
        .unwrap_or(0);
    packed * 100 > SAMPLE * 97
}

impl<W: Write> ParallelGzip<W> {
    pub fn new(out: W, threads: usize, level: u32) -> ParallelGzip<W> {
        let threads = threads.max(1);
        let (tx, rx) = mpsc::sync_channel::<Job>(threads * 2);
        let rx = Arc::new(Mutex::new(rx));
        let workers = (0..threads)
            .map(|_| {
                let rx = rx.clone();
                std::thread::spawn(move || loop {
                    let job = {
                        let Ok(guard) = rx.lock() else { return };
                        guard.recv()
                    };
                    let Ok((data, reply)) = job else { return };
                    let level = if incompressible(&data) { 0 } else { level };
                    let mut enc = flate2::write::GzEncoder::new(
                        Vec::with_capacity(data.len() / 2 + 1024),
                        flate2::Compression::new(level),
                    );
                    let r = enc.write_all(&data).and_then(|_| enc.finish());
                    let _ = reply.send(r);
                })
            })
            .collect();
        ParallelGzip {
            out: Some(out),
            buf: Vec::with_capacity(CHUNK),
            jobs: Some(tx),
            pending: VecDeque::new(),
            workers,
            max_pending: threads * 2 + 1,
        }
    }

    fn out(&mut self) -> io::Result<&mut W> {
        self.out
            .as_mut()
            .ok_or_else(|| io::Error::other("compressor finished"))
    }

    fn submit(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        let (rtx, rrx) = mpsc::sync_channel(1);
        self.jobs
            .as_ref()
            .ok_or_else(|| io::Error::other("compressor finished"))?
            .send((data, rtx))
            .map_err(|_| io::Error::other("compression worker died"))?;
        self.pending.push_back(rrx);
        while self.pending.len() >= self.max_pending {
            self.drain_one()?;
        }
        Ok(())
    }

    fn drain_one(&mut self) -> io::Result<()> {
        if let Some(rx) = self.pending.pop_front() {
            let member = rx
                .recv()
                .map_err(|_| io::Error::other("compression worker died"))??;
            self.out()?.write_all(&member)?;
        }
        Ok(())
    }

    /// Flushes the last chunk and returns the output writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.submit()?;
        if self.pending.is_empty() {
            // An empty input still becomes one (empty) gzip member.
            let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
            let member = enc.finish()?;
            self.out()?.write_all(&member)?;
        }
        while !self.pending.is_empty() {
            self.drain_one()?;
        }
        let mut out = self
            .out
            .take()
            .ok_or_else(|| io::Error::other("compressor finished"))?;
        out.flush()?;
        Ok(out)
    }
}

impl<W: Write> Drop for ParallelGzip<W> {
    fn drop(&mut self) {
        self.jobs.take();
        self.pending.clear();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.submit()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Threads to compress with: every core.
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// gzip level used for pushed layers (zlib's fast end: layers are mostly compressed
/// once and pulled many times, but push throughput matters too).
pub const GZIP_LEVEL: u32 = 3;
/// zstd level (libzstd's default).
pub const ZSTD_LEVEL: i32 = 3;

/// Compresses what `produce` writes into `out`; returns `out`, the compressed digest
/// and size.
pub fn compress<W: Write>(
    out: W,
    compression: LayerCompression,
    produce: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<(W, Digest, u64)> {
    let hashed = Sha256Writer::new(out);
    let hashed = match compression {
        LayerCompression::Gzip => {
            let mut gz = ParallelGzip::new(hashed, threads(), GZIP_LEVEL);
            produce(&mut gz)?;
            gz.finish()?
        }
        LayerCompression::Zstd => {
            let mut z = zstd::stream::write::Encoder::new(hashed, ZSTD_LEVEL)?;
            z.multithread(threads() as u32)?;
            produce(&mut z)?;
            z.finish()?
        }
        LayerCompression::None => {
            let mut h = hashed;
            produce(&mut h)?;
            h
        }
    };
    let (w, d, n) = hashed.finish();
    Ok((w, d, n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| ((i * 7919) % 251) as u8 ^ (i / 4096) as u8)
            .collect()
    }

    #[test]
    fn parallel_gzip_round_trips_and_is_deterministic() {
        let data = sample(CHUNK * 3 + 12345);
        let (a, da, na) =
            compress(Vec::new(), LayerCompression::Gzip, |w| w.write_all(&data)).unwrap();
        let (b, db, _) = compress(Vec::new(), LayerCompression::Gzip, |w| {
            for c in data.chunks(1000) {
                w.write_all(c)?;
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(da, db);
        assert_eq!(na, a.len() as u64);
        assert_eq!(da, Digest::sha256_of(&a));
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(&a[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn random_chunks_are_stored_compressible_ones_deflated() {
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let random: Vec<u8> = (0..CHUNK)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(incompressible(&random));
        let text = b"the quick brown fox jumps over the lazy dog\n".repeat(CHUNK / 44);
        assert!(!incompressible(&text));
        let mut both = random.clone();
        both.extend_from_slice(&text);
        let (gz, _, n) =
            compress(Vec::new(), LayerCompression::Gzip, |w| w.write_all(&both)).unwrap();
        assert!(n < (random.len() + text.len() / 10) as u64, "{n}");
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, both);
    }

    #[test]
    fn empty_input_is_valid_gzip_and_zstd() {
        let (a, _, _) = compress(Vec::new(), LayerCompression::Gzip, |_| Ok(())).unwrap();
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(&a[..])
            .read_to_end(&mut back)
            .unwrap();
        assert!(back.is_empty());
        let data = sample(100_000);
        let (z, _, _) =
            compress(Vec::new(), LayerCompression::Zstd, |w| w.write_all(&data)).unwrap();
        assert_eq!(zstd::decode_all(&z[..]).unwrap(), data);
    }
}
