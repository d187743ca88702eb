//! A file or directory tree written into a tar the way `docker cp` and `docker export`
//! write it (go-archive's `TarWithOptions` with a rebased name): the inverse of
//! [`crate::unpack`].
//!
//! Written by hand rather than with `tar::Builder::append_dir_all`, which follows
//! neither Docker's entry naming (rebased on the requested name, children in lexical
//! order after their directory) nor keeps hard links, and which fails on a socket where
//! Docker skips it. Owners, modes (with setuid/setgid/sticky), mtimes, device numbers
//! and symlink targets are kept; symlinks are never followed. Layer tars are not made
//! here: an overlay upper dir needs whiteouts, opaque markers and xattrs
//! (`berth_build::layer::diff_tar`).

use std::collections::HashMap;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Writes `src` (a file, link or directory tree) into `b` as `name` (and `name/…`).
pub fn append_tree<W: Write>(b: &mut tar::Builder<W>, src: &Path, name: &str) -> io::Result<()> {
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    append_one(b, src, name, &mut links)
}

fn append_one<W: Write>(
    b: &mut tar::Builder<W>,
    path: &Path,
    name: &str,
    links: &mut HashMap<(u64, u64), String>,
) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    let ft = meta.file_type();
    let mut h = tar::Header::new_gnu();
    h.set_mode(meta.mode() & 0o7777);
    h.set_uid(meta.uid() as u64);
    h.set_gid(meta.gid() as u64);
    h.set_mtime(meta.mtime().max(0) as u64);
    h.set_size(0);
    if ft.is_dir() {
        h.set_entry_type(tar::EntryType::Directory);
        let dir_name = if name.ends_with('/') {
            name.to_string()
        } else {
            format!("{name}/")
        };
        b.append_data(&mut h, &dir_name, io::empty())?;
        let mut kids: Vec<_> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        kids.sort();
        for k in kids {
            let child = format!("{}{}", dir_name, k.to_string_lossy());
            append_one(b, &path.join(&k), &child, links)?;
        }
        return Ok(());
    }
    if ft.is_file() && meta.nlink() > 1 {
        let key = (meta.dev(), meta.ino());
        if let Some(first) = links.get(&key) {
            h.set_entry_type(tar::EntryType::Link);
            return b.append_link(&mut h, name, first);
        }
        links.insert(key, name.to_string());
    }
    if ft.is_symlink() {
        h.set_entry_type(tar::EntryType::Symlink);
        let target = std::fs::read_link(path)?;
        b.append_link(&mut h, name, target)
    } else if ft.is_file() {
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(meta.len());
        b.append_data(&mut h, name, std::fs::File::open(path)?)
    } else if ft.is_socket() {
        Ok(()) // tar cannot hold sockets; docker skips them too.
    } else {
        h.set_entry_type(if ft.is_char_device() {
            tar::EntryType::Char
        } else if ft.is_block_device() {
            tar::EntryType::Block
        } else {
            tar::EntryType::Fifo
        });
        if ft.is_char_device() || ft.is_block_device() {
            h.set_device_major(libc::major(meta.rdev()))?;
            h.set_device_minor(libc::minor(meta.rdev()))?;
        }
        b.append_data(&mut h, name, io::empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn listing(tar_bytes: &[u8]) -> Vec<(String, tar::EntryType, String)> {
        let mut a = tar::Archive::new(tar_bytes);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let link = e
                    .link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (
                    String::from_utf8_lossy(&e.path_bytes()).into_owned(),
                    e.header().entry_type(),
                    link,
                )
            })
            .collect()
    }

    #[test]
    fn tree_is_rebased_sorted_with_links_and_no_sockets() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("b"), "bee").unwrap();
        std::fs::hard_link(src.join("b"), src.join("a")).unwrap();
        std::fs::write(src.join("sub/x"), "x").unwrap();
        std::fs::set_permissions(src.join("sub/x"), std::fs::Permissions::from_mode(0o4755))
            .unwrap();
        symlink("/etc/passwd", src.join("l")).unwrap();
        let _sock = std::os::unix::net::UnixListener::bind(src.join("s")).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        append_tree(&mut b, &src, "dst").unwrap();
        let bytes = b.into_inner().unwrap();
        use tar::EntryType as E;
        assert_eq!(
            listing(&bytes),
            vec![
                ("dst/".into(), E::Directory, String::new()),
                ("dst/a".into(), E::Regular, String::new()),
                ("dst/b".into(), E::Link, "dst/a".into()),
                ("dst/l".into(), E::Symlink, "/etc/passwd".into()),
                ("dst/sub/".into(), E::Directory, String::new()),
                ("dst/sub/x".into(), E::Regular, String::new()),
            ]
        );
        let mut a = tar::Archive::new(&bytes[..]);
        let x = a.entries().unwrap().nth(5).unwrap().unwrap();
        assert_eq!(x.header().mode().unwrap(), 0o4755);
    }

    #[test]
    fn single_file_and_dot_contents() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("f"), "hi").unwrap();
        let mut b = tar::Builder::new(Vec::new());
        append_tree(&mut b, &t.path().join("f"), "renamed").unwrap();
        let bytes = b.into_inner().unwrap();
        assert_eq!(
            listing(&bytes),
            vec![("renamed".into(), tar::EntryType::Regular, String::new())]
        );
        let mut b = tar::Builder::new(Vec::new());
        append_tree(&mut b, t.path(), ".").unwrap();
        let names: Vec<String> = listing(&b.into_inner().unwrap())
            .into_iter()
            .map(|e| e.0)
            .collect();
        // The `tar` crate drops the `./` of a child's name.
        assert_eq!(names, ["./", "f"]);
    }
}
