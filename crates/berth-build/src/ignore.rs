//! `.dockerignore`: reading the file and matching paths, with moby/patternmatcher's
//! semantics.
//!
//! [`read_ignore_file`] is `ignorefile.ReadAll` (UTF-8 BOM stripped, `#` lines are
//! comments *before* trimming, blank lines skipped, `!` exceptions, `filepath.Clean`,
//! leading `/` removed). [`PatternMatcher`] compiles each pattern like
//! `patternmatcher.Pattern.compile` (`*` = `[^/]*`, `?` = `[^/]`, `**` = any number of
//! segments, leading `**` = suffix match, trailing `**` = prefix match, `\` escapes,
//! `[...]` classes) and evaluates them in order, last match wins, a path matching if it
//! or (for [`PatternMatcher::matches_or_parent_matches`]) any parent directory
//! matches. Hand-written because the matching rules are Docker's own.

use crate::fnmatch::go_match;
use crate::paths;

/// A bad `.dockerignore` pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreError {
    #[error("illegal exclusion pattern: \"!\"")]
    IllegalExclusion,
    #[error("syntax error in pattern {0:?}")]
    BadPattern(String),
}

/// Reads `.dockerignore` content into patterns (`!` prefix kept for exceptions).
pub fn read_ignore_file(data: &[u8]) -> Vec<String> {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut p = String::new();
        if !pattern.is_empty() {
            p = paths::clean(pattern);
            if p.len() > 1 && p.starts_with('/') {
                p.remove(0);
            }
        }
        if invert {
            p.insert(0, '!');
        }
        out.push(p);
    }
    out
}

#[derive(Debug, Clone)]
enum MatchType {
    Exact,
    Prefix,
    Suffix,
    Regexp(regex::Regex),
}

/// One compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    cleaned: String,
    dirs: usize,
    exclusion: bool,
    kind: MatchType,
}

impl Pattern {
    /// The pattern text (without `!`).
    pub fn as_str(&self) -> &str {
        &self.cleaned
    }
    /// Is this an exception (`!pattern`)?
    pub fn exclusion(&self) -> bool {
        self.exclusion
    }

    fn compile(pattern: &str) -> Result<MatchType, IgnoreError> {
        let mut reg = String::from("^");
        let mut kind = 0u8; // 0 exact, 1 prefix, 2 suffix, 3 regexp
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0usize;
        let mut idx = 0usize;
        while i < chars.len() {
            let ch = chars[i];
            i += 1;
            if ch == '*' {
                if chars.get(i) == Some(&'*') {
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    if i >= chars.len() {
                        if kind == 0 {
                            kind = 1;
                        } else {
                            reg.push_str(".*");
                            kind = 3;
                        }
                    } else {
                        reg.push_str("(.*/)?");
                        kind = 3;
                    }
                    if idx == 0 {
                        kind = 2;
                    }
                } else {
                    reg.push_str("[^/]*");
                    kind = 3;
                }
            } else if ch == '?' {
                reg.push_str("[^/]");
                kind = 3;
            } else if ".+()|{}$".contains(ch) {
                reg.push('\\');
                reg.push(ch);
            } else if ch == '\\' {
                if i < chars.len() {
                    let n = chars[i];
                    i += 1;
                    reg.push('\\');
                    reg.push(n);
                    kind = 3;
                } else {
                    reg.push('\\');
                }
            } else if ch == '[' || ch == ']' {
                reg.push(ch);
                kind = 3;
            } else {
                reg.push(ch);
            }
            idx += 1;
        }
        Ok(match kind {
            0 => MatchType::Exact,
            1 => MatchType::Prefix,
            2 => MatchType::Suffix,
            _ => {
                reg.push('$');
                MatchType::Regexp(
                    regex::Regex::new(&reg)
                        .map_err(|_| IgnoreError::BadPattern(pattern.to_string()))?,
                )
            }
        })
    }

    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            MatchType::Exact => path == self.cleaned,
            MatchType::Prefix => path.starts_with(&self.cleaned[..self.cleaned.len() - 2]),
            MatchType::Suffix => {
                let suffix = &self.cleaned[2..];
                if path.ends_with(suffix) {
                    return true;
                }
                suffix.starts_with('/') && path == &suffix[1..]
            }
            MatchType::Regexp(re) => re.is_match(path),
        }
    }
}

