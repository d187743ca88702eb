//! `GET /events`: past events from the engine's ring (`since`), then live ones until
//! `until` or the client goes away, as a stream of JSON objects.

use super::Q;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use berth_engine::events::{matches, wire};
use berth_engine::filters::Filters;
use bytes::Bytes;
use tokio::sync::broadcast::error::RecvError;

/// Docker's time arguments: seconds (with optional fraction) or RFC 3339; as nanoseconds.
fn parse_nanos(v: Option<&String>, what: &str) -> ApiResult<Option<i64>> {
    let Some(v) = v.map(|v| v.trim()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Ok(secs) = v.parse::<f64>() {
        return Ok(Some((secs * 1e9) as i64));
    }
    chrono::DateTime::parse_from_rfc3339(v)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .map(Some)
        .ok_or_else(|| ApiError::bad_request(format!("invalid value for {what}: {v}")))
}

pub async fn events(State(s): State<AppState>, Query(q): Q) -> ApiResult<Response> {
    let since = parse_nanos(q.get("since"), "since")?;
    let until = parse_nanos(q.get("until"), "until")?;
    let filters = Filters::parse(q.get("filters").map(|s| s.as_str()))?;
    filters.only(&[
        "type",
        "event",
        "action",
        "container",
        "image",
        "label",
        "network",
        "volume",
        "daemon",
        "scope",
    ])?;
    // Without `since`, only new events; `until` alone replays nothing either (docker).
    let (past, mut rx) = s.engine.events.subscribe(since.unwrap_or(i64::MAX));
    let (tx, body_rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        let line = |e: &bollard_stubs::models::EventMessage| {
            let mut v = serde_json::to_vec(&wire(e)).unwrap_or_default();
            v.push(b'\n');
            Bytes::from(v)
        };
        let before_until = |e: &bollard_stubs::models::EventMessage| {
            until.is_none_or(|u| e.time_nano.unwrap_or(0) <= u)
        };
        for e in past.iter().filter(|e| matches(&filters, e)) {
            if !before_until(e) || tx.send(Ok(line(e))).await.is_err() {
                return;
            }
        }
        let deadline = until.map(|u| {
            let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
            tokio::time::Instant::now()
                + std::time::Duration::from_nanos(u.saturating_sub(now).max(0) as u64)
        });
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, rx.recv()).await.ok(),
                    None => Some(rx.recv().await),
                }
            };
            tokio::select! {
                _ = tx.closed() => return,
                got = next => match got {
                    None => return,
                    Some(Ok(e)) => {
                        if !before_until(&e) {
                            return;
                        }
                        if matches(&filters, &e) && tx.send(Ok(line(&e))).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(RecvError::Lagged(n))) => {
                        tracing::warn!("events stream lagged, {n} events dropped");
                    }
                    Some(Err(RecvError::Closed)) => return,
                },
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(body_rx));
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
