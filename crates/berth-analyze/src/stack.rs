//! Layers applied in order, the way an overlay mount (or `docker export`) sees them:
//! whiteouts delete a path and everything under it, opaque markers hide the lower
//! contents of a directory, a non-directory replacing a directory hides its contents.
//!
//! `Stack::apply` returns what each layer changed (added/modified/removed) and which
//! lower copies it made invisible ("shadowed"): those bytes are stored in the image but
//! can never be seen, which is the corrected notion of wasted space.

use crate::layer::{EntryKind, LayerEntry};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// How a path changed in a layer, relative to the layers below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DiffType {
    Unmodified,
    Added,
    Modified,
    Removed,
}

/// A visible path in the stacked filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: EntryKind,
    pub size: u64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub link: Option<String>,
    /// The layer that wrote this copy.
    pub layer: usize,
}

impl Node {
    fn from_entry(e: &LayerEntry, layer: usize) -> Node {
        Node {
            kind: e.kind,
            size: e.size,
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            link: e.link.clone(),
            layer,
        }
    }
}

/// One change made by a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub diff: DiffType,
    /// For removals, the removed node; otherwise the new node.
    pub node: Node,
}

/// A lower copy of a path made invisible by a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadowed {
    pub path: String,
    pub bytes: u64,
    /// The layer that stored the now-invisible copy.
    pub from_layer: usize,
}

/// What applying one layer did.
#[derive(Debug, Clone, Default)]
pub struct LayerDiff {
    pub changes: Vec<Change>,
    pub shadowed: Vec<Shadowed>,
    /// Whiteouts of paths that did not exist below (dive aborts the layer on these).
    pub dangling_whiteouts: Vec<String>,
}

/// The stacked filesystem: every visible path (explicit entries only; parent
/// directories that no layer listed are implied).
#[derive(Debug, Clone, Default)]
pub struct Stack {
    pub visible: BTreeMap<String, Node>,
    /// Visible hardlinks by (layer, target): a shadowed file whose data a hardlink of
    /// the same layer still shows is not wasted; the link takes over its size.
    links: HashMap<(usize, String), Vec<String>>,
}

/// Keys under `dir` (exclusive) in a path-sorted map: `dir/…`, or everything for the root.
pub fn subtree_keys<V>(map: &BTreeMap<String, V>, dir: &str) -> Vec<String> {
    if dir.is_empty() {
        return map.keys().cloned().collect();
    }
    let prefix = format!("{dir}/");
    map.range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect()
}

impl Stack {
    pub fn new() -> Stack {
        Stack::default()
    }

    /// Records that the copy `node` of `path` is no longer visible: its bytes are wasted
    /// unless a visible hardlink of the same layer still shows the data.
    fn shadow(&mut self, path: &str, node: &Node, diff: &mut LayerDiff) {
        if node.kind == EntryKind::Hardlink {
            if let Some(t) = node.link.as_deref().and_then(crate::layer::clean_path) {
                if let Some(v) = self.links.get_mut(&(node.layer, t)) {
                    v.retain(|p| p != path);
                }
            }
        }
        if node.kind != EntryKind::File && node.kind != EntryKind::Hardlink {
            return;
        }
        if node.kind == EntryKind::File && node.size > 0 {
            let key = (node.layer, path.to_string());
            let heir = self.links.get_mut(&key).and_then(|v| {
                if v.is_empty() {
                    None
                } else {
                    Some(v.remove(0))
                }
            });
            if let Some(h) = heir {
                if let Some(link) = self.visible.get_mut(&h) {
                    link.size = node.size;
                    link.link = None;
                    link.kind = EntryKind::File;
                    // Other links to the same data now point at the heir.
                    if let Some(rest) = self.links.remove(&key) {
                        self.links
                            .entry((node.layer, h.clone()))
                            .or_default()
                            .extend(rest);
                    }
                    return;
                }
            }
        }
        if node.size > 0 {
            diff.shadowed.push(Shadowed {
                path: path.to_string(),
                bytes: node.size,
                from_layer: node.layer,
            });
        }
    }

    fn remove_subtree(&mut self, dir: &str, include_self: bool, diff: &mut LayerDiff) -> bool {
        let mut keys = subtree_keys(&self.visible, dir);
        if include_self && self.visible.contains_key(dir) {
            keys.insert(0, dir.to_string());
        }
        let any = !keys.is_empty();
        for k in keys {
            if let Some(node) = self.visible.remove(&k) {
                self.shadow(&k, &node, diff);
                diff.changes.push(Change {
                    path: k,
                    diff: DiffType::Removed,
                    node,
                });
            }
        }
        any
    }

