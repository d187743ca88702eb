//! berth-oci: the vocabulary every other berth crate speaks.
//!
//! Image references with Docker's normalisation rules, content digests, media types,
//! manifests and indexes (OCI and Docker schema 2), the image configuration blob, the
//! `manifest.json` of `docker save` archives, and Go's duration syntax that image
//! configs and Docker's flags share. Nothing here does I/O.

pub mod archive;
pub mod config;
pub mod digest;
pub mod duration;
pub mod manifest;
pub mod media_types;
pub mod reference;

pub use config::{HistoryEntry, ImageConfig, RootFs, RunConfig};
pub use digest::{Digest, DigestError, Sha256Writer};
pub use manifest::{Descriptor, Index, Manifest, Platform};
pub use reference::{Reference, ReferenceError};
