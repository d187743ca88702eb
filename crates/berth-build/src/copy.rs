//! COPY/ADD source resolution: which files land where, with which mode and owner.
//!
//! A port of the planning half of moby `daemon/builder/dockerfile/copy.go`
//! (`calcCopyInfo`, `copyWithWildcards`, `performCopyForInfo`): sources are cleaned
//! (leading `/` and `./` dropped, `../` clamped to the root, symlinks followed inside
//! it), wildcards are Go `filepath.Match` over every path of the root, a directory
//! source copies its *contents*, a single file goes *into* a destination that ends in
//! `/` or already is a directory and *onto* it otherwise, several sources need a
//! destination ending in `/`, ADD extracts local archives detected by content and
//! records URLs (never extracted) for download, missing parents are created 0755.
//! Owners are 0:0 (or `--chown`), except `COPY --from` without `--chown`, which keeps
//! the source's; `--chmod` sets modes. The result is a [`CopyPlan`] the executor
//! applies to a rootfs ([`apply_plan`]) or turns into a layer
//! ([`crate::layer::copy_layer_tar`]), plus the legacy source hash for history and
//! cache.

use crate::archive::{self, resolve_in_root};
use crate::checksum;
use crate::fnmatch::{contains_wildcards, go_match};
use crate::instructions::SourceContent;
use crate::paths;
use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// A COPY/ADD that cannot be planned. `Display` matches Docker's messages.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{keyword} failed: {message}")]
    Failed { keyword: String, message: String },
    #[error("When using {0} with more than one source file, the destination must be a directory and end with a /")]
    MultipleSourcesNeedDir(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

fn io_err(path: impl AsRef<Path>, source: io::Error) -> CopyError {
    CopyError::Io {
        path: path.as_ref().display().to_string(),
        source,
    }
}

/// What a COPY/ADD asks for (see [`crate::evolve::CopyStep`]).
#[derive(Debug, Clone)]
pub struct CopyRequest<'a> {
    /// "COPY" or "ADD".
    pub keyword: &'a str,
    pub sources: &'a [String],
    pub contents: &'a [SourceContent],
    /// Absolute destination, trailing `/` kept.
    pub dest: &'a str,
    /// The context directory, or the root filesystem of the `--from` stage/image.
    pub root: &'a Path,
    /// Sources come from `--from` (error wording; owners kept without `--chown`).
    pub from_image: bool,
    /// Resolved `--chown`.
    pub owner: Option<(u32, u32)>,
    /// Parsed `--chmod` ([`crate::userdb::parse_chmod`]).
    pub chmod: Option<&'a crate::userdb::Chmod>,
    /// ADD: extract local archives, allow URLs.
    pub allow_decompress: bool,
    /// Remembered content hashes (see [`checksum::HashCache`]).
    pub hash_cache: Option<&'a checksum::HashCache>,
    /// ADD `--checksum=sha256:<hex>`: verified on [`CopyPlan::resolve_download`].
    pub checksum: Option<&'a str>,
    /// `--exclude` patterns (`.dockerignore` syntax), matched against paths relative
    /// to each source directory (for wildcard matches: relative to the root).
    pub excludes: &'a [String],
    /// For context sources: the paths the context tar contained
    /// ([`crate::context::OpenedContext::tar_paths`]), so hashes match Docker's.
    pub tar_paths: Option<&'a std::collections::BTreeSet<String>>,
}

/// What already exists at a path of the image being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestKind {
    Dir,
    Other,
}

/// Answers "what is at this absolute path of the image being built?".
pub trait DestProbe {
    fn kind(&self, path: &str) -> Option<DestKind>;
}

/// An empty image: nothing exists.
pub struct EmptyDest;

impl DestProbe for EmptyDest {
    fn kind(&self, _path: &str) -> Option<DestKind> {
        None
    }
}

/// A mounted or unpacked root filesystem.
pub struct RootfsDest<'a>(pub &'a Path);

impl DestProbe for RootfsDest<'_> {
    fn kind(&self, path: &str) -> Option<DestKind> {
        let p = resolve_in_root(self.0, Path::new(path.trim_start_matches('/')), true);
        let m = fs::metadata(p).ok()?;
        Some(if m.is_dir() {
            DestKind::Dir
        } else {
            DestKind::Other
        })
    }
}

/// The type of a planned entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File,
    Symlink(String),
    Char(u32, u32),
    Block(u32, u32),
    Fifo,
}

/// Where a planned file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryData {
    None,
    Path(PathBuf),
    Bytes(Vec<u8>),
}

