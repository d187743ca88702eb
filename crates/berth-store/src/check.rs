//! `berth system check`: verifies every blob's digest, every layer against its diff ID,
//! and every record's references. Reports; never changes anything.

use crate::{chain_ids, Store, StoreError};
use berth_oci::Digest;
use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Write};

/// One problem found.
pub type Problem = String;

struct HashSink(Sha256);
impl Write for HashSink {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.update(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Store {
    /// Checks the whole store. An empty list means no problem.
    pub fn check(&self) -> Result<Vec<Problem>, StoreError> {
        let mut problems = Vec::new();
        let (chains_ref, blobs_ref) = self.referenced()?;
        // Blobs: digest of content.
        for d in self.content().list()? {
            match self.content().open(&d) {
                Ok(mut f) => {
                    let mut h = Sha256::new();
                    let mut buf = vec![0u8; 1 << 20];
                    loop {
                        match f.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => h.update(&buf[..n]),
                            Err(e) => {
                                problems.push(format!("blob {d}: unreadable: {e}"));
                                break;
                            }
                        }
                    }
                    if hex::encode(h.finalize()) != d.hex() {
                        problems.push(format!("blob {d}: content does not match its digest"));
                    }
                }
                Err(e) => problems.push(format!("blob {d}: {e}")),
            }
            if !blobs_ref.contains(&d) {
                problems.push(format!("blob {d}: not referenced by any record"));
            }
        }
        // Layers: directory present, tar reassembles to the diff ID.
        for l in self.layers()? {
            let dir = self.layer_path(&l.chain_id);
            if !dir.join("diff").is_dir() {
                problems.push(format!(
                    "layer {}: directory {} missing",
                    l.chain_id,
                    dir.display()
                ));
                continue;
            }
            let mut sink = HashSink(Sha256::new());
            match self.write_layer_tar(&l.chain_id, &mut sink) {
                Ok(n) if n != l.diff_size => problems.push(format!(
                    "layer {}: tar is {n} bytes, recorded {}",
                    l.chain_id, l.diff_size
                )),
                Ok(_) => {
                    if hex::encode(sink.0.finalize()) != l.diff_id.hex() {
                        problems.push(format!(
                            "layer {}: content does not match diff ID {}",
                            l.chain_id, l.diff_id
                        ));
                    }
                }
                Err(e) => problems.push(format!("layer {}: {e}", l.chain_id)),
            }
            for b in &l.blobs {
                if !self.content().exists(&b.digest) {
                    problems.push(format!("layer {}: blob {} missing", l.chain_id, b.digest));
                }
            }
        }
        if let Ok(rd) = std::fs::read_dir(self.root().join("layers")) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let ok = Digest::from_sha256_hex(&name)
                    .map(|d| chains_ref.contains(&d))
                    .unwrap_or(false);
                if !ok {
                    problems.push(format!("layers/{name}: not referenced by any record"));
                }
            }
        }
        // Images: config present and consistent, layers recorded.
        for img in self.images()? {
            match self.config(&img.id) {
                Ok((_, cfg)) => {
                    if cfg.rootfs.diff_ids != img.diff_ids {
                        problems.push(format!("image {}: diff IDs differ from its config", img.id));
                    }
                    if chain_ids(&img.diff_ids) != img.chain_ids {
                        problems.push(format!("image {}: wrong chain IDs", img.id));
                    }
                }
                Err(e) => problems.push(format!("image {}: config: {e}", img.id)),
            }
            for c in &img.chain_ids {
                if self.layer(c)?.is_none() {
                    problems.push(format!("image {}: layer {c} not recorded", img.id));
                }
            }
            for m in &img.manifests {
                if !self.content().exists(m) {
                    problems.push(format!("image {}: manifest blob {m} missing", img.id));
                }
            }
        }
        for (t, id) in self.tags()? {
            if self.image(&id)?.is_none() {
                problems.push(format!("tag {t}: points to missing image {id}"));
            }
        }
        Ok(problems)
    }
}
