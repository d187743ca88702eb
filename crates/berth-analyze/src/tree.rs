//! The file tree shown by the TUI for one selected layer: either the aggregated
//! filesystem of layers 0..=N (with layer N's changes marked and its removals shown), or
//! only what layer N itself changed. Rows are produced by walking the tree with the
//! user's collapse set, path filter and change-type toggles applied.

use crate::image::{Image, Layer};
use crate::layer::EntryKind;
use crate::stack::{DiffType, Node, Stack};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One node of the display tree.
#[derive(Debug, Clone)]
pub struct TreeNode {
    pub name: String,
    /// Full path without a leading `/` (root is "").
    pub path: String,
    pub depth: usize,
    /// The entry, or `None` for a directory no layer listed.
    pub node: Option<Node>,
    /// The change shown (for directories: Modified if anything below changed).
    pub diff: DiffType,
    pub children: Vec<usize>,
    /// Σ sizes below (files only).
    pub total_size: u64,
}

impl TreeNode {
    pub fn is_dir(&self) -> bool {
        !self.children.is_empty() || self.node.as_ref().is_none_or(|n| n.kind == EntryKind::Dir)
    }
}

/// Which view of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeMode {
    /// The whole filesystem as of this layer.
    Aggregated,
    /// Only this layer's changes.
    LayerOnly,
}

/// A display tree; node 0 is the root.
#[derive(Debug, Clone)]
pub struct FileTree {
    pub nodes: Vec<TreeNode>,
}

/// The types of change a user can hide.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hidden {
    pub added: bool,
    pub removed: bool,
    pub modified: bool,
    pub unmodified: bool,
}

impl Hidden {
    fn hides(&self, d: DiffType) -> bool {
        match d {
            DiffType::Added => self.added,
            DiffType::Removed => self.removed,
            DiffType::Modified => self.modified,
            DiffType::Unmodified => self.unmodified,
        }
    }
}

/// One visible row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub index: usize,
    pub collapsed: bool,
}

impl FileTree {
    /// Builds the tree from (path, entry, change) items in any order.
    pub fn build(items: Vec<(String, Option<Node>, DiffType)>) -> FileTree {
        let mut nodes = vec![TreeNode {
            name: "/".into(),
            path: String::new(),
            depth: 0,
            node: None,
            diff: DiffType::Unmodified,
            children: Vec::new(),
            total_size: 0,
        }];
        let mut kids: Vec<BTreeMap<String, usize>> = vec![BTreeMap::new()];
        let mut sorted = items;
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, node, diff) in sorted {
            let mut cur = 0;
            let mut so_far = String::new();
            let parts: Vec<&str> = path.split('/').collect();
            for (i, part) in parts.iter().enumerate() {
                if !so_far.is_empty() {
                    so_far.push('/');
                }
                so_far.push_str(part);
                let next = match kids[cur].get(*part) {
                    Some(n) => *n,
                    None => {
                        let id = nodes.len();
                        nodes.push(TreeNode {
                            name: part.to_string(),
                            path: so_far.clone(),
                            depth: i + 1,
                            node: None,
                            diff: DiffType::Unmodified,
                            children: Vec::new(),
                            total_size: 0,
                        });
                        kids.push(BTreeMap::new());
                        kids[cur].insert(part.to_string(), id);
                        id
                    }
                };
                cur = next;
            }
            nodes[cur].node = node;
            nodes[cur].diff = diff;
        }
        for (i, k) in kids.into_iter().enumerate() {
            nodes[i].children = k.into_values().collect();
        }
        // Sizes and directory change marks, children before parents (ids grow downward).
        for i in (0..nodes.len()).rev() {
            let own =
                nodes[i]
                    .node
                    .as_ref()
                    .map_or(0, |n| if n.kind == EntryKind::Dir { 0 } else { n.size });
            let below: u64 = nodes[i].children.iter().map(|c| nodes[*c].total_size).sum();
            nodes[i].total_size = own + below;
            if nodes[i].diff == DiffType::Unmodified
                && nodes[i]
                    .children
                    .iter()
                    .any(|c| nodes[*c].diff != DiffType::Unmodified)
            {
                nodes[i].diff = DiffType::Modified;
            }
        }
        FileTree { nodes }
    }

    /// The tree for layer `index` of `image` (replaying the layers below it).
    pub fn for_layer(image: &Image, index: usize, mode: TreeMode) -> FileTree {
        let mut stack = Stack::new();
        for l in image.layers.iter().take(index) {
            stack.apply(l.index, &l.entries);
        }
        match image.layers.get(index) {
            Some(layer) => FileTree::for_layer_from(stack, layer, mode),
            None => FileTree::build(Vec::new()),
        }
    }

    /// The tree for `layer`, given the stack of the layers below it.
    pub fn for_layer_from(mut stack: Stack, layer: &Layer, mode: TreeMode) -> FileTree {
        let diff = stack.apply(layer.index, &layer.entries);
        let mut changed: HashMap<String, (Node, DiffType)> = HashMap::new();
        for c in diff.changes {
            changed.insert(c.path, (c.node, c.diff));
        }
        let items = match mode {
            TreeMode::LayerOnly => changed
                .into_iter()
                .map(|(p, (n, d))| (p, Some(n), d))
                .collect(),
            TreeMode::Aggregated => {
                let mut items: Vec<(String, Option<Node>, DiffType)> = stack
                    .visible
                    .into_iter()
                    .map(|(p, n)| {
                        let d = changed.get(&p).map_or(DiffType::Unmodified, |c| c.1);
                        (p, Some(n), d)
                    })
                    .collect();
                items.extend(
                    changed
                        .into_iter()
                        .filter(|(_, (_, d))| *d == DiffType::Removed)
                        .map(|(p, (n, d))| (p, Some(n), d)),
                );
                items
            }
        };
        FileTree::build(items)
    }

    /// The visible rows under the given view settings.
    pub fn rows(&self, collapsed: &HashSet<String>, filter: &str, hidden: &Hidden) -> Vec<Row> {
        // keep[i]: node i or something below it passes the filter and toggles.
        let mut keep = vec![false; self.nodes.len()];
        for i in (1..self.nodes.len()).rev() {
            let n = &self.nodes[i];
            let self_ok = !hidden.hides(n.diff) && (filter.is_empty() || n.path.contains(filter));
            let child_ok = n.children.iter().any(|c| keep[*c]);
            keep[i] = if n.children.is_empty() {
                self_ok
            } else {
                child_ok || (self_ok && filter.is_empty() && !hidden.hides(n.diff))
            };
        }
        let mut out = Vec::new();
        let mut todo: Vec<usize> = self.nodes[0].children.iter().rev().copied().collect();
        while let Some(i) = todo.pop() {
            if !keep[i] {
                continue;
            }
            let is_collapsed = collapsed.contains(&self.nodes[i].path);
            out.push(Row {
                index: i,
                collapsed: is_collapsed,
            });
            if !is_collapsed {
                todo.extend(self.nodes[i].children.iter().rev().copied());
            }
        }
        out
    }
}

