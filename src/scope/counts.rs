//! TF's `variable_scopes_count` for one (graph, thread): how many times each full
//! variable-scope name has been opened, which is what default names are uniquified
//! against (`blk`, `blk_1`, …).
//!
//! TF changes the counters in three ways, and each costs here what it touches, so
//! that building `n` scopes costs `O(n)` however they nest (TF's own loops are
//! quadratic):
//!
//! * opening a scope increments its name's counter ([`ScopeCounts::increment`]);
//! * leaving a scope opened by name zeroes every counter under it
//!   ([`ScopeCounts::zero_under`]);
//! * leaving a re-entered scope *object* restores every counter to what it was on
//!   entry (TF's behaviour, tensorflow#15296). Instead of copying the whole map on
//!   entry, [`ScopeCounts::snapshot`] starts an undo log of the changes made while the
//!   snapshot is open, and [`ScopeCounts::restore`] undoes them.
//!
//! The counters form a tree of name components (`a/b` is child `b` of child `a`), so
//! the counters under `a/` are exactly `a`'s subtree. Zeroing them bumps `a`'s
//! *epoch*: a child written under an older epoch of its parent counts as zero, with
//! everything below it, and is reset when next written. Leaving a scope therefore
//! touches one node, and opening `a/b` again finds `b`'s node and its copy of the
//! name still there (a node with many children is cleared for real instead, so stale
//! names do not pile up). And when nothing was counted at all since a scope whose
//! subtree was all zero opened (a layer that only creates variables), leaving it
//! skips even that: the opening hands out an [`Untouched`] proof, the counters'
//! write count, which the leaving checks. A node is keyed by a slice of a full
//! scope name the scope objects already share, so counting allocates nothing once
//! the tables have grown.

use crate::slot_map::Key;
use hashbrown::hash_table::{Entry, HashTable};
use std::hash::{BuildHasher, Hasher};

/// One name component's counter and the components below it.
#[derive(Debug, Default)]
struct Node {
    /// Times the full name of this node has been opened (0: as if missing).
    count: u64,
    /// Bumped to zero every counter below: only children whose `seen` equals it are
    /// live.
    epoch: u64,
    /// Whether a child may be live: set when one is written, cleared when the
    /// children are zeroed. `false` means every counter below is zero.
    live_below: bool,
    children: HashTable<Child>,
}

/// A child node, keyed by `name[start..end]`: `name` is a full scope name that runs
/// through this node (the node's own full name is `name[..end]`).
#[derive(Debug)]
struct Child {
    name: Key,
    start: u32,
    end: u32,
    /// The parent's epoch when this child was last written; an older one means the
    /// child and its subtree are zero.
    seen: u64,
    node: Node,
}

impl Child {
    fn component(&self) -> &str {
        &self.name[self.start as usize..self.end as usize]
    }

    /// Makes a stale child (zeroed by its parent) live again, as zero with nothing
    /// below: which is what it already stood for.
    fn revive(&mut self, parent_epoch: u64) {
        if self.seen != parent_epoch {
            self.seen = parent_epoch;
            self.node.count = 0;
            self.node.zero_children();
        }
    }
}

/// A node with more children than this is cleared when zeroed, instead of having its
/// epoch bumped, so that names opened once do not stay in the tree.
const KEEP_CHILDREN: usize = 64;

fn hash(component: &str) -> u64 {
    let mut h = rustc_hash::FxBuildHasher.build_hasher();
    h.write(component.as_bytes());
    h.write_u8(0xff);
    h.finish()
}

/// The components of a full name: `split('/')`, so that every string (`""`, `a/`,
/// `/a`) has its own path and the names under `n/` are exactly `n`'s subtree.
fn components(name: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut start = 0;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let end = name.as_bytes()[start..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(name.len(), |i| start + i);
        let item = (start, end);
        if end == name.len() {
            done = true;
        } else {
            start = end + 1;
        }
        Some(item)
    })
}

