//! `berth daemon`: serves the Docker Engine API on a unix socket.

use anyhow::{bail, Context, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// `berth daemon` options.
#[derive(clap::Args, Debug)]
pub struct DaemonArgs {
    /// Socket to listen on.
    #[arg(long = "host", short = 'H', default_value = super::client::DEFAULT_HOST)]
    pub listen: String,
    /// Root directory of persistent state.
    #[arg(long, default_value = "/var/lib/berth")]
    pub data_root: PathBuf,
    /// Root directory of runtime state (shim sockets, libcontainer state).
    #[arg(long, default_value = "/run/berth")]
    pub exec_root: PathBuf,
    /// The default bridge's address and prefix (e.g. 172.30.0.1/16).
    #[arg(long)]
    pub bip: Option<String>,
    /// Default address pool for networks (base=10.10.0.0/16,size=24).
    #[arg(long)]
    pub default_address_pool: Vec<String>,
    /// Attach containers to a network bridge ("none" disables the default bridge).
    #[arg(short = 'b', long)]
    pub bridge: Option<String>,
    /// Log level (error, warn, info, debug, trace).
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// A registry (host:port or CIDR) allowed over plain HTTP or unverified TLS.
    #[arg(long = "insecure-registry")]
    pub insecure_registries: Vec<String>,
    /// Registry trust folders (`<dir>/<host:port>/ca.crt`, client.cert/client.key);
    /// default /etc/berth/certs.d then /etc/docker/certs.d.
    #[arg(long = "registry-certs-dir")]
    pub registry_certs_dirs: Vec<PathBuf>,
    /// Layers pulled at once.
    #[arg(long, default_value_t = 3)]
    pub max_concurrent_downloads: usize,
    /// Layers pushed at once.
    #[arg(long, default_value_t = 5)]
    pub max_concurrent_uploads: usize,
    /// Attempts per layer download (resuming with Range) before a pull fails.
    #[arg(long, default_value_t = 5)]
    pub max_download_attempts: usize,
}

pub fn run(a: DaemonArgs) -> Result<i32> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&a.log_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Plain text in a log file (colour escapes only on a terminal).
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let path = a
        .listen
        .strip_prefix("unix://")
        .map(PathBuf::from)
        .with_context(|| format!("unsupported --host {:?}: only unix:// sockets", a.listen))?;
    let engine = berth_engine::Engine::open(berth_engine::EngineConfig {
        data_root: a.data_root.clone(),
        host: a.listen.clone(),
        exec_root: a.exec_root.clone(),
        berth_exe: std::env::current_exe().context("locating the berth executable")?,
    })
    .with_context(|| format!("opening data root {}", a.data_root.display()))?;
    engine.set_dist_config(dist_config(&a));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        if path.exists() {
            if tokio::net::UnixStream::connect(&path).await.is_ok() {
                bail!("another daemon is already listening on {}", path.display());
            }
            std::fs::remove_file(&path).with_context(|| format!("remove stale {}", path.display()))?;
        }
        engine
            .restore_containers()
            .await
            .context("restoring containers")?;
        // Networking failing (no netlink, no nft) leaves containers with only `lo`.
        let _ = engine
            .init_networks(berth_engine::networks::NetOptions {
                bip: a.bip.clone(),
                pools: a.default_address_pool.clone(),
                no_bridge: a.bridge.as_deref() == Some("none"),
            })
            .await;
        engine.remove_autoremove_leftovers().await;
        let listener = tokio::net::UnixListener::bind(&path)
            .with_context(|| format!("listen on {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660))?;
        tracing::info!(socket = %path.display(), data_root = %a.data_root.display(), "berth daemon listening");
        let shutdown = async {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate()).ok();
            let mut int = signal(SignalKind::interrupt()).ok();
            tokio::select! {
                _ = async { if let Some(t) = term.as_mut() { t.recv().await; } else { std::future::pending::<()>().await } } => {},
                _ = async { if let Some(i) = int.as_mut() { i.recv().await; } else { std::future::pending::<()>().await } } => {},
            }
            tracing::info!("shutting down");
        };
        berth_api::serve(engine.clone(), listener, shutdown).await?;
        engine.shutdown_networks().await;
        if let Err(e) = engine.store().flush_layers() {
            tracing::warn!("flushing layers at shutdown: {e}");
        }
        let _ = std::fs::remove_file(&path);
        Ok(0)
    })
}

fn dist_config(a: &DaemonArgs) -> berth_dist::DistConfig {
    let mut c = berth_dist::DistConfig {
        insecure_registries: a.insecure_registries.clone(),
        max_concurrent_downloads: a.max_concurrent_downloads,
        max_concurrent_uploads: a.max_concurrent_uploads,
        max_download_attempts: a.max_download_attempts,
        ..Default::default()
    };
    if !a.registry_certs_dirs.is_empty() {
        c.certs_dirs = a.registry_certs_dirs.clone();
    }
    c
}
