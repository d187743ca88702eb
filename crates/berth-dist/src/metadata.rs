//! What berth knows about a layer's compressed forms (docker's "v2metadata"): for each
//! diff ID, the compressed blobs it was pulled as or pushed as, and where they live
//! (registry and repository). Push uses it to skip layers a registry already has, to
//! mount them across repositories, and so never to recompress a layer twice.
//!
//! Kept as one small JSON file per diff ID under `<data-root>/dist/v2metadata/`,
//! written temp → fsync → rename.

use berth_oci::Digest;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One compressed form of a layer and a repository that holds it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BlobSource {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    /// Registry name (`localhost:5000`).
    pub registry: String,
    /// Repository path within the registry (`library/busybox`).
    pub repository: String,
}

/// The per-diff-ID records.
#[derive(Debug, Clone)]
pub struct Metadata {
    dir: PathBuf,
}

impl Metadata {
    pub fn new(data_root: &Path) -> Metadata {
        Metadata {
            dir: data_root.join("dist").join("v2metadata"),
        }
    }

    fn path(&self, diff_id: &Digest) -> PathBuf {
        self.dir.join(diff_id.hex())
    }

    /// Every known compressed form of a layer, most recent first.
    pub fn get(&self, diff_id: &Digest) -> Vec<BlobSource> {
        fs::read(self.path(diff_id))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Records that `src` holds a compressed form of `diff_id` (deduplicated, capped).
    pub fn add(&self, diff_id: &Digest, src: BlobSource) -> std::io::Result<()> {
        let mut v = self.get(diff_id);
        v.retain(|x| x != &src);
        v.insert(0, src);
        v.truncate(50);
        fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(
            ".tmp-{}-{:08x}",
            diff_id.hex(),
            rand::random::<u32>()
        ));
        {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&serde_json::to_vec(&v).map_err(std::io::Error::other)?)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, self.path(diff_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_newest_first_without_duplicates() {
        let d = tempfile::tempdir().unwrap();
        let m = Metadata::new(d.path());
        let diff = Digest::sha256_of(b"layer");
        assert!(m.get(&diff).is_empty());
        let a = BlobSource {
            digest: Digest::sha256_of(b"a"),
            size: 1,
            media_type: "x".into(),
            registry: "localhost:5000".into(),
            repository: "one".into(),
        };
        let mut b = a.clone();
        b.repository = "two".into();
        m.add(&diff, a.clone()).unwrap();
        m.add(&diff, b.clone()).unwrap();
        m.add(&diff, a.clone()).unwrap();
        assert_eq!(m.get(&diff), vec![a, b]);
    }
}
