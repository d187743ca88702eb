//! Parses `/v2/...` paths into endpoints, matching the fixed suffix from the right.

/// An API endpoint with its path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Base,
    Catalog,
    Tags(String),
    Manifest(String, String),
    Blob(String, String),
    /// Upload session; empty id for `POST .../blobs/uploads/`.
    Upload(String, String),
    Referrers(String, String),
}

impl Route {
    /// The repository name, if the endpoint has one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Route::Base | Route::Catalog => None,
            Route::Tags(n)
            | Route::Manifest(n, _)
            | Route::Blob(n, _)
            | Route::Upload(n, _)
            | Route::Referrers(n, _) => Some(n),
        }
    }
}

/// Parses a request path; `None` if it is no API endpoint.
pub fn parse(path: &str) -> Option<Route> {
    if path == "/v2" || path == "/v2/" {
        return Some(Route::Base);
    }
    let rest = path.strip_prefix("/v2/")?;
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    if let Some(n) = rest.strip_suffix("/tags/list") {
        return Some(Route::Tags(n.to_string()));
    }
    if let Some(n) = rest.strip_suffix("/blobs/uploads") {
        return Some(Route::Upload(n.to_string(), String::new()));
    }
    let (head, last) = rest.rsplit_once('/')?;
    let s = |n: &str| n.to_string();
    if let Some(n) = head.strip_suffix("/blobs/uploads") {
        return Some(Route::Upload(s(n), s(last)));
    }
    if last.is_empty() {
        return None;
    }
    if let Some(n) = head.strip_suffix("/manifests") {
        return Some(Route::Manifest(s(n), s(last)));
    }
    if let Some(n) = head.strip_suffix("/blobs") {
        return Some(Route::Blob(s(n), s(last)));
    }
    if let Some(n) = head.strip_suffix("/referrers") {
        return Some(Route::Referrers(s(n), s(last)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(parse("/v2/"), Some(Route::Base));
        assert_eq!(parse("/v2/_catalog"), Some(Route::Catalog));
        assert_eq!(parse("/v2/a/b/tags/list"), Some(Route::Tags("a/b".into())));
        assert_eq!(
            parse("/v2/a/b/manifests/latest"),
            Some(Route::Manifest("a/b".into(), "latest".into()))
        );
        assert_eq!(
            parse("/v2/a/blobs/sha256:00"),
            Some(Route::Blob("a".into(), "sha256:00".into()))
        );
        assert_eq!(
            parse("/v2/a/blobs/uploads/"),
            Some(Route::Upload("a".into(), String::new()))
        );
        assert_eq!(
            parse("/v2/a/blobs/uploads/1234"),
            Some(Route::Upload("a".into(), "1234".into()))
        );
        assert_eq!(
            parse("/v2/x/referrers/sha256:00"),
            Some(Route::Referrers("x".into(), "sha256:00".into()))
        );
        // A repository literally named "blobs" still routes.
        assert_eq!(
            parse("/v2/blobs/manifests/v1"),
            Some(Route::Manifest("blobs".into(), "v1".into()))
        );
        assert_eq!(parse("/v3/a"), None);
        assert_eq!(parse("/v2/a/manifests/"), None);
    }
}
