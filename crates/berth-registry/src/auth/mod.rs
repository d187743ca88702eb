//! Access control: who may do what on which repository.
//!
//! Each request needs a set of [`Scope`]s (`repository:<name>:pull`, `…:push`,
//! `registry:catalog:*`). The [`Authorizer`] checks them against htpasswd Basic credentials
//! (any valid user may do everything, as in distribution) or a Bearer JWT whose `access`
//! claim must grant every needed action for that repository. Failures produce the
//! `WWW-Authenticate` challenge clients follow (Basic realm, or Bearer realm/service/scope).

pub mod htpasswd;
pub mod jwt;
pub mod token_server;

use crate::errors::{ApiError, Code};
use http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A resource and the actions wanted on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    #[serde(rename = "type")]
    pub typ: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl Scope {
    pub fn repo(name: &str, actions: &[&str]) -> Scope {
        Scope {
            typ: "repository".into(),
            name: name.into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        }
    }
    pub fn catalog() -> Scope {
        Scope {
            typ: "registry".into(),
            name: "catalog".into(),
            actions: vec!["*".into()],
        }
    }

    /// Parses `type:name:action[,action]` (`repository(plugin)` classes are stripped).
    pub fn parse(s: &str) -> Option<Scope> {
        let (typ, rest) = s.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        let typ = typ.split('(').next().unwrap_or(typ);
        if typ.is_empty() || name.is_empty() {
            return None;
        }
        Some(Scope {
            typ: typ.to_string(),
            name: name.to_string(),
            actions: actions
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }

    /// The challenge form `type:name:a,b`.
    pub fn to_challenge(&self) -> String {
        format!("{}:{}:{}", self.typ, self.name, self.actions.join(","))
    }
}

/// How requests are authenticated.
pub enum Authorizer {
    /// No authentication.
    Open,
    Htpasswd {
        realm: String,
        file: htpasswd::Htpasswd,
    },
    Token(jwt::Verifier),
}

/// Who made the request (for logs).
#[derive(Debug, Clone, Default)]
pub struct Principal {
    pub user: Option<String>,
}

impl Authorizer {
    /// Checks the request's credentials against the needed scopes.
    pub fn authorize(&self, headers: &HeaderMap, need: &[Scope]) -> Result<Principal, ApiError> {
        let authz = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match self {
            Authorizer::Open => Ok(Principal::default()),
            Authorizer::Htpasswd { realm, file } => {
                let challenge = format!("Basic realm=\"{realm}\"");
                let unauthorized = |msg: &str| {
                    ApiError::new(Code::Unauthorized, msg)
                        .detail(scope_detail(need))
                        .header(http::header::WWW_AUTHENTICATE, &challenge)
                };
                let Some((user, pass)) = authz.and_then(htpasswd::parse_basic) else {
                    return Err(unauthorized("authentication required"));
                };
                if file.verify(&user, &pass) {
                    Ok(Principal { user: Some(user) })
                } else {
                    Err(unauthorized("invalid username or password"))
                }
            }
            Authorizer::Token(v) => {
                let challenge = |error: Option<&str>| {
                    let mut c = format!("Bearer realm=\"{}\",service=\"{}\"", v.realm, v.service);
                    if !need.is_empty() {
                        let s: Vec<String> = need.iter().map(Scope::to_challenge).collect();
                        c.push_str(&format!(",scope=\"{}\"", s.join(" ")));
                    }
                    if let Some(e) = error {
                        c.push_str(&format!(",error=\"{e}\""));
                    }
                    c
                };
                let Some(token) = authz.and_then(|a| a.strip_prefix("Bearer ")) else {
                    return Err(ApiError::new(Code::Unauthorized, "authentication required")
                        .detail(scope_detail(need))
                        .header(http::header::WWW_AUTHENTICATE, &challenge(None)));
                };
                let claims = v.verify(token.trim()).map_err(|e| {
                    ApiError::new(Code::Unauthorized, format!("invalid token: {e}"))
                        .detail(scope_detail(need))
                        .header(
                            http::header::WWW_AUTHENTICATE,
                            &challenge(Some("invalid_token")),
                        )
                })?;
                for s in need {
                    for a in &s.actions {
                        if !claims.grants(&s.typ, &s.name, a) {
                            return Err(ApiError::new(
                                Code::Unauthorized,
                                format!("token does not grant {a} on {}:{}", s.typ, s.name),
                            )
                            .detail(scope_detail(need))
                            .header(
                                http::header::WWW_AUTHENTICATE,
                                &challenge(Some("insufficient_scope")),
                            ));
                        }
                    }
                }
                Ok(Principal {
                    user: Some(claims.sub.clone()).filter(|s| !s.is_empty()),
                })
            }
        }
    }
}

fn scope_detail(need: &[Scope]) -> serde_json::Value {
    let v: Vec<_> = need
        .iter()
        .flat_map(|s| {
            s.actions
                .iter()
                .map(move |a| json!({"Type": s.typ, "Name": s.name, "Action": a}))
        })
        .collect();
    if v.is_empty() {
        serde_json::Value::Null
    } else {
        json!(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse() {
        let s = Scope::parse("repository:samalba/my-app:pull,push").unwrap();
        assert_eq!(s, Scope::repo("samalba/my-app", &["pull", "push"]));
        assert_eq!(s.to_challenge(), "repository:samalba/my-app:pull,push");
        let s = Scope::parse("repository(plugin):a:pull").unwrap();
        assert_eq!(s.typ, "repository");
        assert_eq!(
            Scope::parse("registry:catalog:*").unwrap(),
            Scope::catalog()
        );
        // Names with a port-like colon keep everything before the last colon.
        assert_eq!(Scope::parse("repository:a:b:pull").unwrap().name, "a:b");
        assert!(Scope::parse("nonsense").is_none());
    }

    #[test]
    fn open_allows_everything() {
        let a = Authorizer::Open;
        assert!(a.authorize(&HeaderMap::new(), &[Scope::catalog()]).is_ok());
    }
}
