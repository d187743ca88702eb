//! The records kept in the metadata database.

use berth_oci::Digest;
use serde::{Deserialize, Serialize};

/// A blob kept for a layer (e.g. the compressed form a registry served).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BlobRef {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

/// An unpacked layer under `layers/<chain-id>/`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LayerRecord {
    pub chain_id: Digest,
    pub diff_id: Digest,
    pub parent: Option<Digest>,
    /// Sum of regular file sizes.
    pub size: u64,
    /// Length of the uncompressed tar.
    pub diff_size: u64,
    /// Compressed blobs known for this layer.
    #[serde(default)]
    pub blobs: Vec<BlobRef>,
}

/// An image: its config blob and the layers it stacks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageRecord {
    /// The config digest (the image ID).
    pub id: Digest,
    pub config_size: u64,
    pub diff_ids: Vec<Digest>,
    pub chain_ids: Vec<Digest>,
    /// Sum of the layers' sizes.
    pub size: u64,
    pub created: Option<String>,
    /// `name@sha256:…` for manifests this image is known by.
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// Manifest blobs stored for this image.
    #[serde(default)]
    pub manifests: Vec<Digest>,
    /// The image this one was built or committed from.
    #[serde(default)]
    pub parent: Option<Digest>,
    pub last_tag_time: Option<String>,
    /// When the image entered this store.
    pub added: String,
}
