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

/// Parses `berth daemon …`, `berth shim …` and `berth run …` with only that subcommand's
/// parser. clap builds the whole command tree (every subcommand's arguments) before it
/// parses; for these three that is most of their start-up work and leaves the code of
/// every other parser resident in the long-lived daemon and shims. `None` (the full parser
/// decides) for anything else, and for any argument list this parser rejects, so help and
/// error messages always come from the full parser.
fn parse_single(args: &[std::ffi::OsString]) -> Option<cmd::Command> {
    fn one<A: clap::Args + clap::FromArgMatches>(
        name: &'static str,
        args: &[std::ffi::OsString],
    ) -> Option<A> {
        let m = A::augment_args(clap::Command::new(name))
            .try_get_matches_from(args)
            .ok()?;
        A::from_arg_matches(&m).ok()
    }
    let rest = args.get(1..)?;
    match args.get(1)?.to_str()? {
        "daemon" => one("daemon", rest).map(cmd::Command::Daemon),
        "shim" => one("shim", rest).map(cmd::Command::Shim),
        "run" => one("run", rest).map(cmd::Command::Run),
        _ => None,
    }
}

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let (command, client) = match parse_single(&args) {
        Some(c) => (c, cmd::ClientOpts::default()),
        None => {
            let cli = Cli::parse_from(&args);
            (cli.command, cli.client)
        }
    };
    let code = match cmd::run(command, &client) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn full(args: &[&str]) -> String {
        format!(
            "{:?}",
            Cli::try_parse_from(args).expect("full parser").command
        )
    }

    fn single(args: &[&str]) -> Option<String> {
        let args: Vec<std::ffi::OsString> = args.iter().map(|a| a.into()).collect();
        parse_single(&args).map(|c| format!("{c:?}"))
    }

    #[test]
    fn single_subcommand_parsing_matches_the_full_parser() {
        for args in [
            &["berth", "daemon"][..],
            &[
                "berth",
                "daemon",
                "-H",
                "unix:///tmp/x.sock",
                "--data-root",
                "/tmp/d",
            ],
            &["berth", "shim", "--spare", "--runtime-root", "/run/x"],
            &[
                "berth",
                "shim",
                "--id",
                "a",
                "--bundle",
                "/b",
                "--state-dir",
                "/s",
                "--start",
            ],
            &["berth", "run", "--rm", "busybox", "true"],
            &[
                "berth",
                "run",
                "-it",
                "-e",
                "A=1",
                "-p",
                "80:80",
                "--name",
                "x",
                "img",
                "sh",
                "-c",
                "echo -n hi",
            ],
            &[
                "berth",
                "run",
                "-d",
                "--network",
                "none",
                "img",
                "ls",
                "-la",
                "--",
                "-x",
            ],
            &["berth", "run", "--entrypoint", "", "img"],
        ] {
            assert_eq!(single(args), Some(full(args)), "{args:?}");
        }
    }

    #[test]
    fn everything_else_goes_to_the_full_parser() {
        // Help and errors, other subcommands, global options before the subcommand.
        assert_eq!(single(&["berth", "run", "--help"]), None);
        assert_eq!(single(&["berth", "run", "--no-such-flag", "img"]), None);
        assert_eq!(single(&["berth", "run"]), None);
        assert_eq!(single(&["berth", "ps", "-a"]), None);
        assert_eq!(single(&["berth", "-H", "unix:///x", "run", "img"]), None);
        assert_eq!(single(&["berth"]), None);
    }
}
