//! berth-store: where images live on disk.
//!
//! Three parts, as containerd splits them: the **content store** (`blobs/sha256/…`,
//! [`content`]), the **layer store** (`layers/<chain-id>/diff` plus the tar skeleton that
//! lets the original tar be streamed back, [`tarsplit`]), and the **metadata database**
//! (`berth.redb`: images, tags, layers). Content is staged under `tmp/` and committed by
//! [`Store::commit_image`]: renamed into place, then recorded in one database
//! transaction, so a crash at any instant leaves nothing half-written visible; leftovers
//! are swept by [`Store::open`].
//!
//! Unpacked layers are made durable *after* the commit, by a background `syncfs`
//! ([`sync`]): a layer is derived data whose every byte is checked by its diff ID, so
//! instead of making `load`/`pull` wait for the disk (a 200 MB layer is ~0.45 s of
//! writeback on this host, more than the whole rest of a load), the commit records the
//! layer as *unsynced*; the background sync clears the mark once the filesystem is
//! flushed. After a power loss, [`Store::open`] re-verifies every layer still marked and
//! removes those that do not match (and the images using them), so what is listed is
//! always intact. Blobs (configs, manifests, pushed layers) are still fsynced before
//! they are renamed into place.

pub mod build_cache;
pub mod check;
pub mod content;
pub mod error;
pub mod ingest;
pub mod pack;
pub mod records;
pub mod sync;
pub mod tarsplit;
pub mod unpack;
pub mod writers;

pub use content::ContentStore;
pub use error::StoreError;
pub use ingest::{Ingested, StagedLayer, TempBlob};
pub use records::{BlobRef, ImageRecord, LayerRecord};

use berth_oci::{Digest, ImageConfig, Reference};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const IMAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("images");
const TAGS: TableDefinition<&str, &str> = TableDefinition::new("tags");
const LAYERS: TableDefinition<&str, &[u8]> = TableDefinition::new("layers");
const CONTAINERS: TableDefinition<&str, &[u8]> = TableDefinition::new("containers");
const NETWORKS: TableDefinition<&str, &[u8]> = TableDefinition::new("networks");
const VOLUMES: TableDefinition<&str, &[u8]> = TableDefinition::new("volumes");
const ENDPOINTS: TableDefinition<&str, &[u8]> = TableDefinition::new("endpoints");
/// Chain IDs (hex) of layers committed but not yet known to be on disk (see [`sync`]).
const UNSYNCED: TableDefinition<&str, ()> = TableDefinition::new("unsynced_layers");

/// Tables of small records the engine owns (serialized by the engine, keyed by name or ID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordTable {
    /// Networks by ID.
    Networks,
    /// Volumes by name.
    Volumes,
    /// Network endpoints (a container's attachment and its IP: the IPAM state) by container ID.
    Endpoints,
}

impl RecordTable {
    fn def(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        match self {
            RecordTable::Networks => NETWORKS,
            RecordTable::Volumes => VOLUMES,
            RecordTable::Endpoints => ENDPOINTS,
        }
    }
}

/// The chain ID of a layer stack: `chain(0) = diff(0)`,
/// `chain(n) = sha256(chain(n-1) + " " + diff(n))`.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => Digest::sha256_of(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// A config blob for a new image: freshly ingested or already stored.
pub enum ConfigSource {
    Temp(TempBlob),
    Bytes(Vec<u8>),
}

/// Everything needed to record a new image.
pub struct NewImage {
    pub config: ConfigSource,
    pub tags: Vec<Reference>,
    pub repo_digests: Vec<String>,
    pub manifests: Vec<TempBlob>,
    pub parent: Option<Digest>,
}

/// What committing an image did.
#[derive(Debug)]
pub struct Committed {
    pub image: ImageRecord,
    /// Tags that moved here from another image: (tag, previous image).
    pub moved_tags: Vec<(Reference, Digest)>,
}

/// The image store rooted at a data root.
pub struct Store {
    root: PathBuf,
    content: ContentStore,
    db: Arc<redb::Database>,
    /// Serialises commits and deletions (renames into `layers/` and the sweeps).
    commit_lock: Mutex<()>,
    /// The background flusher of unsynced layers.
    syncer: sync::Syncer,
}

