//! Blob downloads on plain-HTTP connections, answered on the raw socket: `sendfile(2)` to
//! remote clients, one copy from a memory map to clients on this host.
//!
//! Why this is hand-written: hyper has no sendfile, and no say in how body bytes meet the
//! socket. Every body byte it sends passes through a `Bytes` that it writes with
//! `write`/`writev` in frames of its choosing (the mapping trick of [`crate::sendfile`] recovers some of it, at the price
//! of a lookup per frame and hyper's per-frame bookkeeping). Blob GETs are nearly all of a
//! registry's bytes, so for them this module owns the connection instead: it reads the
//! request head itself, and when it is a plain `GET`/`HEAD /v2/<name>/blobs/<digest>` (no
//! body, no upgrade, nothing unusual) it answers it on the socket: the router's
//! authorization ([`api::authorize`] with [`api::scopes`]), the router's blob lookup and
//! headers ([`blobs::resolve`]: repository link check, `Range` → `206`), errors in the
//! spec's JSON form ([`ApiError`]), then the bytes, driven by tokio's write readiness.
//! The connection stays here while the client keeps asking for blobs
//! (HTTP/1.1 keep-alive, pipelining included); the first request it does not take (any
//! other endpoint, a body, HTTP/1.0, an odd header, a blob file it cannot open) is handed
//! to hyper together with the bytes already read, and hyper serves the rest of the
//! connection's life. TLS connections never come here.
//!
//! How the bytes go out ([`Sendfile`], `http.sendfile`): by default `sendfile` from the
//! blob file, except to a client on this host (loopback, or its own address), which gets
//! them `send` from a memory map of the blob in 1 MiB chunks. sendfile to a local reader
//! is a loss, measured on loopback with curl (2 cores, 512 MB blob, CPU per GB moved):
//! sendfile 1.6-1.9 GB/s, sender 0.56 s, curl 0.32 s; mapped copy 3.4-3.9 GB/s, sender
//! 0.27 s, curl 0.16 s; distribution 2.8 (4 MiB reads, 32 KiB writes) 1.5-2.1 GB/s, 0.49 s,
//! 0.20 s. On loopback the sender also runs the receiving socket's protocol work, page
//! references cost more per byte there than a copy of the same bytes, and the receiver
//! then copies from cold page cache instead of from the cache-hot buffer the sender's copy
//! just wrote. For a client across a network no copy on this host is needed at all, which
//! is what sendfile is for.
//!
//! What stays with hyper, on purpose: everything that is not a blob download, since those
//! are small or have bodies, and hyper's parser is the reference. This module's parser is
//! strict and only says "mine" or "not mine": anything it does not fully understand is
//! replayed to hyper untouched, so a malformed request gets hyper's answer.

use crate::api::{self, blobs, mapped, route::Route, AppState, Shared};
use crate::config::Sendfile;
use crate::errors::ApiError;
use axum::response::IntoResponse;
use bytes::{Buf, Bytes, BytesMut};
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use std::fs::File;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Request heads longer than this go to hyper (which applies its own limits).
const MAX_HEAD: usize = 16 << 10;
/// Bytes per `sendfile` call: big enough that syscalls are few, small enough that one
/// connection does not hold a runtime worker for long.
const SENDFILE_CHUNK: usize = 4 << 20;
/// Bytes per `send` from a memory map. Measured on loopback (512 MB blob, curl, 2 cores):
/// 1 MiB with `MSG_MORE` 3.4-3.9 GB/s, 4 MiB 2.8-3.4, 256 KiB 2.1-2.4, 32 KiB without
/// `MSG_MORE` 2.6-3.1 (and 32-64 KiB with it ~1.3: corking whole small chunks stalls).
const COPY_CHUNK: usize = 1 << 20;

