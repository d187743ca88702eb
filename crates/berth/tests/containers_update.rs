//! `docker update` end to end: a real daemon, containers that really run, limits read
//! back from the cgroup files (host side and inside the container), from inspect and
//! after a restart; restart policy updates seen by the restart manager; dockerd's error
//! messages, status codes and the CLI's exit codes; the real docker CLI against berth.

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;
use support::*;

const MB: u64 = 1 << 20;

/// The host runs the unified (v2) hierarchy only.
fn unified() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// A file of the container's cgroup (v1: under the controller's hierarchy).
fn cg(id: &str, ctrl: &str, file: &str) -> String {
    let p = if unified() {
        format!("/sys/fs/cgroup/berth/{id}/{file}")
    } else {
        format!("/sys/fs/cgroup/{ctrl}/berth/{id}/{file}")
    };
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{p}: {e}"))
        .trim()
        .to_string()
}

/// Memory limit, CFS quota and pids limit of a container's cgroup, v1 or v2.
fn limits(id: &str) -> (String, String, String) {
    if unified() {
        let cpu_max = cg(id, "cpu", "cpu.max");
        let quota = cpu_max.split_whitespace().next().unwrap_or("").to_string();
        (
            cg(id, "memory", "memory.max"),
            quota,
            cg(id, "pids", "pids.max"),
        )
    } else {
        (
            cg(id, "memory", "memory.limit_in_bytes"),
            cg(id, "cpu", "cpu.cfs_quota_us"),
            cg(id, "pids", "pids.max"),
        )
    }
}

fn id_of(d: &Daemon, name: &str) -> String {
    ok(d.berth(&["inspect", "-f", "{{.Id}}", name]))
        .trim()
        .to_string()
}

fn inspect(d: &Daemon, name: &str, format: &str) -> String {
    ok(d.berth(&["inspect", "-f", format, name]))
        .trim()
        .to_string()
}

/// A raw `POST` on the daemon's socket: (status, body).
fn post(d: &Daemon, path: &str, body: &str) -> (u16, String) {
    let mut s = std::os::unix::net::UnixStream::connect(d.socket()).expect("connect");
    write!(
        s,
        "POST {path} HTTP/1.0\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn limits_apply_live_show_in_inspect_and_survive_a_restart() {
    let d = Daemon::with_busybox();
    ok(d.berth(&[
        "run", "-d", "--name", "web", "-m", "32m", "busybox", "sleep", "1000",
    ]));
    let id = id_of(&d, "web");
    // Created with -m 32m: docker's default swap is twice that.
    assert_eq!(
        inspect(
            &d,
            "web",
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}"
        ),
        format!("{} {}", 32 * MB, 64 * MB)
    );
    let out = ok(d.berth(&[
        "update",
        "--memory",
        "48m",
        "--memory-swap",
        "96m",
        "--memory-reservation",
        "16m",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "512",
        "--pids-limit",
        "50",
        "web",
    ]));
    assert_eq!(out, "web\n");
    let want = ((48 * MB).to_string(), "50000".to_string(), "50".to_string());
    assert_eq!(limits(&id), want);
    if !unified() {
        assert_eq!(
            cg(&id, "memory", "memory.memsw.limit_in_bytes"),
            (96 * MB).to_string()
        );
        assert_eq!(
            cg(&id, "memory", "memory.soft_limit_in_bytes"),
            (16 * MB).to_string()
        );
        assert_eq!(cg(&id, "cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(cg(&id, "cpu", "cpu.shares"), "512");
        // What the container itself sees of its cgroup.
        for (file, value) in [
            ("memory/memory.limit_in_bytes", (48 * MB).to_string()),
            ("cpu/cpu.cfs_quota_us", "50000".to_string()),
            ("pids/pids.max", "50".to_string()),
        ] {
            let inside = ok(d.berth(&["exec", "web", "cat", &format!("/sys/fs/cgroup/{file}")]));
            assert_eq!(inside.trim(), value, "{file} inside the container");
        }
    }
    assert_eq!(
        inspect(
            &d,
            "web",
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.MemoryReservation}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}}"
        ),
        format!("{} {} {} 500000000 512 50", 48 * MB, 96 * MB, 16 * MB)
    );

    // A restart builds a new cgroup from the record.
    ok(d.berth(&["restart", "-t", "1", "web"]));
    assert_eq!(limits(&id), want);

    // A stopped container takes the new values at its next start.
    ok(d.berth(&["stop", "-t", "1", "web"]));
    assert_eq!(
        ok(d.berth(&["update", "--pids-limit", "40", "web"])),
        "web\n"
    );
    ok(d.berth(&["start", "web"]));
    assert_eq!(limits(&id).2, "40");

    // A paused one gets them live; -1 lifts the pids limit (stored as 0, as dockerd).
    ok(d.berth(&["pause", "web"]));
    ok(d.berth(&["update", "--pids-limit", "-1", "--cpuset-cpus", "0", "web"]));
    assert_eq!(limits(&id).2, "max");
    assert_eq!(cg(&id, "cpuset", "cpuset.cpus"), "0");
    assert_eq!(inspect(&d, "web", "{{.HostConfig.PidsLimit}}"), "0");
    ok(d.berth(&["unpause", "web"]));
    ok(d.berth(&["rm", "-f", "web"]));
}

