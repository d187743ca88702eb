//! Builders for test and benchmark images: layer tars from a short description, written
//! as a `docker save` archive (the old `<id>/layer.tar` layout or the Docker 25+ OCI
//! layout with `manifest.json`) or as an OCI layout directory with plain, gzip or zstd
//! layers. Used by this crate's tests, the CLI tests and nothing in production.

use crate::layer::Compression;
use berth_oci::Digest;
use serde_json::json;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// One entry of a fixture layer.
#[derive(Debug, Clone)]
pub enum Entry {
    Dir(String),
    /// A regular file of `n` bytes (content derived from the path, so layers differ).
    File(String, usize),
    /// A hardlink to another path of the same layer.
    Link(String, String),
    Whiteout(String),
    Opaque(String),
}

/// A fixture layer: the command that "created" it and its entries.
#[derive(Debug, Clone)]
pub struct FLayer {
    pub command: String,
    pub entries: Vec<Entry>,
}

/// Builds a layer tar.
pub fn layer_tar(entries: &[Entry]) -> io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        let (name, data): (String, Vec<u8>) = match e {
            Entry::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                (format!("{p}/"), Vec::new())
            }
            Entry::File(p, n) => {
                h.set_entry_type(tar::EntryType::Regular);
                let seed = p
                    .bytes()
                    .fold(7u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
                (
                    p.clone(),
                    (0..*n).map(|i| seed.wrapping_add(i as u8)).collect(),
                )
            }
            Entry::Link(p, t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_link_name(t)?;
                (p.clone(), Vec::new())
            }
            Entry::Whiteout(p) => {
                h.set_entry_type(tar::EntryType::Regular);
                let (d, n) = crate::layer::split_parent(p);
                let name = if d.is_empty() {
                    format!(".wh.{n}")
                } else {
                    format!("{d}/.wh.{n}")
                };
                (name, Vec::new())
            }
            Entry::Opaque(d) => {
                h.set_entry_type(tar::EntryType::Regular);
                (format!("{d}/.wh..wh..opq"), Vec::new())
            }
        };
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, &data[..])?;
    }
    b.into_inner()
}

fn config_json(layers: &[FLayer], diff_ids: &[Digest]) -> Vec<u8> {
    let mut history =
        vec![json!({"created_by": "/bin/sh -c #(nop)  LABEL fixture=1", "empty_layer": true})];
    history.extend(
        layers
            .iter()
            .map(|l| json!({"created_by": format!("/bin/sh -c {}", l.command)})),
    );
    let doc = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()},
        "history": history,
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

fn add_file<W: Write>(b: &mut tar::Builder<W>, name: &str, data: &[u8]) -> io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_mtime(0);
    b.append_data(&mut h, name, data)
}

/// Writes a `docker save` archive. `oci` selects the Docker 25+ layout.
pub fn write_docker_archive(
    path: &Path,
    tag: &str,
    layers: &[FLayer],
    oci: bool,
) -> io::Result<()> {
    let tars: Vec<Vec<u8>> = layers
        .iter()
        .map(|l| layer_tar(&l.entries))
        .collect::<io::Result<_>>()?;
    let diff_ids: Vec<Digest> = tars.iter().map(|t| Digest::sha256_of(t)).collect();
    let config = config_json(layers, &diff_ids);
    let config_digest = Digest::sha256_of(&config);
    let mut b = tar::Builder::new(io::BufWriter::new(fs::File::create(path)?));
    let mut layer_paths = Vec::new();
    let config_path;
    if oci {
        add_file(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        for (t, d) in tars.iter().zip(&diff_ids) {
            let p = format!("blobs/sha256/{}", d.hex());
            add_file(&mut b, &p, t)?;
            layer_paths.push(p);
        }
        config_path = format!("blobs/sha256/{}", config_digest.hex());
        add_file(&mut b, &config_path, &config)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest.to_string(), "size": config.len()},
            "layers": tars.iter().zip(&diff_ids).map(|(t, d)| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d.to_string(), "size": t.len()})).collect::<Vec<_>>(),
        });
        let manifest = serde_json::to_vec(&manifest).unwrap_or_default();
        let md = Digest::sha256_of(&manifest);
        add_file(&mut b, &format!("blobs/sha256/{}", md.hex()), &manifest)?;
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md.to_string(), "size": manifest.len(),
                "annotations": {"io.containerd.image.name": format!("docker.io/{tag}"), "org.opencontainers.image.ref.name": "1"}}],
        });
        add_file(
            &mut b,
            "index.json",
            &serde_json::to_vec(&index).unwrap_or_default(),
        )?;
    } else {
        for (i, t) in tars.iter().enumerate() {
            // Legacy v1 IDs: any unique hex.
            let id = Digest::sha256_of(format!("layer-{i}-{}", diff_ids[i]).as_bytes());
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            b.append_data(&mut h, format!("{}/", id.hex()), &[][..])?;
            add_file(&mut b, &format!("{}/VERSION", id.hex()), b"1.0")?;
            add_file(&mut b, &format!("{}/json", id.hex()), br#"{"id":"x"}"#)?;
            let p = format!("{}/layer.tar", id.hex());
            add_file(&mut b, &p, t)?;
            layer_paths.push(p);
        }
        config_path = format!("{}.json", config_digest.hex());
        add_file(&mut b, &config_path, &config)?;
    }
    let manifest = json!([{"Config": config_path, "RepoTags": [tag], "Layers": layer_paths}]);
    add_file(
        &mut b,
        "manifest.json",
        &serde_json::to_vec(&manifest).unwrap_or_default(),
    )?;
    b.into_inner()?.flush()
}

/// Writes an OCI layout directory (no `manifest.json`), compressing layer `i` with
/// `compression[i % len]`.
pub fn write_oci_dir(
    dir: &Path,
    tag: &str,
    layers: &[FLayer],
    compression: &[Compression],
) -> io::Result<()> {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs)?;
    let put = |data: &[u8]| -> io::Result<Digest> {
        let d = Digest::sha256_of(data);
        fs::write(blobs.join(d.hex()), data)?;
        Ok(d)
    };
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let t = layer_tar(&l.entries)?;
        diff_ids.push(Digest::sha256_of(&t));
        let c = compression
            .get(i % compression.len().max(1))
            .copied()
            .unwrap_or(Compression::None);
        let (blob, mt) = match c {
            Compression::None => (t, "application/vnd.oci.image.layer.v1.tar"),
            Compression::Gzip => {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                gz.write_all(&t)?;
                (gz.finish()?, "application/vnd.oci.image.layer.v1.tar+gzip")
            }
            Compression::Zstd => (
                zstd::encode_all(&t[..], 1)?,
                "application/vnd.oci.image.layer.v1.tar+zstd",
            ),
        };
        let d = put(&blob)?;
        descs.push(json!({"mediaType": mt, "digest": d.to_string(), "size": blob.len()}));
    }
    let config = config_json(layers, &diff_ids);
    let cd = put(&config)?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": config.len()},
        "layers": descs,
    }))
    .unwrap_or_default();
    let md = put(&manifest)?;
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md.to_string(), "size": manifest.len(),
                "annotations": {"org.opencontainers.image.ref.name": tag}}],
        }))
        .unwrap_or_default(),
    )
}
