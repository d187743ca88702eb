//! `POST /containers/{id}/update` (`docker update`), as dockerd's `ContainerUpdate`:
//! checks the new resources, merges them and the restart policy into the record
//! (refusing conflicts with what is already set), and applies the resources live to the
//! cgroup of a running or paused container; a later start takes them from the record.

use super::resources::ResourceSettings;
use super::*;
use bollard_stubs::models::{
    ContainerUpdateBody, ContainerUpdateResponse, RestartPolicy, RestartPolicyNameEnum,
};

/// An update request's body: Docker's `container.UpdateConfig` (`Resources` and
/// `RestartPolicy`). The restart policy name stays a string so that an unknown one is
/// refused with Docker's message.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct UpdateRequest {
    /// The new restart policy; a missing or empty name leaves it as it is.
    #[serde(rename = "RestartPolicy", default)]
    pub restart_policy: Option<UpdatePolicy>,
    /// Deprecated kernel memory limit (ignored by API 1.42 and later: the API layer
    /// clears it).
    #[serde(rename = "KernelMemory", default)]
    pub kernel_memory: Option<i64>,
    /// The resources to change (0 or empty: unchanged).
    #[serde(flatten)]
    pub resources: ContainerUpdateBody,
}

/// A restart policy as the request spells it.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct UpdatePolicy {
    /// `no`, `always`, `on-failure`, `unless-stopped`, or empty.
    #[serde(rename = "Name", default)]
    pub name: Option<String>,
    /// Retries for `on-failure`.
    #[serde(rename = "MaximumRetryCount", default)]
    pub maximum_retry_count: Option<i64>,
}

/// Docker's `ValidateRestartPolicy`; `None` for an empty name (no change).
fn restart_policy(p: Option<&UpdatePolicy>) -> Result<Option<RestartPolicy>> {
    let Some(p) = p else { return Ok(None) };
    let name = p.name.as_deref().unwrap_or("");
    let max = p.maximum_retry_count.unwrap_or(0);
    let bad = |m: String| Err(EngineError::BadRequest(m));
    let parsed = match name {
        "" => return Ok(None),
        "no" => RestartPolicyNameEnum::NO,
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        other => {
            return bad(format!(
                "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
            ))
        }
    };
    if parsed == RestartPolicyNameEnum::ON_FAILURE {
        if max < 0 {
            return bad("invalid restart policy: maximum retry count cannot be negative".into());
        }
    } else if max != 0 {
        let mut m =
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
                .to_string();
        if max < 0 {
            m.push_str(" and cannot be negative");
        }
        return bad(m);
    }
    Ok(Some(RestartPolicy {
        name: Some(parsed),
        maximum_retry_count: Some(max),
    }))
}

/// Docker's `Container.UpdateContainer`: merges the set fields of `u` and the restart
/// policy into `hc`, or says which conflict forbids it.
fn merge(
    hc: &mut HostConfig,
    u: &ResourceSettings,
    policy: Option<&RestartPolicy>,
) -> std::result::Result<(), &'static str> {
    let cur = ResourceSettings::from_host_config(hc);
    // --cpus sets the CFS period and quota itself: once one side is set, the other
    // cannot be updated.
    if u.nano_cpus > 0 && cur.cpu_period > 0 {
        return Err(
            "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set",
        );
    }
    if u.nano_cpus > 0 && cur.cpu_quota > 0 {
        return Err(
            "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set",
        );
    }
    if u.cpu_period > 0 && cur.nano_cpus > 0 {
        return Err(
            "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set",
        );
    }
    if u.cpu_quota > 0 && cur.nano_cpus > 0 {
        return Err(
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set",
        );
    }
    // (Unlimited swap, -1, leaves room for any memory limit: dockerd refuses that too,
    // moby#39541.)
    if u.memory != 0 && cur.memory_swap != -1 && u.memory > cur.memory_swap && u.memory_swap == 0 {
        return Err("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time");
    }
    if let Some(p) = policy {
        if hc.auto_remove.unwrap_or(false) && p.name != Some(RestartPolicyNameEnum::NO) {
            return Err(
                "Restart policy cannot be updated because AutoRemove is enabled for the container",
            );
        }
    }
    let set = |v: i64, field: &mut Option<i64>| {
        if v != 0 {
            *field = Some(v);
        }
    };
    set(u.memory, &mut hc.memory);
    set(u.memory_swap, &mut hc.memory_swap);
    set(u.memory_reservation, &mut hc.memory_reservation);
    set(u.cpu_shares, &mut hc.cpu_shares);
    set(u.nano_cpus, &mut hc.nano_cpus);
    set(u.cpu_period, &mut hc.cpu_period);
    set(u.cpu_quota, &mut hc.cpu_quota);
    if u.blkio_weight != 0 {
        hc.blkio_weight = Some(u.blkio_weight);
    }
    if !u.cpuset_cpus.is_empty() {
        hc.cpuset_cpus = Some(u.cpuset_cpus.clone());
    }
    if !u.cpuset_mems.is_empty() {
        hc.cpuset_mems = Some(u.cpuset_mems.clone());
    }
    if u.pids_limit.is_some() {
        hc.pids_limit = u.pids_limit;
    }
    if let Some(p) = policy {
        hc.restart_policy = Some(p.clone());
    }
    Ok(())
}

