//! `berth registry`: the OCI distribution registry server (`serve`) and its offline tools
//! (`garbage-collect`), with the same arguments as distribution's `registry` binary.

use anyhow::Context as _;
use std::path::PathBuf;

/// Arguments of `berth registry`.
#[derive(clap::Args, Debug)]
pub struct RegistryArgs {
    #[command(subcommand)]
    pub command: RegistryCommand,
}

/// `berth registry` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum RegistryCommand {
    /// Serve the registry API (distribution-compatible config file and REGISTRY_* env).
    Serve {
        /// distribution (`registry:2`) YAML configuration; else $REGISTRY_CONFIGURATION_PATH;
        /// else the defaults (listen on :5000, store in /var/lib/registry).
        config: Option<PathBuf>,
    },
    /// Delete blobs no manifest references (safe while the registry is serving).
    #[command(name = "garbage-collect")]
    GarbageCollect {
        /// Only print what would be deleted.
        #[arg(short = 'd', long)]
        dry_run: bool,
        /// Also delete manifests that no tag points at.
        #[arg(short = 'm', long)]
        delete_untagged: bool,
        /// Keep content written or touched this recently (pushes in progress), e.g. 10m, 0s.
        #[arg(long, default_value = "10m")]
        grace_period: String,
        /// Print only the summary.
        #[arg(short = 'q', long)]
        quiet: bool,
        /// distribution (`registry:2`) YAML configuration.
        config: Option<PathBuf>,
    },
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Runs `berth registry`.
pub fn run(args: RegistryArgs) -> anyhow::Result<i32> {
    init_logging();
    match args.command {
        RegistryCommand::Serve { config } => {
            let config = config
                .or_else(|| std::env::var_os("REGISTRY_CONFIGURATION_PATH").map(PathBuf::from));
            let cfg = berth_registry::Config::load(config.as_deref(), std::env::vars())?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            rt.block_on(async move {
                let running = berth_registry::start(&cfg).await?;
                let stop = running.shutdown_handle();
                tokio::spawn(async move {
                    let mut term = match tokio::signal::unix::signal(
                        tokio::signal::unix::SignalKind::terminate(),
                    ) {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::error!(error = %e, "cannot watch SIGTERM");
                            return;
                        }
                    };
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                    let _ = stop.send(true);
                });
                running.wait().await;
                anyhow::Ok(())
            })?;
            Ok(0)
        }
        RegistryCommand::GarbageCollect {
            dry_run,
            delete_untagged,
            grace_period,
            quiet,
            config,
        } => {
            let config = config
                .or_else(|| std::env::var_os("REGISTRY_CONFIGURATION_PATH").map(PathBuf::from));
            let cfg = berth_registry::Config::load(config.as_deref(), std::env::vars())?;
            let grace = berth_registry::config::parse_duration(&grace_period)
                .map_err(|m| anyhow::anyhow!("--grace-period: {m}"))?;
            let store = berth_registry::store::Store::new(std::sync::Arc::new(
                berth_registry::driver::FilesystemDriver::new(cfg.root_directory()),
            ));
            let opts = berth_registry::gc::GcOptions {
                dry_run,
                delete_untagged,
                grace,
                upload_max_age: cfg.upload_max_age(),
            };
            let rep = berth_registry::gc::collect(&store, &opts)?;
            if !quiet {
                for (repo, d) in &rep.manifests_deleted {
                    println!("{repo}: manifest eligible for deletion: {d}");
                }
                for d in &rep.blobs_deleted {
                    println!("blob eligible for deletion: {d}");
                }
            }
            println!(
                "{} blobs marked, {} blobs, {} manifests and {} idle uploads {}, {} bytes freed",
                rep.blobs_marked,
                rep.blobs_deleted.len(),
                rep.manifests_deleted.len(),
                rep.uploads_purged,
                if dry_run {
                    "eligible for deletion"
                } else {
                    "deleted"
                },
                if dry_run { 0 } else { rep.bytes_freed }
            );
            Ok(0)
        }
    }
}
