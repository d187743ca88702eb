//! End-to-end tests of the container commands beyond the lifecycle: `events`, `rename`,
//! `top`, `stats`, `cp` (both directions, symlinks kept inside the rootfs), `export`,
//! `container prune`, `ps -s` and `attach` — with the berth CLI and the real docker CLI.

mod support;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

fn now_secs() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("{}.{:09}", t.as_secs(), t.subsec_nanos())
}

#[test]
fn events_stream_live_and_replay_with_filters() {
    let d = Daemon::with_busybox();
    let t0 = now_secs();
    let mut live = Command::new(BERTH)
        .env("BERTH_HOST", d.host())
        .args([
            "events",
            "--filter",
            "type=container",
            "--format",
            "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let o = d.berth(&["run", "--name", "ev1", "busybox", "sh", "-c", "exit 4"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    ok(d.berth(&["rename", "ev1", "ev2"]));
    ok(d.berth(&["tag", "busybox", "evtag:1"]));
    ok(d.berth(&["rm", "ev2"]));
    let mut lines = Vec::new();
    let mut r = BufReader::new(live.stdout.take().unwrap());
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let mut l = String::new();
        if r.read_line(&mut l).unwrap() == 0 {
            break;
        }
        lines.push(l.trim().to_string());
        if l.contains("destroy") {
            break;
        }
    }
    let _ = live.kill();
    let _ = live.wait();
    let want = [
        "container create ev1",
        "container attach ev1",
        "container start ev1",
        "container die ev1",
        "container rename ev2",
        "container destroy ev2",
    ];
    assert_eq!(lines, want, "live events");
    // Replay from the ring with --since/--until: the stream ends by itself. The image
    // event is there too when not filtered out; the real docker CLI reads the same stream.
    let until = now_secs();
    let out = ok(d.berth(&["events", "--since", &t0, "--until", &until]));
    assert!(out.contains("image tag"), "{out}");
    assert!(
        out.contains("(exitCode=4, image=busybox, name=ev1)"),
        "{out}"
    );
    let out = ok(d.docker(&[
        "events",
        "--since",
        &t0,
        "--until",
        &until,
        "--filter",
        "event=die",
        "--format",
        "{{.Action}} {{.Actor.Attributes.exitCode}}",
    ]));
    assert_eq!(out.trim(), "die 4");
    let e = fails(d.berth(&["events", "--filter", "bogus=1", "--until", &until]));
    assert!(e.contains("bogus"), "{e}");
}

#[test]
fn rename_top_stats_prune_and_sizes() {
    let d = Daemon::with_busybox();
    let id = ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "r1",
        "busybox",
        "sh",
        "-c",
        "busybox dd if=/dev/zero of=/blob bs=1000 count=100 2>/dev/null; sleep 1000",
    ]));
    let id = id.trim();
    ok(d.berth(&["rename", "r1", "r2"]));
    let names = ok(d.berth(&["ps", "--format", "{{.Names}}"]));
    assert_eq!(names.trim(), "r2");
    ok(d.berth(&["run", "-d", "--name", "other", "busybox", "sleep", "1000"]));
    let e = fails(d.berth(&["rename", "r2", "other"]));
    assert!(e.contains("is already in use"), "{e}");
    assert!(fails(d.berth(&["rename", "r2", "bad name"])).contains("Invalid container name"));

    // top: the container's processes only, with ps's columns.
    let top = ok(d.berth(&["top", "r2"]));
    assert!(top.starts_with("UID"), "{top}");
    assert!(top.contains("sleep 1000"), "{top}");
    assert_eq!(top.lines().count(), 2, "one process: {top}");
    let top = ok(d.docker(&["top", "r2", "-o", "pid,comm"]));
    assert!(
        top.lines().nth(1).unwrap().trim().ends_with("sleep"),
        "{top}"
    );
    let pid: i32 = top
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        cg.contains(id),
        "pid {pid} is in the container's cgroup: {cg}"
    );

    // stats: one row per container, the docker CLI computes the same columns.
    let s = ok(d.berth(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}} {{.MemUsage}}",
        "r2",
    ]));
    let f: Vec<&str> = s.split_whitespace().collect();
    assert_eq!(&f[..2], ["r2", "1"], "{s}");
    assert!(f[2].ends_with("iB") || f[2].ends_with('B'), "{s}");
    let s = ok(d.docker(&["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}"]));
    let mut rows: Vec<&str> = s.lines().collect();
    rows.sort();
    assert_eq!(rows, ["other 1", "r2 1"]);

    // ps -s: the 100 kB written shows as the writable layer's size.
    let start = Instant::now();
    loop {
        let out = ok(d.berth(&["ps", "-s", "--filter", "name=r2", "--format", "{{.Size}}"]));
        if out.starts_with("100kB (virtual ") || start.elapsed() > Duration::from_secs(5) {
            assert!(out.starts_with("100kB (virtual "), "{out}");
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let v: serde_json::Value =
        serde_json::from_str(&ok(d.docker(&["inspect", "--size", "r2"]))).unwrap();
    assert_eq!(v[0]["SizeRw"], 100_000);
    assert!(v[0]["SizeRootFs"].as_i64().unwrap() > 100_000);

    // prune removes stopped containers only.
    ok(d.berth(&["run", "--name", "done1", "busybox", "true"]));
    ok(d.berth(&["create", "--name", "made", "busybox", "true"]));
    let out = ok(d.berth(&["container", "prune", "-f"]));
    assert!(out.starts_with("Deleted Containers:"), "{out}");
    assert_eq!(out.lines().filter(|l| l.len() == 64).count(), 2, "{out}");
    let left = ok(d.berth(&["ps", "-a", "--format", "{{.Names}}"]));
    let mut left: Vec<&str> = left.lines().collect();
    left.sort();
    assert_eq!(left, ["other", "r2"]);
    ok(d.berth(&["rm", "-f", "r2", "other"]));
}

fn mounts_mentioning(id: &str) -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(id))
        .count()
}

