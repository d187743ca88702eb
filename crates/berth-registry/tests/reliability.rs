//! Reliability under concurrency and failure: concurrent pushes of one blob, resuming an
//! interrupted chunked upload (client cut off, and server killed), wrong digests,
//! garbage collection during concurrent pushes, graceful shutdown during an upload.

mod common;
use berth_registry::gc::{collect, GcOptions};
use berth_registry::store::Store;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

fn data(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn count_blob(root: &std::path::Path, digest: &str) -> usize {
    blob_files(root)
        .iter()
        .filter(|p| p.to_string_lossy().contains(&digest[7..]))
        .count()
}

#[test]
fn sixteen_concurrent_pushes_of_the_same_blob() {
    let s = Berth::start("");
    let blob = Arc::new(data(4 << 20, 7));
    let d = sha256(&blob);
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let (b, blob) = (s.base.clone(), blob.clone());
            std::thread::spawn(move || {
                let repo = if i % 2 == 0 {
                    "same/repo".to_string()
                } else {
                    format!("repo{i}")
                };
                // Chunked: POST, two PATCHes, PUT.
                let r = req("POST", &format!("{b}/v2/{repo}/blobs/uploads/"), &[], None);
                assert_eq!(r.status, 202);
                let loc = absolute(&b, r.header("location").expect("loc"));
                let half = blob.len() / 2;
                let r = req(
                    "PATCH",
                    &loc,
                    &[("Content-Range", &format!("0-{}", half - 1))],
                    Some(&blob[..half]),
                );
                assert_eq!(r.status, 202);
                let loc = absolute(&b, r.header("location").expect("loc"));
                let r = req(
                    "PATCH",
                    &loc,
                    &[("Content-Range", &format!("{half}-{}", blob.len() - 1))],
                    Some(&blob[half..]),
                );
                assert_eq!(r.status, 202);
                let loc = absolute(&b, r.header("location").expect("loc"));
                let r = req(
                    "PUT",
                    &with_query(&loc, &format!("digest={}", sha256(&blob))),
                    &[],
                    None,
                );
                assert_eq!(
                    r.status,
                    201,
                    "push {i}: {}",
                    String::from_utf8_lossy(&r.body)
                );
                repo
            })
        })
        .collect();
    let repos: Vec<String> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    assert_eq!(count_blob(&s.data(), &d), 1, "exactly one stored copy");
    for repo in repos {
        let r = req("GET", &format!("{}/v2/{repo}/blobs/{d}", s.base), &[], None);
        assert_eq!(r.status, 200);
        assert_eq!(sha256(&r.body), d);
    }
    // No upload leftovers.
    let leftovers = std::fs::read_dir(
        s.data()
            .join("docker/registry/v2/repositories/same/repo/_uploads"),
    )
    .map(|r| r.count())
    .unwrap_or(0);
    assert_eq!(leftovers, 0);
}

/// Sends a PATCH whose body is cut off after `send` of `declared` bytes, then drops the socket.
fn cut_off_patch(addr: &str, path: &str, body: &[u8], declared: usize) {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "PATCH {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\nContent-Length: {declared}\r\n\r\n"
    )
    .expect("head");
    s.write_all(body).expect("body");
    s.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(300));
    drop(s);
    std::thread::sleep(Duration::from_millis(300));
}

fn range_end(r: &Resp) -> usize {
    let v = r.header("range").expect("range");
    let end: usize = v
        .split('-')
        .nth(1)
        .and_then(|x| x.parse().ok())
        .expect("range end");
    end + 1
}

