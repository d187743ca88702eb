//! Blob HEAD/GET (with `Range`) and DELETE.
//!
//! GET streams the file from a blocking reader thread in 1 MiB chunks through a small
//! channel, so disk reads and socket writes overlap and no async worker blocks.

use super::{blocking, empty, set_header, Shared};
use crate::errors::{ApiError, Code};
use axum::body::Body;
use axum::response::Response;
use berth_oci::Digest;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use std::io::Read;
use std::sync::atomic::Ordering::Relaxed;

const CHUNK: u64 = 1 << 20;
/// Blobs at least this large are served from a memory map.
const MAP_MIN: u64 = 256 << 10;
/// Frame size when streaming a mapping.
const MAP_CHUNK: usize = 4 << 20;

pub fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    s.parse::<Digest>().map_err(|e| {
        ApiError::new(Code::DigestInvalid, format!("invalid digest {s:?}: {e}"))
            .detail(serde_json::json!({"digest": s}))
    })
}

/// A `Range` header that cannot be served.
#[derive(Debug, PartialEq, Eq)]
pub struct Unsatisfiable;

/// A single `bytes=` range resolved against `size`: `Ok(None)` means the whole file.
pub fn parse_range(h: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, Unsatisfiable> {
    let bad = |_| Unsatisfiable;
    let none = || Unsatisfiable;
    let Some(h) = h else { return Ok(None) };
    let spec = h.trim().strip_prefix("bytes=").ok_or_else(none)?;
    if spec.contains(',') {
        return Err(Unsatisfiable);
    }
    let (a, b) = spec.split_once('-').ok_or_else(none)?;
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().map_err(bad)?;
        if n == 0 {
            return Err(Unsatisfiable);
        }
        (
            size.saturating_sub(n),
            size.checked_sub(1).ok_or_else(none)?,
        )
    } else {
        let s: u64 = a.parse().map_err(bad)?;
        let e: u64 = if b.is_empty() {
            size.checked_sub(1).ok_or_else(none)?
        } else {
            b.parse::<u64>().map_err(bad)?.min(size.saturating_sub(1))
        };
        (s, e)
    };
    if start > end || start >= size {
        return Err(Unsatisfiable);
    }
    Ok(Some((start, end)))
}

