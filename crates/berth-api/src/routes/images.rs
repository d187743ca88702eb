//! `/images/...` endpoints.

use super::{multi, truthy, Q};
use crate::error::{ApiError, ApiResult};
use crate::stream::{body_reader, body_writer};
use crate::AppState;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_engine::filters::Filters;
use berth_engine::images::ImportOptions;

fn json_lines(lines: &[serde_json::Value]) -> Response {
    let mut body = Vec::new();
    for l in lines {
        body.extend_from_slice(l.to_string().as_bytes());
        body.push(b'\n');
    }
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub async fn list(State(s): State<AppState>, Query(q): Q) -> ApiResult<Response> {
    let all = truthy(q.get("all"));
    let filters = Filters::parse(q.get("filters").map(|s| s.as_str()))?;
    let e = s.engine.clone();
    let list = tokio::task::spawn_blocking(move || e.image_list(all, &filters)).await??;
    Ok(Json(list).into_response())
}

/// `POST /images/create`: `fromSrc=-` imports the body; `fromImage` pulls.
pub async fn create(
    State(s): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let get = |k: &str| {
        pairs
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    if let Some(src) = get("fromSrc") {
        if src != "-" {
            return Err(ApiError::bad_request(format!(
                "importing from a URL ({src}) is not supported: pass the archive as the request body (fromSrc=-)"
            )));
        }
        let opts = ImportOptions {
            repo: get("repo"),
            tag: get("tag"),
            // Docker joins the values into one Dockerfile: each may hold several lines.
            changes: multi(&pairs, "changes")
                .iter()
                .flat_map(|c| c.lines().map(String::from).collect::<Vec<_>>())
                .collect(),
            message: get("message"),
            platform: get("platform"),
        };
        let e = s.engine.clone();
        let reader = body_reader(body);
        let id = tokio::task::spawn_blocking(move || e.image_import(reader, &opts)).await??;
        return Ok(json_lines(&[
            serde_json::json!({ "status": id.to_string() }),
        ]));
    }
    if let Some(img) = get("fromImage") {
        return super::dist::pull(&s, img, get("tag"), get("platform"), &headers).await;
    }
    Err(ApiError::bad_request("fromSrc or fromImage is required"))
}

pub async fn load(State(s): State<AppState>, Query(q): Q, body: Body) -> ApiResult<Response> {
    let quiet = truthy(q.get("quiet"));
    let e = s.engine.clone();
    let reader = body_reader(body);
    let msgs = tokio::task::spawn_blocking(move || e.image_load(reader)).await??;
    let _ = quiet;
    let lines: Vec<serde_json::Value> = msgs
        .iter()
        .map(|m| serde_json::json!({ "stream": format!("{m}\n") }))
        .collect();
    Ok(json_lines(&lines))
}

async fn save(s: AppState, names: Vec<String>) -> ApiResult<Response> {
    if names.is_empty() {
        return Err(ApiError::bad_request("no image names given"));
    }
    let e = s.engine.clone();
    let plan = {
        let e = e.clone();
        tokio::task::spawn_blocking(move || e.image_save_plan(&names)).await??
    };
    let (mut w, body) = body_writer();
    tokio::task::spawn_blocking(move || {
        if let Err(err) = e.image_save(&plan, &mut w) {
            tracing::error!("save failed: {err}");
            w.fail(std::io::Error::other(err.to_string()));
        } else {
            let _ = std::io::Write::flush(&mut w);
        }
    });
    Ok(([(header::CONTENT_TYPE, "application/x-tar")], body).into_response())
}

pub async fn save_many(
    State(s): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    save(s, multi(&pairs, "names")).await
}

pub async fn prune(State(s): State<AppState>, Query(q): Q) -> ApiResult<Response> {
    let filters = Filters::parse(q.get("filters").map(|s| s.as_str()))?;
    let e = s.engine.clone();
    let r = tokio::task::spawn_blocking(move || e.image_prune(&filters)).await??;
    Ok(Json(r).into_response())
}

/// Splits `name/with/slashes/json` into the name and the action.
fn split_action<'a>(rest: &'a str, actions: &[&'a str]) -> Option<(&'a str, &'a str)> {
    for a in actions {
        if let Some(name) = rest.strip_suffix(a).and_then(|n| n.strip_suffix('/')) {
            if !name.is_empty() {
                return Some((name, a));
            }
        }
    }
    None
}

pub async fn by_name_get(
    State(s): State<AppState>,
    Path(rest): Path<String>,
) -> ApiResult<Response> {
    let Some((name, action)) = split_action(&rest, &["json", "history", "get"]) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("page not found: /images/{rest}"),
        ));
    };
    let name = name.to_string();
    let e = s.engine.clone();
    match action {
        "json" => {
            let r = tokio::task::spawn_blocking(move || e.image_inspect(&name)).await??;
            let v = serde_json::to_value(r)
                .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            Ok(Json(with_container_config(v)).into_response())
        }
        "history" => {
            let r = tokio::task::spawn_blocking(move || e.image_history(&name)).await??;
            Ok(Json(r).into_response())
        }
        _ => save(s, vec![name]).await,
    }
}

