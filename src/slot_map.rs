//! The init-once protocol: a [`Slot`] is created exactly once by one thread while
//! others wait, and a [`SlotMap`] is a lock-striped map of such slots by name.
//!
//! This is the one place where "create exactly once, survive failure and panics,
//! detect re-entrancy" is implemented. The variable store is a `SlotMap` of
//! variables; a template's first call is a single `Slot`.
//!
//! # The slot state machine
//!
//! ```text
//! Empty ──claim──▶ Initializing(thread) ──ok──▶ Ready(value)
//!   ▲                    │
//!   │                    └── error/panic ──▶ Removed  (map slot: taken out of the map,
//!   └──────────────────────── or Empty (standalone slot)   waiters start over)
//! ```
//!
//! * The creating closure runs with **no lock held** — neither the slot's mutex nor
//!   a map shard's lock — so it may itself create other entries.
//! * A thread that asks for a slot it is itself initializing gets
//!   [`Error::Reentrant`] instead of deadlocking.
//! * A thread that would wait for a slot whose creator is (transitively) waiting for
//!   a slot the caller is creating gets [`Error::Cycle`] instead of deadlocking (see
//!   "Cycles across threads" below).
//! * A closure that fails or panics leaves nothing behind; waiters wake up and start
//!   over, and the next caller creates.
//!
//! # The map
//!
//! Names are spread over a power-of-two number of shards, each an
//! `RwLock<HashTable<Cell>>` padded to its own cache line. A cell is either the
//! finished value itself (`Ready`) or the slot of a creation in progress
//! (`Pending`, which holds the name); a ready value knows its own name ([`Keyed`]),
//! so the table keeps no copy of it. A hit therefore costs one shard read lock and a clone of the value:
//! no slot mutex, no allocation. When a creation succeeds, its cell is replaced by
//! the value under the shard's write lock; when it fails, the cell is removed under
//! the same lock, so no thread can find the dead slot in the map afterwards.
//!
//! A creation that runs no user code (a variable whose initializer is only planned)
//! can skip the slot: [`SlotMap::get_or_create_direct`] prepares the value with no
//! lock held, then commits it and inserts it as `Ready`. It waits like everyone else
//! when it finds a creation of the slot protocol in progress.
//!
//! Adding a key to a shard is serialized by the shard's *creation lock*, a mutex
//! beside its table: a direct creator holds it from its check that the key is
//! missing, through its commit, to the insert (taking the table's write lock only
//! for the insert itself), and a claim of a fresh pending slot holds it while
//! inserting the slot. So a key checked missing under the creation lock stays missing
//! until its holder inserts it, and the commit — the variable's op name and
//! collections — runs without blocking anyone's lookups in the shard. Threads that
//! only look up (every reuse, and the lookup that starts every creation) never wait
//! for a commit, only for the few instructions of an insert.
//!
//! Lock order: creation lock, then shard lock, then slot mutex, then the wait-for
//! registry — never the other way round. A direct commit takes the graph's
//! bookkeeping locks (op names, collections) under the creation lock; none of them is
//! ever held while a creation or shard lock is taken.
//!
//! # Cycles across threads
//!
//! A process-wide wait-for registry records, for every thread parked on a slot,
//! which slot it waits on and which thread is creating that slot. Before parking, a
//! thread walks the chain "holder → the slot the holder waits on → its holder → …";
//! if the chain reaches the caller, waiting would close a cycle and the caller gets
//! [`Error::Cycle`] (naming the chain) instead. The check and the registration happen
//! under the registry's lock, so of the threads of a cycle exactly the last one to
//! arrive sees it; its creation then fails or goes on without the slot, and the
//! others proceed.
//!
//! The registry is touched only by a thread about to park and by a creator that had
//! waiters (a slot remembers whether anyone parked on it): a ready slot and an
//! uncontended creation never take its lock. A creator that had waiters removes their
//! entries after leaving `Initializing` and before doing anything else, so an entry
//! always names a creation still in progress (or one whose creator has not yet
//! started waiting anywhere else), and the walk never reports a cycle that is not
//! there.

use crate::error::{Error, Result};
use crate::sync::{self, Arc, Condvar, Mutex, RwLock};
use crossbeam_utils::CachePadded;
use hashbrown::hash_table::{Entry, HashTable};
use std::fmt;
use std::hash::BuildHasher;

