//! Shared helpers for the end-to-end tests: a `berth daemon` on a temp data root and
//! socket, the `berth` and `docker` CLIs pointed at it, and a busybox rootfs tar built
//! from Debian's static `/bin/busybox`.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// A running `berth daemon`, killed on drop.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    /// Extra environment of the daemon process.
    pub env: Vec<(String, String)>,
}

impl Daemon {
    pub fn start() -> Daemon {
        Daemon::start_with_env(&[])
    }

    /// A daemon with extra environment variables.
    pub fn start_with_env(env: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e")
            .tempdir()
            .unwrap();
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut d = Daemon {
            dir,
            child: None,
            env,
        };
        d.spawn();
        d
    }

    /// A daemon with the busybox rootfs imported as `busybox` (`CMD ["sh"]`).
    pub fn with_busybox() -> Daemon {
        Daemon::with_busybox_env(&[])
    }

    /// [`Daemon::with_busybox`] with extra environment variables for the daemon.
    pub fn with_busybox_env(env: &[(&str, &str)]) -> Daemon {
        let d = Daemon::start_with_env(env);
        d.import_busybox("busybox", &[]);
        d
    }

    /// Imports the busybox rootfs as `tag` with `CMD ["sh"]` and the Dockerfile
    /// instructions in `changes` (`import -c`).
    pub fn import_busybox(&self, tag: &str, changes: &[&str]) {
        let tar = busybox_tar(self.dir.path());
        let mut args = vec!["import", "-c", "CMD [\"sh\"]"];
        for c in changes {
            args.extend(["-c", c]);
        }
        args.extend([tar.to_str().unwrap(), tag]);
        ok(self.berth(&args));
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("berth.sock")
    }
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }
    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// (Re)starts the daemon process on the same data root and socket.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .unwrap();
        let child = Command::new(BERTH)
            .args(["daemon", "-H", &self.host(), "--data-root"])
            .arg(self.data_root())
            .arg("--exec-root")
            .arg(self.dir.path().join("exec"))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn berth daemon");
        self.child = Some(child);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(20) {
            if std::os::unix::net::UnixStream::connect(self.socket()).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("daemon did not start: {}", self.log());
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// `berth <args>` against this daemon.
    pub fn berth(&self, args: &[&str]) -> Output {
        Command::new(BERTH)
            .env("BERTH_HOST", self.host())
            .env_remove("DOCKER_HOST")
            .args(args)
            .output()
            .unwrap()
    }

    /// `berth <args>` with stdin from a file.
    pub fn berth_stdin(&self, args: &[&str], stdin: &Path) -> Output {
        Command::new(BERTH)
            .env("BERTH_HOST", self.host())
            .args(args)
            .stdin(std::fs::File::open(stdin).unwrap())
            .output()
            .unwrap()
    }

    /// `docker <args>` (the real CLI) against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .args(args)
            .output()
            .unwrap()
    }

    /// Files under the data root (excluding `tmp/`), with sizes: a fingerprint of the
    /// store's state.
    pub fn store_fingerprint(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let root = self.data_root();
        walk(&root, &root, &mut out);
        out.retain(|(p, _)| !p.starts_with("tmp/") && p != "berth.redb");
        out.sort();
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u64)>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        if m.is_dir() {
            out.push((rel + "/", 0));
            walk(root, &p, out);
        } else {
            out.push((rel, m.len()));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            // SIGTERM for a clean shutdown (it removes the daemon's spare network
            // namespaces), then make sure.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(5) {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        self.kill9();
        release_tree(self.dir.path());
    }
}

