//! `docker save` / `docker load` archives.
//!
//! Load reads both Docker's legacy layout (`<id>/layer.tar`, `<id>.json`,
//! `manifest.json`) and OCI-layout archives (`index.json`, `blobs/sha256/…`, with or
//! without Docker 25's `manifest.json`), streaming each layer straight into a staged
//! layer. Everything is validated before the first image is committed, so a bad archive
//! leaves the store untouched. Save writes the Docker 25+ format: an OCI image layout
//! plus `manifest.json` and `repositories`, layers reassembled byte-exactly.

use crate::error::{EngineError, Result};
use crate::Engine;
use berth_oci::archive::{ArchiveManifestEntry, Repositories};
use berth_oci::manifest::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME};
use berth_oci::{media_types as mt, Descriptor, Digest, ImageConfig, Index, Manifest, Reference};
use berth_store::ingest::{ingest_auto, Ingested};
use berth_store::{ConfigSource, NewImage, StagedLayer};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};

const SMALL_FILE_MAX: u64 = 16 << 20;

fn bad(msg: impl Into<String>) -> EngineError {
    EngineError::BadRequest(msg.into())
}

/// One image found in an archive, validated and ready to commit.
struct Found {
    config: Vec<u8>,
    tags: Vec<Reference>,
}