impl Store {
    /// Opens (creating if needed) the store under `root`, removing whatever an earlier
    /// crash left half-done.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for d in ["blobs/sha256", "layers", "tmp", "containers", "volumes"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(|e| StoreError::io(&p, e))?;
        }
        let tmp = root.join("tmp");
        content::mark_top_dir(&tmp);
        if let Ok(rd) = fs::read_dir(&tmp) {
            for e in rd.flatten() {
                let p = e.path();
                let _ = if p.is_dir() {
                    fs::remove_dir_all(&p)
                } else {
                    fs::remove_file(&p)
                };
            }
        }
        let dbp = root.join("berth.redb");
        let db = redb::Database::create(&dbp)?;
        {
            let tx = db.begin_write()?;
            tx.open_table(IMAGES)?;
            tx.open_table(TAGS)?;
            tx.open_table(LAYERS)?;
            tx.open_table(CONTAINERS)?;
            tx.open_table(NETWORKS)?;
            tx.open_table(VOLUMES)?;
            tx.open_table(ENDPOINTS)?;
            tx.open_table(UNSYNCED)?;
            tx.commit()?;
        }
        let db = Arc::new(db);
        let store = Store {
            root: root.to_path_buf(),
            content: ContentStore::new(root.join("blobs"), tmp),
            syncer: sync::Syncer::new(root.to_path_buf(), db.clone()),
            db,
            commit_lock: Mutex::new(()),
        };
        store.recover_unsynced()?;
        store.sweep_orphans()?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// `layers/<chain hex>`.
    pub fn layer_path(&self, chain: &Digest) -> PathBuf {
        self.root.join("layers").join(chain.hex())
    }

    /// The unpacked contents of a layer (an overlay lower dir).
    pub fn layer_diff(&self, chain: &Digest) -> PathBuf {
        self.layer_path(chain).join("diff")
    }

    /// Streams a layer's original uncompressed tar into `out`.
    pub fn write_layer_tar(
        &self,
        chain: &Digest,
        out: &mut dyn std::io::Write,
    ) -> Result<u64, StoreError> {
        let p = self.layer_path(chain);
        tarsplit::reassemble(&p.join("tar-split"), &p.join("diff"), out)
            .map_err(|e| StoreError::io(&p, e))
    }

    // ---- reading ----

    pub fn image(&self, id: &Digest) -> Result<Option<ImageRecord>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(IMAGES)?;
        Ok(match t.get(id.hex())? {
            Some(v) => Some(serde_json::from_slice(v.value())?),
            None => None,
        })
    }

    pub fn images(&self) -> Result<Vec<ImageRecord>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(IMAGES)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (_, v) = row?;
            out.push(serde_json::from_slice(v.value())?);
        }
        Ok(out)
    }

    pub fn layer(&self, chain: &Digest) -> Result<Option<LayerRecord>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(LAYERS)?;
        Ok(match t.get(chain.hex())? {
            Some(v) => Some(serde_json::from_slice(v.value())?),
            None => None,
        })
    }

    pub fn layers(&self) -> Result<Vec<LayerRecord>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(LAYERS)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (_, v) = row?;
            out.push(serde_json::from_slice(v.value())?);
        }
        Ok(out)
    }

    /// Every tag and the image it names.
    pub fn tags(&self) -> Result<Vec<(Reference, Digest)>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(TAGS)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (k, v) = row?;
            let (Ok(r), Ok(d)) = (
                Reference::parse_normalized(k.value()),
                Digest::from_sha256_hex(v.value()),
            ) else {
                tracing::warn!(tag = k.value(), "unparseable tag record");
                continue;
            };
            out.push((r, d));
        }
        Ok(out)
    }

    /// Tags grouped by image.
    pub fn tags_by_image(&self) -> Result<BTreeMap<Digest, Vec<Reference>>, StoreError> {
        let mut m: BTreeMap<Digest, Vec<Reference>> = BTreeMap::new();
        for (r, d) in self.tags()? {
            m.entry(d).or_default().push(r);
        }
        Ok(m)
    }

    /// The image a tag names.
    pub fn tag_target(&self, r: &Reference) -> Result<Option<Digest>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(TAGS)?;
        Ok(match t.get(r.to_string().as_str())? {
            Some(v) => Digest::from_sha256_hex(v.value()).ok(),
            None => None,
        })
    }

    /// Finds an image the way Docker does: full or short ID (with or without `sha256:`),
    /// `name[:tag]` (default `latest`), or `name@digest` among repo digests.
    pub fn resolve(&self, name: &str) -> Result<ImageRecord, StoreError> {
        let no_such = || StoreError::NoSuchImage(name.to_string());
        let hexpart = name.strip_prefix("sha256:").unwrap_or(name);
        let is_hex = !hexpart.is_empty()
            && hexpart.len() <= 64
            && hexpart
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if is_hex && hexpart.len() == 64 {
            let d = Digest::from_sha256_hex(hexpart).map_err(|_| no_such())?;
            return self.image(&d)?.ok_or_else(no_such);
        }
        if let Ok(r) = Reference::parse_normalized(name) {
            if let Some(dig) = r.digest() {
                let want = format!("{}@{}", r.name(), dig);
                return self
                    .images()?
                    .into_iter()
                    .find(|i| i.repo_digests.contains(&want) || i.id == *dig)
                    .ok_or_else(no_such);
            }
            let r = r.with_default_tag();
            if let Some(id) = self.tag_target(&r)? {
                if let Some(img) = self.image(&id)? {
                    return Ok(img);
                }
            }
        }
        // Short ID prefix (Docker accepts any unique prefix).
        if is_hex || name.starts_with("sha256:") {
            let matches: Vec<ImageRecord> = self
                .images()?
                .into_iter()
                .filter(|i| i.id.hex().starts_with(hexpart))
                .collect();
            if matches.len() == 1 {
                return matches.into_iter().next().ok_or_else(no_such);
            }
        }
        Err(no_such())
    }

    /// Reads and parses an image's config.
    pub fn config(&self, id: &Digest) -> Result<(Vec<u8>, ImageConfig), StoreError> {
        let raw = self.content.read(id)?;
        let cfg = ImageConfig::from_slice(&raw).map_err(|e| StoreError::BadConfig {
            digest: id.clone(),
            message: e.to_string(),
        })?;
        Ok((raw, cfg))
    }

    // ---- container records (opaque JSON owned by the engine) ----

    /// Stores (replaces) a container record.
    pub fn put_container(&self, id: &str, record: &[u8]) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        tx.open_table(CONTAINERS)?.insert(id, record)?;
        tx.commit()?;
        Ok(())
    }

    /// Like [`Store::put_container`] but not flushed to disk until the next durable
    /// commit: for a state that a commit made right after supersedes (the exit of a
    /// container `--rm` removes at once). A crash in between loses only this update.
    pub fn put_container_volatile(&self, id: &str, record: &[u8]) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(redb::Durability::None)
            .map_err(|e| StoreError::Db(e.to_string()))?;
        tx.open_table(CONTAINERS)?.insert(id, record)?;
        tx.commit()?;
        Ok(())
    }

    /// Removes a container record.
    pub fn delete_container(&self, id: &str) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        tx.open_table(CONTAINERS)?.remove(id)?;
        tx.commit()?;
        Ok(())
    }

    /// Removes a container record without waiting for the disk: after a crash the record
    /// may come back (the next durable commit carries the removal).
    pub fn delete_container_volatile(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(redb::Durability::None)
            .map_err(|e| StoreError::Db(e.to_string()))?;
        tx.open_table(CONTAINERS)?.remove(id)?;
        tx.commit()?;
        Ok(())
    }

    /// Every container record.
    pub fn containers(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(CONTAINERS)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (_, v) = row?;
            out.push(v.value().to_vec());
        }
        Ok(out)
    }

    /// Stores (or replaces) a record in one of the engine's record tables.
    pub fn put_record(
        &self,
        table: RecordTable,
        key: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        tx.open_table(table.def())?.insert(key, value)?;
        tx.commit()?;
        Ok(())
    }

    /// Removes a record from one of the engine's record tables.
    pub fn delete_record(&self, table: RecordTable, key: &str) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        tx.open_table(table.def())?.remove(key)?;
        tx.commit()?;
        Ok(())
    }

    /// Every record of one of the engine's record tables, by key.
    pub fn records(&self, table: RecordTable) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(table.def())?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (k, v) = row?;
            out.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(out)
    }

    // ---- writing ----

    /// Records a new image: its config, layers and tags. See the module doc for the order
    /// of operations that makes this crash-safe.
    /// Staged layers the image uses are taken out of `pool`; the rest stay for the caller
    /// (several images of one archive share a pool).
    pub fn commit_image(
        &self,
        new: NewImage,
        pool: &mut HashMap<Digest, StagedLayer>,
    ) -> Result<Committed, StoreError> {
        let layers = pool;
        let NewImage {
            config,
            tags,
            repo_digests,
            manifests,
            parent,
        } = new;
        let (config_bytes, config_temp) = match config {
            ConfigSource::Temp(t) => {
                let b = fs::read(&t.path).map_err(|e| StoreError::io(&t.path, e))?;
                (b, Some(t))
            }
            ConfigSource::Bytes(b) => (b, None),
        };
        let id = Digest::sha256_of(&config_bytes);
        let cfg = ImageConfig::from_slice(&config_bytes).map_err(|e| StoreError::BadConfig {
            digest: id.clone(),
            message: e.to_string(),
        })?;
        if cfg.rootfs.kind != "layers" {
            return Err(StoreError::BadConfig {
                digest: id,
                message: format!("unsupported rootfs type {:?}", cfg.rootfs.kind),
            });
        }
        let diff_ids = cfg.rootfs.diff_ids.clone();
        let chains = chain_ids(&diff_ids);

        let _guard = self
            .commit_lock
            .lock()
            .map_err(|_| StoreError::Db("lock poisoned".into()))?;
        // Which layers are new, and do we have them all?
        let mut new_layers: Vec<(LayerRecord, StagedLayer)> = Vec::new();
        let mut size = 0u64;
        for (i, (diff, chain)) in diff_ids.iter().zip(&chains).enumerate() {
            if let Some(rec) = self.layer(chain)? {
                size += rec.size;
                continue;
            }
            if let Some(pos) = new_layers.iter().position(|(r, _)| r.chain_id == *chain) {
                size += new_layers[pos].0.size;
                continue;
            }
            let staged = layers.remove(diff).ok_or_else(|| {
                StoreError::Invalid(format!(
                    "image {id}: layer {i} ({diff}) is missing: it is neither in the input nor in the store"
                ))
            })?;
            size += staged.size;
            let mut blobs = Vec::new();
            if staged.compression != berth_oci::media_types::LayerCompression::None
                && self.content.exists(&staged.blob_digest)
            {
                blobs.push(BlobRef {
                    digest: staged.blob_digest.clone(),
                    size: staged.blob_size,
                    media_type: berth_oci::media_types::OCI_LAYER_GZIP.into(),
                });
            }
            new_layers.push((
                LayerRecord {
                    chain_id: chain.clone(),
                    diff_id: diff.clone(),
                    parent: i.checked_sub(1).map(|p| chains[p].clone()),
                    size: staged.size,
                    diff_size: staged.diff_size,
                    blobs,
                },
                staged,
            ));
        }

        // 1. rename into place, 2. record (layers marked unsynced), 3. flush in the
        // background (see the crate docs).
        if let Some(t) = &config_temp {
            self.content.commit_temp(&t.path, &id)?;
        } else if !self.content.exists(&id) {
            self.content.write(&config_bytes)?;
        }
        let mut manifest_digests = Vec::new();
        for m in &manifests {
            self.content.commit_temp(&m.path, &m.digest)?;
            manifest_digests.push(m.digest.clone());
        }
        for (rec, staged) in &new_layers {
            let dest = self.layer_path(&rec.chain_id);
            if dest.exists() {
                fs::remove_dir_all(&dest).map_err(|e| StoreError::io(&dest, e))?;
            }
            fs::rename(&staged.dir, &dest).map_err(|e| StoreError::io(&dest, e))?;
        }
        // The config and manifest blobs were fsynced before their rename; make the
        // renames durable before the records point at them.
        content::sync_dir(&self.root.join("blobs/sha256"))?;
        let now = now_rfc3339();
        let mut moved = Vec::new();
        let tx = self.db.begin_write()?;
        let record;
        {
            let mut lt = tx.open_table(LAYERS)?;
            let mut ut = tx.open_table(UNSYNCED)?;
            for (rec, _) in &new_layers {
                lt.insert(rec.chain_id.hex(), serde_json::to_vec(rec)?.as_slice())?;
                ut.insert(rec.chain_id.hex(), ())?;
            }
            let mut it = tx.open_table(IMAGES)?;
            let existing: Option<ImageRecord> = match it.get(id.hex())? {
                Some(v) => Some(serde_json::from_slice(v.value())?),
                None => None,
            };
            let mut rec = existing.unwrap_or(ImageRecord {
                id: id.clone(),
                config_size: config_bytes.len() as u64,
                diff_ids: diff_ids.clone(),
                chain_ids: chains.clone(),
                size,
                created: cfg.created.clone(),
                repo_digests: Vec::new(),
                manifests: Vec::new(),
                parent,
                last_tag_time: None,
                added: now.clone(),
            });
            for d in repo_digests {
                if !rec.repo_digests.contains(&d) {
                    rec.repo_digests.push(d);
                }
            }
            for m in manifest_digests {
                if !rec.manifests.contains(&m) {
                    rec.manifests.push(m);
                }
            }
            let mut tt = tx.open_table(TAGS)?;
            for t in &tags {
                let key = t.to_string();
                let prev = tt.get(key.as_str())?.map(|v| v.value().to_string());
                if let Some(prev) = prev {
                    if prev != id.hex() {
                        if let Ok(pd) = Digest::from_sha256_hex(&prev) {
                            moved.push((t.clone(), pd));
                        }
                    }
                }
                tt.insert(key.as_str(), id.hex())?;
            }
            if !tags.is_empty() {
                rec.last_tag_time = Some(now.clone());
            }
            it.insert(id.hex(), serde_json::to_vec(&rec)?.as_slice())?;
            record = rec;
        }
        tx.commit()?;
        if !new_layers.is_empty() {
            self.syncer.request();
        }
        // Staged dirs were renamed away; dropping the rest removes unused ones.
        drop(new_layers);
        Ok(Committed {
            image: record,
            moved_tags: moved,
        })
    }

    /// Points `tag` at image `id`. Returns the image it named before, if another.
    pub fn tag(&self, id: &Digest, tag: &Reference) -> Result<Option<Digest>, StoreError> {
        let tx = self.db.begin_write()?;
        let prev;
        {
            let mut it = tx.open_table(IMAGES)?;
            let mut rec: ImageRecord = match it.get(id.hex())? {
                Some(v) => serde_json::from_slice(v.value())?,
                None => return Err(StoreError::NoSuchImage(id.to_string())),
            };
            let mut tt = tx.open_table(TAGS)?;
            let key = tag.to_string();
            prev = tt
                .insert(key.as_str(), id.hex())?
                .and_then(|v| Digest::from_sha256_hex(v.value()).ok())
                .filter(|p| p != id);
            rec.last_tag_time = Some(now_rfc3339());
            it.insert(id.hex(), serde_json::to_vec(&rec)?.as_slice())?;
        }
        tx.commit()?;
        Ok(prev)
    }

    /// Removes a tag (or a repo digest reference). Returns whether it existed.
    pub fn untag(&self, r: &Reference) -> Result<bool, StoreError> {
        let tx = self.db.begin_write()?;
        let existed;
        {
            if r.digest().is_some() {
                let want = format!(
                    "{}@{}",
                    r.name(),
                    r.digest().map(|d| d.to_string()).unwrap_or_default()
                );
                let mut it = tx.open_table(IMAGES)?;
                let mut hit: Option<ImageRecord> = None;
                for row in it.iter()? {
                    let (_, v) = row?;
                    let rec: ImageRecord = serde_json::from_slice(v.value())?;
                    if rec.repo_digests.contains(&want) {
                        hit = Some(rec);
                        break;
                    }
                }
                existed = hit.is_some();
                if let Some(mut rec) = hit {
                    rec.repo_digests.retain(|x| *x != want);
                    it.insert(rec.id.hex(), serde_json::to_vec(&rec)?.as_slice())?;
                }
            } else {
                let mut tt = tx.open_table(TAGS)?;
                existed = tt.remove(r.to_string().as_str())?.is_some();
            }
        }
        tx.commit()?;
        Ok(existed)
    }

    /// Deletes an image record, its tags, and every layer and blob no other image uses.
    /// Returns the chain IDs of the layers removed.
    pub fn delete_image(&self, id: &Digest) -> Result<Vec<Digest>, StoreError> {
        let _guard = self
            .commit_lock
            .lock()
            .map_err(|_| StoreError::Db("lock poisoned".into()))?;
        let tx = self.db.begin_write()?;
        let mut removed_layers = Vec::new();
        let mut removed_blobs = Vec::new();
        {
            let mut it = tx.open_table(IMAGES)?;
            let rec: ImageRecord = match it.remove(id.hex())? {
                Some(v) => serde_json::from_slice(v.value())?,
                None => return Err(StoreError::NoSuchImage(id.to_string())),
            };
            let mut keep_chains = HashSet::new();
            let mut keep_blobs = HashSet::new();
            for row in it.iter()? {
                let (_, v) = row?;
                let other: ImageRecord = serde_json::from_slice(v.value())?;
                keep_chains.extend(other.chain_ids.iter().cloned());
                keep_blobs.insert(other.id.clone());
                keep_blobs.extend(other.manifests.iter().cloned());
            }
            let mut tt = tx.open_table(TAGS)?;
            let mine: Vec<String> = tt
                .iter()?
                .filter_map(|r| r.ok())
                .filter(|(_, v)| v.value() == id.hex())
                .map(|(k, _)| k.value().to_string())
                .collect();
            for k in mine {
                tt.remove(k.as_str())?;
            }
            let mut lt = tx.open_table(LAYERS)?;
            for chain in rec.chain_ids.iter().rev() {
                if keep_chains.contains(chain) {
                    continue;
                }
                if let Some(v) = lt.remove(chain.hex())? {
                    let l: LayerRecord = serde_json::from_slice(v.value())?;
                    removed_blobs.extend(l.blobs.into_iter().map(|b| b.digest));
                }
                removed_layers.push(chain.clone());
            }
            if !keep_blobs.contains(&rec.id) {
                removed_blobs.push(rec.id.clone());
            }
            removed_blobs.extend(
                rec.manifests
                    .into_iter()
                    .filter(|m| !keep_blobs.contains(m)),
            );
        }
        tx.commit()?;
        for chain in &removed_layers {
            self.remove_layer_dir(chain);
        }
        for b in removed_blobs {
            let _ = self.content.remove(&b);
        }
        Ok(removed_layers)
    }

    fn remove_layer_dir(&self, chain: &Digest) {
        // Move aside first so a crash never leaves a half-deleted dir under layers/.
        let p = self.layer_path(chain);
        let aside = self.content.temp_path("rm");
        if fs::rename(&p, &aside).is_ok() {
            let _ = fs::remove_dir_all(&aside);
        }
    }

    /// Removes layer dirs and blobs that no record references (crash leftovers).
    fn sweep_orphans(&self) -> Result<(), StoreError> {
        let (chains, blobs) = self.referenced()?;
        if let Ok(rd) = fs::read_dir(self.root.join("layers")) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let known = Digest::from_sha256_hex(&name)
                    .map(|d| chains.contains(&d))
                    .unwrap_or(false);
                if !known {
                    tracing::info!(layer = %name, "removing unreferenced layer dir");
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
        for d in self.content.list()? {
            if !blobs.contains(&d) {
                tracing::info!(blob = %d, "removing unreferenced blob");
                let _ = self.content.remove(&d);
            }
        }
        Ok(())
    }

    /// Chain IDs and blob digests that records refer to.
    pub(crate) fn referenced(&self) -> Result<(HashSet<Digest>, HashSet<Digest>), StoreError> {
        let mut chains = HashSet::new();
        let mut blobs = HashSet::new();
        for l in self.layers()? {
            chains.insert(l.chain_id.clone());
            blobs.extend(l.blobs.into_iter().map(|b| b.digest));
        }
        for i in self.images()? {
            blobs.insert(i.id.clone());
            blobs.extend(i.manifests);
        }
        Ok((chains, blobs))
    }
}

/// Now, as RFC 3339 with nanoseconds (Docker's timestamp format).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
