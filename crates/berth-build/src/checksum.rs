//! Content checksums of COPY/ADD sources and step cache keys.
//!
//! Source hashes follow the legacy builder (moby `remotecontext/filehash.go`,
//! `internal/tarsum` v1, `copy.go`): per file, SHA-256 over the tarsum-v1 header
//! fields — name, mode, uid, gid, size, typeflag, linkname, uname, gname, devmajor,
//! devminor, then xattrs sorted by name — followed by the content; **mtime is never
//! included**, so touching files does not bust the cache. A directory source is
//! `dir:` + SHA-256 of its (and every descendant's) file hashes sorted and joined
//! with `,`; several sources give `multi:` + the same over their hashes; one file
//! gives `file:<hex>`. A step's cache key ([`step_cache_key`]) is SHA-256 over the
//! parent image ID, the run config the step produces (which holds the expanded
//! instruction: `created_by` and, for RUN, the build args it used) and the source
//! hash.

use berth_oci::RunConfig;
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::{Mutex, OnceLock};

/// The tar typeflag of a file type.
pub fn typeflag(ft: &fs::FileType) -> u8 {
    if ft.is_dir() {
        b'5'
    } else if ft.is_symlink() {
        b'2'
    } else if ft.is_char_device() {
        b'3'
    } else if ft.is_block_device() {
        b'4'
    } else if ft.is_fifo() {
        b'6'
    } else {
        b'0'
    }
}

/// How header fields are filled, which differs by where the source lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashStyle {
    /// Build-context files: what the uploaded tar carries (permission bits only,
    /// no user/group names) — every engine version agrees.
    #[default]
    Context,
    /// `COPY --from` files, read from an image rootfs: Docker 20.10 (the engine
    /// Debian ships) fills Go's file-type bits into the mode and looks the uid/gid up
    /// in the *host's* passwd/group for uname/gname.
    ImageSource,
}

fn load_names(file: &str) -> HashMap<u32, String> {
    let mut m = HashMap::new();
    if let Ok(c) = fs::read_to_string(file) {
        for l in c.lines() {
            let f: Vec<&str> = l.split(':').collect();
            if let (Some(name), Some(Ok(id))) = (f.first(), f.get(2).map(|x| x.parse::<u32>())) {
                m.entry(id).or_insert_with(|| name.to_string());
            }
        }
    }
    m
}

/// The host's user (or group) name for an id, read once per process.
fn host_name(file: &str, id: u32) -> String {
    static USERS: OnceLock<HashMap<u32, String>> = OnceLock::new();
    static GROUPS: OnceLock<HashMap<u32, String>> = OnceLock::new();
    let map = if file.ends_with("passwd") {
        USERS.get_or_init(|| load_names(file))
    } else {
        GROUPS.get_or_init(|| load_names(file))
    };
    map.get(&id).cloned().unwrap_or_default()
}

/// The host's name for user `uid` (empty if unknown).
pub fn host_user_name(uid: u32) -> String {
    host_name("/etc/passwd", uid)
}

/// The host's name for group `gid` (empty if unknown).
pub fn host_group_name(gid: u32) -> String {
    host_name("/etc/group", gid)
}

/// Remembers content hashes by file metadata, so unchanged files are not read again.
///
/// The daemon re-extracts the context of every build into the previous build's
/// directory, writing only files whose content changed (see
/// [`crate::archive::ExtractOptions::reuse_unchanged`]). A file whose tarsum name,
/// hash style, size, mode, owner, mtime, inode and **ctime** are unchanged gets its
/// previous hash without reading its content: the kernel sets ctime on every write,
/// rename or chmod and nothing can set it back, so — unlike a size+mtime check, which
/// misses a same-size rewrite within one mtime tick — an unchanged stamp means the
/// bytes were not touched since they were hashed. Entries are keyed by the file's full
/// path and tarsum name. [`HashCache::save`] (temp file, fsync, rename) and
/// [`HashCache::load`] persist it for tools; the daemon keeps it in memory only (its
/// context directories do not survive a restart, so neither would an entry's inode).
#[derive(Debug, Default)]
pub struct HashCache {
    entries: Mutex<HashMap<String, CachedHash>>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct CachedHash {
    size: u64,
    mtime: i64,
    mtime_ns: i64,
    mode: u32,
    uid: u32,
    gid: u32,
    #[serde(default)]
    ino: u64,
    #[serde(default)]
    ctime: i64,
    #[serde(default)]
    ctime_ns: i64,
    hash: String,
}

impl HashCache {
    /// Loads a cache file; a missing or unreadable file gives an empty cache.
    pub fn load(path: &Path) -> HashCache {
        let entries = fs::read(path)
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok())
            .unwrap_or_default();
        HashCache {
            entries: Mutex::new(entries),
        }
    }

