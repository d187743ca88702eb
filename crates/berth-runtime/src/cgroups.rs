//! A container's cgroup (`linux.cgroupsPath`, `/berth/<id>`), on cgroup v1 (this host)
//! and v2: reading it for `docker stats` and `docker top` (memory usage and limit, CPU
//! time, pid count and member pids), changing its limits live for `docker update`
//! ([`update`]), and what the host's cgroups can limit at all ([`support`]). Plain file
//! reads and writes, safe to call from the daemon's async threads.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::config::Resources;
use crate::error::RuntimeError;

/// Where the cgroup hierarchies are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

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

/// What this host's cgroups can limit: the part of Docker's `sysinfo` that `create` and
/// `update` check resources against (unsupported ones are dropped with a warning).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CgroupSupport {
    /// A memory + swap limit (v1 `memory.memsw.*`, needs swap accounting).
    pub swap_limit: bool,
    /// A memory soft limit.
    pub memory_reservation: bool,
    /// A kernel memory limit (v1 `memory.kmem.limit_in_bytes`).
    pub kernel_memory: bool,
    /// CFS quota and period.
    pub cpu_cfs: bool,
    /// CPU shares (v2: `cpu.weight`).
    pub cpu_shares: bool,
    /// The cpuset controller.
    pub cpuset: bool,
    /// The pids controller.
    pub pids: bool,
    /// A block I/O weight (v1 `blkio.weight`, v2 the io controller).
    pub blkio_weight: bool,
    /// CPUs containers may use (`0-3`).
    pub cpus: String,
    /// Memory nodes containers may use.
    pub mems: String,
}

/// This host's [`CgroupSupport`], probed once.
pub fn support() -> &'static CgroupSupport {
    static SUPPORT: OnceLock<CgroupSupport> = OnceLock::new();
    SUPPORT.get_or_init(|| support_at(Path::new(CGROUP_ROOT)))
}

/// [`CgroupSupport`] of the cgroup hierarchies mounted at `root`.
pub fn support_at(root: &Path) -> CgroupSupport {
    let read = |p: PathBuf| {
        fs::read_to_string(p)
            .map(|t| t.trim().to_string())
            .unwrap_or_default()
    };
    if let Ok(list) = fs::read_to_string(root.join("cgroup.controllers")) {
        let has = |c: &str| list.split_whitespace().any(|x| x == c);
        return CgroupSupport {
            swap_limit: has("memory"),
            memory_reservation: has("memory"),
            kernel_memory: false,
            cpu_cfs: has("cpu"),
            cpu_shares: has("cpu"),
            cpuset: has("cpuset"),
            pids: has("pids"),
            blkio_weight: has("io"),
            cpus: read(root.join("cpuset.cpus.effective")),
            mems: read(root.join("cpuset.mems.effective")),
        };
    }
    let v1 = |ctrl: &str, file: &str| root.join(ctrl).join(file).exists();
    CgroupSupport {
        swap_limit: v1("memory", "memory.memsw.limit_in_bytes"),
        memory_reservation: v1("memory", "memory.soft_limit_in_bytes"),
        kernel_memory: v1("memory", "memory.kmem.limit_in_bytes"),
        cpu_cfs: v1("cpu", "cpu.cfs_period_us"),
        cpu_shares: v1("cpu", "cpu.shares"),
        cpuset: v1("cpuset", "cpuset.cpus"),
        pids: root.join("pids").is_dir(),
        blkio_weight: v1("blkio", "blkio.weight"),
        cpus: read(root.join("cpuset").join("cpuset.cpus")),
        mems: read(root.join("cpuset").join("cpuset.mems")),
    }
}

/// Changes the limits of the live cgroup at `cgroups_path` (e.g. `/berth/<id>`) to those
/// set in `r`, as `runc update` does: a field not set (0, empty) is left as it is, `-1`
/// lifts a limit, and a pids limit of `-1` is `max`. `--cpus` becomes a CFS quota over a
/// 100 ms period. Writes are ordered so that the kernel's checks between old and new
/// values pass (memory against memory + swap, CFS period against quota).
pub fn update(cgroups_path: &str, r: &Resources) -> Result<(), RuntimeError> {
    update_at(Path::new(CGROUP_ROOT), cgroups_path, r)
}

