//! berth compose: the compose file model and a client that brings a project up and down
//! through any Docker Engine API endpoint (berth's daemon or dockerd).
//!
//! - [`load`] reads the compose file(s): format detection (the v1 format whose top-level
//!   mapping *is* the services map, `version: "2.x"/"3.x"`, the versionless compose
//!   spec), `.env` and `${VAR}` interpolation, `env_file`, and strict key checking.
//! - [`merge`] merges service definitions (override files, `extends`) with compose v2's
//!   rules; [`extends`] resolves `extends:` within and across files.
//! - [`model`] is the normalised project every format is converted into.
//! - [`profiles`] enables services by `profiles:`; [`secrets`] turns top-level
//!   `secrets:`/`configs:` into bind mounts or files copied into containers.
//! - [`plan`] orders services by `depends_on`, `links`, `volumes_from` and
//!   `network_mode: service:…`.
//! - [`project`] runs the verbs (up, down, ps, logs, …) with bollard and labels every
//!   object with `com.docker.compose.*` so the project can be found again.

pub mod error;
pub mod extends;
pub mod interp;
pub mod load;
pub mod merge;
pub mod model;
pub mod plan;
pub mod profiles;
pub mod project;
pub mod secrets;

pub use error::{ComposeError, Result};
pub use load::{load, LoadOptions};
pub use model::{Format, Project, Service};
