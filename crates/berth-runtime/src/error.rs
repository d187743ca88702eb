//! Error types of the runtime crate.

use std::path::PathBuf;

/// A container description that cannot become an OCI spec.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A field holds a value the runtime refuses.
    #[error("invalid container spec: {field}: {reason}")]
    Invalid {
        /// The offending field (`args`, `mounts[2].destination`, …).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Failures of runtime operations (bundle, rootfs, shim client).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Bad container description.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A filesystem operation failed on `path`.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A syscall failed.
    #[error("{op}: {source}")]
    Sys {
        /// What was being done.
        op: String,
        /// The errno.
        source: nix::Error,
    },
    /// A JSON document could not be read or written.
    #[error("{what}: {source}")]
    Json {
        /// Which document.
        what: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The shim reported an error; `exit_code` follows Docker (125 runtime, 126, 127).
    #[error("{message}")]
    Shim {
        /// Docker-style exit code for the failure.
        exit_code: i32,
        /// Error text.
        message: String,
    },
    /// A cgroup file refused a value (e.g. a memory limit under the current usage).
    #[error("failed to write {value:?}: write {path}: {source}")]
    CgroupWrite {
        /// The cgroup file.
        path: PathBuf,
        /// What was written.
        value: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The shim's control socket is gone (the shim has exited).
    #[error("shim for container {0} is not running")]
    ShimGone(String),
}

impl RuntimeError {
    /// Builds an `Io` error.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RuntimeError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
