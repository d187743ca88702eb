//! `berth analyze`: placeholder, filled in by the analyze work.

/// Arguments of `berth analyze`.
#[derive(clap::Args, Debug)]
pub struct AnalyzeArgs {
    /// Arguments (not yet implemented).
    #[arg(trailing_var_arg = true)]
    pub args: Vec<String>,
}

/// Runs `berth analyze`.
pub fn run(_args: AnalyzeArgs) -> anyhow::Result<i32> {
    anyhow::bail!("berth analyze is not implemented yet")
}
