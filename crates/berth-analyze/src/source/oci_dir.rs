//! OCI image layout directories (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`), as
//! written by skopeo/umoci/buildah or an unpacked Docker 25+ archive.

use super::archive::parse_parallel;
use super::layout::{resolve, FileSource};
use crate::error::{AnalyzeError, Result};
use crate::image::Image;
use crate::layer::{self, Region};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

struct Dir(PathBuf);

impl FileSource for Dir {
    fn read_small(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let p = self.0.join(path);
        match std::fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AnalyzeError::io(format!("reading {}", p.display()), e)),
        }
    }
}

/// Reads an image from an OCI layout (or an unpacked `docker save`) directory.
pub fn load_dir(dir: &Path, want: Option<&str>, name: &str) -> Result<Image> {
    let src = Dir(dir.to_path_buf());
    let layout = resolve(&src, want)?;
    let parsed = parse_parallel(&layout.layers, |l| {
        let p = dir.join(l);
        let f = File::open(&p)
            .map_err(|e| AnalyzeError::io(format!("opening layer {}", p.display()), e))?;
        let len = f
            .metadata()
            .map_err(|e| AnalyzeError::io(format!("stat {}", p.display()), e))?
            .len();
        layer::parse_region(Region::new(Arc::new(f), 0, len), l)
    })?;
    Ok(Image::assemble(
        layout.name.unwrap_or_else(|| name.to_string()),
        layout.config.as_ref(),
        layout.layers.iter().cloned().zip(parsed).collect(),
    ))
}
