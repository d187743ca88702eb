//! The registry configuration: distribution's (`registry:2`) YAML file format plus its
//! `REGISTRY_*` environment overrides, so a compose file or config written for
//! `registry:2` works unchanged with `berth registry serve`.
//!
//! The file is deserialized into typed structs that reject unknown keys (the error names the
//! key path and the line). Keys distribution knows but berth cannot honour (Let's Encrypt,
//! cloud storage drivers, notifications, pull-through proxy, …) are accepted by the parser
//! and then refused by [`Config::validate`] with an error naming the key. Keys that only tune
//! distribution internals (cache, health checks, log fields) are accepted and ignored.
//!
//! Environment overrides follow distribution: `REGISTRY_HTTP_TLS_CERTIFICATE` sets
//! `http.tls.certificate`; a value is YAML when it starts with `[` or `{`, a bool when it is
//! `true`/`false`, else a string. Unknown `REGISTRY_*` variables are ignored with a warning,
//! as distribution does (docker links create `REGISTRY_PORT…` variables).
//!
//! berth extensions (all optional): `auth.token.signingkey` turns on the built-in token
//! server (signing with that key; the first certificate of `rootcertbundle` is its
//! certificate) and `auth.token.acl` restricts what htpasswd users are granted;
//! `storage.maintenance.gc` runs garbage collection in the background;
//! `storage.filesystem.fsync: false` skips fsyncing blobs (distribution never fsyncs);
//! `http.sendfile` (`auto`, `always`, `never`) chooses how plain-HTTP blob downloads send
//! their bytes (see [`Sendfile`]).

use serde::Deserialize;
use serde_yaml_ng::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a configuration is rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("{origin}: key `{key}` is not supported by berth: {why}")]
    Unsupported {
        origin: String,
        key: String,
        why: String,
    },
    #[error("{origin}: key `{key}`: {message}")]
    Invalid {
        origin: String,
        key: String,
        message: String,
    },
}

