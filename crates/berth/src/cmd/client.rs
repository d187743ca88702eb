//! Connecting to a Docker-API daemon (berth's or dockerd) with `bollard` (and plain hyper
//! requests where bollard falls short), and turning its errors into the one-line messages
//! the docker CLI prints.

use anyhow::{anyhow, bail, Result};
use bollard::Docker;

/// berth's default API socket.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// Global client options.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ClientOpts {
    /// Daemon socket to connect to (also BERTH_HOST, then DOCKER_HOST).
    #[arg(short = 'H', long = "host")]
    pub host: Option<String>,
}

impl ClientOpts {
    /// The socket address the client will use.
    pub fn host(&self) -> String {
        self.host
            .clone()
            .or_else(|| std::env::var("BERTH_HOST").ok().filter(|s| !s.is_empty()))
            .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| DEFAULT_HOST.to_string())
    }

    /// Connects and negotiates the API version.
    pub async fn connect(&self) -> Result<Docker> {
        let host = self.host();
        let path = host.strip_prefix("unix://").ok_or_else(|| {
            anyhow!("unsupported host {host:?}: only unix:// sockets are supported")
        })?;
        let not_running = || {
            anyhow!("Cannot connect to the berth daemon at {host}. Is the daemon running? (start it with `berth daemon`)")
        };
        if !std::path::Path::new(path).exists() {
            return Err(not_running());
        }
        let docker = Docker::connect_with_unix(path, 600, bollard::API_DEFAULT_VERSION)
            .map_err(|_| not_running())?;
        docker.negotiate_version().await.map_err(|_| not_running())
    }
}

/// The daemon's message for an API error, as the docker CLI shows it.
pub fn api_error(e: bollard::errors::Error) -> anyhow::Error {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => {
            anyhow!("Error response from daemon: {message}")
        }
        bollard::errors::Error::DockerStreamError { error } => anyhow!("{error}"),
        other => anyhow!("{other}"),
    }
}

/// Is this a "not found" answer?
pub fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// A current-thread runtime for a client command.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// An HTTP request to the daemon over its unix socket, for what bollard cannot do
/// (streams it does not model, and acting as soon as the response headers arrive).
pub async fn request(
    opts: &ClientOpts,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Result<hyper::Response<hyper::body::Incoming>> {
    let host = opts.host();
    let sock = host
        .strip_prefix("unix://")
        .ok_or_else(|| anyhow!("unsupported host {host:?}: only unix:// sockets are supported"))?;
    let stream = tokio::net::UnixStream::connect(sock).await.map_err(|_| {
        anyhow!("Cannot connect to the berth daemon at {host}. Is the daemon running? (start it with `berth daemon`)")
    })?;
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut rb = hyper::Request::builder()
        .method(method)
        .uri(format!("/v1.44{path}"))
        .header("host", "berth")
        .header("content-length", body.len().to_string());
    for (k, v) in headers {
        rb = rb.header(*k, v.as_str());
    }
    let req = rb.body(http_body_util::Full::new(bytes::Bytes::from(body)))?;
    Ok(send.send_request(req).await?)
}

/// Docker's prune confirmation: unless `force`, and only with a terminal on stdin,
/// prints `warning` and "Are you sure you want to continue? [y/N] " and reads the
/// answer. True to go on.
pub fn confirm_prune(force: bool, warning: &str) -> Result<bool> {
    use std::io::IsTerminal;
    if force || !std::io::stdin().is_terminal() {
        return Ok(true);
    }
    eprint!("{warning}Are you sure you want to continue? [y/N] ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim().eq_ignore_ascii_case("y"))
}

/// A request whose answer is JSON (endpoints bollard models for a newer API version
/// than berth speaks, such as `/system/df`); a non-2xx answer is the daemon's error.
pub async fn request_json(
    opts: &ClientOpts,
    method: &str,
    path: &str,
) -> Result<serde_json::Value> {
    use http_body_util::BodyExt;
    let resp = request(opts, method, path, &[], Vec::new()).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        let msg = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
        bail!("Error response from daemon: {msg}");
    }
    Ok(serde_json::from_slice(&body)?)
}

/// A plain GET for berth's own endpoints (not in bollard).
pub async fn raw_get(socket: &str, path: &str) -> Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::UnixStream::connect(socket).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: berth\r\n\r\n").as_bytes())
        .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        bail!("Error response from daemon: {}", body.trim());
    }
    Ok(body.to_string())
}
