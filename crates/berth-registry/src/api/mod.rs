//! The HTTP API: OCI distribution spec v1.1 endpoints (pull, push, content discovery,
//! content management, referrers), the built-in token endpoint, `/metrics`, the access log.
//!
//! Repository names contain slashes, so `/v2/...` paths are routed by [`route::parse`]
//! (matching from the right, as distribution's router does) instead of axum path patterns.

pub mod blobs;
pub mod manifests;
pub(crate) mod mapped;
pub mod route;
pub mod uploads;

use crate::auth::token_server::TokenServer;
use crate::auth::{Authorizer, Scope};
use crate::errors::{ApiError, Code};
use crate::metrics::Metrics;
use crate::names;
use crate::store::Store;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use route::Route;
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

/// Peer address of a connection, put in request extensions by the server.
#[derive(Debug, Clone, Copy)]
pub struct RemoteAddr(pub SocketAddr);

/// Everything handlers share.
pub struct AppState {
    pub store: Store,
    pub auth: Authorizer,
    pub token_server: Option<TokenServer>,
    pub delete_enabled: bool,
    pub read_only: bool,
    /// `http.host`: absolute base for `Location` headers (else relative URLs).
    pub base_url: Option<String>,
    /// `http.headers` plus the API version header.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub uploads: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<uploads::UploadState>>>>,
    pub metrics: Metrics,
    pub access_log: bool,
}

pub type Shared = Arc<AppState>;

impl AppState {
    /// A `Location` value for `path` (absolute when `http.host` is set).
    pub fn location(&self, path: &str) -> String {
        match &self.base_url {
            Some(b) => format!("{}{path}", b.trim_end_matches('/')),
            None => path.to_string(),
        }
    }
}

/// Builds the router.
pub fn router(state: Shared) -> Router {
    Router::new()
        .fallback(dispatch)
        .layer(axum::middleware::from_fn_with_state(state.clone(), common))
        .with_state(state)
}

/// Access log, metrics and common headers around every request.
async fn common(State(st): State<Shared>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let remote = req.extensions().get::<RemoteAddr>().map(|r| r.0);
    let agent = req
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    st.metrics.in_flight.fetch_add(1, Relaxed);
    let mut resp = next.run(req).await;
    st.metrics.in_flight.fetch_sub(1, Relaxed);
    for (k, v) in &st.headers {
        resp.headers_mut().insert(k.clone(), v.clone());
    }
    let status = resp.status().as_u16();
    finished(&st, remote, method.as_str(), &path, status, start, &agent);
    resp
}

/// Counts a finished request and writes its access-log line (also used by the fast path).
pub(crate) fn finished(
    st: &AppState,
    remote: Option<SocketAddr>,
    method: &str,
    path: &str,
    status: u16,
    start: Instant,
    agent: &str,
) {
    st.metrics.request(method, status);
    if st.access_log {
        tracing::info!(
            target: "berth_registry::access",
            remote = %remote.map(|r| r.to_string()).unwrap_or_default(),
            method = %method,
            path = %path,
            status,
            duration_ms = start.elapsed().as_secs_f64() * 1000.0,
            user_agent = %agent,
            "request"
        );
    }
}

/// Splits a query string into decoded pairs.
pub fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn query_get<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

