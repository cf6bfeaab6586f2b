//! The lock-striped variable store.
//!
//! # Design
//!
//! The store maps full names to *slots*. Names are spread over a power-of-two number
//! of shards, each a `RwLock<HashMap<name, Arc<Slot>>>` padded to its own cache line.
//! A slot is a small state machine guarded by its own mutex and condition variable:
//!
//! ```text
//! Empty ──claim──▶ Initializing(thread) ──ok──▶ Ready(variable)
//!                        │
//!                        └── error/panic ──▶ Removed   (taken out of the map;
//!                                                      waiters start over)
//! ```
//!
//! * A lookup takes the shard's read lock just long enough to clone the slot's `Arc`.
//! * Creation of a name is serialized by its slot, not by the shard: the creating
//!   closure (initializer, custom initializer, shard creation of a partitioned
//!   variable) runs with **no shard lock held**, so other names — in the same shard
//!   too — are never blocked, and the closure may itself create other variables.
//! * A thread that asks for a name it is itself creating gets [`Error::Reentrant`]
//!   instead of deadlocking.
//! * A closure that fails or panics leaves nothing behind: its slot is marked
//!   `Removed` and taken out of the map under the shard's write lock, waiters wake
//!   up and start over with a fresh slot, and the next caller creates. Every slot in
//!   the map is therefore either being created, created, or (briefly) fresh and about
//!   to be claimed by the thread that inserted it.
//!
//! Lock order: shard lock, then slot mutex — never the other way round.

use crate::error::{Error, Result};
use crate::sync::{self, Arc, Condvar, Mutex, RwLock};
use crate::variable::{AnyVariable, PartitionedVariable, Variable};
use crossbeam_utils::CachePadded;
use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;

/// What the store holds under one name.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    Single(Variable),
    Partitioned(PartitionedVariable),
}

impl Entry {
    pub(crate) fn to_any(&self) -> AnyVariable {
        match self {
            Entry::Single(v) => AnyVariable::Single(v.clone()),
            Entry::Partitioned(p) => AnyVariable::Partitioned(p.clone()),
        }
    }
}

enum SlotState {
    Empty,
    Initializing(sync::thread::ThreadId),
    Ready(Entry),
    /// Creation failed and the slot is no longer in the map: start over.
    Removed,
}

struct Slot {
    state: Mutex<SlotState>,
    cv: Condvar,
}

/// A full name, shared between the map and snapshots. Keys are immutable data, not
/// part of any protocol, so they use `std`'s `Arc` (loom's cannot hold `str`).
type Key = std::sync::Arc<str>;

type SlotMap = HashMap<Key, Arc<Slot>, rustc_hash::FxBuildHasher>;
type Shard = CachePadded<RwLock<SlotMap>>;

/// How [`VariableStore::get_or_create`] treats a missing or existing name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Look up only (`reuse = Yes`).
    Lookup,
    /// Create if missing, report an existing entry (`reuse = No` / `Auto`).
    Create,
}

/// The result of [`VariableStore::get_or_create`].
#[derive(Debug)]
pub(crate) enum Outcome {
    Existing(Entry),
    Created(Entry),
    Missing,
}

/// A graph's variable store: full name → variable, safe to share between threads.
///
/// See the module-level design notes above ("Locking behaviour" in the crate docs).
pub struct VariableStore {
    shards: Box<[Shard]>,
    hasher: rustc_hash::FxBuildHasher,
}

