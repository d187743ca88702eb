//! The storage driver: the small interface every backend implements, modelled on
//! distribution's `registry/storage/driver/storagedriver.go` (get/put content, reader at an
//! offset, appending writer, stat, list, move, delete), plus `touch` which the garbage
//! collector's safety rule needs (a link touched after GC started is never swept).
//!
//! Paths are driver-relative, `/`-separated and absolute (`/docker/registry/v2/...`).
//! Methods are blocking; the HTTP layer calls them from `spawn_blocking`. An object-store
//! driver (S3) can implement the same trait: its `move` is copy+delete and its `writer`
//! a multipart upload.

pub mod filesystem;

use std::io::{Read, Seek};
use std::time::SystemTime;

pub use filesystem::FilesystemDriver;

/// What can go wrong in a driver.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("path not found: {0}")]
    NotFound(String),
    #[error("invalid path {0:?}")]
    InvalidPath(String),
    #[error("storage I/O on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl DriverError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, DriverError::NotFound(_))
    }
}

/// Facts about a stored path.
#[derive(Debug, Clone)]
pub struct FileInfo {
    pub size: u64,
    pub modified: SystemTime,
    pub is_dir: bool,
}

/// A readable, seekable stored file.
pub trait BlobReader: Read + Seek + Send {}
impl<T: Read + Seek + Send> BlobReader for T {}

/// An appending writer: bytes go to the end; `commit` makes them durable.
pub trait FileWriter: std::io::Write + Send {
    /// Bytes in the file (including what existed before this writer was opened).
    fn size(&self) -> u64;
    /// Flushes and fsyncs.
    fn commit(&mut self) -> Result<(), DriverError>;
}

/// The storage driver interface.
pub trait StorageDriver: Send + Sync + 'static {
    /// Driver name (`filesystem`).
    fn name(&self) -> &'static str;
    /// The whole content of a small file.
    fn get_content(&self, path: &str) -> Result<Vec<u8>, DriverError>;
    /// Replaces a small file atomically (temp → fsync → rename).
    fn put_content(&self, path: &str, content: &[u8]) -> Result<(), DriverError>;
    /// Opens a file for reading at `offset`.
    fn reader(&self, path: &str, offset: u64) -> Result<Box<dyn BlobReader>, DriverError>;
    /// Opens a file for appending (`append == false` truncates/creates).
    fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>, DriverError>;
    /// Size, modification time and kind.
    fn stat(&self, path: &str) -> Result<FileInfo, DriverError>;
    /// Names (not paths) of the direct children of a directory.
    fn list(&self, path: &str) -> Result<Vec<String>, DriverError>;
    /// Moves `from` to `to` atomically, replacing `to`.
    fn move_(&self, from: &str, to: &str) -> Result<(), DriverError>;
    /// Deletes a file or a whole directory tree.
    fn delete(&self, path: &str) -> Result<(), DriverError>;
    /// Sets a path's modification time to now.
    fn touch(&self, path: &str) -> Result<(), DriverError>;
    /// A local filesystem path for `path`, when the driver has one (enables zero-copy reads).
    fn local_path(&self, _path: &str) -> Option<std::path::PathBuf> {
        None
    }
}
