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

/// Parses a `--chmod` value: octal (`755`, `0644`). Symbolic modes need BuildKit's
/// Dockerfile 1.14 syntax and are refused with a clear message.
pub fn parse_chmod(s: &str) -> Result<u32, String> {
    match u32::from_str_radix(s, 8) {
        Ok(m) if m <= 0o7777 => Ok(m),
        _ => Err(format!(
            "invalid chmod parameter {s:?}: must be an octal mode such as 755"
        )),
    }
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
    fn chmod_octal_only() {
        assert_eq!(parse_chmod("755"), Ok(0o755));
        assert_eq!(parse_chmod("0644"), Ok(0o644));
        assert!(parse_chmod("u+x").is_err());
        assert!(parse_chmod("99999").is_err());
    }
}
