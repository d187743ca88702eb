//! Build arguments: ARG scoping, `--build-arg` overrides and the unused-arg warning.
//!
//! A port of moby `daemon/builder/dockerfile/buildargs.go` (the legacy builder):
//! global ARGs (before the first FROM) are *meta* args, usable in FROM lines and as
//! the default of a stage's value-less `ARG NAME`; stage ARGs are visible from their
//! line to the end of their stage only (each stage starts with none allowed); a
//! `--build-arg` overrides any default; the predefined proxy args (`HTTP_PROXY`, …)
//! are usable without being declared but kept out of RUN history and cache unless
//! declared. Like BuildKit, the automatic platform args (`TARGETPLATFORM`,
//! `BUILDPLATFORM`, `TARGETOS`, …) are global defaults.

use std::collections::{BTreeMap, BTreeSet};

/// The proxy variables every build accepts without an ARG line.
pub const BUILTIN_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Is `key` one of the predefined proxy args?
pub fn is_builtin(key: &str) -> bool {
    BUILTIN_ARGS.contains(&key)
}

/// The automatic platform args for an OS/architecture/variant (target = build here).
pub fn platform_args(os: &str, arch: &str, variant: &str) -> Vec<(String, String)> {
    let platform = if variant.is_empty() {
        format!("{os}/{arch}")
    } else {
        format!("{os}/{arch}/{variant}")
    };
    let mut v = Vec::new();
    for prefix in ["TARGET", "BUILD"] {
        v.push((format!("{prefix}PLATFORM"), platform.clone()));
        v.push((format!("{prefix}OS"), os.to_string()));
        v.push((format!("{prefix}ARCH"), arch.to_string()));
        v.push((format!("{prefix}VARIANT"), variant.to_string()));
    }
    v
}

/// Build-argument state of one build (global) or one stage (after [`BuildArgs::for_stage`]).
#[derive(Debug, Clone, Default)]
pub struct BuildArgs {
    allowed: BTreeMap<String, Option<String>>,
    meta: BTreeMap<String, Option<String>>,
    referenced: BTreeSet<String>,
    options: BTreeMap<String, Option<String>>,
}

impl BuildArgs {
    /// `options` are the `--build-arg` values (`None` for a name given without a value
    /// that the client could not resolve).
    pub fn new(options: BTreeMap<String, Option<String>>) -> BuildArgs {
        BuildArgs {
            options,
            ..Default::default()
        }
    }

    /// Adds the automatic platform args as global defaults.
    pub fn with_platform(mut self, os: &str, arch: &str, variant: &str) -> BuildArgs {
        for (k, v) in platform_args(os, arch, variant) {
            self.meta.insert(k, Some(v));
        }
        self
    }

    /// A copy for a new stage: same meta args and options, no stage ARGs allowed yet.
    pub fn for_stage(&self) -> BuildArgs {
        let mut c = self.clone();
        c.allowed.clear();
        c
    }

    /// Records the names a finished stage declared (for the unused-arg warning).
    pub fn merge_referenced(&mut self, other: &BuildArgs) {
        self.referenced.extend(other.referenced.iter().cloned());
    }

    /// A global (before FROM) ARG.
    pub fn add_meta_arg(&mut self, key: &str, value: Option<String>) {
        self.allowed.insert(key.to_string(), value.clone());
        self.referenced.insert(key.to_string());
        self.meta.insert(key.to_string(), value);
    }

    /// A stage ARG.
    pub fn add_arg(&mut self, key: &str, value: Option<String>) {
        self.allowed.insert(key.to_string(), value);
        self.referenced.insert(key.to_string());
    }

    fn get(&self, key: &str, mapping: &BTreeMap<String, Option<String>>) -> Option<String> {
        if let Some(Some(v)) = self.options.get(key) {
            return Some(v.clone());
        }
        match mapping.get(key) {
            Some(Some(v)) => Some(v.clone()),
            _ => match self.meta.get(key) {
                Some(Some(v)) => Some(v.clone()),
                _ => None,
            },
        }
    }

