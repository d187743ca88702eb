//! Pulling an image: resolve the reference to a manifest (negotiating OCI and Docker
//! schema 2 manifests and indexes, picking the platform), fetch and verify the config,
//! then download the missing layers in parallel — each streamed straight into a staged
//! layer (unpacked once, as `docker load` does) while being teed to
//! `tmp/pull-<digest>.partial`, so a dropped connection resumes with a `Range` request
//! and a failed pull leaves finished layers for the next try. Digests are verified
//! before anything is committed; the image is committed in one store transaction.

use crate::auth::AuthConfig;
use crate::client::Registry;
use crate::error::{DistError, Result};
use crate::metadata::{BlobSource, Metadata};
use crate::progress::Progress;
use crate::{Dist, StoreHandle};
use berth_oci::media_types as mt;
use berth_oci::{Descriptor, Digest, ImageConfig, Index, Manifest, Platform, Reference};
use berth_store::ingest::{ingest_layer, ingest_layer_opts, write_temp};
use berth_store::{chain_ids, ConfigSource, NewImage, StagedLayer};
use futures::StreamExt;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What to pull.
#[derive(Debug, Clone)]
pub struct PullRequest {
    /// Normalised; a tag or a digest (`latest` added when neither).
    pub reference: Reference,
    /// `os/arch[/variant]`; the host's when empty.
    pub platform: Option<String>,
    pub auth: Option<AuthConfig>,
}

/// A reference resolved to one image manifest and its config (nothing stored yet).
pub struct Resolved {
    reg: Registry,
    reference: Reference,
    scopes: Vec<String>,
    /// The digest the reference points to (an index's, when it is an index).
    pub digest: Digest,
    /// Manifest blobs to store: the top-level one and, for an index, the chosen one.
    manifests: Vec<Vec<u8>>,
    manifest: Manifest,
    config_raw: Vec<u8>,
    config: ImageConfig,
    pub image_id: Digest,
}

impl Resolved {
    /// The reference being pulled.
    pub fn reference(&self) -> &Reference {
        &self.reference
    }
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub image_id: Digest,
    pub digest: Digest,
    /// Whether anything new was stored.
    pub updated: bool,
}

/// The host's platform in OCI terms.
pub fn host_platform() -> Platform {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    Platform {
        architecture: arch.into(),
        os: "linux".into(),
        os_version: None,
        variant: None,
    }
}

/// Parses `os/arch[/variant]`.
pub fn parse_platform(s: &str) -> Result<Platform> {
    let parts: Vec<&str> = s.split('/').collect();
    if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(DistError::Invalid(format!(
            "invalid platform {s:?}: expected os/arch[/variant]"
        )));
    }
    Ok(Platform {
        os: parts[0].to_ascii_lowercase(),
        architecture: parts[1].to_ascii_lowercase(),
        os_version: None,
        variant: parts.get(2).map(|v| v.to_ascii_lowercase()),
    })
}

/// The index entry for `want` (variant only compared when asked for).
pub fn select_platform<'a>(index: &'a Index, want: &Platform) -> Option<&'a Descriptor> {
    index.manifests.iter().find(|d| {
        mt::is_manifest(&d.media_type)
            && d.platform.as_ref().is_some_and(|p| {
                p.os == want.os
                    && p.architecture == want.architecture
                    && (want.variant.is_none() || p.variant == want.variant)
            })
    })
}

fn sniff_media_type(raw: &[u8], header: &str) -> String {
    if !header.is_empty() && header != "application/json" && header != "text/plain" {
        return header.to_string();
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        #[serde(default)]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
        #[serde(default)]
        schema_version: Option<u32>,
    }
    match serde_json::from_slice::<Probe>(raw) {
        Ok(p) if p.media_type.is_some() => p.media_type.unwrap_or_default(),
        Ok(p) if p.schema_version == Some(1) => {
            "application/vnd.docker.distribution.manifest.v1+json".into()
        }
        Ok(p) if p.manifests.is_some() => mt::OCI_INDEX.into(),
        _ => mt::OCI_MANIFEST.into(),
    }
}

