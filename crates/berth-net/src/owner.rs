//! Who owns a host-wide network resource, and the sweep of what dead daemons left.
//!
//! Several berth daemons can share one host (a daemon per data root: test daemons, a
//! benchmark's daemon next to the system one). Each marks what it makes host-wide:
//! its links (bridges, veths) with the alias `berth:<table>:<pid>:<data root>`, and its
//! nftables table with the comment `berth-owner:<data root>`.
//!
//! The owner is the data root, not the process: a daemon killed and started again on
//! the same data root adopts its links and table, and its containers keep running
//! with their veths and published ports meanwhile. So what a data root's daemon made
//! is in use while a `berth daemon` process of that data root runs (also one just
//! started, that has not re-marked its links with its pid yet) or while one of its
//! containers does (a `berth shim` whose bundle is under that data root). Both are
//! found by reading the command lines of the host's processes ([`roots_in_use`]). The
//! pid a link records is not enough: it is dead between a daemon's kill and its
//! restart, and pids are reused. Neither is a name: `berthN` is taken by the next
//! daemon once it is free.
//!
//! A daemon holds the host lock ([`crate::host_lock`]) while it sweeps, picks its
//! bridge's name and makes its bridge and table, so a sweep never sees a daemon half
//! made; and the sweep deletes links by index and tables by handle, so what it deletes
//! is what it examined, never something made under the same name since.
//!
//! Processes in another PID namespace are not seen: daemons sharing a host's network
//! namespace must share its PID namespace too.

use crate::firewall::Nft;
use crate::link::{LinkInfo, Links};
use std::collections::{HashMap, HashSet};
use std::path::Path;

const ALIAS_PREFIX: &str = "berth:";
const TABLE_COMMENT_PREFIX: &str = "berth-owner:";

/// A daemon as the owner of host-wide resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The daemon's data root, absolute (its identity across restarts).
    pub root: String,
    /// The daemon's process.
    pub pid: u32,
}

impl Owner {
    /// The owner of data root `root` (made absolute) running as `pid`.
    pub fn new(root: impl AsRef<str>, pid: u32) -> Owner {
        Owner {
            root: normalize(root.as_ref(), None),
            pid,
        }
    }

    /// The alias marking this daemon's links: `berth:<table>:<pid>:<data root>`.
    pub fn link_alias(&self, table: &str) -> String {
        format!("{ALIAS_PREFIX}{table}:{}:{}", self.pid, self.root)
    }

    /// The comment of this daemon's nftables table: `berth-owner:<data root>` (dropped
    /// by [`Nft::with_comment`] when it does not fit in a comment).
    pub fn table_comment(&self) -> String {
        format!("{TABLE_COMMENT_PREFIX}{}", self.root)
    }
}

/// A link alias → (table, pid, data root). Links of daemons older than the pid in the
/// alias (`berth:<table>:<data root>`) have no pid.
pub fn parse_alias(a: &str) -> Option<(&str, Option<u32>, &str)> {
    let rest = a.strip_prefix(ALIAS_PREFIX)?;
    let (table, rest) = rest.split_once(':')?;
    let (pid, root) = match rest.split_once(':') {
        Some((p, root)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            (Some(p.parse().ok()?), root)
        }
        _ => (None, rest),
    };
    if table.is_empty() || root.is_empty() {
        return None;
    }
    Some((table, pid, root))
}

/// A table comment → the owning data root.
pub fn parse_table_comment(c: &str) -> Option<&str> {
    c.strip_prefix(TABLE_COMMENT_PREFIX)
        .filter(|r| !r.is_empty())
}

/// A path as owners are compared: absolute (relative to `cwd`), without a trailing `/`.
fn normalize(p: &str, cwd: Option<&Path>) -> String {
    let path = Path::new(p);
    let abs = match cwd {
        Some(c) if path.is_relative() => c.join(path),
        _ => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
    };
    let s = abs.display().to_string();
    match s.trim_end_matches('/') {
        "" => "/".to_string(),
        t => t.to_string(),
    }
}

/// The value of `--name v` or `--name=v` in `args`.
fn flag<'a>(args: &[&'a str], name: &str) -> Option<&'a str> {
    let eq = format!("{name}=");
    args.iter().enumerate().find_map(|(i, a)| {
        if *a == name {
            args.get(i + 1).copied()
        } else {
            a.strip_prefix(eq.as_str())
        }
    })
}

/// The data root a process's command line (`argv`, NUL-separated) is using, when it is a
/// `berth daemon` (its `--data-root`, `/var/lib/berth` by default) or a `berth shim`
/// (its `--bundle`, `<data root>/containers/<id>/bundle`).
fn root_of(cmdline: &[u8], cwd: Option<&Path>) -> Option<String> {
    let text = String::from_utf8_lossy(cmdline);
    let argv: Vec<&str> = text.split('\0').filter(|a| !a.is_empty()).collect();
    let exe = argv.first()?;
    if !exe.rsplit('/').next()?.starts_with("berth") {
        return None;
    }
    let args = &argv[1..];
    if args.contains(&"daemon") {
        return Some(normalize(
            flag(args, "--data-root").unwrap_or("/var/lib/berth"),
            cwd,
        ));
    }
    if args.contains(&"shim") {
        let bundle = flag(args, "--bundle")?;
        let at = bundle.rfind("/containers/")?;
        return Some(normalize(&bundle[..at], cwd));
    }
    None
}

