//! Subcommand table. Each role lives in its own module with its clap arguments and a
//! `run` function returning the process exit code.

pub mod analyze;
pub mod registry;
pub mod shim;

/// Every `berth` subcommand.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Run the OCI distribution registry server and its tools.
    Registry(registry::RegistryArgs),
    /// Analyze an image's layers: efficiency, wasted bytes, CI rules, TUI.
    Analyze(analyze::AnalyzeArgs),
    /// Internal: the per-container shim (started by the daemon).
    #[command(hide = true)]
    Shim(shim::ShimArgs),
}

/// Runs a subcommand and returns its exit code.
pub fn run(cmd: Command) -> anyhow::Result<i32> {
    match cmd {
        Command::Registry(a) => registry::run(a),
        Command::Analyze(a) => analyze::run(a),
        Command::Shim(a) => shim::run(a),
    }
}