/// One file-system object to place in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedEntry {
    /// Absolute path in the image, no trailing slash.
    pub target: String,
    pub kind: EntryKind,
    pub data: EntryData,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: i64,
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanItem {
    Entry(PlacedEntry),
    /// ADD of a local archive: extract it under `target_dir` (owners from the archive).
    Extract {
        archive: PathBuf,
        target_dir: String,
    },
    /// ADD of a URL: download to `target` with mode 0600 and the step's owner, then
    /// call [`CopyPlan::resolve_download`].
    Download {
        url: String,
        target: String,
        uid: u32,
        gid: u32,
        /// Index of this source in [`CopyPlan::source_hashes`].
        source: usize,
    },
}

/// The resolved COPY/ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyPlan {
    pub items: Vec<PlanItem>,
    /// The legacy source hash (`file:…`, `dir:…`, `multi:…`) for history and cache.
    pub src_hash: String,
    /// Per-source hashes (`url:…` placeholders until downloads are resolved).
    pub source_hashes: Vec<String>,
    /// Expected `sha256:<hex>` of the downloaded source (ADD `--checksum`).
    pub checksum: Option<String>,
}

impl CopyPlan {
    /// URLs still to download.
    pub fn downloads(&self) -> Vec<String> {
        self.items
            .iter()
            .filter_map(|i| match i {
                PlanItem::Download { url, .. } => Some(url.clone()),
                _ => None,
            })
            .collect()
    }

    /// Replaces the download of `url` by the file fetched to `local`, and updates the
    /// source hash as Docker does (tarsum of the file named by its download name,
    /// mode 0600, owner 0:0; mtime never counts).
    pub fn resolve_download(&mut self, url: &str, local: &Path) -> Result<(), CopyError> {
        let Some(pos) = self
            .items
            .iter()
            .position(|i| matches!(i, PlanItem::Download { url: u, .. } if u == url))
        else {
            return Err(io_err(
                url,
                io::Error::other("no such download in the plan"),
            ));
        };
        let PlanItem::Download {
            target,
            uid,
            gid,
            source,
            ..
        } = self.items[pos].clone()
        else {
            return Ok(());
        };
        let meta = fs::metadata(local).map_err(|e| io_err(local, e))?;
        let name = match url_file_name(url) {
            n if n.is_empty() => "__unnamed__".to_string(),
            n => n,
        };
        // Docker downloads to a 0600 file named after the URL and hashes it like any
        // lazily-read file (20.10: Go file-type bits in the mode, host user names),
        // recording the bare hex digest.
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(local, fs::Permissions::from_mode(0o600))
                .map_err(|e| io_err(local, e))?;
        }
        let mut fields =
            checksum::HeaderFields::from_path_with(local, &name, checksum::HashStyle::ImageSource)
                .map_err(|e| io_err(local, e))?;
        fields.uid = 0;
        fields.gid = 0;
        fields.uname = checksum::host_user_name(0);
        fields.gname = checksum::host_group_name(0);
        let mut h = <sha2::Sha256 as sha2::Digest>::new();
        fields.write_v1(&mut h);
        let mut f = fs::File::open(local).map_err(|e| io_err(local, e))?;
        let mut content = <sha2::Sha256 as sha2::Digest>::new();
        let mut w = HashWriter(&mut h, &mut content);
        io::copy(&mut f, &mut w).map_err(|e| io_err(local, e))?;
        let hash = hex::encode(sha2::Digest::finalize(h));
        if let Some(want) = &self.checksum {
            let got = format!("sha256:{}", hex::encode(sha2::Digest::finalize(content)));
            if !want.eq_ignore_ascii_case(&got) {
                return Err(CopyError::Failed {
                    keyword: "ADD".into(),
                    message: format!("digest mismatch {want}: {got}"),
                });
            }
        }
        if let Some(slot) = self.source_hashes.get_mut(source) {
            *slot = hash;
        }
        self.src_hash = checksum::combine_source_hashes(&self.source_hashes);
        self.items[pos] = PlanItem::Entry(PlacedEntry {
            target,
            kind: EntryKind::File,
            data: EntryData::Path(local.to_path_buf()),
            mode: 0o600,
            uid,
            gid,
            size: meta.len(),
            mtime: meta.mtime(),
            xattrs: Vec::new(),
        });
        Ok(())
    }
}

struct HashWriter<'a>(&'a mut sha2::Sha256, &'a mut sha2::Sha256);

