//! `berth update` (`docker update`): changes the resources and restart policy of one or
//! more containers through `POST /containers/{id}/update`, printing each container as
//! named on success and the daemon's warnings after them.

use super::client::{request, runtime, ClientOpts};
use super::containers::{parse_cpus, parse_size, Exit};
use anyhow::{anyhow, Result};
use serde_json::{json, Value};

/// `berth update [OPTIONS] CONTAINER...`.
#[derive(clap::Args, Debug, Default)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable.
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// Limit CPU CFS (Completely Fair Scheduler) period.
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota.
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1).
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long, allow_hyphen_values = true)]
    pub cpu_shares: Option<i64>,
    /// Memory limit.
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Memory soft limit.
    #[arg(long)]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap.
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Restart policy to apply when a container exits.
    #[arg(long)]
    pub restart: Option<String>,
    /// Tune container pids limit (set -1 for unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Number of CPUs.
    #[arg(long)]
    pub cpus: Option<String>,
    /// Kernel memory limit (deprecated: no longer supported by the kernel).
    #[arg(long, hide = true)]
    pub kernel_memory: Option<String>,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// A bad flag value: docker's message and exit code 125.
fn flag_error(flag: &str, value: &str, e: anyhow::Error) -> anyhow::Error {
    anyhow::Error::new(Exit(
        125,
        format!(
            "invalid argument \"{value}\" for \"{flag}\" flag: {e:#}\nSee 'berth update --help'."
        ),
    ))
}

/// Docker's `opts.ParseRestartPolicy`: `name[:count]`; the daemon checks the name.
fn parse_restart_policy(policy: &str) -> Result<(String, i64)> {
    let (name, count) = policy.split_once(':').unwrap_or((policy, ""));
    if policy.contains(':') && name.is_empty() {
        return Err(anyhow!(
            "invalid restart policy format: no policy provided before colon"
        ));
    }
    let count = if count.is_empty() {
        0
    } else {
        count.parse::<i64>().map_err(|_| {
            anyhow!("invalid restart policy format: maximum retry count must be an integer")
        })?
    };
    Ok((name.to_string(), count))
}

impl UpdateArgs {
    /// The request body (Docker's `UpdateConfig`), or the CLI's own refusal.
    fn body(&self) -> Result<Value> {
        let size = |flag: &str, v: &Option<String>| -> Result<i64> {
            v.as_deref()
                .map(|s| parse_size(s).map_err(|e| flag_error(flag, s, e)))
                .transpose()
                .map(Option::unwrap_or_default)
        };
        let memory = size("-m, --memory", &self.memory)?;
        let memory_reservation = size("--memory-reservation", &self.memory_reservation)?;
        let memory_swap = match self.memory_swap.as_deref() {
            Some("-1") => -1,
            _ => size("--memory-swap", &self.memory_swap)?,
        };
        let nano_cpus = match self.cpus.as_deref() {
            Some(c) => parse_cpus(c).map_err(|e| {
                anyhow::Error::new(Exit(125, format!("{e:#}\nSee 'berth update --help'.")))
            })?,
            None => 0,
        };
        if self.kernel_memory.is_some() {
            eprintln!(
                "Flag --kernel-memory has been deprecated, and no longer supported by the kernel"
            );
        }
        let flags_given = [
            self.blkio_weight.is_some(),
            self.cpu_period.is_some(),
            self.cpu_quota.is_some(),
            self.cpuset_cpus.is_some(),
            self.cpuset_mems.is_some(),
            self.cpu_shares.is_some(),
            self.memory.is_some(),
            self.memory_reservation.is_some(),
            self.memory_swap.is_some(),
            self.restart.is_some(),
            self.pids_limit.is_some(),
            self.cpus.is_some(),
            self.kernel_memory.is_some(),
        ];
        if !flags_given.contains(&true) {
            return Err(anyhow!(
                "you must provide one or more flags when using this command"
            ));
        }
        let (policy, retries) = match self.restart.as_deref().filter(|r| !r.is_empty()) {
            Some(r) => parse_restart_policy(r)?,
            None => (String::new(), 0),
        };
        // Like docker, a pids limit of 0 is "not given".
        let pids_limit = self.pids_limit.filter(|p| *p != 0);
        Ok(json!({
            "BlkioWeight": self.blkio_weight.unwrap_or(0),
            "CpusetCpus": self.cpuset_cpus.clone().unwrap_or_default(),
            "CpusetMems": self.cpuset_mems.clone().unwrap_or_default(),
            "CpuShares": self.cpu_shares.unwrap_or(0),
            "Memory": memory,
            "MemoryReservation": memory_reservation,
            "MemorySwap": memory_swap,
            "CpuPeriod": self.cpu_period.unwrap_or(0),
            "CpuQuota": self.cpu_quota.unwrap_or(0),
            "NanoCpus": nano_cpus,
            "PidsLimit": pids_limit,
            "RestartPolicy": {"Name": policy, "MaximumRetryCount": retries},
        }))
    }
}

