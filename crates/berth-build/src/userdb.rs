//! `--chown=user:group` resolution against the image's `/etc/passwd` and `/etc/group`.
//!
//! Follows the legacy builder (moby `internals_linux.go parseChownFlag`): numeric ids
//! are used as they are; names are looked up in the *image's* files (given here as
//! their contents); when only a user is given the group is looked up under the same
//! string (so `--chown=1000` means 1000:1000). The files are the classic
//! colon-separated formats, parsed by hand.

/// A `--chown` that cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChownError {
    #[error("can't find uid for user {user}: {reason}")]
    User { user: String, reason: String },
    #[error("can't find gid for group {group}: {reason}")]
    Group { group: String, reason: String },
}

fn lookup(content: Option<&str>, name: &str, id_field: usize) -> Result<u32, String> {
    let Some(content) = content else {
        return Err("no such file or directory".into());
    };
    for line in content.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() > id_field && f[0] == name {
            return f[id_field]
                .parse()
                .map_err(|_| format!("invalid id {:?}", f[id_field]));
        }
    }
    Err("no matching entries in passwd file".into())
}

/// Resolves `user[:group]` to (uid, gid) using the image's passwd and group file
/// contents (`None` = the file does not exist in the image).
pub fn resolve_chown(
    spec: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<(u32, u32), ChownError> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, g),
        None => (spec, spec),
    };
    let uid = match user.parse::<u32>() {
        Ok(n) => n,
        Err(_) => lookup(passwd, user, 2).map_err(|reason| ChownError::User {
            user: user.to_string(),
            reason,
        })?,
    };
    let gid = match grp.parse::<u32>() {
        Ok(n) => n,
        Err(_) => lookup(group, grp, 2).map_err(|reason| ChownError::Group {
            group: grp.to_string(),
            reason: reason.replace("passwd", "group"),
        })?,
    };
    Ok((uid, gid))
}

/// A parsed `--chmod`: octal, or symbolic like chmod(1) (`u=rwX,go=rX`, `+x`,
/// `a-w`; Dockerfile 1.14 syntax), applied per entry with [`Chmod::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chmod {
    Octal(u32),
    Symbolic(Vec<SymbolicClause>),
}

/// One `who op perms` clause of a symbolic mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolicClause {
    /// Bit mask of the classes concerned (u = 0o4700, g = 0o2070, o = 0o1007).
    pub who: u32,
    pub ops: Vec<(char, String)>,
}

impl Chmod {
    /// The mode an entry gets, from its current mode (`X` sets execute only on
    /// directories and on files that already have an execute bit).
    pub fn apply(&self, base: u32, is_dir: bool) -> u32 {
        match self {
            Chmod::Octal(m) => *m,
            Chmod::Symbolic(clauses) => {
                let mut mode = base & 0o7777;
                for c in clauses {
                    for (op, perms) in &c.ops {
                        let mut bits = 0u32;
                        for p in perms.chars() {
                            bits |= match p {
                                'r' => 0o444,
                                'w' => 0o222,
                                'x' => 0o111,
                                'X' if is_dir || mode & 0o111 != 0 => 0o111,
                                's' => 0o6000,
                                't' => 0o1000,
                                _ => 0,
                            };
                        }
                        let bits = bits & c.who;
                        mode = match op {
                            '+' => mode | bits,
                            '-' => mode & !bits,
                            _ => (mode & !(c.who & 0o7777)) | bits,
                        };
                    }
                }
                mode
            }
        }
    }
}

/// Parses a `--chmod` value: octal (`755`, `0644`) or symbolic (`u=rwX,go=rX`).
pub fn parse_chmod(s: &str) -> Result<Chmod, String> {
    let bad = || {
        format!("invalid chmod parameter {s:?}: use an octal mode such as 755 or a symbolic one such as u=rwX,go=rX")
    };
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
        return match u32::from_str_radix(s, 8) {
            Ok(m) if m <= 0o7777 => Ok(Chmod::Octal(m)),
            _ => Err(bad()),
        };
    }
    let mut clauses = Vec::new();
    for part in s.split(',') {
        let mut chars = part.chars().peekable();
        let mut who = 0u32;
        while let Some(&c) = chars.peek() {
            let w = match c {
                'u' => 0o4700,
                'g' => 0o2070,
                'o' => 0o1007,
                'a' => 0o7777,
                _ => break,
            };
            who |= w;
            chars.next();
        }
        if who == 0 {
            who = 0o7777;
        }
        let mut ops = Vec::new();
        while let Some(op) = chars.next() {
            if !matches!(op, '+' | '-' | '=') {
                return Err(bad());
            }
            let mut perms = String::new();
            while let Some(&c) = chars.peek() {
                if !"rwxXst".contains(c) {
                    break;
                }
                perms.push(c);
                chars.next();
            }
            ops.push((op, perms));
        }
        if ops.is_empty() {
            return Err(bad());
        }
        clauses.push(SymbolicClause { who, ops });
    }
    Ok(Chmod::Symbolic(clauses))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nuwsgi:x:999:998::/home/uwsgi:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nuwsgi:x:998:\nstaff:x:50:\n";

    #[test]
    fn numeric_and_named() {
        assert_eq!(resolve_chown("1000", None, None), Ok((1000, 1000)));
        assert_eq!(resolve_chown("1:2", None, None), Ok((1, 2)));
        assert_eq!(
            resolve_chown("uwsgi", Some(PASSWD), Some(GROUP)),
            Ok((999, 998))
        );
        assert_eq!(
            resolve_chown("uwsgi:staff", Some(PASSWD), Some(GROUP)),
            Ok((999, 50))
        );
        assert_eq!(resolve_chown("0:staff", None, Some(GROUP)), Ok((0, 50)));
        let e = resolve_chown("bob", Some(PASSWD), Some(GROUP)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "can't find uid for user bob: no matching entries in passwd file"
        );
        let e = resolve_chown("uwsgi:nogrp", Some(PASSWD), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "can't find gid for group nogrp: no such file or directory"
        );
    }

    #[test]
    fn chmod_octal_and_symbolic() {
        assert_eq!(parse_chmod("755"), Ok(Chmod::Octal(0o755)));
        assert_eq!(parse_chmod("0644").unwrap().apply(0o777, false), 0o644);
        assert!(parse_chmod("99999").is_err());
        assert!(parse_chmod("u*x").is_err());
        assert!(parse_chmod("").is_err());
        let m = parse_chmod("u=rwX,go=rX").unwrap();
        assert_eq!(m.apply(0o600, false), 0o644);
        assert_eq!(m.apply(0o700, false), 0o755);
        assert_eq!(m.apply(0o700, true), 0o755);
        assert_eq!(m.apply(0o600, true), 0o755);
        assert_eq!(parse_chmod("+x").unwrap().apply(0o644, false), 0o755);
        assert_eq!(parse_chmod("a-w").unwrap().apply(0o664, false), 0o444);
        assert_eq!(parse_chmod("g+s,o-rwx").unwrap().apply(0o755, true), 0o2750);
    }
}
