//! The Dockerfile parser: text → positioned nodes, one per instruction.
//!
//! A port of buildkit's `frontend/dockerfile/parser` (what the legacy builder uses):
//! parser directives (`# escape=`, `# syntax=`, `# check=`, only at the very top),
//! comments, line continuations with the escape token (comment lines inside a
//! continuation are dropped, empty continuation lines warned about), heredocs
//! (`<<EOF`, `<<-EOF`, quoted delimiters, several per line) on RUN/COPY/ADD (also under
//! ONBUILD), the per-instruction argument splitters (JSON vs shell form — invalid JSON
//! silently becomes shell form —, `KEY=VALUE` lists and the legacy `ENV k v`, plain
//! whitespace lists, HEALTHCHECK's type word, ONBUILD's sub-instruction) and the
//! `--flag` words in front of the arguments. Typed instructions and their argument
//! checks are in [`crate::instructions`]. Hand-written because Docker's rules are not
//! a grammar any parser crate reproduces; every node keeps its line and column.

use crate::error::ParseError;
use crate::shell_lex::{Lex, NoEnv};

/// The parser directives found at the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    pub escape: char,
    pub syntax: Option<String>,
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            escape: '\\',
            syntax: None,
            check: None,
        }
    }
}

/// A heredoc attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    pub file_descriptor: u32,
    /// False when the delimiter was quoted: then the body is not expanded.
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from the body.
    pub chomp: bool,
    /// The body, with line endings, without the terminator line.
    pub content: String,
}

impl Heredoc {
    /// The body with leading tabs removed when `chomp` is set.
    pub fn body(&self) -> String {
        if self.chomp {
            chomp_heredoc_content(&self.content)
        } else {
            self.content.clone()
        }
    }
}

/// One instruction as parsed, before typing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// The instruction word as written (`RUN`, `from`, …).
    pub instruction: String,
    /// `--name=value` words in front of the arguments.
    pub flags: Vec<String>,
    /// The arguments, split as Docker's line parser for this instruction splits them.
    /// ENV/LABEL: triples (key, value, "=" or "" for the legacy form). ONBUILD: the
    /// trigger's instruction word followed by its arguments.
    pub args: Vec<String>,
    /// The arguments were a JSON array (exec form).
    pub json: bool,
    /// The whole logical line (continuations joined).
    pub original: String,
    pub start_line: usize,
    pub end_line: usize,
    /// 1-based column of the instruction word on its first line.
    pub column: usize,
    pub heredocs: Vec<Heredoc>,
    /// ONBUILD's trigger instruction.
    pub sub: Option<Box<Node>>,
    /// Comment lines directly above the instruction.
    pub comments: Vec<String>,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub file: String,
    pub directives: Directives,
    pub nodes: Vec<Node>,
    pub warnings: Vec<String>,
}

struct DirectiveParser {
    done: bool,
    seen: Vec<String>,
}

impl DirectiveParser {
    fn parse_line(&mut self, line: &str) -> Result<Option<(String, String)>, String> {
        if self.done {
            return Ok(None);
        }
        let Some(rest) = line.strip_prefix('#') else {
            self.done = true;
            return Ok(None);
        };
        let rest = rest.trim_start();
        let key_len = rest
            .char_indices()
            .take_while(|(i, c)| {
                if *i == 0 {
                    c.is_ascii_alphabetic()
                } else {
                    c.is_ascii_alphanumeric()
                }
            })
            .count();
        if key_len == 0 {
            self.done = true;
            return Ok(None);
        }
        let key = &rest[..key_len];
        let after = rest[key_len..].trim_start();
        let Some(value) = after.strip_prefix('=') else {
            self.done = true;
            return Ok(None);
        };
        let value = value.trim();
        if value.is_empty() {
            self.done = true;
            return Ok(None);
        }
        let k = key.to_ascii_lowercase();
        if !matches!(k.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(None);
        }
        if self.seen.contains(&k) {
            return Err(format!("only one {k} parser directive can be used"));
        }
        self.seen.push(k.clone());
        Ok(Some((k, value.to_string())))
    }
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

/// Removes a trailing line-continuation escape (and blanks after it). Returns the
/// line and whether the logical line ended here.
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    if let Some(before) = trimmed.strip_suffix(escape) {
        if before.is_empty() || !before.ends_with(escape) {
            return (before.to_string(), false);
        }
    }
    (line.to_string(), true)
}

