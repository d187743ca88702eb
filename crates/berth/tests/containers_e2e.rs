//! End-to-end container tests against a real `berth daemon`: the `berth` CLI and the real
//! docker CLI run busybox containers (imported from Debian's static busybox).

mod support;
use std::process::Command;
use support::*;

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn run_exit_codes_and_errors() {
    let d = Daemon::with_busybox();
    assert_eq!(
        ok(d.berth(&["run", "--rm", "busybox", "echo", "hi"])),
        "hi\n"
    );
    assert_eq!(
        code(&d.berth(&["run", "--rm", "busybox", "sh", "-c", "exit 3"])),
        3
    );
    let o = d.berth(&["run", "--rm", "busybox", "nosuchbin"]);
    assert_eq!(code(&o), 127, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("executable file not found"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        code(&d.berth(&["run", "--rm", "busybox", "/etc/passwd"])),
        126
    );
    let o = d.berth(&["run", "--rm", "nosuchimage", "true"]);
    assert_eq!(code(&o), 125);
    assert!(
        stderr(&o).contains("No such image: nosuchimage:latest"),
        "{}",
        stderr(&o)
    );
    let o = d.berth(&["run", "-m", "foo", "busybox", "true"]);
    assert_eq!(code(&o), 125);
    assert!(stderr(&o).contains("invalid size: 'foo'"), "{}", stderr(&o));
    let o = d.berth(&["run", "--cpus", "-1", "busybox", "true"]);
    assert_eq!(code(&o), 125);
    assert!(stderr(&o).contains("Range of CPUs"), "{}", stderr(&o));
    // --rm containers are gone afterwards; the bad-flag runs created nothing.
    assert_eq!(ok(d.berth(&["ps", "-aq"])).trim(), "");

    // The same through the real docker CLI.
    if have("docker") {
        let o = d.docker(&["run", "--rm", "busybox", "echo", "hello docker"]);
        assert_eq!(ok(o), "hello docker\n");
        assert_eq!(
            code(&d.docker(&["run", "--rm", "busybox", "sh", "-c", "exit 3"])),
            3
        );
        assert_eq!(
            code(&d.docker(&["run", "--rm", "busybox", "nosuchbin"])),
            127
        );
        assert_eq!(
            code(&d.docker(&["run", "--rm", "nosuchimage", "true"])),
            125
        );
    }
}

#[test]
fn detached_lifecycle_logs_exec_stop_start_rm() {
    let d = Daemon::with_busybox();
    let id = ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        "echo started; while true; do sleep 0.2; done",
    ]));
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64);
    let ps = ok(d.berth(&["ps"]));
    assert!(
        ps.contains(&id[..12]) && ps.contains("web") && ps.contains("Up"),
        "{ps}"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(ok(d.berth(&["logs", "web"])), "started\n");
    assert_eq!(
        ok(d.berth(&["exec", "web", "cat", "/etc/hostname"])).trim(),
        &id[..12]
    );
    assert_eq!(code(&d.berth(&["exec", "web", "sh", "-c", "exit 5"])), 5);
    // A name in use, and rm of a running container, are refused and change nothing.
    let o = d.berth(&["run", "--name", "web", "busybox", "true"]);
    assert_eq!(code(&o), 125);
    assert!(stderr(&o).contains("is already in use"), "{}", stderr(&o));
    let e = fails(d.berth(&["rm", "web"]));
    assert!(e.contains("container is running"), "{e}");
    assert!(ok(d.berth(&["ps", "-q"])).contains(&id[..12]));

    let fmt = ok(d.berth(&["ps", "--format", "{{.Names}} {{.Image}}"]));
    assert_eq!(fmt.trim(), "web busybox:latest");
    let sandbox = ok(d.docker(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.SandboxID}}",
        "web",
    ]));
    assert_eq!(sandbox.trim().len(), 64, "{sandbox}");

    ok(d.berth(&["stop", "-t", "1", "web"]));
    let state = ok(d.docker(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}}",
        "web",
    ]));
    assert!(state.starts_with("exited"), "{state}");
    assert_eq!(
        ok(d.berth(&["ps", "-aq", "-f", "status=exited"])).trim(),
        &id[..12]
    );
    ok(d.berth(&["start", "web"]));
    assert_eq!(
        ok(d.docker(&["inspect", "--format", "{{.State.Status}}", "web"])).trim(),
        "running"
    );
    ok(d.berth(&["restart", "-t", "1", "web"]));
    assert_eq!(
        ok(d.docker(&["inspect", "--format", "{{.State.Running}}", "web"])).trim(),
        "true"
    );
    ok(d.berth(&["kill", "web"]));
    let _ = d.berth(&["wait", "web"]);
    // The guide's cleanup: rm -v $(docker ps -aq -f status=exited)
    let exited = ok(d.berth(&["ps", "-aq", "-f", "status=exited"]));
    let ids: Vec<&str> = exited.split_whitespace().collect();
    assert_eq!(ids, vec![&id[..12]]);
    let mut args = vec!["rm", "-v"];
    args.extend(ids);
    ok(d.berth(&args));
    assert_eq!(ok(d.berth(&["ps", "-aq"])).trim(), "");
}

