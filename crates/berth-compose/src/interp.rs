//! Variable interpolation as compose does it (`$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`, `$$`),
//! the `.env`/`env_file` line format, and splitting a string command into words.

use std::collections::HashMap;

/// Where variables come from: the process environment over the project's `.env` file.
pub type Vars = HashMap<String, String>;

/// An interpolation failure: the message for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpError(pub String);

/// Substitutes variables in `s`. `unset` is called with the name of every variable that
/// is used without a value and without a default (compose warns and uses "").
pub fn interpolate(
    s: &str,
    vars: &Vars,
    unset: &mut dyn FnMut(&str),
) -> Result<String, InterpError> {
    if !s.contains('$') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                // Find the matching close brace (defaults may nest `${…}`).
                let mut depth = 0;
                let mut j = i + 1;
                let mut end = None;
                while j < chars.len() {
                    match chars[j] {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(j);
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                let Some(end) = end else {
                    return Err(InterpError(format!(
                        "invalid interpolation format {s:?}: unclosed \"${{\""
                    )));
                };
                let inner: String = chars[i + 2..end].iter().collect();
                out.push_str(&braced(&inner, s, vars, unset)?);
                i = end + 1;
            }
            Some(n) if n.is_ascii_alphabetic() || *n == '_' => {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                match vars.get(&name) {
                    Some(v) => out.push_str(v),
                    None => unset(&name),
                }
                i = j;
            }
            _ => {
                return Err(InterpError(format!(
                    "invalid interpolation format {s:?}: you may need to escape \"$\" as \"$$\""
                )));
            }
        }
    }
    Ok(out)
}

fn braced(
    inner: &str,
    whole: &str,
    vars: &Vars,
    unset: &mut dyn FnMut(&str),
) -> Result<String, InterpError> {
    let name_end = inner
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map(|(i, _)| i)
        .unwrap_or(inner.len());
    let name = &inner[..name_end];
    let rest = &inner[name_end..];
    let valid_name = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !valid_name {
        return Err(InterpError(format!(
            "invalid interpolation format {whole:?}: bad variable name in \"${{{inner}}}\""
        )));
    }
    let value = vars.get(name);
    let (op, arg) = if let Some(a) = rest.strip_prefix(":-") {
        (":-", a)
    } else if let Some(a) = rest.strip_prefix(":?") {
        (":?", a)
    } else if let Some(a) = rest.strip_prefix(":+") {
        (":+", a)
    } else if let Some(a) = rest.strip_prefix('-') {
        ("-", a)
    } else if let Some(a) = rest.strip_prefix('?') {
        ("?", a)
    } else if let Some(a) = rest.strip_prefix('+') {
        ("+", a)
    } else if rest.is_empty() {
        ("", "")
    } else {
        return Err(InterpError(format!(
            "invalid interpolation format {whole:?}: unsupported modifier in \"${{{inner}}}\""
        )));
    };
    let set_nonempty = value.is_some_and(|v| !v.is_empty());
    Ok(match op {
        "" => match value {
            Some(v) => v.clone(),
            None => {
                unset(name);
                String::new()
            }
        },
        ":-" if set_nonempty => value.cloned().unwrap_or_default(),
        ":-" => interpolate(arg, vars, unset)?,
        "-" => match value {
            Some(v) => v.clone(),
            None => interpolate(arg, vars, unset)?,
        },
        ":?" if set_nonempty => value.cloned().unwrap_or_default(),
        "?" if value.is_some() => value.cloned().unwrap_or_default(),
        ":?" | "?" => {
            let msg = interpolate(arg, vars, unset)?;
            let msg = if msg.is_empty() {
                format!("required variable {name} is missing a value")
            } else {
                format!("required variable {name} is missing a value: {msg}")
            };
            return Err(InterpError(msg));
        }
        ":+" if set_nonempty => interpolate(arg, vars, unset)?,
        "+" if value.is_some() => interpolate(arg, vars, unset)?,
        _ => String::new(),
    })
}

