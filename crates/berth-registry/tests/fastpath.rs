//! The plain-HTTP blob download fast path (`src/fastpath.rs`): blob GET/HEAD answered on
//! the socket with sendfile, keep-alive across it and hyper, and answers identical to the
//! router's. Driven by a raw TCP client so the connection's life is under the test's control;
//! `registry_http_direct_responses_total` tells which side answered.

mod common;

use common::{push_blob, push_image, sha256, Berth};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// An HTTP/1.1 answer.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    /// Lowercased names, in wire order.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn code(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        v["errors"][0]["code"].as_str().unwrap_or("").to_string()
    }
    /// Headers sorted, without `date`: what two servers answering alike share.
    fn comparable(&self) -> (u16, Vec<(String, String)>, &[u8]) {
        let mut h: Vec<_> = self
            .headers
            .iter()
            .filter(|(k, _)| k != "date")
            .cloned()
            .collect();
        h.sort();
        (self.status, h, &self.body)
    }
}

/// A raw HTTP/1.1 client connection.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Conn { s, buf: Vec::new() }
    }

    fn send(&mut self, raw: &str) {
        self.s.write_all(raw.as_bytes()).expect("send");
    }

    fn fill(&mut self) -> bool {
        let mut b = [0u8; 64 << 10];
        let n = self.s.read(&mut b).expect("read");
        self.buf.extend_from_slice(&b[..n]);
        n > 0
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill(), "connection closed mid-answer");
        }
        self.buf.drain(..n).collect()
    }

    fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let l = self.take(i + 2);
                return String::from_utf8(l[..i].to_vec()).expect("utf8 line");
            }
            assert!(self.fill(), "connection closed mid-head");
        }
    }

    /// Reads one answer (`head`: it answers a HEAD, so no body follows).
    fn read(&mut self, head: bool) -> Answer {
        let status_line = self.line();
        assert!(
            status_line.starts_with("HTTP/1.1 "),
            "status line {status_line:?}"
        );
        let status: u16 = status_line[9..12].parse().expect("status");
        let mut headers = Vec::new();
        loop {
            let l = self.line();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').expect("header line");
            headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
        }
        let mut a = Answer {
            status,
            headers,
            body: Vec::new(),
        };
        if head {
            return a;
        }
        if a.header("transfer-encoding") == Some("chunked") {
            loop {
                let size = usize::from_str_radix(&self.line(), 16).expect("chunk size");
                let chunk = self.take(size);
                self.line();
                if size == 0 {
                    break;
                }
                a.body.extend_from_slice(&chunk);
            }
        } else {
            let len: usize = a.header("content-length").map_or(0, |v| v.parse().unwrap());
            a.body = self.take(len);
        }
        a
    }

    fn ask(&mut self, raw: &str) -> Answer {
        self.send(raw);
        self.read(raw.starts_with("HEAD "))
    }

    /// The server closed the connection (after any pending answer was read).
    fn closed(&mut self) -> bool {
        self.buf.is_empty() && !self.fill()
    }
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: registry\r\nUser-Agent: fastpath-test\r\n{extra}\r\n")
}

fn head(path: &str, extra: &str) -> String {
    format!("HEAD {path} HTTP/1.1\r\nHost: registry\r\n{extra}\r\n")
}

/// Blob answers written by the fast path so far.
fn direct(b: &Berth) -> u64 {
    let r = common::req("GET", &format!("{}/metrics", b.base), &[], None);
    let text = String::from_utf8_lossy(&r.body).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("registry_http_direct_responses_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no direct counter in {text}"))
}

/// A connection already handed to hyper (its first request is not a blob download).
fn hyper_conn(b: &Berth, auth: &str) -> Conn {
    let mut c = Conn::open(b.addr);
    let a = c.ask(&get("/v2/", auth));
    assert_eq!(a.status, 200, "{a:?}");
    c
}

/// Deterministic bytes that are not a repeating pattern.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

// Over loopback `auto` sends from a memory map; `always` forces sendfile.
#[test]
fn get_head_and_ranges_on_the_socket() {
    get_head_and_ranges("");
}

