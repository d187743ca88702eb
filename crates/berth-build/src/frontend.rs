//! The front door: from Dockerfile text and build options to a build plan.
//!
//! [`BuildPlan::new`] parses the Dockerfile, evaluates the global ARGs (each expanded
//! with the ones before it, `--build-arg` overriding defaults, platform args
//! predefined), builds the [`StageGraph`], resolves `--target` and the parallel
//! [`StageGraph::waves`], and appends `--label`s to the target stage as LABEL
//! instructions sorted by key (as the legacy builder does). The executor then runs
//! each stage with [`BuildPlan::begin_stage`] + [`StageState::dispatch`], merges
//! each finished stage's args back with [`BuildPlan::finish_stage`] and reports
//! [`BuildPlan::unused_build_args_warning`] at the end.
//!
//! ```
//! use berth_build::frontend::{BuildOptions, BuildPlan};
//! use berth_build::evolve::Step;
//!
//! let text = "ARG BASE=scratch\nFROM $BASE AS base\nENV A=1\nFROM base\nCMD [\"sh\"]\n";
//! let mut plan = BuildPlan::new("Dockerfile", text, &BuildOptions::default()).unwrap();
//! assert_eq!(plan.waves, vec![vec![0], vec![1]]);
//! let (mut st, triggers) = plan.begin_stage(0, None);
//! assert!(triggers.is_empty());
//! let cmds = plan.dockerfile.stages[0].commands.clone();
//! for c in &cmds {
//!     assert!(matches!(st.dispatch(c).unwrap(), Step::Commit { .. }));
//! }
//! plan.finish_stage(&st);
//! assert_eq!(plan.unused_build_args_warning(), None);
//! ```

use crate::args::BuildArgs;
use crate::error::ParseError;
use crate::evolve::StageState;
use crate::instructions::{parse_dockerfile, Command, Instruction, KeyValue, ParsedDockerfile};
use crate::shell_lex::{Lex, NoEnv};
use crate::stages::StageGraph;
use berth_oci::ImageConfig;
use std::collections::BTreeMap;

/// Options of one build (the `/build` query parameters that concern the front end).
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// `--build-arg` (None = name given without value and not resolvable).
    pub build_args: BTreeMap<String, Option<String>>,
    /// `--target`.
    pub target: Option<String>,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// Target platform: OS, architecture, variant.
    pub platform: (String, String, String),
}

impl Default for BuildOptions {
    fn default() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        BuildOptions {
            build_args: BTreeMap::new(),
            target: None,
            labels: BTreeMap::new(),
            platform: ("linux".into(), arch.into(), String::new()),
        }
    }
}

/// A parsed, resolved build.
#[derive(Debug, Clone)]
pub struct BuildPlan {
    pub file: String,
    pub dockerfile: ParsedDockerfile,
    /// Global build args after the ARGs before the first FROM.
    pub global_args: BuildArgs,
    pub graph: StageGraph,
    /// The stage being built.
    pub target: usize,
    /// Stages to build, in waves that can each run in parallel.
    pub waves: Vec<Vec<usize>>,
}

impl BuildPlan {
    /// Parses and resolves a build. Errors name the file, line and column.
    pub fn new(file: &str, text: &str, opts: &BuildOptions) -> Result<BuildPlan, ParseError> {
        let mut dockerfile = parse_dockerfile(file, text)?;
        let (os, arch, variant) = &opts.platform;
        let mut global = BuildArgs::new(opts.build_args.clone()).with_platform(os, arch, variant);
        let lex = Lex::new(dockerfile.directives.escape);
        for m in &dockerfile.meta_args {
            let mut ins = m.instruction.clone();
            let env: BTreeMap<String, String> = global.all_allowed();
            ins.expand(&mut |w: &str| lex.process_word(w, &env).map(|r| r.result))
                .map_err(|e| ParseError {
                    location: m.location.clone(),
                    message: e.to_string(),
                })?;
            if let Instruction::Arg(defs) = ins {
                for d in defs {
                    global.add_meta_arg(&d.key, d.value);
                }
            }
        }
        if dockerfile.stages.is_empty() {
            return Err(ParseError::new(
                file,
                1,
                1,
                "no build stage in current context",
            ));
        }
        let graph = StageGraph::new(&dockerfile, &global)?;
        let target = graph
            .target(opts.target.as_deref())
            .map_err(|m| ParseError::new(file, 1, 1, m))?;
        let stage = &mut dockerfile.stages[target];
        let end_line = stage
            .commands
            .last()
            .map(|c| c.end_line)
            .unwrap_or(stage.location.line);
        for (k, v) in &opts.labels {
            stage.commands.push(Command {
                instruction: Instruction::BuildLabel(KeyValue {
                    key: k.clone(),
                    value: v.clone(),
                    no_delim: false,
                }),
                name: "LABEL".into(),
                code: format!("LABEL {k}={v}"),
                location: stage.location.clone(),
                end_line,
            });
        }
        let waves = graph.waves(target);
        Ok(BuildPlan {
            file: file.to_string(),
            dockerfile,
            global_args: global,
            graph,
            target,
            waves,
        })
    }

    /// The FROM reference of stage `i` after global-ARG substitution.
    pub fn base_name(&self, i: usize) -> String {
        let s = &self.dockerfile.stages[i];
        let env = self.global_args.all_meta();
        let lex = Lex::new(self.dockerfile.directives.escape);
        lex.process_word(&s.base_name, &env)
            .or_else(|_| lex.process_word(&s.base_name, &NoEnv))
            .map(|r| r.result)
            .unwrap_or_else(|_| s.base_name.clone())
    }

