//! Test helpers: layer tars built in memory, parsed by the real parser.

use crate::image::{Image, Layer};
use crate::layer::parse_blob;

/// One entry to put in a test layer tar.
pub enum T<'a> {
    Dir(&'a str),
    File(&'a str, usize),
    Link(&'a str, &'a str),
    Whiteout(&'a str),
    Opaque(&'a str),
}

/// Builds a layer tar from entries.
pub fn layer_tar(entries: &[T<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: String, kind: tar::EntryType, size: usize, link: Option<&str>| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(size as u64);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        if let Some(l) = link {
            h.set_link_name(l).expect("link name");
        }
        let data = vec![b'x'; size];
        b.append_data(&mut h, name, &data[..]).expect("append");
    };
    for e in entries {
        match e {
            T::Dir(p) => add(format!("{p}/"), tar::EntryType::Directory, 0, None),
            T::File(p, n) => add(p.to_string(), tar::EntryType::Regular, *n, None),
            T::Link(p, t) => add(p.to_string(), tar::EntryType::Link, 0, Some(t)),
            T::Whiteout(p) => {
                let (d, n) = crate::layer::split_parent(p);
                let name = if d.is_empty() {
                    format!(".wh.{n}")
                } else {
                    format!("{d}/.wh.{n}")
                };
                add(name, tar::EntryType::Regular, 0, None)
            }
            T::Opaque(d) => add(
                format!("{d}/.wh..wh..opq"),
                tar::EntryType::Regular,
                0,
                None,
            ),
        }
    }
    b.into_inner().expect("tar")
}

/// An image from layer specs.
pub fn image(layers: &[&[T<'_>]]) -> Image {
    Image {
        name: "test".into(),
        layers: layers
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let p = parse_blob(&layer_tar(spec)[..], "test").expect("parse");
                Layer {
                    index: i,
                    id: format!("l{i}"),
                    digest: None,
                    command: format!("layer {i}"),
                    size: p.size,
                    entries: p.entries,
                }
            })
            .collect(),
    }
}
