//! `berth events`: the daemon's event stream, printed like `docker events`.

use super::client::{api_error, runtime, ClientOpts};
use crate::format::Template;
use anyhow::{anyhow, Result};
use bollard::models::EventMessage;
use bollard::query_parameters as qp;
use futures::StreamExt;
use std::collections::HashMap;
use std::io::Write;

#[derive(clap::Args, Debug)]
pub struct EventsArgs {
    /// Filter output based on conditions provided.
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format the output using the given Go template.
    #[arg(long)]
    pub format: Option<String>,
    /// Show all events created since timestamp (unix seconds, RFC 3339 or a duration like 10m).
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp.
    #[arg(long)]
    pub until: Option<String>,
}

/// Docker's `--since`/`--until` arguments: a relative Go duration (`10m`, `1h30m`, `45s`)
/// is turned into an absolute unix time here, as the docker CLI does; empty means now.
pub fn time_arg(v: &str) -> Result<String> {
    use berth_oci::duration::{parse_go_duration, GoDurationError};
    let v = v.trim();
    if v.parse::<f64>().is_ok() || chrono::DateTime::parse_from_rfc3339(v).is_ok() {
        return Ok(v.to_string());
    }
    let ns = if v.is_empty() {
        0
    } else {
        parse_go_duration(v).map_err(|e| match e {
            GoDurationError::MissingUnit => {
                anyhow!("invalid time or duration: {v:?} (missing unit)")
            }
            _ => anyhow!("invalid time or duration: {v:?}"),
        })?
    };
    let now = chrono::Utc::now();
    let t = now.timestamp() as f64 + now.timestamp_subsec_nanos() as f64 / 1e9 - ns as f64 / 1e9;
    Ok(format!("{t:.9}"))
}

/// One event as docker prints it by default:
/// `2024-01-02T03:04:05.000000000Z container start <id> (image=busybox, name=web)`.
pub fn default_line(e: &EventMessage) -> String {
    let nanos = e
        .time_nano
        .unwrap_or_else(|| e.time.unwrap_or(0) * 1_000_000_000);
    let t = chrono::DateTime::from_timestamp(nanos / 1_000_000_000, (nanos % 1_000_000_000) as u32)
        .unwrap_or_default();
    let typ = e.typ.map(|t| t.to_string()).unwrap_or_default();
    let actor = e.actor.clone().unwrap_or_default();
    let mut attrs: Vec<(String, String)> =
        actor.attributes.unwrap_or_default().into_iter().collect();
    attrs.sort();
    let attrs = attrs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut line = format!(
        "{} {} {} {}",
        t.format("%Y-%m-%dT%H:%M:%S.%9fZ"),
        typ,
        e.action.as_deref().unwrap_or(""),
        actor.id.as_deref().unwrap_or("")
    );
    if !attrs.is_empty() {
        line.push_str(&format!(" ({attrs})"));
    }
    line
}

pub fn run(opts: &ClientOpts, a: EventsArgs) -> Result<i32> {
    let mut filters: HashMap<String, Vec<String>> = HashMap::new();
    for f in &a.filter {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value): {f}"))?;
        filters.entry(k.into()).or_default().push(v.into());
    }
    let since = a.since.as_deref().map(time_arg).transpose()?;
    let until = a.until.as_deref().map(time_arg).transpose()?;
    let tmpl = a.format.as_deref().map(Template::parse).transpose()?;
    runtime()?.block_on(async {
        let d = opts.connect().await?;
        let mut s = d.events(Some(qp::EventsOptions {
            since,
            until,
            filters: Some(filters),
        }));
        let mut out = std::io::stdout();
        while let Some(e) = s.next().await {
            let e = e.map_err(api_error)?;
            let line = match &tmpl {
                Some(t) => t.render(&serde_json::to_value(&e)?)?,
                None => default_line(&e),
            };
            if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                break;
            }
        }
        Ok(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_become_unix_times() {
        let now = chrono::Utc::now().timestamp() as f64;
        let t: f64 = time_arg("10m").unwrap().parse().unwrap();
        assert!((now - 600.0 - t).abs() < 5.0);
        let t: f64 = time_arg("1h30m").unwrap().parse().unwrap();
        assert!((now - 5400.0 - t).abs() < 5.0);
        assert_eq!(time_arg("1700000000").unwrap(), "1700000000");
        assert!(time_arg("10x").is_err());
        assert!(time_arg("10").is_ok());
        assert!(time_arg("5 minutes").is_err());
        let t: f64 = time_arg("1m500ms").unwrap().parse().unwrap();
        assert!((now - 60.5 - t).abs() < 5.0);
        assert!(time_arg("1h30")
            .unwrap_err()
            .to_string()
            .contains("missing unit"));
    }
}
