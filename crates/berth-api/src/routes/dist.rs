//! `POST /images/create?fromImage=` (pull), `POST /images/{name}/push` and `POST /auth`.
//! Pull and push answer with docker's JSON progress stream; errors found before the
//! first byte (unknown manifest, access denied, unreachable registry) are answered
//! with an HTTP status, later ones inside the stream, as dockerd does.

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_dist::{AuthConfig, DistError, JsonMessage, Progress};
use berth_engine::dist::{PullParams, PushParams};
use std::sync::Arc;
use tokio::sync::mpsc;

fn registry_auth(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-registry-auth")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

/// A progress channel and the streamed body that carries it.
fn progress_stream() -> (Arc<Progress>, mpsc::UnboundedSender<JsonMessage>, Response) {
    let (tx, mut rx) = mpsc::unbounded_channel::<JsonMessage>();
    let stream = async_stream_lines(move |cx| rx.poll_recv(cx));
    let body = Body::from_stream(stream);
    let resp = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    (Arc::new(Progress::new(tx.clone())), tx, resp)
}

fn async_stream_lines(
    mut next: impl FnMut(&mut std::task::Context<'_>) -> std::task::Poll<Option<JsonMessage>>
        + Send
        + 'static,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    futures::stream::poll_fn(move |cx| {
        next(cx).map(|m| {
            m.map(|m| {
                let mut line = serde_json::to_vec(&m).unwrap_or_default();
                line.extend_from_slice(b"\r\n");
                Ok(bytes::Bytes::from(line))
            })
        })
    })
}

/// `POST /images/create?fromImage=…`.
pub async fn pull(
    s: &AppState,
    from_image: String,
    tag: Option<String>,
    platform: Option<String>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let params = PullParams {
        from_image,
        tag,
        platform,
        auth: registry_auth(headers),
    };
    let resolved = s.engine.pull_resolve(&params).await?;
    let (progress, tx, resp) = progress_stream();
    let engine = s.engine.clone();
    tokio::spawn(async move {
        if let Err(e) = engine.pull_fetch(resolved, progress).await {
            tracing::warn!("pull of {} failed: {e}", params.from_image);
            let _ = tx.send(JsonMessage::error(e.to_string()));
        }
    });
    Ok(resp)
}

/// `POST /images/{name}/push?tag=`.
pub async fn push(
    s: &AppState,
    name: String,
    tag: Option<String>,
    compression: Option<String>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let params = PushParams {
        name,
        tag,
        auth: registry_auth(headers),
        compression,
    };
    let targets = {
        let e = s.engine.clone();
        let p = params.clone();
        tokio::task::spawn_blocking(move || e.push_targets(&p)).await??
    };
    let (progress, tx, resp) = progress_stream();
    let engine = s.engine.clone();
    tokio::spawn(async move {
        if let Err(e) = engine.push(&params, targets, progress).await {
            tracing::warn!("push of {} failed: {e}", params.name);
            let _ = tx.send(JsonMessage::error(e.to_string()));
        }
    });
    Ok(resp)
}

/// `POST /auth`: `{"Status":"Login Succeeded"}` or 401 with the registry's answer.
pub async fn auth(
    axum::extract::State(s): axum::extract::State<AppState>,
    Json(body): Json<AuthConfig>,
) -> ApiResult<Response> {
    match s.engine.registry_login(body).await {
        Ok(()) => Ok(Json(serde_json::json!({
            "Status": "Login Succeeded",
            "IdentityToken": ""
        }))
        .into_response()),
        Err(DistError::Unauthorized { message, .. }) => {
            Err(ApiError::new(StatusCode::UNAUTHORIZED, message))
        }
        Err(DistError::Invalid(m)) => Err(ApiError::bad_request(m)),
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}