impl fmt::Debug for VariableStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VariableStore")
            .field("shards", &self.shards.len())
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
    /// A store with the default shard count (4 per core, a power of two).
    pub fn new() -> Self {
        VariableStore::with_shards(sync::default_shard_count())
    }

    /// A store with `n` shards, rounded up to a power of two (at least 1).
    pub fn with_shards(n: usize) -> Self {
        let n = n.max(1).next_power_of_two();
        VariableStore {
            shards: (0..n)
                .map(|_| CachePadded::new(RwLock::new(SlotMap::default())))
                .collect(),
            hasher: rustc_hash::FxBuildHasher,
        }
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    fn shard(&self, key: &str) -> &Shard {
        // The high bits of the hash are the best mixed; a one-shard store uses none.
        let h = self.hasher.hash_one(key);
        let bits = self.shards.len().trailing_zeros();
        let index = if bits == 0 {
            0
        } else {
            (h >> (64 - bits)) as usize
        };
        &self.shards[index]
    }

    fn find(&self, key: &str) -> Option<Arc<Slot>> {
        self.shard(key).read().get(key).cloned()
    }

    fn find_or_insert(&self, key: &str) -> Arc<Slot> {
        if let Some(s) = self.find(key) {
            return s;
        }
        let mut map = self.shard(key).write();
        map.entry(Key::from(key))
            .or_insert_with(|| {
                Arc::new(Slot {
                    state: Mutex::new(SlotState::Empty),
                    cv: Condvar::new(),
                })
            })
            .clone()
    }

    /// Marks the claimed `slot` of a failed creation `Removed` and takes it out of
    /// the map. Both happen under the shard's write lock, so nobody can find the slot
    /// in the map afterwards; whoever still holds it sees `Removed` and starts over.
    fn discard(&self, key: &str, slot: &Arc<Slot>) {
        let mut map = self.shard(key).write();
        *slot.state.lock() = SlotState::Removed;
        if map.get(key).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            map.remove(key);
        }
    }

    /// Looks up `key`, creating it with `create` when missing (in `Mode::Create`).
    ///
    /// `create` runs at most once per successful creation, with no store lock held.
    /// Concurrent callers for the same key wait for it; if it fails or panics the slot
    /// is discarded and the waiters start over (one of them creates).
    pub(crate) fn get_or_create(
        &self,
        key: &str,
        mode: Mode,
        create: impl FnOnce() -> Result<Entry>,
    ) -> Result<Outcome> {
        // Fast path: an existing variable needs neither the thread id nor a claim.
        if let Some(slot) = self.find(key) {
            if let SlotState::Ready(e) = &*slot.state.lock() {
                return Ok(Outcome::Existing(e.clone()));
            }
        }
        let me = sync::current_thread_id();
        let slot = loop {
            let slot = match mode {
                Mode::Lookup => match self.find(key) {
                    Some(s) => s,
                    None => return Ok(Outcome::Missing),
                },
                Mode::Create => self.find_or_insert(key),
            };
            let mut state = slot.state.lock();
            loop {
                match &*state {
                    SlotState::Ready(e) => return Ok(Outcome::Existing(e.clone())),
                    SlotState::Initializing(owner) if *owner == me => {
                        return Err(Error::Reentrant {
                            name: key.to_string(),
                        })
                    }
                    SlotState::Initializing(_) => state = slot.cv.wait(state),
                    // A lookup never claims; a fresh slot belongs to its inserter.
                    SlotState::Empty | SlotState::Removed if mode == Mode::Lookup => {
                        return Ok(Outcome::Missing)
                    }
                    SlotState::Empty | SlotState::Removed => break,
                }
            }
            if matches!(*state, SlotState::Empty) {
                *state = SlotState::Initializing(me);
                drop(state);
                break slot;
            }
            // The creation we waited for failed: start over with a fresh slot.
        };

        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(create));
        let out = match result {
            Ok(Ok(entry)) => {
                *slot.state.lock() = SlotState::Ready(entry.clone());
                Ok(Outcome::Created(entry))
            }
            Ok(Err(e)) => {
                self.discard(key, &slot);
                Err(e)
            }
            Err(payload) => {
                self.discard(key, &slot);
                Err(Error::InitializerPanicked {
                    name: key.to_string(),
                    message: panic_message(payload.as_ref()),
                })
            }
        };
        slot.cv.notify_all();
        out
    }

    /// The variable stored under `key` (its full name), if it is fully created.
    pub fn get(&self, key: &str) -> Option<AnyVariable> {
        let slot = self.find(key)?;
        let state = slot.state.lock();
        match &*state {
            SlotState::Ready(e) => Some(e.to_any()),
            _ => None,
        }
    }

    /// Number of fully created entries (a partitioned variable counts once, and each
    /// of its shards once).
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether the store has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of slots, including ones being created (for leak checks).
    pub fn slot_count(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    /// All fully created entries, sorted by name.
    pub fn entries(&self) -> Vec<(String, AnyVariable)> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let slots: Vec<(Key, Arc<Slot>)> = shard
                .read()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            for (k, slot) in slots {
                if let SlotState::Ready(e) = &*slot.state.lock() {
                    out.push((k.to_string(), e.to_any()));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}
