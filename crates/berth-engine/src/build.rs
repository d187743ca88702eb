//! `POST /build` on the engine's side: the builder's RUN steps run as ordinary
//! containers of this engine (created, attached, started, waited for, removed), and
//! the build itself is [`berth_build::exec::Builder`] working on the engine's store.
//!
//! Build containers get the same records, shims and cleanup as `docker run`
//! containers; they are removed whatever the step's outcome, also when the client
//! goes away (the process is killed first).
//!
//! Cancellation: the build thread asks [`RunEvents::cancelled`] at least every
//! [`CANCEL_POLL`], whether or not the step prints (a step that prints all the time, a
//! download's progress for one, must not hide the client going away), and the task
//! driving the container watches the flag from the start of the container until its
//! exit has been seen (also after its output ended). A step that did not succeed
//! returns only once its container is removed and its network endpoint (veth,
//! pinned namespace) is gone, so a failed or cancelled build leaves nothing behind.

use crate::containers::ContainerRecord;
use crate::error::EngineError;
use crate::Engine;
use berth_build::exec::{
    BuildError, BuildRequest, Builder, Progress, RunBackend, RunEvents, RunRequest,
};
use berth_oci::Digest;
use berth_runtime::StreamEvent;
use bollard_stubs::models::{ContainerCreateBody, HostConfig};
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a RUN step checks whether the build was cancelled.
const CANCEL_POLL: Duration = Duration::from_millis(100);

/// Runs RUN steps as containers of this engine.
struct Runner {
    engine: Arc<Engine>,
    rt: tokio::runtime::Handle,
}

fn failed(e: EngineError) -> BuildError {
    BuildError::Failed(e.to_string())
}

impl RunBackend for Runner {
    fn run(
        &self,
        req: &RunRequest<'_>,
        events: &mut dyn RunEvents,
        on_success: &mut dyn FnMut(&Path) -> Result<(), BuildError>,
    ) -> Result<i64, BuildError> {
        let engine = self.engine.clone();
        let id = self.rt.block_on(engine.build_container(req))?;
        events.started(&id);
        // The container runs on the runtime; its output comes back over a channel so
        // that `events` (which may block on the HTTP response) is only ever called
        // from this blocking thread.
        let (tx, rx) = std::sync::mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        if events.cancelled() {
            cancel.store(true, Ordering::Relaxed);
        }
        {
            let (engine, id, cancel) = (engine.clone(), id.clone(), cancel.clone());
            self.rt.spawn(async move {
                let r = engine.build_run(&id, &tx, &cancel).await;
                let _ = tx.send(RunMsg::Done(r));
            });
        }
        let mut checked = Instant::now();
        let res = loop {
            let msg = rx.recv_timeout(CANCEL_POLL);
            // Checked whatever arrived: a step whose output never pauses must not keep
            // the check from running.
            if !cancel.load(Ordering::Relaxed) && (checked.elapsed() >= CANCEL_POLL || msg.is_err())
            {
                checked = Instant::now();
                if events.cancelled() {
                    cancel.store(true, Ordering::Relaxed);
                }
            }
            match msg {
                Ok(RunMsg::Output(d)) => events.output(&d),
                Ok(RunMsg::Done(r)) => break r,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    break Err(BuildError::Failed(
                        "the build container's task ended".into(),
                    ))
                }
            }
        };
        let res = match res {
            Ok(0) if cancel.load(Ordering::Relaxed) => Err(BuildError::Cancelled),
            Ok(0) => on_success(&engine.ctr_dir(&id).join("upper")).map(|_| 0),
            other => other,
        };
        if let Err(e) = self.rt.block_on(engine.container_remove(&id, true, false)) {
            tracing::warn!(container = %id, "removing build container: {e}");
        }
        if !matches!(res, Ok(0)) {
            // The build ends here: its network endpoint must be gone when it answers.
            self.rt.block_on(engine.net_released(&id));
        }
        let _ = std::fs::remove_dir_all(engine.build_files_dir(&id));
        res
    }

    fn pull(&self, name: &str) -> Result<Digest, BuildError> {
        self.pull_image(name)
    }
}

impl Runner {
    /// `FROM`/`COPY --from` of an image not in the store: pulled like `docker pull`
    /// (no progress shown), as the legacy builder does.
    fn pull_image(&self, name: &str) -> Result<Digest, BuildError> {
        let engine = self.engine.clone();
        let params = crate::dist::PullParams {
            from_image: name.to_string(),
            ..Default::default()
        };
        self.rt.block_on(async move {
            let resolved = engine.pull_resolve(&params).await.map_err(failed)?;
            let pulled = engine
                .pull_fetch(resolved, Arc::new(berth_dist::Progress::none()))
                .await
                .map_err(failed)?;
            Ok(pulled.image_id)
        })
    }
}

/// What the container task reports to the build thread.
enum RunMsg {
    Output(Vec<u8>),
    Done(Result<i64, BuildError>),
}

impl Engine {
    /// The builder (created on first use).
    fn builder(&self) -> &Builder {
        self.builder.get_or_init(|| Builder::new(self.data_root()))
    }

