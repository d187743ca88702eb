//! `/_ping`, `/version`, `/info`, `/system/df`, and berth's `/berth/system/check`.

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

pub async fn ping() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache, no-store, must-revalidate"),
            (header::HeaderName::from_static("builder-version"), "1"),
            (header::HeaderName::from_static("swarm"), "inactive"),
        ],
        "OK",
    )
        .into_response()
}

pub async fn version(State(s): State<AppState>) -> Response {
    Json(s.engine.version()).into_response()
}

pub async fn info(State(s): State<AppState>) -> ApiResult<Response> {
    let e = s.engine.clone();
    let info = tokio::task::spawn_blocking(move || e.info()).await??;
    Ok(Json(info).into_response())
}

pub async fn check(State(s): State<AppState>) -> ApiResult<Response> {
    let e = s.engine.clone();
    let problems = tokio::task::spawn_blocking(move || e.system_check()).await??;
    Ok(Json(serde_json::json!({ "Problems": problems })).into_response())
}

/// `GET /system/df[?type=container|image|volume|build-cache…]`.
pub async fn df(
    State(s): State<AppState>,
    axum::extract::Query(pairs): axum::extract::Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let types = super::multi(&pairs, "type");
    let e = s.engine.clone();
    let r = tokio::task::spawn_blocking(move || e.disk_usage(&types)).await??;
    Ok(Json(r).into_response())
}

pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("page not found: {}", uri.path()),
    )
}
