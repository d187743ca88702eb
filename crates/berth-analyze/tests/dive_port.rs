//! A direct port of dive's tree algorithms (wagoodman/dive@d6c6919 `filetree/file_tree.go`
//! AddPath/RemovePath/Stack/StackTreeRange, `file_node.go` AddChild/VisitDepthChildFirst,
//! `efficiency.go` Efficiency), run on random layer sets and compared with berth's
//! dive-compatible figures. Random images avoid dangling whiteouts, where berth
//! deliberately differs (dive skips the rest of the layer).

use berth_analyze::analyze;
use berth_analyze::fixture::{layer_tar, Entry};
use berth_analyze::image::Image;
use berth_analyze::layer::parse_blob;
use std::collections::{BTreeMap, HashMap};

#[derive(Clone, Copy, Default, Debug)]
struct Info {
    size: u64,
    is_dir: bool,
}

#[derive(Clone, Default, Debug)]
struct DNode {
    info: Info,
    children: BTreeMap<String, DNode>,
}

const WH: &str = ".wh.";
const WHWH: &str = ".wh..wh.";

impl DNode {
    /// dive `AddPath`.
    fn add_path(&mut self, path: &str, info: Info) {
        let names: Vec<&str> = path.split('/').filter(|n| !n.is_empty()).collect();
        let mut node = self;
        for (i, name) in names.iter().enumerate() {
            if !node.children.contains_key(*name) {
                if name.starts_with(WHWH) {
                    return;
                }
                node.children.insert(name.to_string(), DNode::default());
            }
            node = node.children.get_mut(*name).unwrap();
            if i == names.len() - 1 {
                node.info = info;
            }
        }
    }

    fn get(&self, path: &str) -> Option<&DNode> {
        let mut node = self;
        for name in path.split('/').filter(|n| !n.is_empty()) {
            node = node.children.get(name)?;
        }
        Some(node)
    }

    /// dive `RemovePath`.
    fn remove_path(&mut self, path: &str) -> bool {
        let names: Vec<&str> = path.split('/').filter(|n| !n.is_empty()).collect();
        let Some((last, dirs)) = names.split_last() else {
            return false;
        };
        let mut node = self;
        for d in dirs {
            match node.children.get_mut(*d) {
                Some(n) => node = n,
                None => return false,
            }
        }
        node.children.remove(*last).is_some()
    }

    /// dive `VisitDepthChildFirst` (root excluded), yielding (path, node).
    fn visit<'a>(&'a self, prefix: &str, out: &mut Vec<(String, String, &'a DNode)>) {
        for (name, child) in &self.children {
            let p = format!("{prefix}/{name}");
            child.visit(&p, out);
            out.push((p, name.clone(), child));
        }
    }
}

/// dive `node.Path()`: the whiteout prefix stripped from the leaf name.
fn dive_path(full: &str, name: &str) -> String {
    match name.strip_prefix(WH) {
        Some(stripped) => format!("{}/{stripped}", &full[..full.len() - name.len() - 1]),
        None => full.to_string(),
    }
}

/// dive `Stack`.
fn stack(lower: &mut DNode, upper: &DNode) {
    let mut nodes = Vec::new();
    upper.visit("", &mut nodes);
    for (full, name, node) in nodes {
        let p = dive_path(&full, &name);
        if name.starts_with(WH) {
            lower.remove_path(&p);
        } else {
            lower.add_path(&p, node.info);
        }
    }
}

fn stack_range(trees: &[DNode], stop: isize) -> DNode {
    let mut t = trees[0].clone();
    let mut i = 0isize;
    while i <= stop {
        stack(&mut t, &trees[i as usize]);
        i += 1;
    }
    t
}

/// dive `Efficiency` + `Analyze`: (score, wasted, per-path (count, cumulative)).
fn dive_efficiency(trees: &[DNode]) -> (f64, u64, BTreeMap<String, (usize, u64)>) {
    let mut map: HashMap<String, (usize, u64, i64)> = HashMap::new();
    for (idx, tree) in trees.iter().enumerate() {
        let mut nodes = Vec::new();
        tree.visit("", &mut nodes);
        for (full, name, node) in nodes {
            if !node.children.is_empty() {
                continue;
            }
            let path = dive_path(&full, &name);
            let size = if name.starts_with(WH) {
                let st = stack_range(trees, idx as isize - 1);
                let prev = st
                    .get(&path)
                    .expect("random images have no dangling whiteouts");
                if prev.info.is_dir {
                    let mut all = Vec::new();
                    prev.visit("", &mut all);
                    prev.info.size + all.iter().map(|(_, _, n)| n.info.size).sum::<u64>()
                } else {
                    0
                }
            } else {
                node.info.size
            };
            let e = map.entry(path).or_insert((0, 0, -1));
            e.0 += 1;
            e.1 += size;
            if e.2 < 0 || (size as i64) < e.2 {
                e.2 = size as i64;
            }
        }
    }
    let min: i64 = map.values().map(|v| v.2).sum();
    let cum: u64 = map.values().map(|v| v.1).sum();
    let score = if cum == 0 {
        1.0
    } else {
        min as f64 / cum as f64
    };
    let ineff: BTreeMap<String, (usize, u64)> = map
        .into_iter()
        .filter(|(_, v)| v.0 >= 2)
        .map(|(k, v)| (k, (v.0, v.1)))
        .collect();
    let wasted = ineff.values().map(|v| v.1).sum();
    (score, wasted, ineff)
}

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

