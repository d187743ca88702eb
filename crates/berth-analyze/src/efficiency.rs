//! Efficiency and wasted bytes, two ways.
//!
//! **dive-compatible** (wagoodman/dive `filetree/efficiency.go` + `image/analysis.go`):
//! per layer, visit the *leaf* nodes of the layer's own tree; a whiteout's key is the
//! deleted path and its size is the size of the whole subtree it deleted if that was a
//! directory (looked up in the stack of the layers below, dive's `StackTreeRange`,
//! including dive's quirk that an implied parent directory in a later layer resets the
//! stacked node to an empty non-directory), else 0. Per path: cumulative size, minimum
//! size, count. Score = Σ min / Σ cumulative; wasted bytes = Σ cumulative over paths seen
//! at least twice (counts the kept copy too: dive#684); user wasted percent = wasted /
//! Σ sizes of layers 1.. . One deliberate difference: a whiteout of a path that never
//! existed counts 0 bytes and the layer goes on, where dive silently skips the rest of
//! the layer (dive PR #715).
//!
//! **corrected**: wasted bytes are exactly the bytes stored in the image that are not
//! visible in the final filesystem (overwritten or deleted lower copies, contents hidden
//! by opaque directories), from `stack`; efficiency = 1 − wasted / total.

use crate::image::Image;
use crate::layer::{split_parent, EntryKind};
use crate::stack::{subtree_keys, DiffType, LayerDiff, Stack};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// dive's per-path record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathEfficiency {
    /// `/`-rooted path, as dive prints it.
    pub path: String,
    pub count: usize,
    pub cumulative_size: u64,
    pub min_size: u64,
}

/// Corrected per-path waste.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathWaste {
    pub path: String,
    /// Copies of this path that are stored but invisible.
    pub hidden_copies: usize,
    pub wasted_bytes: u64,
}

/// Per-layer change summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LayerSummary {
    pub added: usize,
    pub modified: usize,
    pub removed: usize,
    /// Bytes this layer stores that a later layer hides.
    pub wasted_bytes: u64,
}

/// The full analysis of an image.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub size_bytes: u64,
    /// Σ sizes of every layer but the first (dive's `UserSizeByes`).
    pub user_size_bytes: u64,
    /// dive's efficiency score.
    pub efficiency: f64,
    /// dive's wasted bytes (every copy of a path seen twice, including the kept one).
    pub wasted_bytes: u64,
    /// dive's wasted / user size (may be NaN or infinite for a one-layer image, as in dive).
    pub user_wasted_percent: f64,
    /// dive's inefficient paths, largest cumulative size first.
    pub inefficiencies: Vec<PathEfficiency>,
    /// Corrected efficiency: visible bytes / stored bytes.
    pub corrected_efficiency: f64,
    /// Corrected wasted bytes: stored but invisible.
    pub corrected_wasted_bytes: u64,
    /// Corrected wasted / user size.
    pub corrected_user_wasted_percent: f64,
    /// Corrected wasteful paths, most wasted first.
    pub wasted_paths: Vec<PathWaste>,
    pub layers: Vec<LayerSummary>,
    /// Whiteouts of paths that never existed, as (layer, path).
    pub dangling_whiteouts: Vec<(usize, String)>,
}

#[derive(Clone, Copy)]
struct DiveNode {
    size: u64,
    is_dir: bool,
}

#[derive(Default)]
struct Acc {
    count: usize,
    cumulative: u64,
    min: Option<u64>,
}

/// The state dive's stacked tree would have: explicit payloads, implied parents empty.
#[derive(Default)]
struct DiveStack {
    nodes: BTreeMap<String, DiveNode>,
}

impl DiveStack {
    fn deleted_size(&self, path: &str) -> u64 {
        match self.nodes.get(path) {
            Some(n) if n.is_dir => {
                n.size
                    + subtree_keys(&self.nodes, path)
                        .iter()
                        .filter_map(|k| self.nodes.get(k))
                        .map(|n| n.size)
                        .sum::<u64>()
            }
            _ => 0,
        }
    }

    fn remove(&mut self, path: &str) {
        for k in subtree_keys(&self.nodes, path) {
            self.nodes.remove(&k);
        }
        self.nodes.remove(path);
    }

    fn set(&mut self, path: &str, node: DiveNode) {
        self.nodes.insert(path.to_string(), node);
    }