/// [`update`] on the cgroup hierarchies mounted at `root`.
pub fn update_at(root: &Path, cgroups_path: &str, r: &Resources) -> Result<(), RuntimeError> {
    let rel = cgroups_path.trim_start_matches('/');
    if rel.is_empty() {
        return Err(missing(root));
    }
    if root.join("cgroup.controllers").exists() {
        update_v2(&root.join(rel), r)
    } else {
        update_v1(root, rel, r)
    }
}

fn missing(dir: &Path) -> RuntimeError {
    RuntimeError::io(
        "open cgroup",
        dir,
        std::io::Error::new(std::io::ErrorKind::NotFound, "no such cgroup"),
    )
}

/// Writes `value` into an existing cgroup file (no create, as cgroupfs wants).
fn write(path: &Path, value: &str) -> Result<(), RuntimeError> {
    fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|source| RuntimeError::CgroupWrite {
            path: path.to_path_buf(),
            value: value.to_string(),
            source,
        })
}

fn update_v1(root: &Path, rel: &str, r: &Resources) -> Result<(), RuntimeError> {
    let dir = |ctrl: &str| {
        let d = root.join(ctrl).join(rel);
        if d.is_dir() {
            Ok(d)
        } else {
            Err(missing(&d))
        }
    };
    if r.memory_bytes != 0 || r.memory_swap != 0 || r.memory_reservation != 0 {
        let d = dir("memory")?;
        v1_memory_and_swap(&d, r.memory_bytes, r.memory_swap)?;
        if r.memory_reservation != 0 {
            write(
                &d.join("memory.soft_limit_in_bytes"),
                &r.memory_reservation.to_string(),
            )?;
        }
    }
    let cfs = r.cfs_quota_period();
    if r.cpu_shares != 0 || cfs.is_some() {
        let d = dir("cpu")?;
        if r.cpu_shares != 0 {
            write(&d.join("cpu.shares"), &r.cpu_shares.to_string())?;
        }
        if let Some((quota, period)) = cfs {
            v1_cfs(&d, quota, period)?;
        }
    }
    if !r.cpuset_cpus.is_empty() || !r.cpuset_mems.is_empty() {
        let d = dir("cpuset")?;
        if !r.cpuset_cpus.is_empty() {
            write(&d.join("cpuset.cpus"), &r.cpuset_cpus)?;
        }
        if !r.cpuset_mems.is_empty() {
            write(&d.join("cpuset.mems"), &r.cpuset_mems)?;
        }
    }
    if r.pids_limit != 0 {
        write(&dir("pids")?.join("pids.max"), &pids_max(r.pids_limit))?;
    }
    if r.blkio_weight != 0 {
        let d = dir("blkio")?;
        let file = ["blkio.weight", "blkio.bfq.weight"]
            .iter()
            .map(|f| d.join(f))
            .find(|p| p.exists())
            .unwrap_or_else(|| d.join("blkio.weight"));
        write(&file, &r.blkio_weight.to_string())?;
    }
    Ok(())
}

/// v1 memory limit and memory + swap limit (`memory.memsw.limit_in_bytes`, written only
/// where swap accounting exists): the kernel wants memory ≤ memory + swap at every
/// instant, so swap goes first when it grows past the current memory limit (runc's order).
fn v1_memory_and_swap(d: &Path, limit: i64, swap: i64) -> Result<(), RuntimeError> {
    let has_swap = d.join("memory.memsw.limit_in_bytes").exists();
    let mut swap = if has_swap { swap } else { 0 };
    if limit == -1 && swap == 0 && has_swap {
        // Lifting the memory limit lifts the swap limit too.
        swap = -1;
    }
    let set_limit = |v: i64| write(&d.join("memory.limit_in_bytes"), &v.to_string());
    let set_swap = |v: i64| write(&d.join("memory.memsw.limit_in_bytes"), &v.to_string());
    if limit != 0 && swap != 0 {
        let current = read_u64(d.join("memory.limit_in_bytes")).unwrap_or(u64::MAX);
        if swap == -1 || current < swap as u64 {
            set_swap(swap)?;
            return set_limit(limit);
        }
    }
    if limit != 0 {
        set_limit(limit)?;
    }
    if swap != 0 {
        set_swap(swap)?;
    }
    Ok(())
}