impl Dist {
    /// Resolves `req` to a manifest and config. Errors here (unknown manifest, no
    /// access, unreachable registry) come before any progress is streamed.
    pub async fn resolve(&self, req: &PullRequest) -> Result<Resolved> {
        let reference = req.reference.clone().with_default_tag();
        let repo = reference.path().to_string();
        let scopes = vec![format!("repository:{repo}:pull")];
        let reg = self.connect(reference.domain(), req.auth.clone()).await?;
        let want = match &req.platform {
            Some(p) if !p.is_empty() => parse_platform(p)?,
            _ => host_platform(),
        };
        let (tag_or_digest, by_digest) = match (reference.digest(), reference.tag()) {
            (Some(d), _) => (d.to_string(), Some(d.clone())),
            (None, Some(t)) => (t.to_string(), None),
            (None, None) => ("latest".to_string(), None),
        };
        let not_found = || {
            DistError::NotFound(format!(
                "manifest for {} not found: manifest unknown: manifest unknown",
                reference.familiar()
            ))
        };
        let (raw, header_mt) = match reg.get_manifest(&repo, &tag_or_digest, &scopes).await {
            Ok(Some(x)) => x,
            Ok(None) => return Err(not_found()),
            Err(DistError::Unauthorized { registry, message }) => {
                return Err(DistError::Unauthorized {
                    message: format!(
                        "pull access denied for {}, repository does not exist or may require 'berth login': {message}",
                        reference.familiar_name()
                    ),
                    registry,
                })
            }
            Err(e) => return Err(e),
        };
        let top_digest = Digest::sha256_of(&raw);
        if let Some(want_d) = &by_digest {
            if *want_d != top_digest {
                return Err(DistError::DigestMismatch {
                    what: format!("manifest {}", reference.familiar()),
                    expected: want_d.clone(),
                    actual: top_digest,
                });
            }
        }
        let media_type = sniff_media_type(&raw, &header_mt);
        let mut manifests = vec![raw.clone()];
        let manifest_raw = if mt::is_index(&media_type) {
            let index: Index = serde_json::from_slice(&raw).map_err(|e| {
                DistError::Invalid(format!(
                    "invalid manifest list for {}: {e}",
                    reference.familiar()
                ))
            })?;
            let d = select_platform(&index, &want).ok_or_else(|| {
                DistError::NotFound(format!(
                    "no matching manifest for {}/{}{} in the manifest list entries",
                    want.os,
                    want.architecture,
                    want.variant
                        .as_ref()
                        .map(|v| format!("/{v}"))
                        .unwrap_or_default()
                ))
            })?;
            let (m, _) = reg
                .get_manifest(&repo, &d.digest.to_string(), &scopes)
                .await?
                .ok_or_else(not_found)?;
            let got = Digest::sha256_of(&m);
            if got != d.digest {
                return Err(DistError::DigestMismatch {
                    what: format!("manifest of {}", reference.familiar()),
                    expected: d.digest.clone(),
                    actual: got,
                });
            }
            manifests.push(m.clone());
            m
        } else if mt::is_manifest(&media_type) {
            raw
        } else if media_type.contains("manifest.v1") {
            return Err(DistError::Invalid(format!(
                "{} is a Docker schema 1 image: schema 1 manifests are not supported (push it again with a current docker or berth)",
                reference.familiar()
            )));
        } else {
            return Err(DistError::Invalid(format!(
                "{}: unsupported manifest media type {media_type:?}",
                reference.familiar()
            )));
        };
        let manifest: Manifest = serde_json::from_slice(&manifest_raw).map_err(|e| {
            DistError::Invalid(format!(
                "invalid manifest for {}: {e}",
                reference.familiar()
            ))
        })?;
        for l in &manifest.layers {
            if mt::layer_compression(&l.media_type).is_none() {
                return Err(DistError::Invalid(format!(
                    "{}: layer {} has unsupported media type {:?}",
                    reference.familiar(),
                    l.digest,
                    l.media_type
                )));
            }
        }
        // The config.
        let resp = reg
            .get_blob(&repo, &manifest.config.digest, 0, &scopes)
            .await?;
        let config_raw = resp
            .bytes()
            .await
            .map_err(|e| DistError::Unreachable {
                registry: reg.name().to_string(),
                message: format!("reading config {}: {e}", manifest.config.digest),
            })?
            .to_vec();
        let image_id = Digest::sha256_of(&config_raw);
        if image_id != manifest.config.digest {
            return Err(DistError::DigestMismatch {
                what: format!("config of {}", reference.familiar()),
                expected: manifest.config.digest.clone(),
                actual: image_id,
            });
        }
        let config = ImageConfig::from_slice(&config_raw).map_err(|e| {
            DistError::Invalid(format!(
                "invalid image config of {}: {e}",
                reference.familiar()
            ))
        })?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(DistError::Invalid(format!(
                "{}: the manifest lists {} layers but the config {}",
                reference.familiar(),
                manifest.layers.len(),
                config.rootfs.diff_ids.len()
            )));
        }
        Ok(Resolved {
            reg,
            reference,
            scopes,
            digest: top_digest,
            manifests,
            manifest,
            config_raw,
            config,
            image_id,
        })
    }

    /// Downloads what is missing and commits the image, reporting progress like docker.
    pub async fn fetch(
        &self,
        store: Arc<dyn StoreHandle>,
        r: Resolved,
        progress: Arc<Progress>,
    ) -> Result<Pulled> {
        let cfg = self.config();
        let s = store.store();
        let diff_ids = r.config.rootfs.diff_ids.clone();
        let chains = chain_ids(&diff_ids);
        let repo = r.reference.path().to_string();
        let id_label = r
            .reference
            .tag()
            .map(String::from)
            .or_else(|| r.reference.digest().map(|d| d.to_string()))
            .unwrap_or_default();
        progress.send(crate::JsonMessage {
            status: Some(format!("Pulling from {repo}")),
            id: Some(id_label),
            ..Default::default()
        });
        // Which layers are needed?
        let mut todo: Vec<(usize, Descriptor, Digest)> = Vec::new();
        for (i, (l, chain)) in r.manifest.layers.iter().zip(&chains).enumerate() {
            let short = l.digest.short().to_string();
            if s.layer(chain)?.is_some() {
                progress.status(&short, "Already exists");
                continue;
            }
            if todo.iter().any(|(_, _, d)| *d == diff_ids[i]) {
                continue; // the same layer twice in one image
            }
            progress.status(&short, "Pulling fs layer");
            todo.push((i, l.clone(), diff_ids[i].clone()));
        }
        let had_image = s.image(&r.image_id)?.is_some();
        let parallel = cfg.max_concurrent_downloads.max(1);
        for (k, (_, l, _)) in todo.iter().enumerate() {
            if k >= parallel {
                progress.status(l.digest.short(), "Waiting");
            }
        }
        let tmp = s.root().join("tmp");
        let content = s.content().clone();
        let results: Vec<Result<(Digest, StagedLayer, PathBuf)>> =
            futures::stream::iter(todo.iter().cloned().map(|(_, l, diff)| {
                let progress = progress.clone();
                let content = content.clone();
                let tmp = tmp.clone();
                let reg = &r.reg;
                let scopes = &r.scopes;
                let repo = &repo;
                let attempts = cfg.max_download_attempts.max(1);
                async move {
                    let lock = self.blob_lock(&l.digest.to_string());
                    let _held = lock.lock().await;
                    let (staged, done) = fetch_layer(
                        reg, repo, scopes, &l, &diff, content, &tmp, &progress, attempts,
                    )
                    .await?;
                    Ok((diff, staged, done))
                }
            }))
            .buffer_unordered(parallel)
            .collect()
            .await;
        let mut pool: HashMap<Digest, StagedLayer> = HashMap::new();
        let mut finished = Vec::new();
        let mut first_err = None;
        for res in results {
            match res {
                Ok((diff, staged, done)) => {
                    pool.insert(diff, staged);
                    finished.push(done);
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        // Commit: config, manifests, layers and tags in one transaction.
        let tags: Vec<Reference> = r
            .reference
            .tag()
            .map(|_| r.reference.clone())
            .into_iter()
            .collect();
        let repo_digest = format!("{}@{}", r.reference.name(), r.digest);
        let image_id = r.image_id.clone();
        let manifests = r.manifests.clone();
        let config_raw = r.config_raw.clone();
        let store2 = store.clone();
        let updated = !had_image || !pool.is_empty();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let s = store2.store();
            let mut temps = Vec::new();
            for m in &manifests {
                temps.push(write_temp(s.content(), &m[..])?);
            }
            s.commit_image(
                NewImage {
                    config: ConfigSource::Bytes(config_raw),
                    tags,
                    repo_digests: vec![repo_digest],
                    manifests: temps,
                    parent: None,
                },
                &mut pool,
            )?;
            Ok(())
        })
        .await
        .map_err(|e| DistError::Invalid(format!("commit task failed: {e}")))??;
        // Remember where each compressed layer came from (push mounts/skips with it).
        let meta = Metadata::new(s.root());
        for (l, diff) in r.manifest.layers.iter().zip(&diff_ids) {
            let _ = meta.add(
                diff,
                BlobSource {
                    digest: l.digest.clone(),
                    size: l.size.max(0) as u64,
                    media_type: l.media_type.clone(),
                    registry: r.reg.name().to_string(),
                    repository: repo.clone(),
                },
            );
        }
        for f in finished {
            let _ = fs::remove_file(f);
        }
        progress.line(format!("Digest: {}", r.digest));
        let shown = r.reference.familiar();
        progress.line(if updated {
            format!("Status: Downloaded newer image for {shown}")
        } else {
            format!("Status: Image is up to date for {shown}")
        });
        Ok(Pulled {
            image_id,
            digest: r.digest,
            updated,
        })
    }

    /// Resolve and fetch in one go.
    pub async fn pull(
        &self,
        store: Arc<dyn StoreHandle>,
        req: &PullRequest,
        progress: Arc<Progress>,
    ) -> Result<Pulled> {
        let r = self.resolve(req).await?;
        self.fetch(store, r, progress).await
    }
}

