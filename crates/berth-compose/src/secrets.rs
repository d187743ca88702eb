//! Secrets and configs without a swarm, as docker compose v2 gives them to containers
//! of a plain engine.
//!
//! - Top-level `secrets:`/`configs:` entries come from a `file:` (relative to the
//!   project directory), an `environment:` variable, or (configs) inline `content:`.
//!   `external: true` names a swarm object: berth has no swarm, so a service that uses
//!   one is refused, saying so.
//! - A service's `secrets:`/`configs:` (a name, or `{source, target, uid, gid, mode}`)
//!   lands at `/run/secrets/<name>` (secrets) or `/<name>` (configs), or at `target`
//!   (a relative target goes under that directory).
//! - A `file:` source is bind-mounted read-only (compose ignores `uid`/`gid`/`mode`
//!   there, with a warning); an `environment:`/`content:` source is written into the
//!   container before it starts, with `mode` (default `0444`), `uid` and `gid`.

use crate::error::{ComposeError, Result, Where};
use crate::interp::Vars;
use crate::load::{clean, key_string, scalar, yaml_type};
use crate::model::{FileObjectDef, FileRef, Project};
use serde_yaml_ng::Value;
use std::path::Path;

/// Parses one top-level `secrets:` (`kind` = "secret") or `configs:` ("config") entry.
pub(crate) fn object_def(
    kind: &'static str,
    name: &str,
    v: Value,
    at: Where,
    project_dir: &Path,
    vars: &Vars,
) -> Result<FileObjectDef> {
    let err = |msg: String| ComposeError::Resource {
        at: at.clone(),
        kind,
        name: name.to_string(),
        msg,
    };
    let Value::Mapping(m) = v else {
        return Err(err(format!("must be a mapping, not {}", yaml_type(&v))));
    };
    let mut d = FileObjectDef::default();
    for (k, x) in &m {
        let key = key_string(k);
        let text = || scalar(x).ok_or_else(|| err(format!("{key} must be a string")));
        match key.as_str() {
            "file" => {
                let f = text()?;
                let p = match f.strip_prefix("~/") {
                    Some(rest) => {
                        Path::new(vars.get("HOME").map(String::as_str).unwrap_or("/root"))
                            .join(rest)
                    }
                    None => project_dir.join(&f),
                };
                d.file = Some(clean(&p));
            }
            "environment" => {
                let e = text()?;
                d.env_value = vars.get(&e).cloned();
                d.environment = Some(e);
            }
            "content" if kind == "config" => d.content = Some(text()?),
            "name" => d.name = Some(text()?),
            "external" => match x {
                Value::Bool(b) => d.external = *b,
                Value::Mapping(e) => {
                    d.external = true;
                    if let Some(n) = e.get("name").and_then(scalar) {
                        d.name = Some(n);
                    }
                }
                o => {
                    return Err(err(format!(
                        "external must be a boolean, not {}",
                        yaml_type(o)
                    )))
                }
            },
            "labels" | "driver" | "driver_opts" | "template_driver" => {
                tracing::warn!("{kind} {name:?}: {key:?} is ignored (it is for swarm {kind}s)")
            }
            o => return Err(err(format!("unsupported option {o:?}"))),
        }
    }
    let sources = [
        d.file.is_some(),
        d.environment.is_some(),
        d.content.is_some(),
        d.external,
    ]
    .iter()
    .filter(|b| **b)
    .count();
    let choices = if kind == "config" {
        "file, environment or content"
    } else {
        "file or environment"
    };
    match sources {
        0 => Err(err(format!("needs a source: one of {choices}"))),
        1 => Ok(d),
        _ => Err(err(format!(
            "has more than one source: use only one of {choices} (or external)"
        ))),
    }
}

/// The directory a `kind`'s relative targets go under.
fn base_dir(kind: &str) -> &'static str {
    if kind == "secret" {
        "/run/secrets/"
    } else {
        "/"
    }
}

/// `mode`: an integer as written, or a string read as octal (`"0440"`, `"0o440"`).
fn mode(v: &Value) -> std::result::Result<u32, String> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("invalid mode {n}")),
        Value::String(s) => {
            let t = s.trim();
            let t = t.strip_prefix("0o").unwrap_or(t);
            u32::from_str_radix(t, 8)
                .map_err(|_| format!("invalid mode {s:?}: use octal, like \"0440\""))
        }
        o => Err(format!("mode must be a number, not {}", yaml_type(o))),
    }
}

