//! Loading compose files into the [`Project`] model.
//!
//! Format detection follows docker-compose 1.29 (`ConfigFile.version`): a file with no
//! `version` key and none of `services`/`networks`/`volumes` at the top is the v1
//! format, whose whole top-level mapping is the services map; `version: "2.x"`/`"3.x"`
//! and the versionless compose spec have a `services:` map. Strings are interpolated
//! from the process environment over the project directory's `.env` before anything is
//! converted; keys the format does not know are refused, naming them; every error names
//! the file and, where it can, the service, the field and the line.

use crate::error::{ComposeError, Result, Where};
use crate::extends::{self, Origin};
use crate::interp::{self, Vars};
use crate::merge;
use crate::model::*;
use serde_yaml_ng::{Mapping, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// File names looked for when no `-f` is given, in compose v2's order.
pub const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// What to load and how to name it.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f` files, in order (later ones override earlier ones); empty = look in `cwd`.
    pub files: Vec<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--project-directory` (default: the first file's directory).
    pub project_dir: Option<PathBuf>,
    /// The environment (`None` = the process environment).
    pub env: Option<HashMap<String, String>>,
    /// Where relative `-f` paths and the default file search start (default: current dir).
    pub cwd: Option<PathBuf>,
    /// `--profile` (repeatable); empty = `COMPOSE_PROFILES` (comma-separated).
    pub profiles: Vec<String>,
}

/// v1 service keys (docker-compose 1.29 `config_schema_v1.json`).
const V1_KEYS: &[&str] = &[
    "build",
    "dockerfile",
    "image",
    "command",
    "entrypoint",
    "container_name",
    "environment",
    "env_file",
    "ports",
    "expose",
    "volumes",
    "volumes_from",
    "volume_driver",
    "links",
    "external_links",
    "extends",
    "net",
    "pid",
    "ipc",
    "dns",
    "dns_search",
    "extra_hosts",
    "hostname",
    "domainname",
    "labels",
    "log_driver",
    "log_opt",
    "restart",
    "privileged",
    "read_only",
    "user",
    "working_dir",
    "stdin_open",
    "tty",
    "cap_add",
    "cap_drop",
    "devices",
    "security_opt",
    "ulimits",
    "mem_limit",
    "memswap_limit",
    "mem_swappiness",
    "shm_size",
    "cpu_shares",
    "cpu_quota",
    "cpuset",
    "cgroup_parent",
    "mac_address",
    "stop_signal",
];

/// Keys of v2/v3/spec files beyond the v1 set (minus the v1-only ones).
const SPEC_EXTRA_KEYS: &[&str] = &[
    "depends_on",
    "networks",
    "network_mode",
    "healthcheck",
    "stop_grace_period",
    "tmpfs",
    "init",
    "logging",
    "deploy",
    "sysctls",
    "pids_limit",
    "platform",
    "pull_policy",
    "profiles",
    "secrets",
    "configs",
    "isolation",
    "userns_mode",
    "oom_score_adj",
    "group_add",
    "cpus",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpuset",
    "mem_reservation",
    "scale",
    "runtime",
    "annotations",
    "storage_opt",
    "attach",
    "cgroup",
    "uts",
    "oom_kill_disable",
    "blkio_config",
    "device_cgroup_rules",
    "credential_spec",
    "labels",
];
const V1_ONLY: &[&str] = &["net", "dockerfile", "log_driver", "log_opt"];

/// Accepted but not acted upon (a warning says so).
const IGNORED: &[&str] = &[
    "volume_driver",
    "log_driver",
    "log_opt",
    "logging",
    "mem_swappiness",
    "cgroup_parent",
    "mac_address",
    "platform",
    "pull_policy",
    "isolation",
    "userns_mode",
    "oom_score_adj",
    "cpu_count",
    "cpu_percent",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "runtime",
    "annotations",
    "storage_opt",
    "attach",
    "cgroup",
    "oom_kill_disable",
    "blkio_config",
    "device_cgroup_rules",
    "credential_spec",
    "external_links_unused",
];

/// One parsed file.
pub(crate) struct Source {
    pub path: PathBuf,
    pub text: String,
    pub format: Format,
    pub name: Option<String>,
    pub services: Vec<(String, Mapping)>,
    pub networks: Option<Mapping>,
    pub volumes: Option<Mapping>,
    pub secrets: Option<Mapping>,
    pub configs: Option<Mapping>,
    /// Per service, the fields it inherited through `extends` and where they were written.
    pub origins: HashMap<String, HashMap<String, Origin>>,
}

/// Loads the project described by `opts`.
pub fn load(opts: &LoadOptions) -> Result<Project> {
    let cwd = match &opts.cwd {
        Some(c) => c.clone(),
        None => std::env::current_dir().map_err(|e| ComposeError::Io {
            path: ".".into(),
            err: e,
        })?,
    };
    let env = opts
        .env
        .clone()
        .unwrap_or_else(|| std::env::vars().collect());
    // COMPOSE_FILE (separated by COMPOSE_PATH_SEPARATOR, default ':') when no -f.
    let from_env: Vec<PathBuf> = match env.get("COMPOSE_FILE") {
        Some(f) if opts.files.is_empty() && !f.is_empty() => {
            let sep = env
                .get("COMPOSE_PATH_SEPARATOR")
                .cloned()
                .unwrap_or_else(|| ":".into());
            f.split(sep.as_str())
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .collect()
        }
        _ => opts.files.clone(),
    };
    let files = find_files(&from_env, &cwd)?;
    let project_dir = match &opts.project_dir {
        Some(d) => absolute(&cwd, d),
        None => files[0]
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| cwd.clone()),
    };
    let mut vars: Vars = HashMap::new();
    let dotenv = project_dir.join(".env");
    if dotenv.is_file() {
        let text = read(&dotenv)?;
        let parsed = interp::parse_env_file(&text).map_err(|msg| ComposeError::File {
            at: Where {
                file: dotenv.clone(),
                line: None,
            },
            msg,
        })?;
        for (k, v) in parsed {
            if let Some(v) = v {
                vars.insert(k, v);
            }
        }
    }
    vars.extend(env);

    let mut sources = Vec::new();
    for f in &files {
        let text = read(f)?;
        let mut src = parse_source(f, text, &vars)?;
        extends::resolve_file(&mut src, &project_dir, &vars)?;
        sources.push(src);
    }
    build_project(
        sources,
        &vars,
        &project_dir,
        opts.project_name.as_deref(),
        &opts.profiles,
    )
}

/// Loads one file's text (for tests and `config` of stdin-like input).
pub fn load_str(
    path: &Path,
    text: &str,
    env: HashMap<String, String>,
    project_name: Option<&str>,
) -> Result<Project> {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut src = parse_source(path, text.to_string(), &env)?;
    extends::resolve_file(&mut src, &dir, &env)?;
    build_project(vec![src], &env, &dir, project_name, &[])
}

fn absolute(cwd: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    }
}

fn read(p: &Path) -> Result<String> {
    std::fs::read_to_string(p).map_err(|e| ComposeError::Io {
        path: p.to_path_buf(),
        err: e,
    })
}

fn find_files(given: &[PathBuf], cwd: &Path) -> Result<Vec<PathBuf>> {
    if !given.is_empty() {
        return Ok(given.iter().map(|f| absolute(cwd, f)).collect());
    }
    for name in DEFAULT_FILES {
        let p = cwd.join(name);
        if p.is_file() {
            let mut out = vec![p];
            let stem = name.rsplit_once('.').map(|(s, _)| s).unwrap_or(name);
            for ext in ["yml", "yaml"] {
                let o = cwd.join(format!("{stem}.override.{ext}"));
                if o.is_file() {
                    out.push(o);
                    break;
                }
            }
            return Ok(out);
        }
    }
    Err(ComposeError::NoFile {
        dir: cwd.to_path_buf(),
        looked: DEFAULT_FILES.join(", "),
    })
}

pub(crate) fn yaml_type(v: &Value) -> &'static str {
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

/// Parses, detects the format, interpolates and splits one file.
pub(crate) fn parse_source(path: &Path, text: String, vars: &Vars) -> Result<Source> {
    let at = |line| Where {
        file: path.to_path_buf(),
        line,
    };
    let mut doc: Value = serde_yaml_ng::from_str(&text).map_err(|e| ComposeError::Yaml {
        at: at(e.location().map(|l| l.line())),
        msg: e.to_string(),
    })?;
    doc.apply_merge().map_err(|e| ComposeError::Yaml {
        at: at(None),
        msg: e.to_string(),
    })?;
    let Value::Mapping(top) = doc else {
        return Err(ComposeError::File {
            at: at(None),
            msg: format!(
                "top level object needs to be a mapping, not {}",
                yaml_type(&doc)
            ),
        });
    };
    let format = detect_format(&top).map_err(|msg| ComposeError::File {
        at: at(find_top_line(&text, "version")),
        msg,
    })?;
    // Interpolate every string value.
    let mut unset = Vec::<String>::new();
    let mut top = Value::Mapping(top);
    interpolate_value(&mut top, "", vars, &mut unset).map_err(|(p, msg)| {
        ComposeError::Interpolation {
            at: at(None),
            path: p,
            msg,
        }
    })?;
    unset.sort();
    unset.dedup();
    for v in unset {
        tracing::warn!(file = %path.display(), "The {v:?} variable is not set. Defaulting to a blank string.");
    }
    let Value::Mapping(top) = top else {
        unreachable!("interpolation keeps the shape")
    };
    let mut src = Source {
        path: path.to_path_buf(),
        text,
        format: format.clone(),
        name: None,
        services: Vec::new(),
        networks: None,
        volumes: None,
        secrets: None,
        configs: None,
        origins: HashMap::new(),
    };
    if format == Format::V1 {
        for (k, v) in top {
            let name = key_string(&k);
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                return Err(ComposeError::File {
                    at: at(find_top_line(&src.text, &name)),
                    msg: format!("invalid service name {name:?}: only [a-zA-Z0-9._-] are allowed"),
                });
            }
            match v {
                Value::Mapping(m) => src.services.push((name, m)),
                other => {
                    return Err(ComposeError::Field {
                        at: at(find_top_line(&src.text, &name)),
                        service: name,
                        field: "(service)".into(),
                        msg: format!(
                            "service must be a mapping, not {} (is this a v1 file? v1 has no `services:` key: the top level is the services map)",
                            yaml_type(&other)
                        ),
                    })
                }
            }
        }
        return Ok(src);
    }
    for (k, v) in top {
        let key = key_string(&k);
        let line = find_top_line(&src.text, &key);
        match key.as_str() {
            "version" => {}
            "name" => match v {
                Value::String(s) => src.name = Some(s),
                other => {
                    return Err(ComposeError::File {
                        at: at(line),
                        msg: format!("name must be a string, not {}", yaml_type(&other)),
                    })
                }
            },
            "services" => match v {
                Value::Mapping(m) => {
                    for (sk, sv) in m {
                        let name = key_string(&sk);
                        match sv {
                            Value::Mapping(sm) => src.services.push((name, sm)),
                            Value::Null => src.services.push((name, Mapping::new())),
                            other => {
                                return Err(ComposeError::Field {
                                    at: at(find_service_line(&src.text, &format, &name)),
                                    service: name,
                                    field: "(service)".into(),
                                    msg: format!(
                                        "service must be a mapping, not {}",
                                        yaml_type(&other)
                                    ),
                                })
                            }
                        }
                    }
                }
                Value::Null => {}
                other => {
                    return Err(ComposeError::File {
                        at: at(line),
                        msg: format!("services must be a mapping, not {}", yaml_type(&other)),
                    })
                }
            },
            "networks" | "volumes" | "secrets" | "configs" => {
                let m = match v {
                    Value::Mapping(m) => m,
                    Value::Null => Mapping::new(),
                    other => {
                        return Err(ComposeError::File {
                            at: at(line),
                            msg: format!("{key} must be a mapping, not {}", yaml_type(&other)),
                        })
                    }
                };
                match key.as_str() {
                    "networks" => src.networks = Some(m),
                    "volumes" => src.volumes = Some(m),
                    "secrets" => src.secrets = Some(m),
                    _ => src.configs = Some(m),
                }
            }
            "include" | "models" => {
                tracing::warn!(file = %path.display(), "top-level {key:?} is not supported yet; ignored");
            }
            k if k.starts_with("x-") => {}
            other => {
                return Err(ComposeError::File {
                    at: at(line),
                    msg: format!(
                        "additional property {other:?} is not allowed at the top level of a {format} file"
                    ),
                })
            }
        }
    }
    Ok(src)
}

/// docker-compose 1.29's detection, plus the versionless spec.
pub fn detect_format(top: &Mapping) -> std::result::Result<Format, String> {
    match top.get("version") {
        None | Some(Value::Mapping(_)) => {
            let has = |k: &str| top.contains_key(k);
            if has("services") || has("networks") || has("volumes") {
                Ok(Format::Spec)
            } else {
                if top.get("version").is_some() {
                    tracing::warn!("a top-level \"version\" that is a mapping: read as a v1 service named \"version\"");
                }
                Ok(Format::V1)
            }
        }
        Some(v) => {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => {
                    return Err(format!(
                        "version must be a string, not {}",
                        yaml_type(other)
                    ))
                }
            };
            let major = s.split('.').next().unwrap_or("");
            let minor_ok = s
                .split('.')
                .skip(1)
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
            match major {
                "2" if minor_ok => Ok(Format::V2(s)),
                "3" if minor_ok => Ok(Format::V3(s)),
                "1" => Err(format!(
                    "version {s:?} is invalid: a v1 file has no version key (remove it and put services at the top level), or use version \"2\"/\"3\" with a services: key"
                )),
                _ => Err(format!(
                    "version {s:?} is unsupported: use \"2.x\" or \"3.x\", or drop the version key (compose spec)"
                )),
            }
        }
    }
}

pub(crate) fn key_string(k: &Value) -> String {
    scalar(k).unwrap_or_else(|| format!("{k:?}"))
}

/// A scalar as compose reads it (numbers and booleans as their text).
pub(crate) fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn interpolate_value(
    v: &mut Value,
    path: &str,
    vars: &Vars,
    unset: &mut Vec<String>,
) -> std::result::Result<(), (String, String)> {
    match v {
        Value::String(s) => {
            let r = interp::interpolate(s, vars, &mut |n| unset.push(n.to_string()))
                .map_err(|e| (path.to_string(), e.0))?;
            *s = r;
        }
        Value::Sequence(seq) => {
            for (i, x) in seq.iter_mut().enumerate() {
                interpolate_value(x, &format!("{path}[{i}]"), vars, unset)?;
            }
        }
        Value::Mapping(m) => {
            for (k, x) in m.iter_mut() {
                let p = if path.is_empty() {
                    key_string(k)
                } else {
                    format!("{path}.{}", key_string(k))
                };
                interpolate_value(x, &p, vars, unset)?;
            }
        }
        Value::Tagged(t) => interpolate_value(&mut t.value, path, vars, unset)?,
        _ => {}
    }
    Ok(())
}

fn indent(l: &str) -> usize {
    l.len() - l.trim_start().len()
}

fn is_key_line(l: &str, key: &str) -> bool {
    let t = l.trim_start();
    let t = t.strip_prefix("- ").unwrap_or(t);
    for q in ["", "\"", "'"] {
        if let Some(rest) = t.strip_prefix(&format!("{q}{key}{q}")) {
            if rest.trim_start().starts_with(':') {
                return true;
            }
        }
    }
    false
}

/// The 1-based line of a top-level key.
fn find_top_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| indent(l) == 0 && is_key_line(l, key))
        .map(|i| i + 1)
}

/// The line of a service's key (`name:` at the top for v1, under `services:` otherwise).
fn find_service_line(text: &str, format: &Format, service: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    if *format == Format::V1 {
        return find_top_line(text, service);
    }
    let start = find_top_line(text, "services")?;
    let mut child = None;
    for (i, l) in lines.iter().enumerate().skip(start) {
        if l.trim().is_empty() || l.trim_start().starts_with('#') {
            continue;
        }
        let ind = indent(l);
        if ind == 0 {
            break;
        }
        if child.is_none() {
            child = Some(ind);
        }
        if Some(ind) == child && is_key_line(l, service) {
            return Some(i + 1);
        }
    }
    None
}

/// The line of `field` inside a service (best effort: the YAML value tree has no
/// positions, so the text is scanned by indentation).
pub(crate) fn find_field_line(
    text: &str,
    format: &Format,
    service: &str,
    field: &str,
) -> Option<usize> {
    let s = find_service_line(text, format, service)?;
    let lines: Vec<&str> = text.lines().collect();
    let base = indent(lines.get(s - 1)?);
    let mut child = None;
    for (i, l) in lines.iter().enumerate().skip(s) {
        if l.trim().is_empty() || l.trim_start().starts_with('#') {
            continue;
        }
        let ind = indent(l);
        if ind <= base {
            break;
        }
        if child.is_none() {
            child = Some(ind);
        }
        if Some(ind) == child && is_key_line(l, field) {
            return Some(i + 1);
        }
    }
    Some(s)
}

/// Compose's project name normalisation: lowercase, only `[a-z0-9_-]`, starting with a
/// letter or digit.
pub fn normalize_project_name(raw: &str) -> String {
    let s: String = raw
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    s.trim_start_matches(['_', '-']).to_string()
}

fn valid_project_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn build_project(
    sources: Vec<Source>,
    vars: &Vars,
    project_dir: &Path,
    explicit_name: Option<&str>,
    profiles: &[String],
) -> Result<Project> {
    let format = sources[0].format.clone();
    for s in &sources[1..] {
        if (s.format == Format::V1) != (format == Format::V1) {
            return Err(ComposeError::File {
                at: Where {
                    file: s.path.clone(),
                    line: None,
                },
                msg: format!(
                    "cannot merge a {} file with a {} file ({})",
                    s.format,
                    format,
                    sources[0].path.display()
                ),
            });
        }
    }
    // Project name: -p, COMPOSE_PROJECT_NAME, `name:`, the directory's basename.
    let name = if let Some(n) = explicit_name
        .map(str::to_string)
        .or_else(|| {
            vars.get("COMPOSE_PROJECT_NAME")
                .cloned()
                .filter(|s| !s.is_empty())
        })
        .or_else(|| sources.iter().rev().find_map(|s| s.name.clone()))
    {
        let lower = n.to_lowercase();
        if !valid_project_name(&lower) {
            return Err(ComposeError::ProjectName(n));
        }
        lower
    } else {
        let base = project_dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let n = normalize_project_name(&base);
        if n.is_empty() {
            "default".to_string()
        } else {
            n
        }
    };

    // Merge services, remembering which file (last) defined each for error locations.
    let mut raw: BTreeMap<String, (Mapping, usize)> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut networks = Mapping::new();
    let mut volumes = Mapping::new();
    let mut secrets = Mapping::new();
    let mut configs = Mapping::new();
    for (i, s) in sources.iter().enumerate() {
        for (name, m) in &s.services {
            match raw.get_mut(name) {
                Some((base, idx)) => {
                    let merged =
                        merge::merge_service(std::mem::take(base), m.clone()).map_err(|msg| {
                            ComposeError::Field {
                                at: Where {
                                    file: s.path.clone(),
                                    line: find_service_line(&s.text, &s.format, name),
                                },
                                service: name.clone(),
                                field: "(service)".into(),
                                msg: format!(
                                    "{msg} (merging over {})",
                                    sources[*idx].path.display()
                                ),
                            }
                        })?;
                    *base = merged;
                    *idx = i;
                }
                None => {
                    order.push(name.clone());
                    raw.insert(name.clone(), (m.clone(), i));
                }
            }
        }
        if let Some(n) = &s.networks {
            for (k, v) in n {
                networks.insert(k.clone(), v.clone());
            }
        }
        if let Some(v) = &s.volumes {
            for (k, x) in v {
                volumes.insert(k.clone(), x.clone());
            }
        }
        for (all, these) in [(&mut secrets, &s.secrets), (&mut configs, &s.configs)] {
            if let Some(m) = these {
                for (k, x) in m {
                    all.insert(k.clone(), x.clone());
                }
            }
        }
    }
    let last = &sources[sources.len() - 1];
    let mut project = Project {
        name,
        format: format.clone(),
        working_dir: project_dir.to_path_buf(),
        config_files: sources.iter().map(|s| s.path.clone()).collect(),
        services: BTreeMap::new(),
        networks: BTreeMap::new(),
        volumes: BTreeMap::new(),
        secrets: BTreeMap::new(),
        configs: BTreeMap::new(),
        disabled: BTreeMap::new(),
        profiles: Vec::new(),
    };
    for (kind, defs) in [("secret", secrets), ("config", configs)] {
        for (k, v) in defs {
            let key = key_string(&k);
            let at = Where {
                file: last.path.clone(),
                line: None,
            };
            let def = crate::secrets::object_def(kind, &key, v, at, project_dir, vars)?;
            if kind == "secret" {
                project.secrets.insert(key, def);
            } else {
                project.configs.insert(key, def);
            }
        }
    }
    for (k, v) in networks {
        let key = key_string(&k);
        let at = Where {
            file: last.path.clone(),
            line: None,
        };
        project
            .networks
            .insert(key.clone(), network_def(&key, v, at)?);
    }
    for (k, v) in volumes {
        let key = key_string(&k);
        let at = Where {
            file: last.path.clone(),
            line: None,
        };
        project
            .volumes
            .insert(key.clone(), volume_def(&key, v, at)?);
    }
    if project.services.is_empty() && raw.is_empty() {
        tracing::warn!("no services defined");
    }
    for name in order {
        let Some((mut m, idx)) = raw.remove(&name) else {
            continue;
        };
        merge::enforce_unicity(&mut m);
        let src = &sources[idx];
        let cx = Cx {
            src,
            format: &format,
            service: &name,
            dir: project_dir,
            vars,
            project: &project,
        };
        let mut svc = cx.service(m)?;
        svc.defined_in = src.path.clone();
        project.services.insert(name, svc);
    }
    let active = crate::profiles::active_profiles(profiles, vars);
    project.apply_profiles(active);
    Ok(project)
}

fn str_map(v: &Value, what: &str) -> std::result::Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    match v {
        Value::Null => {}
        Value::Mapping(m) => {
            for (k, x) in m {
                let val = match x {
                    Value::Null => String::new(),
                    o => scalar(o)
                        .ok_or_else(|| format!("{what} {:?} must be a string", key_string(k)))?,
                };
                out.insert(key_string(k), val);
            }
        }
        Value::Sequence(s) => {
            for x in s {
                let item = scalar(x).ok_or_else(|| format!("{what} entries must be strings"))?;
                let (k, val) = item.split_once('=').unwrap_or((&item, ""));
                out.insert(k.to_string(), val.to_string());
            }
        }
        other => {
            return Err(format!(
                "must be a mapping or a list, not {}",
                yaml_type(other)
            ))
        }
    }
    Ok(out)
}

fn external(v: Option<&Value>) -> std::result::Result<(bool, Option<String>), String> {
    match v {
        None | Some(Value::Null) => Ok((false, None)),
        Some(Value::Bool(b)) => Ok((*b, None)),
        Some(Value::Mapping(m)) => Ok((true, m.get("name").and_then(scalar))),
        Some(o) => Err(format!("external must be a boolean, not {}", yaml_type(o))),
    }
}

fn network_def(name: &str, v: Value, at: Where) -> Result<NetworkDef> {
    let err = |msg: String| ComposeError::Resource {
        at: at.clone(),
        kind: "network",
        name: name.to_string(),
        msg,
    };
    let m = match v {
        Value::Null => return Ok(NetworkDef::default()),
        Value::Mapping(m) => m,
        o => return Err(err(format!("must be a mapping, not {}", yaml_type(&o)))),
    };
    let mut d = NetworkDef::default();
    for (k, x) in &m {
        match key_string(k).as_str() {
            "driver" => d.driver = scalar(x),
            "name" => d.name = scalar(x),
            "internal" => d.internal = matches!(x, Value::Bool(true)),
            "labels" => d.labels = str_map(x, "label").map_err(err)?,
            "external" => {
                let (e, n) = external(Some(x)).map_err(err)?;
                d.external = e;
                if n.is_some() {
                    d.name = n;
                }
            }
            "driver_opts" | "ipam" | "attachable" | "enable_ipv6" => {
                tracing::warn!("network {name:?}: {:?} is ignored", key_string(k))
            }
            o => return Err(err(format!("unsupported option {o:?}"))),
        }
    }
    Ok(d)
}

fn volume_def(name: &str, v: Value, at: Where) -> Result<VolumeDef> {
    let err = |msg: String| ComposeError::Resource {
        at: at.clone(),
        kind: "volume",
        name: name.to_string(),
        msg,
    };
    let m = match v {
        Value::Null => return Ok(VolumeDef::default()),
        Value::Mapping(m) => m,
        o => return Err(err(format!("must be a mapping, not {}", yaml_type(&o)))),
    };
    let mut d = VolumeDef::default();
    for (k, x) in &m {
        match key_string(k).as_str() {
            "driver" => d.driver = scalar(x),
            "name" => d.name = scalar(x),
            "driver_opts" => d.driver_opts = str_map(x, "driver_opt").map_err(err)?,
            "labels" => d.labels = str_map(x, "label").map_err(err)?,
            "external" => {
                let (e, n) = external(Some(x)).map_err(err)?;
                d.external = e;
                if n.is_some() {
                    d.name = n;
                }
            }
            o => return Err(err(format!("unsupported option {o:?}"))),
        }
    }
    Ok(d)
}

/// Converting one service.
struct Cx<'a> {
    src: &'a Source,
    format: &'a Format,
    service: &'a str,
    dir: &'a Path,
    vars: &'a Vars,
    project: &'a Project,
}

type FieldResult<T> = std::result::Result<T, String>;

impl Cx<'_> {
    fn err(&self, field: &str, msg: String) -> ComposeError {
        // A field inherited through `extends` is reported where it was written.
        let top = field.split('.').next().unwrap_or(field);
        if let Some(o) = self.src.origins.get(self.service).and_then(|m| m.get(top)) {
            return ComposeError::Field {
                at: Where {
                    file: o.path.clone(),
                    line: find_field_line(&o.text, &o.format, &o.service, top),
                },
                service: self.service.to_string(),
                field: field.to_string(),
                msg: format!(
                    "{msg} (inherited through extends from service {:?})",
                    o.service
                ),
            };
        }
        ComposeError::Field {
            at: Where {
                file: self.src.path.clone(),
                line: find_field_line(&self.src.text, self.format, self.service, top),
            },
            service: self.service.to_string(),
            field: field.to_string(),
            msg,
        }
    }

    fn service(&self, m: Mapping) -> Result<Service> {
        let v1 = *self.format == Format::V1;
        let mut unknown = Vec::new();
        for k in m.keys() {
            let key = key_string(k);
            let known = if v1 {
                V1_KEYS.contains(&key.as_str())
            } else {
                key.starts_with("x-")
                    || (V1_KEYS.contains(&key.as_str()) && !V1_ONLY.contains(&key.as_str()))
                    || SPEC_EXTRA_KEYS.contains(&key.as_str())
            };
            if !known {
                unknown.push(key);
            }
        }
        if !unknown.is_empty() {
            let first = unknown[0].clone();
            return Err(ComposeError::UnknownKeys {
                at: Where {
                    file: self.src.path.clone(),
                    line: find_field_line(&self.src.text, self.format, self.service, &first),
                },
                service: self.service.to_string(),
                keys: unknown,
                format: self.format.to_string(),
            });
        }
        let mut s = Service {
            name: self.service.to_string(),
            ..Default::default()
        };
        let mut env_files: Vec<PathBuf> = Vec::new();
        let mut environment: Vec<(String, Option<String>)> = Vec::new();
        let mut dockerfile: Option<String> = None;
        let mut scale: Option<u32> = None;
        let mut replicas: Option<u32> = None;
        let mut resources = Resources::default();
        for (k, v) in &m {
            let field = key_string(k);
            let f = field.as_str();
            let r: FieldResult<()> = (|| {
                match f {
                    "image" => s.image = Some(string(v)?),
                    "build" => s.build = Some(self.build(v)?),
                    "dockerfile" => dockerfile = Some(string(v)?),
                    "command" => s.command = command(v)?,
                    "entrypoint" => s.entrypoint = command(v)?,
                    "container_name" => s.container_name = Some(string(v)?),
                    "hostname" => s.hostname = Some(string(v)?),
                    "domainname" => s.domainname = Some(string(v)?),
                    "working_dir" => s.working_dir = Some(string(v)?),
                    "user" => s.user = Some(string(v)?),
                    "restart" => s.restart = Some(restart(v)?),
                    "environment" => environment = env_entries(v)?,
                    "env_file" => env_files = self.env_files(v)?,
                    "ports" => s.ports = ports(v)?,
                    "expose" => s.expose = string_list(v)?,
                    "volumes" => s.volumes = self.volumes(v)?,
                    "volumes_from" => s.volumes_from = string_list(v)?,
                    "links" => s.links = links(v)?,
                    "external_links" => s.external_links = string_list(v)?,
                    "depends_on" => {
                        s.depends_on = depends_on(v)?;
                        s.optional_depends_on = optional_dependencies(v)?;
                    }
                    "labels" => s.labels = str_map(v, "label")?,
                    "networks" => s.networks = self.networks(v)?,
                    "network_mode" | "net" => s.network_mode = Some(string(v)?),
                    "dns" => s.dns = string_or_list(v)?,
                    "dns_search" => s.dns_search = string_or_list(v)?,
                    "extra_hosts" => s.extra_hosts = extra_hosts(v)?,
                    "tty" => s.tty = boolean(v)?,
                    "stdin_open" => s.stdin_open = boolean(v)?,
                    "privileged" => s.privileged = boolean(v)?,
                    "read_only" => s.read_only = boolean(v)?,
                    "init" => s.init = boolean(v)?,
                    "cap_add" => s.cap_add = string_list(v)?,
                    "cap_drop" => s.cap_drop = string_list(v)?,
                    "security_opt" => s.security_opt = string_list(v)?,
                    "healthcheck" => s.healthcheck = healthcheck(v)?,
                    "stop_signal" => s.stop_signal = Some(string(v)?),
                    "stop_grace_period" => {
                        s.stop_grace_period_s = Some(duration_ns(&string(v)?)? / 1_000_000_000)
                    }
                    "mem_limit" => s.mem_limit = Some(size(v)?),
                    "shm_size" => s.shm_size = Some(bytes(v)?),
                    "cpu_shares" => s.cpu_shares = Some(integer(v)?),
                    "pids_limit" => s.pids_limit = Some(integer(v)?),
                    "tmpfs" => s.tmpfs = string_or_list(v)?,
                    "pid" => s.pid = Some(string(v)?),
                    "ipc" => s.ipc = Some(string(v)?),
                    "sysctls" => s.sysctls = str_map(v, "sysctl")?,
                    "ulimits" => s.ulimits = ulimits(v)?,
                    "devices" => s.devices = devices(v)?,
                    "cpus" => s.nano_cpus = cpus(v)?,
                    "cpu_period" => s.cpu_period = Some(non_negative(v)?),
                    "cpu_quota" => s.cpu_quota = Some(integer(v)?),
                    "cpuset" => s.cpuset = Some(cpuset(v)?),
                    "mem_reservation" => s.mem_reservation = Some(size(v)?),
                    "memswap_limit" => s.memswap_limit = Some(memswap(v)?),
                    "uts" => s.uts = uts(v)?,
                    "group_add" => s.group_add = group_add(v)?,
                    "profiles" => s.profiles = profiles(v)?,
                    "scale" => scale = Some(count(v)?),
                    "deploy" => {
                        let d = self.deploy(v)?;
                        replicas = d.replicas;
                        resources = d.resources;
                    }
                    "secrets" => s.secrets = self.file_refs(v, "secret")?,
                    "configs" => s.configs = self.file_refs(v, "config")?,
                    // Resolved (and removed) by `extends::resolve_file`.
                    "extends" => {}
                    o if o.starts_with("x-") => {}
                    o if IGNORED.contains(&o) => {
                        tracing::warn!(
                            service = self.service,
                            "{o:?} is not supported yet; ignored"
                        )
                    }
                    o => return Err(format!("unsupported option {o:?}")),
                }
                Ok(())
            })();
            r.map_err(|msg| self.err(f, msg))?;
        }
        self.apply_resources(&mut s, resources)?;
        s.scale = match (scale, replicas) {
            (Some(a), Some(b)) if a != b => {
                return Err(self.err(
                    "scale",
                    format!(
                        "can't set distinct values on 'scale' ({a}) and 'deploy.replicas' ({b})"
                    ),
                ))
            }
            (a, b) => a.or(b),
        };
        if let (Some(c), Some(n)) = (&s.container_name, s.scale) {
            if n > 1 {
                let key = if scale.is_some() {
                    "scale"
                } else {
                    "deploy.replicas"
                };
                return Err(self.err(
                    key,
                    format!("can't set container_name ({c:?}) and {key} ({n}): a container name must be unique"),
                ));
            }
        }
        // v1: `dockerfile` sits beside a string `build`.
        if let Some(df) = dockerfile {
            match &mut s.build {
                Some(b) => b.dockerfile = df,
                None => {
                    return Err(self.err(
                        "dockerfile",
                        "dockerfile needs build (and cannot be used with image)".into(),
                    ))
                }
            }
        }
        if v1 && s.build.is_some() && s.image.is_some() {
            return Err(self.err(
                "build",
                "a v1 service has either build or image, not both".into(),
            ));
        }
        if s.build.is_none() && s.image.is_none() {
            return Err(self.err(
                "image",
                "the service has neither an image nor a build context specified: at least one must be provided".into(),
            ));
        }
        // Environment: env_file first, then `environment:`; a bare KEY takes the
        // environment's value or is left out.
        let mut env = BTreeMap::new();
        for f in &env_files {
            let text = std::fs::read_to_string(f)
                .map_err(|e| self.err("env_file", format!("{}: {e}", f.display())))?;
            let entries = interp::parse_env_file(&text)
                .map_err(|e| self.err("env_file", format!("{}: {e}", f.display())))?;
            for (k, v) in entries {
                match v.or_else(|| self.vars.get(&k).cloned()) {
                    Some(v) => env.insert(k, v),
                    None => env.remove(&k),
                };
            }
        }
        for (k, v) in environment {
            match v.or_else(|| self.vars.get(&k).cloned()) {
                Some(v) => env.insert(k, v),
                None => env.remove(&k),
            };
        }
        s.environment = env;
        // Networks must be declared (v2+); v1 has none.
        if !v1 {
            for n in s.networks.keys() {
                if n != "default" && !self.project.networks.contains_key(n) {
                    return Err(self.err(
                        "networks",
                        format!("service refers to undefined network {n:?}"),
                    ));
                }
            }
            if s.network_mode.is_some() && !s.networks.is_empty() {
                return Err(self.err(
                    "network_mode",
                    "network_mode and networks cannot be combined".into(),
                ));
            }
        }
        Ok(s)
    }

    /// `deploy:`: without a swarm only `replicas` and `resources` (the limits, and the
    /// memory reservation) mean something.
    fn deploy(&self, v: &Value) -> FieldResult<Deploy> {
        let m = match v {
            Value::Null => return Ok(Deploy::default()),
            Value::Mapping(m) => m,
            o => return Err(format!("must be a mapping, not {}", yaml_type(o))),
        };
        let mut d = Deploy::default();
        for (k, x) in m {
            match key_string(k).as_str() {
                "replicas" => {
                    d.replicas = Some(count(x).map_err(|e| format!("replicas {e}"))?);
                }
                "resources" => d.resources = self.resources(x)?,
                "mode" => match scalar(x).as_deref() {
                    Some("replicated") | None => {}
                    Some(o) => tracing::warn!(
                        service = self.service,
                        "deploy.mode {o:?} is ignored (berth has no swarm)"
                    ),
                },
                o => tracing::warn!(service = self.service, "deploy.{o} is ignored"),
            }
        }
        Ok(d)
    }

    /// `deploy.resources`: `limits` (cpus, memory, pids) and `reservations.memory`, as
    /// docker compose's `getDeployResources` maps them; the rest is for a swarm.
    fn resources(&self, v: &Value) -> FieldResult<Resources> {
        let mut r = Resources::default();
        for (k, x) in mapping(v, "resources")? {
            let which = key_string(k);
            match which.as_str() {
                "limits" | "reservations" => {
                    for (k, x) in mapping(x, &format!("resources.{which}"))? {
                        let key = key_string(k);
                        let at = format!("resources.{which}.{key}");
                        let named = |e: String| format!("{at} {e}");
                        match (which.as_str(), key.as_str()) {
                            ("limits", "cpus") => r.cpus = cpus(x).map_err(named)?,
                            ("limits", "memory") => r.memory = Some(size(x).map_err(named)?),
                            ("limits", "pids") => r.pids = Some(integer(x).map_err(named)?),
                            ("reservations", "memory") => {
                                r.mem_reservation = Some(size(x).map_err(named)?)
                            }
                            ("reservations", "cpus" | "generic_resources" | "devices") => {
                                tracing::warn!(service = self.service, "deploy.{at} is ignored")
                            }
                            _ if key.starts_with("x-") => {}
                            _ => return Err(format!("unsupported option {at:?}")),
                        }
                    }
                }
                o if o.starts_with("x-") => {}
                o => return Err(format!("unsupported option \"resources.{o}\"")),
            }
        }
        Ok(r)
    }

    /// Puts `deploy.resources` where the service-level keys go; both set to distinct
    /// values is an error (compose-go's `checkConsistency`).
    fn apply_resources(&self, s: &mut Service, r: Resources) -> Result<()> {
        let pairs: [(&str, &str, &mut Option<i64>, Option<i64>); 4] = [
            ("cpus", "limits.cpus", &mut s.nano_cpus, r.cpus),
            ("mem_limit", "limits.memory", &mut s.mem_limit, r.memory),
            ("pids_limit", "limits.pids", &mut s.pids_limit, r.pids),
            (
                "mem_reservation",
                "reservations.memory",
                &mut s.mem_reservation,
                r.mem_reservation,
            ),
        ];
        for (key, deploy, own, from_deploy) in pairs {
            match (*own, from_deploy) {
                (Some(a), Some(b)) if a != b => {
                    return Err(self.err(
                        key,
                        format!(
                            "can't set distinct values on '{key}' and 'deploy.resources.{deploy}'"
                        ),
                    ))
                }
                (_, Some(b)) => *own = Some(b),
                _ => {}
            }
        }
        Ok(())
    }

    /// A service's `secrets:`/`configs:` (short or long syntax), checked against the
    /// top-level definitions.
    fn file_refs(&self, v: &Value, kind: &str) -> FieldResult<Vec<FileRef>> {
        crate::secrets::service_refs(v, kind, self.project)
    }

    fn build(&self, v: &Value) -> FieldResult<Build> {
        let mut b = Build {
            dockerfile: "Dockerfile".into(),
            ..Default::default()
        };
        match v {
            Value::Mapping(m) if *self.format != Format::V1 => {
                let mut ctx = ".".to_string();
                for (k, x) in m {
                    match key_string(k).as_str() {
                        "context" => ctx = string(x)?,
                        "dockerfile" => b.dockerfile = string(x)?,
                        "args" => b.args = str_map(x, "build arg")?,
                        "target" => b.target = Some(string(x)?),
                        "labels" => b.labels = str_map(x, "label")?,
                        "cache_from" | "network" | "shm_size" | "extra_hosts" | "platforms"
                        | "pull" | "no_cache" | "tags" | "isolation" => {
                            tracing::warn!(
                                service = self.service,
                                "build.{:?} is ignored",
                                key_string(k)
                            )
                        }
                        o => return Err(format!("unsupported build option {o:?}")),
                    }
                }
                b.context = self.path(&ctx);
            }
            Value::Mapping(_) => {
                return Err(
                    "in a v1 file build is a path string (with dockerfile beside it)".into(),
                )
            }
            other => b.context = self.path(&string(other)?),
        }
        if b.context.to_string_lossy().contains("://") {
            return Err("remote build contexts (URLs) are not supported".into());
        }
        Ok(b)
    }

    /// A host path relative to the project directory (`~` = $HOME).
    fn path(&self, p: &str) -> PathBuf {
        if let Some(rest) = p
            .strip_prefix("~/")
            .or(if p == "~" { Some("") } else { None })
        {
            let home = self
                .vars
                .get("HOME")
                .cloned()
                .unwrap_or_else(|| "/root".into());
            return clean(&Path::new(&home).join(rest));
        }
        clean(&self.dir.join(p))
    }

    fn env_files(&self, v: &Value) -> FieldResult<Vec<PathBuf>> {
        let items = match v {
            Value::Sequence(s) => s.clone(),
            o => vec![o.clone()],
        };
        let mut out = Vec::new();
        for x in items {
            match &x {
                Value::Mapping(m) => {
                    let p = m
                        .get("path")
                        .and_then(scalar)
                        .ok_or("env_file entries need a path")?;
                    let required = !matches!(m.get("required"), Some(Value::Bool(false)));
                    let p = self.path(&p);
                    if required || p.exists() {
                        out.push(p);
                    }
                }
                o => out.push(self.path(&string(o)?)),
            }
        }
        Ok(out)
    }

    fn volumes(&self, v: &Value) -> FieldResult<Vec<Mount>> {
        let Value::Sequence(seq) = v else {
            return Err(format!("must be a list, not {}", yaml_type(v)));
        };
        let mut out = Vec::new();
        for x in seq {
            let m = match x {
                Value::Mapping(m) if *self.format != Format::V1 => self.long_volume(m)?,
                other => self.short_volume(&string(other)?)?,
            };
            out.push(m);
        }
        Ok(out)
    }

    fn named_or_path(&self, src: &str) -> FieldResult<(MountKind, String)> {
        if src.starts_with('.') || src.starts_with('/') || src.starts_with('~') {
            return Ok((
                MountKind::Bind,
                self.path(src).to_string_lossy().into_owned(),
            ));
        }
        if *self.format != Format::V1 && !self.project.volumes.contains_key(src) {
            return Err(format!(
                "named volume {src:?} is not declared in the top-level volumes: section"
            ));
        }
        Ok((MountKind::Volume, src.to_string()))
    }

    fn short_volume(&self, s: &str) -> FieldResult<Mount> {
        let parts: Vec<&str> = s.split(':').collect();
        let (src, target, mode) = match parts.as_slice() {
            [t] => (None, *t, None),
            [a, b] if b.starts_with('/') => (Some(*a), *b, None),
            [t, m] => (None, *t, Some(*m)),
            [a, b, m] => (Some(*a), *b, Some(*m)),
            _ => return Err(format!("invalid volume spec {s:?}")),
        };
        if !target.starts_with('/') {
            return Err(format!(
                "invalid volume spec {s:?}: the container path must be absolute"
            ));
        }
        let mut read_only = false;
        let mut extra = Vec::new();
        for flag in mode.unwrap_or("").split(',').filter(|f| !f.is_empty()) {
            match flag {
                "ro" => read_only = true,
                "rw" => {}
                "z" | "Z" | "nocopy" | "shared" | "slave" | "private" | "rshared" | "rslave"
                | "rprivate" | "cached" | "delegated" | "consistent" => extra.push(flag),
                o => return Err(format!("invalid volume mode {o:?} in {s:?}")),
            }
        }
        let (kind, source) = match src {
            None => (MountKind::Volume, None),
            Some(src) => {
                let (k, s) = self.named_or_path(src)?;
                (k, Some(s))
            }
        };
        Ok(Mount {
            kind,
            source,
            target: target.to_string(),
            read_only,
            mode: (!extra.is_empty()).then(|| extra.join(",")),
        })
    }

    fn long_volume(&self, m: &Mapping) -> FieldResult<Mount> {
        let get = |k: &str| m.get(k).and_then(scalar);
        let kind = get("type").unwrap_or_else(|| "volume".into());
        let target = get("target").ok_or("a long-syntax volume needs a target")?;
        let read_only = matches!(m.get("read_only"), Some(Value::Bool(true)));
        let source = get("source");
        let (kind, source) = match kind.as_str() {
            "bind" => {
                let s = source.ok_or("a bind mount needs a source")?;
                (
                    MountKind::Bind,
                    Some(self.path(&s).to_string_lossy().into_owned()),
                )
            }
            "volume" => match source {
                Some(s) => {
                    let (k, s) = self.named_or_path(&s)?;
                    (k, Some(s))
                }
                None => (MountKind::Volume, None),
            },
            "tmpfs" => (MountKind::Tmpfs, None),
            o => return Err(format!("unsupported volume type {o:?}")),
        };
        Ok(Mount {
            kind,
            source,
            target,
            read_only,
            mode: None,
        })
    }

    fn networks(&self, v: &Value) -> FieldResult<BTreeMap<String, ServiceNetwork>> {
        let mut out = BTreeMap::new();
        match v {
            Value::Sequence(s) => {
                for x in s {
                    out.insert(string(x)?, ServiceNetwork::default());
                }
            }
            Value::Mapping(m) => {
                for (k, x) in m {
                    let mut n = ServiceNetwork::default();
                    if let Value::Mapping(o) = x {
                        for (ok, ov) in o {
                            match key_string(ok).as_str() {
                                "aliases" => n.aliases = string_list(ov)?,
                                "ipv4_address" => n.ipv4_address = Some(string(ov)?),
                                "priority" | "ipv6_address" | "link_local_ips" | "mac_address"
                                | "driver_opts" | "gw_priority" => {}
                                o => return Err(format!("unsupported network option {o:?}")),
                            }
                        }
                    } else if !matches!(x, Value::Null) {
                        return Err("network entries must be mappings or empty".into());
                    }
                    out.insert(key_string(k), n);
                }
            }
            o => return Err(format!("must be a list or a mapping, not {}", yaml_type(o))),
        }
        Ok(out)
    }
}

/// Lexically normalises a path (`a/./b/../c` → `a/c`).
pub(crate) fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            o => out.push(o),
        }
    }
    out
}

fn string(v: &Value) -> FieldResult<String> {
    scalar(v).ok_or_else(|| format!("must be a string, not {}", yaml_type(v)))
}

/// A replica count: an integer ≥ 0.
fn count(v: &Value) -> FieldResult<u32> {
    let n = integer(v)?;
    u32::try_from(n).map_err(|_| format!("must be greater than or equal to 0, not {n}"))
}

/// `profiles:`: a list of names (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`).
fn profiles(v: &Value) -> FieldResult<Vec<String>> {
    let list = string_list(v)?;
    for p in &list {
        let ok = p.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !ok {
            return Err(format!(
                "invalid profile name {p:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit"
            ));
        }
    }
    Ok(list)
}