/// A name shared between the map and what is created under it. Keys are immutable
/// data, not part of any protocol, so they use `std`'s `Arc` (loom's cannot hold
/// `str`).
pub(crate) type Key = std::sync::Arc<str>;

enum State<V> {
    Empty,
    /// Being created by `owner`; `waited` once another thread has parked on it (the
    /// owner then clears the wait-for registry when it finishes).
    Initializing {
        owner: sync::thread::ThreadId,
        waited: bool,
    },
    Ready(V),
    /// Creation failed and the slot is no longer in its map: start over.
    Removed,
}

/// One init-once cell: its value is created by exactly one thread while others wait.
pub(crate) struct Slot<V> {
    state: Mutex<State<V>>,
    cv: Condvar,
}

impl<V> fmt::Debug for Slot<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &*self.state.lock() {
            State::Empty => "empty",
            State::Initializing { .. } => "initializing",
            State::Ready(_) => "ready",
            State::Removed => "removed",
        };
        f.debug_struct("Slot").field("state", &state).finish()
    }
}

/// What waiting on a slot found.
enum Claim<V> {
    /// The value exists.
    Ready(V),
    /// The caller owns the creation now (the slot is `Initializing(me)`).
    Claimed,
    /// The slot was removed from its map (a failed creation): start over.
    Gone,
    /// A lookup found no value and did not claim.
    Missing,
}

impl<V: Clone> Slot<V> {
    pub(crate) fn new() -> Self {
        Slot {
            state: Mutex::new(State::Empty),
            cv: Condvar::new(),
        }
    }

    /// The value, if the slot is ready (takes the slot mutex).
    pub(crate) fn get(&self) -> Option<V> {
        match &*self.state.lock() {
            State::Ready(v) => Some(v.clone()),
            _ => None,
        }
    }

    /// Waits out another thread's creation, then claims an empty slot (unless
    /// `claim` is false). `key` names the slot in a re-entrancy or cycle error.
    fn wait_and_claim(&self, key: &str, claim: bool) -> Result<Claim<V>> {
        let me = sync::current_thread_id();
        let mut state = self.state.lock();
        loop {
            match &mut *state {
                State::Ready(v) => return Ok(Claim::Ready(v.clone())),
                State::Initializing { owner, .. } if *owner == me => {
                    return Err(Error::Reentrant {
                        name: key.to_string(),
                    })
                }
                State::Initializing { owner, waited } => {
                    // Fails (registering nothing) when waiting would close a cycle.
                    waits::before_parking(me, self.id(), *owner, key)?;
                    *waited = true;
                    state = self.cv.wait(state);
                }
                State::Removed => return Ok(Claim::Gone),
                State::Empty if !claim => return Ok(Claim::Missing),
                State::Empty => {
                    *state = State::Initializing {
                        owner: me,
                        waited: false,
                    };
                    return Ok(Claim::Claimed);
                }
            }
        }
    }

    /// The slot's identity in the wait-for registry (its address: a slot is
    /// registered only while a thread holds a reference to it).
    fn id(&self) -> usize {
        std::ptr::from_ref(self).cast::<()>() as usize
    }

    /// Ends the caller's creation: sets the slot's new state and returns whether
    /// another thread parked on the creation.
    fn finish(&self, new: State<V>) -> bool {
        let old = std::mem::replace(&mut *self.state.lock(), new);
        matches!(old, State::Initializing { waited: true, .. })
    }

