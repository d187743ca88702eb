//! Health checks (`HEALTHCHECK` / `--health-*`): while a container runs, its test command
//! is executed in it on a timer and `State.Health` (status, failing streak, the last five
//! results) follows Docker's rules:
//! - the status starts as `starting`; a passing probe makes it `healthy` (streak reset);
//! - a failing probe (non-zero exit, or the timeout) adds to the streak, except during the
//!   start period before the first success; `retries` consecutive failures → `unhealthy`;
//! - probes run every `interval` (default 30 s), every `start_interval` (default 5 s)
//!   during the start period; each status change emits `health_status: <status>`.

use super::*;
use bollard_stubs::models::{Health, HealthConfig, HealthStatusEnum, HealthcheckResult};
use std::time::Duration;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: i64 = 3;
/// Docker keeps this many results in `State.Health.Log`.
const MAX_LOG: usize = 5;
/// And this much of each probe's output.
const MAX_OUTPUT: usize = 4096;

fn dur(ns: Option<i64>, default: Duration) -> Duration {
    match ns {
        Some(n) if n > 0 => Duration::from_nanos(n as u64),
        _ => default,
    }
}

/// The probe's command line, or `None` when health checks are off (`NONE` or no test).
pub(crate) fn probe_args(hc: &HealthConfig, shell: &[String]) -> Option<Vec<String>> {
    let test = hc.test.as_ref()?;
    match test.first().map(|s| s.as_str()) {
        Some("CMD") => Some(test[1..].to_vec()).filter(|a| !a.is_empty()),
        Some("CMD-SHELL") => {
            let mut a = if shell.is_empty() {
                vec!["/bin/sh".to_string(), "-c".to_string()]
            } else {
                shell.to_vec()
            };
            a.push(test[1..].join(" "));
            Some(a)
        }
        _ => None,
    }
}

/// Applies one probe result to the health state; returns whether the status changed.
pub(crate) fn apply_result(
    h: &mut Health,
    result: HealthcheckResult,
    retries: i64,
    in_start_period: bool,
) -> bool {
    let before = h.status;
    let passed = result.exit_code == Some(0);
    let log = h.log.get_or_insert_with(Vec::new);
    log.push(result);
    if log.len() > MAX_LOG {
        log.remove(0);
    }
    if passed {
        h.failing_streak = Some(0);
        h.status = Some(HealthStatusEnum::HEALTHY);
    } else if !(in_start_period && h.status == Some(HealthStatusEnum::STARTING)) {
        let streak = h.failing_streak.unwrap_or(0) + 1;
        h.failing_streak = Some(streak);
        if streak >= retries {
            h.status = Some(HealthStatusEnum::UNHEALTHY);
        }
    }
    h.status != before
}

fn stamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

impl Engine {
    /// Starts the health-check loop of a container that was just started (no-op without
    /// a health check).
    pub(crate) fn spawn_health(self: &Arc<Self>, ctr: Arc<Ctr>) {
        let rec = ctr.snapshot();
        let Some(hc) = rec.config.healthcheck.clone() else {
            return;
        };
        let shell = rec.config.shell.clone().unwrap_or_default();
        let Some(args) = probe_args(&hc, &shell) else {
            return;
        };
        let started_gen = rec.state.exits;
        {
            let mut r = ctr.rec.lock().unwrap_or_else(|p| p.into_inner());
            r.health = Some(Health {
                status: Some(HealthStatusEnum::STARTING),
                failing_streak: Some(0),
                log: Some(Vec::new()),
            });
        }
        let engine = self.clone();
        tokio::spawn(async move {
            let interval = dur(hc.interval, DEFAULT_INTERVAL);
            let timeout = dur(hc.timeout, DEFAULT_TIMEOUT);
            let start_period = dur(hc.start_period, Duration::ZERO);
            let start_interval = dur(hc.start_interval, DEFAULT_START_INTERVAL);
            let retries = hc.retries.filter(|r| *r > 0).unwrap_or(DEFAULT_RETRIES);
            let began = tokio::time::Instant::now();
            let mut rx = ctr.changed.subscribe();
            loop {
                let in_start = began.elapsed() < start_period;
                let starting = ctr.snapshot().health.and_then(|h| h.status)
                    == Some(HealthStatusEnum::STARTING);
                let wait = if in_start && starting {
                    start_interval
                } else {
                    interval
                };
                let running = |c: &Arc<Ctr>| {
                    let r = c.snapshot();
                    r.state.exits == started_gen && r.state.status == "running"
                };
                // Sleep, but stop at once when the container stops or is removed.
                let stopped = tokio::select! {
                    _ = tokio::time::sleep(wait) => false,
                    _ = async {
                        loop {
                            if rx.changed().await.is_err() || !running(&ctr) {
                                return;
                            }
                        }
                    } => true,
                };
                if stopped || !running(&ctr) {
                    return;
                }
                let result = engine.probe(&ctr, &args, timeout).await;
                let in_start = began.elapsed() < start_period;
                let (changed, snap) = {
                    let mut r = ctr.rec.lock().unwrap_or_else(|p| p.into_inner());
                    if r.state.exits != started_gen {
                        return;
                    }
                    let h = r.health.get_or_insert_with(Health::default);
                    let changed = apply_result(h, result, retries, in_start);
                    (changed, r.clone())
                };
                if let Err(e) = engine.persist(&snap) {
                    tracing::warn!(container = %snap.id, "persist health: {e}");
                }
                if changed {
                    let status = snap
                        .health
                        .as_ref()
                        .and_then(|h| h.status)
                        .map(|s| s.to_string())
                        .unwrap_or_default();
                    engine.ctr_event(&snap, &format!("health_status: {status}"), &[]);
                }
            }
        });
    }

