//! `/containers/{id}/rename`, `/update`, `/top`, `/stats`, and `/containers/prune`.

use super::{truthy, Q};
use crate::error::{ApiError, ApiResult};
use crate::version::RequestVersion;
use crate::AppState;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_engine::containers::UpdateRequest;
use berth_engine::filters::Filters;
use bytes::Bytes;

pub async fn rename(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let name = q.get("name").cloned().unwrap_or_default();
    let e = s.engine.clone();
    tokio::task::spawn_blocking(move || e.container_rename(&id, &name)).await??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /containers/{id}/update` (`docker update`): resources and restart policy.
pub async fn update(
    State(s): State<AppState>,
    Path(id): Path<String>,
    version: Option<axum::Extension<RequestVersion>>,
    body: Bytes,
) -> ApiResult<Response> {
    let mut req: UpdateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        UpdateRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    if RequestVersion::of(version.map(|v| v.0)) >= RequestVersion(1, 42) {
        // KernelMemory was removed in API 1.42: ignored, as dockerd does.
        req.kernel_memory = None;
    }
    let e = s.engine.clone();
    let r = tokio::task::spawn_blocking(move || e.container_update(&id, req)).await??;
    // dockerd answers `"Warnings": null` when there are none.
    let warnings = r.warnings.filter(|w| !w.is_empty());
    Ok(Json(serde_json::json!({ "Warnings": warnings })).into_response())
}

pub async fn top(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let e = s.engine.clone();
    let args = q.get("ps_args").cloned();
    let r = tokio::task::spawn_blocking(move || e.container_top(&id, args.as_deref())).await??;
    Ok(Json(r).into_response())
}

/// `stream` defaults to true; `one-shot` (with `stream=false`) skips the one-second wait
/// for a previous CPU sample.
pub async fn stats(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let stream = q.get("stream").is_none_or(|v| truthy(Some(v)));
    let one_shot = truthy(q.get("one-shot"));
    if one_shot && stream {
        return Err(ApiError::bad_request(
            "cannot have stream=true and one-shot=true",
        ));
    }
    s.engine.container(&id)?;
    if !stream {
        let r = s.engine.container_stats(&id, None, one_shot).await?;
        return Ok(Json(r).into_response());
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let engine = s.engine.clone();
    tokio::spawn(async move {
        let mut prev = None;
        loop {
            let Ok(now) = engine.container_stats(&id, prev.as_ref(), true).await else {
                return;
            };
            let mut line = serde_json::to_vec(&now).unwrap_or_default();
            line.push(b'\n');
            if tx.send(Ok(Bytes::from(line))).await.is_err() {
                return;
            }
            prev = Some(now);
            tokio::select! {
                _ = tx.closed() => return,
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

pub async fn prune(State(s): State<AppState>, Query(q): Q) -> ApiResult<Response> {
    let filters = Filters::parse(q.get("filters").map(|s| s.as_str()))?;
    let (deleted, reclaimed) = s.engine.container_prune(&filters).await?;
    Ok(Json(serde_json::json!({
        "ContainersDeleted": deleted,
        "SpaceReclaimed": reclaimed,
    }))
    .into_response())
}
