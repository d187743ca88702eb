//! `berth registry`: placeholder, filled in by the registry work.

/// Arguments of `berth registry`.
#[derive(clap::Args, Debug)]
pub struct RegistryArgs {
    /// Arguments (not yet implemented).
    #[arg(trailing_var_arg = true)]
    pub args: Vec<String>,
}

/// Runs `berth registry`.
pub fn run(_args: RegistryArgs) -> anyhow::Result<i32> {
    anyhow::bail!("berth registry is not implemented yet")
}
