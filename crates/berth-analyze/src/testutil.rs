//! Test helpers: layer tars built in memory (by `fixture`), parsed by the real parser.

use crate::fixture::{layer_tar, Entry};
use crate::image::{Image, Layer};
use crate::layer::parse_blob;

/// Short names for fixture entries.
pub enum T<'a> {
    Dir(&'a str),
    File(&'a str, usize),
    Link(&'a str, &'a str),
    Whiteout(&'a str),
    Opaque(&'a str),
}

fn entry(t: &T<'_>) -> Entry {
    match t {
        T::Dir(p) => Entry::Dir(p.to_string()),
        T::File(p, n) => Entry::File(p.to_string(), *n),
        T::Link(p, l) => Entry::Link(p.to_string(), l.to_string()),
        T::Whiteout(p) => Entry::Whiteout(p.to_string()),
        T::Opaque(p) => Entry::Opaque(p.to_string()),
    }
}

/// An image from layer specs.
pub fn image(layers: &[&[T<'_>]]) -> Image {
    Image {
        name: "test".into(),
        layers: layers
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let entries: Vec<Entry> = spec.iter().map(entry).collect();
                let tar = layer_tar(&entries).expect("tar");
                let p = parse_blob(&tar[..], "test").expect("parse");
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