fn boolean(v: &Value) -> FieldResult<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if matches!(s.as_str(), "true" | "yes" | "True") => Ok(true),
        Value::String(s) if matches!(s.as_str(), "false" | "no" | "False") => Ok(false),
        o => Err(format!("must be a boolean, not {}", yaml_type(o))),
    }
}

fn integer(v: &Value) -> FieldResult<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| format!("must be an integer, not {n}")),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("must be an integer, not {s:?}")),
        o => Err(format!("must be an integer, not {}", yaml_type(o))),
    }
}

fn string_list(v: &Value) -> FieldResult<Vec<String>> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(s) => s.iter().map(string).collect(),
        o => Err(format!("must be a list, not {}", yaml_type(o))),
    }
}

fn string_or_list(v: &Value) -> FieldResult<Vec<String>> {
    match v {
        Value::Sequence(_) | Value::Null => string_list(v),
        o => Ok(vec![string(o)?]),
    }
}

fn command(v: &Value) -> FieldResult<Option<Vec<String>>> {
    match v {
        Value::Null => Ok(None),
        Value::Sequence(s) => Ok(Some(s.iter().map(string).collect::<FieldResult<_>>()?)),
        o => Ok(Some(interp::split_words(&string(o)?)?)),
    }
}

fn restart(v: &Value) -> FieldResult<String> {
    let s = match v {
        // YAML 1.1 `no` unquoted.
        Value::Bool(false) => "no".to_string(),
        o => string(o)?,
    };
    let (name, count) = s.split_once(':').unwrap_or((&s, ""));
    let ok = match name {
        "no" | "always" | "unless-stopped" => count.is_empty(),
        "on-failure" => count.is_empty() || count.parse::<u32>().is_ok(),
        _ => false,
    };
    if !ok {
        return Err(format!(
            "invalid restart policy {s:?}: use no, always, unless-stopped or on-failure[:N]"
        ));
    }
    Ok(s)
}

