//! One registry, as seen by the client: the endpoint chosen (HTTPS, or HTTP for an
//! insecure registry that does not speak TLS), the challenge `/v2/` answered with, and
//! authenticated requests for manifests, blobs and uploads. A request answered `401`
//! (expired token, or a scope the token lacks) is retried once with a fresh token for
//! the scopes the challenge names.

use crate::auth::{authorization, parse_challenges, AuthConfig, Challenge, TokenCache};
use crate::endpoint::{Endpoint, DOCKER_HUB, DOCKER_HUB_API};
use crate::error::{DistError, Result};
use crate::tls;
use berth_oci::Digest;
use reqwest::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Manifest media types berth accepts, most preferred first.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// The text of a registry error body (`{"errors":[{"code","message"}]}`), docker-style:
/// `manifest unknown: manifest unknown`.
pub fn error_text(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct E {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    #[derive(serde::Deserialize)]
    struct Es {
        #[serde(default)]
        errors: Vec<E>,
        #[serde(default)]
        details: String,
    }
    match serde_json::from_slice::<Es>(body) {
        Ok(es) if !es.errors.is_empty() => es
            .errors
            .iter()
            .map(|e| {
                let code = e.code.to_lowercase().replace('_', " ");
                if e.message.is_empty() {
                    code
                } else {
                    format!("{code}: {}", e.message)
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
        Ok(es) if !es.details.is_empty() => es.details,
        _ => String::from_utf8_lossy(&body[..body.len().min(512)])
            .trim()
            .to_string(),
    }
}

fn has_tls_error(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(r) = e.downcast_ref::<rustls::Error>() {
        return Some(r.to_string());
    }
    // io::Error hides its payload from `source()`: look inside explicitly.
    if let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        if let Some(t) = has_tls_error(inner) {
            return Some(t);
        }
    }
    if let Some(src) = e.source() {
        return has_tls_error(src);
    }
    let text = e.to_string();
    text.contains("invalid peer certificate").then_some(text)
}

fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = c.source();
    }
    parts.join(": ")
}

/// A connected, authenticated registry.
pub struct Registry {
    pub endpoint: Endpoint,
    /// `https://host` or `http://host`.
    base: String,
    http: reqwest::Client,
    creds: Option<AuthConfig>,
    tokens: Arc<TokenCache>,
    challenge: Option<Challenge>,
}

/// How an upload started.
pub enum UploadStart {
    /// The blob was mounted from another repository: nothing to send.
    Mounted,
    /// Send the blob to this upload URL.
    Location(String),
}

impl Registry {
    fn http_client(
        endpoint: &Endpoint,
        certs_dirs: &[PathBuf],
        verify: bool,
    ) -> Result<reqwest::Client> {
        let tls = tls::client_config(&endpoint.api_host, certs_dirs, verify)?;
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(16)
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DistError::Invalid(format!("http client: {e}")))
    }

    fn net_error(endpoint: &Endpoint, url: &str, e: reqwest::Error) -> DistError {
        if let Some(t) = has_tls_error(&e) {
            return DistError::Tls {
                registry: endpoint.name.clone(),
                message: t,
            };
        }
        let text = chain_text(&e);
        if endpoint.name == DOCKER_HUB || endpoint.api_host == DOCKER_HUB_API {
            return DistError::Unreachable {
                registry: endpoint.name.clone(),
                message: format!(
                    "Docker Hub (docker.io, served by {DOCKER_HUB_API}) is unreachable from this host: Get \"{url}\": {text}. \
Pull from a registry you can reach instead (e.g. localhost:5000/NAME)"
                ),
            };
        }
        DistError::Unreachable {
            registry: endpoint.name.clone(),
            message: format!(
                "registry {} is unreachable: Get \"{url}\": {text}",
                endpoint.name
            ),
        }
    }

    /// Connects to a registry: picks HTTPS (or falls back to HTTP when insecure) and
    /// learns how `/v2/` wants to be authenticated.
    pub async fn connect(
        endpoint: Endpoint,
        certs_dirs: &[PathBuf],
        creds: Option<AuthConfig>,
        tokens: Arc<TokenCache>,
    ) -> Result<Registry> {
        let https = format!("https://{}", endpoint.api_host);
        let http_c = Self::http_client(&endpoint, certs_dirs, !endpoint.insecure)?;
        let url = format!("{https}/v2/");
        let (base, resp) = match http_c.get(&url).send().await {
            Ok(r) => (https, r),
            Err(e) if endpoint.insecure => {
                tracing::debug!(registry = %endpoint.name, "https failed ({e}); trying plain http");
                let base = format!("http://{}", endpoint.api_host);
                let url = format!("{base}/v2/");
                match http_c.get(&url).send().await {
                    Ok(r) => (base, r),
                    Err(e) => return Err(Self::net_error(&endpoint, &url, e)),
                }
            }
            Err(e) => return Err(Self::net_error(&endpoint, &url, e)),
        };
        let status = resp.status();
        let challenge = if status == StatusCode::UNAUTHORIZED {
            let cs: Vec<Challenge> = resp
                .headers()
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(parse_challenges)
                .collect();
            let pick = cs
                .iter()
                .find(|c| c.scheme == "bearer")
                .or_else(|| cs.iter().find(|c| c.scheme == "basic"))
                .cloned();
            if pick.is_none() {
                return Err(DistError::Registry(format!(
                    "registry {} answered 401 without a usable WWW-Authenticate challenge",
                    endpoint.name
                )));
            }
            pick
        } else if status.is_success() {
            None
        } else {
            return Err(DistError::Registry(format!(
                "registry {} does not speak the registry v2 API: GET {base}/v2/ answered {status}",
                endpoint.name
            )));
        };
        tracing::debug!(registry = %endpoint.name, %base, challenge = ?challenge.as_ref().map(|c| &c.scheme), "registry connected");
        Ok(Registry {
            endpoint,
            base,
            http: http_c,
            creds,
            tokens,
            challenge,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn name(&self) -> &str {
        &self.endpoint.name
    }

    /// Is authentication needed at all?
    pub fn challenge(&self) -> Option<&Challenge> {
        self.challenge.as_ref()
    }

    /// Checks the credentials by getting a token (Bearer) or calling `/v2/` (Basic).
    pub async fn check_login(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let Some(h) = self.auth(&[]).await? else {
            return Ok(());
        };
        let resp = self
            .http
            .get(&url)
            .header(AUTHORIZATION, h)
            .send()
            .await
            .map_err(|e| Self::net_error(&self.endpoint, &url, e))?;
        if resp.status() == StatusCode::UNAUTHORIZED || resp.status() == StatusCode::FORBIDDEN {
            return Err(DistError::Unauthorized {
                registry: self.endpoint.name.clone(),
                message: format!(
                    "login attempt to {url} failed with status: {} {}",
                    resp.status().as_u16(),
                    resp.status().canonical_reason().unwrap_or("")
                ),
            });
        }
        Ok(())
    }

    async fn auth(&self, scopes: &[String]) -> Result<Option<String>> {
        authorization(
            &self.tokens,
            &self.http,
            &self.endpoint.name,
            self.challenge.as_ref(),
            scopes,
            self.creds.as_ref(),
        )
        .await
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        }
    }

    /// Sends a request (rebuilt for a retry after a 401 with a fresh token).
    pub async fn send(
        &self,
        scopes: &[String],
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let mut scopes = scopes.to_vec();
        let mut fresh = false;
        loop {
            let mut rb = build(&self.http);
            if let Some(h) = self.auth(&scopes).await? {
                rb = rb.header(AUTHORIZATION, h);
            }
            let req = rb
                .build()
                .map_err(|e| DistError::Invalid(format!("building request: {e}")))?;
            let url = req.url().to_string();
            let resp = self
                .http
                .execute(req)
                .await
                .map_err(|e| Self::net_error(&self.endpoint, &url, e))?;
            if resp.status() != StatusCode::UNAUTHORIZED || fresh {
                return Ok(resp);
            }
            // Retry once, with the scopes the challenge asks for.
            let Some(ch) = resp
                .headers()
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(parse_challenges)
                .find(|c| c.scheme == "bearer")
            else {
                return Ok(resp);
            };
            if let Some(s) = ch.params.get("scope") {
                for one in s.split(' ') {
                    if !scopes.iter().any(|x| x == one) {
                        scopes.push(one.to_string());
                    }
                }
            }
            self.tokens.forget(&self.endpoint.name);
            fresh = true;
        }
    }

    /// Turns a non-success answer into an error naming what was asked.
    pub async fn fail(&self, what: &str, resp: reqwest::Response) -> DistError {
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        let text = error_text(&body);
        let name = &self.endpoint.name;
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => DistError::Unauthorized {
                registry: name.clone(),
                message: format!(
                    "{what}: {} (registry {name} answered {status})",
                    if text.is_empty() {
                        "unauthorized: authentication required".into()
                    } else {
                        text
                    }
                ),
            },
            StatusCode::NOT_FOUND => DistError::NotFound(format!(
                "{what}: {}",
                if text.is_empty() {
                    "not found".into()
                } else {
                    text
                }
            )),
            _ => DistError::Registry(format!(
                "{what}: registry {name} answered {status}{}",
                if text.is_empty() {
                    String::new()
                } else {
                    format!(": {text}")
                }
            )),
        }
    }

    /// `GET /v2/<repo>/manifests/<reference>`: the bytes and their media type.
    pub async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
        scopes: &[String],
    ) -> Result<Option<(Vec<u8>, String)>> {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let resp = self
            .send(scopes, |c| {
                c.get(&url)
                    .header("accept", HeaderValue::from_static(MANIFEST_ACCEPT))
            })
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(self
                .fail(
                    &format!("fetching manifest {repo}:{reference} from {}", self.name()),
                    resp,
                )
                .await);
        }
        let mt = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or(s).trim().to_string())
            .unwrap_or_default();
        let body = resp.bytes().await.map_err(|e| DistError::Unreachable {
            registry: self.name().to_string(),
            message: format!(
                "reading manifest {repo}:{reference} from {}: {e}",
                self.name()
            ),
        })?;
        Ok(Some((body.to_vec(), mt)))
    }

    /// `HEAD /v2/<repo>/blobs/<digest>`: does the registry have it?
    pub async fn has_blob(&self, repo: &str, d: &Digest, scopes: &[String]) -> Result<bool> {
        let url = self.url(&format!("/v2/{repo}/blobs/{d}"));
        let resp = self.send(scopes, |c| c.head(&url)).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self
                .fail(&format!("checking blob {d} in {repo}"), resp)
                .await),
        }
    }

    /// `GET /v2/<repo>/blobs/<digest>` from `offset` on (a `Range` request). The answer
    /// is `206` (resumed) or `200` (whole blob).
    pub async fn get_blob(
        &self,
        repo: &str,
        d: &Digest,
        offset: u64,
        scopes: &[String],
    ) -> Result<reqwest::Response> {
        let url = self.url(&format!("/v2/{repo}/blobs/{d}"));
        let resp = self
            .send(scopes, |c| {
                let rb = c.get(&url);
                if offset > 0 {
                    rb.header("range", format!("bytes={offset}-"))
                } else {
                    rb
                }
            })
            .await?;
        if !resp.status().is_success() {
            return Err(self
                .fail(&format!("fetching blob {d} of {repo}"), resp)
                .await);
        }
        Ok(resp)
    }

    /// `POST /v2/<repo>/blobs/uploads/` (with `mount=&from=` when a source is known).
    pub async fn start_upload(
        &self,
        repo: &str,
        mount: Option<(&Digest, &str)>,
        scopes: &[String],
    ) -> Result<UploadStart> {
        let url = match mount {
            Some((d, from)) => {
                self.url(&format!("/v2/{repo}/blobs/uploads/?mount={d}&from={from}"))
            }
            None => self.url(&format!("/v2/{repo}/blobs/uploads/")),
        };
        let resp = self
            .send(scopes, |c| c.post(&url).header("content-length", "0"))
            .await?;
        let status = resp.status();
        if status == StatusCode::CREATED && mount.is_some() {
            return Ok(UploadStart::Mounted);
        }
        if status != StatusCode::ACCEPTED && status != StatusCode::CREATED {
            return Err(self
                .fail(&format!("starting an upload to {repo}"), resp)
                .await);
        }
        let loc = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                DistError::Registry(format!(
                    "registry {} started an upload without a Location",
                    self.name()
                ))
            })?;
        Ok(UploadStart::Location(self.url(loc)))
    }

    fn with_digest(location: &str, d: &Digest) -> String {
        let sep = if location.contains('?') { '&' } else { '?' };
        format!("{location}{sep}digest={d}")
    }

    /// Monolithic upload: `PUT <location>?digest=` with the whole (small) blob.
    pub async fn put_blob(
        &self,
        location: &str,
        d: &Digest,
        data: bytes::Bytes,
        scopes: &[String],
    ) -> Result<()> {
        let url = Self::with_digest(location, d);
        let resp = self
            .send(scopes, |c| {
                c.put(&url)
                    .header("content-type", "application/octet-stream")
                    .body(data.clone())
            })
            .await?;
        if !resp.status().is_success() {
            return Err(self.fail(&format!("uploading blob {d}"), resp).await);
        }
        Ok(())
    }

    /// Streamed upload: one `PATCH` carrying the body as it is produced; returns the
    /// next location.
    pub async fn patch_stream(
        &self,
        location: &str,
        body: reqwest::Body,
        scopes: &[String],
    ) -> Result<String> {
        let auth = self.auth(scopes).await?;
        let mut rb = self
            .http
            .request(Method::PATCH, location)
            .header("content-type", "application/octet-stream")
            .body(body);
        if let Some(h) = auth {
            rb = rb.header(AUTHORIZATION, h);
        }
        let resp = rb
            .send()
            .await
            .map_err(|e| Self::net_error(&self.endpoint, location, e))?;
        if resp.status() != StatusCode::ACCEPTED && !resp.status().is_success() {
            return Err(self.fail("uploading a layer", resp).await);
        }
        Ok(resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(|l| self.url(l))
            .unwrap_or_else(|| location.to_string()))
    }

    /// Completes an upload: `PUT <location>?digest=` with no body.
    pub async fn finish_upload(&self, location: &str, d: &Digest, scopes: &[String]) -> Result<()> {
        let url = Self::with_digest(location, d);
        let resp = self
            .send(scopes, |c| c.put(&url).header("content-length", "0"))
            .await?;
        if !resp.status().is_success() {
            return Err(self
                .fail(&format!("completing the upload of blob {d}"), resp)
                .await);
        }
        Ok(())
    }

    /// `PUT /v2/<repo>/manifests/<tag>`; returns the digest the registry reports.
    pub async fn put_manifest(
        &self,
        repo: &str,
        tag: &str,
        media_type: &str,
        data: bytes::Bytes,
        scopes: &[String],
    ) -> Result<()> {
        let url = self.url(&format!("/v2/{repo}/manifests/{tag}"));
        let resp = self
            .send(scopes, |c| {
                c.put(&url)
                    .header("content-type", media_type)
                    .body(data.clone())
            })
            .await?;
        if !resp.status().is_success() {
            return Err(self
                .fail(&format!("pushing manifest {repo}:{tag}"), resp)
                .await);
        }
        Ok(())
    }
}
