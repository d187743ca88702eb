//! Docker's Dockerfile shell lexer: variable substitution and word splitting.
//!
//! A line-by-line port of buildkit's `frontend/dockerfile/shell/lex.go` (the code the
//! legacy builder vendors), hand-written because no Rust crate reproduces Docker's
//! exact rules: `$v`, `${v}`, `${v:-w}`, `${v-w}`, `${v:+w}`, `${v+w}`, `${v?w}`,
//! `${v#p}`/`##`/`%`/`%%`, `${v/p/r}`/`//`, escape-token handling, single and double
//! quotes, and word splitting done *after* substitution. Even the quirks are kept
//! (the word buffer shared between nested `${…}` scans), so results match Docker's
//! own test tables (`tests/data/envVarTest`, `tests/data/wordsTest`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Something that can answer "what is the value of variable `k`?".
pub trait EnvLookup {
    fn lookup(&self, key: &str) -> Option<String>;
}

/// A `KEY=VALUE` list (later entries win, as in `shell.EnvsFromSlice`).
pub struct EnvList<'a>(pub &'a [String]);

impl EnvLookup for EnvList<'_> {
    fn lookup(&self, key: &str) -> Option<String> {
        self.0.iter().rev().find_map(|e| {
            let (k, v) = e.split_once('=').unwrap_or((e.as_str(), ""));
            (k == key).then(|| v.to_string())
        })
    }
}

impl EnvLookup for HashMap<String, String> {
    fn lookup(&self, key: &str) -> Option<String> {
        self.get(key).cloned()
    }
}

impl EnvLookup for BTreeMap<String, String> {
    fn lookup(&self, key: &str) -> Option<String> {
        self.get(key).cloned()
    }
}

/// No variables at all.
pub struct NoEnv;

impl EnvLookup for NoEnv {
    fn lookup(&self, _key: &str) -> Option<String> {
        None
    }
}

/// A substitution error (Docker's wording, e.g. "syntax error: bad substitution").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process \"{source_text}\": {message}")]
pub struct LexError {
    pub source_text: String,
    pub message: String,
}

/// The result of processing one word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WordResult {
    /// The substituted string (quotes removed, spaces kept).
    pub result: String,
    /// The substituted string split into words.
    pub words: Vec<String>,
    /// Variables that were referenced and found.
    pub matched: BTreeSet<String>,
    /// Variables that were referenced and not found.
    pub unmatched: BTreeSet<String>,
}

/// The lexer, configured like `shell.Lex`.
#[derive(Debug, Clone)]
pub struct Lex {
    pub escape_token: char,
    pub raw_quotes: bool,
    pub raw_escapes: bool,
    pub skip_process_quotes: bool,
    pub skip_unset_env: bool,
}

impl Lex {
    pub fn new(escape_token: char) -> Lex {
        Lex {
            escape_token,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }

    /// Substitutes variables in `word` (Docker's `ProcessWord`), also reporting which
    /// variables were found and which were not.
    pub fn process_word(&self, word: &str, env: &dyn EnvLookup) -> Result<WordResult, LexError> {
        self.process(word, env)
    }

    /// Substitutes then splits into words (Docker's `ProcessWords`).
    pub fn process_words(&self, word: &str, env: &dyn EnvLookup) -> Result<Vec<String>, LexError> {
        Ok(self.process(word, env)?.words)
    }

    fn process(&self, word: &str, env: &dyn EnvLookup) -> Result<WordResult, LexError> {
        let mut sw = ShellWord {
            lex: self,
            chars: word.chars().collect(),
            pos: 0,
            env,
            raw_escapes: self.raw_escapes,
            words_buffer: String::new(),
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
        };
        match sw.process_stop_on(None, self.raw_escapes) {
            Ok((result, words)) => Ok(WordResult {
                result,
                words,
                matched: sw.matched,
                unmatched: sw.unmatched,
            }),
            Err(message) => Err(LexError {
                source_text: word.to_string(),
                message,
            }),
        }
    }
}

struct ShellWord<'a> {
    lex: &'a Lex,
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn EnvLookup,
    raw_escapes: bool,
    /// Shared between nested scans, exactly like Go's `shellWord.wordsBuffer`.
    words_buffer: String,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

struct Words {
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, buf: &mut String, ch: char) {
        if ch.is_whitespace() && self.in_word {
            if !buf.is_empty() {
                self.words.push(std::mem::take(buf));
                self.in_word = false;
            }
        } else if !ch.is_whitespace() {
            self.add_raw_char(buf, ch);
        }
    }
    fn add_raw_char(&mut self, buf: &mut String, ch: char) {
        buf.push(ch);
        self.in_word = true;
    }
    fn add_string(&mut self, buf: &mut String, s: &str) {
        for ch in s.chars() {
            self.add_char(buf, ch);
        }
    }
    fn add_raw_string(&mut self, buf: &mut String, s: &str) {
        buf.push_str(s);
        self.in_word = true;
    }
    fn get_words(&mut self, buf: &mut String) -> Vec<String> {
        if !buf.is_empty() {
            self.words.push(std::mem::take(buf));
            self.in_word = false;
        }
        std::mem::take(&mut self.words)
    }
}