/// Serves one plain-TCP connection: blob downloads here, the rest (from the first request
/// that is not one) by `hand_off`, which gets the socket and the bytes already read from
/// it. Returns when the connection is done; stops between requests once `stop` is set.
pub(crate) async fn serve<F, Fut>(
    mut stream: TcpStream,
    peer: SocketAddr,
    st: Shared,
    policy: Sendfile,
    mut stop: watch::Receiver<bool>,
    hand_off: F,
) where
    F: FnOnce(TcpStream, Bytes) -> Fut,
    Fut: Future<Output = ()>,
{
    let by_sendfile = match policy {
        Sendfile::Always => true,
        Sendfile::Never => false,
        Sendfile::Auto => !same_host(&stream, peer),
    };
    let mut buf = BytesMut::with_capacity(8 << 10);
    loop {
        let n = loop {
            if let Some(n) = head_end(&buf) {
                break Some(n);
            }
            if buf.len() >= MAX_HEAD {
                break None;
            }
            buf.reserve(4 << 10);
            let read = if buf.is_empty() {
                // Idle between requests: this is where a graceful shutdown closes.
                tokio::select! {
                    biased;
                    _ = stopped(&mut stop) => return,
                    r = stream.read_buf(&mut buf) => r,
                }
            } else {
                stream.read_buf(&mut buf).await
            };
            match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        let Some(req) = n.and_then(|n| take(&st, &buf[..n]).map(|r| (n, r))) else {
            return hand_off(stream, buf.freeze()).await;
        };
        let (n, req) = req;
        match answer(&stream, peer, &st, &req, by_sendfile).await {
            Outcome::Done => {}
            Outcome::Closed => return,
            Outcome::NotMine => return hand_off(stream, buf.freeze()).await,
        }
        buf.advance(n);
        if req.close {
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
            return;
        }
    }
}

/// Is the client on this host (loopback, or connected to its own address)?
fn same_host(stream: &TcpStream, peer: SocketAddr) -> bool {
    let ip = peer.ip().to_canonical();
    ip.is_loopback()
        || stream
            .local_addr()
            .is_ok_and(|l| l.ip().to_canonical() == ip)
}

/// Resolves when the server is stopping.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// The length of the request head at the start of `buf` (through its empty line), once it
/// is all there. A bare-LF end counts too; [`take`] then refuses the request.
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = buf[from..].iter().position(|&b| b == b'\n') {
        let i = from + i;
        match buf.get(i + 1) {
            Some(b'\n') => return Some(i + 2),
            Some(b'\r') if buf.get(i + 2) == Some(&b'\n') => return Some(i + 3),
            Some(b'\r') if i + 2 == buf.len() => return None,
            None => return None,
            _ => from = i + 1,
        }
    }
    None
}

/// A blob request this module answers.
#[derive(Debug)]
struct BlobRequest {
    head: bool,
    /// The request target's path (for the log).
    path: String,
    route: Route,
    name: String,
    digest: berth_oci::Digest,
    headers: HeaderMap,
    /// The client asked to close after this response.
    close: bool,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parses a complete request head and decides whether it is a blob download this module
/// serves; `None` leaves it to hyper.
fn take(st: &AppState, head: &[u8]) -> Option<BlobRequest> {
    let text = std::str::from_utf8(head).ok()?.strip_suffix("\r\n\r\n")?;
    let mut lines = text.split("\r\n");
    let mut parts = lines.next()?.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || version != "HTTP/1.1" {
        return None;
    }
    let head = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return None,
    };
    if !target.starts_with('/') || !target.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return None;
    }
    let path = match target.split_once('?') {
        Some((p, _)) => p,
        None => target,
    };
    if path.contains('#') {
        return None;
    }
    let mut headers = HeaderMap::new();
    for line in lines {
        let (k, v) = line.split_once(':')?;
        if k.is_empty() || !k.bytes().all(is_tchar) {
            return None;
        }
        let v = v.trim_matches([' ', '\t']);
        if !v.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)) {
            return None;
        }
        headers.append(
            HeaderName::from_bytes(k.as_bytes()).ok()?,
            HeaderValue::from_str(v).ok()?,
        );
    }
    // Anything about bodies, upgrades or expectations is hyper's.
    if [header::TRANSFER_ENCODING, header::EXPECT, header::UPGRADE]
        .iter()
        .any(|h| headers.contains_key(h))
    {
        return None;
    }
    for h in [header::CONTENT_LENGTH, header::RANGE, header::AUTHORIZATION] {
        if headers.get_all(&h).iter().count() > 1 {
            return None;
        }
    }
    if let Some(cl) = headers.get(header::CONTENT_LENGTH) {
        if cl.as_bytes() != b"0" {
            return None;
        }
    }
    let mut close = false;
    for v in headers.get_all(header::CONNECTION) {
        for token in v.to_str().ok()?.split(',') {
            match token.trim().to_ascii_lowercase().as_str() {
                "close" => close = true,
                "keep-alive" => {}
                _ => return None,
            }
        }
    }
    if st.token_server.as_ref().is_some_and(|ts| ts.path == path) {
        return None;
    }
    let route = api::route::parse(path)?;
    let Route::Blob(name, digest) = &route else {
        return None;
    };
    if !crate::names::valid_name(name) {
        return None;
    }
    let digest = blobs::parse_digest(digest).ok()?;
    Some(BlobRequest {
        head,
        path: path.to_string(),
        name: name.clone(),
        route,
        digest,
        headers,
        close,
    })
}

