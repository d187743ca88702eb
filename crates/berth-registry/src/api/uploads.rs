//! Blob uploads: POST (session start, monolithic with `digest`, cross-repository mount),
//! chunked PATCH with `Content-Range` ordering checks, PUT to finish, GET status, DELETE.
//!
//! The request body is forwarded chunk by chunk to a blocking writer thread that hashes
//! (sha256) and appends to `_uploads/<id>/data`, so the digest is known when the last byte
//! lands. The hash state stays in memory between chunks; after a restart it is rebuilt
//! by re-reading the data, so an interrupted upload can always be resumed from its
//! reported `Range`.

use super::blobs::parse_digest;
use super::{blocking, empty, query_get, set_header, Shared};
use crate::auth::Scope;
use crate::errors::{ApiError, Code};
use crate::paths;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use http::StatusCode;
use sha2::Digest as _;
use std::io::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// In-memory state of an upload between requests.
pub struct UploadState {
    /// sha256 of the bytes so far (`None`: unknown, rebuild from the file).
    pub hasher: Option<sha2::Sha256>,
    pub offset: u64,
}

fn key(name: &str, id: &str) -> String {
    format!("{name}\n{id}")
}

fn upload_headers(st: &Shared, r: &mut Response, name: &str, id: &str, offset: u64) {
    let h = r.headers_mut();
    set_header(
        h,
        http::header::LOCATION,
        &st.location(&format!("/v2/{name}/blobs/uploads/{id}")),
    );
    set_header(
        h,
        http::header::RANGE,
        &format!("0-{}", offset.saturating_sub(1)),
    );
    set_header(h, "docker-upload-uuid", id);
    set_header(h, http::header::CONTENT_LENGTH, "0");
}

async fn state_of(
    st: &Shared,
    name: &str,
    id: &str,
) -> Result<Arc<tokio::sync::Mutex<UploadState>>, ApiError> {
    if let Some(s) = st
        .uploads
        .lock()
        .map_err(ApiError::internal)?
        .get(&key(name, id))
    {
        return Ok(s.clone());
    }
    let (store, n2, i2) = (st.store.clone(), name.to_string(), id.to_string());
    let offset = blocking(move || store.upload_size(&n2, &i2).map_err(ApiError::from)).await?;
    let s = Arc::new(tokio::sync::Mutex::new(UploadState {
        hasher: if offset == 0 {
            Some(sha2::Sha256::new())
        } else {
            None
        },
        offset,
    }));
    let mut map = st.uploads.lock().map_err(ApiError::internal)?;
    Ok(map.entry(key(name, id)).or_insert(s).clone())
}

fn forget(st: &Shared, name: &str, id: &str) {
    if let Ok(mut m) = st.uploads.lock() {
        m.remove(&key(name, id));
    }
}