fn is_special_param(c: char) -> bool {
    matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

impl ShellWord<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        self.words_buffer.clear();
        let mut words = Words {
            words: Vec::new(),
            in_word: false,
        };
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let out = self.stop_on_loop(stop, &mut result, &mut words);
        self.raw_escapes = saved;
        out?;
        let mut buf = std::mem::take(&mut self.words_buffer);
        let w = words.get_words(&mut buf);
        self.words_buffer = buf;
        Ok((result, w))
    }

    fn stop_on_loop(
        &mut self,
        stop: Option<char>,
        result: &mut String,
        words: &mut Words,
    ) -> Result<(), String> {
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                return Ok(());
            }
            let special = ch == '$'
                || ch == '<'
                || (!self.lex.skip_process_quotes && (ch == '\'' || ch == '"'));
            if special {
                let tmp = match ch {
                    '$' => self.process_dollar()?,
                    '<' => self.process_possible_heredoc(),
                    '\'' => self.process_single_quote()?,
                    _ => self.process_double_quote()?,
                };
                result.push_str(&tmp);
                let mut buf = std::mem::take(&mut self.words_buffer);
                if ch == '$' {
                    words.add_string(&mut buf, &tmp);
                } else {
                    words.add_raw_string(&mut buf, &tmp);
                }
                self.words_buffer = buf;
            } else {
                let mut ch = self.next().unwrap_or(ch);
                let mut buf = std::mem::take(&mut self.words_buffer);
                if ch == self.lex.escape_token {
                    if self.raw_escapes {
                        words.add_raw_char(&mut buf, ch);
                        result.push(ch);
                    }
                    match self.next() {
                        None => {
                            self.words_buffer = buf;
                            break;
                        }
                        Some(c) => {
                            ch = c;
                            words.add_raw_char(&mut buf, ch);
                        }
                    }
                } else {
                    words.add_char(&mut buf, ch);
                }
                self.words_buffer = buf;
                result.push(ch);
            }
        }
        if let Some(s) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {s}"
            ));
        }
        Ok(())
    }

    fn process_single_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        let ch = self.next();
        if self.lex.raw_quotes {
            result.extend(ch);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => {
                    if self.lex.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn process_double_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        let ch = self.next();
        if self.lex.raw_quotes {
            result.extend(ch);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.next();
                    if self.lex.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.process_dollar()?;
                    result.push_str(&v);
                }
                Some(_) => {
                    let mut ch = self.next().unwrap_or(' ');
                    if ch == self.lex.escape_token {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.lex.escape_token => {
                                ch = self.next().unwrap_or(c);
                            }
                            _ => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn get_env(&mut self, name: &str) -> Option<String> {
        match self.env.lookup(name) {
            Some(v) => {
                self.matched.insert(name.to_string());
                Some(v)
            }
            None => {
                self.unmatched.insert(name.to_string());
                None
            }
        }
    }

    fn process_dollar(&mut self) -> Result<String, String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".into());
            }
            let value = self.get_env(&name);
            if value.is_none() && self.lex.skip_unset_env {
                return Ok(format!("${name}"));
            }
            return Ok(value.unwrap_or_default());
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{') | Some('}') | Some(':') => {
                return Err("syntax error: bad substitution".into())
            }
            _ => {}
        }
        let name = self.process_name();
        let ch = self.next();
        let mut chs: String = ch.into_iter().collect();
        match ch {
            Some('}') => {
                let value = self.get_env(&name);
                if value.is_none() && self.lex.skip_unset_env {
                    return Ok(format!("${{{name}}}"));
                }
                Ok(value.unwrap_or_default())
            }
            Some(':') | Some('+') | Some('-') | Some('?') | Some('#') | Some('%') => {
                let mut ch = ch;
                let mut null_is_unset = false;
                if ch == Some(':') {
                    null_is_unset = true;
                    ch = self.next();
                    chs.extend(ch);
                }
                let raw = ch == Some('#') || ch == Some('%');
                if null_is_unset && raw {
                    return Err(format!("unsupported modifier ({chs}) in substitution"));
                }
                let word = match self.process_stop_on(Some('}'), raw) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '}'".into());
                        }
                        return Err(e);
                    }
                };
                let value = self.get_env(&name);
                if self.lex.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}{chs}{word}}}"));
                }
                let set = value.is_some();
                let value = value.unwrap_or_default();
                match ch {
                    Some('-') => {
                        if !set || (null_is_unset && value.is_empty()) {
                            Ok(word)
                        } else {
                            Ok(value)
                        }
                    }
                    Some('+') => {
                        if !set || (null_is_unset && value.is_empty()) {
                            Ok(String::new())
                        } else {
                            Ok(word)
                        }
                    }
                    Some('?') => {
                        if !set {
                            let m = if word.is_empty() {
                                "is not allowed to be unset".to_string()
                            } else {
                                word
                            };
                            return Err(format!("{name}: {m}"));
                        }
                        if null_is_unset && value.is_empty() {
                            let m = if word.is_empty() {
                                "is not allowed to be empty".to_string()
                            } else {
                                word
                            };
                            return Err(format!("{name}: {m}"));
                        }
                        Ok(value)
                    }
                    Some(c @ ('%' | '#')) => {
                        let mut word = word;
                        let mut greedy = false;
                        if word.starts_with(c) {
                            greedy = true;
                            word.remove(0);
                        }
                        if c == '%' {
                            trim_suffix(&word, &value, greedy)
                        } else {
                            trim_prefix(&word, &value, greedy)
                        }
                    }
                    _ => Err(format!("unsupported modifier ({chs}) in substitution")),
                }
            }
            Some('/') => {
                let replace_all = self.peek() == Some('/');
                if replace_all {
                    self.next();
                }
                let pattern = match self.process_stop_on(Some('/'), true) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '/' in ${}".into());
                        }
                        return Err(e);
                    }
                };
                let replacement = match self.process_stop_on(Some('}'), true) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '}'".into());
                        }
                        return Err(e);
                    }
                };
                let value = self.get_env(&name);
                if value.is_none() && self.lex.skip_unset_env {
                    return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
                }
                let value = value.unwrap_or_default();
                let re = shell_pattern_to_regex(&pattern, true, false)
                    .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
                if replace_all {
                    Ok(re
                        .replace_all(&value, regex::NoExpand(&replacement))
                        .into_owned())
                } else if let Some(m) = re.find(&value) {
                    Ok(format!(
                        "{}{}{}",
                        &value[..m.start()],
                        replacement,
                        &value[m.end()..]
                    ))
                } else {
                    Ok(value)
                }
            }
            None => Err("syntax error: missing '}'".into()),
            _ => Err(format!("unsupported modifier ({chs}) in substitution")),
        }
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(c) = self.peek() {
                    if !c.is_numeric() {
                        break;
                    }
                    self.next();
                    name.push(c);
                }
                return name;
            }
            if name.is_empty() && is_special_param(ch) {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphabetic() && !ch.is_numeric() && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }

    fn process_possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.next();
        let mut result = String::from("<<");
        while let Some(c) = self.peek() {
            if !matches!(c, '\t' | '\r' | ' ') {
                break;
            }
            result.push(c);
            self.next();
        }
        result
    }
}

