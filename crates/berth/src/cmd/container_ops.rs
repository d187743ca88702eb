//! `rename`, `top`, `stats`, `attach` and `container prune`.

use super::client::{api_error, runtime, ClientOpts};
use super::containers::attach_and_start;
use super::images::parse_filters;
use crate::format::{binary_size, human_size, print_table, Template};
use anyhow::{anyhow, Result};
use bollard::models::ContainerStatsResponse;
use bollard::query_parameters as qp;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// `berth rename CONTAINER NEW_NAME`.
#[derive(clap::Args, Debug)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

pub fn rename(opts: &ClientOpts, a: RenameArgs) -> Result<i32> {
    runtime()?.block_on(async {
        let d = opts.connect().await?;
        d.rename_container(
            &a.container,
            qp::RenameContainerOptions {
                name: a.new_name.clone(),
            },
        )
        .await
        .map_err(api_error)?;
        Ok(0)
    })
}

/// `berth top CONTAINER [ps OPTIONS]`.
#[derive(clap::Args, Debug)]
pub struct TopArgs {
    pub container: String,
    /// Options passed to ps (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

pub fn top(opts: &ClientOpts, a: TopArgs) -> Result<i32> {
    let r = runtime()?.block_on(async {
        let d = opts.connect().await?;
        d.top_processes(
            &a.container,
            Some(qp::TopOptions {
                ps_args: a.ps_args.join(" "),
            }),
        )
        .await
        .map_err(api_error)
    })?;
    let mut table = vec![r.titles.unwrap_or_default()];
    table.extend(r.processes.unwrap_or_default());
    print_table(&table);
    Ok(0)
}

/// `berth stats [CONTAINER...]`.
#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result.
    #[arg(long)]
    pub no_stream: bool,
    /// Do not truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Format output using a Go template.
    #[arg(long)]
    pub format: Option<String>,
    pub containers: Vec<String>,
}

/// One `docker stats` row, computed the way the docker CLI does (CPU % from the deltas
/// against the previous sample; memory without the inactive file cache).
pub fn stats_row(s: &ContainerStatsResponse, no_trunc: bool) -> serde_json::Value {
    let cpu = s.cpu_stats.clone().unwrap_or_default();
    let pre = s.precpu_stats.clone().unwrap_or_default();
    let total = |c: &bollard::models::ContainerCpuStats| {
        c.cpu_usage
            .as_ref()
            .and_then(|u| u.total_usage)
            .unwrap_or(0) as f64
    };
    let cpu_delta = total(&cpu) - total(&pre);
    let sys_delta =
        cpu.system_cpu_usage.unwrap_or(0) as f64 - pre.system_cpu_usage.unwrap_or(0) as f64;
    let cpus = cpu.online_cpus.unwrap_or(1).max(1) as f64;
    let cpu_pct = if cpu_delta > 0.0 && sys_delta > 0.0 {
        cpu_delta / sys_delta * cpus * 100.0
    } else {
        0.0
    };
    let mem = s.memory_stats.clone().unwrap_or_default();
    let st = mem.stats.clone().unwrap_or_default();
    let cache = st
        .get("total_inactive_file")
        .or_else(|| st.get("inactive_file"))
        .copied()
        .unwrap_or(0);
    let used = mem.usage.unwrap_or(0).saturating_sub(cache);
    let limit = mem.limit.unwrap_or(0);
    let mem_pct = if limit > 0 {
        used as f64 / limit as f64 * 100.0
    } else {
        0.0
    };
    let id = s.id.clone().unwrap_or_default();
    let id = if no_trunc {
        id
    } else {
        id.chars().take(12).collect()
    };
    let pids = s.pids_stats.as_ref().and_then(|p| p.current).unwrap_or(0);
    let bin = binary_size;
    serde_json::json!({
        "ID": id,
        "Container": id,
        "Name": s.name.clone().unwrap_or_default().trim_start_matches('/'),
        "CPUPerc": format!("{cpu_pct:.2}%"),
        "MemUsage": format!("{} / {}", bin(used), bin(limit)),
        "MemPerc": format!("{mem_pct:.2}%"),
        "NetIO": format!("{} / {}", human_size(0), human_size(0)),
        "BlockIO": format!("{} / {}", human_size(0), human_size(0)),
        "PIDs": pids.to_string(),
    })
}

fn render_stats(rows: &[serde_json::Value], format: Option<&Template>) -> Result<String> {
    let mut out = String::new();
    if let Some(t) = format {
        for r in rows {
            out.push_str(&t.render(r)?);
            out.push('\n');
        }
        return Ok(out);
    }
    let cols = [
        ("CONTAINER ID", "ID"),
        ("NAME", "Name"),
        ("CPU %", "CPUPerc"),
        ("MEM USAGE / LIMIT", "MemUsage"),
        ("MEM %", "MemPerc"),
        ("NET I/O", "NetIO"),
        ("BLOCK I/O", "BlockIO"),
        ("PIDS", "PIDs"),
    ];
    let mut table = vec![cols.iter().map(|c| c.0.to_string()).collect::<Vec<_>>()];
    for r in rows {
        table.push(
            cols.iter()
                .map(|c| r[c.1].as_str().unwrap_or("").to_string())
                .collect(),
        );
    }
    let mut buf = Vec::new();
    crate::format::write_table(&mut buf, &table)?;
    out.push_str(&String::from_utf8_lossy(&buf));
    Ok(out)
}

