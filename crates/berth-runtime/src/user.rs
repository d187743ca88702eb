//! Docker's `-u user[:group]` resolution against the container's own `/etc/passwd` and
//! `/etc/group` (names or numbers; supplementary groups from `/etc/group` membership and
//! `--group-add`; `HOME` from the passwd entry).
//!
//! Hand-written: the formats are a few colon-separated fields, and the files must be read
//! from the container's root filesystem, refusing symlinks that could point out of it.

use std::fs;
use std::path::Path;

use crate::config::UserSpec;
use crate::error::SpecError;

/// A resolved user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedUser {
    /// uid, gid and supplementary gids.
    pub user: UserSpec,
    /// Home directory from passwd (`/` when unknown, as Docker).
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn bad(field: &str, reason: String) -> SpecError {
    SpecError::Invalid {
        field: field.into(),
        reason,
    }
}

/// Reads `rel` inside `rootfs`, refusing symlinks (which could lead out of the rootfs);
/// a missing file reads as empty.
fn read_in_rootfs(rootfs: &Path, rel: &str) -> String {
    let path = rootfs.join(rel);
    match fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_file() => fs::read_to_string(&path).unwrap_or_default(),
        _ => String::new(),
    }
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f[3]
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(String::from)
                    .collect(),
            })
        })
        .collect()
}

/// Resolves `spec` (`""`, `name`, `uid`, `name:group`, `uid:gid`, …) and `group_add`
/// against the files in `rootfs`.
pub fn resolve_user(
    rootfs: &Path,
    spec: &str,
    group_add: &[String],
) -> Result<ResolvedUser, SpecError> {
    let passwd = parse_passwd(&read_in_rootfs(rootfs, "etc/passwd"));
    let groups = parse_group(&read_in_rootfs(rootfs, "etc/group"));
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let entry = match user_part.parse::<u32>() {
        Ok(uid) => passwd.iter().find(|p| p.uid == uid),
        Err(_) => Some(passwd.iter().find(|p| p.name == user_part).ok_or_else(|| {
            bad(
                "user",
                format!("unable to find user {user_part}: no matching entries in passwd file"),
            )
        })?),
    };
    let uid = match (user_part.parse::<u32>(), entry) {
        (Ok(uid), _) => uid,
        (Err(_), Some(e)) => e.uid,
        (Err(_), None) => 0,
    };
    let find_group = |g: &str| -> Result<u32, SpecError> {
        match g.parse::<u32>() {
            Ok(gid) => Ok(gid),
            Err(_) => groups
                .iter()
                .find(|e| e.name == g)
                .map(|e| e.gid)
                .ok_or_else(|| {
                    bad(
                        "user",
                        format!("unable to find group {g}: no matching entries in group file"),
                    )
                }),
        }
    };
    let gid = match group_part {
        Some(g) if !g.is_empty() => find_group(g)?,
        _ => entry.map(|e| e.gid).unwrap_or(0),
    };
    let mut additional = Vec::new();
    if group_part.is_none() {
        if let Some(e) = entry {
            for g in &groups {
                if g.members.contains(&e.name) && g.gid != gid && !additional.contains(&g.gid) {
                    additional.push(g.gid);
                }
            }
        }
    }
    for g in group_add {
        let id = find_group(g)?;
        if !additional.contains(&id) {
            additional.push(id);
        }
    }
    Ok(ResolvedUser {
        user: UserSpec {
            uid,
            gid,
            additional_gids: additional,
        },
        home: entry
            .map(|e| e.home.clone())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "/".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(d.path().join("etc")).expect("mkdir");
        fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n",
        )
        .expect("passwd");
        fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nstaff:x:50:app\napp:x:1001:\nwheel:x:10:\n",
        )
        .expect("group");
        d
    }

    #[test]
    fn names_numbers_and_groups() {
        let d = rootfs();
        let r = resolve_user(d.path(), "app", &[]).expect("app");
        assert_eq!(
            r.user,
            UserSpec {
                uid: 1000,
                gid: 1001,
                additional_gids: vec![50]
            }
        );
        assert_eq!(r.home, "/home/app");
        let r = resolve_user(d.path(), "app:wheel", &["staff".into()]).expect("app:wheel");
        assert_eq!(
            r.user,
            UserSpec {
                uid: 1000,
                gid: 10,
                additional_gids: vec![50]
            }
        );
        let r = resolve_user(d.path(), "4242:4343", &[]).expect("numeric");
        assert_eq!(
            r.user,
            UserSpec {
                uid: 4242,
                gid: 4343,
                additional_gids: vec![]
            }
        );
        assert_eq!(r.home, "/");
        let r = resolve_user(d.path(), "", &[]).expect("default");
        assert_eq!((r.user.uid, r.home.as_str()), (0, "/root"));
    }

    #[test]
    fn unknown_names_are_errors() {
        let d = rootfs();
        let e = resolve_user(d.path(), "nobody", &[]).expect_err("no user");
        assert!(
            e.to_string().contains("no matching entries in passwd file"),
            "{e}"
        );
        let e = resolve_user(d.path(), "app:nogroup", &[]).expect_err("no group");
        assert!(
            e.to_string().contains("no matching entries in group file"),
            "{e}"
        );
    }

    #[test]
    fn symlinked_passwd_is_not_followed() {
        let d = rootfs();
        fs::remove_file(d.path().join("etc/passwd")).expect("rm");
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("etc/passwd")).expect("symlink");
        assert!(
            resolve_user(d.path(), "root", &[]).is_err(),
            "host passwd must not be read"
        );
    }
}
