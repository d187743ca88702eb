//! Finding the image inside an archive or layout: `manifest.json` (both the old
//! `<id>/layer.tar` layout and Docker 25+ archives whose paths point into
//! `blobs/sha256/`) or, failing that, the OCI `index.json` → manifest → config chain.

use crate::error::{AnalyzeError, Result};
use berth_oci::archive::ArchiveManifestEntry;
use berth_oci::media_types;
use berth_oci::{Digest, ImageConfig, Index, Manifest};

/// Where an image's parts are, as paths inside the archive or layout directory.
#[derive(Debug, Clone)]
pub struct Layout {
    pub name: Option<String>,
    pub config_path: String,
    pub config: Option<ImageConfig>,
    /// Layer paths, bottom first.
    pub layers: Vec<String>,
}

/// The path of a blob in an OCI layout.
pub fn blob_path(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm().as_str(), d.hex())
}

/// Reads small files by path.
pub trait FileSource {
    fn read_small(&self, path: &str) -> Result<Option<Vec<u8>>>;
}

/// Resolves the image layout. `want` picks a tag among several images in one archive.
pub fn resolve(files: &dyn FileSource, want: Option<&str>) -> Result<Layout> {
    if let Some(raw) = files.read_small("manifest.json")? {
        let entries: Vec<ArchiveManifestEntry> = serde_json::from_slice(&raw)
            .map_err(|e| AnalyzeError::meta("manifest.json", format!("invalid: {e}")))?;
        let entry = match want {
            Some(w) => entries
                .iter()
                .find(|e| {
                    e.repo_tags
                        .iter()
                        .any(|t| t == w || t.split(':').next() == Some(w))
                })
                .or_else(|| entries.first()),
            None => entries.first(),
        }
        .ok_or_else(|| AnalyzeError::meta("manifest.json", "lists no image"))?;
        let config = read_config(files, &entry.config)?;
        return Ok(Layout {
            name: entry.repo_tags.first().cloned(),
            config_path: entry.config.clone(),
            config,
            layers: entry.layers.clone(),
        });
    }
    if let Some(raw) = files.read_small("index.json")? {
        let index: Index = serde_json::from_slice(&raw)
            .map_err(|e| AnalyzeError::meta("index.json", format!("invalid: {e}")))?;
        let (manifest, name) = pick_manifest(files, &index, "index.json", 0)?;
        let config_path = blob_path(&manifest.config.digest);
        let config = read_config(files, &config_path)?;
        let layers = manifest
            .layers
            .iter()
            .map(|l| blob_path(&l.digest))
            .collect();
        return Ok(Layout {
            name,
            config_path,
            config,
            layers,
        });
    }
    Err(AnalyzeError::meta(
        "image",
        "neither manifest.json nor index.json found: not a docker save archive or OCI layout",
    ))
}

fn read_config(files: &dyn FileSource, path: &str) -> Result<Option<ImageConfig>> {
    let raw = files
        .read_small(path)?
        .ok_or_else(|| AnalyzeError::meta(path, "image config not found"))?;
    ImageConfig::from_slice(&raw)
        .map(Some)
        .map_err(|e| AnalyzeError::meta(path, format!("invalid image config: {e}")))
}

fn pick_manifest(
    files: &dyn FileSource,
    index: &Index,
    origin: &str,
    depth: usize,
) -> Result<(Manifest, Option<String>)> {
    if depth > 4 {
        return Err(AnalyzeError::meta(origin, "indexes nested too deeply"));
    }
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let mut candidates: Vec<_> = index
        .manifests
        .iter()
        .filter(|d| media_types::is_manifest(&d.media_type) || media_types::is_index(&d.media_type))
        .collect();
    // Prefer this machine's platform; keep the order otherwise.
    candidates.sort_by_key(|d| match &d.platform {
        Some(p) if p.architecture == arch => 0,
        None => 1,
        _ => 2,
    });
    let desc = candidates
        .first()
        .ok_or_else(|| AnalyzeError::meta(origin, "lists no image manifest"))?;
    let name = desc.annotations.as_ref().and_then(|a| {
        a.get(berth_oci::manifest::ANNOTATION_IMAGE_NAME)
            .or_else(|| a.get(berth_oci::manifest::ANNOTATION_REF_NAME))
            .cloned()
    });
    let path = blob_path(&desc.digest);
    let raw = files.read_small(&path)?.ok_or_else(|| {
        AnalyzeError::meta(&path, format!("blob referenced by {origin} is missing"))
    })?;
    if media_types::is_index(&desc.media_type) {
        let inner: Index = serde_json::from_slice(&raw)
            .map_err(|e| AnalyzeError::meta(&path, format!("invalid index: {e}")))?;
        let (m, inner_name) = pick_manifest(files, &inner, &path, depth + 1)?;
        return Ok((m, name.or(inner_name)));
    }
    let m: Manifest = serde_json::from_slice(&raw)
        .map_err(|e| AnalyzeError::meta(&path, format!("invalid manifest: {e}")))?;
    Ok((m, name))
}
