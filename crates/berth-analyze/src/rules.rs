//! The CI rule engine: dive's three rules, configured from `.dive-ci` (legacy camelCase
//! keys under `rules:`, snake-case `lowest-efficiency` also accepted), evaluated against
//! any set of figures (dive-compatible or corrected), so a builder can gate on it too.
//!
//! Semantics follow dive (`cmd/dive/cli/internal/command/ci/rules.go`): defaults
//! lowestEfficiency 0.9, highestWastedBytes disabled, highestUserWastedPercent 0.1;
//! "", "disabled", "off", "false" disable a rule; ratios must lie in [0, 1]; byte
//! thresholds use go-humanize's `ParseBytes` ("20MB" = 20·10⁶, "20MiB" = 20·2²⁰);
//! comparisons are strict (a value equal to the threshold passes).

use crate::error::{AnalyzeError, Result};
use serde::Serialize;
use std::path::Path;

pub const LOWEST_EFFICIENCY: &str = "lowestEfficiency";
pub const HIGHEST_WASTED_BYTES: &str = "highestWastedBytes";
pub const HIGHEST_USER_WASTED_PERCENT: &str = "highestUserWastedPercent";

/// The raw rule values, as strings (as dive keeps them).
#[derive(Debug, Clone, PartialEq)]
pub struct CiConfig {
    pub lowest_efficiency: String,
    pub highest_wasted_bytes: String,
    pub highest_user_wasted_percent: String,
    /// Where the values came from (for error messages).
    pub origin: String,
}

impl Default for CiConfig {
    fn default() -> Self {
        CiConfig {
            lowest_efficiency: "0.9".into(),
            highest_wasted_bytes: "disabled".into(),
            highest_user_wasted_percent: "0.1".into(),
            origin: "defaults".into(),
        }
    }
}

/// Figures a rule set is evaluated against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Metrics {
    pub efficiency: f64,
    pub wasted_bytes: u64,
    pub user_wasted_percent: f64,
}

/// A rule's threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    Disabled,
    Ratio(f64),
    Bytes(u64),
}

/// A validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub key: &'static str,
    /// The configured text.
    pub config: String,
    pub threshold: Threshold,
}

/// A rule's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RuleStatus {
    Pass,
    Fail,
    Warn,
    Skip,
}

impl RuleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleStatus::Pass => "PASS",
            RuleStatus::Fail => "FAIL",
            RuleStatus::Warn => "WARN",
            RuleStatus::Skip => "SKIP",
        }
    }
}

/// One evaluated rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleOutcome {
    pub rule: String,
    pub status: RuleStatus,
    pub message: String,
}

/// All outcomes of a rule set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub pass: bool,
    pub outcomes: Vec<RuleOutcome>,
}

fn is_disabled(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "" | "disabled" | "off" | "false"
    )
}

