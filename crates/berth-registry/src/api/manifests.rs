//! Manifests HEAD/GET/PUT/DELETE by tag or digest, and the referrers API.
//!
//! Content negotiation: a manifest is served as stored; when it is an index/manifest list
//! and the client's `Accept` lists only single-image manifest types (old clients), the
//! linux/amd64 entry is served instead, as distribution does.

use super::{blocking, empty, query_get, set_header, Shared};
use crate::errors::{ApiError, Code};
use crate::names;
use crate::store::{parse_manifest, Parsed};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use berth_oci::media_types as mt;
use http::{HeaderMap, StatusCode};
use serde_json::json;
use std::sync::atomic::Ordering::Relaxed;

/// Largest manifest accepted (the spec asks for at least 4 MiB).
pub const MAX_MANIFEST: usize = 16 << 20;

fn check_reference(reference: &str) -> Result<(), ApiError> {
    if reference.contains(':') {
        super::blobs::parse_digest(reference).map(|_| ())
    } else if names::valid_tag(reference) {
        Ok(())
    } else {
        Err(
            ApiError::new(Code::ManifestInvalid, format!("invalid tag {reference:?}"))
                .detail(json!({"tag": reference})),
        )
    }
}

fn accepts(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.split(';').next().unwrap_or("").trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

pub async fn get(
    st: &Shared,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response, ApiError> {
    check_reference(reference)?;
    let accept = accepts(headers);
    let (store, n2, r2) = (st.store.clone(), name.to_string(), reference.to_string());
    let m = blocking(move || {
        let m = store.get_manifest(&n2, &r2).map_err(ApiError::from)?;
        let wants_index = accept.is_empty()
            || accept
                .iter()
                .any(|a| a == "*/*" || a == &m.media_type || mt::is_index(a));
        if mt::is_index(&m.media_type) && !wants_index {
            if let Ok((_, Parsed::Index(ix))) = parse_manifest(&m.bytes, None) {
                let pick = ix.manifests.iter().find(|d| {
                    d.platform
                        .as_ref()
                        .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
                        && accept.iter().any(|a| a == &d.media_type)
                });
                if let Some(d) = pick {
                    return store
                        .get_manifest(&n2, &d.digest.to_string())
                        .map_err(ApiError::from);
                }
            }
        }
        Ok(m)
    })
    .await?;
    let len = m.bytes.len();
    let mut r = if head {
        empty(StatusCode::OK)
    } else {
        m.bytes.into_response()
    };
    let h = r.headers_mut();
    set_header(h, http::header::CONTENT_TYPE, &m.media_type);
    set_header(h, http::header::CONTENT_LENGTH, &len.to_string());
    set_header(h, "docker-content-digest", &m.digest.to_string());
    set_header(h, http::header::ETAG, &format!("\"{}\"", m.digest));
    Ok(r)
}

pub async fn put(
    st: &Shared,
    name: &str,
    reference: &str,
    req: Request,
) -> Result<Response, ApiError> {
    check_reference(reference)?;
    let ct = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = axum::body::to_bytes(req.into_body(), MAX_MANIFEST)
        .await
        .map_err(|e| {
            ApiError::new(Code::SizeInvalid, format!("manifest body: {e}"))
                .status(StatusCode::PAYLOAD_TOO_LARGE)
        })?;
    let (store, n2, r2) = (st.store.clone(), name.to_string(), reference.to_string());
    let p = blocking(move || {
        store
            .put_manifest(&n2, &r2, &bytes, ct.as_deref())
            .map_err(ApiError::from)
    })
    .await?;
    st.metrics.manifests_pushed.fetch_add(1, Relaxed);
    let mut r = empty(StatusCode::CREATED);
    let h = r.headers_mut();
    set_header(
        h,
        http::header::LOCATION,
        &st.location(&format!("/v2/{name}/manifests/{}", p.digest)),
    );
    set_header(h, "docker-content-digest", &p.digest.to_string());
    set_header(h, http::header::CONTENT_LENGTH, "0");
    if let Some(s) = p.subject {
        set_header(h, "oci-subject", &s.to_string());
    }
    Ok(r)
}

pub async fn delete(st: &Shared, name: &str, reference: &str) -> Result<Response, ApiError> {
    check_reference(reference)?;
    if !st.delete_enabled {
        return Err(ApiError::new(
            Code::Unsupported,
            "deletes are disabled (storage.delete.enabled)",
        ));
    }
    let (store, n2, r2) = (st.store.clone(), name.to_string(), reference.to_string());
    blocking(move || store.delete_manifest(&n2, &r2).map_err(ApiError::from)).await?;
    let mut r = empty(StatusCode::ACCEPTED);
    set_header(r.headers_mut(), http::header::CONTENT_LENGTH, "0");
    Ok(r)
}

pub async fn referrers(
    st: &Shared,
    name: &str,
    d: &str,
    q: &[(String, String)],
) -> Result<Response, ApiError> {
    let d = super::blobs::parse_digest(d)?;
    let (store, n2) = (st.store.clone(), name.to_string());
    let mut list = blocking(move || store.referrers(&n2, &d).map_err(ApiError::from)).await?;
    let filter = query_get(q, "artifactType");
    if let Some(t) = filter {
        list.retain(|x| x.artifact_type.as_deref() == Some(t));
    }
    let body = json!({"schemaVersion": 2, "mediaType": mt::OCI_INDEX, "manifests": list});
    let mut r = (StatusCode::OK, body.to_string()).into_response();
    set_header(r.headers_mut(), http::header::CONTENT_TYPE, mt::OCI_INDEX);
    if filter.is_some() {
        set_header(r.headers_mut(), "oci-filters-applied", "artifactType");
    }
    Ok(r)
}
