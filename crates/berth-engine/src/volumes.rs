//! Volumes: named and anonymous volumes under `volumes/<name>/_data` (the `local` driver),
//! and turning a create request's `-v`, `--mount`, `--volumes-from`, `--tmpfs` and the
//! image's `VOLUME`s into the container's mount points.
//!
//! A volume is a record in the store's `volumes` table plus its directory. A new volume
//! mounted over a path that holds files in the image is populated from the image (as
//! Docker does, unless `nocopy`); the copy walks the image's layers bottom-up and honours
//! whiteouts, so it sees what the container would see at that path.

use crate::containers::ContainerRecord;
use crate::error::{EngineError, Result};
use crate::filters::Filters;
use crate::Engine;
use berth_runtime::config::MountSpec;
use berth_store::RecordTable;
use bollard_stubs::models::{
    HostConfig, Mount, MountPoint, MountType, Volume, VolumeListResponse, VolumePruneResponse,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Docker's label on anonymous volumes.
const ANON_LABEL: &str = "com.docker.volume.anonymous";

/// What berth remembers about a volume.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    pub created: String,
    #[serde(default)]
    pub labels: HashMap<String, String>,
    #[serde(default)]
    pub options: HashMap<String, String>,
    /// Created for a container (image `VOLUME`, `-v /path`), not named by the user.
    #[serde(default)]
    pub anonymous: bool,
}

/// One mount of a container, as resolved at create time.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MountRecord {
    /// `bind`, `volume` or `tmpfs`.
    pub kind: String,
    /// Volume name (volumes only).
    #[serde(default)]
    pub name: String,
    /// Host path (binds and volumes).
    #[serde(default)]
    pub source: String,
    pub destination: String,
    pub rw: bool,
    /// Docker's `Mode` column (`ro`, `z`, …; empty for `--mount`).
    #[serde(default)]
    pub mode: String,
    /// tmpfs options (`size=…`, `mode=…`).
    #[serde(default)]
    pub tmpfs_options: Vec<String>,
}

impl MountRecord {
    fn point(&self) -> MountPoint {
        MountPoint {
            typ: Some(self.kind.clone()),
            name: (!self.name.is_empty()).then(|| self.name.clone()),
            source: Some(self.source.clone()),
            destination: Some(self.destination.clone()),
            driver: (self.kind == "volume").then(|| "local".to_string()),
            mode: Some(self.mode.clone()),
            rw: Some(self.rw),
            propagation: Some(if self.kind == "bind" { "rprivate" } else { "" }.into()),
        }
    }
}