enum Outcome {
    /// Answered; the connection can carry on.
    Done,
    /// The connection broke (or must close).
    Closed,
    /// Nothing was written: hyper should answer this request.
    NotMine,
}

/// The body of a blob answer.
enum Payload {
    /// HEAD, or an empty blob.
    Empty,
    /// Sent with `sendfile`.
    File(File),
    /// Sent from a memory map of the blob (see [`Sendfile::Auto`]).
    Mapped(Bytes),
    /// The blob file could not be opened here: the router answers.
    Unavailable,
}

/// Answers a blob request: authorization, lookup, headers, then the bytes.
async fn answer(
    stream: &TcpStream,
    peer: SocketAddr,
    st: &Shared,
    req: &BlobRequest,
    by_sendfile: bool,
) -> Outcome {
    let start = Instant::now();
    let method = if req.head { Method::HEAD } else { Method::GET };
    let looked_up = async {
        api::authorize(st, &req.headers, api::scopes(&req.route, &method)).await?;
        let range = req
            .headers
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let (st2, name, d, head) = (st.clone(), req.name.clone(), req.digest.clone(), req.head);
        api::blocking(move || {
            let reply = blobs::resolve(&st2, &name, &d, range.as_deref(), head)?;
            if head || reply.len == 0 {
                return Ok((reply, Payload::Empty));
            }
            // A file that cannot be opened here (another driver, GC racing) is left to
            // the router, which reports it its own way.
            let file = st2
                .store
                .driver()
                .local_path(&reply.path)
                .and_then(|p| File::open(p).ok())
                .filter(|f| {
                    f.metadata()
                        .is_ok_and(|m| m.len() >= reply.start + reply.len)
                });
            let payload = match file {
                None => Payload::Unavailable,
                Some(f) if by_sendfile => Payload::File(f),
                Some(f) => match f
                    .try_clone()
                    .ok()
                    .and_then(|m| mapped::map(m, reply.start, reply.len))
                {
                    Some(b) => Payload::Mapped(b),
                    None => Payload::File(f),
                },
            };
            Ok((reply, payload))
        })
        .await
    };
    st.metrics.in_flight.fetch_add(1, Relaxed);
    let looked_up = looked_up.await;
    st.metrics.in_flight.fetch_sub(1, Relaxed);
    if let Ok((_, Payload::Unavailable)) = looked_up {
        return Outcome::NotMine;
    }
    st.metrics.direct_responses.fetch_add(1, Relaxed);
    let (status, sent) = match looked_up {
        Ok((reply, payload)) => {
            let head = head_bytes(st, reply.status, reply.headers, req.close);
            let sent = match payload {
                Payload::File(f) => match send_all(stream, &head, true).await {
                    Ok(()) => send_file(stream, &f, reply.start, reply.len, st).await,
                    Err(e) => Err(e),
                },
                Payload::Mapped(b) => match send_all(stream, &head, true).await {
                    Ok(()) => send_mapped(stream, &b, st).await,
                    Err(e) => Err(e),
                },
                Payload::Empty | Payload::Unavailable => send_all(stream, &head, false).await,
            };
            (reply.status, sent)
        }
        Err(e) => {
            let (status, bytes) = error_bytes(st, e, req.head, req.close).await;
            (status, send_all(stream, &bytes, false).await)
        }
    };
    let agent = req
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    api::finished(
        st,
        Some(peer),
        method.as_str(),
        &req.path,
        status.as_u16(),
        start,
        agent,
    );
    match sent {
        Ok(()) => Outcome::Done,
        Err(e) => {
            tracing::debug!(peer = %peer, error = %e, "blob download ended early");
            Outcome::Closed
        }
    }
}