/// Percent-encodes what a container name or ID cannot hold in a URL path.
fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `berth update`: exit code 1 if any container could not be updated.
pub fn update(opts: &ClientOpts, a: UpdateArgs) -> Result<i32> {
    let body = serde_json::to_vec(&a.body()?)?;
    runtime()?.block_on(async {
        use http_body_util::BodyExt;
        let mut code = 0;
        let mut warnings: Vec<String> = Vec::new();
        for c in &a.containers {
            let resp = request(
                opts,
                "POST",
                &format!("/containers/{}/update", path_segment(c)),
                &[("content-type", "application/json".to_string())],
                body.clone(),
            )
            .await?;
            let status = resp.status();
            let bytes = resp.into_body().collect().await?.to_bytes();
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if status.is_success() {
                println!("{c}");
                warnings.extend(
                    v["Warnings"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|w| w.as_str().map(str::to_string)),
                );
            } else {
                let msg = v["message"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_string());
                eprintln!("Error response from daemon: {msg}");
                code = 1;
            }
        }
        if !warnings.is_empty() {
            println!("{}", warnings.join("\n"));
        }
        Ok(code)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policy_as_docker_cli_parses_it() {
        assert_eq!(
            parse_restart_policy("on-failure:3").expect("ok"),
            ("on-failure".into(), 3)
        );
        assert_eq!(
            parse_restart_policy("always").expect("ok"),
            ("always".into(), 0)
        );
        // Names are the daemon's to check.
        assert_eq!(
            parse_restart_policy("bogus").expect("ok"),
            ("bogus".into(), 0)
        );
        assert!(parse_restart_policy(":3").is_err());
        assert!(parse_restart_policy("on-failure:x").is_err());
    }

    #[test]
    fn body_carries_the_flags() {
        let a = UpdateArgs {
            memory: Some("64m".into()),
            memory_swap: Some("-1".into()),
            cpus: Some("0.5".into()),
            pids_limit: Some(-1),
            restart: Some("on-failure:2".into()),
            containers: vec!["web".into()],
            ..Default::default()
        };
        let b = a.body().expect("body");
        assert_eq!(b["Memory"], 64 << 20);
        assert_eq!(b["MemorySwap"], -1);
        assert_eq!(b["NanoCpus"], 500_000_000);
        assert_eq!(b["PidsLimit"], -1);
        assert_eq!(b["RestartPolicy"]["Name"], "on-failure");
        assert_eq!(b["RestartPolicy"]["MaximumRetryCount"], 2);
        let none = UpdateArgs {
            containers: vec!["web".into()],
            ..Default::default()
        };
        assert!(none
            .body()
            .expect_err("no flags")
            .to_string()
            .contains("you must provide one or more flags"));
        assert_eq!(path_segment("web_1.x"), "web_1.x");
        assert_eq!(path_segment("a/b"), "a%2Fb");
    }
}