    /// dive's `AddPath`: creates missing ancestors with an empty payload.
    fn add_path(&mut self, path: &str, node: DiveNode) {
        for anc in ancestors(path) {
            self.nodes.entry(anc.to_string()).or_insert(DiveNode {
                size: 0,
                is_dir: false,
            });
        }
        self.set(path, node);
    }
}

/// Proper ancestors of `a/b/c`: `a`, `a/b`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// Runs both analyses over an image.
pub fn analyze(image: &Image) -> Analysis {
    let mut dive = DiveStack::default();
    let mut acc: HashMap<String, Acc> = HashMap::new();
    let mut stack = Stack::new();
    let mut layers = Vec::with_capacity(image.layers.len());
    let mut waste: HashMap<String, (usize, u64)> = HashMap::new();
    let mut dangling = Vec::new();

    for layer in &image.layers {
        // ---- dive-compatible ----
        // Node keys of this layer's tree: explicit entries (whiteouts under their
        // `.wh.` name) plus every implied ancestor, plus the parent of opaque markers.
        let mut explicit: HashMap<&str, usize> = HashMap::new();
        let mut parents: HashSet<&str> = HashSet::new();
        let mut opaque_dirs: Vec<&str> = Vec::new();
        for (i, e) in layer.entries.iter().enumerate() {
            match e.kind {
                EntryKind::Opaque => {
                    if !e.path.is_empty() && !opaque_dirs.contains(&e.path.as_str()) {
                        opaque_dirs.push(&e.path);
                        parents.extend(ancestors(&e.path));
                    }
                }
                EntryKind::Whiteout => {
                    // The node `parent/.wh.name` has the whiteout's parent dirs as ancestors.
                    let (parent, _) = split_parent(&e.path);
                    if !parent.is_empty() {
                        parents.insert(parent);
                        parents.extend(ancestors(parent));
                    }
                }
                _ => {
                    // Last occurrence of a path wins (dive replaces the payload).
                    explicit.insert(&e.path, i);
                    parents.extend(ancestors(&e.path));
                }
            }
        }
        let mut visit = |key: &str, size: u64| {
            let a = acc.entry(format!("/{key}")).or_default();
            a.count += 1;
            a.cumulative += size;
            a.min = Some(a.min.map_or(size, |m| m.min(size)));
        };
        // A whiteout listed twice is still one node of dive's tree.
        let mut whiteouts_seen: HashSet<&str> = HashSet::new();
        for (i, e) in layer.entries.iter().enumerate() {
            match e.kind {
                EntryKind::Whiteout => {
                    if whiteouts_seen.insert(&e.path) {
                        visit(&e.path, dive.deleted_size(&e.path));
                    }
                }
                EntryKind::Opaque => {}
                _ => {
                    if explicit.get(e.path.as_str()) == Some(&i)
                        && !parents.contains(e.path.as_str())
                    {
                        visit(&e.path, e.size);
                    }
                }
            }
        }
        for d in &opaque_dirs {
            if !explicit.contains_key(d) && !parents.contains(d) {
                visit(d, 0);
            }
        }
        // Stack this layer onto dive's state: removals, explicit payloads, and every
        // implied node of the layer tree re-added with an empty payload.
        for e in &layer.entries {
            if e.kind == EntryKind::Whiteout {
                dive.remove(&e.path);
            }
        }
        for p in parents.iter().chain(opaque_dirs.iter()) {
            if !explicit.contains_key(p) {
                dive.add_path(
                    p,
                    DiveNode {
                        size: 0,
                        is_dir: false,
                    },
                );
            }
        }
        for (p, i) in &explicit {
            let e = &layer.entries[*i];
            dive.add_path(
                p,
                DiveNode {
                    size: e.size,
                    is_dir: e.kind == EntryKind::Dir,
                },
            );
        }

        // ---- corrected ----
        let diff: LayerDiff = stack.apply(layer.index, &layer.entries);
        let mut summary = LayerSummary::default();
        for c in &diff.changes {
            match c.diff {
                DiffType::Added => summary.added += 1,
                DiffType::Modified => summary.modified += 1,
                DiffType::Removed => summary.removed += 1,
                DiffType::Unmodified => {}
            }
        }
        for s in &diff.shadowed {
            let w = waste.entry(format!("/{}", s.path)).or_default();
            w.0 += 1;
            w.1 += s.bytes;
            if let Some(l) = layers.get_mut(s.from_layer) {
                let l: &mut LayerSummary = l;
                l.wasted_bytes += s.bytes;
            } else if s.from_layer == layer.index {
                summary.wasted_bytes += s.bytes;
            }
        }
        dangling.extend(
            diff.dangling_whiteouts
                .into_iter()
                .map(|p| (layer.index, p)),
        );
        layers.push(summary);
    }

    let size_bytes = image.size();
    let user_size_bytes: u64 = image.layers.iter().skip(1).map(|l| l.size).sum();

    let (mut min_sum, mut cum_sum) = (0u64, 0u64);
    let mut inefficiencies = Vec::new();
    for (path, a) in acc {
        min_sum += a.min.unwrap_or(0);
        cum_sum += a.cumulative;
        if a.count >= 2 {
            inefficiencies.push(PathEfficiency {
                path,
                count: a.count,
                cumulative_size: a.cumulative,
                min_size: a.min.unwrap_or(0),
            });
        }
    }
    inefficiencies.sort_by(|a, b| {
        b.cumulative_size
            .cmp(&a.cumulative_size)
            .then_with(|| a.path.cmp(&b.path))
    });
    let efficiency = if cum_sum == 0 {
        1.0
    } else {
        min_sum as f64 / cum_sum as f64
    };
    let wasted_bytes: u64 = inefficiencies.iter().map(|p| p.cumulative_size).sum();

    let corrected_wasted_bytes: u64 = waste.values().map(|w| w.1).sum();
    let mut wasted_paths: Vec<PathWaste> = waste
        .into_iter()
        .filter(|(_, w)| w.1 > 0)
        .map(|(path, (n, b))| PathWaste {
            path,
            hidden_copies: n,
            wasted_bytes: b,
        })
        .collect();
    wasted_paths.sort_by(|a, b| {
        b.wasted_bytes
            .cmp(&a.wasted_bytes)
            .then_with(|| a.path.cmp(&b.path))
    });
    let corrected_efficiency = if size_bytes == 0 {
        1.0
    } else {
        1.0 - corrected_wasted_bytes as f64 / size_bytes as f64
    };

    Analysis {
        size_bytes,
        user_size_bytes,
        efficiency,
        wasted_bytes,
        user_wasted_percent: wasted_bytes as f64 / user_size_bytes as f64,
        inefficiencies,
        corrected_efficiency,
        corrected_wasted_bytes,
        corrected_user_wasted_percent: corrected_wasted_bytes as f64 / user_size_bytes as f64,
        wasted_paths,
        layers,
        dangling_whiteouts: dangling,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{image, T};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// Invariant: stored − corrected waste = what the final filesystem shows.
    fn check_invariant(img: &Image, a: &Analysis) {
        let mut s = Stack::new();
        for l in &img.layers {
            s.apply(l.index, &l.entries);
        }
        assert_eq!(a.size_bytes - a.corrected_wasted_bytes, s.visible_bytes());
    }

    #[test]
    fn duplicate_across_layers() {
        let img = image(&[&[T::File("a", 100), T::File("b", 10)], &[T::File("a", 40)]]);
        let a = analyze(&img);
        assert_eq!(a.size_bytes, 150);
        assert_eq!(a.user_size_bytes, 40);
        // dive: /a seen twice: cumulative 140 (both copies), min 40.
        assert!(close(a.efficiency, 50.0 / 150.0));
        assert_eq!(a.wasted_bytes, 140);
        assert!(close(a.user_wasted_percent, 140.0 / 40.0));
        assert_eq!(a.inefficiencies[0].path, "/a");
        assert_eq!(a.inefficiencies[0].count, 2);
        // corrected: only the hidden 100-byte copy is waste.
        assert_eq!(a.corrected_wasted_bytes, 100);
        assert!(close(a.corrected_efficiency, 1.0 - 100.0 / 150.0));
        assert!(close(a.corrected_user_wasted_percent, 100.0 / 40.0));
        assert_eq!(a.wasted_paths[0].path, "/a");
        assert_eq!(a.layers[0].wasted_bytes, 100);
        assert_eq!((a.layers[1].added, a.layers[1].modified), (0, 1));
        check_invariant(&img, &a);
    }

    #[test]
    fn removal_in_later_layer() {
        let img = image(&[
            &[T::Dir("d"), T::File("d/x", 30), T::File("f", 50)],
            &[T::Whiteout("f")],
            &[T::Whiteout("d")],
        ]);
        let a = analyze(&img);
        // dive: /f = 50 + 0 (file whiteout), counted twice → waste 50; /d's whiteout
        // sizes the deleted dir (30) but is seen once, so not waste.
        assert_eq!(a.wasted_bytes, 50);
        assert!(close(a.efficiency, 60.0 / 110.0));
        // corrected: everything is gone.
        assert_eq!(a.corrected_wasted_bytes, 80);
        assert!(close(a.corrected_efficiency, 0.0));
        assert_eq!(a.layers[1].removed, 1);
        assert_eq!(a.layers[2].removed, 2);
        check_invariant(&img, &a);
    }

    #[test]
    fn opaque_directory() {
        let img = image(&[
            &[T::Dir("d"), T::File("d/x", 20), T::File("d/y", 5)],
            &[T::Dir("d"), T::Opaque("d"), T::File("d/z", 7)],
        ]);
        let a = analyze(&img);
        // dive ignores opaque markers entirely: nothing is counted twice.
        assert_eq!(a.wasted_bytes, 0);
        assert!(close(a.efficiency, 1.0));
        // corrected: d/x and d/y are hidden.
        assert_eq!(a.corrected_wasted_bytes, 25);
        assert!(close(a.corrected_efficiency, 1.0 - 25.0 / 32.0));
        assert_eq!(a.layers[1].removed, 2);
        assert_eq!(a.layers[1].added, 1);
        check_invariant(&img, &a);
    }

    #[test]
    fn hardlink_keeps_overwritten_data_visible() {
        let img = image(&[
            &[T::File("a", 100), T::Link("h", "a")],
            &[T::File("a", 100)],
        ]);
        let a = analyze(&img);
        // dive: /a twice (200), /h is 0 bytes.
        assert_eq!(a.wasted_bytes, 200);
        assert!(close(a.efficiency, 0.5));
        // corrected: the old data is still reachable through h → nothing wasted.
        assert_eq!(a.corrected_wasted_bytes, 0);
        check_invariant(&img, &a);
        // Removing the link later wastes it.
        let img = image(&[
            &[T::File("a", 100), T::Link("h", "a")],
            &[T::File("a", 100)],
            &[T::Whiteout("h")],
        ]);
        let a = analyze(&img);
        assert_eq!(a.corrected_wasted_bytes, 100);
        assert_eq!(a.wasted_paths[0].path, "/h");
        check_invariant(&img, &a);
    }

    #[test]
    fn deleting_a_path_that_never_existed_does_not_abort_the_layer() {
        let img = image(&[
            &[T::File("a", 10)],
            &[T::Whiteout("nope"), T::File("b", 5), T::File("a", 10)],
        ]);
        let a = analyze(&img);
        // The rest of layer 1 is still counted: /a twice, /b, /nope (0 bytes).
        assert_eq!(a.wasted_bytes, 20);
        assert!(close(a.efficiency, 15.0 / 25.0));
        assert_eq!(a.corrected_wasted_bytes, 10);
        assert_eq!(a.dangling_whiteouts, vec![(1, "nope".to_string())]);
        assert_eq!(a.layers[1].added, 1);
        check_invariant(&img, &a);
    }

    #[test]
    fn dive_resets_implied_parent_directories() {
        // Layer 1 touches d/y without listing d itself: dive's stacked node for d becomes
        // an empty non-directory, so deleting d in layer 2 is sized 0 by dive (not 34).
        // Layer 3 puts a 2-byte file at /d so that /d is seen twice.
        let img = image(&[
            &[T::Dir("d"), T::File("d/x", 30)],
            &[T::File("d/y", 4)],
            &[T::Whiteout("d")],
            &[T::File("d", 2)],
        ]);
        let a = analyze(&img);
        assert_eq!(a.wasted_bytes, 2);
        assert!(close(a.efficiency, 34.0 / 36.0), "{}", a.efficiency);
        assert_eq!(a.corrected_wasted_bytes, 34);
        check_invariant(&img, &a);
    }

    #[test]
    fn one_layer_image_has_undefined_user_percent_like_dive() {
        let img = image(&[&[T::File("a", 1)]]);
        let a = analyze(&img);
        assert!(a.user_wasted_percent.is_nan());
        assert!(close(a.efficiency, 1.0));
    }
}
