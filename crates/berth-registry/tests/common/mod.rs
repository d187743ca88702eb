//! Shared fixtures for the end-to-end tests: an in-process berth registry, Debian's
//! distribution 2.8 (`/usr/bin/docker-registry`) as a reference, a small HTTP client, and
//! an OCI image layout holding a busybox layer.
#![allow(dead_code)]

use berth_registry::{Config, Running};
use sha2::Digest as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A registry under test.
pub trait Target {
    fn base(&self) -> &str;
    fn is_berth(&self) -> bool;
    fn root(&self) -> &Path;
}

/// berth's registry started in-process on its own runtime.
pub struct Berth {
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub dir: tempfile::TempDir,
    rt: Option<tokio::runtime::Runtime>,
    running: Option<Running>,
}

impl Berth {
    /// Starts with `extra` YAML appended to a config that sets the address and root.
    pub fn start(extra: &str) -> Berth {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, extra)
    }

    pub fn start_in(dir: tempfile::TempDir, extra: &str) -> Berth {
        let root = dir.path().join("data");
        let yaml = format!(
            "version: 0.1\nlog:\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n{extra}",
            root.display()
        );
        let yaml = if yaml.contains("http:") {
            yaml
        } else {
            format!("{yaml}http:\n  addr: 127.0.0.1:0\n")
        };
        let cfg = Config::from_yaml_and_env(&yaml, "test-config", Vec::new()).expect("config");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("runtime");
        let running = rt.block_on(berth_registry::start(&cfg)).expect("start");
        let addr = running.local_addr;
        let scheme = if cfg.http.tls.is_some() {
            "https"
        } else {
            "http"
        };
        Berth {
            base: format!("{scheme}://{addr}"),
            addr,
            dir,
            rt: Some(rt),
            running: Some(running),
        }
    }

    /// Kills the server abruptly (no drain): every task is dropped.
    pub fn kill(mut self) -> tempfile::TempDir {
        self.running.take();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_millis(10));
        }
        let d = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, d)
    }

    /// Graceful shutdown (drains in-flight requests); keeps and returns the storage.
    pub fn shutdown(mut self) -> tempfile::TempDir {
        if let (Some(rt), Some(r)) = (self.rt.take(), self.running.take()) {
            rt.block_on(r.shutdown());
            rt.shutdown_timeout(Duration::from_millis(100));
        }
        let d = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, d)
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        if let (Some(rt), Some(r)) = (self.rt.take(), self.running.take()) {
            rt.block_on(async {
                let _ = tokio::time::timeout(Duration::from_secs(5), r.shutdown()).await;
            });
            rt.shutdown_timeout(Duration::from_millis(100));
        }
    }
}

impl Target for Berth {
    fn base(&self) -> &str {
        &self.base
    }
    fn is_berth(&self) -> bool {
        true
    }
    fn root(&self) -> &Path {
        self.dir.path()
    }
}

/// Debian's distribution 2.8 as a child process.
pub struct Distribution {
    pub base: String,
    pub dir: tempfile::TempDir,
    child: Child,
}

pub const DISTRIBUTION: &str = "/usr/bin/docker-registry";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Distribution {
    /// `None` (after printing SKIP) when the package is not installed.
    pub fn start() -> Option<Distribution> {
        Self::start_on(None)
    }

    /// Like [`Distribution::start`], storing under `root` instead of a fresh directory.
    pub fn start_on(root: Option<&Path>) -> Option<Distribution> {
        if !Path::new(DISTRIBUTION).exists() {
            println!("SKIP: {DISTRIBUTION} not installed (apt install docker-registry)");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let data = root
            .map(Path::to_path_buf)
            .unwrap_or_else(|| dir.path().join("data"));
        let port = free_port();
        let cfg = dir.path().join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                data.display()
            ),
        )
        .expect("write config");
        let child = Command::new(DISTRIBUTION)
            .arg("serve")
            .arg(&cfg)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn docker-registry");
        let base = format!("http://127.0.0.1:{port}");
        let d = Distribution { base, dir, child };
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if agent().get(&format!("{}/v2/", d.base)).call().is_ok() {
                return Some(d);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry did not start");
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Target for Distribution {
    fn base(&self) -> &str {
        &self.base
    }
    fn is_berth(&self) -> bool {
        false
    }
    fn root(&self) -> &Path {
        self.dir.path()
    }
}

/// An HTTP agent that does not follow redirects.
pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(60))
        .build()
}

/// A response reduced to what tests look at.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    /// The first error code of a spec error body.
    pub fn code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