/// The counters, with an undo log while snapshots are open.
#[derive(Debug, Default)]
pub(crate) struct ScopeCounts {
    /// The tree's root: no name of its own (`""` is its child `""`).
    root: Node,
    /// Changes since the oldest open snapshot: each name with its previous count.
    journal: Vec<(Key, u64)>,
    /// Open snapshots.
    open: usize,
    /// Bumped whenever a counter is set to a value that may be nonzero (an
    /// increment, a restore): see [`Untouched`].
    writes: u64,
}

/// Proof, taken when a scope is opened, that every counter under it is zero; it
/// still holds when it is handed back with no counter written in between, and then
/// leaving the scope has nothing to zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Untouched(u64);

/// A point to restore the counters to (see [`ScopeCounts::snapshot`]).
#[derive(Debug)]
pub(crate) struct Snapshot(usize);

/// The live node of `name` under `root`, if any (as the child holding it).
fn find<'n>(root: &'n Node, name: &str) -> Option<&'n Child> {
    let mut node = root;
    for (start, end) in components(name) {
        let component = &name[start..end];
        let c = node
            .children
            .find(hash(component), |c| c.component() == component)
            .filter(|c| c.seen == node.epoch)?;
        if end == name.len() {
            return Some(c);
        }
        node = &c.node;
    }
    None
}

/// The node of `name` under `root`, if it exists, made live (stale nodes on the way
/// are revived as zero, which changes no counter).
fn find_mut<'n>(root: &'n mut Node, name: &str) -> Option<&'n mut Child> {
    let mut node = root;
    for (start, end) in components(name) {
        let component = &name[start..end];
        let epoch = node.epoch;
        node.live_below = true;
        let c = node
            .children
            .find_mut(hash(component), |c| c.component() == component)?;
        c.revive(epoch);
        if end == name.len() {
            return Some(c);
        }
        node = &mut c.node;
    }
    None
}

impl Node {
    /// The child `name[start..end]`, inserted (count 0) when missing.
    fn child_mut(&mut self, name: &Key, start: usize, end: usize) -> &mut Node {
        let component = &name[start..end];
        let epoch = self.epoch;
        self.live_below = true;
        match self.children.entry(
            hash(component),
            |c| c.component() == component,
            |c| hash(c.component()),
        ) {
            Entry::Occupied(o) => {
                let c = o.into_mut();
                c.revive(epoch);
                &mut c.node
            }
            Entry::Vacant(v) => {
                let (start, end) = (start as u32, end as u32);
                let child = Child {
                    name: name.clone(),
                    start,
                    end,
                    seen: epoch,
                    node: Node::default(),
                };
                &mut v.insert(child).into_mut().node
            }
        }
    }

    /// Zeroes every counter below this node: one epoch bump, or a real clear when
    /// the node has many children.
    fn zero_children(&mut self) {
        if self.children.len() > KEEP_CHILDREN {
            self.children.clear();
        }
        self.epoch += 1;
        self.live_below = false;
    }

    /// Every nonzero counter in this node's subtree, with its full name.
    fn collect_nonzero(&self, out: &mut Vec<(Key, u64)>) {
        for c in self.children.iter().filter(|c| c.seen == self.epoch) {
            if c.node.count > 0 {
                let name = if c.end as usize == c.name.len() {
                    c.name.clone()
                } else {
                    Key::from(&c.name[..c.end as usize])
                };
                out.push((name, c.node.count));
            }
            c.node.collect_nonzero(out);
        }
    }
}

impl ScopeCounts {
    fn node_mut(&mut self, name: &Key) -> &mut Node {
        let mut node = &mut self.root;
        for (start, end) in components(name) {
            node = node.child_mut(name, start, end);
        }
        node
    }

    /// Times `name` has been opened.
    pub(crate) fn get(&self, name: &str) -> u64 {
        find(&self.root, name).map_or(0, |c| c.node.count)
    }