#[test]
fn docker_cli_lifecycle() {
    if !have("docker") {
        eprintln!("SKIP: the docker CLI is not installed");
        return;
    }
    let d = Daemon::with_busybox();
    let id = ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done",
    ]));
    std::thread::sleep(std::time::Duration::from_millis(700));
    let logs = ok(d.docker(&["logs", "ticker"]));
    assert!(logs.starts_with("tick 0\ntick 1\n"), "{logs}");
    let tail = ok(d.docker(&["logs", "--tail", "1", "ticker"]));
    assert_eq!(tail.lines().count(), 1, "{tail}");
    let ps = ok(d.docker(&["exec", "ticker", "ps"]));
    assert!(ps.contains("sh -c i=0"), "{ps}");
    let top = ps.lines().filter(|l| !l.contains("PID")).count();
    assert!(top <= 4, "container sees host processes: {ps}");
    assert_eq!(ok(d.docker(&["ps", "-q"])).trim(), &id.trim()[..12]);
    // logs -f ends when the container stops.
    let stopper = std::thread::spawn({
        let host = d.host();
        move || {
            std::thread::sleep(std::time::Duration::from_millis(500));
            Command::new("docker")
                .env("DOCKER_HOST", host)
                .args(["stop", "-t", "1", "ticker"])
                .output()
                .unwrap()
        }
    });
    let followed = ok(d.docker(&["logs", "-f", "ticker"]));
    assert!(ok(stopper.join().unwrap()).contains("ticker"));
    assert!(
        followed.lines().count() > logs.lines().count(),
        "{followed}"
    );
    ok(d.docker(&["rm", "ticker"]));
    assert_eq!(ok(d.docker(&["ps", "-aq"])).trim(), "");
}

