//! The executor: runs a [`BuildPlan`] against the store, like Docker's legacy builder.
//!
//! [`Builder::build`] opens the context tar (into a reusable per-slot directory, so an
//! unchanged context is neither rewritten nor re-hashed; removed when a build is
//! cancelled), reads the request body to its end (see [`Builder::build`]), plans the
//! build, and runs
//! the stages the target needs wave by wave ([`crate::stages::StageGraph::waves`]),
//! the stages of one wave on parallel threads. Every step commits an image whose
//! parent is the previous step's ([`stage`]); its cache key
//! ([`crate::checksum::step_cache_key`]) is recorded in the store's build-cache table,
//! so an identical step on the same parent is answered with ` ---> Using cache`, also
//! after a daemon restart. RUN steps go through a [`RunBackend`] (the engine's
//! containers); COPY/ADD and WORKDIR write their layer directly. Nothing is recorded
//! before a step has fully succeeded, so a failed or cancelled build leaves no partial
//! image, layer record, container or mount.

pub mod backend;
mod download;
pub mod progress;
pub mod rootfs;
mod slots;
mod stage;

pub use backend::{RunBackend, RunEvents, RunRequest};
pub use progress::Progress;
pub use stage::ingest_with;

use crate::archive;
use crate::checksum::HashCache;
use crate::context::{self, ContextError, OpenedContext};
use crate::error::ParseError;
use crate::frontend::{BuildOptions, BuildPlan};
use crate::reuse::Fingerprints;
use crate::upload;
use berth_oci::{Digest, ImageConfig, Reference};
use berth_store::{Store, StoreError};
use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Why a build failed. `Display` is what the client shows.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Parse(#[from] ParseError),
    #[error("{0}")]
    Context(#[from] ContextError),
    /// A RUN exited non-zero (`code` becomes the `errorDetail` code).
    #[error("{message}")]
    Run { message: String, code: i64 },
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Failed(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("the build was cancelled")]
    Cancelled,
}

impl BuildError {
    pub fn io(path: impl AsRef<Path>, source: io::Error) -> BuildError {
        BuildError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    /// The exit code Docker reports for this failure (`errorDetail.code`).
    pub fn code(&self) -> i64 {
        match self {
            BuildError::Run { code, .. } => *code,
            _ => 1,
        }
    }

    /// Whether the error is the client's (bad Dockerfile, context, options).
    pub fn is_user_error(&self) -> bool {
        !matches!(self, BuildError::Store(_) | BuildError::Io { .. })
    }
}

/// One build's options (the `POST /build` query).
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// `dockerfile`: path of the Dockerfile inside the context.
    pub dockerfile: Option<String>,
    /// `buildargs`, `target`, `labels`.
    pub options: BuildOptions,
    /// `t`.
    pub tags: Vec<Reference>,
    /// `nocache`.
    pub no_cache: bool,
    /// `networkmode`.
    pub network: Option<String>,
}

/// The daemon's builder: context slots and the content-hash cache, shared by builds.
pub struct Builder {
    root: PathBuf,
    tmp: PathBuf,
    hash_cache: HashCache,
    /// Chunk fingerprints of the slots' context files.
    fingerprints: Fingerprints,
    slots: slots::Slots,
}

/// A context directory reserved for one build; freed (recording what it holds) when
/// dropped.
struct Slot<'a> {
    b: &'a Builder,
    index: usize,
    holds: Option<slots::Holding>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.b.slots.release(self.index, self.holds.take());
    }
}

/// A build slot's context directory (`<data-root>/builder/context-<slot>`). It is kept
/// after a build that got to run (the next build in the slot rewrites only the files that
/// changed and prunes the rest: a cached rebuild of a 200 MB context does not write
/// 200 MB again), and removed when the extraction failed or the build was cancelled.
/// There are as many as builds ever ran at once.
struct ContextDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for ContextDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A build cache record (see [`Builder::cache_records`]).
#[derive(Debug, Clone)]
pub struct CacheRecord {
    pub id: String,
    pub size: u64,
    pub in_use: bool,
    pub uses: u64,
    pub created: Option<std::time::SystemTime>,
    pub last_used: Option<std::time::SystemTime>,
}

/// Bytes under `dir` (regular files' apparent sizes; symlinks not followed).
fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            match e.path().symlink_metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) if m.is_file() => total += m.len(),
                _ => {}
            }
        }
    }
    total
}

/// The build's own temp directory under the store's `tmp/` (swept at daemon start).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Results of the stages built so far: the image each ended on (None = empty scratch).
pub(crate) type StageResults = Mutex<HashMap<usize, Option<(Digest, ImageConfig)>>>;