/// Appends the request body to the upload, hashing as it goes.
async fn append(
    st: &Shared,
    name: &str,
    id: &str,
    body: axum::body::Body,
    state: &mut UploadState,
) -> Result<u64, ApiError> {
    let hasher = match state.hasher.take() {
        Some(h) => h,
        None => {
            let (store, n2, i2) = (st.store.clone(), name.to_string(), id.to_string());
            let (h, size) =
                blocking(move || store.upload_hasher(&n2, &i2).map_err(ApiError::from)).await?;
            state.offset = size;
            h
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    let driver = st.store.driver().clone();
    let path = paths::upload_data(name, id);
    // The writer thread appends; a second thread hashes what was appended, so copying
    // into the page cache and sha256 run on two cores.
    let writer = tokio::task::spawn_blocking(move || {
        let w = match driver.writer(&path, true) {
            Ok(w) => w,
            Err(e) => return (None, 0, Err(e.to_string())),
        };
        std::thread::scope(|sc| {
            let (htx, hrx) = std::sync::mpsc::sync_channel::<Bytes>(8);
            let hashing = sc.spawn(move || {
                let mut hasher = hasher;
                for c in hrx {
                    hasher.update(&c);
                }
                hasher
            });
            let mut n = 0u64;
            // Small frames are batched; frames larger than the buffer go straight to the file.
            let mut bw = std::io::BufWriter::with_capacity(256 << 10, w);
            let mut err = None;
            while let Some(chunk) = rx.blocking_recv() {
                if let Err(e) = bw.write_all(&chunk) {
                    err = Some(e.to_string());
                    break;
                }
                n += chunk.len() as u64;
                if htx.send(chunk).is_err() {
                    err = Some("hashing thread stopped".to_string());
                    break;
                }
            }
            drop(htx);
            let hasher = hashing.join().ok();
            if let Err(e) = bw.flush() {
                // The file may hold fewer bytes than were hashed: forget the hash state.
                return (None, n, Err(e.to_string()));
            }
            match err {
                Some(e) => (None, n, Err(e)),
                None => (hasher, n, Ok(())),
            }
        })
    });
    st.metrics.uploads_in_flight.fetch_add(1, Relaxed);
    let mut stream = body.into_data_stream();
    let mut body_err = None;
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(b) => {
                if b.is_empty() {
                    continue;
                }
                if tx.send(b).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                body_err = Some(e);
                break;
            }
        }
    }
    drop(tx);
    st.metrics.uploads_in_flight.fetch_sub(1, Relaxed);
    let (hasher, n, res) = writer.await.map_err(ApiError::internal)?;
    st.metrics.bytes_received.fetch_add(n, Relaxed);
    state.hasher = hasher;
    state.offset += n;
    if state.hasher.is_none() {
        // Resync offset with what is really on disk.
        let (store, n2, i2) = (st.store.clone(), name.to_string(), id.to_string());
        if let Ok(sz) = blocking(move || store.upload_size(&n2, &i2).map_err(ApiError::from)).await
        {
            state.offset = sz;
        }
    }
    if let Some(e) = body_err {
        return Err(ApiError::new(
            Code::BlobUploadInvalid,
            format!("reading request body: {e}"),
        ));
    }
    res.map_err(ApiError::internal)?;
    Ok(n)
}

/// Finishes an upload: verify digest, move into place, link. Returns the 201 response.
async fn finish(
    st: &Shared,
    name: &str,
    id: &str,
    digest: &str,
    state: &mut UploadState,
) -> Result<Response, ApiError> {
    let d = parse_digest(digest)?;
    let computed = state.hasher.take().map(|h| {
        format!("sha256:{}", hex::encode(h.finalize()))
            .parse::<berth_oci::Digest>()
            .ok()
    });
    let (store, n2, i2, d2) = (
        st.store.clone(),
        name.to_string(),
        id.to_string(),
        d.clone(),
    );
    let res = blocking(move || {
        store
            .commit_upload(&n2, &i2, &d2, computed.flatten())
            .map_err(ApiError::from)
    })
    .await;
    forget(st, name, id);
    res?;
    st.metrics.blobs_committed.fetch_add(1, Relaxed);
    let mut r = empty(StatusCode::CREATED);
    let h = r.headers_mut();
    set_header(
        h,
        http::header::LOCATION,
        &st.location(&format!("/v2/{name}/blobs/{d}")),
    );
    set_header(h, "docker-content-digest", &d.to_string());
    set_header(h, http::header::CONTENT_LENGTH, "0");
    Ok(r)
}

async fn start(st: &Shared, name: &str) -> Result<String, ApiError> {
    let (store, n2) = (st.store.clone(), name.to_string());
    blocking(move || store.start_upload(&n2).map_err(ApiError::from)).await
}

pub async fn post(
    st: &Shared,
    name: &str,
    q: &[(String, String)],
    req: Request,
) -> Result<Response, ApiError> {
    if let (Some(mount), Some(from)) = (query_get(q, "mount"), query_get(q, "from")) {
        let d = parse_digest(mount)?;
        let may_pull = crate::names::valid_name(from)
            && super::authorize(st, req.headers(), vec![Scope::repo(from, &["pull"])])
                .await
                .is_ok();
        if may_pull {
            let (store, n2, f2, d2) = (
                st.store.clone(),
                name.to_string(),
                from.to_string(),
                d.clone(),
            );
            if blocking(move || store.mount_blob(&n2, &f2, &d2).map_err(ApiError::from)).await? {
                let mut r = empty(StatusCode::CREATED);
                let h = r.headers_mut();
                set_header(
                    h,
                    http::header::LOCATION,
                    &st.location(&format!("/v2/{name}/blobs/{d}")),
                );
                set_header(h, "docker-content-digest", &d.to_string());
                set_header(h, http::header::CONTENT_LENGTH, "0");
                return Ok(r);
            }
        }
    }
    let id = start(st, name).await?;
    if let Some(digest) = query_get(q, "digest") {
        parse_digest(digest)?;
        let state = state_of(st, name, &id).await?;
        let mut g = state.lock().await;
        if let Err(e) = append(st, name, &id, req.into_body(), &mut g).await {
            forget(st, name, &id);
            let (store, n2, i2) = (st.store.clone(), name.to_string(), id.clone());
            let _ = blocking(move || store.cancel_upload(&n2, &i2).map_err(ApiError::from)).await;
            return Err(e);
        }
        return finish(st, name, &id, digest, &mut g).await;
    }
    let mut r = empty(StatusCode::ACCEPTED);
    upload_headers(st, &mut r, name, &id, 0);
    set_header(r.headers_mut(), "oci-chunk-min-length", "0");
    Ok(r)
}