#[test]
fn get_head_and_ranges_with_sendfile() {
    get_head_and_ranges("http:\n  addr: 127.0.0.1:0\n  sendfile: always\n");
}

#[test]
fn get_head_and_ranges_from_a_mapping() {
    get_head_and_ranges("http:\n  addr: 127.0.0.1:0\n  sendfile: never\n");
}

fn get_head_and_ranges(config: &str) {
    let b = Berth::start(config);
    let blob = data((3 << 20) + 17, 1);
    let d = push_blob(&b.base, "lib/app", &blob, &[]);
    let path = format!("/v2/lib/app/blobs/{d}");
    let before = direct(&b);
    let mut c = Conn::open(b.addr);

    let a = c.ask(&get(&path, ""));
    assert_eq!(a.status, 200);
    assert!(a.body == blob, "body differs");
    assert_eq!(
        a.header("content-length"),
        Some(blob.len().to_string().as_str())
    );
    assert_eq!(a.header("content-type"), Some("application/octet-stream"));
    assert_eq!(a.header("docker-content-digest"), Some(d.as_str()));
    assert_eq!(a.header("etag"), Some(format!("\"{d}\"").as_str()));
    assert_eq!(a.header("accept-ranges"), Some("bytes"));
    assert_eq!(
        a.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
    assert!(a.header("date").is_some());
    assert!(a.header("content-range").is_none());

    // HEAD: the headers and no body (the next answer on the connection parses).
    let a = c.ask(&head(&path, ""));
    assert_eq!(a.status, 200);
    assert_eq!(
        a.header("content-length"),
        Some(blob.len().to_string().as_str())
    );
    assert_eq!(a.header("docker-content-digest"), Some(d.as_str()));

    let a = c.ask(&get(&path, "Range: bytes=100-1099\r\n"));
    assert_eq!(a.status, 206);
    assert_eq!(
        a.header("content-range"),
        Some(format!("bytes 100-1099/{}", blob.len()).as_str())
    );
    assert_eq!(a.header("content-length"), Some("1000"));
    assert!(a.body == blob[100..1100], "range body differs");

    let a = c.ask(&get(&path, "Range: bytes=-10\r\n"));
    assert_eq!(a.status, 206);
    assert!(a.body == blob[blob.len() - 10..]);

    let a = c.ask(&get(&path, "Range: bytes=3000000-\r\n"));
    assert_eq!(a.status, 206);
    assert!(a.body == blob[3000000..]);

    let a = c.ask(&get(&path, &format!("Range: bytes={}-\r\n", blob.len())));
    assert_eq!(a.status, 416);
    assert_eq!(a.code(), "RANGE_INVALID");
    assert_eq!(
        a.header("content-range"),
        Some(format!("bytes */{}", blob.len()).as_str())
    );

    // Still the same connection, still served here.
    let a = c.ask(&get(&path, ""));
    assert!(a.status == 200 && a.body == blob);
    assert_eq!(direct(&b) - before, 7);

    // The empty blob: 200 with no body.
    let e = push_blob(&b.base, "lib/app", b"", &[]);
    let a = c.ask(&get(&format!("/v2/lib/app/blobs/{e}"), ""));
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-length"), Some("0"));
    assert_eq!(sha256(&a.body), e);
    assert_eq!(direct(&b) - before, 8);
}

#[test]
fn answers_are_the_routers() {
    let b = Berth::start("");
    let blob = data(1 << 20, 2);
    let d = push_blob(&b.base, "same", &blob, &[]);
    push_blob(&b.base, "other", b"another blob", &[]);
    let path = format!("/v2/same/blobs/{d}");
    let requests = [
        get(&path, ""),
        head(&path, ""),
        get(&path, "Range: bytes=5-70000\r\n"),
        get(&path, "Range: bytes=-1\r\n"),
        get(&path, "Range: bytes=2000000-\r\n"),
        head(&path, "Range: bytes=2000000-\r\n"),
        get(&format!("/v2/other/blobs/{d}"), ""),
        head(&format!("/v2/other/blobs/{d}"), ""),
        get(&format!("/v2/nowhere/blobs/{d}"), ""),
    ];
    let mut fast = Conn::open(b.addr);
    let mut slow = hyper_conn(&b, "");
    let before = direct(&b);
    for r in &requests {
        let (f, s) = (fast.ask(r), slow.ask(r));
        assert_eq!(f.comparable(), s.comparable(), "{r:?}");
    }
    assert_eq!(direct(&b) - before, requests.len() as u64);
}

#[test]
fn keep_alive_two_blobs_then_a_manifest() {
    let b = Berth::start("");
    let layer = data(600 << 10, 3);
    let (md, manifest) = push_image(&b.base, "ka/repo", "v1", &layer, &[]);
    let other = data(300 << 10, 4);
    let od = push_blob(&b.base, "ka/repo", &other, &[]);
    let ld = sha256(&layer);
    let before = direct(&b);

    let mut c = Conn::open(b.addr);
    let a = c.ask(&get(&format!("/v2/ka/repo/blobs/{ld}"), ""));
    assert!(a.status == 200 && a.body == layer);
    let a = c.ask(&get(&format!("/v2/ka/repo/blobs/{od}"), ""));
    assert!(a.status == 200 && a.body == other);
    assert_eq!(direct(&b) - before, 2);
    let a = c.ask(&get(
        "/v2/ka/repo/manifests/v1",
        "Accept: application/vnd.oci.image.manifest.v1+json\r\n",
    ));
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body, manifest);
    assert_eq!(a.header("docker-content-digest"), Some(md.as_str()));
    // The connection now belongs to hyper, and blobs still come through it.
    let a = c.ask(&get(&format!("/v2/ka/repo/blobs/{ld}"), ""));
    assert!(a.status == 200 && a.body == layer);
    assert_eq!(direct(&b) - before, 2);

    // Pipelined: three requests in one write, three answers in order.
    let mut c = Conn::open(b.addr);
    c.send(&format!(
        "{}{}{}",
        get(&format!("/v2/ka/repo/blobs/{od}"), ""),
        head(&format!("/v2/ka/repo/blobs/{ld}"), ""),
        get(
            "/v2/ka/repo/manifests/v1",
            "Accept: application/vnd.oci.image.manifest.v1+json\r\n"
        ),
    ));
    let a = c.read(false);
    assert!(a.status == 200 && a.body == other);
    let a = c.read(true);
    assert_eq!(a.status, 200);
    assert_eq!(
        a.header("content-length"),
        Some(layer.len().to_string().as_str())
    );
    let a = c.read(false);
    assert!(a.status == 200 && a.body == manifest, "{a:?}");
    assert_eq!(direct(&b) - before, 4);

    // `Connection: close` is answered in kind, then the server closes.
    let mut c = Conn::open(b.addr);
    let a = c.ask(&get(
        &format!("/v2/ka/repo/blobs/{od}"),
        "Connection: close\r\n",
    ));
    assert!(a.status == 200 && a.body == other);
    assert_eq!(a.header("connection"), Some("close"));
    assert!(c.closed());
}