fn is_whitespace_sep(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// `reWhitespace.Split(s, n)` with `[\t\v\f\r ]+`.
fn split_ws(s: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        if n > 0 && out.len() + 1 == n {
            out.push(rest.to_string());
            break;
        }
        match rest.find(is_whitespace_sep) {
            Some(i) => {
                out.push(rest[..i].to_string());
                rest = rest[i..].trim_start_matches(is_whitespace_sep);
            }
            None => {
                out.push(rest.to_string());
                break;
            }
        }
    }
    out
}

/// Strips leading tabs from every line of a heredoc body.
pub fn chomp_heredoc_content(s: &str) -> String {
    s.split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

/// Parses a Dockerfile. `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Dockerfile, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut directives = Directives::default();
    let mut dp = DirectiveParser {
        done: false,
        seen: Vec::new(),
    };
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut comments: Vec<String> = Vec::new();
    let mut idx = 0usize;
    let err = |line: usize, col: usize, m: String| ParseError::new(file, line, col, m);

    // Processes one physical line: trims the newline (and leading blanks for first
    // lines), checks for a directive, and drops comments.
    let mut process_line = |raw: &str,
                            strip_left: bool,
                            directives: &mut Directives|
     -> Result<(String, bool), String> {
        let mut tok = trim_newline(raw);
        if strip_left {
            tok = tok.trim_start();
        }
        let mut directive_ok = false;
        if let Some((k, v)) = dp.parse_line(tok)? {
            directive_ok = true;
            match k.as_str() {
                "escape" => {
                    if v != "`" && v != "\\" {
                        return Err(format!("invalid escape token '{v}' does not match ` or \\"));
                    }
                    directives.escape = v.chars().next().unwrap_or('\\');
                }
                "syntax" => directives.syntax = Some(v),
                _ => directives.check = Some(v),
            }
        }
        let out = if is_comment(tok) { "" } else { tok };
        Ok((out.to_string(), directive_ok))
    };

    while idx < lines.len() {
        let raw = lines[idx];
        idx += 1;
        let line_no = idx;
        if is_comment(raw) {
            let c = raw.trim_start()[1..].trim().to_string();
            if c.is_empty() {
                comments.clear();
            } else {
                comments.push(c);
            }
        }
        let (first, directive_ok) =
            process_line(raw, true, &mut directives).map_err(|m| err(line_no, 1, m))?;
        if directive_ok {
            comments.pop();
        }
        let column = trim_newline(raw).len() - trim_newline(raw).trim_start().len() + 1;
        let escape = directives.escape;
        let (first, mut end) = trim_continuation(&first, escape);
        if end && first.is_empty() {
            continue;
        }
        let mut buf = first;
        let mut has_empty_continuation = false;
        while !end && idx < lines.len() {
            let raw = lines[idx];
            idx += 1;
            let (l, _) = process_line(raw, false, &mut directives).map_err(|m| err(idx, 1, m))?;
            if is_comment(raw) {
                continue;
            }
            if l.trim_start().is_empty() {
                has_empty_continuation = true;
                continue;
            }
            let (l, e) = trim_continuation(&l, escape);
            end = e;
            buf.push_str(&l);
        }
        let mut end_line = idx;
        if has_empty_continuation {
            warnings.push(format!("Empty continuation line found in: {buf}"));
        }
        let mut node = node_from_line(&buf, escape).map_err(|m| err(line_no, column, m))?;
        node.comments = std::mem::take(&mut comments);
        if can_contain_heredoc(&node) && buf.contains("<<") {
            let docs = heredocs_from_line(&buf).map_err(|m| err(line_no, column, m))?;
            let mut attached = Vec::new();
            for mut doc in docs {
                let mut content = String::new();
                let mut terminated = false;
                while idx < lines.len() {
                    let raw = lines[idx];
                    idx += 1;
                    let mut possible = trim_newline(raw);
                    if doc.chomp {
                        possible = possible.trim_start_matches('\t');
                    }
                    if possible == doc.name {
                        terminated = true;
                        break;
                    }
                    content.push_str(raw);
                }
                if !terminated {
                    return Err(err(line_no, column, "unterminated heredoc".into()));
                }
                doc.content = content;
                attached.push(doc);
            }
            end_line = idx;
            if let Some(sub) = node.sub.as_mut() {
                sub.heredocs = attached.clone();
            }
            node.heredocs = attached;
        }
        node.start_line = line_no;
        node.end_line = end_line;
        node.column = column;
        if let Some(sub) = node.sub.as_mut() {
            sub.start_line = line_no;
            sub.end_line = end_line;
            sub.column = column;
        }
        nodes.push(node);
    }
    if nodes.is_empty() {
        return Err(err(
            lines.len().max(1),
            1,
            "file with no instructions".into(),
        ));
    }
    Ok(Dockerfile {
        file: file.to_string(),
        directives,
        nodes,
        warnings,
    })
}