    /// Runs `create` for a claimed slot, catching panics. On success `publish` makes
    /// the slot `Ready`; on failure `on_fail` resets or removes it. Both return
    /// whether anyone waited ([`finish`](Slot::finish)); if so the waiters' registry
    /// entries are cleared. Then the waiters are woken.
    fn run_claimed(
        &self,
        key: &str,
        create: impl FnOnce() -> Result<V>,
        publish: impl FnOnce(&V) -> bool,
        on_fail: impl FnOnce() -> bool,
    ) -> Result<V> {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(create));
        let (out, waited) = match result {
            Ok(Ok(value)) => {
                let waited = publish(&value);
                (Ok(value), waited)
            }
            Ok(Err(e)) => (Err(e), on_fail()),
            Err(payload) => (
                Err(Error::InitializerPanicked {
                    name: key.to_string(),
                    message: panic_message(payload.as_ref()),
                }),
                on_fail(),
            ),
        };
        if waited {
            waits::release(self.id(), sync::current_thread_id());
        }
        self.cv.notify_all();
        out
    }

    /// Standalone use (one cell, not in a map): returns the value, creating it with
    /// `create` if this is the first call. Concurrent callers wait for the creation;
    /// if it fails or panics the slot is empty again and one of them creates.
    /// Returns whether this call created the value.
    ///
    /// # Errors
    /// [`Error::Reentrant`] when the calling thread is creating this slot already;
    /// [`Error::Cycle`] when waiting would close a cycle of creations across threads;
    /// `create`'s error; [`Error::InitializerPanicked`] when `create` panicked.
    pub(crate) fn get_or_init(
        &self,
        key: &str,
        create: impl FnOnce() -> Result<V>,
    ) -> Result<(V, bool)> {
        match self.wait_and_claim(key, true)? {
            Claim::Ready(v) => Ok((v, false)),
            Claim::Claimed => self
                .run_claimed(
                    key,
                    create,
                    |v| self.finish(State::Ready(v.clone())),
                    || self.finish(State::Empty),
                )
                .map(|v| (v, true)),
            // A standalone slot is never removed, and a claiming wait never misses.
            Claim::Gone | Claim::Missing => unreachable!("standalone slot claim"),
        }
    }

    /// Whether the slot is ready.
    pub(crate) fn is_ready(&self) -> bool {
        matches!(&*self.state.lock(), State::Ready(_))
    }
}

/// A value that knows the name it is stored under (a map keeps no copy of its own).
pub(crate) trait Keyed {
    /// The name (for a value created by [`SlotMap::get_or_create`], the key it was
    /// given).
    fn key(&self) -> &str;
}

/// A creation in progress: its name and its slot.
struct Pending<V> {
    key: Key,
    slot: Slot<V>,
}

/// What the map holds under a name: the finished value, or a creation in progress.
/// The name itself is the value's (or the pending creation's), so a cell is the size
/// of a value.
enum Cell<V> {
    Ready(V),
    Pending(Arc<Pending<V>>),
}

impl<V: Keyed> Cell<V> {
    fn key(&self) -> &str {
        match self {
            Cell::Ready(v) => v.key(),
            Cell::Pending(p) => &p.key,
        }
    }
}

/// A lookup's result: the ready value, or a creation in progress.
type Found<V> = std::result::Result<V, Arc<Pending<V>>>;

/// One shard: its table, and the lock that admits one creator of a new key at a
/// time.
struct ShardInner<V> {
    map: RwLock<HashTable<Cell<V>>>,
    /// Held by whoever adds a key to `map` (a direct creation from its check of the
    /// key through its commit to the insert; a claim of a fresh pending slot), and
    /// taken before `map`'s write lock. A direct commit runs under it alone, so
    /// lookups in the shard are not blocked while it runs.
    create: Mutex<()>,
}

type Shard<V> = CachePadded<ShardInner<V>>;

fn hash(key: &str) -> u64 {
    rustc_hash::FxBuildHasher.hash_one(key)
}

/// How [`SlotMap::get_or_create`] treats a missing name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Look up only: a missing name is [`Outcome::Missing`].
    Lookup,
    /// Create a missing name.
    Create,
}

/// What [`SlotMap::probe`] found under a name.
pub(crate) enum Probe<V> {
    /// The finished value.
    Ready(V),
    /// A creation in progress.
    Pending,
    /// Nothing; the name's hash.
    Absent(u64),
}

/// The result of [`SlotMap::get_or_create`].
#[derive(Debug)]
pub(crate) enum Outcome<V> {
    Existing(V),
    Created(V),
    Missing,
}

/// A lock-striped map of init-once slots (see the module docs).
pub(crate) struct SlotMap<V> {
    shards: Box<[Shard<V>]>,
}

impl<V: Clone + Keyed> SlotMap<V> {
    /// A map with `n` shards, rounded up to a power of two (at least 1).
    pub(crate) fn with_shards(n: usize) -> Self {
        let n = n.max(1).next_power_of_two();
        SlotMap {
            shards: (0..n)
                .map(|_| {
                    CachePadded::new(ShardInner {
                        map: RwLock::new(HashTable::new()),
                        create: Mutex::new(()),
                    })
                })
                .collect(),
        }
    }

    pub(crate) fn shard_count(&self) -> usize {
        self.shards.len()
    }

