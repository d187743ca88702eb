//! Image config evolution: what each instruction does to the image's run config, and
//! the history line Docker's legacy builder writes for it.
//!
//! A port of moby `daemon/builder/dockerfile/{dispatchers,internals,evaluator}.go`,
//! without the parts that need a container. [`StageState::dispatch`] substitutes
//! variables (with the ENV + allowed-ARG environment from *before* the instruction),
//! updates the [`RunConfig`] (Env, Cmd, Entrypoint with "ENTRYPOINT resets an
//! inherited CMD", WorkingDir relative to the previous one, User, ExposedPorts,
//! Volumes, Labels, StopSignal, Healthcheck, OnBuild, Shell) and returns a [`Step`]
//! telling the executor what remains to be done (nothing, mkdir for WORKDIR, run a
//! RUN, copy for COPY/ADD) with the exact `created_by` string Docker records
//! (`/bin/sh -c #(nop)  CMD ["sh"]`, `/bin/sh -c #(nop) WORKDIR /app`,
//! `|1 A=b /bin/sh -c echo`). [`child_config`] builds the next image config like
//! moby's `image.NewChildImage`.

use crate::args::BuildArgs;
use crate::duration::format_go_duration;
use crate::error::{Location, ParseError};
use crate::instructions::{Command, Instruction, SourceContent};
use crate::parser::{go_quote, go_quote_list, go_quote_rune};
use crate::paths;
use crate::shell_lex::{EnvList, Lex};
use berth_oci::{Digest, HistoryEntry, ImageConfig, RunConfig};
use std::collections::BTreeMap;

/// `PATH` a stage gets when its base image sets none (moby `oci.DefaultPathEnv`).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The default SHELL on Linux.
pub fn default_shell() -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into()]
}

/// What the executor still has to do for an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Only the config changed: commit (an empty layer) with this history line.
    Commit { created_by: String },
    /// WORKDIR: create `path` (mode 0755, like `mkdir -p`) if missing, then commit.
    Workdir { path: String, created_by: String },
    /// RUN in a container built from the current config.
    Run(RunStep),
    /// COPY or ADD.
    Copy(CopyStep),
}

/// Everything needed to run a RUN step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStep {
    /// The process to run (SHELL prepended for shell form).
    pub argv: Vec<String>,
    /// Env of the process: the config's Env plus the allowed build args.
    pub env: Vec<String>,
    /// The history line and cache command (`|N K=V … argv` when build args apply).
    pub created_by: String,
    pub cache_cmd: Vec<String>,
    /// Inline script files (path, content) to mount read-only (heredoc with `#!`).
    pub files: Vec<(String, String)>,
    /// `--network=` value if given (`default`, `none`, `host`).
    pub network: Option<String>,
}

/// Everything needed to perform a COPY/ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyStep {
    /// "COPY" or "ADD".
    pub keyword: &'static str,
    /// `--from=` (stage name, index or image), substituted.
    pub from: Option<String>,
    pub sources: Vec<String>,
    /// Heredoc sources.
    pub contents: Vec<SourceContent>,
    /// The destination as written (substituted): used in the history line.
    pub dest_raw: String,
    /// The destination made absolute against WORKDIR, trailing slash kept.
    pub dest: String,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    /// ADD: local archives are extracted.
    pub allow_decompress: bool,
    /// `--exclude` patterns.
    pub excludes: Vec<String>,
    /// ADD `--checksum=sha256:…` of a URL source.
    pub checksum: Option<String>,
    /// The SHELL in effect (history lines start with it).
    pub shell: Vec<String>,
}

impl RunStep {
    /// Docker's message for a RUN that exited non-zero:
    /// `The command '/bin/sh -c false' returned a non-zero code: 1`.
    pub fn failure_message(&self, code: i64) -> String {
        format!(
            "The command '{}' returned a non-zero code: {code}",
            self.argv.join(" ")
        )
    }
}