pub fn stats(opts: &ClientOpts, a: StatsArgs) -> Result<i32> {
    let tmpl = a
        .format
        .as_deref()
        .filter(|f| !f.starts_with("table"))
        .map(Template::parse)
        .transpose()?;
    let rt = runtime()?;
    let r = rt.block_on(async {
        let d = opts.connect().await?;
        let names: Vec<String> = if a.containers.is_empty() {
            d.list_containers(Some(qp::ListContainersOptions {
                all: a.all,
                ..Default::default()
            }))
            .await
            .map_err(api_error)?
            .into_iter()
            .filter_map(|c| c.id)
            .collect()
        } else {
            a.containers.clone()
        };
        let latest: Arc<Mutex<BTreeMap<usize, ContainerStatsResponse>>> = Default::default();
        if a.no_stream {
            for (i, n) in names.iter().enumerate() {
                let mut s = d.stats(
                    n,
                    Some(qp::StatsOptions {
                        stream: false,
                        one_shot: false,
                    }),
                );
                match s.next().await {
                    Some(Ok(r)) => {
                        latest.lock().map_err(|_| anyhow!("poisoned"))?.insert(i, r);
                    }
                    Some(Err(e)) => return Err(api_error(e)),
                    None => {}
                }
            }
            let rows: Vec<_> = latest
                .lock()
                .map_err(|_| anyhow!("poisoned"))?
                .values()
                .map(|s| stats_row(s, a.no_trunc))
                .collect();
            print!("{}", render_stats(&rows, tmpl.as_ref())?);
            return Ok(0);
        }
        for (i, n) in names.iter().enumerate() {
            let d = d.clone();
            let n = n.clone();
            let latest = latest.clone();
            tokio::spawn(async move {
                let mut s = d.stats(
                    &n,
                    Some(qp::StatsOptions {
                        stream: true,
                        one_shot: false,
                    }),
                );
                while let Some(Ok(r)) = s.next().await {
                    if let Ok(mut m) = latest.lock() {
                        m.insert(i, r);
                    }
                }
            });
        }
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
            let rows: Vec<_> = latest
                .lock()
                .map_err(|_| anyhow!("poisoned"))?
                .values()
                .map(|s| stats_row(s, a.no_trunc))
                .collect();
            let mut o = std::io::stdout().lock();
            // Clear the screen and redraw, as docker does.
            write!(o, "\x1b[2J\x1b[H{}", render_stats(&rows, tmpl.as_ref())?)?;
            o.flush()?;
        }
    });
    rt.shutdown_background();
    r
}

/// `berth attach CONTAINER`.
#[derive(clap::Args, Debug)]
pub struct AttachArgs {
    /// Do not attach STDIN.
    #[arg(long)]
    pub no_stdin: bool,
    pub container: String,
}

pub fn attach(opts: &ClientOpts, a: AttachArgs) -> Result<i32> {
    let rt = runtime()?;
    let r = rt.block_on(async {
        let d = opts.connect().await?;
        let info = d
            .inspect_container(&a.container, None::<qp::InspectContainerOptions>)
            .await
            .map_err(api_error)?;
        let cfg = info.config.clone().unwrap_or_default();
        let running = info.state.as_ref().and_then(|s| s.running).unwrap_or(false);
        if !running {
            anyhow::bail!("You cannot attach to a stopped container, start it first");
        }
        let stdin = !a.no_stdin && cfg.open_stdin.unwrap_or(false);
        let id = info.id.unwrap_or_default();
        attach_and_start(opts, &d, &id, stdin, cfg.tty.unwrap_or(false), false, false).await
    });
    rt.shutdown_background();
    r
}

/// `berth container prune`.
#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. 'until=<timestamp>').
    #[arg(long)]
    pub filter: Vec<String>,
}

