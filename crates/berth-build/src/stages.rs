//! The stage graph of a multi-stage Dockerfile.
//!
//! Stages are found by name (`FROM … AS name`, case-insensitive) or index; a stage
//! depends on the stage it is built `FROM` and on every stage it `COPY --from=`s.
//! [`StageGraph::needed`] is the set of stages a `--target` actually needs (unlike the
//! legacy builder, which builds every stage up to the target, we skip unrelated
//! ones, as BuildKit does), and [`StageGraph::waves`] orders them in waves: stages of
//! one wave depend only on earlier waves, so they can be built in parallel. A
//! reference to a name that is not a stage is an image (`scratch` = no base).

use crate::args::BuildArgs;
use crate::error::ParseError;
use crate::instructions::{Instruction, ParsedDockerfile};
use crate::parser::go_quote;
use crate::shell_lex::{Lex, NoEnv};
use std::collections::{BTreeMap, BTreeSet};

/// What a stage is built on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// `FROM scratch`.
    Scratch,
    /// An earlier stage, by index.
    Stage(usize),
    /// An image reference (after global-ARG substitution).
    Image(String),
}

/// A `COPY --from=` source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopySource {
    Stage(usize),
    Image(String),
}

/// One stage in the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageNode {
    pub index: usize,
    pub name: Option<String>,
    pub base: Base,
    /// `COPY --from` sources, in order.
    pub copy_from: Vec<CopySource>,
    /// Stages this one needs (base stage and COPY --from stages).
    pub deps: BTreeSet<usize>,
}

/// The graph of all stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageGraph {
    pub stages: Vec<StageNode>,
}

impl StageGraph {
    /// Builds the graph. `meta` are the global ARGs with `--build-arg` overrides, used
    /// to substitute FROM lines (and `--from` values).
    pub fn new(df: &ParsedDockerfile, meta: &BuildArgs) -> Result<StageGraph, ParseError> {
        let lex = Lex::new(df.directives.escape);
        let env: BTreeMap<String, String> = meta.all_meta();
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        let mut stages = Vec::new();
        for (i, s) in df.stages.iter().enumerate() {
            let err = |m: String| ParseError {
                location: s.location.clone(),
                message: m,
            };
            let base_name = lex
                .process_word(&s.base_name, &env)
                .map_err(|e| err(e.to_string()))?
                .result;
            if base_name.is_empty() {
                return Err(err(format!(
                    "base name ({}) should not be blank",
                    s.base_name
                )));
            }
            let mut deps = BTreeSet::new();
            let base = if let Some(&j) = names.get(&base_name.to_ascii_lowercase()) {
                deps.insert(j);
                Base::Stage(j)
            } else if base_name == "scratch" {
                Base::Scratch
            } else {
                Base::Image(base_name)
            };
            let mut copy_from = Vec::new();
            for c in &s.commands {
                let Instruction::Copy(cp) = &c.instruction else {
                    continue;
                };
                if cp.from.is_empty() {
                    continue;
                }
                let from = lex
                    .process_word(&cp.from, &env)
                    .or_else(|_| lex.process_word(&cp.from, &NoEnv))
                    .map(|r| r.result)
                    .unwrap_or_else(|_| cp.from.clone());
                let src = if let Some(&j) = names.get(&from.to_ascii_lowercase()) {
                    CopySource::Stage(j)
                } else if let Ok(ix) = from.parse::<i64>() {
                    let cerr = |m: &str| ParseError {
                        location: c.location.clone(),
                        message: format!("invalid from flag value {from}: {m}"),
                    };
                    if ix == i as i64 {
                        return Err(cerr("refers to current build stage"));
                    }
                    if ix < 0 || ix > i as i64 {
                        return Err(cerr("index out of bounds"));
                    }
                    CopySource::Stage(ix as usize)
                } else {
                    CopySource::Image(from)
                };
                if let CopySource::Stage(j) = src {
                    deps.insert(j);
                }
                copy_from.push(src);
            }
            if let Some(n) = &s.name {
                if names.contains_key(n) {
                    return Err(err(format!("{n} stage name already used")));
                }
                names.insert(n.clone(), i);
            }
            stages.push(StageNode {
                index: i,
                name: s.name.clone(),
                base,
                copy_from,
                deps,
            });
        }
        Ok(StageGraph { stages })
    }

    /// Finds a stage by name (case-insensitive) or index.
    pub fn resolve(&self, name_or_index: &str) -> Option<usize> {
        let lower = name_or_index.to_ascii_lowercase();
        self.stages
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
            .map(|s| s.index)
            .or_else(|| {
                name_or_index
                    .parse::<usize>()
                    .ok()
                    .filter(|i| *i < self.stages.len())
            })
    }

