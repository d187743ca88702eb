//! The image configuration blob (`application/vnd.oci.image.config.v1+json` /
//! `application/vnd.docker.container.image.v1+json`).
//!
//! Our own serde types rather than `oci_spec::image::ImageConfiguration`: Docker's
//! configs carry fields the OCI type drops (`Healthcheck`, `OnBuild`, `Shell`,
//! `StopTimeout`, `container_config`, …). Unknown fields are kept in `extra` so a config
//! that is parsed and written again keeps everything. The image ID is the digest of the
//! stored bytes, which are never re-serialised.

use crate::digest::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

type Extra = BTreeMap<String, serde_json::Value>;

/// The whole image configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<RunConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryEntry>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub rootfs: RootFs,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The `rootfs` section: the uncompressed layer digests, bottom first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".to_string(),
            diff_ids: Vec::new(),
        }
    }
}

/// One `history` entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HistoryEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// The container defaults an image carries (`config` in the blob).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ImageConfig {
    /// Parses a config blob.
    pub fn from_slice(data: &[u8]) -> Result<ImageConfig, serde_json::Error> {
        serde_json::from_slice(data)
    }

    /// Serialises the config the way it is stored (compact JSON).
    pub fn to_vec(&self) -> Vec<u8> {
        // Serialising plain data into a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The history entries that correspond to real layers, paired with their diff IDs.
    /// Extra or missing history entries are tolerated, as Docker does.
    pub fn layer_history(&self) -> Vec<Option<&HistoryEntry>> {
        let mut out = Vec::with_capacity(self.rootfs.diff_ids.len());
        let mut it = self.history.iter().filter(|h| !h.empty_layer);
        for _ in &self.rootfs.diff_ids {
            out.push(it.next());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_keeps_unknown_fields() {
        let raw = r#"{"architecture":"amd64","config":{"Cmd":["sh"],"Hostname":"x"},"container_config":{"A":1},"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]}}"#;
        let c = ImageConfig::from_slice(raw.as_bytes()).unwrap();
        assert_eq!(c.config.as_ref().unwrap().cmd.as_ref().unwrap()[0], "sh");
        let back: serde_json::Value = serde_json::from_slice(&c.to_vec()).unwrap();
        assert_eq!(back["container_config"]["A"], 1);
        assert_eq!(back["config"]["Hostname"], "x");
    }
}