/// Kills the shims of containers left running under `dir` and detaches every mount below
/// it (overlay rootfs, pinned network namespaces), so that removing the temp dir works
/// and a test run leaves nothing mounted on the host.
pub fn release_tree(dir: &Path) {
    let prefix = format!("{}/", dir.display());
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd);
            if cmd.starts_with(BERTH) && cmd.contains("\0shim\0") && cmd.contains(&prefix) {
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
    let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&prefix))
        .collect();
    // Deepest first.
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in mounts {
        if let Ok(c) = std::ffi::CString::new(m) {
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
pub fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "command failed ({:?}): stdout={} stderr={}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

#[track_caller]
pub fn fails(o: Output) -> String {
    assert!(
        !o.status.success(),
        "command unexpectedly succeeded: {}",
        stdout(&o)
    );
    stderr(&o)
}

/// Polls `f` (every 20 ms) until it holds or `timeout` has passed; whether it held
/// (asked once more at the deadline).
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// A busybox rootfs tar (`/bin/busybox` + applet symlinks + /etc/passwd, group).
pub fn busybox_tar(dir: &Path) -> PathBuf {
    let path = dir.join("busybox-rootfs.tar");
    let f = std::fs::File::create(&path).unwrap();
    let mut b = tar::Builder::new(f);
    let dir_entry = |b: &mut tar::Builder<std::fs::File>, name: &str| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, name, &[][..]).unwrap();
    };
    for d in ["bin/", "etc/", "tmp/", "root/"] {
        dir_entry(&mut b, d);
    }
    let busybox = std::fs::read("/bin/busybox").expect("Debian's busybox-static at /bin/busybox");
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o755);
    h.set_size(busybox.len() as u64);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, "bin/busybox", &busybox[..]).unwrap();
    for app in [
        "sh", "echo", "ls", "cat", "true", "false", "id", "hostname", "sleep", "ps", "mount", "rm",
        "touch", "mkdir",
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        b.append_link(&mut h, format!("bin/{app}"), "busybox")
            .unwrap();
    }
    for (name, data) in [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        ),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, name, data.as_bytes()).unwrap();
    }
    b.into_inner().unwrap().flush().unwrap();
    path
}

/// A tar layer from (path, content) pairs; a `None` content is a whiteout for the path.
pub fn layer_tar(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(1_700_000_000);
        match data {
            Some(d) => {
                h.set_mode(0o644);
                h.set_size(d.len() as u64);
                b.append_data(&mut h, path, *d).unwrap();
            }
            None => {
                let (dir, name) = path
                    .rsplit_once('/')
                    .map(|(d, n)| (format!("{d}/"), n))
                    .unwrap_or((String::new(), path));
                h.set_mode(0o644);
                h.set_size(0);
                b.append_data(&mut h, format!("{dir}.wh.{name}"), &[][..])
                    .unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// Writes a legacy-format `docker save` archive (`<id>/layer.tar`, `<id>.json`,
/// `manifest.json`) holding one image with the given layers. Returns (path, image ID).
pub fn legacy_archive(dir: &Path, name: &str, tag: &str, layers: &[Vec<u8>]) -> (PathBuf, String) {
    use sha2::Digest;
    let hex = |b: &[u8]| hex::encode(sha2::Sha256::digest(b));
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", hex(l)))
        .collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "history": layers.iter().enumerate().map(|(i, _)| serde_json::json!({"created": "2024-01-01T00:00:00Z", "created_by": format!("layer {i}")})).collect::<Vec<_>>(),
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let cfg = serde_json::to_vec(&config).unwrap();
    let id = hex(&cfg);
    let path = dir.join(format!("{name}-{tag}.tar"));
    let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
    let mut add = |p: &str, d: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(d.len() as u64);
        b.append_data(&mut h, p, d).unwrap();
    };
    let mut layer_paths = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let lp = format!("{}/layer.tar", hex(format!("{id}{i}").as_bytes()));
        add(&lp, l);
        layer_paths.push(lp);
    }
    add(&format!("{id}.json"), &cfg);
    let manifest = serde_json::json!([{"Config": format!("{id}.json"), "RepoTags": [format!("{name}:{tag}")], "Layers": layer_paths}]);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    b.into_inner().unwrap().flush().unwrap();
    (path, format!("sha256:{id}"))
}

pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// A busybox rootfs tar (`name` in `dir`) with `dirs` (each ending in `/`), symlinks for
/// `applets`, `/etc/passwd`, `/etc/group` and a `/www/index.html` for httpd.
pub fn busybox_web_tar(dir: &Path, name: &str, dirs: &[&str], applets: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
    for d in dirs {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, d, &[][..]).unwrap();
    }
    let busybox = std::fs::read("/bin/busybox").expect("Debian's busybox-static at /bin/busybox");
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o755);
    h.set_size(busybox.len() as u64);
    b.append_data(&mut h, "bin/busybox", &busybox[..]).unwrap();
    for app in applets {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        b.append_link(&mut h, format!("bin/{app}"), "busybox")
            .unwrap();
    }
    for (name, data) in [
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        ("etc/group", "root:x:0:\n"),
        ("www/index.html", "hello from berth\n"),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, data.as_bytes()).unwrap();
    }
    b.finish().unwrap();
    path
}