    fn shard(&self, h: u64) -> &Shard<V> {
        // The high bits of the hash pick the shard (the table uses the low bits and
        // the top seven); a one-shard map uses none.
        let bits = self.shards.len().trailing_zeros();
        let index = if bits == 0 {
            0
        } else {
            (h.rotate_left(bits + 7) as usize) & (self.shards.len() - 1)
        };
        &self.shards[index]
    }

    /// Looks up `key`: the value if ready, else the slot of a creation in progress
    /// and the key as stored.
    fn find(&self, key: &str, h: u64) -> Option<Found<V>> {
        match self.shard(h).map.read().find(h, |c| c.key() == key)? {
            Cell::Ready(v) => Some(Ok(v.clone())),
            Cell::Pending(p) => Some(Err(p.clone())),
        }
    }

    /// As `find`, inserting a fresh pending slot when `key` is missing.
    fn find_or_insert(&self, key: &str, h: u64) -> Found<V> {
        if let Some(found) = self.find(key, h) {
            return found;
        }
        let shard = self.shard(h);
        // A direct creator holds `create` from its check of the key to its insert:
        // a pending slot must not appear in between.
        let _creating = shard.create.lock();
        let mut map = shard.map.write();
        match map.entry(h, |c| c.key() == key, |c| hash(c.key())) {
            Entry::Occupied(o) => match o.get() {
                Cell::Ready(v) => Ok(v.clone()),
                Cell::Pending(p) => Err(p.clone()),
            },
            Entry::Vacant(v) => {
                let pending = Arc::new(Pending {
                    key: Key::from(key),
                    slot: Slot::new(),
                });
                v.insert(Cell::Pending(pending.clone()));
                Err(pending)
            }
        }
    }

    /// What is under `key`: [`get`](SlotMap::get), telling a creation in progress
    /// from a missing name, whose hash it returns (for
    /// [`get_or_create_direct`](SlotMap::get_or_create_direct)'s hint).
    pub(crate) fn probe(&self, key: &str) -> Probe<V> {
        let h = hash(key);
        match self.shard(h).map.read().find(h, |c| c.key() == key) {
            Some(Cell::Ready(v)) => Probe::Ready(v.clone()),
            Some(Cell::Pending(_)) => Probe::Pending,
            None => Probe::Absent(h),
        }
    }

    /// The value under `key`, if it is fully created. Takes one shard read lock and
    /// clones the value; no slot mutex, no allocation.
    pub(crate) fn get(&self, key: &str) -> Option<V> {
        match self.probe(key) {
            Probe::Ready(v) => Some(v),
            Probe::Pending | Probe::Absent(_) => None,
        }
    }

    /// Looks up `key`, creating it with `create` when missing (in `Mode::Create`).
    ///
    /// `create` receives the key as the map stores it (to share the allocation) and
    /// runs at most once per successful creation, with no lock held. Concurrent
    /// callers for the same key wait for it; if it fails or panics the slot is
    /// discarded and the waiters start over (one of them creates).
    ///
    /// # Errors
    /// [`Error::Reentrant`] when the calling thread is creating `key` already;
    /// [`Error::Cycle`] when waiting would close a cycle of creations across threads;
    /// `create`'s error; [`Error::InitializerPanicked`] when `create` panicked.
    pub(crate) fn get_or_create(
        &self,
        key: &str,
        mode: Mode,
        create: impl FnOnce(&Key) -> Result<V>,
    ) -> Result<Outcome<V>> {
        let h = hash(key);
        loop {
            let pending = match mode {
                Mode::Lookup => match self.find(key, h) {
                    None => return Ok(Outcome::Missing),
                    Some(Ok(v)) => return Ok(Outcome::Existing(v)),
                    Some(Err(pending)) => pending,
                },
                Mode::Create => match self.find_or_insert(key, h) {
                    Ok(v) => return Ok(Outcome::Existing(v)),
                    Err(pending) => pending,
                },
            };
            let slot = &pending.slot;
            match slot.wait_and_claim(key, mode == Mode::Create)? {
                Claim::Ready(v) => return Ok(Outcome::Existing(v)),
                Claim::Missing => return Ok(Outcome::Missing),
                // The creation we waited for failed: start over with a fresh slot.
                Claim::Gone => continue,
                Claim::Claimed => {
                    return slot
                        .run_claimed(
                            key,
                            || create(&pending.key),
                            |v| self.publish(h, &pending, v),
                            || self.discard(h, &pending),
                        )
                        .map(Outcome::Created);
                }
            }
        }
    }

