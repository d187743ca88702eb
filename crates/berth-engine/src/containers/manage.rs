//! Renaming, pruning and sizing containers.

use super::*;

/// Bytes under `dir` (regular files' apparent sizes; no symlinks followed), like `du -b`.
pub(crate) fn dir_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() {
                total += m.len();
            }
        }
    }
    total
}

impl Engine {
    /// `POST /containers/{id}/rename?name=`.
    pub fn container_rename(&self, name: &str, new_name: &str) -> Result<()> {
        let new_name = new_name.strip_prefix('/').unwrap_or(new_name);
        if new_name.is_empty() {
            return Err(EngineError::BadRequest(
                "Neither old nor new names may be empty".into(),
            ));
        }
        if !valid_name(new_name) {
            return Err(EngineError::BadRequest(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let ctr = self.container(name)?;
        let (old, snap) = {
            let map = self
                .containers
                .by_id
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let mut rec = ctr.rec.lock().unwrap_or_else(|p| p.into_inner());
            if rec.name == new_name {
                return Err(EngineError::BadRequest(
                    "Renaming a container with the same name as its current name".into(),
                ));
            }
            if let Some(other) = map
                .values()
                .filter(|c| !Arc::ptr_eq(c, &ctr))
                .find(|c| c.snapshot().name == new_name)
            {
                return Err(EngineError::Conflict(format!(
                    "Conflict. The container name \"/{new_name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                    other.snapshot().id
                )));
            }
            let old = std::mem::replace(&mut rec.name, new_name.to_string());
            (old, rec.clone())
        };
        if let Err(e) = self.persist(&snap) {
            ctr.rec.lock().unwrap_or_else(|p| p.into_inner()).name = old;
            return Err(e);
        }
        self.ctr_event(&snap, "rename", &[("oldName", format!("/{old}"))]);
        Ok(())
    }

    /// `POST /containers/prune`: removes every stopped container (filters `until`,
    /// `label`, `label!`). Returns the removed IDs and the bytes their writable layers held.
    pub async fn container_prune(
        self: &Arc<Self>,
        filters: &crate::filters::Filters,
    ) -> Result<(Vec<String>, u64)> {
        filters.only(&["until", "label", "label!"])?;
        let until = filters
            .get("until")
            .first()
            .map(|u| crate::filters::parse_until(u))
            .transpose()?;
        let recs = self.stopped_records(|r| {
            let created = || {
                chrono::DateTime::parse_from_rfc3339(&r.created)
                    .map(|t| t.timestamp())
                    .unwrap_or(0)
            };
            if until.is_some_and(|u| created() >= u) {
                return false;
            }
            let labels: std::collections::BTreeMap<String, String> = r
                .config
                .labels
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect();
            filters.labels_match(&labels)
        });
        let mut deleted = Vec::new();
        let mut reclaimed = 0;
        for r in recs {
            let size = dir_size(&self.ctr_dir(&r.id).join("upper"));
            match self.container_remove(&r.id, false, false).await {
                Ok(()) => {
                    reclaimed += size;
                    deleted.push(r.id);
                }
                Err(e) => tracing::warn!(container = %r.id, "prune: {e}"),
            }
        }
        Ok((deleted, reclaimed))
    }

    /// `SizeRw` (bytes in the writable layer) and `SizeRootFs` (that plus the image).
    pub fn container_sizes(&self, name: &str) -> Result<(i64, i64)> {
        let r = self.container(name)?.snapshot();
        let rw = dir_size(&self.ctr_dir(&r.id).join("upper")) as i64;
        let image = r
            .image
            .parse::<berth_oci::Digest>()
            .ok()
            .and_then(|d| self.store.image(&d).ok().flatten())
            .map(|i| i.size as i64)
            .unwrap_or(0);
        Ok((rw, rw + image))
    }
}
