//! Reading a container's cgroup (`linux.cgroupsPath`, `/berth/<id>`) for `docker stats` and
//! `docker top`: memory usage and limit, CPU time, pid count and member pids, on cgroup v1
//! (this host) and v2. Plain file reads, safe to call from the daemon's async threads.

use std::fs;
use std::path::PathBuf;

/// A cgroup v1 "no limit" value is a huge number; anything above this is treated as none.
const UNLIMITED: u64 = 1 << 62;

/// Usage figures of one container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CgroupStats {
    /// Memory in use, bytes.
    pub memory_usage: u64,
    /// Memory limit, bytes (`None` when unlimited).
    pub memory_limit: Option<u64>,
    /// CPU time consumed, nanoseconds.
    pub cpu_usage_ns: u64,
    /// Number of tasks.
    pub pids_current: u64,
    /// Host PIDs of the processes in the container.
    pub pids: Vec<i32>,
}

fn read_u64(p: PathBuf) -> Option<u64> {
    fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// Reads the stats of the cgroup at `cgroups_path` (e.g. `/berth/<id>`).
pub fn stats(cgroups_path: &str) -> CgroupStats {
    let rel = cgroups_path.trim_start_matches('/');
    let v1 = |ctrl: &str, file: &str| PathBuf::from(format!("/sys/fs/cgroup/{ctrl}/{rel}/{file}"));
    let v2 = |file: &str| PathBuf::from(format!("/sys/fs/cgroup/{rel}/{file}"));
    let mut s = CgroupStats::default();
    if let Some(u) = read_u64(v1("memory", "memory.usage_in_bytes")) {
        s.memory_usage = u;
        s.memory_limit = read_u64(v1("memory", "memory.limit_in_bytes")).filter(|l| *l < UNLIMITED);
        s.cpu_usage_ns = read_u64(v1("cpuacct", "cpuacct.usage")).unwrap_or(0);
        s.pids_current = read_u64(v1("pids", "pids.current")).unwrap_or(0);
        s.pids = read_pids(v1("pids", "cgroup.procs"))
            .or_else(|| read_pids(v1("memory", "cgroup.procs")))
            .unwrap_or_default();
    } else {
        s.memory_usage = read_u64(v2("memory.current")).unwrap_or(0);
        s.memory_limit = read_u64(v2("memory.max")).filter(|l| *l < UNLIMITED);
        s.cpu_usage_ns = fs::read_to_string(v2("cpu.stat"))
            .ok()
            .and_then(|t| {
                t.lines().find_map(|l| {
                    l.strip_prefix("usage_usec ")
                        .and_then(|v| v.trim().parse::<u64>().ok())
                })
            })
            .map(|us| us * 1000)
            .unwrap_or(0);
        s.pids_current = read_u64(v2("pids.current")).unwrap_or(0);
        s.pids = read_pids(v2("cgroup.procs")).unwrap_or_default();
    }
    if s.pids_current == 0 {
        s.pids_current = s.pids.len() as u64;
    }
    s
}

/// Removes whatever is left of the cgroup at `cgroups_path` in every hierarchy (v1
/// controllers and the v2 tree), retrying for up to `timeout` while exiting tasks still
/// hold it busy. Returns the directories that could not be removed.
pub fn remove_leftovers(cgroups_path: &str, timeout: std::time::Duration) -> Vec<PathBuf> {
    let rel = cgroups_path.trim_start_matches('/');
    if rel.is_empty() {
        return Vec::new();
    }
    let mut dirs: Vec<PathBuf> = vec![PathBuf::from("/sys/fs/cgroup").join(rel)];
    if let Ok(rd) = fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            dirs.push(e.path().join(rel));
        }
    }
    dirs.retain(|d| d.is_dir());
    let end = std::time::Instant::now() + timeout;
    loop {
        dirs.retain(|d| fs::remove_dir(d).is_err() && d.exists());
        if dirs.is_empty() || std::time::Instant::now() >= end {
            return dirs;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn read_pids(p: PathBuf) -> Option<Vec<i32>> {
    let text = fs::read_to_string(p).ok()?;
    Some(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_cgroup_reads_as_empty() {
        let s = stats("/berth/does-not-exist-xyz");
        assert_eq!(s, CgroupStats::default());
    }
}