    /// Writes the cache crash-safely (temp file, fsync, rename).
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let data = {
            let e = self
                .entries
                .lock()
                .map_err(|_| io::Error::other("hash cache poisoned"))?;
            serde_json::to_vec(&*e).map_err(io::Error::other)?
        };
        let tmp = path.with_extension("tmp");
        {
            let mut f = fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut f, &data)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, path)
    }

    /// Number of remembered hashes.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Is the cache empty?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries are per file *and* per tarsum name (the name is part of the hash).
    fn key(full: &Path, name: &str, style: HashStyle) -> String {
        format!("{}:{name}\0{}", style as u8, full.display())
    }

    /// Keeps only the entries of files for which `keep(full path)` holds.
    pub fn retain(&self, keep: impl Fn(&Path) -> bool) {
        if let Ok(mut e) = self.entries.lock() {
            e.retain(|k, _| match k.split_once('\0') {
                Some((_, full)) => keep(Path::new(full)),
                None => false,
            });
        }
    }

    fn stamp(meta: &fs::Metadata, hash: String) -> CachedHash {
        CachedHash {
            size: meta.len(),
            mtime: meta.mtime(),
            mtime_ns: meta.mtime_nsec(),
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
            ino: meta.ino(),
            ctime: meta.ctime(),
            ctime_ns: meta.ctime_nsec(),
            hash,
        }
    }

    fn get(
        &self,
        full: &Path,
        name: &str,
        style: HashStyle,
        meta: &fs::Metadata,
    ) -> Option<String> {
        let e = self.entries.lock().ok()?;
        let c = e.get(&Self::key(full, name, style))?;
        let now = Self::stamp(meta, c.hash.clone());
        (now == *c).then(|| c.hash.clone())
    }

    fn put(&self, full: &Path, name: &str, style: HashStyle, meta: &fs::Metadata, hash: &str) {
        if let Ok(mut e) = self.entries.lock() {
            e.insert(
                Self::key(full, name, style),
                Self::stamp(meta, hash.to_string()),
            );
        }
    }
}

/// The fields that make up a tarsum-v1 header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderFields {
    pub name: String,
    /// Permission bits plus setuid/setgid/sticky (as Go's `tar.FileInfoHeader`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub typeflag: u8,
    pub linkname: String,
    pub devmajor: u32,
    pub devminor: u32,
    pub uname: String,
    pub gname: String,
    /// Sorted by name.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

impl HeaderFields {
    /// Reads the fields of `full`, naming it `name` (directories get a trailing `/`).
    pub fn from_path(full: &Path, name: &str) -> io::Result<HeaderFields> {
        Self::from_path_with(full, name, HashStyle::Context)
    }

