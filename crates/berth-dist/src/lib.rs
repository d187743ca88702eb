//! berth-dist: the registry client. Pull and push images between a registry and
//! berth's store, with Docker's authentication (anonymous, Basic, Bearer tokens from a
//! token server), `~/.docker/config.json` credentials, `certs.d` TLS trust, insecure
//! registries, and progress events in docker's own JSON format.
//!
//! - [`endpoint`]: which host serves a registry name and whether it is insecure.
//! - [`tls`]: system roots + certs.d CAs and client certificates.
//! - [`auth`]: `X-Registry-Auth`, challenges, the token cache.
//! - [`client`]: one connected registry and its HTTP calls.
//! - [`pull`] / [`push`]: the two directions; [`compress`] makes push use every core.
//! - [`metadata`]: compressed digests known per layer (so pushes never recompress).
//! - [`credentials`]: the CLI side of `login`/`logout` (`config.json`, helpers).
//! - [`progress`]: docker's `JSONMessage` stream.

pub mod auth;
pub mod client;
pub mod compress;
pub mod credentials;
pub mod endpoint;
pub mod error;
pub mod metadata;
pub mod progress;
pub mod pull;
pub mod push;
pub mod tls;

pub use auth::AuthConfig;
pub use error::{DistError, Result};
pub use progress::{JsonMessage, Progress};

use berth_store::Store;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// Daemon-wide registry settings.
#[derive(Debug, Clone)]
pub struct DistConfig {
    /// `--insecure-registry` entries (`host:port` or CIDR).
    pub insecure_registries: Vec<String>,
    /// certs.d roots, searched in order.
    pub certs_dirs: Vec<PathBuf>,
    /// Layers downloaded at once (docker's `--max-concurrent-downloads`, default 3).
    pub max_concurrent_downloads: usize,
    /// Layers uploaded at once (docker's `--max-concurrent-uploads`, default 5).
    pub max_concurrent_uploads: usize,
    /// Attempts per layer download before giving up.
    pub max_download_attempts: usize,
}

impl Default for DistConfig {
    fn default() -> Self {
        DistConfig {
            insecure_registries: Vec::new(),
            certs_dirs: vec![
                PathBuf::from("/etc/berth/certs.d"),
                PathBuf::from("/etc/docker/certs.d"),
            ],
            max_concurrent_downloads: 3,
            max_concurrent_uploads: 5,
            max_download_attempts: 5,
        }
    }
}

/// Something that owns the store (the engine), shareable with blocking tasks.
pub trait StoreHandle: Send + Sync + 'static {
    fn store(&self) -> &Store;
}

/// The registry client of one daemon: its settings and the token cache.
#[derive(Default)]
pub struct Dist {
    config: RwLock<DistConfig>,
    tokens: Arc<auth::TokenCache>,
    /// One download of a blob at a time (two pulls sharing a layer wait for each other).
    blob_locks: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Dist {
    pub fn new(config: DistConfig) -> Dist {
        Dist {
            config: RwLock::new(config),
            ..Default::default()
        }
    }

    pub fn config(&self) -> DistConfig {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_config(&self, c: DistConfig) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = c;
    }

    /// Connects to the registry serving `domain`.
    pub async fn connect(
        &self,
        domain: &str,
        creds: Option<AuthConfig>,
    ) -> Result<client::Registry> {
        let cfg = self.config();
        let ep = endpoint::endpoint(domain, &cfg.insecure_registries);
        client::Registry::connect(ep, &cfg.certs_dirs, creds, self.tokens.clone()).await
    }

    /// `POST /auth`: checks credentials against a registry (`serveraddress`, default
    /// Docker Hub).
    pub async fn login(&self, auth: &AuthConfig) -> Result<()> {
        let server = login_host(&auth.serveraddress);
        let creds = auth.clone().normalized();
        let reg = self.connect(&server, creds).await?;
        reg.check_login().await
    }

    fn blob_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self.blob_locks.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(key.to_string()).or_default().clone()
    }
}

/// The registry host of a `serveraddress` (`https://index.docker.io/v1/` → `docker.io`,
/// `http://localhost:5000/` → `localhost:5000`).
pub fn login_host(server: &str) -> String {
    let s = server.trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or("").to_string();
    match host.as_str() {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => {
            endpoint::DOCKER_HUB.to_string()
        }
        _ => host,
    }
}
