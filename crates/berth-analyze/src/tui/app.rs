//! TUI state and key handling, separate from drawing so it can be unit-tested.
//!
//! Keys follow dive's defaults: Tab switches pane, ↑/↓ or k/j move, PgUp/PgDn page,
//! Space collapses/expands a directory (Ctrl+Space all of them), Ctrl+F (or /) edits the path filter, Ctrl+A /
//! Ctrl+R / Ctrl+M / Ctrl+U toggle added / removed / modified / unmodified files,
//! Ctrl+L switches between this layer's changes and the aggregated tree, q / Ctrl+C quit.

use crate::efficiency::Analysis;
use crate::image::Image;
use crate::stack::Stack;
use crate::tree::{FileTree, Hidden, Row, TreeMode};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::HashSet;

/// Which pane has the focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Layers,
    Tree,
}

/// Everything the TUI shows.
pub struct App<'a> {
    pub image: &'a Image,
    pub analysis: &'a Analysis,
    pub layer: usize,
    pub pane: Pane,
    pub mode: TreeMode,
    pub tree: FileTree,
    pub rows: Vec<Row>,
    pub cursor: usize,
    pub offset: usize,
    pub collapsed: HashSet<String>,
    pub filter: String,
    pub editing_filter: bool,
    pub hidden: Hidden,
    pub quit: bool,
    /// Rows that fit in the tree pane (set by the view).
    pub page: usize,
    /// The tree must be rebuilt before the next use (layer or mode changed): deferred so
    /// that a burst of key presses costs one rebuild.
    dirty: bool,
    defer: bool,
    /// The stack of layers `0..n`, kept to make moving down cheap.
    cache: Option<(usize, Stack)>,
}