    /// The stage `--target` names (the last stage when None).
    pub fn target(&self, target: Option<&str>) -> Result<usize, String> {
        match target {
            None | Some("") => self
                .stages
                .len()
                .checked_sub(1)
                .ok_or_else(|| "no build stage in current context".to_string()),
            Some(t) => {
                let lower = t.to_ascii_lowercase();
                self.stages
                    .iter()
                    .find(|s| s.name.as_deref() == Some(lower.as_str()))
                    .map(|s| s.index)
                    .ok_or_else(|| format!("target stage {} could not be found", go_quote(t)))
            }
        }
    }

    /// Every stage `target` needs, itself included.
    pub fn needed(&self, target: usize) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if out.insert(i) {
                if let Some(s) = self.stages.get(i) {
                    todo.extend(s.deps.iter().copied());
                }
            }
        }
        out
    }

    /// The needed stages in waves: every stage's dependencies are in earlier waves,
    /// so the stages of one wave can be built in parallel.
    pub fn waves(&self, target: usize) -> Vec<Vec<usize>> {
        let needed = self.needed(target);
        let mut level: BTreeMap<usize, usize> = BTreeMap::new();
        // Dependencies always have smaller indexes, so one pass in order suffices.
        for &i in &needed {
            let l = self.stages[i]
                .deps
                .iter()
                .map(|d| level.get(d).copied().unwrap_or(0) + 1)
                .max()
                .unwrap_or(0);
            level.insert(i, l);
        }
        let depth = level.values().copied().max().map(|m| m + 1).unwrap_or(0);
        let mut waves = vec![Vec::new(); depth];
        for (i, l) in level {
            waves[l].push(i);
        }
        waves
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::parse_dockerfile;

    fn graph(text: &str) -> Result<StageGraph, ParseError> {
        let df = parse_dockerfile("Dockerfile", text).unwrap();
        let mut meta = BuildArgs::default();
        for m in &df.meta_args {
            if let Instruction::Arg(defs) = &m.instruction {
                for d in defs {
                    meta.add_meta_arg(&d.key, d.value.clone());
                }
            }
        }
        StageGraph::new(&df, &meta)
    }

    const MULTI: &str = "ARG BASE=busybox\n\
FROM $BASE AS deps\nRUN a\n\
FROM scratch AS assets\nCOPY x /x\n\
FROM busybox AS unrelated\nRUN b\n\
FROM deps AS builder\nRUN c\n\
FROM busybox\nCOPY --from=builder /out /out\nCOPY --from=1 /x /x\nCOPY --from=nginx:1 /etc/nginx /n\n";

    #[test]
    fn target_needs_only_its_dependencies() {
        let g = graph(MULTI).unwrap();
        assert_eq!(g.stages[0].base, Base::Image("busybox".into()));
        assert_eq!(g.stages[1].base, Base::Scratch);
        assert_eq!(g.stages[3].base, Base::Stage(0));
        assert_eq!(
            g.stages[4].copy_from,
            vec![
                CopySource::Stage(3),
                CopySource::Stage(1),
                CopySource::Image("nginx:1".into())
            ]
        );
        let t = g.target(None).unwrap();
        assert_eq!(t, 4);
        assert_eq!(g.needed(t), BTreeSet::from([0, 1, 3, 4]));
        assert_eq!(g.waves(t), vec![vec![0, 1], vec![3], vec![4]]);
        let b = g.target(Some("Builder")).unwrap();
        assert_eq!(g.needed(b), BTreeSet::from([0, 3]));
        assert_eq!(
            g.target(Some("nope")).unwrap_err(),
            "target stage \"nope\" could not be found"
        );
        assert_eq!(g.resolve("2"), Some(2));
        assert_eq!(g.resolve("UNRELATED"), Some(2));
    }

    #[test]
    fn bad_references_are_errors() {
        let e = graph("FROM a\nCOPY --from=0 /x /y\n").unwrap_err();
        assert!(e.message.contains("refers to current build stage"));
        let e = graph("FROM a\nFROM b\nCOPY --from=5 /x /y\n").unwrap_err();
        assert!(e.message.contains("index out of bounds"));
        assert_eq!(e.location.line, 3);
        let e = graph("FROM a AS x\nFROM b AS x\n").unwrap_err();
        assert_eq!(e.message, "x stage name already used");
        let e = graph("ARG E=\nFROM $E\n").unwrap_err();
        assert_eq!(e.message, "base name ($E) should not be blank");
    }
}
