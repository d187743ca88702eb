//! `/volumes/...` endpoints.

use super::{truthy, Q};
use crate::error::ApiResult;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_engine::filters::Filters;
use bollard_stubs::models::VolumeCreateRequest;

pub async fn create(
    State(s): State<AppState>,
    Json(body): Json<VolumeCreateRequest>,
) -> ApiResult<Response> {
    let e = s.engine.clone();
    let v = tokio::task::spawn_blocking(move || {
        e.volume_create(
            body.name.as_deref(),
            body.driver.as_deref(),
            body.labels.unwrap_or_default(),
            body.driver_opts.unwrap_or_default(),
        )
    })
    .await??;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

pub async fn list(State(s): State<AppState>, Query(q): Q) -> ApiResult<Response> {
    let filters = Filters::parse(q.get("filters").map(|s| s.as_str()))?;
    let e = s.engine.clone();
    let r = tokio::task::spawn_blocking(move || e.volume_list(&filters)).await??;
    Ok(Json(r).into_response())
}

pub async fn inspect(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<Response> {
    let e = s.engine.clone();
    let r = tokio::task::spawn_blocking(move || e.volume_inspect(&name)).await??;
    Ok(Json(r).into_response())
}

pub async fn remove(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let e = s.engine.clone();
    let force = truthy(q.get("force"));
    tokio::task::spawn_blocking(move || e.volume_remove(&name, force)).await??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn prune(State(s): State<AppState>, Query(q): Q) -> ApiResult<Response> {
    let filters = Filters::parse(q.get("filters").map(|s| s.as_str()))?;
    let e = s.engine.clone();
    let r = tokio::task::spawn_blocking(move || e.volume_prune(&filters)).await??;
    Ok(Json(r).into_response())
}
