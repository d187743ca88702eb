//! Shared fixtures for the `shim_*` end-to-end tests: a busybox root filesystem made from the
//! host's static `/bin/busybox`, per-test directories, and helpers that write a bundle and
//! spawn `berth shim` through `berth_runtime::ShimClient`.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_runtime::bundle::write_bundle;
use berth_runtime::config::{ContainerSpec, RootfsSpec};
use berth_runtime::rootfs::write_etc_files;
use berth_runtime::spec::HostInfo;
use berth_runtime::{RuntimeError, ShimClient, SpawnOptions};

/// Busybox applets linked in the test rootfs.
const APPLETS: &[&str] = &[
    "sh", "echo", "true", "false", "cat", "ls", "id", "hostname", "ps", "sleep", "dd", "head",
    "mount", "tty", "grep", "wc", "env", "pwd", "printf", "kill", "stty", "insmod", "touch", "rm",
    "mkdir", "readlink", "stat",
];

/// Returns false (and prints SKIP) when the host cannot run these tests.
pub fn can_run() -> bool {
    if !Path::new("/bin/busybox").exists() {
        eprintln!("SKIP: /bin/busybox (busybox-static) is not installed");
        return false;
    }
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1))
        == Some("0");
    if !root {
        eprintln!("SKIP: container tests need root");
        return false;
    }
    true
}

/// Builds a busybox rootfs in `dir`.
pub fn busybox_rootfs(dir: &Path) {
    for d in [
        "bin",
        "etc",
        "proc",
        "sys",
        "dev",
        "tmp",
        "root",
        "home/user",
    ] {
        fs::create_dir_all(dir.join(d)).expect("mkdir");
    }
    fs::copy("/bin/busybox", dir.join("bin/busybox")).expect("copy busybox");
    for a in APPLETS {
        symlink("/bin/busybox", dir.join("bin").join(a)).expect("symlink");
    }
    fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .expect("passwd");
    fs::write(
        dir.join("etc/group"),
        "root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n",
    )
    .expect("group");
    fs::write(dir.join("etc/notexec"), "#!/bin/sh\necho hi\n").expect("notexec");
}

/// A per-test directory tree: `base/` (busybox layer), `containers/<id>/`, `state/<id>/`,
/// `runtime/` (libcontainer root).
pub struct TestEnv {
    pub root: PathBuf,
}

/// Paths of one prepared container.
pub struct Prepared {
    pub id: String,
    pub dir: PathBuf,
    pub bundle: PathBuf,
    pub state: PathBuf,
    pub log: PathBuf,
}

impl TestEnv {
    pub fn new(name: &str) -> TestEnv {
        let root = PathBuf::from(format!("/tmp/bst-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).expect("mkdir");
        busybox_rootfs(&root.join("base"));
        TestEnv { root }
    }

    pub fn id(&self, name: &str) -> String {
        format!("{name}-{}", std::process::id())
    }

    pub fn runtime_root(&self) -> PathBuf {
        self.root.join("runtime")
    }

    /// Writes the bundle for container `name` after `edit` adjusted the spec.
    pub fn prepare(
        &self,
        name: &str,
        args: &[&str],
        edit: impl FnOnce(&mut ContainerSpec),
    ) -> Prepared {
        let id = self.id(name);
        let dir = self.root.join("containers").join(&id);
        let bundle = dir.join("bundle");
        let state = self.root.join("state").join(&id);
        let etc = write_etc_files(&dir, short(&id), None, &[]).expect("etc files");
        let mut spec = ContainerSpec {
            id: id.clone(),
            rootfs: RootfsSpec::Overlay {
                lower: vec![self.root.join("base")],
                upper: dir.join("upper"),
                work: dir.join("work"),
            },
            args: args.iter().map(|s| s.to_string()).collect(),
            etc_files: Some(etc),
            ..Default::default()
        };
        edit(&mut spec);
        let log = dir.join(format!("{id}-json.log"));
        write_bundle(&bundle, &spec, Some(&log), None, &HostInfo::detect()).expect("bundle");
        Prepared {
            id,
            dir,
            bundle,
            state,
            log,
        }
    }

    pub fn spawn_opts(&self, p: &Prepared, start: bool) -> SpawnOptions {
        SpawnOptions {
            berth_exe: PathBuf::from(env!("CARGO_BIN_EXE_berth")),
            id: p.id.clone(),
            bundle: p.bundle.clone(),
            state_dir: p.state.clone(),
            runtime_root: self.runtime_root(),
            start,
        }
    }

    pub async fn spawn(
        &self,
        p: &Prepared,
        start: bool,
    ) -> Result<(ShimClient, i32), RuntimeError> {
        ShimClient::spawn(&self.spawn_opts(p, start)).await
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if std::env::var_os("BST_KEEP").is_some() {
            return;
        }
        for m in mounts_under(&self.root) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&m)
                .status();
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// Mount points under `root` (from /proc/self/mountinfo).
pub fn mounts_under(root: &Path) -> Vec<String> {
    let prefix = root.to_string_lossy().to_string();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(String::from))
        .filter(|mp| mp.starts_with(&prefix))
        .collect()
}

/// cgroup directories named `berth/<id>` in any hierarchy.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut candidates = vec![PathBuf::from("/sys/fs/cgroup/berth").join(id)];
    if let Ok(rd) = fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            candidates.push(e.path().join("berth").join(id));
        }
    }
    for p in candidates {
        if p.exists() && !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// Whether `pid` is a live (non-zombie) process.
pub fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

#[path = "support/mod.rs"]
mod support;
pub use support::eventually;

/// Runs a container to completion (attached before start) and returns (stdout, stderr, exit
/// code, paths).
pub async fn run_collect(
    env: &TestEnv,
    name: &str,
    args: &[&str],
    edit: impl FnOnce(&mut ContainerSpec),
) -> (String, String, i32, Prepared) {
    let p = env.prepare(name, args, edit);
    let (client, _pid) = env.spawn(&p, false).await.expect("spawn");
    let stream = client.attach(false, true, true).await.expect("attach");
    client.start().await.expect("start");
    let (out, err, rec) = stream.collect().await.expect("collect");
    let rec = rec.expect("exit frame");
    // The shim answers before it releases the container (cgroups, rootfs mount, runtime
    // state); its lock says when that is done.
    assert!(
        eventually(Duration::from_secs(10), || {
            berth_runtime::status::shim_gone(&p.state)
        }),
        "the shim did not finish releasing the container"
    );
    (
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
        rec.exit_code,
        p,
    )
}

/// The hostname Docker derives from an ID: its first 12 characters.
pub fn short(id: &str) -> &str {
    &id[..12.min(id.len())]
}
