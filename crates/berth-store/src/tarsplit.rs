//! Byte-exact reassembly of a layer tar from its unpacked directory.
//!
//! Like Docker's tar-split: while a layer is unpacked, every byte of the tar that is not
//! a regular file's content (headers, PAX records, padding, end-of-archive blocks) is kept
//! in a small *skeleton* file, and each file's content is replaced by a reference to the
//! unpacked file. `docker save` and `push` stream the original tar back from the skeleton
//! and the layer directory, so a layer is stored once (no second copy as a blob) and its
//! diff ID still verifies. The format is berth's own (records `H` raw bytes, `F` file
//! reference), little-endian; hand-written because the Go tar-split format is JSON and
//! base64 and no Rust crate implements it.

use sha2::{Digest as _, Sha256};
use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::rc::Rc;

use crate::unpack::ContentObserver;
use berth_oci::Digest;

struct State {
    recording: bool,
    pending: Vec<u8>,
    out: BufWriter<File>,
    hasher: Sha256,
    total: u64,
}

impl State {
    fn flush_pending(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.out.write_all(b"H")?;
            self.out
                .write_all(&(self.pending.len() as u64).to_le_bytes())?;
            self.out.write_all(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }
}

/// Wraps the tar stream: hashes everything (the diff ID) and records non-content bytes.
pub struct Recorder<R> {
    inner: R,
    state: Rc<RefCell<State>>,
}

/// The observer half, handed to [`crate::unpack::unpack_observed`].
pub struct SkeletonObserver {
    state: Rc<RefCell<State>>,
}

/// Creates a recorder over `inner` writing the skeleton to `skeleton`.
pub fn record<R: Read>(inner: R, skeleton: File) -> (Recorder<R>, SkeletonObserver) {
    let state = Rc::new(RefCell::new(State {
        recording: true,
        pending: Vec::with_capacity(4096),
        out: BufWriter::with_capacity(256 * 1024, skeleton),
        hasher: Sha256::new(),
        total: 0,
    }));
    (
        Recorder {
            inner,
            state: state.clone(),
        },
        SkeletonObserver { state },
    )
}

impl<R: Read> Read for Recorder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut st = self.state.borrow_mut();
        st.hasher.update(&buf[..n]);
        st.total += n as u64;
        if st.recording {
            st.pending.extend_from_slice(&buf[..n]);
            if st.pending.len() > 1 << 20 {
                st.flush_pending()?;
            }
        }
        Ok(n)
    }
}

impl<R: Read> Recorder<R> {
    /// Reads the rest of the stream (trailing blocks) and finishes the skeleton.
    /// Returns the diff ID and the tar's length.
    pub fn finish(mut self) -> io::Result<(Digest, u64)> {
        self.state.borrow_mut().recording = true;
        io::copy(&mut self, &mut io::sink())?;
        let mut st = self.state.borrow_mut();
        st.flush_pending()?;
        // No fsync: the skeleton is flushed with its layer (see `crate::sync`).
        st.out.flush()?;
        let hex = hex::encode(st.hasher.clone().finalize());
        let d = Digest::from_sha256_hex(&hex).map_err(io::Error::other)?;
        Ok((d, st.total))
    }
}

impl ContentObserver for SkeletonObserver {
    fn before_content(&self) {
        self.state.borrow_mut().recording = false;
    }
    fn after_content(&self, rel: &Path, size: u64) -> io::Result<()> {
        use std::os::unix::ffi::OsStrExt;
        let mut st = self.state.borrow_mut();
        st.flush_pending()?;
        let p = rel.as_os_str().as_bytes();
        st.out.write_all(b"F")?;
        st.out.write_all(&(p.len() as u32).to_le_bytes())?;
        st.out.write_all(p)?;
        st.out.write_all(&size.to_le_bytes())?;
        st.recording = true;
        Ok(())
    }
}

/// Writes the original tar of a layer to `out` from its skeleton and directory.
pub fn reassemble(skeleton: &Path, root: &Path, out: &mut dyn Write) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    let mut r = BufReader::with_capacity(256 * 1024, File::open(skeleton)?);
    let mut total = 0u64;
    let mut tag = [0u8; 1];
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match r.read_exact(&mut tag) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        match tag[0] {
            b'H' => {
                let mut len = [0u8; 8];
                r.read_exact(&mut len)?;
                let n = io::copy(&mut (&mut r).take(u64::from_le_bytes(len)), out)?;
                total += n;
            }
            b'F' => {
                let mut l4 = [0u8; 4];
                r.read_exact(&mut l4)?;
                let mut p = vec![0u8; u32::from_le_bytes(l4) as usize];
                r.read_exact(&mut p)?;
                let mut s8 = [0u8; 8];
                r.read_exact(&mut s8)?;
                let size = u64::from_le_bytes(s8);
                let rel = Path::new(std::ffi::OsStr::from_bytes(&p));
                if rel.is_absolute() || rel.components().any(|c| c.as_os_str() == "..") {
                    return Err(io::Error::other("corrupt layer skeleton: bad path"));
                }
                let mut f = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(root.join(rel))?;
                let mut left = size;
                while left > 0 {
                    let want = buf.len().min(left as usize);
                    let n = f.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(io::Error::other(format!(
                            "layer file {} is shorter than recorded",
                            rel.display()
                        )));
                    }
                    out.write_all(&buf[..n])?;
                    left -= n as u64;
                }
                total += size;
            }
            _ => return Err(io::Error::other("corrupt layer skeleton")),
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unpack::unpack_observed;

    #[test]
    fn reassembles_byte_for_byte() {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in [("a/one", &b"hello"[..]), ("a/two", &[7u8; 1000][..])] {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o640);
            h.set_path(name).unwrap();
            h.set_cksum();
            b.append(&h, data).unwrap();
        }
        let long = format!("dir/{}", "x".repeat(150));
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o600);
        b.append_data(&mut h, &long, &b"abc"[..]).unwrap();
        let data = b.into_inner().unwrap();

        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("diff");
        std::fs::create_dir(&root).unwrap();
        let skel = dir.path().join("skel");
        let (mut rec, obs) = record(&data[..], File::create(&skel).unwrap());
        unpack_observed(&mut rec, &root, &obs).unwrap();
        let (d, n) = rec.finish().unwrap();
        assert_eq!(d, Digest::sha256_of(&data));
        assert_eq!(n, data.len() as u64);
        let mut out = Vec::new();
        reassemble(&skel, &root, &mut out).unwrap();
        assert_eq!(out, data);
        // skeleton holds no file content
        assert!(std::fs::metadata(&skel).unwrap().len() < data.len() as u64);
    }
}