#[test]
fn create_time_resources_reach_the_cgroup() {
    let d = Daemon::with_busybox();
    let (status, text) = post(
        &d,
        "/v1.47/containers/create?name=res",
        r#"{"Image":"busybox","Cmd":["sleep","1000"],"HostConfig":{"Memory":67108864,
            "MemorySwap":134217728,"MemoryReservation":33554432,"CpuPeriod":50000,
            "CpuQuota":25000,"CpuShares":256,"CpusetCpus":"0","PidsLimit":20,"BlkioWeight":300}}"#,
    );
    assert_eq!(status, 201, "{text}");
    if !unified() && !Path::new("/sys/fs/cgroup/blkio/blkio.weight").exists() {
        // Dropped (it would fail the start), as dockerd does.
        assert!(text.contains("Block I/O weight"), "{text}");
    }
    ok(d.berth(&["start", "res"]));
    let id = id_of(&d, "res");
    assert_eq!(
        limits(&id),
        ((64 * MB).to_string(), "25000".to_string(), "20".to_string())
    );
    assert_eq!(cg(&id, "cpuset", "cpuset.cpus"), "0");
    if !unified() {
        assert_eq!(
            cg(&id, "memory", "memory.memsw.limit_in_bytes"),
            (128 * MB).to_string()
        );
        assert_eq!(
            cg(&id, "memory", "memory.soft_limit_in_bytes"),
            (32 * MB).to_string()
        );
        assert_eq!(cg(&id, "cpu", "cpu.cfs_period_us"), "50000");
        assert_eq!(cg(&id, "cpu", "cpu.shares"), "256");
    }
    // Refused at create as by dockerd.
    let (status, text) = post(
        &d,
        "/v1.47/containers/create",
        r#"{"Image":"busybox","HostConfig":{"NanoCpus":500000000,"CpuPeriod":50000}}"#,
    );
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("Conflicting options: Nano CPUs and CPU Period cannot both be set"),
        "{text}"
    );
    let (status, text) = post(
        &d,
        "/v1.47/containers/create",
        r#"{"Image":"busybox","HostConfig":{"MemorySwap":134217728}}"#,
    );
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("You should always set the Memory limit when using Memoryswap limit"),
        "{text}"
    );
    ok(d.berth(&["rm", "-f", "res"]));
}

