//! The `--health-*` flags of `run`/`create`, turned into the container's `Healthcheck`.

use anyhow::{anyhow, Result};
use bollard::models::{ContainerCreateBody, HealthConfig};

#[derive(clap::Args, Debug, Default)]
pub struct HealthFlags {
    /// Command to run to check health.
    #[arg(long)]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h).
    #[arg(long)]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h).
    #[arg(long)]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy.
    #[arg(long)]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before counting retries (ms|s|m|h).
    #[arg(long)]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h).
    #[arg(long)]
    pub health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK.
    #[arg(long)]
    pub no_healthcheck: bool,
}

/// A Go duration (`1h30m`, `500ms`, `2.5s`) in nanoseconds; spaces around it are ignored.
pub fn parse_go_duration(s: &str) -> Result<i64> {
    berth_oci::duration::parse_go_duration(s.trim()).map_err(|_| {
        anyhow!("invalid duration {s:?} (use a number with a unit: 500ms, 10s, 1m30s)")
    })
}

impl HealthFlags {
    pub fn apply(&self, body: &mut ContainerCreateBody) -> Result<()> {
        let d = |v: &Option<String>, what: &str| -> Result<Option<i64>> {
            v.as_deref()
                .map(|s| {
                    let n = parse_go_duration(s).map_err(|e| anyhow!("--{what}: {e}"))?;
                    if n != 0 && n < 1_000_000 {
                        return Err(anyhow!("--{what} cannot be less than 1ms"));
                    }
                    Ok(n)
                })
                .transpose()
        };
        let interval = d(&self.health_interval, "health-interval")?;
        let timeout = d(&self.health_timeout, "health-timeout")?;
        let start_period = d(&self.health_start_period, "health-start-period")?;
        let start_interval = d(&self.health_start_interval, "health-start-interval")?;
        if self.health_retries.is_some_and(|r| r < 0) {
            return Err(anyhow!("--health-retries cannot be negative"));
        }
        let any = self.health_cmd.is_some()
            || interval.is_some()
            || timeout.is_some()
            || start_period.is_some()
            || start_interval.is_some()
            || self.health_retries.is_some();
        if self.no_healthcheck {
            if any {
                return Err(anyhow!(
                    "--no-healthcheck conflicts with --health-* options"
                ));
            }
            body.healthcheck = Some(HealthConfig {
                test: Some(vec!["NONE".into()]),
                ..Default::default()
            });
            return Ok(());
        }
        if any {
            body.healthcheck = Some(HealthConfig {
                test: self
                    .health_cmd
                    .as_ref()
                    .map(|c| vec!["CMD-SHELL".to_string(), c.clone()]),
                interval,
                timeout,
                retries: self.health_retries,
                start_period,
                start_interval,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("30s").unwrap(), 30_000_000_000);
        assert_eq!(parse_go_duration("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_go_duration("500ms").unwrap(), 500_000_000);
        assert_eq!(parse_go_duration("1.5h").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_go_duration("0").unwrap(), 0);
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("5x").is_err());
        assert!(parse_go_duration("").is_err());
    }

    #[test]
    fn flags_become_a_healthcheck() {
        let mut body = ContainerCreateBody::default();
        let f = HealthFlags {
            health_cmd: Some("test -f /ok".into()),
            health_interval: Some("1s".into()),
            health_retries: Some(2),
            ..Default::default()
        };
        f.apply(&mut body).unwrap();
        let hc = body.healthcheck.unwrap();
        assert_eq!(hc.test.unwrap(), ["CMD-SHELL", "test -f /ok"]);
        assert_eq!(hc.interval, Some(1_000_000_000));
        assert_eq!(hc.retries, Some(2));
        let f = HealthFlags {
            no_healthcheck: true,
            health_retries: Some(1),
            ..Default::default()
        };
        assert!(f.apply(&mut ContainerCreateBody::default()).is_err());
    }
}