impl Builder {
    /// A builder keeping its state under `<data_root>/builder` and temp files under
    /// `<data_root>/tmp`.
    pub fn new(data_root: &Path) -> Builder {
        let root = data_root.join("builder");
        // Hashes of context files, in memory only: the context directories they
        // describe are removed below. (Earlier versions persisted it here.)
        let _ = std::fs::remove_file(root.join("hash-cache.json"));
        let hash_cache = HashCache::default();
        // Context directories of builds a crash interrupted (a finished one removes its
        // own). The builder is made on the first build, before any slot is taken.
        if let Ok(rd) = std::fs::read_dir(&root) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with("context-") {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        Builder {
            tmp: data_root.join("tmp"),
            root,
            hash_cache,
            fingerprints: Fingerprints::default(),
            slots: slots::Slots::default(),
        }
    }

    /// The build cache records `docker system df` shows: one per build slot holding
    /// a context (BuildKit's "local source for context" records are the same thing).
    pub fn cache_records(&self) -> Vec<CacheRecord> {
        self.slots
            .records()
            .into_iter()
            .map(|r| CacheRecord {
                id: format!("context-{}", r.index),
                size: dir_size(&self.root.join(format!("context-{}", r.index))),
                in_use: r.in_use,
                uses: r.uses,
                created: r.created,
                last_used: r.last_used,
            })
            .collect()
    }

    /// `docker builder prune`: removes every idle slot's context (last used no later
    /// than `until`, if given) and forgets its hashes. Returns the removed records' IDs
    /// and the bytes freed. The build step cache (images) is pruned with images.
    pub fn prune_cache(&self, until: Option<std::time::SystemTime>) -> (Vec<String>, u64) {
        let mut ids = Vec::new();
        let mut freed = 0;
        for index in self.slots.take_for_prune(until) {
            let dir = self.root.join(format!("context-{index}"));
            freed += dir_size(&dir);
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!("removing {}: {e}", dir.display());
            }
            self.hash_cache.retain(|full| !full.starts_with(&dir));
            self.fingerprints.retain_under(&dir, &Default::default());
            self.slots.release(index, None);
            ids.push(format!("context-{index}"));
        }
        (ids, freed)
    }

    /// The client stamps an idle slot recorded for incremental-upload `key`
    /// ([`crate::upload`]), for `GET /berth/build/contexts/{key}`.
    pub fn context_stamps(&self, key: &str) -> Option<Arc<HashMap<String, String>>> {
        self.slots.stamps_for(key)
    }