    /// Starts stage `i` on its base image config (None for scratch). Returns the state
    /// and the base's ONBUILD triggers (parse with [`crate::evolve::parse_trigger`]
    /// and dispatch before the stage's own instructions).
    pub fn begin_stage(&self, _i: usize, base: Option<&ImageConfig>) -> (StageState, Vec<String>) {
        StageState::begin(
            self.dockerfile.directives.escape,
            base,
            self.global_args.for_stage(),
        )
    }

    /// Docker's step count: global ARGs + every FROM + every instruction of the
    /// stages built (labels from `--label` included).
    pub fn total_steps(&self) -> usize {
        let stages: usize = self
            .waves
            .iter()
            .flatten()
            .map(|&i| 1 + self.dockerfile.stages[i].commands.len())
            .sum();
        self.dockerfile.meta_args.len() + stages
    }

    /// The progress line Docker prints before a step: `Step 3/7 : COPY . /app`.
    /// `cmd` is None for the stage's FROM line. Steps are numbered in Dockerfile
    /// order over the stages that are built.
    pub fn step_line(&self, stage: usize, cmd: Option<usize>) -> String {
        let mut n = self.dockerfile.meta_args.len();
        for &i in self
            .waves
            .iter()
            .flatten()
            .collect::<std::collections::BTreeSet<_>>()
        {
            let s = &self.dockerfile.stages[i];
            if i == stage {
                let (k, code) = match cmd {
                    None => (1, s.source_code.clone()),
                    Some(c) => (
                        c + 2,
                        s.commands
                            .get(c)
                            .map(|x| x.code.clone())
                            .unwrap_or_default(),
                    ),
                };
                return format!("Step {}/{} : {code}", n + k, self.total_steps());
            }
            n += 1 + s.commands.len();
        }
        String::new()
    }

    /// Records which args a finished stage declared (for the unused-arg warning).
    pub fn finish_stage(&mut self, st: &StageState) {
        self.global_args.merge_referenced(&st.args);
    }

    /// `[Warning] One or more build-args [x] were not consumed` if any.
    pub fn unused_build_args_warning(&self) -> Option<String> {
        self.global_args.unused_warning()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evolve::Step;

    #[test]
    fn global_args_labels_and_unused_warning() {
        let text = "ARG A=1\nARG B=${A}2\nFROM busybox:$B AS one\nARG A\nRUN echo $A\nFROM scratch\nCOPY --from=one /x /x\n";
        let mut opts = BuildOptions::default();
        opts.build_args.insert("A".into(), Some("9".into()));
        opts.build_args.insert("EXTRA".into(), Some("x".into()));
        opts.labels.insert("z".into(), "$notexpanded".into());
        opts.labels.insert("a".into(), "1".into());
        let mut plan = BuildPlan::new("Dockerfile", text, &opts).unwrap();
        assert_eq!(plan.base_name(0), "busybox:92");
        assert_eq!(plan.waves, vec![vec![0], vec![1]]);
        let (mut st, _) = plan.begin_stage(0, None);
        let cmds = plan.dockerfile.stages[0].commands.clone();
        st.dispatch(&cmds[0]).unwrap();
        let Step::Run(r) = st.dispatch(&cmds[1]).unwrap() else {
            panic!()
        };
        assert_eq!(r.created_by, "|1 A=9 /bin/sh -c echo $A");
        plan.finish_stage(&st);
        let (mut st, _) = plan.begin_stage(1, None);
        let cmds = plan.dockerfile.stages[1].commands.clone();
        let got: Vec<String> = cmds
            .iter()
            .skip(1)
            .map(|c| match st.dispatch(c).unwrap() {
                Step::Commit { created_by } => created_by,
                _ => panic!(),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                "/bin/sh -c #(nop)  LABEL a=1",
                "/bin/sh -c #(nop)  LABEL z=$notexpanded"
            ]
        );
        plan.finish_stage(&st);
        assert_eq!(
            plan.unused_build_args_warning().unwrap(),
            "[Warning] One or more build-args [EXTRA] were not consumed\n"
        );
    }

    #[test]
    fn step_lines_number_like_docker() {
        let text = "ARG V=1\nFROM scratch AS a\nCOPY x /x\nFROM scratch AS unused\nENV A=1\nFROM scratch\nCOPY --from=a /x /y\nCMD [\"x\"]\n";
        let plan = BuildPlan::new("Dockerfile", text, &BuildOptions::default()).unwrap();
        assert_eq!(plan.total_steps(), 6);
        assert_eq!(plan.step_line(0, None), "Step 2/6 : FROM scratch AS a");
        assert_eq!(plan.step_line(0, Some(0)), "Step 3/6 : COPY x /x");
        assert_eq!(plan.step_line(2, Some(1)), "Step 6/6 : CMD [\"x\"]");
    }

    #[test]
    fn target_errors_are_reported() {
        let opts = BuildOptions {
            target: Some("nope".into()),
            ..Default::default()
        };
        let e = BuildPlan::new("Dockerfile", "FROM scratch\n", &opts).unwrap_err();
        assert_eq!(e.message, "target stage \"nope\" could not be found");
        let e = BuildPlan::new("Dockerfile", "ARG X\n", &BuildOptions::default()).unwrap_err();
        assert_eq!(e.message, "no build stage in current context");
    }
}
