//! Making committed layers durable in the background, and checking them after a crash.
//!
//! [`crate::Store::commit_image`] records new layers in the `unsynced_layers` table in
//! the same transaction that makes them visible, then calls [`Syncer::request`]. One
//! background thread at a time takes the table's contents, runs `syncfs` on the data
//! root's filesystem (one syscall flushes every unpacked file) and removes the keys it
//! took; requests that arrive meanwhile are coalesced into one more round.
//!
//! At [`crate::Store::open`], keys still in the table mean the daemon stopped before the
//! flush finished (a crash or a power loss): each such layer is checked against its diff
//! ID by reassembling its tar, and a layer that does not match is removed together with
//! every image that uses it. [`Syncer::flush`] does the flush synchronously (clean
//! daemon stop, tests).

use crate::error::StoreError;
use crate::{Store, UNSYNCED};
use berth_oci::Digest;
use redb::{ReadableDatabase, ReadableTable};
use sha2::{Digest as _, Sha256};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};

#[derive(Default)]
struct State {
    /// A flush was asked for since the running round took its snapshot.
    pending: bool,
    /// A background thread is running.
    running: bool,
}

/// The background flusher (see the module docs).
pub struct Syncer {
    root: PathBuf,
    db: Arc<redb::Database>,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl Syncer {
    pub(crate) fn new(root: PathBuf, db: Arc<redb::Database>) -> Syncer {
        Syncer {
            root,
            db,
            state: Arc::new((Mutex::new(State::default()), Condvar::new())),
        }
    }

    /// Asks for a flush of everything committed so far; returns at once.
    pub fn request(&self) {
        let (lock, _) = &*self.state;
        let mut st = lock.lock().unwrap_or_else(|p| p.into_inner());
        st.pending = true;
        if st.running {
            return;
        }
        st.running = true;
        drop(st);
        let root = self.root.clone();
        let db = self.db.clone();
        let state = self.state.clone();
        let spawned = std::thread::Builder::new()
            .name("layer-sync".into())
            .spawn(move || loop {
                {
                    let (lock, cv) = &*state;
                    let mut st = lock.lock().unwrap_or_else(|p| p.into_inner());
                    if !st.pending {
                        st.running = false;
                        cv.notify_all();
                        return;
                    }
                    st.pending = false;
                }
                if let Err(e) = flush_once(&root, &db) {
                    tracing::warn!("flushing committed layers: {e}");
                }
            });
        if spawned.is_err() {
            // No thread: flush here rather than leave the marks behind.
            let (lock, cv) = &*self.state;
            let mut st = lock.lock().unwrap_or_else(|p| p.into_inner());
            st.running = false;
            st.pending = false;
            cv.notify_all();
            drop(st);
            if let Err(e) = flush_once(&self.root, &self.db) {
                tracing::warn!("flushing committed layers: {e}");
            }
        }
    }

    /// Waits for a running background round, then flushes synchronously.
    pub fn flush(&self) -> Result<(), StoreError> {
        let (lock, cv) = &*self.state;
        let mut st = lock.lock().unwrap_or_else(|p| p.into_inner());
        while st.running {
            st = cv.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        st.pending = false;
        drop(st);
        flush_once(&self.root, &self.db)
    }
}

/// One round: snapshot the marks, `syncfs`, remove the snapshot's marks.
fn flush_once(root: &std::path::Path, db: &redb::Database) -> Result<(), StoreError> {
    let keys: Vec<String> = {
        let tx = db.begin_read()?;
        let t = tx.open_table(UNSYNCED)?;
        t.iter()?
            .filter_map(|r| r.ok())
            .map(|(k, _)| k.value().to_string())
            .collect()
    };
    if keys.is_empty() {
        return Ok(());
    }
    let t = std::time::Instant::now();
    crate::content::sync_filesystem(root)?;
    tracing::debug!(layers = keys.len(), elapsed = ?t.elapsed(), "layers flushed");
    let tx = db.begin_write()?;
    {
        let mut t = tx.open_table(UNSYNCED)?;
        for k in &keys {
            t.remove(k.as_str())?;
        }
    }
    tx.commit()?;
    Ok(())
}

struct HashSink(Sha256, u64);
impl Write for HashSink {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.update(b);
        self.1 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Store {
    /// Flushes committed layers now (clean daemon stop).
    pub fn flush_layers(&self) -> Result<(), StoreError> {
        self.syncer.flush()
    }

    /// Chain IDs of layers committed but not yet flushed.
    pub fn unsynced_layers(&self) -> Result<Vec<Digest>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(UNSYNCED)?;
        Ok(t.iter()?
            .filter_map(|r| r.ok())
            .filter_map(|(k, _)| Digest::from_sha256_hex(k.value()).ok())
            .collect())
    }

    /// Checks a layer's files against its recorded diff ID and tar size.
    pub fn verify_layer(&self, chain: &Digest) -> Result<bool, StoreError> {
        let Some(rec) = self.layer(chain)? else {
            return Ok(false);
        };
        let mut sink = HashSink(Sha256::new(), 0);
        match self.write_layer_tar(chain, &mut sink) {
            Ok(_) => {
                Ok(sink.1 == rec.diff_size && hex::encode(sink.0.finalize()) == rec.diff_id.hex())
            }
            Err(_) => Ok(false),
        }
    }

    /// At open: verifies layers a crash left unflushed and removes the damaged ones with
    /// the images that use them.
    pub(crate) fn recover_unsynced(&self) -> Result<(), StoreError> {
        let marked = self.unsynced_layers()?;
        if marked.is_empty() {
            return Ok(());
        }
        let mut bad = Vec::new();
        for chain in &marked {
            if self.layer(chain)?.is_some() && !self.verify_layer(chain)? {
                tracing::warn!(layer = %chain, "layer damaged by an unclean stop; removing it and its images");
                bad.push(chain.clone());
            }
        }
        if !bad.is_empty() {
            for img in self.images()? {
                if img.chain_ids.iter().any(|c| bad.contains(c)) {
                    tracing::warn!(image = %img.id, "removing image with a damaged layer");
                    let _ = self.delete_image(&img.id);
                }
            }
            // Layers no image uses any more are swept by `sweep_orphans` only if their
            // records are gone: drop the damaged records explicitly.
            let tx = self.db.begin_write()?;
            {
                let mut lt = tx.open_table(crate::LAYERS)?;
                for c in &bad {
                    lt.remove(c.hex())?;
                }
            }
            tx.commit()?;
        }
        self.syncer.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-layer image from a tar holding `files`; returns (image id, chain id).
    fn commit_one(s: &Store, files: &[(&str, &[u8])], tag: &str) -> (Digest, Digest) {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).expect("append");
        }
        let tar = b.into_inner().expect("tar");
        let staged = crate::ingest::ingest_layer(s.content(), &tar[..]).expect("ingest");
        let diff = staged.diff_id.clone();
        let cfg = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff.to_string()]},
        });
        let mut pool = std::collections::HashMap::new();
        pool.insert(diff.clone(), staged);
        let c = s
            .commit_image(
                crate::NewImage {
                    config: crate::ConfigSource::Bytes(serde_json::to_vec(&cfg).expect("json")),
                    tags: vec![tag.parse().expect("tag")],
                    repo_digests: vec![],
                    manifests: vec![],
                    parent: None,
                },
                &mut pool,
            )
            .expect("commit");
        let chain = c.image.chain_ids[0].clone();
        (c.image.id, chain)
    }

    fn mark(s: &Store, chain: &Digest) {
        let tx = s.db.begin_write().expect("tx");
        {
            let mut t = tx.open_table(UNSYNCED).expect("table");
            t.insert(chain.hex(), ()).expect("insert");
        }
        tx.commit().expect("commit");
    }

    #[test]
    fn reopen_after_an_unclean_stop_drops_only_damaged_layers() {
        let d = tempfile::tempdir().expect("tempdir");
        let (good_img, good_chain, bad_img, bad_chain);
        {
            let s = Store::open(d.path()).expect("open");
            (good_img, good_chain) = commit_one(&s, &[("a.txt", b"intact")], "good:1");
            (bad_img, bad_chain) = commit_one(&s, &[("b.txt", b"will be torn")], "bad:1");
            s.flush_layers().expect("flush");
            assert!(s.unsynced_layers().expect("list").is_empty());
            // What a power loss before the flush looks like: marks still there, and one
            // layer's file lost its content.
            mark(&s, &good_chain);
            mark(&s, &bad_chain);
            std::fs::write(s.layer_diff(&bad_chain).join("b.txt"), b"").expect("tear");
        }
        let s = Store::open(d.path()).expect("reopen");
        assert!(s.unsynced_layers().expect("list").is_empty());
        assert!(
            s.image(&good_img).expect("read").is_some(),
            "intact image dropped"
        );
        assert!(
            s.image(&bad_img).expect("read").is_none(),
            "damaged image kept"
        );
        assert!(s.layer(&bad_chain).expect("read").is_none());
        assert!(!s.layer_path(&bad_chain).exists(), "damaged layer dir left");
        assert!(s.resolve("bad:1").is_err());
        assert!(s.check().expect("check").is_empty(), "{:?}", s.check());
    }

    #[test]
    fn request_then_flush_clears_marks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Arc::new(redb::Database::create(dir.path().join("db.redb")).expect("db"));
        {
            let tx = db.begin_write().expect("tx");
            {
                let mut t = tx.open_table(UNSYNCED).expect("table");
                t.insert("aa", ()).expect("insert");
                t.insert("bb", ()).expect("insert");
            }
            tx.commit().expect("commit");
        }
        let s = Syncer::new(dir.path().to_path_buf(), db.clone());
        s.request();
        s.request();
        s.flush().expect("flush");
        let tx = db.begin_read().expect("read");
        let t = tx.open_table(UNSYNCED).expect("table");
        assert_eq!(t.iter().expect("iter").count(), 0);
    }
}
