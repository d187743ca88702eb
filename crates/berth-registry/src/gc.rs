//! Garbage collection (mark and sweep) that is safe while pushes are running.
//!
//! distribution's collector must run with the registry stopped or read-only: a push that
//! uploads blobs before its manifest can lose them to a sweep in between (distribution
//! issues #2881, #3045). berth closes that window with three rules:
//!
//! 1. **Lock.** The collector holds the exclusive GC lock ([`crate::gclock`]) for mark and
//!    sweep. Every operation that makes content reachable (upload commit, mount, blob HEAD,
//!    manifest PUT) takes the shared lock while it checks and links, so no reference can
//!    appear between mark and sweep, and a manifest PUT after the sweep re-checks that its
//!    blobs exist (it is refused, never stored dangling).
//! 2. **Grace period.** A blob whose data, or any repository link to it, was written or
//!    touched within the grace period before GC started is kept: it belongs to a push in
//!    progress whose manifest has not arrived yet. Blob HEAD touches the link, so "the
//!    client saw it exists and skipped the upload" also counts as recent use.
//! 3. **Uploads are not content.** A blob only exists once an upload is committed (which
//!    needs the lock), so in-progress `_uploads` never affect marking. Sessions idle for
//!    longer than `upload_max_age` (default 7 days, distribution's `uploadpurging` age)
//!    are purged; a PATCH racing that purge fails cleanly with `BLOB_UPLOAD_UNKNOWN`.
//!
//! Marking starts from every tag (and, unless `--delete-untagged`, every manifest revision);
//! a manifest marks its config, layers and child manifests; a manifest whose `subject` is
//! alive (signatures, SBOMs) stays alive. With `--delete-untagged`, untagged revisions older
//! than the grace period are unlinked first.

use crate::driver::DriverError;
use crate::paths;
use crate::store::{parse_manifest, Parsed, Store, StoreError};
use berth_oci::Digest;
use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, SystemTime};

/// Default grace period: content touched this recently is never swept.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(600);

/// Collector options.
#[derive(Debug, Clone)]
pub struct GcOptions {
    pub dry_run: bool,
    pub delete_untagged: bool,
    pub grace: Duration,
    /// Upload sessions idle longer than this are deleted (`None`: keep all).
    pub upload_max_age: Option<Duration>,
}

/// Default idle age after which upload sessions are purged (distribution: 168h).
pub const DEFAULT_UPLOAD_MAX_AGE: Duration = Duration::from_secs(168 * 3600);

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            dry_run: false,
            delete_untagged: false,
            grace: DEFAULT_GRACE,
            upload_max_age: Some(DEFAULT_UPLOAD_MAX_AGE),
        }
    }
}

/// What a run did (or, with `dry_run`, would do).
#[derive(Debug, Default)]
pub struct GcReport {
    pub uploads_purged: usize,
    pub blobs_marked: usize,
    pub blobs_deleted: Vec<Digest>,
    pub bytes_freed: u64,
    pub manifests_deleted: Vec<(String, Digest)>,
}

