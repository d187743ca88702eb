//! Validation of repository names, tags and references (distribution-spec grammar).

use regex::Regex;
use std::sync::OnceLock;

fn name_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$",
        )
        .expect("static regex")
    })
}

fn tag_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$").expect("static regex"))
}

/// Is `name` a valid repository name (at most 255 characters)?
pub fn valid_name(name: &str) -> bool {
    name.len() <= 255 && name_re().is_match(name)
}

/// Is `tag` a valid tag?
pub fn valid_tag(tag: &str) -> bool {
    tag_re().is_match(tag)
}

/// Does repository `name` match `pattern` (`*` matches any run of characters)?
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni, mut star, mut mark) = (0usize, 0usize, None::<usize>, 0usize);
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            pi += 1;
            mark = ni;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "busybox",
            "library/busybox",
            "a/b/c",
            "my-app",
            "my__app",
            "a.b",
            "x1/y_2",
        ] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "", "Busybox", "a//b", "-a", "a-", "a/", "/a", "a..b", "a___b",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn tags() {
        assert!(valid_tag("latest"));
        assert!(valid_tag("v1.2.3-rc_1"));
        assert!(!valid_tag(".hidden"));
        assert!(!valid_tag(&"a".repeat(129)));
        assert!(!valid_tag("a:b"));
    }

    #[test]
    fn globs() {
        assert!(glob_match("*", "a/b"));
        assert!(glob_match("alice/*", "alice/app"));
        assert!(!glob_match("alice/*", "bob/app"));
        assert!(glob_match("a*c", "abbbc"));
        assert!(!glob_match("a*c", "abbbd"));
    }
}