/// Parses `Content-Range: <start>-<end>` (also `bytes <start>-<end>[/size]`).
fn content_range(v: &str) -> Option<(u64, u64)> {
    let v = v.trim();
    let v = v
        .strip_prefix("bytes ")
        .or_else(|| v.strip_prefix("bytes="))
        .unwrap_or(v);
    let v = v.split('/').next()?;
    let (a, b) = v.split_once('-')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

pub async fn patch(st: &Shared, name: &str, id: &str, req: Request) -> Result<Response, ApiError> {
    let state = state_of(st, name, id).await?;
    let mut g = state.lock().await;
    let cr = req
        .headers()
        .get(http::header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(cr) = cr {
        let out_of_order = match content_range(&cr) {
            Some((s, e)) => s != g.offset || e < s,
            None => true,
        };
        if out_of_order {
            let mut e = ApiError::new(
                Code::RangeInvalid,
                format!(
                    "Content-Range {cr:?} does not continue the upload at offset {}",
                    g.offset
                ),
            );
            e.headers.push((
                http::header::LOCATION,
                http::HeaderValue::from_str(
                    &st.location(&format!("/v2/{name}/blobs/uploads/{id}")),
                )
                .map_err(ApiError::internal)?,
            ));
            e.headers.push((
                http::header::RANGE,
                http::HeaderValue::from_str(&format!("0-{}", g.offset.saturating_sub(1)))
                    .map_err(ApiError::internal)?,
            ));
            return Err(e);
        }
    }
    append(st, name, id, req.into_body(), &mut g).await?;
    let mut r = empty(StatusCode::ACCEPTED);
    upload_headers(st, &mut r, name, id, g.offset);
    Ok(r)
}

pub async fn put(
    st: &Shared,
    name: &str,
    id: &str,
    q: &[(String, String)],
    req: Request,
) -> Result<Response, ApiError> {
    let Some(digest) = query_get(q, "digest").map(str::to_string) else {
        return Err(ApiError::new(
            Code::DigestInvalid,
            "the digest query parameter is required",
        ));
    };
    parse_digest(&digest)?;
    let state = state_of(st, name, id).await?;
    let mut g = state.lock().await;
    append(st, name, id, req.into_body(), &mut g).await?;
    finish(st, name, id, &digest, &mut g).await
}

pub async fn status(st: &Shared, name: &str, id: &str) -> Result<Response, ApiError> {
    let state = state_of(st, name, id).await?;
    let offset = state.lock().await.offset;
    let mut r = empty(StatusCode::NO_CONTENT);
    upload_headers(st, &mut r, name, id, offset);
    Ok(r)
}

pub async fn cancel(st: &Shared, name: &str, id: &str) -> Result<Response, ApiError> {
    let state = state_of(st, name, id).await?;
    let _g = state.lock().await;
    let (store, n2, i2) = (st.store.clone(), name.to_string(), id.to_string());
    blocking(move || store.cancel_upload(&n2, &i2).map_err(ApiError::from)).await?;
    forget(st, name, id);
    let mut r = empty(StatusCode::NO_CONTENT);
    set_header(r.headers_mut(), http::header::CONTENT_LENGTH, "0");
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(content_range("0-99"), Some((0, 99)));
        assert_eq!(content_range("bytes 100-199/*"), Some((100, 199)));
        assert_eq!(content_range("junk"), None);
    }
}