/// Top-level configuration (distribution's `configuration.Configuration`, the parts berth reads).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub version: Option<Value>,
    #[serde(default)]
    pub log: Log,
    #[serde(default)]
    pub loglevel: Option<Value>,
    #[serde(default)]
    pub storage: Storage,
    #[serde(default)]
    pub auth: Auth,
    #[serde(default)]
    pub http: Http,
    #[serde(default)]
    pub health: Option<Value>,
    #[serde(default)]
    pub validation: Option<Value>,
    #[serde(default)]
    pub compatibility: Option<Value>,
    #[serde(default)]
    pub policy: Option<Value>,
    #[serde(default)]
    pub notifications: Option<Value>,
    #[serde(default)]
    pub redis: Option<Value>,
    #[serde(default)]
    pub proxy: Option<Value>,
    #[serde(default)]
    pub middleware: Option<Value>,
    #[serde(default)]
    pub reporting: Option<Value>,
    /// Where the configuration came from (for error messages); not a YAML key.
    #[serde(skip)]
    pub origin: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    #[serde(default)]
    pub level: Option<String>,
    #[serde(default)]
    pub formatter: Option<String>,
    #[serde(default)]
    pub fields: Option<Value>,
    #[serde(default)]
    pub hooks: Option<Value>,
    #[serde(default)]
    pub reportcaller: Option<Value>,
    #[serde(default)]
    pub accesslog: AccessLog,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLog {
    #[serde(default)]
    pub disabled: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    #[serde(default)]
    pub filesystem: Option<Filesystem>,
    #[serde(default)]
    pub delete: Enabled,
    #[serde(default)]
    pub cache: Option<Value>,
    #[serde(default)]
    pub maintenance: Maintenance,
    #[serde(default)]
    pub redirect: Option<Value>,
    #[serde(default)]
    pub tag: Option<Value>,
    #[serde(default)]
    pub inmemory: Option<Value>,
    #[serde(default)]
    pub s3: Option<Value>,
    #[serde(default)]
    pub azure: Option<Value>,
    #[serde(default)]
    pub gcs: Option<Value>,
    #[serde(default)]
    pub swift: Option<Value>,
    #[serde(default)]
    pub oss: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filesystem {
    #[serde(default)]
    pub rootdirectory: Option<PathBuf>,
    #[serde(default)]
    pub maxthreads: Option<Value>,
    /// berth extension: fsync blobs before acknowledging them (default true).
    #[serde(default)]
    pub fsync: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enabled {
    #[serde(default)]
    pub enabled: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Maintenance {
    #[serde(default)]
    pub uploadpurging: Option<Value>,
    #[serde(default)]
    pub readonly: Enabled,
    /// berth extension: online garbage collection.
    #[serde(default)]
    pub gc: Option<OnlineGc>,
}

/// berth extension `storage.maintenance.gc`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnlineGc {
    #[serde(default)]
    pub enabled: bool,
    /// How often, e.g. `1h`.
    #[serde(default)]
    pub interval: Option<String>,
    /// Blobs and links younger than this are never swept, e.g. `10m`.
    #[serde(default)]
    pub graceperiod: Option<String>,
    #[serde(default)]
    pub deleteuntagged: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    #[serde(default)]
    pub htpasswd: Option<Htpasswd>,
    #[serde(default)]
    pub token: Option<Token>,
    #[serde(default)]
    pub silly: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Htpasswd {
    #[serde(default)]
    pub realm: Option<String>,
    #[serde(default)]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    #[serde(default)]
    pub realm: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub rootcertbundle: Option<PathBuf>,
    #[serde(default)]
    pub autoredirect: Option<Value>,
    #[serde(default)]
    pub jwks: Option<Value>,
    #[serde(default)]
    pub signingalgorithms: Option<Value>,
    /// berth extension: private key of the built-in token server.
    #[serde(default)]
    pub signingkey: Option<PathBuf>,
    /// berth extension: token lifetime, e.g. `5m` (default 5 minutes, never < 60 s).
    #[serde(default)]
    pub expiration: Option<String>,
    /// berth extension: access rules of the built-in token server (default: every
    /// authenticated user may pull, push and delete everywhere).
    #[serde(default)]
    pub acl: Option<Vec<AclRule>>,
}

/// One access rule of the built-in token server: `account` (`*` = any authenticated user,
/// `""` = anonymous) gets `actions` on repositories matching `name` (`*` wildcards).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AclRule {
    pub account: String,
    pub name: String,
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    #[serde(default)]
    pub addr: Option<String>,
    #[serde(default)]
    pub net: Option<String>,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub relativeurls: bool,
    #[serde(default)]
    pub draintimeout: Option<String>,
    #[serde(default)]
    pub tls: Option<Tls>,
    #[serde(default)]
    pub debug: Option<Debug>,
    #[serde(default)]
    pub headers: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub http2: Option<Value>,
    #[serde(default)]
    pub h2c: Option<Value>,
    /// berth extension: `auto` (default), `always` or `never`; see [`Sendfile`].
    #[serde(default)]
    pub sendfile: Option<String>,
}

/// How blob downloads on plain-HTTP connections send the blob's bytes (`http.sendfile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sendfile {
    /// `sendfile(2)`, except to a client on this host (loopback, or the connection's own
    /// address), which gets one copy from a memory map of the blob: the bytes must be
    /// copied into that client's memory on this machine anyway, and copying them on the
    /// sending side leaves them hot in cache for the receiving one (on loopback about
    /// twice sendfile's throughput at half its CPU; figures in `fastpath.rs`).
    #[default]
    Auto,
    /// `sendfile(2)` whoever the client is.
    Always,
    /// One copy from a memory map whoever the client is.
    Never,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    #[serde(default)]
    pub certificate: Option<PathBuf>,
    #[serde(default)]
    pub key: Option<PathBuf>,
    #[serde(default)]
    pub clientcas: Vec<PathBuf>,
    #[serde(default)]
    pub minimumtls: Option<String>,
    #[serde(default)]
    pub ciphersuites: Option<Value>,
    #[serde(default)]
    pub letsencrypt: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Debug {
    #[serde(default)]
    pub addr: Option<String>,
    #[serde(default)]
    pub prometheus: Option<Value>,
}

/// Default listen address, as distribution.
pub const DEFAULT_ADDR: &str = ":5000";
/// Default storage root, as distribution (and the `registry:2` image's volume).
pub const DEFAULT_ROOT: &str = "/var/lib/registry";

impl Config {
    /// Reads `path` (or starts from an empty configuration when `None`), then applies the
    /// `REGISTRY_*` variables from `env`, then validates.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let (text, origin) = match path {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_path_buf(),
                    source,
                })?,
                p.display().to_string(),
            ),
            None => (String::new(), "<defaults>".to_string()),
        };
        Self::from_yaml_and_env(&text, &origin, env)
    }

    /// Parses YAML `text` (named `origin` in errors), applies env overrides, validates.
    pub fn from_yaml_and_env(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        // First pass on the file alone: errors carry the file's line numbers.
        let mut value: Value = if text.trim().is_empty() {
            Value::Mapping(Default::default())
        } else {
            let de = serde_yaml_ng::Deserializer::from_str(text);
            let _: Config =
                serde_path_to_error::deserialize(de).map_err(|e| ConfigError::Parse {
                    origin: origin.to_string(),
                    message: format!("at key `{}`: {}", e.path(), e.inner()),
                })?;
            serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Parse {
                origin: origin.to_string(),
                message: e.to_string(),
            })?
        };
        if value.is_null() {
            value = Value::Mapping(Default::default());
        }
        let mut env_keys: BTreeMap<String, String> = BTreeMap::new();
        let mut vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("REGISTRY_") && k != "REGISTRY_CONFIGURATION_PATH")
            .collect();
        vars.sort();
        for (name, raw) in vars {
            let path: Vec<String> = name["REGISTRY_".len()..]
                .split('_')
                .map(|s| s.to_ascii_lowercase())
                .collect();
            if path.iter().any(|s| s.is_empty()) {
                continue;
            }
            let mut candidate = value.clone();
            set_path(&mut candidate, &path, env_value(&raw));
            match serde_yaml_ng::from_value::<Config>(candidate.clone()) {
                Ok(_) => {
                    env_keys.insert(path.join("."), name.clone());
                    value = candidate;
                }
                Err(e) => {
                    let msg = e.to_string();
                    if msg.contains("unknown field") {
                        tracing::warn!(variable = %name, "ignoring unrecognized environment variable");
                    } else {
                        return Err(ConfigError::Parse {
                            origin: format!("environment variable {name}"),
                            message: msg,
                        });
                    }
                }
            }
        }
        let mut cfg: Config = serde_yaml_ng::from_value(value).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        cfg.origin = origin.to_string();
        cfg.validate(text, &env_keys)?;
        Ok(cfg)
    }

    fn validate(&self, text: &str, env_keys: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        // Names where a key came from: env var, or file with line.
        let where_ = |key: &str| -> String {
            if let Some(var) = env_keys
                .iter()
                .find(|(k, _)| k.starts_with(key))
                .map(|(_, v)| v)
            {
                return format!("environment variable {var}");
            }
            let leaf = key.rsplit('.').next().unwrap_or(key);
            match text
                .lines()
                .position(|l| l.trim_start().starts_with(&format!("{leaf}:")))
            {
                Some(n) => format!("{}:{}", self.origin, n + 1),
                None => self.origin.clone(),
            }
        };
        let unsupported = |key: &str, why: &str| ConfigError::Unsupported {
            origin: where_(key),
            key: key.to_string(),
            why: why.to_string(),
        };
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            origin: where_(key),
            key: key.to_string(),
            message,
        };
        if let Some(tls) = &self.http.tls {
            if tls.letsencrypt.is_some() {
                return Err(unsupported(
                    "http.tls.letsencrypt",
                    "Let's Encrypt needs the internet (ACME); use http.tls.certificate and http.tls.key",
                ));
            }
            if tls.certificate.is_some() != tls.key.is_some() {
                return Err(invalid(
                    "http.tls",
                    "certificate and key must be given together".into(),
                ));
            }
            if let Some(m) = &tls.minimumtls {
                if !matches!(m.as_str(), "tls1.0" | "tls1.1" | "tls1.2" | "tls1.3") {
                    return Err(invalid(
                        "http.tls.minimumtls",
                        format!("unknown TLS version {m:?} (tls1.2 or tls1.3)"),
                    ));
                }
            }
            if tls.ciphersuites.is_some() {
                return Err(unsupported(
                    "http.tls.ciphersuites",
                    "rustls picks its own safe cipher suites",
                ));
            }
        }
        for (key, v, why) in [
            (
                "storage.s3",
                &self.storage.s3,
                "only the filesystem driver is built in",
            ),
            (
                "storage.azure",
                &self.storage.azure,
                "only the filesystem driver is built in",
            ),
            (
                "storage.gcs",
                &self.storage.gcs,
                "only the filesystem driver is built in",
            ),
            (
                "storage.swift",
                &self.storage.swift,
                "only the filesystem driver is built in",
            ),
            (
                "storage.oss",
                &self.storage.oss,
                "only the filesystem driver is built in",
            ),
            (
                "storage.inmemory",
                &self.storage.inmemory,
                "only the filesystem driver is built in",
            ),
            (
                "notifications",
                &self.notifications,
                "webhook notifications are not implemented",
            ),
            (
                "proxy",
                &self.proxy,
                "pull-through cache mode is not implemented",
            ),
            (
                "middleware",
                &self.middleware,
                "storage/registry middleware is not implemented",
            ),
            ("auth.silly", &self.auth.silly, "use htpasswd or token auth"),
        ] {
            if v.is_some() {
                return Err(unsupported(key, why));
            }
        }
        if let Some(net) = &self.http.net {
            if net != "tcp" {
                return Err(unsupported(
                    "http.net",
                    "only tcp listeners are implemented",
                ));
            }
        }
        if let Some(p) = &self.http.prefix {
            if !p.is_empty() && p != "/" {
                return Err(unsupported("http.prefix", "the API is served at /v2/ only"));
            }
        }
        if let Some(tok) = &self.auth.token {
            for (k, v) in [
                ("realm", &tok.realm),
                ("service", &tok.service),
                ("issuer", &tok.issuer),
            ] {
                if v.as_deref().unwrap_or("").is_empty() {
                    return Err(invalid(
                        &format!("auth.token.{k}"),
                        "is required for token auth".into(),
                    ));
                }
            }
            if tok.rootcertbundle.is_none() {
                return Err(invalid(
                    "auth.token.rootcertbundle",
                    "is required for token auth".into(),
                ));
            }
            if tok.jwks.is_some() {
                return Err(unsupported("auth.token.jwks", "use rootcertbundle"));
            }
            if self.auth.htpasswd.is_some() && tok.signingkey.is_none() {
                return Err(invalid(
                    "auth",
                    "give exactly one of htpasswd and token (both together only with the berth \
                     extension auth.token.signingkey, the built-in token server)"
                        .into(),
                ));
            }
            if let Some(e) = &tok.expiration {
                parse_duration(e).map_err(|m| invalid("auth.token.expiration", m))?;
            }
        } else if let Some(h) = &self.auth.htpasswd {
            if h.path.is_none() {
                return Err(invalid(
                    "auth.htpasswd.path",
                    "is required for htpasswd auth".into(),
                ));
            }
        }
        if let Some(d) = &self.http.draintimeout {
            parse_duration(d).map_err(|m| invalid("http.draintimeout", m))?;
        }
        if let Some(v) = &self.http.sendfile {
            if !["auto", "always", "never"].contains(&v.as_str()) {
                return Err(invalid(
                    "http.sendfile",
                    format!("{v:?}: expected auto, always or never"),
                ));
            }
        }
        if let Some(gc) = &self.storage.maintenance.gc {
            for (k, v) in [("interval", &gc.interval), ("graceperiod", &gc.graceperiod)] {
                if let Some(v) = v {
                    parse_duration(v)
                        .map_err(|m| invalid(&format!("storage.maintenance.gc.{k}"), m))?;
                }
            }
        }
        self.listen_addr().map_err(|m| invalid("http.addr", m))?;
        Ok(())
    }

    /// The storage root directory.
    pub fn root_directory(&self) -> PathBuf {
        self.storage
            .filesystem
            .as_ref()
            .and_then(|f| f.rootdirectory.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT))
    }

    /// The address to listen on (`:5000` means all interfaces).
    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        let a = self.http.addr.as_deref().unwrap_or(DEFAULT_ADDR);
        let full = if a.starts_with(':') {
            format!("0.0.0.0{a}")
        } else {
            a.to_string()
        };
        use std::net::ToSocketAddrs;
        full.to_socket_addrs()
            .map_err(|e| format!("{a:?} is not a listen address: {e}"))?
            .next()
            .ok_or_else(|| format!("{a:?} resolves to no address"))
    }

    /// Time to let in-flight requests finish on shutdown (distribution: `http.draintimeout`).
    pub fn drain_timeout(&self) -> Duration {
        self.http
            .draintimeout
            .as_deref()
            .and_then(|d| parse_duration(d).ok())
            .unwrap_or(Duration::from_secs(60))
    }

    /// How plain-HTTP blob downloads send bytes (`http.sendfile`, default auto).
    pub fn sendfile(&self) -> Sendfile {
        match self.http.sendfile.as_deref() {
            Some("always") => Sendfile::Always,
            Some("never") => Sendfile::Never,
            _ => Sendfile::Auto,
        }
    }

    /// Whether blobs are fsynced before they are acknowledged (default yes).
    pub fn fsync(&self) -> bool {
        self.storage
            .filesystem
            .as_ref()
            .and_then(|f| f.fsync)
            .unwrap_or(true)
    }

    /// Idle age after which GC purges upload sessions, from
    /// `storage.maintenance.uploadpurging` (`enabled`, `age`); default 168h.
    pub fn upload_max_age(&self) -> Option<Duration> {
        let default = Some(crate::gc::DEFAULT_UPLOAD_MAX_AGE);
        let Some(v) = &self.storage.maintenance.uploadpurging else {
            return default;
        };
        if v.get("enabled").and_then(Value::as_bool) == Some(false) {
            return None;
        }
        v.get("age")
            .and_then(Value::as_str)
            .and_then(|a| parse_duration(a).ok())
            .or(default)
    }

    pub fn delete_enabled(&self) -> bool {
        self.storage.delete.enabled
    }

    pub fn read_only(&self) -> bool {
        self.storage.maintenance.readonly.enabled
    }
}