/// The anchor: a real dockerd (Debian's docker.io) on its own socket, data root, exec
/// root and pidfile under a temp dir, with no bridge and no iptables rules, stopped by
/// its PID on drop (SIGTERM, SIGKILL after 15 s) and its leftover mounts detached.
pub struct Dockerd {
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Dockerd {
    /// How long [`Dockerd::try_start`] waits for `docker version` to answer.
    pub const START_TIMEOUT: Duration = Duration::from_secs(60);

    /// `dockerd` and the `docker` CLI are both installed.
    pub fn installed() -> bool {
        have("dockerd") && have("docker")
    }

    /// A dockerd started with `extra` flags, or `None` when dockerd or the docker CLI
    /// is not installed (the caller says it skips). Panics when it does not start.
    #[track_caller]
    pub fn start(extra: &[&str]) -> Option<Dockerd> {
        if !Dockerd::installed() {
            return None;
        }
        match Dockerd::try_start(extra) {
            Ok(d) => Some(d),
            Err(e) => panic!("{e}"),
        }
    }

    /// A dockerd started with `extra` flags, once `docker version` answers on its
    /// socket. The error says why not: not installed, not spawned, exited, or no
    /// answer within [`Dockerd::START_TIMEOUT`] (with the tail of dockerd's log).
    pub fn try_start(extra: &[&str]) -> Result<Dockerd, String> {
        if !Dockerd::installed() {
            return Err("dockerd is not installed (apt-get install docker.io)".into());
        }
        // A short path under /tmp: the socket and containerd's sockets below the exec
        // root must fit a sockaddr_un.
        let dir = tempfile::Builder::new()
            .prefix("dockerd")
            .tempdir_in("/tmp")
            .map_err(|e| format!("temp dir for dockerd: {e}"))?;
        let p = dir.path();
        let log = std::fs::File::create(p.join("dockerd.log"))
            .map_err(|e| format!("dockerd log: {e}"))?;
        let child = Command::new("dockerd")
            .arg("--host")
            .arg(format!("unix://{}", p.join("d.sock").display()))
            .arg("--data-root")
            .arg(p.join("data"))
            .arg("--exec-root")
            .arg(p.join("exec"))
            .arg("--pidfile")
            .arg(p.join("d.pid"))
            .args(["--bridge", "none", "--iptables=false"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawn dockerd: {e}"))?;
        let mut d = Dockerd { dir, child };
        let t = Instant::now();
        loop {
            if d.docker(&["version"]).status.success() {
                return Ok(d);
            }
            if let Ok(Some(status)) = d.child.try_wait() {
                return Err(format!(
                    "dockerd exited ({status}) before answering `docker version`; {}",
                    d.log_tail(40)
                ));
            }
            if t.elapsed() > Dockerd::START_TIMEOUT {
                return Err(format!(
                    "dockerd did not answer `docker version` on {} within {} s; {}",
                    d.host(),
                    Dockerd::START_TIMEOUT.as_secs(),
                    d.log_tail(40)
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("d.sock")
    }
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }
    /// The (private, empty) `DOCKER_CONFIG` of [`Dockerd::docker`].
    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }
    /// The last `n` lines of dockerd's log, introduced as such.
    fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "last lines of {}:\n{}",
            self.dir.path().join("dockerd.log").display(),
            lines[lines.len().saturating_sub(n)..].join("\n")
        )
    }

    /// `docker <args>` (the real CLI) against this dockerd.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.config_dir())
            .args(args)
            .output()
            .expect("run docker")
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SAFETY: signalling the child we started, by its PID.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        release_tree(self.dir.path());
    }
}
