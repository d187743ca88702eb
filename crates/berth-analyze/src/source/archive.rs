//! `docker save` archives (plain, or whole-archive gzip/zstd read as a stream).
//!
//! From a file: one pass over the outer tar's headers (seeking over contents) builds an
//! index; the metadata is read, and only the layers the manifest names are parsed, in
//! parallel, each from its byte range of the file (an uncompressed layer is walked by
//! seeking over file contents, so a 1 GB archive costs little more than its headers).
//!
//! From a stream (daemon export, stdin): entries are classified as they pass by — JSON
//! metadata is kept, anything that sniffs as a (gzip/zstd/plain) tar is parsed as a layer
//! keyed by its path — because `manifest.json` comes last in old archives. Only headers
//! are ever kept in memory.

use super::layout::{resolve, FileSource, Layout};
use crate::error::{AnalyzeError, Result};
use crate::image::Image;
use crate::layer::{self, Compression, ParsedLayer, Region};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Largest metadata file we keep in memory.
const MAX_JSON: u64 = 64 << 20;

#[derive(Debug, Clone)]
enum Item {
    File { offset: u64, size: u64 },
    Link(String),
}

struct FileIndex {
    file: Arc<File>,
    items: HashMap<String, Item>,
    origin: String,
}

fn normalize(name: &str) -> String {
    layer::clean_path(name).unwrap_or_default()
}

/// Resolves a symlink target relative to the link's directory.
fn resolve_link(from: &str, target: &str) -> String {
    if target.starts_with('/') {
        return normalize(target);
    }
    let (dir, _) = layer::split_parent(from);
    normalize(&format!("{dir}/{target}"))
}

impl FileIndex {
    fn open(path: &Path) -> Result<FileIndex> {
        let origin = path.display().to_string();
        let file =
            File::open(path).map_err(|e| AnalyzeError::io(format!("opening {origin}"), e))?;
        let len = file
            .metadata()
            .map_err(|e| AnalyzeError::io(format!("stat {origin}"), e))?
            .len();
        let file = Arc::new(file);
        let mut archive = tar::Archive::new(Region::new(file.clone(), 0, len));
        let mut items = HashMap::new();
        let entries = archive
            .entries_with_seek()
            .map_err(|e| AnalyzeError::io(format!("reading {origin}"), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| {
                AnalyzeError::io(
                    format!("{origin}: not a readable tar archive (expected `docker save` output)"),
                    e,
                )
            })?;
            let name = normalize(&String::from_utf8_lossy(&entry.path_bytes()));
            match entry.header().entry_type() {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    if let Some(t) = entry.link_name_bytes() {
                        let t = String::from_utf8_lossy(&t).into_owned();
                        let target = if entry.header().entry_type() == tar::EntryType::Link {
                            normalize(&t)
                        } else {
                            resolve_link(&name, &t)
                        };
                        items.insert(name, Item::Link(target));
                    }
                }
                t if t.is_file() => {
                    items.insert(
                        name,
                        Item::File {
                            offset: entry.raw_file_position(),
                            size: entry.size(),
                        },
                    );
                }
                _ => {}
            }
        }
        Ok(FileIndex {
            file,
            items,
            origin,
        })
    }

    fn locate(&self, path: &str) -> Option<(u64, u64)> {
        let mut p = normalize(path);
        for _ in 0..16 {
            match self.items.get(&p)? {
                Item::File { offset, size } => return Some((*offset, *size)),
                Item::Link(t) => p = t.clone(),
            }
        }
        None
    }
}

impl FileSource for FileIndex {
    fn read_small(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let Some((offset, size)) = self.locate(path) else {
            return Ok(None);
        };
        if size > MAX_JSON {
            return Err(AnalyzeError::meta(
                path,
                format!("{size} bytes is too large for metadata"),
            ));
        }
        let mut buf = Vec::with_capacity(size as usize);
        Region::new(self.file.clone(), offset, size)
            .read_to_end(&mut buf)
            .map_err(|e| AnalyzeError::io(format!("reading {path} in {}", self.origin), e))?;
        Ok(Some(buf))
    }
}

/// Parses `jobs` in parallel on up to `available_parallelism` threads, keeping order.
pub(crate) fn parse_parallel<T: Sync>(
    jobs: &[T],
    f: impl Fn(&T) -> Result<ParsedLayer> + Sync,
) -> Result<Vec<ParsedLayer>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(jobs.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Result<ParsedLayer>>>> =
        (0..jobs.len()).map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                let r = f(job);
                if let Ok(mut slot) = slots[i].lock() {
                    *slot = Some(r);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Err(AnalyzeError::meta("layer", "worker thread failed")))
        })
        .collect()
}

