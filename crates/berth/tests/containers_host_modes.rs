//! `--pid`/`--ipc`/`--uts` (host and `container:<name>`), `--ulimit`, `--device`,
//! `--shm-size` and `--privileged` devices against a real `berth daemon`, through
//! berth's CLI and the docker CLI.

mod support;
use support::*;

fn ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn namespaces_limits_devices_and_shm() {
    let d = Daemon::with_busybox();
    let run = |args: &[&str]| {
        let mut a = vec!["run", "--rm", "--network", "none"];
        a.extend_from_slice(args);
        ok(d.berth(&a))
    };
    // Private by default.
    let own = run(&[
        "busybox",
        "sh",
        "-c",
        "readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc",
    ]);
    assert!(
        !own.contains(&ns("pid")) && !own.contains(&ns("ipc")),
        "{own}"
    );
    // The host's namespaces.
    let host = run(&[
        "--pid",
        "host",
        "--ipc",
        "host",
        "--uts",
        "host",
        "busybox",
        "sh",
        "-c",
        "for n in pid ipc uts; do readlink /proc/self/ns/$n; done; hostname",
    ]);
    let lines: Vec<&str> = host.lines().collect();
    assert_eq!(lines[..3], [ns("pid"), ns("ipc"), ns("uts")], "{host}");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(lines[3], hostname.trim());
    // The host's processes are visible with --pid host.
    let ps = run(&["--pid", "host", "busybox", "sh", "-c", "ps -o pid"]);
    assert!(ps.lines().any(|l| l.trim() == "1"), "{ps}");
    assert!(ps.lines().count() > 5, "{ps}");

    // Without a PID namespace of its own, what the init leaves behind is killed with
    // it (runc's signalAllProcesses), not orphaned on the host.
    run(&[
        "--pid",
        "host",
        "busybox",
        "sh",
        "-c",
        "sleep 7777 & sleep 0.2",
    ]);
    let orphan = || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| c == b"sleep\x007777\x00")
                .unwrap_or(false)
        })
    };
    assert!(
        eventually(std::time::Duration::from_secs(5), || !orphan()),
        "sleep 7777 outlived its container"
    );

    // Another container's PID and IPC namespaces.
    ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "donor",
        "--network",
        "none",
        "--ipc",
        "shareable",
        "busybox",
        "sleep",
        "60",
    ]));
    let donor_ns = ok(d.berth(&["exec", "donor", "sh", "-c", "readlink /proc/self/ns/ipc"]));
    let joined = run(&[
        "--pid",
        "container:donor",
        "--ipc",
        "container:donor",
        "busybox",
        "sh",
        "-c",
        "readlink /proc/self/ns/ipc; ps -o args",
    ]);
    assert!(
        joined.starts_with(donor_ns.trim()),
        "{joined} vs {donor_ns}"
    );
    assert!(joined.contains("sleep 60"), "{joined}");
    // A donor that is not running cannot be joined.
    ok(d.berth(&["create", "--name", "idle", "busybox", "true"]));
    let e = fails(d.berth(&["run", "--rm", "--pid", "container:idle", "busybox", "true"]));
    assert!(
        e.contains("cannot join PID of a non running container"),
        "{e}"
    );

    // Limits and /dev/shm.
    let out = run(&[
        "--ulimit",
        "nofile=100:200",
        "--ulimit",
        "nproc=50",
        "--shm-size",
        "2m",
        "busybox",
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn; ulimit -u; df -k /dev/shm | tail -1",
    ]);
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[..3], ["100", "200", "50"], "{out}");
    assert!(l[3].split_whitespace().nth(1) == Some("2048"), "{out}");

    // The finer cgroup settings of run reach the container's cgroup.
    let out = run(&[
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--memory-reservation",
        "32m",
        "--cpu-period",
        "50000",
        "--cpu-quota",
        "25000",
        "--cpuset-cpus",
        "0",
        "busybox",
        "sh",
        "-c",
        "cd /sys/fs/cgroup; cat memory/memory.limit_in_bytes memory/memory.soft_limit_in_bytes \
         cpu/cpu.cfs_period_us cpu/cpu.cfs_quota_us cpuset/cpuset.cpus",
    ]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["67108864", "33554432", "50000", "25000", "0"],
        "{out}"
    );

    // A device under another name, with its cgroup permissions (/dev/kmsg: not in the
    // default allow list; a write only adds a kernel log line).
    let out = run(&[
        "--device", "/dev/zero:/dev/myzero", "--device", "/dev/kmsg:/dev/k:r", "busybox", "sh",
        "-c",
        "ls -l /dev/myzero; head -c 3 /dev/myzero | wc -c; (echo berth > /dev/k && echo wrote) 2>&1; true",
    ]);
    assert!(out.contains("1,   5"), "{out}");
    assert!(out.lines().any(|l| l.trim() == "3"), "{out}");
    assert!(
        !out.contains("wrote"),
        "the device cgroup allows only reads: {out}"
    );
    assert!(out.contains("Operation not permitted"), "{out}");
    let out = run(&[
        "--device",
        "/dev/kmsg:/dev/k:rw",
        "busybox",
        "sh",
        "-c",
        "echo berth-device-test > /dev/k && echo wrote",
    ]);
    assert!(out.contains("wrote"), "{out}");
    // --privileged sees the host's devices.
    let privileged = run(&["--privileged", "busybox", "sh", "-c", "ls /dev"]);
    let unprivileged = run(&["busybox", "sh", "-c", "ls /dev"]);
    assert!(
        privileged.lines().count() > unprivileged.lines().count(),
        "{privileged}"
    );

    // Bad input fails the create with docker's words; `run` exits 127 for a missing
    // file (as the docker CLI does), `create` 125.
    let o = d.berth(&["run", "--rm", "--device", "/dev/nope", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    let o = d.berth(&["create", "--device", "/dev/nope", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "error gathering device information while adding custom device \"/dev/nope\": no such file or directory"
        ),
        "{}",
        stderr(&o)
    );
    let e = fails(d.berth(&["run", "--rm", "--ulimit", "nofile=3:2", "busybox", "true"]));
    assert!(
        e.contains("soft limit must be less than or equal to hard limit"),
        "{e}"
    );
    let e = fails(d.berth(&["run", "--rm", "--uts", "bogus", "busybox", "true"]));
    assert!(e.contains("invalid UTS mode: bogus"), "{e}");

    // The docker CLI sends the same settings.
    if have("docker") {
        let o = d.docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--ulimit",
            "nofile=64:64",
            "--pid",
            "host",
            "--shm-size",
            "1m",
            "busybox",
            "sh",
            "-c",
            "ulimit -n; readlink /proc/self/ns/pid; df -k /dev/shm | tail -1",
        ]);
        let out = ok(o);
        let l: Vec<&str> = out.lines().collect();
        assert_eq!(l[..2], ["64".to_string(), ns("pid")], "{out}");
        assert!(l[2].split_whitespace().nth(1) == Some("1024"), "{out}");
        let o = d.docker(&["run", "--rm", "--device", "/dev/nope", "busybox", "true"]);
        assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    }
    ok(d.berth(&["rm", "-f", "donor", "idle"]));
}