fn yaml_scalar(v: &serde_yaml_ng::Value) -> Option<String> {
    match v {
        serde_yaml_ng::Value::Null => Some(String::new()),
        serde_yaml_ng::Value::Bool(b) => Some(b.to_string()),
        serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
        serde_yaml_ng::Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// The 1-based line where `key` first appears in `text` (for error messages).
fn line_of(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| l.trim_start().starts_with(key))
        .map(|i| i + 1)
}

impl CiConfig {
    /// Parses a `.dive-ci` document. Rules not mentioned keep dive's defaults.
    pub fn from_yaml(text: &str, origin: &str) -> Result<CiConfig> {
        let cfg_err = |message: String| AnalyzeError::Config {
            file: origin.to_string(),
            message,
        };
        let mut cfg = CiConfig {
            origin: origin.to_string(),
            ..CiConfig::default()
        };
        if text.trim().is_empty() {
            return Ok(cfg);
        }
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(text).map_err(|e| cfg_err(format!("invalid YAML: {e}")))?;
        let rules = match doc.get("rules") {
            None | Some(serde_yaml_ng::Value::Null) => return Ok(cfg),
            Some(r) => r,
        };
        let map = rules.as_mapping().ok_or_else(|| {
            cfg_err(format!(
                "line {}: `rules` must be a mapping",
                line_of(text, "rules").unwrap_or(0)
            ))
        })?;
        for (k, v) in map {
            let Some(key) = k.as_str() else {
                return Err(cfg_err("a key under `rules` is not a string".into()));
            };
            let line = line_of(text, key).unwrap_or(0);
            let value = yaml_scalar(v).ok_or_else(|| {
                cfg_err(format!(
                    "line {line}: rules.{key}: expected a number or string"
                ))
            })?;
            let slot = match key {
                "lowestEfficiency" | "lowest-efficiency" => &mut cfg.lowest_efficiency,
                "highestWastedBytes" | "highest-wasted-bytes" => &mut cfg.highest_wasted_bytes,
                "highestUserWastedPercent" | "highest-user-wasted-percent" => {
                    &mut cfg.highest_user_wasted_percent
                }
                other => {
                    tracing::warn!(file = origin, line, key = other, "unknown CI rule ignored");
                    continue;
                }
            };
            *slot = value;
        }
        // Validate now so errors name the file and line.
        cfg.rules().map_err(|e| match e {
            AnalyzeError::Config { message, .. } => {
                let key = message.split_whitespace().next().unwrap_or("");
                match line_of(text, key) {
                    Some(l) => cfg_err(format!("line {l}: {message}")),
                    None => cfg_err(message),
                }
            }
            other => other,
        })?;
        Ok(cfg)
    }

    /// Loads the rules: an explicit file must exist; the default `.dive-ci` is optional.
    pub fn load(explicit: Option<&Path>, default: &Path) -> Result<CiConfig> {
        let (path, required) = match explicit {
            Some(p) => (p, true),
            None => (default, false),
        };
        match std::fs::read_to_string(path) {
            Ok(text) => CiConfig::from_yaml(&text, &path.display().to_string()),
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                Ok(CiConfig::default())
            }
            Err(e) => Err(AnalyzeError::io(format!("reading {}", path.display()), e)),
        }
    }

    /// Validates the values into rules.
    pub fn rules(&self) -> Result<Vec<Rule>> {
        let err = |message: String| AnalyzeError::Config {
            file: self.origin.clone(),
            message,
        };
        let ratio = |key: &'static str, v: &str| -> Result<Rule> {
            if is_disabled(v) {
                return Ok(Rule {
                    key,
                    config: "disabled".into(),
                    threshold: Threshold::Disabled,
                });
            }
            let t: f64 = v.trim().parse().map_err(|_| {
                err(format!(
                    "{key} must be a number between 0 and 1 or \"disabled\", got {v:?}"
                ))
            })?;
            if !(0.0..=1.0).contains(&t) {
                return Err(err(format!(
                    "{key} is outside the allowed range (0-1), got {v:?}"
                )));
            }
            Ok(Rule {
                key,
                config: v.to_string(),
                threshold: Threshold::Ratio(t),
            })
        };
        let bytes = |key: &'static str, v: &str| -> Result<Rule> {
            if is_disabled(v) {
                return Ok(Rule {
                    key,
                    config: "disabled".into(),
                    threshold: Threshold::Disabled,
                });
            }
            let t = parse_bytes(v).map_err(|m| err(format!("{key} {m}, got {v:?}")))?;
            Ok(Rule {
                key,
                config: v.to_string(),
                threshold: Threshold::Bytes(t),
            })
        };
        Ok(vec![
            ratio(LOWEST_EFFICIENCY, &self.lowest_efficiency)?,
            bytes(HIGHEST_WASTED_BYTES, &self.highest_wasted_bytes)?,
            ratio(
                HIGHEST_USER_WASTED_PERCENT,
                &self.highest_user_wasted_percent,
            )?,
        ])
    }
}

/// go-humanize's `ParseBytes`: a number (commas ignored, decimals allowed) and an
/// optional unit; SI units (k, kb, m, mb, …) are powers of 1000, IEC (ki, kib, …) of 1024.
pub fn parse_bytes(s: &str) -> std::result::Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(s.len());
    let num: String = s[..split].chars().filter(|c| *c != ',').collect();
    let unit = s[split..].trim().to_ascii_lowercase();
    let n: f64 = num
        .parse()
        .map_err(|_| "must be a byte count such as 20MB or 1GiB".to_string())?;
    let mult: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1024f64.powi(2),
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1024f64.powi(3),
        "t" | "tb" => 1e12,
        "ti" | "tib" => 1024f64.powi(4),
        "p" | "pb" => 1e15,
        "pi" | "pib" => 1024f64.powi(5),
        "e" | "eb" => 1e18,
        "ei" | "eib" => 1024f64.powi(6),
        other => return Err(format!("has an unknown unit {other:?}")),
    };
    let v = n * mult;
    if v >= u64::MAX as f64 {
        return Err("is too large".into());
    }
    Ok(v as u64)
}

