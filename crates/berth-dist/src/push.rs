//! Pushing an image: for each layer, reuse what is known (docker's v2metadata idea: a
//! `HEAD` for every compressed digest berth has seen for the layer, then a
//! cross-repository mount from a repository that holds it), and only otherwise
//! reassemble the layer tar byte-exactly from the store, compress it on every core and
//! stream it up in one `PATCH` while it is being produced. The config follows, and the
//! manifest is `PUT` last, so a registry never sees a manifest whose blobs are missing.

use crate::auth::AuthConfig;
use crate::client::{Registry, UploadStart};
use crate::compress::compress;
use crate::error::{DistError, Result};
use crate::metadata::{BlobSource, Metadata};
use crate::progress::Progress;
use crate::{Dist, StoreHandle};
use berth_oci::media_types::{self as mt, LayerCompression};
use berth_oci::{Descriptor, Digest, Manifest, Reference};
use berth_store::ingest::write_temp;
use berth_store::{ConfigSource, NewImage};
use futures::StreamExt;
use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::Arc;

/// What to push.
#[derive(Debug, Clone)]
pub struct PushRequest {
    /// Local image (ID or name).
    pub image: Digest,
    /// Where: `registry/repo:tag`.
    pub target: Reference,
    pub auth: Option<AuthConfig>,
    /// Layer compression for layers that must be compressed (gzip or zstd).
    pub compression: LayerCompression,
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub digest: Digest,
    pub size: usize,
    /// Layers actually compressed and uploaded.
    pub uploaded: usize,
}

fn compatible(media_type: &str, want: LayerCompression) -> bool {
    mt::layer_compression(media_type) == Some(want)
}

/// A blocking writer feeding an async body channel.
struct BodyWriter {
    tx: tokio::sync::mpsc::Sender<io::Result<bytes::Bytes>>,
    buf: Vec<u8>,
}

const BODY_CHUNK: usize = 1 << 20;

impl Write for BodyWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= BODY_CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let b = bytes::Bytes::from(std::mem::take(&mut self.buf));
            self.tx
                .blocking_send(Ok(b))
                .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "upload stopped"))?;
        }
        Ok(())
    }
}

/// Counts bytes written through it and reports them as push progress.
struct Counting<'a> {
    inner: &'a mut dyn Write,
    n: u64,
    total: u64,
    id: String,
    progress: Arc<Progress>,
}

