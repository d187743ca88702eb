//! `berth shim`: placeholder, filled in by the shim work.

/// Arguments of `berth shim`.
#[derive(clap::Args, Debug)]
pub struct ShimArgs {
    /// Arguments (not yet implemented).
    #[arg(trailing_var_arg = true)]
    pub args: Vec<String>,
}

/// Runs `berth shim`.
pub fn run(_args: ShimArgs) -> anyhow::Result<i32> {
    anyhow::bail!("berth shim is not implemented yet")
}
