//! Output formatting shared by the CLI commands: Go templates for `--format` (via
//! `gtmpl`, with Docker's template functions), tables, human sizes and durations.

use anyhow::{anyhow, Result};
use gtmpl_value::{FuncError, Value};
use std::collections::HashMap;

/// Converts JSON into a template value.
pub fn to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(0.0))
            }
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(to_value).collect()),
        serde_json::Value::Object(o) => {
            let m: HashMap<String, Value> =
                o.iter().map(|(k, v)| (k.clone(), to_value(v))).collect();
            Value::Object(m)
        }
    }
}

fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Nil | Value::NoValue => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                serde_json::json!(i)
            } else if let Some(u) = n.as_u64() {
                serde_json::json!(u)
            } else {
                serde_json::json!(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Array(a) => serde_json::Value::Array(a.iter().map(to_json).collect()),
        Value::Object(o) | Value::Map(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            serde_json::Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), to_json(&o[k])))
                    .collect(),
            )
        }
        Value::Function(_) => serde_json::Value::Null,
    }
}

/// Prints a value the way Go's `fmt.Print` does (`[a b]`, `map[k:v]`, `<nil>`).
pub fn go_print(v: &Value) -> String {
    match v {
        Value::Nil => "<nil>".into(),
        Value::NoValue => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_print).collect::<Vec<_>>().join(" ")),
        Value::Object(o) | Value::Map(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            format!(
                "map[{}]",
                keys.iter()
                    .map(|k| format!("{k}:{}", go_print(&o[*k])))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
        Value::Function(_) => String::new(),
    }
}

fn arg<'a>(args: &'a [Value], i: usize, name: &str) -> Result<&'a Value, FuncError> {
    args.get(i)
        .ok_or_else(|| FuncError::Generic(format!("{name}: missing argument")))
}

fn f_goprint(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::from(go_print(arg(args, 0, "print")?)))
}
fn f_json(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::from(to_json(arg(args, 0, "json")?).to_string()))
}
fn f_join(args: &[Value]) -> Result<Value, FuncError> {
    let sep = go_print(arg(args, 1, "join")?);
    match arg(args, 0, "join")? {
        Value::Array(a) => Ok(Value::from(
            a.iter().map(go_print).collect::<Vec<_>>().join(&sep),
        )),
        other => Ok(Value::from(go_print(other))),
    }
}
fn f_upper(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::from(go_print(arg(args, 0, "upper")?).to_uppercase()))
}
fn f_lower(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::from(go_print(arg(args, 0, "lower")?).to_lowercase()))
}
fn f_title(args: &[Value]) -> Result<Value, FuncError> {
    let s = go_print(arg(args, 0, "title")?);
    let mut c = s.chars();
    Ok(Value::from(match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }))
}
fn f_split(args: &[Value]) -> Result<Value, FuncError> {
    let s = go_print(arg(args, 0, "split")?);
    let sep = go_print(arg(args, 1, "split")?);
    Ok(Value::Array(
        s.split(sep.as_str()).map(Value::from).collect(),
    ))
}
fn f_truncate(args: &[Value]) -> Result<Value, FuncError> {
    let s = go_print(arg(args, 0, "truncate")?);
    let n = match arg(args, 1, "truncate")? {
        Value::Number(n) => n.as_u64().unwrap_or(0) as usize,
        _ => 0,
    };
    Ok(Value::from(s.chars().take(n).collect::<String>()))
}
fn f_pad(args: &[Value]) -> Result<Value, FuncError> {
    let s = go_print(arg(args, 0, "pad")?);
    let n = |i| match args.get(i) {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0) as usize,
        _ => 0,
    };
    Ok(Value::from(format!(
        "{}{}{}",
        " ".repeat(n(1)),
        s,
        " ".repeat(n(2))
    )))
}

const CONTROL: &[&str] = &[
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
];

/// Rewrites every printing action `{{X}}` into `{{X | goprint}}` so lists and maps print
/// as Go prints them (gtmpl prints Rust debug output). Control actions, comments and
/// variable declarations are left alone.
fn rewrite_actions(src: &str) -> String {
    let mut out = String::with_capacity(src.len() + 32);
    let mut rest = src;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..end];
        let (lead, body, trail) = {
            let lead = if inner.starts_with('-') { "-" } else { "" };
            let trail = if inner.ends_with('-') && inner.len() > 1 {
                "-"
            } else {
                ""
            };
            let body = &inner[lead.len()..inner.len() - trail.len()];
            (lead, body, trail)
        };
        let t = body.trim();
        let first = t
            .split(|c: char| c.is_whitespace() || c == '(')
            .next()
            .unwrap_or("");
        let is_decl =
            t.starts_with('$') && (t.contains(":=") || t.split_whitespace().nth(1) == Some("="));
        if t.is_empty() || t.starts_with("/*") || CONTROL.contains(&first) || is_decl {
            out.push_str("{{");
            out.push_str(inner);
            out.push_str("}}");
        } else {
            out.push_str(&format!("{{{{{lead}{body} | goprint {trail}}}}}"));
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// A parsed `--format` template.
pub struct Template(gtmpl::Template);

impl Template {
    pub fn parse(src: &str) -> Result<Template> {
        let mut t = gtmpl::Template::default();
        t.add_funcs(&[
            ("goprint", f_goprint as gtmpl_value::Func),
            ("json", f_json),
            ("join", f_join),
            ("upper", f_upper),
            ("lower", f_lower),
            ("title", f_title),
            ("split", f_split),
            ("truncate", f_truncate),
            ("pad", f_pad),
        ]);
        t.parse(rewrite_actions(src))
            .map_err(|e| anyhow!("template parsing error: {e}"))?;
        Ok(Template(t))
    }

    pub fn render(&self, data: &serde_json::Value) -> Result<String> {
        self.0
            .render(&gtmpl::Context::from(to_value(data)))
            .map_err(|e| anyhow!("template: {e}"))
    }
}

/// Docker's `units.HumanSizeWithPrecision(bytes, 3)` (`docker images`: `4.26MB`).
pub fn human_size(bytes: i64) -> String {
    human_size_prec(bytes, 3)
}

/// Docker's `units.HumanSizeWithPrecision`: decimal units, `prec` significant digits
/// (Go's `%.<prec>g`); `units.HumanSize` is precision 4 (`4.264MB`).
pub fn human_size_prec(bytes: i64, prec: i32) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let int_digits = if v < 1.0 {
        1
    } else {
        v.log10().floor() as i32 + 1
    };
    let decimals = (prec - int_digits).max(0) as usize;
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", units[i])
}