#[test]
fn restart_policy_updates_reach_the_restart_manager() {
    let d = Daemon::with_busybox();
    // Exits 1 each time /tmp/stop appears (and removes it, the rootfs persisting).
    ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "loop",
        "busybox",
        "sh",
        "-c",
        "while [ ! -f /tmp/stop ]; do sleep 0.1; done; rm /tmp/stop; exit 1",
    ]));
    assert_eq!(
        ok(d.berth(&["update", "--restart", "always", "loop"])),
        "loop\n"
    );
    assert_eq!(
        inspect(&d, "loop", "{{.HostConfig.RestartPolicy.Name}}"),
        "always"
    );
    ok(d.berth(&["exec", "loop", "touch", "/tmp/stop"]));
    assert!(
        eventually(Duration::from_secs(10), || {
            inspect(&d, "loop", "{{.RestartCount}} {{.State.Status}}") == "1 running"
        }),
        "not restarted: {}",
        inspect(&d, "loop", "{{.RestartCount}} {{.State.Status}}")
    );
    ok(d.berth(&["update", "--restart", "no", "loop"]));
    ok(d.berth(&["exec", "loop", "touch", "/tmp/stop"]));
    assert!(eventually(Duration::from_secs(10), || {
        inspect(&d, "loop", "{{.State.Status}}") == "exited"
    }));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        inspect(&d, "loop", "{{.RestartCount}} {{.State.Status}}"),
        "1 exited"
    );

    // on-failure with a count, on a container that fails after a second.
    ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 3",
    ]));
    ok(d.berth(&["update", "--restart", "on-failure:2", "flaky"]));
    assert_eq!(
        inspect(
            &d,
            "flaky",
            "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "on-failure:2"
    );
    assert!(
        eventually(Duration::from_secs(20), || {
            inspect(&d, "flaky", "{{.RestartCount}} {{.State.Status}}") == "2 exited"
        }),
        "{}",
        inspect(&d, "flaky", "{{.RestartCount}} {{.State.Status}}")
    );
}