fn can_contain_heredoc(node: &Node) -> bool {
    let n = match (&node.sub, node.instruction.eq_ignore_ascii_case("onbuild")) {
        (Some(sub), true) => sub.as_ref(),
        _ => node,
    };
    let lower = n.instruction.to_ascii_lowercase();
    matches!(lower.as_str(), "add" | "copy" | "run") && !n.json
}

/// Parses the text of one logical line into a node (without positions).
pub fn node_from_line(line: &str, escape: char) -> Result<Node, String> {
    let (cmd, flags, rest) = split_command(line, escape)?;
    let lower = cmd.to_ascii_lowercase();
    let mut node = Node {
        instruction: cmd,
        flags,
        original: line.to_string(),
        ..Node::default()
    };
    match lower.as_str() {
        "add" | "copy" | "volume" => {
            let (args, json) = parse_maybe_json_to_list(&rest)?;
            node.args = args;
            node.json = json;
        }
        "arg" => node.args = parse_words(&rest, escape),
        "cmd" | "entrypoint" | "run" | "shell" => {
            let (args, json) = parse_maybe_json(&rest)?;
            node.args = args;
            node.json = json;
        }
        "env" => node.args = parse_name_val(&rest, "ENV", escape)?,
        "label" => node.args = parse_name_val(&rest, "LABEL", escape)?,
        "expose" | "from" => node.args = parse_strings_ws(&rest),
        "healthcheck" => {
            let (args, json) = parse_health_config(&rest)?;
            node.args = args;
            node.json = json;
        }
        "maintainer" | "stopsignal" | "user" | "workdir" if !rest.is_empty() => {
            node.args = vec![rest.clone()];
        }
        "onbuild" if !rest.is_empty() => {
            let child = node_from_line(&rest, escape)?;
            let mut args = vec![child.instruction.clone()];
            args.extend(child.args.iter().cloned());
            node.args = args;
            node.json = child.json;
            node.sub = Some(Box::new(child));
        }
        _ => {}
    }
    Ok(node)
}

/// `splitCommand`: the instruction word, the leading `--flags`, and the rest.
fn split_command(line: &str, escape: char) -> Result<(String, Vec<String>, String), String> {
    let parts = split_ws(line.trim(), 2);
    let cmd = parts[0].clone();
    let (rest, flags) = if parts.len() == 2 {
        extract_builder_flags(&parts[1], escape)
    } else {
        (String::new(), Vec::new())
    };
    Ok((cmd, flags, rest.trim().to_string()))
}