/// Converts a shell wildcard pattern (`?`, `*`, `\` escapes; no brackets) to a regex,
/// as `convertShellPatternToRegex` does.
fn shell_pattern_to_regex(
    pattern: &str,
    greedy: bool,
    anchored: bool,
) -> Result<regex::Regex, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    if anchored {
        out.push('^');
    }
    let star = if greedy { ".*" } else { ".*?" };
    let mut i = 0;
    while i < chars.len() {
        let mut tok = chars[i];
        i += 1;
        match tok {
            '*' => {
                out.push_str(star);
                continue;
            }
            '?' => {
                out.push('.');
                continue;
            }
            '\\' => {
                if matches!(chars.get(i), Some('}') | Some('/')) {
                    continue;
                }
                out.push('\\');
                let Some(&n) = chars.get(i) else {
                    return Err("invalid escape '\\'".into());
                };
                i += 1;
                tok = n;
                if tok != '*' && tok != '?' && tok != '\\' {
                    return Err(format!("invalid escape '\\{tok}'"));
                }
            }
            '[' | ']' | '{' | '}' | '.' | '+' | '(' | ')' | '|' | '^' | '$' => out.push('\\'),
            _ => {}
        }
        out.push(tok);
    }
    regex::Regex::new(&out).map_err(|e| e.to_string())
}