/// Docker's `units.HumanDuration` ("2 weeks", "About an hour").
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let m = s / 60;
    let h = m / 60;
    let d = h / 24;
    match () {
        _ if s < 1 => "Less than a second".into(),
        _ if s == 1 => "1 second".into(),
        _ if s < 60 => format!("{s} seconds"),
        _ if m == 1 => "About a minute".into(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".into(),
        _ if h < 48 => format!("{h} hours"),
        _ if h < 24 * 7 * 2 => format!("{d} days"),
        _ if h < 24 * 30 * 2 => format!("{} weeks", d / 7),
        _ if h < 24 * 365 * 2 => format!("{} months", d / 30),
        _ => format!("{} years", d / 365),
    }
}

/// "2 weeks ago" from a unix timestamp.
pub fn ago(unix: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    format!("{} ago", human_duration(now - unix))
}

/// Prints rows as Docker's tabwriter does (columns padded, 3 spaces apart).
pub fn print_table(rows: &[Vec<String>]) {
    let _ = write_table(&mut std::io::stdout().lock(), rows);
}

/// Docker's `units.BytesSize`: binary units with 4 significant digits (`7.654MiB`).
pub fn binary_size(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    let int_digits = if v < 1.0 {
        1
    } else {
        v.log10().floor() as i32 + 1
    };
    let decimals = (4 - int_digits).max(0) as usize;
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    s + units[i]
}

/// Writes rows as docker's tab-aligned table (Go's `tabwriter.NewWriter(out, 10, 1, 3,
/// ' ', 0)`: cells padded by 3 spaces to at least 10 columns).
pub fn write_table(out: &mut impl std::io::Write, rows: &[Vec<String>]) -> std::io::Result<()> {
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(c);
            } else {
                line.push_str(c);
                let cell = (widths[i] + 3).max(10);
                line.push_str(&" ".repeat(cell - c.chars().count()));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Pretty JSON with Docker's four-space indent.
pub fn pretty_json(v: &serde_json::Value) -> String {
    use serde::Serialize;
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    if v.serialize(&mut ser).is_err() {
        return v.to_string();
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_print_like_go() {
        let data = serde_json::json!({"Id":"sha256:abc","RootFS":{"Layers":["sha256:a","sha256:b"]},"Config":{"Cmd":["sh"],"Env":null}});
        let r = |t: &str| Template::parse(t).unwrap().render(&data).unwrap();
        assert_eq!(r("{{.RootFS.Layers}}"), "[sha256:a sha256:b]");
        assert_eq!(r("{{.Id}}"), "sha256:abc");
        assert_eq!(r("{{json .Config}}"), r#"{"Cmd":["sh"],"Env":null}"#);
        assert_eq!(
            r("{{range .RootFS.Layers}}{{.}},{{end}}"),
            "sha256:a,sha256:b,"
        );
        assert_eq!(r("{{join .RootFS.Layers \",\"}}"), "sha256:a,sha256:b");
        assert_eq!(r("{{if .Config.Cmd}}yes{{end}}"), "yes");
        assert!(Template::parse("{{.Id").is_err());
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_260_000), "4.26MB");
        assert_eq!(human_size(12_345), "12.3kB");
        assert_eq!(human_size(1_000_000), "1MB");
        assert_eq!(human_size_prec(4_264_000, 4), "4.264MB");
        assert_eq!(human_size_prec(209_715_200, 4), "209.7MB");
        assert_eq!(human_size_prec(0, 4), "0B");
        // Docker's tabwriter: cells at least 10 wide, 3 spaces of padding.
        let mut out = Vec::new();
        let rows = vec![
            vec!["TYPE".to_string(), "TOTAL".into(), "SIZE".into()],
            vec!["Local Volumes".to_string(), "0".into(), "0B".into()],
        ];
        write_table(&mut out, &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "TYPE            TOTAL     SIZE\nLocal Volumes   0         0B\n"
        );
        assert_eq!(human_duration(30), "30 seconds");
        assert_eq!(human_duration(3600 * 24 * 15), "2 weeks");
    }
}
