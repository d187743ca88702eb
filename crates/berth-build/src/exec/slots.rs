//! Build slots: the context directories the builder keeps between builds, and which
//! one a new build gets.
//!
//! A slot's directory holds the context of the last build that ran in it, so the next
//! build of the same context rewrites only what changed ([`crate::context`]). With a
//! single slot, alternating two contexts (a small project and a 200 MB one) re-extracted
//! the big one every other build; so the builder keeps up to [`MAX_IDLE`] slots and
//! gives a build the idle slot most likely to hold its previous context: the one
//! recorded under its upload key ([`crate::upload`]), else the one whose recorded paths
//! contain most of the new tar's first paths (the Dockerfile and `.dockerignore`, which
//! every context has, do not count), else an empty one, a new one while there are fewer
//! than [`MAX_IDLE`], or the least recently used. A wrong pick costs speed only: the
//! extraction compares content.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Slots kept for idle reuse (more exist only while that many builds run at once).
pub const MAX_IDLE: usize = 4;

#[derive(Default)]
struct State {
    busy: bool,
    /// The upload key of the context the slot holds.
    key: Option<String>,
    /// The client stamps recorded with that key.
    stamps: Arc<HashMap<String, String>>,
    /// Every path of the context the slot holds.
    paths: HashSet<String>,
    /// When the slot was last taken (a counter).
    used: u64,
    /// Builds that used the slot, and when the first and the last one started.
    uses: u64,
    created: Option<SystemTime>,
    last_used: Option<SystemTime>,
}

/// The builder's slot table.
#[derive(Default)]
pub(crate) struct Slots {
    inner: Mutex<(Vec<State>, u64)>,
}

/// A slot taken for one build: its index and the client stamps it recorded for the
/// build's key (empty if it holds another context).
pub(crate) struct Taken {
    pub index: usize,
    pub recorded: Arc<HashMap<String, String>>,
}

impl Slots {
    /// Takes the best idle slot for a build with upload `key` whose tar starts with
    /// `names` (see the module docs).
    pub fn take(&self, key: Option<&str>, names: &[String]) -> Taken {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (slots, clock) = &mut *g;
        *clock += 1;
        let idle = || slots.iter().enumerate().filter(|(_, s)| !s.busy);
        let by_key = key.and_then(|k| idle().find(|(_, s)| s.key.as_deref() == Some(k)));
        let by_names = || {
            idle()
                .map(|(i, s)| {
                    let score = names
                        .iter()
                        .filter(|n| !is_build_file(n) && s.paths.contains(n.as_str()))
                        .count();
                    (i, score)
                })
                .filter(|(_, score)| *score > 0)
                .max_by_key(|(i, score)| (*score, usize::MAX - i))
                .map(|(i, _)| i)
        };
        let empty = || idle().find(|(_, s)| s.paths.is_empty()).map(|(i, _)| i);
        let lru = || idle().min_by_key(|(_, s)| s.used).map(|(i, _)| i);
        let index = match by_key.map(|(i, _)| i).or_else(by_names).or_else(empty) {
            Some(i) => i,
            None if slots.len() < MAX_IDLE => {
                slots.push(State::default());
                slots.len() - 1
            }
            None => match lru() {
                Some(i) => i,
                None => {
                    slots.push(State::default());
                    slots.len() - 1
                }
            },
        };
        let s = &mut slots[index];
        s.busy = true;
        s.used = *clock;
        let now = SystemTime::now();
        if s.paths.is_empty() {
            s.uses = 0;
            s.created = Some(now);
        }
        s.uses += 1;
        s.last_used = Some(now);
        let recorded = if key.is_some() && s.key.as_deref() == key {
            s.stamps.clone()
        } else {
            Arc::default()
        };
        Taken { index, recorded }
    }

    /// Frees slot `index`, recording what it now holds (`None`: nothing, its
    /// directory was removed).
    pub fn release(&self, index: usize, holds: Option<Holding>) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Some(s) = g.0.get_mut(index) else { return };
        s.busy = false;
        match holds {
            Some(h) => {
                s.key = h.key;
                s.stamps = Arc::new(h.stamps);
                s.paths = h.paths;
            }
            None => {
                s.key = None;
                s.stamps = Arc::default();
                s.paths = HashSet::new();
            }
        }
    }

    /// What each slot holding a context is: for `docker system df`.
    pub fn records(&self) -> Vec<SlotRecord> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.0.iter()
            .enumerate()
            .filter(|(_, s)| s.busy || !s.paths.is_empty())
            .map(|(index, s)| SlotRecord {
                index,
                in_use: s.busy,
                uses: s.uses,
                created: s.created,
                last_used: s.last_used,
            })
            .collect()
    }

    /// Takes every idle slot holding a context whose last use is not after `until`,
    /// for removal: they stay busy (no build gets them) until released.
    pub fn take_for_prune(&self, until: Option<SystemTime>) -> Vec<usize> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for (i, s) in g.0.iter_mut().enumerate() {
            let old_enough = match (until, s.last_used) {
                (Some(u), Some(l)) => l <= u,
                _ => true,
            };
            if !s.busy && !s.paths.is_empty() && old_enough {
                s.busy = true;
                out.push(i);
            }
        }
        out
    }

    /// The client stamps recorded for upload `key` by an idle slot.
    pub fn stamps_for(&self, key: &str) -> Option<Arc<HashMap<String, String>>> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.0.iter()
            .find(|s| !s.busy && s.key.as_deref() == Some(key))
            .map(|s| s.stamps.clone())
    }
}

