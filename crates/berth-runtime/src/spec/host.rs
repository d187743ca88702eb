//! Facts about the host that bound a container's spec: the capability bounding set the
//! runtime can grant and the hard rlimits it cannot exceed (this host lacks
//! `CAP_SYS_RESOURCE`, so asking for more fails with EPERM).

use crate::spec::defaults::ALL_CAPS;

/// Host limits read once by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostInfo {
    /// Capability bounding set of this process (bit n = capability n).
    pub cap_bounding: u64,
    /// Hard `RLIMIT_NOFILE` of this process.
    pub nofile_hard: u64,
}

impl HostInfo {
    /// Reads the bounding set from `/proc/self/status` and the hard limits with `getrlimit`.
    pub fn detect() -> Self {
        let cap_bounding = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| parse_cap_bnd(&s))
            .unwrap_or(u64::MAX);
        let nofile_hard =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                .map(|(_, hard)| hard)
                .unwrap_or(1024);
        HostInfo {
            cap_bounding,
            nofile_hard,
        }
    }

    /// Whether the host can grant capability `name` (`CAP_…`).
    pub fn can_grant(&self, name: &str) -> bool {
        match ALL_CAPS.iter().position(|c| *c == name) {
            Some(bit) => self.cap_bounding & (1u64 << bit) != 0,
            None => false,
        }
    }
}

/// Parses the `CapBnd:` line of `/proc/<pid>/status`.
pub fn parse_cap_bnd(status: &str) -> Option<u64> {
    parse_cap_line(status, "CapBnd:")
}

/// Parses a hexadecimal capability line (`CapEff:`, `CapBnd:` …) of `/proc/<pid>/status`.
pub fn parse_cap_line(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

/// Capability names in a bit mask, in kernel order.
pub fn cap_names(mask: u64) -> Vec<&'static str> {
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1u64 << i) != 0)
        .map(|(_, n)| *n)
        .collect()
}

/// The device nodes under `/dev` of the host (Docker's `HostDevices` for
/// `--privileged`): character and block devices, skipping the pseudo-terminal,
/// shared-memory and message-queue mounts a container gets its own of.
pub fn host_devices() -> Vec<crate::config::Device> {
    let mut out = Vec::new();
    let mut stack = vec![std::path::PathBuf::from("/dev")];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if m.is_dir() {
                let name = e.file_name();
                if !matches!(
                    name.to_str(),
                    Some("pts" | "shm" | "fd" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev")
                ) {
                    stack.push(p);
                }
                continue;
            }
            if let Some(d) = device_of(&p, &m) {
                if d.path != "/dev/console" {
                    out.push(d);
                }
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The device node at `path` (its type, numbers, mode and owner), if it is one; the
/// container path is the same as the host path.
pub fn device_of(path: &std::path::Path, m: &std::fs::Metadata) -> Option<crate::config::Device> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let ft = m.file_type();
    let kind = if ft.is_char_device() {
        'c'
    } else if ft.is_block_device() {
        'b'
    } else {
        return None;
    };
    let rdev = m.rdev();
    Some(crate::config::Device {
        path: path.to_string_lossy().into_owned(),
        kind,
        major: libc::major(rdev) as i64,
        minor: libc::minor(rdev) as i64,
        file_mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
        access: "rwm".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cap_bnd_and_excludes_missing_caps() {
        let status = "Name:\tx\nCapBnd:\t000001fffeffffff\nCapAmb:\t0000000000000000\n";
        let mask = parse_cap_bnd(status).expect("parse");
        let h = HostInfo {
            cap_bounding: mask,
            nofile_hard: 20000,
        };
        assert!(h.can_grant("CAP_SYS_ADMIN"));
        assert!(!h.can_grant("CAP_SYS_RESOURCE"));
        assert!(!h.can_grant("CAP_NOPE"));
    }

    #[test]
    fn docker_default_mask_names() {
        // 0x00000000a80425fb is what `docker run busybox grep CapEff /proc/self/status` prints.
        let names = cap_names(0x0000_0000_a804_25fb);
        let mut expected: Vec<&str> = crate::spec::defaults::DEFAULT_CAPS.to_vec();
        expected.sort();
        let mut got = names.clone();
        got.sort();
        assert_eq!(got, expected);
    }
}
