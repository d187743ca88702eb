//! Typed Dockerfile instructions and stages, with Docker's argument checks.
//!
//! A port of buildkit's `frontend/dockerfile/instructions/{parse,commands,bflag}.go`:
//! every instruction of the Dockerfile reference with its flags (`--from`, `--chown`,
//! `--chmod`, `--link`, `--platform`, `--interval`, …), argument-count errors in
//! Docker's wording, ONBUILD's forbidden triggers, SHELL's JSON-only rule, and the
//! split into global ARGs + stages. [`Instruction::expand`] applies variable
//! substitution to exactly the fields Docker substitutes.

use crate::duration::parse_go_duration;
use crate::error::{Location, ParseError};
use crate::parser::{self, Directives, Heredoc, Node};

/// A `KEY=VALUE` pair of ENV or LABEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
    /// Written in the legacy `ENV k v` form.
    pub no_delim: bool,
}

/// One name of an ARG instruction, with its optional default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDef {
    pub key: String,
    pub value: Option<String>,
}

/// The command line of RUN, CMD and ENTRYPOINT.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CmdLine {
    /// Exec form: the array; shell form: one string.
    pub args: Vec<String>,
    /// Shell form: the SHELL is put in front.
    pub prepend_shell: bool,
    /// Heredocs attached to the instruction.
    pub files: Vec<Heredoc>,
}

/// An inline file given by a heredoc as a COPY/ADD source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceContent {
    pub path: String,
    pub data: String,
    pub expand: bool,
}

/// Sources and destination of COPY/ADD.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourcesAndDest {
    pub dest: String,
    pub source_paths: Vec<String>,
    pub source_contents: Vec<SourceContent>,
}

/// COPY.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyInstruction {
    pub sources: SourcesAndDest,
    pub from: String,
    pub chown: String,
    pub chmod: String,
    pub link: bool,
    pub parents: bool,
    pub excludes: Vec<String>,
}

/// ADD.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddInstruction {
    pub sources: SourcesAndDest,
    pub chown: String,
    pub chmod: String,
    pub link: bool,
    pub keep_git_dir: Option<bool>,
    pub checksum: String,
    pub unpack: Option<bool>,
    pub excludes: Vec<String>,
}

/// RUN.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunInstruction {
    pub cmdline: CmdLine,
    /// BuildKit-only flags given (`mount`, `network`, `security`, `device`), sorted;
    /// the legacy builder refuses any of them.
    pub flags_used: Vec<String>,
    pub mounts: Vec<String>,
    pub network: String,
    pub security: String,
}

/// HEALTHCHECK's settings, durations in nanoseconds (zero = inherit).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval: i64,
    pub timeout: i64,
    pub start_period: i64,
    pub start_interval: i64,
    pub retries: i64,
}

impl Healthcheck {
    /// Docker's JSON shape (`Test`, `Interval`, … with `omitempty`).
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        if !self.test.is_empty() {
            m.insert("Test".into(), serde_json::json!(self.test));
        }
        for (k, v) in [
            ("Interval", self.interval),
            ("Timeout", self.timeout),
            ("StartPeriod", self.start_period),
            ("StartInterval", self.start_interval),
            ("Retries", self.retries),
        ] {
            if v != 0 {
                m.insert(k.into(), serde_json::json!(v));
            }
        }
        serde_json::Value::Object(m)
    }

    /// Reads Docker's JSON shape back.
    pub fn from_json(v: &serde_json::Value) -> Healthcheck {
        let n = |k: &str| v.get(k).and_then(|x| x.as_i64()).unwrap_or(0);
        Healthcheck {
            test: v
                .get("Test")
                .and_then(|t| t.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            interval: n("Interval"),
            timeout: n("Timeout"),
            start_period: n("StartPeriod"),
            start_interval: n("StartInterval"),
            retries: n("Retries"),
        }
    }
}

