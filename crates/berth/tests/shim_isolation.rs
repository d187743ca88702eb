//! End-to-end: what a process sees inside a container run by `berth shim` — Docker's
//! isolation and default security profile.

#[path = "shim_common.rs"]
mod common;

use berth_runtime::spec::host::parse_cap_line;
use common::*;

#[tokio::test]
async fn shim_isolation_from_inside() {
    if !can_run() {
        return;
    }
    let env = TestEnv::new("iso");
    let script = "echo pid=$$; ls /proc | grep -c '^[0-9]'; \
        hostname; \
        grep CapEff /proc/self/status; \
        if [ -e /proc/kcore ]; then wc -c < /proc/kcore; else echo 0; fi; \
        echo $(wc -c < /proc/timer_list) $(ls /sys/firmware | wc -l); \
        cat /sys/class/net/lo/flags; \
        ls /sys/class/net | wc -l; \
        cat /etc/hostname; \
        mount -t tmpfs none /mnt 2>/dev/null && echo mount-ok || echo mount-denied; \
        touch /proc/sys/kernel/x 2>/dev/null && echo procsys-rw || echo procsys-ro; \
        insmod /nonexistent.ko 2>/dev/null && echo insmod-ok || echo insmod-denied; \
        grep -E '^Sig(Ign|Blk):' /proc/self/status; true";
    let (out, err, code, p) = run_collect(&env, "iso", &["sh", "-c", script], |_| {}).await;
    assert_eq!(code, 0, "stderr: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "pid=1", "{out}");
    let nprocs: u32 = lines[1].trim().parse().expect("count");
    assert!(nprocs <= 4, "container sees {nprocs} pids: {out}");
    assert_eq!(lines[2], short(&p.id));
    let cap = parse_cap_line(lines[3], "CapEff:").expect("CapEff");
    assert_eq!(
        cap, 0x0000_0000_a804_25fb,
        "Docker's default set, got {cap:#x}"
    );
    assert_eq!(lines[4].trim(), "0", "/proc/kcore is masked");
    assert_eq!(
        lines[5].trim(),
        "0 0",
        "/proc/timer_list and /sys/firmware are masked"
    );
    assert_eq!(lines[6].trim(), "0x9", "lo is up");
    assert_eq!(lines[7].trim(), "1", "only lo in the new netns");
    assert_eq!(lines[8], short(&p.id));
    assert_eq!(lines[9], "mount-denied");
    assert_eq!(lines[10], "procsys-ro");
    assert_eq!(lines[11], "insmod-denied");
    // No signal dispositions or masks leak from the shim into the container.
    assert_eq!(lines[12], "SigBlk:\t0000000000000000", "{out}");
    assert_eq!(lines[13], "SigIgn:\t0000000000000000", "{out}");
}

#[tokio::test]
async fn shim_privileged_and_cap_add() {
    if !can_run() {
        return;
    }
    let env = TestEnv::new("priv");
    let (out, err, code, _) = run_collect(
        &env,
        "priv",
        &[
            "sh",
            "-c",
            "mkdir -p /mnt && mount -t tmpfs none /mnt && echo mounted; wc -c < /proc/timer_list",
        ],
        |s| s.security.privileged = true,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("mounted\n"), "{out}");
    let timer_list: u64 = out
        .lines()
        .nth(1)
        .unwrap_or("")
        .trim()
        .parse()
        .expect("size");
    assert!(
        timer_list > 0,
        "privileged containers see /proc/timer_list unmasked"
    );
    let (out, _, _, _) = run_collect(
        &env,
        "capadd",
        &["sh", "-c", "grep CapEff /proc/self/status"],
        |s| {
            s.security.cap_add = vec!["NET_ADMIN".into()];
            s.security.cap_drop = vec!["CHOWN".into()];
        },
    )
    .await;
    let cap = parse_cap_line(out.trim(), "CapEff:").expect("CapEff");
    assert_eq!(cap, (0x0000_0000_a804_25fb | (1 << 12)) & !1, "{cap:#x}");
}

#[tokio::test]
async fn shim_user_readonly_and_limits() {
    if !can_run() {
        return;
    }
    let env = TestEnv::new("user");
    let (out, err, code, _) = run_collect(
        &env,
        "user",
        &["sh", "-c", "id -u; id -g; touch /x 2>/dev/null && echo rw || echo ro; touch /tmp/t 2>/dev/null && echo tmp-rw; ulimit -n; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"],
        |s| {
            s.user.uid = 1000;
            s.user.gid = 1000;
            s.security.read_only_rootfs = true;
            s.mounts.push(berth_runtime::config::MountSpec::Tmpfs {
                destination: "/tmp".into(),
                options: vec!["mode=1777".into()],
                read_only: false,
            });
            s.resources.pids_limit = 50;
        },
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..4], &["1000", "1000", "ro", "tmp-rw"], "{out}");
    let nofile: u64 = lines[4].parse().expect("ulimit");
    assert!(
        nofile > 1024,
        "rlimit raised to the host's hard limit, got {nofile}"
    );
    assert_eq!(lines[5], "50");
}

#[tokio::test]
async fn shim_user_names_from_container_passwd() {
    if !can_run() {
        return;
    }
    let env = TestEnv::new("uname");
    let (out, err, code, _) = run_collect(
        &env,
        "uname",
        &["sh", "-c", "id -u; id -g; echo $HOME"],
        |s| {
            s.user_name = "user".into();
        },
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "1000\n1000\n/home/user\n");

    let p = env.prepare("badu", &["true"], |s| s.user_name = "nosuchuser".into());
    match env.spawn(&p, true).await {
        Err(berth_runtime::RuntimeError::Shim { exit_code, message }) => {
            assert_eq!(exit_code, 125);
            assert!(
                message.contains("no matching entries in passwd file"),
                "{message}"
            );
        }
        Err(e) => panic!("unexpected {e}"),
        Ok(_) => panic!("unknown user must fail"),
    }
    assert!(
        mounts_under(&env.root).is_empty(),
        "{:?}",
        mounts_under(&env.root)
    );

    let p = env.prepare("execu", &["sleep", "60"], |_| {});
    let (client, _) = env.spawn(&p, true).await.expect("spawn");
    let (_, stream) = client
        .exec(&berth_runtime::protocol::ExecRequest {
            args: vec!["sh".into(), "-c".into(), "id -u; id -g".into()],
            user: "nobody".into(),
            ..Default::default()
        })
        .await
        .expect("exec");
    let (out, _, _) = stream.expect("stream").collect().await.expect("collect");
    assert_eq!(String::from_utf8_lossy(&out), "65534\n65534\n");
    client.kill(9).await.expect("kill");
    client.wait().await.expect("wait");
}

#[tokio::test]
async fn shim_dev_has_docker_default_devices() {
    if !can_run() {
        return;
    }
    let env = TestEnv::new("dev");
    let (out, err, code, _) = run_collect(
        &env,
        "dev",
        &["sh", "-c", "ls /dev | sort | tr '\\n' ' '; echo; echo x > /dev/null && head -c 4 /dev/urandom | wc -c; ls /dev/shm /dev/mqueue >/dev/null && echo ok"],
        |_| {},
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    let devs: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    for d in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "ptmx",
    ] {
        assert!(devs.contains(&d), "/dev/{d} missing: {devs:?}");
    }
    assert_eq!(lines.next(), Some("4"));
    assert_eq!(lines.next(), Some("ok"));
}
