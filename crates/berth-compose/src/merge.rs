//! Merging service definitions as compose v2 does (compose-go's `override` package),
//! for later `-f` files and for `extends`.
//!
//! - Mappings merge key by key, recursively; sequences are appended; scalars are
//!   replaced; a `null` override keeps the base.
//! - `environment`, `labels`, `sysctls`, `build.args`, `dns`, `tmpfs`, `env_file`, …
//!   are turned into `KEY=VALUE` sequences first, so a mapping and a list merge.
//! - `command`, `entrypoint` and `healthcheck.test` are replaced whole.
//! - `depends_on` and `networks` are turned into mappings first.
//! - Then [`enforce_unicity`] drops redefinitions in sequences: the later entry takes
//!   the earlier one's place (`environment`/`labels` by key, `volumes` by target,
//!   `ports` by spec, `secrets`/`configs` by target, `expose`, `env_file` by path…).

use serde_yaml_ng::{Mapping, Value};

/// Merges `over` into `base` (two raw service mappings).
pub fn merge_service(base: Mapping, over: Mapping) -> Result<Mapping, String> {
    merge_mappings(base, over, "")
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn key_text(k: &Value) -> String {
    scalar(k).unwrap_or_default()
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn merge_mappings(mut base: Mapping, over: Mapping, path: &str) -> Result<Mapping, String> {
    for (k, v) in over {
        let next = join(path, &key_text(&k));
        match base.remove(&k) {
            None => {
                base.insert(k, v);
            }
            Some(b) => {
                let merged = merge_value(b, v, &next)?;
                base.insert(k, merged);
            }
        }
    }
    Ok(base)
}

/// The field-specific rules, by path inside the service.
fn merge_value(base: Value, over: Value, path: &str) -> Result<Value, String> {
    let last = path.rsplit('.').next().unwrap_or(path);
    match path {
        "annotations"
        | "build.args"
        | "build.additional_contexts"
        | "build.labels"
        | "deploy.labels"
        | "dns"
        | "dns_opt"
        | "dns_search"
        | "env_file"
        | "label_file"
        | "environment"
        | "labels"
        | "sysctls"
        | "tmpfs" => {
            let mut b = to_sequence(&base);
            b.extend(to_sequence(&over));
            return Ok(Value::Sequence(b));
        }
        "build" => return merge_build(base, over, path),
        "extra_hosts" | "build.extra_hosts" => {
            let mut b = to_sequence(&base);
            for x in to_sequence(&over) {
                if !b.contains(&x) {
                    b.push(x);
                }
            }
            return Ok(Value::Sequence(b));
        }
        "command" | "entrypoint" | "healthcheck.test" => return Ok(over),
        "depends_on" => {
            let mut default = Mapping::new();
            default.insert("condition".into(), "service_started".into());
            default.insert("required".into(), true.into());
            let b = to_mapping(base, Some(&default));
            let o = to_mapping(over, Some(&default));
            return Ok(Value::Mapping(merge_mappings(b, o, path)?));
        }
        "networks" | "models" => {
            let b = to_mapping(base, None);
            let o = to_mapping(over, None);
            return Ok(Value::Mapping(merge_mappings(b, o, path)?));
        }
        "logging" => {
            if let (Value::Mapping(b), Value::Mapping(o)) = (&base, &over) {
                let (bd, od) = (b.get("driver"), o.get("driver"));
                if bd.is_none() || od.is_none() || bd == od {
                    return Ok(Value::Mapping(merge_mappings(b.clone(), o.clone(), path)?));
                }
            }
            return Ok(over);
        }
        _ if path.starts_with("ulimits.") && !last.is_empty() => return Ok(over),
        _ => {}
    }
    if over.is_null() {
        return Ok(base);
    }
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => Ok(Value::Mapping(merge_mappings(b, o, path)?)),
        (Value::Mapping(_), o) => Err(format!(
            "cannot override {path}: a mapping cannot be replaced by {}",
            kind(&o)
        )),
        (Value::Sequence(mut b), Value::Sequence(o)) => {
            b.extend(o);
            Ok(Value::Sequence(b))
        }
        (Value::Sequence(_), o) => Err(format!(
            "cannot override {path}: a list cannot be replaced by {}",
            kind(&o)
        )),
        (_, o) => Ok(o),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// `build:` as a string is `{context: …}`; two strings just replace (the v1 form).
fn merge_build(base: Value, over: Value, path: &str) -> Result<Value, String> {
    let as_map = |v: Value| -> Option<Mapping> {
        match v {
            Value::Mapping(m) => Some(m),
            s @ (Value::String(_) | Value::Number(_)) => {
                let mut m = Mapping::new();
                m.insert("context".into(), s);
                Some(m)
            }
            _ => None,
        }
    };
    match (&base, &over) {
        (_, Value::Null) => Ok(base),
        (Value::Mapping(_), _) | (_, Value::Mapping(_)) => match (as_map(base), as_map(over)) {
            (Some(b), Some(o)) => Ok(Value::Mapping(merge_mappings(b, o, path)?)),
            (_, o) => Ok(o.map(Value::Mapping).unwrap_or(Value::Null)),
        },
        _ => Ok(over),
    }
}

/// A mapping as `KEY=VALUE` entries (sorted; a null value gives `KEY`); a list as is;
/// a string as a one-entry list.
fn to_sequence(v: &Value) -> Vec<Value> {
    match v {
        Value::Mapping(m) => {
            let mut out: Vec<String> = Vec::new();
            for (k, x) in m {
                let k = key_text(k);
                match x {
                    Value::Null => out.push(k),
                    Value::Sequence(items) => {
                        for i in items {
                            out.push(format!("{k}={}", scalar(i).unwrap_or_default()));
                        }
                    }
                    o => out.push(format!("{k}={}", scalar(o).unwrap_or_default())),
                }
            }
            out.sort();
            out.into_iter().map(Value::String).collect()
        }
        Value::Sequence(s) => s.clone(),
        Value::String(_) | Value::Number(_) | Value::Bool(_) => vec![v.clone()],
        _ => Vec::new(),
    }
}

/// A list of names as a mapping (each name to `default`, or null).
fn to_mapping(v: Value, default: Option<&Mapping>) -> Mapping {
    match v {
        Value::Mapping(m) => m,
        Value::Sequence(s) => s
            .iter()
            .map(|x| {
                let val = default
                    .map(|d| Value::Mapping(d.clone()))
                    .unwrap_or(Value::Null);
                (Value::String(scalar(x).unwrap_or_default()), val)
            })
            .collect(),
        _ => Mapping::new(),
    }
}

/// What identifies an entry of a service sequence, for [`enforce_unicity`].
#[derive(Clone, Copy)]
enum Index {
    /// `KEY=VALUE` by KEY (or the whole string).
    KeyValue,
    /// A volume or device by its target.
    Target,
    /// A secret/config by its target, the default directory given.
    Mount(&'static str),
    EnvFile,
    /// The entry's text.
    Whole,
    Port,
}

fn index_of(path: &str) -> Option<Index> {
    Some(match path {
        "annotations"
        | "build.args"
        | "build.additional_contexts"
        | "build.tags"
        | "build.labels"
        | "cap_add"
        | "cap_drop"
        | "deploy.labels"
        | "dns"
        | "dns_opt"
        | "dns_search"
        | "environment"
        | "labels"
        | "links"
        | "profiles"
        | "sysctls"
        | "tmpfs" => Index::KeyValue,
        "volumes" | "devices" => Index::Target,
        "configs" => Index::Mount(""),
        "secrets" => Index::Mount("/run/secrets"),
        "env_file" => Index::EnvFile,
        "expose" => Index::Whole,
        "ports" => Index::Port,
        p if p.starts_with("networks.") && p.ends_with(".aliases") => Index::KeyValue,
        _ => return None,
    })
}

fn entry_key(ix: Index, v: &Value) -> Option<String> {
    let get = |m: &Mapping, k: &str| m.get(k).and_then(scalar);
    match (ix, v) {
        (Index::KeyValue, v) => {
            let s = scalar(v)?;
            Some(s.split_once('=').map(|(k, _)| k.to_string()).unwrap_or(s))
        }
        (Index::Target, Value::Mapping(m)) => get(m, "target"),
        (Index::Target, v) => {
            let s = scalar(v)?;
            let parts: Vec<&str> = s.split(':').collect();
            Some(
                match parts.as_slice() {
                    [t] => *t,
                    [_, b] if b.starts_with('/') => *b,
                    [t, _] => *t,
                    [_, t, ..] => *t,
                    [] => "",
                }
                .to_string(),
            )
        }
        (Index::Mount(dir), Value::Mapping(m)) => {
            get(m, "target").or_else(|| get(m, "source").map(|s| format!("{dir}/{s}")))
        }
        (Index::Mount(dir), v) => scalar(v).map(|s| format!("{dir}/{s}")),
        (Index::EnvFile, Value::Mapping(m)) => get(m, "path"),
        (Index::Port, Value::Mapping(m)) => Some(format!(
            "{}:{}:{}/{}",
            get(m, "host_ip").unwrap_or_else(|| "0.0.0.0".into()),
            get(m, "published").unwrap_or_default(),
            get(m, "target").unwrap_or_default(),
            get(m, "protocol").unwrap_or_else(|| "tcp".into()),
        )),
        (_, v) => scalar(v),
    }
}

/// Drops redefinitions in a service's sequences: an entry whose key was seen takes the
/// earlier entry's place.
pub fn enforce_unicity(service: &mut Mapping) {
    unicity_in(service, "");
}

fn unicity_in(m: &mut Mapping, path: &str) {
    for (k, v) in m.iter_mut() {
        let p = join(path, &key_text(k));
        match v {
            Value::Mapping(inner)
                if matches!(p.as_str(), "build" | "deploy" | "networks") || path == "networks" =>
            {
                unicity_in(inner, &p);
            }
            Value::Sequence(seq) => {
                let Some(ix) = index_of(&p) else { continue };
                let mut out: Vec<Value> = Vec::with_capacity(seq.len());
                let mut keys: Vec<(String, usize)> = Vec::new();
                for entry in seq.drain(..) {
                    match entry_key(ix, &entry) {
                        Some(key) => match keys.iter().find(|(k, _)| *k == key) {
                            Some((_, at)) => out[*at] = entry,
                            None => {
                                keys.push((key, out.len()));
                                out.push(entry);
                            }
                        },
                        None => out.push(entry),
                    }
                }
                *seq = out;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(t: &str) -> Mapping {
        serde_yaml_ng::from_str(t).unwrap()
    }

    fn merged(a: &str, b: &str) -> Mapping {
        let mut r = merge_service(m(a), m(b)).unwrap();
        enforce_unicity(&mut r);
        r
    }

    #[test]
    fn mappings_merge_and_lists_append() {
        let r = merged(
            "image: a\nenvironment: {A: '1', B: '2'}\nlabels: [x=1]\nports: ['80:80']\nexpose: ['1']\nhealthcheck: {test: [CMD, a], interval: 5s}\n",
            "image: b\nenvironment: [B=3, C]\nlabels: {y: '2'}\nports: ['81:81', '80:80']\nexpose: ['1', '2']\nhealthcheck: {test: [CMD, b]}\n",
        );
        assert_eq!(r, m("image: b\nenvironment: [A=1, B=3, C]\nlabels: [x=1, y=2]\nports: ['80:80', '81:81']\nexpose: ['1', '2']\nhealthcheck: {test: [CMD, b], interval: 5s}\n"));
    }

    #[test]
    fn command_and_entrypoint_are_replaced() {
        let r = merged(
            "command: [a, b]\nentrypoint: sh\n",
            "command: [c]\nentrypoint: [bash, -c]\n",
        );
        assert_eq!(r, m("command: [c]\nentrypoint: [bash, -c]\n"));
    }

    #[test]
    fn volumes_by_target_and_secrets_by_mount_point() {
        let r = merged(
            "volumes: ['./a:/data', 'v:/keep:ro', {type: bind, source: ./x, target: /x}]\nsecrets: [s1, {source: s2, target: /etc/s2}]\n",
            "volumes: ['./b:/data:ro', {type: bind, source: ./y, target: /x}]\nsecrets: [{source: s1, mode: 0400}, s3]\n",
        );
        assert_eq!(
            r,
            m("volumes: ['./b:/data:ro', 'v:/keep:ro', {type: bind, source: ./y, target: /x}]\nsecrets: [{source: s1, mode: 0400}, {source: s2, target: /etc/s2}, s3]\n")
        );
    }

    #[test]
    fn depends_on_networks_and_build() {
        let r = merged(
            "depends_on: [db]\nnetworks: [front]\nbuild: ./app\n",
            "depends_on: {cache: {condition: service_healthy}}\nnetworks: {back: {aliases: [b]}}\nbuild: {dockerfile: Dev}\n",
        );
        assert_eq!(
            r,
            m("depends_on: {db: {condition: service_started, required: true}, cache: {condition: service_healthy}}\nnetworks: {front: null, back: {aliases: [b]}}\nbuild: {context: ./app, dockerfile: Dev}\n")
        );
        // Two strings (the v1 form) just replace.
        assert_eq!(merged("build: ./a\n", "build: ./b\n"), m("build: ./b\n"));
        // A null override keeps the base; a type clash is an error.
        assert_eq!(merged("image: a\n", "image: null\n"), m("image: a\n"));
        let e = merge_service(m("healthcheck: {test: x}\n"), m("healthcheck: [x]\n")).unwrap_err();
        assert!(e.contains("cannot override healthcheck"), "{e}");
    }

    #[test]
    fn unicity_within_one_definition() {
        let mut s = m(
            "environment: [A=1, B=2, A=3]\nports: ['80', '80']\ncap_add: [NET_ADMIN, NET_ADMIN]\n",
        );
        enforce_unicity(&mut s);
        assert_eq!(
            s,
            m("environment: [A=3, B=2]\nports: ['80']\ncap_add: [NET_ADMIN]\n")
        );
    }
}
