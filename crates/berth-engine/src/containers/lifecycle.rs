//! Start, monitor, restart policies, wait, kill, stop, remove, pause and resize; restoring
//! containers at daemon start.

use super::*;

/// A registered wait (see [`Engine::container_waiter`]).
pub type WaitFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<ContainerWaitResponse>> + Send + 'static>,
>;

impl Engine {
    /// Loads container records at startup and reconnects to live shims.
    pub async fn restore_containers(self: &Arc<Self>) -> Result<()> {
        for raw in self.store.containers()? {
            let Ok(mut rec) = serde_json::from_slice::<ContainerRecord>(&raw) else {
                tracing::warn!("skipping unreadable container record");
                continue;
            };
            let id = rec.id.clone();
            let mut monitor = false;
            if rec.state.status == "running" || rec.state.status == "paused" {
                let shim = ShimClient::connect(&id, &self.state_dir(&id));
                if shim.is_alive().await {
                    monitor = true;
                } else if let Ok(Some(exit)) = shim.exit_record() {
                    apply_exit(&mut rec, &exit);
                } else {
                    rec.state.status = "exited".into();
                    rec.state.exit_code = 255;
                    rec.state.finished_at = now();
                    rec.state.pid = 0;
                }
                self.persist(&rec)?;
            } else if rec.state.status == "created" {
                // The record of a shim's spawn or start is committed without waiting for the
                // disk: after an unclean stop the shim may be further along than the record.
                let shim = ShimClient::connect(&id, &self.state_dir(&id));
                if shim.is_alive().await {
                    if let Ok(st) = shim.state().await {
                        rec.state.shim = true;
                        rec.state.pid = st.pid as i64;
                        match st.status {
                            berth_runtime::protocol::Status::Running
                            | berth_runtime::protocol::Status::Paused => {
                                rec.state.status =
                                    if st.status == berth_runtime::protocol::Status::Paused {
                                        "paused".into()
                                    } else {
                                        "running".into()
                                    };
                                rec.state.started_at = st.started_at.clone();
                                monitor = true;
                            }
                            berth_runtime::protocol::Status::Created => {}
                            berth_runtime::protocol::Status::Exited => {
                                if let Some(exit) = &st.exit {
                                    apply_exit(&mut rec, exit);
                                }
                            }
                        }
                        self.persist(&rec)?;
                    }
                } else if let Ok(Some(exit)) = shim.exit_record() {
                    apply_exit(&mut rec, &exit);
                    self.persist(&rec)?;
                }
            }
            let (tx, _) = watch::channel(rec.state.exits);
            let ctr = Arc::new(Ctr {
                rec: Mutex::new(rec),
                changed: tx,
            });
            self.containers
                .by_id
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id.clone(), ctr.clone());
            if monitor {
                self.spawn_health(ctr.clone());
                self.spawn_monitor(ctr);
            } else {
                let snap = ctr.snapshot();
                if snap.state.status == "exited" && self.should_restart(&snap) {
                    self.restart_later(ctr, 0);
                }
            }
        }
        Ok(())
    }

    /// At daemon start, once networking is up: removes the `--rm` containers that are not
    /// running (as dockerd does), such as one whose removal an unclean stop undid.
    pub async fn remove_autoremove_leftovers(self: &Arc<Self>) {
        for r in self.stopped_records(|r| r.host_config.auto_remove.unwrap_or(false)) {
            if let Err(e) = self.container_remove(&r.id, true, true).await {
                tracing::warn!(container = %r.id, "removing a --rm container left over: {e}");
            }
        }
    }

    pub(crate) fn shim_of(&self, id: &str) -> ShimClient {
        ShimClient::connect(id, &self.state_dir(id))
    }

    /// `POST /containers/{id}/start`.
    pub async fn container_start(self: &Arc<Self>, name: &str) -> Result<bool> {
        let ctr = self.container(name)?;
        ctr.rec
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .state
            .manually_stopped = false;
        let rec = ctr.snapshot();
        match rec.state.status.as_str() {
            "running" | "paused" => return Ok(false),
            "created" if rec.state.shim => {
                let shim = self.shim_of(&rec.id);
                let pid = match shim.start().await {
                    Ok(pid) => pid,
                    Err(e) => {
                        let err = match e {
                            berth_runtime::RuntimeError::Shim { exit_code, message } => {
                                EngineError::StartFailed { exit_code, message }
                            }
                            other => EngineError::Internal(other.to_string()),
                        };
                        if rec.host_config.auto_remove.unwrap_or(false) {
                            let _ = self.container_remove(&rec.id, true, true).await;
                        }
                        return Err(err);
                    }
                };
                let snapshot = {
                    let mut r = ctr.rec.lock().unwrap_or_else(|p| p.into_inner());
                    r.state.status = "running".into();
                    r.state.pid = pid as i64;
                    r.state.started_at = now();
                    r.clone()
                };
                self.persist_started(&snapshot)?;
                self.after_start(&snapshot);
            }
            _ => {
                if let Err(e) = self.spawn_shim(&ctr, true).await {
                    // Like Docker: a container that cannot start is removed at once
                    // when it was created with --rm (the CLI waits for "removed").
                    if rec.host_config.auto_remove.unwrap_or(false) {
                        let _ = self.container_remove(&rec.id, true, true).await;
                    } else {
                        ctr.changed.send_modify(|_| {});
                    }
                    return Err(e);
                }
            }
        }
        ctr.changed.send_modify(|_| {});
        self.ctr_event(&ctr.snapshot(), "start", &[]);
        self.spawn_health(ctr.clone());
        self.spawn_monitor(ctr);
        Ok(true)
    }

    /// Attaches to a container's stdio, spawning its shim (not started) when needed so the
    /// attach is in place before `start`, as the docker CLI expects.
    pub async fn container_attach(
        self: &Arc<Self>,
        name: &str,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> Result<(Option<berth_runtime::StdioStream>, bool)> {
        let ctr = self.container(name)?;
        let mut rec = ctr.snapshot();
        let tty = rec.config.tty.unwrap_or(false);
        if rec.state.status == "exited" {
            // `start -a` of an exited container attaches first, as dockerd lets it: the
            // container gets a new shim, created and waiting for the `start`.
            let mut r = ctr.rec.lock().unwrap_or_else(|p| p.into_inner());
            r.state.status = "created".into();
            r.state.shim = false;
            rec = r.clone();
        }
        if rec.state.status == "created" && !rec.state.shim {
            match self.spawn_shim(&ctr, false).await {
                Ok(_) => {}
                // The process cannot be created: the attach ends at once and `start`
                // reports the error (with Docker's 126/127 wording).
                Err(EngineError::StartFailed { .. }) => return Ok((None, tty)),
                Err(e) => return Err(e),
            }
        } else if rec.state.status != "running"
            && rec.state.status != "created"
            && rec.state.status != "paused"
        {
            return Err(EngineError::Conflict(
                "You cannot attach to a stopped container, start it first".into(),
            ));
        }
        self.ctr_event(&rec, "attach", &[]);
        let s = self
            .shim_of(&rec.id)
            .attach(
                stdin && rec.config.open_stdin.unwrap_or(false),
                stdout,
                stderr,
            )
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        Ok((Some(s), tty))
    }

    pub(crate) fn spawn_monitor(self: &Arc<Self>, ctr: Arc<Ctr>) {
        let engine = self.clone();
        tokio::spawn(async move {
            let id = ctr.snapshot().id;
            let shim = engine.shim_of(&id);
            let exit = match shim.wait().await {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(container = %id, "wait failed: {e}");
                    return;
                }
            };
            let (snapshot, auto_remove) = {
                let mut r = ctr.rec.lock().unwrap_or_else(|p| p.into_inner());
                if r.state.status != "running" && r.state.status != "paused" {
                    return;
                }
                apply_exit(&mut r, &exit);
                (r.clone(), r.host_config.auto_remove.unwrap_or(false))
            };
            // A container `--rm` removes right away: its exit state is superseded by the
            // removal's durable commit, so it need not wait for the disk itself.
            let removing = auto_remove && !engine.should_restart(&snapshot);
            let persisted = if removing {
                engine.persist_volatile(&snapshot)
            } else {
                engine.persist(&snapshot)
            };
            if let Err(e) = persisted {
                tracing::error!(container = %id, "persist: {e}");
            }
            engine.net_unpublish(&snapshot);
            if snapshot.state.oom_killed {
                engine.ctr_event(&snapshot, "oom", &[]);
            }
            engine.ctr_event(
                &snapshot,
                "die",
                &[("exitCode", snapshot.state.exit_code.to_string())],
            );
            let gen = snapshot.state.exits;
            ctr.changed.send_replace(gen);
            if engine.should_restart(&snapshot) {
                engine.restart_later(ctr.clone(), snapshot.restart_count);
                return;
            }
            if auto_remove {
                if let Err(e) = engine.container_remove(&id, true, true).await {
                    tracing::warn!(container = %id, "auto-remove: {e}");
                }
                // See `after_start`: a `--rm` container's spare shim is replaced once it
                // is gone.
                engine.shims.refill();
            }
        });
    }

    /// Whether the restart policy brings this (just exited) container back.
    pub(crate) fn should_restart(&self, r: &ContainerRecord) -> bool {
        if r.state.manually_stopped {
            return false;
        }
        let Some(p) = r.host_config.restart_policy.as_ref() else {
            return false;
        };
        use bollard_stubs::models::RestartPolicyNameEnum as P;
        match p.name {
            Some(P::ALWAYS) | Some(P::UNLESS_STOPPED) => true,
            Some(P::ON_FAILURE) => {
                r.state.exit_code != 0
                    && p.maximum_retry_count
                        .map(|max| max <= 0 || r.restart_count < max)
                        .unwrap_or(true)
            }
            _ => false,
        }
    }

    /// Restarts a container after Docker's back-off (100 ms doubling, capped at 1 min).
    pub(crate) fn restart_later(self: &Arc<Self>, ctr: Arc<Ctr>, count: i64) {
        let engine = self.clone();
        tokio::spawn(async move {
            let delay = 100u64.saturating_mul(1 << count.clamp(0, 10)).min(60_000);
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
            let rec = ctr.snapshot();
            if rec.state.manually_stopped || rec.state.status != "exited" {
                return;
            }
            // `docker update --restart no` during the back-off cancels the restart.
            use bollard_stubs::models::RestartPolicyNameEnum as P;
            let policy = rec.host_config.restart_policy.as_ref().and_then(|p| p.name);
            if !matches!(
                policy,
                Some(P::ALWAYS) | Some(P::UNLESS_STOPPED) | Some(P::ON_FAILURE)
            ) {
                return;
            }
            if !engine
                .containers
                .by_id
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(&rec.id)
            {
                return;
            }
            ctr.rec
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .restart_count += 1;
            if let Err(e) = engine.spawn_shim(&ctr, true).await {
                tracing::warn!(container = %rec.id, "restart failed: {e}");
                return;
            }
            ctr.changed.send_modify(|_| {});
            engine.ctr_event(&ctr.snapshot(), "start", &[]);
            engine.spawn_health(ctr.clone());
            engine.spawn_monitor(ctr);
        });
    }

    /// `POST /containers/{id}/wait`: resolves when the condition is met.
    pub async fn container_wait(
        self: &Arc<Self>,
        name: &str,
        condition: &str,
    ) -> Result<ContainerWaitResponse> {
        self.container_waiter(name, condition)?.await
    }

    /// Registers a wait now and returns the future that resolves when the condition is
    /// met: the API sends the response headers only after this, so a client that has
    /// them knows an exit that happens from then on cannot be missed (`run` starts the
    /// container right after, without a guessed delay).
    pub fn container_waiter(self: &Arc<Self>, name: &str, condition: &str) -> Result<WaitFuture> {
        let ctr = match self.container(name) {
            Ok(c) => Some(c),
            Err(EngineError::NotFound(m)) => {
                let gone = self
                    .containers
                    .removed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                let hit = gone
                    .iter()
                    .find(|(id, _)| id.starts_with(name))
                    .map(|(_, (c, _))| *c);
                match hit {
                    Some(code) if name.len() >= 12 => {
                        return Ok(Box::pin(std::future::ready(Ok(ContainerWaitResponse {
                            status_code: code,
                            error: None,
                        }))))
                    }
                    _ => return Err(EngineError::NotFound(m)),
                }
            }
            Err(e) => return Err(e),
        };
        let ctr = ctr.expect("resolved above");
        let mut rx = ctr.changed.subscribe();
        let start_gen = ctr.snapshot().state.exits;
        let condition = condition.to_string();
        Ok(Box::pin(async move {
            loop {
                let rec = ctr.snapshot();
                let removed = *rx.borrow() == u64::MAX;
                let done = match condition.as_str() {
                    "removed" => removed,
                    "next-exit" => rec.state.exits > start_gen || removed,
                    _ => !matches!(rec.state.status.as_str(), "running" | "paused") || removed,
                };
                if done {
                    return Ok(ContainerWaitResponse {
                        status_code: rec.state.exit_code,
                        error: None,
                    });
                }
                if rx.changed().await.is_err() {
                    let rec = ctr.snapshot();
                    return Ok(ContainerWaitResponse {
                        status_code: rec.state.exit_code,
                        error: None,
                    });
                }
            }
        }))
    }

    /// `POST /containers/{id}/kill`.
    pub async fn container_kill(self: &Arc<Self>, name: &str, signal: Option<&str>) -> Result<()> {
        let ctr = self.container(name)?;
        let rec = ctr.snapshot();
        if rec.state.status != "running" && rec.state.status != "paused" {
            return Err(EngineError::Conflict(format!(
                "Cannot kill container: {}: Container {} is not running",
                name, rec.id
            )));
        }
        let sig = parse_signal(signal.unwrap_or("KILL"))?;
        ctr.rec
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .state
            .manually_stopped = true;
        self.ctr_event(&rec, "kill", &[("signal", sig.to_string())]);
        self.shim_of(&rec.id)
            .kill(sig)
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))
    }

    /// `POST /containers/{id}/stop`: stop signal, then SIGKILL after the timeout.
    pub async fn container_stop(
        self: &Arc<Self>,
        name: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<bool> {
        let ctr = self.container(name)?;
        let rec = ctr.snapshot();
        if rec.state.status != "running" && rec.state.status != "paused" {
            return Ok(false);
        }
        let sig = parse_signal(
            signal
                .or(rec.config.stop_signal.as_deref())
                .unwrap_or("SIGTERM"),
        )?;
        ctr.rec
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .state
            .manually_stopped = true;
        let t = timeout.or(rec.config.stop_timeout).unwrap_or(10);
        let shim = self.shim_of(&rec.id);
        let mut rx = ctr.changed.subscribe();
        if rec.state.status == "paused" {
            let _ = shim.resume().await;
        }
        self.ctr_event(&rec, "kill", &[("signal", sig.to_string())]);
        let _ = shim.kill(sig).await;
        let exited = async {
            loop {
                if !matches!(ctr.snapshot().state.status.as_str(), "running" | "paused") {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        };
        let wait = if t < 0 {
            None
        } else {
            Some(std::time::Duration::from_secs(t as u64))
        };
        let timed_out = match wait {
            Some(d) => tokio::time::timeout(d, exited).await.is_err(),
            None => {
                exited.await;
                false
            }
        };
        if timed_out {
            let _ = shim.kill(libc::SIGKILL).await;
            let mut rx = ctr.changed.subscribe();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), async {
                while matches!(ctr.snapshot().state.status.as_str(), "running" | "paused") {
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
            })
            .await;
        }
        self.ctr_event(&ctr.snapshot(), "stop", &[]);
        Ok(true)
    }

    /// `DELETE /containers/{id}`.
    pub async fn container_remove(
        self: &Arc<Self>,
        name: &str,
        force: bool,
        _volumes: bool,
    ) -> Result<()> {
        let ctr = self.container(name)?;
        let rec = ctr.snapshot();
        if matches!(rec.state.status.as_str(), "running" | "paused") {
            if !force {
                return Err(EngineError::Conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    rec.name
                )));
            }
            let _ = self.shim_of(&rec.id).kill(libc::SIGKILL).await;
            let mut rx = ctr.changed.subscribe();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), async {
                while matches!(ctr.snapshot().state.status.as_str(), "running" | "paused") {
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
            })
            .await;
        } else if rec.state.shim && rec.state.status == "created" {
            // A created-but-never-started container still has a shim holding it.
            let shim = self.shim_of(&rec.id);
            let _ = shim.kill(libc::SIGKILL).await;
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), shim.wait()).await;
        }
        self.containers
            .by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&rec.id);
        {
            let mut gone = self
                .containers
                .removed
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            gone.retain(|_, (_, at)| at.elapsed() < std::time::Duration::from_secs(300));
            let code = ctr.snapshot().state.exit_code;
            gone.insert(rec.id.clone(), (code, std::time::Instant::now()));
        }
        if rec.host_config.auto_remove.unwrap_or(false) {
            // A `--rm` container's removal does not wait for the disk: after a crash its
            // record may come back, and the next start removes it again
            // (`remove_autoremove_leftovers`).
            self.store.delete_container_volatile(&rec.id)?;
        } else {
            self.store.delete_container(&rec.id)?;
        }
        self.release_volumes(&rec, _volumes);
        self.net_release(&rec).await;
        // The container's directory (its writable layer, log, bundle) is moved under the
        // store's `tmp/` (swept at the next start if a crash interrupts) and deleted after
        // the removal is announced: `run --rm` does not wait for the files to go.
        let dir = self.ctr_dir(&rec.id);
        // The exited container's shim answers before it unmounts the rootfs: take the
        // mount away here so it does not move with the directory (the shim's own
        // unmount then finds nothing to do).
        let _ = berth_runtime::rootfs::unmount(&dir.join("bundle/rootfs"));
        let trash = self.data_root().join("tmp").join(format!("rm-{}", rec.id));
        let doomed = match std::fs::rename(&dir, &trash) {
            Ok(()) => trash,
            Err(_) => dir,
        };
        let state = self.state_dir(&rec.id);
        ctr.changed.send_replace(u64::MAX);
        self.ctr_event(&rec, "destroy", &[]);
        tokio::task::spawn_blocking(move || {
            let _ = std::fs::remove_dir_all(doomed);
            let _ = std::fs::remove_dir_all(state);
        });
        Ok(())
    }

    /// Resizes a container's (or an exec's) pty.
    pub async fn container_resize(
        &self,
        name: &str,
        h: u16,
        w: u16,
        exec_pid: Option<i32>,
    ) -> Result<()> {
        let r = self.container(name)?.snapshot();
        self.shim_of(&r.id)
            .resize(h, w, exec_pid)
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))
    }

    pub async fn container_pause(&self, name: &str, pause: bool) -> Result<()> {
        let ctr = self.container(name)?;
        let r = ctr.snapshot();
        if r.state.status != if pause { "running" } else { "paused" } {
            return Err(EngineError::Conflict(format!(
                "Container {} is not {}",
                r.id,
                if pause { "running" } else { "paused" }
            )));
        }
        let shim = self.shim_of(&r.id);
        if pause {
            shim.pause().await
        } else {
            shim.resume().await
        }
        .map_err(|e| EngineError::Internal(e.to_string()))?;
        let snap = {
            let mut rec = ctr.rec.lock().unwrap_or_else(|p| p.into_inner());
            rec.state.status = if pause { "paused" } else { "running" }.into();
            rec.clone()
        };
        self.persist(&snap)?;
        ctr.changed.send_modify(|_| {});
        self.ctr_event(&snap, if pause { "pause" } else { "unpause" }, &[]);
        Ok(())
    }
}