async fn dispatch(State(st): State<Shared>, req: Request) -> Response {
    match handle(st, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(st: Shared, req: Request) -> Result<Response, ApiError> {
    let path = req.uri().path().to_string();
    let query = query_pairs(req.uri().query());
    let method = req.method().clone();
    if path == "/metrics" && method == Method::GET {
        return Ok((
            [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            st.metrics.render(),
        )
            .into_response());
    }
    if let Some(ts) = &st.token_server {
        if path == ts.path && (method == Method::GET || method == Method::HEAD) {
            // bcrypt is slow on purpose: keep it off the async workers.
            let (st2, h) = (st.clone(), req.headers().clone());
            let body = blocking(move || match &st2.token_server {
                Some(ts) => ts.issue(&h, &query),
                None => Err(ApiError::internal("token server vanished")),
            })
            .await?;
            return Ok(axum::Json(body).into_response());
        }
        if path == ts.path && method == Method::POST {
            let body = axum::body::to_bytes(req.into_body(), 64 << 10)
                .await
                .map_err(|e| ApiError::new(Code::SizeInvalid, format!("token form: {e}")))?;
            let form: Vec<(String, String)> = url::form_urlencoded::parse(&body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let st2 = st.clone();
            let body = blocking(move || match &st2.token_server {
                Some(ts) => ts.issue_oauth(&form),
                None => Err(ApiError::internal("token server vanished")),
            })
            .await?;
            return Ok(axum::Json(body).into_response());
        }
    }
    let Some(route) = route::parse(&path) else {
        return Err(
            ApiError::new(Code::NameUnknown, format!("no such endpoint: {path}"))
                .status(StatusCode::NOT_FOUND),
        );
    };
    if let Some(name) = route.name() {
        if !names::valid_name(name) {
            return Err(ApiError::new(
                Code::NameInvalid,
                format!("invalid repository name {name:?}"),
            )
            .detail(json!({"name": name})));
        }
    }
    let writes = matches!(
        method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if st.read_only && writes {
        return Err(ApiError::new(
            Code::Unsupported,
            "the registry is in read-only mode",
        ));
    }
    let need = scopes(&route, &method);
    let headers = req.headers().clone();
    authorize(&st, &headers, need).await?;
    match route {
        Route::Base => Ok((
            StatusCode::OK,
            [(http::header::CONTENT_TYPE, "application/json")],
            "{}",
        )
            .into_response()),
        Route::Catalog => catalog(&st, &query).await,
        Route::Tags(name) => tags(&st, &name, &query).await,
        Route::Referrers(name, d) => manifests::referrers(&st, &name, &d, &query).await,
        Route::Manifest(name, reference) => match method {
            Method::GET | Method::HEAD => {
                manifests::get(&st, &name, &reference, &headers, method == Method::HEAD).await
            }
            Method::PUT => manifests::put(&st, &name, &reference, req).await,
            Method::DELETE => manifests::delete(&st, &name, &reference).await,
            _ => Err(method_not_allowed()),
        },
        Route::Blob(name, d) => match method {
            Method::GET | Method::HEAD => {
                blobs::get(&st, &name, &d, &headers, method == Method::HEAD).await
            }
            Method::DELETE => blobs::delete(&st, &name, &d).await,
            _ => Err(method_not_allowed()),
        },
        Route::Upload(name, id) => match (method, id.is_empty()) {
            (Method::POST, true) => uploads::post(&st, &name, &query, req).await,
            (Method::PATCH, false) => uploads::patch(&st, &name, &id, req).await,
            (Method::PUT, false) => uploads::put(&st, &name, &id, &query, req).await,
            (Method::GET, false) => uploads::status(&st, &name, &id).await,
            (Method::DELETE, false) => uploads::cancel(&st, &name, &id).await,
            _ => Err(method_not_allowed()),
        },
    }
}

/// The scopes a request on `route` with `method` needs.
pub fn scopes(route: &Route, method: &Method) -> Vec<Scope> {
    match (route, method) {
        (Route::Base, _) => vec![],
        (Route::Catalog, _) => vec![Scope::catalog()],
        (r, m) => {
            let name = r.name().unwrap_or_default();
            match *m {
                Method::GET | Method::HEAD if !matches!(r, Route::Upload(..)) => {
                    vec![Scope::repo(name, &["pull"])]
                }
                Method::DELETE if !matches!(r, Route::Upload(..)) => {
                    vec![Scope::repo(name, &["delete"])]
                }
                _ => vec![Scope::repo(name, &["pull", "push"])],
            }
        }
    }
}

/// Checks credentials; htpasswd's bcrypt runs on a blocking thread.
pub async fn authorize(st: &Shared, headers: &HeaderMap, need: Vec<Scope>) -> Result<(), ApiError> {
    match st.auth {
        Authorizer::Open => Ok(()),
        _ => {
            let (st2, h) = (st.clone(), headers.clone());
            blocking(move || st2.auth.authorize(&h, &need).map(|_| ())).await
        }
    }
}

fn method_not_allowed() -> ApiError {
    ApiError::new(Code::Unsupported, "method not allowed on this endpoint")
}

/// Runs blocking store work off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

/// A page of names, and `(n, last)` for the next page's link when more follow.
pub type Page = (Vec<String>, Option<(usize, String)>);

/// `n`/`last` pagination over a sorted list; returns the page and whether more follow.
pub fn paginate(all: Vec<String>, q: &[(String, String)]) -> Result<Page, ApiError> {
    let last = query_get(q, "last");
    let mut items: Vec<String> = match last {
        Some(l) => all.into_iter().filter(|x| x.as_str() > l).collect(),
        None => all,
    };
    let n = match query_get(q, "n") {
        None => None,
        Some(s) => Some(s.parse::<usize>().map_err(|_| {
            ApiError::new(Code::Unsupported, format!("invalid page size n={s:?}"))
                .status(StatusCode::BAD_REQUEST)
        })?),
    };
    if let Some(n) = n {
        if items.len() > n {
            items.truncate(n);
            let next = items.last().cloned().unwrap_or_default();
            return Ok((items, Some((n, next))));
        }
    }
    Ok((items, None))
}

fn link_header(path: &str, n: usize, last: &str) -> String {
    let last: String = url::form_urlencoded::byte_serialize(last.as_bytes()).collect();
    format!("<{path}?n={n}&last={last}>; rel=\"next\"")
}

async fn tags(st: &Shared, name: &str, q: &[(String, String)]) -> Result<Response, ApiError> {
    let store = st.store.clone();
    let n2 = name.to_string();
    let all = blocking(move || store.tags(&n2).map_err(ApiError::from)).await?;
    let (page, next) = paginate(all, q)?;
    let mut r = axum::Json(json!({"name": name, "tags": page})).into_response();
    if let Some((n, last)) = next {
        if let Ok(v) =
            HeaderValue::from_str(&link_header(&format!("/v2/{name}/tags/list"), n, &last))
        {
            r.headers_mut().insert(http::header::LINK, v);
        }
    }
    Ok(r)
}

async fn catalog(st: &Shared, q: &[(String, String)]) -> Result<Response, ApiError> {
    let store = st.store.clone();
    let all = blocking(move || store.catalog().map_err(ApiError::from)).await?;
    let (page, next) = paginate(all, q)?;
    let mut r = axum::Json(json!({"repositories": page})).into_response();
    if let Some((n, last)) = next {
        if let Ok(v) = HeaderValue::from_str(&link_header("/v2/_catalog", n, &last)) {
            r.headers_mut().insert(http::header::LINK, v);
        }
    }
    Ok(r)
}

/// Sets a header from a string (ignoring unrepresentable values).
pub fn set_header(h: &mut HeaderMap, name: impl http::header::IntoHeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

/// An empty response with a status.
pub fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}