fn env_entries(v: &Value) -> FieldResult<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    match v {
        Value::Null => {}
        Value::Mapping(m) => {
            for (k, x) in m {
                let val = match x {
                    Value::Null => None,
                    Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => {
                        return Err(format!(
                            "environment value of {:?} must be a string, number, boolean or null, not {}",
                            key_string(k),
                            yaml_type(x)
                        ))
                    }
                    o => scalar(o),
                };
                out.push((key_string(k), val));
            }
        }
        Value::Sequence(s) => {
            for x in s {
                let item = string(x)?;
                match item.split_once('=') {
                    Some((k, v)) => out.push((k.to_string(), Some(v.to_string()))),
                    None => out.push((item, None)),
                }
            }
        }
        o => return Err(format!("must be a mapping or a list, not {}", yaml_type(o))),
    }
    Ok(out)
}

fn links(v: &Value) -> FieldResult<Vec<Link>> {
    string_list(v)?
        .into_iter()
        .map(|l| {
            let (svc, alias) = l.split_once(':').unwrap_or((&l, &l));
            if svc.is_empty() || alias.is_empty() {
                return Err(format!("invalid link {l:?}: use SERVICE[:ALIAS]"));
            }
            Ok(Link {
                service: svc.to_string(),
                alias: alias.to_string(),
            })
        })
        .collect()
}