/// `extractBuilderFlags`: consumes `--flag` words (quotes and escapes processed).
fn extract_builder_flags(line: &str, escape: char) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let b: Vec<(usize, char)> = line.char_indices().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0usize;
    while pos <= b.len() {
        let ch = b.get(pos).map(|x| x.1).unwrap_or('\0');
        if phase == Phase::Spaces {
            if pos == b.len() {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            let next_dash = b.get(pos + 1).map(|x| x.1) == Some('-');
            if ch != '-' || !next_dash {
                return (line[b[pos].0..].to_string(), words);
            }
            phase = Phase::Word;
        }
        if pos == b.len() {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(std::mem::take(&mut word));
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if word == "--" {
                    return (line[b[pos].0..].to_string(), words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            let mut c = ch;
            if ch == escape {
                if pos + 1 == b.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                c = b[pos].1;
            }
            word.push(c);
            pos += 1;
            continue;
        }
        // In quotes.
        if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        let mut c = ch;
        if ch == escape {
            if pos + 1 == b.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            c = b[pos].1;
        }
        word.push(c);
        pos += 1;
    }
    (String::new(), words)
}

/// `parseWords`: whitespace-separated words; quotes and escapes are *kept* (they are
/// processed later by the lexer).
pub fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let b: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut w = String::new();
    let mut pos = 0usize;
    while pos <= b.len() {
        let ch = b.get(pos).copied().unwrap_or('\0');
        if phase == Phase::Spaces {
            if pos == b.len() {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if pos == b.len() {
            if blank_ok || !w.is_empty() {
                words.push(std::mem::take(&mut w));
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !w.is_empty() {
                    words.push(std::mem::take(&mut w));
                }
                blank_ok = false;
                pos += 1;
                continue;
            }
            let mut c = ch;
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if pos + 1 == b.len() {
                    pos += 1;
                    continue;
                }
                w.push(ch);
                pos += 1;
                c = b[pos];
            }
            w.push(c);
            pos += 1;
            continue;
        }
        // Phase::Quote
        let mut c = ch;
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if pos + 1 == b.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            w.push(ch);
            c = b[pos];
        }
        w.push(c);
        pos += 1;
    }
    words
}

fn parse_name_val(rest: &str, key: &str, escape: char) -> Result<Vec<String>, String> {
    let words = parse_words(rest, escape);
    if words.is_empty() {
        return Ok(Vec::new());
    }
    if !words[0].contains('=') {
        let parts = split_ws(rest, 2);
        if parts.len() < 2 {
            return Err(format!("{key} must have two arguments"));
        }
        return Ok(vec![parts[0].clone(), parts[1].clone(), String::new()]);
    }
    let mut out = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {}. Must be of the form: name=value",
                go_quote(&w)
            ));
        };
        out.push(k.to_string());
        out.push(v.to_string());
        out.push("=".to_string());
    }
    Ok(out)
}

fn parse_strings_ws(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    split_ws(rest, 0)
}

const NOT_STRING_ARRAY: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

/// Ok(Some) for a JSON string array, Ok(None) when not JSON, Err for a JSON array of
/// non-strings.
fn parse_json(rest: &str) -> Result<Option<Vec<String>>, String> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(rest) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for v in values {
        match v {
            serde_json::Value::String(s) => out.push(s),
            _ => return Err(NOT_STRING_ARRAY.into()),
        }
    }
    Ok(Some(out))
}

fn parse_maybe_json(rest: &str) -> Result<(Vec<String>, bool), String> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    match parse_json(rest)? {
        Some(v) => Ok((v, true)),
        None => Ok((vec![rest.to_string()], false)),
    }
}

fn parse_maybe_json_to_list(rest: &str) -> Result<(Vec<String>, bool), String> {
    match parse_json(rest)? {
        Some(v) => Ok((v, true)),
        None => Ok((parse_strings_ws(rest), false)),
    }
}

fn parse_health_config(rest: &str) -> Result<(Vec<String>, bool), String> {
    let sep = rest
        .char_indices()
        .find(|(_, c)| c.is_whitespace())
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    if sep == 0 {
        return Ok((Vec::new(), false));
    }
    let typ = &rest[..sep];
    let after = rest[sep..].trim_start();
    let (cmd, json) = parse_maybe_json(after)?;
    let mut args = vec![typ.to_string()];
    args.extend(cmd);
    Ok((args, json))
}