#[test]
fn tty_and_isolation() {
    let d = Daemon::with_busybox();
    if have("script") {
        let o = Command::new("script")
            .env("BERTH_HOST", d.host())
            .args([
                "-eqc",
                &format!("{BERTH} run -it --rm busybox sh -c 'tty; exit 7'"),
                "/dev/null",
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(code(&o), 7, "{}", stdout(&o));
        assert!(stdout(&o).contains("/dev/pts/0"), "{}", stdout(&o));
    }
    // hostname is the short ID; host PIDs are invisible; mount and insmod fail; kcore masked.
    let id = ok(d.berth(&["create", "busybox", "sh", "-c", "hostname; ps | wc -l; mount -t tmpfs x /mnt 2>/dev/null && echo MOUNTED; cat /proc/kcore | wc -c"]));
    let id = id.trim();
    let out = ok(d.berth(&["start", "-a", id]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], &id[..12], "{out}");
    let nproc: usize = lines[1].trim().parse().unwrap();
    assert!(nproc <= 5, "sees {nproc} processes");
    assert!(!out.contains("MOUNTED"), "{out}");
    assert_eq!(
        lines.last().unwrap().trim(),
        "0",
        "/proc/kcore readable: {out}"
    );
    ok(d.berth(&["rm", id]));
}

/// Docker's seccomp profile and no-new-privileges apply to the init and to exec processes
/// by default (the filter precompiled by the daemon), and `no-new-privileges=false` keeps
/// the filter (loaded by libcontainer before capabilities are dropped).
#[test]
fn seccomp_and_no_new_privileges() {
    let d = Daemon::with_busybox();
    let status = "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\\t ' ' '; unshare -n true 2>/dev/null && echo UNSHARED; true";
    let out = ok(d.berth(&["run", "--rm", "busybox", "sh", "-c", status]));
    assert!(out.contains("NoNewPrivs: 1"), "{out}");
    assert!(out.contains("Seccomp: 2"), "{out}");
    assert!(!out.contains("UNSHARED"), "unshare allowed: {out}");

    let id = ok(d.berth(&["run", "-d", "busybox", "sleep", "300"]));
    let id = id.trim();
    let out = ok(d.berth(&["exec", id, "sh", "-c", status]));
    assert!(out.contains("NoNewPrivs: 1"), "exec: {out}");
    assert!(out.contains("Seccomp: 2"), "exec: {out}");
    assert!(!out.contains("UNSHARED"), "exec: unshare allowed: {out}");
    ok(d.berth(&["rm", "-f", id]));

    let out = ok(d.berth(&[
        "run",
        "--rm",
        "--security-opt",
        "no-new-privileges=false",
        "busybox",
        "sh",
        "-c",
        status,
    ]));
    assert!(out.contains("NoNewPrivs: 0"), "{out}");
    assert!(out.contains("Seccomp: 2"), "{out}");
    assert!(!out.contains("UNSHARED"), "{out}");

    let out = ok(d.berth(&["run", "--rm", "--privileged", "busybox", "sh", "-c", status]));
    assert!(out.contains("Seccomp: 0"), "privileged: {out}");
    assert!(out.contains("UNSHARED"), "privileged cannot unshare: {out}");
}

#[test]
fn memory_limit_oom_kill() {
    let d = Daemon::with_busybox();
    let o = d.berth(&[
        "run",
        "--name",
        "oom",
        "-m",
        "16m",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/dev/null bs=64M count=1",
    ]);
    assert_eq!(code(&o), 137, "{}", stderr(&o));
    let s = ok(d.docker(&[
        "inspect",
        "--format",
        "{{.State.OOMKilled}} {{.State.ExitCode}}",
        "oom",
    ]));
    assert_eq!(s.trim(), "true 137");
    ok(d.berth(&["rm", "oom"]));
}

#[test]
fn containers_survive_a_daemon_kill() {
    let mut d = Daemon::with_busybox();
    let mut ids = Vec::new();
    for i in 0..3 {
        let id = ok(d.berth(&[
            "run",
            "-d",
            "--name",
            &format!("c{i}"),
            "busybox",
            "sh",
            "-c",
            "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done",
        ]));
        ids.push(id.trim().to_string());
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    d.kill9();
    std::thread::sleep(std::time::Duration::from_millis(500));
    d.spawn();
    let ps = ok(d.berth(&["ps", "-q"]));
    for id in &ids {
        assert!(
            ps.contains(&id[..12]),
            "{id} not running after restart: {ps}"
        );
    }
    let before = ok(d.berth(&["logs", "c0"])).lines().count();
    std::thread::sleep(std::time::Duration::from_millis(600));
    let after = ok(d.berth(&["logs", "c0"])).lines().count();
    assert!(
        after > before,
        "logs did not continue ({before} -> {after})"
    );
    for i in 0..3 {
        ok(d.berth(&["stop", "-t", "1", &format!("c{i}")]));
    }
    assert_eq!(ok(d.berth(&["ps", "-q"])).trim(), "");
    for i in 0..3 {
        ok(d.berth(&["rm", &format!("c{i}")]));
    }
}

#[test]
fn restart_policies() {
    let d = Daemon::with_busybox();
    // always: a process killed from the host comes back.
    ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "keeper",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "1000",
    ]));
    let pid: i32 = ok(d.docker(&["inspect", "--format", "{{.State.Pid}}", "keeper"]))
        .trim()
        .parse()
        .unwrap();
    assert!(pid > 0);
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let s = ok(d.docker(&[
            "inspect",
            "--format",
            "{{.RestartCount}} {{.State.Status}} {{.State.Pid}}",
            "keeper",
        ]));
        let parts: Vec<&str> = s.split_whitespace().collect();
        if parts[0] != "0" && parts[1] == "running" && parts[2] != pid.to_string() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not restarted: {s}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // A manual stop is not undone by the policy.
    ok(d.berth(&["stop", "-t", "1", "keeper"]));
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert_eq!(
        ok(d.docker(&["inspect", "--format", "{{.State.Status}}", "keeper"])).trim(),
        "exited"
    );
    // on-failure:2 gives up after two restarts; success is not restarted.
    ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 1",
    ]));
    ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "fine",
        "--restart",
        "on-failure",
        "busybox",
        "true",
    ]));
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(
        ok(d.docker(&[
            "inspect",
            "--format",
            "{{.RestartCount}} {{.State.Status}}",
            "flaky"
        ]))
        .trim(),
        "2 exited"
    );
    assert_eq!(
        ok(d.docker(&["inspect", "--format", "{{.RestartCount}}", "fine"])).trim(),
        "0"
    );
    ok(d.berth(&["rm", "-f", "keeper", "flaky", "fine"]));
}

#[test]
fn diff_shows_added_changed_deleted() {
    let d = Daemon::with_busybox();
    ok(d.berth(&[
        "run",
        "--name",
        "changer",
        "busybox",
        "sh",
        "-c",
        "echo x > /tmp/new; echo y >> /etc/passwd; rm /etc/group",
    ]));
    let out = ok(d.berth(&["diff", "changer"]));
    for want in [
        "C /etc",
        "C /etc/passwd",
        "D /etc/group",
        "C /tmp",
        "A /tmp/new",
    ] {
        assert!(
            out.lines().any(|l| l == want),
            "missing {want:?} in:\n{out}"
        );
    }
    // The runtime's mount points (/etc/hostname, /etc/hosts, /etc/resolv.conf) are not
    // changes: Docker keeps them in the container's init layer.
    for runtime in ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"] {
        assert!(!out.contains(runtime), "{runtime} listed in:\n{out}");
    }
    ok(d.berth(&["run", "--name", "quiet", "busybox", "true"]));
    assert_eq!(ok(d.berth(&["diff", "quiet"])), "");
    if have("docker") {
        let out = ok(d.docker(&["diff", "changer"]));
        assert!(out.lines().any(|l| l == "A /tmp/new"), "{out}");
        assert_eq!(ok(d.docker(&["diff", "quiet"])), "");
    }
    ok(d.berth(&["rm", "changer", "quiet"]));
}
