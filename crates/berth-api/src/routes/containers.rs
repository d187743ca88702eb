//! `/containers/...` and `/exec/...` endpoints, including the hijacked attach/exec
//! streams (`101 UPGRADED`, 8-byte stdout/stderr frames without a tty, raw bytes with one).

use super::{truthy, Q};
use crate::error::{ApiError, ApiResult};
use crate::stream::body_writer;
use crate::AppState;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_engine::filters::Filters;
use berth_runtime::{StdioStream, StreamEvent};
use bollard_stubs::models::{ContainerCreateBody, ExecConfig};
use hyper_util::rt::TokioIo;
use std::io::{BufRead, Write};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub async fn create(
    State(s): State<AppState>,
    Query(q): Q,
    Json(body): Json<ContainerCreateBody>,
) -> ApiResult<Response> {
    let e = s.engine.clone();
    let name = q.get("name").cloned();
    let r =
        tokio::task::spawn_blocking(move || e.container_create(name.as_deref(), body)).await??;
    Ok((StatusCode::CREATED, Json(r)).into_response())
}

pub async fn list(State(s): State<AppState>, Query(q): Q) -> ApiResult<Response> {
    let all = truthy(q.get("all"));
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .filter(|l| *l > 0)
        .map(|l| l as usize);
    let filters = Filters::parse(q.get("filters").map(|s| s.as_str()))?;
    let mut list = s
        .engine
        .container_list(all || limit.is_some(), limit, &filters)?;
    if truthy(q.get("size")) {
        let e = s.engine.clone();
        list = tokio::task::spawn_blocking(move || {
            for c in &mut list {
                if let Ok((rw, root)) = e.container_sizes(c.id.as_deref().unwrap_or("")) {
                    c.size_rw = Some(rw);
                    c.size_root_fs = Some(root);
                }
            }
            list
        })
        .await?;
    }
    Ok(Json(list).into_response())
}

pub async fn changes(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let e = s.engine.clone();
    let list = tokio::task::spawn_blocking(move || e.container_changes(&id)).await??;
    let v: Vec<serde_json::Value> = list
        .into_iter()
        .map(|(p, k)| serde_json::json!({ "Path": p, "Kind": k }))
        .collect();
    Ok(Json(v).into_response())
}

pub async fn inspect(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let mut r = s.engine.container_inspect(&id)?;
    if truthy(q.get("size")) {
        let e = s.engine.clone();
        let (rw, root) = tokio::task::spawn_blocking(move || e.container_sizes(&id)).await??;
        r.size_rw = Some(rw);
        r.size_root_fs = Some(root);
    }
    let mut v = serde_json::to_value(&r).unwrap_or_default();
    berth_engine::networks::legacy_network_fields(&mut v);
    Ok(Json(v).into_response())
}

pub async fn start(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let started = s.engine.container_start(&id).await?;
    Ok(if started {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_MODIFIED
    }
    .into_response())
}

pub async fn stop(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let t = q.get("t").and_then(|t| t.parse().ok());
    let stopped = s
        .engine
        .container_stop(&id, t, q.get("signal").map(|s| s.as_str()))
        .await?;
    Ok(if stopped {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_MODIFIED
    }
    .into_response())
}