fn valid_volume_name(n: &str) -> bool {
    let b = n.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn clean_dest(d: &str) -> Result<String> {
    if !d.starts_with('/') {
        return Err(EngineError::BadRequest(format!(
            "invalid mount config for type \"volume\": invalid mount path: '{d}' mount path must be absolute"
        )));
    }
    if d == "/" {
        return Err(EngineError::BadRequest(
            "invalid specification: destination can't be '/'".into(),
        ));
    }
    let t = d.trim_end_matches('/');
    Ok(if t.is_empty() { "/" } else { t }.to_string())
}

impl Engine {
    fn volumes_dir(&self) -> PathBuf {
        self.data_root().join("volumes")
    }

    /// `volumes/<name>/_data`.
    pub fn volume_path(&self, name: &str) -> PathBuf {
        self.volumes_dir().join(name).join("_data")
    }

    fn volume_record(&self, name: &str) -> Result<Option<VolumeRecord>> {
        Ok(self
            .store
            .records(RecordTable::Volumes)?
            .into_iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| serde_json::from_slice(&v).ok()))
    }

    fn volume_records(&self) -> Result<Vec<VolumeRecord>> {
        Ok(self
            .store
            .records(RecordTable::Volumes)?
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
            .collect())
    }

    fn volume_view(&self, r: &VolumeRecord) -> Volume {
        let v = serde_json::json!({
            "Name": r.name,
            "Driver": "local",
            "Mountpoint": self.volume_path(&r.name).display().to_string(),
            "CreatedAt": r.created,
            "Labels": r.labels,
            "Scope": "local",
            "Options": r.options,
        });
        serde_json::from_value(v).unwrap_or_else(|_| Volume {
            name: r.name.clone(),
            driver: "local".into(),
            mountpoint: self.volume_path(&r.name).display().to_string(),
            labels: r.labels.clone(),
            options: r.options.clone(),
            ..Default::default()
        })
    }

    /// Creates a volume (or returns the existing one of that name). Returns the record and
    /// whether it was created now.
    fn volume_ensure(
        &self,
        name: Option<&str>,
        labels: HashMap<String, String>,
        options: HashMap<String, String>,
        anonymous: bool,
    ) -> Result<(VolumeRecord, bool)> {
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                if !valid_volume_name(n) {
                    return Err(EngineError::BadRequest(format!(
                        "create {n}: \"{n}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
                    )));
                }
                n.to_string()
            }
            None => hex::encode(rand::random::<[u8; 32]>()),
        };
        if let Some(r) = self.volume_record(&name)? {
            return Ok((r, false));
        }
        for k in options.keys() {
            if !matches!(k.as_str(), "type" | "device" | "o" | "size") {
                return Err(EngineError::BadRequest(format!(
                    "create {name}: invalid option key: \"{k}\""
                )));
            }
        }
        let mut labels = labels;
        if anonymous {
            labels.insert(ANON_LABEL.into(), String::new());
        }
        let rec = VolumeRecord {
            name: name.clone(),
            created: berth_store::now_rfc3339(),
            labels,
            options,
            anonymous,
        };
        let dir = self.volume_path(&name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| EngineError::Internal(format!("create {}: {e}", dir.display())))?;
        let bytes = serde_json::to_vec(&rec).map_err(|e| EngineError::Internal(e.to_string()))?;
        self.store.put_record(RecordTable::Volumes, &name, &bytes)?;
        Ok((rec, true))
    }

    /// `POST /volumes/create`.
    pub fn volume_create(
        &self,
        name: Option<&str>,
        driver: Option<&str>,
        labels: HashMap<String, String>,
        options: HashMap<String, String>,
    ) -> Result<Volume> {
        if let Some(d) = driver.filter(|d| !d.is_empty() && *d != "local") {
            return Err(EngineError::NotFound(format!(
                "error looking up volume plugin {d}: plugin \"{d}\" not found"
            )));
        }
        let (r, _) = self.volume_ensure(name, labels, options, false)?;
        Ok(self.volume_view(&r))
    }

    /// `GET /volumes/{name}`.
    pub fn volume_inspect(&self, name: &str) -> Result<Volume> {
        let r = self
            .volume_record(name)?
            .ok_or_else(|| EngineError::NotFound(format!("get {name}: no such volume")))?;
        Ok(self.volume_view(&r))
    }

    /// Volume name → IDs of the containers that mount it.
    pub(crate) fn volume_users(&self) -> HashMap<String, Vec<String>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for c in self.all_records() {
            for m in &c.mounts {
                if m.kind == "volume" {
                    out.entry(m.name.clone()).or_default().push(c.id.clone());
                }
            }
        }
        out
    }

    pub(crate) fn all_records(&self) -> Vec<ContainerRecord> {
        self.containers
            .by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|c| c.snapshot())
            .collect()
    }

    /// `GET /volumes`.
    pub fn volume_list(&self, filters: &Filters) -> Result<VolumeListResponse> {
        filters.only(&["dangling", "name", "label", "driver"])?;
        let users = self.volume_users();
        let mut vols: Vec<Volume> = Vec::new();
        for r in self.volume_records()? {
            if filters.contains("name")
                && !filters
                    .get("name")
                    .iter()
                    .any(|n| r.name.contains(n.as_str()))
            {
                continue;
            }
            if filters.contains("driver") && !filters.get("driver").iter().any(|d| d == "local") {
                continue;
            }
            if filters.contains("dangling") {
                let want = filters
                    .get("dangling")
                    .iter()
                    .any(|d| d == "true" || d == "1");
                if users.contains_key(&r.name) == want {
                    continue;
                }
            }
            let labels: BTreeMap<String, String> = r.labels.clone().into_iter().collect();
            if !filters.labels_match(&labels) {
                continue;
            }
            vols.push(self.volume_view(&r));
        }
        vols.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(VolumeListResponse {
            volumes: Some(vols),
            warnings: Some(Vec::new()),
        })
    }

    /// `DELETE /volumes/{name}`.
    pub fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        if self.volume_record(name)?.is_none() {
            if force {
                return Ok(());
            }
            return Err(EngineError::NotFound(format!("get {name}: no such volume")));
        }
        if let Some(users) = self.volume_users().get(name) {
            return Err(EngineError::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        self.volume_delete(name)
    }

    fn volume_delete(&self, name: &str) -> Result<()> {
        self.store.delete_record(RecordTable::Volumes, name)?;
        let dir = self.volumes_dir().join(name);
        std::fs::remove_dir_all(&dir)
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(|e| EngineError::Internal(format!("remove {}: {e}", dir.display())))
    }

    /// `POST /volumes/prune`: unused anonymous volumes (all unused ones with `all=true`).
    pub fn volume_prune(&self, filters: &Filters) -> Result<VolumePruneResponse> {
        filters.only(&["label", "all"])?;
        let all = filters.get("all").iter().any(|a| a == "true" || a == "1");
        let users = self.volume_users();
        let mut deleted = Vec::new();
        let mut space: i64 = 0;
        for r in self.volume_records()? {
            if users.contains_key(&r.name) || (!all && !r.anonymous) {
                continue;
            }
            let labels: BTreeMap<String, String> = r.labels.clone().into_iter().collect();
            if !filters.labels_match(&labels) {
                continue;
            }
            space += crate::containers::dir_size(&self.volume_path(&r.name)) as i64;
            self.volume_delete(&r.name)?;
            deleted.push(r.name);
        }
        Ok(VolumePruneResponse {
            volumes_deleted: Some(deleted),
            space_reclaimed: Some(space),
        })
    }

    /// Resolves a create request's mounts, creating the volumes it names (populated from
    /// the image when new). `lower` is the image's layer stack, top first. Volumes created
    /// here are removed again when a later mount fails, so nothing is left half-created.
    pub(crate) fn resolve_mounts(
        &self,
        hc: &HostConfig,
        image_volumes: &[String],
        lower: &[PathBuf],
    ) -> Result<Vec<MountRecord>> {
        let mut created: Vec<String> = Vec::new();
        let r = self.resolve_mounts_inner(hc, image_volumes, lower, &mut created);
        if r.is_err() {
            for n in created {
                let _ = self.volume_delete(&n);
            }
        }
        r
    }

    fn resolve_mounts_inner(
        &self,
        hc: &HostConfig,
        image_volumes: &[String],
        lower: &[PathBuf],
        created: &mut Vec<String>,
    ) -> Result<Vec<MountRecord>> {
        let mut by_dest: BTreeMap<String, MountRecord> = BTreeMap::new();
        // --volumes-from first: everything else overrides it.
        for spec in hc.volumes_from.clone().unwrap_or_default() {
            let (from, mode) = match spec.rsplit_once(':') {
                Some((c, m @ ("ro" | "rw"))) => (c.to_string(), Some(m)),
                _ => (spec.clone(), None),
            };
            let src = self.container(&from)?.snapshot();
            for m in src.mounts {
                let mut m = m.clone();
                if let Some(mode) = mode {
                    m.rw = mode == "rw";
                    m.mode = mode.into();
                }
                by_dest.insert(m.destination.clone(), m);
            }
        }
        let mut volume_mount = |this: &Engine,
                                name: Option<&str>,
                                dest: &str,
                                rw: bool,
                                mode: &str,
                                nocopy: bool,
                                labels: HashMap<String, String>|
         -> Result<MountRecord> {
            let (rec, new) = this.volume_ensure(name, labels, HashMap::new(), name.is_none())?;
            if new {
                created.push(rec.name.clone());
            }
            let path = this.volume_path(&rec.name);
            if !nocopy && dir_is_empty(&path) {
                copy_from_layers(lower, dest, &path)?;
            }
            Ok(MountRecord {
                kind: "volume".into(),
                name: rec.name.clone(),
                source: path.display().to_string(),
                destination: dest.to_string(),
                rw,
                mode: mode.to_string(),
                tmpfs_options: Vec::new(),
            })
        };
        // Image VOLUMEs (and Config.Volumes) not covered yet get anonymous volumes.
        let mut anon: Vec<String> = image_volumes.to_vec();
        anon.sort();
        let explicit: Vec<String> = hc
            .binds
            .clone()
            .unwrap_or_default()
            .iter()
            .filter_map(|b| {
                let p: Vec<&str> = b.split(':').collect();
                match p.len() {
                    1 => None,
                    _ => Some(p[1].trim_end_matches('/').to_string()),
                }
            })
            .chain(
                hc.mounts
                    .clone()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|m| m.target.clone()),
            )
            .collect();
        for dest in anon {
            let dest = clean_dest(&dest)?;
            if by_dest.contains_key(&dest) || explicit.contains(&dest) {
                continue;
            }
            let m = volume_mount(self, None, &dest, true, "", false, HashMap::new())?;
            by_dest.insert(dest, m);
        }
        // -v / --volume.
        for b in hc.binds.clone().unwrap_or_default() {
            let parts: Vec<&str> = b.split(':').collect();
            let (src, dest, opts) = match parts.as_slice() {
                [d] => ("", *d, ""),
                [s, d] => (*s, *d, ""),
                [s, d, o] => (*s, *d, *o),
                _ => {
                    return Err(EngineError::BadRequest(format!(
                        "invalid volume specification: '{b}'"
                    )))
                }
            };
            let dest = clean_dest(dest)
                .map_err(|_| EngineError::BadRequest(format!("invalid volume specification: '{b}': invalid mount config for type \"volume\": invalid mount path: '{dest}' mount path must be absolute")))?;
            let mut rw = true;
            let mut nocopy = false;
            for o in opts.split(',').filter(|o| !o.is_empty()) {
                match o {
                    "ro" => rw = false,
                    "rw" => rw = true,
                    "nocopy" => nocopy = true,
                    "z" | "Z" | "shared" | "rshared" | "slave" | "rslave" | "private"
                    | "rprivate" | "delegated" | "cached" | "consistent" => {}
                    _ => return Err(EngineError::BadRequest(format!("invalid mode: {o}"))),
                }
            }
            let m = if src.is_empty() {
                volume_mount(self, None, &dest, rw, opts, nocopy, HashMap::new())?
            } else if src.starts_with('/') {
                let p = Path::new(src);
                if !p.exists() {
                    std::fs::create_dir_all(p).map_err(|e| {
                        EngineError::BadRequest(format!(
                            "error while creating mount source path '{src}': {e}"
                        ))
                    })?;
                }
                MountRecord {
                    kind: "bind".into(),
                    source: src.to_string(),
                    destination: dest.clone(),
                    rw,
                    mode: opts.to_string(),
                    ..Default::default()
                }
            } else {
                volume_mount(self, Some(src), &dest, rw, opts, nocopy, HashMap::new())?
            };
            by_dest.insert(dest, m);
        }
        // --mount.
        for m in hc.mounts.clone().unwrap_or_default() {
            let rec = self.mount_from_api(&m, &mut volume_mount)?;
            by_dest.insert(rec.destination.clone(), rec);
        }
        Ok(by_dest.into_values().collect())
    }

    #[allow(clippy::type_complexity)]
    fn mount_from_api(
        &self,
        m: &Mount,
        volume_mount: &mut dyn FnMut(
            &Engine,
            Option<&str>,
            &str,
            bool,
            &str,
            bool,
            HashMap<String, String>,
        ) -> Result<MountRecord>,
    ) -> Result<MountRecord> {
        let target = m.target.clone().unwrap_or_default();
        if target.is_empty() {
            return Err(EngineError::BadRequest(
                "invalid mount config: Target must not be empty".into(),
            ));
        }
        let dest = clean_dest(&target)?;
        let rw = !m.read_only.unwrap_or(false);
        let source = m.source.clone().unwrap_or_default();
        match m.typ {
            Some(MountType::BIND) => {
                if !source.starts_with('/') {
                    return Err(EngineError::BadRequest(format!(
                        "invalid mount config for type \"bind\": invalid mount path: '{source}' mount path must be absolute"
                    )));
                }
                if !Path::new(&source).exists() {
                    return Err(EngineError::BadRequest(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {source}"
                    )));
                }
                Ok(MountRecord {
                    kind: "bind".into(),
                    source,
                    destination: dest,
                    rw,
                    ..Default::default()
                })
            }
            Some(MountType::VOLUME) | None => {
                let vo = m.volume_options.clone().unwrap_or_default();
                volume_mount(
                    self,
                    (!source.is_empty()).then_some(source.as_str()),
                    &dest,
                    rw,
                    "",
                    vo.no_copy.unwrap_or(false),
                    vo.labels.unwrap_or_default(),
                )
            }
            Some(MountType::TMPFS) => {
                if !source.is_empty() {
                    return Err(EngineError::BadRequest(
                        "invalid mount config for type \"tmpfs\": source must not be specified"
                            .into(),
                    ));
                }
                let mut opts = Vec::new();
                if let Some(t) = &m.tmpfs_options {
                    if let Some(s) = t.size_bytes.filter(|s| *s > 0) {
                        opts.push(format!("size={s}"));
                    }
                    if let Some(md) = t.mode.filter(|m| *m > 0) {
                        opts.push(format!("mode={md:o}"));
                    }
                }
                Ok(MountRecord {
                    kind: "tmpfs".into(),
                    destination: dest,
                    rw,
                    tmpfs_options: opts,
                    ..Default::default()
                })
            }
            Some(other) => Err(EngineError::BadRequest(format!(
                "invalid mount config: mount type {other:?} is not supported"
            ))),
        }
    }

    /// The runtime mounts for a container's resolved mount points. Records made before
    /// mounts were resolved fall back to their absolute `-v` binds.
    pub(crate) fn mount_specs(&self, rec: &ContainerRecord) -> Vec<MountSpec> {
        if rec.mounts.is_empty() {
            return rec
                .host_config
                .binds
                .clone()
                .unwrap_or_default()
                .iter()
                .filter_map(|b| {
                    let parts: Vec<&str> = b.split(':').collect();
                    (parts.len() >= 2 && parts[0].starts_with('/')).then(|| MountSpec::Bind {
                        source: PathBuf::from(parts[0]),
                        destination: parts[1].to_string(),
                        read_only: parts
                            .get(2)
                            .is_some_and(|o| o.split(',').any(|x| x == "ro")),
                    })
                })
                .collect();
        }
        rec.mounts
            .iter()
            .map(|m| match m.kind.as_str() {
                "tmpfs" => MountSpec::Tmpfs {
                    destination: m.destination.clone(),
                    options: m.tmpfs_options.clone(),
                    read_only: !m.rw,
                },
                _ => MountSpec::Bind {
                    source: PathBuf::from(&m.source),
                    destination: m.destination.clone(),
                    read_only: !m.rw,
                },
            })
            .collect()
    }

    /// Docker's `Mounts` in inspect and list output.
    pub(crate) fn mount_points(rec: &ContainerRecord) -> Vec<MountPoint> {
        rec.mounts.iter().map(MountRecord::point).collect()
    }

    /// On container removal: with `rm -v`, its anonymous volumes that no other container
    /// uses are removed.
    pub(crate) fn release_volumes(&self, rec: &ContainerRecord, remove_anonymous: bool) {
        if !remove_anonymous {
            return;
        }
        let users = self.volume_users();
        for m in rec.mounts.iter().filter(|m| m.kind == "volume") {
            let in_use = users
                .get(&m.name)
                .is_some_and(|u| u.iter().any(|id| id != &rec.id));
            if in_use {
                continue;
            }
            if let Ok(Some(v)) = self.volume_record(&m.name) {
                if v.anonymous {
                    if let Err(e) = self.volume_delete(&m.name) {
                        tracing::warn!(volume = %m.name, "removing anonymous volume: {e}");
                    }
                }
            }
        }
    }
}

