//! Image operations: list, inspect, history, tag, remove, prune, import.

use crate::changes;
use crate::error::{EngineError, Result};
use crate::filters::{glob_match, Filters};
use crate::Engine;
use berth_oci::{Digest, HistoryEntry, ImageConfig, Reference, RootFs, RunConfig};
use berth_store::{ConfigSource, ImageRecord, NewImage};
use bollard_stubs::models::{
    DriverData, ImageDeleteResponseItem, ImageHistoryResponseItem, ImageInspect,
    ImageInspectMetadata, ImageInspectRootFs, ImagePruneResponse, ImageSummary,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;

/// Options of `POST /images/create?fromSrc=-`.
#[derive(Debug, Default, Clone)]
pub struct ImportOptions {
    /// `repo` (may include a tag) and `tag`.
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub changes: Vec<String>,
    pub message: Option<String>,
    pub platform: Option<String>,
}

fn unix_seconds(rfc3339: Option<&str>) -> i64 {
    rfc3339
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

impl Engine {
    fn familiar_tags(&self, tags: Option<&Vec<Reference>>) -> Vec<String> {
        let mut v: Vec<String> = tags
            .map(|t| t.iter().map(|r| r.familiar()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    fn familiar_digests(rec: &ImageRecord) -> Vec<String> {
        rec.repo_digests
            .iter()
            .map(|d| {
                Reference::parse_normalized(d)
                    .map(|r| r.familiar())
                    .unwrap_or_else(|_| d.clone())
            })
            .collect()
    }

    /// `GET /images/json`.
    pub fn image_list(&self, all: bool, filters: &Filters) -> Result<Vec<ImageSummary>> {
        filters.only(&["dangling", "label", "reference", "before", "since", "until"])?;
        let images = self.store.images()?;
        let tags = self.store.tags_by_image()?;
        let parents: HashSet<Digest> = images.iter().filter_map(|i| i.parent.clone()).collect();
        let dangling = match filters.get("dangling").first().map(|s| s.as_str()) {
            None => None,
            Some("true") | Some("1") => Some(true),
            Some("false") | Some("0") => Some(false),
            Some(other) => {
                return Err(EngineError::BadRequest(format!(
                    "Invalid filter 'dangling=[{other}]'"
                )))
            }
        };
        let created_of = |name: &str| -> Result<i64> {
            let r = self.store.resolve(name)?;
            Ok(unix_seconds(r.created.as_deref()))
        };
        let before = filters
            .get("before")
            .first()
            .map(|n| created_of(n))
            .transpose()?;
        let since = filters
            .get("since")
            .first()
            .map(|n| created_of(n))
            .transpose()?;
        let mut out = Vec::new();
        for img in images {
            let my_tags = tags.get(&img.id);
            let tagged = my_tags.map(|t| !t.is_empty()).unwrap_or(false);
            if !all && !tagged && parents.contains(&img.id) {
                continue; // an intermediate image
            }
            if let Some(want) = dangling {
                if want == tagged {
                    continue;
                }
            }
            let (_, cfg) = self.store.config(&img.id)?;
            let labels: BTreeMap<String, String> = cfg
                .config
                .as_ref()
                .and_then(|c| c.labels.clone())
                .unwrap_or_default();
            if !filters.labels_match(&labels) {
                continue;
            }
            let mut repo_tags = self.familiar_tags(my_tags);
            if filters.contains("reference") {
                let refs = filters.get("reference");
                let matched: Vec<String> = repo_tags
                    .iter()
                    .filter(|t| {
                        refs.iter().any(|p| {
                            let name = t.rsplit_once(':').map(|(n, _)| n).unwrap_or(t);
                            glob_match(p, t) || glob_match(p, name)
                        })
                    })
                    .cloned()
                    .collect();
                if matched.is_empty() {
                    continue;
                }
                repo_tags = matched;
            }
            let created = unix_seconds(img.created.as_deref());
            if before.is_some_and(|b| created >= b) || since.is_some_and(|s| created <= s) {
                continue;
            }
            out.push(ImageSummary {
                id: img.id.to_string(),
                parent_id: img
                    .parent
                    .as_ref()
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                repo_tags,
                repo_digests: Self::familiar_digests(&img),
                created,
                size: img.size as i64,
                shared_size: -1,
                labels: labels.into_iter().collect(),
                containers: -1,
                manifests: None,
                descriptor: None,
            });
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// `GET /images/{name}/json`.
    pub fn image_inspect(&self, name: &str) -> Result<ImageInspect> {
        let img = self.store.resolve(name)?;
        let (_, cfg) = self.store.config(&img.id)?;
        let tags = self.store.tags_by_image()?;
        let config = cfg
            .config
            .as_ref()
            .map(|c| serde_json::to_value(c).and_then(serde_json::from_value))
            .transpose()
            .map_err(|e| EngineError::Internal(format!("image config: {e}")))?;
        let mut lowers: Vec<String> = img
            .chain_ids
            .iter()
            .rev()
            .map(|c| self.store.layer_diff(c).display().to_string())
            .collect();
        let upper = lowers.first().cloned().unwrap_or_default();
        if !lowers.is_empty() {
            lowers.remove(0);
        }
        let mut gd = HashMap::new();
        if !upper.is_empty() {
            gd.insert("UpperDir".to_string(), upper.clone());
            gd.insert(
                "MergedDir".to_string(),
                upper.trim_end_matches("/diff").to_string() + "/merged",
            );
            gd.insert(
                "WorkDir".to_string(),
                upper.trim_end_matches("/diff").to_string() + "/work",
            );
        }
        if !lowers.is_empty() {
            gd.insert("LowerDir".to_string(), lowers.join(":"));
        }
        Ok(ImageInspect {
            id: Some(img.id.to_string()),
            repo_tags: Some(self.familiar_tags(tags.get(&img.id))),
            repo_digests: Some(Self::familiar_digests(&img)),
            comment: Some(cfg.comment.clone().unwrap_or_default()),
            created: cfg.created.clone(),
            author: Some(cfg.author.clone().unwrap_or_default()),
            config,
            architecture: Some(cfg.architecture.clone()),
            variant: cfg.variant.clone(),
            os: Some(cfg.os.clone()),
            size: Some(img.size as i64),
            graph_driver: Some(DriverData {
                name: "overlay2".into(),
                data: gd,
            }),
            root_fs: Some(ImageInspectRootFs {
                typ: "layers".into(),
                layers: Some(img.diff_ids.iter().map(|d| d.to_string()).collect()),
            }),
            metadata: Some(ImageInspectMetadata {
                last_tag_time: img.last_tag_time.clone(),
            }),
            ..Default::default()
        })
    }

    /// `GET /images/{name}/history`: newest first, like Docker.
    pub fn image_history(&self, name: &str) -> Result<Vec<ImageHistoryResponseItem>> {
        let img = self.store.resolve(name)?;
        let (_, cfg) = self.store.config(&img.id)?;
        let tags = self.store.tags_by_image()?;
        let mut sizes = Vec::new();
        for c in &img.chain_ids {
            sizes.push(self.store.layer(c)?.map(|l| l.size).unwrap_or(0));
        }
        let mut out = Vec::new();
        let mut layer_i = 0;
        let history: Vec<HistoryEntry> = if cfg.history.is_empty() {
            img.diff_ids
                .iter()
                .map(|_| HistoryEntry::default())
                .collect()
        } else {
            cfg.history.clone()
        };
        for h in &history {
            let size = if h.empty_layer {
                0
            } else {
                let s = sizes.get(layer_i).copied().unwrap_or(0);
                layer_i += 1;
                s
            };
            out.push(ImageHistoryResponseItem {
                id: "<missing>".into(),
                created: unix_seconds(h.created.as_deref()),
                created_by: h.created_by.clone().unwrap_or_default(),
                tags: Vec::new(),
                size: size as i64,
                comment: h.comment.clone().unwrap_or_default(),
            });
        }
        out.reverse();
        // Like Docker: the newest row is the image, each older row its next ancestor
        // (the legacy builder's per-step images) while the parent chain lasts.
        let mut cur = Some(img.clone());
        for row in out.iter_mut() {
            let Some(i) = cur else { break };
            row.id = i.id.to_string();
            row.tags = self.familiar_tags(tags.get(&i.id));
            cur = match &i.parent {
                Some(p) => self.store.image(p)?,
                None => None,
            };
        }
        Ok(out)
    }

    /// `POST /images/{name}/tag?repo=&tag=`.
    pub fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        let img = self.store.resolve(name)?;
        let r = Reference::from_repo_tag(repo, tag)?;
        if r.digest().is_some() {
            return Err(EngineError::BadRequest(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let r = r.with_default_tag();
        self.store.tag(&img.id, &r)?;
        self.image_event(&img.id.to_string(), "tag", &r.familiar());
        Ok(())
    }

    /// Publishes an image event (`name` is the reference it concerns).
    pub(crate) fn image_event(&self, id: &str, action: &str, name: &str) {
        let mut attrs = std::collections::HashMap::new();
        attrs.insert("name".to_string(), name.to_string());
        self.events.emit(
            bollard_stubs::models::EventMessageTypeEnum::IMAGE,
            action,
            id,
            attrs,
        );
    }

    /// `DELETE /images/{name}`: untag, and delete when nothing names the image any more.
    pub fn image_remove(
        &self,
        name: &str,
        force: bool,
        _noprune: bool,
    ) -> Result<Vec<ImageDeleteResponseItem>> {
        let img = self.store.resolve(name)?;
        let my_tags: Vec<Reference> = self
            .store
            .tags_by_image()?
            .remove(&img.id)
            .unwrap_or_default();
        let hexpart = name.strip_prefix("sha256:").unwrap_or(name);
        let named = Reference::parse_normalized(name).ok().filter(|r| {
            let looks_like_id =
                hexpart.bytes().all(|b| b.is_ascii_hexdigit()) && img.id.hex().starts_with(hexpart);
            let is_tag = r.digest().is_some()
                || self
                    .store
                    .tag_target(&r.clone().with_default_tag())
                    .ok()
                    .flatten()
                    .is_some();
            !name.starts_with("sha256:") && (is_tag || !looks_like_id)
        });
        let mut out = Vec::new();
        let untag = |r: &Reference, out: &mut Vec<ImageDeleteResponseItem>| -> Result<()> {
            if self.store.untag(r)? {
                self.image_event(&img.id.to_string(), "untag", &r.familiar());
                out.push(ImageDeleteResponseItem {
                    untagged: Some(r.familiar()),
                    deleted: None,
                });
            }
            Ok(())
        };
        let digest_refs = |img: &ImageRecord| -> Vec<Reference> {
            img.repo_digests
                .iter()
                .filter_map(|d| Reference::parse_normalized(d).ok())
                .collect()
        };
        if let Some(r) = named {
            let r = if r.digest().is_some() {
                r
            } else {
                r.with_default_tag()
            };
            untag(&r, &mut out)?;
            let others: Vec<&Reference> = my_tags.iter().filter(|t| **t != r).collect();
            if !others.iter().any(|t| t.name() == r.name()) {
                // Last tag of this repository: its digest references go too.
                for d in digest_refs(&img)
                    .into_iter()
                    .filter(|d| d.name() == r.name())
                {
                    untag(&d, &mut out)?;
                }
            }
            let left = self
                .store
                .image(&img.id)?
                .map(|i| i.repo_digests.len())
                .unwrap_or(0);
            if !others.is_empty() || left > 0 {
                return Ok(out);
            }
        } else {
            let repos: HashSet<String> = my_tags.iter().map(|t| t.name()).collect();
            if repos.len() > 1 && !force {
                return Err(EngineError::Conflict(format!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                    img.id.short()
                )));
            }
            for t in my_tags.iter().chain(digest_refs(&img).iter()) {
                untag(t, &mut out)?;
            }
        }
        // Children (images built on this one) keep it alive.
        let has_children = self
            .store
            .images()?
            .iter()
            .any(|i| i.parent.as_ref() == Some(&img.id));
        if has_children {
            if out.is_empty() {
                return Err(EngineError::Conflict(format!(
                    "conflict: unable to delete {} (cannot be forced) - image has dependent child images",
                    img.id.short()
                )));
            }
            return Ok(out);
        }
        let layers = self.store.delete_image(&img.id)?;
        self.image_event(&img.id.to_string(), "delete", &img.id.to_string());
        out.push(ImageDeleteResponseItem {
            untagged: None,
            deleted: Some(img.id.to_string()),
        });
        for l in layers {
            out.push(ImageDeleteResponseItem {
                untagged: None,
                deleted: Some(l.to_string()),
            });
        }
        Ok(out)
    }

    /// `POST /images/prune`: dangling images (or, with `dangling=false`, all unused),
    /// as moby's `ImagesPrune`: images any container (running or not) uses are kept,
    /// nothing is forced (an image with children stays), a tagged image goes by
    /// removing each of its tags, and `until`/`label` select by creation time and labels.
    pub fn image_prune(&self, filters: &Filters) -> Result<ImagePruneResponse> {
        filters.only(&["dangling", "label", "label!", "until"])?;
        let dangling_only = !matches!(
            filters.get("dangling").first().map(|s| s.as_str()),
            Some("false") | Some("0")
        );
        let until = match filters.get("until").first() {
            Some(u) => Some(crate::filters::parse_until(u)?),
            None => None,
        };
        let used: std::collections::HashSet<String> =
            self.all_records().into_iter().map(|c| c.image).collect();
        let tags = self.store.tags_by_image()?;
        let mut deleted = Vec::new();
        let mut reclaimed = 0i64;
        for img in self.store.images()? {
            if used.contains(&img.id.to_string()) {
                continue;
            }
            let refs = tags.get(&img.id).cloned().unwrap_or_default();
            if dangling_only && !refs.is_empty() {
                continue;
            }
            if let Some(u) = until {
                let created = img
                    .created
                    .as_deref()
                    .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                    .map(|t| t.timestamp());
                if created.is_none_or(|c| c >= u) {
                    continue;
                }
            }
            let (_, cfg) = self.store.config(&img.id)?;
            let labels = cfg.config.and_then(|c| c.labels).unwrap_or_default();
            if !filters.labels_match(&labels) {
                continue;
            }
            let names: Vec<String> = if refs.is_empty() {
                vec![img.id.to_string()]
            } else {
                refs.iter().map(|r| r.to_string()).collect()
            };
            for name in names {
                match self.image_remove(&name, false, false) {
                    Ok(items) => {
                        if items.iter().any(|i| i.deleted.is_some()) {
                            reclaimed += img.size as i64;
                        }
                        deleted.extend(items);
                    }
                    Err(EngineError::Conflict(_)) | Err(EngineError::NotFound(_)) => break,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(ImagePruneResponse {
            images_deleted: Some(deleted),
            space_reclaimed: Some(reclaimed),
        })
    }

    /// `POST /images/create?fromSrc=-`: a rootfs tar (plain, gzip or zstd) becomes a
    /// one-layer image. Returns the image ID.
    pub fn image_import(&self, body: impl Read, opts: &ImportOptions) -> Result<Digest> {
        let tag = match opts.repo.as_deref().filter(|r| !r.is_empty()) {
            Some(repo) => {
                Some(Reference::from_repo_tag(repo, opts.tag.as_deref())?.with_default_tag())
            }
            None => None,
        };
        let mut run = RunConfig::default();
        changes::apply(&mut run, &opts.changes)?;
        let staged = berth_store::ingest::ingest_layer(self.store.content(), body)?;
        let now = berth_store::now_rfc3339();
        let comment = opts
            .message
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "Imported from -".to_string());
        let cfg = ImageConfig {
            architecture: std::env::consts::ARCH
                .replace("x86_64", "amd64")
                .replace("aarch64", "arm64"),
            os: "linux".into(),
            created: Some(now.clone()),
            comment: opts.message.clone().filter(|m| !m.is_empty()),
            config: Some(run),
            history: vec![HistoryEntry {
                created: Some(now),
                comment: Some(comment),
                ..Default::default()
            }],
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![staged.diff_id.clone()],
            },
            ..Default::default()
        };
        let mut pool = HashMap::new();
        pool.insert(staged.diff_id.clone(), staged);
        let committed = self.store.commit_image(
            NewImage {
                config: ConfigSource::Bytes(cfg.to_vec()),
                tags: tag.into_iter().collect(),
                repo_digests: Vec::new(),
                manifests: Vec::new(),
                parent: None,
            },
            &mut pool,
        )?;
        let id = committed.image.id.to_string();
        self.image_event(&id, "import", &id);
        Ok(committed.image.id)
    }

    /// `berth system check`: problems found in the store (empty = healthy).
    pub fn system_check(&self) -> Result<Vec<String>> {
        Ok(self.store.check()?)
    }
}