fn depends_on(v: &Value) -> FieldResult<BTreeMap<String, DependsCondition>> {
    let mut out = BTreeMap::new();
    match v {
        Value::Sequence(_) => {
            for s in string_list(v)? {
                out.insert(s, DependsCondition::ServiceStarted);
            }
        }
        Value::Mapping(m) => {
            for (k, x) in m {
                let cond = match x {
                    Value::Mapping(o) => match o.get("condition").and_then(scalar).as_deref() {
                        None | Some("service_started") => DependsCondition::ServiceStarted,
                        Some("service_healthy") => DependsCondition::ServiceHealthy,
                        Some("service_completed_successfully") => {
                            DependsCondition::ServiceCompletedSuccessfully
                        }
                        Some(o) => return Err(format!("unknown condition {o:?}")),
                    },
                    Value::Null => DependsCondition::ServiceStarted,
                    o => return Err(format!("entries must be mappings, not {}", yaml_type(o))),
                };
                out.insert(key_string(k), cond);
            }
        }
        o => return Err(format!("must be a list or a mapping, not {}", yaml_type(o))),
    }
    Ok(out)
}

/// The `depends_on` entries with `required: false`.
fn optional_dependencies(v: &Value) -> FieldResult<std::collections::BTreeSet<String>> {
    let mut out = std::collections::BTreeSet::new();
    if let Value::Mapping(m) = v {
        for (k, x) in m {
            if let Some(r) = x.as_mapping().and_then(|o| o.get("required")) {
                if !boolean(r)? {
                    out.insert(key_string(k));
                }
            }
        }
    }
    Ok(out)
}