/// Parses a heredoc word such as `<<EOF`, `<<-"EOT"`, `3<<X`. None if `src` is not one.
pub fn parse_heredoc(src: &str) -> Result<Option<Heredoc>, String> {
    // ^(\d*)<<(-?)\s*([^<]*)$
    let digits = src.chars().take_while(|c| c.is_ascii_digit()).count();
    let Some(after) = src[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, after) = match after.strip_prefix('-') {
        Some(a) => (true, a),
        None => (false, after),
    };
    let rest = after.trim_start();
    if rest.contains('<') || rest.is_empty() {
        return Ok(None);
    }
    let fd: u32 = src[..digits].parse().unwrap_or(0);
    let mut lex = Lex::new('\\');
    lex.skip_unset_env = true;
    let words = lex.process_words(rest, &NoEnv).map_err(|e| e.to_string())?;
    if words.len() != 1 {
        return Ok(None);
    }
    lex.raw_quotes = true;
    let raw = lex.process_words(rest, &NoEnv).map_err(|e| e.to_string())?;
    if raw.len() != words.len() {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    }
    let count = |s: &str| s.matches(['\'', '"']).count();
    let expand = count(&words[0]) == count(&raw[0]);
    Ok(Some(Heredoc {
        name: words[0].clone(),
        file_descriptor: fd,
        expand,
        chomp,
        content: String::new(),
    }))
}

fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, String> {
    let mut lex = Lex::new('\\');
    lex.raw_quotes = true;
    lex.raw_escapes = true;
    lex.skip_unset_env = true;
    let words = lex.process_words(line, &NoEnv).unwrap_or_default();
    let mut docs = Vec::new();
    for w in words {
        if let Some(h) = parse_heredoc(&w)? {
            docs.push(h);
        }
    }
    Ok(docs)
}

