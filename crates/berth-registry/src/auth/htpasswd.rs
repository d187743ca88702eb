//! htpasswd files with bcrypt hashes (what `htpasswd -Bbn` writes and distribution reads).
//!
//! Successful verifications are cached in memory (keyed by user and a sha256 of the
//! password) because docker clients send Basic credentials on every request and bcrypt is
//! deliberately slow. The file is re-read when its modification time changes.

use base64::Engine as _;
use sha2::Digest as _;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// Why an htpasswd file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum HtpasswdError {
    #[error("reading htpasswd file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

#[derive(Default)]
struct State {
    users: HashMap<String, String>,
    mtime: Option<SystemTime>,
    ok_cache: HashSet<(String, [u8; 32])>,
}

/// A loaded htpasswd file.
pub struct Htpasswd {
    path: PathBuf,
    state: Mutex<State>,
}

fn parse(path: &Path, text: &str) -> Result<HashMap<String, String>, HtpasswdError> {
    let mut users = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (u, h) = l.split_once(':').ok_or_else(|| HtpasswdError::Line {
            path: path.to_path_buf(),
            line: i + 1,
            message: "expected user:hash".into(),
        })?;
        if !h.starts_with("$2") {
            return Err(HtpasswdError::Line {
                path: path.to_path_buf(),
                line: i + 1,
                message: format!("user {u:?}: only bcrypt hashes are supported (htpasswd -B)"),
            });
        }
        users.insert(u.to_string(), h.to_string());
    }
    Ok(users)
}

impl Htpasswd {
    /// Loads `path` (errors name the file and line).
    pub fn load(path: &Path) -> Result<Htpasswd, HtpasswdError> {
        let text = std::fs::read_to_string(path).map_err(|source| HtpasswdError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let users = parse(path, &text)?;
        let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        Ok(Htpasswd {
            path: path.to_path_buf(),
            state: Mutex::new(State {
                users,
                mtime,
                ok_cache: HashSet::new(),
            }),
        })
    }

    fn reload_if_changed(&self, st: &mut State) {
        let mtime = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if mtime != st.mtime {
            match std::fs::read_to_string(&self.path)
                .map_err(|source| HtpasswdError::Read {
                    path: self.path.clone(),
                    source,
                })
                .and_then(|t| parse(&self.path, &t))
            {
                Ok(users) => {
                    st.users = users;
                    st.ok_cache.clear();
                    st.mtime = mtime;
                }
                Err(e) => tracing::warn!(error = %e, "keeping previous htpasswd contents"),
            }
        }
    }

    /// Does `user` have password `pass`?
    pub fn verify(&self, user: &str, pass: &str) -> bool {
        let key = (
            user.to_string(),
            sha2::Sha256::digest(pass.as_bytes()).into(),
        );
        let hash = {
            let Ok(mut st) = self.state.lock() else {
                return false;
            };
            self.reload_if_changed(&mut st);
            if st.ok_cache.contains(&key) {
                return true;
            }
            match st.users.get(user) {
                Some(h) => h.clone(),
                None => return false,
            }
        };
        let ok = bcrypt::verify(pass, &hash).unwrap_or(false);
        if ok {
            if let Ok(mut st) = self.state.lock() {
                st.ok_cache.insert(key);
            }
        }
        ok
    }
}

/// Decodes `Basic <base64(user:pass)>`.
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let b64 = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_bcrypt_and_caches() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("htpasswd");
        let h = bcrypt::hash("s3cret", 4).unwrap();
        std::fs::write(&p, format!("# comment\nalice:{h}\n")).unwrap();
        let f = Htpasswd::load(&p).unwrap();
        assert!(f.verify("alice", "s3cret"));
        assert!(f.verify("alice", "s3cret"));
        assert!(!f.verify("alice", "wrong"));
        assert!(!f.verify("bob", "s3cret"));
    }

    #[test]
    fn rejects_non_bcrypt_with_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("htpasswd");
        std::fs::write(&p, "alice:{SHA}abc\n").unwrap();
        let e = Htpasswd::load(&p).err().unwrap().to_string();
        assert!(e.contains(":1:"), "{e}");
        assert!(e.contains("bcrypt"), "{e}");
    }

    #[test]
    fn basic_header() {
        assert_eq!(
            parse_basic("Basic YWxpY2U6czNjcmV0"),
            Some(("alice".into(), "s3cret".into()))
        );
        assert_eq!(parse_basic("Bearer x"), None);
    }
}