impl CopyStep {
    /// The legacy builder's history line once the source hash (see
    /// [`crate::checksum`]) is known: `/bin/sh -c #(nop) COPY file:… in /dst `.
    pub fn created_by(&self, src_hash: &str) -> String {
        // Docker 20.10 writes no space after the chown (newer engines do).
        let chown = match &self.chown {
            Some(c) => format!("--chown={c}"),
            None => String::new(),
        };
        format!(
            "{} #(nop) {} {}{} in {} ",
            self.shell.join(" "),
            self.keyword,
            chown,
            src_hash,
            self.dest_raw
        )
    }
}

/// The evolving state of one stage.
#[derive(Debug, Clone)]
pub struct StageState {
    pub config: RunConfig,
    /// Set by MAINTAINER; becomes the image and history author.
    pub author: Option<String>,
    /// CMD was set in this stage (then ENTRYPOINT keeps it).
    pub cmd_set: bool,
    pub args: BuildArgs,
    pub os: String,
    lex: Lex,
}

fn loc_err(loc: &Location, m: impl Into<String>) -> ParseError {
    ParseError {
        location: loc.clone(),
        message: m.into(),
    }
}

impl StageState {
    /// Starts a stage on `base` (None = `FROM scratch`) with the stage's build args
    /// (see [`BuildArgs::for_stage`]). Returns the state and the base image's ONBUILD
    /// triggers, which must be parsed with [`parse_trigger`] and dispatched first.
    pub fn begin(
        escape: char,
        base: Option<&ImageConfig>,
        args: BuildArgs,
    ) -> (StageState, Vec<String>) {
        let mut config = base.and_then(|b| b.config.clone()).unwrap_or_default();
        let env = config.env.get_or_insert_with(Vec::new);
        if !env.iter().any(|e| e.split('=').next() == Some("PATH")) {
            env.push(format!("PATH={DEFAULT_PATH}"));
        }
        config.extra.remove("OpenStdin");
        config.extra.remove("StdinOnce");
        let triggers = config.on_build.take().unwrap_or_default();
        let os = base
            .map(|b| b.os.clone())
            .filter(|o| !o.is_empty())
            .unwrap_or_else(|| "linux".into());
        (
            StageState {
                config,
                author: None,
                cmd_set: false,
                args,
                os,
                lex: Lex::new(escape),
            },
            triggers,
        )
    }

    /// The SHELL in effect.
    pub fn shell(&self) -> Vec<String> {
        match &self.config.shell {
            Some(s) if !s.is_empty() => s.clone(),
            _ => default_shell(),
        }
    }

    fn env(&self) -> Vec<String> {
        self.config.env.clone().unwrap_or_default()
    }

    /// The environment used for substitution: ENV, then allowed ARGs ENV doesn't set.
    pub fn substitution_env(&self) -> Vec<String> {
        let env = self.env();
        let mut all = env.clone();
        all.extend(self.args.filter_allowed(&env));
        all
    }

    fn comment(&self, text: &str) -> String {
        format!("{} #(nop)  {}", self.shell().join(" "), text)
    }