fn trim_prefix(word: &str, value: &str, greedy: bool) -> Result<String, String> {
    let re = shell_pattern_to_regex(word, greedy, true)
        .map_err(|e| format!("invalid pattern ({word}) in substitution: {e}"))?;
    Ok(match re.find(value) {
        Some(m) => value[m.end()..].to_string(),
        None => value.to_string(),
    })
}

fn reverse_pattern(pattern: &str) -> String {
    let p: Vec<char> = pattern.chars().collect();
    let n = p.len();
    let mut out = vec![' '; n];
    let mut i = 0;
    while i < n {
        let tok = p[i];
        let out_idx = n - 1 - i;
        if tok == '\\' && i != n - 1 {
            out[out_idx - 1] = tok;
            out[out_idx] = p[i + 1];
            i += 2;
        } else {
            out[out_idx] = tok;
            i += 1;
        }
    }
    out.into_iter().collect()
}

fn trim_suffix(pattern: &str, word: &str, greedy: bool) -> Result<String, String> {
    let pattern = reverse_pattern(pattern);
    let word: String = word.chars().rev().collect();
    let s = trim_prefix(&pattern, &word, greedy)?;
    Ok(s.chars().rev().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[&str]) -> Vec<String> {
        pairs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_and_alternatives() {
        let e = env(&["A=a", "EMPTY="]);
        let l = Lex::new('\\');
        let w = |s: &str| l.process_word(s, &EnvList(&e)).unwrap().result;
        assert_eq!(w("${A:-x}"), "a");
        assert_eq!(w("${EMPTY:-x}"), "x");
        assert_eq!(w("${EMPTY-x}"), "");
        assert_eq!(w("${NOPE-x}"), "x");
        assert_eq!(w("${EMPTY:+x}"), "");
        assert_eq!(w("${EMPTY+x}"), "x");
        assert_eq!(w("${A:+x}"), "x");
        assert_eq!(w("\\$A"), "$A");
        assert_eq!(w("'$A'"), "$A");
        assert_eq!(w("\"$A\""), "a");
    }

    #[test]
    fn pattern_ops() {
        let e = env(&["P=foo/bar/baz.tar.gz"]);
        let l = Lex::new('\\');
        let w = |s: &str| l.process_word(s, &EnvList(&e)).unwrap().result;
        assert_eq!(w("${P#*/}"), "bar/baz.tar.gz");
        assert_eq!(w("${P##*/}"), "baz.tar.gz");
        assert_eq!(w("${P%.*}"), "foo/bar/baz.tar");
        assert_eq!(w("${P%%.*}"), "foo/bar/baz");
        assert_eq!(w("${P/bar/qux}"), "foo/qux/baz.tar.gz");
        assert_eq!(w("${P//a/A}"), "foo/bAr/bAz.tAr.gz");
    }

    #[test]
    fn matched_and_unmatched_are_reported() {
        let e = env(&["A=1"]);
        let r = Lex::new('\\')
            .process_word("$A ${B:-x}", &EnvList(&e))
            .unwrap();
        assert!(r.matched.contains("A"));
        assert!(r.unmatched.contains("B"));
    }

    #[test]
    fn backtick_escape() {
        let e = env(&["A=1"]);
        let l = Lex::new('`');
        assert_eq!(l.process_word("`$A", &EnvList(&e)).unwrap().result, "$A");
        assert_eq!(
            l.process_word("c:\\a", &EnvList(&e)).unwrap().result,
            "c:\\a"
        );
    }
}