impl io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        sha2::Digest::update(self.0, buf);
        sha2::Digest::update(self.1, buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Info {
    Local {
        /// The cleaned path as requested (its base name names single-file targets).
        orig: String,
        full: PathBuf,
        is_dir: bool,
        hash: String,
    },
    Url {
        url: String,
        file_name: String,
        index: usize,
    },
    Data {
        name: String,
        data: Vec<u8>,
        hash: String,
    },
}

impl Info {
    fn hash(&self) -> String {
        match self {
            Info::Local { hash, .. } | Info::Data { hash, .. } => hash.clone(),
            Info::Url { url, .. } => format!("url:{url}"),
        }
    }
}

/// Is `s` an http(s) URL source?
pub fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

fn url_file_name(url: &str) -> String {
    let path = url
        .split_once("://")
        .map(|(_, r)| r)
        .and_then(|r| r.find('/').map(|i| &r[i..]))
        .unwrap_or("");
    let path = path.split(['?', '#']).next().unwrap_or("");
    if path.is_empty() || path.ends_with('/') {
        return String::new();
    }
    path.rsplit('/').next().unwrap_or("").to_string()
}

struct Planner<'a> {
    req: &'a CopyRequest<'a>,
    exclude: Option<crate::ignore::PatternMatcher>,
    probe: &'a dyn DestProbe,
    items: Vec<PlanItem>,
    made_dirs: BTreeSet<String>,
}

