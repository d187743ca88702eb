//! A container's cgroup resources as `create` and `update` check them (dockerd's
//! `verifyPlatformContainerResources`: minimums, conflicts, what the host's cgroups can
//! limit, cpuset availability), and as the runtime applies them.

use super::*;
use berth_runtime::cgroups::CgroupSupport;
use std::collections::BTreeSet;

/// Docker's minimum for memory limits and reservations.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// The resource fields of Docker's `container.Resources` that berth enforces; 0 (or an
/// empty string, or `None`) is "not set".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ResourceSettings {
    pub memory: i64,
    pub memory_swap: i64,
    pub memory_reservation: i64,
    /// Deprecated; checked as Docker does, never applied.
    pub kernel_memory: i64,
    pub cpu_shares: i64,
    pub nano_cpus: i64,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub pids_limit: Option<i64>,
    pub blkio_weight: u16,
}

impl ResourceSettings {
    /// The settings of a create request's (or a record's) host config.
    pub(crate) fn from_host_config(hc: &HostConfig) -> Self {
        ResourceSettings {
            memory: hc.memory.unwrap_or(0),
            memory_swap: hc.memory_swap.unwrap_or(0),
            memory_reservation: hc.memory_reservation.unwrap_or(0),
            kernel_memory: 0,
            cpu_shares: hc.cpu_shares.unwrap_or(0),
            nano_cpus: hc.nano_cpus.unwrap_or(0),
            cpu_period: hc.cpu_period.unwrap_or(0),
            cpu_quota: hc.cpu_quota.unwrap_or(0),
            cpuset_cpus: hc.cpuset_cpus.clone().unwrap_or_default(),
            cpuset_mems: hc.cpuset_mems.clone().unwrap_or_default(),
            pids_limit: hc.pids_limit,
            blkio_weight: hc.blkio_weight.unwrap_or(0),
        }
    }

    /// Writes the settings back into `hc` (after [`ResourceSettings::verify`] dropped what
    /// the host cannot limit).
    pub(crate) fn store(&self, hc: &mut HostConfig) {
        hc.memory = Some(self.memory);
        hc.memory_swap = Some(self.memory_swap);
        hc.memory_reservation = Some(self.memory_reservation);
        hc.cpu_shares = Some(self.cpu_shares);
        hc.nano_cpus = Some(self.nano_cpus);
        hc.cpu_period = Some(self.cpu_period);
        hc.cpu_quota = Some(self.cpu_quota);
        hc.cpuset_cpus = Some(self.cpuset_cpus.clone());
        hc.cpuset_mems = Some(self.cpuset_mems.clone());
        hc.pids_limit = self.pids_limit;
        hc.blkio_weight = Some(self.blkio_weight);
    }

