//! Registry authentication: the credentials a client hands the daemon
//! (`X-Registry-Auth`), `WWW-Authenticate` challenge parsing, and Docker's token
//! protocol (realm/service/scope → Bearer token, cached until `expires_in`).

use crate::error::{DistError, Result};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Docker's `AuthConfig`, as carried base64url-encoded in `X-Registry-Auth` and in the
/// body of `POST /auth`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AuthConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// base64(`user:password`), as stored in `config.json`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serveraddress: String,
    /// An OAuth refresh token, used instead of a password with token servers.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub identitytoken: String,
    /// A bearer token to send as is.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registrytoken: String,
}

impl AuthConfig {
    /// Decodes an `X-Registry-Auth` header (base64url JSON, padded or not). An empty or
    /// `{}` header means anonymous.
    pub fn from_header(h: &str) -> Result<Option<AuthConfig>> {
        let h = h.trim();
        if h.is_empty() {
            return Ok(None);
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(h.trim_end_matches('='))
            .or_else(|_| base64::engine::general_purpose::STANDARD.decode(h))
            .map_err(|e| DistError::Invalid(format!("invalid X-Registry-Auth header: {e}")))?;
        let a: AuthConfig = serde_json::from_slice(&raw)
            .map_err(|e| DistError::Invalid(format!("invalid X-Registry-Auth header: {e}")))?;
        Ok(a.normalized())
    }

    /// Fills username/password from `auth`; `None` when nothing is set.
    pub fn normalized(mut self) -> Option<AuthConfig> {
        if self.username.is_empty() && !self.auth.is_empty() {
            if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(self.auth.trim()) {
                if let Ok(s) = String::from_utf8(raw) {
                    if let Some((u, p)) = s.split_once(':') {
                        self.username = u.to_string();
                        self.password = p.to_string();
                    }
                }
            }
        }
        let anon = self.username.is_empty()
            && self.password.is_empty()
            && self.identitytoken.is_empty()
            && self.registrytoken.is_empty();
        (!anon).then_some(self)
    }

    /// The header value encoding this config.
    pub fn to_header(&self) -> String {
        let j = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE.encode(j)
    }

    fn basic_value(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Challenge {
    /// `basic` or `bearer` (lower-cased).
    pub scheme: String,
    pub params: HashMap<String, String>,
}

/// Parses `Bearer realm="…",service="…",scope="a,b"` (quoted values may hold commas and
/// escaped quotes). Returns every challenge in the header.
pub fn parse_challenges(h: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let b = h.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t' || b[*i] == b',') {
            *i += 1;
        }
    };
    while i < b.len() {
        skip_ws(&mut i);
        let start = i;
        while i < b.len() && b[i] != b' ' && b[i] != b'=' && b[i] != b',' {
            i += 1;
        }
        if start == i {
            break;
        }
        let token = &h[start..i];
        if i < b.len() && b[i] == b'=' {
            // A parameter of the current challenge.
            i += 1;
            let value = if i < b.len() && b[i] == b'"' {
                i += 1;
                let mut v = String::new();
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    v.push(b[i] as char);
                    i += 1;
                }
                i += 1; // closing quote
                v
            } else {
                let s = i;
                while i < b.len() && b[i] != b',' {
                    i += 1;
                }
                h[s..i].trim().to_string()
            };
            if let Some(c) = out.last_mut() {
                c.params.insert(token.to_ascii_lowercase(), value);
            }
        } else {
            out.push(Challenge {
                scheme: token.to_ascii_lowercase(),
                params: HashMap::new(),
            });
        }
    }
    out
}