/// Evaluates rules against figures, with dive's strict comparisons.
pub fn evaluate(rules: &[Rule], m: &Metrics) -> Evaluation {
    let mut outcomes: Vec<RuleOutcome> = rules
        .iter()
        .map(|r| {
            let (status, message) = match (r.key, r.threshold) {
                (_, Threshold::Disabled) => (RuleStatus::Skip, "disabled".to_string()),
                (LOWEST_EFFICIENCY, Threshold::Ratio(t)) if t > m.efficiency => (
                    RuleStatus::Fail,
                    format!("image efficiency is too low (efficiency={:.2} < threshold={})", m.efficiency, r.config),
                ),
                (HIGHEST_WASTED_BYTES, Threshold::Bytes(t)) if m.wasted_bytes > t => (
                    RuleStatus::Fail,
                    format!("too many bytes wasted (wasted-bytes={} > threshold={})", m.wasted_bytes, r.config),
                ),
                (HIGHEST_USER_WASTED_PERCENT, Threshold::Ratio(t)) if m.user_wasted_percent > t => (
                    RuleStatus::Fail,
                    format!(
                        "too many bytes wasted, relative to the user bytes added (%-user-wasted-bytes={:.2} > threshold={})",
                        m.user_wasted_percent, r.config
                    ),
                ),
                _ => (RuleStatus::Pass, r.config.clone()),
            };
            RuleOutcome { rule: r.key.to_string(), status, message }
        })
        .collect();
    outcomes.sort_by(|a, b| a.rule.cmp(&b.rule));
    Evaluation {
        pass: outcomes.iter().all(|o| o.status != RuleStatus::Fail),
        outcomes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(e: f64, w: u64, p: f64) -> Metrics {
        Metrics {
            efficiency: e,
            wasted_bytes: w,
            user_wasted_percent: p,
        }
    }

    #[test]
    fn defaults_are_dives() {
        let r = CiConfig::default().rules().unwrap();
        assert_eq!(r[0].threshold, Threshold::Ratio(0.9));
        assert_eq!(r[1].threshold, Threshold::Disabled);
        assert_eq!(r[2].threshold, Threshold::Ratio(0.1));
    }

    #[test]
    fn camel_and_snake_keys_and_disabled_values() {
        let c = CiConfig::from_yaml(
            "rules:\n  lowestEfficiency: 0.95\n  highest-wasted-bytes: 20MB\n  highestUserWastedPercent: Off\n",
            ".dive-ci",
        )
        .unwrap();
        let r = c.rules().unwrap();
        assert_eq!(r[0].threshold, Threshold::Ratio(0.95));
        assert_eq!(r[1].threshold, Threshold::Bytes(20_000_000));
        assert_eq!(r[2].threshold, Threshold::Disabled);
    }

    #[test]
    fn out_of_range_names_file_and_line() {
        let e = CiConfig::from_yaml("rules:\n  lowestEfficiency: 1.5\n", "x/.dive-ci").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("x/.dive-ci"), "{s}");
        assert!(s.contains("line 2"), "{s}");
        assert!(s.contains("lowestEfficiency"), "{s}");
    }

    #[test]
    fn strict_greater_than() {
        let c = CiConfig {
            highest_wasted_bytes: "100".into(),
            ..CiConfig::default()
        };
        let r = c.rules().unwrap();
        // Equal to every threshold: passes.
        assert!(evaluate(&r, &m(0.9, 100, 0.1)).pass);
        let ev = evaluate(&r, &m(0.89, 101, 0.11));
        assert!(!ev.pass);
        assert!(ev.outcomes.iter().all(|o| o.status == RuleStatus::Fail));
    }

    #[test]
    fn bytes_parse_like_humanize() {
        assert_eq!(parse_bytes("20MB").unwrap(), 20_000_000);
        assert_eq!(parse_bytes("20 MiB").unwrap(), 20 * 1024 * 1024);
        assert_eq!(parse_bytes("1,000").unwrap(), 1000);
        assert_eq!(parse_bytes("1.5kb").unwrap(), 1500);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("5 parsecs").is_err());
    }
}
