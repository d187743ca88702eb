//! API version prefixes (`/v1.44/...`) and the headers every response carries.

use crate::error::ApiError;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use berth_engine::system::{API_VERSION, MIN_API_VERSION, VERSION};

/// The API version a request asked for (its `/v1.NN` prefix), as a request extension;
/// absent without a prefix (the current version).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestVersion(pub u32, pub u32);

impl RequestVersion {
    /// The request's version, or the one berth serves when it named none.
    pub fn of(req_version: Option<RequestVersion>) -> RequestVersion {
        req_version
            .or_else(|| parse_version(API_VERSION).map(|(a, b)| RequestVersion(a, b)))
            .unwrap_or(RequestVersion(1, 0))
    }
}

fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Splits `/v1.44/images/json` into `("1.44", "/images/json")`.
fn split_prefix(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v")?;
    let slash = rest.find('/').unwrap_or(rest.len());
    let ver = &rest[..slash];
    parse_version(ver)?;
    Some((ver, &rest[slash..]))
}

/// Checks and strips the version prefix, then adds Docker's response headers.
pub async fn handle(mut req: Request, next: Next) -> Response {
    {
        let path = req.uri().path().to_string();
        if let Some((ver, rest)) = split_prefix(&path) {
            let v = parse_version(ver);
            let max = parse_version(API_VERSION);
            let min = parse_version(MIN_API_VERSION);
            if v > max {
                return with_headers(
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!("client version {ver} is too new. Maximum supported API version is {API_VERSION}"),
                    )
                    .into_response(),
                );
            }
            if v < min {
                return with_headers(
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!("client version {ver} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"),
                    )
                    .into_response(),
                );
            }
            let rest = if rest.is_empty() { "/" } else { rest };
            let pq = match req.uri().query() {
                Some(q) => format!("{rest}?{q}"),
                None => rest.to_string(),
            };
            if let Ok(uri) = pq.parse::<Uri>() {
                *req.uri_mut() = uri;
            }
            if let Some((a, b)) = v {
                req.extensions_mut().insert(RequestVersion(a, b));
            }
        }
        tracing::debug!(method = %req.method(), uri = %req.uri(), "request");
        with_headers(next.run(req).await)
    }
}

fn with_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    if let Ok(v) = HeaderValue::from_str(&format!("berth/{VERSION} (linux)")) {
        h.insert("Server", v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_prefix() {
        assert_eq!(
            split_prefix("/v1.44/images/json"),
            Some(("1.44", "/images/json"))
        );
        assert_eq!(split_prefix("/version"), None);
        assert_eq!(split_prefix("/v1.41"), Some(("1.41", "")));
        assert!(parse_version("1.9") < parse_version("1.10"));
    }
}
