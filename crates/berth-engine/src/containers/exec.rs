//! Exec instances: create, inspect, start.

use super::*;

impl Engine {
    /// `POST /containers/{id}/exec`.
    pub fn exec_create(
        &self,
        name: &str,
        cfg: bollard_stubs::models::ExecConfig,
    ) -> Result<String> {
        let ctr = self.container(name)?;
        let r = ctr.snapshot();
        if r.state.status != "running" {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                r.id
            )));
        }
        let cmd = cfg.cmd.clone().unwrap_or_default();
        if cmd.is_empty() {
            return Err(EngineError::BadRequest("No exec command specified".into()));
        }
        let id = random_id();
        self.ctr_event(
            &r,
            &format!("exec_create: {}", cmd.join(" ")),
            &[("execID", id.clone())],
        );
        let console_size = cfg
            .console_size
            .as_ref()
            .and_then(|v| (v.len() == 2 && v[0] > 0).then(|| (v[0] as u16, v[1] as u16)));
        let opts = ExecOptions {
            args: cmd,
            env: cfg.env.clone().unwrap_or_default(),
            cwd: cfg.working_dir.clone().unwrap_or_default(),
            user: cfg.user.clone().unwrap_or_default(),
            tty: cfg.tty.unwrap_or(false),
            stdin: cfg.attach_stdin.unwrap_or(false),
            console_size,
            ..Default::default()
        };
        self.containers
            .execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                id.clone(),
                ExecInstance {
                    id: id.clone(),
                    container: r.id,
                    opts,
                    attach_stdin: cfg.attach_stdin.unwrap_or(false),
                    running: false,
                    exit_code: None,
                    pid: 0,
                },
            );
        Ok(id)
    }

    pub fn exec_get(&self, id: &str) -> Result<ExecInstance> {
        self.containers
            .execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("No such exec instance: {id}")))
    }

    pub fn exec_update(&self, id: &str, f: impl FnOnce(&mut ExecInstance)) {
        if let Some(e) = self
            .containers
            .execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(id)
        {
            f(e);
        }
    }

    /// Starts an exec; returns the stream unless detached.
    pub async fn exec_start(
        self: &Arc<Self>,
        id: &str,
        detach: bool,
        tty: Option<bool>,
    ) -> Result<Option<berth_runtime::StdioStream>> {
        let mut inst = self.exec_get(id)?;
        berth_runtime::cgroup_warm::warm();
        if let Some(t) = tty {
            inst.opts.tty = t;
        }
        inst.opts.detach = detach;
        let shim = self.shim_of(&inst.container);
        let (pid, stream) = shim.exec(&inst.opts).await.map_err(|e| match e {
            berth_runtime::RuntimeError::Shim { exit_code, message } => {
                EngineError::StartFailed { exit_code, message }
            }
            other => EngineError::Internal(other.to_string()),
        })?;
        self.exec_update(id, |e| {
            e.running = true;
            e.pid = pid as i64;
        });
        if let Ok(c) = self.container(&inst.container) {
            self.ctr_event(
                &c.snapshot(),
                &format!("exec_start: {}", inst.opts.args.join(" ")),
                &[("execID", id.to_string())],
            );
        }
        Ok(stream)
    }
}
