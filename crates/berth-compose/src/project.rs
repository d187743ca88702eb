//! Running a project through the Docker Engine API (bollard): networks, volumes,
//! images (build/pull), containers created in dependency order and labelled
//! `com.docker.compose.*`, recreation driven by the config hash and the image ID (with
//! anonymous volumes carried over to the new container), and the other verbs: ps,
//! logs, start, stop, restart, rm, down, exec.

use crate::error::{ComposeError, Result};
use crate::model::*;
use crate::plan;
use bollard::models::{
    ContainerCreateBody, ContainerSummary, DeviceMapping, EndpointSettings, HealthConfig,
    HostConfig, NetworkConnectRequest, NetworkCreateRequest, NetworkingConfig, PortBinding,
    ResourcesUlimits, RestartPolicy, RestartPolicyNameEnum, VolumeCreateRequest,
};
use bollard::query_parameters as qp;
use bollard::Docker;
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

pub const LABEL_PROJECT: &str = "com.docker.compose.project";
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
pub const LABEL_NUMBER: &str = "com.docker.compose.container-number";
pub const LABEL_ONEOFF: &str = "com.docker.compose.oneoff";
pub const LABEL_CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const LABEL_WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const LABEL_CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const LABEL_VERSION: &str = "com.docker.compose.version";
pub const LABEL_IMAGE: &str = "com.docker.compose.image";
pub const LABEL_NETWORK: &str = "com.docker.compose.network";
pub const LABEL_VOLUME: &str = "com.docker.compose.volume";

/// The compose version written in `com.docker.compose.version`: v1 files are run with
/// docker-compose 1.29's semantics, the others with compose v2's.
pub fn version_label(f: &Format) -> &'static str {
    if f.uses_networking() {
        "2.0.0"
    } else {
        "1.29.2"
    }
}

/// Makes a build context tar from (context directory, Dockerfile path in it). The
/// binary supplies it (berth's context tarring honours `.dockerignore`).
pub type ContextTar = dyn Fn(&Path, &str) -> std::io::Result<Vec<u8>> + Send + Sync;

/// Where progress lines go (`Container app-web-1  Started`).
pub type Progress = dyn Fn(&str) + Send + Sync;

/// When to build images of services that have `build:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BuildPolicy {
    /// Build if the image is missing.
    #[default]
    IfMissing,
    /// `--build`.
    Always,
    /// `--no-build`.
    Never,
}

/// `up` options.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    pub services: Vec<String>,
    pub build: BuildPolicy,
    pub force_recreate: bool,
    pub no_start: bool,
    pub remove_orphans: bool,
}

/// `down` options.
#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    pub volumes: bool,
    /// `--rmi local|all`.
    pub rmi: Option<String>,
    pub remove_orphans: bool,
    pub timeout: Option<i32>,
}

/// `logs` options.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub services: Vec<String>,
    pub follow: bool,
    pub timestamps: bool,
    pub tail: Option<String>,
}

/// A project bound to a daemon.
pub struct Runner {
    pub docker: Docker,
    pub project: Project,
    pub context_tar: Box<ContextTar>,
    pub progress: Box<Progress>,
}

fn api(ctx: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> ComposeError {
    ComposeError::api(ctx)
}

fn is_404(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// A container's name without the leading `/`.
pub fn container_name(c: &ContainerSummary) -> String {
    c.names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default()
}

/// A label of a listed container.
pub fn label<'a>(c: &'a ContainerSummary, k: &str) -> &'a str {
    c.labels
        .as_ref()
        .and_then(|l| l.get(k))
        .map(String::as_str)
        .unwrap_or("")
}

fn is_running(c: &ContainerSummary) -> bool {
    matches!(
        c.state,
        Some(bollard::models::ContainerSummaryStateEnum::RUNNING)
            | Some(bollard::models::ContainerSummaryStateEnum::RESTARTING)
            | Some(bollard::models::ContainerSummaryStateEnum::PAUSED)
    )
}

/// A listed container's `com.docker.compose.container-number` (0 when missing).
pub fn number(c: &ContainerSummary) -> u32 {
    label(c, LABEL_NUMBER).parse().unwrap_or(0)
}

/// Splits `name[:tag]` / `name@digest` for `POST /images/create`.
fn repo_tag(r: &str) -> (String, String) {
    if r.contains('@') {
        return (r.to_string(), String::new());
    }
    let last = r.rfind('/').map(|i| i + 1).unwrap_or(0);
    match r[last..].rfind(':') {
        Some(i) => (r[..last + i].to_string(), r[last + i + 1..].to_string()),
        None => (r.to_string(), "latest".to_string()),
    }
}

impl Runner {
    fn say(&self, s: &str) {
        (self.progress)(s)
    }

    fn sep(&self) -> char {
        self.project.format.separator()
    }