    /// Like [`HeaderFields::from_path`] with an explicit [`HashStyle`].
    pub fn from_path_with(full: &Path, name: &str, style: HashStyle) -> io::Result<HeaderFields> {
        let meta = fs::symlink_metadata(full)?;
        let ft = meta.file_type();
        let linkname = if ft.is_symlink() {
            fs::read_link(full)?.to_string_lossy().into_owned()
        } else {
            String::new()
        };
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
        }
        xattrs.sort();
        let rdev = meta.rdev();
        let (devmajor, devminor) = if ft.is_char_device() || ft.is_block_device() {
            (libc::major(rdev), libc::minor(rdev))
        } else {
            (0, 0)
        };
        let mut name = name.to_string();
        if ft.is_dir() && !name.ends_with('/') {
            name.push('/');
        }
        let mut mode = meta.mode() & 0o7777;
        let (mut uname, mut gname) = (String::new(), String::new());
        if style == HashStyle::ImageSource {
            mode |= match typeflag(&ft) {
                b'0' => 0o100000,
                b'5' => 0o040000,
                b'2' => 0o120000,
                b'3' => 0o020000,
                b'4' => 0o060000,
                b'6' => 0o010000,
                _ => 0,
            };
            uname = host_name("/etc/passwd", meta.uid());
            gname = host_name("/etc/group", meta.gid());
        }
        Ok(HeaderFields {
            name,
            uname,
            gname,
            mode,
            uid: meta.uid(),
            gid: meta.gid(),
            size: if ft.is_file() { meta.len() } else { 0 },
            typeflag: typeflag(&ft),
            linkname,
            devmajor,
            devminor,
            xattrs,
        })
    }

    /// Feeds the tarsum-v1 header into a hasher.
    pub fn write_v1(&self, h: &mut Sha256) {
        let fields: [(&str, String); 11] = [
            ("name", self.name.clone()),
            ("mode", self.mode.to_string()),
            ("uid", self.uid.to_string()),
            ("gid", self.gid.to_string()),
            ("size", self.size.to_string()),
            ("typeflag", (self.typeflag as char).to_string()),
            ("linkname", self.linkname.clone()),
            ("uname", self.uname.clone()),
            ("gname", self.gname.clone()),
            ("devmajor", self.devmajor.to_string()),
            ("devminor", self.devminor.to_string()),
        ];
        for (k, v) in fields {
            h.update(k.as_bytes());
            h.update(v.as_bytes());
        }
        for (k, v) in &self.xattrs {
            h.update(k.as_bytes());
            h.update(v);
        }
    }
}

/// The tarsum-v1 hash (hex) of one file-system entry under a root, named `name`.
pub fn file_hash(full: &Path, name: &str) -> io::Result<String> {
    file_hash_with(full, name, HashStyle::Context)
}

/// [`file_hash`] with an explicit [`HashStyle`].
pub fn file_hash_with(full: &Path, name: &str, style: HashStyle) -> io::Result<String> {
    file_hash_cached(full, name, style, None)
}

/// [`file_hash_with`] consulting and filling a [`HashCache`] for regular files.
pub fn file_hash_cached(
    full: &Path,
    name: &str,
    style: HashStyle,
    cache: Option<&HashCache>,
) -> io::Result<String> {
    let meta = match cache {
        Some(c) => {
            let m = fs::symlink_metadata(full)?;
            if m.is_file() {
                if let Some(h) = c.get(full, name, style, &m) {
                    return Ok(h);
                }
            }
            Some(m)
        }
        None => None,
    };
    let hash = compute_file_hash(full, name, style)?;
    if let (Some(c), Some(m)) = (cache, meta) {
        if m.is_file() {
            c.put(full, name, style, &m, &hash);
        }
    }
    Ok(hash)
}

