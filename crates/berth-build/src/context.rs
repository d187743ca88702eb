//! The build context: sending a directory as a tar, and opening a received tar.
//!
//! Client side, [`tar_context_dir`] does what `docker build DIR` does
//! (docker/cli `build.TrimBuildFilesFromExcludes` + go-archive `TarWithOptions`): read
//! `.dockerignore`, never exclude `.dockerignore` or the Dockerfile, walk the directory
//! in lexical order skipping excluded paths (descending into an excluded directory
//! only when an exception may re-include something below it) and write a
//! deterministic tar (sorted entries, hard links as links). Daemon side,
//! [`open_context`] decompresses (plain/gzip/bzip2/xz) and safely extracts a context
//! tar, reads the Dockerfile, then removes `.dockerignore` and the Dockerfile if the
//! ignore file excludes them (moby `remotecontext.removeDockerfile`).

use crate::archive::{self, ArchiveError, ExtractOptions};
use crate::ignore::{read_ignore_file, IgnoreError, MatchInfo, PatternMatcher};
use crate::reuse::Fingerprints;
use crate::upload;
use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Context errors.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(".dockerignore: {0}")]
    Ignore(#[from] IgnoreError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("Cannot locate specified Dockerfile: {0}")]
    NoDockerfile(String),
    /// An incremental upload kept a file the slot no longer holds as recorded.
    #[error("{marker}: {0} is not as last uploaded", marker = upload::STALE_BASE)]
    StaleBase(String),
}

fn io_err(path: impl AsRef<Path>, source: io::Error) -> ContextError {
    ContextError::Io {
        path: path.as_ref().display().to_string(),
        source,
    }
}

/// The exclusion patterns for a context directory, with `.dockerignore` and the
/// Dockerfile re-included (`TrimBuildFilesFromExcludes`).
pub fn context_excludes(dir: &Path, dockerfile: &str) -> Result<Vec<String>, ContextError> {
    let path = dir.join(".dockerignore");
    let mut excludes = match fs::read(&path) {
        Ok(d) => read_ignore_file(&d),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_err(&path, e)),
    };
    let pm = PatternMatcher::new(&excludes)?;
    if pm.matches(".dockerignore") {
        excludes.push("!.dockerignore".into());
    }
    let df = dockerfile.trim_start_matches("./").to_string();
    if PatternMatcher::new(&excludes)?.matches(&df) {
        excludes.push(format!("!{df}"));
    }
    Ok(excludes)
}

/// Writes the context directory `dir` as a tar to `out`, honouring `.dockerignore`.
/// `dockerfile` is the Dockerfile's path relative to `dir`.
pub fn tar_context_dir<W: Write>(dir: &Path, dockerfile: &str, out: W) -> Result<W, ContextError> {
    let excludes = context_excludes(dir, dockerfile)?;
    let pm = PatternMatcher::new(&excludes)?;
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    walk(
        dir,
        dir,
        &pm,
        &MatchInfo::default(),
        &mut |full, rel, meta| append_entry(&mut b, full, rel, meta, &mut links),
    )?;
    b.into_inner().map_err(|e| io_err(dir, e))
}

