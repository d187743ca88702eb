//! `/networks/...` endpoints.

use super::Q;
use crate::error::ApiResult;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_engine::filters::Filters;
use bollard_stubs::models::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
};

pub async fn create(
    State(s): State<AppState>,
    Json(body): Json<NetworkCreateRequest>,
) -> ApiResult<Response> {
    let r = s.engine.network_create(body).await?;
    Ok((StatusCode::CREATED, Json(r)).into_response())
}

pub async fn list(State(s): State<AppState>, Query(q): Q) -> ApiResult<Response> {
    let filters = Filters::parse(q.get("filters").map(|s| s.as_str()))?;
    let e = s.engine.clone();
    let r = tokio::task::spawn_blocking(move || e.network_list(&filters)).await??;
    Ok(Json(r).into_response())
}

pub async fn inspect(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let e = s.engine.clone();
    let r = tokio::task::spawn_blocking(move || e.network_inspect(&id)).await??;
    Ok(Json(r).into_response())
}

pub async fn remove(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    s.engine.network_remove(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn prune(State(s): State<AppState>, Query(q): Q) -> ApiResult<Response> {
    let filters = Filters::parse(q.get("filters").map(|s| s.as_str()))?;
    let r = s.engine.network_prune(&filters).await?;
    Ok(Json(r).into_response())
}

pub async fn connect(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<NetworkConnectRequest>,
) -> ApiResult<Response> {
    s.engine
        .network_connect(&id, &body.container, body.endpoint_config)
        .await?;
    Ok(StatusCode::OK.into_response())
}

pub async fn disconnect(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<NetworkDisconnectRequest>,
) -> ApiResult<Response> {
    s.engine
        .network_disconnect(&id, &body.container, body.force.unwrap_or(false))
        .await?;
    Ok(StatusCode::OK.into_response())
}