    /// Docker's checks, in its order: an error is a 400; a setting the host cannot
    /// enforce is dropped with a warning. `update` relaxes the swap-without-memory rule
    /// (the record may already hold a memory limit).
    pub(crate) fn verify(&mut self, sys: &CgroupSupport, update: bool) -> Result<Vec<String>> {
        let bad = |m: String| Err(EngineError::BadRequest(m));
        let mut warnings = Vec::new();
        if self.memory != 0 && self.memory < MIN_MEMORY {
            return bad("Minimum memory limit allowed is 6MB".into());
        }
        if self.memory > 0 && self.memory_swap != -1 && !sys.swap_limit {
            warnings.push("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.".into());
            self.memory_swap = -1;
        }
        if self.memory > 0 && self.memory_swap > 0 && self.memory_swap < self.memory {
            return bad(
                "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
            );
        }
        if self.memory == 0 && self.memory_swap > 0 && !update {
            return bad(
                "You should always set the Memory limit when using Memoryswap limit, see usage"
                    .into(),
            );
        }
        if self.memory_reservation > 0 && !sys.memory_reservation {
            warnings.push("Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.".into());
            self.memory_reservation = 0;
        }
        if self.memory_reservation > 0 && self.memory_reservation < MIN_MEMORY {
            return bad("Minimum memory reservation allowed is 6MB".into());
        }
        if self.memory > 0 && self.memory_reservation > 0 && self.memory < self.memory_reservation {
            return bad(
                "Minimum memory limit can not be less than memory reservation limit, see usage"
                    .into(),
            );
        }
        if self.kernel_memory > 0 {
            if !sys.kernel_memory {
                warnings.push("Your kernel does not support kernel memory limit capabilities or the cgroup is not mounted. Limitation discarded.".into());
            } else if self.kernel_memory < MIN_MEMORY {
                return bad("Minimum kernel memory limit allowed is 6MB".into());
            } else {
                warnings.push("Kernel memory limits are deprecated and not applied by berth. Limitation discarded.".into());
            }
        }
        self.kernel_memory = 0;
        if let Some(p) = self.pids_limit {
            if !sys.pids {
                if p > 0 {
                    warnings.push("Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.".into());
                }
                self.pids_limit = None;
            }
        }
        if self.nano_cpus > 0 && self.cpu_period > 0 {
            return bad("Conflicting options: Nano CPUs and CPU Period cannot both be set".into());
        }
        if self.nano_cpus > 0 && self.cpu_quota > 0 {
            return bad("Conflicting options: Nano CPUs and CPU Quota cannot both be set".into());
        }
        if self.nano_cpus > 0 && !sys.cpu_cfs {
            return bad("NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted".into());
        }
        if self.nano_cpus != 0 {
            let ncpu = std::thread::available_parallelism()
                .map(|n| n.get() as i64)
                .unwrap_or(1);
            if self.nano_cpus < 0 || self.nano_cpus > ncpu * 1_000_000_000 {
                return bad(format!(
                    "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
                ));
            }
        }
        if self.cpu_shares > 0 && !sys.cpu_shares {
            warnings.push("Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.".into());
            self.cpu_shares = 0;
        }
        if (self.cpu_period != 0 || self.cpu_quota != 0) && !sys.cpu_cfs {
            warnings.push(
                "Your kernel does not support CPU CFS scheduler. CPU period/quota discarded."
                    .into(),
            );
            self.cpu_period = 0;
            self.cpu_quota = 0;
        }
        if self.cpu_period != 0 && !(1000..=1_000_000).contains(&self.cpu_period) {
            return bad("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)".into());
        }
        if self.cpu_quota > 0 && self.cpu_quota < 1000 {
            return bad("CPU cfs quota can not be less than 1ms (i.e. 1000)".into());
        }
        if (!self.cpuset_cpus.is_empty() || !self.cpuset_mems.is_empty()) && !sys.cpuset {
            warnings.push(
                "Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded."
                    .into(),
            );
            self.cpuset_cpus.clear();
            self.cpuset_mems.clear();
        }
        match cpuset_available(&self.cpuset_cpus, &sys.cpus) {
            Err(e) => {
                return bad(format!(
                    "Invalid value {} for cpuset cpus: {e}",
                    self.cpuset_cpus
                ))
            }
            Ok(false) => {
                return bad(format!(
                    "Requested CPUs are not available - requested {}, available: {}",
                    self.cpuset_cpus, sys.cpus
                ))
            }
            Ok(true) => {}
        }
        match cpuset_available(&self.cpuset_mems, &sys.mems) {
            Err(e) => {
                return bad(format!(
                    "Invalid value {} for cpuset mems: {e}",
                    self.cpuset_mems
                ))
            }
            Ok(false) => {
                return bad(format!(
                    "Requested memory nodes are not available - requested {}, available: {}",
                    self.cpuset_mems, sys.mems
                ))
            }
            Ok(true) => {}
        }
        if self.blkio_weight > 0 && !sys.blkio_weight {
            warnings.push("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.".into());
            self.blkio_weight = 0;
        }
        if self.blkio_weight > 0 && !(10..=1000).contains(&self.blkio_weight) {
            return bad("Range of blkio weight is from 10 to 1000".into());
        }
        Ok(warnings)
    }

