//! `POST /containers/create`: validating a create request into a record, and turning
//! a record into the runtime spec its shim runs.

use super::*;

impl Engine {
    /// `POST /containers/create`.
    pub fn container_create(
        self: &Arc<Self>,
        name: Option<&str>,
        body: ContainerCreateBody,
    ) -> Result<ContainerCreateResponse> {
        // The start that usually follows moves a process into a cgroup (see cgroup_warm).
        berth_runtime::cgroup_warm::warm();
        let image_ref = body
            .image
            .clone()
            .filter(|i| !i.is_empty())
            .ok_or_else(|| {
                EngineError::BadRequest(
                    "Config cannot be empty in order to create a container".into(),
                )
            })?;
        let img = self.store.resolve(&image_ref).map_err(|e| match e {
            berth_store::StoreError::NoSuchImage(_) => {
                EngineError::NotFound(format!("No such image: {}", familiar(&image_ref)))
            }
            other => other.into(),
        })?;
        let (_, icfg) = self.store.config(&img.id)?;
        let ic = icfg.config.clone().unwrap_or_default();
        let mut host_config = body.host_config.clone().unwrap_or_default();
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                let n = n.strip_prefix('/').unwrap_or(n);
                if !valid_name(n) {
                    return Err(EngineError::BadRequest(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                n.to_string()
            }
            None => random_name() + &format!("_{}", rand::random::<u16>() % 1000),
        };
        let id = random_id();
        {
            let map = self
                .containers
                .by_id
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(other) = map.values().find(|c| c.snapshot().name == name) {
                return Err(EngineError::Conflict(format!(
                    "Conflict. The container name \"/{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                    other.snapshot().id
                )));
            }
        }
        // Validate resources like Docker does; what the host cannot limit is dropped
        // with a warning.
        let mut res = super::resources::ResourceSettings::from_host_config(&host_config);
        let warnings = res.verify(berth_runtime::cgroups::support(), false)?;
        if res.memory > 0 && res.memory_swap == 0 {
            // Docker's default: swap as large as the memory limit.
            res.memory_swap = res.memory * 2;
        }
        res.store(&mut host_config);
        // Namespace modes, ulimits, devices and the shm size fail the create when bad (a
        // `container:` namespace donor only has to be running at start).
        match self.spec_extras(&host_config) {
            Ok(_) | Err(EngineError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        // Merge image defaults into the container config.
        let mut env: Vec<String> = ic.env.clone().unwrap_or_default();
        for e in body.env.clone().unwrap_or_default() {
            let k = e.split('=').next().unwrap_or("").to_string();
            env.retain(|x| x.split('=').next() != Some(k.as_str()));
            env.push(e);
        }
        let entrypoint = match &body.entrypoint {
            Some(ep) if ep.len() == 1 && ep[0].is_empty() => Vec::new(),
            Some(ep) if !ep.is_empty() => ep.clone(),
            _ => ic.entrypoint.clone().unwrap_or_default(),
        };
        let cmd = match &body.cmd {
            Some(c) if !c.is_empty() => c.clone(),
            _ if body.entrypoint.as_ref().is_some_and(|e| !e.is_empty()) => Vec::new(),
            _ => ic.cmd.clone().unwrap_or_default(),
        };
        let mut argv: Vec<String> = entrypoint.iter().chain(cmd.iter()).cloned().collect();
        if argv.is_empty() {
            return Err(EngineError::BadRequest("No command specified".into()));
        }
        let path = argv.remove(0);
        let mut labels: HashMap<String, String> =
            ic.labels.clone().unwrap_or_default().into_iter().collect();
        labels.extend(body.labels.clone().unwrap_or_default());
        let config = ContainerConfig {
            hostname: Some(
                body.hostname
                    .clone()
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| id[..12].to_string()),
            ),
            domainname: body.domainname.clone(),
            user: Some(
                body.user
                    .clone()
                    .filter(|u| !u.is_empty())
                    .or(ic.user.clone())
                    .unwrap_or_default(),
            ),
            attach_stdin: body.attach_stdin,
            attach_stdout: body.attach_stdout,
            attach_stderr: body.attach_stderr,
            exposed_ports: body.exposed_ports.clone().or_else(|| {
                ic.exposed_ports
                    .as_ref()
                    .map(|m| m.keys().cloned().collect())
            }),
            tty: Some(body.tty.unwrap_or(false)),
            open_stdin: Some(body.open_stdin.unwrap_or(false)),
            stdin_once: Some(body.stdin_once.unwrap_or(false)),
            env: Some(env),
            cmd: Some(cmd),
            healthcheck: body.healthcheck.clone(),
            image: Some(image_ref.clone()),
            volumes: body
                .volumes
                .clone()
                .or_else(|| ic.volumes.as_ref().map(|m| m.keys().cloned().collect())),
            working_dir: Some(
                body.working_dir
                    .clone()
                    .filter(|w| !w.is_empty())
                    .or(ic.working_dir.clone())
                    .unwrap_or_default(),
            ),
            entrypoint: Some(entrypoint),
            labels: Some(labels),
            stop_signal: body.stop_signal.clone().or(ic.stop_signal.clone()),
            stop_timeout: body.stop_timeout,
            ..Default::default()
        };
        if host_config.network_mode.as_deref().unwrap_or("").is_empty() {
            host_config.network_mode = Some("bridge".into());
        }
        let lower: Vec<PathBuf> = img
            .chain_ids
            .iter()
            .rev()
            .map(|c| self.store.layer_diff(c))
            .collect();
        let mut vols: Vec<String> = config.volumes.clone().unwrap_or_default();
        vols.extend(ic.volumes.iter().flat_map(|m| m.keys().cloned()));
        vols.sort();
        vols.dedup();
        let mounts = self.resolve_mounts(&host_config, &vols, &lower)?;
        self.net_create_endpoints(&id, &host_config, body.networking_config.as_ref())?;
        let rec = ContainerRecord {
            id: id.clone(),
            name,
            created: now(),
            image: img.id.to_string(),
            image_ref,
            config,
            host_config,
            path,
            args: argv,
            state: StateRecord {
                status: "created".into(),
                started_at: ZERO_TIME.into(),
                finished_at: ZERO_TIME.into(),
                ..Default::default()
            },
            restart_count: 0,
            lower,
            health: None,
            mounts,
        };
        let dir = self.ctr_dir(&id);
        for d in ["upper", "work"] {
            std::fs::create_dir_all(dir.join(d))
                .map_err(|e| EngineError::Internal(format!("{}: {e}", dir.display())))?;
        }
        self.persist(&rec)?;
        self.ctr_event(&rec, "create", &[]);
        let (tx, _) = watch::channel(0);
        self.containers
            .by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                id.clone(),
                Arc::new(Ctr {
                    rec: Mutex::new(rec),
                    changed: tx,
                }),
            );
        Ok(ContainerCreateResponse { id, warnings })
    }

    /// Builds the runtime's description of a container from its record.
    pub(crate) fn runtime_spec(&self, rec: &ContainerRecord) -> Result<ContainerSpec> {
        let hc = &rec.host_config;
        let extras = self.spec_extras(hc)?;
        let dir = self.ctr_dir(&rec.id);
        let hostname = rec
            .config
            .hostname
            .clone()
            .unwrap_or_else(|| rec.id[..12].to_string());
        let etc = berth_runtime::rootfs::write_etc_files(&dir, &hostname, None, &[])
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        self.net_etc_files(rec, &etc)?;
        // no-new-privileges is on unless asked otherwise (`--security-opt
        // no-new-privileges=false`, or `--privileged`): berth's default profile is
        // stricter than Docker's here, and it lets the init load the precompiled seccomp
        // filter (see `berth_runtime::seccomp_bpf`).
        let mut security = Security {
            privileged: hc.privileged.unwrap_or(false),
            no_new_privileges: !hc.privileged.unwrap_or(false),
            cap_add: hc.cap_add.clone().unwrap_or_default(),
            cap_drop: hc.cap_drop.clone().unwrap_or_default(),
            read_only_rootfs: hc.readonly_rootfs.unwrap_or(false),
            ..Default::default()
        };
        for opt in hc.security_opt.clone().unwrap_or_default() {
            let (k, v) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), "true"));
            match (k, v) {
                ("no-new-privileges", v) => security.no_new_privileges = v != "false",
                ("seccomp", "unconfined") => security.seccomp = SeccompMode::Unconfined,
                ("seccomp", _) => {}
                ("label", _) | ("apparmor", _) => {}
                _ => {
                    return Err(EngineError::BadRequest(format!(
                        "Invalid --security-opt: {opt:?}"
                    )))
                }
            }
        }
        let mut mounts = Vec::new();
        for (dest, opts) in hc.tmpfs.clone().unwrap_or_default() {
            let options: Vec<String> = opts
                .split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            let read_only = options.iter().any(|o| o == "ro");
            mounts.push(MountSpec::Tmpfs {
                destination: dest,
                options: options
                    .into_iter()
                    .filter(|o| o != "ro" && o != "rw")
                    .collect(),
                read_only,
            });
        }
        mounts.extend(self.mount_specs(rec));
        let network = self.net_mode(rec)?;
        let mut args = vec![rec.path.clone()];
        args.extend(rec.args.iter().cloned());
        Ok(ContainerSpec {
            id: rec.id.clone(),
            rootfs: RootfsSpec::Overlay {
                lower: rec.lower.clone(),
                upper: dir.join("upper"),
                work: dir.join("work"),
            },
            args,
            env: self.net_env(rec, rec.config.env.clone().unwrap_or_default()),
            cwd: rec
                .config
                .working_dir
                .clone()
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "/".into()),
            user_name: rec.config.user.clone().unwrap_or_default(),
            group_add: hc.group_add.clone().unwrap_or_default(),
            tty: rec.config.tty.unwrap_or(false),
            open_stdin: rec.config.open_stdin.unwrap_or(false),
            hostname,
            etc_files: Some(etc),
            mounts,
            resources: super::resources::ResourceSettings::from_host_config(hc)
                .spec_resources(berth_runtime::cgroups::support()),
            security,
            network,
            init: hc
                .init
                .unwrap_or(false)
                .then(|| PathBuf::from("/usr/bin/tini-static"))
                .filter(|p| p.exists()),
            namespaces: extras.namespaces,
            rlimits: extras.rlimits,
            devices: extras.devices,
            shm_size: extras.shm_size,
            ..Default::default()
        })
    }

    /// Waits (up to 10 s) until no shim holds the container's state directory: one that
    /// has answered its waiters may still be releasing the container's resources.
    pub(crate) async fn wait_shim_gone(&self, id: &str) {
        let dir = self.state_dir(id);
        let t0 = std::time::Instant::now();
        while !berth_runtime::status::shim_gone(&dir) {
            if t0.elapsed() > std::time::Duration::from_secs(10) {
                tracing::warn!(container = %id, "the previous shim is still running");
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// Spawns the shim for a container that has none (created, or exited and restarted).
    pub(crate) async fn spawn_shim(
        self: &Arc<Self>,
        ctr: &Arc<Ctr>,
        start: bool,
    ) -> Result<ShimClient> {
        berth_runtime::cgroup_warm::warm();
        let rec = ctr.snapshot();
        self.net_prepare(&rec).await?;
        let spec = self.runtime_spec(&rec)?;
        let dir = self.ctr_dir(&rec.id);
        let bundle = dir.join("bundle");
        // A previous run's shim may still be releasing the cgroups, libcontainer state
        // and rootfs mount this run is about to take.
        self.wait_shim_gone(&rec.id).await;
        let _ = std::fs::remove_dir_all(self.state_dir(&rec.id));
        let console = rec
            .host_config
            .console_size
            .as_ref()
            .and_then(|v| (v.len() == 2 && v[0] > 0).then(|| (v[0] as u16, v[1] as u16)));
        berth_runtime::bundle::write_bundle(
            &bundle,
            &spec,
            Some(&self.log_path(&rec.id)),
            console,
            &berth_runtime::spec::HostInfo::detect(),
        )
        .map_err(|e| EngineError::BadRequest(e.to_string()))?;
        let opts = SpawnOptions {
            berth_exe: self.config.berth_exe.clone(),
            id: rec.id.clone(),
            bundle,
            state_dir: self.state_dir(&rec.id),
            runtime_root: self.runtime_root(),
            start,
        };
        match self.shims.spawn(&opts).await {
            Ok((shim, pid)) => {
                let mut r = ctr.rec.lock().unwrap_or_else(|p| p.into_inner());
                r.state.shim = true;
                r.state.pid = pid as i64;
                if start {
                    r.state.status = "running".into();
                    r.state.started_at = now();
                    r.state.finished_at = ZERO_TIME.into();
                    r.state.exit_code = 0;
                    r.state.error.clear();
                }
                let snapshot = r.clone();
                drop(r);
                self.persist_started(&snapshot)?;
                if start {
                    self.after_start(&snapshot);
                }
                Ok(shim)
            }
            Err(berth_runtime::RuntimeError::Shim { exit_code, message }) => {
                self.fill_spares();
                let mut r = ctr.rec.lock().unwrap_or_else(|p| p.into_inner());
                r.state.status = if start {
                    "exited".into()
                } else {
                    "created".into()
                };
                r.state.exit_code = exit_code as i64;
                if start {
                    r.state.finished_at = now();
                }
                r.state.error = message.clone();
                let snapshot = r.clone();
                drop(r);
                self.persist(&snapshot)?;
                Err(EngineError::StartFailed { exit_code, message })
            }
            Err(e) => Err(EngineError::Internal(e.to_string())),
        }
    }
}
