//! `POST /build` (the legacy builder's endpoint: what `DOCKER_BUILDKIT=0 docker build`
//! and `berth build` call) and `POST /commit`.
//!
//! `/build` answers 200 at once and streams JSON messages while the build runs:
//! `{"stream": "Step 1/3 : FROM busybox\n"}`, `{"aux": {"ID": "sha256:…"}}` and, on
//! failure, `{"errorDetail": {"code": n, "message": …}, "error": …}`. A client that
//! goes away cancels the build (the running RUN container is killed and removed).

use super::{multi, truthy};
use crate::error::{ApiError, ApiResult};
use crate::stream::{body_reader, body_writer, ChannelWriter};
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_build::exec::{BuildRequest, Progress};
use berth_build::frontend::BuildOptions;
use berth_oci::Reference;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Writes build output as JSON lines into the response body.
struct JsonSink {
    w: Mutex<ChannelWriter>,
    quiet: bool,
    gone: AtomicBool,
}

impl JsonSink {
    fn send(&self, v: serde_json::Value) {
        let mut w = self.w.lock().unwrap_or_else(|p| p.into_inner());
        let mut line = v.to_string().into_bytes();
        line.push(b'\n');
        if w.write_all(&line).and_then(|_| w.flush()).is_err() {
            self.gone.store(true, Ordering::Relaxed);
        }
    }
}

impl Progress for JsonSink {
    fn stream(&self, text: &str) {
        if !self.quiet {
            self.send(serde_json::json!({ "stream": text }));
        }
    }
    fn aux_id(&self, id: &str) {
        self.send(serde_json::json!({ "aux": { "ID": id } }));
    }
    fn cancelled(&self) -> bool {
        self.gone.load(Ordering::Relaxed) || self.w.lock().map(|w| w.is_closed()).unwrap_or(true)
    }
}

/// `buildargs` / `labels`: a JSON object of strings (build args may be null).
fn json_map(raw: Option<String>, what: &str) -> ApiResult<BTreeMap<String, Option<String>>> {
    match raw.filter(|s| !s.is_empty()) {
        None => Ok(BTreeMap::new()),
        Some(s) => serde_json::from_str(&s)
            .map_err(|e| ApiError::bad_request(format!("invalid {what} specified: {e}"))),
    }
}

/// Parses the `/build` query into a build request.
fn request(pairs: &[(String, String)]) -> ApiResult<(BuildRequest, bool)> {
    let get = |k: &str| {
        pairs
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    if let Some(remote) = get("remote").filter(|r| !r.is_empty()) {
        return Err(ApiError::bad_request(format!(
            "remote build contexts ({remote}) are not supported: send the context as the request body"
        )));
    }
    let mut tags = Vec::new();
    for t in multi(pairs, "t").into_iter().filter(|t| !t.is_empty()) {
        let r = Reference::parse_normalized(&t)
            .map_err(|e| ApiError::bad_request(format!("invalid reference format: {t}: {e}")))?;
        if r.digest().is_some() {
            return Err(ApiError::bad_request(format!(
                "invalid reference format: {t}: a build tag cannot carry a digest"
            )));
        }
        tags.push(r.with_default_tag());
    }
    let labels = json_map(get("labels"), "labels")?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    let options = BuildOptions {
        build_args: json_map(get("buildargs"), "buildargs")?,
        target: get("target").filter(|t| !t.is_empty()),
        labels,
        ..Default::default()
    };
    let req = BuildRequest {
        dockerfile: get("dockerfile").filter(|d| !d.is_empty()),
        options,
        tags,
        no_cache: truthy(get("nocache").as_ref()),
        network: get("networkmode").filter(|n| !n.is_empty()),
    };
    Ok((req, truthy(get("q").as_ref())))
}

/// `POST /build`.
pub async fn build(
    State(s): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
    body: Body,
) -> ApiResult<Response> {
    let (req, quiet) = request(&pairs)?;
    let (writer, out) = body_writer();
    let engine = s.engine.clone();
    let reader = body_reader(body);
    tokio::task::spawn_blocking(move || {
        let sink = JsonSink {
            w: Mutex::new(writer),
            quiet,
            gone: AtomicBool::new(false),
        };
        match engine.build(reader, &req, &sink) {
            Ok(id) => {
                if quiet {
                    sink.send(serde_json::json!({ "stream": format!("{id}\n") }));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                tracing::debug!("build failed: {msg}");
                sink.send(serde_json::json!({
                    "errorDetail": { "code": e.code(), "message": msg },
                    "error": msg,
                }));
            }
        }
    });
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        out,
    )
        .into_response())
}

/// `GET /berth/build/contexts/{key}`: the client stamps the builder recorded at the
/// last incremental upload of context `key` (`{"Stamps": {path: stamp}}`; empty if no
/// idle build slot holds it). See `berth_build::upload`.
pub async fn context_stamps(
    State(s): State<AppState>,
    axum::extract::Path(key): axum::extract::Path<String>,
) -> ApiResult<Response> {
    let e = s.engine.clone();
    let stamps = tokio::task::spawn_blocking(move || e.build_context_stamps(&key)).await?;
    let empty = std::collections::HashMap::new();
    let stamps = stamps.as_deref().unwrap_or(&empty);
    Ok(Json(serde_json::json!({ "Stamps": stamps })).into_response())
}

/// `POST /build/prune[?filters=…]` (`docker builder prune`, `docker system prune`):
/// removes the idle build contexts; `all` and the space limits are accepted and have
/// nothing more to select.
pub async fn prune(
    State(s): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let raw = pairs
        .iter()
        .find(|(k, _)| k == "filters")
        .map(|(_, v)| v.as_str());
    let filters = berth_engine::filters::Filters::parse(raw)?;
    let e = s.engine.clone();
    let r = tokio::task::spawn_blocking(move || e.build_prune(&filters)).await??;
    Ok(Json(r).into_response())
}

/// `POST /commit`.
pub async fn commit(
    State(s): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
    body: Bytes,
) -> ApiResult<Response> {
    let get = |k: &str| {
        pairs
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let container = get("container")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("container is required"))?;
    let config = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(
            serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("invalid config: {e}")))?,
        )
    };
    let opts = berth_engine::containers::CommitOptions {
        repo: get("repo"),
        tag: get("tag"),
        comment: get("comment"),
        author: get("author"),
        changes: multi(&pairs, "changes")
            .iter()
            .flat_map(|c| c.lines().map(String::from).collect::<Vec<_>>())
            .collect(),
        pause: get("pause").is_none_or(|p| truthy(Some(&p))),
        config,
    };
    let id = s.engine.container_commit(&container, opts).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "Id": id.to_string() })),
    )
        .into_response())
}