    /// Runs a build from a context tar. Call from a blocking thread inside the tokio
    /// runtime (RUN steps use the engine's async container machinery).
    pub fn build(
        self: &Arc<Self>,
        context: impl Read,
        req: &BuildRequest,
        out: &dyn Progress,
    ) -> Result<Digest, BuildError> {
        let runner = Runner {
            engine: self.clone(),
            rt: tokio::runtime::Handle::current(),
        };
        let id = self
            .builder()
            .build(&self.store, &runner, context, req, out)?;
        Ok(id)
    }

    /// The client stamps recorded at the last incremental upload of build context
    /// `key` (`berth_build::upload`), if an idle build slot holds it.
    pub fn build_context_stamps(
        &self,
        key: &str,
    ) -> Option<std::sync::Arc<std::collections::HashMap<String, String>>> {
        self.builder().context_stamps(key)
    }

    /// The build cache records (`docker system df`).
    pub fn build_cache_records(&self) -> Vec<berth_build::exec::CacheRecord> {
        self.builder().cache_records()
    }

    /// Removes idle build contexts last used no later than `until`.
    pub fn prune_build_cache(&self, until: Option<std::time::SystemTime>) -> (Vec<String>, u64) {
        self.builder().prune_cache(until)
    }

    fn build_files_dir(&self, id: &str) -> std::path::PathBuf {
        self.data_root()
            .join("tmp")
            .join(format!("build-files-{id}"))
    }

    /// Creates the container of a RUN step.
    async fn build_container(self: &Arc<Self>, req: &RunRequest<'_>) -> Result<String, BuildError> {
        let network_mode = match req.network {
            Some("host") => Some("host".to_string()),
            Some("none") => Some("none".to_string()),
            _ => None,
        };
        let body = ContainerCreateBody {
            image: Some(req.image.to_string()),
            cmd: Some(req.argv.to_vec()),
            entrypoint: Some(vec![String::new()]),
            env: Some(req.env.to_vec()),
            user: Some(req.user.to_string()),
            working_dir: Some(req.workdir.to_string()),
            host_config: Some(HostConfig {
                network_mode,
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = self.container_create(None, body).map_err(failed)?;
        let id = created.id;
        if !req.files.is_empty() {
            let dir = self.build_files_dir(&id);
            let mut binds = Vec::new();
            for (n, (path, content)) in req.files.iter().enumerate() {
                let src = dir.join(n.to_string());
                let write = std::fs::create_dir_all(&dir).and_then(|_| {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::write(&src, content)?;
                    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o755))
                });
                if let Err(e) = write {
                    let _ = self.container_remove(&id, true, false).await;
                    return Err(BuildError::io(&src, e));
                }
                binds.push(format!("{}:{path}:ro", src.display()));
            }
            if let Ok(ctr) = self.container(&id) {
                let snapshot: ContainerRecord = {
                    let mut r = ctr.rec.lock().unwrap_or_else(|p| p.into_inner());
                    r.host_config.binds = Some(binds);
                    r.clone()
                };
                self.persist(&snapshot).map_err(failed)?;
            }
        }
        Ok(id)
    }

    /// Starts a created build container, streams its output and returns its exit code.
    /// When `cancel` is set (before the start, while it runs, or while its exit is
    /// awaited) the process is killed and [`BuildError::Cancelled`] returned.
    async fn build_run(
        self: &Arc<Self>,
        id: &str,
        out: &std::sync::mpsc::Sender<RunMsg>,
        cancel: &AtomicBool,
    ) -> Result<i64, BuildError> {
        let (stream, _) = self
            .container_attach(id, false, true, true)
            .await
            .map_err(failed)?;
        if cancel.load(Ordering::Relaxed) {
            return Err(BuildError::Cancelled);
        }
        if let Err(e) = self.container_start(id).await {
            return Err(match e {
                EngineError::StartFailed { exit_code, message } => BuildError::Run {
                    message,
                    code: exit_code as i64,
                },
                other => failed(other),
            });
        }
        let cancelled = async {
            let mut tick = tokio::time::interval(CANCEL_POLL / 2);
            loop {
                tick.tick().await;
                if cancel.load(Ordering::Relaxed) {
                    return;
                }
            }
        };
        let run = async {
            let mut exit = None;
            if let Some(mut stream) = stream {
                loop {
                    match stream.next().await {
                        Ok(Some(StreamEvent::Stdout(d))) | Ok(Some(StreamEvent::Stderr(d))) => {
                            let _ = out.send(RunMsg::Output(d));
                        }
                        Ok(Some(StreamEvent::Exit(rec))) => {
                            exit = Some(rec.exit_code as i64);
                            break;
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(container = %id, "build output: {e}");
                            break;
                        }
                    }
                }
            }
            // The output may end before the process does (it closed its stdout and
            // stderr): the exit is still awaited under the cancellation watch.
            let waited = self
                .container_wait(id, "not-running")
                .await
                .map_err(failed)?;
            Ok(exit.unwrap_or(waited.status_code))
        };
        tokio::select! {
            r = run => r,
            _ = cancelled => {
                let _ = self.container_kill(id, Some("KILL")).await;
                Err(BuildError::Cancelled)
            }
        }
    }
}
