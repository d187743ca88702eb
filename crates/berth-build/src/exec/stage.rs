//! Running one stage: its FROM, the base's ONBUILD triggers, then every instruction,
//! each committed as an image (or answered from the build cache).
//!
//! Layers: RUN's from the container's upper dir ([`crate::layer::diff_tar_excluding`]
//! minus the runtime's mount points), COPY/ADD's straight from the
//! [`crate::copy::CopyPlan`] ([`crate::layer::copy_layer_tar`]), WORKDIR's from the
//! directories it creates. Each tar streams through a pipe into the store's layer
//! ingest, which unpacks it once; an empty diff is recorded as `empty_layer`.

use super::rootfs::RootfsView;
use super::{
    check_cancel, BuildError, BuildRequest, Builder, Progress, RunBackend, RunEvents, RunRequest,
    StageResults,
};
use crate::context::OpenedContext;
use crate::copy::{plan_copy, CopyRequest, EmptyDest, RootfsDest};
use crate::evolve::{child_config, parse_trigger, CopyStep, RunStep, StageState, Step};
use crate::frontend::BuildPlan;
use crate::instructions::Command;
use crate::layer::{copy_layer_tar, diff_tar_excluding, runtime_artifacts, LayerError, LayerInfo};
use crate::stages::Base;
use berth_oci::{Digest, ImageConfig};
use berth_store::{ConfigSource, NewImage, StagedLayer, Store, StoreError};
use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

type Current = Option<(Digest, ImageConfig)>;

/// Everything a stage needs, shared by the stages of a wave.
pub(crate) struct StageCx<'a> {
    pub builder: &'a Builder,
    pub store: &'a Store,
    pub backend: &'a dyn RunBackend,
    pub plan: &'a BuildPlan,
    pub req: &'a BuildRequest,
    pub ctx: &'a OpenedContext,
    pub tmp: &'a Path,
    pub results: &'a StageResults,
    /// Set when any stage failed: the others stop at their next step.
    pub failed: &'a AtomicBool,
}

/// Prefixes a step's failure with the Dockerfile position.
fn at(cmd_file: &str, line: usize, e: BuildError) -> BuildError {
    match e {
        BuildError::Run { message, code } => BuildError::Run {
            message: format!("{cmd_file}:{line}: {message}"),
            code,
        },
        BuildError::Parse(p) => BuildError::Parse(p),
        BuildError::Cancelled => BuildError::Cancelled,
        other => BuildError::Failed(format!("{cmd_file}:{line}: {other}")),
    }
}

/// Streams a layer tar written by `write` into the store's layer ingest.
pub fn ingest_with<F>(store: &Store, write: F) -> Result<(StagedLayer, LayerInfo), BuildError>
where
    F: FnOnce(io::PipeWriter) -> Result<(io::PipeWriter, LayerInfo), LayerError> + Send,
{
    let (r, w) = io::pipe().map_err(|e| BuildError::io("pipe", e))?;
    std::thread::scope(|s| {
        let h = s.spawn(move || {
            write(w).map(|(mut w, info)| {
                let _ = w.flush();
                drop(w);
                info
            })
        });
        let staged = berth_store::ingest::ingest_layer(store.content(), r);
        let info = h
            .join()
            .map_err(|_| BuildError::Failed("the layer writer panicked".into()))?;
        match (info, staged) {
            (Ok(info), Ok(staged)) => Ok((staged, info)),
            (Err(LayerError::Io { source, .. }), Err(e))
                if source.kind() == io::ErrorKind::BrokenPipe =>
            {
                Err(e.into())
            }
            (Err(e), _) => Err(BuildError::Failed(e.to_string())),
            (Ok(_), Err(e)) => Err(e.into()),
        }
    })
}

struct Events<'a> {
    out: &'a dyn Progress,
    container: String,
}

impl RunEvents for Events<'_> {
    fn started(&mut self, container_id: &str) {
        self.container = container_id.to_string();
        let short = &container_id[..container_id.len().min(12)];
        self.out.stream(&format!(" ---> Running in {short}\n"));
    }
    fn output(&mut self, data: &[u8]) {
        self.out.stream(&String::from_utf8_lossy(data));
    }
    fn cancelled(&self) -> bool {
        self.out.cancelled()
    }
}

