//! `berth shim`: the hidden per-container shim the daemon spawns (see
//! `berth_runtime::shim`). It must stay single-threaded until libcontainer has cloned, so it
//! never starts an async runtime; its tracing output goes to `<state-dir>/shim.log` (level
//! from `BERTH_SHIM_LOG`, default `warn`).

use std::path::PathBuf;

use berth_runtime::shim::{self, ShimOptions, DEFAULT_RUNTIME_ROOT};

/// Arguments of `berth shim`.
#[derive(clap::Args, Debug)]
pub struct ShimArgs {
    /// Container ID.
    #[arg(long)]
    pub id: String,
    /// Bundle directory (config.json + berth-shim.json).
    #[arg(long)]
    pub bundle: PathBuf,
    /// State directory for the control socket and exit record (/run/berth/containers/<id>).
    #[arg(long)]
    pub state_dir: PathBuf,
    /// libcontainer's state root.
    #[arg(long, default_value = DEFAULT_RUNTIME_ROOT)]
    pub runtime_root: PathBuf,
    /// Start the container right after creating it.
    #[arg(long)]
    pub start: bool,
    /// Do not detach (debugging, benchmarks).
    #[arg(long)]
    pub foreground: bool,
    /// Only write the bundle (config.json + berth-shim.json) from this ContainerSpec JSON
    /// file and exit (debugging, benchmarks).
    #[arg(long, value_name = "SPEC_JSON")]
    pub write_bundle: Option<PathBuf>,
}

/// Runs `berth shim`.
pub fn run(args: ShimArgs) -> anyhow::Result<i32> {
    if let Some(spec_path) = &args.write_bundle {
        return write_bundle(spec_path, &args);
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_SHIM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Log to <state-dir>/shim.log, never to fd 2: libcontainer's child processes log through
    // the same subscriber after fd 2 has become the container's stderr.
    let _ = std::fs::create_dir_all(&args.state_dir);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(args.state_dir.join("shim.log"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false);
    let _ = match log {
        Ok(file) => builder.with_writer(std::sync::Mutex::new(file)).try_init(),
        Err(_) => builder.with_writer(std::io::sink).try_init(),
    };
    Ok(shim::run(ShimOptions {
        id: args.id,
        bundle: args.bundle,
        state_dir: args.state_dir,
        runtime_root: args.runtime_root,
        foreground: args.foreground,
        start: args.start,
    }))
}

/// `--write-bundle`: ContainerSpec JSON → bundle directory.
fn write_bundle(spec_path: &std::path::Path, args: &ShimArgs) -> anyhow::Result<i32> {
    use anyhow::Context;
    let data =
        std::fs::read(spec_path).with_context(|| format!("reading {}", spec_path.display()))?;
    let mut spec: berth_runtime::ContainerSpec = serde_json::from_slice(&data)
        .with_context(|| format!("parsing {}", spec_path.display()))?;
    if spec.id.is_empty() {
        spec.id = args.id.clone();
    }
    let log = args.state_dir.join(format!("{}-json.log", spec.id));
    berth_runtime::bundle::write_bundle(
        &args.bundle,
        &spec,
        Some(&log),
        None,
        &berth_runtime::spec::HostInfo::detect(),
    )?;
    Ok(0)
}
