//! The `berth` binary: one executable for every role. `main` stays synchronous; each
//! subcommand decides whether it needs an async runtime (the shim must not have one).

mod cmd;
mod format;

use clap::Parser;

/// berth: a Docker-compatible container engine.
#[derive(Parser, Debug)]
#[command(name = "berth", version, about, disable_help_subcommand = true)]
struct Cli {
    #[command(flatten)]
    client: cmd::ClientOpts,
    #[command(subcommand)]
    command: cmd::Command,
}

fn main() {
    let cli = Cli::parse();
    let code = match cmd::run(cli.command, &cli.client) {
        Ok(code) => code,
        Err(e) => match e.downcast_ref::<cmd::containers::Exit>() {
            Some(cmd::containers::Exit(code, msg)) => {
                eprintln!("{msg}");
                *code
            }
            None => {
                eprintln!("{e:#}");
                1
            }
        },
    };
    std::process::exit(code);
}
