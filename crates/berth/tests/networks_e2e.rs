//! End-to-end networking tests against a real `berth daemon` (real namespaces, veths,
//! bridges and nftables rules): published ports reached from the host on 127.0.0.1,
//! `-P`, user-defined networks with DNS names and aliases, `--link`, bad input, cleanup
//! back to the baseline, connectivity across a daemon restart, and daemons sharing the
//! host (each test runs its own daemon, in parallel; daemons starting while another is
//! down for a restart leave its bridge and table alone). Traffic only goes to
//! 127.0.0.0/8 and to addresses berth created (its bridges and containers).

mod support;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::*;

/// A busybox rootfs with the network applets and a web root.
fn net_busybox_tar(dir: &Path) -> PathBuf {
    busybox_web_tar(
        dir,
        "busybox-net.tar",
        &["bin/", "etc/", "tmp/", "www/"],
        &[
            "sh", "echo", "cat", "true", "sleep", "env", "grep", "httpd", "wget", "ping", "nc",
            "nslookup", "hostname", "ip",
        ],
    )
}

fn daemon() -> Daemon {
    let d = Daemon::start();
    let tar = net_busybox_tar(d.dir.path());
    ok(d.berth(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        "-c",
        "EXPOSE 80",
        tar.to_str().unwrap(),
        "web",
    ]));
    d
}

