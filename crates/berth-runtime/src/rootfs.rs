//! The container's root filesystem (an overlay of image layers and the container's `upper/`
//! dir mounted on `<bundle>/rootfs`) and the `/etc/hostname`, `/etc/hosts` and
//! `/etc/resolv.conf` files that are bind-mounted into it. Each setup has its teardown here.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::config::{EtcFiles, RootfsSpec};
use crate::error::RuntimeError;
use crate::status::write_atomic_volatile;

/// Longest overlay option string the kernel accepts in one `mount(2)` call (a page).
const MAX_MOUNT_DATA: usize = 4095;

/// Mounts `spec` on `target` (creating it). For [`RootfsSpec::Path`] nothing is mounted and
/// the path itself is returned; for an overlay, `target` is returned.
pub fn mount_rootfs(spec: &RootfsSpec, target: &Path) -> Result<PathBuf, RuntimeError> {
    match spec {
        RootfsSpec::Path(p) => Ok(p.clone()),
        RootfsSpec::Overlay { lower, upper, work } => {
            mount_overlay(lower, upper, work, target)?;
            Ok(target.to_path_buf())
        }
    }
}

/// Undoes [`mount_rootfs`] (no-op for a plain path or when nothing is mounted).
pub fn unmount_rootfs(spec: &RootfsSpec, target: &Path) -> Result<(), RuntimeError> {
    match spec {
        RootfsSpec::Path(_) => Ok(()),
        RootfsSpec::Overlay { .. } => unmount(target),
    }
}

/// Mounts an overlay of `lower` (top-most first) with `upper`/`work` on `target`.
pub fn mount_overlay(
    lower: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<(), RuntimeError> {
    for d in [upper, work, target] {
        fs::create_dir_all(d).map_err(|e| RuntimeError::io("create dir", d, e))?;
    }
    let mut lowers: Vec<String> = lower.iter().map(|p| escape(p)).collect();
    if lowers.is_empty() {
        // overlayfs needs at least one lower dir; an image without layers gets an empty one.
        let empty = work.with_file_name(".empty-lower");
        fs::create_dir_all(&empty).map_err(|e| RuntimeError::io("create dir", &empty, e))?;
        lowers.push(escape(&empty));
    }
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        escape(upper),
        escape(work)
    );
    if data.len() > MAX_MOUNT_DATA {
        return Err(RuntimeError::Sys {
            op: format!(
                "overlay mount on {}: {} layers make the option string too long",
                target.display(),
                lower.len()
            ),
            source: nix::Error::E2BIG,
        });
    }
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|e| RuntimeError::Sys {
        op: format!("mount overlay on {} ({data})", target.display()),
        source: e,
    })
}

/// Lazily unmounts `target`; succeeds when nothing is mounted there.
pub fn unmount(target: &Path) -> Result<(), RuntimeError> {
    match umount2(target, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => Ok(()),
        Err(e) => Err(RuntimeError::Sys {
            op: format!("unmount {}", target.display()),
            source: e,
        }),
    }
}

/// Whether `path` is a mount point according to `/proc/self/mountinfo`.
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| unescape_mountinfo(mp) == want)
}

fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// overlayfs option values treat `,` `:` and `\` specially.
fn escape(p: &Path) -> String {
    let s = p.to_string_lossy();
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, ',' | ':' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// Writes `hostname`, `hosts` and `resolv.conf` into `dir` (the container directory) and
/// returns their paths for [`crate::ContainerSpec::etc_files`].
///
/// `hosts` gets Docker's localhost entries plus `extra_hosts` (`(name, ip)`, `--add-host`) and,
/// when `ip` is given, `ip hostname`. `resolv.conf` is the host's, minus loopback name
/// servers (unreachable from a new network namespace), falling back to Docker's public
/// defaults when none remain.
pub fn write_etc_files(
    dir: &Path,
    hostname: &str,
    ip: Option<&str>,
    extra_hosts: &[(String, String)],
) -> Result<EtcFiles, RuntimeError> {
    fs::create_dir_all(dir).map_err(|e| RuntimeError::io("create dir", dir, e))?;
    let files = EtcFiles {
        hostname: dir.join("hostname"),
        hosts: dir.join("hosts"),
        resolv_conf: dir.join("resolv.conf"),
    };
    write_atomic_volatile(&files.hostname, format!("{hostname}\n").as_bytes())?;
    let mut hosts = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for (name, addr) in extra_hosts {
        hosts.push_str(&format!("{addr}\t{name}\n"));
    }
    if let Some(ip) = ip {
        hosts.push_str(&format!("{ip}\t{hostname}\n"));
    }
    write_atomic_volatile(&files.hosts, hosts.as_bytes())?;
    let host_resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    write_atomic_volatile(
        &files.resolv_conf,
        container_resolv_conf(&host_resolv).as_bytes(),
    )?;
    Ok(files)
}

/// Docker's rewrite of the host's resolv.conf for a container on a private network.
pub fn container_resolv_conf(host: &str) -> String {
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let t = line.trim();
        if let Some(addr) = t.strip_prefix("nameserver") {
            let addr = addr.trim();
            if addr.starts_with("127.") || addr == "::1" {
                continue;
            }
            servers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_drops_loopback_servers() {
        let r = container_resolv_conf("search lan\nnameserver 127.0.0.53\nnameserver 10.0.0.1\n");
        assert_eq!(r, "search lan\nnameserver 10.0.0.1\n");
        let r = container_resolv_conf("nameserver 127.0.0.1\n");
        assert!(r.contains("nameserver 8.8.8.8"));
    }

    #[test]
    fn etc_files_are_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = write_etc_files(
            dir.path(),
            "abc123",
            Some("172.17.0.2"),
            &[("db".into(), "10.1.1.1".into())],
        )
        .expect("write");
        assert_eq!(fs::read_to_string(&f.hostname).expect("read"), "abc123\n");
        let hosts = fs::read_to_string(&f.hosts).expect("read");
        assert!(hosts.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(hosts.contains("172.17.0.2\tabc123\n"));
        assert!(hosts.contains("10.1.1.1\tdb\n"));
        assert!(f.resolv_conf.exists());
    }

    #[test]
    fn overlay_options_are_escaped() {
        assert_eq!(escape(Path::new("/a,b:c")), "/a\\,b\\:c");
        assert_eq!(unescape_mountinfo("/a\\040b"), "/a b");
    }
}
