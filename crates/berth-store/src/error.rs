//! The store's error type.

use berth_oci::Digest;
use std::io;
use std::path::Path;

/// Anything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("blob {digest}: {source}")]
    Blob {
        digest: Digest,
        #[source]
        source: io::Error,
    },
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("metadata database: {0}")]
    Db(String),
    #[error("{0}")]
    Unpack(#[from] crate::unpack::UnpackError),
    #[error("invalid image config {digest}: {message}")]
    BadConfig { digest: Digest, message: String },
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("{0}")]
    Invalid(String),
}

impl StoreError {
    pub fn io(path: &Path, source: io::Error) -> StoreError {
        StoreError::Io {
            path: path.display().to_string(),
            source,
        }
    }
    pub fn blob(digest: &Digest, source: io::Error) -> StoreError {
        StoreError::Blob {
            digest: digest.clone(),
            source,
        }
    }
}

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> StoreError { StoreError::Db(e.to_string()) }
        }
    )*};
}
db_err!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    serde_json::Error
);