/// Sends a request; any status is a normal result.
pub fn req(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Resp {
    let mut r = agent().request(method, url);
    for (k, v) in headers {
        r = r.set(k, v);
    }
    let res = match body {
        Some(b) => r.send_bytes(b),
        None => r.call(),
    };
    let resp = match res {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let headers = resp
        .headers_names()
        .into_iter()
        .filter_map(|n| resp.header(&n).map(|v| (n.clone(), v.to_string())))
        .collect();
    let mut body = Vec::new();
    let _ = resp.into_reader().read_to_end(&mut body);
    Resp {
        status,
        headers,
        body,
    }
}

/// Resolves a `Location` header against the base URL.
pub fn absolute(base: &str, loc: &str) -> String {
    if loc.starts_with("http://") || loc.starts_with("https://") {
        loc.to_string()
    } else {
        format!("{base}{loc}")
    }
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// Adds a query parameter to a URL that may already have some.
pub fn with_query(url: &str, q: &str) -> String {
    if url.contains('?') {
        format!("{url}&{q}")
    } else {
        format!("{url}?{q}")
    }
}

/// Pushes a blob monolithically (POST then PUT, which both registries accept).
pub fn push_blob(base: &str, repo: &str, data: &[u8], auth: &[(&str, &str)]) -> String {
    let d = sha256(data);
    let r = req(
        "POST",
        &format!("{base}/v2/{repo}/blobs/uploads/"),
        auth,
        None,
    );
    assert_eq!(
        r.status,
        202,
        "start upload: {:?}",
        String::from_utf8_lossy(&r.body)
    );
    let loc = absolute(base, r.header("location").expect("location"));
    let r = req(
        "PUT",
        &with_query(&loc, &format!("digest={d}")),
        &[auth, &[("Content-Type", "application/octet-stream")]].concat(),
        Some(data),
    );
    assert_eq!(
        r.status,
        201,
        "finish upload: {:?}",
        String::from_utf8_lossy(&r.body)
    );
    d
}

/// Pushes config + one layer + an OCI manifest under `tag`; returns the manifest digest.
pub fn push_image(
    base: &str,
    repo: &str,
    tag: &str,
    layer: &[u8],
    auth: &[(&str, &str)],
) -> (String, Vec<u8>) {
    let cfg = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"tag\":\"{tag}\"}}");
    let c = push_blob(base, repo, cfg.as_bytes(), auth);
    let l = push_blob(base, repo, layer, auth);
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": cfg.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": l, "size": layer.len()}]
    });
    let bytes = serde_json::to_vec(&m).expect("json");
    let r = req(
        "PUT",
        &format!("{base}/v2/{repo}/manifests/{tag}"),
        &[
            auth,
            &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        ]
        .concat(),
        Some(&bytes),
    );
    assert_eq!(
        r.status,
        201,
        "manifest put: {}",
        String::from_utf8_lossy(&r.body)
    );
    (sha256(&bytes), bytes)
}

/// Writes an OCI image layout at `dir` with one gzip layer holding `/bin/busybox`.
pub fn busybox_oci_layout(dir: &Path) -> String {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).expect("mkdir");
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("copy busybox");
    let layer = dir.join("layer.tar.gz");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-czf")
        .arg(&layer)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success());
    let layer_bytes = std::fs::read(&layer).expect("read layer");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("gunzip -c {} | sha256sum", layer.display()))
        .output()
        .expect("gunzip");
    let diff_id = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    let oci = dir.join("oci");
    std::fs::create_dir_all(oci.join("blobs/sha256")).expect("mkdir");
    let put = |b: &[u8]| -> String {
        let d = sha256(b);
        std::fs::write(oci.join("blobs/sha256").join(&d[7..]), b).expect("write blob");
        d
    };
    let config = format!(
        "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{{\"Cmd\":[\"/bin/busybox\",\"sh\"]}},\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"sha256:{diff_id}\"]}}}}"
    );
    let c = put(config.as_bytes());
    let l = put(&layer_bytes);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": l, "size": layer_bytes.len()}]
    });
    let mb = serde_json::to_vec(&manifest).expect("json");
    let m = put(&mb);
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": m, "size": mb.len(),
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]});
    std::fs::write(
        oci.join("index.json"),
        serde_json::to_vec(&index).expect("json"),
    )
    .expect("index");
    std::fs::write(oci.join("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}").expect("layout");
    l
}

/// Is a tool on this machine? Prints SKIP when not.
pub fn have(tool: &str) -> bool {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        println!("SKIP: {tool} is not installed");
    }
    ok
}

/// Runs a command, returning (success, stdout+stderr).
pub fn run(cmd: &mut Command) -> (bool, String) {
    let o = cmd.output().expect("spawn");
    let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&o.stderr));
    (o.status.success(), s)
}

/// Every blob file under a registry root (`.../blobs/<alg>/<xx>/<hex>/data`).
pub fn blob_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let base = root.join("docker/registry/v2/blobs/sha256");
    if let Ok(rd) = std::fs::read_dir(&base) {
        for p in rd.flatten() {
            if let Ok(rd2) = std::fs::read_dir(p.path()) {
                for h in rd2.flatten() {
                    let d = h.path().join("data");
                    if d.exists() {
                        out.push(d);
                    }
                }
            }
        }
    }
    out
}