const DIRS: [&str; 4] = ["a", "b", "a/c", "a/c/d"];
const FILES: [&str; 7] = ["a/f1", "a/f2", "a/c/f3", "a/c/d/f5", "b/f4", "g", "b/h"];

/// A random image: (fixture entries per layer, dive trees per layer).
fn random_image(rng: &mut Rng) -> (Vec<Vec<Entry>>, Vec<DNode>) {
    let nlayers = 1 + rng.below(5);
    let mut layers = Vec::new();
    let mut trees: Vec<DNode> = Vec::new();
    for l in 0..nlayers {
        let below = if l == 0 {
            None
        } else {
            Some(stack_range(&trees, l as isize - 1))
        };
        let mut entries = Vec::new();
        for _ in 0..1 + rng.below(6) {
            match rng.below(10) {
                0..=4 => {
                    let f = FILES[rng.below(FILES.len())];
                    if rng.below(2) == 0 {
                        // Sometimes list the parent directories, sometimes leave them implied.
                        let mut acc = String::new();
                        for part in f.split('/').collect::<Vec<_>>().split_last().unwrap().1 {
                            if !acc.is_empty() {
                                acc.push('/');
                            }
                            acc.push_str(part);
                            entries.push(Entry::Dir(acc.clone()));
                        }
                    }
                    entries.push(Entry::File(f.to_string(), 1 + rng.below(1000)));
                }
                5 => entries.push(Entry::Dir(DIRS[rng.below(DIRS.len())].to_string())),
                6..=8 => {
                    let all: Vec<&str> = DIRS.iter().chain(FILES.iter()).copied().collect();
                    let p = all[rng.below(all.len())];
                    // Only paths that exist below (dive aborts the layer otherwise).
                    if below.as_ref().is_some_and(|t| t.get(p).is_some()) {
                        entries.push(Entry::Whiteout(p.to_string()));
                    }
                }
                _ => {
                    let d = DIRS[rng.below(DIRS.len())];
                    if below.as_ref().is_some_and(|t| t.get(d).is_some()) {
                        entries.push(Entry::Opaque(d.to_string()));
                    }
                }
            }
        }
        let mut tree = DNode::default();
        for e in &entries {
            match e {
                Entry::Dir(p) => tree.add_path(
                    p,
                    Info {
                        size: 0,
                        is_dir: true,
                    },
                ),
                Entry::File(p, n) => tree.add_path(
                    p,
                    Info {
                        size: *n as u64,
                        is_dir: false,
                    },
                ),
                Entry::Whiteout(p) => {
                    let (d, n) = p.rsplit_once('/').unwrap_or(("", p));
                    tree.add_path(&format!("{d}/{WH}{n}"), Info::default())
                }
                Entry::Opaque(d) => tree.add_path(&format!("{d}/{WHWH}.opq"), Info::default()),
                Entry::Link(..) => {}
            }
        }
        trees.push(tree);
        layers.push(entries);
    }
    (layers, trees)
}

#[test]
fn random_images_match_dives_algorithm() {
    let mut rng = Rng(0x9e3779b97f4a7c15);
    for case in 0..5000 {
        let (layers, trees) = random_image(&mut rng);
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
        let img = Image::assemble("random".into(), None, parsed);
        let a = analyze(&img);
        let (score, wasted, ineff) = dive_efficiency(&trees);
        let ours: BTreeMap<String, (usize, u64)> = a
            .inefficiencies
            .iter()
            .map(|p| (p.path.clone(), (p.count, p.cumulative_size)))
            .collect();
        assert_eq!(ours, ineff, "case {case}: {layers:?}");
        assert_eq!(a.wasted_bytes, wasted, "case {case}: {layers:?}");
        assert!(
            (a.efficiency - score).abs() < 1e-12,
            "case {case}: {} vs {score}: {layers:?}",
            a.efficiency
        );
    }
}
