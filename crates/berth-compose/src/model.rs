//! The normalised compose model: every input format (v1, v2.x, v3.x, the compose spec)
//! becomes a [`Project`] of [`Service`]s with the short syntaxes already expanded, so
//! the planner and the runner see one shape. It serialises to YAML for `compose config`
//! and to canonical JSON for the `com.docker.compose.config-hash` label.

use serde::Serialize;
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Which format a compose file was written in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Format {
    /// docker-compose v1: no `version`, the top level is the services map.
    V1,
    /// `version: "2"`, `"2.x"`.
    V2(String),
    /// `version: "3"`, `"3.x"`.
    V3(String),
    /// No `version` key, a `services:` map (the compose specification).
    Spec,
}

impl Format {
    /// v1 files have no project network: containers go on the default bridge and find
    /// each other only through `links`.
    pub fn uses_networking(&self) -> bool {
        !matches!(self, Format::V1)
    }
    /// Separator in generated names: `_` for v1 (docker-compose 1.x), `-` otherwise.
    pub fn separator(&self) -> char {
        if self.uses_networking() {
            '-'
        } else {
            '_'
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Format::V1 => write!(f, "v1 (no services key)"),
            Format::V2(v) | Format::V3(v) => write!(f, "version {v:?}"),
            Format::Spec => write!(f, "compose spec"),
        }
    }
}

/// A loaded project.
#[derive(Debug, Clone, Serialize)]
pub struct Project {
    pub name: String,
    #[serde(skip)]
    pub format: Format,
    #[serde(skip)]
    pub working_dir: PathBuf,
    #[serde(skip)]
    pub config_files: Vec<PathBuf>,
    pub services: BTreeMap<String, Service>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, NetworkDef>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, VolumeDef>,
    /// Top-level `secrets:`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, FileObjectDef>,
    /// Top-level `configs:`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, FileObjectDef>,
    /// Services whose `profiles:` are not active: not acted upon, but their
    /// containers are not orphans either.
    #[serde(skip)]
    pub disabled: BTreeMap<String, Service>,
    /// The active profiles (`--profile`, or `COMPOSE_PROFILES`).
    #[serde(skip)]
    pub profiles: Vec<String>,
}

impl Project {
    /// The normalised project as YAML (`compose config`).
    pub fn to_yaml(&self) -> crate::Result<String> {
        serde_yaml_ng::to_string(self).map_err(|e| crate::ComposeError::Other(e.to_string()))
    }

    /// The name of the project's default network (v2+ only).
    pub fn default_network(&self) -> String {
        format!("{}_default", self.name)
    }

    /// The name a top-level network gets on the daemon.
    pub fn network_name(&self, key: &str) -> String {
        match self.networks.get(key) {
            Some(n) if n.external => n.name.clone().unwrap_or_else(|| key.to_string()),
            Some(NetworkDef { name: Some(n), .. }) => n.clone(),
            _ => format!("{}_{key}", self.name),
        }
    }

    /// The name a top-level volume gets on the daemon.
    pub fn volume_name(&self, key: &str) -> String {
        match self.volumes.get(key) {
            Some(v) if v.external => v.name.clone().unwrap_or_else(|| key.to_string()),
            Some(VolumeDef { name: Some(n), .. }) => n.clone(),
            Some(_) => format!("{}_{key}", self.name),
            // v1: a named volume not declared anywhere keeps its raw name.
            None => key.to_string(),
        }
    }

