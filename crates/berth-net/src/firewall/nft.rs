//! The nftables driver: one `ip` table per daemon, changed through `nft -f -` scripts.
//!
//! Published ports are elements of two maps (`pub_ip` keyed by host address, protocol
//! and port; `pub_any` by protocol and port) looked up by two static DNAT rules, reached
//! from `prerouting` (traffic from containers and other hosts) and `output` (the host's
//! own connections, 127.0.0.1 included: the kernel DNATs them straight to the container,
//! no userland proxy). Per-network rules carry a `net:<bridge>` comment and are deleted by
//! handle. The `nft` tool is used rather than raw netlink because it is how the
//! nftables project itself exposes a stable interface (the Rust `nftables` crate shells
//! out to it as well).
//!
//! Several daemons may share one host's nftables (test daemons, a daemon per data root):
//! the table carries its owner in its comment (`berth-owner:<data root>`, see
//! [`crate::owner`]), so the sweep of dead daemons' tables ([`crate::owner::sweep`])
//! never has to guess from a name, and deletes a table by its handle (the very table
//! it examined, not one made under the same name since).

use super::{FirewallDriver, NetworkRules, PortRule};
use crate::error::{NetError, Result};
use std::io::Write;
use std::process::{Command, Stdio};

/// nftables backend for table `ip <table>`.
pub struct Nft {
    table: String,
    comment: Option<String>,
}

/// A table of the `ip` family as `nft -a list ruleset ip` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    pub name: String,
    /// The kernel's handle: unique per table, never reused for a new table of the
    /// same name.
    pub handle: u64,
    /// The table's own comment (not its rules').
    pub comment: Option<String>,
}

impl Nft {
    pub fn new(table: &str) -> Nft {
        Nft {
            table: table.to_string(),
            comment: None,
        }
    }

    /// The comment the table is created with (an existing table keeps its own: the
    /// kernel does not change a table's comment).
    pub fn with_comment(mut self, comment: Option<String>) -> Nft {
        self.comment = comment.filter(|c| valid_comment(c));
        self
    }