impl Engine {
    /// `POST /images/load`. Returns the messages Docker prints
    /// (`Loaded image: busybox:latest`).
    pub fn image_load(&self, body: impl Read) -> Result<Vec<String>> {
        let started = std::time::Instant::now();
        let content = self.store.content();
        let mut small: HashMap<String, Vec<u8>> = HashMap::new();
        let mut blobs: HashMap<String, Ingested> = HashMap::new();
        let mut aliases: HashMap<String, String> = HashMap::new();
        let mut archive = tar::Archive::new(body);
        let entries = archive
            .entries()
            .map_err(|e| bad(format!("invalid archive: {e}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| bad(format!("invalid archive: {e}")))?;
            let path = clean(
                &entry
                    .path()
                    .map_err(|e| bad(format!("invalid archive: {e}")))?
                    .to_string_lossy(),
            );
            let kind = entry.header().entry_type();
            if kind.is_symlink() || kind.is_hard_link() {
                if let Ok(Some(target)) = entry.link_name() {
                    let target = target.to_string_lossy().into_owned();
                    let base = if kind.is_symlink() {
                        path.rsplit_once('/')
                            .map(|(d, _)| d.to_string())
                            .unwrap_or_default()
                    } else {
                        String::new()
                    };
                    aliases.insert(path, join_clean(&base, &target));
                }
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            match path.as_str() {
                "manifest.json" | "index.json" | "repositories" | "oci-layout" => {
                    let mut buf = Vec::new();
                    entry
                        .take(SMALL_FILE_MAX)
                        .read_to_end(&mut buf)
                        .map_err(|e| bad(format!("invalid archive: reading {path}: {e}")))?;
                    small.insert(path, buf);
                }
                p if p.starts_with("blobs/")
                    || p.ends_with("/layer.tar")
                    || (p.ends_with(".json") && !p.contains('/')) =>
                {
                    let ing = ingest_auto(content, entry)
                        .map_err(|e| bad(format!("invalid archive entry {p}: {e}")))?;
                    if let Some(want) = p
                        .strip_prefix("blobs/")
                        .and_then(|r| r.split_once('/'))
                        .map(|(a, h)| format!("{a}:{h}"))
                    {
                        let want: Digest = want
                            .parse()
                            .map_err(|e| bad(format!("invalid archive entry {p}: {e}")))?;
                        if *ing.digest() != want {
                            return Err(bad(format!(
                                "invalid archive: {p} does not match its digest (content is {})",
                                ing.digest()
                            )));
                        }
                    }
                    blobs.insert(p.to_string(), ing);
                }
                _ => {} // <id>/json, <id>/VERSION: legacy metadata, not needed
            }
        }
        let resolve = |p: &str| -> String {
            let mut p = clean(p);
            for _ in 0..16 {
                match aliases.get(&p) {
                    Some(t) => p = t.clone(),
                    None => break,
                }
            }
            p
        };

        tracing::debug!(elapsed = ?started.elapsed(), "load: archive read and layers staged");
        // Find the images.
        let mut found: Vec<Found> = Vec::new();
        let mut layer_paths: Vec<(String, Digest)> = Vec::new();
        if let Some(raw) = small.get("manifest.json") {
            let entries: Vec<ArchiveManifestEntry> = serde_json::from_slice(raw)
                .map_err(|e| bad(format!("invalid archive: manifest.json: {e}")))?;
            for e in entries {
                let cpath = resolve(&e.config);
                let config = match blobs.get(&cpath) {
                    Some(Ingested::Blob(b)) => std::fs::read(&b.path)
                        .map_err(|err| EngineError::Internal(err.to_string()))?,
                    Some(Ingested::Layer(_)) => {
                        return Err(bad(format!(
                            "invalid archive: config {} is a tar, not JSON",
                            e.config
                        )))
                    }
                    None => {
                        return Err(bad(format!(
                            "invalid archive: config {} listed in manifest.json is missing",
                            e.config
                        )))
                    }
                };
                let cfg = parse_config(&config, &e.config)?;
                if cfg.rootfs.diff_ids.len() != e.layers.len() {
                    return Err(bad(format!(
                        "invalid archive: config {} lists {} layers, manifest.json {}",
                        e.config,
                        cfg.rootfs.diff_ids.len(),
                        e.layers.len()
                    )));
                }
                for (lp, want) in e.layers.iter().zip(&cfg.rootfs.diff_ids) {
                    layer_paths.push((resolve(lp), want.clone()));
                    if !blobs.contains_key(&resolve(lp)) && !self.has_layer_diff(want, &cfg)? {
                        return Err(bad(format!(
                            "invalid archive: layer {lp} listed in manifest.json is missing"
                        )));
                    }
                }
                let mut tags = Vec::new();
                for t in &e.repo_tags {
                    tags.push(
                        Reference::parse_normalized(t)
                            .map_err(|err| bad(format!("invalid archive: tag {t:?}: {err}")))?
                            .with_default_tag(),
                    );
                }
                found.push(Found { config, tags });
            }
        } else if let Some(raw) = small.get("index.json") {
            let index: Index = serde_json::from_slice(raw)
                .map_err(|e| bad(format!("invalid archive: index.json: {e}")))?;
            let read_blob = |d: &Digest| -> Result<Vec<u8>> {
                let p = format!("blobs/{}/{}", d.algorithm().as_str(), d.hex());
                match blobs.get(&p) {
                    Some(Ingested::Blob(b)) => {
                        std::fs::read(&b.path).map_err(|e| EngineError::Internal(e.to_string()))
                    }
                    _ => Err(bad(format!(
                        "invalid archive: blob {d} referenced by index.json is missing"
                    ))),
                }
            };
            for desc in &index.manifests {
                let (mdesc, mbytes) = pick_manifest(desc, &read_blob)?;
                let m: Manifest = serde_json::from_slice(&mbytes)
                    .map_err(|e| bad(format!("invalid archive: manifest {}: {e}", mdesc.digest)))?;
                let config = read_blob(&m.config.digest)?;
                let cfg = parse_config(&config, &m.config.digest.to_string())?;
                if cfg.rootfs.diff_ids.len() != m.layers.len() {
                    return Err(bad(format!(
                        "invalid archive: manifest {} has {} layers, its config {}",
                        mdesc.digest,
                        m.layers.len(),
                        cfg.rootfs.diff_ids.len()
                    )));
                }
                for (l, want) in m.layers.iter().zip(&cfg.rootfs.diff_ids) {
                    let p = format!("blobs/{}/{}", l.digest.algorithm().as_str(), l.digest.hex());
                    if !blobs.contains_key(&p) && !self.has_layer_diff(want, &cfg)? {
                        return Err(bad(format!(
                            "invalid archive: layer blob {} is missing",
                            l.digest
                        )));
                    }
                    layer_paths.push((p, want.clone()));
                }
                let mut tags = Vec::new();
                let ann = desc.annotations.clone().unwrap_or_default();
                let name = ann.get(ANNOTATION_IMAGE_NAME).or_else(|| {
                    ann.get(ANNOTATION_REF_NAME)
                        .filter(|r| r.contains(':') || r.contains('/'))
                });
                if let Some(n) = name {
                    if let Ok(r) = Reference::parse_normalized(n) {
                        tags.push(r.with_default_tag());
                    }
                }
                found.push(Found { config, tags });
            }
        } else {
            return Err(bad(
                "invalid archive: neither manifest.json nor index.json found (is this a `docker save` archive?)",
            ));
        }

        // Every layer must be a tar whose diff ID is the one the config expects.
        let mut pool: HashMap<Digest, StagedLayer> = HashMap::new();
        for (p, want) in &layer_paths {
            match blobs.remove(p) {
                Some(Ingested::Layer(l)) => {
                    if l.diff_id != *want {
                        return Err(bad(format!(
                            "invalid archive: layer {p} has diff ID {}, but the image config expects {want}",
                            l.diff_id
                        )));
                    }
                    pool.insert(l.diff_id.clone(), l);
                }
                Some(Ingested::Blob(_)) => {
                    return Err(bad(format!(
                        "invalid archive: layer {p} is not a tar archive"
                    )))
                }
                None => {
                    if !pool.contains_key(want)
                        && !self.store.layers()?.iter().any(|l| l.diff_id == *want)
                    {
                        return Err(bad(format!("invalid archive: layer {p} is missing")));
                    }
                }
            }
        }

        // Commit.
        let mut messages = Vec::new();
        for f in found {
            let committed = self.store.commit_image(
                NewImage {
                    config: ConfigSource::Bytes(f.config),
                    tags: f.tags.clone(),
                    repo_digests: Vec::new(),
                    manifests: Vec::new(),
                    parent: None,
                },
                &mut pool,
            )?;
            for (t, old) in &committed.moved_tags {
                messages.push(format!(
                    "The image {} already exists, renaming the old one with ID {old} to empty string",
                    t.familiar()
                ));
            }
            let id = committed.image.id.to_string();
            let name = f
                .tags
                .first()
                .map(|t| t.familiar())
                .unwrap_or_else(|| id.clone());
            self.image_event(&id, "load", &name);
            if f.tags.is_empty() {
                messages.push(format!("Loaded image ID: {}", committed.image.id));
            }
            for t in f.tags {
                messages.push(format!("Loaded image: {}", t.familiar()));
            }
        }
        tracing::debug!(elapsed = ?started.elapsed(), "load: committed");
        Ok(messages)
    }

    /// Is a layer with this diff ID (at the position the config puts it) already stored?
    fn has_layer_diff(&self, diff: &Digest, cfg: &ImageConfig) -> Result<bool> {
        let chains = berth_store::chain_ids(&cfg.rootfs.diff_ids);
        for (d, c) in cfg.rootfs.diff_ids.iter().zip(&chains) {
            if d == diff {
                return Ok(self.store.layer(c)?.is_some());
            }
        }
        Ok(false)
    }

    /// Which images `docker save NAME…` means, with the tags to record for each.
    /// Resolving first lets the API answer "No such image" before streaming starts.
    pub fn image_save_plan(&self, names: &[String]) -> Result<SavePlan> {
        let mut sel: Vec<(Digest, Vec<Reference>)> = Vec::new();
        let add = |sel: &mut Vec<(Digest, Vec<Reference>)>, id: Digest, tag: Option<Reference>| {
            let pos = match sel.iter().position(|(d, _)| *d == id) {
                Some(p) => p,
                None => {
                    sel.push((id, Vec::new()));
                    sel.len() - 1
                }
            };
            if let Some(t) = tag {
                if !sel[pos].1.contains(&t) {
                    sel[pos].1.push(t);
                }
            }
        };
        let tags = self.store.tags()?;
        for name in names {
            if let Ok(r) = Reference::parse_normalized(name) {
                if r.tag().is_none() && r.digest().is_none() {
                    let mine: Vec<&(Reference, Digest)> =
                        tags.iter().filter(|(t, _)| t.name() == r.name()).collect();
                    if !mine.is_empty() {
                        for (t, id) in mine {
                            add(&mut sel, id.clone(), Some(t.clone()));
                        }
                        continue;
                    }
                }
                if r.tag().is_some() {
                    let img = self.store.resolve(name)?;
                    add(&mut sel, img.id, Some(r));
                    continue;
                }
            }
            let img = self.store.resolve(name)?;
            add(&mut sel, img.id, None);
        }
        Ok(SavePlan(sel))
    }

    /// `GET /images/get?names=…` and `GET /images/{name}/get`: writes the archive.
    pub fn image_save(&self, plan: &SavePlan, out: impl Write) -> Result<()> {
        let sel = &plan.0;
        for (id, refs) in sel {
            let id = id.to_string();
            let name = refs
                .first()
                .map(|r| r.familiar())
                .unwrap_or_else(|| id.clone());
            self.image_event(&id, "save", &name);
        }
        let mut w = TarWriter { out };
        let io_err = |e: io::Error| EngineError::Internal(format!("writing archive: {e}"));
        w.dir("blobs/").map_err(io_err)?;
        w.dir("blobs/sha256/").map_err(io_err)?;
        let mut written: std::collections::HashSet<Digest> = Default::default();
        let mut index = Index {
            schema_version: 2,
            media_type: Some(mt::OCI_INDEX.into()),
            artifact_type: None,
            manifests: Vec::new(),
            subject: None,
            annotations: None,
        };
        let mut manifest_json: Vec<serde_json::Value> = Vec::new();
        let mut repositories: Repositories = BTreeMap::new();
        for (id, tags) in sel {
            let img = self
                .store
                .image(id)?
                .ok_or_else(|| EngineError::NotFound(format!("No such image: {id}")))?;
            let (config, _) = self.store.config(id)?;
            if written.insert(id.clone()) {
                w.file(&blob_path(id), &config).map_err(io_err)?;
            }
            let mut layers = Vec::new();
            for chain in &img.chain_ids {
                let rec = self
                    .store
                    .layer(chain)?
                    .ok_or_else(|| EngineError::Internal(format!("layer {chain} missing")))?;
                if written.insert(rec.diff_id.clone()) {
                    w.header(&blob_path(&rec.diff_id), rec.diff_size)
                        .map_err(io_err)?;
                    let n = self
                        .store
                        .write_layer_tar(chain, &mut w.out)
                        .map_err(|e| EngineError::Internal(e.to_string()))?;
                    if n != rec.diff_size {
                        return Err(EngineError::Internal(format!(
                            "layer {chain}: reassembled {n} bytes, expected {}",
                            rec.diff_size
                        )));
                    }
                    w.pad(n).map_err(io_err)?;
                }
                layers.push(Descriptor::new(
                    mt::OCI_LAYER_TAR,
                    rec.diff_id.clone(),
                    rec.diff_size as i64,
                ));
            }
            let manifest = Manifest {
                schema_version: 2,
                media_type: Some(mt::OCI_MANIFEST.into()),
                artifact_type: None,
                config: Descriptor::new(mt::OCI_CONFIG, id.clone(), config.len() as i64),
                layers: layers.clone(),
                subject: None,
                annotations: None,
            };
            let mbytes =
                serde_json::to_vec(&manifest).map_err(|e| EngineError::Internal(e.to_string()))?;
            let mdigest = Digest::sha256_of(&mbytes);
            if written.insert(mdigest.clone()) {
                w.file(&blob_path(&mdigest), &mbytes).map_err(io_err)?;
            }
            let desc = Descriptor::new(mt::OCI_MANIFEST, mdigest.clone(), mbytes.len() as i64);
            if tags.is_empty() {
                index.manifests.push(desc.clone());
            }
            for t in tags {
                let mut d = desc.clone();
                let mut ann = BTreeMap::new();
                ann.insert(ANNOTATION_IMAGE_NAME.to_string(), t.to_string());
                ann.insert(
                    ANNOTATION_REF_NAME.to_string(),
                    t.tag().unwrap_or("latest").to_string(),
                );
                d.annotations = Some(ann);
                index.manifests.push(d);
                if let Some(top) = img.diff_ids.last() {
                    repositories.entry(t.familiar_name()).or_default().insert(
                        t.tag().unwrap_or("latest").to_string(),
                        top.hex().to_string(),
                    );
                }
            }
            let repo_tags: Option<Vec<String>> =
                (!tags.is_empty()).then(|| tags.iter().map(|t| t.familiar()).collect());
            manifest_json.push(serde_json::json!({
                "Config": blob_path(id),
                "RepoTags": repo_tags,
                "Layers": layers.iter().map(|l| blob_path(&l.digest)).collect::<Vec<_>>(),
            }));
        }
        w.file("index.json", &json_bytes(&index)).map_err(io_err)?;
        w.file("manifest.json", &json_bytes(&manifest_json))
            .map_err(io_err)?;
        w.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
            .map_err(io_err)?;
        if !repositories.is_empty() {
            w.file("repositories", &json_bytes(&repositories))
                .map_err(io_err)?;
        }
        w.finish().map_err(io_err)?;
        Ok(())
    }
}

/// Compact JSON of plain data (cannot fail for these types).
fn json_bytes<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// The images (and tags) an archive will hold.
pub struct SavePlan(Vec<(Digest, Vec<Reference>)>);

fn parse_config(raw: &[u8], what: &str) -> Result<ImageConfig> {
    ImageConfig::from_slice(raw)
        .map_err(|e| bad(format!("invalid archive: image config {what}: {e}")))
}

/// Follows an index entry down to one manifest (linux/amd64 preferred).
fn pick_manifest(
    desc: &Descriptor,
    read_blob: &dyn Fn(&Digest) -> Result<Vec<u8>>,
) -> Result<(Descriptor, Vec<u8>)> {
    let mut desc = desc.clone();
    for _ in 0..4 {
        let bytes = read_blob(&desc.digest)?;
        if !mt::is_index(&desc.media_type) {
            return Ok((desc, bytes));
        }
        let idx: Index = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("invalid archive: index {}: {e}", desc.digest)))?;
        let arch = std::env::consts::ARCH
            .replace("x86_64", "amd64")
            .replace("aarch64", "arm64");
        let next = idx
            .manifests
            .iter()
            .find(|m| {
                m.platform
                    .as_ref()
                    .is_some_and(|p| p.os == "linux" && p.architecture == arch)
            })
            .or_else(|| {
                idx.manifests
                    .iter()
                    .find(|m| mt::is_manifest(&m.media_type))
            })
            .ok_or_else(|| {
                bad(format!(
                    "invalid archive: index {} has no manifest for linux/{arch}",
                    desc.digest
                ))
            })?;
        desc = next.clone();
    }
    Err(bad("invalid archive: indexes nested too deeply"))
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm().as_str(), d.hex())
}