    /// Applies one instruction. See [`Step`] for what the caller does next.
    pub fn dispatch(&mut self, cmd: &Command) -> Result<Step, ParseError> {
        let loc = &cmd.location;
        let env = self.substitution_env();
        let mut ins = cmd.instruction.clone();
        let lex = self.lex.clone();
        ins.expand(&mut |w: &str| lex.process_word(w, &EnvList(&env)).map(|r| r.result))
            .map_err(|e| loc_err(loc, e.to_string()))?;
        let step = match ins {
            Instruction::Env(kvs) => {
                let mut msg = String::from("ENV");
                let envs = self.config.env.get_or_insert_with(Vec::new);
                for kv in kvs {
                    let new = format!("{}={}", kv.key, kv.value);
                    msg.push(' ');
                    msg.push_str(&new);
                    match envs
                        .iter_mut()
                        .find(|e| e.split('=').next() == Some(kv.key.as_str()))
                    {
                        Some(e) => *e = new,
                        None => envs.push(new),
                    }
                }
                Step::Commit {
                    created_by: self.comment(&msg),
                }
            }
            Instruction::Maintainer(m) => {
                self.author = Some(m.clone());
                Step::Commit {
                    created_by: self.comment(&format!("MAINTAINER {m}")),
                }
            }
            Instruction::Label(kvs) => {
                let mut msg = String::from("LABEL");
                let labels = self.config.labels.get_or_insert_with(BTreeMap::new);
                for kv in kvs {
                    msg.push_str(&format!(" {}={}", kv.key, kv.value));
                    labels.insert(kv.key, kv.value);
                }
                Step::Commit {
                    created_by: self.comment(&msg),
                }
            }
            Instruction::BuildLabel(kv) => {
                let labels = self.config.labels.get_or_insert_with(BTreeMap::new);
                let msg = format!("LABEL {}={}", kv.key, kv.value);
                labels.insert(kv.key, kv.value);
                Step::Commit {
                    created_by: self.comment(&msg),
                }
            }
            Instruction::Onbuild(expr) => {
                self.config
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(expr.clone());
                Step::Commit {
                    created_by: self.comment(&format!("ONBUILD {expr}")),
                }
            }
            Instruction::Workdir(p) => {
                if p.is_empty() {
                    return Err(loc_err(loc, "cannot normalize nothing"));
                }
                let cur = self.config.working_dir.clone().unwrap_or_default();
                let wd = if p.starts_with('/') {
                    paths::clean(&p)
                } else {
                    paths::join(&["/", &cur, &p])
                };
                self.config.working_dir = Some(wd.clone());
                Step::Workdir {
                    created_by: format!("{} #(nop) WORKDIR {wd}", self.shell().join(" ")),
                    path: wd,
                }
            }
            Instruction::Run(r) => {
                if let Some(f) = r.flags_used.iter().find(|f| *f != "network") {
                    return Err(loc_err(loc, format!("the --{f} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled")));
                }
                let (argv, files) = r.resolve(&self.shell());
                let env = self.env();
                let build_args = self.args.filter_allowed(&env);
                let mut cache_cmd = argv.clone();
                if !build_args.is_empty() {
                    let mut shown: Vec<String> = build_args
                        .iter()
                        .filter(|kv| {
                            let k = kv.split('=').next().unwrap_or("");
                            self.args.is_referenced_or_not_builtin(k)
                        })
                        .cloned()
                        .collect();
                    shown.sort();
                    let mut v = vec![format!("|{}", shown.len())];
                    v.extend(shown);
                    v.extend(argv.iter().cloned());
                    cache_cmd = v;
                }
                let mut full_env = env;
                full_env.extend(build_args);
                Step::Run(RunStep {
                    created_by: cache_cmd.join(" "),
                    cache_cmd,
                    argv,
                    env: full_env,
                    files,
                    network: Some(r.network).filter(|n| !n.is_empty()),
                })
            }
            Instruction::Cmd(c) => {
                let mut cmd_v = c.args.clone();
                if c.prepend_shell && !cmd_v.is_empty() {
                    let mut v = self.shell();
                    v.extend(cmd_v);
                    cmd_v = v;
                }
                let msg = format!("CMD {}", go_quote_list(&cmd_v));
                self.config.cmd = Some(cmd_v);
                self.config.args_escaped = None;
                if !c.args.is_empty() {
                    self.cmd_set = true;
                }
                Step::Commit {
                    created_by: self.comment(&msg),
                }
            }
            Instruction::Healthcheck(h) => {
                // Docker 20.10 (the daemon Debian ships, our differential oracle)
                // prints `%q` of the struct; newer engines print `%+v`.
                let msg = format!(
                    "HEALTHCHECK &{{{} {} {} {} {}}}",
                    go_quote_list(&h.test),
                    go_quote(&format_go_duration(h.interval)),
                    go_quote(&format_go_duration(h.timeout)),
                    go_quote(&format_go_duration(h.start_period)),
                    go_quote_rune(h.retries)
                );
                self.config.healthcheck = Some(h.to_json());
                Step::Commit {
                    created_by: self.comment(&msg),
                }
            }
            Instruction::Entrypoint(c) => {
                let ep = if c.args.is_empty() {
                    None
                } else if c.prepend_shell {
                    let mut v = self.shell();
                    v.extend(c.args.clone());
                    Some(v)
                } else {
                    Some(c.args.clone())
                };
                let msg = format!("ENTRYPOINT {}", go_quote_list(ep.as_deref().unwrap_or(&[])));
                self.config.entrypoint = ep;
                self.config.args_escaped = None;
                if !self.cmd_set {
                    self.config.cmd = None;
                }
                Step::Commit {
                    created_by: self.comment(&msg),
                }
            }
            Instruction::Expose(ports) => {
                let mut expanded = Vec::new();
                for p in &ports {
                    let words = self
                        .lex
                        .process_words(p, &EnvList(&env))
                        .map_err(|e| loc_err(loc, e.to_string()))?;
                    expanded.extend(words);
                }
                let keys = parse_port_specs(&expanded).map_err(|m| loc_err(loc, m))?;
                let map = self.config.exposed_ports.get_or_insert_with(BTreeMap::new);
                for k in keys {
                    map.insert(k, serde_json::json!({}));
                }
                Step::Commit {
                    created_by: self.comment(&format!("EXPOSE {}", expanded.join(" "))),
                }
            }
            Instruction::User(u) => {
                self.config.user = Some(u.clone());
                Step::Commit {
                    created_by: self.comment(&format!("USER {u}")),
                }
            }
            Instruction::Volume(vols) => {
                let map = self.config.volumes.get_or_insert_with(BTreeMap::new);
                for v in &vols {
                    if v.is_empty() {
                        return Err(loc_err(loc, "VOLUME specified can not be an empty string"));
                    }
                    map.insert(v.clone(), serde_json::json!({}));
                }
                Step::Commit {
                    created_by: self.comment(&format!("VOLUME [{}]", vols.join(" "))),
                }
            }
            Instruction::StopSignal(s) => {
                if !valid_signal(&s) {
                    return Err(loc_err(loc, format!("Invalid signal: {s}")));
                }
                self.config.stop_signal = Some(s.clone());
                Step::Commit {
                    created_by: self.comment(&format!("STOPSIGNAL {s}")),
                }
            }
            Instruction::Arg(defs) => {
                let mut parts = Vec::new();
                for d in defs {
                    parts.push(match &d.value {
                        Some(v) => format!("{}={v}", d.key),
                        None => d.key.clone(),
                    });
                    self.args.add_arg(&d.key, d.value);
                }
                Step::Commit {
                    created_by: self.comment(&format!("ARG {}", parts.join(" "))),
                }
            }
            Instruction::Shell(s) => {
                let msg = format!("SHELL [{}]", s.join(" "));
                self.config.shell = Some(s);
                Step::Commit {
                    created_by: self.comment(&msg),
                }
            }
            Instruction::Copy(c) => {
                if !c.chmod.is_empty() {
                    crate::userdb::parse_chmod(&c.chmod).map_err(|m| loc_err(loc, m))?;
                }
                let unsupported = [("exclude", !c.excludes.is_empty()), ("parents", c.parents)];
                if let Some((f, _)) = unsupported.iter().find(|(_, used)| *used) {
                    return Err(loc_err(
                        loc,
                        format!("the --{f} option is not supported yet"),
                    ));
                }
                let from = if c.from.is_empty() {
                    None
                } else {
                    let r = self
                        .lex
                        .process_word(&c.from, &EnvList(&env))
                        .map_err(|e| loc_err(loc, e.to_string()))?;
                    Some(r.result)
                };
                let mut step =
                    self.copy_step("COPY", from, c.sources, c.chown, c.chmod, c.link, false);
                if let Step::Copy(cs) = &mut step {
                    cs.excludes = c.excludes;
                }
                step
            }
            Instruction::Add(a) => {
                if !a.chmod.is_empty() {
                    crate::userdb::parse_chmod(&a.chmod).map_err(|m| loc_err(loc, m))?;
                }
                let unsupported = [
                    ("keep-git-dir", a.keep_git_dir.is_some()),
                    ("unpack", a.unpack.is_some()),
                ];
                if let Some((f, _)) = unsupported.iter().find(|(_, used)| *used) {
                    return Err(loc_err(
                        loc,
                        format!("the --{f} option is not supported yet"),
                    ));
                }
                let mut step =
                    self.copy_step("ADD", None, a.sources, a.chown, a.chmod, a.link, true);
                if let Step::Copy(cs) = &mut step {
                    cs.excludes = a.excludes;
                    cs.checksum = Some(a.checksum).filter(|c| !c.is_empty());
                }
                step
            }
        };
        Ok(step)
    }