    /// Applies layer `index` on top of the stack. Deletions (opaque markers, whiteouts)
    /// apply to lower layers only, so they are done before the layer's own entries.
    pub fn apply(&mut self, index: usize, entries: &[LayerEntry]) -> LayerDiff {
        let mut diff = LayerDiff::default();
        for e in entries {
            match e.kind {
                EntryKind::Opaque => {
                    self.remove_subtree(&e.path, false, &mut diff);
                }
                EntryKind::Whiteout if !self.remove_subtree(&e.path, true, &mut diff) => {
                    tracing::debug!(layer = index, path = %e.path, "whiteout of a path that does not exist below");
                    diff.dangling_whiteouts.push(e.path.clone());
                }
                _ => {}
            }
        }
        for e in entries {
            if matches!(e.kind, EntryKind::Opaque | EntryKind::Whiteout) {
                continue;
            }
            let new = Node::from_entry(e, index);
            let kind = match self.visible.get(&e.path) {
                None => DiffType::Added,
                Some(old) => {
                    if old.kind == EntryKind::Dir {
                        if e.kind != EntryKind::Dir {
                            self.remove_subtree(&e.path, false, &mut diff);
                            DiffType::Modified
                        } else if old.mode != new.mode || old.uid != new.uid || old.gid != new.gid {
                            DiffType::Modified
                        } else {
                            DiffType::Unmodified
                        }
                    } else {
                        let old = old.clone();
                        self.shadow(&e.path, &old, &mut diff);
                        DiffType::Modified
                    }
                }
            };
            if e.kind == EntryKind::Hardlink {
                if let Some(t) = e.link.as_deref().and_then(crate::layer::clean_path) {
                    self.links
                        .entry((index, t))
                        .or_default()
                        .push(e.path.clone());
                }
            }
            self.visible.insert(e.path.clone(), new.clone());
            diff.changes.push(Change {
                path: e.path.clone(),
                diff: kind,
                node: new,
            });
        }
        diff
    }

    /// Σ sizes of everything visible.
    pub fn visible_bytes(&self) -> u64 {
        self.visible.values().map(|n| n.size).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(path: &str, kind: EntryKind, size: u64) -> LayerEntry {
        LayerEntry {
            path: path.into(),
            kind,
            size,
            mode: 0o644,
            uid: 0,
            gid: 0,
            link: None,
            type_flag: b'0',
        }
    }

    #[test]
    fn overwrite_shadows_lower_copy() {
        let mut s = Stack::new();
        s.apply(0, &[e("a", EntryKind::File, 10)]);
        let d = s.apply(1, &[e("a", EntryKind::File, 3)]);
        assert_eq!(d.changes[0].diff, DiffType::Modified);
        assert_eq!(d.shadowed.len(), 1);
        assert_eq!(d.shadowed[0].bytes, 10);
        assert_eq!(s.visible_bytes(), 3);
    }

    #[test]
    fn opaque_hides_only_lower_contents() {
        let mut s = Stack::new();
        s.apply(
            0,
            &[
                e("d", EntryKind::Dir, 0),
                e("d/x", EntryKind::File, 5),
                e("e", EntryKind::File, 1),
            ],
        );
        let d = s.apply(
            1,
            &[e("d", EntryKind::Opaque, 0), e("d/y", EntryKind::File, 2)],
        );
        assert!(s.visible.contains_key("d"));
        assert!(!s.visible.contains_key("d/x"));
        assert!(s.visible.contains_key("d/y"));
        assert!(s.visible.contains_key("e"));
        assert_eq!(d.shadowed.iter().map(|x| x.bytes).sum::<u64>(), 5);
        let removed: Vec<_> = d
            .changes
            .iter()
            .filter(|c| c.diff == DiffType::Removed)
            .map(|c| c.path.as_str())
            .collect();
        assert_eq!(removed, vec!["d/x"]);
    }

    #[test]
    fn dangling_whiteout_is_recorded_not_fatal() {
        let mut s = Stack::new();
        s.apply(0, &[e("a", EntryKind::File, 1)]);
        let d = s.apply(
            1,
            &[
                e("nope", EntryKind::Whiteout, 0),
                e("b", EntryKind::File, 2),
            ],
        );
        assert_eq!(d.dangling_whiteouts, vec!["nope".to_string()]);
        assert!(s.visible.contains_key("b"));
    }

    #[test]
    fn whiteout_of_dir_removes_subtree_but_not_siblings_with_same_prefix() {
        let mut s = Stack::new();
        s.apply(
            0,
            &[
                e("d", EntryKind::Dir, 0),
                e("d/a", EntryKind::File, 4),
                e("d-b", EntryKind::File, 7),
            ],
        );
        let d = s.apply(1, &[e("d", EntryKind::Whiteout, 0)]);
        assert_eq!(d.shadowed.iter().map(|x| x.bytes).sum::<u64>(), 4);
        assert!(s.visible.contains_key("d-b"));
        assert_eq!(s.visible.len(), 1);
    }
}