    /// Counts one more opening of `name`.
    pub(crate) fn increment(&mut self, name: &Key) {
        self.writes += 1;
        let logging = self.open > 0;
        let node = self.node_mut(name);
        let old = node.count;
        node.count += 1;
        if logging {
            self.journal.push((name.clone(), old));
        }
    }

    /// Counts one more opening of `name` and returns it as a shared name: the
    /// counter's own copy when it has one (a scope opened again under the same
    /// parent allocates no name), else a new one that the counter keeps.
    ///
    /// Also returns an [`Untouched`] when every counter under `name` is zero, for
    /// [`zero_under`](Self::zero_under).
    pub(crate) fn increment_named(&mut self, name: &str) -> (Key, Option<Untouched>) {
        let logging = self.open > 0;
        let live_below = match find_mut(&mut self.root, name) {
            Some(c) if c.end as usize == c.name.len() => {
                self.writes += 1;
                let old = c.node.count;
                c.node.count += 1;
                let key = c.name.clone();
                let untouched = (!c.node.live_below).then_some(Untouched(self.writes));
                if logging {
                    self.journal.push((key.clone(), old));
                }
                return (key, untouched);
            }
            // A node keyed by a longer name (made for a name under it).
            Some(c) => c.node.live_below,
            None => false,
        };
        let key = Key::from(name);
        self.increment(&key);
        let untouched = (!live_below).then_some(Untouched(self.writes));
        (key, untouched)
    }

