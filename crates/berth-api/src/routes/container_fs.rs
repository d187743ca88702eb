//! `/containers/{id}/archive` (GET, HEAD, PUT: `docker cp`) and `/containers/{id}/export`.

use super::Q;
use crate::error::{ApiError, ApiResult};
use crate::stream::{body_reader, body_writer};
use crate::AppState;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

const STAT_HEADER: &str = "x-docker-container-path-stat";

fn path_of(q: &std::collections::HashMap<String, String>) -> ApiResult<String> {
    q.get("path")
        .filter(|p| !p.is_empty())
        .cloned()
        .ok_or_else(|| ApiError::bad_request("path cannot be empty"))
}

fn stat_header(stat: &berth_engine::containers::PathStat) -> Option<HeaderValue> {
    let json = serde_json::to_vec(stat).ok()?;
    HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(json)).ok()
}

pub async fn archive_head(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let path = path_of(&q)?;
    let e = s.engine.clone();
    let stat = tokio::task::spawn_blocking(move || e.container_path_stat(&id, &path)).await??;
    let mut r = StatusCode::OK.into_response();
    if let Some(v) = stat_header(&stat) {
        r.headers_mut()
            .insert(HeaderName::from_static(STAT_HEADER), v);
    }
    Ok(r)
}

pub async fn archive_get(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let path = path_of(&q)?;
    let e = s.engine.clone();
    let stat = {
        let (e, id, path) = (e.clone(), id.clone(), path.clone());
        tokio::task::spawn_blocking(move || e.container_path_stat(&id, &path)).await??
    };
    let (mut w, body) = body_writer();
    tokio::task::spawn_blocking(move || match e.container_archive(&id, &path, &mut w) {
        Ok(()) => {
            let _ = std::io::Write::flush(&mut w);
        }
        Err(err) => w.fail(std::io::Error::other(err.to_string())),
    });
    let mut r = ([(header::CONTENT_TYPE, "application/x-tar")], body).into_response();
    if let Some(v) = stat_header(&stat) {
        r.headers_mut()
            .insert(HeaderName::from_static(STAT_HEADER), v);
    }
    Ok(r)
}

pub async fn archive_put(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
    body: Body,
) -> ApiResult<Response> {
    let path = path_of(&q)?;
    let e = s.engine.clone();
    let reader = body_reader(body);
    tokio::task::spawn_blocking(move || e.container_extract(&id, &path, reader)).await??;
    Ok(StatusCode::OK.into_response())
}

pub async fn export(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    s.engine.container(&id)?;
    let e = s.engine.clone();
    let (mut w, body) = body_writer();
    tokio::task::spawn_blocking(move || match e.container_export(&id, &mut w) {
        Ok(()) => {
            let _ = std::io::Write::flush(&mut w);
        }
        Err(err) => w.fail(std::io::Error::other(err.to_string())),
    });
    Ok(([(header::CONTENT_TYPE, "application/x-tar")], body).into_response())
}