impl Write for Counting<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let k = self.inner.write(data)?;
        let before = self.n;
        self.n += k as u64;
        if before >> 20 != self.n >> 20 {
            self.progress.bytes(&self.id, "Pushing", self.n, self.total);
        }
        Ok(k)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Dist {
    /// Pushes one tag. `progress` gets docker's push messages (the caller prints
    /// "The push refers to repository [...]" once per repository).
    pub async fn push(
        &self,
        store: Arc<dyn StoreHandle>,
        req: &PushRequest,
        progress: Arc<Progress>,
    ) -> Result<Pushed> {
        let cfg = self.config();
        let s = store.store();
        let rec = s.image(&req.image)?.ok_or_else(|| {
            DistError::NotFound(format!("No such image: {}", req.target.familiar()))
        })?;
        let (config_raw, _) = s.config(&rec.id)?;
        let repo = req.target.path().to_string();
        let tag = req.target.tag().unwrap_or("latest").to_string();
        let reg = Arc::new(self.connect(req.target.domain(), req.auth.clone()).await?);
        let meta = Metadata::new(s.root());
        // Scopes: push here, pull wherever a mount may come from.
        let mut scopes = vec![format!("repository:{repo}:pull,push")];
        let mut known: HashMap<Digest, Vec<BlobSource>> = HashMap::new();
        for d in &rec.diff_ids {
            let cands: Vec<BlobSource> = meta
                .get(d)
                .into_iter()
                .filter(|c| compatible(&c.media_type, req.compression))
                .collect();
            for c in &cands {
                if c.registry == reg.name() && c.repository != repo {
                    let sc = format!("repository:{}:pull", c.repository);
                    if !scopes.contains(&sc) && scopes.len() < 8 {
                        scopes.push(sc);
                    }
                }
            }
            known.insert(d.clone(), cands);
        }
        let layers: Vec<(Digest, Digest, u64)> = rec
            .diff_ids
            .iter()
            .zip(&rec.chain_ids)
            .map(|(d, c)| {
                let size = s.layer(c).ok().flatten().map(|l| l.diff_size).unwrap_or(0);
                (d.clone(), c.clone(), size)
            })
            .collect();
        let parallel = cfg.max_concurrent_uploads.max(1);
        for (i, (d, _, _)) in layers.iter().enumerate() {
            progress.status(d.short(), "Preparing");
            if i >= parallel {
                progress.status(d.short(), "Waiting");
            }
        }
        // Push layers (the unique ones) in parallel.
        let mut unique: Vec<(Digest, Digest, u64)> = Vec::new();
        for l in &layers {
            if !unique.iter().any(|u| u.0 == l.0) {
                unique.push(l.clone());
            }
        }
        let results: Vec<Result<(Digest, Descriptor, bool)>> =
            futures::stream::iter(unique.into_iter().map(|(diff, chain, size)| {
                let reg = reg.clone();
                let store = store.clone();
                let progress = progress.clone();
                let cands = known.remove(&diff).unwrap_or_default();
                let scopes = scopes.clone();
                let repo = repo.clone();
                let compression = req.compression;
                async move {
                    let (desc, uploaded) = push_layer(
                        &reg,
                        &repo,
                        &scopes,
                        store,
                        &diff,
                        &chain,
                        size,
                        cands,
                        compression,
                        &progress,
                    )
                    .await?;
                    Ok((diff, desc, uploaded))
                }
            }))
            .buffer_unordered(parallel)
            .collect()
            .await;
        let mut descs: HashMap<Digest, Descriptor> = HashMap::new();
        let mut uploaded = 0;
        for r in results {
            let (diff, desc, up) = r?;
            if up {
                uploaded += 1;
            }
            let _ = meta.add(
                &diff,
                BlobSource {
                    digest: desc.digest.clone(),
                    size: desc.size.max(0) as u64,
                    media_type: desc.media_type.clone(),
                    registry: reg.name().to_string(),
                    repository: repo.clone(),
                },
            );
            descs.insert(diff, desc);
        }
        // The config, then the manifest.
        let oci = req.compression == LayerCompression::Zstd;
        let config_digest = rec.id.clone();
        if !reg.has_blob(&repo, &config_digest, &scopes).await? {
            match reg.start_upload(&repo, None, &scopes).await? {
                UploadStart::Location(loc) => {
                    reg.put_blob(
                        &loc,
                        &config_digest,
                        bytes::Bytes::from(config_raw.clone()),
                        &scopes,
                    )
                    .await?
                }
                UploadStart::Mounted => {}
            }
        }
        let mut layer_descs = Vec::new();
        for (d, _, _) in &layers {
            let mut desc = descs
                .get(d)
                .cloned()
                .ok_or_else(|| DistError::Invalid(format!("layer {d} was not pushed")))?;
            desc.media_type = match (oci, mt::layer_compression(&desc.media_type)) {
                (true, Some(LayerCompression::Zstd)) => mt::OCI_LAYER_ZSTD.into(),
                (true, _) => mt::OCI_LAYER_GZIP.into(),
                (false, _) => mt::DOCKER_LAYER_GZIP.into(),
            };
            layer_descs.push(desc);
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(
                if oci {
                    mt::OCI_MANIFEST
                } else {
                    mt::DOCKER_MANIFEST
                }
                .into(),
            ),
            artifact_type: None,
            config: Descriptor::new(
                if oci {
                    mt::OCI_CONFIG
                } else {
                    mt::DOCKER_CONFIG
                },
                config_digest.clone(),
                config_raw.len() as i64,
            ),
            layers: layer_descs,
            subject: None,
            annotations: None,
        };
        let body = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| DistError::Invalid(format!("encoding manifest: {e}")))?;
        let digest = Digest::sha256_of(&body);
        let media_type = manifest.media_type.clone().unwrap_or_default();
        reg.put_manifest(
            &repo,
            &tag,
            &media_type,
            bytes::Bytes::from(body.clone()),
            &scopes,
        )
        .await?;
        progress.line(format!("{tag}: digest: {digest} size: {}", body.len()));
        progress
            .aux(serde_json::json!({"Tag": tag, "Digest": digest.to_string(), "Size": body.len()}));
        // Record the repo digest (RepoDigests) and keep the manifest.
        let repo_digest = format!("{}@{}", req.target.name(), digest);
        let store2 = store.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let s = store2.store();
            let m = write_temp(s.content(), &body[..])?;
            s.commit_image(
                NewImage {
                    config: ConfigSource::Bytes(config_raw),
                    tags: Vec::new(),
                    repo_digests: vec![repo_digest],
                    manifests: vec![m],
                    parent: None,
                },
                &mut HashMap::new(),
            )?;
            Ok(())
        })
        .await
        .map_err(|e| DistError::Invalid(format!("recording the pushed digest failed: {e}")))??;
        Ok(Pushed {
            size: manifest_size(&manifest),
            digest,
            uploaded,
        })
    }
}