pub fn prune(opts: &ClientOpts, a: PruneArgs) -> Result<i32> {
    let filters = parse_filters(&a.filter)?;
    if !super::client::confirm_prune(
        a.force,
        "WARNING! This will remove all stopped containers.\n",
    )? {
        return Ok(0);
    }
    let r = runtime()?.block_on(async {
        let d = opts.connect().await?;
        d.prune_containers(Some(qp::PruneContainersOptions {
            filters: Some(filters),
        }))
        .await
        .map_err(api_error)
    })?;
    let ids = r.containers_deleted.unwrap_or_default();
    if !ids.is_empty() {
        println!("Deleted Containers:");
        for i in ids {
            println!("{i}");
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        human_size(r.space_reclaimed.unwrap_or(0))
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerCpuStats, ContainerCpuUsage, ContainerMemoryStats};

    #[test]
    fn stats_row_computes_docker_percentages() {
        let cpu = |total, sys| ContainerCpuStats {
            cpu_usage: Some(ContainerCpuUsage {
                total_usage: Some(total),
                ..Default::default()
            }),
            system_cpu_usage: Some(sys),
            online_cpus: Some(2),
            throttling_data: None,
        };
        let s = ContainerStatsResponse {
            id: Some("0123456789abcdef".into()),
            name: Some("/web".into()),
            cpu_stats: Some(cpu(300, 2000)),
            precpu_stats: Some(cpu(100, 1000)),
            memory_stats: Some(ContainerMemoryStats {
                usage: Some(3 * 1024 * 1024),
                limit: Some(8 * 1024 * 1024),
                stats: Some([("total_inactive_file".to_string(), 1024 * 1024)].into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = stats_row(&s, false);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Name"], "web");
        // (200 / 1000) * 2 cpus * 100
        assert_eq!(r["CPUPerc"], "40.00%");
        assert_eq!(r["MemUsage"], "2MiB / 8MiB");
        assert_eq!(r["MemPerc"], "25.00%");
    }
}

/// `berth container …` (docker's management-command spelling).
#[derive(clap::Subcommand, Debug)]
pub enum ContainerCmd {
    /// List containers.
    #[command(alias = "list", alias = "ps", name = "ls")]
    Ls(super::containers::PsArgs),
    /// Create and run a new container.
    Run(super::containers::RunArgs),
    /// Create a new container.
    Create(super::containers::CreateArgs),
    /// Start one or more stopped containers.
    Start(super::containers::StartArgs),
    /// Stop one or more running containers.
    Stop(super::containers::StopArgs),
    /// Restart one or more containers.
    Restart(super::containers::StopArgs),
    /// Kill one or more running containers.
    Kill(super::containers::KillArgs),
    /// Remove one or more containers.
    #[command(alias = "remove", name = "rm")]
    Rm(super::containers::RmArgs),
    /// Fetch the logs of a container.
    Logs(super::containers::LogsArgs),
    /// Execute a command in a running container.
    Exec(super::containers::ExecArgs),
    /// Inspect changes on a container's filesystem.
    Diff(super::containers::DiffArgs),
    /// Block until containers stop, then print their exit codes.
    Wait(super::containers::WaitArgs),
    /// Copy files/folders between a container and the local filesystem.
    Cp(super::container_fs::CpArgs),
    /// Export a container's filesystem as a tar archive.
    Export(super::container_fs::ExportArgs),
    /// Display detailed information on one or more containers.
    Inspect(super::images::InspectArgs),
    /// Rename a container.
    Rename(RenameArgs),
    /// Update configuration of one or more containers.
    Update(super::update::UpdateArgs),
    /// Display the running processes of a container.
    Top(TopArgs),
    /// Display a live stream of container resource usage statistics.
    Stats(StatsArgs),
    /// Attach to a running container.
    Attach(AttachArgs),
    /// Remove all stopped containers.
    Prune(PruneArgs),
}

/// Runs a `berth container …` subcommand.
pub fn run_container_cmd(opts: &ClientOpts, c: ContainerCmd) -> Result<i32> {
    use super::containers as c_;
    match c {
        ContainerCmd::Ls(a) => c_::ps(opts, a),
        ContainerCmd::Run(a) => c_::run(opts, a),
        ContainerCmd::Create(a) => c_::create_cmd(opts, a),
        ContainerCmd::Start(a) => c_::start(opts, a),
        ContainerCmd::Stop(a) => c_::stop(opts, a, false),
        ContainerCmd::Restart(a) => c_::stop(opts, a, true),
        ContainerCmd::Kill(a) => c_::kill(opts, a),
        ContainerCmd::Rm(a) => c_::rm(opts, a),
        ContainerCmd::Logs(a) => c_::logs(opts, a),
        ContainerCmd::Exec(a) => c_::exec(opts, a),
        ContainerCmd::Diff(a) => c_::diff(opts, a),
        ContainerCmd::Wait(a) => c_::wait(opts, a),
        ContainerCmd::Cp(a) => super::container_fs::cp(opts, a),
        ContainerCmd::Export(a) => super::container_fs::export(opts, a),
        ContainerCmd::Inspect(mut a) => {
            a.kind = Some("container".into());
            super::images::inspect(opts, a)
        }
        ContainerCmd::Rename(a) => rename(opts, a),
        ContainerCmd::Update(a) => super::update::update(opts, a),
        ContainerCmd::Top(a) => top(opts, a),
        ContainerCmd::Stats(a) => stats(opts, a),
        ContainerCmd::Attach(a) => attach(opts, a),
        ContainerCmd::Prune(a) => prune(opts, a),
    }
}
