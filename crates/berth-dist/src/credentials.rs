//! The CLI's side of credentials: `~/.docker/config.json` (or `$DOCKER_CONFIG`), shared
//! with the docker CLI. `auths` entries hold base64 `user:password`; when `credHelpers`
//! names a helper for a registry, or `credsStore` names a default one, the secret goes
//! to `docker-credential-<helper>` (`get`/`store`/`erase` over stdin/stdout, the
//! docker-credential-helpers protocol) instead. Unknown keys in the file are kept.

use crate::auth::AuthConfig;
use crate::error::{DistError, Result};
use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Docker Hub's key in `auths`.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn config_path() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("config.json");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".docker").join("config.json")
}

/// The key a registry is stored under (`docker.io` → Docker Hub's URL).
pub fn server_key(registry: &str) -> String {
    let h = crate::login_host(registry);
    if h == crate::endpoint::DOCKER_HUB {
        DOCKER_HUB_KEY.to_string()
    } else {
        h
    }
}

/// A config file and where it lives.
pub struct CredStore {
    path: PathBuf,
    doc: Map<String, Value>,
}

fn helper_for(doc: &Map<String, Value>, key: &str) -> Option<String> {
    doc.get("credHelpers")
        .and_then(|h| h.get(key))
        .and_then(|v| v.as_str())
        .or_else(|| doc.get("credsStore").and_then(|v| v.as_str()))
        .filter(|s| !s.is_empty())
        .map(String::from)
}

fn run_helper(helper: &str, verb: &str, input: &[u8]) -> Result<Vec<u8>> {
    let prog = format!("docker-credential-{helper}");
    let mut child = Command::new(&prog)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| DistError::Invalid(format!("running credential helper {prog}: {e}")))?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(input)
            .map_err(|e| DistError::io(format!("writing to {prog}"), e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| DistError::io(format!("running {prog}"), e))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stdout).trim().to_string()
            + String::from_utf8_lossy(&out.stderr).trim();
        return Err(DistError::Invalid(format!(
            "credential helper {prog} {verb} failed: {msg}"
        )));
    }
    Ok(out.stdout)
}

impl CredStore {
    /// Reads the config file (a missing file is an empty config).
    pub fn load(path: &Path) -> Result<CredStore> {
        let doc = match std::fs::read(path) {
            Ok(b) if b.iter().all(|c| c.is_ascii_whitespace()) => Map::new(),
            Ok(b) => serde_json::from_slice::<Value>(&b)
                .ok()
                .and_then(|v| v.as_object().cloned())
                .ok_or_else(|| {
                    DistError::Invalid(format!("{} is not a JSON object", path.display()))
                })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => return Err(DistError::io(format!("reading {}", path.display()), e)),
        };
        Ok(CredStore {
            path: path.to_path_buf(),
            doc,
        })
    }