/// `GET /` over plain HTTP/1.0, retried until the server answers.
fn http_get(addr: &str) -> String {
    let t = Instant::now();
    loop {
        let r = (|| -> std::io::Result<String> {
            let mut s = std::net::TcpStream::connect(addr)?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n")?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out)
        })();
        match r {
            Ok(o) if o.contains("200") => return o,
            other if t.elapsed() > Duration::from_secs(10) => panic!("GET {addr}: {other:?}"),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn httpd(d: &Daemon, extra: &[&str]) -> String {
    let mut args = vec!["run", "-d"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["web", "httpd", "-f", "-p", "80", "-h", "/www"]);
    ok(d.berth(&args)).trim().to_string()
}

fn inspect(d: &Daemon, fmt: &str, what: &str) -> String {
    ok(d.docker(&["inspect", "-f", fmt, what]))
        .trim()
        .to_string()
}

/// Links (bridges, veths), pinned namespaces and nft table lines that belong to this
/// daemon, spare namespaces aside.
fn footprint(d: &Daemon) -> (usize, usize, Vec<String>) {
    let links = footprint_links(d);
    let table = ok(d.docker(&[
        "network",
        "inspect",
        "-f",
        "{{index .Options \"com.docker.network.bridge.name\"}}",
        "bridge",
    ]));
    let rules = std::process::Command::new("nft")
        .args(["list", "table", "ip", table.trim()])
        .output()
        .unwrap();
    let rules: Vec<String> = String::from_utf8_lossy(&rules.stdout)
        .lines()
        .map(String::from)
        .collect();
    let netns = std::fs::read_dir(d.dir.path().join("exec/netns"))
        .map(|r| {
            r.flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with("spare-"))
                .count()
        })
        .unwrap_or(0);
    (links, netns, rules)
}

/// How many links (bridges, veths) are marked as this daemon's, spares aside.
fn footprint_links(d: &Daemon) -> usize {
    let root = d.data_root().display().to_string();
    let links = std::process::Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&links.stdout)
        .lines()
        .filter(|l| l.contains(&format!(":{root}")))
        // Spare namespaces kept ready on the default bridge come and go.
        .filter(|l| !l.contains(": vsp"))
        .count()
}

/// The footprint comes back to `want` (veths and namespaces of removed containers go
/// away in the background, within moments).
#[track_caller]
fn assert_footprint(d: &Daemon, want: &(usize, usize, Vec<String>)) {
    let t = Instant::now();
    loop {
        let now = footprint(d);
        if &now == want {
            return;
        }
        if t.elapsed() > Duration::from_secs(10) {
            assert_eq!(&now, want);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn published_ports_from_the_host_and_between_containers() {
    let d = daemon();
    let base = footprint(&d);
    let web = httpd(&d, &["--name", "site", "-p", "127.0.0.1:18080:80"]);
    let body = http_get("127.0.0.1:18080");
    assert!(body.ends_with("hello from berth\n"), "{body}");
    assert_eq!(
        ok(d.berth(&["port", "site"])).trim(),
        "80/tcp -> 127.0.0.1:18080"
    );
    assert_eq!(
        ok(d.docker(&["port", "site", "80"])).trim(),
        "127.0.0.1:18080"
    );
    // Inspect shows the address, gateway and the binding like docker.
    let ip = inspect(&d, "{{.NetworkSettings.Networks.bridge.IPAddress}}", &web);
    let gw = inspect(&d, "{{.NetworkSettings.Networks.bridge.Gateway}}", &web);
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "{ip}");
    assert!(gw.parse::<std::net::Ipv4Addr>().is_ok(), "{gw}");
    assert_eq!(
        inspect(&d, "{{json .NetworkSettings.Ports}}", &web),
        r#"{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"18080"}]}"#
    );
    assert_eq!(inspect(&d, "{{.NetworkSettings.IPAddress}}", &web), ip);
    let ps = ok(d.docker(&["ps", "--format", "{{.Names}} {{.Ports}}"]));
    assert!(
        ps.lines().any(|l| l == "site 127.0.0.1:18080->80/tcp"),
        "{ps}"
    );
    // The port is taken: a second publish fails cleanly, leaving no veth or rule.
    let before = footprint(&d);
    let err = fails(d.berth(&[
        "run",
        "-d",
        "--name",
        "clash",
        "-p",
        "127.0.0.1:18080:80",
        "web",
        "sleep",
        "5",
    ]));
    assert!(err.contains("port is already allocated"), "{err}");
    assert_eq!(footprint(&d), before);
    ok(d.berth(&["rm", "-f", "clash"]));
    // A stopped container frees its port; starting it publishes it again.
    ok(d.berth(&["stop", "-t", "0", "site"]));
    assert_eq!(ok(d.berth(&["port", "site"])), "");
    assert!(std::net::TcpStream::connect("127.0.0.1:18080").is_err());
    ok(d.berth(&["start", "site"]));
    assert!(http_get("127.0.0.1:18080").ends_with("hello from berth\n"));
    // -P publishes the image's EXPOSEd port on a random host port, reachable on
    // 127.0.0.1 (DNAT) and from another container through the host port on the gateway.
    httpd(&d, &["--name", "any", "-P"]);
    let mapped = ok(d.berth(&["port", "any", "80"]));
    let port: u16 = mapped.trim().rsplit(':').next().unwrap().parse().unwrap();
    assert!(port >= 1024, "{mapped}");
    let body = http_get(&format!("127.0.0.1:{port}"));
    assert!(body.ends_with("hello from berth\n"));
    let out = ok(d.berth(&[
        "run",
        "--rm",
        "web",
        "wget",
        "-qO-",
        &format!("http://{gw}:{port}/index.html"),
    ]));
    assert_eq!(out, "hello from berth\n");
    // Outbound from a container: its default route is the bridge.
    let out = ok(d.berth(&["run", "--rm", "web", "ping", "-c1", "-W2", &ip]));
    assert!(out.contains("1 packets received"), "{out}");
    // Removing the containers takes their veths, rules and addresses away.
    ok(d.berth(&["rm", "-f", "site", "any"]));
    assert_footprint(&d, &base);
    assert!(std::net::TcpStream::connect("127.0.0.1:18080").is_err());
}

#[test]
fn user_networks_resolve_names_and_aliases() {
    let d = daemon();
    let base = footprint(&d);
    // The docker CLI drives the network commands.
    let id = ok(d.docker(&["network", "create", "appnet"]));
    assert_eq!(id.trim().len(), 64);
    let ls = ok(d.docker(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]));
    for want in ["appnet bridge", "bridge bridge", "host host", "none null"] {
        assert!(ls.lines().any(|l| l == want), "{ls}");
    }
    httpd(
        &d,
        &[
            "--name",
            "redis",
            "--network",
            "appnet",
            "--network-alias",
            "db",
        ],
    );
    let out = ok(d.berth(&[
        "run", "--rm", "--network", "appnet", "web", "sh", "-c",
        "wget -qO- http://redis/index.html && wget -qO- http://db/index.html && ping -c1 -W2 redis >/dev/null && echo pinged",
    ]));
    assert_eq!(out, "hello from berth\nhello from berth\npinged\n");
    // connect --alias adds a name on the network; the container keeps its first one.
    let other = ok(d.berth(&["run", "-d", "--name", "worker", "web", "sleep", "60"]));
    ok(d.docker(&["network", "connect", "--alias", "jobs", "appnet", "worker"]));
    let out = ok(d.berth(&[
        "run",
        "--rm",
        "--network",
        "appnet",
        "web",
        "nslookup",
        "jobs",
    ]));
    let wip = inspect(
        &d,
        "{{.NetworkSettings.Networks.appnet.IPAddress}}",
        other.trim(),
    );
    assert!(out.contains(&wip), "{out} / {wip}");
    let containers = ok(d.docker(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}} {{end}}",
        "appnet",
    ]));
    let mut names: Vec<&str> = containers.split_whitespace().collect();
    names.sort();
    assert_eq!(names, vec!["redis", "worker"]);
    // Bad input: clear errors.
    let err = fails(d.docker(&["network", "rm", "appnet"]));
    assert!(err.contains("has active endpoints"), "{err}");
    let sub = inspect(&d, "{{(index .IPAM.Config 0).Subnet}}", "appnet");
    let err = fails(d.docker(&["network", "create", "--subnet", &sub, "dup"]));
    assert!(err.contains("Pool overlaps"), "{err}");
    let err = fails(d.berth(&["run", "--rm", "--network", "nosuchnet", "web", "true"]));
    assert!(err.contains("network nosuchnet not found"), "{err}");
    // Disconnect, remove, prune: back to the baseline.
    ok(d.docker(&["network", "disconnect", "appnet", "worker"]));
    ok(d.berth(&["rm", "-f", "redis", "worker"]));
    ok(d.docker(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.213.0.0/24",
        "spare",
    ]));
    let pruned = ok(d.docker(&["network", "prune", "-f"]));
    assert!(
        pruned.contains("appnet") && pruned.contains("spare"),
        "{pruned}"
    );
    assert_footprint(&d, &base);
}