    fn all_from(&self, mapping: &BTreeMap<String, Option<String>>) -> BTreeMap<String, String> {
        let mut keys: BTreeSet<&str> = mapping.keys().map(String::as_str).collect();
        keys.extend(BUILTIN_ARGS.iter().copied());
        keys.into_iter()
            .filter_map(|k| self.get(k, mapping).map(|v| (k.to_string(), v)))
            .collect()
    }

    /// Values of the args declared in this scope (plus given proxy args).
    pub fn all_allowed(&self) -> BTreeMap<String, String> {
        self.all_from(&self.allowed)
    }

    /// Values usable in FROM lines: the global args (plus given proxy args).
    pub fn all_meta(&self) -> BTreeMap<String, String> {
        self.all_from(&self.meta)
    }

    /// `KEY=VALUE` of the allowed args that ENV does not already set (ENV wins), sorted.
    pub fn filter_allowed(&self, env: &[String]) -> Vec<String> {
        let env_keys: BTreeSet<&str> = env
            .iter()
            .map(|e| e.split_once('=').map(|(k, _)| k).unwrap_or(e))
            .collect();
        self.all_allowed()
            .into_iter()
            .filter(|(k, _)| !env_keys.contains(k.as_str()))
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// Declared in this scope, or not a proxy arg: such args go into RUN history.
    pub fn is_referenced_or_not_builtin(&self, key: &str) -> bool {
        self.allowed.contains_key(key) || !is_builtin(key)
    }

    /// `--build-arg` names no ARG consumed (proxy args excluded), sorted.
    pub fn unused(&self) -> Vec<String> {
        self.options
            .keys()
            .filter(|k| !is_builtin(k) && !self.referenced.contains(*k))
            .cloned()
            .collect()
    }

    /// Docker's warning line for [`BuildArgs::unused`], if any.
    pub fn unused_warning(&self) -> Option<String> {
        let u = self.unused();
        (!u.is_empty()).then(|| {
            format!(
                "[Warning] One or more build-args [{}] were not consumed\n",
                u.join(" ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(p: &[(&str, &str)]) -> BTreeMap<String, Option<String>> {
        p.iter()
            .map(|(k, v)| (k.to_string(), Some(v.to_string())))
            .collect()
    }

    #[test]
    fn meta_args_need_redeclaring_in_stage() {
        let mut g = BuildArgs::new(opts(&[]));
        g.add_meta_arg("V", Some("1".into()));
        assert_eq!(g.all_meta().get("V").map(String::as_str), Some("1"));
        let mut s = g.for_stage();
        assert!(!s.all_allowed().contains_key("V"));
        s.add_arg("V", None);
        assert_eq!(s.all_allowed().get("V").map(String::as_str), Some("1"));
    }

    #[test]
    fn build_arg_overrides_and_env_wins() {
        let mut s = BuildArgs::new(opts(&[("A", "cli")])).for_stage();
        s.add_arg("A", Some("default".into()));
        s.add_arg("B", Some("b".into()));
        assert_eq!(s.filter_allowed(&[]), vec!["A=cli", "B=b"]);
        assert_eq!(s.filter_allowed(&["B=env".into()]), vec!["A=cli"]);
    }

    #[test]
    fn proxy_args_and_unused_warning() {
        let mut g = BuildArgs::new(opts(&[("HTTP_PROXY", "p"), ("X", "1"), ("Y", "2")]));
        let mut s = g.for_stage();
        assert_eq!(
            s.all_allowed().get("HTTP_PROXY").map(String::as_str),
            Some("p")
        );
        assert!(!s.is_referenced_or_not_builtin("HTTP_PROXY"));
        s.add_arg("X", None);
        g.merge_referenced(&s);
        assert_eq!(g.unused(), vec!["Y"]);
        assert_eq!(
            g.unused_warning().unwrap(),
            "[Warning] One or more build-args [Y] were not consumed\n"
        );
    }

    #[test]
    fn platform_args_are_global_defaults() {
        let g = BuildArgs::new(opts(&[])).with_platform("linux", "amd64", "");
        assert_eq!(
            g.all_meta().get("TARGETPLATFORM").map(String::as_str),
            Some("linux/amd64")
        );
        let mut s = g.for_stage();
        s.add_arg("TARGETARCH", None);
        assert_eq!(
            s.all_allowed().get("TARGETARCH").map(String::as_str),
            Some("amd64")
        );
    }
}
