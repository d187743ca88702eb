//! `berth compose`: the compose CLI over `berth-compose` (load, plan, run through the
//! Docker API with bollard), so it drives berth's daemon or a dockerd alike.

use super::client::{runtime, ClientOpts};
use anyhow::{anyhow, Result};
use berth_compose::project::{self, BuildPolicy, DownOptions, LogsOptions, Runner, UpOptions};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// `berth compose [-f FILE]... [-p NAME] [--project-directory DIR] [--profile NAME]... COMMAND`.
#[derive(clap::Args, Debug)]
pub struct ComposeArgs {
    /// Compose configuration files (repeatable; later ones override earlier ones).
    #[arg(short = 'f', long = "file")]
    pub files: Vec<PathBuf>,
    /// Project name (default: COMPOSE_PROJECT_NAME, `name:`, or the directory's name).
    #[arg(short = 'p', long = "project-name")]
    pub project_name: Option<String>,
    /// Alternate working directory (default: the first compose file's directory).
    #[arg(long = "project-directory")]
    pub project_directory: Option<PathBuf>,
    /// Specify a profile to enable (repeatable; default: COMPOSE_PROFILES).
    #[arg(long = "profile", value_name = "NAME")]
    pub profiles: Vec<String>,
    #[command(subcommand)]
    pub cmd: ComposeCmd,
}

/// Compose verbs.
#[derive(clap::Subcommand, Debug)]
pub enum ComposeCmd {
    /// Create and start containers.
    Up(UpArgs),
    /// Build or rebuild services.
    Build(ServicesArgs),
    /// List containers.
    Ps(PsArgs),
    /// View output from containers.
    Logs(LogsArgs),
    /// Stop services.
    Stop(StopArgs),
    /// Start services.
    Start(ServicesArgs),
    /// Restart services.
    Restart(StopArgs),
    /// Remove stopped service containers.
    Rm(RmArgs),
    /// Stop and remove containers, networks (and volumes, images).
    Down(DownArgs),
    /// Validate and view the normalised compose file.
    Config(ConfigArgs),
    /// Pull service images.
    Pull(ServicesArgs),
    /// Execute a command in a running service container.
    Exec(ExecArgs),
}