    #[allow(clippy::too_many_arguments)]
    fn copy_step(
        &self,
        keyword: &'static str,
        from: Option<String>,
        s: crate::instructions::SourcesAndDest,
        chown: String,
        chmod: String,
        link: bool,
        allow_decompress: bool,
    ) -> Step {
        Step::Copy(CopyStep {
            keyword,
            from,
            sources: s.source_paths,
            contents: s.source_contents,
            dest: normalize_dest(self.config.working_dir.as_deref().unwrap_or(""), &s.dest),
            dest_raw: s.dest,
            chown: Some(chown).filter(|c| !c.is_empty()),
            chmod: Some(chmod).filter(|c| !c.is_empty()),
            link,
            allow_decompress,
            excludes: Vec::new(),
            checksum: None,
            shell: self.shell(),
        })
    }
}

/// Parses an ONBUILD trigger expression into the command to run in the child build.
pub fn parse_trigger(file: &str, expr: &str) -> Result<Command, ParseError> {
    let df = crate::parser::parse(file, expr)?;
    if df.nodes.len() != 1 {
        return Err(ParseError::new(
            file,
            1,
            1,
            "onbuild trigger should be a single expression",
        ));
    }
    match crate::instructions::parse_node(file, &df.nodes[0])? {
        crate::instructions::Parsed::Command(c) => Ok(c),
        crate::instructions::Parsed::Stage(_) => Err(ParseError::new(
            file,
            1,
            1,
            "FROM isn't allowed as an ONBUILD trigger",
        )),
    }
}

