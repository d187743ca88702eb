//! `GET /system/df` (`docker system df`) and `POST /build/prune` (`docker builder
//! prune`, also called by `docker system prune`).
//!
//! The answer has the shape API 1.47 clients read (`LayersSize`, `Images`,
//! `Containers`, `Volumes`, `BuildCache`): images with `SharedSize` (bytes of layers
//! other images stack too) and `Containers` (how many containers use them), containers
//! with `SizeRw`/`SizeRootFs`, volumes with `UsageData`, and one build cache record per
//! build slot holding a context (BuildKit lists the same thing as "local source for
//! context"). The build step cache is made of images, so image prune covers it.

use crate::error::{EngineError, Result};
use crate::filters::Filters;
use crate::Engine;
use bollard_stubs::models::VolumeUsageData;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// The kinds `/system/df?type=` selects.
pub const DF_TYPES: &[&str] = &["container", "image", "volume", "build-cache"];

fn json<T: serde::Serialize>(v: T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| EngineError::Internal(e.to_string()))
}

fn rfc3339(t: Option<SystemTime>) -> Option<String> {
    let d = t?.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    chrono::DateTime::from_timestamp(d.as_secs() as i64, d.subsec_nanos())
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
}

impl Engine {
    /// `GET /system/df`; `types` empty means all of [`DF_TYPES`].
    pub fn disk_usage(&self, types: &[String]) -> Result<serde_json::Value> {
        if let Some(t) = types.iter().find(|t| !DF_TYPES.contains(&t.as_str())) {
            return Err(EngineError::BadRequest(format!(
                "invalid type {t:?}: expected one of {}",
                DF_TYPES.join(", ")
            )));
        }
        let want = |t: &str| types.is_empty() || types.iter().any(|x| x == t);
        let mut out = serde_json::Map::new();
        if want("image") {
            let records = self.store.images()?;
            let layers: HashMap<_, _> = self
                .store
                .layers()?
                .into_iter()
                .map(|l| (l.chain_id.to_string(), l.size))
                .collect();
            let mut stacked: HashMap<String, usize> = HashMap::new();
            for r in &records {
                for c in &r.chain_ids {
                    *stacked.entry(c.to_string()).or_default() += 1;
                }
            }
            let mut used: HashMap<String, i64> = HashMap::new();
            for c in self.all_records() {
                *used.entry(c.image.clone()).or_default() += 1;
            }
            let by_id: HashMap<String, _> = records.iter().map(|r| (r.id.to_string(), r)).collect();
            let mut images = self.image_list(true, &Filters::default())?;
            for i in &mut images {
                let shared = by_id.get(&i.id).map(|r| {
                    r.chain_ids
                        .iter()
                        .map(|c| c.to_string())
                        .filter(|c| stacked.get(c).copied().unwrap_or(0) > 1)
                        .map(|c| layers.get(&c).copied().unwrap_or(0))
                        .sum::<u64>()
                });
                i.shared_size = shared.map(|s| s as i64).unwrap_or(-1);
                i.containers = used.get(&i.id).copied().unwrap_or(0);
            }
            out.insert(
                "LayersSize".into(),
                serde_json::json!(layers.values().sum::<u64>()),
            );
            out.insert("Images".into(), json(images)?);
        }
        if want("container") {
            let mut list = self.container_list(true, None, &Filters::default())?;
            for c in &mut list {
                if let Ok((rw, root)) = self.container_sizes(c.id.as_deref().unwrap_or("")) {
                    c.size_rw = Some(rw);
                    c.size_root_fs = Some(root);
                }
            }
            out.insert("Containers".into(), json(list)?);
        }
        if want("volume") {
            let users = self.volume_users();
            let mut vols = self
                .volume_list(&Filters::default())?
                .volumes
                .unwrap_or_default();
            for v in &mut vols {
                v.usage_data = Some(VolumeUsageData {
                    size: crate::containers::dir_size(&self.volume_path(&v.name)) as i64,
                    ref_count: users.get(&v.name).map(|u| u.len()).unwrap_or(0) as i64,
                });
            }
            out.insert("Volumes".into(), json(vols)?);
        }
        if want("build-cache") {
            let cache: Vec<serde_json::Value> = self
                .build_cache_records()
                .into_iter()
                .map(|r| {
                    serde_json::json!({
                        "ID": r.id,
                        "Parents": [],
                        "Type": "source.local",
                        "Description": "local source for context",
                        "InUse": r.in_use,
                        "Shared": false,
                        "Size": r.size,
                        "CreatedAt": rfc3339(r.created),
                        "LastUsedAt": rfc3339(r.last_used),
                        "UsageCount": r.uses,
                    })
                })
                .collect();
            out.insert("BuildCache".into(), serde_json::Value::Array(cache));
        }
        Ok(serde_json::Value::Object(out))
    }

    /// `POST /build/prune`: removes the idle build slots' contexts. Filters: `until`
    /// (a duration or a timestamp, as for image prune); other BuildKit filters select
    /// records berth does not have and are refused.
    pub fn build_prune(&self, filters: &Filters) -> Result<serde_json::Value> {
        filters.only(&["until"])?;
        let until = match filters.get("until").first() {
            Some(u) => Some(crate::filters::parse_until(u)?),
            None => None,
        };
        let until =
            until.map(|secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64));
        let (ids, freed) = self.prune_build_cache(until);
        Ok(serde_json::json!({ "CachesDeleted": ids, "SpaceReclaimed": freed }))
    }
}