    /// As [`get_or_create`](SlotMap::get_or_create), for a creation that runs no user
    /// code: `prepare` computes everything that can fail, with no lock held and no
    /// side effect that matters if its result is thrown away; `commit` makes the value
    /// from it under the shard's creation lock (lookups go on meanwhile), and must not
    /// add keys to this map.
    ///
    /// An uncontended creation therefore takes the creation lock once and the write
    /// lock once, only to insert, and leaves no pending slot behind: the value goes
    /// straight into the map. When a creation of
    /// `key` through [`get_or_create`](SlotMap::get_or_create) is in progress, the
    /// call waits for it as `get_or_create` does (and, should it fail, prepares and
    /// commits with no lock held). Racing `prepare`s may both run; exactly one
    /// `commit` is stored.
    ///
    /// `absent` is a hint: the hash [`probe`](SlotMap::probe) just returned for
    /// `key` as missing. The read-locked lookup is then skipped (the write-locked one
    /// finds whatever was created since); correctness does not depend on it.
    ///
    /// # Errors
    /// `prepare`'s and `commit`'s errors; while waiting, those of `get_or_create`.
    pub(crate) fn get_or_create_direct<P>(
        &self,
        key: &str,
        mode: Mode,
        absent: Option<u64>,
        prepare: impl FnOnce() -> Result<P>,
        commit: impl FnOnce(&Key, P) -> Result<V>,
    ) -> Result<Outcome<V>> {
        let h = hash(key);
        let known_absent = absent == Some(h) && mode == Mode::Create;
        match (!known_absent).then(|| self.find(key, h)).flatten() {
            Some(Ok(v)) => return Ok(Outcome::Existing(v)),
            // A creation through the slot protocol is in progress: wait for it like
            // `get_or_create`, preparing only should it fail.
            Some(Err(_)) => return self.get_or_create(key, mode, |k| commit(k, prepare()?)),
            None if mode == Mode::Lookup => return Ok(Outcome::Missing),
            None => {}
        }
        let prepared = prepare()?;
        // Allocated before the creation lock, which is then held for less time.
        let stored = Key::from(key);
        let shard = self.shard(h);
        // Only a holder of `create` adds keys, so what this lookup finds stays true
        // until the insert below; lookups go on meanwhile.
        let creating = shard.create.lock();
        match self.find(key, h) {
            Some(Ok(v)) => Ok(Outcome::Existing(v)),
            Some(Err(_)) => {
                drop(creating);
                self.get_or_create(key, mode, |k| commit(k, prepared))
            }
            None => {
                let value = commit(&stored, prepared)?;
                debug_assert_eq!(value.key(), key, "a created value has its key");
                let cell = Cell::Ready(value.clone());
                shard.map.write().insert_unique(h, cell, |c| hash(c.key()));
                drop(creating);
                Ok(Outcome::Created(value))
            }
        }
    }

    /// A finished creation: the map's cell becomes the value, and the slot is marked
    /// ready for the threads waiting on it — both under the shard's write lock.
    /// Returns whether anyone waited.
    fn publish(&self, h: u64, pending: &Arc<Pending<V>>, value: &V) -> bool {
        debug_assert_eq!(value.key(), &*pending.key, "a created value has its key");
        let mut map = self.shard(h).map.write();
        let mine = |c: &Cell<V>| matches!(c, Cell::Pending(p) if Arc::ptr_eq(p, pending));
        if let Some(cell) = map.find_mut(h, |c| mine(c)) {
            *cell = Cell::Ready(value.clone());
        }
        pending.slot.finish(State::Ready(value.clone()))
    }

    /// Marks the claimed slot of a failed creation `Removed` and takes it out of the
    /// map. Both happen under the shard's write lock, so nobody can find the slot in
    /// the map afterwards; whoever still holds it sees `Removed` and starts over.
    /// Returns whether anyone waited.
    fn discard(&self, h: u64, pending: &Arc<Pending<V>>) -> bool {
        let mut map = self.shard(h).map.write();
        let waited = pending.slot.finish(State::Removed);
        let mine = |c: &Cell<V>| matches!(c, Cell::Pending(p) if Arc::ptr_eq(p, pending));
        if let Ok(o) = map.find_entry(h, |c| mine(c)) {
            o.remove();
        }
        waited
    }

