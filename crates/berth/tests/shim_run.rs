//! End-to-end: real busybox containers through `berth shim` — output, exit codes, logs.

#[path = "shim_common.rs"]
mod common;

use berth_runtime::jsonlog::read_log;
use berth_runtime::RuntimeError;
use common::*;

#[tokio::test]
async fn shim_echo_and_exit_codes() {
    if !can_run() {
        return;
    }
    let env = TestEnv::new("echo");
    let (out, err, code, p) = run_collect(
        &env,
        "echo",
        &["sh", "-c", "echo hello; echo oops >&2; exit 3"],
        |_| {},
    )
    .await;
    assert_eq!(out, "hello\n");
    assert_eq!(err, "oops\n");
    assert_eq!(code, 3);

    // Docker's json-file log.
    let entries = read_log(&p.log).expect("log");
    let got: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.stream.as_str(), e.log.as_str()))
        .collect();
    assert!(got.contains(&("stdout", "hello\n")), "{got:?}");
    assert!(got.contains(&("stderr", "oops\n")), "{got:?}");
    let raw = std::fs::read_to_string(&p.log).expect("raw log");
    for line in raw.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json line");
        assert!(
            v["time"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z') && t.contains('T')),
            "{line}"
        );
    }

    // The exit record is on disk.
    let rec = berth_runtime::status::read_exit(&p.state)
        .expect("read")
        .expect("exit.json");
    assert_eq!(rec.exit_code, 3);
    assert!(!rec.oom_killed);
    assert!(!rec.started_at.is_empty() && !rec.finished_at.is_empty());
}

#[tokio::test]
async fn shim_missing_binary_is_127_and_not_executable_is_126() {
    if !can_run() {
        return;
    }
    let env = TestEnv::new("notfound");
    let p = env.prepare("nf", &["nosuchcmd"], |_| {});
    match env.spawn(&p, true).await {
        Err(RuntimeError::Shim { exit_code, message }) => {
            assert_eq!(exit_code, 127, "{message}");
            assert!(message.contains("executable file not found"), "{message}");
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("missing binary must fail"),
    }
    let p = env.prepare("ne", &["/etc/notexec"], |_| {});
    match env.spawn(&p, true).await {
        Err(RuntimeError::Shim { exit_code, message }) => {
            assert_eq!(exit_code, 126, "{message}");
            assert!(message.contains("permission denied"), "{message}");
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("non-executable must fail"),
    }
    // Failed creates leave nothing behind.
    assert!(
        mounts_under(&env.root).is_empty(),
        "{:?}",
        mounts_under(&env.root)
    );
    assert!(cgroup_dirs(&p.id).is_empty());
}

#[tokio::test]
async fn shim_overlay_writes_land_in_upper() {
    if !can_run() {
        return;
    }
    let env = TestEnv::new("ovl");
    let (_, err, code, p) = run_collect(
        &env,
        "ovl",
        &[
            "sh",
            "-c",
            "echo new > /newfile && rm /etc/notexec && cat /etc/hostname",
        ],
        |_| {},
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let upper = p.dir.join("upper");
    assert_eq!(
        std::fs::read_to_string(upper.join("newfile")).expect("upper file"),
        "new\n"
    );
    use std::os::unix::fs::FileTypeExt;
    let wh = std::fs::symlink_metadata(upper.join("etc/notexec")).expect("whiteout");
    assert!(
        wh.file_type().is_char_device(),
        "deletion is an overlay whiteout"
    );
    assert!(
        env.root.join("base/etc/notexec").exists(),
        "the image layer is untouched"
    );
    assert!(!env.root.join("base/newfile").exists());
    assert!(
        mounts_under(&env.root).is_empty(),
        "rootfs unmounted after exit"
    );
}
