//! Errors of the analyzer, each naming what was being read and where.

use std::path::PathBuf;

/// Everything that can go wrong while reading or analyzing an image.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// I/O on a named file or stream.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A layer tar could not be parsed.
    #[error("layer {layer}: {message}")]
    Layer { layer: String, message: String },
    /// The image's metadata (manifest.json, index.json, config) is missing or invalid.
    #[error("{file}: {message}")]
    Metadata { file: String, message: String },
    /// A `.dive-ci` / `--ci-config` file or rule value is invalid.
    #[error("{file}: {message}")]
    Config { file: String, message: String },
    /// A path that should exist does not.
    #[error("{}: {message}", path.display())]
    Path { path: PathBuf, message: String },
    /// The Docker-API daemon refused or failed.
    #[error("daemon {host}: {message}")]
    Daemon { host: String, message: String },
    /// The terminal UI failed.
    #[error("terminal: {0}")]
    Terminal(String),
}

impl AnalyzeError {
    /// Wraps an I/O error with what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> AnalyzeError {
        AnalyzeError::Io {
            what: what.into(),
            source,
        }
    }

    /// A metadata error in `file`.
    pub fn meta(file: impl Into<String>, message: impl Into<String>) -> AnalyzeError {
        AnalyzeError::Metadata {
            file: file.into(),
            message: message.into(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, AnalyzeError>;