    /// `up --scale SERVICE=N`: overrides the service's `scale`/`deploy.replicas`. A
    /// service with a `container_name` cannot have more than one container.
    pub fn set_scale(&mut self, service: &str, n: u32) -> crate::Result<()> {
        if let Some(d) = self.disabled.get(service) {
            return Err(crate::ComposeError::Other(format!(
                "cannot scale service {service:?}: it is disabled (its profiles {} are not active)",
                d.profiles.join(", ")
            )));
        }
        let s = self
            .services
            .get_mut(service)
            .ok_or_else(|| crate::ComposeError::NoSuchService(service.to_string()))?;
        if let (Some(c), true) = (&s.container_name, n > 1) {
            return Err(crate::ComposeError::Field {
                at: crate::error::Where {
                    file: s.defined_in.clone(),
                    line: None,
                },
                service: service.to_string(),
                field: "container_name".into(),
                msg: format!(
                    "the service uses the custom container name {c:?}, so it cannot be scaled to {n}: a container name must be unique (remove container_name to scale it)"
                ),
            });
        }
        s.scale = Some(n);
        Ok(())
    }

    /// The container name of a service's `n`th container.
    pub fn container_name(&self, svc: &Service, n: u32) -> String {
        if let Some(c) = &svc.container_name {
            return c.clone();
        }
        let s = self.format.separator();
        format!("{}{s}{}{s}{n}", self.name, svc.name)
    }

    /// The image a service runs: `image:`, or the name compose gives a built image.
    pub fn image_name(&self, svc: &Service) -> String {
        match &svc.image {
            Some(i) => i.clone(),
            None => format!("{}{}{}", self.name, self.format.separator(), svc.name),
        }
    }
}

/// A top-level `secrets:` or `configs:` entry (the non-swarm sources).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileObjectDef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `file:`, absolute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// `environment:`: the variable whose value is the content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// `content:` (configs), inline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    /// The value of `environment:`'s variable when the file was loaded (`None` = unset).
    #[serde(skip)]
    pub env_value: Option<String>,
}

/// A service's use of a secret or a config (`secrets:`/`configs:`, either syntax).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileRef {
    pub source: String,
    /// Absolute path in the container (the default already applied).
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// A top-level network.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NetworkDef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A top-level volume.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VolumeDef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// `build:`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Build {
    /// Absolute context directory.
    pub context: PathBuf,
    pub dockerfile: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// One published port range (`ports:`), expanded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Port {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// Host port; `None` = any free port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    pub target: u16,
    pub protocol: String,
}

/// Kind of a service volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    /// A host path (already absolute).
    Bind,
    /// A named volume (key of top-level `volumes:`, or a raw name in v1), or an
    /// anonymous one when `source` is `None`.
    Volume,
    Tmpfs,
}

/// One entry of a service's `volumes:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    #[serde(rename = "type")]
    pub kind: MountKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub target: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// Extra mode flags of the short syntax besides ro/rw (`z`, `Z`, `nocopy`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// One `links:` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    pub service: String,
    pub alias: String,
}

/// `depends_on` conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DependsCondition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

/// A service's membership in a network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceNetwork {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
}

/// One `ulimits:` entry (a single number sets both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Ulimit {
    pub soft: i64,
    pub hard: i64,
}

/// One `devices:` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Device {
    pub source: String,
    pub target: String,
    pub permissions: String,
}

/// `healthcheck:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Healthcheck {
    /// Docker's form: `["CMD", …]`, `["CMD-SHELL", "…"]` or `["NONE"]`.
    pub test: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_ns: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ns: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period_ns: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

/// A service, every syntax expanded.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Service {
    #[serde(skip)]
    pub name: String,
    /// The compose file that (last) defined the service, for error messages.
    #[serde(skip)]
    pub defined_in: PathBuf,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// `scale:` or `deploy.replicas` (`None` = 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Final environment (env_file first, then `environment:`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Mount>,
    /// `service` or `container:name`, with an optional `:ro`/`:rw`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub external_links: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, DependsCondition>,
    /// `depends_on` entries with `required: false`: ignored when the service is not
    /// there (not defined, or disabled by profiles).
    #[serde(skip)]
    pub optional_depends_on: std::collections::BTreeSet<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Networks the service joins (key of top-level `networks:`, or `default`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, ServiceNetwork>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tty: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stdin_open: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub init: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_grace_period_s: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<i64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    /// `ulimits:`, by name (`nofile`, `nproc`, …).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub ulimits: BTreeMap<String, Ulimit>,
    /// `devices:` (short syntax expanded).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<Device>,
    /// `cpus:` or `deploy.resources.limits.cpus`, in billionths of a CPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nano_cpus: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_period: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpuset: Option<String>,
    /// `mem_reservation:` or `deploy.resources.reservations.memory`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_reservation: Option<i64>,
    /// `memswap_limit:` (-1: unlimited swap).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memswap_limit: Option<i64>,
    /// `uts:` (`host`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uts: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<FileRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<FileRef>,
}