pub async fn by_name_post(
    State(s): State<AppState>,
    Path(rest): Path<String>,
    Query(q): Q,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let Some((name, action)) = split_action(&rest, &["tag", "push"]) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("page not found: /images/{rest}"),
        ));
    };
    let name = name.to_string();
    let e = s.engine.clone();
    match action {
        "tag" => {
            let repo = q
                .get("repo")
                .cloned()
                .ok_or_else(|| ApiError::bad_request("repo is required"))?;
            let tag = q.get("tag").cloned();
            tokio::task::spawn_blocking(move || e.image_tag(&name, &repo, tag.as_deref()))
                .await??;
            Ok(StatusCode::CREATED.into_response())
        }
        _ => {
            let tag = q.get("tag").cloned();
            let compression = q.get("compression").cloned();
            super::dist::push(&s, name, tag, compression, &headers).await
        }
    }
}

pub async fn remove(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let force = truthy(q.get("force"));
    let noprune = truthy(q.get("noprune"));
    let e = s.engine.clone();
    let r = tokio::task::spawn_blocking(move || e.image_remove(&name, force, noprune)).await??;
    Ok(Json(r).into_response())
}

/// Adds the pre-1.45 `Container` and `ContainerConfig` fields to an image inspect answer
/// (`ContainerConfig` = the image's config, so its `Volumes` are there). moby stopped
/// sending them at API 1.45, which broke docker-compose 1.29: it negotiates the daemon's
/// highest version and reads `ContainerConfig.Volumes` whenever it recreates a container
/// (`KeyError: 'ContainerConfig'`, docker/compose#11693, #12509). Clients that do not
/// know the fields ignore them.
fn with_container_config(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(m) = v.as_object_mut() {
        let cfg = m
            .get("Config")
            .cloned()
            .filter(|c| c.is_object())
            .unwrap_or_else(|| serde_json::json!({}));
        m.entry("ContainerConfig").or_insert(cfg);
        m.entry("Container")
            .or_insert(serde_json::Value::String(String::new()));
    }
    v
}

#[cfg(test)]
mod container_config_tests {
    use super::with_container_config;

    #[test]
    fn inspect_carries_container_config_for_docker_compose_1_29() {
        let v = with_container_config(serde_json::json!({
            "Id": "sha256:x",
            "Config": {"Cmd": ["sh"], "Volumes": {"/data": {}}}
        }));
        assert_eq!(
            v["ContainerConfig"]["Volumes"]["/data"],
            serde_json::json!({})
        );
        assert_eq!(v["Container"], "");
        let v = with_container_config(serde_json::json!({"Id": "sha256:y"}));
        assert_eq!(v["ContainerConfig"], serde_json::json!({}));
    }
}