/// Parses `.env` / `env_file` text: `KEY=VALUE` lines, `#` comments, optional `export `,
/// single quotes literal, double quotes with `\n`/`\"` escapes, trailing ` #comment` on
/// unquoted values. A bare `KEY` line gives `None` (take it from the environment).
pub fn parse_env_file(text: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((k, v)) = line.split_once('=') else {
            if line.chars().any(char::is_whitespace) {
                return Err(format!("line {}: unexpected character in {raw:?}", n + 1));
            }
            out.push((line.to_string(), None));
            continue;
        };
        let k = k.trim();
        if k.is_empty() || k.chars().any(char::is_whitespace) {
            return Err(format!("line {}: invalid variable name in {raw:?}", n + 1));
        }
        let v = v.trim_start();
        let value = if let Some(q) = v.strip_prefix('\'') {
            q.find('\'')
                .map(|e| q[..e].to_string())
                .unwrap_or_else(|| q.to_string())
        } else if let Some(q) = v.strip_prefix('"') {
            let mut s = String::new();
            let mut it = q.chars();
            while let Some(c) = it.next() {
                match c {
                    '"' => break,
                    '\\' => match it.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(o) => s.push(o),
                        None => s.push('\\'),
                    },
                    o => s.push(o),
                }
            }
            s
        } else {
            let v = match v.find(" #") {
                Some(i) => &v[..i],
                None => v,
            };
            v.trim_end().to_string()
        };
        out.push((k.to_string(), Some(value)));
    }
    Ok(out)
}

/// Splits a command string into words like a POSIX shell's tokenizer (compose uses
/// Python's `shlex.split`): whitespace separates, quotes group, backslash escapes.
pub fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match it.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(format!("unterminated quote in {s:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match it.next() {
                        Some('"') => break,
                        Some('\\') => match it.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err(format!("unterminated quote in {s:?}")),
                        },
                        Some(x) => cur.push(x),
                        None => return Err(format!("unterminated quote in {s:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(x) = it.next() {
                    cur.push(x);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        [("A", "alpha"), ("EMPTY", "")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn i(s: &str) -> Result<String, InterpError> {
        interpolate(s, &vars(), &mut |_| {})
    }

    #[test]
    fn forms() {
        assert_eq!(i("$A ${A}/x").unwrap(), "alpha alpha/x");
        assert_eq!(i("${NOPE:-def}").unwrap(), "def");
        assert_eq!(i("${EMPTY:-def}").unwrap(), "def");
        assert_eq!(i("${EMPTY-def}").unwrap(), "");
        assert_eq!(i("${NOPE-def}").unwrap(), "def");
        assert_eq!(i("${A:-def}").unwrap(), "alpha");
        assert_eq!(i("${A:+set}").unwrap(), "set");
        assert_eq!(i("${NOPE:+set}").unwrap(), "");
        assert_eq!(i("$$A costs $$5").unwrap(), "$A costs $5");
        assert_eq!(i("${NOPE:-${A}}").unwrap(), "alpha");
        assert_eq!(i("no dollars").unwrap(), "no dollars");
    }

    #[test]
    fn required_and_unset() {
        let e = i("${NOPE:?set NOPE please}").unwrap_err();
        assert_eq!(
            e.0,
            "required variable NOPE is missing a value: set NOPE please"
        );
        assert!(i("${EMPTY:?}").is_err());
        assert_eq!(i("${EMPTY?}").unwrap(), "");
        let mut seen = Vec::new();
        let r = interpolate("x${NOPE}y$OTHER", &vars(), &mut |n| {
            seen.push(n.to_string())
        });
        assert_eq!(r.unwrap(), "xy");
        assert_eq!(seen, ["NOPE", "OTHER"]);
    }

    #[test]
    fn bad_formats() {
        assert!(i("${A").is_err());
        assert!(i("cost $5").is_err());
        assert!(i("${1A}").is_err());
        assert!(i("${A!x}").is_err());
    }

    #[test]
    fn env_file() {
        let t = "# c\nexport A=1\nB = two words # note\nC='lit $x'\nD=\"q\\\"n\\n\"\nE\n\nF=\n";
        let v = parse_env_file(t).unwrap();
        assert_eq!(
            v,
            vec![
                ("A".into(), Some("1".into())),
                ("B".into(), Some("two words".into())),
                ("C".into(), Some("lit $x".into())),
                ("D".into(), Some("q\"n\n".into())),
                ("E".into(), None),
                ("F".into(), Some(String::new())),
            ]
        );
        assert!(parse_env_file("bad key=1").is_err());
    }

    #[test]
    fn words() {
        assert_eq!(
            split_words(r#"sh -c 'echo "hi there"' a\ b "x\"y""#).unwrap(),
            vec!["sh", "-c", "echo \"hi there\"", "a b", "x\"y"]
        );
        assert_eq!(split_words("  ").unwrap(), Vec::<String>::new());
        assert_eq!(split_words("''").unwrap(), vec![""]);
        assert!(split_words("'open").is_err());
    }
}