impl Planner<'_> {
    fn fail(&self, m: impl Into<String>) -> CopyError {
        CopyError::Failed {
            keyword: self.req.keyword.to_string(),
            message: m.into(),
        }
    }

    fn calc(&self, orig: &str, wildcards: bool, out: &mut Vec<Info>) -> Result<(), CopyError> {
        let orig = orig.strip_prefix('/').unwrap_or(orig);
        let orig = orig.strip_prefix("./").unwrap_or(orig);
        let root = self.req.root;
        if wildcards && contains_wildcards(orig) {
            let mut all = Vec::new();
            walk_rel(root, "", &mut all).map_err(|e| io_err(root, e))?;
            for rel in all {
                if go_match(orig, &rel).unwrap_or(false) && !self.excluded(&rel) {
                    self.calc(&rel, false, out)?;
                }
            }
            return Ok(());
        }
        let rel_path = if orig.is_empty() { "." } else { orig };
        let full = resolve_in_root(root, Path::new(rel_path), true);
        let meta = match fs::symlink_metadata(&full) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let base = format!("stat {rel_path}: file does not exist");
                return Err(self.fail(if self.req.from_image {
                    base
                } else {
                    format!("file not found in build context or excluded by .dockerignore: {base}")
                }));
            }
            Err(e) => return Err(io_err(&full, e)),
        };
        let resolved_rel = full
            .strip_prefix(root)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let is_dir = meta.is_dir();
        let style = if self.req.from_image {
            checksum::HashStyle::ImageSource
        } else {
            checksum::HashStyle::Context
        };
        let hash = if is_dir && self.exclude.is_some() {
            // Only what is copied counts.
            let mut rels = Vec::new();
            walk_rel(&full, "", &mut rels).map_err(|e| io_err(&full, e))?;
            let mut hashes = Vec::new();
            for r in rels.iter().filter(|r| !self.excluded(r)) {
                let name = crate::paths::join(&[&resolved_rel, r]);
                hashes.push(
                    checksum::file_hash_cached(&full.join(r), &name, style, self.req.hash_cache)
                        .map_err(|e| io_err(&full, e))?,
                );
            }
            hashes.sort();
            checksum::hash_string_slice("dir", &hashes)
        } else if is_dir {
            checksum::dir_hash_cached(
                root,
                &resolved_rel,
                style,
                self.req.hash_cache,
                self.req.tar_paths,
            )
            .map_err(|e| io_err(&full, e))?
        } else {
            format!(
                "file:{}",
                checksum::file_hash_cached(&full, &resolved_rel, style, self.req.hash_cache)
                    .map_err(|e| io_err(&full, e))?
            )
        };
        out.push(Info::Local {
            orig: rel_path.to_string(),
            full,
            is_dir,
            hash,
        });
        Ok(())
    }

    fn excluded(&self, rel: &str) -> bool {
        self.exclude
            .as_ref()
            .is_some_and(|pm| pm.matches_or_parent_matches(rel))
    }

    fn owner(&self, src: Option<&fs::Metadata>) -> (u32, u32) {
        if let Some(o) = self.req.owner {
            return o;
        }
        match (self.req.from_image, src) {
            (true, Some(m)) => (m.uid(), m.gid()),
            _ => (0, 0),
        }
    }

    /// Plans `mkdir -p` of `dir`'s missing ancestors and itself.
    fn mkdir_all(&mut self, dir: &str, owner: (u32, u32)) {
        let clean = paths::clean(dir);
        if clean == "/" {
            return;
        }
        let mut cur = String::new();
        for part in clean.trim_start_matches('/').split('/') {
            cur.push('/');
            cur.push_str(part);
            if self.made_dirs.contains(&cur) || self.probe.kind(&cur).is_some() {
                continue;
            }
            self.made_dirs.insert(cur.clone());
            self.items.push(PlanItem::Entry(PlacedEntry {
                target: cur.clone(),
                kind: EntryKind::Dir,
                data: EntryData::None,
                mode: 0o755,
                uid: owner.0,
                gid: owner.1,
                size: 0,
                mtime: 0,
                xattrs: Vec::new(),
            }));
        }
    }

    fn is_dir_dest(&self, dest: &str) -> bool {
        dest.ends_with('/') || self.probe.kind(dest) == Some(DestKind::Dir)
    }

    fn entry_from(&self, full: &Path, target: String) -> Result<PlacedEntry, CopyError> {
        let meta = fs::symlink_metadata(full).map_err(|e| io_err(full, e))?;
        let ft = meta.file_type();
        let (uid, gid) = self.owner(Some(&meta));
        let kind = if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            EntryKind::Symlink(
                fs::read_link(full)
                    .map_err(|e| io_err(full, e))?
                    .to_string_lossy()
                    .into_owned(),
            )
        } else if ft.is_char_device() {
            EntryKind::Char(libc::major(meta.rdev()), libc::minor(meta.rdev()))
        } else if ft.is_block_device() {
            EntryKind::Block(libc::major(meta.rdev()), libc::minor(meta.rdev()))
        } else if ft.is_fifo() {
            EntryKind::Fifo
        } else {
            EntryKind::File
        };
        let mut mode = meta.mode() & 0o7777;
        if let (Some(m), false) = (self.req.chmod, ft.is_symlink()) {
            mode = m.apply(mode, ft.is_dir());
        }
        let mut xattrs = Vec::new();
        if !ft.is_symlink() {
            if let Ok(names) = xattr::list(full) {
                for n in names {
                    let n = n.to_string_lossy().into_owned();
                    if n.starts_with("trusted.overlay.") {
                        continue;
                    }
                    if let Ok(Some(v)) = xattr::get(full, &n) {
                        xattrs.push((n, v));
                    }
                }
            }
            xattrs.sort();
        }
        Ok(PlacedEntry {
            target,
            data: if kind == EntryKind::File {
                EntryData::Path(full.to_path_buf())
            } else {
                EntryData::None
            },
            kind,
            mode,
            uid,
            gid,
            size: if ft.is_file() { meta.len() } else { 0 },
            mtime: meta.mtime(),
            xattrs,
        })
    }

    fn place(&mut self, info: Info) -> Result<(), CopyError> {
        let dest = self.req.dest.to_string();
        let identity = self.owner(None);
        match info {
            Info::Local {
                orig,
                full,
                is_dir: true,
                ..
            } => {
                let target_dir = paths::clean(&dest);
                let existed = self.probe.kind(&target_dir) == Some(DestKind::Dir)
                    || self.made_dirs.contains(&target_dir);
                let parent = parent_dir(&target_dir);
                self.mkdir_all(&parent, (0, 0));
                if !existed && target_dir != "/" {
                    self.made_dirs.insert(target_dir.clone());
                    let (uid, gid) = if self.req.from_image && self.req.owner.is_none() {
                        (0, 0)
                    } else {
                        identity
                    };
                    self.items.push(PlanItem::Entry(PlacedEntry {
                        target: target_dir.clone(),
                        kind: EntryKind::Dir,
                        data: EntryData::None,
                        mode: self.req.chmod.map_or(0o755, |m| m.apply(0o755, true)),
                        uid,
                        gid,
                        size: 0,
                        mtime: 0,
                        xattrs: Vec::new(),
                    }));
                }
                let _ = orig;
                let mut rels = Vec::new();
                walk_rel(&full, "", &mut rels).map_err(|e| io_err(&full, e))?;
                let rels: Vec<String> = rels.into_iter().filter(|r| !self.excluded(r)).collect();
                for rel in rels {
                    let target = paths::join(&[&target_dir, &rel]);
                    let e = self.entry_from(&full.join(&rel), target.clone())?;
                    if e.kind == EntryKind::Dir {
                        self.made_dirs.insert(target);
                    }
                    self.items.push(PlanItem::Entry(e));
                }
            }
            Info::Local { orig, full, .. } => {
                if self.req.allow_decompress && archive::is_archive_path(&full) {
                    let target_dir = paths::clean(&dest);
                    self.mkdir_all(&target_dir, (0, 0));
                    self.items.push(PlanItem::Extract {
                        archive: full,
                        target_dir,
                    });
                    return Ok(());
                }
                let base = Path::new(&orig)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let target = if self.is_dir_dest(&dest) {
                    paths::join(&[&dest, &base])
                } else {
                    paths::clean(&dest)
                };
                self.mkdir_all(&parent_dir(&target), identity);
                let e = self.entry_from(&full, target)?;
                self.items.push(PlanItem::Entry(e));
            }
            Info::Url {
                url,
                file_name,
                index,
            } => {
                let name = if file_name.is_empty() {
                    "__unnamed__".to_string()
                } else {
                    file_name
                };
                let target = if self.is_dir_dest(&dest) {
                    paths::join(&[&dest, &name])
                } else {
                    paths::clean(&dest)
                };
                self.mkdir_all(&parent_dir(&target), identity);
                self.items.push(PlanItem::Download {
                    url,
                    target,
                    uid: identity.0,
                    gid: identity.1,
                    source: index,
                });
            }
            Info::Data { name, data, .. } => {
                let target = if self.is_dir_dest(&dest) {
                    paths::join(&[&dest, &name])
                } else {
                    paths::clean(&dest)
                };
                self.mkdir_all(&parent_dir(&target), identity);
                self.items.push(PlanItem::Entry(PlacedEntry {
                    target,
                    kind: EntryKind::File,
                    size: data.len() as u64,
                    data: EntryData::Bytes(data),
                    mode: self.req.chmod.map_or(0o644, |m| m.apply(0o644, false)),
                    uid: identity.0,
                    gid: identity.1,
                    mtime: 0,
                    xattrs: Vec::new(),
                }));
            }
        }
        Ok(())
    }
}

