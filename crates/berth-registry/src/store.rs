//! The registry's content model over a [`StorageDriver`]: content-addressed blobs shared by
//! all repositories, per-repository links (layers, manifest revisions, tags, referrers) and
//! upload sessions. Blocking; the HTTP layer calls it from `spawn_blocking`.
//!
//! A blob becomes visible only by a rename of a complete, digest-verified, fsynced file, so
//! a crash at any instant leaves no partial blob; links are written temp → fsync → rename.

use crate::driver::{DriverError, StorageDriver};
use crate::{gclock, paths};
use berth_oci::media_types as mt;
use berth_oci::{Descriptor, Digest, Index, Manifest};
use std::path::PathBuf;
use std::sync::Arc;

/// Store-level failures (mapped to spec error codes by the HTTP layer).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("blob unknown: {0}")]
    BlobUnknown(String),
    #[error("manifest unknown: {0}")]
    ManifestUnknown(String),
    #[error("repository unknown: {0}")]
    NameUnknown(String),
    #[error("manifest references unknown blob: {0}")]
    ManifestBlobUnknown(String),
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    #[error("{0}")]
    DigestInvalid(String),
    #[error("upload unknown: {0}")]
    UploadUnknown(String),
    #[error(transparent)]
    Driver(#[from] DriverError),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A manifest as stored: its digest, bytes and media type.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    pub digest: Digest,
    pub bytes: Vec<u8>,
    pub media_type: String,
}

/// Result of a manifest PUT.
#[derive(Debug, Clone)]
pub struct PutManifest {
    pub digest: Digest,
    pub subject: Option<Digest>,
}

/// The registry store.
#[derive(Clone)]
pub struct Store {
    driver: Arc<dyn StorageDriver>,
    /// Root directory of the GC lock (filesystem driver).
    lock_root: Option<PathBuf>,
}

/// Parsed shape of a manifest body.
#[allow(clippy::large_enum_variant)]
pub enum Parsed {
    Image(Manifest),
    Index(Index),
}

impl Parsed {
    pub fn subject(&self) -> Option<&Descriptor> {
        match self {
            Parsed::Image(m) => m.subject.as_ref(),
            Parsed::Index(i) => i.subject.as_ref(),
        }
    }
    /// Every descriptor the manifest references (config, layers, children).
    pub fn references(&self) -> Vec<&Descriptor> {
        match self {
            Parsed::Image(m) => std::iter::once(&m.config).chain(m.layers.iter()).collect(),
            Parsed::Index(i) => i.manifests.iter().collect(),
        }
    }
}

/// Works out a manifest's media type and parses it. `content_type` is the request's header.
pub fn parse_manifest(bytes: &[u8], content_type: Option<&str>) -> Result<(String, Parsed)> {
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| StoreError::ManifestInvalid(format!("not JSON: {e}")))?;
    let schema = v.get("schemaVersion").and_then(|s| s.as_u64());
    if schema != Some(2) {
        return Err(StoreError::ManifestInvalid(format!(
            "schemaVersion must be 2 (got {}); schema 1 manifests are not supported",
            v.get("schemaVersion")
                .map(|s| s.to_string())
                .unwrap_or("none".into())
        )));
    }
    let body_mt = v
        .get("mediaType")
        .and_then(|m| m.as_str())
        .map(str::to_string);
    let header_mt = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
        .filter(|c| mt::is_manifest(c) || mt::is_index(c));
    if let (Some(b), Some(h)) = (&body_mt, &header_mt) {
        if b != h {
            return Err(StoreError::ManifestInvalid(format!(
                "mediaType {b:?} in the body does not match Content-Type {h:?}"
            )));
        }
    }
    let media = body_mt.or(header_mt).unwrap_or_else(|| {
        if v.get("manifests").is_some() {
            mt::OCI_INDEX.to_string()
        } else {
            mt::OCI_MANIFEST.to_string()
        }
    });
    let parsed = if mt::is_index(&media) {
        Parsed::Index(
            serde_json::from_value(v)
                .map_err(|e| StoreError::ManifestInvalid(format!("index: {e}")))?,
        )
    } else if mt::is_manifest(&media) {
        Parsed::Image(
            serde_json::from_value(v)
                .map_err(|e| StoreError::ManifestInvalid(format!("manifest: {e}")))?,
        )
    } else {
        return Err(StoreError::ManifestInvalid(format!(
            "unsupported manifest media type {media:?}"
        )));
    };
    Ok((media, parsed))
}