/// One slot holding a context (see [`Slots::records`]).
#[derive(Debug, Clone)]
pub struct SlotRecord {
    pub index: usize,
    pub in_use: bool,
    pub uses: u64,
    pub created: Option<SystemTime>,
    pub last_used: Option<SystemTime>,
}

/// What a slot holds after a build.
pub(crate) struct Holding {
    pub key: Option<String>,
    pub stamps: HashMap<String, String>,
    pub paths: HashSet<String>,
}

fn is_build_file(n: &str) -> bool {
    n == "Dockerfile" || n == "dockerfile" || n == ".dockerignore"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(key: Option<&str>, paths: &[&str]) -> Option<Holding> {
        Some(Holding {
            key: key.map(str::to_string),
            stamps: paths.iter().map(|p| (p.to_string(), "s".into())).collect(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
        })
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn alternating_contexts_keep_their_own_slots() {
        let s = Slots::default();
        let big = s.take(None, &names(&["Dockerfile", "data", "data/f1"]));
        s.release(big.index, hold(None, &["Dockerfile", "data", "data/f1"]));
        // The small context shares only the Dockerfile: it gets a new slot.
        let small = s.take(None, &names(&["Dockerfile", "app.sh"]));
        assert_ne!(small.index, big.index);
        s.release(small.index, hold(None, &["Dockerfile", "app.sh"]));
        assert_eq!(
            s.take(None, &names(&["Dockerfile", "data", "data/f1"]))
                .index,
            big.index
        );
        assert_eq!(
            s.take(None, &names(&["Dockerfile", "app.sh"])).index,
            small.index
        );
    }

    #[test]
    fn keys_win_and_stamps_follow_the_key() {
        let s = Slots::default();
        let a = s.take(Some("ka"), &[]);
        s.release(a.index, hold(Some("ka"), &["x"]));
        let b = s.take(Some("kb"), &names(&["x"]));
        // "x" matches a's paths, but a busy slot is never shared and b's key differs:
        // b took a's slot by name (it is idle) and gets no stamps of ka.
        assert_eq!(b.index, a.index);
        assert!(b.recorded.is_empty());
        s.release(b.index, hold(Some("kb"), &["x"]));
        assert!(s.stamps_for("ka").is_none());
        assert_eq!(s.stamps_for("kb").map(|m| m.len()), Some(1));
        let again = s.take(Some("kb"), &[]);
        assert_eq!(again.recorded.get("x").map(String::as_str), Some("s"));
        // Taken: not offered to a second build.
        assert!(s.stamps_for("kb").is_none());
        s.release(again.index, None);
        assert!(s.stamps_for("kb").is_none());
    }

    #[test]
    fn prune_takes_idle_slots_with_content_only() {
        let s = Slots::default();
        let a = s.take(None, &names(&["a"]));
        s.release(a.index, hold(None, &["a"]));
        let b = s.take(None, &names(&["b"]));
        // b is busy (a build runs in it): not pruned, but listed in use.
        let recs = s.records();
        assert_eq!(recs.len(), 2);
        assert!(recs.iter().any(|r| r.index == b.index && r.in_use));
        assert!(s.take_for_prune(Some(SystemTime::UNIX_EPOCH)).is_empty());
        let taken = s.take_for_prune(None);
        assert_eq!(taken, vec![a.index]);
        // Taken for removal: a new build does not get it.
        let c = s.take(None, &names(&["a"]));
        assert!(c.index != a.index && c.index != b.index);
        s.release(a.index, None);
        assert_eq!(s.records().len(), 2);
    }

    #[test]
    fn at_most_max_idle_slots_then_least_recently_used() {
        let s = Slots::default();
        for i in 0..MAX_IDLE + 2 {
            let p = format!("f{i}");
            let t = s.take(None, &names(&[&p]));
            s.release(t.index, hold(None, &[&p]));
        }
        let g = s.inner.lock().unwrap();
        assert_eq!(g.0.len(), MAX_IDLE);
        drop(g);
        // f0 and f1 were evicted by f4 and f5; f2 is now the oldest.
        let t = s.take(None, &names(&["new"]));
        let g = s.inner.lock().unwrap();
        assert!(g.0[t.index].paths.contains("f2"));
        // All busy: a new slot beyond the idle limit.
        drop(g);
        let busy: Vec<_> = (0..MAX_IDLE).map(|_| s.take(None, &[])).collect();
        assert_eq!(busy.last().map(|t| t.index), Some(MAX_IDLE));
    }
}
