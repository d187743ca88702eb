//! berth-engine: the daemon's core. It owns the store and answers in the Docker Engine
//! API's own types (from `bollard-stubs`), so the API layer only moves bytes.
//!
//! All methods are synchronous and may block on disk: the API layer calls them from
//! `spawn_blocking`.

pub mod archive;
pub mod build;
pub mod changes;
pub mod containers;
pub mod disk_usage;
pub mod dist;
pub mod error;
pub mod events;
pub mod filters;
pub mod images;
pub mod networks;
pub mod system;
pub mod volumes;

pub use error::{EngineError, Result};

use berth_store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Daemon-wide settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub data_root: PathBuf,
    /// Where the API listens, for `/info`.
    pub host: String,
    /// Runtime state: shim sockets and libcontainer's state (`/run/berth`).
    pub exec_root: PathBuf,
    /// The `berth` executable shims are started from (resolved once at daemon start).
    pub berth_exe: PathBuf,
}

/// The daemon's state.
pub struct Engine {
    pub(crate) store: Store,
    pub(crate) config: EngineConfig,
    pub(crate) containers: containers::Containers,
    pub(crate) builder: std::sync::OnceLock<berth_build::exec::Builder>,
    pub events: events::Events,
    pub(crate) dist: berth_dist::Dist,
    pub(crate) net: networks::Networking,
    /// Starts shims, from a spare one when it can.
    pub(crate) shims: Arc<berth_runtime::ShimLauncher>,
}

impl Engine {
    /// Opens the data root (sweeping crash leftovers).
    pub fn open(config: EngineConfig) -> Result<Arc<Engine>> {
        let store = Store::open(&config.data_root)?;
        let shims = berth_runtime::ShimLauncher::new(
            config.berth_exe.clone(),
            config.exec_root.join("runtime"),
        );
        Ok(Arc::new(Engine {
            shims,
            store,
            config,
            containers: Default::default(),
            builder: Default::default(),
            events: Default::default(),
            dist: Default::default(),
            net: Default::default(),
        }))
    }

    pub fn data_root(&self) -> &Path {
        &self.config.data_root
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}