fn extra_hosts(v: &Value) -> FieldResult<Vec<String>> {
    match v {
        Value::Mapping(m) => m
            .iter()
            .map(|(k, x)| Ok(format!("{}:{}", key_string(k), string(x)?)))
            .collect(),
        _ => Ok(string_list(v)?
            .into_iter()
            .map(|h| match h.split_once('=') {
                Some((n, ip)) if !h.contains(':') || h.find('=') < h.find(':') => {
                    format!("{n}:{ip}")
                }
                _ => h,
            })
            .collect()),
    }
}

/// `[ip:][host:]container[/proto]`, ranges allowed, or the long syntax.
fn ports(v: &Value) -> FieldResult<Vec<Port>> {
    let Value::Sequence(seq) = v else {
        return Err(format!("must be a list, not {}", yaml_type(v)));
    };
    let mut out = Vec::new();
    for x in seq {
        match x {
            Value::Mapping(m) => {
                let target = m
                    .get("target")
                    .and_then(scalar)
                    .ok_or("a long-syntax port needs a target")?;
                let target = target
                    .parse::<u16>()
                    .map_err(|_| format!("invalid port {target:?}"))?;
                out.push(Port {
                    host_ip: m.get("host_ip").and_then(scalar),
                    published: m.get("published").and_then(scalar),
                    target,
                    protocol: m
                        .get("protocol")
                        .and_then(scalar)
                        .unwrap_or_else(|| "tcp".into()),
                });
            }
            o => out.extend(short_port(&string(o)?)?),
        }
    }
    Ok(out)
}

fn port_range(s: &str, spec: &str) -> FieldResult<(u16, u16)> {
    let bad = || format!("invalid port {spec:?}: {s:?} is not a port or a range");
    match s.split_once('-') {
        Some((a, b)) => {
            let a: u16 = a.parse().map_err(|_| bad())?;
            let b: u16 = b.parse().map_err(|_| bad())?;
            if b < a {
                return Err(bad());
            }
            Ok((a, b))
        }
        None => {
            let p: u16 = s.parse().map_err(|_| bad())?;
            Ok((p, p))
        }
    }
}

fn short_port(spec: &str) -> FieldResult<Vec<Port>> {
    let (rest, proto) = spec.rsplit_once('/').unwrap_or((spec, "tcp"));
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(format!("invalid port {spec:?}: unknown protocol {proto:?}"));
    }
    let parts: Vec<&str> = rest.rsplitn(3, ':').collect();
    let (ip, host, ctr) = match parts.as_slice() {
        [c] => (None, None, *c),
        [c, h] => (None, Some(*h), *c),
        [c, h, ip] => (Some(*ip), Some(*h), *c),
        _ => return Err(format!("invalid port {spec:?}")),
    };
    let (c0, c1) = port_range(ctr, spec)?;
    let host = host.filter(|h| !h.is_empty());
    let hosts = match host {
        Some(h) => {
            let (h0, h1) = port_range(h, spec)?;
            if h1 - h0 != c1 - c0 && h0 != h1 {
                return Err(format!(
                    "invalid port {spec:?}: host and container ranges differ in size"
                ));
            }
            Some((h0, h1))
        }
        None => None,
    };
    let ip = ip
        .map(|i| i.trim_start_matches('[').trim_end_matches(']').to_string())
        .filter(|i| !i.is_empty());
    Ok((c0..=c1)
        .enumerate()
        .map(|(i, c)| Port {
            host_ip: ip.clone(),
            published: hosts.map(|(h0, h1)| {
                if h0 == h1 {
                    h0.to_string()
                } else {
                    (h0 + i as u16).to_string()
                }
            }),
            target: c,
            protocol: proto.to_string(),
        })
        .collect())
}

/// `1m30s`, `10s`, `500ms`, `1h`, or a bare number of seconds.
pub fn duration_ns(s: &str) -> FieldResult<i64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<f64>() {
        return Ok((n * 1e9) as i64);
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let bad = || format!("invalid duration {s:?}");
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let n: f64 = num.parse().map_err(|_| bad())?;
        num.clear();
        let mult = match unit.as_str() {
            "h" => 3600e9,
            "m" => 60e9,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" => 1e3,
            "ns" => 1.0,
            _ => return Err(bad()),
        };
        total += n * mult;
    }
    if !num.is_empty() {
        return Err(bad());
    }
    Ok(total as i64)
}

/// What `deploy:` gives the service.
#[derive(Default)]
struct Deploy {
    replicas: Option<u32>,
    resources: Resources,
}

/// `deploy.resources` that a single engine acts upon.
#[derive(Default)]
struct Resources {
    cpus: Option<i64>,
    memory: Option<i64>,
    pids: Option<i64>,
    mem_reservation: Option<i64>,
}

fn mapping<'v>(v: &'v Value, what: &str) -> FieldResult<&'v Mapping> {
    match v {
        Value::Mapping(m) => Ok(m),
        o => Err(format!("{what} must be a mapping, not {}", yaml_type(o))),
    }
}

/// The rlimit names docker takes (Go's `units.ParseUlimit`).
const ULIMIT_NAMES: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// `ulimits:`: `name: n` (soft = hard = n) or `name: {soft: n, hard: m}`; -1 is
/// unlimited.
fn ulimits(v: &Value) -> FieldResult<BTreeMap<String, Ulimit>> {
    let mut out = BTreeMap::new();
    let m = match v {
        Value::Null => return Ok(out),
        o => mapping(o, "ulimits")?,
    };
    for (k, x) in m {
        let name = key_string(k);
        if !ULIMIT_NAMES.contains(&name.as_str()) {
            return Err(format!(
                "invalid ulimit type {name:?} (one of {})",
                ULIMIT_NAMES.join(", ")
            ));
        }
        let limit = |x: &Value, what: &str| -> FieldResult<i64> {
            let n = integer(x).map_err(|e| format!("{name}{what} {e}"))?;
            if n < -1 {
                return Err(format!(
                    "{name}{what} must be -1 (unlimited) or more, not {n}"
                ));
            }
            Ok(n)
        };
        let u = match x {
            Value::Mapping(lim) => {
                for key in lim.keys().map(key_string) {
                    if key != "soft" && key != "hard" && !key.starts_with("x-") {
                        return Err(format!("{name}: unsupported option {key:?} (soft, hard)"));
                    }
                }
                let get = |what: &str| {
                    lim.get(what)
                        .ok_or_else(|| format!("{name}: {what} is required with the mapping form"))
                        .and_then(|x| limit(x, &format!(".{what}")))
                };
                Ulimit {
                    soft: get("soft")?,
                    hard: get("hard")?,
                }
            }
            o => {
                let n = limit(o, "")?;
                Ulimit { soft: n, hard: n }
            }
        };
        // -1 is RLIM_INFINITY, the largest.
        let unlimited = |n: i64| if n == -1 { i64::MAX } else { n };
        if unlimited(u.soft) > unlimited(u.hard) {
            return Err(format!(
                "{name}: soft limit must be less than or equal to hard limit: {} > {}",
                u.soft, u.hard
            ));
        }
        out.insert(name, u);
    }
    Ok(out)
}

/// `devices:`: `host[:container[:permissions]]` or `{source, target, permissions}`
/// (compose-go's `transformDeviceMapping`: target defaults to the source, permissions
/// to `rwm`).
fn devices(v: &Value) -> FieldResult<Vec<Device>> {
    let list = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Sequence(l) => l,
        o => return Err(format!("must be a list, not {}", yaml_type(o))),
    };
    let mut out = Vec::new();
    for x in list {
        let mut d = match x {
            Value::Mapping(m) => {
                let mut d = Device::default();
                for (k, y) in m {
                    let key = key_string(k);
                    let val = || string(y).map_err(|e| format!("device {key} {e}"));
                    match key.as_str() {
                        "source" => d.source = val()?,
                        "target" => d.target = val()?,
                        "permissions" => d.permissions = val()?,
                        o if o.starts_with("x-") => {}
                        o => {
                            return Err(format!(
                                "unsupported device option {o:?} (source, target, permissions)"
                            ))
                        }
                    }
                }
                if d.source.is_empty() {
                    return Err("a device needs a source".into());
                }
                d
            }
            o => {
                let spec = string(o)?;
                let parts: Vec<&str> = spec.split(':').collect();
                if parts.len() > 3 {
                    return Err(format!(
                        "confusing device mapping {spec:?}, please use long syntax"
                    ));
                }
                Device {
                    source: parts[0].to_string(),
                    target: parts.get(1).copied().unwrap_or_default().to_string(),
                    permissions: parts.get(2).copied().unwrap_or_default().to_string(),
                }
            }
        };
        if d.target.is_empty() {
            d.target = d.source.clone();
        }
        if d.permissions.is_empty() {
            d.permissions = "rwm".into();
        }
        for p in [&d.source, &d.target] {
            if !p.starts_with('/') {
                return Err(format!(
                    "device path {p:?} must be absolute (CDI device names are not supported)"
                ));
            }
        }
        let mut seen = String::new();
        for c in d.permissions.chars() {
            if !"rwm".contains(c) || seen.contains(c) {
                return Err(format!(
                    "invalid device permissions {:?} (a combination of r, w and m)",
                    d.permissions
                ));
            }
            seen.push(c);
        }
        out.push(d);
    }
    Ok(out)
}

/// `cpus:` (a number or a string: `0.5`, `"1.5"`) → nano CPUs; 0 means no limit.
fn cpus(v: &Value) -> FieldResult<Option<i64>> {
    let f = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    let bad = || match v {
        Value::Number(n) => format!("must be a number of CPUs, not {n}"),
        Value::String(s) => format!("must be a number of CPUs, not {s:?}"),
        o => format!("must be a number of CPUs, not {}", yaml_type(o)),
    };
    let f = f.ok_or_else(bad)?;
    if !f.is_finite() || f < 0.0 {
        return Err(bad());
    }
    let nano = (f * 1e9).round();
    if nano > i64::MAX as f64 {
        return Err(bad());
    }
    Ok((nano > 0.0).then_some(nano as i64))
}

fn non_negative(v: &Value) -> FieldResult<i64> {
    let n = integer(v)?;
    if n < 0 {
        return Err(format!("must be greater than or equal to 0, not {n}"));
    }
    Ok(n)
}

