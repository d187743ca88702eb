//! ADD's URL sources: fetched over HTTP(S) into the build's temp dir, never
//! extracted. `ureq` (blocking, already in the workspace) does the HTTP; the executor
//! runs on blocking threads anyway.

use super::BuildError;
use std::fs;
use std::io;
use std::path::Path;

/// Downloads `url` to `dest`. Non-2xx answers are errors with Docker's wording.
pub fn fetch(url: &str, dest: &Path) -> Result<(), BuildError> {
    let resp = match ureq::get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => {
            return Err(BuildError::Failed(format!(
                "failed to GET {url} with status {code} {}",
                r.status_text()
            )))
        }
        Err(e) => return Err(BuildError::Failed(format!("failed to GET {url}: {e}"))),
    };
    let mut f = fs::File::create(dest).map_err(|e| BuildError::io(dest, e))?;
    io::copy(&mut resp.into_reader(), &mut f)
        .map_err(|e| BuildError::Failed(format!("failed to GET {url}: {e}")))?;
    f.sync_all().map_err(|e| BuildError::io(dest, e))?;
    Ok(())
}
