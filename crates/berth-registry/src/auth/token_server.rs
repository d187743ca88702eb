//! The built-in token server (berth extension): answers `GET <realm>?service=&scope=` with
//! a signed JWT granting the requested actions the htpasswd user is allowed (a partial
//! grant is not an error, per the token spec), so a secured registry needs no second
//! program. Rules come from `auth.token.acl`; by default every authenticated user may
//! pull, push and delete everywhere and anonymous users get nothing.

use super::htpasswd::{parse_basic, Htpasswd};
use super::jwt::Signer;
use super::Scope;
use crate::config::AclRule;
use crate::errors::{ApiError, Code};
use crate::names::glob_match;
use http::HeaderMap;
use serde_json::json;

/// The token endpoint.
pub struct TokenServer {
    pub path: String,
    pub signer: Signer,
    pub users: Htpasswd,
    pub realm: String,
    pub acl: Option<Vec<AclRule>>,
    pub ttl_secs: u64,
}

impl TokenServer {
    fn allowed(&self, account: Option<&str>, scope: &Scope) -> Vec<String> {
        let rules: Vec<AclRule> = match &self.acl {
            Some(r) => r.clone(),
            None => vec![AclRule {
                account: "*".into(),
                name: "*".into(),
                actions: vec!["*".into()],
            }],
        };
        let mut out: Vec<String> = Vec::new();
        for want in &scope.actions {
            let ok = rules.iter().any(|r| {
                let who = match account {
                    Some(a) => r.account == "*" || r.account == a,
                    None => r.account.is_empty(),
                };
                let what = match scope.typ.as_str() {
                    "repository" => glob_match(&r.name, &scope.name),
                    "registry" => r.name == "*" || r.name == scope.name,
                    _ => false,
                };
                who && what && r.actions.iter().any(|a| a == "*" || a == want)
            });
            if ok && !out.contains(want) {
                out.push(want.clone());
            }
        }
        out
    }

    /// Handles one token request (query string already split into pairs).
    pub fn issue(
        &self,
        headers: &HeaderMap,
        query: &[(String, String)],
    ) -> Result<serde_json::Value, ApiError> {
        let authz = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let creds = match authz {
            None => None,
            Some(a) => Some(parse_basic(a).ok_or_else(|| {
                ApiError::new(
                    Code::Unauthorized,
                    "token server accepts Basic credentials only",
                )
            })?),
        };
        self.issue_with(creds, query)
    }

    /// The OAuth2 variant (`POST` form with `grant_type=password`, distribution's
    /// `oauth.md`); the form's `scope` is space-separated like the query's.
    pub fn issue_oauth(&self, form: &[(String, String)]) -> Result<serde_json::Value, ApiError> {
        let get = |k: &str| form.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
        if get("grant_type").as_deref() != Some("password") {
            return Err(ApiError::new(
                Code::Unsupported,
                "only grant_type=password is supported (no refresh tokens are issued)",
            )
            .status(http::StatusCode::BAD_REQUEST));
        }
        let creds = match (get("username"), get("password")) {
            (Some(u), Some(p)) => Some((u, p)),
            _ => None,
        };
        self.issue_with(creds, form)
    }

    fn issue_with(
        &self,
        creds: Option<(String, String)>,
        query: &[(String, String)],
    ) -> Result<serde_json::Value, ApiError> {
        let account = match creds {
            None => None,
            Some((u, p)) => {
                if !self.users.verify(&u, &p) {
                    return Err(
                        ApiError::new(Code::Unauthorized, "invalid username or password").header(
                            http::header::WWW_AUTHENTICATE,
                            &format!("Basic realm=\"{}\"", self.realm),
                        ),
                    );
                }
                Some(u)
            }
        };
        if let Some((_, svc)) = query.iter().find(|(k, _)| k == "service") {
            if svc != &self.signer.service {
                return Err(ApiError::new(
                    Code::Denied,
                    format!(
                        "this token server serves {:?}, not {svc:?}",
                        self.signer.service
                    ),
                ));
            }
        }
        let mut granted = Vec::new();
        for (_, s) in query.iter().filter(|(k, _)| k == "scope") {
            for one in s.split(' ').filter(|x| !x.is_empty()) {
                let Some(scope) = Scope::parse(one) else {
                    return Err(ApiError::new(
                        Code::Denied,
                        format!("invalid scope {one:?}"),
                    ));
                };
                let actions = self.allowed(account.as_deref(), &scope);
                granted.push(Scope { actions, ..scope });
            }
        }
        let token = self
            .signer
            .sign(account.as_deref().unwrap_or(""), &granted, self.ttl_secs)
            .map_err(ApiError::internal)?;
        tracing::info!(account = account.as_deref().unwrap_or(""), scopes = ?granted, "issued token");
        Ok(json!({
            "token": token,
            "access_token": token,
            "expires_in": self.ttl_secs,
            "issued_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }))
    }
}
