//! The variable store: a [`SlotMap`](crate::slot_map::SlotMap) of variables by full
//! name. The init-once protocol — creation serialized per name, initializers run with
//! no lock held, failures and panics leaving nothing behind, re-entrancy reported —
//! lives in [`slot_map`](crate::slot_map); this module adds what is stored (a single
//! or a partitioned variable) and the public read-only view.

use crate::error::Result;
use crate::slot_map::{Key, Keyed, Mode, Outcome, Probe, SlotMap};
use crate::sync;
use crate::variable::{AnyVariable, PartitionedVariable, Variable};
use std::fmt;

/// What the store holds under one name.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    Single(Variable),
    Partitioned(PartitionedVariable),
}

impl Keyed for Entry {
    fn key(&self) -> &str {
        match self {
            Entry::Single(v) => v.store_key().unwrap_or_else(|| v.op_name()),
            Entry::Partitioned(p) => p.name(),
        }
    }
}

impl Entry {
    pub(crate) fn to_any(&self) -> AnyVariable {
        match self {
            Entry::Single(v) => AnyVariable::Single(v.clone()),
            Entry::Partitioned(p) => AnyVariable::Partitioned(p.clone()),
        }
    }
}

/// A graph's variable store: full name → variable, safe to share between threads.
///
/// Names are spread over lock-striped shards; a lookup of a created variable takes one
/// shard read lock and allocates nothing. Creation of a name is serialized by its own
/// slot, with no shard lock held while the initializer runs, so other names are never
/// blocked (see "Concurrency model" in the crate docs).
///
/// ```
/// use varscope::{get_variable, Graph};
/// let g = Graph::with_seed(1);
/// let v = g.as_default(|| get_variable("w").shape([2]).build()).unwrap();
/// assert_eq!(g.store().get("w").unwrap().name(), v.name());
/// assert_eq!(g.store().len(), 1);
/// ```
pub struct VariableStore {
    map: SlotMap<Entry>,
}

impl fmt::Debug for VariableStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VariableStore")
            .field("shards", &self.map.shard_count())
            .field("len", &self.len())
            .finish()
    }
}

impl Default for VariableStore {
    fn default() -> Self {
        VariableStore::new()
    }
}

impl VariableStore {
    /// A store with the default shard count (32 per core, a power of two, at most 256).
    ///
    /// ```
    /// use varscope::VariableStore;
    /// let s = VariableStore::new();
    /// assert!(s.is_empty());
    /// assert!(s.shard_count().is_power_of_two());
    /// ```
    pub fn new() -> Self {
        VariableStore::with_shards(sync::default_shard_count())
    }

    /// A store with `n` shards, rounded up to a power of two (at least 1).
    ///
    /// ```
    /// use varscope::VariableStore;
    /// assert_eq!(VariableStore::with_shards(5).shard_count(), 8);
    /// assert_eq!(VariableStore::with_shards(0).shard_count(), 1);
    /// ```
    pub fn with_shards(n: usize) -> Self {
        VariableStore {
            map: SlotMap::with_shards(n),
        }
    }

    /// Number of shards.
    ///
    /// ```
    /// use varscope::Graph;
    /// assert!(Graph::new().store().shard_count() >= 1);
    /// ```
    pub fn shard_count(&self) -> usize {
        self.map.shard_count()
    }

    /// Looks up `key`, creating it with `create` when missing (in `Mode::Create`);
    /// see [`SlotMap::get_or_create`](crate::slot_map::SlotMap::get_or_create).
    pub(crate) fn get_or_create(
        &self,
        key: &str,
        mode: Mode,
        create: impl FnOnce(&Key) -> Result<Entry>,
    ) -> Result<Outcome<Entry>> {
        self.map.get_or_create(key, mode, create)
    }

    /// As [`get_or_create`](VariableStore::get_or_create), for a creation that runs
    /// no user code; see
    /// [`SlotMap::get_or_create_direct`](crate::slot_map::SlotMap::get_or_create_direct).
    pub(crate) fn get_or_create_direct<P>(
        &self,
        key: &str,
        mode: Mode,
        absent: Option<u64>,
        prepare: impl FnOnce() -> Result<P>,
        commit: impl FnOnce(&Key, P) -> Result<Entry>,
    ) -> Result<Outcome<Entry>> {
        self.map
            .get_or_create_direct(key, mode, absent, prepare, commit)
    }

    /// What is under `key` (crate-internal, no conversion); see
    /// [`SlotMap::probe`](crate::slot_map::SlotMap::probe).
    pub(crate) fn probe(&self, key: &str) -> Probe<Entry> {
        self.map.probe(key)
    }

    /// The entry under `key`, if fully created (crate-internal, no conversion).
    pub(crate) fn get_entry(&self, key: &str) -> Option<Entry> {
        self.map.get(key)
    }

    /// The variable stored under `key` (its full name), if it is fully created.
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, Graph};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| variable_scope("s").enter(|_| get_variable("w").shape([2]).build())).unwrap();
    /// assert_eq!(g.store().get("s/w").unwrap().name(), "s/w:0");
    /// assert!(g.store().get("w").is_none());
    /// ```
    pub fn get(&self, key: &str) -> Option<AnyVariable> {
        self.map.get(key).map(|e| e.to_any())
    }

    /// Number of fully created entries (a partitioned variable counts once, and each
    /// of its shards once).
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| {
    ///     get_variable("emb").shape([4]).partitioner(FixedSizePartitioner::new(2, 0)).build_partitioned()
    /// }).unwrap();
    /// assert_eq!(g.store().len(), 3); // the partitioned variable and its two shards
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the store has no entries.
    ///
    /// ```
    /// use varscope::{get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// assert!(g.store().is_empty());
    /// g.as_default(|| get_variable("w").shape([1]).build()).unwrap();
    /// assert!(!g.store().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of slots, including ones being created: a leak-check hook for this
    /// crate's own tests and loom models (feature `test-hooks`), not part of the API.
    #[cfg(any(loom, feature = "test-hooks"))]
    #[doc(hidden)]
    pub fn slot_count(&self) -> usize {
        self.map.cell_count()
    }

    /// All fully created entries, sorted by name.
    ///
    /// ```
    /// use varscope::{get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| -> varscope::Result<()> {
    ///     get_variable("z").shape([1]).build()?;
    ///     get_variable("a").shape([1]).build()?;
    ///     Ok(())
    /// }).unwrap();
    /// let keys: Vec<_> = g.store().entries().into_iter().map(|(k, _)| k).collect();
    /// assert_eq!(keys, ["a", "z"]);
    /// ```
    pub fn entries(&self) -> Vec<(String, AnyVariable)> {
        self.map
            .entries()
            .into_iter()
            .map(|e| (e.key().to_string(), e.to_any()))
            .collect()
    }
}