fn compute_file_hash(full: &Path, name: &str, style: HashStyle) -> io::Result<String> {
    let fields = HeaderFields::from_path_with(full, name, style)?;
    let mut h = Sha256::new();
    fields.write_v1(&mut h);
    if fields.typeflag == b'0' && fields.size > 0 {
        let mut f = fs::File::open(full)?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    Ok(hex::encode(h.finalize()))
}

/// The hash of in-memory content (heredoc sources, downloads) under `name`.
pub fn data_hash(name: &str, mode: u32, data: &[u8]) -> String {
    let fields = HeaderFields {
        name: name.to_string(),
        mode,
        size: data.len() as u64,
        typeflag: b'0',
        ..Default::default()
    };
    let mut h = Sha256::new();
    fields.write_v1(&mut h);
    h.update(data);
    hex::encode(h.finalize())
}

/// `hashStringSlice`: `prefix:` + SHA-256 of the strings joined by `,`.
pub fn hash_string_slice(prefix: &str, items: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(items.join(",").as_bytes());
    format!("{prefix}:{}", hex::encode(h.finalize()))
}

/// The `dir:` hash of the directory `root/rel` (itself and every descendant).
pub fn dir_hash(root: &Path, rel: &str) -> io::Result<String> {
    dir_hash_with(root, rel, HashStyle::Context)
}

/// [`dir_hash`] with an explicit [`HashStyle`].
pub fn dir_hash_with(root: &Path, rel: &str, style: HashStyle) -> io::Result<String> {
    dir_hash_cached(root, rel, style, None, None)
}

/// [`dir_hash_with`] consulting and filling a [`HashCache`], following the legacy
/// builder's `walkSource`: every entry under the directory is hashed through its
/// symlinks (the hash of the *followed* path, inside `root`). With `tar_paths` (the
/// paths the context tar contained — the daemon hashes the uploaded tar, moby
/// `remotecontext/archive.go`) an entry that was not in the tar, such as a directory
/// created implicitly for its children, contributes its relative path string instead
/// of a hash; without it (image sources) a dangling symlink is skipped.
pub fn dir_hash_cached(
    root: &Path,
    rel: &str,
    style: HashStyle,
    cache: Option<&HashCache>,
    tar_paths: Option<&BTreeSet<String>>,
) -> io::Result<String> {
    let mut hashes = Vec::new();
    let start = root.join(rel);
    let rel = rel.trim_end_matches('/');
    let rel = if rel == "." { "" } else { rel };
    let mut stack = vec![(start, rel.to_string())];
    while let Some((full, name)) = stack.pop() {
        // The context root itself is not part of a `.` source's hash.
        if !name.is_empty() {
            let target = crate::archive::resolve_in_root(root, Path::new(&name), true);
            let target_rel = target
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let exists = fs::symlink_metadata(&target).is_ok();
            match tar_paths {
                Some(paths) if !exists || !paths.contains(&target_rel) => hashes.push(name.clone()),
                None if !exists => {}
                _ => hashes.push(file_hash_cached(&target, &target_rel, style, cache)?),
            }
        }
        let meta = fs::symlink_metadata(&full)?;
        if meta.is_dir() {
            for e in fs::read_dir(&full)? {
                let e = e?;
                let file = e.file_name().to_string_lossy().into_owned();
                let child = if name.is_empty() {
                    file
                } else {
                    format!("{name}/{file}")
                };
                stack.push((e.path(), child));
            }
        }
    }
    hashes.sort();
    Ok(hash_string_slice("dir", &hashes))
}

/// Combines per-source hashes as the legacy builder does (one → itself, several →
/// `multi:`).
pub fn combine_source_hashes(hashes: &[String]) -> String {
    if hashes.len() == 1 {
        return hashes[0].clone();
    }
    hash_string_slice("multi", hashes)
}

/// The cache key of a build step: parent image ID + the run config the step commits
/// (with `created_by`, which holds the expanded instruction and the build args a RUN
/// used) + the source hash of COPY/ADD (empty otherwise). Hex SHA-256.
pub fn step_cache_key(
    parent_id: &str,
    config: &RunConfig,
    created_by: &str,
    source_hash: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        parent_id.as_bytes(),
        &serde_json::to_vec(config).unwrap_or_default(),
        created_by.as_bytes(),
        source_hash.as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn touch(p: &Path, secs: u64) {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        let f = fs::File::options().write(true).open(p).unwrap();
        f.set_modified(t).unwrap();
    }

    #[test]
    fn mtime_does_not_change_hash_but_content_does() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("src/a")).unwrap();
        fs::write(d.path().join("src/a/f.txt"), b"hello").unwrap();
        fs::write(d.path().join("src/g.txt"), b"x").unwrap();
        let f1 = file_hash(&d.path().join("src/a/f.txt"), "src/a/f.txt").unwrap();
        let d1 = dir_hash(d.path(), "src").unwrap();
        touch(&d.path().join("src/a/f.txt"), 12345);
        assert_eq!(
            f1,
            file_hash(&d.path().join("src/a/f.txt"), "src/a/f.txt").unwrap()
        );
        assert_eq!(d1, dir_hash(d.path(), "src").unwrap());
        fs::write(d.path().join("src/a/f.txt"), b"hellp").unwrap();
        assert_ne!(
            f1,
            file_hash(&d.path().join("src/a/f.txt"), "src/a/f.txt").unwrap()
        );
        assert_ne!(d1, dir_hash(d.path(), "src").unwrap());
        assert!(d1.starts_with("dir:"));
    }

    #[test]
    fn symlinks_followed_and_implicit_dirs_named() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("ctx/implicit")).unwrap();
        fs::write(d.path().join("ctx/implicit/f"), b"x").unwrap();
        std::os::unix::fs::symlink("implicit/f", d.path().join("ctx/l")).unwrap();
        let root = d.path();
        let via_link = dir_hash(root, "ctx").unwrap();
        fs::remove_file(root.join("ctx/l")).unwrap();
        fs::copy(root.join("ctx/implicit/f"), root.join("ctx/l")).unwrap();
        // A link hashes as its target: the target's name, not its own.
        assert_ne!(via_link, dir_hash(root, "ctx").unwrap());
        let paths: BTreeSet<String> = ["ctx", "ctx/implicit/f", "ctx/l"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let h = dir_hash_cached(root, "ctx", HashStyle::Context, None, Some(&paths)).unwrap();
        let mut want = vec![
            file_hash(&root.join("ctx"), "ctx").unwrap(),
            "ctx/implicit".to_string(),
            file_hash(&root.join("ctx/implicit/f"), "ctx/implicit/f").unwrap(),
            file_hash(&root.join("ctx/l"), "ctx/l").unwrap(),
        ];
        want.sort();
        assert_eq!(h, hash_string_slice("dir", &want));
    }

    #[test]
    fn mode_and_name_matter() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        fs::write(&p, b"x").unwrap();
        let a = file_hash(&p, "f").unwrap();
        assert_ne!(a, file_hash(&p, "g").unwrap());
        fs::set_permissions(&p, fs::Permissions::from_mode(0o700)).unwrap();
        assert_ne!(a, file_hash(&p, "f").unwrap());
    }

    #[test]
    fn hash_cache_skips_unchanged_files_and_persists() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("src")).unwrap();
        fs::write(d.path().join("src/f"), b"one").unwrap();
        let cache = HashCache::default();
        let h1 = dir_hash_cached(d.path(), "src", HashStyle::Context, Some(&cache), None).unwrap();
        assert_eq!(h1, dir_hash(d.path(), "src").unwrap());
        assert_eq!(cache.len(), 1);
        let p = d.path().join("cache.json");
        cache.save(&p).unwrap();
        let cache = HashCache::load(&p);
        assert_eq!(cache.len(), 1);
        assert_eq!(
            h1,
            dir_hash_cached(d.path(), "src", HashStyle::Context, Some(&cache), None).unwrap()
        );
        // A changed size (or mtime) is noticed.
        fs::write(d.path().join("src/f"), b"three").unwrap();
        let h2 = dir_hash_cached(d.path(), "src", HashStyle::Context, Some(&cache), None).unwrap();
        assert_ne!(h1, h2);
        assert_eq!(h2, dir_hash(d.path(), "src").unwrap());
        // A same-size rewrite with the mtime put back is noticed too (ctime moved).
        let f = d.path().join("src/f");
        let mtime = fs::metadata(&f).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&f, b"thref").unwrap();
        fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let h3 = dir_hash_cached(d.path(), "src", HashStyle::Context, Some(&cache), None).unwrap();
        assert_ne!(h2, h3);
        assert_eq!(h3, dir_hash(d.path(), "src").unwrap());
        // The same relative name in another directory is another file.
        let other = tempfile::tempdir().unwrap();
        fs::create_dir_all(other.path().join("src")).unwrap();
        fs::write(other.path().join("src/f"), b"other").unwrap();
        let h4 =
            dir_hash_cached(other.path(), "src", HashStyle::Context, Some(&cache), None).unwrap();
        assert_eq!(h4, dir_hash(other.path(), "src").unwrap());
        assert_eq!(cache.len(), 2);
        cache.retain(|p| p.starts_with(other.path()));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn cache_keys() {
        let c = RunConfig::default();
        let k = step_cache_key("sha256:p", &c, "/bin/sh -c echo", "");
        assert_eq!(k, step_cache_key("sha256:p", &c, "/bin/sh -c echo", ""));
        assert_ne!(k, step_cache_key("sha256:q", &c, "/bin/sh -c echo", ""));
        assert_ne!(
            k,
            step_cache_key("sha256:p", &c, "|1 A=b /bin/sh -c echo", "")
        );
        assert_ne!(
            k,
            step_cache_key("sha256:p", &c, "/bin/sh -c echo", "file:1")
        );
        assert_eq!(combine_source_hashes(&["file:a".into()]), "file:a");
        assert!(combine_source_hashes(&["file:a".into(), "dir:b".into()]).starts_with("multi:"));
    }
}
