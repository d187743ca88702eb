//! The engine's error type, with the HTTP status Docker would answer.

use berth_store::StoreError;

/// An engine error. `status()` maps it onto Docker's status codes.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Internal(String),
    /// Refused by policy (e.g. writing into a read-only rootfs): 403.
    #[error("{0}")]
    Forbidden(String),
    /// The container's process could not be started; `exit_code` is Docker's 125/126/127.
    #[error("{message}")]
    StartFailed { exit_code: i32, message: String },
}

impl EngineError {
    pub fn status(&self) -> u16 {
        match self {
            EngineError::NotFound(_) => 404,
            EngineError::Conflict(_) => 409,
            EngineError::BadRequest(_) => 400,
            EngineError::Internal(_) => 500,
            EngineError::Forbidden(_) => 403,
            EngineError::StartFailed { exit_code, .. } => {
                if *exit_code == 125 {
                    500
                } else {
                    400
                }
            }
        }
    }
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoSuchImage(n) => EngineError::NotFound(format!("No such image: {n}")),
            StoreError::Invalid(m) => EngineError::BadRequest(m),
            StoreError::Unpack(u) => EngineError::BadRequest(u.to_string()),
            StoreError::DigestMismatch { .. } | StoreError::BadConfig { .. } => {
                EngineError::BadRequest(e.to_string())
            }
            other => EngineError::Internal(other.to_string()),
        }
    }
}

impl From<berth_oci::ReferenceError> for EngineError {
    fn from(e: berth_oci::ReferenceError) -> Self {
        EngineError::BadRequest(e.to_string())
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
