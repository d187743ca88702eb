//! The corrected waste checked against the filesystem itself: random layer sets (with
//! hardlinks, whiteouts, opaque directories and rewrites) are extracted into a real
//! directory with overlay semantics (deletions of a layer first, then its entries), and
//! the bytes left visible (hardlinked data counted once) must equal
//! stored bytes − corrected wasted bytes.

use berth_analyze::analyze;
use berth_analyze::fixture::{layer_tar, Entry};
use berth_analyze::image::Image;
use berth_analyze::layer::parse_blob;
use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const DIRS: [&str; 3] = ["a", "b", "a/c"];
const FILES: [&str; 6] = ["a/f1", "a/f2", "a/c/f3", "b/f4", "g", "b/h"];

fn random_layers(rng: &mut Rng) -> Vec<Vec<Entry>> {
    (0..1 + rng.below(5))
        .map(|_| {
            let mut entries = Vec::new();
            let mut files_here: Vec<&str> = Vec::new();
            for _ in 0..1 + rng.below(6) {
                match rng.below(12) {
                    0..=5 => {
                        let f = FILES[rng.below(FILES.len())];
                        entries.push(Entry::File(f.to_string(), 1 + rng.below(500)));
                        files_here.push(f);
                    }
                    6 | 7 if !files_here.is_empty() => {
                        let target = files_here[rng.below(files_here.len())];
                        let link = FILES[rng.below(FILES.len())];
                        if link != target {
                            entries.push(Entry::Link(link.to_string(), target.to_string()));
                            files_here.retain(|f| *f != link);
                        }
                    }
                    8 | 9 => {
                        let all: Vec<&str> = DIRS.iter().chain(FILES.iter()).copied().collect();
                        entries.push(Entry::Whiteout(all[rng.below(all.len())].to_string()));
                    }
                    10 => entries.push(Entry::Opaque(DIRS[rng.below(DIRS.len())].to_string())),
                    _ => entries.push(Entry::Dir(DIRS[rng.below(DIRS.len())].to_string())),
                }
            }
            entries
        })
        .collect()
}

fn remove_any(p: &Path) {
    if let Ok(m) = fs::symlink_metadata(p) {
        if m.is_dir() {
            fs::remove_dir_all(p).unwrap();
        } else {
            fs::remove_file(p).unwrap();
        }
    }
}

/// Extracts layers into `root` the way an overlay mount shows them.
fn extract(root: &Path, layers: &[Vec<Entry>]) {
    for entries in layers {
        for e in entries {
            match e {
                Entry::Whiteout(p) => remove_any(&root.join(p)),
                Entry::Opaque(d) => {
                    if let Ok(rd) = fs::read_dir(root.join(d)) {
                        for c in rd {
                            remove_any(&c.unwrap().path());
                        }
                    }
                }
                _ => {}
            }
        }
        for e in entries {
            match e {
                Entry::Dir(p) => {
                    let p = root.join(p);
                    if p.is_file() {
                        fs::remove_file(&p).unwrap();
                    }
                    fs::create_dir_all(p).unwrap();
                }
                Entry::File(p, n) => {
                    let p = root.join(p);
                    fs::create_dir_all(p.parent().unwrap()).unwrap();
                    remove_any(&p);
                    fs::write(&p, vec![b'x'; *n]).unwrap();
                }
                Entry::Link(p, t) => {
                    let p = root.join(p);
                    fs::create_dir_all(p.parent().unwrap()).unwrap();
                    remove_any(&p);
                    fs::hard_link(root.join(t), &p).unwrap();
                }
                _ => {}
            }
        }
    }
}

fn visible_bytes(dir: &Path, seen: &mut HashSet<u64>) -> u64 {
    let mut sum = 0;
    for c in fs::read_dir(dir).unwrap() {
        let c = c.unwrap();
        let m = fs::symlink_metadata(c.path()).unwrap();
        if m.is_dir() {
            sum += visible_bytes(&c.path(), seen);
        } else if seen.insert(m.ino()) {
            sum += m.len();
        }
    }
    sum
}

#[test]
fn corrected_waste_is_what_the_filesystem_hides() {
    let mut rng = Rng(0x2545f4914f6cdd1d);
    let base = tempfile::tempdir().unwrap();
    for case in 0..300 {
        let layers = random_layers(&mut rng);
        let root = base.path().join(format!("c{case}"));
        fs::create_dir_all(&root).unwrap();
        extract(&root, &layers);
        let visible = visible_bytes(&root, &mut HashSet::new());
        let parsed = layers
            .iter()
            .enumerate()
            .map(|(i, e)| {
                (
                    format!("l{i}"),
                    parse_blob(&layer_tar(e).unwrap()[..], "t").unwrap(),
                )
            })
            .collect();
        let a = analyze(&Image::assemble("random".into(), None, parsed));
        assert_eq!(
            a.size_bytes - a.corrected_wasted_bytes,
            visible,
            "case {case}: {layers:?}"
        );
        fs::remove_dir_all(&root).unwrap();
    }
}
