//! The filesystem storage driver (distribution's `filesystem` driver): driver paths map
//! under the root directory; small files are replaced with temp → fsync → rename.

use super::{BlobReader, DriverError, FileInfo, FileWriter, StorageDriver};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Stores everything under one directory.
#[derive(Debug, Clone)]
pub struct FilesystemDriver {
    root: PathBuf,
    fsync: bool,
}

impl FilesystemDriver {
    pub fn new(root: impl Into<PathBuf>) -> FilesystemDriver {
        FilesystemDriver {
            root: root.into(),
            fsync: true,
        }
    }

    /// With `false`, large files written through [`StorageDriver::writer`] are not fsynced
    /// on commit (berth extension `storage.filesystem.fsync: false`, distribution's
    /// behaviour: faster on slow disks, but a power loss can lose acknowledged blobs).
    /// Small files (links) are always fsynced.
    pub fn with_fsync(mut self, fsync: bool) -> FilesystemDriver {
        self.fsync = fsync;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn full(&self, path: &str) -> Result<PathBuf, DriverError> {
        if !path.starts_with('/') || path.split('/').any(|s| s == ".." || s == ".") {
            return Err(DriverError::InvalidPath(path.to_string()));
        }
        Ok(self.root.join(path.trim_start_matches('/')))
    }
}

fn io_err(path: &str, e: io::Error) -> DriverError {
    if e.kind() == io::ErrorKind::NotFound {
        DriverError::NotFound(path.to_string())
    } else {
        DriverError::Io {
            path: path.to_string(),
            source: e,
        }
    }
}

fn ensure_parent(p: &Path, path: &str) -> Result<(), DriverError> {
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).map_err(|e| io_err(path, e))?;
    }
    Ok(())
}

struct FsWriter {
    file: File,
    size: u64,
    path: String,
    fsync: bool,
    /// Offset up to which writeback has been started.
    kicked: u64,
}

/// Start writeback every this many bytes, so the final fsync has little left to do and
/// the disk works while the network is still delivering (with 24 GB of RAM the kernel
/// would otherwise hold gigabytes dirty until the fsync).
const WRITEBACK_STEP: u64 = 8 << 20;