/// A service's `secrets:`/`configs:` list.
pub(crate) fn service_refs(
    v: &Value,
    kind: &str,
    project: &Project,
) -> std::result::Result<Vec<FileRef>, String> {
    let defs = if kind == "secret" {
        &project.secrets
    } else {
        &project.configs
    };
    let Value::Sequence(seq) = v else {
        return Err(format!("must be a list, not {}", yaml_type(v)));
    };
    let mut out = Vec::new();
    for x in seq {
        let mut r = FileRef::default();
        let mut target = None;
        match x {
            Value::Mapping(m) => {
                for (k, val) in m {
                    let key = key_string(k);
                    let text =
                        || scalar(val).ok_or_else(|| format!("{kind} {key} must be a string"));
                    match key.as_str() {
                        "source" => r.source = text()?,
                        "target" => target = Some(text()?),
                        "uid" => r.uid = Some(text()?),
                        "gid" => r.gid = Some(text()?),
                        "mode" => r.mode = Some(mode(val)?),
                        o => return Err(format!("unsupported {kind} option {o:?}")),
                    }
                }
                if r.source.is_empty() {
                    return Err(format!("a long-syntax {kind} needs a source"));
                }
            }
            o => {
                r.source = scalar(o).ok_or_else(|| {
                    format!("entries must be names or mappings, not {}", yaml_type(o))
                })?
            }
        }
        let Some(def) = defs.get(&r.source) else {
            return Err(format!(
                "refers to undefined {kind} {:?} (declare it in the top-level {kind}s: section)",
                r.source
            ));
        };
        if def.external {
            return Err(format!(
                "{kind} {:?} is external: external {kind}s are swarm objects and berth has no swarm; give it a file: or environment: source instead",
                r.source
            ));
        }
        r.target = match target {
            None => format!("{}{}", base_dir(kind), r.source),
            Some(t) if t.starts_with('/') => t,
            Some(t) => format!("{}{t}", base_dir(kind)),
        };
        out.push(r);
    }
    Ok(out)
}

/// What a service's secret or config becomes in its container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A read-only bind mount, as `HostConfig.Binds` has it.
    Bind(String),
    /// A tar to extract at `/` before the container starts.
    Copy(Vec<u8>),
}

/// How each of the service's secrets and configs gets into its container.
pub fn deliveries(p: &Project, svc: &crate::model::Service) -> Result<Vec<Delivery>> {
    let mut out = Vec::new();
    for (kind, refs, defs) in [
        ("secret", &svc.secrets, &p.secrets),
        ("config", &svc.configs, &p.configs),
    ] {
        for r in refs {
            let err = |msg: String| ComposeError::Field {
                at: Where {
                    file: svc.defined_in.clone(),
                    line: None,
                },
                service: svc.name.clone(),
                field: format!("{kind}s"),
                msg,
            };
            let def = defs
                .get(&r.source)
                .ok_or_else(|| err(format!("refers to undefined {kind} {:?}", r.source)))?;
            if let Some(f) = &def.file {
                if !f.exists() {
                    return Err(err(format!(
                        "{kind} {:?}: file {} does not exist",
                        r.source,
                        f.display()
                    )));
                }
                if r.uid.is_some() || r.gid.is_some() || r.mode.is_some() {
                    tracing::warn!(
                        service = svc.name,
                        "{kind} {:?}: uid, gid and mode are not supported for a file source (it is bind-mounted); ignored",
                        r.source
                    );
                }
                out.push(Delivery::Bind(format!("{}:{}:ro", f.display(), r.target)));
                continue;
            }
            let content = match (&def.content, &def.environment) {
                (Some(c), _) => c.clone(),
                (None, Some(var)) => def.env_value.clone().ok_or_else(|| {
                    err(format!(
                        "{kind} {:?}: environment variable {var:?} is not set",
                        r.source
                    ))
                })?,
                _ => continue,
            };
            let id = |v: &Option<String>, what: &str| -> Result<u64> {
                match v {
                    None => Ok(0),
                    Some(s) => s.parse().map_err(|_| {
                        err(format!(
                            "{kind} {:?}: {what} {s:?} must be a number",
                            r.source
                        ))
                    }),
                }
            };
            let tar = single_file_tar(
                &r.target,
                content.as_bytes(),
                r.mode.unwrap_or(0o444),
                id(&r.uid, "uid")?,
                id(&r.gid, "gid")?,
            )
            .map_err(err)?;
            out.push(Delivery::Copy(tar));
        }
    }
    Ok(out)
}