/// Reads a file's first `len` bytes (what an earlier attempt downloaded), then the chunks
/// the network side sends (which it also appends to that file, so the next attempt can
/// resume from it).
struct TeeReader {
    prefix: Option<io::Take<File>>,
    rx: tokio::sync::mpsc::Receiver<io::Result<bytes::Bytes>>,
    cur: bytes::Bytes,
}

impl Read for TeeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(p) = &mut self.prefix {
            let n = p.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            self.prefix = None;
        }
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Err(e)) => return Err(e),
                Some(Ok(b)) => self.cur = b,
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        let _ = self.cur.split_to(n);
        Ok(n)
    }
}

#[allow(clippy::too_many_arguments)]
async fn fetch_layer(
    reg: &Registry,
    repo: &str,
    scopes: &[String],
    l: &Descriptor,
    diff: &Digest,
    content: berth_store::ContentStore,
    tmp: &Path,
    progress: &Arc<Progress>,
    attempts: usize,
) -> Result<(StagedLayer, PathBuf)> {
    let short = l.digest.short().to_string();
    let total = l.size.max(0) as u64;
    let done_path = tmp.join(format!("pull-{}", l.digest.hex()));
    let partial = tmp.join(format!("pull-{}.partial", l.digest.hex()));
    let mut last_err: Option<DistError> = None;
    for attempt in 0..attempts {
        if attempt > 0 {
            let wait = Duration::from_millis(500 * (1 << attempt.min(4)));
            progress.status(
                &short,
                &format!("Retrying in {} seconds", wait.as_secs().max(1)),
            );
            tokio::time::sleep(wait).await;
        }
        let complete = done_path.is_file();
        let (src, offset) = if complete {
            (
                done_path.clone(),
                fs::metadata(&done_path).map(|m| m.len()).unwrap_or(0),
            )
        } else {
            (
                partial.clone(),
                fs::metadata(&partial).map(|m| m.len()).unwrap_or(0),
            )
        };
        // Start the network side first (unless the blob is already here).
        let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<bytes::Bytes>>(32);
        let mut offset = offset;
        let mut resp = None;
        if !complete {
            match reg.get_blob(repo, &l.digest, offset, scopes).await {
                Ok(r) => {
                    if offset > 0 && r.status() != reqwest::StatusCode::PARTIAL_CONTENT {
                        offset = 0; // the registry ignored Range: start over
                    }
                    resp = Some(r);
                }
                Err(e) if e.is_transient() => {
                    tracing::warn!(layer = %l.digest, "download failed: {e}");
                    last_err = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        let prefix = if offset > 0 {
            let f = File::open(&src)
                .map_err(|e| DistError::io(format!("opening {}", src.display()), e))?;
            Some(f.take(offset))
        } else {
            None
        };
        let tee = if complete {
            None
        } else {
            let f = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .open(&partial)
                .map_err(|e| DistError::io(format!("opening {}", partial.display()), e))?;
            f.set_len(offset)
                .map_err(|e| DistError::io(format!("truncating {}", partial.display()), e))?;
            let mut f = f;
            io::Seek::seek(&mut f, io::SeekFrom::Start(offset))
                .map_err(|e| DistError::io(format!("seeking {}", partial.display()), e))?;
            Some(f)
        };
        if complete {
            drop(tx);
            let ingest = tokio::task::spawn_blocking({
                let content = content.clone();
                let prefix = prefix;
                move || {
                    ingest_layer(
                        &content,
                        TeeReader {
                            prefix,
                            rx,
                            cur: bytes::Bytes::new(),
                        },
                    )
                }
            });
            progress.bytes(&short, "Downloading", total, total);
            let staged = ingest
                .await
                .map_err(|e| DistError::Invalid(format!("unpack task failed: {e}")))?;
            match staged {
                Ok(st) => {
                    return finish_layer(st, l, diff, &done_path, &done_path, &short, progress)
                }
                Err(e) => {
                    let _ = fs::remove_file(&done_path);
                    last_err = Some(DistError::Store(e));
                    continue;
                }
            }
        }
        // The download is hashed and written to the partial file here, on the network
        // side, so that the unpacking thread only decompresses, hashes the tar and
        // writes files (two pipeline stages on two cores instead of one).
        let mut blob_hash = Sha256::new();
        if offset > 0 {
            let mut f = File::open(&partial)
                .map_err(|e| DistError::io(format!("opening {}", partial.display()), e))?
                .take(offset);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = f
                    .read(&mut buf)
                    .map_err(|e| DistError::io(format!("reading {}", partial.display()), e))?;
                if n == 0 {
                    break;
                }
                blob_hash.update(&buf[..n]);
            }
        }
        let mut tee = tee;
        let reader = TeeReader {
            prefix,
            rx,
            cur: bytes::Bytes::new(),
        };
        let ingest = tokio::task::spawn_blocking({
            let content = content.clone();
            move || ingest_layer_opts(&content, reader, false)
        });
        let mut net_err: Option<String> = None;
        let mut got = offset;
        if let Some(resp) = resp {
            let mut stream = resp.bytes_stream();
            progress.bytes(&short, "Downloading", got, total);
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(b) => {
                        got += b.len() as u64;
                        blob_hash.update(&b);
                        if let Some(f) = &mut tee {
                            if let Err(e) = f.write_all(&b) {
                                let msg = format!("writing {}: {e}", partial.display());
                                let _ = tx.send(Err(io::Error::other(msg.clone()))).await;
                                net_err = Some(msg);
                                break;
                            }
                        }
                        if got > total && total > 0 {
                            let _ = tx
                                .send(Err(io::Error::other(format!(
                                    "blob {} is longer than its descriptor's {total} bytes",
                                    l.digest
                                ))))
                                .await;
                            break;
                        }
                        if tx.send(Ok(b)).await.is_err() {
                            // The unpacker stopped (bad content). Finish the blob into the
                            // partial file so its digest can be checked: a digest
                            // mismatch is the clearer error.
                            if let Some(f) = &mut tee {
                                while let Some(Ok(b)) = stream.next().await {
                                    got += b.len() as u64;
                                    if got > total || f.write_all(&b).is_err() {
                                        break;
                                    }
                                }
                            }
                            break;
                        }
                        progress.bytes(&short, "Downloading", got, total);
                    }
                    Err(e) => {
                        let msg = format!("downloading {} from {}: {e}", l.digest, reg.name());
                        let _ = tx.send(Err(io::Error::other(msg.clone()))).await;
                        net_err = Some(msg);
                        break;
                    }
                }
            }
        }
        drop(tx);
        drop(tee);
        let staged = ingest
            .await
            .map_err(|e| DistError::Invalid(format!("unpack task failed: {e}")))?;
        let staged = staged.map(|mut st| {
            if st.compression != berth_oci::media_types::LayerCompression::None {
                st.blob_digest = Digest::from_sha256_hex(&hex::encode(blob_hash.finalize()))
                    .unwrap_or_else(|_| Digest::sha256_of(b""));
                st.blob_size = got;
            }
            st
        });
        match (staged, net_err) {
            (Ok(st), None) => {
                progress.status(&short, "Verifying Checksum");
                progress.status(&short, "Download complete");
                match finish_layer(st, l, diff, &partial, &done_path, &short, progress) {
                    Ok(x) => return Ok(x),
                    Err(e) => {
                        let _ = fs::remove_file(&partial);
                        return Err(e);
                    }
                }
            }
            (_, Some(msg)) => {
                tracing::warn!(layer = %l.digest, attempt, "{msg}");
                last_err = Some(DistError::Unreachable {
                    registry: reg.name().to_string(),
                    message: msg,
                });
            }
            (Err(e), None) => {
                // The content itself is bad: do not keep or retry it. Say whether it
                // was corrupted on the way (digest mismatch) or is a bad layer.
                let actual = hash_file(&partial);
                let _ = fs::remove_file(&partial);
                if let Some(actual) = actual.filter(|a| *a != l.digest) {
                    return Err(DistError::DigestMismatch {
                        what: format!("layer {} from {}", l.digest, reg.name()),
                        expected: l.digest.clone(),
                        actual,
                    });
                }
                return Err(DistError::Invalid(format!(
                    "layer {} from {}: {e}",
                    l.digest,
                    reg.name()
                )));
            }
        }
    }
    Err(last_err.unwrap_or_else(|| DistError::Registry(format!("downloading {} failed", l.digest))))
}

