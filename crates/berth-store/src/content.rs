//! The content store: blobs addressed by digest under `blobs/sha256/<hex>`.
//!
//! Blobs are written to `tmp/`, hashed while streaming, made durable, checked against the
//! expected digest and only then renamed into place, so a reader never sees a partial or
//! unverified blob. An ingest can also unpack the stream as a layer on the fly (see
//! [`crate::ingest`]), so a layer is read once.

use crate::error::StoreError;
use berth_oci::Digest;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// Blobs by digest.
#[derive(Debug, Clone)]
pub struct ContentStore {
    blobs: PathBuf,
    tmp: PathBuf,
}

impl ContentStore {
    pub(crate) fn new(blobs: PathBuf, tmp: PathBuf) -> ContentStore {
        ContentStore { blobs, tmp }
    }

    /// Where a blob lives (whether or not it exists).
    pub fn path(&self, d: &Digest) -> PathBuf {
        self.blobs.join(d.algorithm().as_str()).join(d.hex())
    }

    pub fn exists(&self, d: &Digest) -> bool {
        self.path(d).is_file()
    }

    /// Size of a stored blob.
    pub fn size(&self, d: &Digest) -> Result<u64, StoreError> {
        Ok(fs::metadata(self.path(d))
            .map_err(|e| StoreError::blob(d, e))?
            .len())
    }

    /// Opens a stored blob for reading.
    pub fn open(&self, d: &Digest) -> Result<File, StoreError> {
        File::open(self.path(d)).map_err(|e| StoreError::blob(d, e))
    }

    /// Reads a whole (small) blob.
    pub fn read(&self, d: &Digest) -> Result<Vec<u8>, StoreError> {
        fs::read(self.path(d)).map_err(|e| StoreError::blob(d, e))
    }

    /// Writes a small blob durably and returns its digest.
    pub fn write(&self, data: &[u8]) -> Result<Digest, StoreError> {
        let d = Digest::sha256_of(data);
        if self.exists(&d) {
            return Ok(d);
        }
        let tmp = self.temp_path("blob");
        {
            let f = File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
            io::Write::write_all(&mut &f, data).map_err(|e| StoreError::io(&tmp, e))?;
            f.sync_all().map_err(|e| StoreError::io(&tmp, e))?;
        }
        self.commit_temp(&tmp, &d)?;
        sync_dir(self.path(&d).parent().unwrap_or(&self.blobs))?;
        Ok(d)
    }

    /// A fresh, unique path under `tmp/`.
    pub fn temp_path(&self, what: &str) -> PathBuf {
        self.tmp
            .join(format!("{what}-{:016x}", rand::random::<u64>()))
    }

    /// Moves a verified, already durable temp file into place as blob `d`.
    /// If the blob already exists the temp file is dropped.
    pub fn commit_temp(&self, tmp: &Path, d: &Digest) -> Result<(), StoreError> {
        let dest = self.path(d);
        if dest.exists() {
            let _ = fs::remove_file(tmp);
            return Ok(());
        }
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        }
        fs::rename(tmp, &dest).map_err(|e| StoreError::io(&dest, e))
    }

    /// Removes a blob (missing is fine).
    pub fn remove(&self, d: &Digest) -> Result<(), StoreError> {
        match fs::remove_file(self.path(d)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::blob(d, e)),
        }
    }

    /// Every stored blob's digest.
    pub fn list(&self) -> Result<Vec<Digest>, StoreError> {
        let mut out = Vec::new();
        for algo in ["sha256", "sha512"] {
            let dir = self.blobs.join(algo);
            let Ok(rd) = fs::read_dir(&dir) else { continue };
            for e in rd.flatten() {
                let name = e.file_name();
                match format!("{algo}:{}", name.to_string_lossy()).parse::<Digest>() {
                    Ok(d) => out.push(d),
                    Err(_) => {
                        tracing::warn!(path = %e.path().display(), "stray file in blob store")
                    }
                }
            }
        }
        Ok(out)
    }
}

/// fsyncs a directory so renames into it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    let f = File::open(dir).map_err(|e| StoreError::io(dir, e))?;
    f.sync_all().map_err(|e| StoreError::io(dir, e))
}

/// Flushes every dirty page of the filesystem holding `path` (one syscall instead of an
/// fsync per unpacked file).
pub fn sync_filesystem(path: &Path) -> Result<(), StoreError> {
    use std::os::fd::AsRawFd;
    let f = File::open(path).map_err(|e| StoreError::io(path, e))?;
    // SAFETY: f is an open file descriptor for the lifetime of the call.
    if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
        return Err(StoreError::io(path, io::Error::last_os_error()));
    }
    Ok(())
}
