//! Read-only views of an image's root filesystem, for what COPY/ADD and WORKDIR need
//! to look at (destination kinds, `/etc/passwd` for `--chown`, `COPY --from` sources).
//!
//! An image of several layers is a read-only overlay mount of its layer dirs (no
//! upper dir); one layer is its diff dir as it is; no layer is an empty dir. The
//! mount is undone when the view is dropped, so a failed step leaves no mount behind.

use crate::exec::BuildError;
use berth_store::Store;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::fs;
use std::path::{Path, PathBuf};

/// Longest overlay option string the kernel accepts in one `mount(2)` call.
const MAX_MOUNT_DATA: usize = 4095;

/// A mounted (or plain) read-only root filesystem.
#[derive(Debug)]
pub struct RootfsView {
    path: PathBuf,
    mounted: bool,
    remove: bool,
}

impl RootfsView {
    /// Opens the view of `image` (None = `FROM scratch`) under `scratch`, a directory
    /// of the build's own temp space.
    pub fn open(
        store: &Store,
        image: Option<&berth_oci::Digest>,
        scratch: &Path,
    ) -> Result<RootfsView, BuildError> {
        let lowers: Vec<PathBuf> = match image {
            Some(id) => {
                let rec = store
                    .image(id)?
                    .ok_or_else(|| BuildError::Failed(format!("No such image: {id}")))?;
                rec.chain_ids
                    .iter()
                    .rev()
                    .map(|c| store.layer_diff(c))
                    .collect()
            }
            None => Vec::new(),
        };
        let target = scratch.join(format!("view-{:016x}", rand_u64()));
        match lowers.len() {
            0 => {
                fs::create_dir_all(&target).map_err(|e| BuildError::io(&target, e))?;
                Ok(RootfsView {
                    path: target,
                    mounted: false,
                    remove: true,
                })
            }
            1 => Ok(RootfsView {
                path: lowers[0].clone(),
                mounted: false,
                remove: false,
            }),
            _ => {
                fs::create_dir_all(&target).map_err(|e| BuildError::io(&target, e))?;
                let data = format!(
                    "lowerdir={}",
                    lowers
                        .iter()
                        .map(|p| escape(p))
                        .collect::<Vec<_>>()
                        .join(":")
                );
                if data.len() > MAX_MOUNT_DATA {
                    let _ = fs::remove_dir(&target);
                    return Err(BuildError::Failed(format!(
                        "image has too many layers ({}) to mount",
                        lowers.len()
                    )));
                }
                if let Err(e) = mount(
                    Some("overlay"),
                    &target,
                    Some("overlay"),
                    MsFlags::MS_RDONLY,
                    Some(data.as_str()),
                ) {
                    let _ = fs::remove_dir(&target);
                    return Err(BuildError::Failed(format!(
                        "mounting the image's layers on {}: {e}",
                        target.display()
                    )));
                }
                Ok(RootfsView {
                    path: target,
                    mounted: true,
                    remove: true,
                })
            }
        }
    }

    /// The root directory of the view.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RootfsView {
    fn drop(&mut self) {
        if self.mounted {
            if let Err(e) = umount2(&self.path, MntFlags::MNT_DETACH) {
                tracing::warn!(path = %self.path.display(), "unmounting build view: {e}");
            }
        }
        if self.remove {
            let _ = fs::remove_dir(&self.path);
        }
    }
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

pub(crate) fn rand_u64() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}