impl Write for FsWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.size += n as u64;
        if self.fsync && self.size - self.kicked >= WRITEBACK_STEP {
            use std::os::fd::AsRawFd;
            // SAFETY: sync_file_range on a descriptor we own; it only starts writeback.
            unsafe {
                libc::sync_file_range(
                    self.file.as_raw_fd(),
                    self.kicked as libc::off64_t,
                    (self.size - self.kicked) as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
            self.kicked = self.size;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl FileWriter for FsWriter {
    fn size(&self) -> u64 {
        self.size
    }
    fn commit(&mut self) -> Result<(), DriverError> {
        if !self.fsync {
            return Ok(());
        }
        self.file.sync_all().map_err(|e| io_err(&self.path, e))
    }
}

impl StorageDriver for FilesystemDriver {
    fn name(&self) -> &'static str {
        "filesystem"
    }

    fn get_content(&self, path: &str) -> Result<Vec<u8>, DriverError> {
        fs::read(self.full(path)?).map_err(|e| io_err(path, e))
    }

    fn put_content(&self, path: &str, content: &[u8]) -> Result<(), DriverError> {
        let p = self.full(path)?;
        ensure_parent(&p, path)?;
        let tmp = p.with_file_name(format!(
            ".tmp-{}-{:016x}",
            p.file_name().and_then(|n| n.to_str()).unwrap_or("f"),
            rand::random::<u64>()
        ));
        let res = (|| -> io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(content)?;
            f.sync_all()?;
            fs::rename(&tmp, &p)
        })();
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res.map_err(|e| io_err(path, e))
    }

    fn reader(&self, path: &str, offset: u64) -> Result<Box<dyn BlobReader>, DriverError> {
        let mut f = File::open(self.full(path)?).map_err(|e| io_err(path, e))?;
        if offset > 0 {
            f.seek(SeekFrom::Start(offset))
                .map_err(|e| io_err(path, e))?;
        }
        Ok(Box::new(f))
    }

    fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>, DriverError> {
        let p = self.full(path)?;
        ensure_parent(&p, path)?;
        let file = if append {
            OpenOptions::new().create(true).append(true).open(&p)
        } else {
            OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(&p)
        }
        .map_err(|e| io_err(path, e))?;
        let size = file.metadata().map_err(|e| io_err(path, e))?.len();
        Ok(Box::new(FsWriter {
            file,
            size,
            path: path.to_string(),
            fsync: self.fsync,
            kicked: size,
        }))
    }

    fn stat(&self, path: &str) -> Result<FileInfo, DriverError> {
        let m = fs::metadata(self.full(path)?).map_err(|e| io_err(path, e))?;
        Ok(FileInfo {
            size: m.len(),
            modified: m.modified().map_err(|e| io_err(path, e))?,
            is_dir: m.is_dir(),
        })
    }

    fn list(&self, path: &str) -> Result<Vec<String>, DriverError> {
        let mut out = Vec::new();
        for e in fs::read_dir(self.full(path)?).map_err(|e| io_err(path, e))? {
            let e = e.map_err(|e| io_err(path, e))?;
            if let Some(n) = e.file_name().to_str() {
                if !n.starts_with(".tmp-") {
                    out.push(n.to_string());
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn move_(&self, from: &str, to: &str) -> Result<(), DriverError> {
        let (f, t) = (self.full(from)?, self.full(to)?);
        ensure_parent(&t, to)?;
        fs::rename(f, t).map_err(|e| io_err(from, e))
    }

    fn delete(&self, path: &str) -> Result<(), DriverError> {
        let p = self.full(path)?;
        let m = fs::symlink_metadata(&p).map_err(|e| io_err(path, e))?;
        if m.is_dir() {
            fs::remove_dir_all(&p)
        } else {
            fs::remove_file(&p)
        }
        .map_err(|e| io_err(path, e))
    }

    fn touch(&self, path: &str) -> Result<(), DriverError> {
        let f = File::options()
            .write(true)
            .open(self.full(path)?)
            .map_err(|e| io_err(path, e))?;
        f.set_modified(std::time::SystemTime::now())
            .map_err(|e| io_err(path, e))
    }

    fn local_path(&self, path: &str) -> Option<PathBuf> {
        self.full(path).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn put_get_list_move_delete() {
        let d = tempfile::tempdir().unwrap();
        let drv = FilesystemDriver::new(d.path());
        drv.put_content("/a/b/link", b"sha256:x").unwrap();
        assert_eq!(drv.get_content("/a/b/link").unwrap(), b"sha256:x");
        assert_eq!(drv.list("/a").unwrap(), vec!["b"]);
        assert_eq!(drv.list("/a/b").unwrap(), vec!["link"]);
        drv.move_("/a/b/link", "/c/link").unwrap();
        assert!(drv.stat("/a/b/link").unwrap_err().is_not_found());
        assert_eq!(drv.stat("/c/link").unwrap().size, 8);
        drv.delete("/c").unwrap();
        assert!(drv.get_content("/c/link").unwrap_err().is_not_found());
    }

    #[test]
    fn writer_appends_and_reader_seeks() {
        let d = tempfile::tempdir().unwrap();
        let drv = FilesystemDriver::new(d.path());
        let mut w = drv.writer("/u/data", false).unwrap();
        w.write_all(b"hello ").unwrap();
        w.commit().unwrap();
        drop(w);
        let mut w = drv.writer("/u/data", true).unwrap();
        assert_eq!(w.size(), 6);
        w.write_all(b"world").unwrap();
        assert_eq!(w.size(), 11);
        drop(w);
        let mut s = String::new();
        drv.reader("/u/data", 6)
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "world");
    }

    #[test]
    fn rejects_escaping_paths() {
        let d = tempfile::tempdir().unwrap();
        let drv = FilesystemDriver::new(d.path());
        assert!(matches!(
            drv.get_content("/a/../../etc/passwd"),
            Err(DriverError::InvalidPath(_))
        ));
        assert!(matches!(
            drv.get_content("rel"),
            Err(DriverError::InvalidPath(_))
        ));
    }
}
