//! Robustness: random Dockerfile-ish input (odd quotes, escapes, heredoc markers,
//! multi-byte text, flags) must give a result or a positioned error, never a panic —
//! through parsing, stage graph, substitution and config evolution.

use berth_build::evolve::Step;
use berth_build::frontend::{BuildOptions, BuildPlan};

const TOKENS: &[&str] = &[
    "FROM",
    "scratch",
    "AS",
    "b",
    "RUN",
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "ARG",
    "LABEL",
    "COPY",
    "ADD",
    "WORKDIR",
    "USER",
    "VOLUME",
    "EXPOSE",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "ONBUILD",
    "SHELL",
    "MAINTAINER",
    "--from=b",
    "--chown=1:2",
    "--chmod=",
    "--interval=1s",
    "--",
    "-",
    "a=b",
    "=",
    "$A",
    "${A",
    "${A:-x}",
    "${A:+",
    "${A/x/y}",
    "${A#*}",
    "\"",
    "'",
    "\\",
    "`",
    "[",
    "]",
    "[\"x\"]",
    "[1]",
    "<<EOF",
    "<<-\"E\"",
    "EOF",
    "E",
    "#",
    "# escape=`",
    "é",
    "ß",
    "日本",
    "\t",
    "80/udp",
    "1-3",
    "NONE",
    "CMD",
    "/a/../b",
    "..",
    ".",
    "*",
    "?",
    "[a-",
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_dockerfiles_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let mut text = String::from("FROM scratch\n");
        let lines = 1 + rng.next() % 8;
        for _ in 0..lines {
            let words = 1 + rng.next() % 6;
            for w in 0..words {
                if w > 0 {
                    text.push(if rng.next().is_multiple_of(5) {
                        '\t'
                    } else {
                        ' '
                    });
                }
                text.push_str(TOKENS[(rng.next() % TOKENS.len() as u64) as usize]);
            }
            text.push_str(match rng.next() % 4 {
                0 => " \\\n",
                1 => "\r\n",
                _ => "\n",
            });
        }
        let Ok(mut plan) = BuildPlan::new("Dockerfile", &text, &BuildOptions::default()) else {
            continue;
        };
        for wave in plan.waves.clone() {
            for i in wave {
                let (mut st, _) = plan.begin_stage(i, None);
                for c in plan.dockerfile.stages[i].commands.clone() {
                    if let Ok(Step::Run(r)) = st.dispatch(&c) {
                        let _ = r.failure_message(1);
                    }
                }
                plan.finish_stage(&st);
            }
        }
    }
}

#[test]
fn random_words_patterns_and_globs_never_panic() {
    use berth_build::fnmatch::go_match;
    use berth_build::ignore::PatternMatcher;
    use berth_build::shell_lex::{EnvList, Lex};
    const CH: &[&str] = &[
        "a", "/", "*", "**", "?", "[", "]", "^", "-", "\\", "$", "{", "}", ":", "+", "#", "%", "'",
        "\"", "`", "!", ".", "é", "日", " ", "\t",
    ];
    let mut rng = Rng(42);
    let env = vec!["A=x".to_string(), "E=".to_string()];
    for _ in 0..20000 {
        let mut s = String::new();
        for _ in 0..(rng.next() % 12) {
            s.push_str(CH[(rng.next() % CH.len() as u64) as usize]);
        }
        let mut t = String::new();
        for _ in 0..(rng.next() % 12) {
            t.push_str(CH[(rng.next() % CH.len() as u64) as usize]);
        }
        for esc in ['\\', '`'] {
            let mut l = Lex::new(esc);
            let _ = l.process_word(&s, &EnvList(&env));
            l.raw_quotes = true;
            l.skip_unset_env = true;
            let _ = l.process_words(&s, &EnvList(&env));
        }
        let _ = go_match(&s, &t);
        if let Ok(pm) = PatternMatcher::new(&[s.clone(), format!("!{t}")]) {
            let _ = pm.matches_or_parent_matches(&t);
            let _ = pm.matches(&t);
        }
        let _ = berth_build::parser::parse_heredoc(&s);
    }
}