/// The data roots in use on this host: those of running `berth daemon` processes and
/// of running containers' shims.
pub fn roots_in_use() -> HashSet<String> {
    let mut roots = HashSet::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return roots;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cwd = std::fs::read_link(e.path().join("cwd")).ok();
        if let Some(r) = root_of(&cmdline, cwd.as_deref()) {
            roots.insert(r);
        }
    }
    roots
}

/// What a [`sweep`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    /// Names of the links deleted.
    pub links: Vec<String>,
    /// Names of the tables deleted.
    pub tables: Vec<String>,
}

#[derive(Default)]
struct Foreign {
    links: Vec<LinkInfo>,
    tables: HashSet<String>,
}

/// Removes the links and nftables tables of daemons that are gone (see the module
/// documentation for what "gone" means), and re-marks `own`'s links from an earlier run
/// with its pid. Call it with the host lock held ([`crate::host_lock`]).
///
/// Tables are judged by their own comment; a table without one (made by a daemon older
/// than the comments) goes only when the links naming it all belong to gone daemons.
pub async fn sweep(links: &Links, own: &Owner) -> Swept {
    let mut swept = Swept::default();
    let all = match links.list().await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("sweeping dead daemons' links: {e}");
            return swept;
        }
    };
    let mut foreign: HashMap<String, Foreign> = HashMap::new();
    for l in all {
        let Some((table, pid, root)) = parse_alias(&l.alias) else {
            continue;
        };
        let root = normalize(root, None);
        if root == own.root {
            if pid != Some(own.pid) {
                let _ = std::fs::write(
                    format!("/sys/class/net/{}/ifalias", l.name),
                    own.link_alias(table),
                );
            }
            continue;
        }
        let f = foreign.entry(root).or_default();
        f.tables.insert(table.to_string());
        f.links.push(l);
    }
    let in_use = roots_in_use();
    let mut live_names = HashSet::new();
    let mut dead_names = HashSet::new();
    for (root, f) in foreign {
        if in_use.contains(&root) {
            live_names.extend(f.tables);
            continue;
        }
        for l in &f.links {
            tracing::info!(link = %l.name, alias = %l.alias, "removing a link of a daemon that is gone");
            match links.delete_index(l.index).await {
                Ok(()) => swept.links.push(l.name.clone()),
                Err(e) => tracing::warn!(link = %l.name, "{e}"),
            }
        }
        dead_names.extend(f.tables);
    }
    let tables = match Nft::list_tables() {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!("sweeping dead daemons' tables: {e}");
            return swept;
        }
    };
    for t in tables {
        let gone = match t.comment.as_deref() {
            Some(c) => match parse_table_comment(c) {
                Some(root) => {
                    let root = normalize(root, None);
                    root != own.root && !in_use.contains(&root)
                }
                // Somebody else's table.
                None => false,
            },
            None => dead_names.contains(&t.name) && !live_names.contains(&t.name),
        };
        if gone {
            tracing::info!(table = %t.name, comment = ?t.comment, "removing the nftables table of a daemon that is gone");
            match Nft::delete_table_handle(t.handle) {
                Ok(()) => swept.tables.push(t.name),
                Err(e) => tracing::warn!(table = %t.name, "{e}"),
            }
        }
    }
    swept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_comments() {
        let o = Owner::new("/tmp/x:y/root", 42);
        assert_eq!(o.link_alias("berth3"), "berth:berth3:42:/tmp/x:y/root");
        assert_eq!(
            parse_alias(&o.link_alias("berth3")),
            Some(("berth3", Some(42), "/tmp/x:y/root"))
        );
        assert_eq!(
            parse_alias("berth:berth3:/var/lib/berth"),
            Some(("berth3", None, "/var/lib/berth"))
        );
        assert_eq!(parse_alias("berth:berth3"), None);
        assert_eq!(parse_alias("docker0"), None);
        assert_eq!(
            parse_table_comment(&o.table_comment()),
            Some("/tmp/x:y/root")
        );
        assert_eq!(parse_table_comment("something else"), None);
    }

    #[test]
    fn roots_from_command_lines() {
        let cwd = Path::new("/home/me");
        let root = |argv: &[&str]| root_of(argv.join("\0").as_bytes(), Some(cwd));
        assert_eq!(
            root(&[
                "/usr/bin/berth",
                "daemon",
                "-H",
                "unix:///s",
                "--data-root",
                "/tmp/x/root/"
            ]),
            Some("/tmp/x/root".into())
        );
        assert_eq!(
            root(&["berth", "daemon", "--data-root=rel/root"]),
            Some("/home/me/rel/root".into())
        );
        assert_eq!(root(&["berth", "daemon"]), Some("/var/lib/berth".into()));
        assert_eq!(
            root(&[
                "/x/target/debug/berth",
                "shim",
                "--id",
                "abc",
                "--bundle",
                "/tmp/x/root/containers/abc/bundle",
                "--state-dir",
                "/tmp/x/exec/containers/abc",
            ]),
            Some("/tmp/x/root".into())
        );
        assert_eq!(root(&["berth", "build", "."]), None);
        assert_eq!(root(&["dockerd", "daemon"]), None);
        assert_eq!(root(&[]), None);
    }
}