fn dir_is_empty(p: &Path) -> bool {
    std::fs::read_dir(p)
        .map(|mut d| d.next().is_none())
        .unwrap_or(true)
}

/// Copies what the image holds at `path` into `dest`, applying the layers bottom-up
/// (whiteouts — 0:0 character devices — delete what lower layers put there).
fn copy_from_layers(lower: &[PathBuf], path: &str, dest: &Path) -> Result<()> {
    let rel = path.trim_start_matches('/');
    for layer in lower.iter().rev() {
        let src = layer.join(rel);
        match std::fs::symlink_metadata(&src) {
            Ok(m) if m.is_dir() => {
                copy_tree(&src, dest).map_err(|e| {
                    EngineError::Internal(format!(
                        "copying image content at {path} into the volume: {e}"
                    ))
                })?;
                // The volume's root takes the image directory's owner and mode.
                let _ = std::os::unix::fs::lchown(dest, Some(m.uid()), Some(m.gid()));
                let _ = std::fs::set_permissions(dest, m.permissions());
            }
            Ok(m) if is_whiteout(&m) => {
                let _ = std::fs::remove_dir_all(dest);
                let _ = std::fs::create_dir_all(dest);
            }
            _ => {}
        }
    }
    Ok(())
}

fn is_whiteout(m: &std::fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dst)?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let m = e.path().symlink_metadata()?;
        let to = dst.join(e.file_name());
        if is_whiteout(&m) {
            let _ = std::fs::remove_dir_all(&to).or_else(|_| std::fs::remove_file(&to));
            continue;
        }
        if m.is_dir() {
            if to.symlink_metadata().is_ok_and(|t| !t.is_dir()) {
                std::fs::remove_file(&to)?;
            }
            copy_tree(&e.path(), &to)?;
            std::fs::set_permissions(&to, m.permissions())?;
        } else {
            if to.symlink_metadata().is_ok() {
                let _ = std::fs::remove_dir_all(&to).or_else(|_| std::fs::remove_file(&to));
            }
            if m.file_type().is_symlink() {
                std::os::unix::fs::symlink(std::fs::read_link(e.path())?, &to)?;
            } else if m.is_file() {
                std::fs::copy(e.path(), &to)?;
            } else {
                continue;
            }
        }
        std::os::unix::fs::lchown(&to, Some(m.uid()), Some(m.gid()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_bottom_up_with_whiteouts() {
        let t = tempfile::tempdir().unwrap();
        let bottom = t.path().join("l0");
        let top = t.path().join("l1");
        std::fs::create_dir_all(bottom.join("data/sub")).unwrap();
        std::fs::write(bottom.join("data/a"), "old").unwrap();
        std::fs::write(bottom.join("data/gone"), "x").unwrap();
        std::fs::write(bottom.join("data/sub/b"), "b").unwrap();
        std::fs::create_dir_all(top.join("data")).unwrap();
        std::fs::write(top.join("data/a"), "new").unwrap();
        let c = std::ffi::CString::new(top.join("data/gone").to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, 0) }, 0);
        let dest = t.path().join("vol");
        std::fs::create_dir_all(&dest).unwrap();
        copy_from_layers(&[top, bottom], "/data", &dest).unwrap();
        assert_eq!(std::fs::read_to_string(dest.join("a")).unwrap(), "new");
        assert_eq!(std::fs::read_to_string(dest.join("sub/b")).unwrap(), "b");
        assert!(!dest.join("gone").exists());
    }

    #[test]
    fn volume_names_follow_docker() {
        assert!(valid_volume_name("data-1.x_y"));
        assert!(!valid_volume_name("a"));
        assert!(!valid_volume_name("foo/bar"));
        assert!(!valid_volume_name(".hidden"));
    }
}
