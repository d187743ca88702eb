//! End-to-end: lifecycle operations through `berth shim` — pty sessions, kill, OOM, exec,
//! pause/resume, stdin, and the shim outliving its parent (daemon restarts).

#[path = "shim_common.rs"]
mod common;

use std::time::Duration;

use berth_runtime::protocol::{ExecRequest, Status};
use berth_runtime::{RuntimeError, ShimClient};
use common::*;

#[tokio::test]
async fn shim_pty_session_and_resize() {
    if !can_run() {
        return;
    }
    let env = TestEnv::new("pty");
    let p = env.prepare("pty", &["sh"], |s| {
        s.tty = true;
        s.open_stdin = true;
    });
    let (client, _) = env.spawn(&p, false).await.expect("spawn");
    let mut stream = client.attach(true, true, true).await.expect("attach");
    client.resize(30, 100, None).await.expect("resize");
    client.start().await.expect("start");
    stream
        .writer
        .write_stdin(b"tty; stty size; echo $TERM; exit 7\n")
        .await
        .expect("stdin");
    let (out, _err, rec) = tokio::time::timeout(Duration::from_secs(20), stream.collect())
        .await
        .expect("in time")
        .expect("collect");
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("/dev/pts/0"), "{out}");
    assert!(out.contains("30 100"), "{out}");
    assert!(out.contains("xterm"), "{out}");
    assert_eq!(rec.expect("exit").exit_code, 7);
}

#[tokio::test]
async fn shim_stdin_pipe_and_close() {
    if !can_run() {
        return;
    }
    let env = TestEnv::new("stdin");
    let p = env.prepare("stdin", &["sh", "-c", "wc -l; echo done"], |s| {
        s.open_stdin = true
    });
    let (client, _) = env.spawn(&p, false).await.expect("spawn");
    let mut stream = client.attach(true, true, true).await.expect("attach");
    client.start().await.expect("start");
    stream
        .writer
        .write_stdin(b"a\nb\nc\n")
        .await
        .expect("stdin");
    stream.writer.close_stdin().await.expect("close");
    let (out, _, rec) = tokio::time::timeout(Duration::from_secs(20), stream.collect())
        .await
        .expect("in time")
        .expect("collect");
    assert_eq!(
        String::from_utf8_lossy(&out)
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["3", "done"]
    );
    assert_eq!(rec.expect("exit").exit_code, 0);
}

#[tokio::test]
async fn shim_kill_gives_137_and_wait_after_exit_reads_record() {
    if !can_run() {
        return;
    }
    let env = TestEnv::new("kill");
    let p = env.prepare("kill", &["sleep", "60"], |_| {});
    let (client, pid) = env.spawn(&p, true).await.expect("spawn");
    assert!(alive(pid));
    let st = client.state().await.expect("state");
    assert_eq!(st.status, Status::Running);
    // docker stats / top figures come from the container's cgroup.
    let stats = berth_runtime::cgroups::stats(&format!("/berth/{}", p.id));
    assert_eq!(stats.pids, vec![pid], "{stats:?}");
    assert!(stats.memory_usage > 0, "{stats:?}");
    assert_eq!(stats.pids_current, 1);
    client.kill(9).await.expect("kill");
    let rec = tokio::time::timeout(Duration::from_secs(20), client.wait())
        .await
        .expect("in time")
        .expect("wait");
    assert_eq!(rec.exit_code, 137);
    assert_eq!(rec.signal, Some(9));
    // Once the shim is gone, wait and state come from exit.json.
    assert!(eventually(Duration::from_secs(5), || !p
        .state
        .join("control.sock")
        .exists()));
    assert_eq!(client.wait().await.expect("wait again").exit_code, 137);
    assert_eq!(client.state().await.expect("state").status, Status::Exited);
    assert!(matches!(
        client.kill(9).await,
        Err(RuntimeError::ShimGone(_))
    ));
}