/// Every instruction but FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    Env(Vec<KeyValue>),
    Maintainer(String),
    Label(Vec<KeyValue>),
    /// A `--label` given to the build: like LABEL, but never substituted.
    BuildLabel(KeyValue),
    Add(AddInstruction),
    Copy(CopyInstruction),
    /// The trigger expression as written (heredoc bodies appended).
    Onbuild(String),
    Workdir(String),
    Run(RunInstruction),
    Cmd(CmdLine),
    Healthcheck(Healthcheck),
    Entrypoint(CmdLine),
    Expose(Vec<String>),
    User(String),
    Volume(Vec<String>),
    StopSignal(String),
    Arg(Vec<ArgDef>),
    Shell(Vec<String>),
}

/// An instruction with its name as written, its source text and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub instruction: Instruction,
    /// The instruction word as written.
    pub name: String,
    /// The logical line, trimmed (what `docker build` prints as "Step n/m : …").
    pub code: String,
    pub location: Location,
    pub end_line: usize,
}

/// One build stage: FROM and the instructions under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// The image or stage reference, before substitution.
    pub base_name: String,
    pub platform: Option<String>,
    pub source_code: String,
    pub location: Location,
    pub commands: Vec<Command>,
}

/// A whole typed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedDockerfile {
    pub directives: Directives,
    /// ARGs before the first FROM.
    pub meta_args: Vec<Command>,
    pub stages: Vec<Stage>,
    pub warnings: Vec<String>,
}

/// What a node turns into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Stage(Stage),
    Command(Command),
}

/// Parses Dockerfile text into global ARGs and stages.
pub fn parse_dockerfile(file: &str, text: &str) -> Result<ParsedDockerfile, ParseError> {
    let df = parser::parse(file, text)?;
    let mut stages: Vec<Stage> = Vec::new();
    let mut meta_args = Vec::new();
    for node in &df.nodes {
        match parse_node(file, node)? {
            Parsed::Stage(s) => stages.push(s),
            Parsed::Command(c) => {
                if stages.is_empty() {
                    if matches!(c.instruction, Instruction::Arg(_)) {
                        meta_args.push(c);
                        continue;
                    }
                    return Err(ParseError::new(
                        file,
                        node.start_line,
                        node.column,
                        "no build stage in current context",
                    ));
                }
                if let Some(s) = stages.last_mut() {
                    s.commands.push(c);
                }
            }
        }
    }
    Ok(ParsedDockerfile {
        directives: df.directives,
        meta_args,
        stages,
        warnings: df.warnings,
    })
}

/// Flag definitions and parsing (`BFlags`).
struct Flags<'a> {
    args: &'a [String],
    defs: Vec<(&'static str, FlagKind)>,
    used: Vec<String>,
    values: std::collections::BTreeMap<&'static str, Vec<String>>,
}

#[derive(Clone, Copy, PartialEq)]
enum FlagKind {
    Bool,
    Str,
    Strs,
}

