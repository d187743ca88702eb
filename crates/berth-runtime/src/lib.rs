//! berth-runtime: turns a container description into a running, isolated process.
//!
//! - [`config`]: the plain [`ContainerSpec`] the daemon fills from `docker run` flags.
//! - [`spec`]: [`ContainerSpec`] → OCI runtime spec with Docker's default profile.
//! - [`bundle`]: writes a bundle directory (`config.json` + the shim's own settings).
//! - [`rootfs`]: overlay root filesystem and `/etc/{hostname,hosts,resolv.conf}` files.
//! - [`shim`]: the per-container shim process (`berth shim`), single-threaded, driving youki's
//!   libcontainer; it must never run inside a multi-threaded process.
//! - [`client`]: [`ShimClient`], the daemon's async (tokio) handle on a shim.
//! - [`protocol`], [`status`], [`jsonlog`]: the control-socket protocol, the exit record and
//!   Docker's json-file log format shared by shim and client.
//! - [`user`]: `-u user[:group]` resolution in the container's own passwd/group files.
//! - [`cgroups`]: a container's cgroup figures for `docker stats`/`top`, live limit changes
//!   for `docker update`, and what the host's cgroups can limit.
//! - [`cgroup_warm`]: takes the cgroup-migration lock's grace period out of a start.
//! - [`seccomp_bpf`]: Docker's seccomp profile compiled once and loaded by the init.
//!
//! Daemon flow: [`bundle::write_bundle`] → [`ShimClient::spawn`] (`start: false` to attach
//! first, or to set up networking in the new netns from the init's PID) →
//! [`ShimClient::start`] → [`ShimClient::wait`]. After a daemon restart,
//! [`ShimClient::connect`]; if the shim is gone without `exit.json`,
//! [`shim::recover::cleanup_dead_shim`].

pub mod bundle;
pub mod cgroup_warm;
pub mod cgroups;
pub mod client;
pub mod config;
pub mod error;
pub mod jsonlog;
pub mod protocol;
pub mod rootfs;
pub mod seccomp_bpf;
pub mod shim;
pub mod spec;
pub mod status;
pub mod user;

pub use client::{
    ExecOptions, ShimClient, ShimLauncher, ShimState, SpawnOptions, StdioStream, StreamEvent,
};
pub use config::ContainerSpec;
pub use error::{RuntimeError, SpecError};
pub use status::ExitRecord;

/// The OCI types used by this crate (libcontainer's pinned `oci-spec`).
pub use libcontainer::oci_spec;
