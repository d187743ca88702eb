//! What the executor needs from the daemon to run a RUN step: a container on the
//! parent image, its output, its exit code and its writable layer.
//!
//! berth-build does not run containers itself: the engine owns containers (records,
//! shims, cleanup), so it implements [`RunBackend`] and hands it to
//! [`crate::exec::Builder::build`]. Tests can implement it with a fake.

use crate::exec::BuildError;
use berth_oci::Digest;
use std::path::Path;

/// One RUN step's process.
#[derive(Debug, Clone)]
pub struct RunRequest<'a> {
    /// The parent image (its layers are the container's lower dirs).
    pub image: &'a Digest,
    /// The process (SHELL already prepended for the shell form).
    pub argv: &'a [String],
    /// Full environment (image Env + allowed build args).
    pub env: &'a [String],
    /// `USER` in effect (empty = root).
    pub user: &'a str,
    /// `WORKDIR` in effect (empty = `/`).
    pub workdir: &'a str,
    /// `RUN --network=` or the build's `--network` (`default`, `none`, `host`, …).
    pub network: Option<&'a str>,
    /// Heredoc scripts to mount read-only: (path in the container, content).
    pub files: &'a [(String, String)],
}

/// Receives what a RUN's container does.
pub trait RunEvents {
    /// The container was created (Docker prints ` ---> Running in <id12>`).
    fn started(&mut self, container_id: &str);
    /// Output of the process (stdout and stderr, in arrival order).
    fn output(&mut self, data: &[u8]);
    /// The build was cancelled: the backend should kill the process.
    fn cancelled(&self) -> bool;
}

/// Runs RUN steps (implemented by the engine).
pub trait RunBackend: Send + Sync {
    /// Creates a container from `req`, runs it to completion and returns its exit
    /// code. When the code is 0, `on_success` is called with the container's upper
    /// (writable layer) directory before the container is removed; the container is
    /// removed whatever happens.
    fn run(
        &self,
        req: &RunRequest<'_>,
        events: &mut dyn RunEvents,
        on_success: &mut dyn FnMut(&Path) -> Result<(), BuildError>,
    ) -> Result<i64, BuildError>;

    /// Fetches an image a `FROM` or `COPY --from` names that is not in the store.
    fn pull(&self, name: &str) -> Result<Digest, BuildError> {
        Err(BuildError::Failed(format!(
            "pull access denied for {name}, repository does not exist or may require 'docker login': this daemon cannot pull images"
        )))
    }
}