#[test]
fn interrupted_chunked_upload_resumes() {
    let s = Berth::start("");
    let blob = data(3 << 20, 11);
    let d = sha256(&blob);
    let r = req(
        "POST",
        &format!("{}/v2/resume/me/blobs/uploads/", s.base),
        &[],
        None,
    );
    let loc = r.header("location").expect("loc").to_string();
    // The client dies after sending 1 MiB of a declared 3 MiB chunk.
    cut_off_patch(&s.host(), &loc, &blob[..1 << 20], blob.len());
    let st = req("GET", &absolute(&s.base, &loc), &[], None);
    assert_eq!(st.status, 204);
    let have = range_end(&st);
    assert!(
        have > 0 && have <= 1 << 20,
        "server kept what arrived: {have}"
    );
    assert_eq!(
        count_blob(&s.data(), &d),
        0,
        "no blob from a partial upload"
    );
    // Resume from the reported offset.
    let r = req(
        "PATCH",
        &absolute(&s.base, &loc),
        &[("Content-Range", &format!("{have}-{}", blob.len() - 1))],
        Some(&blob[have..]),
    );
    assert_eq!(r.status, 202);
    let r = req(
        "PUT",
        &with_query(&absolute(&s.base, &loc), &format!("digest={d}")),
        &[],
        None,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = req(
        "GET",
        &format!("{}/v2/resume/me/blobs/{d}", s.base),
        &[],
        None,
    );
    assert_eq!(sha256(&r.body), d);
}

#[test]
fn killed_server_leaves_no_corrupt_blob_and_upload_resumes_after_restart() {
    let s = Berth::start("");
    let blob = data(2 << 20, 5);
    let d = sha256(&blob);
    let r = req(
        "POST",
        &format!("{}/v2/crash/blobs/uploads/", s.base),
        &[],
        None,
    );
    let loc = r.header("location").expect("loc").to_string();
    let r = req(
        "PATCH",
        &absolute(&s.base, &loc),
        &[("Content-Range", "0-1048575")],
        Some(&blob[..1 << 20]),
    );
    assert_eq!(r.status, 202);
    // Start the final PUT but kill the server while its body is in flight.
    let mut sock = TcpStream::connect(s.host()).expect("connect");
    write!(
        sock,
        "PUT {loc}?digest={d} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        blob.len() - (1 << 20)
    )
    .expect("head");
    sock.write_all(&blob[1 << 20..(1 << 20) + 1000])
        .expect("part");
    std::thread::sleep(Duration::from_millis(200));
    let dir = s.kill();
    drop(sock);
    let root = dir.path().join("data");
    assert_eq!(
        count_blob(&root, &d),
        0,
        "nothing half-written is visible as a blob"
    );
    // Restart on the same storage; the upload's hash state is rebuilt from its data.
    let s = Berth::start_in(dir, "");
    let st = req("GET", &absolute(&s.base, &loc), &[], None);
    assert_eq!(st.status, 204);
    let have = range_end(&st);
    assert!(have >= 1 << 20, "{have}");
    let r = req(
        "PATCH",
        &absolute(&s.base, &loc),
        &[("Content-Range", &format!("{have}-{}", blob.len() - 1))],
        Some(&blob[have..]),
    );
    assert_eq!(r.status, 202);
    let r = req(
        "PUT",
        &with_query(&absolute(&s.base, &loc), &format!("digest={d}")),
        &[],
        None,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(count_blob(&s.data(), &d), 1);
}

#[test]
fn wrong_digest_is_rejected_and_nothing_is_stored() {
    let s = Berth::start("");
    let before = blob_files(&s.data()).len();
    let body = data(100_000, 3);
    let claimed = sha256(b"a different blob");
    let r = req(
        "POST",
        &format!("{}/v2/w/blobs/uploads/?digest={claimed}", s.base),
        &[],
        Some(&body),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "DIGEST_INVALID");
    assert_eq!(blob_files(&s.data()).len(), before);
    assert_eq!(count_blob(&s.data(), &sha256(&body)), 0);
    let uploads = std::fs::read_dir(s.data().join("docker/registry/v2/repositories/w/_uploads"))
        .map(|r| r.count())
        .unwrap_or(0);
    assert_eq!(uploads, 0, "the failed upload is cleaned up");
    // A digest that is not even well-formed.
    let r = req(
        "POST",
        &format!("{}/v2/w/blobs/uploads/?digest=sha256:xyz", s.base),
        &[],
        Some(b"x"),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "DIGEST_INVALID");
}

/// Pushes an image without panicking; returns the manifest digest and blob digests if
/// the manifest PUT succeeded.
fn try_push(base: &str, repo: &str, tag: &str, seed: u32) -> Option<(String, Vec<String>)> {
    let cfg = format!("{{\"seed\":{seed}}}");
    let layer = data(64 * 1024, seed);
    let c = push_blob(base, repo, cfg.as_bytes(), &[]);
    let l = push_blob(base, repo, &layer, &[]);
    let shared = push_blob(base, repo, b"shared base layer", &[]);
    let m = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": cfg.len()},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": shared, "size": 17},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l, "size": layer.len()}]
    });
    let bytes = serde_json::to_vec(&m).expect("json");
    let r = req(
        "PUT",
        &format!("{base}/v2/{repo}/manifests/{tag}"),
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        Some(&bytes),
    );
    match r.status {
        201 => Some((sha256(&bytes), vec![c, l, shared])),
        400 => {
            assert_eq!(
                r.code(),
                "MANIFEST_BLOB_UNKNOWN",
                "only a clean refusal is allowed"
            );
            None
        }
        s => panic!("unexpected status {s}"),
    }
}

fn age(path: &std::path::Path, secs: u64) {
    let f = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open");
    f.set_modified(SystemTime::now() - Duration::from_secs(secs))
        .expect("set mtime");
}