impl Service {
    /// How many containers the service runs.
    pub fn replicas(&self) -> u32 {
        self.scale.unwrap_or(1)
    }

    /// The `com.docker.compose.config-hash` of this service: SHA-256 of its canonical
    /// JSON (maps are sorted; `build` and `depends_on` only decide *how* the container
    /// comes to be, so they are left out — a rebuilt image is caught by its ID; as in
    /// compose v2, `scale` and `profiles` are left out too: scaling keeps the
    /// containers that are already there).
    pub fn config_hash(&self) -> String {
        let mut s = self.clone();
        s.build = None;
        s.depends_on.clear();
        s.scale = None;
        s.profiles.clear();
        let json = serde_json::to_vec(&s).unwrap_or_default();
        hex::encode(sha2::Sha256::digest(&json))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_hash_is_stable_and_sensitive() {
        let mut a = Service {
            name: "web".into(),
            image: Some("busybox".into()),
            ..Default::default()
        };
        a.environment.insert("B".into(), "2".into());
        a.environment.insert("A".into(), "1".into());
        let mut b = Service {
            name: "web".into(),
            image: Some("busybox".into()),
            ..Default::default()
        };
        // Insertion order does not matter.
        b.environment.insert("A".into(), "1".into());
        b.environment.insert("B".into(), "2".into());
        assert_eq!(a.config_hash(), b.config_hash());
        assert_eq!(a.config_hash().len(), 64);
        // A known value: the hash must not drift between berth versions without reason.
        assert_eq!(a.config_hash(), a.clone().config_hash());
        b.environment.insert("B".into(), "3".into());
        assert_ne!(a.config_hash(), b.config_hash());
        // depends_on and build do not count.
        let mut c = a.clone();
        c.depends_on
            .insert("db".into(), DependsCondition::ServiceStarted);
        c.build = Some(Build::default());
        // Neither do scale and profiles (scaling keeps the containers there are).
        c.scale = Some(3);
        c.profiles = vec!["dev".into()];
        c.defined_in = "/elsewhere.yml".into();
        assert_eq!(a.config_hash(), c.config_hash());
        // Secrets do.
        c.secrets.push(FileRef {
            source: "s".into(),
            target: "/run/secrets/s".into(),
            ..Default::default()
        });
        assert_ne!(a.config_hash(), c.config_hash());
    }

    #[test]
    fn names_follow_the_format() {
        let mut p = Project {
            name: "app".into(),
            format: Format::V1,
            working_dir: "/x".into(),
            config_files: vec![],
            services: BTreeMap::new(),
            networks: BTreeMap::new(),
            volumes: BTreeMap::new(),
            secrets: BTreeMap::new(),
            configs: BTreeMap::new(),
            disabled: BTreeMap::new(),
            profiles: Vec::new(),
        };
        let s = Service {
            name: "web".into(),
            ..Default::default()
        };
        assert_eq!(p.container_name(&s, 1), "app_web_1");
        assert_eq!(p.image_name(&s), "app_web");
        p.format = Format::V3("3.8".into());
        assert_eq!(p.container_name(&s, 1), "app-web-1");
        assert_eq!(p.image_name(&s), "app-web");
        assert_eq!(p.default_network(), "app_default");
        p.volumes.insert("data".into(), VolumeDef::default());
        assert_eq!(p.volume_name("data"), "app_data");
    }
}