fn parse_link(bytes: &[u8]) -> Option<Digest> {
    std::str::from_utf8(bytes).ok()?.trim().parse().ok()
}

impl Store {
    pub fn new(driver: Arc<dyn StorageDriver>) -> Store {
        let lock_root = driver.local_path("/");
        Store { driver, lock_root }
    }

    pub fn driver(&self) -> &Arc<dyn StorageDriver> {
        &self.driver
    }

    /// Takes the shared GC lock (see [`gclock`]).
    pub fn shared_lock(&self) -> Result<Option<gclock::GcLock>> {
        match &self.lock_root {
            Some(r) => gclock::shared(r).map(Some).map_err(|e| {
                StoreError::Driver(DriverError::Io {
                    path: paths::GC_LOCK.into(),
                    source: e,
                })
            }),
            None => Ok(None),
        }
    }

    /// Takes the exclusive GC lock.
    pub fn exclusive_lock(&self) -> Result<Option<gclock::GcLock>> {
        match &self.lock_root {
            Some(r) => gclock::exclusive(r).map(Some).map_err(|e| {
                StoreError::Driver(DriverError::Io {
                    path: paths::GC_LOCK.into(),
                    source: e,
                })
            }),
            None => Ok(None),
        }
    }

    fn read_link(&self, path: &str) -> Result<Option<Digest>> {
        match self.driver.get_content(path) {
            Ok(b) => Ok(parse_link(&b)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn exists(&self, path: &str) -> Result<bool> {
        match self.driver.stat(path) {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn list_or_empty(&self, path: &str) -> Result<Vec<String>> {
        match self.driver.list(path) {
            Ok(v) => Ok(v),
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// Size of a blob stored anywhere (no repository check).
    pub fn global_blob_size(&self, d: &Digest) -> Result<Option<u64>> {
        match self.driver.stat(&paths::blob_data(d)) {
            Ok(i) => Ok(Some(i.size)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Size of a blob linked into `repo`, or `None`.
    pub fn blob_size(&self, repo: &str, d: &Digest) -> Result<Option<u64>> {
        if !self.exists(&paths::layer_link(repo, d))? {
            return Ok(None);
        }
        self.global_blob_size(d)
    }

    /// Like [`Store::blob_size`], and refreshes the link's time so a concurrent GC keeps
    /// the blob: a pusher that sees "exists" will reference it next.
    pub fn blob_size_touch(&self, repo: &str, d: &Digest) -> Result<Option<u64>> {
        let _lock = self.shared_lock()?;
        let size = self.blob_size(repo, d)?;
        if size.is_some() {
            let _ = self.driver.touch(&paths::layer_link(repo, d));
        }
        Ok(size)
    }

    /// Driver path of a blob's data.
    pub fn blob_path(&self, d: &Digest) -> String {
        paths::blob_data(d)
    }

    /// Links an existing blob into `repo` (cross-repository mount).
    pub fn link_blob(&self, repo: &str, d: &Digest) -> Result<()> {
        self.driver
            .put_content(&paths::layer_link(repo, d), d.to_string().as_bytes())?;
        Ok(())
    }

    /// Mounts `d` from repository `from` into `repo`; false when `from` lacks it.
    pub fn mount_blob(&self, repo: &str, from: &str, d: &Digest) -> Result<bool> {
        let _lock = self.shared_lock()?;
        if self.blob_size(from, d)?.is_none() {
            return Ok(false);
        }
        self.link_blob(repo, d)?;
        Ok(true)
    }

    /// Unlinks a blob from a repository (the data stays until GC).
    pub fn delete_blob(&self, repo: &str, d: &Digest) -> Result<()> {
        let link = paths::layer_link(repo, d);
        if !self.exists(&link)? {
            return Err(StoreError::BlobUnknown(d.to_string()));
        }
        self.driver.delete(link.trim_end_matches("/link"))?;
        Ok(())
    }

    // ---- uploads ----

    /// Starts an upload session; returns its id.
    pub fn start_upload(&self, repo: &str) -> Result<String> {
        let id = uuid_v4();
        self.driver.put_content(
            &paths::upload_started(repo, &id),
            chrono::Utc::now().to_rfc3339().as_bytes(),
        )?;
        // Create the (empty) data file so size queries work.
        let mut w = self.driver.writer(&paths::upload_data(repo, &id), false)?;
        w.commit()?;
        Ok(id)
    }

    /// Bytes received so far by an upload, or `UploadUnknown`.
    pub fn upload_size(&self, repo: &str, id: &str) -> Result<u64> {
        if !valid_upload_id(id) {
            return Err(StoreError::UploadUnknown(id.to_string()));
        }
        match self.driver.stat(&paths::upload_data(repo, id)) {
            Ok(i) => Ok(i.size),
            Err(e) if e.is_not_found() => Err(StoreError::UploadUnknown(id.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes an upload session.
    pub fn cancel_upload(&self, repo: &str, id: &str) -> Result<()> {
        self.upload_size(repo, id)?;
        self.driver.delete(&paths::upload_dir(repo, id))?;
        Ok(())
    }

    /// Finishes an upload whose content hashed to `computed` (`None`: hash the file now).
    /// The data is fsynced and renamed into place; a wrong digest deletes the upload.
    pub fn commit_upload(
        &self,
        repo: &str,
        id: &str,
        expected: &Digest,
        computed: Option<Digest>,
    ) -> Result<u64> {
        let data = paths::upload_data(repo, id);
        let size = self.upload_size(repo, id)?;
        let computed = match computed {
            Some(c) if c.algorithm() == expected.algorithm() => c,
            _ => self.hash_file(&data, expected.algorithm())?,
        };
        if &computed != expected {
            let _ = self.driver.delete(&paths::upload_dir(repo, id));
            return Err(StoreError::DigestInvalid(format!(
                "digest mismatch: content is {computed}, the request said {expected}"
            )));
        }
        {
            let mut w = self.driver.writer(&data, true)?;
            w.commit()?;
        }
        let _lock = self.shared_lock()?;
        if self.global_blob_size(expected)?.is_some() {
            // Already stored (another push of the same blob won): keep one copy.
            let _ = self.driver.touch(&paths::blob_data(expected));
        } else {
            self.driver.move_(&data, &paths::blob_data(expected))?;
        }
        self.link_blob(repo, expected)?;
        let _ = self.driver.delete(&paths::upload_dir(repo, id));
        Ok(size)
    }

    fn hash_file(&self, path: &str, algo: berth_oci::digest::Algorithm) -> Result<Digest> {
        use sha2::Digest as _;
        let mut r = self.driver.reader(path, 0)?;
        let mut buf = vec![0u8; 1 << 20];
        let io = |e| {
            StoreError::Driver(DriverError::Io {
                path: path.to_string(),
                source: e,
            })
        };
        let hex = match algo {
            berth_oci::digest::Algorithm::Sha256 => {
                let mut h = sha2::Sha256::new();
                loop {
                    let n = r.read(&mut buf).map_err(io)?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
                format!("sha256:{}", hex::encode(h.finalize()))
            }
            berth_oci::digest::Algorithm::Sha512 => {
                let mut h = sha2::Sha512::new();
                loop {
                    let n = r.read(&mut buf).map_err(io)?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
                format!("sha512:{}", hex::encode(h.finalize()))
            }
        };
        hex.parse()
            .map_err(|e: berth_oci::DigestError| StoreError::DigestInvalid(e.to_string()))
    }

    /// Current sha256 state of an upload's data (used to resume after a restart).
    pub fn upload_hasher(&self, repo: &str, id: &str) -> Result<(sha2::Sha256, u64)> {
        use sha2::Digest as _;
        let path = paths::upload_data(repo, id);
        let mut r = self.driver.reader(&path, 0)?;
        let mut h = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut n_total = 0u64;
        loop {
            let n = r.read(&mut buf).map_err(|e| DriverError::Io {
                path: path.clone(),
                source: e,
            })?;
            if n == 0 {
                break;
            }
            n_total += n as u64;
            h.update(&buf[..n]);
        }
        Ok((h, n_total))
    }

    // ---- manifests ----

    /// Resolves a tag or digest to a manifest digest in `repo`.
    pub fn resolve(&self, repo: &str, reference: &str) -> Result<Option<Digest>> {
        if let Ok(d) = reference.parse::<Digest>() {
            return Ok(if self.exists(&paths::revision_link(repo, &d))? {
                Some(d)
            } else {
                None
            });
        }
        self.read_link(&paths::tag_current(repo, reference))
    }

    /// Reads a manifest by tag or digest.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Result<StoredManifest> {
        if !self.repo_exists(repo)? {
            return Err(StoreError::NameUnknown(repo.to_string()));
        }
        let d = self
            .resolve(repo, reference)?
            .ok_or_else(|| StoreError::ManifestUnknown(reference.to_string()))?;
        self.manifest_by_digest(&d)
            .map_err(|_| StoreError::ManifestUnknown(reference.to_string()))
    }

    fn manifest_by_digest(&self, d: &Digest) -> Result<StoredManifest> {
        let bytes = self.driver.get_content(&paths::blob_data(d))?;
        let media_type = parse_manifest(&bytes, None)
            .map(|(m, _)| m)
            .unwrap_or_else(|_| mt::OCI_MANIFEST.to_string());
        Ok(StoredManifest {
            digest: d.clone(),
            bytes,
            media_type,
        })
    }

    /// Stores a manifest under a tag or digest after checking everything it references
    /// exists in `repo`.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        bytes: &[u8],
        content_type: Option<&str>,
    ) -> Result<PutManifest> {
        let digest = Digest::sha256_of(bytes);
        let by_digest = reference.parse::<Digest>().ok();
        if let Some(want) = &by_digest {
            if !want.verify(bytes) {
                return Err(StoreError::DigestInvalid(format!(
                    "manifest content does not match digest {want}"
                )));
            }
        }
        let digest = by_digest.clone().unwrap_or(digest);
        let (_media, parsed) = parse_manifest(bytes, content_type)?;
        let _lock = self.shared_lock()?;
        for r in parsed.references() {
            let present = match &parsed {
                Parsed::Image(_) => {
                    // Foreign layers (with urls) need not be in the registry.
                    r.urls.as_ref().is_some_and(|u| !u.is_empty())
                        || self.blob_size(repo, &r.digest)?.is_some()
                }
                Parsed::Index(_) => self.exists(&paths::revision_link(repo, &r.digest))?,
            };
            if !present {
                return Err(StoreError::ManifestBlobUnknown(r.digest.to_string()));
            }
            if let Parsed::Image(_) = &parsed {
                let _ = self.driver.touch(&paths::layer_link(repo, &r.digest));
            }
        }
        let data = paths::blob_data(&digest);
        if self.global_blob_size(&digest)?.is_none() {
            self.driver.put_content(&data, bytes)?;
        }
        self.driver.put_content(
            &paths::revision_link(repo, &digest),
            digest.to_string().as_bytes(),
        )?;
        let subject = parsed.subject().map(|s| s.digest.clone());
        if let Some(s) = &subject {
            self.driver.put_content(
                &paths::referrer_link(repo, s, &digest),
                digest.to_string().as_bytes(),
            )?;
        }
        if by_digest.is_none() {
            self.driver.put_content(
                &paths::tag_index_link(repo, reference, &digest),
                digest.to_string().as_bytes(),
            )?;
            self.driver.put_content(
                &paths::tag_current(repo, reference),
                digest.to_string().as_bytes(),
            )?;
        }
        Ok(PutManifest { digest, subject })
    }

    /// Deletes a tag, or a manifest by digest (with every tag pointing at it).
    pub fn delete_manifest(&self, repo: &str, reference: &str) -> Result<()> {
        if !self.repo_exists(repo)? {
            return Err(StoreError::NameUnknown(repo.to_string()));
        }
        match reference.parse::<Digest>() {
            Err(_) => {
                if !self.exists(&paths::tag_current(repo, reference))? {
                    return Err(StoreError::ManifestUnknown(reference.to_string()));
                }
                self.driver.delete(&paths::tag_dir(repo, reference))?;
            }
            Ok(d) => {
                let rev = paths::revision_link(repo, &d);
                if !self.exists(&rev)? {
                    return Err(StoreError::ManifestUnknown(reference.to_string()));
                }
                if let Ok(m) = self.manifest_by_digest(&d) {
                    if let Ok((_, p)) = parse_manifest(&m.bytes, None) {
                        if let Some(s) = p.subject() {
                            let _ = self.driver.delete(
                                paths::referrer_link(repo, &s.digest, &d).trim_end_matches("/link"),
                            );
                        }
                    }
                }
                self.driver.delete(rev.trim_end_matches("/link"))?;
                for tag in self.list_or_empty(&paths::tags_dir(repo))? {
                    if self.read_link(&paths::tag_current(repo, &tag))?.as_ref() == Some(&d) {
                        self.driver.delete(&paths::tag_dir(repo, &tag))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Does the repository exist (has anything been pushed to it)?
    pub fn repo_exists(&self, repo: &str) -> Result<bool> {
        self.exists(&paths::repo(repo))
    }

    /// Tags of `repo`, sorted.
    pub fn tags(&self, repo: &str) -> Result<Vec<String>> {
        if !self.repo_exists(repo)? {
            return Err(StoreError::NameUnknown(repo.to_string()));
        }
        let mut out = Vec::new();
        for t in self.list_or_empty(&paths::tags_dir(repo))? {
            if self.exists(&paths::tag_current(repo, &t))? {
                out.push(t);
            }
        }
        out.sort();
        Ok(out)
    }

    /// All repositories holding manifests, sorted.
    pub fn catalog(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut stack = vec![String::new()];
        while let Some(prefix) = stack.pop() {
            let dir = if prefix.is_empty() {
                paths::repositories()
            } else {
                paths::repo(&prefix)
            };
            for child in self.list_or_empty(&dir)? {
                if child == "_manifests" && !prefix.is_empty() {
                    out.push(prefix.clone());
                } else if !child.starts_with('_') {
                    let p = if prefix.is_empty() {
                        child
                    } else {
                        format!("{prefix}/{child}")
                    };
                    if self
                        .driver
                        .stat(&paths::repo(&p))
                        .map(|i| i.is_dir)
                        .unwrap_or(false)
                    {
                        stack.push(p);
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Manifests in `repo` whose `subject` is `subject`, as descriptors for the referrers API.
    pub fn referrers(&self, repo: &str, subject: &Digest) -> Result<Vec<Descriptor>> {
        let dir = paths::referrers_dir(repo, subject);
        let mut out = Vec::new();
        for algo in self.list_or_empty(&dir)? {
            for hex in self.list_or_empty(&format!("{dir}/{algo}"))? {
                let Ok(d) = format!("{algo}:{hex}").parse::<Digest>() else {
                    continue;
                };
                if !self.exists(&paths::revision_link(repo, &d))? {
                    continue;
                }
                let Ok(m) = self.manifest_by_digest(&d) else {
                    continue;
                };
                let Ok((media, p)) = parse_manifest(&m.bytes, None) else {
                    continue;
                };
                let mut desc = Descriptor::new(&media, d, m.bytes.len() as i64);
                match p {
                    Parsed::Image(im) => {
                        desc.artifact_type = Some(im.artifact_type.unwrap_or(im.config.media_type));
                        desc.annotations = im.annotations;
                    }
                    Parsed::Index(ix) => {
                        desc.artifact_type = ix.artifact_type;
                        desc.annotations = ix.annotations;
                    }
                }
                out.push(desc);
            }
        }
        Ok(out)
    }
}

use std::io::Read as _;

/// A random RFC 4122 version-4 UUID.
pub fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn valid_upload_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::FilesystemDriver;

    fn store() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(Arc::new(FilesystemDriver::new(d.path())));
        (d, s)
    }

    fn push_blob(s: &Store, repo: &str, data: &[u8]) -> Digest {
        let id = s.start_upload(repo).unwrap();
        let mut w = s
            .driver()
            .writer(&paths::upload_data(repo, &id), true)
            .unwrap();
        w.write_all(data).unwrap();
        drop(w);
        let d = Digest::sha256_of(data);
        s.commit_upload(repo, &id, &d, None).unwrap();
        d
    }

    use std::io::Write as _;

    #[test]
    fn upload_commit_and_wrong_digest() {
        let (_t, s) = store();
        let d = push_blob(&s, "a", b"hello");
        assert_eq!(s.blob_size("a", &d).unwrap(), Some(5));
        assert_eq!(s.blob_size("b", &d).unwrap(), None);
        let id = s.start_upload("a").unwrap();
        let mut w = s
            .driver()
            .writer(&paths::upload_data("a", &id), true)
            .unwrap();
        w.write_all(b"evil").unwrap();
        drop(w);
        let wrong = Digest::sha256_of(b"good");
        assert!(matches!(
            s.commit_upload("a", &id, &wrong, None),
            Err(StoreError::DigestInvalid(_))
        ));
        assert_eq!(s.global_blob_size(&wrong).unwrap(), None);
        assert!(matches!(
            s.upload_size("a", &id),
            Err(StoreError::UploadUnknown(_))
        ));
    }

    #[test]
    fn manifest_refs_checked_and_tags() {
        let (_t, s) = store();
        let cfg = push_blob(&s, "r", b"{}");
        let layer_d = Digest::sha256_of(b"layer");
        let m = serde_json::json!({"schemaVersion":2,"mediaType":mt::OCI_MANIFEST,
            "config":{"mediaType":mt::OCI_CONFIG,"digest":cfg,"size":2},
            "layers":[{"mediaType":mt::OCI_LAYER_GZIP,"digest":layer_d,"size":5}]});
        let bytes = serde_json::to_vec(&m).unwrap();
        assert!(matches!(
            s.put_manifest("r", "v1", &bytes, None),
            Err(StoreError::ManifestBlobUnknown(_))
        ));
        push_blob(&s, "r", b"layer");
        let p = s
            .put_manifest("r", "v1", &bytes, Some(mt::OCI_MANIFEST))
            .unwrap();
        assert_eq!(s.tags("r").unwrap(), vec!["v1"]);
        assert_eq!(s.get_manifest("r", "v1").unwrap().digest, p.digest);
        assert_eq!(
            s.get_manifest("r", &p.digest.to_string()).unwrap().bytes,
            bytes
        );
        assert_eq!(s.catalog().unwrap(), vec!["r"]);
        s.delete_manifest("r", &p.digest.to_string()).unwrap();
        assert!(s.tags("r").unwrap().is_empty());
        assert!(matches!(
            s.get_manifest("r", "v1"),
            Err(StoreError::ManifestUnknown(_))
        ));
    }

    #[test]
    fn schema1_refused() {
        assert!(parse_manifest(br#"{"schemaVersion":1}"#, None).is_err());
        assert!(parse_manifest(b"nope", None).is_err());
    }

    #[test]
    fn uuid_shape() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert!(valid_upload_id(&u));
        assert!(!valid_upload_id("../x"));
    }
}