    /// Number of cells, including creations in progress (for leak checks).
    #[cfg(any(loom, feature = "test-hooks"))]
    pub(crate) fn cell_count(&self) -> usize {
        self.shards.iter().map(|s| s.map.read().len()).sum()
    }

    /// Number of fully created entries.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.map
                    .read()
                    .iter()
                    .filter(|c| matches!(c, Cell::Ready(_)))
                    .count()
            })
            .sum()
    }

    /// All fully created entries, sorted by key.
    pub(crate) fn entries(&self) -> Vec<V> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            for cell in shard.map.read().iter() {
                if let Cell::Ready(v) = cell {
                    out.push(v.clone());
                }
            }
        }
        out.sort_by(|a, b| a.key().cmp(b.key()));
        out
    }
}

/// The text of a panic payload (`&str` or `String`), for error messages.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// The process-wide wait-for registry (see "Cycles across threads" in the module
/// docs): thread → the slot it is parked on and that slot's creator.
mod waits {
    use crate::error::{Error, Result};
    use crate::sync::{self, Mutex};
    use std::collections::HashMap;

    type ThreadId = sync::thread::ThreadId;

    struct Wait {
        /// The slot waited on ([`Slot::id`](super::Slot)).
        slot: usize,
        /// The thread creating it.
        holder: ThreadId,
        /// Its name, for the error.
        key: String,
    }

    #[derive(Default)]
    struct Registry {
        waits: HashMap<ThreadId, Wait, rustc_hash::FxBuildHasher>,
    }

    sync::lazy_global! {
        static REGISTRY: Mutex<Registry> = Mutex::new(Registry::default());
    }

    /// Registers that `me` is about to park on `slot` (named `key`), which `holder`
    /// is creating — unless the chain of waits from `holder` leads back to `me`:
    /// then nothing is registered and the error names the cycle.
    pub(super) fn before_parking(
        me: ThreadId,
        slot: usize,
        holder: ThreadId,
        key: &str,
    ) -> Result<()> {
        let mut r = REGISTRY.lock();
        let mut t = holder;
        // Each thread waits on one slot, so a chain not through `me` ends within
        // `len` steps; the bound only guards against a corrupt registry.
        for _ in 0..=r.waits.len() {
            if t == me {
                return Err(Error::Cycle {
                    chain: chain(&r, key, holder, me),
                });
            }
            match r.waits.get(&t) {
                Some(w) => t = w.holder,
                None => break,
            }
        }
        r.waits.insert(
            me,
            Wait {
                slot,
                holder,
                key: key.to_string(),
            },
        );
        Ok(())
    }

    /// The names along a cycle found from `holder`: `key`, then the slot each
    /// holder waits on, back to `key`.
    fn chain(r: &Registry, key: &str, holder: ThreadId, me: ThreadId) -> Vec<String> {
        let mut chain = vec![key.to_string()];
        let mut t = holder;
        while t != me && chain.len() <= r.waits.len() {
            match r.waits.get(&t) {
                Some(w) => {
                    chain.push(w.key.clone());
                    t = w.holder;
                }
                None => break,
            }
        }
        chain.push(key.to_string());
        chain
    }