    /// Runs one probe in the container.
    async fn probe(&self, ctr: &Arc<Ctr>, args: &[String], timeout: Duration) -> HealthcheckResult {
        let id = ctr.snapshot().id;
        let start = stamp();
        let opts = ExecOptions {
            args: args.to_vec(),
            ..Default::default()
        };
        let run = async {
            let (_, stream) = self
                .shim_of(&id)
                .exec(&opts)
                .await
                .map_err(|e| e.to_string())?;
            let stream = stream.ok_or("no output stream")?;
            let (out, err, exit) = stream.collect().await.map_err(|e| e.to_string())?;
            let mut text = out;
            text.extend_from_slice(&err);
            Ok::<_, String>((exit.map(|e| e.exit_code as i64).unwrap_or(-1), text))
        };
        let (code, output) = match tokio::time::timeout(timeout, run).await {
            Ok(Ok((code, text))) => {
                let mut s = String::from_utf8_lossy(&text).into_owned();
                if s.len() > MAX_OUTPUT {
                    let mut cut = MAX_OUTPUT;
                    while !s.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    s.truncate(cut);
                }
                (code, s)
            }
            Ok(Err(e)) => (-1, format!("health check failed to run: {e}")),
            Err(_) => (
                -1,
                format!("Health check exceeded timeout ({}s)", timeout.as_secs_f64()),
            ),
        };
        HealthcheckResult {
            start: Some(start),
            end: Some(stamp()),
            exit_code: Some(code),
            output: Some(output),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(code: i64) -> HealthcheckResult {
        HealthcheckResult {
            exit_code: Some(code),
            ..Default::default()
        }
    }

    #[test]
    fn probe_forms() {
        let hc = |t: &[&str]| HealthConfig {
            test: Some(t.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        };
        assert_eq!(
            probe_args(&hc(&["CMD", "true"]), &[]),
            Some(vec!["true".into()])
        );
        assert_eq!(
            probe_args(&hc(&["CMD-SHELL", "exit 1"]), &[]),
            Some(vec!["/bin/sh".into(), "-c".into(), "exit 1".into()])
        );
        assert_eq!(probe_args(&hc(&["NONE"]), &[]), None);
        assert_eq!(probe_args(&HealthConfig::default(), &[]), None);
    }

    #[test]
    fn streaks_start_period_and_recovery() {
        let mut h = Health {
            status: Some(HealthStatusEnum::STARTING),
            failing_streak: Some(0),
            log: Some(Vec::new()),
        };
        // Failures inside the start period do not count while still starting.
        assert!(!apply_result(&mut h, res(1), 2, true));
        assert_eq!(h.failing_streak, Some(0));
        assert!(apply_result(&mut h, res(0), 2, true));
        assert_eq!(h.status, Some(HealthStatusEnum::HEALTHY));
        // After the first success they count, start period or not.
        assert!(!apply_result(&mut h, res(1), 2, true));
        assert_eq!(h.failing_streak, Some(1));
        assert!(apply_result(&mut h, res(1), 2, false));
        assert_eq!(h.status, Some(HealthStatusEnum::UNHEALTHY));
        for _ in 0..10 {
            apply_result(&mut h, res(1), 2, false);
        }
        assert_eq!(h.log.as_ref().unwrap().len(), MAX_LOG);
        assert!(apply_result(&mut h, res(0), 2, false));
        assert_eq!(h.failing_streak, Some(0));
    }
}
