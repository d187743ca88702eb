//! `--change` instructions for `import` and `commit` (`CMD`, `ENV`, `EXPOSE`, …): the
//! subset of Dockerfile syntax Docker accepts there, applied to a `RunConfig`.

use crate::error::{EngineError, Result};
use berth_oci::RunConfig;

/// Applies each change line to `cfg`, in order.
pub fn apply(cfg: &mut RunConfig, changes: &[String]) -> Result<()> {
    for line in changes {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        match word.to_ascii_uppercase().as_str() {
            "CMD" => cfg.cmd = Some(command(rest)),
            "ENTRYPOINT" => {
                cfg.entrypoint = Some(command(rest));
            }
            "ENV" => {
                let env = cfg.env.get_or_insert_with(Vec::new);
                for (k, v) in pairs(rest, "ENV")? {
                    env.retain(|e| e.split_once('=').map(|(ek, _)| ek) != Some(k.as_str()));
                    env.push(format!("{k}={v}"));
                }
            }
            "LABEL" => {
                let labels = cfg.labels.get_or_insert_with(Default::default);
                for (k, v) in pairs(rest, "LABEL")? {
                    labels.insert(k, v);
                }
            }
            "EXPOSE" => {
                let ports = cfg.exposed_ports.get_or_insert_with(Default::default);
                for p in rest.split_whitespace() {
                    let p = if p.contains('/') {
                        p.to_ascii_lowercase()
                    } else {
                        format!("{p}/tcp")
                    };
                    let num = p.split('/').next().unwrap_or("");
                    if num.split('-').any(|n| n.parse::<u16>().is_err()) {
                        return Err(EngineError::BadRequest(format!(
                            "invalid containerPort: {num}"
                        )));
                    }
                    ports.insert(p, serde_json::json!({}));
                }
            }
            "VOLUME" => {
                let vols = cfg.volumes.get_or_insert_with(Default::default);
                let list = match json_array(rest) {
                    Some(v) => v,
                    None => rest.split_whitespace().map(String::from).collect(),
                };
                for v in list {
                    vols.insert(v, serde_json::json!({}));
                }
            }
            "USER" => cfg.user = Some(rest.to_string()),
            "WORKDIR" => cfg.working_dir = Some(rest.to_string()),
            "STOPSIGNAL" => cfg.stop_signal = Some(rest.to_string()),
            "ONBUILD" => cfg
                .on_build
                .get_or_insert_with(Vec::new)
                .push(rest.to_string()),
            other => {
                return Err(EngineError::BadRequest(format!(
                    "{other} is not a valid change command"
                )))
            }
        }
    }
    Ok(())
}

fn json_array(s: &str) -> Option<Vec<String>> {
    if !s.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(s).ok()
}

/// Exec form (JSON array) or shell form (`/bin/sh -c …`).
fn command(s: &str) -> Vec<String> {
    json_array(s).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), s.to_string()])
}

/// `k=v k2="v 2"` or the legacy `k v w` (one pair, value is the rest).
fn pairs(s: &str, what: &str) -> Result<Vec<(String, String)>> {
    let words = split_words(s);
    if words.is_empty() {
        return Err(EngineError::BadRequest(format!(
            "{what} requires at least one argument"
        )));
    }
    if !words[0].contains('=') {
        let (k, v) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
        if v.trim().is_empty() {
            return Err(EngineError::BadRequest(format!(
                "{what} {k}: missing value (use {k}=value)"
            )));
        }
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(EngineError::BadRequest(format!(
                "{what}: {w:?} is not of the form key=value"
            ))),
        })
        .collect()
}

/// Splits on whitespace, honouring double and single quotes and backslash escapes.
fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, '"') | (None, '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (q, '\\') if q != Some('\'') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_changes() {
        let mut c = RunConfig::default();
        apply(
            &mut c,
            &[
                r#"CMD ["sh", "-c", "echo hi"]"#.into(),
                "ENTRYPOINT /bin/run".into(),
                r#"ENV A=1 B="two words""#.into(),
                "ENV LEGACY some value".into(),
                "EXPOSE 80 53/udp".into(),
                "LABEL maintainer=me".into(),
                "WORKDIR /app".into(),
                "USER nobody".into(),
                "VOLUME /data".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.cmd.unwrap(), vec!["sh", "-c", "echo hi"]);
        assert_eq!(c.entrypoint.unwrap(), vec!["/bin/sh", "-c", "/bin/run"]);
        assert_eq!(
            c.env.unwrap(),
            vec!["A=1", "B=two words", "LEGACY=some value"]
        );
        let ports = c.exposed_ports.unwrap();
        assert!(ports.contains_key("80/tcp") && ports.contains_key("53/udp"));
        assert_eq!(c.labels.unwrap()["maintainer"], "me");
        assert_eq!(c.working_dir.unwrap(), "/app");
        assert!(c.volumes.unwrap().contains_key("/data"));
    }

    #[test]
    fn rejects_unknown_and_bad() {
        let mut c = RunConfig::default();
        let e = apply(&mut c, &["RUN echo".into()]).unwrap_err();
        assert_eq!(e.to_string(), "RUN is not a valid change command");
        assert!(apply(&mut c, &["EXPOSE abc".into()]).is_err());
        assert!(apply(&mut c, &["ENV".into()]).is_err());
    }
}