    /// The project's containers (one-offs aside), optionally only running ones and
    /// only of some services.
    pub async fn containers(
        &self,
        all: bool,
        services: &[String],
    ) -> Result<Vec<ContainerSummary>> {
        let mut filters = HashMap::new();
        filters.insert(
            "label".to_string(),
            vec![
                format!("{LABEL_PROJECT}={}", self.project.name),
                format!("{LABEL_ONEOFF}=False"),
            ],
        );
        let list = self
            .docker
            .list_containers(Some(qp::ListContainersOptions {
                all,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(api("listing the project's containers"))?;
        let mut list: Vec<ContainerSummary> = list
            .into_iter()
            // Daemons that ignore a filter must not make us touch other projects.
            .filter(|c| label(c, LABEL_PROJECT) == self.project.name)
            .filter(|c| {
                services.is_empty() || services.iter().any(|s| s == label(c, LABEL_SERVICE))
            })
            .collect();
        list.sort_by_key(|c| {
            (
                label(c, LABEL_SERVICE).to_string(),
                label(c, LABEL_NUMBER).parse::<u32>().unwrap_or(0),
            )
        });
        Ok(list)
    }

    fn project_labels(&self) -> HashMap<String, String> {
        let mut l = HashMap::new();
        l.insert(LABEL_PROJECT.to_string(), self.project.name.clone());
        l.insert(
            LABEL_VERSION.to_string(),
            version_label(&self.project.format).to_string(),
        );
        l
    }

    // ---- networks and volumes ----

    /// The networks a service joins: (daemon name, aliases), first one primary.
    fn service_networks(&self, s: &Service) -> Vec<(String, ServiceNetwork)> {
        if !self.project.format.uses_networking() || s.network_mode.is_some() {
            return Vec::new();
        }
        let nets: Vec<(String, ServiceNetwork)> = if s.networks.is_empty() {
            vec![("default".to_string(), ServiceNetwork::default())]
        } else {
            s.networks
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        nets.into_iter()
            .map(|(k, mut v)| {
                let name = if k == "default" && !self.project.networks.contains_key("default") {
                    self.project.default_network()
                } else {
                    self.project.network_name(&k)
                };
                v.aliases.insert(0, s.name.clone());
                (name, v)
            })
            .collect()
    }

    async fn ensure_networks(&self, services: &[String]) -> Result<()> {
        if !self.project.format.uses_networking() {
            return Ok(());
        }
        let mut wanted: BTreeSet<String> = BTreeSet::new();
        for s in services {
            if let Some(svc) = self.project.services.get(s) {
                if svc.network_mode.is_some() {
                    continue;
                }
                if svc.networks.is_empty() {
                    wanted.insert("default".into());
                }
                wanted.extend(svc.networks.keys().cloned());
            }
        }
        for key in wanted {
            let def = self.project.networks.get(&key).cloned().unwrap_or_default();
            let name = if key == "default" && !self.project.networks.contains_key("default") {
                self.project.default_network()
            } else {
                self.project.network_name(&key)
            };
            match self
                .docker
                .inspect_network(&name, None::<qp::InspectNetworkOptions>)
                .await
            {
                Ok(_) => continue,
                Err(e) if is_404(&e) => {}
                Err(e) => return Err(api(format!("inspecting network {name}"))(e)),
            }
            if def.external {
                return Err(ComposeError::Other(format!(
                    "network {name} declared as external, but could not be found"
                )));
            }
            let mut labels = self.project_labels();
            labels.insert(LABEL_NETWORK.to_string(), key.clone());
            labels.extend(def.labels.clone());
            self.docker
                .create_network(NetworkCreateRequest {
                    name: name.clone(),
                    driver: Some(def.driver.clone().unwrap_or_else(|| "bridge".into())),
                    internal: Some(def.internal),
                    labels: Some(labels),
                    ..Default::default()
                })
                .await
                .map_err(api(format!("creating network {name}")))?;
            self.say(&format!("Network {name}  Created"));
        }
        Ok(())
    }

    async fn ensure_volumes(&self, services: &[String]) -> Result<()> {
        let mut wanted = BTreeSet::new();
        for s in services {
            if let Some(svc) = self.project.services.get(s) {
                for m in &svc.volumes {
                    if let (MountKind::Volume, Some(src)) = (&m.kind, &m.source) {
                        if self.project.volumes.contains_key(src) {
                            wanted.insert(src.clone());
                        }
                    }
                }
            }
        }
        for key in wanted {
            let def = self.project.volumes.get(&key).cloned().unwrap_or_default();
            let name = self.project.volume_name(&key);
            match self.docker.inspect_volume(&name).await {
                Ok(_) => continue,
                Err(e) if is_404(&e) => {}
                Err(e) => return Err(api(format!("inspecting volume {name}"))(e)),
            }
            if def.external {
                return Err(ComposeError::Other(format!(
                    "external volume {name:?} not found"
                )));
            }
            let mut labels = self.project_labels();
            labels.insert(LABEL_VOLUME.to_string(), key.clone());
            labels.extend(def.labels.clone());
            self.docker
                .create_volume(VolumeCreateRequest {
                    name: Some(name.clone()),
                    driver: def.driver.clone(),
                    driver_opts: (!def.driver_opts.is_empty())
                        .then(|| def.driver_opts.clone().into_iter().collect()),
                    labels: Some(labels),
                    ..Default::default()
                })
                .await
                .map_err(api(format!("creating volume {name}")))?;
            self.say(&format!("Volume {name}  Created"));
        }
        Ok(())
    }

    // ---- images ----

    async fn image_id(&self, image: &str) -> Result<Option<String>> {
        match self.docker.inspect_image(image).await {
            Ok(i) => Ok(i.id),
            Err(e) if is_404(&e) => Ok(None),
            Err(e) => Err(api(format!("inspecting image {image}"))(e)),
        }
    }

    /// Builds one service's image; returns its ID.
    pub async fn build_service(&self, name: &str) -> Result<String> {
        let svc = self
            .project
            .services
            .get(name)
            .ok_or_else(|| ComposeError::NoSuchService(name.to_string()))?;
        let Some(b) = &svc.build else {
            return Err(ComposeError::Other(format!(
                "service {name} has no build section"
            )));
        };
        let tag = self.project.image_name(svc);
        self.say(&format!("Building {name}"));
        let ctx = b.context.clone();
        if !ctx.is_dir() {
            return Err(ComposeError::Other(format!(
                "service {name}: build context {} is not a directory",
                ctx.display()
            )));
        }
        let df = b.dockerfile.clone();
        let tar = {
            let f = &self.context_tar;
            f(&ctx, &df).map_err(|e| ComposeError::Io {
                path: ctx.clone(),
                err: e,
            })?
        };
        let opts = qp::BuildImageOptions {
            dockerfile: df,
            t: Some(tag.clone()),
            rm: true,
            buildargs: Some(b.args.clone().into_iter().collect()),
            labels: Some(b.labels.clone().into_iter().collect()),
            target: b.target.clone().unwrap_or_default(),
            ..Default::default()
        };
        let mut s = self
            .docker
            .build_image(opts, None, Some(bollard::body_full(tar.into())));
        let mut id = None;
        while let Some(item) = s.next().await {
            let info = item.map_err(api(format!("building {name}")))?;
            if let Some(e) = info.error_detail {
                return Err(ComposeError::Other(format!(
                    "service {name} failed to build: {}",
                    e.message.unwrap_or_default()
                )));
            }
            if let Some(text) = info.stream {
                for l in text.lines().filter(|l| !l.trim().is_empty()) {
                    self.say(&format!("{name}  {l}"));
                }
            }
            if let Some(a) = info.aux.and_then(|a| a.id) {
                id = Some(a);
            }
        }
        drop(s);
        match id {
            Some(i) => Ok(i),
            None => self
                .image_id(&tag)
                .await?
                .ok_or_else(|| ComposeError::Other(format!("built image {tag} not found"))),
        }
    }

    /// `build`: every (selected) service with a build section.
    pub async fn build(&self, services: &[String]) -> Result<()> {
        let names = if services.is_empty() {
            self.project.services.keys().cloned().collect()
        } else {
            plan::order(&self.project, services)?
                .into_iter()
                .filter(|n| services.contains(n))
                .collect::<Vec<_>>()
        };
        for n in names {
            if self.project.services[&n].build.is_some() {
                self.build_service(&n).await?;
            } else if !services.is_empty() {
                self.say(&format!("{n} uses an image, skipping"));
            }
        }
        Ok(())
    }

    /// Pulls one image.
    pub async fn pull_image(&self, image: &str) -> Result<()> {
        let (repo, tag) = repo_tag(image);
        self.say(&format!("Pulling {image}"));
        let mut s = self.docker.create_image(
            Some(qp::CreateImageOptions {
                from_image: Some(repo),
                tag: (!tag.is_empty()).then_some(tag),
                ..Default::default()
            }),
            None,
            None,
        );
        while let Some(item) = s.next().await {
            let info = item.map_err(api(format!("pulling {image}")))?;
            if let Some(e) = info.error_detail {
                return Err(ComposeError::Other(format!(
                    "pulling {image}: {}",
                    e.message.unwrap_or_default()
                )));
            }
        }
        Ok(())
    }

    /// `pull`: services with an `image:` (build-only services are skipped).
    pub async fn pull(&self, services: &[String]) -> Result<()> {
        for n in plan::order(&self.project, services)? {
            if !services.is_empty() && !services.contains(&n) {
                continue;
            }
            let s = &self.project.services[&n];
            match (&s.image, &s.build) {
                (Some(i), _) => self.pull_image(i).await?,
                (None, _) => self.say(&format!("{n} is built, skipping pull")),
            }
        }
        Ok(())
    }

    async fn ensure_image(&self, s: &Service, policy: BuildPolicy) -> Result<String> {
        let image = self.project.image_name(s);
        if s.build.is_some() {
            let existing = self.image_id(&image).await?;
            return match (policy, existing) {
                (BuildPolicy::Always, _) | (BuildPolicy::IfMissing, None) => {
                    self.build_service(&s.name).await
                }
                (_, Some(id)) => Ok(id),
                (BuildPolicy::Never, None) => Err(ComposeError::Other(format!(
                    "service {} has no image {image} and --no-build was given",
                    s.name
                ))),
            };
        }
        if let Some(id) = self.image_id(&image).await? {
            return Ok(id);
        }
        self.pull_image(&image).await?;
        self.image_id(&image)
            .await?
            .ok_or_else(|| ComposeError::Other(format!("image {image} not found after pull")))
    }

    // ---- containers ----

    fn container_body(
        &self,
        s: &Service,
        number: u32,
        image_id: &str,
        carried: &[String],
        secret_binds: &[String],
    ) -> Result<ContainerCreateBody> {
        let p = &self.project;
        let mut labels: HashMap<String, String> = s.labels.clone().into_iter().collect();
        labels.extend(self.project_labels());
        labels.insert(LABEL_SERVICE.into(), s.name.clone());
        labels.insert(LABEL_NUMBER.into(), number.to_string());
        labels.insert(LABEL_ONEOFF.into(), "False".into());
        labels.insert(LABEL_CONFIG_HASH.into(), s.config_hash());
        labels.insert(
            LABEL_WORKING_DIR.into(),
            p.working_dir.to_string_lossy().into_owned(),
        );
        labels.insert(
            LABEL_CONFIG_FILES.into(),
            p.config_files
                .iter()
                .map(|f| f.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(","),
        );
        labels.insert(LABEL_IMAGE.into(), image_id.to_string());

        let mut binds: Vec<String> = Vec::new();
        let mut anon: Vec<String> = Vec::new();
        let mut tmpfs: HashMap<String, String> = s
            .tmpfs
            .iter()
            .map(|t| match t.split_once(':') {
                Some((p, o)) => (p.to_string(), o.to_string()),
                None => (t.clone(), String::new()),
            })
            .collect();
        for m in &s.volumes {
            let mut opts = Vec::new();
            if m.read_only {
                opts.push("ro".to_string());
            }
            if let Some(x) = &m.mode {
                opts.push(x.clone());
            }
            let suffix = if opts.is_empty() {
                String::new()
            } else {
                format!(":{}", opts.join(","))
            };
            match (&m.kind, &m.source) {
                (MountKind::Bind, Some(src)) => binds.push(format!("{src}:{}{suffix}", m.target)),
                (MountKind::Volume, Some(src)) => {
                    binds.push(format!("{}:{}{suffix}", p.volume_name(src), m.target))
                }
                (MountKind::Tmpfs, _) => {
                    tmpfs.insert(m.target.clone(), String::new());
                }
                _ => anon.push(m.target.clone()),
            }
        }
        // Secrets and configs with a file source, read-only.
        binds.extend(secret_binds.iter().cloned());
        // Anonymous volumes of the container being replaced keep their data.
        binds.extend(carried.iter().cloned());
        let carried_targets: BTreeSet<&str> =
            carried.iter().filter_map(|b| b.split(':').nth(1)).collect();
        anon.retain(|a| !carried_targets.contains(a.as_str()));

        let mut port_bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        let mut exposed: BTreeSet<String> = BTreeSet::new();
        for pt in &s.ports {
            let key = format!("{}/{}", pt.target, pt.protocol);
            exposed.insert(key.clone());
            port_bindings
                .entry(key)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: pt.host_ip.clone(),
                    host_port: pt.published.clone(),
                });
        }
        for e in &s.expose {
            exposed.insert(if e.contains('/') {
                e.clone()
            } else {
                format!("{e}/tcp")
            });
        }

        let mut links: Vec<String> = Vec::new();
        for l in &s.links {
            let Some(target) = p.services.get(&l.service) else {
                continue;
            };
            let cname = p.container_name(target, 1);
            links.push(format!("{cname}:{}", l.alias));
            if !p.format.uses_networking() {
                // docker-compose 1.x also links the container's own names.
                links.push(format!("{cname}:{cname}"));
                let short = format!("{}{}1", l.service, self.sep());
                if target.container_name.is_none() && short != l.alias {
                    links.push(format!("{cname}:{short}"));
                }
            }
        }
        links.extend(s.external_links.iter().map(|l| {
            if l.contains(':') {
                l.clone()
            } else {
                format!("{l}:{l}")
            }
        }));

        let volumes_from: Vec<String> = s
            .volumes_from
            .iter()
            .map(|v| {
                if let Some(c) = v.strip_prefix("container:") {
                    return c.to_string();
                }
                let (svc, mode) = v.split_once(':').unwrap_or((v, ""));
                let name = p
                    .services
                    .get(svc)
                    .map(|t| p.container_name(t, 1))
                    .unwrap_or_else(|| svc.to_string());
                if mode.is_empty() {
                    name
                } else {
                    format!("{name}:{mode}")
                }
            })
            .collect();

        let nets = self.service_networks(s);
        let network_mode = match &s.network_mode {
            Some(m) => Some(match m.strip_prefix("service:") {
                Some(svc) => {
                    let t = p.services.get(svc).ok_or_else(|| {
                        ComposeError::Other(format!("network_mode: no such service {svc}"))
                    })?;
                    format!("container:{}", p.container_name(t, 1))
                }
                None => m.clone(),
            }),
            None => nets.first().map(|(n, _)| n.clone()),
        };
        let networking_config = nets.first().map(|(n, sn)| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(n.clone(), endpoint(sn))])),
        });