    /// `holder` has finished creating `slot`: the threads parked on it no longer
    /// wait on `holder`.
    pub(super) fn release(slot: usize, holder: ThreadId) {
        REGISTRY
            .lock()
            .waits
            .retain(|_, w| !(w.slot == slot && w.holder == holder));
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    impl Keyed for Key {
        fn key(&self) -> &str {
            self
        }
    }

    /// Creates `name` through the direct path, with nothing to prepare and `commit`
    /// making the value.
    fn create_direct(
        map: &SlotMap<Key>,
        name: &str,
        commit: impl FnOnce(&Key) -> Result<Key>,
    ) -> Result<Outcome<Key>> {
        map.get_or_create_direct(name, Mode::Create, None, || Ok(()), |k, ()| commit(k))
    }

    /// Runs `f` on another thread and waits up to a minute for its result; `None`
    /// means it was still blocked (the thread is left behind).
    fn within_a_minute<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(60)).ok()
    }

    /// While a direct creation commits, other threads still look up and probe names of
    /// its shard: the commit holds the shard's creation lock, not its table lock.
    #[test]
    fn lookups_in_the_shard_go_on_during_a_direct_commit() {
        let map: std::sync::Arc<SlotMap<Key>> = std::sync::Arc::new(SlotMap::with_shards(1));
        assert!(matches!(
            map.get_or_create("ready", Mode::Create, |k| Ok(k.clone())),
            Ok(Outcome::Created(_))
        ));
        let outcome = create_direct(&map, "new", |key| {
            let m = map.clone();
            let seen = within_a_minute(move || {
                let ready = m.get("ready").map(|k| k.to_string());
                let new = matches!(m.probe("new"), Probe::Absent(_));
                (ready, new)
            });
            assert_eq!(
                seen,
                Some((Some("ready".to_string()), true)),
                "a lookup waited for the commit"
            );
            Ok(key.clone())
        })
        .unwrap();
        assert!(matches!(outcome, Outcome::Created(k) if &*k == "new"));
        assert_eq!(map.len(), 2);
    }

    /// Eight threads create the same 200 names in one shard: each name is committed
    /// once, and every thread gets the stored value.
    #[test]
    fn racing_direct_creators_of_one_name_commit_once() {
        let map: std::sync::Arc<SlotMap<Key>> = std::sync::Arc::new(SlotMap::with_shards(1));
        let commits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (map, commits) = (map.clone(), commits.clone());
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    for i in 0..200 {
                        let name = format!("v{i}");
                        let out = create_direct(&map, &name, |k| {
                            commits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            Ok(k.clone())
                        })
                        .unwrap();
                        got.push(match out {
                            Outcome::Created(k) | Outcome::Existing(k) => k,
                            Outcome::Missing => unreachable!("creating"),
                        });
                    }
                    got
                })
            })
            .collect();
        let all: Vec<Vec<Key>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(commits.load(std::sync::atomic::Ordering::Relaxed), 200);
        assert_eq!(map.len(), 200);
        for got in &all[1..] {
            for (a, b) in got.iter().zip(&all[0]) {
                assert!(
                    std::sync::Arc::ptr_eq(a, b),
                    "every thread got the stored key"
                );
            }
        }
    }

    /// A failed or panicking commit inserts nothing and releases the creation lock:
    /// the next creation of the name (or of another name in the shard) succeeds.
    #[test]
    fn a_failed_direct_commit_leaves_the_shard_usable() {
        let map: SlotMap<Key> = SlotMap::with_shards(1);
        let failed = create_direct(&map, "v", |_| Err(Error::invalid_arg("no")));
        assert!(failed.is_err());
        assert!(matches!(map.probe("v"), Probe::Absent(_)));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            create_direct(&map, "v", |_| -> Result<Key> {
                panic!("a commit that panics")
            })
        }));
        assert!(panicked.is_err());
        assert!(matches!(map.probe("v"), Probe::Absent(_)));
        for name in ["w", "v"] {
            let created = create_direct(&map, name, |k| Ok(k.clone()));
            assert!(matches!(created, Ok(Outcome::Created(_))));
        }
        assert_eq!(map.len(), 2);
    }

    /// A creation of a name being committed waits for the commit and gets its value
    /// (no second commit); so does a lookup made after it.
    #[test]
    fn a_name_being_committed_is_waited_for() {
        let map: std::sync::Arc<SlotMap<Key>> = std::sync::Arc::new(SlotMap::with_shards(4));
        let (started_tx, started_rx) = mpsc::channel();
        let creator = {
            let map = map.clone();
            std::thread::spawn(move || {
                create_direct(&map, "v", |k| {
                    started_tx.send(()).unwrap();
                    std::thread::sleep(Duration::from_millis(50));
                    Ok(k.clone())
                })
            })
        };
        started_rx.recv().unwrap();
        let second = create_direct(&map, "v", |_| -> Result<Key> {
            panic!("the name was being committed: no second commit")
        })
        .unwrap();
        let looked_up = map
            .get_or_create("v", Mode::Lookup, |_| -> Result<Key> {
                unreachable!("a lookup")
            })
            .unwrap();
        let created = match creator.join().unwrap().unwrap() {
            Outcome::Created(k) => k,
            other => panic!("the first creator created, got {other:?}"),
        };
        for got in [second, looked_up] {
            assert!(matches!(got, Outcome::Existing(k) if std::sync::Arc::ptr_eq(&k, &created)));
        }
        assert_eq!(map.len(), 1);
    }
}
