//! An image as the analyzer sees it: its layers in order, each with the command that
//! created it (from the config's history) and its parsed tar entries.

use crate::layer::{LayerEntry, ParsedLayer};
use berth_oci::ImageConfig;

/// One layer of an image.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Position, bottom first.
    pub index: usize,
    /// Where the layer came from: the archive path or blob digest (dive's `id`).
    pub id: String,
    /// The layer's diff ID from the config, if the config lists one (dive's `digestId`).
    pub digest: Option<String>,
    /// `created_by` of the matching history entry, `/bin/sh -c ` trimmed as dive does.
    pub command: String,
    /// Σ tar-header sizes: dive's layer size (uncompressed content bytes).
    pub size: u64,
    pub entries: Vec<LayerEntry>,
}

/// A whole image.
#[derive(Debug, Clone)]
pub struct Image {
    /// What the user asked for (name, path).
    pub name: String,
    pub layers: Vec<Layer>,
}

impl Image {
    /// Assembles an image from its parsed layers (bottom first) and its config.
    /// History entries marked `empty_layer` are skipped, and missing history reads
    /// `(missing)`, as in dive.
    pub fn assemble(
        name: String,
        config: Option<&ImageConfig>,
        parsed: Vec<(String, ParsedLayer)>,
    ) -> Image {
        let history = config.map(|c| c.layer_history()).unwrap_or_default();
        let diff_ids: Vec<String> = config
            .map(|c| c.rootfs.diff_ids.iter().map(|d| d.to_string()).collect())
            .unwrap_or_default();
        let layers = parsed
            .into_iter()
            .enumerate()
            .map(|(index, (id, p))| {
                let command = history
                    .get(index)
                    .copied()
                    .flatten()
                    .and_then(|h| h.created_by.clone())
                    .map(|c| c.trim_start_matches("/bin/sh -c ").to_string())
                    .unwrap_or_else(|| "(missing)".to_string());
                Layer {
                    index,
                    id,
                    digest: diff_ids.get(index).cloned(),
                    command,
                    size: p.size,
                    entries: p.entries,
                }
            })
            .collect();
        Image { name, layers }
    }

    /// Σ layer sizes.
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }
}