fn list(store: &Store, p: &str) -> Result<Vec<String>, StoreError> {
    match store.driver().list(p) {
        Ok(v) => Ok(v),
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

fn read_link(store: &Store, p: &str) -> Option<Digest> {
    let b = store.driver().get_content(p).ok()?;
    std::str::from_utf8(&b).ok()?.trim().parse().ok()
}

fn mtime(store: &Store, p: &str) -> Option<SystemTime> {
    store.driver().stat(p).ok().map(|i| i.modified)
}

/// Digests under `<dir>/<alg>/<hex>/link`.
fn linked(store: &Store, dir: &str) -> Result<Vec<(Digest, String)>, StoreError> {
    let mut out = Vec::new();
    for alg in list(store, dir)? {
        for hex in list(store, &format!("{dir}/{alg}"))? {
            if let Ok(d) = format!("{alg}:{hex}").parse::<Digest>() {
                out.push((d, format!("{dir}/{alg}/{hex}/link")));
            }
        }
    }
    Ok(out)
}

/// Marks a manifest and everything it references.
fn mark_manifest(store: &Store, d: &Digest, marked: &mut HashSet<Digest>, depth: usize) {
    if depth > 16 || !marked.insert(d.clone()) {
        return;
    }
    let Ok(bytes) = store.driver().get_content(&paths::blob_data(d)) else {
        return;
    };
    match parse_manifest(&bytes, None) {
        Ok((_, Parsed::Image(m))) => {
            marked.insert(m.config.digest.clone());
            for l in &m.layers {
                marked.insert(l.digest.clone());
            }
        }
        Ok((_, Parsed::Index(ix))) => {
            for c in &ix.manifests {
                mark_manifest(store, &c.digest, marked, depth + 1);
            }
        }
        Err(_) => {}
    }
}

fn subject_of(store: &Store, d: &Digest) -> Option<Digest> {
    let bytes = store.driver().get_content(&paths::blob_data(d)).ok()?;
    let (_, p) = parse_manifest(&bytes, None).ok()?;
    p.subject().map(|s| s.digest.clone())
}

/// Runs one collection.
pub fn collect(store: &Store, opts: &GcOptions) -> Result<GcReport, StoreError> {
    let started = SystemTime::now();
    let cutoff = started
        .checked_sub(opts.grace)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let recent = |t: Option<SystemTime>| t.is_some_and(|t| t >= cutoff);
    let _lock = store.exclusive_lock()?;
    let mut report = GcReport::default();
    let mut marked: HashSet<Digest> = HashSet::new();
    for repo in store.catalog()? {
        // Manifests reachable from tags.
        let mut alive: HashSet<Digest> = HashSet::new();
        for tag in list(store, &paths::tags_dir(&repo))? {
            if let Some(d) = read_link(store, &paths::tag_current(&repo, &tag)) {
                let mut tmp = HashSet::new();
                mark_manifest(store, &d, &mut tmp, 0);
                alive.extend(tmp);
            }
        }
        let revisions = linked(store, &paths::revisions_dir(&repo))?;
        // Untagged revisions: kept unless --delete-untagged; referrers of live manifests
        // and recently written revisions are always kept.
        let mut pending: Vec<(Digest, String)> = Vec::new();
        for (d, link) in revisions {
            if alive.contains(&d) {
                continue;
            }
            if !opts.delete_untagged || recent(mtime(store, &link)) {
                let mut tmp = HashSet::new();
                mark_manifest(store, &d, &mut tmp, 0);
                alive.extend(tmp);
            } else {
                pending.push((d, link));
            }
        }
        loop {
            let before = pending.len();
            pending.retain(|(d, _)| match subject_of(store, d) {
                Some(s) if alive.contains(&s) => {
                    let mut tmp = HashSet::new();
                    mark_manifest(store, d, &mut tmp, 0);
                    alive.extend(tmp);
                    false
                }
                _ => true,
            });
            if pending.len() == before {
                break;
            }
        }
        for (d, link) in pending {
            tracing::info!(repo = %repo, digest = %d, dry_run = opts.dry_run, "deleting untagged manifest");
            if !opts.dry_run {
                if let Some(s) = subject_of(store, &d) {
                    let _ = store
                        .driver()
                        .delete(paths::referrer_link(&repo, &s, &d).trim_end_matches("/link"));
                }
                store.driver().delete(link.trim_end_matches("/link"))?;
            }
            report.manifests_deleted.push((repo.clone(), d));
        }
        marked.extend(alive);
    }
    // Recently linked blobs (pushes in progress) stay, in every repository; long-idle
    // upload sessions go.
    let upload_cutoff = opts
        .upload_max_age
        .and_then(|a| started.checked_sub(a.max(opts.grace)));
    let mut stack = vec![paths::repositories()];
    while let Some(dir) = stack.pop() {
        for child in list(store, &dir)? {
            let p = format!("{dir}/{child}");
            if child == "_layers" {
                for (d, link) in linked(store, &p)? {
                    if recent(mtime(store, &link)) {
                        marked.insert(d);
                    }
                }
            } else if child == "_uploads" {
                let Some(cut) = upload_cutoff else { continue };
                for id in list(store, &p)? {
                    let up = format!("{p}/{id}");
                    let newest = [format!("{up}/data"), format!("{up}/startedat")]
                        .iter()
                        .filter_map(|f| mtime(store, f))
                        .max();
                    if newest.is_some_and(|t| t < cut) {
                        tracing::info!(upload = %up, dry_run = opts.dry_run, "purging idle upload");
                        if !opts.dry_run {
                            let _ = store.driver().delete(&up);
                        }
                        report.uploads_purged += 1;
                    }
                }
            } else if !child.starts_with('_') && store.driver().stat(&p).is_ok_and(|i| i.is_dir) {
                stack.push(p);
            }
        }
    }
    report.blobs_marked = marked.len();
    // Sweep.
    let blobs = paths::blobs_root();
    let mut deleted: BTreeSet<Digest> = BTreeSet::new();
    for alg in list(store, &blobs)? {
        for prefix in list(store, &format!("{blobs}/{alg}"))? {
            for hex in list(store, &format!("{blobs}/{alg}/{prefix}"))? {
                let Ok(d) = format!("{alg}:{hex}").parse::<Digest>() else {
                    continue;
                };
                if marked.contains(&d) {
                    continue;
                }
                let data = paths::blob_data(&d);
                let info = match store.driver().stat(&data) {
                    Ok(i) => i,
                    Err(DriverError::NotFound(_)) => continue,
                    Err(e) => return Err(e.into()),
                };
                if info.modified >= cutoff {
                    continue;
                }
                tracing::info!(digest = %d, size = info.size, dry_run = opts.dry_run, "deleting blob");
                if !opts.dry_run {
                    store.driver().delete(&paths::blob_dir(&d))?;
                }
                report.bytes_freed += info.size;
                deleted.insert(d);
            }
        }
    }
    // Drop repository links to deleted blobs.
    if !opts.dry_run && !deleted.is_empty() {
        let mut stack = vec![paths::repositories()];
        while let Some(dir) = stack.pop() {
            for child in list(store, &dir)? {
                let p = format!("{dir}/{child}");
                if child == "_layers" {
                    for (d, link) in linked(store, &p)? {
                        if deleted.contains(&d) {
                            let _ = store.driver().delete(link.trim_end_matches("/link"));
                        }
                    }
                } else if !child.starts_with('_') && store.driver().stat(&p).is_ok_and(|i| i.is_dir)
                {
                    stack.push(p);
                }
            }
        }
    }
    report.blobs_deleted = deleted.into_iter().collect();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::FilesystemDriver;
    use berth_oci::media_types as mt;
    use std::io::Write;
    use std::sync::Arc;

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

    fn image(s: &Store, repo: &str, tag: &str, layer: &[u8]) -> (Digest, Digest) {
        let cfg = push_blob(s, repo, format!("{{\"t\":\"{tag}\"}}").as_bytes());
        let l = push_blob(s, repo, layer);
        let m = serde_json::json!({"schemaVersion":2,"mediaType":mt::OCI_MANIFEST,
            "config":{"mediaType":mt::OCI_CONFIG,"digest":cfg,"size":1},
            "layers":[{"mediaType":mt::OCI_LAYER_GZIP,"digest":l,"size":layer.len()}]});
        let p = s
            .put_manifest(repo, tag, &serde_json::to_vec(&m).unwrap(), None)
            .unwrap();
        (p.digest, l)
    }

    #[test]
    fn sweeps_unreferenced_keeps_tagged() {
        let t = tempfile::tempdir().unwrap();
        let s = Store::new(Arc::new(FilesystemDriver::new(t.path())));
        let (_m1, keep) = image(&s, "a", "v1", b"keep");
        let orphan = push_blob(&s, "a", b"orphan");
        let (m2, gone_layer) = image(&s, "a", "v2", b"gone");
        s.delete_manifest("a", &m2.to_string()).unwrap();
        // Grace period: everything is fresh, nothing goes.
        let r = collect(&s, &GcOptions::default()).unwrap();
        assert!(r.blobs_deleted.is_empty());
        let opts = GcOptions {
            grace: Duration::ZERO,
            ..Default::default()
        };
        let dry = collect(
            &s,
            &GcOptions {
                dry_run: true,
                ..opts.clone()
            },
        )
        .unwrap();
        assert!(dry.blobs_deleted.contains(&orphan));
        assert!(s.global_blob_size(&orphan).unwrap().is_some());
        let r = collect(&s, &opts).unwrap();
        assert!(r.blobs_deleted.contains(&orphan));
        assert!(r.blobs_deleted.contains(&gone_layer));
        assert!(!r.blobs_deleted.contains(&keep));
        assert!(s.blob_size("a", &keep).unwrap().is_some());
        assert!(s.global_blob_size(&orphan).unwrap().is_none());
        assert!(s.get_manifest("a", "v1").is_ok());
    }

    #[test]
    fn purges_only_long_idle_uploads() {
        let t = tempfile::tempdir().unwrap();
        let s = Store::new(Arc::new(FilesystemDriver::new(t.path())));
        image(&s, "a", "v1", b"x");
        let old = s.start_upload("a").unwrap();
        let fresh = s.start_upload("a").unwrap();
        let past = SystemTime::now() - Duration::from_secs(8 * 24 * 3600);
        for f in ["data", "startedat"] {
            let p = t.path().join(format!(
                "docker/registry/v2/repositories/a/_uploads/{old}/{f}"
            ));
            std::fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(past)
                .unwrap();
        }
        let r = collect(&s, &GcOptions::default()).unwrap();
        assert_eq!(r.uploads_purged, 1);
        assert!(s.upload_size("a", &old).is_err());
        assert!(s.upload_size("a", &fresh).is_ok());
    }

    #[test]
    fn delete_untagged_only_with_flag() {
        let t = tempfile::tempdir().unwrap();
        let s = Store::new(Arc::new(FilesystemDriver::new(t.path())));
        let (m1, l1) = image(&s, "a", "v1", b"one");
        image(&s, "a", "v1", b"two"); // retag: m1 becomes untagged
        let opts = GcOptions {
            grace: Duration::ZERO,
            ..Default::default()
        };
        let r = collect(&s, &opts).unwrap();
        assert!(!r.blobs_deleted.contains(&l1));
        let r = collect(
            &s,
            &GcOptions {
                delete_untagged: true,
                ..opts
            },
        )
        .unwrap();
        assert!(r.manifests_deleted.iter().any(|(_, d)| d == &m1));
        assert!(r.blobs_deleted.contains(&l1));
        assert!(s.get_manifest("a", "v1").is_ok());
    }
}
