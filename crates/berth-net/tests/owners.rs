//! The sweep of dead daemons' links and nftables tables against real owners on this
//! host (needs root and `nft`): two daemons sweeping at the same time, again and again,
//! never remove each other's table or bridge, nor those of a daemon that is down for a
//! restart (its pid is dead; one of its containers still runs, or its new process has
//! not re-marked its links yet); what daemons that are gone left is removed, with or
//! without the table comment older daemons did not write, whatever their data root or
//! recorded pid look like. Live owners are stood in for by processes whose command
//! lines read like berth's (`berth daemon --data-root …`, `berth shim --bundle …`).

use berth_net::firewall::{FirewallDriver, Nft};
use berth_net::link::Links;
use berth_net::owner::{sweep, Owner, Swept};
use std::process::Command;

fn have_nft() -> bool {
    // SAFETY: getuid has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    root && Command::new("nft")
        .args(["list", "tables"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A process whose command line reads `berth <args…>`, killed on drop.
struct Fake(std::process::Child);

impl Fake {
    fn new(args: &[&str]) -> Fake {
        use std::os::unix::process::CommandExt;
        let c = Command::new("/bin/sh")
            .arg0("berth")
            .args(["-c", "while :; do sleep 1; done"])
            .args(args)
            .spawn()
            .unwrap();
        Fake(c)
    }
    fn daemon(root: &str) -> Fake {
        Fake::new(&["daemon", "-H", "unix:///nowhere.sock", "--data-root", root])
    }
    fn shim(root: &str) -> Fake {
        let bundle = format!("{root}/containers/0123/bundle");
        Fake::new(&["shim", "--id", "0123", "--bundle", &bundle])
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A pid that no process has (any more).
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

fn table_comment(name: &str) -> Option<Option<String>> {
    Nft::list_tables()
        .unwrap()
        .into_iter()
        .find(|t| t.name == name)
        .map(|t| t.comment)
}

fn link_exists(name: &str) -> bool {
    std::path::Path::new(&format!("/sys/class/net/{name}")).exists()
}

fn alias_of(name: &str) -> String {
    std::fs::read_to_string(format!("/sys/class/net/{name}/ifalias"))
        .unwrap_or_default()
        .trim_end()
        .to_string()
}

/// A bridge and a table as a daemon makes them, removed on drop.
struct Made {
    name: String,
}

impl Made {
    /// Bridge `name` with `alias`, table `name` with `comment`.
    fn new(name: &str, alias: &str, comment: Option<String>) -> Made {
        let made = Made {
            name: name.to_string(),
        };
        let st = Command::new("ip")
            .args(["link", "add", name, "type", "bridge"])
            .status()
            .unwrap();
        assert!(st.success(), "ip link add {name}");
        std::fs::write(format!("/sys/class/net/{name}/ifalias"), alias).unwrap();
        Nft::new(name).with_comment(comment).setup_base().unwrap();
        made
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .output();
        let _ = Nft::new(&self.name).teardown_base();
    }
}

/// One daemon's start: the sweep, under the host lock.
fn sweep_as(owner: &Owner) -> Swept {
    let _lock = berth_net::host_lock().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let links = Links::host().unwrap();
        sweep(&links, owner).await
    })
}

#[test]
fn concurrent_sweeps_keep_live_owners_and_remove_gone_ones() {
    if !have_nft() {
        eprintln!("skipped: needs root and nft");
        return;
    }
    let tag = format!(
        "{:06x}",
        (std::process::id() ^ std::time::UNIX_EPOCH.elapsed().unwrap().subsec_nanos()) & 0xff_ffff
    );
    let dirs: Vec<tempfile::TempDir> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
    let root = |i: usize| dirs[i].path().join("root").display().to_string();
    for i in 0..5 {
        std::fs::create_dir(root(i)).unwrap();
    }
    // A: down for a restart, one of its containers still running. R: down for a
    // restart, its new process started but not through its sweep yet. B: running.
    let a = Owner::new(root(0), dead_pid());
    let r = Owner::new(root(1), dead_pid());
    let b = Owner::new(root(2), std::process::id());
    let _a_shim = Fake::shim(&root(0));
    let _r_daemon = Fake::daemon(&root(1));
    let _b_daemon = Fake::daemon(&root(2));
    // C: gone (its data root is still there: that does not count). D: gone, from before
    // the table comments. E: gone, its recorded pid taken by some other process.
    let c = Owner::new(root(3), dead_pid());
    let d_root = format!("{}-removed", root(4));
    let e = Owner::new(root(4), std::process::id());
    let [na, nr, nb, nc, nd, ne] = ["a", "r", "b", "c", "d", "e"].map(|k| format!("bt{k}{tag}"));
    let _made = [
        Made::new(&na, &a.link_alias(&na), Some(a.table_comment())),
        Made::new(&nr, &r.link_alias(&nr), Some(r.table_comment())),
        Made::new(&nb, &b.link_alias(&nb), Some(b.table_comment())),
        Made::new(&nc, &c.link_alias(&nc), Some(c.table_comment())),
        Made::new(&nd, &format!("berth:{nd}:{}:{d_root}", dead_pid()), None),
        Made::new(&ne, &e.link_alias(&ne), Some(e.table_comment())),
    ];
    assert_eq!(table_comment(&na), Some(Some(a.table_comment())));
    assert_eq!(table_comment(&nd), Some(None));

    // B starts while A and R are down: their things stay, C's, D's and E's go.
    let first = sweep_as(&b);
    for (n, o) in [(&na, &a), (&nr, &r), (&nb, &b)] {
        assert!(link_exists(n), "bridge {n} removed: {first:?}");
        assert_eq!(table_comment(n), Some(Some(o.table_comment())), "{first:?}");
    }
    for n in [&nc, &nd, &ne] {
        assert!(!link_exists(n), "bridge {n} left: {first:?}");
        assert_eq!(table_comment(n), None, "table {n} left: {first:?}");
    }
    assert_eq!(
        alias_of(&na),
        a.link_alias(&na),
        "A's links are A's to re-mark"
    );

    // A comes back (same data root, new process) while B starts and sweeps, again and
    // again, A's old process dying in between each time.
    let a_again = Owner::new(root(0), std::process::id());
    let rounds = 8;
    let (sa, sb) = std::thread::scope(|s| {
        let ta = s.spawn(|| {
            let mut all = Vec::new();
            for _ in 0..rounds {
                all.push(sweep_as(&a_again));
                assert_eq!(alias_of(&na), a_again.link_alias(&na));
                std::fs::write(
                    format!("/sys/class/net/{na}/ifalias"),
                    Owner::new(root(0), dead_pid()).link_alias(&na),
                )
                .unwrap();
            }
            all
        });
        let tb = s.spawn(|| (0..rounds).map(|_| sweep_as(&b)).collect::<Vec<_>>());
        (ta.join().unwrap(), tb.join().unwrap())
    });
    for s in sa.iter().chain(&sb) {
        for mine in [&na, &nr, &nb] {
            assert!(
                !s.links.contains(mine) && !s.tables.contains(mine),
                "{mine} swept: {s:?}"
            );
        }
    }
    // Neither sweep removed the other's (or the restarting A's and R's) bridge or table.
    for (n, o) in [(&na, &a), (&nr, &r), (&nb, &b)] {
        assert!(link_exists(n), "bridge {n} removed");
        assert_eq!(table_comment(n), Some(Some(o.table_comment())), "table {n}");
    }
    // A table is judged by its own comment, whatever links name it: one whose owner is
    // gone goes even with no link left (a daemon without a bridge), a live owner's stays
    // even when a gone daemon's link names it.
    let orphan = format!("bto{tag}");
    let _mo = {
        let m = Made::new(&orphan, "", Some(c.table_comment()));
        let _ = Command::new("ip").args(["link", "del", &orphan]).output();
        m
    };
    let named = format!("btn{tag}");
    let _mn = Made::new(&named, &format!("berth:{nb}:{}:{d_root}", dead_pid()), None);
    let s = sweep_as(&b);
    assert_eq!(table_comment(&orphan), None, "{s:?}");
    assert!(!link_exists(&named), "{s:?}");
    assert_eq!(table_comment(&nb), Some(Some(b.table_comment())), "{s:?}");
    // A table without a comment named by no gone daemon's link is not berth's to judge.
    assert_eq!(table_comment(&named), Some(None), "{s:?}");
}