/// A response head: `headers`, then the server-wide ones (as the router's common layer
/// adds them), `date`, and `connection: close` when the client asked for it.
fn head_bytes(st: &AppState, status: StatusCode, mut h: HeaderMap, close: bool) -> Vec<u8> {
    for (k, v) in &st.headers {
        h.insert(k.clone(), v.clone());
    }
    if close {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if !h.contains_key(header::DATE) {
        let now = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT");
        if let Ok(v) = HeaderValue::from_str(&now.to_string()) {
            h.insert(header::DATE, v);
        }
    }
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (k, v) in &h {
        out.extend_from_slice(k.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A whole error response (the spec's JSON body; none for HEAD, as hyper does).
async fn error_bytes(st: &AppState, e: ApiError, head: bool, close: bool) -> (StatusCode, Vec<u8>) {
    let (parts, body) = e.into_response().into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let mut h = parts.headers;
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    let mut out = head_bytes(st, parts.status, h, close);
    if !head {
        out.extend_from_slice(&body);
    }
    (parts.status, out)
}

/// Writes all of `data`; `more` tells the kernel a body follows (it goes out with it).
async fn send_all(stream: &TcpStream, mut data: &[u8], more: bool) -> io::Result<()> {
    let flags = libc::MSG_NOSIGNAL | if more { libc::MSG_MORE } else { 0 };
    while !data.is_empty() {
        let n = stream
            .async_io(Interest::WRITABLE, || {
                // SAFETY: sending from a live slice on a socket we hold.
                let n = unsafe {
                    libc::send(stream.as_raw_fd(), data.as_ptr().cast(), data.len(), flags)
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            })
            .await?;
        data = &data[n..];
    }
    Ok(())
}

/// Sends `len` bytes of `file` from `offset` with `sendfile`, waiting for write readiness
/// whenever the socket buffer is full.
async fn send_file(
    stream: &TcpStream,
    file: &File,
    offset: u64,
    len: u64,
    st: &AppState,
) -> io::Result<()> {
    let end = offset + len;
    let mut off = offset;
    while off < end {
        let want = usize::try_from(end - off)
            .unwrap_or(usize::MAX)
            .min(SENDFILE_CHUNK);
        let n = stream
            .async_io(Interest::WRITABLE, || {
                let mut o = off as libc::off_t;
                // SAFETY: sendfile between two descriptors we hold; `o` is a local.
                let n =
                    unsafe { libc::sendfile(stream.as_raw_fd(), file.as_raw_fd(), &mut o, want) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            })
            .await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "blob shorter than expected",
            ));
        }
        off += n as u64;
        st.metrics.bytes_sent.fetch_add(n as u64, Relaxed);
    }
    Ok(())
}

/// Sends mapped blob bytes, [`COPY_CHUNK`] per `send`; all but the last with `MSG_MORE`, so
/// no chunk ends in a short segment of its own.
async fn send_mapped(stream: &TcpStream, data: &[u8], st: &AppState) -> io::Result<()> {
    let mut at = 0;
    while at < data.len() {
        let part = &data[at..(at + COPY_CHUNK).min(data.len())];
        let more = at + part.len() < data.len();
        let flags = libc::MSG_NOSIGNAL | if more { libc::MSG_MORE } else { 0 };
        let n = stream
            .async_io(Interest::WRITABLE, || {
                // SAFETY: sending from a live slice on a socket we hold.
                let n = unsafe {
                    libc::send(stream.as_raw_fd(), part.as_ptr().cast(), part.len(), flags)
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            })
            .await?;
        at += n;
        st.metrics.bytes_sent.fetch_add(n as u64, Relaxed);
    }
    Ok(())
}

/// An IO that first yields `pre` (bytes already read from `inner`), then reads `inner`:
/// how a connection is handed to hyper after this module looked at its first bytes.
pub(crate) struct Rewind<T> {
    pre: Bytes,
    inner: T,
}

impl<T> Rewind<T> {
    pub(crate) fn new(inner: T, pre: Bytes) -> Rewind<T> {
        Rewind { pre, inner }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewind<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.pre.is_empty() {
            let n = this.pre.len().min(buf.remaining());
            buf.put_slice(&this.pre[..n]);
            this.pre.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Rewind<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_ends() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest"), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r"), None);
        assert_eq!(head_end(b"GET / HTTP/1.1\n\nx"), Some(16));
        assert_eq!(head_end(b""), None);
    }

    fn state() -> Shared {
        let dir = std::env::temp_dir().join(format!("berth-fastpath-{}", std::process::id()));
        let yaml = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\n",
            dir.display()
        );
        let cfg = crate::Config::from_yaml_and_env(&yaml, "t", Vec::new()).unwrap();
        crate::server::build_state(&cfg).unwrap()
    }

    #[test]
    fn takes_only_plain_blob_downloads() {
        let st = state();
        let d = format!("sha256:{}", "a".repeat(64));
        let ok = |s: &str| take(&st, s.as_bytes()).is_some();
        assert!(ok(&format!(
            "GET /v2/a/b/blobs/{d} HTTP/1.1\r\nHost: x\r\n\r\n"
        )));
        let r = take(
            &st,
            format!("HEAD /v2/a/blobs/{d}?x=1 HTTP/1.1\r\nConnection: Close\r\nRange: bytes=0-1\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        assert!(r.head && r.close && r.name == "a" && r.path == format!("/v2/a/blobs/{d}"));
        for bad in [
            "GET /v2/a/manifests/latest HTTP/1.1\r\n\r\n".to_string(),
            format!("GET /v2/a/blobs/{d} HTTP/1.0\r\n\r\n"),
            format!("POST /v2/a/blobs/{d} HTTP/1.1\r\n\r\n"),
            format!("DELETE /v2/a/blobs/{d} HTTP/1.1\r\n\r\n"),
            format!("GET /v2/A/blobs/{d} HTTP/1.1\r\n\r\n"),
            "GET /v2/a/blobs/sha256:zz HTTP/1.1\r\n\r\n".to_string(),
            "GET /v2/a/blobs/uploads/x HTTP/1.1\r\n\r\n".to_string(),
            format!("GET /v2/a/blobs/{d} HTTP/1.1\r\nContent-Length: 3\r\n\r\n"),
            format!("GET /v2/a/blobs/{d} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            format!("GET /v2/a/blobs/{d} HTTP/1.1\r\nConnection: upgrade\r\n\r\n"),
            format!("GET /v2/a/blobs/{d} HTTP/1.1\r\nRange: bytes=0-1\r\nRange: bytes=2-3\r\n\r\n"),
            format!("GET /v2/a/blobs/{d} HTTP/1.1\r\n folded\r\n\r\n"),
            format!("GET /v2/a/blobs/{d} HTTP/1.1\r\nX: \u{e9}\r\n\r\n"),
            format!("GET /v2/a/blobs/{d} HTTP/1.1\nHost: x\n\n"),
            format!("GET  /v2/a/blobs/{d} HTTP/1.1\r\n\r\n"),
            format!("GET http://x/v2/a/blobs/{d} HTTP/1.1\r\n\r\n"),
        ] {
            assert!(!ok(&bad), "{bad:?}");
        }
        assert!(ok(&format!(
            "GET /v2/a/blobs/{d} HTTP/1.1\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
        )));
    }
}
