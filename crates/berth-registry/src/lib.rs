//! berth-registry: an OCI distribution v1.1 registry server, a drop-in for `registry:2`.
//!
//! - [`config`]: distribution's YAML configuration and `REGISTRY_*` environment overrides.
//! - [`driver`]: the storage driver trait and the filesystem driver.
//! - [`store`]: blobs, links, tags, manifests, uploads and referrers over a driver.
//! - [`api`]: the HTTP endpoints (axum on hyper), [`auth`]: htpasswd and token auth plus
//!   the built-in token server, [`server`]: listening (TLS via rustls), graceful shutdown;
//!   `fastpath`: blob downloads on plain HTTP answered on the socket (sendfile, or one
//!   copy from a memory map to clients on this host) instead of by hyper.
//! - [`gc`]: mark-and-sweep garbage collection that is safe while pushes run.

pub mod api;
pub mod auth;
pub mod config;
pub mod driver;
pub mod errors;
pub(crate) mod fastpath;
pub mod gc;
pub mod gclock;
pub mod metrics;
pub mod names;
pub mod paths;
pub mod sendfile;
pub mod server;
pub mod store;

pub use config::Config;
pub use server::{start, Running};