/// `cpuset:`: CPU numbers and ranges (`0-3`, `0,1`, `0-1,4`).
fn cpuset(v: &Value) -> FieldResult<String> {
    let s = string(v)?;
    let ok = !s.is_empty()
        && s.split(',').all(|part| {
            let mut ends = part.splitn(2, '-');
            let num = |x: Option<&str>| x.is_some_and(|x| x.parse::<u32>().is_ok());
            let first = ends.next();
            match ends.next() {
                None => num(first),
                Some(last) => {
                    num(first)
                        && num(Some(last))
                        && first.and_then(|a| a.parse::<u32>().ok()) <= last.parse::<u32>().ok()
                }
            }
        });
    if !ok {
        return Err(format!(
            "invalid CPU set {s:?} (CPU numbers and ranges, like 0-3 or 0,1)"
        ));
    }
    Ok(s)
}

/// A size ≥ 0 (`512m`, `1g`, bytes).
fn size(v: &Value) -> FieldResult<i64> {
    let n = bytes(v)?;
    if n < 0 {
        return Err(format!("invalid size {n}: must not be negative"));
    }
    Ok(n)
}

/// `memswap_limit:`: a size, or -1 for unlimited swap.
fn memswap(v: &Value) -> FieldResult<i64> {
    match v {
        Value::Number(n) if n.as_i64() == Some(-1) => Ok(-1),
        Value::String(s) if s.trim() == "-1" => Ok(-1),
        o => size(o).map_err(|e| format!("{e} (a size, or -1 for unlimited swap)")),
    }
}

/// `uts:`: only `host` (docker's only UTS mode besides the default).
fn uts(v: &Value) -> FieldResult<Option<String>> {
    match string(v)?.as_str() {
        "" => Ok(None),
        "host" => Ok(Some("host".into())),
        o => Err(format!(
            "invalid UTS mode {o:?} (only \"host\" is supported)"
        )),
    }
}

/// `group_add:`: group names or IDs, each once.
fn group_add(v: &Value) -> FieldResult<Vec<String>> {
    let list = string_list(v)?;
    for (i, g) in list.iter().enumerate() {
        if g.trim().is_empty() {
            return Err("a group name or ID must not be empty".into());
        }
        if list[..i].contains(g) {
            return Err(format!("group {g:?} is listed twice"));
        }
    }
    Ok(list)
}

/// `512m`, `1g`, `100k`, `1024`, `1.5gb`.
fn bytes(v: &Value) -> FieldResult<i64> {
    if let Value::Number(n) = v {
        return n.as_i64().ok_or_else(|| format!("invalid size {n}"));
    }
    let s = string(v)?.trim().to_lowercase();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let mult: f64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        _ => return Err(format!("invalid size {s:?}")),
    };
    Ok((n * mult) as i64)
}