#[test]
fn cp_both_ways_keeps_symlinks_inside_and_export() {
    let d = Daemon::with_busybox();
    let work = d.dir.path().join("cp");
    std::fs::create_dir_all(work.join("srcdir/sub")).unwrap();
    std::fs::write(work.join("srcdir/sub/a.txt"), "alpha").unwrap();
    std::fs::write(work.join("file.txt"), "hello cp").unwrap();
    ok(d.berth(&["run", "-d", "--name", "c", "busybox", "sh", "-c",
        "busybox ln -s ../../../../../etc /up; busybox mkdir -p /data; echo inside > /data/x; sleep 1000"]));
    std::thread::sleep(Duration::from_millis(300));
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();

    // Host → container: a file into a directory, a file under a new name, a directory.
    ok(d.berth(&["cp", &s(&work.join("file.txt")), "c:/tmp/"]));
    ok(d.berth(&["cp", &s(&work.join("file.txt")), "c:/tmp/renamed.txt"]));
    ok(d.berth(&["cp", &s(&work.join("srcdir")), "c:/data"]));
    let cat = ok(d.berth(&[
        "exec",
        "c",
        "cat",
        "/tmp/file.txt",
        "/tmp/renamed.txt",
        "/data/srcdir/sub/a.txt",
    ]));
    assert_eq!(cat, "hello cphello cpalpha");
    // A hard link inside a copied tree arrives as a hard link, and `-L` follows SRC_PATH
    // itself only (the copy keeps the link's name; links inside stay links), as the
    // docker CLI's own archive does.
    let tree = work.join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("sub/a.txt"), "alpha").unwrap();
    std::fs::hard_link(tree.join("sub/a.txt"), tree.join("hl")).unwrap();
    std::os::unix::fs::symlink("sub", tree.join("inner")).unwrap();
    std::os::unix::fs::symlink("tree", work.join("tree-link")).unwrap();
    ok(d.berth(&["cp", "-L", &s(&work.join("tree-link")), "c:/"]));
    ok(d.docker(&["cp", "-L", &s(&work.join("tree-link")), "c:/tmp/"]));
    for top in ["/tree-link", "/tmp/tree-link"] {
        let o = ok(d.berth(&[
            "exec",
            "c",
            "sh",
            "-c",
            &format!(
                "cd {top} && stat -c %i hl sub/a.txt | uniq | wc -l && readlink inner && cat inner/a.txt"
            ),
        ]));
        assert_eq!(o, "1\nsub\nalpha", "{top}");
    }
    // Through the container's symlink /up → (…)/etc: lands in the container's /etc, never
    // the host's.
    let marker = format!("berth-cp-marker-{}", std::process::id());
    std::fs::write(work.join(&marker), "m").unwrap();
    ok(d.berth(&["cp", &s(&work.join(&marker)), "c:/up/"]));
    assert!(
        !std::path::Path::new("/etc").join(&marker).exists(),
        "escaped to the host's /etc"
    );
    assert_eq!(
        ok(d.berth(&["exec", "c", "cat", &format!("/etc/{marker}")])),
        "m"
    );

    // Container → host: a file, a directory, a directory's contents with `/.`, and a path
    // through the symlink (the container's /etc/passwd, not the host's).
    let out = work.join("out");
    std::fs::create_dir_all(&out).unwrap();
    ok(d.berth(&["cp", "c:/data/x", &s(&out)]));
    assert_eq!(std::fs::read_to_string(out.join("x")).unwrap(), "inside\n");
    ok(d.berth(&["cp", "c:/data", &s(&out.join("copied"))]));
    assert_eq!(
        std::fs::read_to_string(out.join("copied/srcdir/sub/a.txt")).unwrap(),
        "alpha"
    );
    std::fs::create_dir_all(out.join("contents")).unwrap();
    ok(d.berth(&["cp", "c:/data/.", &s(&out.join("contents"))]));
    assert!(out.join("contents/x").is_file() && out.join("contents/srcdir").is_dir());
    ok(d.berth(&["cp", "c:/up/passwd", &s(&out.join("passwd"))]));
    let pw = std::fs::read_to_string(out.join("passwd")).unwrap();
    assert!(
        pw.contains("nobody:x:65534:65534:nobody:/nonexistent:/bin/false"),
        "{pw}"
    );
    assert_eq!(pw.lines().count(), 2, "the container's passwd: {pw}");
    // The real docker CLI: copy in (it sends padding after the archive's end, which the
    // daemon must read before answering), copy out, and a missing path is a clear error.
    ok(d.docker(&["cp", &s(&work.join("srcdir")), "c:/from-docker"]));
    assert_eq!(
        ok(d.berth(&["exec", "c", "cat", "/from-docker/sub/a.txt"])),
        "alpha"
    );
    ok(d.docker(&["cp", "c:/data/x", &s(&out.join("via-docker"))]));
    assert_eq!(
        std::fs::read_to_string(out.join("via-docker")).unwrap(),
        "inside\n"
    );
    let e = fails(d.berth(&["cp", "c:/nope", &s(&out)]));
    assert!(
        e.contains("Could not find the file /nope in container c"),
        "{e}"
    );

    // A stopped container: its rootfs is mounted just for the copy, then unmounted.
    let id = ok(d.berth(&["inspect", "--format", "{{.Id}}", "c"]))
        .trim()
        .to_string();
    ok(d.berth(&["stop", "-t", "0", "c"]));
    // The shim answers before it unmounts the rootfs: count once it is done.
    // (The shim's state directory is named by the first 16 characters of the ID.)
    let state = d.dir.path().join("exec/containers").join(&id[..16]);
    assert!(state.join(berth_runtime::status::LOCK_FILE).is_file());
    assert!(eventually(Duration::from_secs(10), || {
        berth_runtime::status::shim_gone(&state)
    }));
    let before = mounts_mentioning(&id);
    ok(d.berth(&["cp", "c:/tmp/file.txt", &s(&out.join("after-stop.txt"))]));
    assert_eq!(
        std::fs::read_to_string(out.join("after-stop.txt")).unwrap(),
        "hello cp"
    );
    ok(d.berth(&["cp", &s(&work.join("file.txt")), "c:/tmp/while-stopped"]));
    assert_eq!(mounts_mentioning(&id), before, "no mount left behind");

    // export: the whole filesystem, with what the container wrote.
    let tarf = out.join("c.tar");
    ok(d.berth(&["export", "-o", &s(&tarf), "c"]));
    let mut names = Vec::new();
    let mut ar = tar::Archive::new(std::fs::File::open(&tarf).unwrap());
    for e in ar.entries().unwrap() {
        names.push(e.unwrap().path().unwrap().to_string_lossy().into_owned());
    }
    for want in [
        "bin/busybox",
        "data/x",
        "data/srcdir/sub/a.txt",
        "tmp/while-stopped",
        "up",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} in export: {names:?}"
        );
    }
    let docker_tar = out.join("d.tar");
    let f = std::fs::File::create(&docker_tar).unwrap();
    let st = Command::new("docker")
        .env("DOCKER_HOST", d.host())
        .args(["export", "c"])
        .stdout(f)
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(
        std::fs::metadata(&docker_tar).unwrap().len(),
        std::fs::metadata(&tarf).unwrap().len()
    );
    assert_eq!(mounts_mentioning(&id), before, "no mount left behind");
}

