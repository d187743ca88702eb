//! Go's `path.Clean` / `path.Join` for slash-separated image paths.
//!
//! Docker normalises WORKDIR, COPY destinations and context paths with Go's lexical
//! rules (no filesystem access); `std::path` keeps `..` and trailing slashes
//! differently, so these few lines are hand-written.

/// Go's `path.Clean`.
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            x => out.push(x),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `path.Join`: joins non-empty elements and cleans.
pub fn join(parts: &[&str]) -> String {
    let v: Vec<&str> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
    if v.is_empty() {
        return String::new();
    }
    clean(&v.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_clean_rules() {
        assert_eq!(clean("/a/b/../c/./"), "/a/c");
        assert_eq!(clean("../../x"), "../../x");
        assert_eq!(clean("/../x"), "/x");
        assert_eq!(clean(""), ".");
        assert_eq!(clean("a/.."), ".");
        assert_eq!(join(&["/", "app", "../src"]), "/src");
    }
}