    /// The runtime's view for a container's spec (what a start applies). Swap and blkio
    /// weight the host cannot limit are left out, whatever an older record holds.
    pub(crate) fn spec_resources(&self, sys: &CgroupSupport) -> Resources {
        Resources {
            memory_bytes: self.memory,
            memory_swap: if sys.swap_limit { self.memory_swap } else { 0 },
            memory_reservation: self.memory_reservation,
            nano_cpus: self.nano_cpus,
            cpu_period: self.cpu_period,
            cpu_quota: self.cpu_quota,
            cpu_shares: self.cpu_shares.max(0) as u64,
            cpuset_cpus: self.cpuset_cpus.clone(),
            cpuset_mems: self.cpuset_mems.clone(),
            pids_limit: self.pids_limit.unwrap_or(0),
            blkio_weight: if sys.blkio_weight {
                self.blkio_weight
            } else {
                0
            },
        }
    }

    /// The runtime's view for a live update (Docker's `toContainerdResources`): only what
    /// the request sets, a pids limit of 0 or less lifting the limit.
    pub(crate) fn update_resources(&self) -> Resources {
        Resources {
            pids_limit: match self.pids_limit {
                None => 0,
                Some(p) if p <= 0 => -1,
                Some(p) => p,
            },
            ..self.spec_resources(&CgroupSupport {
                swap_limit: true,
                blkio_weight: true,
                ..Default::default()
            })
        }
    }
}

/// Docker's `parsers.ParseUintList` with a maximum: `0-3,5`, duplicates allowed; an empty
/// list is empty.
fn parse_uint_list(val: &str, maximum: u64) -> std::result::Result<BTreeSet<u64>, String> {
    let mut out = BTreeSet::new();
    if val.is_empty() {
        return Ok(out);
    }
    let invalid = || format!("invalid format: {val}");
    let out_of_range = || format!("value of out range, maximum is {maximum}");
    for part in val.split(',') {
        let (lo, hi) = match part.split_once('-') {
            None => {
                let v: u64 = part.parse().map_err(|_| invalid())?;
                (v, v)
            }
            Some((a, b)) => {
                let lo: u64 = a.parse().map_err(|_| invalid())?;
                let hi: u64 = b.parse().map_err(|_| invalid())?;
                if hi < lo {
                    return Err(invalid());
                }
                (lo, hi)
            }
        };
        if maximum != 0 && hi > maximum {
            return Err(out_of_range());
        }
        out.extend(lo..=hi);
    }
    Ok(out)
}