/// A COPY/ADD destination made absolute against the working dir; a trailing slash
/// (meaning "into this directory") is kept (moby `normalizeDest`).
pub fn normalize_dest(working_dir: &str, requested: &str) -> String {
    if requested.starts_with('/') {
        return requested.to_string();
    }
    let mut d = paths::join(&["/", working_dir, requested]);
    if requested.ends_with('/') && !d.ends_with('/') {
        d.push('/');
    }
    d
}

/// Parses EXPOSE specs (`80`, `80/udp`, `8000-8010/tcp`, `ip:host:container`) into
/// the `ExposedPorts` keys (`80/tcp`).
pub fn parse_port_specs(specs: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for raw in specs {
        let parts: Vec<&str> = raw.split(':').collect();
        let container = parts.last().copied().unwrap_or("");
        let (port, proto) = match container.split_once('/') {
            Some((p, pr)) => (p, if pr.is_empty() { "tcp" } else { pr }),
            None => (container, "tcp"),
        };
        if port.is_empty() {
            return Err(format!("no port specified: {raw}<empty>"));
        }
        let proto = proto.to_ascii_lowercase();
        if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
            return Err(format!("invalid proto: {proto}"));
        }
        let bad = || format!("invalid containerPort: {port}");
        let (start, end) = match port.split_once('-') {
            Some((a, b)) => (
                a.parse::<u16>().map_err(|_| bad())?,
                b.parse::<u16>().map_err(|_| bad())?,
            ),
            None => {
                let p = port.parse::<u16>().map_err(|_| bad())?;
                (p, p)
            }
        };
        if end < start {
            return Err(bad());
        }
        for p in start..=end {
            let k = format!("{p}/{proto}");
            if !out.contains(&k) {
                out.push(k);
            }
        }
    }
    Ok(out)
}

const SIGNALS: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
];