fn htpasswd_file(dir: &std::path::Path) -> String {
    let p = dir.join("htpasswd");
    let line = format!("alice:{}\n", bcrypt::hash("wonderland", 5).expect("bcrypt"));
    std::fs::write(&p, line).expect("write htpasswd");
    p.display().to_string()
}

#[test]
fn htpasswd_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let ht = htpasswd_file(dir.path());
    let b = Berth::start_in(
        dir,
        &format!("auth:\n  htpasswd:\n    realm: Fast Realm\n    path: {ht}\n"),
    );
    // alice:wonderland, alice:wrong
    let good = "Authorization: Basic YWxpY2U6d29uZGVybGFuZA==\r\n";
    let bad = "Authorization: Basic YWxpY2U6d3Jvbmc=\r\n";
    let blob = data(700 << 10, 5);
    let d = push_blob(
        &b.base,
        "private",
        &blob,
        &[("Authorization", "Basic YWxpY2U6d29uZGVybGFuZA==")],
    );
    let path = format!("/v2/private/blobs/{d}");
    let before = direct(&b);

    let mut c = Conn::open(b.addr);
    let a = c.ask(&get(&path, ""));
    assert_eq!(a.status, 401);
    assert_eq!(
        a.header("www-authenticate"),
        Some("Basic realm=\"Fast Realm\"")
    );
    assert_eq!(a.code(), "UNAUTHORIZED");
    assert_eq!(
        a.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let a = c.ask(&head(&path, bad));
    assert_eq!(a.status, 401);
    assert!(a.header("www-authenticate").is_some());
    let a = c.ask(&get(&path, bad));
    assert_eq!(a.status, 401);
    let a = c.ask(&get(&path, good));
    assert!(a.status == 200 && a.body == blob);
    assert_eq!(direct(&b) - before, 4);

    // The same answers as the router gives.
    let mut slow = hyper_conn(&b, good);
    for r in [
        get(&path, ""),
        get(&path, bad),
        head(&path, ""),
        get(&path, good),
    ] {
        let f = c.ask(&r);
        let s = slow.ask(&r);
        assert_eq!(f.comparable(), s.comparable(), "{r:?}");
    }
}