impl StageCx<'_> {
    /// Builds stage `i`, recording its final image in `results`. Returns the stage's
    /// final state (for the unused-build-arg report).
    pub fn build_stage(&self, i: usize, out: &dyn Progress) -> Result<StageState, BuildError> {
        let r = self.build_stage_inner(i, out);
        if r.is_err() {
            self.failed.store(true, Ordering::Relaxed);
        }
        r
    }

    fn build_stage_inner(&self, i: usize, out: &dyn Progress) -> Result<StageState, BuildError> {
        check_cancel(out, self.failed)?;
        let plan = self.plan;
        let stage = &plan.dockerfile.stages[i];
        out.stream(&format!("{}\n", plan.step_line(i, None)));
        let base: Current = match &plan.graph.stages[i].base {
            Base::Scratch => None,
            Base::Stage(j) => self
                .results
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(j)
                .cloned()
                .flatten(),
            Base::Image(name) => Some(
                self.image_by_name(name)
                    .map_err(|e| BuildError::Failed(format!("base image {name}: {e}")))
                    .map_err(|e| at(&plan.file, stage.location.line, e))?,
            ),
        };
        out.stream(&format!(
            " ---> {}\n",
            base.as_ref().map(|b| b.0.short()).unwrap_or("")
        ));
        let (mut st, triggers) = plan.begin_stage(i, base.as_ref().map(|b| &b.1));
        let mut cur = base;
        if !triggers.is_empty() {
            let s = if triggers.len() == 1 { "" } else { "s" };
            out.stream(&format!(
                "# Executing {} build trigger{s}\n",
                triggers.len()
            ));
            for t in &triggers {
                check_cancel(out, self.failed)?;
                let cmd = parse_trigger(&plan.file, t)?;
                self.step(&mut st, &mut cur, &cmd, stage.location.line, out)?;
            }
        }
        for (k, cmd) in stage.commands.iter().enumerate() {
            check_cancel(out, self.failed)?;
            out.stream(&format!("{}\n", plan.step_line(i, Some(k))));
            self.step(&mut st, &mut cur, cmd, cmd.location.line, out)?;
        }
        self.results
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(i, cur);
        Ok(st)
    }

    fn image_by_name(&self, name: &str) -> Result<(Digest, ImageConfig), BuildError> {
        let id = match self.store.resolve(name) {
            Ok(r) => r.id,
            Err(StoreError::NoSuchImage(_)) => self.backend.pull(name)?,
            Err(e) => return Err(e.into()),
        };
        let (_, cfg) = self.store.config(&id)?;
        Ok((id, cfg))
    }

    fn step(
        &self,
        st: &mut StageState,
        cur: &mut Current,
        cmd: &Command,
        line: usize,
        out: &dyn Progress,
    ) -> Result<(), BuildError> {
        let step = st.dispatch(cmd)?;
        let file = &self.plan.file;
        let r = match step {
            Step::Commit { created_by } => {
                self.cached_or(st, cur, &created_by, "", out, |_| Ok(None))
            }
            Step::Workdir { path, created_by } => {
                self.cached_or(st, cur, &created_by, "", out, |cur| {
                    self.workdir_layer(cur, &path)
                })
            }
            Step::Run(r) => self.run_step(st, cur, &r, out),
            Step::Copy(c) => self.copy_step(st, cur, &c, out),
        };
        r.map_err(|e| at(file, line, e))
    }

    /// Answers a step from the cache, or makes its layer, commits and caches it.
    fn cached_or<F>(
        &self,
        st: &StageState,
        cur: &mut Current,
        created_by: &str,
        src_hash: &str,
        out: &dyn Progress,
        make_layer: F,
    ) -> Result<(), BuildError>
    where
        F: FnOnce(&Current) -> Result<Option<StagedLayer>, BuildError>,
    {
        let parent = cur.as_ref().map(|c| c.0.to_string()).unwrap_or_default();
        let key = crate::checksum::step_cache_key(&parent, &st.config, created_by, src_hash);
        if !self.req.no_cache {
            if let Some(id) = self.store.build_cache_get(&key)? {
                let (_, cfg) = self.store.config(&id)?;
                out.stream(&format!(" ---> Using cache\n ---> {}\n", id.short()));
                *cur = Some((id, cfg));
                return Ok(());
            }
        }
        let layer = make_layer(cur)?;
        let (id, cfg) = self.commit(st, cur.as_ref(), created_by, layer)?;
        self.store.build_cache_put(&key, &id)?;
        out.stream(&format!(" ---> {}\n", id.short()));
        *cur = Some((id, cfg));
        Ok(())
    }

    fn commit(
        &self,
        st: &StageState,
        parent: Option<&(Digest, ImageConfig)>,
        created_by: &str,
        layer: Option<StagedLayer>,
    ) -> Result<(Digest, ImageConfig), BuildError> {
        let now = berth_store::now_rfc3339();
        let arch = &self.req.options.platform.1;
        let cfg = child_config(
            parent.map(|p| &p.1),
            &st.config,
            st.author.as_deref(),
            &now,
            created_by,
            layer.as_ref().map(|l| l.diff_id.clone()),
            arch,
        );
        let mut pool = HashMap::new();
        if let Some(l) = layer {
            pool.insert(l.diff_id.clone(), l);
        }
        let c = self.store.commit_image(
            NewImage {
                config: ConfigSource::Bytes(cfg.to_vec()),
                tags: Vec::new(),
                repo_digests: Vec::new(),
                manifests: Vec::new(),
                parent: parent.map(|p| p.0.clone()),
            },
            &mut pool,
        )?;
        Ok((c.image.id, cfg))
    }

    fn run_step(
        &self,
        st: &StageState,
        cur: &mut Current,
        r: &RunStep,
        out: &dyn Progress,
    ) -> Result<(), BuildError> {
        let Some((image, _)) = cur.clone() else {
            return Err(BuildError::Run {
                message: format!(
                    "{}: the image is empty (FROM scratch): exec: \"{}\": no such file or directory",
                    r.failure_message(127),
                    r.argv.first().map(String::as_str).unwrap_or("")
                ),
                code: 127,
            });
        };
        let user = st.config.user.clone().unwrap_or_default();
        let workdir = st.config.working_dir.clone().unwrap_or_default();
        let network = r
            .network
            .as_deref()
            .or(self.req.network.as_deref())
            .map(str::to_string);
        self.cached_or(st, cur, &r.created_by, "", out, |_| {
            let req = RunRequest {
                image: &image,
                argv: &r.argv,
                env: &r.env,
                user: &user,
                workdir: &workdir,
                network: network.as_deref(),
                files: &r.files,
            };
            let mut ev = Events {
                out,
                container: String::new(),
            };
            let mut layer = None;
            let code = self.backend.run(&req, &mut ev, &mut |upper| {
                let skip = runtime_artifacts(upper);
                let (staged, info) =
                    ingest_with(self.store, |w| diff_tar_excluding(upper, w, &skip))?;
                if !info.is_empty() {
                    layer = Some(staged);
                }
                Ok(())
            })?;
            if code != 0 {
                return Err(BuildError::Run {
                    message: r.failure_message(code),
                    code,
                });
            }
            let short = &ev.container[..ev.container.len().min(12)];
            out.stream(&format!("Removing intermediate container {short}\n"));
            Ok(layer)
        })
    }

    fn copy_step(
        &self,
        st: &StageState,
        cur: &mut Current,
        cs: &CopyStep,
        out: &dyn Progress,
    ) -> Result<(), BuildError> {
        let from_view;
        let (root, from_image, tar_paths, hash_cache) = match &cs.from {
            None => (
                self.ctx.root.clone(),
                false,
                Some(&self.ctx.tar_paths),
                Some(&self.builder.hash_cache),
            ),
            Some(f) => {
                let img = match self.plan.graph.resolve(f) {
                    Some(j) => self
                        .results
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get(&j)
                        .cloned()
                        .ok_or_else(|| {
                            BuildError::Failed(format!(
                                "invalid from flag value {f}: stage {j} is not built before this one"
                            ))
                        })?
                        .map(|x| x.0),
                    None => Some(
                        self.image_by_name(f)
                            .map_err(|e| {
                                BuildError::Failed(format!("invalid from flag value {f}: {e}"))
                            })?
                            .0,
                    ),
                };
                from_view = RootfsView::open(self.store, img.as_ref(), self.tmp)?;
                (from_view.path().to_path_buf(), true, None, None)
            }
        };
        let parent_view = RootfsView::open(self.store, cur.as_ref().map(|c| &c.0), self.tmp)?;
        let owner = match &cs.chown {
            Some(spec) => {
                let read = |f: &str| {
                    let p = crate::archive::resolve_in_root(parent_view.path(), Path::new(f), true);
                    fs::read_to_string(p).ok()
                };
                let passwd = read("etc/passwd");
                let group = read("etc/group");
                Some(
                    crate::userdb::resolve_chown(spec, passwd.as_deref(), group.as_deref())
                        .map_err(|e| BuildError::Failed(e.to_string()))?,
                )
            }
            None => None,
        };
        let chmod = cs
            .chmod
            .as_deref()
            .map(crate::userdb::parse_chmod)
            .transpose()
            .map_err(BuildError::Failed)?;
        let req = CopyRequest {
            keyword: cs.keyword,
            sources: &cs.sources,
            contents: &cs.contents,
            dest: &cs.dest,
            root: &root,
            from_image,
            owner,
            chmod: chmod.as_ref(),
            allow_decompress: cs.allow_decompress,
            hash_cache,
            checksum: cs.checksum.as_deref(),
            excludes: &cs.excludes,
            tar_paths,
        };
        let probe: &dyn crate::copy::DestProbe = if cur.is_some() {
            &RootfsDest(parent_view.path())
        } else {
            &EmptyDest
        };
        let mut plan = plan_copy(&req, probe).map_err(|e| BuildError::Failed(e.to_string()))?;
        for (n, url) in plan.downloads().into_iter().enumerate() {
            let local = self
                .tmp
                .join(format!("download-{n}-{:x}", super::rootfs::rand_u64()));
            super::download::fetch(&url, &local)?;
            plan.resolve_download(&url, &local)
                .map_err(|e| BuildError::Failed(e.to_string()))?;
        }
        drop(parent_view);
        let created_by = cs.created_by(&plan.src_hash);
        self.cached_or(st, cur, &created_by, &plan.src_hash, out, |_| {
            let (staged, info) = ingest_with(self.store, |w| copy_layer_tar(&plan, w))?;
            Ok((!info.is_empty()).then_some(staged))
        })
    }

    /// WORKDIR's layer: the directories it creates (0755, root), and their existing
    /// ancestors as overlay would copy them up. None when the directory exists.
    fn workdir_layer(&self, cur: &Current, path: &str) -> Result<Option<StagedLayer>, BuildError> {
        let view = RootfsView::open(self.store, cur.as_ref().map(|c| &c.0), self.tmp)?;
        let mut entries: Vec<(String, u32, u32, u32, i64)> = Vec::new();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let mut rel = String::new();
        let mut created = false;
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            if !rel.is_empty() {
                rel.push('/');
            }
            rel.push_str(comp);
            match fs::symlink_metadata(view.path().join(&rel)) {
                Ok(m) if m.is_dir() && !created => {
                    entries.push((rel.clone(), m.mode() & 0o7777, m.uid(), m.gid(), m.mtime()));
                }
                Ok(_) if !created => {
                    // A file or symlink in the way: the directory cannot be made there
                    // (a symlinked WORKDIR is left to the RUNs that use it).
                    return Ok(None);
                }
                _ => {
                    if !created {
                        if let Some(last) = entries.last_mut() {
                            last.4 = now;
                        }
                    }
                    created = true;
                    entries.push((rel.clone(), 0o755, 0, 0, now));
                }
            }
        }
        drop(view);
        if !created {
            return Ok(None);
        }
        let (staged, _) = ingest_with(self.store, move |w| {
            let mut b = tar::Builder::new(berth_oci::Sha256Writer::new(w));
            for (name, mode, uid, gid, mtime) in &entries {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                h.set_uid(*uid as u64);
                h.set_gid(*gid as u64);
                h.set_mtime((*mtime).max(0) as u64);
                h.set_size(0);
                b.append_data(&mut h, format!("{name}/"), io::empty())
                    .map_err(|e| LayerError::Io {
                        path: name.clone(),
                        source: e,
                    })?;
            }
            let w = b.into_inner().map_err(|e| LayerError::Io {
                path: "WORKDIR layer".into(),
                source: e,
            })?;
            let (inner, diff_id, size) = w.finish();
            Ok((
                inner,
                LayerInfo {
                    diff_id,
                    size,
                    entries: entries.len(),
                },
            ))
        })?;
        Ok(Some(staged))
    }
}