#[test]
fn links_give_hosts_entries_and_env() {
    let d = daemon();
    let web = httpd(&d, &["--name", "webapp", "-e", "GREETING=hi"]);
    let ip = inspect(&d, "{{.NetworkSettings.Networks.bridge.IPAddress}}", &web);
    let out = ok(d.berth(&[
        "run",
        "--rm",
        "--name",
        "client",
        "--link",
        "webapp:backend",
        "--add-host",
        "extra.test:10.9.8.7",
        "web",
        "sh",
        "-c",
        "env | grep ^BACKEND_ | sort; cat /etc/hosts; wget -qO- http://backend/index.html",
    ]));
    for want in [
        format!("BACKEND_PORT=tcp://{ip}:80"),
        format!("BACKEND_PORT_80_TCP=tcp://{ip}:80"),
        format!("BACKEND_PORT_80_TCP_ADDR={ip}"),
        "BACKEND_PORT_80_TCP_PORT=80".to_string(),
        "BACKEND_PORT_80_TCP_PROTO=tcp".to_string(),
        "BACKEND_NAME=/client/backend".to_string(),
        "BACKEND_ENV_GREETING=hi".to_string(),
        format!("{ip}\tbackend webapp {}", &web[..12]),
        "10.9.8.7\textra.test".to_string(),
        "hello from berth".to_string(),
    ] {
        assert!(out.lines().any(|l| l == want), "missing {want:?} in\n{out}");
    }
    // --dns writes resolv.conf; --network none has only lo; host shares the host's.
    let out = ok(d.berth(&[
        "run",
        "--rm",
        "--dns",
        "10.1.2.3",
        "web",
        "cat",
        "/etc/resolv.conf",
    ]));
    assert!(out.lines().any(|l| l == "nameserver 10.1.2.3"), "{out}");
    let out = ok(d.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "web",
        "ip",
        "-o",
        "link",
    ]));
    assert_eq!(out.lines().count(), 1, "{out}");
    let out = ok(d.berth(&[
        "run",
        "--rm",
        "--network",
        "container:webapp",
        "web",
        "wget",
        "-qO-",
        "http://127.0.0.1/index.html",
    ]));
    assert_eq!(out, "hello from berth\n");
}