impl<'a> App<'a> {
    pub fn new(image: &'a Image, analysis: &'a Analysis) -> App<'a> {
        let mut app = App {
            image,
            analysis,
            layer: 0,
            pane: Pane::Layers,
            mode: TreeMode::Aggregated,
            tree: FileTree::build(Vec::new()),
            rows: Vec::new(),
            cursor: 0,
            offset: 0,
            collapsed: HashSet::new(),
            filter: String::new(),
            editing_filter: false,
            hidden: Hidden::default(),
            quit: false,
            page: 20,
            dirty: true,
            defer: false,
            cache: None,
        };
        app.rebuild_tree();
        app
    }

    fn rebuild_tree(&mut self) {
        self.dirty = true;
        self.cursor = 0;
        self.offset = 0;
        if !self.defer {
            self.sync();
        }
    }

    /// Rebuilds the tree if the layer or mode changed since it was built.
    pub fn sync(&mut self) {
        if !self.dirty {
            return;
        }
        // Moving down applies only the layers in between to the cached stack; moving up
        // replays from the bottom.
        let (n, mut stack) = match self.cache.take() {
            Some((n, st)) if n <= self.layer => (n, st),
            _ => (0, Stack::new()),
        };
        for l in self.image.layers.iter().take(self.layer).skip(n) {
            stack.apply(l.index, &l.entries);
        }
        self.tree = match self.image.layers.get(self.layer) {
            Some(layer) => FileTree::for_layer_from(stack.clone(), layer, self.mode),
            None => FileTree::build(Vec::new()),
        };
        self.cache = Some((self.layer, stack));
        self.dirty = false;
        self.refresh_rows();
    }

    /// Like a key press, but a layer change only marks the tree stale (see `sync`).
    pub fn on_key_deferred(&mut self, k: KeyEvent) {
        let layer_move = self.pane == Pane::Layers
            && !self.editing_filter
            && matches!(
                k.code,
                KeyCode::Up
                    | KeyCode::Down
                    | KeyCode::PageUp
                    | KeyCode::PageDown
                    | KeyCode::Home
                    | KeyCode::End
                    | KeyCode::Char('j')
                    | KeyCode::Char('k')
            );
        if !layer_move {
            // Anything else works on the tree: bring it up to date first.
            self.sync();
        }
        self.defer = layer_move;
        self.on_key(k);
        self.defer = false;
    }

    fn refresh_rows(&mut self) {
        self.rows = self.tree.rows(&self.collapsed, &self.filter, &self.hidden);
        if self.cursor >= self.rows.len() {
            self.cursor = self.rows.len().saturating_sub(1);
        }
    }

    fn select_layer(&mut self, l: usize) {
        if l < self.image.layers.len() && l != self.layer {
            self.layer = l;
            self.rebuild_tree();
        }
    }

    fn move_cursor(&mut self, delta: isize) {
        match self.pane {
            Pane::Layers => {
                let l = (self.layer as isize + delta)
                    .clamp(0, self.image.layers.len().saturating_sub(1) as isize);
                self.select_layer(l as usize);
            }
            Pane::Tree => {
                let max = self.rows.len().saturating_sub(1) as isize;
                self.cursor = (self.cursor as isize + delta).clamp(0, max.max(0)) as usize;
            }
        }
    }

    /// Handles one key press.
    pub fn on_key(&mut self, k: KeyEvent) {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && k.code == KeyCode::Char('c') {
            self.quit = true;
            return;
        }
        if self.editing_filter {
            match k.code {
                KeyCode::Enter | KeyCode::Esc | KeyCode::Tab => self.editing_filter = false,
                KeyCode::Backspace => {
                    self.filter.pop();
                    self.refresh_rows();
                }
                KeyCode::Char(c) if !ctrl => {
                    self.filter.push(c);
                    self.refresh_rows();
                }
                _ => {}
            }
            return;
        }
        match (k.code, ctrl) {
            (KeyCode::Char('q'), false) => self.quit = true,
            (KeyCode::Tab, _) | (KeyCode::BackTab, _) => {
                self.pane = if self.pane == Pane::Layers {
                    Pane::Tree
                } else {
                    Pane::Layers
                };
            }
            (KeyCode::Up, _) | (KeyCode::Char('k'), false) | (KeyCode::Char('p'), true) => {
                self.move_cursor(-1)
            }
            (KeyCode::Down, _) | (KeyCode::Char('j'), false) | (KeyCode::Char('n'), true) => {
                self.move_cursor(1)
            }
            (KeyCode::PageUp, _) => self.move_cursor(-(self.page.max(1) as isize)),
            (KeyCode::PageDown, _) => self.move_cursor(self.page.max(1) as isize),
            (KeyCode::Home, _) => self.move_cursor(-(isize::MAX / 2)),
            (KeyCode::End, _) => self.move_cursor(isize::MAX / 2),
            (KeyCode::Char(' '), false) if self.pane == Pane::Tree => self.toggle_collapse(),
            (KeyCode::Char(' '), true) | (KeyCode::Null, _) => self.toggle_collapse_all(),
            (KeyCode::Char('f'), true) | (KeyCode::Char('/'), false) => {
                self.editing_filter = true;
            }
            (KeyCode::Char('a'), true) => self.toggle(|h| &mut h.added),
            (KeyCode::Char('r'), true) => self.toggle(|h| &mut h.removed),
            // Ctrl+M arrives as Enter on most terminals.
            (KeyCode::Char('m'), true) | (KeyCode::Enter, _) => self.toggle(|h| &mut h.modified),
            (KeyCode::Char('u'), true) => self.toggle(|h| &mut h.unmodified),
            (KeyCode::Char('l'), true) => {
                self.mode = match self.mode {
                    TreeMode::Aggregated => TreeMode::LayerOnly,
                    TreeMode::LayerOnly => TreeMode::Aggregated,
                };
                self.rebuild_tree();
            }
            _ => {}
        }
    }

    fn toggle(&mut self, f: impl Fn(&mut Hidden) -> &mut bool) {
        let b = f(&mut self.hidden);
        *b = !*b;
        self.refresh_rows();
    }

    /// Ctrl+Space: collapse every directory, or expand all if any is collapsed.
    fn toggle_collapse_all(&mut self) {
        if self.collapsed.is_empty() {
            self.collapsed = self
                .tree
                .nodes
                .iter()
                .skip(1)
                .filter(|n| !n.children.is_empty())
                .map(|n| n.path.clone())
                .collect();
        } else {
            self.collapsed.clear();
        }
        self.refresh_rows();
    }

    fn toggle_collapse(&mut self) {
        let Some(row) = self.rows.get(self.cursor) else {
            return;
        };
        let node = &self.tree.nodes[row.index];
        if node.children.is_empty() {
            return;
        }
        let p = node.path.clone();
        if !self.collapsed.remove(&p) {
            self.collapsed.insert(p);
        }
        self.refresh_rows();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::efficiency::analyze;
    use crate::stack::DiffType;
    use crate::testutil::{image, T};

    fn key(c: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(c, m)
    }

    #[test]
    fn keys_move_layers_toggle_and_quit() {
        let img = image(&[&[T::Dir("a"), T::File("a/x", 1)], &[T::File("b", 2)]]);
        let an = analyze(&img);
        let mut app = App::new(&img, &an);
        assert_eq!(app.rows.len(), 2);
        app.on_key(key(KeyCode::Down, KeyModifiers::NONE));
        assert_eq!(app.layer, 1);
        assert_eq!(app.rows.len(), 3);
        app.on_key(key(KeyCode::Char('u'), KeyModifiers::CONTROL));
        assert_eq!(app.rows.len(), 1, "only the added file remains");
        app.on_key(key(KeyCode::Char('u'), KeyModifiers::CONTROL));
        app.on_key(key(KeyCode::Tab, KeyModifiers::NONE));
        assert_eq!(app.pane, Pane::Tree);
        app.on_key(key(KeyCode::Char(' '), KeyModifiers::NONE));
        assert_eq!(app.rows.len(), 2, "a collapsed");
        app.on_key(key(KeyCode::Char('f'), KeyModifiers::CONTROL));
        app.on_key(key(KeyCode::Char('b'), KeyModifiers::NONE));
        app.on_key(key(KeyCode::Enter, KeyModifiers::NONE));
        assert_eq!(app.rows.len(), 1);
        app.on_key(key(KeyCode::Char('l'), KeyModifiers::CONTROL));
        assert_eq!(app.mode, TreeMode::LayerOnly);
        app.on_key(key(KeyCode::Char('q'), KeyModifiers::NONE));
        assert!(app.quit);
    }

    #[test]
    fn ctrl_space_collapses_and_expands_all() {
        let img = image(&[&[
            T::Dir("a"),
            T::File("a/x", 1),
            T::Dir("b"),
            T::File("b/y", 1),
        ]]);
        let an = analyze(&img);
        let mut app = App::new(&img, &an);
        assert_eq!(app.rows.len(), 4);
        app.on_key(key(KeyCode::Char(' '), KeyModifiers::CONTROL));
        assert_eq!(app.rows.len(), 2);
        app.on_key(key(KeyCode::Char(' '), KeyModifiers::CONTROL));
        assert_eq!(app.rows.len(), 4);
    }

    #[test]
    fn deferred_layer_moves_rebuild_once_and_other_keys_see_a_fresh_tree() {
        let img = image(&[
            &[T::Dir("a"), T::File("a/x", 1)],
            &[T::File("b", 2)],
            &[T::Dir("c"), T::File("c/z", 3)],
        ]);
        let an = analyze(&img);
        let mut app = App::new(&img, &an);
        app.on_key_deferred(key(KeyCode::Down, KeyModifiers::NONE));
        app.on_key_deferred(key(KeyCode::Down, KeyModifiers::NONE));
        assert_eq!(app.layer, 2);
        assert!(app.dirty, "two moves, no rebuild yet");
        app.on_key_deferred(key(KeyCode::Tab, KeyModifiers::NONE));
        assert!(!app.dirty);
        assert_eq!(app.rows.len(), 5, "tree of layer 2: a, a/x, b, c, c/z");
    }

    #[test]
    fn cached_stack_gives_the_same_tree_as_a_fresh_replay() {
        let img = image(&[
            &[T::Dir("a"), T::File("a/x", 1), T::File("a/y", 1)],
            &[T::Whiteout("a/x"), T::File("b", 2)],
            &[T::Dir("a"), T::Opaque("a"), T::File("a/z", 3)],
        ]);
        let an = analyze(&img);
        let mut app = App::new(&img, &an);
        let paths = |t: &FileTree| -> Vec<(String, DiffType)> {
            t.nodes.iter().map(|n| (n.path.clone(), n.diff)).collect()
        };
        for (k, want) in [
            (KeyCode::Down, 1),
            (KeyCode::Down, 2),
            (KeyCode::Up, 1),
            (KeyCode::Down, 2),
        ] {
            app.on_key(key(k, KeyModifiers::NONE));
            assert_eq!(app.layer, want);
            let fresh = FileTree::for_layer(&img, want, TreeMode::Aggregated);
            assert_eq!(paths(&app.tree), paths(&fresh), "layer {want}");
        }
    }
}
