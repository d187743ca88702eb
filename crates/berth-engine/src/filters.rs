//! Docker's `filters` query parameter: JSON `{"key":["v",…]}` or the older
//! `{"key":{"v":true}}`, plus Go `path.Match` glob matching for `reference=`.

use crate::error::{EngineError, Result};
use std::collections::BTreeMap;

/// Parsed filters: key → values.
#[derive(Debug, Default, Clone)]
pub struct Filters(pub BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parses the raw query value (empty means no filters).
    pub fn parse(raw: Option<&str>) -> Result<Filters> {
        let Some(raw) = raw.filter(|r| !r.is_empty()) else {
            return Ok(Filters::default());
        };
        let v: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| EngineError::BadRequest(format!("invalid filters {raw:?}: {e}")))?;
        let mut out = BTreeMap::new();
        let obj = v
            .as_object()
            .ok_or_else(|| EngineError::BadRequest(format!("invalid filters {raw:?}")))?;
        for (k, val) in obj {
            let vals: Vec<String> = match val {
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect(),
                serde_json::Value::Object(m) => m
                    .iter()
                    .filter(|(_, b)| b.as_bool().unwrap_or(false))
                    .map(|(s, _)| s.clone())
                    .collect(),
                _ => return Err(EngineError::BadRequest(format!("invalid filter {k:?}"))),
            };
            out.insert(k.clone(), vals);
        }
        Ok(Filters(out))
    }

    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(|v| v.as_slice()).unwrap_or(&[])
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Rejects keys outside `allowed`, with Docker's message.
    pub fn only(&self, allowed: &[&str]) -> Result<()> {
        for k in self.0.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(EngineError::BadRequest(format!("invalid filter '{k}'")));
            }
        }
        Ok(())
    }

    /// `label=key` or `label=key=value` against a label map.
    /// `label!=` filters must all fail to match.
    pub fn labels_match(&self, labels: &BTreeMap<String, String>) -> bool {
        let hit = |f: &String| match f.split_once('=') {
            Some((k, v)) => labels.get(k).map(|x| x == v).unwrap_or(false),
            None => labels.contains_key(f.as_str()),
        };
        self.get("label").iter().all(hit) && !self.get("label!").iter().any(hit)
    }
}

/// An `until` filter value as unix seconds: a timestamp (seconds or RFC 3339) or a Go
/// duration (`24h`, `10m30s`) counted back from now; empty means now.
pub fn parse_until(v: &str) -> Result<i64> {
    if let Ok(secs) = v.parse::<f64>() {
        return Ok(secs as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(t.timestamp());
    }
    let ns = if v.is_empty() {
        0
    } else {
        berth_oci::duration::parse_go_duration(v)
            .map_err(|_| EngineError::BadRequest(format!("invalid filter 'until={v}'")))?
    };
    Ok(chrono::Utc::now().timestamp() - ns / 1_000_000_000)
}

/// Go's `path.Match`: `*`, `?`, `[...]` classes, `\` escapes; `*` does not cross `/`.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn m(p: &[char], n: &[char]) -> bool {
        if p.is_empty() {
            return n.is_empty();
        }
        match p[0] {
            '*' => {
                for i in 0..=n.len() {
                    if i > 0 && n[i - 1] == '/' {
                        break;
                    }
                    if m(&p[1..], &n[i..]) {
                        return true;
                    }
                }
                false
            }
            '?' => !n.is_empty() && n[0] != '/' && m(&p[1..], &n[1..]),
            '[' => {
                if n.is_empty() || n[0] == '/' {
                    return false;
                }
                let Some(end) = p.iter().position(|c| *c == ']') else {
                    return false;
                };
                let class = &p[1..end];
                let (neg, class) = match class.first() {
                    Some('^') => (true, &class[1..]),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        if class[i] <= n[0] && n[0] <= class[i + 2] {
                            hit = true;
                        }
                        i += 3;
                    } else {
                        if class[i] == n[0] {
                            hit = true;
                        }
                        i += 1;
                    }
                }
                hit != neg && m(&p[end + 1..], &n[1..])
            }
            '\\' if p.len() > 1 => !n.is_empty() && n[0] == p[1] && m(&p[2..], &n[1..]),
            c => !n.is_empty() && n[0] == c && m(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    m(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms() {
        let f = Filters::parse(Some(r#"{"dangling":["true"],"label":{"a=b":true}}"#)).unwrap();
        assert_eq!(f.get("dangling"), ["true"]);
        assert_eq!(f.get("label"), ["a=b"]);
        assert!(Filters::parse(Some("nope")).is_err());
    }

    #[test]
    fn globs() {
        assert!(glob_match("busy*", "busybox"));
        assert!(glob_match("busybox:*", "busybox:latest"));
        assert!(!glob_match("*", "a/b"));
        assert!(glob_match("*/*", "a/b"));
        assert!(glob_match("b?sy[a-z]ox", "busybox"));
        assert!(!glob_match("b[^u]sybox", "busybox"));
    }

    #[test]
    fn until_values() {
        assert_eq!(parse_until("1700000000").unwrap(), 1_700_000_000);
        assert_eq!(parse_until("2023-11-14T22:13:20Z").unwrap(), 1_700_000_000);
        let now = chrono::Utc::now().timestamp();
        assert!((now - 5400 - parse_until("1h30m").unwrap()).abs() < 5);
        assert!((now - 90 - parse_until("1m30s500ms").unwrap()).abs() < 5);
        assert!((now - parse_until("").unwrap()).abs() < 5);
        assert!(parse_until("10x").is_err());
        assert!(parse_until("10m5").is_err());
    }
}