/// moby/sys `signal.ParseSignal`: a number > 0 or a name with or without `SIG`.
pub fn valid_signal(s: &str) -> bool {
    if let Ok(n) = s.parse::<i64>() {
        return n > 0 && n <= 64;
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if SIGNALS.contains(&name) {
        return true;
    }
    for base in ["RTMIN+", "RTMAX-"] {
        if let Some(n) = name.strip_prefix(base) {
            return n.parse::<u8>().is_ok_and(|n| (1..=15).contains(&n));
        }
    }
    false
}

/// A history entry as the legacy builder writes it.
pub fn history_entry(
    created: &str,
    created_by: &str,
    author: Option<&str>,
    empty_layer: bool,
) -> HistoryEntry {
    HistoryEntry {
        created: Some(created.to_string()),
        created_by: Some(created_by.to_string()),
        author: author.map(str::to_string),
        comment: None,
        empty_layer,
    }
}

/// The config of the image a step commits (moby `image.NewChildImage`): the parent's
/// rootfs plus `diff_id` (None = empty layer), the parent's history plus this step's,
/// the stage's run config, author and creation time; OS/architecture from the
/// parent (`scratch`: `default_arch`, linux).
pub fn child_config(
    parent: Option<&ImageConfig>,
    config: &RunConfig,
    author: Option<&str>,
    created: &str,
    created_by: &str,
    diff_id: Option<Digest>,
    default_arch: &str,
) -> ImageConfig {
    let mut img = ImageConfig::default();
    if let Some(p) = parent {
        img.rootfs = p.rootfs.clone();
        img.history = p.history.clone();
        img.architecture = p.architecture.clone();
        img.variant = p.variant.clone();
        img.os = p.os.clone();
    }
    if img.architecture.is_empty() {
        img.architecture = default_arch.to_string();
    }
    if img.os.is_empty() {
        img.os = "linux".into();
    }
    let empty = diff_id.is_none();
    if let Some(d) = diff_id {
        img.rootfs.diff_ids.push(d);
    }
    img.history
        .push(history_entry(created, created_by, author, empty));
    img.config = Some(config.clone());
    img.author = author.map(str::to_string);
    img.created = Some(created.to_string());
    img
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::{parse_dockerfile, Healthcheck};

    /// Runs all metadata steps of the last stage of `text` on a base with `base_cmd`.
    fn run(
        text: &str,
        base: Option<ImageConfig>,
        opts: &[(&str, &str)],
    ) -> (StageState, Vec<Step>) {
        let df = parse_dockerfile("Dockerfile", text).unwrap();
        let mut global = BuildArgs::new(
            opts.iter()
                .map(|(k, v)| (k.to_string(), Some(v.to_string())))
                .collect(),
        );
        for m in &df.meta_args {
            if let Instruction::Arg(defs) = &m.instruction {
                for d in defs {
                    global.add_meta_arg(&d.key, d.value.clone());
                }
            }
        }
        let stage = df.stages.last().unwrap();
        let (mut st, _) = StageState::begin('\\', base.as_ref(), global.for_stage());
        let steps = stage
            .commands
            .iter()
            .map(|c| st.dispatch(c).unwrap())
            .collect();
        (st, steps)
    }

    fn created_by(s: &Step) -> String {
        match s {
            Step::Commit { created_by } | Step::Workdir { created_by, .. } => created_by.clone(),
            Step::Run(r) => r.created_by.clone(),
            Step::Copy(c) => c.created_by("file:x"),
        }
    }

    fn busybox() -> ImageConfig {
        ImageConfig {
            os: "linux".into(),
            architecture: "amd64".into(),
            config: Some(RunConfig {
                cmd: Some(vec!["sh".into()]),
                env: Some(vec![format!("PATH={DEFAULT_PATH}")]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn history_strings_match_docker() {
        let (st, steps) = run(
            "FROM busybox\nCMD [\"sh\"]\nWORKDIR /app\nWORKDIR sub\nENV A=1 B=\"x y\"\nLABEL maintainer=\"j@x\"\nEXPOSE 9191 9090\nUSER uwsgi\nVOLUME /data\nSTOPSIGNAL SIGKILL\nARG V=2\nRUN echo $V\nRUN [\"echo\",\"hi\"]\nSHELL [\"/bin/bash\",\"-c\"]\nCMD python app.py\nCOPY . ./app\n",
            Some(busybox()),
            &[],
        );
        let got: Vec<String> = steps.iter().map(created_by).collect();
        assert_eq!(
            got,
            vec![
                "/bin/sh -c #(nop)  CMD [\"sh\"]",
                "/bin/sh -c #(nop) WORKDIR /app",
                "/bin/sh -c #(nop) WORKDIR /app/sub",
                "/bin/sh -c #(nop)  ENV A=1 B=x y",
                "/bin/sh -c #(nop)  LABEL maintainer=j@x",
                "/bin/sh -c #(nop)  EXPOSE 9090 9191",
                "/bin/sh -c #(nop)  USER uwsgi",
                "/bin/sh -c #(nop)  VOLUME [/data]",
                "/bin/sh -c #(nop)  STOPSIGNAL SIGKILL",
                "/bin/sh -c #(nop)  ARG V=2",
                "|1 V=2 /bin/sh -c echo $V",
                "|1 V=2 echo hi",
                "/bin/bash -c #(nop)  SHELL [/bin/bash -c]",
                "/bin/bash -c #(nop)  CMD [\"/bin/bash\" \"-c\" \"python app.py\"]",
                "/bin/bash -c #(nop) COPY file:x in ./app ",
            ]
        );
        let c = &st.config;
        assert_eq!(c.working_dir.as_deref(), Some("/app/sub"));
        assert_eq!(
            c.env.as_ref().unwrap(),
            &vec![format!("PATH={DEFAULT_PATH}"), "A=1".into(), "B=x y".into()]
        );
        assert!(c.exposed_ports.as_ref().unwrap().contains_key("9090/tcp"));
        assert_eq!(c.user.as_deref(), Some("uwsgi"));
        assert_eq!(c.stop_signal.as_deref(), Some("SIGKILL"));
        if let Step::Copy(cp) = &steps[14] {
            assert_eq!(cp.dest, "/app/sub/app");
        } else {
            panic!("not a copy");
        }
    }

    #[test]
    fn entrypoint_resets_inherited_cmd_but_not_own() {
        let (st, _) = run(
            "FROM b\nENTRYPOINT [\"/entrypoint.sh\"]\n",
            Some(busybox()),
            &[],
        );
        assert_eq!(st.config.cmd, None);
        assert_eq!(
            st.config.entrypoint,
            Some(vec!["/entrypoint.sh".to_string()])
        );
        let (st, _) = run(
            "FROM b\nCMD [\"x\"]\nENTRYPOINT e a\n",
            Some(busybox()),
            &[],
        );
        assert_eq!(st.config.cmd, Some(vec!["x".to_string()]));
        assert_eq!(
            st.config.entrypoint,
            Some(vec!["/bin/sh".into(), "-c".into(), "e a".into()])
        );
    }

    #[test]
    fn same_instruction_uses_previous_values() {
        let (st, _) = run("FROM b\nENV abc=hello\nENV abc=bye def=$abc\n", None, &[]);
        let env = st.config.env.unwrap();
        assert!(env.contains(&"abc=bye".to_string()));
        assert!(env.contains(&"def=hello".to_string()));
    }

    #[test]
    fn arg_scoping_and_env_precedence() {
        let (st, steps) = run(
            "ARG G=global\nFROM b\nENV E=${G:-unset}\nARG G\nARG B=default\nENV B=env\nRUN echo $B\n",
            None,
            &[("B", "cli")],
        );
        let env = st.config.env.clone().unwrap();
        assert!(env.contains(&"E=unset".to_string()), "{env:?}");
        let Step::Run(r) = &steps[4] else { panic!() };
        // ENV B wins over ARG B: not in the build-arg prefix.
        assert_eq!(r.cache_cmd[0], "|1");
        assert_eq!(r.cache_cmd[1], "G=global");
        assert!(r.env.contains(&"B=env".to_string()));
    }

    #[test]
    fn proxy_args_hidden_from_history() {
        let (_, steps) = run("FROM b\nRUN true\n", None, &[("HTTP_PROXY", "http://p")]);
        let Step::Run(r) = &steps[0] else { panic!() };
        assert_eq!(r.created_by, "|0 /bin/sh -c true");
        assert_eq!(
            r.failure_message(1),
            "The command '/bin/sh -c true' returned a non-zero code: 1"
        );
        assert!(r.env.contains(&"HTTP_PROXY=http://p".to_string()));
    }

    #[test]
    fn healthcheck_and_expose_ranges() {
        let (st, steps) = run(
            "FROM b\nHEALTHCHECK --interval=5m --timeout=3s CMD curl -f http://localhost/\nEXPOSE 80/udp 8000-8002\n",
            None,
            &[],
        );
        assert_eq!(
            created_by(&steps[0]),
            "/bin/sh -c #(nop)  HEALTHCHECK &{[\"CMD-SHELL\" \"curl -f http://localhost/\"] \"5m0s\" \"3s\" \"0s\" '\\x00'}"
        );
        let h = Healthcheck::from_json(st.config.healthcheck.as_ref().unwrap());
        assert_eq!(h.interval, 300_000_000_000);
        let ports: Vec<&String> = st.config.exposed_ports.as_ref().unwrap().keys().collect();
        assert_eq!(ports, vec!["80/udp", "8000/tcp", "8001/tcp", "8002/tcp"]);
        assert!(parse_port_specs(&["80/xyz".into()]).is_err());
    }

    #[test]
    fn onbuild_triggers_round_trip() {
        let (st, _) = run(
            "FROM b\nONBUILD RUN echo hi\nONBUILD COPY . /src\n",
            None,
            &[],
        );
        let base = ImageConfig {
            config: Some(st.config.clone()),
            ..Default::default()
        };
        let (child, triggers) = StageState::begin('\\', Some(&base), BuildArgs::default());
        assert_eq!(triggers, vec!["RUN echo hi", "COPY . /src"]);
        assert_eq!(child.config.on_build, None);
        let c = parse_trigger("Dockerfile", &triggers[1]).unwrap();
        assert!(matches!(c.instruction, Instruction::Copy(_)));
    }

    #[test]
    fn invalid_inputs_are_located() {
        let df = parse_dockerfile("Dockerfile", "FROM b\n\nSTOPSIGNAL NOPE\n").unwrap();
        let (mut st, _) = StageState::begin('\\', None, BuildArgs::default());
        let e = st.dispatch(&df.stages[0].commands[0]).unwrap_err();
        assert_eq!(e.to_string(), "Dockerfile:3:1: Invalid signal: NOPE");
        let df = parse_dockerfile(
            "Dockerfile",
            "FROM b\nRUN --mount=type=cache,target=/x true\nENV A=${B\n",
        )
        .unwrap();
        let e = st.dispatch(&df.stages[0].commands[0]).unwrap_err();
        assert!(e.message.contains("--mount option requires BuildKit"));
        let e = st.dispatch(&df.stages[0].commands[1]).unwrap_err();
        assert!(e.message.contains("missing '}'"), "{e}");
        let df = parse_dockerfile("Dockerfile", "FROM b\nCOPY --exclude=*.md . /\n").unwrap();
        let e = st.dispatch(&df.stages[0].commands[0]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Dockerfile:2:1: the --exclude option is not supported yet"
        );
    }

    #[test]
    fn child_config_appends_layers_and_history() {
        let base = busybox();
        let rc = RunConfig::default();
        let d = Digest::sha256_of(b"layer");
        let c1 = child_config(Some(&base), &rc, None, "t", "x", Some(d.clone()), "amd64");
        let c2 = child_config(Some(&c1), &rc, Some("me"), "t", "y", None, "amd64");
        assert_eq!(c2.rootfs.diff_ids, vec![d]);
        assert_eq!(c2.history.len(), 2);
        assert!(c2.history[1].empty_layer && !c2.history[0].empty_layer);
        assert_eq!(c2.author.as_deref(), Some("me"));
        let s = child_config(None, &rc, None, "t", "z", None, "arm64");
        assert_eq!((s.os.as_str(), s.architecture.as_str()), ("linux", "arm64"));
    }
}
