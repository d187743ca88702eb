//! Errors of compose: each names the file, and where it can the service, the field and
//! the line, so a user can go straight to the mistake.

use std::path::PathBuf;

/// Result with [`ComposeError`].
pub type Result<T> = std::result::Result<T, ComposeError>;

/// A location in a compose file: `file:line` when the line is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Where {
    pub file: PathBuf,
    pub line: Option<usize>,
}

impl std::fmt::Display for Where {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}", self.file.display()),
            None => write!(f, "{}", self.file.display()),
        }
    }
}

/// What can go wrong in compose.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// Reading a file failed.
    #[error("{}: {err}", path.display())]
    Io { path: PathBuf, err: std::io::Error },
    /// No compose file given and none found.
    #[error("no configuration file provided: not found (looked for {looked} in {})", dir.display())]
    NoFile { dir: PathBuf, looked: String },
    /// The YAML itself does not parse.
    #[error("{at}: invalid YAML: {msg}")]
    Yaml { at: Where, msg: String },
    /// The file's top level is wrong (version, shape).
    #[error("{at}: {msg}")]
    File { at: Where, msg: String },
    /// A service's field is wrong.
    #[error("{at}: service {service:?}, field {field:?}: {msg}")]
    Field {
        at: Where,
        service: String,
        field: String,
        msg: String,
    },
    /// A top-level `volumes:`/`networks:` entry is wrong.
    #[error("{at}: {kind} {name:?}: {msg}")]
    Resource {
        at: Where,
        kind: &'static str,
        name: String,
        msg: String,
    },
    /// Keys the format does not know.
    #[error("{at}: service {service:?}: unsupported config option(s) {} (not allowed in a {format} file)", keys.join(", "))]
    UnknownKeys {
        at: Where,
        service: String,
        keys: Vec<String>,
        format: String,
    },
    /// `${VAR:?message}` with VAR unset or empty, or a bad `${…}`.
    #[error("{at}: {path}: {msg}")]
    Interpolation {
        at: Where,
        path: String,
        msg: String,
    },
    /// A dependency that names no service.
    #[error("service {service:?} depends on undefined service {missing:?} (through {via})")]
    UndefinedDependency {
        service: String,
        missing: String,
        via: &'static str,
    },
    /// An enabled service depends on one whose profiles are not active.
    #[error("{}: service {service:?}, field {via:?}: it depends on service {dependency:?}, which is disabled: its profiles ({}) are not active; enable one with --profile {} (or COMPOSE_PROFILES)", file.display(), profiles.join(", "), profiles.first().map(String::as_str).unwrap_or("NAME"))]
    DisabledDependency {
        file: PathBuf,
        service: String,
        dependency: String,
        via: &'static str,
        profiles: Vec<String>,
    },
    /// Services that depend on each other in a circle.
    #[error("circular dependency between services: {}", cycle.join(" -> "))]
    Cycle { cycle: Vec<String> },
    /// A service named on the command line is not in the project.
    #[error("no such service: {0}")]
    NoSuchService(String),
    /// The project name is not usable.
    #[error("invalid project name {0:?}: it must contain only lowercase letters, digits, dashes and underscores, and start with a letter or digit")]
    ProjectName(String),
    /// The daemon said no.
    #[error("{context}: {}", api_message(err))]
    Api {
        context: String,
        err: bollard::errors::Error,
    },
    /// Anything else that stops a verb (build failed, no image, …).
    #[error("{0}")]
    Other(String),
}

impl ComposeError {
    /// Wraps a daemon error with what was being done.
    pub fn api(context: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> ComposeError {
        let context = context.into();
        move |err| ComposeError::Api { context, err }
    }
}

/// The daemon's own message, as the docker CLI shows it.
fn api_message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => {
            format!("Error response from daemon: {message}")
        }
        other => other.to_string(),
    }
}