fn parent_dir(p: &str) -> String {
    match p.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => p[..i].to_string(),
    }
}

/// Every path under `dir` (relative, lexical order, directories before their
/// contents; symlinked directories are not entered), like Go's `filepath.WalkDir`.
fn walk_rel(dir: &Path, prefix: &str, out: &mut Vec<String>) -> io::Result<()> {
    let mut names: Vec<_> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    for n in names {
        let rel = if prefix.is_empty() {
            n.to_string_lossy().into_owned()
        } else {
            format!("{prefix}/{}", n.to_string_lossy())
        };
        let full = dir.join(&n);
        out.push(rel.clone());
        if fs::symlink_metadata(&full)?.is_dir() {
            walk_rel(&full, &rel, out)?;
        }
    }
    Ok(())
}

/// Resolves a COPY/ADD into a plan. `probe` tells what exists in the image already
/// (decides "into a directory" vs "onto a file" and which parents to create).
pub fn plan_copy(req: &CopyRequest<'_>, probe: &dyn DestProbe) -> Result<CopyPlan, CopyError> {
    let exclude = if req.excludes.is_empty() {
        None
    } else {
        Some(
            crate::ignore::PatternMatcher::new(req.excludes)
                .map_err(|e| io_err("--exclude", io::Error::other(e.to_string())))?,
        )
    };
    let mut planner = Planner {
        req,
        exclude,
        probe,
        items: Vec::new(),
        made_dirs: BTreeSet::new(),
    };
    let mut infos = Vec::new();
    for src in req.sources {
        if is_url(src) {
            if !req.allow_decompress {
                return Err(planner.fail("source can't be a URL for COPY"));
            }
            let file_name = url_file_name(src);
            if file_name.is_empty() && req.dest.ends_with('/') {
                return Err(planner.fail(format!("cannot determine filename for source {src}")));
            }
            infos.push(Info::Url {
                url: src.clone(),
                file_name,
                index: infos.len(),
            });
            continue;
        }
        planner.calc(src, true, &mut infos)?;
    }
    if let Some(c) = req.checksum {
        if !req.sources.iter().all(|s| is_url(s)) || !req.contents.is_empty() {
            return Err(planner.fail("checksum can't be specified for non-HTTP(S) sources"));
        }
        let hex_ok = c
            .strip_prefix("sha256:")
            .is_some_and(|h| h.len() == 64 && h.chars().all(|x| x.is_ascii_hexdigit()));
        if !hex_ok {
            return Err(planner.fail(format!(
                "invalid checksum {c:?}: expected sha256:<64 hex digits>"
            )));
        }
    }
    for c in req.contents {
        let mode = req.chmod.map_or(0o644, |m| m.apply(0o644, false));
        infos.push(Info::Data {
            hash: format!(
                "file:{}",
                checksum::data_hash(&c.path, mode, c.data.as_bytes())
            ),
            name: c.path.clone(),
            data: c.data.clone().into_bytes(),
        });
    }
    if infos.is_empty() {
        return Err(planner.fail("no source files were specified"));
    }
    if infos.len() > 1 && !req.dest.ends_with('/') {
        return Err(CopyError::MultipleSourcesNeedDir(req.keyword.to_string()));
    }
    let hashes: Vec<String> = infos.iter().map(Info::hash).collect();
    let src_hash = checksum::combine_source_hashes(&hashes);
    for info in infos {
        planner.place(info)?;
    }
    Ok(CopyPlan {
        items: planner.items,
        src_hash,
        source_hashes: hashes,
        checksum: req.checksum.map(str::to_string),
    })
}