#[tokio::test]
async fn shim_memory_limit_oom_kills() {
    if !can_run() {
        return;
    }
    let env = TestEnv::new("oom");
    let p = env.prepare(
        "oom",
        &["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"],
        |s| {
            s.resources.memory_bytes = 16 << 20;
        },
    );
    let (client, _) = env.spawn(&p, true).await.expect("spawn");
    let rec = tokio::time::timeout(Duration::from_secs(30), client.wait())
        .await
        .expect("in time")
        .expect("wait");
    assert_eq!(rec.exit_code, 137, "{rec:?}");
    assert!(rec.oom_killed, "{rec:?}");
}

#[tokio::test]
async fn shim_exec_pause_resume() {
    if !can_run() {
        return;
    }
    let env = TestEnv::new("exec");
    let p = env.prepare("exec", &["sleep", "60"], |_| {});
    let (client, _) = env.spawn(&p, true).await.expect("spawn");

    let req = ExecRequest {
        args: vec![
            "sh".into(),
            "-c".into(),
            "echo in-exec $FOO; hostname; grep Seccomp: /proc/self/status >&2; echo err >&2; exit 5".into(),
        ],
        env: vec!["FOO=bar".into()],
        ..Default::default()
    };
    let (_pid, stream) = client.exec(&req).await.expect("exec");
    let (out, err, rec) = stream.expect("stream").collect().await.expect("collect");
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("in-exec bar\n"), "{out}");
    assert!(out.contains(short(&p.id)), "hostname in {out}");
    // exec'd processes get the container's seccomp filter too (mode 2 = filter).
    assert_eq!(String::from_utf8_lossy(&err), "Seccomp:\t2\nerr\n");
    assert_eq!(rec.expect("exit").exit_code, 5);

    // exec with a pty, as another user.
    let req = ExecRequest {
        args: vec!["sh".into(), "-c".into(), "tty; id -u".into()],
        tty: true,
        uid: Some(1000),
        gid: Some(1000),
        ..Default::default()
    };
    let (_pid, stream) = client.exec(&req).await.expect("exec tty");
    let (out, _, rec) = stream.expect("stream").collect().await.expect("collect");
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("/dev/pts/"), "{out}");
    assert!(out.contains("1000"), "{out}");
    assert_eq!(rec.expect("exit").exit_code, 0);

    // Missing binary in exec.
    let req = ExecRequest {
        args: vec!["nosuch".into()],
        ..Default::default()
    };
    match client.exec(&req).await {
        Err(RuntimeError::Shim { exit_code, message }) => {
            assert_eq!(exit_code, 127, "{message}");
            assert!(message.contains("executable file not found"), "{message}");
        }
        Err(e) => panic!("unexpected {e}"),
        Ok(_) => panic!("exec of a missing binary must fail"),
    }

    // pause / resume through the freezer.
    client.pause().await.expect("pause");
    assert_eq!(client.state().await.expect("state").status, Status::Paused);
    let frozen = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/freezer/berth/{}/freezer.state",
        p.id
    ))
    .or_else(|_| std::fs::read_to_string(format!("/sys/fs/cgroup/berth/{}/cgroup.freeze", p.id)))
    .unwrap_or_default();
    assert!(
        frozen.contains("FROZEN") || frozen.trim() == "1",
        "freezer state {frozen:?}"
    );
    assert!(client
        .exec(&ExecRequest {
            args: vec!["true".into()],
            ..Default::default()
        })
        .await
        .is_err());
    client.resume().await.expect("resume");
    assert_eq!(client.state().await.expect("state").status, Status::Running);

    // PID 1 without a handler ignores SIGTERM (as in Docker); SIGKILL always works.
    client.kill(9).await.expect("kill");
    let rec = client.wait().await.expect("wait");
    assert_eq!(rec.exit_code, 137);
}