/// v1 CFS period and quota. A shorter period can be refused (EINVAL) while the old quota
/// is still in place; it is then written again once the new quota is (runc's order).
fn v1_cfs(d: &Path, quota: i64, period: i64) -> Result<(), RuntimeError> {
    let mut pending_period = None;
    if period != 0 {
        match write(&d.join("cpu.cfs_period_us"), &period.to_string()) {
            Ok(()) => {}
            Err(RuntimeError::CgroupWrite { source, .. })
                if source.raw_os_error() == Some(libc::EINVAL) && quota != 0 =>
            {
                pending_period = Some(period);
            }
            Err(e) => return Err(e),
        }
    }
    if quota != 0 {
        write(&d.join("cpu.cfs_quota_us"), &quota.to_string())?;
        if let Some(p) = pending_period {
            write(&d.join("cpu.cfs_period_us"), &p.to_string())?;
        }
    }
    Ok(())
}

fn update_v2(d: &Path, r: &Resources) -> Result<(), RuntimeError> {
    if !d.is_dir() {
        return Err(missing(d));
    }
    if r.memory_swap != 0 || r.memory_bytes == -1 {
        // Docker's figure is memory + swap; v2's `memory.swap.max` is the swap alone.
        let memory = if r.memory_bytes != 0 {
            r.memory_bytes
        } else {
            read_v2_max(&d.join("memory.max"))
        };
        let value = v2_swap_max(r.memory_swap, memory).map_err(|reason| RuntimeError::Io {
            op: "memory.swap.max",
            path: d.join("memory.swap.max"),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, reason),
        })?;
        if let Some(v) = value {
            let path = d.join("memory.swap.max");
            // No swap accounting: lifting or disabling swap is moot (as runc).
            if path.exists() || (v != "max" && v != "0") {
                write(&path, &v)?;
            }
        }
    }
    if r.memory_bytes != 0 {
        write(&d.join("memory.max"), &v2_num(r.memory_bytes))?;
    }
    if r.memory_reservation != 0 {
        write(&d.join("memory.low"), &v2_num(r.memory_reservation))?;
    }
    if r.cpu_shares != 0 {
        write(
            &d.join("cpu.weight"),
            &shares_to_weight(r.cpu_shares).to_string(),
        )?;
    }
    if let Some((quota, period)) = r.cfs_quota_period() {
        let current = fs::read_to_string(d.join("cpu.max")).unwrap_or_default();
        write(&d.join("cpu.max"), &v2_cpu_max(quota, period, &current))?;
    }
    if !r.cpuset_cpus.is_empty() {
        write(&d.join("cpuset.cpus"), &r.cpuset_cpus)?;
    }
    if !r.cpuset_mems.is_empty() {
        write(&d.join("cpuset.mems"), &r.cpuset_mems)?;
    }
    if r.pids_limit != 0 {
        write(&d.join("pids.max"), &pids_max(r.pids_limit))?;
    }
    if r.blkio_weight != 0 {
        let bfq = d.join("io.bfq.weight");
        if bfq.exists() {
            write(&bfq, &r.blkio_weight.to_string())?;
        } else {
            write(
                &d.join("io.weight"),
                &blkio_to_io_weight(r.blkio_weight).to_string(),
            )?;
        }
    }
    Ok(())
}

/// A v2 limit (`memory.max`): a number, or `max` for `-1`; 0 when the file says `max`.
fn read_v2_max(p: &Path) -> i64 {
    match fs::read_to_string(p) {
        Ok(t) if t.trim() == "max" => -1,
        Ok(t) => t.trim().parse().unwrap_or(0),
        Err(_) => 0,
    }
}

/// `pids.max`: a positive limit, else `max`.
fn pids_max(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".into()
    }
}

/// A v2 limit value: `-1` (or any negative) is `max`.
fn v2_num(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// `cpu.weight` (1–10000) from v1 `cpu.shares` (2–262144), as runc converts:
/// `1 + ((shares - 2) * 9999) / 262142`; 0 stays "not set".
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262_142
}

/// v2 `io.weight` (1–10000) from `--blkio-weight` (10–1000), as runc converts:
/// `1 + (weight - 10) * 9999 / 990`; 0 stays "not set".
pub fn blkio_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + (u64::from(weight).saturating_sub(10) * 9999) / 990
}

/// `memory.swap.max` for Docker's memory + swap figure `memory_swap` beside the memory
/// limit `memory` (`-1`: none): `None` to leave it, `max`, or the swap part alone.
pub fn v2_swap_max(memory_swap: i64, memory: i64) -> Result<Option<String>, String> {
    if memory_swap == -1 || (memory == -1 && memory_swap == 0) {
        return Ok(Some("max".into()));
    }
    if memory_swap == 0 {
        return Ok(None);
    }
    if memory <= 0 {
        return Err("unable to set swap limit without memory limit".into());
    }
    if memory_swap < memory {
        return Err("memory+swap limit should be >= memory limit".into());
    }
    Ok(Some((memory_swap - memory).to_string()))
}