/// Applies a plan to a root filesystem directory (downloads must already have been
/// replaced by entries). Paths are resolved inside `rootfs`.
pub fn apply_plan(plan: &CopyPlan, rootfs: &Path) -> Result<(), CopyError> {
    use std::os::unix::fs::PermissionsExt;
    for item in &plan.items {
        match item {
            PlanItem::Entry(e) => {
                let rel = Path::new(e.target.trim_start_matches('/'));
                let parent = resolve_in_root(rootfs, rel.parent().unwrap_or(Path::new("")), true);
                fs::create_dir_all(&parent).map_err(|er| io_err(&parent, er))?;
                let Some(name) = rel.file_name() else {
                    continue;
                };
                let p = parent.join(name);
                if let Ok(m) = fs::symlink_metadata(&p) {
                    if !(m.is_dir() && e.kind == EntryKind::Dir) {
                        if m.is_dir() {
                            fs::remove_dir_all(&p).map_err(|er| io_err(&p, er))?;
                        } else {
                            fs::remove_file(&p).map_err(|er| io_err(&p, er))?;
                        }
                    }
                }
                match &e.kind {
                    EntryKind::Dir => {
                        if !p.is_dir() {
                            fs::create_dir(&p).map_err(|er| io_err(&p, er))?;
                        }
                    }
                    EntryKind::File => match &e.data {
                        EntryData::Path(src) => {
                            fs::copy(src, &p).map_err(|er| io_err(&p, er))?;
                        }
                        EntryData::Bytes(b) => fs::write(&p, b).map_err(|er| io_err(&p, er))?,
                        EntryData::None => fs::write(&p, b"").map_err(|er| io_err(&p, er))?,
                    },
                    EntryKind::Symlink(t) => {
                        std::os::unix::fs::symlink(t, &p).map_err(|er| io_err(&p, er))?
                    }
                    EntryKind::Char(..) | EntryKind::Block(..) | EntryKind::Fifo => {
                        let (t, ma, mi) = match e.kind {
                            EntryKind::Char(a, b) => (libc::S_IFCHR, a, b),
                            EntryKind::Block(a, b) => (libc::S_IFBLK, a, b),
                            _ => (libc::S_IFIFO, 0, 0),
                        };
                        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
                            .map_err(|er| io_err(&p, io::Error::other(er)))?;
                        // SAFETY: valid NUL-terminated path.
                        let r = unsafe {
                            libc::mknod(
                                c.as_ptr(),
                                t | e.mode as libc::mode_t,
                                libc::makedev(ma, mi),
                            )
                        };
                        if r != 0 {
                            return Err(io_err(&p, io::Error::last_os_error()));
                        }
                    }
                }
                std::os::unix::fs::lchown(&p, Some(e.uid), Some(e.gid))
                    .map_err(|er| io_err(&p, er))?;
                if !matches!(e.kind, EntryKind::Symlink(_)) {
                    fs::set_permissions(&p, fs::Permissions::from_mode(e.mode))
                        .map_err(|er| io_err(&p, er))?;
                    for (k, v) in &e.xattrs {
                        let _ = xattr::set(&p, k, v);
                    }
                }
            }
            PlanItem::Extract {
                archive: a,
                target_dir,
            } => {
                let f = fs::File::open(a).map_err(|er| io_err(a, er))?;
                let dest =
                    resolve_in_root(rootfs, Path::new(target_dir.trim_start_matches('/')), true);
                let r = archive::decompress(f)
                    .map_err(|er| io_err(a, io::Error::other(er.to_string())))?;
                archive::extract_tar(
                    r,
                    &dest,
                    archive::ExtractOptions {
                        preserve_owner: true,
                        owner: None,
                        reuse_unchanged: false,
                        fingerprints: None,
                    },
                )
                .map_err(|er| io_err(a, io::Error::other(er.to_string())))?;
            }
            PlanItem::Download { url, .. } => {
                return Err(io_err(
                    url,
                    io::Error::other("URL sources must be downloaded before applying the plan"),
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn ctx() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        fs::create_dir_all(p.join("src/lib")).unwrap();
        fs::write(p.join("src/app.py"), b"print(1)").unwrap();
        fs::write(p.join("src/lib/m.py"), b"m").unwrap();
        fs::write(p.join("a.txt"), b"a").unwrap();
        fs::write(p.join("b.txt"), b"b").unwrap();
        fs::write(p.join("entrypoint.sh"), b"#!/bin/sh\n").unwrap();
        fs::set_permissions(p.join("entrypoint.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("a.txt", p.join("link")).unwrap();
        d
    }

    fn req<'a>(root: &'a Path, sources: &'a [String], dest: &'a str) -> CopyRequest<'a> {
        CopyRequest {
            keyword: "COPY",
            sources,
            contents: &[],
            dest,
            root,
            from_image: false,
            owner: None,
            chmod: None,
            allow_decompress: false,
            hash_cache: None,
            tar_paths: None,
            excludes: &[],
            checksum: None,
        }
    }

    fn targets(p: &CopyPlan) -> Vec<(String, u32)> {
        p.items
            .iter()
            .filter_map(|i| match i {
                PlanItem::Entry(e) => Some((e.target.clone(), e.mode)),
                _ => None,
            })
            .collect()
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn directory_contents_and_file_rules() {
        let d = ctx();
        let srcs = s(&["src"]);
        let p = plan_copy(&req(d.path(), &srcs, "/app"), &EmptyDest).unwrap();
        assert_eq!(
            targets(&p),
            vec![
                ("/app".to_string(), 0o755),
                ("/app/app.py".to_string(), 0o644),
                ("/app/lib".to_string(), 0o755),
                ("/app/lib/m.py".to_string(), 0o644),
            ]
        );
        assert!(p.src_hash.starts_with("dir:"));
        // A file onto a path vs into a directory.
        let srcs = s(&["./entrypoint.sh"]);
        let p = plan_copy(&req(d.path(), &srcs, "/"), &EmptyDest).unwrap();
        assert_eq!(targets(&p), vec![("/entrypoint.sh".to_string(), 0o755)]);
        let p = plan_copy(&req(d.path(), &srcs, "/usr/bin/ep"), &EmptyDest).unwrap();
        assert_eq!(
            targets(&p),
            vec![
                ("/usr".to_string(), 0o755),
                ("/usr/bin".to_string(), 0o755),
                ("/usr/bin/ep".to_string(), 0o755)
            ]
        );
        struct Has;
        impl DestProbe for Has {
            fn kind(&self, p: &str) -> Option<DestKind> {
                (p == "/usr" || p == "/usr/bin").then_some(DestKind::Dir)
            }
        }
        let p = plan_copy(&req(d.path(), &srcs, "/usr/bin"), &Has).unwrap();
        assert_eq!(
            targets(&p),
            vec![("/usr/bin/entrypoint.sh".to_string(), 0o755)]
        );
        assert!(p.src_hash.starts_with("file:"));
    }

    #[test]
    fn wildcards_multiple_sources_and_errors() {
        let d = ctx();
        let srcs = s(&["*.txt"]);
        let e = plan_copy(&req(d.path(), &srcs, "/dst"), &EmptyDest).unwrap_err();
        assert_eq!(e.to_string(), "When using COPY with more than one source file, the destination must be a directory and end with a /");
        let p = plan_copy(&req(d.path(), &srcs, "/dst/"), &EmptyDest).unwrap();
        assert_eq!(
            targets(&p),
            vec![
                ("/dst".to_string(), 0o755),
                ("/dst/a.txt".to_string(), 0o644),
                ("/dst/b.txt".to_string(), 0o644)
            ]
        );
        assert!(p.src_hash.starts_with("multi:"));
        let srcs = s(&["missing.txt"]);
        let e = plan_copy(&req(d.path(), &srcs, "/"), &EmptyDest).unwrap_err();
        assert_eq!(e.to_string(), "COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist");
        let srcs = s(&["*.nothing"]);
        let e = plan_copy(&req(d.path(), &srcs, "/"), &EmptyDest).unwrap_err();
        assert_eq!(e.to_string(), "COPY failed: no source files were specified");
        let srcs = s(&["http://127.0.0.1/x"]);
        let e = plan_copy(&req(d.path(), &srcs, "/"), &EmptyDest).unwrap_err();
        assert_eq!(e.to_string(), "COPY failed: source can't be a URL for COPY");
    }

    #[test]
    fn excludes_filter_copy_and_hash() {
        let d = ctx();
        let srcs = s(&["src"]);
        let full = plan_copy(&req(d.path(), &srcs, "/app"), &EmptyDest).unwrap();
        let ex = s(&["lib", "*.md"]);
        let mut r = req(d.path(), &srcs, "/app");
        r.excludes = &ex;
        let p = plan_copy(&r, &EmptyDest).unwrap();
        assert_eq!(
            targets(&p),
            vec![
                ("/app".to_string(), 0o755),
                ("/app/app.py".to_string(), 0o644)
            ]
        );
        assert_ne!(p.src_hash, full.src_hash);
        let srcs = s(&["*.txt"]);
        let ex = s(&["b.txt"]);
        let mut r = req(d.path(), &srcs, "/d/");
        r.excludes = &ex;
        let p = plan_copy(&r, &EmptyDest).unwrap();
        assert_eq!(targets(&p).last().unwrap().0, "/d/a.txt");
        assert_eq!(targets(&p).len(), 2);
    }

    #[test]
    fn parent_escapes_are_clamped_and_links_followed() {
        let d = ctx();
        let srcs = s(&["../../a.txt"]);
        let p = plan_copy(&req(d.path(), &srcs, "/x"), &EmptyDest).unwrap();
        match &p.items[0] {
            PlanItem::Entry(e) => assert_eq!(e.data, EntryData::Path(d.path().join("a.txt"))),
            _ => panic!(),
        }
        let srcs = s(&["link"]);
        let p = plan_copy(&req(d.path(), &srcs, "/d/"), &EmptyDest).unwrap();
        let t = targets(&p);
        assert_eq!(t.last().unwrap().0, "/d/link");
        match p.items.last().unwrap() {
            PlanItem::Entry(e) => assert_eq!(e.kind, EntryKind::File),
            _ => panic!(),
        }
    }

    #[test]
    fn chown_chmod_and_from_ownership() {
        let d = ctx();
        let srcs = s(&["src"]);
        let mut r = req(d.path(), &srcs, "/app/");
        r.owner = Some((1000, 1001));
        let chmod = crate::userdb::Chmod::Octal(0o700);
        r.chmod = Some(&chmod);
        let p = plan_copy(&r, &EmptyDest).unwrap();
        for i in &p.items {
            let PlanItem::Entry(e) = i else { panic!() };
            assert_eq!((e.uid, e.gid, e.mode), (1000, 1001, 0o700), "{}", e.target);
        }
        let mut r = req(d.path(), &srcs, "/app/");
        r.from_image = true;
        let p = plan_copy(&r, &EmptyDest).unwrap();
        let me = fs::metadata(d.path().join("src/app.py")).unwrap();
        let PlanItem::Entry(e) = &p.items[1] else {
            panic!()
        };
        assert_eq!((e.uid, e.gid), (me.uid(), me.gid()));
        let srcs = s(&["nope"]);
        let mut r = req(d.path(), &srcs, "/");
        r.from_image = true;
        let e = plan_copy(&r, &EmptyDest).unwrap_err();
        assert_eq!(e.to_string(), "COPY failed: stat nope: file does not exist");
    }

    #[test]
    fn add_archives_urls_and_heredocs() {
        let d = ctx();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "inner/f", &b"hi"[..]).unwrap();
        let tarball = b.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tarball).unwrap();
        fs::write(d.path().join("data.bin"), gz.finish().unwrap()).unwrap();
        let srcs = s(&["data.bin", "https://example.com/files/tool.tgz"]);
        let mut r = req(d.path(), &srcs, "/opt/");
        r.keyword = "ADD";
        r.allow_decompress = true;
        let p = plan_copy(&r, &EmptyDest).unwrap();
        assert!(p
            .items
            .iter()
            .any(|i| matches!(i, PlanItem::Extract { target_dir, .. } if target_dir == "/opt")));
        assert!(p
            .items
            .iter()
            .any(|i| matches!(i, PlanItem::Download { target, .. } if target == "/opt/tool.tgz")));
        let srcs = s(&["https://example.com/"]);
        let mut r = req(d.path(), &srcs, "/opt/");
        r.keyword = "ADD";
        r.allow_decompress = true;
        let e = plan_copy(&r, &EmptyDest).unwrap_err();
        assert!(e.to_string().contains("cannot determine filename"));
        // COPY never extracts.
        let srcs = s(&["data.bin"]);
        let p = plan_copy(&req(d.path(), &srcs, "/opt/"), &EmptyDest).unwrap();
        assert!(!p
            .items
            .iter()
            .any(|i| matches!(i, PlanItem::Extract { .. })));
        // Heredoc source.
        let contents = vec![SourceContent {
            path: "EOF".into(),
            data: "hello\n".into(),
            expand: true,
        }];
        let mut r = req(d.path(), &[], "/etc/motd");
        r.contents = &contents;
        let p = plan_copy(&r, &EmptyDest).unwrap();
        assert_eq!(
            targets(&p).last().unwrap(),
            &("/etc/motd".to_string(), 0o644)
        );
    }

    #[test]
    fn apply_plan_writes_rootfs() {
        let d = ctx();
        let root = tempfile::tempdir().unwrap();
        let srcs = s(&["src", "entrypoint.sh"]);
        let mut r = req(d.path(), &srcs, "/app/");
        r.owner = Some((7, 8));
        let p = plan_copy(&r, &RootfsDest(root.path())).unwrap();
        apply_plan(&p, root.path()).unwrap();
        let m = fs::metadata(root.path().join("app/lib/m.py")).unwrap();
        assert_eq!((m.uid(), m.gid()), (7, 8));
        let m = fs::metadata(root.path().join("app/entrypoint.sh")).unwrap();
        assert_eq!(m.mode() & 0o777, 0o755);
    }
}