impl<'a> Flags<'a> {
    fn new(args: &'a [String]) -> Self {
        Flags {
            args,
            defs: Vec::new(),
            used: Vec::new(),
            values: Default::default(),
        }
    }
    fn def(mut self, name: &'static str, kind: FlagKind) -> Self {
        self.defs.push((name, kind));
        self
    }
    fn parse(&mut self) -> Result<(), String> {
        for a in self.args {
            if a == "--" {
                return Ok(());
            }
            let Some(body) = a.strip_prefix("--") else {
                return Err(format!("arg should start with -- : {a}"));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(&(def_name, kind)) = self.defs.iter().find(|(n, _)| *n == name) else {
                return Err(format!("unknown flag: --{name}"));
            };
            if self.used.iter().any(|u| u == name) && kind != FlagKind::Strs {
                return Err(format!("duplicate flag specified: --{name}"));
            }
            self.used.push(name.to_string());
            let entry = self.values.entry(def_name).or_default();
            match kind {
                FlagKind::Bool => {
                    if value == Some("") {
                        return Err(format!("missing a value on flag: --{name}"));
                    }
                    match value.unwrap_or("").to_ascii_lowercase().as_str() {
                        "true" | "" => *entry = vec!["true".into()],
                        "false" => *entry = vec!["false".into()],
                        v => {
                            return Err(format!(
                                "expecting boolean value for flag --{name}, not: {v}"
                            ))
                        }
                    }
                }
                FlagKind::Str => {
                    let Some(v) = value else {
                        return Err(format!("missing a value on flag: --{name}"));
                    };
                    *entry = vec![v.to_string()];
                }
                FlagKind::Strs => {
                    let Some(v) = value else {
                        return Err(format!("missing a value on flag: --{name}"));
                    };
                    entry.push(v.to_string());
                }
            }
        }
        Ok(())
    }
    fn s(&self, name: &str) -> String {
        self.values
            .get(name)
            .and_then(|v| v.last().cloned())
            .unwrap_or_default()
    }
    fn b(&self, name: &str) -> bool {
        self.s(name) == "true"
    }
    fn opt_b(&self, name: &str) -> Option<bool> {
        self.values.get(name).map(|_| self.b(name))
    }
    fn strs(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }
}

fn handle_json_args(args: &[String], json: bool) -> Vec<String> {
    if args.is_empty() {
        return Vec::new();
    }
    if json {
        return args.to_vec();
    }
    vec![args.join(" ")]
}

fn kvps(args: &[String], cmd: &str) -> Result<Vec<KeyValue>, String> {
    if args.is_empty() {
        return Err(format!("{cmd} requires at least one argument"));
    }
    if !args.len().is_multiple_of(3) {
        return Err(format!("Bad input to {cmd}, too many arguments"));
    }
    let mut out = Vec::new();
    for c in args.chunks(3) {
        if c[0].is_empty() {
            return Err(format!("{cmd} names can not be blank"));
        }
        out.push(KeyValue {
            key: c[0].clone(),
            value: c[1].clone(),
            no_delim: c[2].is_empty(),
        });
    }
    Ok(out)
}

fn sources_and_dest(node: &Node, cmd: &str) -> Result<SourcesAndDest, String> {
    let args = &node.args;
    let (srcs, dest) = args.split_at(args.len() - 1);
    let dest = dest[0].clone();
    if parser::parse_heredoc(&dest)?.is_some() {
        return Err(format!("{cmd} cannot accept a heredoc as a destination"));
    }
    let mut out = SourcesAndDest {
        dest,
        ..Default::default()
    };
    for src in srcs {
        match parser::parse_heredoc(src)? {
            Some(h) => {
                let doc = node.heredocs.iter().find(|d| d.name == h.name);
                let mut data = doc.map(|d| d.content.clone()).unwrap_or_default();
                if h.chomp {
                    data = parser::chomp_heredoc_content(&data);
                }
                out.source_contents.push(SourceContent {
                    path: h.name,
                    data,
                    expand: h.expand,
                });
            }
            None => out.source_paths.push(src.clone()),
        }
    }
    Ok(out)
}

fn cmdline(node: &Node) -> CmdLine {
    let args = handle_json_args(&node.args, node.json);
    CmdLine {
        args,
        prepend_shell: !node.json,
        files: node.heredocs.clone(),
    }
}

fn opt_interval(flags: &Flags, name: &str) -> Result<i64, String> {
    let s = flags.s(name);
    if s.is_empty() {
        return Ok(0);
    }
    let d = parse_go_duration(&s)?;
    if d == 0 {
        return Ok(0);
    }
    if d < 1_000_000 {
        return Err(format!("Interval \"{name}\" cannot be less than 1ms"));
    }
    Ok(d)
}

fn valid_stage_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

const ALL_INSTRUCTIONS: &[&str] = &[
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// Parses one node into a stage start or a command.
pub fn parse_node(file: &str, node: &Node) -> Result<Parsed, ParseError> {
    let location = Location {
        file: file.to_string(),
        line: node.start_line,
        column: node.column,
    };
    let err = |m: String| ParseError {
        location: location.clone(),
        message: m,
    };
    let lower = node.instruction.to_ascii_lowercase();
    let args = &node.args;
    let mut flags = Flags::new(&node.flags);
    let exactly_one = |c: &str| -> Result<(), ParseError> {
        if args.len() != 1 {
            return Err(err(format!("{c} requires exactly one argument")));
        }
        Ok(())
    };
    let at_least_one = |c: &str| -> Result<(), ParseError> {
        if args.is_empty() {
            return Err(err(format!("{c} requires at least one argument")));
        }
        Ok(())
    };
    let instruction = match lower.as_str() {
        "from" => {
            let name = match args.len() {
                3 if args[1].eq_ignore_ascii_case("as") => {
                    let n = args[2].to_ascii_lowercase();
                    if !valid_stage_name(&n) {
                        return Err(err(format!(
                            "invalid name for build stage: {}, name can't start with a number or contain symbols",
                            parser::go_quote(&args[2])
                        )));
                    }
                    Some(n)
                }
                1 => None,
                _ => return Err(err("FROM requires either one or three arguments".into())),
            };
            flags = flags.def("platform", FlagKind::Str);
            flags.parse().map_err(err)?;
            let platform = Some(flags.s("platform")).filter(|p| !p.is_empty());
            return Ok(Parsed::Stage(Stage {
                name,
                base_name: args[0].clone(),
                platform,
                source_code: node.original.trim().to_string(),
                location,
                commands: Vec::new(),
            }));
        }
        "env" => {
            flags.parse().map_err(err)?;
            Instruction::Env(kvps(args, "ENV").map_err(err)?)
        }
        "maintainer" => {
            exactly_one("MAINTAINER")?;
            flags.parse().map_err(err)?;
            Instruction::Maintainer(args[0].clone())
        }
        "label" => {
            flags.parse().map_err(err)?;
            Instruction::Label(kvps(args, "LABEL").map_err(err)?)
        }
        "add" => {
            if args.len() < 2 {
                return Err(err("ADD requires at least two arguments, but only one was provided. Destination could not be determined".into()));
            }
            flags = flags
                .def("chown", FlagKind::Str)
                .def("chmod", FlagKind::Str)
                .def("link", FlagKind::Bool)
                .def("keep-git-dir", FlagKind::Bool)
                .def("checksum", FlagKind::Str)
                .def("unpack", FlagKind::Bool)
                .def("exclude", FlagKind::Strs);
            flags.parse().map_err(err)?;
            Instruction::Add(AddInstruction {
                sources: sources_and_dest(node, "ADD").map_err(err)?,
                chown: flags.s("chown"),
                chmod: flags.s("chmod"),
                link: flags.b("link"),
                keep_git_dir: flags.opt_b("keep-git-dir"),
                checksum: flags.s("checksum"),
                unpack: flags.opt_b("unpack"),
                excludes: flags.strs("exclude"),
            })
        }
        "copy" => {
            if args.len() < 2 {
                return Err(err("COPY requires at least two arguments, but only one was provided. Destination could not be determined".into()));
            }
            flags = flags
                .def("chown", FlagKind::Str)
                .def("from", FlagKind::Str)
                .def("chmod", FlagKind::Str)
                .def("link", FlagKind::Bool)
                .def("exclude", FlagKind::Strs)
                .def("parents", FlagKind::Bool);
            flags.parse().map_err(err)?;
            Instruction::Copy(CopyInstruction {
                sources: sources_and_dest(node, "COPY").map_err(err)?,
                from: flags.s("from"),
                chown: flags.s("chown"),
                chmod: flags.s("chmod"),
                link: flags.b("link"),
                parents: flags.b("parents"),
                excludes: flags.strs("exclude"),
            })
        }
        "onbuild" => {
            at_least_one("ONBUILD")?;
            flags.parse().map_err(err)?;
            let trigger = args[0].trim().to_ascii_uppercase();
            match trigger.as_str() {
                "ONBUILD" => {
                    return Err(err(
                        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()
                    ))
                }
                "MAINTAINER" | "FROM" => {
                    return Err(err(format!(
                        "{trigger} isn't allowed as an ONBUILD trigger"
                    )))
                }
                _ => {}
            }
            let orig = node.original.trim_start();
            let expr = match (orig.get(..7), orig.get(7..)) {
                (Some(head), Some(rest)) if head.eq_ignore_ascii_case("onbuild") => {
                    rest.trim_start().to_string()
                }
                _ => orig.to_string(),
            };
            let mut expr = expr;
            for h in &node.heredocs {
                expr.push('\n');
                expr.push_str(&h.content);
                expr.push_str(&h.name);
            }
            Instruction::Onbuild(expr)
        }
        "workdir" => {
            exactly_one("WORKDIR")?;
            flags.parse().map_err(err)?;
            Instruction::Workdir(args[0].clone())
        }
        "run" => {
            flags = flags
                .def("mount", FlagKind::Strs)
                .def("network", FlagKind::Str)
                .def("security", FlagKind::Str)
                .def("device", FlagKind::Strs);
            flags.parse().map_err(err)?;
            let mut used = flags.used.clone();
            used.sort();
            used.dedup();
            Instruction::Run(RunInstruction {
                cmdline: cmdline(node),
                flags_used: used,
                mounts: flags.strs("mount"),
                network: flags.s("network"),
                security: flags.s("security"),
            })
        }
        "cmd" => {
            flags.parse().map_err(err)?;
            Instruction::Cmd(cmdline(node))
        }
        "entrypoint" => {
            flags.parse().map_err(err)?;
            Instruction::Entrypoint(cmdline(node))
        }
        "healthcheck" => {
            at_least_one("HEALTHCHECK")?;
            let typ = args[0].to_ascii_uppercase();
            let rest = &args[1..];
            if typ == "NONE" {
                if !rest.is_empty() {
                    return Err(err("HEALTHCHECK NONE takes no arguments".into()));
                }
                flags.parse().map_err(err)?;
                Instruction::Healthcheck(Healthcheck {
                    test: vec![typ],
                    ..Default::default()
                })
            } else {
                flags = flags
                    .def("interval", FlagKind::Str)
                    .def("timeout", FlagKind::Str)
                    .def("start-period", FlagKind::Str)
                    .def("start-interval", FlagKind::Str)
                    .def("retries", FlagKind::Str);
                flags.parse().map_err(err)?;
                if typ != "CMD" {
                    return Err(err(format!(
                        "Unknown type {} in HEALTHCHECK (try CMD)",
                        parser::go_quote(&typ)
                    )));
                }
                let cmd = handle_json_args(rest, node.json);
                if cmd.is_empty() {
                    return Err(err("Missing command after HEALTHCHECK CMD".into()));
                }
                let t = if node.json { "CMD" } else { "CMD-SHELL" };
                let mut test = vec![t.to_string()];
                test.extend(cmd);
                let retries = match flags.s("retries") {
                    r if r.is_empty() => 0,
                    r => {
                        let n: i64 = r.parse().map_err(|_| {
                            err(format!(
                                "strconv.ParseInt: parsing {}: invalid syntax",
                                parser::go_quote(&r)
                            ))
                        })?;
                        if n < 0 {
                            return Err(err(format!("--retries cannot be negative ({n})")));
                        }
                        n
                    }
                };
                Instruction::Healthcheck(Healthcheck {
                    test,
                    interval: opt_interval(&flags, "interval").map_err(err)?,
                    timeout: opt_interval(&flags, "timeout").map_err(err)?,
                    start_period: opt_interval(&flags, "start-period").map_err(err)?,
                    start_interval: opt_interval(&flags, "start-interval").map_err(err)?,
                    retries,
                })
            }
        }
        "expose" => {
            at_least_one("EXPOSE")?;
            flags.parse().map_err(err)?;
            let mut ports = args.clone();
            ports.sort();
            Instruction::Expose(ports)
        }
        "user" => {
            exactly_one("USER")?;
            flags.parse().map_err(err)?;
            Instruction::User(args[0].clone())
        }
        "volume" => {
            at_least_one("VOLUME")?;
            flags.parse().map_err(err)?;
            let mut v = Vec::new();
            for a in args {
                let a = a.trim();
                if a.is_empty() {
                    return Err(err("VOLUME specified can not be an empty string".into()));
                }
                v.push(a.to_string());
            }
            Instruction::Volume(v)
        }
        "stopsignal" => {
            exactly_one("STOPSIGNAL")?;
            Instruction::StopSignal(args[0].clone())
        }
        "arg" => {
            at_least_one("ARG")?;
            let mut defs = Vec::new();
            for a in args {
                match a.split_once('=') {
                    Some((k, v)) => {
                        if k.is_empty() {
                            return Err(err("ARG names can not be blank".into()));
                        }
                        defs.push(ArgDef {
                            key: k.to_string(),
                            value: Some(v.to_string()),
                        });
                    }
                    None => defs.push(ArgDef {
                        key: a.clone(),
                        value: None,
                    }),
                }
            }
            Instruction::Arg(defs)
        }
        "shell" => {
            flags.parse().map_err(err)?;
            let shell = handle_json_args(args, node.json);
            if shell.is_empty() {
                return Err(err("SHELL requires at least one argument".into()));
            }
            if !node.json {
                return Err(err(format!(
                    "SHELL requires the arguments to be in JSON form: {}",
                    node.original.trim()
                )));
            }
            Instruction::Shell(shell)
        }
        _ => {
            let mut msg = format!("unknown instruction: {}", node.instruction);
            if let Some(s) = suggest(&lower) {
                msg.push_str(&format!(" (did you mean {s}?)"));
            }
            return Err(err(msg));
        }
    };
    Ok(Parsed::Command(Command {
        instruction,
        name: node.instruction.clone(),
        code: node.original.trim().to_string(),
        location,
        end_line: node.end_line,
    }))
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn suggest(word: &str) -> Option<String> {
    ALL_INSTRUCTIONS
        .iter()
        .map(|i| (levenshtein(word, i), i))
        .filter(|(d, _)| *d <= 2 && !word.is_empty())
        .min()
        .map(|(_, i)| i.to_ascii_uppercase())
}

/// A substitution function (`ProcessWord` bound to an environment).
pub type Expander<'a> = dyn FnMut(&str) -> Result<String, crate::shell_lex::LexError> + 'a;

impl Instruction {
    /// Applies `expand` to the fields Docker substitutes variables in (ADD, COPY, ENV,
    /// LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL, ARG; COPY/ADD heredoc bodies whose
    /// delimiter was not quoted). RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD and
    /// MAINTAINER are left to the shell or kept verbatim; EXPOSE is split into words by
    /// its dispatcher ([`crate::evolve`]).
    pub fn expand(&mut self, expand: &mut Expander<'_>) -> Result<(), crate::shell_lex::LexError> {
        fn kv(v: &mut [KeyValue], e: &mut Expander<'_>) -> Result<(), crate::shell_lex::LexError> {
            for p in v {
                p.key = e(&p.key)?;
                p.value = e(&p.value)?;
            }
            Ok(())
        }
        fn sd(
            s: &mut SourcesAndDest,
            e: &mut Expander<'_>,
        ) -> Result<(), crate::shell_lex::LexError> {
            for p in &mut s.source_paths {
                *p = e(p)?;
            }
            s.dest = e(&s.dest)?;
            for c in &mut s.source_contents {
                if c.expand {
                    c.data = e(&c.data)?;
                }
            }
            Ok(())
        }
        match self {
            Instruction::Env(v) | Instruction::Label(v) => kv(v, expand),
            Instruction::Add(a) => {
                a.chown = expand(&a.chown)?;
                a.chmod = expand(&a.chmod)?;
                a.checksum = expand(&a.checksum)?;
                sd(&mut a.sources, expand)
            }
            Instruction::Copy(c) => {
                c.chown = expand(&c.chown)?;
                c.chmod = expand(&c.chmod)?;
                sd(&mut c.sources, expand)
            }
            Instruction::Workdir(p) | Instruction::User(p) | Instruction::StopSignal(p) => {
                *p = expand(p)?;
                Ok(())
            }
            Instruction::Volume(v) => {
                for p in v {
                    *p = expand(p)?;
                }
                Ok(())
            }
            Instruction::Arg(defs) => {
                for d in defs {
                    d.key = expand(&d.key)?;
                    if let Some(v) = &d.value {
                        d.value = Some(expand(v)?);
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The upper-case instruction name.
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::Env(_) => "ENV",
            Instruction::Maintainer(_) => "MAINTAINER",
            Instruction::Label(_) | Instruction::BuildLabel(_) => "LABEL",
            Instruction::Add(_) => "ADD",
            Instruction::Copy(_) => "COPY",
            Instruction::Onbuild(_) => "ONBUILD",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::Run(_) => "RUN",
            Instruction::Cmd(_) => "CMD",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::User(_) => "USER",
            Instruction::Volume(_) => "VOLUME",
            Instruction::StopSignal(_) => "STOPSIGNAL",
            Instruction::Arg(_) => "ARG",
            Instruction::Shell(_) => "SHELL",
        }
    }
}

impl RunInstruction {
    /// The argv a RUN executes and the inline files it needs, resolving heredocs the
    /// way BuildKit does: a lone heredoc with a `#!` line becomes a script file
    /// (returned with its path, to be mounted read-only at `/dev/pipes/`), a lone
    /// heredoc without one is run as the shell's script text, and heredocs mixed into
    /// a command line are appended to it so the shell reads them itself.
    pub fn resolve(&self, shell: &[String]) -> (Vec<String>, Vec<(String, String)>) {
        let c = &self.cmdline;
        let with_shell = |args: Vec<String>| {
            if c.prepend_shell {
                let mut v = shell.to_vec();
                v.extend(args);
                v
            } else {
                args
            }
        };
        if c.files.is_empty() || c.args.len() != 1 || !c.prepend_shell {
            return (with_shell(c.args.clone()), Vec::new());
        }
        if let Ok(Some(_)) = parser::parse_heredoc(&c.args[0]) {
            let f = &c.files[0];
            let data = f.body();
            if data.starts_with("#!") {
                let path = format!("/dev/pipes/{}", f.name);
                return (vec![path.clone()], vec![(path, data)]);
            }
            return (with_shell(vec![data]), Vec::new());
        }
        let mut full = c.args[0].clone();
        for f in &c.files {
            full.push('\n');
            full.push_str(&f.content);
            full.push_str(&f.name);
        }
        (with_shell(vec![full]), Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Result<Parsed, ParseError> {
        let df = parser::parse("Dockerfile", text)?;
        parse_node("Dockerfile", &df.nodes[0])
    }

    fn cmd(text: &str) -> Instruction {
        match one(text).unwrap() {
            Parsed::Command(c) => c.instruction,
            Parsed::Stage(_) => panic!("stage"),
        }
    }

    #[test]
    fn from_forms() {
        let Parsed::Stage(s) = one("FROM --platform=linux/amd64 busybox AS Builder").unwrap()
        else {
            panic!()
        };
        assert_eq!(s.name.as_deref(), Some("builder"));
        assert_eq!(s.platform.as_deref(), Some("linux/amd64"));
        let e = one("FROM python:3.7-slim as builder # builder -- это имя этапа").unwrap_err();
        assert_eq!(e.message, "FROM requires either one or three arguments");
        assert_eq!((e.location.line, e.location.column), (1, 1));
        let e = one("FROM a AS 1x").unwrap_err();
        assert!(e.message.contains("invalid name for build stage"));
    }

    #[test]
    fn argument_count_errors() {
        for (text, msg) in [
            ("WORKDIR", "WORKDIR requires exactly one argument"),
            ("USER", "USER requires exactly one argument"),
            ("EXPOSE", "EXPOSE requires at least one argument"),
            ("COPY a", "COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
            ("SHELL /bin/sh -c", "SHELL requires the arguments to be in JSON form: SHELL /bin/sh -c"),
            ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
            ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
            ("ONBUILD MAINTAINER x", "MAINTAINER isn't allowed as an ONBUILD trigger"),
            ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
            ("HEALTHCHECK FOO x", "Unknown type \"FOO\" in HEALTHCHECK (try CMD)"),
            ("COPY --bogus a b", "unknown flag: --bogus"),
            ("COPY --from a b", "missing a value on flag: --from"),
            ("COPY a <<EOF\nx\nEOF", "COPY cannot accept a heredoc as a destination"),
            ("FRUM x", "unknown instruction: FRUM (did you mean FROM?)"),
        ] {
            let e = one(text).unwrap_err();
            assert_eq!(e.message, msg, "{text}");
        }
    }

    #[test]
    fn healthcheck_options() {
        let Instruction::Healthcheck(h) =
            cmd("HEALTHCHECK --interval=5m --timeout=3s --retries=4 CMD curl -f http://localhost/")
        else {
            panic!()
        };
        assert_eq!(h.test, vec!["CMD-SHELL", "curl -f http://localhost/"]);
        assert_eq!(h.interval, 300_000_000_000);
        assert_eq!(h.timeout, 3_000_000_000);
        assert_eq!(h.retries, 4);
        assert_eq!(
            h.to_json(),
            serde_json::json!({"Test":["CMD-SHELL","curl -f http://localhost/"],"Interval":300000000000i64,"Timeout":3000000000i64,"Retries":4})
        );
        let e = one("HEALTHCHECK --interval=1ns CMD true").unwrap_err();
        assert!(e.message.contains("cannot be less than 1ms"));
    }

    #[test]
    fn copy_flags_and_heredoc_sources() {
        let Instruction::Copy(c) =
            cmd("COPY --from=0 --chown=1:2 --chmod=755 --link <<EOF a* /dst/\nbody\nEOF")
        else {
            panic!()
        };
        assert_eq!(c.from, "0");
        assert_eq!(c.chown, "1:2");
        assert_eq!(c.chmod, "755");
        assert!(c.link);
        assert_eq!(c.sources.source_paths, vec!["a*"]);
        assert_eq!(c.sources.source_contents[0].data, "body\n");
        assert_eq!(c.sources.dest, "/dst/");
    }

    #[test]
    fn run_heredoc_resolution() {
        let sh = vec!["/bin/sh".to_string(), "-c".to_string()];
        let Instruction::Run(r) = cmd("RUN <<EOF\necho hi\nEOF") else {
            panic!()
        };
        assert_eq!(r.resolve(&sh).0, vec!["/bin/sh", "-c", "echo hi\n"]);
        let Instruction::Run(r) = cmd("RUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF") else {
            panic!()
        };
        let (argv, files) = r.resolve(&sh);
        assert_eq!(argv, vec!["/dev/pipes/EOF"]);
        assert!(files[0].1.starts_with("#!"));
        let Instruction::Run(r) = cmd("RUN cat <<A > /a\nx\nA") else {
            panic!()
        };
        assert_eq!(r.resolve(&sh).0[2], "cat <<A > /a\nx\nA");
        let Instruction::Run(r) = cmd("RUN --network=none echo") else {
            panic!()
        };
        assert_eq!(r.flags_used, vec!["network"]);
    }

    #[test]
    fn stages_and_meta_args() {
        let d = parse_dockerfile(
            "Dockerfile",
            "ARG V=1\nFROM busybox:$V AS a\nRUN x\nFROM a\nCOPY --from=a /x /y\n",
        )
        .unwrap();
        assert_eq!(d.meta_args.len(), 1);
        assert_eq!(d.stages.len(), 2);
        assert_eq!(d.stages[0].commands.len(), 1);
        assert_eq!(d.stages[1].commands[0].location.line, 5);
        let e = parse_dockerfile("Dockerfile", "RUN x\n").unwrap_err();
        assert_eq!(e.message, "no build stage in current context");
    }
}