    /// Zeroes every counter under `{name}/`. With `untouched` from the opening of
    /// `name` and no counter written since, they are all zero still: nothing to do.
    pub(crate) fn zero_under(&mut self, name: &str, untouched: Option<Untouched>) {
        if untouched == Some(Untouched(self.writes)) {
            return;
        }
        let Some(Child { node, .. }) = find_mut(&mut self.root, name) else {
            return;
        };
        if node.children.is_empty() {
            return;
        }
        if self.open > 0 {
            node.collect_nonzero(&mut self.journal);
        }
        node.zero_children();
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
        let undo = self.journal.split_off(keep);
        for (k, old) in undo.into_iter().rev() {
            self.writes += 1;
            self.node_mut(&k).count = old;
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
    fn a_name_opened_again_is_the_counters_copy() {
        let mut c = ScopeCounts::default();
        let a = c.increment_named("a").0;
        let again = c.increment_named("a").0;
        assert!(std::sync::Arc::ptr_eq(&a, &again));
        assert_eq!(c.get("a"), 2);
        // A node made on the way to a deeper name has no copy of its own name yet.
        c.increment_named("x/y");
        let x = c.increment_named("x").0;
        assert_eq!((&*x, c.get("x"), c.get("x/y")), ("x", 1, 1));
        // Zeroing keeps the node and its copy of the name; the count starts over.
        let ab = c.increment_named("a/b").0;
        c.increment_named("a/b/c");
        c.zero_under("a", None);
        assert_eq!((c.get("a/b"), c.get("a/b/c")), (0, 0));
        let ab2 = c.increment_named("a/b").0;
        assert!(std::sync::Arc::ptr_eq(&ab, &ab2));
        assert_eq!((c.get("a/b"), c.get("a/b/c")), (1, 0));
    }

    #[test]
    fn leaving_an_untouched_scope_skips_only_what_is_zero() {
        let mut c = ScopeCounts::default();
        // Nothing opened under `b` since it was opened: its proof holds.
        let (_, b) = c.increment_named("b");
        assert!(b.is_some());
        let epoch = find(&c.root, "b").unwrap().node.epoch;
        c.zero_under("b", b);
        assert_eq!(find(&c.root, "b").unwrap().node.epoch, epoch, "skipped");
        // A counter written since voids it.
        let (_, b) = c.increment_named("b");
        c.increment_named("b/c");
        c.zero_under("b", b);
        assert_eq!(c.get("b/c"), 0);
        // A counter under the name from before its opening: no proof at all.
        c.increment_named("a/x");
        let (_, a) = c.increment_named("a");
        assert_eq!(a, None);
        c.zero_under("a", a);
        assert_eq!((c.get("a"), c.get("a/x")), (1, 0));
        // Once zeroed, the next opening has one again.
        assert!(c.increment_named("a").1.is_some());
    }

    #[test]
    fn zeroing_a_node_with_many_children_drops_them() {
        let mut c = ScopeCounts::default();
        c.increment(&key("a"));
        for i in 0..=KEEP_CHILDREN {
            c.increment(&key(&format!("a/b{i}")));
        }
        c.zero_under("a", None);
        let a = find(&c.root, "a").unwrap();
        assert!(a.node.children.is_empty());
        assert_eq!((c.get("a"), c.get("a/b0")), (1, 0));
        // A few children are kept (stale) and reused.
        c.increment(&key("a/x"));
        c.zero_under("a", None);
        assert_eq!(find(&c.root, "a").unwrap().node.children.len(), 1);
        assert_eq!(c.get("a/x"), 0);
    }

    #[test]
    fn zero_under_removes_exactly_the_names_below() {
        let mut c = ScopeCounts::default();
        for n in ["a", "a/b", "a/b/c", "a0", "a.b", "a_1/x", "ab/c", "a/"] {
            c.increment(&key(n));
        }
        c.zero_under("a", None);
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
        c.zero_under("s", None);
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

    /// The flat model the tree replaces: TF's dict, zeroed by prefix.
    #[derive(Default)]
    struct Flat {
        map: std::collections::BTreeMap<String, u64>,
        saved: Vec<std::collections::BTreeMap<String, u64>>,
    }

    #[derive(Debug, Clone)]
    enum Op {
        Inc(String),
        Zero(String),
        Snap,
        Restore,
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        let name = || proptest::string::string_regex("(|a|b|a_1|/)(/(|a|b|c)){0,3}").unwrap();
        prop_oneof![
            4 => name().prop_map(Op::Inc),
            2 => name().prop_map(Op::Zero),
            1 => Just(Op::Snap),
            1 => Just(Op::Restore),
        ]
    }

    proptest::proptest! {
        #[test]
        fn tree_matches_tf_flat_counters(ops in proptest::collection::vec(op(), 0..60)) {
            let mut tree = ScopeCounts::default();
            let mut snaps = Vec::new();
            let mut flat = Flat::default();
            let mut tokens = std::collections::HashMap::new();
            for op in &ops {
                match op {
                    Op::Inc(n) => {
                        if n.len() % 2 == 0 {
                            tree.increment(&key(n));
                        } else {
                            let (k, untouched) = tree.increment_named(n);
                            assert_eq!(&*k, n.as_str());
                            tokens.insert(n.clone(), untouched);
                        }
                        *flat.map.entry(n.clone()).or_insert(0) += 1;
                    }
                    Op::Zero(n) => {
                        // The proof from the name's last opening, if any: writes
                        // since then must void it.
                        tree.zero_under(n, tokens.remove(n).flatten());
                        let prefix = format!("{n}/");
                        for (k, v) in flat.map.iter_mut() {
                            if k.starts_with(&prefix) {
                                *v = 0;
                            }
                        }
                    }
                    Op::Snap => {
                        snaps.push(tree.snapshot());
                        flat.saved.push(flat.map.clone());
                    }
                    Op::Restore => {
                        if let Some(s) = snaps.pop() {
                            tree.restore(s);
                            flat.map = flat.saved.pop().unwrap();
                        }
                    }
                }
                for (k, v) in &flat.map {
                    proptest::prop_assert_eq!(tree.get(k), *v, "{} after {:?}", k, op);
                }
            }
        }
    }
}