#[tokio::test]
async fn shim_survives_parent_death_and_reconnects() {
    if !can_run() {
        return;
    }
    let env = TestEnv::new("survive");
    let p = env.prepare("survive", &["sleep", "60"], |_| {});
    let opts = env.spawn_opts(&p, true);
    // A stand-in "daemon": a shell that spawns the shim and then lingers; we kill it hard.
    let script = format!(
        "{} shim --id {} --bundle {} --state-dir {} --runtime-root {} --start >/dev/null; sleep 60",
        opts.berth_exe.display(),
        p.id,
        p.bundle.display(),
        p.state.display(),
        opts.runtime_root.display()
    );
    let mut daemon = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .spawn()
        .expect("sh");
    assert!(eventually(Duration::from_secs(10), || p
        .state
        .join("shim.json")
        .exists()
        && p.state.join("control.sock").exists()));
    daemon.kill().expect("kill daemon");
    let _ = daemon.wait();

    // A fresh client, as a restarted daemon would make.
    let client = ShimClient::connect(&p.id, &p.state);
    assert!(client.is_alive().await);
    let rec = client.record().expect("record").expect("shim.json");
    assert!(alive(rec.shim_pid) && alive(rec.init_pid));
    let st = client.state().await.expect("state");
    assert_eq!(st.status, Status::Running);
    assert_eq!(st.pid, rec.init_pid);
    let (_, stream) = client
        .exec(&ExecRequest {
            args: vec!["echo".into(), "still here".into()],
            ..Default::default()
        })
        .await
        .expect("exec");
    let (out, _, _) = stream.expect("stream").collect().await.expect("collect");
    assert_eq!(String::from_utf8_lossy(&out), "still here\n");
    client.kill(9).await.expect("kill");
    assert_eq!(client.wait().await.expect("wait").exit_code, 137);
    assert!(eventually(Duration::from_secs(5), || !alive(rec.shim_pid)));
}

#[tokio::test]
async fn shim_killed_hard_is_cleaned_up() {
    if !can_run() {
        return;
    }
    let env = TestEnv::new("shimdead");
    let p = env.prepare("shimdead", &["sleep", "60"], |_| {});
    let (client, init_pid) = env.spawn(&p, true).await.expect("spawn");
    let rec = client.record().expect("record").expect("shim.json");
    std::process::Command::new("kill")
        .args(["-9", &rec.shim_pid.to_string()])
        .status()
        .expect("kill");
    assert!(eventually(Duration::from_secs(5), || !alive(rec.shim_pid)));
    assert!(!client.is_alive().await);
    assert!(alive(init_pid), "the container outlives its shim");
    let (id, bundle, state, rt) = (
        p.id.clone(),
        p.bundle.clone(),
        p.state.clone(),
        env.runtime_root(),
    );
    let exit = tokio::task::spawn_blocking(move || {
        berth_runtime::shim::recover::cleanup_dead_shim(&id, &bundle, &state, &rt)
    })
    .await
    .expect("join")
    .expect("cleanup");
    assert_eq!(exit.exit_code, 137);
    assert!(exit.error.is_some());
    assert!(eventually(Duration::from_secs(5), || !alive(init_pid)));
    assert!(
        mounts_under(&env.root).is_empty(),
        "{:?}",
        mounts_under(&env.root)
    );
    assert!(cgroup_dirs(&p.id).is_empty(), "{:?}", cgroup_dirs(&p.id));
    assert_eq!(client.wait().await.expect("wait").exit_code, 137);
}

#[tokio::test]
async fn shim_init_reaps_and_forwards_signals() {
    if !can_run() {
        return;
    }
    let Some(init) = ["/usr/bin/tini-static", "/usr/bin/docker-init"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
    else {
        eprintln!("SKIP: tini-static (Debian package tini) is not installed");
        return;
    };
    let env = TestEnv::new("init");
    let (out, err, code, _) = run_collect(
        &env,
        "init",
        &[
            "sh",
            "-c",
            "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$; exit 4",
        ],
        |s| {
            s.init = Some(init.clone());
        },
    )
    .await;
    assert_eq!(code, 4, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("/sbin/docker-init -- sh"), "{out}");
    assert_ne!(lines[1], "1", "the command is not PID 1 under --init");

    // SIGTERM reaches the command through the init (a bare PID 1 would ignore it).
    let p = env.prepare("initterm", &["sleep", "60"], |s| {
        s.init = Some(init.clone())
    });
    let (client, _) = env.spawn(&p, true).await.expect("spawn");
    tokio::time::sleep(Duration::from_millis(200)).await;
    client.kill(15).await.expect("kill");
    let rec = tokio::time::timeout(Duration::from_secs(10), client.wait())
        .await
        .expect("SIGTERM handled in time")
        .expect("wait");
    assert_eq!(rec.exit_code, 143);
}