/// Per-directory match state carried down a walk (`MatchInfo`).
#[derive(Debug, Clone, Default)]
pub struct MatchInfo {
    parent_matched: Vec<bool>,
}

/// An ordered list of patterns.
#[derive(Debug, Clone, Default)]
pub struct PatternMatcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl PatternMatcher {
    /// Compiles patterns (as returned by [`read_ignore_file`]).
    pub fn new(patterns: &[String]) -> Result<PatternMatcher, IgnoreError> {
        let mut pm = PatternMatcher::default();
        for p in patterns {
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            let mut p = paths::clean(p);
            let mut exclusion = false;
            if let Some(rest) = p.strip_prefix('!') {
                if rest.is_empty() {
                    return Err(IgnoreError::IllegalExclusion);
                }
                exclusion = true;
                pm.exclusions = true;
                p = rest.to_string();
            }
            if go_match(&p, ".").is_err() {
                return Err(IgnoreError::BadPattern(p));
            }
            let kind = Pattern::compile(&p)?;
            pm.patterns.push(Pattern {
                dirs: p.split('/').count(),
                cleaned: p,
                exclusion,
                kind,
            });
        }
        Ok(pm)
    }

    /// Are there `!` exceptions?
    pub fn exclusions(&self) -> bool {
        self.exclusions
    }

    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// `Matches`: the path, or its parent prefix with as many segments as the pattern.
    pub fn matches(&self, file: &str) -> bool {
        let mut matched = false;
        let parent = parent_of(file);
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut m = p.matches(file);
            if !m && parent != "." && p.dirs <= parent_dirs.len() {
                m = p.matches(&parent_dirs[..p.dirs].join("/"));
            }
            if m {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// `MatchesOrParentMatches`: the path or any parent directory matches.
    pub fn matches_or_parent_matches(&self, file: &str) -> bool {
        let mut matched = false;
        let parent = parent_of(file);
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut m = p.matches(file);
            if !m && parent != "." {
                for i in 0..parent_dirs.len() {
                    if p.matches(&parent_dirs[..=i].join("/")) {
                        m = true;
                        break;
                    }
                }
            }
            if m {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// `MatchesUsingParentResults`: like [`Self::matches_or_parent_matches`] but reusing
    /// the parent directory's per-pattern results during a walk.
    pub fn matches_using_parent_results(
        &self,
        file: &str,
        parent: &MatchInfo,
    ) -> (bool, MatchInfo) {
        let mut matched = false;
        let mut info = MatchInfo {
            parent_matched: vec![false; self.patterns.len()],
        };
        for (i, p) in self.patterns.iter().enumerate() {
            let mut m = parent.parent_matched.get(i).copied().unwrap_or(false);
            if !m {
                if p.exclusion != matched {
                    continue;
                }
                m = p.matches(file);
                if !m && parent.parent_matched.is_empty() {
                    let pp = parent_of(file);
                    if pp != "." {
                        let dirs: Vec<&str> = pp.split('/').collect();
                        for j in 0..dirs.len() {
                            if p.matches(&dirs[..=j].join("/")) {
                                m = true;
                                break;
                            }
                        }
                    }
                }
            }
            info.parent_matched[i] = m;
            if m {
                matched = !p.exclusion;
            }
        }
        (matched, info)
    }

    /// Could an exception re-include something below excluded directory `dir`?
    pub fn may_reinclude_under(&self, dir: &str) -> bool {
        let dir_slash = format!("{dir}/");
        self.patterns
            .iter()
            .filter(|p| p.exclusion)
            .any(|p| format!("{}/", p.cleaned).starts_with(&dir_slash))
    }
}

fn parent_of(file: &str) -> String {
    match file.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => file[..i].to_string(),
        None => ".".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pm(p: &[&str]) -> PatternMatcher {
        PatternMatcher::new(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn read_file_rules() {
        let data =
            b"\xEF\xBB\xBF# comment\n  # not a comment\n\n  /foo/../bar/  \n! keep.txt\n*.md\n";
        assert_eq!(
            read_ignore_file(data),
            vec!["# not a comment", "bar", "!keep.txt", "*.md"]
        );
    }

    #[test]
    fn patternmatcher_cases() {
        // From moby/patternmatcher's tests.
        let cases: &[(&str, &str, bool)] = &[
            ("**", "file", true),
            ("**", "file/", true),
            ("**/", "file", true),
            ("**/", "file/", true),
            ("dir/**", "dir/file", true),
            ("dir/**", "dir/file/", true),
            ("dir/**", "dir/dir2/file", true),
            ("dir/**/", "dir/dir2/file", true),
            ("**/dir", "dir", true),
            ("**/dir", "dir/file", true),
            ("**/dir2/*", "dir/dir2/file", true),
            ("**/dir2/*", "dir/dir2/file/", true),
            ("**/dir2/**", "dir/dir2/dir3/file", true),
            ("**file", "file", true),
            ("**file", "dir/file", true),
            ("**/file", "dir/file", true),
            ("**file", "dir/dir/file", true),
            ("**/file", "dir/dir/file", true),
            ("**/file*", "dir/dir/file", true),
            ("**/file*", "dir/dir/file.txt", true),
            ("**/file*txt", "dir/dir/file.txt", true),
            ("**/file*.txt", "dir/dir/file.txt", true),
            ("**/file*.txt*", "dir/dir/file.txt", true),
            ("**/**/*.txt", "dir/dir/file.txt", true),
            ("**/**/*.txt2", "dir/dir/file.txt", false),
            ("**/*.txt", "file.txt", true),
            ("**/**/*.txt", "file.txt", true),
            ("a**/*.txt", "a/file.txt", true),
            ("a**/*.txt", "a/dir/file.txt", true),
            ("a**/*.txt", "a/dir/dir/file.txt", true),
            ("a/*.txt", "a/dir/file.txt", false),
            ("a/*.txt", "a/file.txt", true),
            ("a/*.txt**", "a/file.txt", true),
            ("a[b-d]e", "ae", false),
            ("a[b-d]e", "ace", true),
            ("a[b-d]e", "aae", false),
            ("a[^b-d]e", "aze", true),
            (".*", ".foo", true),
            (".*", "foo", false),
            ("abc.def", "abcdef", false),
            ("abc.def", "abc.def", true),
            ("abc.def", "abcZdef", false),
            ("abc?def", "abcZdef", true),
            ("abc?def", "abcdef", false),
            ("a\\\\", "a\\", true),
            ("**/foo/bar", "foo/bar", true),
            ("**/foo/bar", "dir/foo/bar", true),
            ("**/foo/bar", "dir/dir2/foo/bar", true),
            ("abc/**", "abc", false),
            ("abc/**", "abc/def", true),
            ("abc/**", "abc/def/ghi", true),
            ("**/.foo", ".foo", true),
            ("**/.foo", "bar.foo", false),
            ("a(b)c/def", "a(b)c/def", true),
            ("a(b)c/def", "a(b)c/xyz", false),
            ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
            (
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
            (
                "dist/*.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
        ];
        for (p, f, want) in cases {
            let m = pm(&[p]);
            assert_eq!(
                m.matches_or_parent_matches(f),
                *want,
                "pattern {p:?} file {f:?}"
            );
            assert_eq!(
                m.matches_using_parent_results(f, &MatchInfo::default()).0,
                *want
            );
        }
    }

    #[test]
    fn exceptions_last_match_wins_and_parents() {
        let m = pm(&["docs", "!docs/README.md", "*.log", "!keep.log", "keep.log"]);
        assert!(m.matches_or_parent_matches("docs/a/b.txt"));
        assert!(!m.matches_or_parent_matches("docs/README.md"));
        assert!(m.matches_or_parent_matches("x.log"));
        assert!(m.matches_or_parent_matches("keep.log"));
        assert!(!m.matches_or_parent_matches("src/main.rs"));
        assert!(m.may_reinclude_under("docs"));
        assert!(!m.may_reinclude_under("src"));
        assert!(PatternMatcher::new(&["!".into()]).is_err());
        assert!(PatternMatcher::new(&["[".into()]).is_err());
    }
}