pub async fn restart(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let t = q.get("t").and_then(|t| t.parse().ok());
    s.engine
        .container_stop(&id, t, q.get("signal").map(|s| s.as_str()))
        .await?;
    s.engine.container_start(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn kill(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    s.engine
        .container_kill(&id, q.get("signal").map(|s| s.as_str()))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn pause(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    s.engine.container_pause(&id, true).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn unpause(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    s.engine.container_pause(&id, false).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn remove(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    s.engine
        .container_remove(&id, truthy(q.get("force")), truthy(q.get("v")))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn resize(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let h = q.get("h").and_then(|v| v.parse().ok()).unwrap_or(0);
    let w = q.get("w").and_then(|v| v.parse().ok()).unwrap_or(0);
    s.engine.container_resize(&id, h, w, None).await?;
    Ok(StatusCode::OK.into_response())
}

/// `POST /containers/{id}/wait`: the headers go out at once, the body when the condition
/// is met (the docker CLI registers the wait before it starts the container).
pub async fn wait(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let condition = q
        .get("condition")
        .cloned()
        .unwrap_or_else(|| "not-running".into());
    // Registered before the headers go out (a container removed a moment ago by --rm
    // still answers with its exit code; an unknown one is a 404, not an in-band error).
    let waiter = s.engine.container_waiter(&id, &condition)?;
    let fut = async move {
        let body = match waiter.await {
            Ok(r) => serde_json::to_vec(&r).unwrap_or_default(),
            Err(err) => serde_json::to_vec(
                &serde_json::json!({"StatusCode": -1, "Error": {"Message": err.to_string()}}),
            )
            .unwrap_or_default(),
        };
        Ok::<_, std::io::Error>(bytes::Bytes::from(body))
    };
    let stream = futures::stream::once(fut);
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

fn frame(kind: u8, data: &[u8], out: &mut Vec<u8>) {
    out.push(kind);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
}

/// Answers `101 UPGRADED` and pumps the container's stream over the hijacked connection.
fn hijack(
    mut req: Request,
    stream: Option<StdioStream>,
    tty: bool,
    stdin: bool,
    on_exit: Option<Box<dyn FnOnce(Option<i64>) + Send>>,
) -> Response {
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let upgraded = match upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!("upgrade failed: {e}");
                return;
            }
        };
        let io = TokioIo::new(upgraded);
        let (mut rd, mut wr) = tokio::io::split(io);
        let Some(stream) = stream else {
            let _ = wr.shutdown().await;
            return;
        };
        let (mut sr, mut sw) = stream.into_split();
        let input = tokio::spawn(async move {
            if !stdin {
                return;
            }
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        let _ = sw.close_stdin().await;
                        return;
                    }
                    Ok(n) => {
                        if sw.write_stdin(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let mut exit_code = None;
        loop {
            match sr.next().await {
                Ok(Some(StreamEvent::Stdout(d))) => {
                    let mut out = Vec::new();
                    if tty {
                        out = d
                    } else {
                        frame(1, &d, &mut out)
                    }
                    if wr.write_all(&out).await.is_err() {
                        break;
                    }
                }
                Ok(Some(StreamEvent::Stderr(d))) => {
                    let mut out = Vec::new();
                    if tty {
                        out = d
                    } else {
                        frame(2, &d, &mut out)
                    }
                    if wr.write_all(&out).await.is_err() {
                        break;
                    }
                }
                Ok(Some(StreamEvent::Exit(rec))) => {
                    exit_code = Some(rec.exit_code as i64);
                    break;
                }
                Ok(None) | Err(_) => break,
            }
        }
        let _ = wr.flush().await;
        let _ = wr.shutdown().await;
        input.abort();
        if let Some(f) = on_exit {
            f(exit_code);
        }
    });
    let ct = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    resp
}

pub async fn attach(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
    req: Request,
) -> ApiResult<Response> {
    let stdin = truthy(q.get("stdin"));
    let stdout = truthy(q.get("stdout"));
    let stderr = truthy(q.get("stderr"));
    let (stream, tty) = s
        .engine
        .container_attach(&id, stdin, stdout, stderr)
        .await?;
    Ok(hijack(req, stream, tty, stdin, None))
}

pub async fn exec_create(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(cfg): Json<ExecConfig>,
) -> ApiResult<Response> {
    let eid = s.engine.exec_create(&id, cfg)?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "Id": eid }))).into_response())
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ExecStart {
    #[serde(default)]
    detach: bool,
    #[serde(default)]
    tty: Option<bool>,
}

pub async fn exec_start(
    State(s): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let opts: ExecStart = if bytes.is_empty() {
        ExecStart::default()
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request(format!("invalid exec start body: {e}")))?
    };
    let req = Request::from_parts(parts, Body::empty());
    let inst = s.engine.exec_get(&id)?;
    let stream = s.engine.exec_start(&id, opts.detach, opts.tty).await?;
    let tty = opts.tty.unwrap_or(inst.opts.tty);
    match stream {
        None => Ok(StatusCode::OK.into_response()),
        Some(stream) => {
            let e = s.engine.clone();
            let eid = id.clone();
            Ok(hijack(
                req,
                Some(stream),
                tty,
                inst.attach_stdin,
                Some(Box::new(move |code| {
                    e.exec_update(&eid, |x| {
                        x.running = false;
                        x.exit_code = code.or(Some(0));
                    })
                })),
            ))
        }
    }
}

pub async fn exec_inspect(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let e = s.engine.exec_get(&id)?;
    Ok(Json(serde_json::json!({
        "ID": e.id,
        "ContainerID": e.container,
        "Running": e.running,
        "ExitCode": e.exit_code,
        "Pid": e.pid,
        "OpenStdin": e.attach_stdin,
        "OpenStdout": true,
        "OpenStderr": true,
        "CanRemove": false,
        "DetachKeys": "",
        "ProcessConfig": {
            "tty": e.opts.tty,
            "entrypoint": e.opts.args.first().cloned().unwrap_or_default(),
            "arguments": e.opts.args.iter().skip(1).collect::<Vec<_>>(),
            "privileged": false,
            "user": e.opts.user,
        },
    }))
    .into_response())
}

pub async fn exec_resize(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let e = s.engine.exec_get(&id)?;
    let h = q.get("h").and_then(|v| v.parse().ok()).unwrap_or(0);
    let w = q.get("w").and_then(|v| v.parse().ok()).unwrap_or(0);
    s.engine
        .container_resize(&e.container, h, w, Some(e.pid as i32))
        .await?;
    Ok(StatusCode::OK.into_response())
}

fn parse_time(v: Option<&String>) -> Option<f64> {
    let v = v?.trim();
    if v.is_empty() || v == "0" {
        return None;
    }
    v.parse::<f64>().ok().or_else(|| {
        chrono::DateTime::parse_from_rfc3339(v)
            .ok()
            .map(|t| t.timestamp() as f64 + t.timestamp_subsec_nanos() as f64 / 1e9)
    })
}

/// `GET /containers/{id}/logs`: the json-file log, framed unless the container has a tty.
pub async fn logs(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let (path, tty, ctr) = s.engine.container_log_info(&id)?;
    let want_out = truthy(q.get("stdout"));
    let want_err = truthy(q.get("stderr"));
    if !want_out && !want_err {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let follow = truthy(q.get("follow"));
    let timestamps = truthy(q.get("timestamps"));
    let tail: Option<usize> = q.get("tail").and_then(|t| t.parse().ok());
    let since = parse_time(q.get("since"));
    let until = parse_time(q.get("until"));
    let (mut w, body) = body_writer();
    tokio::task::spawn_blocking(move || {
        let running = || {
            matches!(
                ctr.rec
                    .lock()
                    .map(|r| r.state.status.clone())
                    .unwrap_or_default()
                    .as_str(),
                "running" | "paused" | "created"
            )
        };
        let file = std::fs::File::open(&path).ok();
        let emit = |w: &mut crate::stream::ChannelWriter, line: &str| -> std::io::Result<bool> {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                return Ok(true);
            };
            let stream = v["stream"].as_str().unwrap_or("stdout");
            if (stream == "stdout" && !want_out) || (stream == "stderr" && !want_err) {
                return Ok(true);
            }
            let time = v["time"].as_str().unwrap_or("");
            let t = chrono::DateTime::parse_from_rfc3339(time)
                .map(|t| t.timestamp() as f64 + t.timestamp_subsec_nanos() as f64 / 1e9)
                .unwrap_or(0.0);
            if since.is_some_and(|s| t < s) {
                return Ok(true);
            }
            if until.is_some_and(|u| t > u) {
                return Ok(false);
            }
            let mut msg = String::new();
            if timestamps {
                msg.push_str(time);
                msg.push(' ');
            }
            msg.push_str(v["log"].as_str().unwrap_or(""));
            if tty {
                w.write_all(msg.as_bytes())?;
            } else {
                let mut out = Vec::new();
                frame(
                    if stream == "stderr" { 2 } else { 1 },
                    msg.as_bytes(),
                    &mut out,
                );
                w.write_all(&out)?;
            }
            Ok(true)
        };
        let Some(file) = file else {
            let _ = w.flush();
            return;
        };
        let mut reader = std::io::BufReader::new(file);
        let mut lines: Vec<String> = Vec::new();
        let mut line = String::new();
        // Existing content (honouring --tail).
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) if line.ends_with('\n') => lines.push(line.clone()),
                Ok(_) => break,
                Err(_) => break,
            }
        }
        let skip = tail.map(|t| lines.len().saturating_sub(t)).unwrap_or(0);
        for l in &lines[skip..] {
            match emit(&mut w, l) {
                Ok(true) => {}
                _ => {
                    let _ = w.flush();
                    return;
                }
            }
        }
        let _ = w.flush();
        if !follow {
            return;
        }
        let mut partial = line.clone();
        loop {
            let mut more = String::new();
            match reader.read_line(&mut more) {
                Ok(0) => {
                    if !running() {
                        // One last look for lines written just before the exit.
                        let mut rest = String::new();
                        while reader.read_line(&mut rest).map(|n| n > 0).unwrap_or(false) {
                            partial.push_str(&rest);
                            if partial.ends_with('\n') {
                                let _ = emit(&mut w, &partial);
                                partial.clear();
                            }
                            rest.clear();
                        }
                        let _ = w.flush();
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Ok(_) => {
                    partial.push_str(&more);
                    if partial.ends_with('\n') {
                        if !matches!(emit(&mut w, &partial), Ok(true)) {
                            return;
                        }
                        partial.clear();
                        if w.flush().is_err() {
                            return;
                        }
                    }
                }
                Err(_) => return,
            }
        }
    });
    let ct = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok(([(header::CONTENT_TYPE, ct)], body).into_response())
}
