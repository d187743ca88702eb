//! The builder's step cache: a redb table from a step's cache key (parent image,
//! expanded instruction, build args used, source checksums; see berth-build's
//! `checksum::step_cache_key`) to the image that step produced. It lives in the
//! store's database, so it survives daemon restarts; entries whose image has since
//! been deleted are ignored (and dropped) on lookup.

use crate::{Store, StoreError};
use berth_oci::Digest;
use redb::{ReadableDatabase, TableDefinition};

const BUILD_CACHE: TableDefinition<&str, &str> = TableDefinition::new("build_cache");

impl Store {
    /// The image a cached step produced, if it still exists.
    pub fn build_cache_get(&self, key: &str) -> Result<Option<Digest>, StoreError> {
        let found = {
            let tx = self.db.begin_read()?;
            let t = match tx.open_table(BUILD_CACHE) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let v = t.get(key)?;
            v.and_then(|v| Digest::from_sha256_hex(v.value()).ok())
        };
        let Some(id) = found else { return Ok(None) };
        if self.image(&id)?.is_some() {
            return Ok(Some(id));
        }
        let tx = self.db.begin_write()?;
        tx.open_table(BUILD_CACHE)?.remove(key)?;
        tx.commit()?;
        Ok(None)
    }

    /// Remembers that the step with `key` produced image `id`.
    pub fn build_cache_put(&self, key: &str, id: &Digest) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        tx.open_table(BUILD_CACHE)?.insert(key, id.hex())?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopen_and_vanish_with_their_image() {
        let d = tempfile::tempdir().unwrap();
        let id;
        {
            let s = Store::open(d.path()).unwrap();
            assert_eq!(s.build_cache_get("k").unwrap(), None);
            let cfg = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
            let c = s
                .commit_image(
                    crate::NewImage {
                        config: crate::ConfigSource::Bytes(cfg.to_vec()),
                        tags: vec![],
                        repo_digests: vec![],
                        manifests: vec![],
                        parent: None,
                    },
                    &mut Default::default(),
                )
                .unwrap();
            id = c.image.id;
            s.build_cache_put("k", &id).unwrap();
        }
        let s = Store::open(d.path()).unwrap();
        assert_eq!(s.build_cache_get("k").unwrap(), Some(id.clone()));
        s.delete_image(&id).unwrap();
        assert_eq!(s.build_cache_get("k").unwrap(), None);
    }
}