/// Like [`tar_context_dir`], for an incremental upload to a berth daemon
/// ([`crate::upload`]): the tar starts with a manifest keyed `key`, and regular files
/// whose stamp equals the one in `previous` (what the daemon recorded at the last
/// upload of this context) are left out; files changed within
/// [`upload::RACY_WINDOW`] before `now` are sent and get no stamp. The Dockerfile and `.dockerignore` are always
/// sent (the daemon may delete its copies after reading them). Returns the writer and
/// how many files were left out.
pub fn tar_context_dir_incremental<W: Write>(
    dir: &Path,
    dockerfile: &str,
    out: W,
    key: &str,
    previous: &HashMap<String, String>,
    now: std::time::SystemTime,
) -> Result<(W, usize), ContextError> {
    let excludes = context_excludes(dir, dockerfile)?;
    let pm = PatternMatcher::new(&excludes)?;
    let mut entries = Vec::new();
    walk(
        dir,
        dir,
        &pm,
        &MatchInfo::default(),
        &mut |full, rel, meta| {
            entries.push((full.to_path_buf(), rel.to_string(), meta.clone()));
            Ok(())
        },
    )?;
    let df = dockerfile.trim_start_matches("./");
    let mut manifest = upload::Manifest {
        key: key.to_string(),
        ..Default::default()
    };
    let mut kept = std::collections::HashSet::new();
    for (_, rel, meta) in &entries {
        if !meta.is_file()
            || meta.nlink() != 1
            || rel == df
            || rel == ".dockerignore"
            || upload::is_racy(meta, now)
        {
            continue;
        }
        let st = upload::stamp(meta);
        if previous.get(rel) == Some(&st) {
            manifest.keep.push(rel.clone());
            kept.insert(rel.clone());
        }
        manifest.stamps.insert(rel.clone(), st);
    }
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    upload::write_manifest(&mut b, &manifest).map_err(|e| io_err(dir, e))?;
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    for (full, rel, meta) in &entries {
        if !kept.contains(rel) {
            append_entry(&mut b, full, rel, meta, &mut links)?;
        }
    }
    Ok((b.into_inner().map_err(|e| io_err(dir, e))?, kept.len()))
}

/// Visits the context's entries in tar order (lexical, parents first), skipping
/// excluded paths.
fn walk(
    root: &Path,
    dir: &Path,
    pm: &PatternMatcher,
    parent_info: &MatchInfo,
    visit: &mut dyn FnMut(&Path, &str, &fs::Metadata) -> Result<(), ContextError>,
) -> Result<(), ContextError> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .map_err(|e| io_err(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    for name in names {
        let full = dir.join(&name);
        let rel = full
            .strip_prefix(root)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let meta = fs::symlink_metadata(&full).map_err(|e| io_err(&full, e))?;
        let (skip, info) = pm.matches_using_parent_results(&rel, parent_info);
        if skip {
            if meta.is_dir() && pm.exclusions() && pm.may_reinclude_under(&rel) {
                walk(root, &full, pm, &info, visit)?;
            }
            continue;
        }
        visit(&full, &rel, &meta)?;
        if meta.is_dir() {
            walk(root, &full, pm, &info, visit)?;
        }
    }
    Ok(())
}

/// Appends one filesystem entry with its real metadata (hard links to an inode
/// already written become link entries, as in Docker's archiver).
pub fn append_entry<W: Write>(
    b: &mut tar::Builder<W>,
    full: &Path,
    rel: &str,
    meta: &fs::Metadata,
    links: &mut HashMap<(u64, u64), String>,
) -> Result<(), ContextError> {
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    let ft = meta.file_type();
    let name = if ft.is_dir() {
        format!("{rel}/")
    } else {
        rel.to_string()
    };
    if ft.is_file() && meta.nlink() > 1 {
        let key = (meta.dev(), meta.ino());
        if let Some(first) = links.get(&key) {
            h.set_entry_type(tar::EntryType::Link);
            h.set_size(0);
            b.append_link(&mut h, &name, first)
                .map_err(|e| io_err(full, e))?;
            return Ok(());
        }
        links.insert(key, rel.to_string());
    }
    if ft.is_symlink() {
        let target = fs::read_link(full).map_err(|e| io_err(full, e))?;
        h.set_size(0);
        b.append_link(&mut h, &name, &target)
            .map_err(|e| io_err(full, e))?;
    } else if ft.is_file() {
        let f = fs::File::open(full).map_err(|e| io_err(full, e))?;
        b.append_data(&mut h, &name, f)
            .map_err(|e| io_err(full, e))?;
    } else {
        h.set_size(0);
        b.append_data(&mut h, &name, io::empty())
            .map_err(|e| io_err(full, e))?;
    }
    Ok(())
}

/// An opened build context.
#[derive(Debug)]
pub struct OpenedContext {
    /// Where the context was extracted.
    pub root: PathBuf,
    /// The Dockerfile's name actually found (`Dockerfile` or `dockerfile`).
    pub dockerfile_name: String,
    /// The Dockerfile's text.
    pub dockerfile: String,
    /// The `.dockerignore` patterns the context carried.
    pub excludes: Vec<String>,
    /// Every path the tar contained (relative, no trailing slash), minus removed
    /// build files: what Docker's context hashes know about.
    pub tar_paths: std::collections::BTreeSet<String>,
}

/// Extracts a (possibly compressed) context tar into `dest` and reads its
/// Dockerfile (`dockerfile` path, default `Dockerfile`, falling back to `dockerfile`).
pub fn open_context<R: Read>(
    r: R,
    dockerfile: Option<&str>,
    dest: &Path,
) -> Result<OpenedContext, ContextError> {
    open_context_with(r, dockerfile, dest, None, None)
}

/// Like [`open_context`], but `dest` may hold the previous build's context: files
/// whose size, mtime, mode, owner **and content** did not change are not rewritten
/// (content is compared by the chunk fingerprints in `fingerprints` where they are
/// valid, else byte for byte: [`crate::reuse`]), and paths the new tar does not contain
/// are removed. The daemon keeps one such directory per build slot.
pub fn open_context_reusing<R: Read>(
    r: R,
    dockerfile: Option<&str>,
    dest: &Path,
    fingerprints: &Fingerprints,
) -> Result<OpenedContext, ContextError> {
    open_context_with(r, dockerfile, dest, Some(fingerprints), None)
}

/// The previous upload an incremental context tar ([`crate::upload`]) builds on.
#[derive(Debug, Clone, Copy)]
pub struct Base<'a> {
    /// The manifest the tar started with (already consumed by [`upload::peek`]).
    pub manifest: &'a upload::Manifest,
    /// The client stamps the slot recorded at its last upload (empty if none).
    pub recorded: &'a HashMap<String, String>,
}

