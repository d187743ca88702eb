//! `top` and `stats`: what runs in a container and what it uses, read from its cgroup.
//!
//! `top` works as Docker's does: run the host's `ps` with the caller's arguments and keep
//! the rows whose PID belongs to the container's cgroup.

use super::*;
use bollard_stubs::models::{
    ContainerCpuStats, ContainerCpuUsage, ContainerMemoryStats, ContainerPidsStats,
    ContainerStatsResponse, ContainerTopResponse,
};

/// Nanoseconds of CPU time the whole host has spent (`/proc/stat`'s first line), the
/// `system_cpu_usage` docker's CLI divides by.
fn system_cpu_ns() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = text
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    // USER_HZ is 100 on Linux.
    ticks * 10_000_000
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// `memory.stat` of the container's cgroup (v1 or v2) as key → value.
fn memory_stat(cgroups_path: &str) -> HashMap<String, u64> {
    let rel = cgroups_path.trim_start_matches('/');
    let text = std::fs::read_to_string(format!("/sys/fs/cgroup/memory/{rel}/memory.stat"))
        .or_else(|_| std::fs::read_to_string(format!("/sys/fs/cgroup/{rel}/memory.stat")))
        .unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

impl Engine {
    fn running_record(&self, name: &str) -> Result<ContainerRecord> {
        let r = self.container(name)?.snapshot();
        if !matches!(r.state.status.as_str(), "running" | "paused") {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                r.id
            )));
        }
        Ok(r)
    }

    /// `GET /containers/{id}/top?ps_args=`.
    pub fn container_top(&self, name: &str, ps_args: Option<&str>) -> Result<ContainerTopResponse> {
        let r = self.running_record(name)?;
        let pids = berth_runtime::cgroups::stats(&berth_runtime::spec::cgroups_path(&r.id)).pids;
        let args: Vec<&str> = ps_args
            .filter(|a| !a.trim().is_empty())
            .unwrap_or("-ef")
            .split_whitespace()
            .collect();
        let out = std::process::Command::new("ps")
            .args(&args)
            .output()
            .map_err(|e| EngineError::Internal(format!("running ps: {e}")))?;
        if !out.status.success() {
            return Err(EngineError::Internal(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let header = lines.next().unwrap_or("");
        let titles: Vec<String> = header.split_whitespace().map(String::from).collect();
        let pid_col = titles.iter().position(|t| t == "PID").ok_or_else(|| {
            EngineError::BadRequest("Couldn't find PID field in ps output".into())
        })?;
        let mut processes = Vec::new();
        for line in lines {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < titles.len() {
                continue;
            }
            let Ok(pid) = fields[pid_col].parse::<i32>() else {
                continue;
            };
            if !pids.contains(&pid) {
                continue;
            }
            // The last column (the command) keeps its spaces.
            let mut row: Vec<String> = fields[..titles.len() - 1]
                .iter()
                .map(|s| s.to_string())
                .collect();
            row.push(fields[titles.len() - 1..].join(" "));
            processes.push(row);
        }
        Ok(ContainerTopResponse {
            titles: Some(titles),
            processes: Some(processes),
        })
    }

    /// One stats sample (without `precpu_stats`), or `None` when the container is not
    /// running (docker then reports zeros).
    pub fn container_stats_sample(&self, name: &str) -> Result<ContainerStatsResponse> {
        let r = self.container(name)?.snapshot();
        let running = matches!(r.state.status.as_str(), "running" | "paused");
        let cg = berth_runtime::spec::cgroups_path(&r.id);
        let s = if running {
            berth_runtime::cgroups::stats(&cg)
        } else {
            Default::default()
        };
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        let limit = s.memory_limit.unwrap_or_else(host_memory);
        Ok(ContainerStatsResponse {
            id: Some(r.id.clone()),
            name: Some(format!("/{}", r.name)),
            os_type: Some("linux".into()),
            read: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
            preread: Some(ZERO_TIME.into()),
            num_procs: Some(0),
            cpu_stats: Some(ContainerCpuStats {
                cpu_usage: Some(ContainerCpuUsage {
                    total_usage: Some(s.cpu_usage_ns),
                    percpu_usage: None,
                    usage_in_kernelmode: Some(0),
                    usage_in_usermode: Some(0),
                }),
                system_cpu_usage: running.then(system_cpu_ns),
                online_cpus: Some(cpus),
                throttling_data: None,
            }),
            precpu_stats: Some(ContainerCpuStats::default()),
            memory_stats: Some(if running {
                ContainerMemoryStats {
                    usage: Some(s.memory_usage),
                    limit: Some(limit),
                    stats: Some(memory_stat(&cg)),
                    ..Default::default()
                }
            } else {
                ContainerMemoryStats::default()
            }),
            pids_stats: Some(ContainerPidsStats {
                current: running.then_some(s.pids_current),
                limit: r
                    .host_config
                    .pids_limit
                    .filter(|l| *l > 0)
                    .map(|l| l as u64),
            }),
            ..Default::default()
        })
    }

    /// `GET /containers/{id}/stats`: a sample with the previous one as `precpu_stats`.
    /// With `one_shot` there is no previous sample; otherwise the first answer waits a
    /// second for one, as Docker does.
    pub async fn container_stats(
        self: &Arc<Self>,
        name: &str,
        prev: Option<&ContainerStatsResponse>,
        one_shot: bool,
    ) -> Result<ContainerStatsResponse> {
        let engine = self.clone();
        let n = name.to_string();
        let sample = move || {
            let e = engine.clone();
            let n = n.clone();
            async move {
                tokio::task::spawn_blocking(move || e.container_stats_sample(&n))
                    .await
                    .map_err(|e| EngineError::Internal(e.to_string()))?
            }
        };
        let first;
        let prev = match prev {
            Some(p) => Some(p),
            None if one_shot => None,
            None => {
                first = sample().await?;
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                Some(&first)
            }
        };
        let mut now = sample().await?;
        if let Some(p) = prev {
            now.precpu_stats = p.cpu_stats.clone();
            now.preread = p.read.clone();
        }
        Ok(now)
    }
}