    /// Every `ip` table with its handle and comment.
    pub fn list_tables() -> Result<Vec<TableInfo>> {
        let out = Command::new("nft")
            .args(["-a", "list", "ruleset", "ip"])
            .output()
            .map_err(|e| NetError::Firewall(format!("running nft: {e}")))?;
        if !out.status.success() {
            return Err(NetError::Firewall(format!(
                "nft list ruleset: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(parse_tables(&String::from_utf8_lossy(&out.stdout)))
    }

    /// Deletes the `ip` table with this handle; a table already gone is not an error.
    pub fn delete_table_handle(handle: u64) -> Result<()> {
        delete_table(&["handle", &handle.to_string()])
    }

    fn run(&self, script: &str) -> Result<String> {
        let mut child = Command::new("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| NetError::Firewall(format!("running nft: {e}")))?;
        if let Some(mut i) = child.stdin.take() {
            i.write_all(script.as_bytes())
                .map_err(|e| NetError::Firewall(format!("writing to nft: {e}")))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| NetError::Firewall(format!("running nft: {e}")))?;
        if !out.status.success() {
            return Err(NetError::Firewall(format!(
                "nft failed: {}\nscript:\n{script}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn list_handles(&self, comment: &str) -> Result<Vec<(String, u64)>> {
        let out = Command::new("nft")
            .args(["-a", "list", "table", "ip", &self.table])
            .output()
            .map_err(|e| NetError::Firewall(format!("running nft: {e}")))?;
        if !out.status.success() {
            return Ok(Vec::new());
        }
        Ok(parse_handles(
            &String::from_utf8_lossy(&out.stdout),
            comment,
        ))
    }

    fn port_key(p: &PortRule) -> (String, String) {
        match p.host_ip.filter(|ip| !ip.is_unspecified()) {
            Some(ip) => (
                "pub_ip".into(),
                format!("{ip} . {} . {}", p.proto.as_str(), p.host_port),
            ),
            None => (
                "pub_any".into(),
                format!("{} . {}", p.proto.as_str(), p.host_port),
            ),
        }
    }
}

/// nftables keeps at most 128 bytes of comment; quotes and control characters would
/// not survive the script.
fn valid_comment(c: &str) -> bool {
    c.len() < 128
        && !c
            .chars()
            .any(|ch| ch == '"' || ch == '\\' || ch.is_control())
}

/// The tables of `nft -a list ruleset` output: `table ip NAME { # handle N`, then the
/// table's own attributes (`comment "…"`) before its chains, sets and maps.
fn parse_tables(listing: &str) -> Vec<TableInfo> {
    let mut out: Vec<TableInfo> = Vec::new();
    let mut depth = 0i64;
    for line in listing.lines() {
        let t = line.trim();
        if depth == 0 {
            if let Some(rest) = t.strip_prefix("table ip ") {
                let name = rest.split_whitespace().next().unwrap_or("").to_string();
                let handle = rest
                    .rsplit("# handle ")
                    .next()
                    .and_then(|h| h.trim().parse().ok());
                if let Some(handle) = handle {
                    out.push(TableInfo {
                        name,
                        handle,
                        comment: None,
                    });
                }
            }
        } else if depth == 1 {
            if let (Some(c), Some(last)) = (t.strip_prefix("comment \""), out.last_mut()) {
                if last.comment.is_none() {
                    last.comment = c.strip_suffix('"').map(String::from);
                }
            }
        }
        depth += brace_delta(t);
    }
    out
}

/// Opening minus closing braces of a line, outside quoted strings.
fn brace_delta(line: &str) -> i64 {
    let mut d = 0;
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            '{' if !quoted => d += 1,
            '}' if !quoted => d -= 1,
            _ => {}
        }
    }
    d
}

/// `(chain, handle)` of every rule in `nft -a list table` output whose comment is
/// `comment`.
fn parse_handles(listing: &str, comment: &str) -> Vec<(String, u64)> {
    let mut chain = String::new();
    let mut out = Vec::new();
    let needle = format!("comment \"{comment}\"");
    for line in listing.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("chain ") {
            chain = rest.split_whitespace().next().unwrap_or("").to_string();
            continue;
        }
        if t.contains(&needle) {
            if let Some(h) = t
                .rsplit("# handle ")
                .next()
                .and_then(|h| h.trim().parse().ok())
            {
                out.push((chain.clone(), h));
            }
        }
    }
    out
}

impl FirewallDriver for Nft {
    fn name(&self) -> &'static str {
        "nftables"
    }

    fn setup_base(&self) -> Result<()> {
        let t = &self.table;
        // `add` is idempotent for tables, chains and maps; the two static DNAT rules
        // are (re)written by flushing their own chain.
        let table = match &self.comment {
            Some(c) => format!("add table ip {t} {{ comment \"{c}\"; }}"),
            None => format!("add table ip {t}"),
        };
        self.run(&format!(
            "{table}
add map ip {t} pub_any {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
add map ip {t} pub_ip {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }}
add chain ip {t} publish
flush chain ip {t} publish
add rule ip {t} publish dnat ip to ip daddr . meta l4proto . th dport map @pub_ip
add rule ip {t} publish dnat ip to meta l4proto . th dport map @pub_any
add chain ip {t} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}
flush chain ip {t} prerouting
add rule ip {t} prerouting fib daddr type local jump publish
add chain ip {t} output {{ type nat hook output priority -100; policy accept; }}
flush chain ip {t} output
add rule ip {t} output fib daddr type local jump publish
add chain ip {t} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}
add chain ip {t} forward {{ type filter hook forward priority filter; policy accept; }}
"
        ))?;
        Ok(())
    }

    fn teardown_base(&self) -> Result<()> {
        delete_table(&[&self.table])
    }

    fn setup_network(&self, n: &NetworkRules) -> Result<()> {
        self.teardown_network(n)?;
        let t = &self.table;
        let b = &n.bridge;
        let s = n.subnet;
        let c = format!("comment \"net:{b}\"");
        let mut script = format!(
            "add rule ip {t} postrouting oifname \"{b}\" ip saddr 127.0.0.0/8 masquerade {c}
add rule ip {t} postrouting oifname \"{b}\" ct status dnat ip saddr {s} masquerade {c}
"
        );
        if n.internal {
            script += &format!(
                "add rule ip {t} forward iifname \"{b}\" oifname != \"{b}\" drop {c}
add rule ip {t} forward oifname \"{b}\" iifname != \"{b}\" drop {c}
"
            );
        } else {
            script += &format!(
                "add rule ip {t} postrouting ip saddr {s} oifname != \"{b}\" masquerade {c}
"
            );
        }
        self.run(&script)?;
        Ok(())
    }

    fn teardown_network(&self, n: &NetworkRules) -> Result<()> {
        let handles = self.list_handles(&format!("net:{}", n.bridge))?;
        if handles.is_empty() {
            return Ok(());
        }
        let script: String = handles
            .iter()
            .map(|(chain, h)| format!("delete rule ip {} {chain} handle {h}\n", self.table))
            .collect();
        self.run(&script)?;
        Ok(())
    }

    fn setup_port(&self, p: &PortRule) -> Result<()> {
        let (map, key) = Self::port_key(p);
        self.run(&format!(
            "add element ip {} {map} {{ {key} : {} . {} }}\n",
            self.table, p.container_ip, p.container_port
        ))?;
        Ok(())
    }

    fn teardown_port(&self, p: &PortRule) -> Result<()> {
        let (map, key) = Self::port_key(p);
        match self.run(&format!(
            "delete element ip {} {map} {{ {key} }}\n",
            self.table
        )) {
            Ok(_) => Ok(()),
            Err(NetError::Firewall(m)) if m.contains("No such file") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// `nft delete table ip <selector…>` (a name, or `handle N`); a table already gone is
/// not an error.
fn delete_table(selector: &[&str]) -> Result<()> {
    let out = Command::new("nft")
        .args(["delete", "table", "ip"])
        .args(selector)
        .output()
        .map_err(|e| NetError::Firewall(format!("running nft: {e}")))?;
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success() || err.contains("No such file") {
        Ok(())
    } else {
        Err(NetError::Firewall(err.trim().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_tables_with_their_own_comment() {
        let listing = r#"table ip berth0 { # handle 5
	comment "berth-owner:/tmp/a b:c/root"
	map pub_any { # handle 1
		type inet_proto . inet_service : ipv4_addr . inet_service
		elements = { tcp . 8080 : 172.17.0.2 . 80 }
	}
	chain postrouting { # handle 4
		type nat hook postrouting priority srcnat; policy accept;
		oifname "br-1" masquerade comment "net:br-1" # handle 7
	}
}
table ip berth1 { # handle 9
	chain forward { # handle 1
		comment "a chain's comment"
		iifname "x{" drop comment "net:x}" # handle 3
	}
}
table ip other { # handle 12
	comment "somebody else's"
}
"#;
        assert_eq!(
            parse_tables(listing),
            vec![
                TableInfo {
                    name: "berth0".into(),
                    handle: 5,
                    comment: Some("berth-owner:/tmp/a b:c/root".into()),
                },
                TableInfo {
                    name: "berth1".into(),
                    handle: 9,
                    comment: None,
                },
                TableInfo {
                    name: "other".into(),
                    handle: 12,
                    comment: Some("somebody else's".into()),
                },
            ]
        );
        assert!(valid_comment("berth-owner:/var/lib/berth"));
        assert!(!valid_comment("berth-owner:/tmp/\"quoted\""));
        assert!(!valid_comment(&format!("berth-owner:/{}", "x".repeat(130))));
    }

    #[test]
    fn finds_rules_by_comment() {
        let listing = r#"table ip berth0 {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "br-1" ip saddr 127.0.0.0/8 masquerade comment "net:br-1" # handle 7
		ip saddr 172.18.0.0/16 oifname != "br-2" masquerade comment "net:br-2" # handle 9
	}
	chain forward {
		iifname "br-1" oifname != "br-1" drop comment "net:br-1" # handle 12
	}
}"#;
        assert_eq!(
            parse_handles(listing, "net:br-1"),
            vec![("postrouting".to_string(), 7), ("forward".to_string(), 12)]
        );
    }
}