fn gc_during_pushes(grace: Duration) -> (usize, usize) {
    let s = Berth::start("");
    // Old garbage that GC must remove.
    let orphan = push_blob(&s.base, "old/junk", b"orphaned long ago", &[]);
    let data_root = s.data();
    age(
        &data_root.join(format!(
            "docker/registry/v2/blobs/sha256/{}/{}/data",
            &orphan[7..9],
            &orphan[7..]
        )),
        7200,
    );
    age(
        &data_root.join(format!(
            "docker/registry/v2/repositories/old/junk/_layers/sha256/{}/link",
            &orphan[7..]
        )),
        7200,
    );
    let store = Store::new(Arc::new(berth_registry::driver::FilesystemDriver::new(
        &data_root,
    )));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gc_runs = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            let opts = GcOptions {
                grace,
                ..Default::default()
            };
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                collect(&store, &opts).expect("gc");
                n += 1;
            }
            n
        })
    };
    let pushers: Vec<_> = (0..20u32)
        .map(|i| {
            let b = s.base.clone();
            std::thread::spawn(move || {
                let mut done = Vec::new();
                for round in 0..3u32 {
                    if let Some(p) = try_push(
                        &b,
                        &format!("gc/app{i}"),
                        &format!("r{round}"),
                        i * 10 + round,
                    ) {
                        done.push((format!("gc/app{i}"), p));
                    }
                }
                done
            })
        })
        .collect();
    let finished: Vec<_> = pushers
        .into_iter()
        .flat_map(|h| h.join().expect("pusher"))
        .collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let runs = gc_runs.join().expect("gc thread");
    assert!(runs > 0);
    // One more collection after everything settled.
    collect(
        &store,
        &GcOptions {
            grace,
            ..Default::default()
        },
    )
    .expect("gc");
    for (repo, (m, blobs)) in &finished {
        let r = req(
            "GET",
            &format!("{}/v2/{repo}/manifests/{m}", s.base),
            &[],
            None,
        );
        assert_eq!(r.status, 200, "manifest of a finished push survives GC");
        for b in blobs {
            let r = req("GET", &format!("{}/v2/{repo}/blobs/{b}", s.base), &[], None);
            assert_eq!(r.status, 200, "blob {b} of a finished push survives GC");
            assert_eq!(&sha256(&r.body), b);
        }
    }
    assert_eq!(
        count_blob(&data_root, &orphan),
        0,
        "old garbage is collected"
    );
    (finished.len(), runs)
}

#[test]
fn gc_during_twenty_concurrent_pushes_deletes_nothing_referenced() {
    // Default grace period: every push finishes.
    let (finished, runs) = gc_during_pushes(berth_registry::gc::DEFAULT_GRACE);
    assert_eq!(
        finished, 60,
        "all pushes succeed while GC runs ({runs} GC runs)"
    );
    // No grace at all (worst case): pushes may be refused cleanly, but nothing a
    // finished push references is ever deleted.
    let (finished, runs) = gc_during_pushes(Duration::ZERO);
    println!("grace 0: {finished}/60 pushes finished during {runs} GC runs");
}

#[test]
fn graceful_shutdown_finishes_an_in_flight_upload() {
    let s = Berth::start("");
    let blob = data(1 << 20, 9);
    let d = sha256(&blob);
    let r = req(
        "POST",
        &format!("{}/v2/drain/blobs/uploads/", s.base),
        &[],
        None,
    );
    let loc = r.header("location").expect("loc").to_string();
    let mut sock = TcpStream::connect(s.host()).expect("connect");
    write!(
        sock,
        "PUT {loc}?digest={d} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        blob.len()
    )
    .expect("head");
    sock.write_all(&blob[..1000]).expect("part");
    std::thread::sleep(Duration::from_millis(100));
    let stopper = std::thread::spawn(move || s.shutdown());
    std::thread::sleep(Duration::from_millis(200));
    sock.write_all(&blob[1000..]).expect("rest");
    let mut resp = String::new();
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    if let Ok(n) = sock.read(&mut buf) {
        resp.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let dir = stopper.join().expect("stopper");
    assert!(
        resp.starts_with("HTTP/1.1 201"),
        "in-flight upload completes during shutdown: {resp:?}"
    );
    assert_eq!(count_blob(&dir.path().join("data"), &d), 1);
}

#[test]
fn online_gc_runs_in_the_background() {
    let s = Berth::start(
        "  maintenance:\n    gc:\n      enabled: true\n      interval: 200ms\n      graceperiod: 1m\n",
    );
    let (m, _) = push_image(&s.base, "keep/me", "v1", b"kept layer", &[]);
    let orphan = push_blob(&s.base, "old/junk", b"orphaned long ago", &[]);
    let root = s.data();
    age(
        &root.join(format!(
            "docker/registry/v2/blobs/sha256/{}/{}/data",
            &orphan[7..9],
            &orphan[7..]
        )),
        7200,
    );
    age(
        &root.join(format!(
            "docker/registry/v2/repositories/old/junk/_layers/sha256/{}/link",
            &orphan[7..]
        )),
        7200,
    );
    let t0 = std::time::Instant::now();
    while count_blob(&root, &orphan) > 0 && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        count_blob(&root, &orphan),
        0,
        "background GC removed the old orphan"
    );
    let r = req(
        "GET",
        &format!("{}/v2/keep/me/manifests/{m}", s.base),
        &[],
        None,
    );
    assert_eq!(r.status, 200, "tagged image kept");
}