#[derive(clap::Args, Debug)]
pub struct UpArgs {
    /// Detached mode: run containers in the background.
    #[arg(short, long)]
    pub detach: bool,
    /// Build images before starting containers.
    #[arg(long, conflicts_with = "no_build")]
    pub build: bool,
    /// Don't build an image, even if it's missing.
    #[arg(long = "no-build")]
    pub no_build: bool,
    /// Recreate containers even if their configuration and image haven't changed.
    #[arg(long = "force-recreate")]
    pub force_recreate: bool,
    /// Don't start the services after creating them.
    #[arg(long = "no-start")]
    pub no_start: bool,
    /// Remove containers for services not defined in the Compose file.
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Scale SERVICE to NUM containers; overrides `scale` in the Compose file
    /// (repeatable).
    #[arg(long = "scale", value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    pub services: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct ServicesArgs {
    pub services: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct PsArgs {
    /// Show all stopped containers too.
    #[arg(short, long)]
    pub all: bool,
    /// Only display IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Display services.
    #[arg(long)]
    pub services: bool,
    pub service: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// Follow log output.
    #[arg(short, long)]
    pub follow: bool,
    /// Show timestamps.
    #[arg(short, long)]
    pub timestamps: bool,
    /// Number of lines to show from the end of the logs.
    #[arg(long, short = 'n')]
    pub tail: Option<String>,
    /// Produce monochrome output (accepted; output is never coloured).
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Don't print the prefix.
    #[arg(long = "no-log-prefix")]
    pub no_log_prefix: bool,
    pub services: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct StopArgs {
    /// Shutdown timeout in seconds.
    #[arg(short, long)]
    pub timeout: Option<i32>,
    pub services: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct RmArgs {
    /// Don't ask to confirm removal.
    #[arg(short, long)]
    pub force: bool,
    /// Stop the containers, if required, before removing.
    #[arg(short, long)]
    pub stop: bool,
    /// Remove any anonymous volumes attached to containers.
    #[arg(short, long)]
    pub volumes: bool,
    pub services: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct DownArgs {
    /// Remove named volumes declared in the volumes section and anonymous volumes.
    #[arg(short, long)]
    pub volumes: bool,
    /// Remove images used by services: "local" (built, no custom tag) or "all".
    #[arg(long, value_parser = ["local", "all"])]
    pub rmi: Option<String>,
    /// Remove containers for services not defined in the Compose file.
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Shutdown timeout in seconds.
    #[arg(short, long)]
    pub timeout: Option<i32>,
}

#[derive(clap::Args, Debug)]
pub struct ConfigArgs {
    /// Only validate the configuration, don't print anything.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print the service names, one per line.
    #[arg(long)]
    pub services: bool,
    /// Print the volume names, one per line.
    #[arg(long)]
    pub volumes: bool,
    /// Print the profile names, one per line.
    #[arg(long)]
    pub profiles: bool,
}

#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// Detached mode (not supported; refused).
    #[arg(short, long)]
    pub detach: bool,
    /// Disable pseudo-TTY allocation (exec never allocates one).
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Run the command as this user.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Environment variables.
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Index of the container if the service has several replicas.
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    pub service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn context_tar(dir: &std::path::Path, dockerfile: &str) -> std::io::Result<Vec<u8>> {
    berth_build::context::tar_context_dir(dir, dockerfile, Vec::new())
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// Runs `berth compose …`.
pub fn run(opts: &ClientOpts, a: ComposeArgs) -> Result<i32> {
    init_tracing();
    let load = berth_compose::LoadOptions {
        files: a.files.clone(),
        project_name: a.project_name.clone(),
        project_dir: a.project_directory.clone(),
        env: None,
        cwd: None,
        profiles: a.profiles.clone(),
    };
    let mut project = berth_compose::load(&load)?;
    // Services named on the command line are enabled even when their profiles are not
    // active (their profiles get activated), as docker compose does.
    let named: Vec<String> = match &a.cmd {
        ComposeCmd::Up(u) => u.services.clone(),
        ComposeCmd::Build(s) | ComposeCmd::Start(s) | ComposeCmd::Pull(s) => s.services.clone(),
        ComposeCmd::Ps(p) => p.service.clone(),
        ComposeCmd::Logs(l) => l.services.clone(),
        ComposeCmd::Stop(s) | ComposeCmd::Restart(s) => s.services.clone(),
        ComposeCmd::Rm(r) => r.services.clone(),
        ComposeCmd::Exec(e) => vec![e.service.clone()],
        ComposeCmd::Down(_) | ComposeCmd::Config(_) => Vec::new(),
    };
    project.enable_services(&named)?;
    if let ComposeCmd::Up(u) = &a.cmd {
        for spec in &u.scale {
            let (svc, n) = spec
                .split_once('=')
                .and_then(|(s, n)| Some((s, n.trim().parse::<u32>().ok()?)))
                .ok_or_else(|| anyhow!("invalid --scale {spec:?}: use SERVICE=NUM"))?;
            project.set_scale(svc, n)?;
        }
    }
    berth_compose::plan::validate(&project)?;
    if let ComposeCmd::Config(c) = &a.cmd {
        if c.quiet {
            return Ok(0);
        }
        if c.profiles {
            for p in project.all_profiles() {
                println!("{p}");
            }
            return Ok(0);
        }
        if c.services {
            for n in berth_compose::plan::order(&project, &[])? {
                println!("{n}");
            }
            return Ok(0);
        }
        if c.volumes {
            for n in project.volumes.keys() {
                println!("{n}");
            }
            return Ok(0);
        }
        print!("{}", project.to_yaml()?);
        return Ok(0);
    }
    let rt = runtime()?;
    let r = rt.block_on(async {
        let docker = opts.connect().await?;
        let runner = Runner {
            docker,
            project,
            context_tar: Box::new(context_tar),
            progress: Box::new(|s| eprintln!(" {s}")),
        };
        verb(opts, &runner, a.cmd).await
    });
    rt.shutdown_background();
    r
}

async fn verb(_opts: &ClientOpts, r: &Runner, cmd: ComposeCmd) -> Result<i32> {
    match cmd {
        ComposeCmd::Config(_) => Ok(0),
        ComposeCmd::Up(u) => {
            let o = UpOptions {
                services: u.services.clone(),
                build: if u.build {
                    BuildPolicy::Always
                } else if u.no_build {
                    BuildPolicy::Never
                } else {
                    BuildPolicy::IfMissing
                },
                force_recreate: u.force_recreate,
                no_start: u.no_start,
                remove_orphans: u.remove_orphans,
            };
            let up = r.up(&o).await?;
            if u.detach || u.no_start {
                return Ok(0);
            }
            attach(r, up.into_iter().map(|(s, _)| s).collect()).await
        }
        ComposeCmd::Build(s) => {
            r.build(&s.services).await?;
            Ok(0)
        }
        ComposeCmd::Pull(s) => {
            r.pull(&s.services).await?;
            Ok(0)
        }
        ComposeCmd::Ps(p) => ps(r, p).await,
        ComposeCmd::Logs(l) => {
            let o = LogsOptions {
                services: l.services.clone(),
                follow: l.follow,
                timestamps: l.timestamps,
                tail: l.tail.clone(),
            };
            let list = r.containers(true, &l.services).await?;
            print_logs(r, &list, &o, l.no_log_prefix).await?;
            Ok(0)
        }
        ComposeCmd::Stop(s) => {
            r.stop(&s.services, s.timeout).await?;
            Ok(0)
        }
        ComposeCmd::Start(s) => {
            r.start(&s.services).await?;
            Ok(0)
        }
        ComposeCmd::Restart(s) => {
            r.restart(&s.services, s.timeout).await?;
            Ok(0)
        }
        ComposeCmd::Rm(a) => {
            if !a.stop {
                let names = r.removable(&a.services).await?;
                if names.is_empty() {
                    eprintln!("No stopped containers");
                    return Ok(0);
                }
                if !a.force && std::io::stdin().is_terminal() {
                    eprint!("Going to remove {}\nAre you sure? [yN] ", names.join(", "));
                    let _ = std::io::stderr().flush();
                    let mut answer = String::new();
                    std::io::stdin().read_line(&mut answer)?;
                    if !matches!(answer.trim(), "y" | "Y" | "yes") {
                        return Ok(0);
                    }
                }
            }
            r.rm(&a.services, a.stop, a.volumes).await?;
            Ok(0)
        }
        ComposeCmd::Down(d) => {
            r.down(&DownOptions {
                volumes: d.volumes,
                rmi: d.rmi,
                remove_orphans: d.remove_orphans,
                timeout: d.timeout,
            })
            .await?;
            Ok(0)
        }
        ComposeCmd::Exec(e) => {
            if e.detach {
                return Err(anyhow!("compose exec -d is not supported yet"));
            }
            let mut out = |b: &[u8], err: bool| {
                if err {
                    let _ = std::io::stderr().write_all(b);
                } else {
                    let mut o = std::io::stdout().lock();
                    let _ = o.write_all(b);
                    let _ = o.flush();
                }
            };
            let code = r
                .exec(
                    &e.service, e.index, e.command, e.user, e.workdir, e.env, &mut out,
                )
                .await?;
            Ok(code as i32)
        }
    }
}

async fn ps(r: &Runner, p: PsArgs) -> Result<i32> {
    let list = r.containers(p.all, &p.service).await?;
    if p.quiet {
        for c in &list {
            println!("{}", c.id.clone().unwrap_or_default());
        }
        return Ok(0);
    }
    if p.services {
        for s in project::by_service(&list).keys() {
            println!("{s}");
        }
        return Ok(0);
    }
    let mut rows = vec![[
        "NAME".to_string(),
        "IMAGE".into(),
        "COMMAND".into(),
        "SERVICE".into(),
        "STATUS".into(),
        "PORTS".into(),
    ]];
    for c in &list {
        let mut command = c.command.clone().unwrap_or_default();
        if command.chars().count() > 20 {
            command = command.chars().take(19).collect::<String>() + "…";
        }
        rows.push([
            project::container_name(c),
            c.image.clone().unwrap_or_default(),
            format!("\"{command}\""),
            project::label(c, project::LABEL_SERVICE).to_string(),
            c.status.clone().unwrap_or_default(),
            project::ports_text(c),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = std::io::stdout().lock();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i == 5 {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 3));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(0)
}

async fn print_logs(
    r: &Runner,
    list: &[bollard::models::ContainerSummary],
    o: &LogsOptions,
    no_prefix: bool,
) -> Result<()> {
    let width = list
        .iter()
        .map(|c| Runner::log_prefix(c).len())
        .max()
        .unwrap_or(0);
    let mut line = |prefix: &str, text: &str, _err: bool| {
        let mut out = std::io::stdout().lock();
        let _ = if no_prefix {
            writeln!(out, "{text}")
        } else {
            writeln!(out, "{prefix:<width$}  | {text}")
        };
        let _ = out.flush();
    };
    r.logs_of(list, o, &mut line).await?;
    Ok(())
}

/// `up` without `-d`: streams the containers' logs until they all stop, or until
/// Ctrl-C, which stops them (as compose does).
async fn attach(r: &Runner, services: Vec<String>) -> Result<i32> {
    let list = r.containers(true, &services).await?;
    let names: Vec<String> = list.iter().map(project::container_name).collect();
    eprintln!("Attaching to {}", names.join(", "));
    let o = LogsOptions {
        services: services.clone(),
        follow: true,
        timestamps: false,
        tail: None,
    };
    tokio::select! {
        res = print_logs(r, &list, &o, false) => {
            res?;
            // Every stream ended: the containers have exited.
            for c in &list {
                let id = c.id.clone().unwrap_or_default();
                if let Ok(i) = r
                    .docker
                    .inspect_container(&id, None::<bollard::query_parameters::InspectContainerOptions>)
                    .await
                {
                    let code = i.state.and_then(|s| s.exit_code).unwrap_or(0);
                    eprintln!("{} exited with code {code}", project::container_name(c));
                }
            }
            Ok(0)
        }
        _ = tokio::signal::ctrl_c() => {
            eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
            tokio::select! {
                res = r.stop(&services, None) => { res?; Ok(0) }
                _ = tokio::signal::ctrl_c() => Ok(130),
            }
        }
    }
}