#[test]
fn blob_of_another_repository_is_unknown() {
    let b = Berth::start("");
    let blob = data(400 << 10, 6);
    let d = push_blob(&b.base, "team/a", &blob, &[]);
    push_blob(&b.base, "team/b", b"b has a blob of its own", &[]);
    let before = direct(&b);
    let mut c = Conn::open(b.addr);
    for repo in ["team/b", "team/c"] {
        let a = c.ask(&get(&format!("/v2/{repo}/blobs/{d}"), ""));
        assert_eq!(a.status, 404, "{repo}");
        assert_eq!(a.code(), "BLOB_UNKNOWN");
        let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(v["errors"][0]["detail"]["digest"], d.as_str());
        let a = c.ask(&head(&format!("/v2/{repo}/blobs/{d}"), ""));
        assert_eq!(a.status, 404);
        assert!(a.body.is_empty());
    }
    let a = c.ask(&get(&format!("/v2/team/a/blobs/{d}"), ""));
    assert!(a.status == 200 && a.body == blob);
    assert_eq!(direct(&b) - before, 5);
}

#[test]
fn unusual_requests_are_hypers() {
    let b = Berth::start("");
    let blob = data(300 << 10, 7);
    let d = push_blob(&b.base, "odd", &blob, &[]);
    let path = format!("/v2/odd/blobs/{d}");
    let before = direct(&b);
    // HTTP/1.0, a bare-LF head, a bad digest, a body: hyper answers each.
    let mut c = Conn::open(b.addr);
    c.send(&format!("GET {path} HTTP/1.0\r\n\r\n"));
    let mut raw = Vec::new();
    c.s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.0 200 OK\r\n"), "{text:.200}");
    assert!(raw.ends_with(&blob));

    let mut c = Conn::open(b.addr);
    let a = c.ask(&format!("GET {path} HTTP/1.1\nHost: x\n\n"));
    assert!(a.status == 200 && a.body == blob);

    let mut c = Conn::open(b.addr);
    let a = c.ask(&get("/v2/odd/blobs/sha256:nothex", ""));
    assert_eq!(a.status, 400);
    assert_eq!(a.code(), "DIGEST_INVALID");

    let mut c = Conn::open(b.addr);
    let a = c.ask(&get(&path, "Content-Length: 2\r\n").replace("\r\n\r\n", "\r\n\r\nxy"));
    assert!(a.status == 200 && a.body == blob);
    assert_eq!(direct(&b) - before, 0);
}

#[test]
fn idle_keep_alive_does_not_hold_shutdown() {
    let b = Berth::start("");
    let blob = data(200 << 10, 8);
    let d = push_blob(&b.base, "idle", &blob, &[]);
    let mut c = Conn::open(b.addr);
    let a = c.ask(&get(&format!("/v2/idle/blobs/{d}"), ""));
    assert!(a.status == 200 && a.body == blob);
    let t = Instant::now();
    let _ = b.shutdown(); // drain timeout is 60 s; an idle connection must not wait for it
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert!(c.closed());
}
