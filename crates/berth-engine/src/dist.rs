//! Pull, push and login: the engine's side of image distribution. The registry work is
//! berth-dist's; here references from the API are parsed the way dockerd parses them,
//! local images are looked up, errors get Docker's status codes, and events are sent.

use crate::error::{EngineError, Result};
use crate::Engine;
use berth_dist::auth::AuthConfig;
use berth_dist::pull::{PullRequest, Pulled, Resolved};
use berth_dist::push::PushRequest;
use berth_dist::{DistConfig, DistError, Progress};
use berth_oci::media_types::LayerCompression;
use berth_oci::Reference;
use std::sync::Arc;

impl berth_dist::StoreHandle for Engine {
    fn store(&self) -> &berth_store::Store {
        &self.store
    }
}

impl From<DistError> for EngineError {
    fn from(e: DistError) -> Self {
        match e {
            DistError::NotFound(m) => EngineError::NotFound(m),
            // dockerd answers "pull access denied" as not found.
            DistError::Unauthorized { message, .. } => EngineError::NotFound(message),
            DistError::Invalid(m) => EngineError::BadRequest(m),
            DistError::Store(s) => s.into(),
            other => EngineError::Internal(other.to_string()),
        }
    }
}

/// `POST /images/create?fromImage=&tag=&platform=`.
#[derive(Debug, Clone, Default)]
pub struct PullParams {
    pub from_image: String,
    pub tag: Option<String>,
    pub platform: Option<String>,
    /// The `X-Registry-Auth` header.
    pub auth: Option<String>,
}

/// `POST /images/{name}/push?tag=`.
#[derive(Debug, Clone, Default)]
pub struct PushParams {
    pub name: String,
    /// Empty: every tag of the repository.
    pub tag: Option<String>,
    pub auth: Option<String>,
    /// `gzip` (default) or `zstd`.
    pub compression: Option<String>,
}

fn decode_auth(h: Option<&str>) -> Result<Option<AuthConfig>> {
    match h {
        None => Ok(None),
        Some(h) => Ok(AuthConfig::from_header(h)?),
    }
}

impl Engine {
    /// Registry settings (`--insecure-registry`, certs.d roots, concurrency).
    pub fn set_dist_config(&self, c: DistConfig) {
        self.dist.set_config(c);
    }

    /// Parses the pull parameters and resolves the manifest. Errors here are answered
    /// with an HTTP status, before any progress is streamed (as dockerd does).
    pub async fn pull_resolve(&self, p: &PullParams) -> Result<Resolved> {
        // fromImage may carry the tag or digest itself; `tag` may also be a digest.
        let reference = match p.tag.as_deref().filter(|t| !t.is_empty()) {
            Some(t) if t.contains(':') => {
                Reference::parse_normalized(&format!("{}@{t}", p.from_image))?
            }
            Some(t) => Reference::from_repo_tag(&p.from_image, Some(t))?,
            None => Reference::parse_normalized(&p.from_image)?,
        };
        let req = PullRequest {
            reference: reference.with_default_tag(),
            platform: p.platform.clone().filter(|s| !s.is_empty()),
            auth: decode_auth(p.auth.as_deref())?,
        };
        Ok(self.dist.resolve(&req).await?)
    }

    /// Downloads and commits a resolved image, streaming progress.
    pub async fn pull_fetch(
        self: &Arc<Self>,
        r: Resolved,
        progress: Arc<Progress>,
    ) -> Result<Pulled> {
        let name = r.reference().familiar();
        let pulled = self.dist.fetch(self.clone(), r, progress).await?;
        self.emit_image_event(&pulled.image_id.to_string(), "pull", &name);
        Ok(pulled)
    }

    /// The references a push covers: `name:tag`, or every tag of `name`'s repository.
    pub fn push_targets(&self, p: &PushParams) -> Result<Vec<(Reference, berth_oci::Digest)>> {
        let base = Reference::parse_normalized(&p.name)?;
        let tag = p
            .tag
            .clone()
            .filter(|t| !t.is_empty())
            .or_else(|| base.tag().map(String::from));
        if let Some(t) = tag {
            let r = Reference::from_repo_tag(&base.name(), Some(&t))?;
            let img = self.store.resolve(&r.to_string()).map_err(|_| {
                EngineError::NotFound(format!("tag does not exist: {}", r.familiar()))
            })?;
            return Ok(vec![(r, img.id)]);
        }
        let name = base.name();
        let mut v: Vec<(Reference, berth_oci::Digest)> = self
            .store
            .tags()?
            .into_iter()
            .filter(|(r, _)| r.name() == name && r.tag().is_some())
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        if v.is_empty() {
            return Err(EngineError::NotFound(format!(
                "An image does not exist locally with the tag: {}",
                base.familiar_name()
            )));
        }
        Ok(v)
    }

    /// Pushes every target, streaming progress.
    pub async fn push(
        self: &Arc<Self>,
        p: &PushParams,
        targets: Vec<(Reference, berth_oci::Digest)>,
        progress: Arc<Progress>,
    ) -> Result<()> {
        let compression = match p.compression.as_deref().unwrap_or("gzip") {
            "" | "gzip" => LayerCompression::Gzip,
            "zstd" => LayerCompression::Zstd,
            other => {
                return Err(EngineError::BadRequest(format!(
                    "unsupported compression {other:?}: use gzip or zstd"
                )))
            }
        };
        let auth = decode_auth(p.auth.as_deref())?;
        if let Some((first, _)) = targets.first() {
            progress.line(format!(
                "The push refers to repository [{}]",
                first.name().trim_start_matches("docker.io/")
            ));
        }
        for (target, image) in targets {
            let req = PushRequest {
                image: image.clone(),
                target: target.clone(),
                auth: auth.clone(),
                compression,
            };
            self.dist.push(self.clone(), &req, progress.clone()).await?;
            self.emit_image_event(&image.to_string(), "push", &target.familiar());
        }
        Ok(())
    }

    /// `POST /auth` (the caller maps an unauthorized answer to 401).
    pub async fn registry_login(&self, auth: AuthConfig) -> berth_dist::Result<()> {
        self.dist.login(&auth).await
    }

    fn emit_image_event(&self, id: &str, action: &str, name: &str) {
        let mut attrs = std::collections::HashMap::new();
        attrs.insert("name".to_string(), name.to_string());
        self.events.emit(
            bollard_stubs::models::EventMessageTypeEnum::IMAGE,
            action,
            id,
            attrs,
        );
    }
}