/// The token server's answer.
#[derive(Debug, Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: String,
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Bearer tokens by (realm, service, user, scopes), kept until they expire.
#[derive(Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl TokenCache {
    fn get(&self, key: &str) -> Option<String> {
        let m = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        m.get(key)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(t, _)| t.clone())
    }

    fn put(&self, key: String, token: String, ttl: Duration) {
        let mut m = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        m.insert(key, (token, Instant::now() + ttl));
    }

    /// Drops every cached token of `registry` (one was rejected).
    pub fn forget(&self, registry: &str) {
        let mut m = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let prefix = format!("{registry}|");
        m.retain(|k, _| !k.starts_with(&prefix));
    }

    /// A Bearer token for `scopes` from the challenge's realm, fetched with `creds`
    /// (Basic) or anonymously, cached until its `expires_in` (less a margin).
    pub async fn token(
        &self,
        http: &reqwest::Client,
        registry: &str,
        challenge: &Challenge,
        scopes: &[String],
        creds: Option<&AuthConfig>,
    ) -> Result<String> {
        let realm = challenge.params.get("realm").ok_or_else(|| {
            DistError::Registry(format!(
                "registry {registry} sent a Bearer challenge without a realm"
            ))
        })?;
        let service = challenge.params.get("service").cloned().unwrap_or_default();
        let user = creds.map(|c| c.username.as_str()).unwrap_or("");
        let key = format!("{registry}|{realm}|{service}|{user}|{}", scopes.join(" "));
        if let Some(t) = self.get(&key) {
            return Ok(t);
        }
        if let Some(t) = creds.filter(|c| !c.registrytoken.is_empty()) {
            return Ok(t.registrytoken.clone());
        }
        let mut url = url::Url::parse(realm).map_err(|e| {
            DistError::Registry(format!(
                "registry {registry}: bad token realm {realm:?}: {e}"
            ))
        })?;
        {
            let mut q = url.query_pairs_mut();
            if !service.is_empty() {
                q.append_pair("service", &service);
            }
            for s in scopes {
                q.append_pair("scope", s);
            }
        }
        let resp = match creds {
            Some(c) if !c.identitytoken.is_empty() => {
                // OAuth2 refresh-token grant.
                let mut form = vec![
                    ("grant_type", "refresh_token".to_string()),
                    ("refresh_token", c.identitytoken.clone()),
                    ("client_id", "berth".to_string()),
                    ("service", service.clone()),
                ];
                if !scopes.is_empty() {
                    form.push(("scope", scopes.join(" ")));
                }
                let body = form
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{k}={}",
                            url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("&");
                http.post(realm)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
            }
            Some(c) => {
                http.get(url.clone())
                    .header("authorization", c.basic_value())
                    .send()
                    .await
            }
            None => http.get(url.clone()).send().await,
        }
        .map_err(|e| DistError::Unreachable {
            registry: registry.to_string(),
            message: format!("fetching a token from {realm} for {registry}: {e}"),
        })?;
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            let detail = crate::client::error_text(&body);
            return Err(DistError::Unauthorized {
                registry: registry.to_string(),
                message: format!(
                    "unauthorized: authentication required by {registry} (token server {realm} answered {status}{})",
                    if detail.is_empty() { String::new() } else { format!(": {detail}") }
                ),
            });
        }
        if !status.is_success() {
            return Err(DistError::Registry(format!(
                "token server {realm} for {registry} answered {status}: {}",
                crate::client::error_text(&body)
            )));
        }
        let t: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            DistError::Registry(format!("token server {realm} sent an invalid answer: {e}"))
        })?;
        let token = if !t.token.is_empty() {
            t.token
        } else if !t.access_token.is_empty() {
            t.access_token
        } else {
            return Err(DistError::Registry(format!(
                "token server {realm} sent no token"
            )));
        };
        let ttl = t.expires_in.unwrap_or(60).max(60);
        self.put(
            key,
            token.clone(),
            Duration::from_secs(ttl.saturating_sub(10)),
        );
        Ok(token)
    }
}

/// What to send in `Authorization`, given the registry's challenge.
pub async fn authorization(
    tokens: &TokenCache,
    http: &reqwest::Client,
    registry: &str,
    challenge: Option<&Challenge>,
    scopes: &[String],
    creds: Option<&AuthConfig>,
) -> Result<Option<String>> {
    match challenge {
        None => Ok(None),
        Some(c) if c.scheme == "bearer" => {
            let t = tokens.token(http, registry, c, scopes, creds).await?;
            Ok(Some(format!("Bearer {t}")))
        }
        Some(c) if c.scheme == "basic" => match creds {
            Some(cr) if !cr.username.is_empty() => Ok(Some(cr.basic_value())),
            _ => Err(DistError::Unauthorized {
                registry: registry.to_string(),
                message: format!(
                    "no basic auth credentials for {registry} (run `berth login {registry}`)"
                ),
            }),
        },
        Some(c) => Err(DistError::Registry(format!(
            "registry {registry} asks for unsupported authentication scheme {:?}",
            c.scheme
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenge_with_commas_in_scope() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:samalba/my-app:pull,push",error="insufficient_scope""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].params["realm"], "https://auth.example/token");
        assert_eq!(c[0].params["service"], "registry.example");
        assert_eq!(c[0].params["scope"], "repository:samalba/my-app:pull,push");
        assert_eq!(c[0].params["error"], "insufficient_scope");
    }

    #[test]
    fn parses_basic_challenge() {
        let c = parse_challenges(r#"Basic realm="Registry Realm""#);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].params["realm"], "Registry Realm");
    }

    #[test]
    fn auth_header_round_trip_and_anonymous() {
        assert_eq!(AuthConfig::from_header("e30=").unwrap(), None);
        assert_eq!(AuthConfig::from_header("").unwrap(), None);
        let a = AuthConfig {
            username: "u".into(),
            password: "p w".into(),
            serveraddress: "localhost:5000".into(),
            ..Default::default()
        };
        assert_eq!(AuthConfig::from_header(&a.to_header()).unwrap(), Some(a));
        let stored = AuthConfig {
            auth: "dTpwOng=".into(), // u:p:x
            ..Default::default()
        }
        .normalized()
        .unwrap();
        assert_eq!(
            (stored.username.as_str(), stored.password.as_str()),
            ("u", "p:x")
        );
        assert!(AuthConfig::from_header("!!!").is_err());
    }
}