fn total_mismatch(st: &StagedLayer, l: &Descriptor) -> bool {
    l.size > 0 && st.blob_size != l.size as u64
}

fn hash_file(p: &Path) -> Option<Digest> {
    let f = File::open(p).ok()?;
    let mut w = berth_oci::Sha256Writer::new(io::sink());
    io::copy(&mut io::BufReader::with_capacity(1 << 20, f), &mut w).ok()?;
    Some(w.finish().1)
}

fn finish_layer(
    st: StagedLayer,
    l: &Descriptor,
    diff: &Digest,
    from: &Path,
    done: &Path,
    short: &str,
    progress: &Progress,
) -> Result<(StagedLayer, PathBuf)> {
    if st.blob_digest != l.digest {
        let _ = fs::remove_file(from);
        return Err(DistError::DigestMismatch {
            what: format!("layer {}", l.digest),
            expected: l.digest.clone(),
            actual: st.blob_digest.clone(),
        });
    }
    if total_mismatch(&st, l) {
        let _ = fs::remove_file(from);
        return Err(DistError::Invalid(format!(
            "layer {} is {} bytes but its descriptor says {}",
            l.digest, st.blob_size, l.size
        )));
    }
    if st.diff_id != *diff {
        let _ = fs::remove_file(from);
        return Err(DistError::DigestMismatch {
            what: format!(
                "uncompressed layer {} (its diff ID in the image config)",
                l.digest
            ),
            expected: diff.clone(),
            actual: st.diff_id.clone(),
        });
    }
    if from != done {
        fs::rename(from, done)
            .map_err(|e| DistError::io(format!("renaming {}", from.display()), e))?;
    }
    progress.bytes(short, "Extracting", st.diff_size, st.diff_size);
    progress.status(short, "Pull complete");
    Ok((st, done.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(platforms: &[(&str, &str, Option<&str>)]) -> Index {
        Index {
            schema_version: 2,
            media_type: Some(mt::OCI_INDEX.into()),
            artifact_type: None,
            manifests: platforms
                .iter()
                .enumerate()
                .map(|(i, (os, arch, var))| {
                    let mut d = Descriptor::new(mt::OCI_MANIFEST, Digest::sha256_of(&[i as u8]), 1);
                    d.platform = Some(Platform {
                        os: os.to_string(),
                        architecture: arch.to_string(),
                        os_version: None,
                        variant: var.map(String::from),
                    });
                    d
                })
                .collect(),
            subject: None,
            annotations: None,
        }
    }

    #[test]
    fn platform_selection() {
        let i = idx(&[
            ("unknown", "unknown", None),
            ("linux", "arm", Some("v7")),
            ("linux", "amd64", None),
        ]);
        let p = select_platform(&i, &parse_platform("linux/amd64").unwrap()).unwrap();
        assert_eq!(p.digest, Digest::sha256_of(&[2]));
        let p = select_platform(&i, &parse_platform("linux/arm/v7").unwrap()).unwrap();
        assert_eq!(p.digest, Digest::sha256_of(&[1]));
        assert!(select_platform(&i, &parse_platform("linux/arm/v6").unwrap()).is_none());
        assert!(select_platform(&i, &parse_platform("windows/amd64").unwrap()).is_none());
        assert!(parse_platform("linux").is_err());
    }

    #[test]
    fn media_type_sniffing() {
        assert_eq!(
            sniff_media_type(br#"{"schemaVersion":2,"manifests":[]}"#, ""),
            mt::OCI_INDEX
        );
        assert_eq!(
            sniff_media_type(br#"{"schemaVersion":1}"#, "application/json"),
            "application/vnd.docker.distribution.manifest.v1+json"
        );
        assert_eq!(
            sniff_media_type(b"{}", mt::DOCKER_MANIFEST),
            mt::DOCKER_MANIFEST
        );
    }
}
