//! The `manifest.json` and `repositories` files of `docker save` archives.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One entry of `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ArchiveManifestEntry {
    /// Path of the config blob inside the archive.
    pub config: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub repo_tags: Vec<String>,
    /// Paths of the (uncompressed or compressed) layer tars inside the archive.
    pub layers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_sources: Option<BTreeMap<String, serde_json::Value>>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// `repositories`: repo → tag → top layer ID (legacy).
pub type Repositories = BTreeMap<String, BTreeMap<String, String>>;
