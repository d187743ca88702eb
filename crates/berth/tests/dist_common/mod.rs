//! Fixtures for the pull/push/login tests: registries as child processes (`berth
//! registry serve` and Debian's distribution 2.8 `docker-registry`), a berth daemon
//! with registry flags, a throttling TCP proxy that logs blob requests and can be
//! "killed" mid-transfer, a fixture token server, openssl certificates and htpasswd.
#![allow(dead_code)]

use crate::support::{self, Daemon, BERTH};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const DISTRIBUTION: &str = "/usr/bin/docker-registry";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn wait_port(port: u16) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(15) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    panic!("nothing listens on 127.0.0.1:{port}");
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Berth,
    Distribution,
}

/// A registry child process.
pub struct Registry {
    pub kind: Kind,
    pub port: u16,
    pub dir: tempfile::TempDir,
    extra: String,
    child: Option<Child>,
}

impl Registry {
    /// `None` when the binary is missing (distribution not installed).
    pub fn start(kind: Kind, extra: &str) -> Option<Registry> {
        if kind == Kind::Distribution && !Path::new(DISTRIBUTION).exists() {
            println!("SKIP: {DISTRIBUTION} not installed");
            return None;
        }
        let mut r = Registry {
            kind,
            port: free_port(),
            dir: tempfile::tempdir().expect("tmp"),
            extra: extra.to_string(),
            child: None,
        };
        r.spawn();
        Some(r)
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn spawn(&mut self) {
        let cfg = self.dir.path().join("config.yml");
        let extra = &self.extra.replace("{port}", &self.port.to_string());
        let http = if extra.lines().any(|l| l.starts_with("http:")) {
            String::new()
        } else {
            format!("http:\n  addr: 127.0.0.1:{}\n", self.port)
        };
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n{http}{extra}",
                self.data().display()
            ),
        )
        .expect("config");
        let log = std::fs::File::create(self.dir.path().join("registry.log")).expect("log");
        let mut cmd = match self.kind {
            Kind::Berth => {
                let mut c = Command::new(BERTH);
                c.args(["registry", "serve"]);
                c
            }
            Kind::Distribution => {
                let mut c = Command::new(DISTRIBUTION);
                c.arg("serve");
                c
            }
        };
        let child = cmd
            .arg(&cfg)
            .env_remove("REGISTRY_HTTP_ADDR")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn registry");
        self.child = Some(child);
        wait_port(self.port);
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The stored file of a blob (`docker/registry/v2/blobs/sha256/xx/<hex>/data`).
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.data()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A berth daemon started with extra flags (registry settings).
pub fn daemon(extra: &[&str]) -> Daemon {
    let dir = tempfile::Builder::new()
        .prefix("berth-dist")
        .tempdir()
        .expect("tmp");
    let mut d = Daemon {
        dir,
        child: None,
        env: Vec::new(),
    };
    respawn(&mut d, extra);
    d
}

pub fn respawn(d: &mut Daemon, extra: &[&str]) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(d.dir.path().join("daemon.log"))
        .expect("log");
    let child = Command::new(BERTH)
        .args(["daemon", "-H", &d.host(), "--data-root"])
        .arg(d.data_root())
        .arg("--exec-root")
        .arg(d.dir.path().join("exec"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn daemon");
    d.child = Some(child);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(20) {
        if std::os::unix::net::UnixStream::connect(d.socket()).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("daemon did not start: {}", d.log());
}

/// `berth <args>` with this daemon and a private docker config dir.
pub fn berth(d: &Daemon, args: &[&str]) -> Output {
    berth_in(d, args, None)
}

pub fn docker_config(d: &Daemon) -> PathBuf {
    d.dir.path().join("docker-config")
}

pub fn berth_in(d: &Daemon, args: &[&str], stdin: Option<&str>) -> Output {
    let mut c = Command::new(BERTH);
    c.env("BERTH_HOST", d.host())
        .env_remove("DOCKER_HOST")
        .env("DOCKER_CONFIG", docker_config(d))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("berth");
    if let Some(mut i) = child.stdin.take() {
        if let Some(s) = stdin {
            let _ = i.write_all(s.as_bytes());
        }
    }
    child.wait_with_output().expect("berth output")
}

/// Imports the busybox rootfs as `name`.
pub fn busybox_image(d: &Daemon, name: &str) -> String {
    let tar = support::busybox_tar(d.dir.path());
    support::ok(berth(d, &["import", tar.to_str().expect("utf8"), name]))
        .trim()
        .to_string()
}

/// Deterministic, incompressible bytes.
pub fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

/// Loads an image made of busybox plus extra layers (`(path, bytes)` per layer).
pub fn layered_image(d: &Daemon, name: &str, tag: &str, extra: &[(&str, Vec<u8>)]) -> String {
    let bb = std::fs::read(support::busybox_tar(d.dir.path())).expect("busybox tar");
    let mut layers = vec![bb];
    for (p, data) in extra {
        layers.push(support::layer_tar(&[(p, Some(&data[..]))]));
    }
    let (path, id) = support::legacy_archive(d.dir.path(), name, tag, &layers);
    support::ok(berth(d, &["load", "-i", path.to_str().expect("utf8")]));
    id
}

pub fn inspect(d: &Daemon, name: &str) -> serde_json::Value {
    let out = support::ok(berth(d, &["image", "inspect", name]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("inspect json");
    v[0].clone()
}

/// Files left under the data root's `tmp/`.
pub fn tmp_files(d: &Daemon) -> Vec<String> {
    std::fs::read_dir(d.data_root().join("tmp"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// openssl CA and a server certificate for `name` (SAN DNS + IP 127.0.0.1), as the
/// guide makes them. Returns (ca.crt, server.crt, server.key).
pub fn openssl_certs(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let sh = format!(
        "set -e; cd {d}
openssl genrsa -out rootCA.key 2048 2>/dev/null
openssl req -x509 -new -nodes -key rootCA.key -sha256 -days 100 -subj /CN=berth-test-ca -out rootCA.crt
openssl genrsa -out registry.key 2048 2>/dev/null
openssl req -new -key registry.key -subj /CN={name} -out registry.csr
printf 'subjectAltName=DNS:{name},IP:127.0.0.1\\n' > san.ext
openssl x509 -req -in registry.csr -CA rootCA.crt -CAkey rootCA.key -CAcreateserial -out registry.crt -days 100 -sha256 -extfile san.ext 2>/dev/null",
        d = dir.display()
    );
    let o = Command::new("sh").arg("-c").arg(&sh).output().expect("sh");
    assert!(o.status.success(), "openssl: {}", support::stderr(&o));
    (
        dir.join("rootCA.crt"),
        dir.join("registry.crt"),
        dir.join("registry.key"),
    )
}

/// A host name (other than `localhost`) that /etc/hosts maps to 127.0.0.0/8: a
/// registry name berth does not treat as local, yet traffic stays on loopback.
pub fn loopback_name() -> Option<String> {
    let hosts = std::fs::read_to_string("/etc/hosts").ok()?;
    for line in hosts.lines() {
        let mut f = line.split_whitespace();
        let Some(addr) = f.next() else { continue };
        if !addr.starts_with("127.") {
            continue;
        }
        for name in f {
            if !name.starts_with('#')
                && !name.starts_with("localhost")
                && name.contains(|c: char| c.is_ascii_alphabetic())
            {
                return Some(name.to_string());
            }
        }
    }
    None
}

pub fn htpasswd(dir: &Path, users: &[(&str, &str)]) -> PathBuf {
    let mut s = String::new();
    for (u, p) in users {
        s.push_str(&format!("{u}:{}\n", bcrypt::hash(p, 5).expect("bcrypt")));
    }
    let p = dir.join("htpasswd");
    std::fs::write(&p, s).expect("htpasswd");
    p
}

/// A self-signed token-signing certificate and key.
pub fn token_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let o = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
        .arg(dir.join("token.key"))
        .arg("-out")
        .arg(dir.join("token.crt"))
        .args(["-days", "30", "-subj", "/CN=berth-fixture-token"])
        .output()
        .expect("openssl");
    assert!(o.status.success(), "{}", support::stderr(&o));
    (dir.join("token.crt"), dir.join("token.key"))
}

/// What the proxy saw: one entry per request line (`GET /v2/... range=bytes=N-`).
#[derive(Default)]
pub struct ProxyLog {
    pub requests: Vec<String>,
}

/// A TCP proxy in front of a registry: throttles server → client bytes and logs the
/// request lines (with any `Range` header). `cut()` drops every connection and stops
/// listening (the registry "dies"); `resume()` listens again on the same port.
pub struct Proxy {
    pub port: u16,
    upstream: u16,
    pub log: Arc<Mutex<ProxyLog>>,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    bytes_per_sec: u64,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    pub fn start(upstream: u16, bytes_per_sec: u64) -> Proxy {
        let mut p = Proxy {
            port: free_port(),
            upstream,
            log: Default::default(),
            stop: Arc::new(AtomicBool::new(false)),
            conns: Default::default(),
            bytes_per_sec,
            thread: None,
        };
        p.resume();
        p
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn resume(&mut self) {
        self.stop.store(false, Ordering::SeqCst);
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("proxy bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let (stop, conns, log, up, rate) = (
            self.stop.clone(),
            self.conns.clone(),
            self.log.clone(),
            self.upstream,
            self.bytes_per_sec,
        );
        self.thread = Some(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((c, _)) => {
                        let _ = c.set_nonblocking(false);
                        let Ok(s) = TcpStream::connect(("127.0.0.1", up)) else {
                            continue;
                        };
                        if let (Ok(c2), Ok(s2)) = (c.try_clone(), s.try_clone()) {
                            let mut g = conns.lock().expect("conns");
                            g.push(c2);
                            g.push(s2);
                        }
                        let (c_r, s_w) =
                            (c.try_clone().expect("clone"), s.try_clone().expect("clone"));
                        let log = log.clone();
                        std::thread::spawn(move || pump_requests(c_r, s_w, log));
                        std::thread::spawn(move || pump_throttled(s, c, rate));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }));
    }

    pub fn cut(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for c in self.conns.lock().expect("conns").drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    /// Blob GETs seen so far for `digest`, with their Range headers.
    pub fn blob_gets(&self, digest: &str) -> Vec<String> {
        self.log
            .lock()
            .expect("log")
            .requests
            .iter()
            .filter(|r| r.starts_with("GET ") && r.contains(&format!("/blobs/{digest}")))
            .cloned()
            .collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

fn pump_requests(mut from: TcpStream, mut to: TcpStream, log: Arc<Mutex<ProxyLog>>) {
    let mut buf = [0u8; 16384];
    let mut pending = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // Requests from the client carry no bodies on pulls; log each head.
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).into_owned();
            pending.drain(..end + 4);
            let mut lines = head.lines();
            let first = lines.next().unwrap_or("").to_string();
            let range = lines
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.eq_ignore_ascii_case("range"))
                .map(|(_, v)| format!(" range={}", v.trim()))
                .unwrap_or_default();
            log.lock()
                .expect("log")
                .requests
                .push(format!("{first}{range}"));
        }
        if pending.len() > 1 << 20 {
            pending.clear();
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn pump_throttled(mut from: TcpStream, mut to: TcpStream, rate: u64) {
    let mut buf = [0u8; 16384];
    let t0 = Instant::now();
    let mut sent: u64 = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n as u64;
        if rate > 0 {
            let due = Duration::from_secs_f64(sent as f64 / rate as f64);
            let el = t0.elapsed();
            if due > el {
                std::thread::sleep(due - el);
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