#[test]
fn attach_to_a_running_container_sees_its_output() {
    let d = Daemon::with_busybox();
    ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "talk",
        "busybox",
        "sh",
        "-c",
        "sleep 1; for i in 1 2 3; do echo line$i; sleep 0.2; done",
    ]));
    let o = Command::new(BERTH)
        .env("BERTH_HOST", d.host())
        .args(["attach", "--no-stdin", "talk"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "line1\nline2\nline3\n");
    let e = fails(d.berth(&["attach", "talk"]));
    assert!(
        e.contains("You cannot attach to a stopped container"),
        "{e}"
    );
    // logs with relative and absolute --since/--until.
    assert_eq!(
        ok(d.berth(&["logs", "--since", "10m", "talk"])),
        "line1\nline2\nline3\n"
    );
    assert_eq!(ok(d.berth(&["logs", "--until", "1h", "talk"])), "");
    assert_eq!(
        ok(d.berth(&["logs", "--since", "2000-01-01T00:00:00Z", "-n", "1", "talk"])),
        "line3\n"
    );
    assert!(fails(d.berth(&["logs", "--since", "yesterday", "talk"])).contains("invalid"));
}

fn wait_for_output(d: &Daemon, args: &[&str], want: &str, secs: u64) -> String {
    let start = Instant::now();
    loop {
        let out = stdout(&d.berth(args));
        if out.trim() == want || start.elapsed() > Duration::from_secs(secs) {
            return out.trim().to_string();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn health_checks_go_unhealthy_then_healthy() {
    let d = Daemon::with_busybox();
    let t0 = now_secs();
    ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -f /tmp/ok && echo fine",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "1000",
    ]));
    let fmt = ["inspect", "--format", "{{.State.Health.Status}}", "hc"];
    assert_eq!(wait_for_output(&d, &fmt, "unhealthy", 10), "unhealthy");
    let v: serde_json::Value = serde_json::from_str(&ok(d.docker(&["inspect", "hc"]))).unwrap();
    let h = &v[0]["State"]["Health"];
    assert!(h["FailingStreak"].as_i64().unwrap() >= 2, "{h}");
    assert_eq!(h["Log"][0]["ExitCode"], 1, "{h}");
    assert!(h["Log"].as_array().unwrap().len() <= 5);
    assert!(ok(d.berth(&["ps", "--format", "{{.Status}}"])).contains("(unhealthy)"));
    ok(d.berth(&["exec", "hc", "touch", "/tmp/ok"]));
    assert_eq!(wait_for_output(&d, &fmt, "healthy", 10), "healthy");
    let v: serde_json::Value = serde_json::from_str(&ok(d.berth(&["inspect", "hc"]))).unwrap();
    let log = v[0]["State"]["Health"]["Log"].as_array().unwrap().clone();
    assert_eq!(log.last().unwrap()["Output"], "fine\n");
    assert_eq!(v[0]["State"]["Health"]["FailingStreak"], 0);
    let until = now_secs();
    let ev = ok(d.berth(&[
        "events",
        "--since",
        &t0,
        "--until",
        &until,
        "--format",
        "{{.Action}}",
    ]));
    let health: Vec<&str> = ev
        .lines()
        .filter(|l| l.starts_with("health_status"))
        .collect();
    assert_eq!(
        health,
        ["health_status: unhealthy", "health_status: healthy"],
        "{ev}"
    );

    // Failures inside the start period leave the status at "starting".
    ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "false",
        "--health-interval",
        "100ms",
        "--health-start-period",
        "30s",
        "--health-start-interval",
        "100ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "1000",
    ]));
    std::thread::sleep(Duration::from_millis(800));
    let out = ok(d.berth(&[
        "inspect",
        "--format",
        "{{.State.Health.Status}} {{len .State.Health.Log}}",
        "slow",
    ]));
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(f[0], "starting", "{out}");
    assert!(
        f[1].parse::<usize>().unwrap() >= 2,
        "probes ran during the start period: {out}"
    );
    // --no-healthcheck with other health flags is refused before anything is created.
    let e = fails(d.berth(&[
        "run",
        "--no-healthcheck",
        "--health-retries",
        "1",
        "busybox",
        "true",
    ]));
    assert!(e.contains("--no-healthcheck conflicts"), "{e}");
    ok(d.berth(&["rm", "-f", "hc", "slow"]));
}