/// Go's `strconv.Quote` (what `%q` prints), used for Docker-identical messages and
/// history strings.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%q` of an integer: a quoted rune literal (`'\x00'`, `'A'`).
pub fn go_quote_rune(n: i64) -> String {
    let Some(c) = u32::try_from(n).ok().and_then(char::from_u32) else {
        return "'\u{fffd}'".into();
    };
    let body = match c {
        '\'' => "\\'".to_string(),
        '\\' => "\\\\".to_string(),
        '\n' => "\\n".to_string(),
        '\t' => "\\t".to_string(),
        '\r' => "\\r".to_string(),
        '\x07' => "\\a".to_string(),
        '\x08' => "\\b".to_string(),
        '\x0c' => "\\f".to_string(),
        '\x0b' => "\\v".to_string(),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => format!("\\x{:02x}", c as u32),
        c if c.is_control() => format!("\\u{:04x}", c as u32),
        c => c.to_string(),
    };
    format!("'{body}'")
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
pub fn go_quote_list(v: &[String]) -> String {
    let inner: Vec<String> = v.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", inner.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Dockerfile {
        parse("Dockerfile", text).unwrap()
    }

    #[test]
    fn continuation_drops_comment_lines() {
        let d = p("RUN echo hello \\\n# comment\nworld\n");
        assert_eq!(d.nodes.len(), 1);
        assert_eq!(d.nodes[0].args, vec!["echo hello world"]);
        assert_eq!((d.nodes[0].start_line, d.nodes[0].end_line), (1, 3));
    }

    #[test]
    fn directives_only_at_top() {
        let d = p("# escape=`\nFROM x\nRUN a `\n b\n");
        assert_eq!(d.directives.escape, '`');
        assert_eq!(d.nodes[1].args, vec!["a  b"]);
        let d = p("\n# escape=`\nFROM x\nRUN a \\\n b\n");
        assert_eq!(d.directives.escape, '\\');
        assert_eq!(d.nodes[1].args, vec!["a  b"]);
        let d = p("#\tdIrEcTiVe=value\n# escape=`\nFROM x\n");
        assert_eq!(d.directives.escape, '\\');
        let d = p("# SYNTAX = docker/dockerfile:1\n# check=skip=all\nFROM x\n");
        assert_eq!(d.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(d.directives.check.as_deref(), Some("skip=all"));
        let e = parse("f", "# escape=`\n# escape=\\\nFROM x\n").unwrap_err();
        assert_eq!(e.message, "only one escape parser directive can be used");
        assert_eq!(e.location.line, 2);
        let e = parse("f", "# escape=x\nFROM x\n").unwrap_err();
        assert!(e.message.contains("invalid escape token"));
    }

    #[test]
    fn json_and_shell_forms() {
        let d = p("CMD [\"a\", \"b\"]\nCMD [\"c:\\windows\"]\nRUN [\"mkdir\", \"/a\"] # x\n");
        assert!(d.nodes[0].json);
        assert_eq!(d.nodes[0].args, vec!["a", "b"]);
        assert!(!d.nodes[1].json);
        assert_eq!(d.nodes[1].args, vec!["[\"c:\\windows\"]"]);
        assert!(!d.nodes[2].json);
        let e = parse("f", "CMD [1, 2]\n").unwrap_err();
        assert_eq!(e.message, NOT_STRING_ARRAY);
    }

    #[test]
    fn flags_and_env_forms() {
        let d = p("COPY --from=builder --chown=\"a b\" src dst\nENV A=1 B=\"x y\"\nENV C d e\n");
        assert_eq!(d.nodes[0].flags, vec!["--from=builder", "--chown=a b"]);
        assert_eq!(d.nodes[0].args, vec!["src", "dst"]);
        assert_eq!(d.nodes[1].args, vec!["A", "1", "=", "B", "\"x y\"", "="]);
        assert_eq!(d.nodes[2].args, vec!["C", "d e", ""]);
        let e = parse("f", "ENV A=1 B\n").unwrap_err();
        assert!(e.message.contains("can't find = in \"B\""));
        // Seen from dockerd 20.10 on the same input.
        let e = parse("f", "# escape=`\nFROM s\nLABEL a=`\n# c\n  1 b=\"x\"\n").unwrap_err();
        assert_eq!(
            e.message,
            "Syntax error - can't find = in \"1\". Must be of the form: name=value"
        );
        assert_eq!(e.location.line, 3);
        let e = parse("f", "ENV A\n").unwrap_err();
        assert_eq!(e.message, "ENV must have two arguments");
    }

    #[test]
    fn heredocs() {
        let d = p("RUN <<EOF\necho $A\nEOF\nRUN <<-\"X\" cat > a && <<Y cat > b\n\tone\n\tX\ntwo\nY\nCOPY <<EOF /dst\nhi\nEOF\n");
        assert_eq!(d.nodes.len(), 3);
        assert_eq!(d.nodes[0].heredocs[0].content, "echo $A\n");
        assert!(d.nodes[0].heredocs[0].expand);
        let h = &d.nodes[1].heredocs;
        assert_eq!(h.len(), 2);
        assert!(h[0].chomp && !h[0].expand);
        assert_eq!(h[0].body(), "one\n");
        assert_eq!(h[1].content, "two\n");
        assert_eq!(d.nodes[2].args, vec!["<<EOF", "/dst"]);
        assert_eq!(d.nodes[2].start_line, 9);
        let e = parse("f", "RUN <<EOF\nno end\n").unwrap_err();
        assert_eq!(e.message, "unterminated heredoc");
    }

    #[test]
    fn onbuild_and_healthcheck() {
        let d = p("ONBUILD RUN echo hi\nHEALTHCHECK --interval=5s CMD [\"true\"]\n");
        assert_eq!(d.nodes[0].args, vec!["RUN", "echo hi"]);
        assert_eq!(d.nodes[0].sub.as_ref().unwrap().instruction, "RUN");
        assert_eq!(d.nodes[1].flags, vec!["--interval=5s"]);
        assert_eq!(d.nodes[1].args, vec!["CMD", "true"]);
        assert!(d.nodes[1].json);
    }

    #[test]
    fn positions_and_empty_file() {
        let d = p("\n\n   FROM  scratch\n");
        assert_eq!(d.nodes[0].start_line, 3);
        assert_eq!(d.nodes[0].column, 4);
        let e = parse("Dockerfile", "# only a comment\n").unwrap_err();
        assert_eq!(e.message, "file with no instructions");
    }

    #[test]
    fn go_quoting() {
        assert_eq!(go_quote_list(&["sh".into()]), "[\"sh\"]");
        assert_eq!(go_quote("a\"b\\\n"), "\"a\\\"b\\\\\\n\"");
        assert_eq!(go_quote_rune(0), "'\\x00'");
        assert_eq!(go_quote_rune(3), "'\\x03'");
        assert_eq!(go_quote_rune(10), "'\\n'");
        assert_eq!(go_quote_rune(65), "'A'");
    }
}
