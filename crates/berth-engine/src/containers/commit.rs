//! `POST /commit`: a container's writable layer becomes a new image.
//!
//! The upper dir is diffed into a layer tar (berth-build's [`diff_tar_excluding`],
//! leaving out the runtime's mount points, which Docker keeps in its init layer),
//! streamed into the store's layer ingest and stacked on the container's image. The
//! new config is the container's (Cmd, Env, …), with the request's `Config` on top
//! and then the `changes` (Dockerfile instructions); history gets one entry whose
//! `created_by` is the container's command, as Docker writes it.

use super::*;
use berth_build::exec::ingest_with;
use berth_build::layer::{diff_tar_excluding, runtime_artifacts};
use berth_oci::{Digest, HistoryEntry, ImageConfig, RunConfig};
use berth_store::{ConfigSource, NewImage};

/// `POST /commit` parameters.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    /// `changes`, one Dockerfile instruction per entry.
    pub changes: Vec<String>,
    /// Pause the container while committing (default true in Docker).
    pub pause: bool,
    /// The request body: config fields that override the container's.
    pub config: Option<ContainerConfig>,
}

/// Fields of `over` that are set replace those of `base` (JSON object merge).
fn overlay_config(base: &RunConfig, over: &ContainerConfig) -> Result<RunConfig> {
    let bad = |e: serde_json::Error| EngineError::BadRequest(format!("invalid config: {e}"));
    let mut b = serde_json::to_value(base).map_err(bad)?;
    let o = serde_json::to_value(over).map_err(bad)?;
    if let (Some(bm), Some(om)) = (b.as_object_mut(), o.as_object()) {
        for (k, v) in om {
            let empty = v.is_null()
                || v.as_str().is_some_and(str::is_empty)
                || v.as_array().is_some_and(Vec::is_empty)
                || v.as_object().is_some_and(|m| m.is_empty());
            if !empty {
                bm.insert(k.clone(), v.clone());
            }
        }
    }
    serde_json::from_value(b).map_err(bad)
}

impl Engine {
    /// `POST /commit?container=…`: returns the new image's ID.
    pub async fn container_commit(
        self: &Arc<Self>,
        name: &str,
        opts: CommitOptions,
    ) -> Result<Digest> {
        let ctr = self.container(name)?;
        let rec = ctr.snapshot();
        let tag = match opts.repo.as_deref().filter(|r| !r.is_empty()) {
            Some(repo) => {
                Some(Reference::from_repo_tag(repo, opts.tag.as_deref())?.with_default_tag())
            }
            None => None,
        };
        let parent = rec
            .image
            .parse::<Digest>()
            .map_err(|e| EngineError::Internal(format!("container image {}: {e}", rec.image)))?;
        let (_, parent_cfg) = self.store.config(&parent)?;
        // The container's config, as an image run config.
        let mut run: RunConfig = serde_json::to_value(&rec.config)
            .and_then(serde_json::from_value)
            .map_err(|e| EngineError::Internal(format!("container config: {e}")))?;
        run.extra.remove("Image");
        if let Some(over) = &opts.config {
            run = overlay_config(&run, over)?;
        }
        crate::changes::apply(&mut run, &opts.changes)?;

        let paused = opts.pause && rec.state.status == "running";
        if paused {
            self.container_pause(&rec.id, true).await?;
        }
        let upper = self.ctr_dir(&rec.id).join("upper");
        let engine = self.clone();
        let staged = tokio::task::spawn_blocking(move || {
            let skip = runtime_artifacts(&upper);
            ingest_with(&engine.store, |w| diff_tar_excluding(&upper, w, &skip))
        })
        .await;
        if paused {
            if let Err(e) = self.container_pause(&rec.id, false).await {
                tracing::warn!(container = %rec.id, "unpausing after commit: {e}");
            }
        }
        let (staged, info) = staged
            .map_err(|e| EngineError::Internal(e.to_string()))?
            .map_err(|e| EngineError::Internal(e.to_string()))?;

        let now = now();
        let empty = info.is_empty();
        let mut cfg = ImageConfig {
            architecture: parent_cfg.architecture.clone(),
            os: parent_cfg.os.clone(),
            variant: parent_cfg.variant.clone(),
            author: opts.author.clone().filter(|a| !a.is_empty()),
            comment: opts.comment.clone().filter(|c| !c.is_empty()),
            created: Some(now.clone()),
            config: Some(run),
            history: parent_cfg.history.clone(),
            rootfs: parent_cfg.rootfs.clone(),
            ..Default::default()
        };
        cfg.extra
            .insert("container".into(), serde_json::json!(rec.id.clone()));
        let mut created_by = vec![rec.path.clone()];
        created_by.extend(rec.args.iter().cloned());
        cfg.history.push(HistoryEntry {
            created: Some(now),
            created_by: Some(created_by.join(" ")),
            author: cfg.author.clone(),
            comment: cfg.comment.clone(),
            empty_layer: empty,
        });
        let mut pool = HashMap::new();
        if !empty {
            cfg.rootfs.diff_ids.push(staged.diff_id.clone());
            pool.insert(staged.diff_id.clone(), staged);
        }
        let engine = self.clone();
        let committed = tokio::task::spawn_blocking(move || {
            engine.store.commit_image(
                NewImage {
                    config: ConfigSource::Bytes(cfg.to_vec()),
                    tags: tag.into_iter().collect(),
                    repo_digests: Vec::new(),
                    manifests: Vec::new(),
                    parent: Some(parent),
                },
                &mut pool,
            )
        })
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))??;
        Ok(committed.image.id)
    }
}