    pub fn load_default() -> Result<CredStore> {
        Self::load(&config_path())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Credentials for a registry, if any are stored.
    pub fn get(&self, registry: &str) -> Result<Option<AuthConfig>> {
        let key = server_key(registry);
        if let Some(h) = helper_for(&self.doc, &key) {
            let out = match run_helper(&h, "get", key.as_bytes()) {
                Ok(o) => o,
                Err(_) => return Ok(None), // "credentials not found in native keychain"
            };
            let v: Value = serde_json::from_slice(&out).unwrap_or(Value::Null);
            let user = v.get("Username").and_then(|x| x.as_str()).unwrap_or("");
            let secret = v.get("Secret").and_then(|x| x.as_str()).unwrap_or("");
            let mut a = AuthConfig {
                serveraddress: key.clone(),
                ..Default::default()
            };
            if user == "<token>" {
                a.identitytoken = secret.to_string();
            } else {
                a.username = user.to_string();
                a.password = secret.to_string();
            }
            return Ok(a.normalized());
        }
        let auths = self.doc.get("auths").and_then(|a| a.as_object());
        let Some(auths) = auths else { return Ok(None) };
        let entry = auths.get(&key).or_else(|| {
            auths
                .iter()
                .find_map(|(k, v)| (crate::login_host(k) == crate::login_host(&key)).then_some(v))
        });
        let Some(entry) = entry else { return Ok(None) };
        let mut a: AuthConfig = serde_json::from_value(entry.clone()).unwrap_or_default();
        a.serveraddress = key;
        Ok(a.normalized())
    }

    /// Stores credentials (in the helper when one is configured) and saves the file.
    pub fn store(&mut self, registry: &str, auth: &AuthConfig) -> Result<()> {
        let key = server_key(registry);
        let helper = helper_for(&self.doc, &key);
        let auths = self
            .doc
            .entry("auths")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or_else(|| DistError::Invalid("config.json: \"auths\" is not an object".into()))?;
        if let Some(h) = helper {
            let (user, secret) = if auth.identitytoken.is_empty() {
                (auth.username.clone(), auth.password.clone())
            } else {
                ("<token>".to_string(), auth.identitytoken.clone())
            };
            let input = json!({"ServerURL": key, "Username": user, "Secret": secret});
            run_helper(&h, "store", input.to_string().as_bytes())?;
            // docker keeps an empty entry so `docker info` lists the registry.
            auths.insert(key, json!({}));
        } else {
            let mut e = Map::new();
            let raw = format!("{}:{}", auth.username, auth.password);
            e.insert(
                "auth".into(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(raw)),
            );
            if !auth.identitytoken.is_empty() {
                e.insert(
                    "identitytoken".into(),
                    Value::String(auth.identitytoken.clone()),
                );
            }
            auths.insert(key, Value::Object(e));
        }
        self.save()
    }

    /// Removes stored credentials; returns whether there were any.
    pub fn erase(&mut self, registry: &str) -> Result<bool> {
        let key = server_key(registry);
        let mut had = false;
        if let Some(h) = helper_for(&self.doc, &key) {
            had |= run_helper(&h, "erase", key.as_bytes()).is_ok();
        }
        if let Some(a) = self.doc.get_mut("auths").and_then(|a| a.as_object_mut()) {
            let keys: Vec<String> = a
                .keys()
                .filter(|k| **k == key || crate::login_host(k) == crate::login_host(&key))
                .cloned()
                .collect();
            for k in keys {
                a.remove(&k);
                had = true;
            }
        }
        if had {
            self.save()?;
        }
        Ok(had)
    }

    /// Writes the file temp → fsync → rename, mode 0600.
    pub fn save(&self) -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .map_err(|e| DistError::io(format!("creating {}", dir.display()), e))?;
        let tmp = dir.join(format!(".config.json.{:08x}", rand::random::<u32>()));
        let body = serde_json::to_vec_pretty(&Value::Object(self.doc.clone()))
            .map_err(|e| DistError::Invalid(e.to_string()))?;
        let res = (|| {
            let mut f = std::fs::OpenOptions::new()
                .create_new(true)
                .write(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&body)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if res.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        res.map_err(|e| DistError::io(format!("writing {}", self.path.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_get_erase_keeps_other_keys() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        std::fs::write(
            &p,
            r#"{"psFormat":"table {{.ID}}","auths":{"other:1":{"auth":"eDp5"}}}"#,
        )
        .unwrap();
        let mut c = CredStore::load(&p).unwrap();
        assert_eq!(c.get("localhost:5000").unwrap(), None);
        let a = AuthConfig {
            username: "alice".into(),
            password: "s3cret".into(),
            ..Default::default()
        };
        c.store("localhost:5000", &a).unwrap();
        let c = CredStore::load(&p).unwrap();
        let got = c.get("localhost:5000").unwrap().unwrap();
        assert_eq!(
            (got.username.as_str(), got.password.as_str()),
            ("alice", "s3cret")
        );
        let raw: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(raw["psFormat"], "table {{.ID}}");
        assert_eq!(raw["auths"]["localhost:5000"]["auth"], "YWxpY2U6czNjcmV0");
        assert_eq!(raw["auths"]["other:1"]["auth"], "eDp5");
        let mut c = CredStore::load(&p).unwrap();
        assert!(c.erase("localhost:5000").unwrap());
        assert!(!c.erase("localhost:5000").unwrap());
        assert_eq!(
            CredStore::load(&p).unwrap().get("localhost:5000").unwrap(),
            None
        );
    }

    #[test]
    fn docker_hub_key() {
        assert_eq!(server_key("docker.io"), DOCKER_HUB_KEY);
        assert_eq!(server_key("https://index.docker.io/v1/"), DOCKER_HUB_KEY);
        assert_eq!(server_key("localhost:5000"), "localhost:5000");
        assert_eq!(server_key("http://localhost:5000/"), "localhost:5000");
    }
}