        let restart_policy = s.restart.as_ref().map(|r| {
            let (name, count) = r.split_once(':').unwrap_or((r, ""));
            RestartPolicy {
                name: Some(match name {
                    "always" => RestartPolicyNameEnum::ALWAYS,
                    "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
                    "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
                    _ => RestartPolicyNameEnum::NO,
                }),
                maximum_retry_count: count.parse().ok(),
            }
        });
        let healthcheck = s.healthcheck.as_ref().map(|h| HealthConfig {
            test: (!h.test.is_empty()).then(|| h.test.clone()),
            interval: h.interval_ns,
            timeout: h.timeout_ns,
            start_period: h.start_period_ns,
            retries: h.retries,
            ..Default::default()
        });
        let env: Vec<String> = s
            .environment
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let nonempty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        Ok(ContainerCreateBody {
            image: Some(p.image_name(s)),
            cmd: s.command.clone(),
            entrypoint: s.entrypoint.clone(),
            env: nonempty(&env),
            labels: Some(labels),
            hostname: s.hostname.clone(),
            domainname: s.domainname.clone(),
            user: s.user.clone(),
            working_dir: s.working_dir.clone(),
            tty: Some(s.tty),
            open_stdin: Some(s.stdin_open),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            stop_signal: s.stop_signal.clone(),
            stop_timeout: s.stop_grace_period_s,
            exposed_ports: (!exposed.is_empty()).then(|| exposed.into_iter().collect()),
            volumes: nonempty(&anon),
            healthcheck,
            host_config: Some(HostConfig {
                binds: nonempty(&binds),
                port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
                restart_policy,
                links: nonempty(&links),
                volumes_from: nonempty(&volumes_from),
                network_mode,
                dns: nonempty(&s.dns),
                dns_search: nonempty(&s.dns_search),
                extra_hosts: nonempty(&s.extra_hosts),
                privileged: Some(s.privileged),
                readonly_rootfs: Some(s.read_only),
                init: s.init.then_some(true),
                cap_add: nonempty(&s.cap_add),
                cap_drop: nonempty(&s.cap_drop),
                security_opt: nonempty(&s.security_opt),
                memory: s.mem_limit,
                cpu_shares: s.cpu_shares,
                pids_limit: s.pids_limit,
                tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
                pid_mode: s.pid.clone(),
                ipc_mode: s.ipc.clone(),
                shm_size: s.shm_size,
                sysctls: (!s.sysctls.is_empty()).then(|| s.sysctls.clone().into_iter().collect()),
                ulimits: (!s.ulimits.is_empty()).then(|| {
                    s.ulimits
                        .iter()
                        .map(|(name, u)| ResourcesUlimits {
                            name: Some(name.clone()),
                            soft: Some(u.soft),
                            hard: Some(u.hard),
                        })
                        .collect()
                }),
                devices: (!s.devices.is_empty()).then(|| {
                    s.devices
                        .iter()
                        .map(|d| DeviceMapping {
                            path_on_host: Some(d.source.clone()),
                            path_in_container: Some(d.target.clone()),
                            cgroup_permissions: Some(d.permissions.clone()),
                        })
                        .collect()
                }),
                nano_cpus: s.nano_cpus,
                cpu_period: s.cpu_period,
                cpu_quota: s.cpu_quota,
                cpuset_cpus: s.cpuset.clone(),
                memory_reservation: s.mem_reservation,
                memory_swap: s.memswap_limit,
                uts_mode: s.uts.clone(),
                group_add: nonempty(&s.group_add),
                ..Default::default()
            }),
            networking_config,
            ..Default::default()
        })
    }

    async fn create(
        &self,
        s: &Service,
        number: u32,
        image_id: &str,
        carried: &[String],
    ) -> Result<String> {
        let name = self.project.container_name(s, number);
        let mut secret_binds = Vec::new();
        let mut copies = Vec::new();
        for d in crate::secrets::deliveries(&self.project, s)? {
            match d {
                crate::secrets::Delivery::Bind(b) => secret_binds.push(b),
                crate::secrets::Delivery::Copy(tar) => copies.push(tar),
            }
        }
        let body = self.container_body(s, number, image_id, carried, &secret_binds)?;
        let r = self
            .docker
            .create_container(
                Some(qp::CreateContainerOptions {
                    name: Some(name.clone()),
                    platform: String::new(),
                }),
                body,
            )
            .await
            .map_err(api(format!("creating container {name}")))?;
        // Secrets and configs from the environment or inline: written in before start.
        for tar in copies {
            self.docker
                .upload_to_container(
                    &r.id,
                    Some(qp::UploadToContainerOptions {
                        path: "/".into(),
                        ..Default::default()
                    }),
                    bollard::body_full(tar.into()),
                )
                .await
                .map_err(api(format!("copying secrets and configs into {name}")))?;
        }
        // Further networks are connected after create (one endpoint at create).
        for (net, sn) in self.service_networks(s).iter().skip(1) {
            self.docker
                .connect_network(
                    net,
                    NetworkConnectRequest {
                        container: r.id.clone(),
                        endpoint_config: Some(endpoint(sn)),
                    },
                )
                .await
                .map_err(api(format!("connecting {name} to {net}")))?;
        }
        self.say(&format!("Container {name}  Created"));
        Ok(r.id)
    }

    async fn start_one(&self, id: &str, name: &str) -> Result<()> {
        self.docker
            .start_container(id, None::<qp::StartContainerOptions>)
            .await
            .map_err(api(format!("starting {name}")))?;
        self.say(&format!("Container {name}  Started"));
        Ok(())
    }

    /// Anonymous volumes of an old container that the new one should keep, as binds.
    async fn carried_volumes(&self, id: &str, s: &Service) -> Result<Vec<String>> {
        let info = self
            .docker
            .inspect_container(id, None::<qp::InspectContainerOptions>)
            .await
            .map_err(api("inspecting the old container"))?;
        let explicit: BTreeSet<&str> = s
            .volumes
            .iter()
            .filter(|m| m.source.is_some() || m.kind == MountKind::Tmpfs)
            .map(|m| m.target.as_str())
            .collect();
        let mut out = Vec::new();
        for m in info.mounts.unwrap_or_default() {
            let (Some(name), Some(dest)) = (m.name, m.destination) else {
                continue;
            };
            if m.typ.as_deref() != Some("volume") || explicit.contains(dest.as_str()) {
                continue;
            }
            out.push(format!("{name}:{dest}"));
        }
        Ok(out)
    }

    /// Whether containers of service `svc` are orphans: the service is neither in the
    /// project nor disabled by profiles.
    fn is_orphan(&self, svc: &str) -> bool {
        !self.project.services.contains_key(svc) && !self.project.disabled.contains_key(svc)
    }

    /// `up`: returns the (service, container ID) pairs that are up, one per replica.
    /// Each service gets `scale` containers, numbered from 1: missing ones are created
    /// with the next numbers, extra ones (the highest numbers) stopped and removed.
    pub async fn up(&self, o: &UpOptions) -> Result<Vec<(String, String)>> {
        plan::validate(&self.project)?;
        let order = plan::order(&self.project, &o.services)?;
        let existing = self.containers(true, &[]).await?;
        let orphans: Vec<&ContainerSummary> = existing
            .iter()
            .filter(|c| self.is_orphan(label(c, LABEL_SERVICE)))
            .collect();
        if !orphans.is_empty() {
            if o.remove_orphans {
                for c in &orphans {
                    let id = c.id.clone().unwrap_or_default();
                    self.remove(&id, &container_name(c), true, false).await?;
                }
            } else {
                let names: Vec<String> = orphans.iter().map(|c| container_name(c)).collect();
                tracing::warn!(
                    "Found orphan containers ({}) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                    names.join(", ")
                );
            }
        }
        self.ensure_networks(&order).await?;
        self.ensure_volumes(&order).await?;
        let mut up: Vec<(String, String)> = Vec::new();
        let mut replaced: BTreeSet<String> = BTreeSet::new();
        for name in &order {
            let s = &self.project.services[name];
            for (dep, cond) in &s.depends_on {
                if *cond == DependsCondition::ServiceStarted || o.no_start {
                    continue;
                }
                for (_, id) in up.iter().filter(|(n, _)| n == dep) {
                    self.wait_dependency(id, dep, *cond).await?;
                }
            }
            let expected = s.replicas() as usize;
            let mut mine: Vec<&ContainerSummary> = existing
                .iter()
                .filter(|c| label(c, LABEL_SERVICE) == name)
                .collect();
            mine.sort_by_key(|c| number(c));
            let keep = expected.min(mine.len());
            // Scaling down: the highest numbers go.
            for c in mine[keep..].iter().rev() {
                self.scale_down(c).await?;
            }
            if expected == 0 {
                continue;
            }
            let image_id = self.ensure_image(s, o.build).await?;
            let hash = s.config_hash();
            // A container bound to a dependency's container (legacy links in v1
            // files, volumes_from, network_mode: service:) must follow it when it is
            // replaced, as docker-compose 1.29 does.
            let dep_replaced =
                plan::dependencies(&self.project, name)
                    .into_iter()
                    .any(|(d, via)| {
                        replaced.contains(&d)
                            && (via != "links" || !self.project.format.uses_networking())
                            && via != "depends_on"
                    });
            for c in &mine[..keep] {
                let id = c.id.clone().unwrap_or_default();
                let cname = container_name(c);
                let current_image = c.image_id.clone().unwrap_or_default();
                let same = label(c, LABEL_CONFIG_HASH) == hash
                    && (current_image.is_empty() || current_image == image_id)
                    && !o.force_recreate
                    && !dep_replaced;
                let id = if same {
                    if is_running(c) {
                        // Each tool's own wording.
                        if self.project.format.uses_networking() {
                            self.say(&format!("Container {cname}  Running"));
                        } else {
                            self.say(&format!("{cname} is up-to-date"));
                        }
                    } else if !o.no_start {
                        self.start_one(&id, &cname).await?;
                    }
                    id
                } else {
                    // Others bind to the first container by name.
                    if number(c) == 1 {
                        replaced.insert(name.clone());
                    }
                    self.recreate(s, c, &image_id, o.no_start).await?
                };
                up.push((name.clone(), id));
            }
            let next = mine.iter().map(|c| number(c)).max().unwrap_or(0) + 1;
            for n in next..next + (expected - keep) as u32 {
                if n == 1 {
                    replaced.insert(name.clone());
                }
                let id = self.create(s, n, &image_id, &[]).await?;
                if !o.no_start {
                    self.start_one(&id, &self.project.container_name(s, n))
                        .await?;
                }
                up.push((name.clone(), id));
            }
        }
        Ok(up)
    }

    /// Stops and removes a container a smaller scale no longer wants.
    async fn scale_down(&self, c: &ContainerSummary) -> Result<()> {
        let id = c.id.clone().unwrap_or_default();
        let name = container_name(c);
        if is_running(c) {
            self.say(&format!("Container {name}  Stopping"));
            let svc = self.project.services.get(label(c, LABEL_SERVICE));
            self.docker
                .stop_container(
                    &id,
                    Some(qp::StopContainerOptions {
                        signal: None,
                        t: svc.and_then(|s| s.stop_grace_period_s).map(|t| t as i32),
                    }),
                )
                .await
                .or_else(|e| if is_404(&e) { Ok(()) } else { Err(e) })
                .map_err(api(format!("stopping {name}")))?;
            self.say(&format!("Container {name}  Stopped"));
        }
        self.remove(&id, &name, true, false).await
    }

    /// Waits until a dependency is healthy, or has exited 0 (`depends_on` conditions).
    async fn wait_dependency(&self, id: &str, dep: &str, cond: DependsCondition) -> Result<()> {
        use bollard::models::HealthStatusEnum;
        let mut said = false;
        loop {
            let info = self
                .docker
                .inspect_container(id, None::<qp::InspectContainerOptions>)
                .await
                .map_err(api(format!("inspecting {dep}")))?;
            let name = info
                .name
                .clone()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string();
            let state = info.state.unwrap_or_default();
            let running = state.running.unwrap_or(false);
            let exit = state.exit_code.unwrap_or(0);
            match cond {
                DependsCondition::ServiceHealthy => {
                    match state.health.and_then(|h| h.status) {
                        Some(HealthStatusEnum::HEALTHY) => {
                            self.say(&format!("Container {name}  Healthy"));
                            return Ok(());
                        }
                        Some(HealthStatusEnum::UNHEALTHY) => {
                            return Err(ComposeError::Other(format!(
                                "dependency failed to start: container {name} is unhealthy"
                            )))
                        }
                        Some(HealthStatusEnum::STARTING) => {}
                        _ => {
                            return Err(ComposeError::Other(format!(
                                "container {name} has no healthcheck configured (service {dep} is a service_healthy dependency)"
                            )))
                        }
                    }
                    if !running {
                        return Err(ComposeError::Other(format!(
                            "dependency failed to start: container {name} exited ({exit})"
                        )));
                    }
                }
                DependsCondition::ServiceCompletedSuccessfully => {
                    if !running {
                        if exit == 0 {
                            self.say(&format!("Container {name}  Exited"));
                            return Ok(());
                        }
                        return Err(ComposeError::Other(format!(
                            "service {dep:?} didn't complete successfully: exit {exit}"
                        )));
                    }
                }
                DependsCondition::ServiceStarted => return Ok(()),
            }
            if !said {
                self.say(&format!("Container {name}  Waiting"));
                said = true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    async fn recreate(
        &self,
        s: &Service,
        old: &ContainerSummary,
        image_id: &str,
        no_start: bool,
    ) -> Result<String> {
        let old_id = old.id.clone().unwrap_or_default();
        let old_name = container_name(old);
        let number = label(old, LABEL_NUMBER).parse().unwrap_or(1);
        self.say(&format!("Container {old_name}  Recreate"));
        let carried = self.carried_volumes(&old_id, s).await?;
        self.docker
            .stop_container(
                &old_id,
                Some(qp::StopContainerOptions {
                    signal: None,
                    t: s.stop_grace_period_s.map(|t| t as i32),
                }),
            )
            .await
            .or_else(|e| if is_404(&e) { Ok(()) } else { Err(e) })
            .map_err(api(format!("stopping {old_name}")))?;
        let short: String = old_id.chars().take(12).collect();
        self.docker
            .rename_container(
                &old_id,
                qp::RenameContainerOptions {
                    name: format!("{short}_{old_name}"),
                },
            )
            .await
            .map_err(api(format!("renaming {old_name}")))?;
        let id = match self.create(s, number, image_id, &carried).await {
            Ok(id) => id,
            Err(e) => {
                // Put the old one back so nothing is lost.
                let _ = self
                    .docker
                    .rename_container(&old_id, qp::RenameContainerOptions { name: old_name })
                    .await;
                return Err(e);
            }
        };
        self.docker
            .remove_container(
                &old_id,
                Some(qp::RemoveContainerOptions {
                    force: true,
                    v: false,
                    link: false,
                }),
            )
            .await
            .map_err(api(format!("removing the old {old_name}")))?;
        let name = self.project.container_name(s, number);
        self.say(&format!("Container {name}  Recreated"));
        if !no_start {
            self.start_one(&id, &name).await?;
        }
        Ok(id)
    }

    /// Service containers in reverse dependency order (dependents first), orphans first.
    async fn in_reverse_order(
        &self,
        all: bool,
        services: &[String],
    ) -> Result<Vec<ContainerSummary>> {
        let list = self.containers(all, services).await?;
        let order = plan::order(&self.project, &[]).unwrap_or_default();
        let rank = |c: &ContainerSummary| {
            order
                .iter()
                .position(|s| s == label(c, LABEL_SERVICE))
                .map(|p| p + 1)
                .unwrap_or(usize::MAX)
        };
        let mut list = list;
        list.sort_by_key(|c| std::cmp::Reverse(rank(c)));
        Ok(list)
    }

    /// `stop`.
    pub async fn stop(&self, services: &[String], timeout: Option<i32>) -> Result<()> {
        for c in self.in_reverse_order(false, services).await? {
            let name = container_name(&c);
            self.say(&format!("Container {name}  Stopping"));
            self.docker
                .stop_container(
                    c.id.as_deref().unwrap_or_default(),
                    Some(qp::StopContainerOptions {
                        signal: None,
                        t: timeout,
                    }),
                )
                .await
                .map_err(api(format!("stopping {name}")))?;
            self.say(&format!("Container {name}  Stopped"));
        }
        Ok(())
    }

    /// `start`: existing containers, dependencies first.
    pub async fn start(&self, services: &[String]) -> Result<()> {
        let list = self.containers(true, services).await?;
        if list.is_empty() {
            return Err(ComposeError::Other("no containers to start".into()));
        }
        for name in plan::order(&self.project, services)? {
            for c in list.iter().filter(|c| label(c, LABEL_SERVICE) == name) {
                if !is_running(c) {
                    self.start_one(c.id.as_deref().unwrap_or_default(), &container_name(c))
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// `restart`.
    pub async fn restart(&self, services: &[String], timeout: Option<i32>) -> Result<()> {
        let list = self.containers(true, services).await?;
        for name in plan::order(&self.project, services)? {
            for c in list.iter().filter(|c| label(c, LABEL_SERVICE) == name) {
                let cname = container_name(c);
                self.docker
                    .restart_container(
                        c.id.as_deref().unwrap_or_default(),
                        Some(qp::RestartContainerOptions {
                            signal: None,
                            t: timeout,
                        }),
                    )
                    .await
                    .map_err(api(format!("restarting {cname}")))?;
                self.say(&format!("Container {cname}  Restarted"));
            }
        }
        Ok(())
    }

    async fn remove(&self, id: &str, name: &str, force: bool, volumes: bool) -> Result<()> {
        self.say(&format!("Container {name}  Removing"));
        match self
            .docker
            .remove_container(
                id,
                Some(qp::RemoveContainerOptions {
                    force,
                    v: volumes,
                    link: false,
                }),
            )
            .await
        {
            Ok(()) => {}
            Err(e) if is_404(&e) => {}
            Err(e) => return Err(api(format!("removing {name}"))(e)),
        }
        self.say(&format!("Container {name}  Removed"));
        Ok(())
    }

    /// `rm`: stopped containers (with `stop_first`, running ones are stopped first).
    /// Returns the names removed.
    pub async fn rm(
        &self,
        services: &[String],
        stop_first: bool,
        volumes: bool,
    ) -> Result<Vec<String>> {
        if stop_first {
            self.stop(services, None).await?;
        }
        let mut removed = Vec::new();
        for c in self.in_reverse_order(true, services).await? {
            if is_running(&c) {
                continue;
            }
            let name = container_name(&c);
            self.remove(c.id.as_deref().unwrap_or_default(), &name, false, volumes)
                .await?;
            removed.push(name);
        }
        Ok(removed)
    }

    /// The stopped containers `rm` would remove.
    pub async fn removable(&self, services: &[String]) -> Result<Vec<String>> {
        Ok(self
            .containers(true, services)
            .await?
            .iter()
            .filter(|c| !is_running(c))
            .map(container_name)
            .collect())
    }

    /// `down`.
    pub async fn down(&self, o: &DownOptions) -> Result<()> {
        let list = self.in_reverse_order(true, &[]).await?;
        let mut images_used: BTreeSet<String> = BTreeSet::new();
        for c in &list {
            let svc = label(c, LABEL_SERVICE);
            if let Some(d) = self.project.disabled.get(svc) {
                // As compose v2: a disabled service's containers are neither the
                // project's to remove nor orphans.
                tracing::warn!(
                    "container {} left in place: service {svc:?} is disabled (its profiles {} are not active; pass --profile {} to remove it)",
                    container_name(c),
                    d.profiles.join(", "),
                    d.profiles.first().map(String::as_str).unwrap_or("NAME")
                );
                continue;
            }
            let orphan = !self.project.services.contains_key(svc);
            if orphan && !o.remove_orphans {
                tracing::warn!(
                    "orphan container {} left in place (use --remove-orphans)",
                    container_name(c)
                );
                continue;
            }
            let id = c.id.clone().unwrap_or_default();
            let name = container_name(c);
            if is_running(c) {
                self.say(&format!("Container {name}  Stopping"));
                self.docker
                    .stop_container(
                        &id,
                        Some(qp::StopContainerOptions {
                            signal: None,
                            t: o.timeout,
                        }),
                    )
                    .await
                    .or_else(|e| if is_404(&e) { Ok(()) } else { Err(e) })
                    .map_err(api(format!("stopping {name}")))?;
                self.say(&format!("Container {name}  Stopped"));
            }
            self.remove(&id, &name, true, o.volumes).await?;
        }
        // Networks with the project's label (external ones never have it).
        let mut filters = HashMap::new();
        filters.insert(
            "label".to_string(),
            vec![format!("{LABEL_PROJECT}={}", self.project.name)],
        );
        let nets = self
            .docker
            .list_networks(Some(qp::ListNetworksOptions {
                filters: Some(filters.clone()),
            }))
            .await
            .map_err(api("listing networks"))?;
        for n in nets {
            let labels = n.labels.clone().unwrap_or_default();
            if labels.get(LABEL_PROJECT) != Some(&self.project.name) {
                continue;
            }
            let name = n.name.clone().unwrap_or_default();
            match self.docker.remove_network(&name).await {
                Ok(()) => self.say(&format!("Network {name}  Removed")),
                Err(e) if is_404(&e) => {}
                Err(e) => {
                    tracing::warn!("network {name} not removed: {}", ComposeError::api("")(e))
                }
            }
        }
        if o.volumes {
            let vols = self
                .docker
                .list_volumes(Some(qp::ListVolumesOptions {
                    filters: Some(filters),
                }))
                .await
                .map_err(api("listing volumes"))?;
            for v in vols.volumes.unwrap_or_default() {
                if v.labels.get(LABEL_PROJECT) != Some(&self.project.name) {
                    continue;
                }
                let name = v.name.clone();
                match self
                    .docker
                    .remove_volume(&name, None::<qp::RemoveVolumeOptions>)
                    .await
                {
                    Ok(()) => self.say(&format!("Volume {name}  Removed")),
                    Err(e) if is_404(&e) => {}
                    Err(e) => return Err(api(format!("removing volume {name}"))(e)),
                }
            }
        }
        if let Some(mode) = &o.rmi {
            for s in self.project.services.values() {
                let local = s.build.is_some() && s.image.is_none();
                if mode == "all" || (mode == "local" && local) {
                    images_used.insert(self.project.image_name(s));
                }
            }
            for i in images_used {
                match self
                    .docker
                    .remove_image(&i, None::<qp::RemoveImageOptions>, None)
                    .await
                {
                    Ok(_) => self.say(&format!("Image {i}  Removed")),
                    Err(e) if is_404(&e) => {}
                    Err(e) => tracing::warn!("image {i} not removed: {}", ComposeError::api("")(e)),
                }
            }
        }
        Ok(())
    }

    /// The prefix a container's log lines get: `service-N`.
    pub fn log_prefix(c: &ContainerSummary) -> String {
        format!("{}-{}", label(c, LABEL_SERVICE), label(c, LABEL_NUMBER))
    }

    /// `logs`: calls `line` with (prefix, line) for every line of every container, the
    /// containers' streams interleaved as they come.
    pub async fn logs(
        &self,
        o: &LogsOptions,
        line: &mut (dyn FnMut(&str, &str, bool) + Send),
    ) -> Result<()> {
        let list = self.containers(true, &o.services).await?;
        self.logs_of(&list, o, line).await
    }

    /// [`Runner::logs`] for given containers.
    pub async fn logs_of(
        &self,
        list: &[ContainerSummary],
        o: &LogsOptions,
        line: &mut (dyn FnMut(&str, &str, bool) + Send),
    ) -> Result<()> {
        let mut streams = Vec::new();
        for (i, c) in list.iter().enumerate() {
            let s = self
                .docker
                .logs(
                    c.id.as_deref().unwrap_or_default(),
                    Some(qp::LogsOptions {
                        follow: o.follow,
                        stdout: true,
                        stderr: true,
                        timestamps: o.timestamps,
                        tail: o.tail.clone().unwrap_or_else(|| "all".into()),
                        ..Default::default()
                    }),
                )
                .map(move |item| (i, item));
            streams.push(Box::pin(s));
        }
        let prefixes: Vec<String> = list.iter().map(Self::log_prefix).collect();
        let mut partial: Vec<(Vec<u8>, Vec<u8>)> = vec![(Vec::new(), Vec::new()); list.len()];
        let mut all = futures::stream::select_all(streams);
        while let Some((i, item)) = all.next().await {
            let out = match item {
                Ok(o) => o,
                Err(e) if is_404(&e) => continue,
                Err(e) => return Err(api(format!("logs of {}", prefixes[i]))(e)),
            };
            let (is_err, bytes) = match out {
                bollard::container::LogOutput::StdErr { message } => (true, message),
                other => (false, other.into_bytes()),
            };
            let buf = if is_err {
                &mut partial[i].1
            } else {
                &mut partial[i].0
            };
            buf.extend_from_slice(&bytes);
            while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                let l: Vec<u8> = buf.drain(..=nl).collect();
                let text = String::from_utf8_lossy(&l[..l.len() - 1]);
                line(&prefixes[i], text.trim_end_matches('\r'), is_err);
            }
        }
        for (i, (o, e)) in partial.into_iter().enumerate() {
            if !o.is_empty() {
                line(&prefixes[i], &String::from_utf8_lossy(&o), false);
            }
            if !e.is_empty() {
                line(&prefixes[i], &String::from_utf8_lossy(&e), true);
            }
        }
        Ok(())
    }

    /// `exec SERVICE CMD…` (non-interactive): runs in the service's container number
    /// `index` (`--index`, default 1), passes output to `out(bytes, is_stderr)`,
    /// returns the exit code.
    #[allow(clippy::too_many_arguments)]
    pub async fn exec(
        &self,
        service: &str,
        index: u32,
        cmd: Vec<String>,
        user: Option<String>,
        workdir: Option<String>,
        env: Vec<String>,
        out: &mut (dyn FnMut(&[u8], bool) + Send),
    ) -> Result<i64> {
        if !self.project.services.contains_key(service) {
            return Err(ComposeError::NoSuchService(service.to_string()));
        }
        let list = self.containers(false, &[service.to_string()]).await?;
        let found = list.iter().find(|c| number(c) == index);
        // A container without a number label (made by another tool) counts as the first.
        let found = found.or(if index == 1 { list.first() } else { None });
        let Some(c) = found else {
            return Err(ComposeError::Other(if list.is_empty() {
                format!("service {service:?} is not running")
            } else {
                format!("service {service:?} has no running container number {index}")
            }));
        };
        let id = c.id.clone().unwrap_or_default();
        let e = self
            .docker
            .create_exec(
                &id,
                bollard::exec::CreateExecOptions {
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    cmd: Some(cmd),
                    user,
                    working_dir: workdir,
                    env: (!env.is_empty()).then_some(env),
                    ..Default::default()
                },
            )
            .await
            .map_err(api("creating exec"))?;
        let started = self
            .docker
            .start_exec(&e.id, None)
            .await
            .map_err(api("starting exec"))?;
        if let bollard::exec::StartExecResults::Attached { mut output, .. } = started {
            while let Some(item) = output.next().await {
                match item {
                    Ok(bollard::container::LogOutput::StdErr { message }) => out(&message, true),
                    Ok(o) => out(&o.into_bytes(), false),
                    Err(_) => break,
                }
            }
        }
        let info = self
            .docker
            .inspect_exec(&e.id)
            .await
            .map_err(api("inspecting exec"))?;
        Ok(info.exit_code.unwrap_or(0))
    }
}

fn endpoint(sn: &ServiceNetwork) -> EndpointSettings {
    EndpointSettings {
        aliases: (!sn.aliases.is_empty()).then(|| sn.aliases.clone()),
        ipam_config: sn
            .ipv4_address
            .as_ref()
            .map(|ip| bollard::models::EndpointIpamConfig {
                ipv4_address: Some(ip.clone()),
                ..Default::default()
            }),
        ..Default::default()
    }
}

/// Ports of a listed container as `ip:pub->priv/proto, …`.
pub fn ports_text(c: &ContainerSummary) -> String {
    let mut v: Vec<String> = c
        .ports
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let proto = p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into());
            match p.public_port {
                Some(pp) => format!(
                    "{}:{pp}->{}/{proto}",
                    p.ip.clone().unwrap_or_else(|| "0.0.0.0".into()),
                    p.private_port
                ),
                None => format!("{}/{proto}", p.private_port),
            }
        })
        .collect();
    v.sort();
    v.dedup();
    v.join(", ")
}

/// Groups listed containers by service name.
pub fn by_service(list: &[ContainerSummary]) -> BTreeMap<String, Vec<&ContainerSummary>> {
    let mut m: BTreeMap<String, Vec<&ContainerSummary>> = BTreeMap::new();
    for c in list {
        m.entry(label(c, LABEL_SERVICE).to_string())
            .or_default()
            .push(c);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_tags() {
        assert_eq!(repo_tag("busybox"), ("busybox".into(), "latest".into()));
        assert_eq!(
            repo_tag("localhost:5000/a/b:1"),
            ("localhost:5000/a/b".into(), "1".into())
        );
        assert_eq!(
            repo_tag("localhost:5000/a"),
            ("localhost:5000/a".into(), "latest".into())
        );
        assert_eq!(repo_tag("a@sha256:00").1, "");
    }

    #[test]
    fn host_config_carries_limits_devices_and_namespaces() {
        let text = r#"
services:
  web:
    image: busybox
    ulimits:
      nofile: {soft: 1024, hard: 2048}
      nproc: 100
    devices: ["/dev/zero:/dev/myzero", {source: /dev/null, permissions: r}]
    cpus: 0.5
    cpu_period: 100000
    cpu_quota: 50000
    cpuset: "0"
    mem_reservation: 16m
    memswap_limit: -1
    uts: host
    group_add: [audio]
    pid: host
    ipc: host
    shm_size: 1m
    deploy: {resources: {limits: {memory: 64m, pids: 20}}}
"#;
        let project = crate::load::load_str(
            Path::new("/proj/app/compose.yaml"),
            text,
            HashMap::new(),
            None,
        )
        .expect("load");
        let docker = Docker::connect_with_unix("/dev/null", 5, bollard::API_DEFAULT_VERSION)
            .expect("client");
        let r = Runner {
            docker,
            project,
            context_tar: Box::new(|_, _| Ok(Vec::new())),
            progress: Box::new(|_| {}),
        };
        let s = &r.project.services["web"];
        let body = r.container_body(s, 1, "sha256:00", &[], &[]).expect("body");
        let hc = body.host_config.expect("host config");
        let ul = |n: &str, soft: i64, hard: i64| ResourcesUlimits {
            name: Some(n.into()),
            soft: Some(soft),
            hard: Some(hard),
        };
        assert_eq!(
            hc.ulimits,
            Some(vec![ul("nofile", 1024, 2048), ul("nproc", 100, 100)])
        );
        let dev = |h: &str, c: &str, p: &str| DeviceMapping {
            path_on_host: Some(h.into()),
            path_in_container: Some(c.into()),
            cgroup_permissions: Some(p.into()),
        };
        assert_eq!(
            hc.devices,
            Some(vec![
                dev("/dev/zero", "/dev/myzero", "rwm"),
                dev("/dev/null", "/dev/null", "r")
            ])
        );
        assert_eq!(hc.nano_cpus, Some(500_000_000));
        assert_eq!(hc.cpu_period, Some(100_000));
        assert_eq!(hc.cpu_quota, Some(50_000));
        assert_eq!(hc.cpuset_cpus.as_deref(), Some("0"));
        assert_eq!(hc.memory_reservation, Some(16 << 20));
        assert_eq!(hc.memory_swap, Some(-1));
        assert_eq!(hc.memory, Some(64 << 20));
        assert_eq!(hc.pids_limit, Some(20));
        assert_eq!(hc.uts_mode.as_deref(), Some("host"));
        assert_eq!(hc.group_add, Some(vec!["audio".to_string()]));
        assert_eq!(hc.pid_mode.as_deref(), Some("host"));
        assert_eq!(hc.ipc_mode.as_deref(), Some("host"));
        assert_eq!(hc.shm_size, Some(1 << 20));
    }
}
