//! Runs Docker's own shell-lexer tables (`tests/data/envVarTest`, `tests/data/wordsTest`,
//! copied from moby/buildkit `frontend/dockerfile/shell/`, Apache-2.0) through our port.

use berth_build::shell_lex::{EnvList, Lex};

#[test]
fn docker_env_var_table() {
    let table = include_str!("data/envVarTest");
    let env: Vec<String> = ["PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let lex = Lex::new('\\');
    let mut checked = 0;
    for (n, line) in table.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.trim().split('|').collect();
        assert_eq!(parts.len(), 3, "line {}", n + 1);
        let (platform, source, expected) = (parts[0].trim(), parts[1].trim(), parts[2].trim());
        if platform == "W" {
            continue;
        }
        let got = lex.process_word(source, &EnvList(&env));
        if expected == "error" {
            assert!(
                got.is_err(),
                "line {}: {source:?} should fail, got {got:?}",
                n + 1
            );
        } else {
            let got = got.unwrap_or_else(|e| panic!("line {}: {source:?}: {e}", n + 1));
            assert_eq!(got.result, expected, "line {}: {source:?}", n + 1);
        }
        checked += 1;
    }
    assert!(checked > 200);
}

#[test]
fn docker_words_table() {
    let table = include_str!("data/wordsTest");
    let mut env: Vec<String> = Vec::new();
    let lex = Lex::new('\\');
    let mut checked = 0;
    for (n, line) in table.lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("ENV ") {
            env.push(rest.trim_start_matches(' ').to_string());
            continue;
        }
        let parts: Vec<&str> = line.split('|').collect();
        assert_eq!(parts.len(), 2, "line {}", n + 1);
        let test = parts[0].trim();
        let expected: Vec<&str> = parts[1].trim_start_matches(' ').split(',').collect();
        let got = lex
            .process_words(test, &EnvList(&env))
            .unwrap_or_else(|_| vec!["error".to_string()]);
        assert_eq!(got, expected, "line {}: {test:?}", n + 1);
        checked += 1;
    }
    assert!(checked > 20);
}