fn healthcheck(v: &Value) -> FieldResult<Option<Healthcheck>> {
    let Value::Mapping(m) = v else {
        return Err(format!("must be a mapping, not {}", yaml_type(v)));
    };
    let mut h = Healthcheck::default();
    for (k, x) in m {
        match key_string(k).as_str() {
            "disable" => {
                if boolean(x)? {
                    h.test = vec!["NONE".into()];
                }
            }
            "test" => {
                h.test = match x {
                    Value::Sequence(_) => string_list(x)?,
                    o => vec!["CMD-SHELL".into(), string(o)?],
                };
                if let Some(first) = h.test.first() {
                    if !matches!(first.as_str(), "CMD" | "CMD-SHELL" | "NONE") {
                        return Err(
                            "healthcheck.test as a list must start with CMD, CMD-SHELL or NONE"
                                .into(),
                        );
                    }
                }
            }
            "interval" => h.interval_ns = Some(duration_ns(&string(x)?)?),
            "timeout" => h.timeout_ns = Some(duration_ns(&string(x)?)?),
            "start_period" => h.start_period_ns = Some(duration_ns(&string(x)?)?),
            "start_interval" => {}
            "retries" => h.retries = Some(integer(x)?),
            o => return Err(format!("unsupported healthcheck option {o:?}")),
        }
    }
    Ok(Some(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn load_text(text: &str) -> Result<Project> {
        load_str(
            Path::new("/proj/myapp/docker-compose.yml"),
            text,
            env(&[("HOME", "/home/u"), ("TAG", "1.2")]),
            None,
        )
    }

    const GUIDE_V1: &str = r#"registry:
  restart: always
  image: registry:2
  ports:
    - 443:5000
  environment:
    REGISTRY_HTTP_ADDR: 0.0.0.0:5000
    REGISTRY_HTTP_HOST: https://registry.kis.im
    REGISTRY_HTTP_TLS_CERTIFICATE: /path/to/registry.crt
  volumes:
    - /path/data:/var/lib/registry
    - ./certs:/etc/certs:ro
"#;

    #[test]
    fn detects_formats() {
        let m = |t: &str| -> Mapping { serde_yaml_ng::from_str(t).unwrap() };
        assert_eq!(detect_format(&m("web: {image: x}")).unwrap(), Format::V1);
        assert_eq!(
            detect_format(&m("services: {web: {image: x}}")).unwrap(),
            Format::Spec
        );
        assert_eq!(detect_format(&m("volumes: {}")).unwrap(), Format::Spec);
        assert_eq!(
            detect_format(&m("version: '2.4'\nservices: {}")).unwrap(),
            Format::V2("2.4".into())
        );
        assert_eq!(
            detect_format(&m("version: 3\nservices: {}")).unwrap(),
            Format::V3("3".into())
        );
        assert_eq!(
            detect_format(&m("version: '3.8'\nservices: {}")).unwrap(),
            Format::V3("3.8".into())
        );
        assert!(detect_format(&m("version: '1'\nweb: {}"))
            .unwrap_err()
            .contains("invalid"));
        assert!(detect_format(&m("version: '4.0'")).is_err());
        // A mapping named version: a v1 service called "version".
        assert_eq!(
            detect_format(&m("version: {image: x}")).unwrap(),
            Format::V1
        );
    }

    #[test]
    fn v1_guide_file_converts() {
        let p = load_text(GUIDE_V1).unwrap();
        assert_eq!(p.format, Format::V1);
        assert_eq!(p.name, "myapp");
        let r = &p.services["registry"];
        assert_eq!(r.image.as_deref(), Some("registry:2"));
        assert_eq!(r.restart.as_deref(), Some("always"));
        assert_eq!(
            r.ports,
            vec![Port {
                host_ip: None,
                published: Some("443".into()),
                target: 5000,
                protocol: "tcp".into()
            }]
        );
        assert_eq!(r.environment["REGISTRY_HTTP_ADDR"], "0.0.0.0:5000");
        assert_eq!(r.volumes[0].kind, MountKind::Bind);
        assert_eq!(r.volumes[0].source.as_deref(), Some("/path/data"));
        assert_eq!(r.volumes[1].source.as_deref(), Some("/proj/myapp/certs"));
        assert!(r.volumes[1].read_only);
        assert_eq!(p.container_name(r, 1), "myapp_registry_1");
    }

    #[test]
    fn v1_identidock_links_and_build() {
        let t = "identidock:\n  build: .\n  ports:\n    - \"5000:5000\"\n  environment:\n    ENV: DEV\n  volumes:\n    - \"./app:/app\"\n  links:\n    - dnmonster\n    - redis:cache\n\ndnmonster:\n  image: amouat/dnmonster:1.0\nredis:\n  image: redis:alpine3.12\n";
        let p = load_text(t).unwrap();
        let s = &p.services["identidock"];
        assert_eq!(s.build.as_ref().unwrap().context, Path::new("/proj/myapp"));
        assert_eq!(
            s.links,
            vec![
                Link {
                    service: "dnmonster".into(),
                    alias: "dnmonster".into()
                },
                Link {
                    service: "redis".into(),
                    alias: "cache".into()
                }
            ]
        );
        assert_eq!(p.image_name(s), "myapp_identidock");
    }

    #[test]
    fn v1_is_strict() {
        let e = load_text("web:\n  image: x\n  depends_on: [db]\n  bogus: 1\ndb:\n  image: y\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/proj/myapp/docker-compose.yml:3"), "{e}");
        assert!(e.contains("\"web\""), "{e}");
        assert!(e.contains("depends_on, bogus"), "{e}");
        // `services:` makes it the spec, where depends_on is fine.
        load_text("services:\n  web:\n    image: x\n    depends_on: [db]\n  db:\n    image: y\n")
            .unwrap();
        // v1 neither image nor build.
        let e = load_text("web:\n  restart: always\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("neither an image nor a build"), "{e}");
    }

    #[test]
    fn field_errors_name_file_service_field_and_line() {
        let t = "version: '3.8'\nservices:\n  web:\n    image: x\n    ports:\n      - 'abc:80'\n";
        let e = load_text(t).unwrap_err();
        match &e {
            ComposeError::Field {
                at, service, field, ..
            } => {
                assert_eq!(at.line, Some(5));
                assert_eq!(service, "web");
                assert_eq!(field, "ports");
            }
            o => panic!("{o:?}"),
        }
        let s = e.to_string();
        assert!(
            s.starts_with("/proj/myapp/docker-compose.yml:5: service \"web\", field \"ports\""),
            "{s}"
        );
        // Bad YAML: the library's line.
        let e = load_text("services:\n  web:\n    image: [x\n").unwrap_err();
        assert!(
            matches!(
                e,
                ComposeError::Yaml {
                    at: Where { line: Some(_), .. },
                    ..
                }
            ),
            "{e:?}"
        );
        // Undeclared named volume in v3.
        let e = load_text(
            "version: '3'\nservices:\n  db:\n    image: x\n    volumes:\n      - data:/d\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("field \"volumes\"") && e.contains("not declared"),
            "{e}"
        );
        // Bad restart policy.
        let e = load_text("web:\n  image: x\n  restart: sometimes\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":3:") && e.contains("restart"), "{e}");
        // Unknown top-level key in a spec file.
        let e = load_text("services: {}\nweb: {image: x}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2:") && e.contains("\"web\""), "{e}");
    }

    #[test]
    fn interpolation_in_files() {
        let t = "web:\n  image: \"busybox:${TAG}\"\n  command: echo $${HOME} ${NOPE:-fallback}\n  environment:\n    - HOME\n    - UNSET_X\n";
        let p = load_text(t).unwrap();
        let s = &p.services["web"];
        assert_eq!(s.image.as_deref(), Some("busybox:1.2"));
        assert_eq!(
            s.command.as_deref().unwrap(),
            ["echo", "${HOME}", "fallback"]
        );
        assert_eq!(
            s.environment.get("HOME").map(String::as_str),
            Some("/home/u")
        );
        assert!(!s.environment.contains_key("UNSET_X"));
        let e = load_text("web:\n  image: \"${IMG:?set IMG}\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("web.image") && e.contains("set IMG"), "{e}");
    }

    #[test]
    fn dotenv_env_file_and_project_name() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("My Project.X");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join(".env"), "TAG=9\nGREETING=hello\n").unwrap();
        std::fs::write(
            dir.join("web.env"),
            "FROM_FILE=1\nGREETING=overridden-below\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("compose.yaml"),
            "services:\n  web:\n    image: b:${TAG}\n    env_file: web.env\n    environment:\n      GREETING: ${GREETING}\n    volumes: [data:/data, /anon]\nvolumes:\n  data: {}\n",
        )
        .unwrap();
        let opts = LoadOptions {
            cwd: Some(dir.clone()),
            env: Some(HashMap::new()),
            ..Default::default()
        };
        let p = load(&opts).unwrap();
        assert_eq!(p.name, "myprojectx");
        assert_eq!(p.format, Format::Spec);
        let s = &p.services["web"];
        assert_eq!(s.image.as_deref(), Some("b:9"));
        assert_eq!(s.environment["FROM_FILE"], "1");
        assert_eq!(s.environment["GREETING"], "hello");
        assert_eq!(p.volume_name("data"), "myprojectx_data");
        assert_eq!(s.volumes[1].source, None);
        // The process environment beats .env; COMPOSE_PROJECT_NAME names the project.
        let opts = LoadOptions {
            cwd: Some(dir.clone()),
            env: Some(env(&[("TAG", "10"), ("COMPOSE_PROJECT_NAME", "Other")])),
            ..Default::default()
        };
        let p = load(&opts).unwrap();
        assert_eq!(p.name, "other");
        assert_eq!(p.services["web"].image.as_deref(), Some("b:10"));
        // -p wins; an invalid one is refused.
        let mut o = opts.clone();
        o.project_name = Some("bad name".into());
        assert!(matches!(load(&o), Err(ComposeError::ProjectName(_))));
        // A missing env_file is an error naming the field.
        std::fs::remove_file(dir.join("web.env")).unwrap();
        let e = load(&opts).unwrap_err().to_string();
        assert!(e.contains("env_file") && e.contains("web.env"), "{e}");
    }

    #[test]
    fn compose_file_variable() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.yml"), "web:\n  image: a\n").unwrap();
        std::fs::write(d.path().join("b.yml"), "web:\n  image: b\n").unwrap();
        let p = load(&LoadOptions {
            cwd: Some(d.path().to_path_buf()),
            env: Some(env(&[("COMPOSE_FILE", "a.yml:b.yml")])),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(p.services["web"].image.as_deref(), Some("b"));
        assert_eq!(p.config_files.len(), 2);
        let e = load(&LoadOptions {
            cwd: Some(d.path().to_path_buf()),
            env: Some(HashMap::new()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(e, ComposeError::NoFile { .. }), "{e}");
    }

    #[test]
    fn override_files_merge() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("docker-compose.yml"),
            "web:\n  image: a\n  environment: {A: '1'}\n  ports: ['80']\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("docker-compose.override.yml"),
            "web:\n  image: b\n  environment: {B: '2'}\n  ports: ['81']\n",
        )
        .unwrap();
        let p = load(&LoadOptions {
            cwd: Some(d.path().to_path_buf()),
            env: Some(HashMap::new()),
            ..Default::default()
        })
        .unwrap();
        let s = &p.services["web"];
        assert_eq!(s.image.as_deref(), Some("b"));
        assert_eq!(s.environment.len(), 2);
        assert_eq!(s.ports.len(), 2);
        assert_eq!(p.config_files.len(), 2);
    }

    #[test]
    fn extends_in_the_same_file() {
        let t = "services:\n  base:\n    image: busybox\n    command: [sleep, '1']\n    environment: {A: '1', B: '2'}\n    labels: [tier=base]\n    ports: ['80']\n  web:\n    extends: base\n    command: [sleep, '2']\n    environment: [B=3, C=4]\n    ports: ['81']\n  deep:\n    extends: {service: web}\n    labels: {extra: x}\n";
        let p = load_text(t).unwrap();
        let w = &p.services["web"];
        assert_eq!(w.image.as_deref(), Some("busybox"));
        assert_eq!(w.command.as_deref().unwrap(), ["sleep", "2"]);
        let env: Vec<(&str, &str)> = w
            .environment
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(env, [("A", "1"), ("B", "3"), ("C", "4")]);
        assert_eq!(w.ports.len(), 2);
        let d = &p.services["deep"];
        assert_eq!(d.command.as_deref().unwrap(), ["sleep", "2"]);
        assert_eq!(d.labels.len(), 2);
        assert_eq!(d.environment.len(), 3);
        // The base itself is unchanged.
        assert_eq!(
            p.services["base"].command.as_deref().unwrap(),
            ["sleep", "1"]
        );
    }

    #[test]
    fn extends_across_files_resolves_paths_there() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("proj");
        std::fs::create_dir_all(root.join("common/conf")).unwrap();
        std::fs::write(root.join("common/base.env"), "FROM_BASE=1\n").unwrap();
        std::fs::write(
            root.join("common/base.yml"),
            "services:\n  app:\n    image: busybox:${TAG}\n    env_file: base.env\n    volumes: ['./conf:/conf:ro']\n    build: {context: ., dockerfile: Dev}\n    entrypoint: [sh, -c]\n  root:\n    extends: app\n    user: root\n",
        )
        .unwrap();
        std::fs::write(
            root.join("compose.yaml"),
            "services:\n  web:\n    extends:\n      file: common/base.yml\n      service: root\n    volumes: ['./data:/data']\n    entrypoint: [bash]\n",
        )
        .unwrap();
        let p = load(&LoadOptions {
            cwd: Some(root.clone()),
            env: Some(env(&[("TAG", "7")])),
            ..Default::default()
        })
        .unwrap();
        let w = &p.services["web"];
        assert_eq!(w.image.as_deref(), Some("busybox:7"));
        assert_eq!(w.user.as_deref(), Some("root"));
        assert_eq!(w.environment["FROM_BASE"], "1");
        assert_eq!(w.entrypoint.as_deref().unwrap(), ["bash"]);
        let srcs: Vec<String> = w
            .volumes
            .iter()
            .map(|m| m.source.clone().unwrap())
            .collect();
        assert_eq!(
            srcs,
            [
                root.join("common/conf").to_string_lossy().into_owned(),
                root.join("data").to_string_lossy().into_owned()
            ]
        );
        let b = w.build.as_ref().unwrap();
        assert_eq!(b.context, root.join("common"));
        assert_eq!(b.dockerfile, "Dev");
        // Only the file's own services are in the project.
        assert_eq!(p.services.len(), 1);
    }

    #[test]
    fn extends_errors() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        let run = |main: &str| {
            std::fs::write(dir.join("compose.yaml"), main).unwrap();
            load(&LoadOptions {
                cwd: Some(dir.to_path_buf()),
                env: Some(HashMap::new()),
                ..Default::default()
            })
            .unwrap_err()
        };
        // A cycle across two files names the chain.
        std::fs::write(
            dir.join("other.yml"),
            "services:\n  b:\n    extends: {file: compose.yaml, service: a}\n",
        )
        .unwrap();
        let e = run("services:\n  a:\n    extends: {file: other.yml, service: b}\n");
        let s = e.to_string();
        let f = dir.join("compose.yaml");
        let o = dir.join("other.yml");
        assert!(
            s.contains(&format!(
                "service \"a\", field \"extends\": circular reference: a in {} extends b in {} extends a in {}",
                f.display(),
                o.display(),
                f.display()
            )),
            "{s}"
        );
        // Same file.
        let s = run("services:\n  a:\n    extends: b\n  b:\n    extends: a\n").to_string();
        assert!(s.contains("circular reference: a in"), "{s}");
        // Missing service, missing file: file, service, key.
        let s = run("services:\n  a:\n    image: x\n    extends: nope\n").to_string();
        assert!(
            s.starts_with(&format!(
                "{}:4: service \"a\", field \"extends\"",
                f.display()
            )) && s.contains("service \"nope\" not found"),
            "{s}"
        );
        let s = run("services:\n  a:\n    extends: {file: gone.yml, service: x}\n").to_string();
        assert!(
            s.contains("field \"extends\"") && s.contains("gone.yml"),
            "{s}"
        );
        // A bad field inherited from the other file is reported there.
        std::fs::write(
            dir.join("other.yml"),
            "services:\n  b:\n    image: x\n    restart: sometimes\n",
        )
        .unwrap();
        let s = run("services:\n  a:\n    extends: {file: other.yml, service: b}\n").to_string();
        assert!(
            s.starts_with(&format!(
                "{}:4: service \"a\", field \"restart\"",
                o.display()
            )) && s.contains("inherited through extends from service \"b\""),
            "{s}"
        );
    }

    #[test]
    fn scale_and_replicas() {
        let p = load_text(
            "services:\n  a:\n    image: x\n    scale: 3\n  b:\n    image: x\n    deploy: {replicas: 2, resources: {}}\n  c:\n    image: x\n    scale: 2\n    deploy: {replicas: 2}\n  d:\n    image: x\n    container_name: only\n    scale: 1\n  e:\n    image: x\n",
        )
        .unwrap();
        let n: Vec<u32> = p.services.values().map(|s| s.replicas()).collect();
        assert_eq!(n, [3, 2, 2, 1, 1]);
        let e = load_text(
            "services:\n  a:\n    image: x\n    scale: 2\n    deploy:\n      replicas: 3\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(":4: service \"a\", field \"scale\"") && e.contains("distinct"),
            "{e}"
        );
        let e = load_text("services:\n  a:\n    image: x\n    container_name: fixed\n    deploy:\n      replicas: 3\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":5: service \"a\", field \"deploy.replicas\"")
                && e.contains("container_name"),
            "{e}"
        );
        let e = load_text("services:\n  a:\n    image: x\n    scale: -1\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("field \"scale\"") && e.contains("greater than or equal to 0"),
            "{e}"
        );
    }

    #[test]
    fn overrides_follow_compose_v2_merge_rules() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("compose.yaml"),
            "services:\n  web:\n    image: a\n    command: [a, b]\n    environment: [A=1]\n    volumes: ['./x:/data']\n    depends_on: [db]\n  db:\n    image: d\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("compose.override.yaml"),
            "services:\n  web:\n    command: [c]\n    environment: {A: '2', B: '3'}\n    volumes: ['./y:/data:ro']\n    depends_on: {db: {condition: service_healthy}}\n",
        )
        .unwrap();
        let p = load(&LoadOptions {
            cwd: Some(d.path().to_path_buf()),
            env: Some(HashMap::new()),
            ..Default::default()
        })
        .unwrap();
        let w = &p.services["web"];
        assert_eq!(w.command.as_deref().unwrap(), ["c"]);
        assert_eq!(w.environment["A"], "2");
        assert_eq!(w.environment["B"], "3");
        assert_eq!(w.volumes.len(), 1);
        assert!(w.volumes[0].read_only);
        assert_eq!(w.depends_on["db"], DependsCondition::ServiceHealthy);
    }

    #[test]
    fn short_syntaxes() {
        let p = short_port("127.0.0.1:8000-8001:80-81/udp").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].published.as_deref(), Some("8001"));
        assert_eq!(p[1].target, 81);
        assert_eq!(p[1].host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(p[1].protocol, "udp");
        assert_eq!(short_port("80").unwrap()[0].published, None);
        assert_eq!(
            short_port("127.0.0.1::80").unwrap()[0].host_ip.as_deref(),
            Some("127.0.0.1")
        );
        assert!(short_port("80/xyz").is_err());
        assert!(short_port("1-3:1-2").is_err());
        assert_eq!(duration_ns("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(duration_ns("500ms").unwrap(), 500_000_000);
        assert_eq!(duration_ns("10").unwrap(), 10_000_000_000);
        assert!(duration_ns("10x").is_err());
        assert_eq!(bytes(&Value::String("512m".into())).unwrap(), 512 << 20);
        assert_eq!(bytes(&Value::String("1gb".into())).unwrap(), 1 << 30);
        assert_eq!(normalize_project_name("_My.App-1"), "myapp-1");
    }

    #[test]
    fn spec_service_fields() {
        let t = r#"
name: demo
services:
  web:
    image: busybox
    entrypoint: ["sh", "-c"]
    command: "echo 'a b'"
    networks:
      front:
        aliases: [www]
    healthcheck:
      test: wget -q -O- localhost
      interval: 5s
      retries: 3
    extra_hosts: {db.local: 10.0.0.1}
    tmpfs: /run
    mem_limit: 64m
    labels: [a=b]
    depends_on:
      db: {condition: service_healthy}
  db:
    image: busybox
    network_mode: none
networks:
  front: {}
"#;
        let p = load_text(t).unwrap();
        assert_eq!(p.name, "demo");
        let w = &p.services["web"];
        assert_eq!(w.command.as_deref().unwrap(), ["echo", "a b"]);
        assert_eq!(w.networks["front"].aliases, ["www"]);
        let h = w.healthcheck.as_ref().unwrap();
        assert_eq!(h.test, ["CMD-SHELL", "wget -q -O- localhost"]);
        assert_eq!(h.interval_ns, Some(5_000_000_000));
        assert_eq!(w.extra_hosts, ["db.local:10.0.0.1"]);
        assert_eq!(w.tmpfs, ["/run"]);
        assert_eq!(w.mem_limit, Some(64 << 20));
        assert_eq!(w.labels["a"], "b");
        assert_eq!(w.depends_on["db"], DependsCondition::ServiceHealthy);
        assert_eq!(p.network_name("front"), "demo_front");
        // Undeclared network.
        let e = load_text("services:\n  web:\n    image: x\n    networks: [back]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("undefined network"), "{e}");
    }

    /// The error of loading one service `web` with `fields` (YAML lines, indented 4).
    fn field_err(fields: &str) -> String {
        let t = format!("services:\n  web:\n    image: busybox\n{fields}");
        match load_text(&t) {
            Ok(_) => panic!("accepted:\n{t}"),
            Err(e) => e.to_string(),
        }
    }

    fn web(fields: &str) -> Service {
        let t = format!("services:\n  web:\n    image: busybox\n{fields}");
        let mut p = load_text(&t).unwrap_or_else(|e| panic!("{e}\n{t}"));
        p.services.remove("web").expect("web")
    }

    #[test]
    fn ulimits_short_and_long() {
        let w = web("    ulimits:\n      nofile: {soft: 1024, hard: 2048}\n      nproc: 65535\n      core: \"-1\"\n");
        assert_eq!(
            w.ulimits["nofile"],
            Ulimit {
                soft: 1024,
                hard: 2048
            }
        );
        assert_eq!(
            w.ulimits["nproc"],
            Ulimit {
                soft: 65535,
                hard: 65535
            }
        );
        assert_eq!(w.ulimits["core"], Ulimit { soft: -1, hard: -1 });
        // Strings (after interpolation) are numbers too.
        let w = web("    ulimits:\n      nofile: {soft: \"10\", hard: \"20\"}\n");
        assert_eq!(w.ulimits["nofile"], Ulimit { soft: 10, hard: 20 });
        for (bad, want) in [
            (
                "    ulimits:\n      nofile: lots\n",
                "nofile must be an integer",
            ),
            (
                "    ulimits:\n      nofiles: 10\n",
                "invalid ulimit type \"nofiles\"",
            ),
            (
                "    ulimits:\n      nofile: {soft: 10}\n",
                "nofile: hard is required",
            ),
            (
                "    ulimits:\n      nofile: {soft: 10, hard: 5}\n",
                "soft limit must be less than or equal to hard limit: 10 > 5",
            ),
            (
                "    ulimits:\n      nofile: {soft: 1, hard: 2, max: 3}\n",
                "unsupported option \"max\"",
            ),
            (
                "    ulimits:\n      nofile: -2\n",
                "must be -1 (unlimited) or more",
            ),
            ("    ulimits: [nofile=1]\n", "must be a mapping"),
        ] {
            let e = field_err(bad);
            assert!(
                e.contains("docker-compose.yml:4: service \"web\", field \"ulimits\""),
                "{e}"
            );
            assert!(e.contains(want), "{bad}: {e}");
        }
        // -1 is unlimited: the largest hard limit.
        let w = web("    ulimits:\n      nofile: {soft: 10, hard: -1}\n");
        assert_eq!(w.ulimits["nofile"].hard, -1);
        assert!(
            field_err("    ulimits:\n      nofile: {soft: -1, hard: 10}\n").contains("-1 > 10")
        );
    }

    #[test]
    fn devices_short_and_long() {
        let w = web(
            "    devices:\n      - /dev/zero\n      - /dev/zero:/dev/myzero\n      - /dev/null:/dev/n:r\n      - {source: /dev/fuse}\n      - {source: /dev/kvm, target: /dev/k, permissions: rw}\n",
        );
        let d = |s: &str, t: &str, p: &str| Device {
            source: s.into(),
            target: t.into(),
            permissions: p.into(),
        };
        assert_eq!(
            w.devices,
            [
                d("/dev/zero", "/dev/zero", "rwm"),
                d("/dev/zero", "/dev/myzero", "rwm"),
                d("/dev/null", "/dev/n", "r"),
                d("/dev/fuse", "/dev/fuse", "rwm"),
                d("/dev/kvm", "/dev/k", "rw"),
            ]
        );
        for (bad, want) in [
            (
                "    devices: [\"/a:/b:rw:x\"]\n",
                "confusing device mapping",
            ),
            (
                "    devices: [\"/dev/a:/dev/b:rx\"]\n",
                "invalid device permissions \"rx\"",
            ),
            (
                "    devices: [\"nvidia.com/gpu=all\"]\n",
                "must be absolute",
            ),
            (
                "    devices: [\"/dev/a:dev/b\"]\n",
                "\"dev/b\" must be absolute",
            ),
            ("    devices: [{target: /dev/b}]\n", "needs a source"),
            (
                "    devices: [{source: /dev/a, mode: r}]\n",
                "unsupported device option \"mode\"",
            ),
            ("    devices: /dev/zero\n", "must be a list"),
        ] {
            let e = field_err(bad);
            assert!(e.contains("service \"web\", field \"devices\""), "{e}");
            assert!(e.contains(want), "{bad}: {e}");
        }
        // Overrides replace a device by its target (compose-go's unicity).
        let mut base: Mapping =
            serde_yaml_ng::from_str("devices: [\"/dev/zero:/dev/x\", /dev/null]").unwrap();
        let over: Mapping = serde_yaml_ng::from_str("devices: [\"/dev/full:/dev/x\"]").unwrap();
        base = merge::merge_service(base, over).unwrap();
        merge::enforce_unicity(&mut base);
        assert_eq!(devices(&base["devices"]).unwrap().len(), 2);
    }

    #[test]
    fn cpu_and_memory_keys() {
        let w = web("    cpus: 0.5\n    cpu_period: 100000\n    cpu_quota: \"50000\"\n    cpuset: 0-1,3\n    mem_reservation: 32m\n    memswap_limit: -1\n");
        assert_eq!(w.nano_cpus, Some(500_000_000));
        assert_eq!(w.cpu_period, Some(100_000));
        assert_eq!(w.cpu_quota, Some(50_000));
        assert_eq!(w.cpuset.as_deref(), Some("0-1,3"));
        assert_eq!(w.mem_reservation, Some(32 << 20));
        assert_eq!(w.memswap_limit, Some(-1));
        let w = web("    cpus: \"1.5\"\n    memswap_limit: 1g\n");
        assert_eq!(w.nano_cpus, Some(1_500_000_000));
        assert_eq!(w.memswap_limit, Some(1 << 30));
        assert_eq!(web("    cpus: 2\n").nano_cpus, Some(2_000_000_000));
        assert_eq!(web("    cpus: 0.01\n").nano_cpus, Some(10_000_000));
        assert_eq!(web("    cpus: 0\n").nano_cpus, None);
        assert_eq!(web("    memswap_limit: \"-1\"\n").memswap_limit, Some(-1));
        for (bad, field, want) in [
            (
                "    cpus: many\n",
                "cpus",
                "must be a number of CPUs, not \"many\"",
            ),
            ("    cpus: -1\n", "cpus", "must be a number of CPUs, not -1"),
            (
                "    cpus: [1]\n",
                "cpus",
                "must be a number of CPUs, not a list",
            ),
            ("    cpu_period: 1s\n", "cpu_period", "must be an integer"),
            (
                "    cpu_period: -5\n",
                "cpu_period",
                "greater than or equal to 0",
            ),
            ("    cpu_quota: lots\n", "cpu_quota", "must be an integer"),
            ("    cpuset: 0-a\n", "cpuset", "invalid CPU set \"0-a\""),
            ("    cpuset: 3-1\n", "cpuset", "invalid CPU set"),
            ("    cpuset: \"\"\n", "cpuset", "invalid CPU set"),
            (
                "    mem_reservation: 12q\n",
                "mem_reservation",
                "invalid size",
            ),
            (
                "    mem_reservation: -3\n",
                "mem_reservation",
                "must not be negative",
            ),
            (
                "    memswap_limit: -2\n",
                "memswap_limit",
                "or -1 for unlimited swap",
            ),
            ("    memswap_limit: lots\n", "memswap_limit", "invalid size"),
        ] {
            let e = field_err(bad);
            assert!(
                e.contains(&format!("service \"web\", field \"{field}\"")),
                "{e}"
            );
            assert!(e.contains(want), "{bad}: {e}");
        }
    }

    #[test]
    fn deploy_resources() {
        let w = web("    deploy:\n      resources:\n        limits: {cpus: \"0.25\", memory: 64m, pids: 50}\n        reservations: {memory: 16m, cpus: \"0.1\"}\n");
        assert_eq!(w.nano_cpus, Some(250_000_000));
        assert_eq!(w.mem_limit, Some(64 << 20));
        assert_eq!(w.pids_limit, Some(50));
        assert_eq!(w.mem_reservation, Some(16 << 20));
        // The same value at both places is fine.
        let w = web("    cpus: 0.5\n    deploy: {resources: {limits: {cpus: 0.5}}}\n");
        assert_eq!(w.nano_cpus, Some(500_000_000));
        // And the result hashes as if written at the service level.
        assert_eq!(w.config_hash(), web("    cpus: 0.5\n").config_hash());
        for (bad, field, want) in [
            (
                "    cpus: 1\n    deploy: {resources: {limits: {cpus: 0.5}}}\n",
                "cpus",
                "can't set distinct values on 'cpus' and 'deploy.resources.limits.cpus'",
            ),
            (
                "    mem_limit: 1g\n    deploy: {resources: {limits: {memory: 2g}}}\n",
                "mem_limit",
                "'mem_limit' and 'deploy.resources.limits.memory'",
            ),
            (
                "    pids_limit: 5\n    deploy: {resources: {limits: {pids: 6}}}\n",
                "pids_limit",
                "'pids_limit' and 'deploy.resources.limits.pids'",
            ),
            (
                "    mem_reservation: 1m\n    deploy: {resources: {reservations: {memory: 2m}}}\n",
                "mem_reservation",
                "'mem_reservation' and 'deploy.resources.reservations.memory'",
            ),
            (
                "    deploy: {resources: {limits: {memory: lots}}}\n",
                "deploy",
                "resources.limits.memory invalid size",
            ),
            (
                "    deploy: {resources: {limits: {cpus: x}}}\n",
                "deploy",
                "resources.limits.cpus must be a number of CPUs",
            ),
            (
                "    deploy: {resources: {limits: {disk: 1}}}\n",
                "deploy",
                "unsupported option \"resources.limits.disk\"",
            ),
            (
                "    deploy: {resources: {quotas: {}}}\n",
                "deploy",
                "unsupported option \"resources.quotas\"",
            ),
            (
                "    deploy: {resources: {limits: 1}}\n",
                "deploy",
                "resources.limits must be a mapping",
            ),
        ] {
            let e = field_err(bad);
            assert!(
                e.contains(&format!("service \"web\", field \"{field}\"")),
                "{e}"
            );
            assert!(e.contains(want), "{bad}: {e}");
        }
    }

    #[test]
    fn uts_and_group_add() {
        let w = web("    uts: host\n    group_add: [audio, 1234]\n    pid: host\n    ipc: host\n    shm_size: 128m\n");
        assert_eq!(w.uts.as_deref(), Some("host"));
        assert_eq!(w.group_add, ["audio", "1234"]);
        assert_eq!(w.pid.as_deref(), Some("host"));
        assert_eq!(w.ipc.as_deref(), Some("host"));
        assert_eq!(w.shm_size, Some(128 << 20));
        for (bad, field, want) in [
            ("    uts: private\n", "uts", "invalid UTS mode \"private\""),
            ("    uts: [host]\n", "uts", "must be a string"),
            ("    group_add: audio\n", "group_add", "must be a list"),
            (
                "    group_add: [audio, audio]\n",
                "group_add",
                "\"audio\" is listed twice",
            ),
            ("    group_add: [\"\"]\n", "group_add", "must not be empty"),
        ] {
            let e = field_err(bad);
            assert!(
                e.contains(&format!("service \"web\", field \"{field}\"")),
                "{e}"
            );
            assert!(e.contains(want), "{bad}: {e}");
        }
    }

    #[test]
    fn new_keys_change_the_config_hash() {
        let base = web("").config_hash();
        for f in [
            "    ulimits: {nofile: 1024}\n",
            "    devices: [/dev/zero]\n",
            "    cpus: 0.5\n",
            "    cpu_period: 100000\n",
            "    cpu_quota: 50000\n",
            "    cpuset: \"0\"\n",
            "    mem_reservation: 1m\n",
            "    memswap_limit: -1\n",
            "    uts: host\n",
            "    group_add: [audio]\n",
        ] {
            assert_ne!(web(f).config_hash(), base, "{f}");
        }
        assert_ne!(
            web("    ulimits: {nofile: 1024}\n").config_hash(),
            web("    ulimits: {nofile: 2048}\n").config_hash()
        );
        // None of them is ignored any more: no warning, no entry in IGNORED.
        for k in [
            "ulimits",
            "devices",
            "cpus",
            "cpu_period",
            "cpu_quota",
            "cpuset",
            "mem_reservation",
            "memswap_limit",
            "uts",
            "group_add",
        ] {
            assert!(!IGNORED.contains(&k), "{k}");
        }
    }
}