/// `cpu.max` (`<quota|max> <period>`) for a CFS `quota` and `period` (0: keep the one in
/// `current`, the file's present content; a quota of `-1` is `max`).
pub fn v2_cpu_max(quota: i64, period: i64, current: &str) -> String {
    let mut cur = current.split_whitespace();
    let (cur_quota, cur_period) = (cur.next().unwrap_or("max"), cur.next());
    let quota = match quota {
        q if q > 0 => q.to_string(),
        0 => cur_quota.to_string(),
        _ => "max".into(),
    };
    match (period, cur_period) {
        (p, _) if p > 0 => format!("{quota} {p}"),
        (_, Some(p)) => format!("{quota} {p}"),
        _ => quota,
    }
}

/// Sends SIGKILL to every process left in the cgroup at `cgroups_path` (all
/// hierarchies). After the init of a container with a PID namespace of its own exits
/// the kernel has killed the rest; with `--pid host` or `--pid container:x` its other
/// processes live on, and runc's `signalAllProcesses` kills them the same way. Returns
/// how many were signalled.
pub fn kill_all(cgroups_path: &str) -> usize {
    let rel = cgroups_path.trim_start_matches('/');
    if rel.is_empty() {
        return 0;
    }
    let mut files = vec![PathBuf::from("/sys/fs/cgroup")
        .join(rel)
        .join("cgroup.procs")];
    if let Ok(rd) = fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            files.push(e.path().join(rel).join("cgroup.procs"));
        }
    }
    let mut pids: Vec<i32> = files.into_iter().filter_map(read_pids).flatten().collect();
    pids.sort_unstable();
    pids.dedup();
    for pid in &pids {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    pids.len()
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

    /// Creates `files` (path relative to `root`, initial content) as a fixture hierarchy.
    fn fixture(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (path, content) in files {
            let p = dir.path().join(path);
            fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            fs::write(&p, content).expect("write fixture");
        }
        dir
    }

    fn read(root: &Path, path: &str) -> String {
        fs::read_to_string(root.join(path)).expect("read fixture")
    }

    #[test]
    fn cpu_shares_convert_to_v2_weight_as_runc() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(512), 20);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        // Below the kernel's minimum: no underflow.
        assert_eq!(shares_to_weight(1), 1);
    }

    #[test]
    fn blkio_weight_converts_to_io_weight_as_runc() {
        assert_eq!(blkio_to_io_weight(0), 0);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(300), 2930);
        assert_eq!(blkio_to_io_weight(500), 4950);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
    }

    #[test]
    fn nano_cpus_become_a_quota_over_100ms() {
        let r = |nano_cpus, cpu_quota, cpu_period| Resources {
            nano_cpus,
            cpu_quota,
            cpu_period,
            ..Default::default()
        };
        assert_eq!(
            r(500_000_000, 0, 0).cfs_quota_period(),
            Some((50_000, 100_000))
        );
        assert_eq!(
            r(1_500_000_000, 0, 0).cfs_quota_period(),
            Some((150_000, 100_000))
        );
        // The kernel's minimum quota is 1 ms.
        assert_eq!(r(1_000_000, 0, 0).cfs_quota_period(), Some((1000, 100_000)));
        assert_eq!(r(0, 30_000, 0).cfs_quota_period(), Some((30_000, 0)));
        assert_eq!(r(0, 0, 50_000).cfs_quota_period(), Some((0, 50_000)));
        assert_eq!(r(0, 0, 0).cfs_quota_period(), None);
    }

    #[test]
    fn v2_swap_is_the_swap_part_of_memory_plus_swap() {
        assert_eq!(v2_swap_max(0, 64), Ok(None));
        assert_eq!(v2_swap_max(-1, 64), Ok(Some("max".into())));
        assert_eq!(v2_swap_max(0, -1), Ok(Some("max".into())));
        assert_eq!(v2_swap_max(128, 64), Ok(Some("64".into())));
        assert_eq!(v2_swap_max(64, 64), Ok(Some("0".into())));
        assert!(v2_swap_max(32, 64).is_err());
        assert!(v2_swap_max(128, 0).is_err());
        assert!(v2_swap_max(128, -1).is_err());
    }

    #[test]
    fn v2_cpu_max_keeps_what_is_not_set() {
        assert_eq!(v2_cpu_max(50_000, 100_000, "max 100000\n"), "50000 100000");
        assert_eq!(v2_cpu_max(50_000, 0, "max 20000\n"), "50000 20000");
        assert_eq!(v2_cpu_max(0, 50_000, "30000 100000\n"), "30000 50000");
        assert_eq!(v2_cpu_max(-1, 0, "30000 100000\n"), "max 100000");
        assert_eq!(v2_cpu_max(40_000, 0, ""), "40000");
    }

    #[test]
    fn pids_and_v2_numbers() {
        assert_eq!(pids_max(50), "50");
        assert_eq!(pids_max(-1), "max");
        assert_eq!(v2_num(-1), "max");
        assert_eq!(v2_num(67_108_864), "67108864");
    }

    const V1_FILES: &[(&str, &str)] = &[
        (
            "memory/berth/c1/memory.limit_in_bytes",
            "9223372036854771712\n",
        ),
        (
            "memory/berth/c1/memory.memsw.limit_in_bytes",
            "9223372036854771712\n",
        ),
        (
            "memory/berth/c1/memory.soft_limit_in_bytes",
            "9223372036854771712\n",
        ),
        ("cpu/berth/c1/cpu.shares", "1024\n"),
        ("cpu/berth/c1/cpu.cfs_period_us", "100000\n"),
        ("cpu/berth/c1/cpu.cfs_quota_us", "-1\n"),
        ("cpuset/berth/c1/cpuset.cpus", "0-1\n"),
        ("cpuset/berth/c1/cpuset.mems", "0\n"),
        ("pids/berth/c1/pids.max", "max\n"),
        ("blkio/berth/c1/blkio.weight", "500\n"),
    ];

    #[test]
    fn v1_update_writes_each_controller() {
        let root = fixture(V1_FILES);
        let r = Resources {
            memory_bytes: 64 << 20,
            memory_swap: 128 << 20,
            memory_reservation: 32 << 20,
            nano_cpus: 500_000_000,
            cpu_shares: 512,
            cpuset_cpus: "1".into(),
            cpuset_mems: "0".into(),
            pids_limit: 50,
            blkio_weight: 300,
            ..Default::default()
        };
        update_at(root.path(), "/berth/c1", &r).expect("update");
        let p = root.path();
        assert_eq!(read(p, "memory/berth/c1/memory.limit_in_bytes"), "67108864");
        assert_eq!(
            read(p, "memory/berth/c1/memory.memsw.limit_in_bytes"),
            "134217728"
        );
        assert_eq!(
            read(p, "memory/berth/c1/memory.soft_limit_in_bytes"),
            "33554432"
        );
        assert_eq!(read(p, "cpu/berth/c1/cpu.shares"), "512");
        assert_eq!(read(p, "cpu/berth/c1/cpu.cfs_period_us"), "100000");
        assert_eq!(read(p, "cpu/berth/c1/cpu.cfs_quota_us"), "50000");
        assert_eq!(read(p, "cpuset/berth/c1/cpuset.cpus"), "1");
        assert_eq!(read(p, "pids/berth/c1/pids.max"), "50");
        assert_eq!(read(p, "blkio/berth/c1/blkio.weight"), "300");

        // Not set: left alone; -1: lifted.
        let r = Resources {
            pids_limit: -1,
            memory_bytes: -1,
            ..Default::default()
        };
        update_at(root.path(), "/berth/c1", &r).expect("update");
        assert_eq!(read(p, "pids/berth/c1/pids.max"), "max");
        assert_eq!(read(p, "memory/berth/c1/memory.limit_in_bytes"), "-1");
        assert_eq!(read(p, "memory/berth/c1/memory.memsw.limit_in_bytes"), "-1");
        assert_eq!(read(p, "cpu/berth/c1/cpu.shares"), "512");
    }

    #[test]
    fn v1_without_swap_accounting_leaves_swap_alone() {
        let files: Vec<_> = V1_FILES
            .iter()
            .copied()
            .filter(|(p, _)| !p.contains("memsw"))
            .collect();
        let root = fixture(&files);
        let r = Resources {
            memory_bytes: 64 << 20,
            memory_swap: 128 << 20,
            ..Default::default()
        };
        update_at(root.path(), "/berth/c1", &r).expect("update");
        assert_eq!(
            read(root.path(), "memory/berth/c1/memory.limit_in_bytes"),
            "67108864"
        );
        assert!(!root
            .path()
            .join("memory/berth/c1/memory.memsw.limit_in_bytes")
            .exists());
    }

    #[test]
    fn update_of_a_missing_cgroup_fails() {
        let root = fixture(V1_FILES);
        let r = Resources {
            pids_limit: 5,
            ..Default::default()
        };
        let e = update_at(root.path(), "/berth/gone", &r).expect_err("no cgroup");
        assert!(e.to_string().contains("berth/gone"), "{e}");
        // A controller file the kernel does not have is an error too (no create).
        let files: Vec<_> = V1_FILES
            .iter()
            .copied()
            .filter(|(p, _)| !p.contains("blkio.weight"))
            .chain([("blkio/berth/c1/blkio.throttle.io_serviced", "")])
            .collect();
        let root = fixture(&files);
        let r = Resources {
            blkio_weight: 300,
            ..Default::default()
        };
        let e = update_at(root.path(), "/berth/c1", &r).expect_err("no weight file");
        assert!(e.to_string().contains("failed to write \"300\""), "{e}");
    }

    #[test]
    fn v2_update_converts_to_unified_files() {
        let root = fixture(&[
            ("cgroup.controllers", "cpuset cpu io memory pids\n"),
            ("berth/c2/memory.max", "max\n"),
            ("berth/c2/memory.swap.max", "max\n"),
            ("berth/c2/memory.low", "0\n"),
            ("berth/c2/cpu.weight", "100\n"),
            ("berth/c2/cpu.max", "max 100000\n"),
            ("berth/c2/cpuset.cpus", "\n"),
            ("berth/c2/cpuset.mems", "\n"),
            ("berth/c2/pids.max", "max\n"),
            ("berth/c2/io.weight", "default 100\n"),
        ]);
        let r = Resources {
            memory_bytes: 64 << 20,
            memory_swap: 96 << 20,
            memory_reservation: 16 << 20,
            cpu_shares: 1024,
            cpu_quota: 25_000,
            cpu_period: 50_000,
            cpuset_cpus: "0".into(),
            pids_limit: 20,
            blkio_weight: 500,
            ..Default::default()
        };
        update_at(root.path(), "/berth/c2", &r).expect("update");
        let p = root.path();
        assert_eq!(read(p, "berth/c2/memory.max"), "67108864");
        assert_eq!(read(p, "berth/c2/memory.swap.max"), "33554432");
        assert_eq!(read(p, "berth/c2/memory.low"), "16777216");
        assert_eq!(read(p, "berth/c2/cpu.weight"), "39");
        assert_eq!(read(p, "berth/c2/cpu.max"), "25000 50000");
        assert_eq!(read(p, "berth/c2/cpuset.cpus"), "0");
        assert_eq!(read(p, "berth/c2/pids.max"), "20");
        assert_eq!(read(p, "berth/c2/io.weight"), "4950");

        // A swap-only update takes the memory limit in place.
        let r = Resources {
            memory_swap: 128 << 20,
            ..Default::default()
        };
        update_at(root.path(), "/berth/c2", &r).expect("update");
        assert_eq!(read(p, "berth/c2/memory.swap.max"), "67108864");
    }

    #[test]
    fn support_reads_v1_and_v2_hierarchies() {
        let v1 = fixture(&[
            ("memory/memory.memsw.limit_in_bytes", ""),
            ("memory/memory.soft_limit_in_bytes", ""),
            ("cpu/cpu.cfs_period_us", ""),
            ("cpu/cpu.shares", ""),
            ("cpuset/cpuset.cpus", "0-1\n"),
            ("cpuset/cpuset.mems", "0\n"),
            ("pids/cgroup.procs", ""),
            ("blkio/blkio.throttle.io_serviced", ""),
        ]);
        let s = support_at(v1.path());
        assert!(s.swap_limit && s.memory_reservation && s.cpu_cfs && s.cpu_shares);
        assert!(s.cpuset && s.pids);
        assert!(!s.blkio_weight && !s.kernel_memory);
        assert_eq!((s.cpus.as_str(), s.mems.as_str()), ("0-1", "0"));
        let v2 = fixture(&[
            ("cgroup.controllers", "cpu memory pids\n"),
            ("cpuset.cpus.effective", "0-3\n"),
        ]);
        let s = support_at(v2.path());
        assert!(s.swap_limit && s.cpu_cfs && s.pids);
        assert!(!s.blkio_weight && !s.cpuset && !s.kernel_memory);
        assert_eq!(s.cpus, "0-3");
    }
}