#[test]
fn daemon_restart_keeps_networks_and_connectivity() {
    let mut d = daemon();
    let base = footprint(&d);
    ok(d.berth(&["network", "create", "keep"]));
    httpd(
        &d,
        &[
            "--name",
            "srv",
            "--network",
            "keep",
            "-p",
            "127.0.0.1:18090:80",
        ],
    );
    assert!(http_get("127.0.0.1:18090").ends_with("hello from berth\n"));
    d.kill9();
    d.spawn();
    // The container kept running with its address, DNAT and the network's DNS.
    assert!(http_get("127.0.0.1:18090").ends_with("hello from berth\n"));
    let out = ok(d.berth(&[
        "run",
        "--rm",
        "--network",
        "keep",
        "web",
        "wget",
        "-qO-",
        "http://srv/index.html",
    ]));
    assert_eq!(out, "hello from berth\n");
    assert_eq!(
        ok(d.berth(&["port", "srv"])).trim(),
        "80/tcp -> 127.0.0.1:18090"
    );
    // The port is still held after the restart.
    let err = fails(d.berth(&["run", "-d", "-p", "127.0.0.1:18090:80", "web", "true"]));
    assert!(err.contains("port is already allocated"), "{err}");
    ok(d.berth(&["rm", "-f", "srv"]));
    for id in ok(d.berth(&["ps", "-aq"])).lines() {
        ok(d.berth(&["rm", "-f", id]));
    }
    ok(d.berth(&["network", "rm", "keep"]));
    assert_footprint(&d, &base);
}

/// The default bridge's name (also the name of the daemon's nftables table).
fn bridge_name(d: &Daemon) -> String {
    inspect(
        d,
        "{{index .Options \"com.docker.network.bridge.name\"}}",
        "bridge",
    )
}

/// `nft list table ip <name>`, or None when there is no such table.
fn nft_table(name: &str) -> Option<String> {
    let o = std::process::Command::new("nft")
        .args(["list", "table", "ip", name])
        .output()
        .unwrap();
    o.status.success().then(|| stdout(&o))
}

#[test]
fn daemons_starting_meanwhile_leave_a_restarting_daemons_network_alone() {
    let mut d = daemon();
    ok(d.berth(&["network", "create", "stay"]));
    httpd(
        &d,
        &[
            "--name",
            "srv",
            "--network",
            "stay",
            "-p",
            "127.0.0.1:18095:80",
        ],
    );
    assert!(http_get("127.0.0.1:18095").ends_with("hello from berth\n"));
    let table = bridge_name(&d);
    let mine = format!("comment \"berth-owner:{}\"", d.data_root().display());
    assert!(nft_table(&table).unwrap().contains(&mine));
    let links_before = footprint(&d).0;
    // Down for a restart: its pid is dead, its data root (and its containers) still
    // there. Three daemons start meanwhile, at the same time, each sweeping what dead
    // daemons left.
    d.kill9();
    let others: Vec<Daemon> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3).map(|_| s.spawn(Daemon::start)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Each made its own bridge and table, marked as its own.
    let mut names: Vec<String> = others.iter().map(bridge_name).collect();
    names.push(table.clone());
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 4, "{names:?}");
    for o in &others {
        let t = nft_table(&bridge_name(o)).expect("the daemon's table");
        let own = format!("comment \"berth-owner:{}\"", o.data_root().display());
        assert!(t.contains(&own), "{t}");
    }
    // The stopped daemon's table, bridges and veths are all still there: the container
    // is still reachable through its published port (DNAT by its table, over its veth).
    let t = nft_table(&table).expect("the stopped daemon's table was removed");
    assert!(t.contains(&mine), "{t}");
    assert!(t.contains("18095"), "{t}");
    assert_eq!(footprint_links(&d), links_before);
    assert!(http_get("127.0.0.1:18095").ends_with("hello from berth\n"));
    // Back up, it adopts them; the others' tables are untouched.
    d.spawn();
    assert_eq!(bridge_name(&d), table);
    assert!(http_get("127.0.0.1:18095").ends_with("hello from berth\n"));
    let out = ok(d.berth(&[
        "run",
        "--rm",
        "--network",
        "stay",
        "web",
        "wget",
        "-qO-",
        "http://srv/index.html",
    ]));
    assert_eq!(out, "hello from berth\n");
    for o in &others {
        assert!(nft_table(&bridge_name(o)).is_some());
    }
    ok(d.berth(&["rm", "-f", "srv"]));
    ok(d.berth(&["network", "rm", "stay"]));
}