/// `drwxr-xr-x`-style permissions.
pub fn mode_string(node: Option<&Node>, is_dir: bool) -> String {
    let Some(n) = node else {
        return if is_dir {
            "d---------".into()
        } else {
            "----------".into()
        };
    };
    let t = match n.kind {
        EntryKind::Dir => 'd',
        EntryKind::Symlink => 'l',
        EntryKind::Other => 'c',
        _ => '-',
    };
    let mut s = String::with_capacity(10);
    s.push(t);
    for shift in [6u32, 3, 0] {
        let b = (n.mode >> shift) & 7;
        s.push(if b & 4 != 0 { 'r' } else { '-' });
        s.push(if b & 2 != 0 { 'w' } else { '-' });
        s.push(if b & 1 != 0 { 'x' } else { '-' });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{image, T};

    fn names(t: &FileTree, rows: &[Row]) -> Vec<String> {
        rows.iter().map(|r| t.nodes[r.index].path.clone()).collect()
    }

    #[test]
    fn aggregated_tree_marks_layer_changes_and_shows_removals() {
        let img = image(&[
            &[T::Dir("etc"), T::File("etc/a", 1), T::File("etc/b", 2)],
            &[
                T::Dir("etc"),
                T::File("etc/a", 3),
                T::Whiteout("etc/b"),
                T::File("new", 4),
            ],
        ]);
        let t = FileTree::for_layer(&img, 1, TreeMode::Aggregated);
        let rows = t.rows(&HashSet::new(), "", &Hidden::default());
        assert_eq!(names(&t, &rows), vec!["etc", "etc/a", "etc/b", "new"]);
        let diff = |p: &str| t.nodes.iter().find(|n| n.path == p).unwrap().diff;
        assert_eq!(diff("etc/a"), DiffType::Modified);
        assert_eq!(diff("etc/b"), DiffType::Removed);
        assert_eq!(diff("new"), DiffType::Added);
        assert_eq!(diff("etc"), DiffType::Modified);
        // Layer 0 view differs.
        let t0 = FileTree::for_layer(&img, 0, TreeMode::Aggregated);
        let rows0 = t0.rows(&HashSet::new(), "", &Hidden::default());
        assert_eq!(names(&t0, &rows0), vec!["etc", "etc/a", "etc/b"]);
        assert!(t0.nodes.iter().skip(1).all(|n| n.diff == DiffType::Added));
    }

    #[test]
    fn toggles_filter_and_collapse() {
        let img = image(&[
            &[
                T::Dir("etc"),
                T::File("etc/a", 1),
                T::Dir("usr"),
                T::File("usr/x", 1),
            ],
            &[T::Dir("etc"), T::File("etc/c", 3)],
        ]);
        let t = FileTree::for_layer(&img, 1, TreeMode::Aggregated);
        let none = HashSet::new();
        let hide_unmod = Hidden {
            unmodified: true,
            ..Hidden::default()
        };
        assert_eq!(
            names(&t, &t.rows(&none, "", &hide_unmod)),
            vec!["etc", "etc/c"]
        );
        let hide_added = Hidden {
            added: true,
            ..Hidden::default()
        };
        assert_eq!(
            names(&t, &t.rows(&none, "", &hide_added)),
            vec!["etc", "etc/a", "usr", "usr/x"]
        );
        assert_eq!(
            names(&t, &t.rows(&none, "usr", &Hidden::default())),
            vec!["usr", "usr/x"]
        );
        let collapsed: HashSet<String> = ["etc".to_string()].into();
        assert_eq!(
            names(&t, &t.rows(&collapsed, "", &Hidden::default())),
            vec!["etc", "usr", "usr/x"]
        );
        let only = FileTree::for_layer(&img, 1, TreeMode::LayerOnly);
        assert_eq!(
            names(&only, &only.rows(&none, "", &Hidden::default())),
            vec!["etc", "etc/c"]
        );
    }
}
