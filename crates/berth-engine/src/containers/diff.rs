//! `GET /containers/{id}/changes`.

use super::*;

impl Engine {
    /// `GET /containers/{id}/changes`: what the container changed, from its writable
    /// layer (`upper/`) compared with the image's layers. Kind 0 = modified, 1 = added,
    /// 2 = deleted, as Docker reports them. The runtime's mount points (an `/etc/hosts`
    /// the image lacks...) are left out, as Docker's init layer keeps them out.
    pub fn container_changes(&self, name: &str) -> Result<Vec<(String, u8)>> {
        use std::os::unix::fs::FileTypeExt;
        let r = self.container(name)?.snapshot();
        let upper = self.ctr_dir(&r.id).join("upper");
        let skip = berth_build::layer::runtime_artifacts(&upper);
        let in_lower = |rel: &std::path::Path| {
            r.lower
                .iter()
                .any(|l| std::fs::symlink_metadata(l.join(rel)).is_ok())
        };
        let mut out = Vec::new();
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(upper.join(&rel)) else {
                continue;
            };
            for e in rd.flatten() {
                let child = rel.join(e.file_name());
                if skip.contains(child.to_string_lossy().as_ref()) {
                    continue;
                }
                let Ok(ft) = e.file_type() else { continue };
                let meta = e.metadata().ok();
                let whiteout = ft.is_char_device()
                    && meta.as_ref().map(|m| {
                        use std::os::unix::fs::MetadataExt;
                        m.rdev() == 0
                    }) == Some(true);
                let shown = format!("/{}", child.display());
                if whiteout {
                    out.push((shown, 2));
                    continue;
                }
                out.push((shown, if in_lower(&child) { 0 } else { 1 }));
                if ft.is_dir() {
                    stack.push(child);
                }
            }
        }
        out.sort();
        Ok(out)
    }
}