/// Like [`open_context_reusing`] for an incremental upload: the files the manifest
/// keeps must be in `dest` exactly as the last upload left them (same recorded client
/// stamp, unchanged since the extraction wrote them), else
/// [`ContextError::StaleBase`].
pub fn open_context_synced<R: Read>(
    r: R,
    dockerfile: Option<&str>,
    dest: &Path,
    fingerprints: &Fingerprints,
    base: Base<'_>,
) -> Result<OpenedContext, ContextError> {
    open_context_with(r, dockerfile, dest, Some(fingerprints), Some(base))
}

/// Removes everything under `dir` that is neither in `keep` nor a parent of it. Stale
/// entries are renamed into `trash` (created on first use, next to `root`) rather than
/// deleted here: a slot that held a 2000-file context and now gets a small one would
/// otherwise delete those files before the build could start. [`Trash::drop`] deletes the
/// trash on a background thread.
fn prune(
    root: &Path,
    dir: &Path,
    keep: &std::collections::BTreeSet<String>,
    trash: &mut Trash,
) -> Result<(), ContextError> {
    for e in fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let e = e.map_err(|er| io_err(dir, er))?;
        let p = e.path();
        let rel = p
            .strip_prefix(root)
            .map(|x| x.to_string_lossy().into_owned())
            .unwrap_or_default();
        let prefix = format!("{rel}/");
        let is_parent = keep
            .range(prefix.clone()..)
            .next()
            .is_some_and(|k| k.starts_with(&prefix));
        let meta = fs::symlink_metadata(&p).map_err(|er| io_err(&p, er))?;
        if keep.contains(&rel) || is_parent {
            if meta.is_dir() {
                prune(root, &p, keep, trash)?;
            }
        } else if !trash.take(root, &p) {
            if meta.is_dir() {
                fs::remove_dir_all(&p).map_err(|er| io_err(&p, er))?;
            } else {
                fs::remove_file(&p).map_err(|er| io_err(&p, er))?;
            }
        }
    }
    Ok(())
}