/// A body streaming `len` bytes of a stored file from `offset`.
pub fn file_body(st: &Shared, path: String, offset: u64, len: u64) -> Body {
    if len >= MAP_MIN {
        // Mapping is two quick syscalls; the frames are slices of it (sent with sendfile
        // on plain TCP), so no thread or copy is needed per request.
        let mapped = st
            .store
            .driver()
            .local_path(&path)
            .and_then(|p| std::fs::File::open(p).ok())
            .and_then(|f| super::mapped::map(f, offset, len));
        if let Some(all) = mapped {
            let st2 = st.clone();
            let chunks = (0..all.len()).step_by(MAP_CHUNK).map(move |at| {
                let part = all.slice(at..(at + MAP_CHUNK).min(all.len()));
                st2.metrics.bytes_sent.fetch_add(part.len() as u64, Relaxed);
                Ok::<_, std::io::Error>(part)
            });
            return Body::from_stream(futures::stream::iter(chunks));
        }
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let driver = st.store.driver().clone();
    let st2 = st.clone();
    tokio::task::spawn_blocking(move || {
        let mut r = match driver.reader(&path, offset) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                return;
            }
        };
        let mut left = len;
        while left > 0 {
            let n = left.min(CHUNK);
            let mut buf = Vec::with_capacity(n as usize);
            match (&mut r).take(n).read_to_end(&mut buf) {
                Ok(0) => {
                    let _ = tx.blocking_send(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "blob shorter than expected",
                    )));
                    return;
                }
                Ok(got) => {
                    left -= got as u64;
                    st2.metrics.bytes_sent.fetch_add(got as u64, Relaxed);
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Body::from_stream(stream)
}

/// What a blob GET or HEAD answers, worked out before any byte is sent: the status, the
/// byte range of the blob file to send and the response headers (without the server-wide
/// ones). Shared by the router's handler and the plain-TCP fast path
/// (`fastpath.rs`), so both answer alike.
pub struct BlobReply {
    pub status: StatusCode,
    /// Driver path of the blob's data.
    pub path: String,
    pub start: u64,
    pub len: u64,
    pub headers: HeaderMap,
}

/// Resolves a blob GET/HEAD of `name`: the blob must be linked into that repository
/// (else `BLOB_UNKNOWN`), and `range` (the `Range` header) must be satisfiable. Does
/// store I/O: call it on a blocking thread.
pub fn resolve(
    st: &Shared,
    name: &str,
    d: &Digest,
    range: Option<&str>,
    head: bool,
) -> Result<BlobReply, ApiError> {
    let size = if head {
        st.store.blob_size_touch(name, d)
    } else {
        st.store.blob_size(name, d)
    }
    .map_err(ApiError::from)?
    .ok_or_else(|| {
        ApiError::new(Code::BlobUnknown, format!("blob unknown to registry: {d}"))
            .detail(serde_json::json!({"digest": d.to_string()}))
    })?;
    let range = parse_range(range, size).map_err(|_| {
        ApiError::new(
            Code::RangeInvalid,
            format!("range not satisfiable for a blob of {size} bytes"),
        )
        .header(http::header::CONTENT_RANGE, &format!("bytes */{size}"))
    })?;
    let (status, start, len) = match range {
        Some((s, e)) => (StatusCode::PARTIAL_CONTENT, s, e - s + 1),
        None => (StatusCode::OK, 0, size),
    };
    let mut h = HeaderMap::new();
    set_header(&mut h, http::header::CONTENT_LENGTH, &len.to_string());
    set_header(
        &mut h,
        http::header::CONTENT_TYPE,
        "application/octet-stream",
    );
    set_header(&mut h, "docker-content-digest", &d.to_string());
    set_header(&mut h, http::header::ACCEPT_RANGES, "bytes");
    set_header(&mut h, http::header::ETAG, &format!("\"{d}\""));
    set_header(&mut h, http::header::CACHE_CONTROL, "max-age=31536000");
    if range.is_some() {
        set_header(
            &mut h,
            http::header::CONTENT_RANGE,
            &format!("bytes {start}-{}/{size}", start + len - 1),
        );
    }
    Ok(BlobReply {
        status,
        path: st.store.blob_path(d),
        start,
        len,
        headers: h,
    })
}

pub async fn get(
    st: &Shared,
    name: &str,
    d: &str,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response, ApiError> {
    let d = parse_digest(d)?;
    let range = headers
        .get(http::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (st2, n2) = (st.clone(), name.to_string());
    let reply = blocking(move || resolve(&st2, &n2, &d, range.as_deref(), head)).await?;
    let mut r = if head || reply.len == 0 {
        empty(reply.status)
    } else {
        let mut r = Response::new(file_body(st, reply.path, reply.start, reply.len));
        *r.status_mut() = reply.status;
        r
    };
    *r.headers_mut() = reply.headers;
    Ok(r)
}

pub async fn delete(st: &Shared, name: &str, d: &str) -> Result<Response, ApiError> {
    let d = parse_digest(d)?;
    if !st.delete_enabled {
        return Err(ApiError::new(
            Code::Unsupported,
            "deletes are disabled (storage.delete.enabled)",
        ));
    }
    let (store, n2, d2) = (st.store.clone(), name.to_string(), d.clone());
    blocking(move || store.delete_blob(&n2, &d2).map_err(ApiError::from)).await?;
    let mut r = empty(StatusCode::ACCEPTED);
    set_header(r.headers_mut(), "docker-content-digest", &d.to_string());
    set_header(r.headers_mut(), http::header::CONTENT_LENGTH, "0");
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-4"), 10), Ok(Some((0, 4))));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Ok(Some((5, 9))));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Ok(Some((7, 9))));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), Ok(Some((8, 9))));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("bytes=5-2"), 10), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("items=0-1"), 10), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), Err(Unsatisfiable));
    }
}
