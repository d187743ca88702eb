//! The distribution error type. Messages follow docker's wording where docker has one,
//! and always name the registry (and the repository or blob) involved.

use berth_oci::Digest;

/// A pull, push or login failure.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// The registry could not be reached at all.
    #[error("{message}")]
    Unreachable { registry: String, message: String },
    /// TLS verification failed for a registry that is not insecure.
    #[error(
        "tls: failed to verify certificate of registry {registry}: {message}. \
To pull from or push to {registry} either: (1) add the registry's CA certificate as \
/etc/berth/certs.d/{registry}/ca.crt (or /etc/docker/certs.d/{registry}/ca.crt), \
(2) give the registry a certificate signed by a CA the system trusts, or \
(3) start the daemon with --insecure-registry {registry}"
    )]
    Tls { registry: String, message: String },
    /// 401/403 from the registry or its token server.
    #[error("{message}")]
    Unauthorized { registry: String, message: String },
    /// The manifest (tag or digest) does not exist, or the repository is unknown.
    #[error("{0}")]
    NotFound(String),
    /// Content did not hash to the digest it was fetched by.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    /// Any other error answer from a registry.
    #[error("{0}")]
    Registry(String),
    /// Bad input (reference, platform, credentials, manifest content).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl DistError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> DistError {
        DistError::Io {
            context: context.into(),
            source,
        }
    }

    /// May a retry of the same request succeed (network trouble, 5xx)?
    pub fn is_transient(&self) -> bool {
        matches!(self, DistError::Unreachable { .. } | DistError::Io { .. })
    }
}

pub type Result<T, E = DistError> = std::result::Result<T, E>;