    /// Runs one build from a context tar (plain or compressed). Returns the image ID.
    ///
    /// The build's temp directory is gone when this returns, and so is the slot's context
    /// directory if the build was cancelled (see `ContextDir`). Once the tar is extracted the rest of `context_tar` is
    /// read and dropped (a tar's last end-of-archive block, a record's padding): over
    /// HTTP, a request body never read to its end keeps the server from reading the
    /// connection, so it would not notice the client going away (cancelling the build)
    /// until it next wrote something.
    pub fn build(
        &self,
        store: &Store,
        backend: &dyn RunBackend,
        mut context_tar: impl Read,
        req: &BuildRequest,
        out: &dyn Progress,
    ) -> Result<Digest, BuildError> {
        let stream = archive::decompress(&mut context_tar).map_err(ContextError::from)?;
        let (peeked, mut stream) =
            upload::peek(stream).map_err(|e| BuildError::io("build context", e))?;
        let manifest = peeked.manifest;
        let key = manifest.as_ref().map(|m| m.key.as_str());
        let taken = self.slots.take(key, &peeked.names);
        if let Some(m) = &manifest {
            tracing::debug!(
                key = %m.key,
                slot = taken.index,
                kept = m.keep.len(),
                recorded = taken.recorded.len(),
                "incremental context upload"
            );
        }
        let mut slot = Slot {
            b: self,
            index: taken.index,
            holds: None,
        };
        let mut ctx_dir = ContextDir {
            path: self.root.join(format!("context-{}", slot.index)),
            keep: false,
        };
        std::fs::create_dir_all(&ctx_dir.path).map_err(|e| BuildError::io(&ctx_dir.path, e))?;
        let dockerfile = req.dockerfile.as_deref();
        let opened = match &manifest {
            Some(m) => context::open_context_synced(
                &mut stream,
                dockerfile,
                &ctx_dir.path,
                &self.fingerprints,
                context::Base {
                    manifest: m,
                    recorded: &taken.recorded,
                },
            ),
            None => context::open_context_reusing(
                &mut stream,
                dockerfile,
                &ctx_dir.path,
                &self.fingerprints,
            ),
        };
        let ctx = match opened {
            Ok(c) => c,
            Err(e @ ContextError::StaleBase(_)) => {
                // Fully extracted, only the kept files were missing: the directory is
                // good material for the client's full retry (content is compared).
                ctx_dir.keep = true;
                slot.holds = Some(slots::Holding {
                    key: None,
                    stamps: HashMap::new(),
                    paths: peeked.names.into_iter().collect(),
                });
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
        io::copy(&mut stream, &mut io::sink()).map_err(|e| BuildError::io("build context", e))?;
        drop(stream);
        io::copy(&mut context_tar, &mut io::sink())
            .map_err(|e| BuildError::io("build context", e))?;
        drop(context_tar);
        let (key, stamps) = match manifest {
            Some(m) => (Some(m.key), m.stamps),
            None => (None, HashMap::new()),
        };
        let holding = slots::Holding {
            key,
            stamps,
            paths: ctx.tar_paths.iter().cloned().collect(),
        };
        let tmp = TempDir(self.tmp.join(format!("build-{:016x}", rootfs::rand_u64())));
        std::fs::create_dir_all(&tmp.0).map_err(|e| BuildError::io(&tmp.0, e))?;
        let res = self.run_plan(store, backend, &ctx, req, out, &tmp.0);
        ctx_dir.keep = !matches!(res, Err(BuildError::Cancelled));
        if ctx_dir.keep {
            slot.holds = Some(holding);
        }
        // Forget hashes of files the slot no longer holds.
        let slot_dir = &ctx_dir.path;
        self.hash_cache
            .retain(|full| match full.strip_prefix(slot_dir) {
                Ok(rel) => ctx_dir.keep && ctx.tar_paths.contains(rel.to_string_lossy().as_ref()),
                Err(_) => true,
            });
        drop(ctx_dir);
        drop(slot);
        res
    }

    fn run_plan(
        &self,
        store: &Store,
        backend: &dyn RunBackend,
        ctx: &OpenedContext,
        req: &BuildRequest,
        out: &dyn Progress,
        tmp: &Path,
    ) -> Result<Digest, BuildError> {
        let mut plan = BuildPlan::new(&ctx.dockerfile_name, &ctx.dockerfile, &req.options)?;
        let results: StageResults = Mutex::new(HashMap::new());
        let failed = AtomicBool::new(false);
        let waves = plan.waves.clone();
        for wave in waves {
            let cx = stage::StageCx {
                builder: self,
                store,
                backend,
                plan: &plan,
                req,
                ctx,
                tmp,
                results: &results,
                failed: &failed,
            };
            let mut outcomes = Vec::new();
            if wave.len() == 1 {
                outcomes.push(cx.build_stage(wave[0], out));
            } else {
                let buffers: Vec<progress::Buffered<'_>> =
                    wave.iter().map(|_| progress::Buffered::new(out)).collect();
                std::thread::scope(|s| {
                    let handles: Vec<_> = wave
                        .iter()
                        .enumerate()
                        .skip(1)
                        .map(|(k, &i)| {
                            let cx = &cx;
                            let buf = &buffers[k];
                            s.spawn(move || cx.build_stage(i, buf))
                        })
                        .collect();
                    outcomes.push(cx.build_stage(wave[0], out));
                    for h in handles {
                        outcomes.push(h.join().unwrap_or_else(|_| {
                            Err(BuildError::Failed("a build stage panicked".into()))
                        }));
                    }
                });
                for b in &buffers {
                    b.flush();
                }
            }
            for o in outcomes {
                let st = o?;
                plan.finish_stage(&st);
            }
        }
        let target = results
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&plan.target)
            .cloned()
            .flatten();
        let Some((id, _)) = target else {
            return Err(BuildError::Failed(
                "No image was generated. Is your Dockerfile empty?".into(),
            ));
        };
        if let Some(w) = plan.unused_build_args_warning() {
            out.stream(&w);
        }
        out.aux_id(&id.to_string());
        out.stream(&format!("Successfully built {}\n", id.short()));
        for t in &req.tags {
            store.tag(&id, t)?;
            out.stream(&format!("Successfully tagged {}\n", t.familiar()));
        }
        Ok(id)
    }
}

pub(crate) fn check_cancel(out: &dyn Progress, failed: &AtomicBool) -> Result<(), BuildError> {
    if out.cancelled() || failed.load(Ordering::Relaxed) {
        return Err(BuildError::Cancelled);
    }
    Ok(())
}