impl Engine {
    /// `POST /containers/{id}/update`. Errors as dockerd: bad values are 400 (before the
    /// container is looked up), an unknown container 404, a conflict with the record 409
    /// ("Cannot update container <id>: …"), a cgroup that refuses the new limits 500 (the
    /// record is then restored).
    pub fn container_update(
        &self,
        name: &str,
        req: UpdateRequest,
    ) -> Result<ContainerUpdateResponse> {
        let b = &req.resources;
        let mut u = ResourceSettings::from_host_config(&HostConfig {
            memory: b.memory,
            memory_swap: b.memory_swap,
            memory_reservation: b.memory_reservation,
            cpu_shares: b.cpu_shares,
            nano_cpus: b.nano_cpus,
            cpu_period: b.cpu_period,
            cpu_quota: b.cpu_quota,
            cpuset_cpus: b.cpuset_cpus.clone(),
            cpuset_mems: b.cpuset_mems.clone(),
            // Both 0 and -1 mean "unlimited" in an update (stored as 0).
            pids_limit: b.pids_limit.map(|p| p.max(0)),
            blkio_weight: b.blkio_weight,
            ..Default::default()
        });
        u.kernel_memory = req.kernel_memory.unwrap_or(0);
        let warnings = u.verify(berth_runtime::cgroups::support(), true)?;
        let policy = restart_policy(req.restart_policy.as_ref())?;
        let ctr = self.container(name)?;
        let cannot =
            |id: &str, why: &dyn std::fmt::Display| format!("Cannot update container {id}: {why}");
        let (backup, snapshot) = {
            let mut r = ctr.rec.lock().unwrap_or_else(|p| p.into_inner());
            let backup = r.host_config.clone();
            merge(&mut r.host_config, &u, policy.as_ref())
                .map_err(|m| EngineError::Conflict(cannot(&r.id, &m)))?;
            (backup, r.clone())
        };
        let restore = |ctr: &Ctr| {
            let mut r = ctr.rec.lock().unwrap_or_else(|p| p.into_inner());
            r.host_config = backup.clone();
            let snap = r.clone();
            drop(r);
            if let Err(e) = self.persist(&snap) {
                tracing::warn!(container = %snap.id, "restore after a failed update: {e}");
            }
        };
        if let Err(e) = self.persist(&snapshot) {
            restore(&ctr);
            return Err(EngineError::Internal(cannot(&snapshot.id, &e)));
        }
        self.ctr_event(&snapshot, "update", &[]);
        // A stopped container takes the new values at its next start; a running (or
        // paused) one gets them now.
        if matches!(snapshot.state.status.as_str(), "running" | "paused") {
            let path = berth_runtime::spec::cgroups_path(&snapshot.id);
            if let Err(e) = berth_runtime::cgroups::update(&path, &u.update_resources()) {
                let still_running =
                    matches!(ctr.snapshot().state.status.as_str(), "running" | "paused");
                // One that exited meanwhile has no cgroup left to update.
                if still_running {
                    restore(&ctr);
                    return Err(EngineError::Internal(cannot(&snapshot.id, &e)));
                }
            }
        }
        Ok(ContainerUpdateResponse {
            warnings: Some(warnings),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, max: i64) -> Result<Option<RestartPolicy>> {
        restart_policy(Some(&UpdatePolicy {
            name: Some(name.into()),
            maximum_retry_count: Some(max),
        }))
    }

    #[test]
    fn restart_policies_as_docker_validates_them() {
        assert!(policy("", 0).expect("empty").is_none());
        assert!(restart_policy(None).expect("none").is_none());
        let p = policy("on-failure", 3).expect("ok").expect("some");
        assert_eq!(p.name, Some(RestartPolicyNameEnum::ON_FAILURE));
        assert_eq!(p.maximum_retry_count, Some(3));
        let err = |n, m| policy(n, m).expect_err("refused").to_string();
        assert_eq!(
            err("bogus", 0),
            "invalid restart policy: unknown policy 'bogus'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
        );
        assert_eq!(
            err("always", 3),
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        );
        assert_eq!(
            err("no", -1),
            "invalid restart policy: maximum retry count can only be used with 'on-failure' and cannot be negative"
        );
        assert_eq!(
            err("on-failure", -1),
            "invalid restart policy: maximum retry count cannot be negative"
        );
    }

    #[test]
    fn docker_cli_body_parses() {
        // What `docker update --memory 64m --restart on-failure:2` sends (API 1.47).
        let body = r#"{"BlkioWeight":0,"BlkioWeightDevice":null,"CgroupParent":"",
            "CpuCount":0,"CpuPercent":0,"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,
            "CpuRealtimeRuntime":0,"CpuShares":0,"CpusetCpus":"","CpusetMems":"",
            "DeviceCgroupRules":null,"DeviceRequests":null,"Devices":null,"IOMaximumBandwidth":0,
            "IOMaximumIOps":0,"Memory":67108864,"MemoryReservation":0,"MemorySwap":0,
            "MemorySwappiness":null,"NanoCpus":0,"OomKillDisable":null,"PidsLimit":null,
            "Ulimits":null,"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":2}}"#;
        let req: UpdateRequest = serde_json::from_str(body).expect("parse");
        assert_eq!(req.resources.memory, Some(64 << 20));
        assert_eq!(req.resources.blkio_weight, Some(0));
        assert_eq!(req.resources.pids_limit, None);
        let p = req.restart_policy.expect("policy");
        assert_eq!(p.name.as_deref(), Some("on-failure"));
        assert_eq!(p.maximum_retry_count, Some(2));
        let req: UpdateRequest =
            serde_json::from_str(r#"{"KernelMemory":1000,"RestartPolicy":{"Name":"bogus"}}"#)
                .expect("parse");
        assert_eq!(req.kernel_memory, Some(1000));
        assert!(restart_policy(req.restart_policy.as_ref()).is_err());
    }

    #[test]
    fn merge_refuses_docker_conflicts() {
        const MB: i64 = 1 << 20;
        let mb = MB;
        let mut hc = HostConfig {
            memory: Some(32 * mb),
            memory_swap: Some(64 * mb),
            nano_cpus: Some(500_000_000),
            auto_remove: Some(true),
            ..Default::default()
        };
        let u = |f: fn(&mut ResourceSettings)| {
            let mut r = ResourceSettings::default();
            f(&mut r);
            r
        };
        assert!(merge(&mut hc, &u(|r| r.cpu_quota = 50_000), None)
            .expect_err("quota")
            .starts_with("Conflicting options: CPU Quota cannot be updated"));
        assert!(merge(&mut hc, &u(|r| r.cpu_period = 50_000), None)
            .expect_err("period")
            .starts_with("Conflicting options: CPU Period cannot be updated"));
        assert!(merge(&mut hc, &u(|r| r.memory = 128 * MB), None)
            .expect_err("swap")
            .starts_with("Memory limit should be smaller"));
        let always = RestartPolicy {
            name: Some(RestartPolicyNameEnum::ALWAYS),
            maximum_retry_count: Some(0),
        };
        assert_eq!(
            merge(&mut hc, &u(|_| {}), Some(&always)),
            Err("Restart policy cannot be updated because AutoRemove is enabled for the container")
        );
        let no = RestartPolicy {
            name: Some(RestartPolicyNameEnum::NO),
            maximum_retry_count: Some(0),
        };
        merge(&mut hc, &u(|_| {}), Some(&no)).expect("no is allowed");
        // Within the swap limit, and swap with it: merged; unset fields stay.
        merge(
            &mut hc,
            &u(|r| {
                r.memory = 48 * MB;
                r.pids_limit = Some(0);
            }),
            None,
        )
        .expect("merge");
        assert_eq!(hc.memory, Some(48 * mb));
        assert_eq!(hc.memory_swap, Some(64 * mb));
        assert_eq!(hc.pids_limit, Some(0));
        assert_eq!(hc.nano_cpus, Some(500_000_000));
        merge(
            &mut hc,
            &u(|r| {
                r.memory = 256 * MB;
                r.memory_swap = -1;
            }),
            None,
        )
        .expect("merge with swap");
        assert_eq!((hc.memory, hc.memory_swap), (Some(256 * mb), Some(-1)));
    }
}
