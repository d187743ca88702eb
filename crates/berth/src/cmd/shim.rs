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
    #[arg(long, required_unless_present = "spare")]
    pub id: Option<String>,
    /// Bundle directory (config.json + berth-shim.json).
    #[arg(long, required_unless_present = "spare")]
    pub bundle: Option<PathBuf>,
    /// State directory for the control socket and exit record (/run/berth/containers/<id>).
    #[arg(long, required_unless_present = "spare")]
    pub state_dir: Option<PathBuf>,
    /// libcontainer's state root.
    #[arg(long, default_value = DEFAULT_RUNTIME_ROOT)]
    pub runtime_root: PathBuf,
    /// Start the container right after creating it.
    #[arg(long)]
    pub start: bool,
    /// Do not detach (debugging, benchmarks).
    #[arg(long)]
    pub foreground: bool,
    /// Start as a spare: detach, then wait on stdin (a socket from the daemon) for the
    /// container to run (see `berth_runtime::shim::spare`).
    #[arg(long, conflicts_with_all = ["id", "bundle", "state_dir", "foreground", "write_bundle"])]
    pub spare: bool,
    /// Only write the bundle (config.json + berth-shim.json) from this ContainerSpec JSON
    /// file and exit (debugging, benchmarks).
    #[arg(long, value_name = "SPEC_JSON")]
    pub write_bundle: Option<PathBuf>,
}

/// Runs `berth shim`.
pub fn run(args: ShimArgs) -> anyhow::Result<i32> {
    if args.spare {
        return Ok(shim::run_spare(init_tracing));
    }
    let (Some(id), Some(bundle), Some(state_dir)) = (args.id, args.bundle, args.state_dir) else {
        anyhow::bail!("--id, --bundle and --state-dir are required");
    };
    if let Some(spec_path) = &args.write_bundle {
        return write_bundle(spec_path, &id, &bundle, &state_dir);
    }
    let _ = std::fs::create_dir_all(&state_dir);
    init_tracing(&state_dir);
    Ok(shim::run(ShimOptions {
        id,
        bundle,
        state_dir,
        runtime_root: args.runtime_root,
        foreground: args.foreground,
        start: args.start,
    }))
}

/// Tracing to `<state-dir>/shim.log` (level from `BERTH_SHIM_LOG`, default `warn`), never to
/// fd 2: libcontainer's child processes log through the same subscriber after fd 2 has
/// become the container's stderr.
fn init_tracing(state_dir: &std::path::Path) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_SHIM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state_dir.join("shim.log"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false);
    let _ = match log {
        Ok(file) => builder.with_writer(std::sync::Mutex::new(file)).try_init(),
        Err(_) => builder.with_writer(std::io::sink).try_init(),
    };
}

/// `--write-bundle`: ContainerSpec JSON → bundle directory.
fn write_bundle(
    spec_path: &std::path::Path,
    id: &str,
    bundle: &std::path::Path,
    state_dir: &std::path::Path,
) -> anyhow::Result<i32> {
    use anyhow::Context;
    let data =
        std::fs::read(spec_path).with_context(|| format!("reading {}", spec_path.display()))?;
    let mut spec: berth_runtime::ContainerSpec = serde_json::from_slice(&data)
        .with_context(|| format!("parsing {}", spec_path.display()))?;
    if spec.id.is_empty() {
        spec.id = id.to_string();
    }
    let log = state_dir.join(format!("{}-json.log", spec.id));
    berth_runtime::bundle::write_bundle(
        bundle,
        &spec,
        Some(&log),
        None,
        &berth_runtime::spec::HostInfo::detect(),
    )?;
    Ok(0)
}
