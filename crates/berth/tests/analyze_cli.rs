//! `berth analyze` as a user runs it: CI mode against `.dive-ci` files, `CI=true`,
//! `--json`, bad configs, the TUI in tmux, and an image exported by a real dockerd.

mod support;

use berth_analyze::fixture::{write_docker_archive, Entry, FLayer};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// A scratch directory removed when the test ends, pass or fail.
struct TmpDir(PathBuf);

impl std::ops::Deref for TmpDir {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tmpdir(tag: &str) -> TmpDir {
    let d = std::env::temp_dir().join(format!("berth-analyze-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TmpDir(d)
}

/// 4 layers: base 400 kB + conf 1 kB; data 50 kB; data rewritten 60 kB; conf deleted.
fn layers() -> Vec<FLayer> {
    let d = |p: &str| Entry::Dir(p.to_string());
    let f = |p: &str, n| Entry::File(p.to_string(), n);
    vec![
        FLayer {
            command: "ADD rootfs /".into(),
            entries: vec![
                d("bin"),
                f("bin/busybox", 400_000),
                d("etc"),
                f("etc/conf", 1_000),
            ],
        },
        FLayer {
            command: "COPY data /app/data".into(),
            entries: vec![d("app"), f("app/data", 50_000)],
        },
        FLayer {
            command: "RUN regenerate".into(),
            entries: vec![d("app"), f("app/data", 60_000)],
        },
        FLayer {
            command: "RUN rm /etc/conf".into(),
            entries: vec![d("etc"), Entry::Whiteout("etc/conf".into())],
        },
    ]
}

// Independently: /bin/busybox [400000], /etc/conf [1000, 0], /app/data [50000, 60000].
const EFFICIENCY: f64 = (400_000.0 + 0.0 + 50_000.0) / (400_000.0 + 1_000.0 + 110_000.0);
const WASTED: u64 = 1_000 + 110_000;
const CORRECTED_WASTED: u64 = 1_000 + 50_000;

fn archive(dir: &Path, oci: bool) -> PathBuf {
    let p = dir.join(if oci { "oci.tar" } else { "legacy.tar" });
    write_docker_archive(&p, "test/waste:1", &layers(), oci).unwrap();
    p
}

fn berth(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BERTH);
    c.arg("analyze")
        .args(args)
        .current_dir(cwd)
        .env_remove("CI");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn ci_config_095_fails_and_05_passes() {
    let dir = tmpdir("ci");
    for oci in [false, true] {
        let img = archive(&dir, oci);
        std::fs::write(
            dir.join("strict.yaml"),
            "rules:\n  lowestEfficiency: 0.95\n  highestUserWastedPercent: disabled\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("lax.yaml"),
            "rules:\n  lowestEfficiency: 0.5\n  highestUserWastedPercent: disabled\n",
        )
        .unwrap();
        let o = berth(
            &["--ci", "--ci-config", "strict.yaml", img.to_str().unwrap()],
            &dir,
            &[],
        );
        let t = text(&o);
        assert_eq!(o.status.code(), Some(1), "{t}");
        assert!(t.contains("FAIL  lowestEfficiency"), "{t}");
        assert!(t.contains("SKIP  highestUserWastedPercent"), "{t}");
        assert!(t.contains(&format!("{:.2} %", EFFICIENCY * 100.0)), "{t}");
        assert!(t.contains(&format!("{WASTED} bytes")), "{t}");
        assert!(t.contains(&format!("{CORRECTED_WASTED} bytes")), "{t}");
        let o = berth(
            &["--ci", "--ci-config", "lax.yaml", img.to_str().unwrap()],
            &dir,
            &[],
        );
        let t = text(&o);
        assert_eq!(o.status.code(), Some(0), "{t}");
        assert!(t.contains("PASS  lowestEfficiency"), "{t}");
        assert!(t.contains("PASS [pass:1 skip:2]"), "{t}");
    }
}

#[test]
fn ci_env_reads_dot_dive_ci_and_flags_override() {
    let dir = tmpdir("env");
    let img = archive(&dir, true);
    std::fs::write(dir.join(".dive-ci"), "rules:\n  lowestEfficiency: 0.95\n  highestWastedBytes: 100kB\n  highestUserWastedPercent: off\n").unwrap();
    let o = berth(&[img.to_str().unwrap()], &dir, &[("CI", "true")]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("FAIL  highestWastedBytes"), "{t}");
    // The same rule on the corrected figures passes (51 kB ≤ 100 kB).
    let o = berth(
        &[
            "--ci",
            "--corrected",
            "--lowestEfficiency",
            "0.5",
            img.to_str().unwrap(),
        ],
        &dir,
        &[],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("PASS  highestWastedBytes"), "{t}");
}

#[test]
fn bad_ci_config_names_file_and_line() {
    let dir = tmpdir("bad");
    let img = archive(&dir, false);
    std::fs::write(
        dir.join("bad.yaml"),
        "rules:\n  lowestEfficiency: 0.9\n  highestUserWastedPercent: 7\n",
    )
    .unwrap();
    let o = berth(
        &["--ci", "--ci-config", "bad.yaml", img.to_str().unwrap()],
        &dir,
        &[],
    );
    let t = text(&o);
    assert_ne!(o.status.code(), Some(0), "{t}");
    assert!(
        !t.contains("Analysis"),
        "rules are checked before the image is read: {t}"
    );
    assert!(
        t.contains("bad.yaml") && t.contains("line 3") && t.contains("highestUserWastedPercent"),
        "{t}"
    );
    let o = berth(
        &["--report", "nope.tar"],
        &dir,
        &[("BERTH_HOST", "unix:///nonexistent.sock")],
    );
    assert_ne!(o.status.code(), Some(0));
    assert!(text(&o).contains("nope.tar"), "{}", text(&o));
}

#[test]
fn json_export_has_dives_shape_and_numbers() {
    let dir = tmpdir("json");
    let img = archive(&dir, true);
    let o = berth(&["--json", "out.json", img.to_str().unwrap()], &dir, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("out.json")).unwrap()).unwrap();
    assert_eq!(v["layer"].as_array().unwrap().len(), 4);
    assert_eq!(v["layer"][2]["command"], "RUN regenerate");
    assert_eq!(v["layer"][3]["fileList"][1]["path"], "etc/.wh.conf");
    assert_eq!(v["image"]["inefficientBytes"], WASTED);
    assert!((v["image"]["efficiencyScore"].as_f64().unwrap() - EFFICIENCY).abs() < 1e-12);
    assert_eq!(v["image"]["fileReference"][0]["file"], "/app/data");
    assert_eq!(v["image"]["fileReference"][0]["count"], 2);
    assert_eq!(v["image"]["corrected"]["wastedBytes"], CORRECTED_WASTED);
    // berth's per-layer change lists.
    let change = |l: usize, p: &str| {
        v["layer"][l]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["path"] == p)
            .map(|c| c["change"].as_str().unwrap().to_string())
    };
    assert_eq!(change(1, "/app/data").as_deref(), Some("added"));
    assert_eq!(change(2, "/app/data").as_deref(), Some("modified"));
    assert_eq!(change(3, "/etc/conf").as_deref(), Some("removed"));
    assert_eq!(change(3, "/bin/busybox"), None);
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

fn tmux(args: &[&str]) -> String {
    let o = Command::new("tmux").args(args).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn wait_for(session: &str, what: &str) -> String {
    let start = Instant::now();
    loop {
        let s = tmux(&["capture-pane", "-p", "-t", session]);
        if s.contains(what) || start.elapsed() > Duration::from_secs(10) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn tui_in_tmux_shows_layers_moves_and_quits() {
    if !have("tmux") {
        eprintln!("SKIP: tmux is not installed");
        return;
    }
    let dir = tmpdir("tui");
    let img = archive(&dir, true);
    let session = format!("berth-analyze-{}", std::process::id());
    let cmd = format!(
        "env -u CI '{BERTH}' analyze '{}'; echo EXIT=$?; sleep 30",
        img.display()
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "160",
        "-y",
        "40",
        &cmd,
    ]);
    let first = wait_for(&session, "[Layers]");
    assert!(
        first.contains("[Layers]") && first.contains("RUN regenerate"),
        "{first}"
    );
    assert!(
        first.contains("busybox") && !first.contains("▾ app"),
        "{first}"
    );
    tmux(&["send-keys", "-t", &session, "Down"]);
    let second = wait_for(&session, "▾ app");
    assert!(
        second.contains("▾ app"),
        "moving down shows layer 1's tree: {second}"
    );
    assert_ne!(first, second);
    // Tab to the tree, filter for "conf" at the last layer: the removed file is listed.
    tmux(&["send-keys", "-t", &session, "Down", "Down"]);
    tmux(&[
        "send-keys",
        "-t",
        &session,
        "C-f",
        "c",
        "o",
        "n",
        "f",
        "Enter",
    ]);
    let third = wait_for(&session, "filter: conf");
    assert!(
        third.contains("conf") && !third.contains("busybox"),
        "{third}"
    );
    tmux(&["send-keys", "-t", &session, "q"]);
    let done = wait_for(&session, "EXIT=");
    tmux(&["kill-session", "-t", &session]);
    assert!(done.contains("EXIT=0"), "{done}");
}

#[test]
fn image_from_a_real_dockerd() {
    if !have("dockerd") || !have("docker") {
        eprintln!("SKIP: dockerd/docker not installed");
        return;
    }
    let dk = match support::Dockerd::try_start(&["--ip6tables=false"]) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("SKIP: private dockerd did not start: {e}");
            return;
        }
    };
    let dir = tmpdir("dockerd");
    let host = dk.host();
    let img = archive(&dir, false);
    let o = dk.docker(&["load", "-i", img.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let o = berth(
        &[
            "--ci",
            "--lowestEfficiency",
            "0.5",
            "--highestUserWastedPercent",
            "disabled",
            "--source",
            "docker",
            "-H",
            &host,
            "test/waste:1",
        ],
        &dir,
        &[],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains(&format!("{WASTED} bytes")), "{t}");
    assert!(t.contains(&format!("{CORRECTED_WASTED} bytes")), "{t}");
    // DOCKER_HOST is honoured too, and a missing image is a clear error.
    let o = berth(
        &["--report", "--source", "docker", "no/such:image"],
        &dir,
        &[("DOCKER_HOST", &host)],
    );
    assert_ne!(o.status.code(), Some(0));
    assert!(text(&o).contains("no/such:image"), "{}", text(&o));
}

/// Kills a `berth daemon` started by a test.
struct Daemon(std::process::Child, PathBuf);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

#[test]
fn image_from_berth_daemon_after_load() {
    let dir = tmpdir("berthd");
    let host = format!("unix://{}", dir.join("b.sock").display());
    let child = Command::new(BERTH)
        .args([
            "daemon",
            "-H",
            &host,
            "--data-root",
            dir.join("root").to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("log")).unwrap())
        .spawn()
        .unwrap();
    let _d = Daemon(child, dir.clone());
    let img = archive(&dir, true);
    let start = Instant::now();
    loop {
        let o = Command::new(BERTH)
            .args(["-H", &host, "load", "-i", img.to_str().unwrap()])
            .output()
            .unwrap();
        if o.status.success() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "berth daemon/load failed: {}",
            text(&o)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // By -H, and by BERTH_HOST with the source guessed from a non-path name.
    let o = berth(
        &["--report", "--source", "berth", "-H", &host, "test/waste:1"],
        &dir,
        &[],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains(&format!("{WASTED} bytes")) && t.contains(&format!("{CORRECTED_WASTED} bytes")),
        "{t}"
    );
    let o = berth(
        &["--report", "test/waste:1"],
        &dir,
        &[("BERTH_HOST", &host)],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("RUN regenerate"), "{t}");
}
