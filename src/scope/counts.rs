//! TF's `variable_scopes_count` for one (graph, thread): how many times each full
//! variable-scope name has been opened, which is what default names are uniquified
//! against (`blk`, `blk_1`, …).
//!
//! TF changes the counters in three ways, and each costs here what it touches, so
//! that building `n` scopes costs `O(n log n)` however they nest (TF's own loops are
//! quadratic):
//!
//! * opening a scope increments its name's counter ([`ScopeCounts::increment`]);
//! * leaving a scope opened by name zeroes every counter under it
//!   ([`ScopeCounts::zero_under`], a range of the ordered map);
//! * leaving a re-entered scope *object* restores every counter to what it was on
//!   entry (TF's behaviour, tensorflow#15296). Instead of copying the whole map on
//!   entry, [`ScopeCounts::snapshot`] starts an undo log of the changes made while the
//!   snapshot is open, and [`ScopeCounts::restore`] undoes them.

use crate::slot_map::Key;
use std::collections::BTreeMap;
use std::ops::Bound;

/// The counters, with an undo log while snapshots are open.
#[derive(Debug, Default)]
pub(crate) struct ScopeCounts {
    /// Full scope name → times opened; a missing name counts 0.
    map: BTreeMap<Key, u64>,
    /// Changes since the oldest open snapshot: each key with its previous value.
    journal: Vec<(Key, Option<u64>)>,
    /// Open snapshots.
    open: usize,
    /// Reused for the bounds of [`zero_under`](Self::zero_under)'s range, so leaving
    /// a scope allocates nothing.
    bounds: String,
}

/// A point to restore the counters to (see [`ScopeCounts::snapshot`]).
#[derive(Debug)]
pub(crate) struct Snapshot(usize);

impl ScopeCounts {
    /// Times `name` has been opened.
    pub(crate) fn get(&self, name: &str) -> u64 {
        self.map.get(name).copied().unwrap_or(0)
    }

    /// Counts one more opening of `name`.
    pub(crate) fn increment(&mut self, name: &Key) {
        let slot = self.map.entry(name.clone()).or_insert(0);
        if self.open > 0 {
            self.journal
                .push((name.clone(), Some(*slot).filter(|&c| c > 0)));
        }
        *slot += 1;
    }

    /// Zeroes every counter under `{name}/` (a zero counter and a missing one are the
    /// same to TF, so they are removed).
    pub(crate) fn zero_under(&mut self, name: &str) {
        // The names under `name/` are those from `name/` up to `name0` ('0' is the
        // character after '/'): `bounds` holds `name/name0`, split at `lo`.
        let mut bounds = std::mem::take(&mut self.bounds);
        bounds.clear();
        bounds.push_str(name);
        bounds.push('/');
        let lo = bounds.len();
        bounds.push_str(name);
        bounds.push('0');
        let range = (
            Bound::Included(&bounds[..lo]),
            Bound::Excluded(&bounds[lo..]),
        );
        while let Some(k) = self
            .map
            .range::<str, _>(range)
            .next()
            .map(|(k, _)| k.clone())
        {
            if let Some(old) = self.map.remove(&*k) {
                if self.open > 0 {
                    self.journal.push((k, Some(old)));
                }
            }
        }
        self.bounds = bounds;
    }

    /// Marks the current counters; [`restore`](Self::restore) returns to them.
    /// Snapshots nest: they must be restored in reverse order.
    pub(crate) fn snapshot(&mut self) -> Snapshot {
        self.open += 1;
        Snapshot(self.journal.len())
    }

    /// Undoes every change made since `snapshot` was taken.
    pub(crate) fn restore(&mut self, snapshot: Snapshot) {
        let keep = snapshot.0.min(self.journal.len());
        for (k, old) in self.journal.drain(keep..).rev() {
            match old {
                Some(v) => {
                    self.map.insert(k, v);
                }
                None => {
                    self.map.remove(&*k);
                }
            }
        }
        self.open = self.open.saturating_sub(1);
        if self.open == 0 {
            self.journal.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Key {
        Key::from(s)
    }

    #[test]
    fn zero_under_removes_exactly_the_names_below() {
        let mut c = ScopeCounts::default();
        for n in ["a", "a/b", "a/b/c", "a0", "a.b", "a_1/x", "ab/c", "a/"] {
            c.increment(&key(n));
        }
        c.zero_under("a");
        for (n, want) in [("a", 1), ("a/b", 0), ("a/b/c", 0), ("a/", 0)] {
            assert_eq!(c.get(n), want, "{n}");
        }
        for n in ["a0", "a.b", "a_1/x", "ab/c"] {
            assert_eq!(c.get(n), 1, "{n}");
        }
    }

    #[test]
    fn restore_undoes_increments_and_zeroing_in_nested_snapshots() {
        let mut c = ScopeCounts::default();
        c.increment(&key("s"));
        c.increment(&key("s/x"));
        let outer = c.snapshot();
        c.increment(&key("s/x"));
        c.increment(&key("t"));
        let inner = c.snapshot();
        c.zero_under("s");
        c.increment(&key("u"));
        c.restore(inner);
        assert_eq!((c.get("s/x"), c.get("t"), c.get("u")), (2, 1, 0));
        c.restore(outer);
        assert_eq!((c.get("s"), c.get("s/x"), c.get("t")), (1, 1, 0));
        assert!(c.journal.is_empty());
        // Without an open snapshot nothing is logged.
        c.increment(&key("v"));
        assert!(c.journal.is_empty());
    }
}