#[test]
fn errors_are_dockerds() {
    let d = Daemon::with_busybox();
    ok(d.berth(&["run", "-d", "--name", "web", "busybox", "sleep", "1000"]));
    ok(d.berth(&[
        "run", "-d", "--name", "capped", "--cpus", "0.5", "busybox", "sleep", "1000",
    ]));
    ok(d.berth(&[
        "run", "-d", "--rm", "--name", "gone", "busybox", "sleep", "1000",
    ]));
    let web = id_of(&d, "web");
    let capped = id_of(&d, "capped");
    let gone = id_of(&d, "gone");

    // The CLI: docker's message on stderr, exit code 1.
    let cli = |args: &[&str], want: &str| {
        let o = d.berth(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    };
    cli(
        &["update", "--memory", "1m", "web"],
        "Error response from daemon: Minimum memory limit allowed is 6MB",
    );
    cli(
        &["update", "--cpus", "0.5", "--cpu-period", "50000", "web"],
        "Conflicting options: Nano CPUs and CPU Period cannot both be set",
    );
    cli(
        &["update", "--memory", "100m", "--memory-swap", "50m", "web"],
        "Minimum memoryswap limit should be larger than memory limit, see usage",
    );
    cli(
        &["update", "--cpu-quota", "50000", "capped"],
        &format!("Cannot update container {capped}: Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"),
    );
    cli(
        &["update", "--restart", "always", "gone"],
        &format!("Cannot update container {gone}: Restart policy cannot be updated because AutoRemove is enabled for the container"),
    );
    cli(
        &["update", "--restart", "always", "nosuch"],
        "Error response from daemon: No such container: nosuch",
    );
    cli(
        &["update", "--restart", "bogus", "web"],
        "invalid restart policy: unknown policy 'bogus'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'",
    );
    cli(
        &["update", "web"],
        "you must provide one or more flags when using this command",
    );
    // "no" is fine on an --rm container.
    assert_eq!(
        ok(d.berth(&["update", "--restart", "no", "gone"])),
        "gone\n"
    );
    // Several containers: each one named on success, errors after, exit 1.
    let o = d.berth(&["update", "--pids-limit", "10", "web", "nosuch", "capped"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "web\ncapped\n");
    assert!(stderr(&o).contains("No such container: nosuch"));

    // The API: dockerd's status codes.
    let path = |c: &str| format!("/v1.47/containers/{c}/update");
    let cases: Vec<(String, &str, u16, String)> = vec![
        (path("web"), r#"{"Memory":1000}"#, 400, "Minimum memory limit allowed is 6MB".into()),
        (path("nosuch"), r#"{"Memory":67108864}"#, 404, "No such container: nosuch".into()),
        (path("nosuch"), r#"{"Memory":1000}"#, 400, "Minimum memory limit allowed is 6MB".into()),
        (
            path("web"),
            r#"{"NanoCpus":500000000,"CpuQuota":50000}"#,
            400,
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set".into(),
        ),
        (
            path("gone"),
            r#"{"RestartPolicy":{"Name":"always"}}"#,
            409,
            format!("Cannot update container {gone}: Restart policy cannot be updated because AutoRemove is enabled for the container"),
        ),
        (
            path("web"),
            r#"{"RestartPolicy":{"Name":"always","MaximumRetryCount":3}}"#,
            400,
            "invalid restart policy: maximum retry count can only be used with 'on-failure'".into(),
        ),
        // An unlimited container on a host with swap accounting: dockerd wants the swap
        // limit updated with the memory limit.
        (
            path("web"),
            r#"{"Memory":67108864}"#,
            if berth_swap_accounting() { 409 } else { 200 },
            if berth_swap_accounting() {
                format!("Cannot update container {web}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")
            } else {
                "Warnings".into()
            },
        ),
        (path("web"), r#"{"CpuPeriod":10}"#, 400, "CPU cfs period can not be less than 1ms".into()),
        (path("web"), r#"{"CpusetCpus":"4096"}"#, 400, "Requested CPUs are not available - requested 4096".into()),
        (path("web"), r#"{"CpusetCpus":"x"}"#, 400, "Invalid value x for cpuset cpus: invalid format: x".into()),
        (path("web"), "{not json", 400, "invalid JSON".into()),
        // KernelMemory is ignored from API 1.42 on.
        (path("web"), r#"{"KernelMemory":1000}"#, 200, "Warnings".into()),
    ];
    for (p, body, status, want) in cases {
        let (got, text) = post(&d, &p, body);
        assert_eq!(got, status, "{p} {body}: {text}");
        assert!(text.contains(&want), "{p} {body}: {text}");
    }
    // Before 1.42 it is checked as dockerd does, then discarded with a warning.
    let (got, text) = post(
        &d,
        "/v1.41/containers/web/update",
        r#"{"KernelMemory":1000}"#,
    );
    if Path::new("/sys/fs/cgroup/memory/memory.kmem.limit_in_bytes").exists() {
        assert_eq!(got, 400, "{text}");
        assert!(
            text.contains("Minimum kernel memory limit allowed is 6MB"),
            "{text}"
        );
    } else {
        assert_eq!(got, 200, "{text}");
    }
    let (got, text) = post(
        &d,
        "/v1.41/containers/web/update",
        r#"{"KernelMemory":67108864}"#,
    );
    assert_eq!(got, 200, "{text}");
    assert!(text.contains("Limitation discarded"), "{text}");
    // A refused update leaves the record as it was.
    assert_eq!(inspect(&d, "web", "{{.HostConfig.Memory}}"), "0");
    assert_eq!(inspect(&d, "web", "{{.HostConfig.PidsLimit}}"), "10");
    ok(d.berth(&["rm", "-f", "web", "capped", "gone"]));
}

/// Swap accounting on this host (v1 `memory.memsw.*`, or v2's memory controller).
fn berth_swap_accounting() -> bool {
    Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() || unified()
}

#[test]
fn docker_cli_updates_berth_containers() {
    if !have("docker") {
        eprintln!("skipped: no docker CLI");
        return;
    }
    let d = Daemon::with_busybox();
    ok(d.berth(&["run", "-d", "--name", "web", "busybox", "sleep", "1000"]));
    let id = id_of(&d, "web");
    let o = d.docker(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--cpus",
        "0.25",
        "--pids-limit",
        "30",
        "--restart",
        "unless-stopped",
        "web",
    ]);
    assert_eq!(ok(o), "web\n");
    assert_eq!(
        limits(&id),
        ((64 * MB).to_string(), "25000".to_string(), "30".to_string())
    );
    let o = d.docker(&[
        "inspect",
        "-f",
        "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}",
        "web",
    ]);
    assert_eq!(
        ok(o).trim(),
        format!("{} {} 250000000 30 unless-stopped", 64 * MB, 128 * MB)
    );
    // `docker container update` and a warning printed after the names.
    let o = d.docker(&["container", "update", "--blkio-weight", "300", "web"]);
    let out = ok(o);
    assert!(out.starts_with("web\n"), "{out}");
    if !Path::new("/sys/fs/cgroup/blkio/blkio.weight").exists() && !unified() {
        assert!(out.contains("Block I/O weight"), "{out}");
    }
    let o = d.docker(&["update", "--memory", "1m", "web"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Minimum memory limit allowed is 6MB"),
        "{}",
        stderr(&o)
    );
    let o = d.docker(&["update", "--cpus", "0.5", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("No such container: nosuch"),
        "{}",
        stderr(&o)
    );
    ok(d.berth(&["rm", "-f", "web"]));
}