fn manifest_size(m: &Manifest) -> usize {
    serde_json::to_vec_pretty(m).map(|v| v.len()).unwrap_or(0)
}

#[allow(clippy::too_many_arguments)]
async fn push_layer(
    reg: &Registry,
    repo: &str,
    scopes: &[String],
    store: Arc<dyn StoreHandle>,
    diff: &Digest,
    chain: &Digest,
    size: u64,
    cands: Vec<BlobSource>,
    compression: LayerCompression,
    progress: &Arc<Progress>,
) -> Result<(Descriptor, bool)> {
    let id = diff.short().to_string();
    // 1. Does the registry already have a compressed form we know of? (This repository
    //    first, then forms known from other registries: same bytes, same digest.)
    let here = cands
        .iter()
        .filter(|c| c.registry == reg.name() && c.repository == repo);
    let elsewhere = cands.iter().filter(|c| c.registry != reg.name()).take(3);
    for c in here.chain(elsewhere) {
        if reg.has_blob(repo, &c.digest, scopes).await? {
            progress.status(&id, "Layer already exists");
            return Ok((
                Descriptor::new(&c.media_type, c.digest.clone(), c.size as i64),
                false,
            ));
        }
    }
    // 2. Can it be mounted from another repository of the same registry?
    // (One attempt: a refused mount already opens the upload session we then use.)
    let mut location = None;
    if let Some(c) = cands
        .iter()
        .find(|c| c.registry == reg.name() && c.repository != repo)
    {
        match reg
            .start_upload(repo, Some((&c.digest, &c.repository)), scopes)
            .await?
        {
            UploadStart::Mounted => {
                progress.status(&id, &format!("Mounted from {}", c.repository));
                return Ok((
                    Descriptor::new(&c.media_type, c.digest.clone(), c.size as i64),
                    false,
                ));
            }
            UploadStart::Location(l) => {
                location = Some(l);
            }
        }
    }
    // 3. Compress and upload, streaming.
    let location = match location {
        Some(l) => l,
        None => match reg.start_upload(repo, None, scopes).await? {
            UploadStart::Location(l) => l,
            UploadStart::Mounted => {
                return Err(DistError::Registry(format!(
                    "registry {} answered an upload start as a mount",
                    reg.name()
                )))
            }
        },
    };
    progress.bytes(&id, "Pushing", 0, size);
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<bytes::Bytes>>(8);
    let chain = chain.clone();
    let prog = progress.clone();
    let id2 = id.clone();
    let producer = tokio::task::spawn_blocking(move || -> io::Result<(Digest, u64)> {
        let w = BodyWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(BODY_CHUNK),
        };
        let res = compress(w, compression, |out| {
            let mut counting = Counting {
                inner: out,
                n: 0,
                total: size,
                id: id2,
                progress: prog,
            };
            store
                .store()
                .write_layer_tar(&chain, &mut counting)
                .map(|_| ())
                .map_err(|e| io::Error::other(e.to_string()))
        });
        match res {
            Ok((mut w, d, n)) => {
                w.flush()?;
                Ok((d, n))
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
                Err(e)
            }
        }
    });
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let next = reg.patch_stream(&location, body, scopes).await;
    let produced = producer
        .await
        .map_err(|e| DistError::Invalid(format!("compression task failed: {e}")))?
        .map_err(|e| DistError::io(format!("compressing layer {diff}"), e))?;
    let next = next?;
    let (digest, csize) = produced;
    reg.finish_upload(&next, &digest, scopes).await?;
    progress.status(&id, "Pushed");
    let media_type = match compression {
        LayerCompression::Zstd => mt::OCI_LAYER_ZSTD,
        _ => mt::DOCKER_LAYER_GZIP,
    };
    Ok((Descriptor::new(media_type, digest, csize as i64), true))
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<io::Result<bytes::Bytes>>,
) -> impl futures::Stream<Item = io::Result<bytes::Bytes>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
