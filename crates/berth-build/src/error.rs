//! Positioned errors: every Dockerfile problem names the file, line and column.

use std::fmt;

/// Where something is in a Dockerfile (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A Dockerfile parse or evaluation error with its position. `message` uses Docker's
/// wording where Docker has one (e.g. "FROM requires either one or three arguments").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ParseError {
    pub location: Location,
    pub message: String,
}

impl ParseError {
    pub fn new(file: &str, line: usize, column: usize, message: impl Into<String>) -> Self {
        ParseError {
            location: Location {
                file: file.to_string(),
                line,
                column,
            },
            message: message.into(),
        }
    }

    /// The message without the position.
    pub fn message(&self) -> &str {
        &self.message
    }
}