/// A value from the environment: YAML for lists/maps, bool for true/false, else a string.
fn env_value(raw: &str) -> Value {
    let t = raw.trim();
    if t.starts_with('[') || t.starts_with('{') {
        if let Ok(v) = serde_yaml_ng::from_str::<Value>(t) {
            return v;
        }
    }
    match t {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(raw.to_string()),
    }
}

fn set_path(root: &mut Value, path: &[String], v: Value) {
    let mut cur = root;
    for (i, seg) in path.iter().enumerate() {
        if !cur.is_mapping() {
            *cur = Value::Mapping(Default::default());
        }
        let Value::Mapping(m) = cur else { return };
        let key = Value::String(seg.clone());
        if i + 1 == path.len() {
            m.insert(key, v);
            return;
        }
        cur = m.entry(key).or_insert(Value::Mapping(Default::default()));
    }
}

/// Parses Go-style durations: `90s`, `10m`, `1h30m`, `500ms`; negative ones are refused.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    use berth_oci::duration::{parse_go_duration, GoDurationError};
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    match parse_go_duration(s) {
        Ok(ns) if ns >= 0 => Ok(Duration::from_nanos(ns as u64)),
        Ok(_) | Err(GoDurationError::Invalid) => Err(format!("bad number in duration {s:?}")),
        Err(GoDurationError::MissingUnit) => {
            Err(format!("duration {s:?} lacks a unit (ms, s, m, h)"))
        }
        Err(GoDurationError::UnknownUnit(unit)) => {
            Err(format!("unknown unit {unit:?} in duration {s:?}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_distribution() {
        let c = Config::from_yaml_and_env("", "t", env(&[])).unwrap();
        assert_eq!(c.root_directory(), PathBuf::from("/var/lib/registry"));
        assert_eq!(c.listen_addr().unwrap().port(), 5000);
        assert!(!c.delete_enabled());
    }

    #[test]
    fn reads_debian_default_config() {
        let y = "version: 0.1\nlog:\n  fields:\n    service: registry\nstorage:\n  cache:\n    blobdescriptor: inmemory\n  filesystem:\n    rootdirectory: /var/lib/docker-registry\n  delete:\n    enabled: true\nhttp:\n  addr: :5000\n  headers:\n    X-Content-Type-Options: [nosniff]\nauth:\n  htpasswd:\n    realm: basic-realm\n    path: /etc/docker/registry\nhealth:\n  storagedriver:\n    enabled: true\n    interval: 10s\n    threshold: 3\n";
        let c = Config::from_yaml_and_env(y, "t", env(&[])).unwrap();
        assert_eq!(
            c.root_directory(),
            PathBuf::from("/var/lib/docker-registry")
        );
        assert!(c.delete_enabled());
        assert_eq!(c.http.headers["X-Content-Type-Options"], vec!["nosniff"]);
        assert_eq!(c.auth.htpasswd.unwrap().realm.unwrap(), "basic-realm");
    }

    #[test]
    fn env_overrides_file() {
        let y = "http:\n  addr: :5000\n";
        let c = Config::from_yaml_and_env(
            y,
            "t",
            env(&[
                ("REGISTRY_HTTP_ADDR", "127.0.0.1:5999"),
                ("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/data"),
                ("REGISTRY_STORAGE_DELETE_ENABLED", "true"),
                ("REGISTRY_HTTP_TLS_CERTIFICATE", "/c.crt"),
                ("REGISTRY_HTTP_TLS_KEY", "/c.key"),
                ("REGISTRY_AUTH_HTPASSWD_PATH", "/auth/htpasswd"),
                ("REGISTRY_AUTH_HTPASSWD_REALM", "Registry Realm"),
                ("REGISTRY_PORT_5000_TCP", "tcp://1.2.3.4:5000"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen_addr().unwrap().to_string(), "127.0.0.1:5999");
        assert_eq!(c.root_directory(), PathBuf::from("/data"));
        assert!(c.delete_enabled());
        let tls = c.http.tls.unwrap();
        assert_eq!(tls.certificate.unwrap(), PathBuf::from("/c.crt"));
        assert_eq!(
            c.auth.htpasswd.unwrap().path.unwrap(),
            PathBuf::from("/auth/htpasswd")
        );
    }

    #[test]
    fn letsencrypt_in_env_is_refused_by_name() {
        let e = Config::from_yaml_and_env(
            "",
            "t",
            env(&[
                ("REGISTRY_HTTP_TLS_LETSENCRYPT_EMAIL", "ov@rebrain.com"),
                ("REGISTRY_HTTP_TLS_LETSENCRYPT_HOSTS", "[registry.kis.im]"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("http.tls.letsencrypt"), "{e}");
        assert!(e.contains("REGISTRY_HTTP_TLS_LETSENCRYPT"), "{e}");
    }

    #[test]
    fn letsencrypt_in_file_names_line() {
        let y = "http:\n  addr: :443\n  tls:\n    letsencrypt:\n      cachefile: /tmp/le\n";
        let e = Config::from_yaml_and_env(y, "cfg.yml", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cfg.yml:4"), "{e}");
        assert!(e.contains("http.tls.letsencrypt"), "{e}");
    }

    #[test]
    fn unknown_key_names_path_and_line() {
        let y = "http:\n  addr: :5000\n  tls:\n    certificat: /x\n";
        let e = Config::from_yaml_and_env(y, "cfg.yml", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("certificat"), "{e}");
        assert!(e.contains("http.tls"), "{e}");
        assert!(e.contains("line 4"), "{e}");
    }

    #[test]
    fn s3_is_refused() {
        let y = "storage:\n  s3:\n    bucket: x\n";
        let e = Config::from_yaml_and_env(y, "c", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("storage.s3"), "{e}");
    }

    #[test]
    fn token_requires_fields() {
        let y = "auth:\n  token:\n    realm: https://x/token\n    service: s\n";
        let e = Config::from_yaml_and_env(y, "c", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("auth.token.issuer"), "{e}");
    }

    #[test]
    fn upload_purging() {
        let c = Config::from_yaml_and_env("", "t", env(&[])).unwrap();
        assert_eq!(c.upload_max_age(), Some(Duration::from_secs(168 * 3600)));
        let y = "storage:\n  maintenance:\n    uploadpurging:\n      enabled: true\n      age: 2h\n      interval: 1h\n      dryrun: false\n";
        let c = Config::from_yaml_and_env(y, "t", env(&[])).unwrap();
        assert_eq!(c.upload_max_age(), Some(Duration::from_secs(7200)));
        let y = "storage:\n  maintenance:\n    uploadpurging:\n      enabled: false\n";
        let c = Config::from_yaml_and_env(y, "t", env(&[])).unwrap();
        assert_eq!(c.upload_max_age(), None);
    }

    #[test]
    fn sendfile_extension() {
        let c = Config::from_yaml_and_env("", "t", env(&[])).unwrap();
        assert_eq!(c.sendfile(), Sendfile::Auto);
        let c = Config::from_yaml_and_env("http:\n  sendfile: always\n", "t", env(&[])).unwrap();
        assert_eq!(c.sendfile(), Sendfile::Always);
        let c = Config::from_yaml_and_env("", "t", env(&[("REGISTRY_HTTP_SENDFILE", "never")]))
            .unwrap();
        assert_eq!(c.sendfile(), Sendfile::Never);
        let e = Config::from_yaml_and_env("http:\n  sendfile: yes\n", "t", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("http.sendfile"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("12").is_err());
        assert_eq!(parse_duration(" 0 ").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("").unwrap_err(), "empty duration");
        assert_eq!(
            parse_duration("-5s").unwrap_err(),
            "bad number in duration \"-5s\""
        );
        assert_eq!(
            parse_duration("5d").unwrap_err(),
            "unknown unit \"d\" in duration \"5d\""
        );
    }
}