/// Where [`prune`] moves stale context entries; deleted on a background thread when
/// dropped. Leftovers of a crash are named `<slot>.stale-*` next to the slot directory
/// (the builder deletes every `context-*` entry when it starts).
#[derive(Default)]
struct Trash {
    dir: Option<PathBuf>,
    n: u64,
}

impl Trash {
    /// Moves `p` into the trash; false if that is not possible (then the caller deletes).
    fn take(&mut self, root: &Path, p: &Path) -> bool {
        if self.dir.is_none() {
            let name = root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let dir = root.with_file_name(format!("{name}.stale-{nanos:x}"));
            if fs::create_dir(&dir).is_err() {
                return false;
            }
            self.dir = Some(dir);
        }
        let Some(dir) = &self.dir else {
            return false;
        };
        self.n += 1;
        fs::rename(p, dir.join(self.n.to_string())).is_ok()
    }
}

impl Drop for Trash {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            std::thread::spawn(move || {
                if let Err(e) = fs::remove_dir_all(&dir) {
                    tracing::warn!("removing {}: {e}", dir.display());
                }
            });
        }
    }
}

fn open_context_with<R: Read>(
    r: R,
    dockerfile: Option<&str>,
    dest: &Path,
    fingerprints: Option<&Fingerprints>,
    base: Option<Base<'_>>,
) -> Result<OpenedContext, ContextError> {
    let reuse = fingerprints.is_some();
    let stream = archive::decompress(r)?;
    // Owners are kept as sent: the daemon's context hashes include them.
    let written = archive::extract_tar(
        stream,
        dest,
        ExtractOptions {
            preserve_owner: true,
            owner: None,
            reuse_unchanged: reuse,
            fingerprints,
        },
    )?;
    let mut written = written;
    if let (Some(base), Some(fp)) = (base, fingerprints) {
        let sent: std::collections::HashSet<&PathBuf> = written.iter().collect();
        let mut kept = Vec::with_capacity(base.manifest.keep.len());
        for p in &base.manifest.keep {
            let stale = || ContextError::StaleBase(p.clone());
            let rel = archive::clean_entry_name(p).ok_or_else(stale)?;
            let target = dest.join(&rel);
            let recorded = base.recorded.get(p);
            if rel.as_os_str().is_empty()
                || sent.contains(&rel)
                || recorded.is_none()
                || recorded != base.manifest.stamps.get(p)
                || archive::resolve_in_root(dest, &rel, false) != target
                || !fp.is_current(&target)
            {
                return Err(stale());
            }
            kept.push(rel);
        }
        written.extend(kept);
    }
    let mut tar_paths: std::collections::BTreeSet<String> = written
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(fp) = fingerprints {
        prune(dest, dest, &tar_paths, &mut Trash::default())?;
        fp.retain_under(dest, &written.iter().cloned().collect());
    }
    let requested = dockerfile.filter(|d| !d.is_empty()).unwrap_or("Dockerfile");
    let mut name = requested.trim_start_matches("./").to_string();
    let mut path = archive::resolve_in_root(dest, Path::new(&name), true);
    if !path.is_file() && dockerfile.is_none_or(|d| d.is_empty() || d == "Dockerfile") {
        let alt = archive::resolve_in_root(dest, Path::new("dockerfile"), true);
        if alt.is_file() {
            name = "dockerfile".into();
            path = alt;
        }
    }
    let text = fs::read(&path).map_err(|_| ContextError::NoDockerfile(name.clone()))?;
    let ignore_path = dest.join(".dockerignore");
    let excludes = match fs::read(&ignore_path) {
        Ok(d) => read_ignore_file(&d),
        Err(_) => Vec::new(),
    };
    if !excludes.is_empty() {
        let pm = PatternMatcher::new(&excludes)?;
        for f in [".dockerignore".to_string(), name.clone()] {
            if pm.matches_or_parent_matches(&f) {
                let p = dest.join(&f);
                if let Err(e) = fs::remove_file(&p) {
                    tracing::debug!(path = %p.display(), error = %e, "removing excluded build file");
                }
                tar_paths.remove(&f);
            }
        }
    }
    Ok(OpenedContext {
        root: dest.to_path_buf(),
        dockerfile_name: name,
        dockerfile: String::from_utf8_lossy(&text).into_owned(),
        excludes,
        tar_paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar_bytes: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(tar_bytes);
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    fn ctx() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        fs::create_dir_all(p.join("src/sub")).unwrap();
        fs::create_dir_all(p.join("docs/keep")).unwrap();
        fs::create_dir_all(p.join("node_modules/x")).unwrap();
        for f in [
            "Dockerfile",
            "src/main.py",
            "src/sub/a.pyc",
            "docs/a.md",
            "docs/keep/k.md",
            "node_modules/x/i.js",
            "secret.env",
        ] {
            fs::write(p.join(f), f.as_bytes()).unwrap();
        }
        fs::write(
            p.join(".dockerignore"),
            "# comment\nnode_modules\n**/*.pyc\ndocs\n!docs/keep\n*.env\nDockerfile\n.dockerignore\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn dockerignore_is_honoured_but_build_files_kept() {
        let d = ctx();
        let t = tar_context_dir(d.path(), "Dockerfile", Vec::new()).unwrap();
        let n = names(&t);
        assert_eq!(
            n,
            vec![
                ".dockerignore",
                "Dockerfile",
                "docs/keep/",
                "docs/keep/k.md",
                "src/",
                "src/main.py",
                "src/sub/"
            ]
        );
        // Deterministic: same bytes twice.
        assert_eq!(
            t,
            tar_context_dir(d.path(), "Dockerfile", Vec::new()).unwrap()
        );
    }

    #[test]
    fn incremental_upload_keeps_unchanged_files_and_refuses_a_stale_base() {
        let d = ctx();
        let out = tempfile::tempdir().unwrap();
        let fp = Fingerprints::default();
        // Past the racy window of the files just written.
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(10);
        let upload = |prev: &HashMap<String, String>| {
            let (t, kept) =
                tar_context_dir_incremental(d.path(), "Dockerfile", Vec::new(), "k", prev, later)
                    .unwrap();
            let len = t.len();
            let (p, rest) = upload::peek(io::Cursor::new(t)).unwrap();
            (p.manifest.unwrap(), rest, kept, len)
        };
        let open = |m: &upload::Manifest, rest, recorded: &HashMap<String, String>| {
            let base = Base {
                manifest: m,
                recorded,
            };
            open_context_synced(rest, None, out.path(), &fp, base)
        };
        let (m1, rest, kept, full_len) = upload(&HashMap::new());
        assert_eq!(kept, 0);
        assert!(m1.stamps.contains_key("src/main.py"));
        // Build files are never stamped (the daemon may delete them).
        assert!(!m1.stamps.contains_key("Dockerfile"));
        let c1 = open(&m1, rest, &HashMap::new()).unwrap();

        // Nothing changed: every stamped file is left out of the tar.
        let big = vec![b'x'; 300_000];
        fs::write(d.path().join("src/big.bin"), &big).unwrap();
        let (m1b, rest, _, _) = upload(&m1.stamps);
        open(&m1b, rest, &m1.stamps).unwrap();
        let (m2, rest, kept, len2) = upload(&m1b.stamps);
        assert_eq!(kept, m1b.stamps.len());
        assert!(len2 < full_len + 10_000, "{len2} bytes sent");
        let c2 = open(&m2, rest, &m1b.stamps).unwrap();
        assert!(c2.tar_paths.contains("src/big.bin"));
        assert_eq!(fs::read(out.path().join("src/big.bin")).unwrap(), big);
        assert_eq!(c2.tar_paths.len(), c1.tar_paths.len() + 1);

        // A changed file is sent; its new content lands.
        fs::write(d.path().join("src/main.py"), b"print('v2')").unwrap();
        let (m3, rest, kept, _) = upload(&m2.stamps);
        assert_eq!(kept, m2.stamps.len() - 1);
        assert!(!m3.keep.contains(&"src/main.py".to_string()));
        open(&m3, rest, &m2.stamps).unwrap();
        assert_eq!(
            fs::read(out.path().join("src/main.py")).unwrap(),
            b"print('v2')"
        );

        // The slot's copy changed behind the builder's back: stale, not trusted.
        fs::write(out.path().join("src/big.bin"), b"tampered").unwrap();
        let (m4, rest, _, _) = upload(&m3.stamps);
        let e = open(&m4, rest, &m3.stamps).unwrap_err();
        assert!(
            matches!(&e, ContextError::StaleBase(p) if p == "src/big.bin"),
            "{e}"
        );
        assert!(e.to_string().contains(upload::STALE_BASE));
        // Stamps the slot did not record (another client's upload): stale too.
        let (m5, rest, _, _) = upload(&m3.stamps);
        assert!(matches!(
            open(&m5, rest, &HashMap::new()),
            Err(ContextError::StaleBase(_))
        ));
        // A full upload repairs it.
        let (m6, rest, kept, _) = upload(&HashMap::new());
        assert_eq!(kept, 0);
        open(&m6, rest, &HashMap::new()).unwrap();
        assert_eq!(fs::read(out.path().join("src/big.bin")).unwrap(), big);
    }

    #[test]
    fn reusing_a_previous_context_dir() {
        let d = ctx();
        let out = tempfile::tempdir().unwrap();
        let fp = Fingerprints::default();
        let t = tar_context_dir(d.path(), "Dockerfile", Vec::new()).unwrap();
        let c1 = open_context_reusing(&t[..], None, out.path(), &fp).unwrap();
        // Change one file's content (new size), delete one, add one.
        fs::write(d.path().join("src/main.py"), b"print('changed')").unwrap();
        fs::remove_file(d.path().join("docs/keep/k.md")).unwrap();
        fs::write(d.path().join("src/new.py"), b"n").unwrap();
        let t2 = tar_context_dir(d.path(), "Dockerfile", Vec::new()).unwrap();
        let c2 = open_context_reusing(&t2[..], None, out.path(), &fp).unwrap();
        assert_ne!(c1.tar_paths, c2.tar_paths);
        assert_eq!(
            fs::read(out.path().join("src/main.py")).unwrap(),
            b"print('changed')"
        );
        assert!(out.path().join("src/new.py").exists());
        assert!(!out.path().join("docs/keep/k.md").exists());
        // Same tree as a fresh extraction.
        let fresh = tempfile::tempdir().unwrap();
        open_context(&t2[..], None, fresh.path()).unwrap();
        let list = |p: &Path| {
            let mut v = Vec::new();
            let mut stack = vec![p.to_path_buf()];
            while let Some(x) = stack.pop() {
                for e in fs::read_dir(&x).unwrap() {
                    let e = e.unwrap();
                    v.push(e.path().strip_prefix(p).unwrap().to_path_buf());
                    if e.file_type().unwrap().is_dir() {
                        stack.push(e.path());
                    }
                }
            }
            v.sort();
            v
        };
        assert_eq!(list(out.path()), list(fresh.path()));
        // The stale entries went into a trash next to the slot, deleted in the background.
        let name = out
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let parent = out.path().parent().unwrap();
        let stale = || {
            fs::read_dir(parent).unwrap().flatten().any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{name}.stale-"))
            })
        };
        let t0 = std::time::Instant::now();
        while stale() {
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(5),
                "trash kept"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Sets a file's mtime (seconds) so two versions look alike to a metadata check.
    fn set_mtime(p: &Path, secs: i64) {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64);
        fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }

    #[test]
    fn reusing_notices_a_same_size_rewrite_within_the_same_second() {
        use std::os::unix::fs::MetadataExt;
        let d = ctx();
        let out = tempfile::tempdir().unwrap();
        let fp = Fingerprints::default();
        let f = d.path().join("src/main.py");
        fs::write(&f, vec![b'a'; 600_000]).unwrap();
        set_mtime(&f, 1_700_000_000);
        let t = tar_context_dir(d.path(), "Dockerfile", Vec::new()).unwrap();
        open_context_reusing(&t[..], None, out.path(), &fp).unwrap();
        let kept = out.path().join("src/main.py");
        // Every extracted regular file got fingerprints (what the later checks use).
        assert_eq!(fp.len(), 4, "{fp:?}");
        let before = fs::metadata(&kept).unwrap();
        // The same tar again: nothing is written (ctime unchanged).
        std::thread::sleep(std::time::Duration::from_millis(20));
        open_context_reusing(&t[..], None, out.path(), &fp).unwrap();
        let again = fs::metadata(&kept).unwrap();
        assert_eq!(
            (before.ctime(), before.ctime_nsec()),
            (again.ctime(), again.ctime_nsec())
        );
        // Same size, same mtime, different bytes past the first chunk.
        let mut v = vec![b'a'; 600_000];
        v[400_000] = b'b';
        fs::write(&f, &v).unwrap();
        set_mtime(&f, 1_700_000_000);
        let t2 = tar_context_dir(d.path(), "Dockerfile", Vec::new()).unwrap();
        open_context_reusing(&t2[..], None, out.path(), &fp).unwrap();
        assert_eq!(fs::read(&kept).unwrap(), v);
        let after = fs::metadata(&kept).unwrap();
        assert_eq!(after.mtime(), 1_700_000_000);
        assert_ne!(
            (before.ctime(), before.ctime_nsec()),
            (after.ctime(), after.ctime_nsec())
        );
    }

    #[test]
    fn dockerfile_in_subdir_is_sent_even_if_ignored() {
        let d = ctx();
        fs::create_dir_all(d.path().join("build")).unwrap();
        fs::write(d.path().join("build/Dockerfile.prod"), "FROM scratch\n").unwrap();
        fs::write(d.path().join(".dockerignore"), "build\n").unwrap();
        let t = tar_context_dir(d.path(), "build/Dockerfile.prod", Vec::new()).unwrap();
        let n = names(&t);
        assert!(n.contains(&"build/Dockerfile.prod".to_string()), "{n:?}");
        let out = tempfile::tempdir().unwrap();
        let c = open_context(&t[..], Some("build/Dockerfile.prod"), out.path()).unwrap();
        assert_eq!(c.dockerfile, "FROM scratch\n");
        // The daemon drops it from the context afterwards (it is excluded).
        assert!(!out.path().join("build/Dockerfile.prod").exists());
    }

    #[test]
    fn open_context_removes_excluded_build_files() {
        let d = ctx();
        let t = tar_context_dir(d.path(), "Dockerfile", Vec::new()).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&t).unwrap();
        let gz = gz.finish().unwrap();
        let out = tempfile::tempdir().unwrap();
        let c = open_context(&gz[..], None, out.path()).unwrap();
        assert_eq!(c.dockerfile, "Dockerfile");
        assert!(!out.path().join("Dockerfile").exists());
        assert!(!out.path().join(".dockerignore").exists());
        assert!(out.path().join("src/main.py").exists());
        // bzip2- and xz-compressed contexts open the same way.
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&t).unwrap();
        let out2 = tempfile::tempdir().unwrap();
        let c2 = open_context(&bz.finish().unwrap()[..], None, out2.path()).unwrap();
        assert_eq!(c2.tar_paths, c.tar_paths);
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &t[..], &mut xz).unwrap();
        let out3 = tempfile::tempdir().unwrap();
        let c3 = open_context(&xz[..], None, out3.path()).unwrap();
        assert_eq!(c3.dockerfile, "Dockerfile");
        assert!(c.tar_paths.contains("src/main.py"));
        assert!(!c.tar_paths.contains("Dockerfile"));
        let e = open_context(&t[..], Some("nope/Dockerfile"), out.path()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Cannot locate specified Dockerfile: nope/Dockerfile"
        );
    }
}