fn clean(p: &str) -> String {
    join_clean("", p)
}

/// Joins and normalises archive paths (`./a/../b` → `b`).
fn join_clean(base: &str, p: &str) -> String {
    let mut parts: Vec<&str> = if p.starts_with('/') {
        Vec::new()
    } else {
        base.split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .collect()
    };
    for s in p.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// Writes tar entries straight to a stream (layers are streamed, not buffered).
struct TarWriter<W: Write> {
    out: W,
}

impl<W: Write> TarWriter<W> {
    fn header(&mut self, path: &str, size: u64) -> io::Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_path(path)?;
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        self.out.write_all(h.as_bytes())
    }
    fn dir(&mut self, path: &str) -> io::Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_path(path)?;
        h.set_size(0);
        h.set_mode(0o755);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Directory);
        h.set_cksum();
        self.out.write_all(h.as_bytes())
    }
    fn pad(&mut self, n: u64) -> io::Result<()> {
        let rem = (n % 512) as usize;
        if rem != 0 {
            self.out.write_all(&[0u8; 512][..512 - rem])?;
        }
        Ok(())
    }
    fn file(&mut self, path: &str, data: &[u8]) -> io::Result<()> {
        self.header(path, data.len() as u64)?;
        self.out.write_all(data)?;
        self.pad(data.len() as u64)
    }
    fn finish(mut self) -> io::Result<()> {
        self.out.write_all(&[0u8; 1024])?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_paths() {
        assert_eq!(clean("./a/b/../c"), "a/c");
        assert_eq!(join_clean("abc", "../def/layer.tar"), "def/layer.tar");
    }
}