/// A shim answers waiters before it releases the container's cgroups, libcontainer state
/// and rootfs mount: what comes right after an exit — starting the same container again,
/// copying out of its rootfs, removing it — waits for that and never trips over it.
#[test]
fn what_follows_an_exit_at_once_finds_the_container_released() {
    let d = Daemon::with_busybox();
    ok(d.berth(&[
        "create",
        "--name",
        "again",
        "busybox",
        "sh",
        "-c",
        "echo run >> /runs; cat /runs | wc -l",
    ]));
    for i in 1..=15 {
        let o = d.berth(&["start", "-a", "again"]);
        assert_eq!(ok(o).trim(), i.to_string(), "start {i}");
        let o = d.berth(&["cp", "again:/runs", "-"]);
        assert!(o.status.success(), "cp after exit {i}: {}", stderr(&o));
    }
    let id = ok(d.berth(&["inspect", "--format", "{{.Id}}", "again"]))
        .trim()
        .to_string();
    ok(d.berth(&["rm", "again"]));
    // `restart` starts the container again the moment the old process is reaped.
    ok(d.berth(&["run", "-d", "--name", "rs", "busybox", "sleep", "100"]));
    let mut pids = std::collections::HashSet::new();
    for i in 0..15 {
        ok(d.berth(&["restart", "-t", "0", "rs"]));
        let st = ok(d.berth(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.Pid}}",
            "rs",
        ]));
        assert!(st.starts_with("running "), "restart {i}: {st}");
        pids.insert(st);
    }
    assert_eq!(pids.len(), 15);
    ok(d.berth(&["rm", "-f", "rs"]));
    for i in 0..10 {
        let o = d.berth(&[
            "run",
            "--rm",
            "--name",
            &format!("gone{i}"),
            "busybox",
            "true",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    // Nothing of those containers stays mounted once their shims are gone.
    let root = d.data_root().join("containers").display().to_string();
    assert!(
        eventually(Duration::from_secs(5), || mounts_mentioning(&id) == 0
            && mounts_mentioning(&root) == 0),
        "mounts left behind"
    );
}
