//! Where an image comes from: `--source berth|docker|docker-archive|oci-dir`, or a
//! `docker-archive://`, `oci-dir://` / `oci://`, `docker://`, `berth://` prefix, or
//! (with no source given) guessed: an existing file is an archive, an existing
//! directory an OCI layout, anything else a name in the berth daemon.

pub mod archive;
pub mod daemon;
pub mod layout;
pub mod oci_dir;

use crate::error::{AnalyzeError, Result};
use crate::image::Image;
use std::path::Path;

/// The kinds of image source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// berth's daemon (`BERTH_HOST`, then `DOCKER_HOST`, then /run/berth/berth.sock).
    Berth,
    /// A real dockerd (`DOCKER_HOST`, then /var/run/docker.sock).
    Docker,
    /// A `docker save` tar (`-` for stdin).
    DockerArchive,
    /// An OCI image layout directory.
    OciDir,
}

impl std::str::FromStr for SourceKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "berth" => Ok(SourceKind::Berth),
            "docker" => Ok(SourceKind::Docker),
            "docker-archive" | "archive" => Ok(SourceKind::DockerArchive),
            "oci-dir" | "oci" => Ok(SourceKind::OciDir),
            other => Err(format!(
                "unknown source {other:?}: use berth, docker, docker-archive or oci-dir"
            )),
        }
    }
}

/// A resolved image source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub kind: SourceKind,
    /// Image name/ID, or a path.
    pub target: String,
    /// Daemon address for daemon sources.
    pub host: Option<String>,
}

impl Source {
    /// Works out the source from the user's words. `host` is `-H`; `env` looks up
    /// environment variables (injected for tests).
    pub fn resolve(
        image: &str,
        kind: Option<SourceKind>,
        host: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Source {
        let prefixes = [
            ("docker-archive://", SourceKind::DockerArchive),
            ("oci-dir://", SourceKind::OciDir),
            ("oci://", SourceKind::OciDir),
            ("docker://", SourceKind::Docker),
            ("berth://", SourceKind::Berth),
        ];
        let (mut kind, target) = prefixes
            .iter()
            .find_map(|(p, k)| image.strip_prefix(p).map(|t| (Some(kind.unwrap_or(*k)), t)))
            .unwrap_or((kind, image));
        if kind.is_none() {
            let p = Path::new(target);
            kind = Some(if target == "-" || p.is_file() {
                SourceKind::DockerArchive
            } else if p.is_dir() {
                SourceKind::OciDir
            } else {
                SourceKind::Berth
            });
        }
        let kind = kind.unwrap_or(SourceKind::Berth);
        let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
        let host = match kind {
            SourceKind::Berth => Some(
                host.map(str::to_string)
                    .or_else(|| nonempty(env("BERTH_HOST")))
                    .or_else(|| nonempty(env("DOCKER_HOST")))
                    .unwrap_or_else(|| daemon::BERTH_SOCKET.to_string()),
            ),
            SourceKind::Docker => Some(
                host.map(str::to_string)
                    .or_else(|| nonempty(env("DOCKER_HOST")))
                    .unwrap_or_else(|| daemon::DOCKER_SOCKET.to_string()),
            ),
            _ => None,
        };
        Source {
            kind,
            target: target.to_string(),
            host,
        }
    }

    /// Reads and parses the image.
    pub fn load(&self) -> Result<Image> {
        match self.kind {
            SourceKind::DockerArchive => {
                if self.target == "-" {
                    archive::load_any_stream(std::io::stdin().lock(), None, "stdin")
                } else {
                    let p = Path::new(&self.target);
                    if p.is_dir() {
                        // An unpacked `docker save`.
                        oci_dir::load_dir(p, None, &self.target)
                    } else if p.is_file() {
                        archive::load_file(p, None, &self.target)
                    } else {
                        Err(AnalyzeError::Path {
                            path: p.to_path_buf(),
                            message: "no such archive file".into(),
                        })
                    }
                }
            }
            SourceKind::OciDir => {
                let p = Path::new(&self.target);
                if !p.is_dir() {
                    return Err(AnalyzeError::Path {
                        path: p.to_path_buf(),
                        message: "not an OCI layout directory".into(),
                    });
                }
                oci_dir::load_dir(p, None, &self.target)
            }
            SourceKind::Berth | SourceKind::Docker => {
                let host = self
                    .host
                    .clone()
                    .unwrap_or_else(|| daemon::BERTH_SOCKET.into());
                daemon::load(&host, &self.target)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_precedence() {
        let env = |k: &str| match k {
            "BERTH_HOST" => Some("unix:///b.sock".to_string()),
            "DOCKER_HOST" => Some("unix:///d.sock".to_string()),
            _ => None,
        };
        let s = Source::resolve("busybox:latest", None, None, &env);
        assert_eq!(s.kind, SourceKind::Berth);
        assert_eq!(s.host.as_deref(), Some("unix:///b.sock"));
        let s = Source::resolve("busybox", Some(SourceKind::Docker), None, &env);
        assert_eq!(s.host.as_deref(), Some("unix:///d.sock"));
        let s = Source::resolve("docker://busybox", None, Some("unix:///h.sock"), &env);
        assert_eq!(s.kind, SourceKind::Docker);
        assert_eq!(s.target, "busybox");
        assert_eq!(s.host.as_deref(), Some("unix:///h.sock"));
        let none = |_: &str| None;
        let s = Source::resolve("x", None, None, &none);
        assert_eq!(s.host.as_deref(), Some(daemon::BERTH_SOCKET));
        let s = Source::resolve("docker-archive://img.tar", None, None, &none);
        assert_eq!(
            (s.kind, s.target.as_str(), s.host),
            (SourceKind::DockerArchive, "img.tar", None)
        );
    }
}