/// Whether every CPU (or memory node) of `provided` is in `available` (Docker's
/// `isCpusetListAvailable`, numbers up to 8192 or the highest available).
fn cpuset_available(provided: &str, available: &str) -> std::result::Result<bool, String> {
    let avail = parse_uint_list(available, 0)?;
    let max = avail.iter().next_back().copied().unwrap_or(0).max(8192);
    let wanted = parse_uint_list(provided, max)?;
    Ok(wanted.is_subset(&avail))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> CgroupSupport {
        CgroupSupport {
            swap_limit: true,
            memory_reservation: true,
            kernel_memory: true,
            cpu_cfs: true,
            cpu_shares: true,
            cpuset: true,
            pids: true,
            blkio_weight: false,
            cpus: "0-1".into(),
            mems: "0".into(),
        }
    }

    fn verify(r: ResourceSettings) -> std::result::Result<(ResourceSettings, Vec<String>), String> {
        let mut r = r;
        match r.verify(&host(), true) {
            Ok(w) => Ok((r, w)),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn docker_minimums_and_conflicts() {
        let err = |r| verify(r).expect_err("refused");
        let mb = 1 << 20;
        assert_eq!(
            err(ResourceSettings {
                memory: mb,
                ..Default::default()
            }),
            "Minimum memory limit allowed is 6MB"
        );
        assert_eq!(
            err(ResourceSettings {
                memory: 64 * mb,
                memory_swap: 32 * mb,
                ..Default::default()
            }),
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        );
        assert_eq!(
            err(ResourceSettings {
                nano_cpus: 500_000_000,
                cpu_period: 50_000,
                ..Default::default()
            }),
            "Conflicting options: Nano CPUs and CPU Period cannot both be set"
        );
        assert_eq!(
            err(ResourceSettings {
                nano_cpus: 500_000_000,
                cpu_quota: 50_000,
                ..Default::default()
            }),
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set"
        );
        assert_eq!(
            err(ResourceSettings {
                cpu_period: 10,
                ..Default::default()
            }),
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
        );
        assert_eq!(
            err(ResourceSettings {
                cpu_quota: 10,
                ..Default::default()
            }),
            "CPU cfs quota can not be less than 1ms (i.e. 1000)"
        );
        assert_eq!(
            err(ResourceSettings {
                memory_reservation: mb,
                ..Default::default()
            }),
            "Minimum memory reservation allowed is 6MB"
        );
        assert_eq!(
            err(ResourceSettings {
                kernel_memory: 1000,
                ..Default::default()
            }),
            "Minimum kernel memory limit allowed is 6MB"
        );
        assert_eq!(
            err(ResourceSettings {
                cpuset_cpus: "7".into(),
                ..Default::default()
            }),
            "Requested CPUs are not available - requested 7, available: 0-1"
        );
        assert_eq!(
            err(ResourceSettings {
                cpuset_cpus: "x".into(),
                ..Default::default()
            }),
            "Invalid value x for cpuset cpus: invalid format: x"
        );
        assert_eq!(
            err(ResourceSettings {
                cpuset_mems: "1".into(),
                ..Default::default()
            }),
            "Requested memory nodes are not available - requested 1, available: 0"
        );
        // Swap without memory: refused at create, allowed by update.
        let mut r = ResourceSettings {
            memory_swap: 64 * mb,
            ..Default::default()
        };
        assert!(r.verify(&host(), false).is_err());
        assert!(r.verify(&host(), true).is_ok());
    }

    #[test]
    fn what_the_host_cannot_limit_is_dropped_with_a_warning() {
        let (r, w) = verify(ResourceSettings {
            blkio_weight: 5,
            kernel_memory: 64 << 20,
            ..Default::default()
        })
        .expect("accepted");
        assert_eq!((r.blkio_weight, r.kernel_memory), (0, 0));
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[1].contains("Block I/O weight"), "{w:?}");
        let mut r = ResourceSettings {
            memory: 64 << 20,
            ..Default::default()
        };
        let sys = CgroupSupport {
            swap_limit: false,
            ..host()
        };
        let w = r.verify(&sys, false).expect("accepted");
        assert_eq!(r.memory_swap, -1);
        assert!(w[0].contains("swap limit"), "{w:?}");
    }

    #[test]
    fn uint_lists_as_docker_parses_them() {
        let set = |v: &str| parse_uint_list(v, 0).map(|s| s.into_iter().collect::<Vec<_>>());
        assert_eq!(set("0-2,5,1"), Ok(vec![0, 1, 2, 5]));
        assert_eq!(set(""), Ok(vec![]));
        assert_eq!(set("3-1"), Err("invalid format: 3-1".into()));
        assert_eq!(set("a"), Err("invalid format: a".into()));
        assert_eq!(
            parse_uint_list("9000", 8192),
            Err("value of out range, maximum is 8192".into())
        );
        assert_eq!(cpuset_available("1", "0-1"), Ok(true));
        assert_eq!(cpuset_available("0-2", "0-1"), Ok(false));
        assert_eq!(cpuset_available("", "0-1"), Ok(true));
    }

    #[test]
    fn live_update_resources_follow_docker() {
        let r = ResourceSettings {
            memory: 64 << 20,
            nano_cpus: 500_000_000,
            pids_limit: Some(0),
            ..Default::default()
        };
        let u = r.update_resources();
        assert_eq!(u.memory_bytes, 64 << 20);
        assert_eq!(u.cfs_quota_period(), Some((50_000, 100_000)));
        assert_eq!(u.pids_limit, -1);
        let none = ResourceSettings::default().update_resources();
        assert_eq!(none, Resources::default());
    }
}
