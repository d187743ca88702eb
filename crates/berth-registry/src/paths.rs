//! Storage layout: the same paths as distribution (`registry/storage/paths.go`), so a
//! `/var/lib/registry` written by `registry:2` is served by berth and back.
//!
//! ```text
//! /docker/registry/v2/blobs/<alg>/<hex[0..2]>/<hex>/data
//! /docker/registry/v2/repositories/<name>/_layers/<alg>/<hex>/link
//!                                        /_manifests/revisions/<alg>/<hex>/link
//!                                        /_manifests/tags/<tag>/current/link
//!                                        /_manifests/tags/<tag>/index/<alg>/<hex>/link
//!                                        /_uploads/<uuid>/{data,startedat}
//!                                        /_referrers/<alg>/<subject hex>/<alg>/<hex>/link   (berth)
//! ```

use berth_oci::Digest;

pub const ROOT: &str = "/docker/registry/v2";

pub fn blobs_root() -> String {
    format!("{ROOT}/blobs")
}

pub fn blob_dir(d: &Digest) -> String {
    format!(
        "{ROOT}/blobs/{}/{}/{}",
        d.algorithm().as_str(),
        &d.hex()[..2],
        d.hex()
    )
}

pub fn blob_data(d: &Digest) -> String {
    format!("{}/data", blob_dir(d))
}

pub fn repositories() -> String {
    format!("{ROOT}/repositories")
}

pub fn repo(name: &str) -> String {
    format!("{ROOT}/repositories/{name}")
}

pub fn layers_dir(name: &str) -> String {
    format!("{}/_layers", repo(name))
}

pub fn layer_link(name: &str, d: &Digest) -> String {
    format!(
        "{}/{}/{}/link",
        layers_dir(name),
        d.algorithm().as_str(),
        d.hex()
    )
}

pub fn revisions_dir(name: &str) -> String {
    format!("{}/_manifests/revisions", repo(name))
}

pub fn revision_link(name: &str, d: &Digest) -> String {
    format!(
        "{}/{}/{}/link",
        revisions_dir(name),
        d.algorithm().as_str(),
        d.hex()
    )
}

pub fn tags_dir(name: &str) -> String {
    format!("{}/_manifests/tags", repo(name))
}

pub fn tag_dir(name: &str, tag: &str) -> String {
    format!("{}/{tag}", tags_dir(name))
}

pub fn tag_current(name: &str, tag: &str) -> String {
    format!("{}/current/link", tag_dir(name, tag))
}

pub fn tag_index_link(name: &str, tag: &str, d: &Digest) -> String {
    format!(
        "{}/index/{}/{}/link",
        tag_dir(name, tag),
        d.algorithm().as_str(),
        d.hex()
    )
}

pub fn uploads_dir(name: &str) -> String {
    format!("{}/_uploads", repo(name))
}

pub fn upload_dir(name: &str, id: &str) -> String {
    format!("{}/{id}", uploads_dir(name))
}

pub fn upload_data(name: &str, id: &str) -> String {
    format!("{}/data", upload_dir(name, id))
}

pub fn upload_started(name: &str, id: &str) -> String {
    format!("{}/startedat", upload_dir(name, id))
}

pub fn referrers_dir(name: &str, subject: &Digest) -> String {
    format!(
        "{}/_referrers/{}/{}",
        repo(name),
        subject.algorithm().as_str(),
        subject.hex()
    )
}

pub fn referrer_link(name: &str, subject: &Digest, d: &Digest) -> String {
    format!(
        "{}/{}/{}/link",
        referrers_dir(name, subject),
        d.algorithm().as_str(),
        d.hex()
    )
}

/// The GC lock file (relative to the storage root directory).
pub const GC_LOCK: &str = "docker/registry/v2/.berth-gc.lock";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_distribution() {
        let d = Digest::sha256_of(b"");
        assert_eq!(
            blob_data(&d),
            "/docker/registry/v2/blobs/sha256/e3/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855/data"
        );
        assert_eq!(
            tag_current("a/b", "latest"),
            "/docker/registry/v2/repositories/a/b/_manifests/tags/latest/current/link"
        );
        assert!(layer_link("x", &d).ends_with("/x/_layers/sha256/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855/link"));
    }
}