/// Reads an image from a `docker save` archive file.
pub fn load_file(path: &Path, want: Option<&str>, name: &str) -> Result<Image> {
    // `docker save | gzip` (or zstd): no seeking possible, read it as a stream.
    let mut head = [0u8; 4];
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| AnalyzeError::io(format!("opening {}", path.display()), e))?;
    if matches!(
        layer::sniff(&head[..n]),
        Some(Compression::Gzip | Compression::Zstd)
    ) {
        let f = File::open(path)
            .map_err(|e| AnalyzeError::io(format!("opening {}", path.display()), e))?;
        return load_any_stream(f, want, name);
    }
    let idx = FileIndex::open(path)?;
    let layout: Layout = resolve(&idx, want)?;
    let mut regions = Vec::with_capacity(layout.layers.len());
    for l in &layout.layers {
        let (offset, size) = idx.locate(l).ok_or_else(|| {
            AnalyzeError::meta(
                &idx.origin,
                format!("layer {l} named by the manifest is not in the archive"),
            )
        })?;
        regions.push((l.clone(), Region::new(idx.file.clone(), offset, size)));
    }
    let parsed = parse_parallel(&regions, |(id, r)| layer::parse_region(r.clone(), id))?;
    let layers = layout.layers.iter().cloned().zip(parsed).collect();
    Ok(Image::assemble(
        layout.name.unwrap_or_else(|| name.to_string()),
        layout.config.as_ref(),
        layers,
    ))
}

struct Collected {
    json: HashMap<String, Vec<u8>>,
    links: HashMap<String, String>,
}

impl Collected {
    fn follow(&self, path: &str) -> String {
        let mut p = normalize(path);
        for _ in 0..16 {
            match self.links.get(&p) {
                Some(t) => p = t.clone(),
                None => break,
            }
        }
        p
    }
}

impl FileSource for Collected {
    fn read_small(&self, path: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.json.get(&self.follow(path)).cloned())
    }
}

fn looks_like_json(head: &[u8]) -> bool {
    head.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{' || *b == b'[')
}

/// Reads a `docker save` stream that may itself be gzip- or zstd-compressed.
pub fn load_any_stream<R: Read>(reader: R, want: Option<&str>, name: &str) -> Result<Image> {
    let mut buf = std::io::BufReader::with_capacity(256 * 1024, reader);
    let head = std::io::BufRead::fill_buf(&mut buf)
        .map_err(|e| AnalyzeError::io(format!("reading {name}"), e))?;
    match layer::sniff(head) {
        Some(Compression::Gzip) => {
            load_stream(flate2::bufread::MultiGzDecoder::new(buf), want, name)
        }
        Some(Compression::Zstd) => {
            let dec = zstd::stream::read::Decoder::with_buffer(buf)
                .map_err(|e| AnalyzeError::io(format!("zstd {name}"), e))?;
            load_stream(dec, want, name)
        }
        _ => load_stream(buf, want, name),
    }
}

/// Reads an image from a `docker save` stream (not seekable).
pub fn load_stream<R: Read>(reader: R, want: Option<&str>, name: &str) -> Result<Image> {
    let mut archive = tar::Archive::new(reader);
    let mut col = Collected {
        json: HashMap::new(),
        links: HashMap::new(),
    };
    let mut layers: HashMap<String, ParsedLayer> = HashMap::new();
    let entries = archive
        .entries()
        .map_err(|e| AnalyzeError::io(format!("reading {name}"), e))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| AnalyzeError::io(format!("reading image tar {name}"), e))?;
        let path = normalize(&String::from_utf8_lossy(&entry.path_bytes()));
        let et = entry.header().entry_type();
        if et == tar::EntryType::Symlink || et == tar::EntryType::Link {
            if let Some(t) = entry.link_name_bytes() {
                let t = String::from_utf8_lossy(&t).into_owned();
                let target = if et == tar::EntryType::Link {
                    normalize(&t)
                } else {
                    resolve_link(&path, &t)
                };
                col.links.insert(path, target);
            }
            continue;
        }
        if !et.is_file() {
            continue;
        }
        let size = entry.size();
        let mut head = Vec::with_capacity(1024);
        (&mut entry)
            .take(1024)
            .read_to_end(&mut head)
            .map_err(|e| AnalyzeError::io(format!("reading {path} in {name}"), e))?;
        let is_meta = path.ends_with(".json") || path == "repositories" || path == "oci-layout";
        // Layers are recognised by content; `.tar` names (the old layout) also count,
        // so that an unusual tar without a ustar magic is still read.
        if !is_meta && (layer::sniff(&head).is_some() || path.ends_with(".tar")) {
            tracing::debug!(path, "layer in stream");
            let parsed = layer::parse_blob(Cursor::new(head).chain(&mut entry), &path)?;
            layers.insert(path, parsed);
            continue;
        }
        if (is_meta || looks_like_json(&head)) && size <= MAX_JSON {
            let mut buf = head;
            entry
                .read_to_end(&mut buf)
                .map_err(|e| AnalyzeError::io(format!("reading {path} in {name}"), e))?;
            col.json.insert(path, buf);
        }
    }
    let layout = resolve(&col, want)?;
    let mut ordered = Vec::with_capacity(layout.layers.len());
    for l in &layout.layers {
        let key = col.follow(l);
        let parsed = layers.get(&key).cloned().ok_or_else(|| {
            AnalyzeError::meta(
                name,
                format!("layer {l} named by the manifest is not in the archive"),
            )
        })?;
        ordered.push((l.clone(), parsed));
    }
    Ok(Image::assemble(
        layout.name.unwrap_or_else(|| name.to_string()),
        layout.config.as_ref(),
        ordered,
    ))
}