/// A ustar archive holding one regular file at `path` (relative to `/`).
pub fn single_file_tar(
    path: &str,
    content: &[u8],
    mode: u32,
    uid: u64,
    gid: u64,
) -> std::result::Result<Vec<u8>, String> {
    let path = path.trim_start_matches('/');
    let (prefix, name) = if path.len() <= 100 {
        ("", path)
    } else {
        let cut = path[..path.len().min(156)]
            .rfind('/')
            .filter(|i| path.len() - i - 1 <= 100)
            .ok_or_else(|| format!("target path {path:?} is too long"))?;
        (&path[..cut], &path[cut + 1..])
    };
    let mut h = [0u8; 512];
    let put = |h: &mut [u8; 512], at: usize, bytes: &[u8]| {
        h[at..at + bytes.len()].copy_from_slice(bytes);
    };
    put(&mut h, 0, name.as_bytes());
    put(&mut h, 100, format!("{:07o}\0", mode & 0o7777).as_bytes());
    put(&mut h, 108, format!("{:07o}\0", uid & 0o7777777).as_bytes());
    put(&mut h, 116, format!("{:07o}\0", gid & 0o7777777).as_bytes());
    put(&mut h, 124, format!("{:011o}\0", content.len()).as_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    put(&mut h, 136, format!("{now:011o}\0").as_bytes());
    put(&mut h, 148, b"        ");
    h[156] = b'0';
    put(&mut h, 257, b"ustar\0");
    put(&mut h, 263, b"00");
    put(&mut h, 345, prefix.as_bytes());
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.resize(out.len() + 1024, 0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::load_str;
    use std::collections::HashMap;

    fn load(t: &str) -> crate::Result<Project> {
        let env: HashMap<String, String> = [("TOKEN".to_string(), "s3cret".to_string())]
            .into_iter()
            .collect();
        load_str(Path::new("/p/app/compose.yml"), t, env, None)
    }

    #[test]
    fn short_and_long_syntax() {
        let p = load(
            "services:\n  web:\n    image: x\n    secrets:\n      - db_pass\n      - source: token\n        target: tok\n        uid: '100'\n        mode: 0440\n      - {source: token, target: /etc/tok, mode: 256}\n    configs:\n      - app\n      - {source: inline, target: etc/inline.conf}\nsecrets:\n  db_pass:\n    file: ./db.txt\n  token:\n    environment: TOKEN\nconfigs:\n  app:\n    file: /abs/app.conf\n  inline:\n    content: hello\n",
        )
        .unwrap();
        let w = &p.services["web"];
        let t: Vec<&str> = w.secrets.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(t, ["/run/secrets/db_pass", "/run/secrets/tok", "/etc/tok"]);
        assert_eq!(w.secrets[1].mode, Some(0o440));
        assert_eq!(w.secrets[1].uid.as_deref(), Some("100"));
        assert_eq!(w.secrets[2].mode, Some(256));
        let t: Vec<&str> = w.configs.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(t, ["/app", "/etc/inline.conf"]);
        assert_eq!(
            p.secrets["db_pass"].file.as_deref(),
            Some(Path::new("/p/app/db.txt"))
        );
        assert_eq!(p.secrets["token"].env_value.as_deref(), Some("s3cret"));
        assert_eq!(p.configs["inline"].content.as_deref(), Some("hello"));
        // The environment and inline sources are copied in; a missing file is an error
        // naming the service and the key.
        let e = deliveries(&p, w).unwrap_err().to_string();
        assert!(
            e.contains("service \"web\", field \"secrets\"") && e.contains("/p/app/db.txt"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_file_service_and_key() {
        let e = load("services:\n  web:\n    image: x\n    secrets: [nope]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/p/app/compose.yml:4: service \"web\", field \"secrets\"")
                && e.contains("undefined secret \"nope\""),
            "{e}"
        );
        let e = load("services:\n  web:\n    image: x\n    secrets: [ext]\nsecrets:\n  ext:\n    external: true\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("field \"secrets\"") && e.contains("no swarm"),
            "{e}"
        );
        // Declared but unused external secrets are fine (as compose).
        load("services:\n  web:\n    image: x\nsecrets:\n  ext:\n    external: true\n").unwrap();
        let e = load("services:\n  web:\n    image: x\nsecrets:\n  s: {}\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("secret \"s\"") && e.contains("needs a source"),
            "{e}"
        );
        let e = load("services:\n  web:\n    image: x\nconfigs:\n  c: {file: a, content: b}\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("config \"c\"") && e.contains("more than one"),
            "{e}"
        );
        let e = load("services:\n  web:\n    image: x\n    configs: [{target: /x}]\nconfigs:\n  c: {content: b}\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("field \"configs\"") && e.contains("needs a source"),
            "{e}"
        );
    }

    #[test]
    fn tar_of_one_file() {
        let t = single_file_tar("/run/secrets/token", b"abc", 0o440, 100, 101).unwrap();
        assert_eq!(t.len(), 512 * 4);
        assert_eq!(&t[..18], b"run/secrets/token\0");
        assert_eq!(&t[100..108], b"0000440\0");
        assert_eq!(&t[108..116], b"0000144\0");
        assert_eq!(&t[124..136], b"00000000003\0");
        assert_eq!(&t[257..263], b"ustar\0");
        assert_eq!(&t[512..515], b"abc");
        // The checksum covers the header with its own field as spaces.
        let mut h = t[..512].to_vec();
        let stored = u32::from_str_radix(std::str::from_utf8(&h[148..154]).unwrap(), 8).unwrap();
        h[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, h.iter().map(|b| u32::from(*b)).sum::<u32>());
        let long = format!("/{}/file", "d".repeat(120));
        let t = single_file_tar(&long, b"", 0o444, 0, 0).unwrap();
        assert_eq!(&t[345..465], "d".repeat(120).as_bytes());
        assert_eq!(&t[..5], b"file\0");
    }
}
