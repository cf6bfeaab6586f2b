//! The only place that knows whether the crate runs under [loom].
//!
//! Every lock, condition variable, atomic, thread-local and thread handle that takes
//! part in a cross-thread protocol is imported from here. Under `--cfg loom` the
//! primitives are loom's model-checked ones; otherwise they are `parking_lot`'s locks
//! and `std`'s atomics and threads. The wrappers normalise the two APIs so that call
//! sites never deal with lock poisoning or with the difference between
//! `parking_lot::Condvar::wait(&mut guard)` and `std`'s owned-guard style.
//!
//! [loom]: https://docs.rs/loom

// `Arc` is for objects whose sharing takes part in a protocol (graphs, slots,
// variables, scopes): under loom their reference counts are modelled. Callbacks
// (`Arc<dyn Fn ..>`, `Arc<dyn Partitioner>`) and immutable keys (`Arc<str>`) use
// `std::sync::Arc` directly: loom's `Arc` cannot hold unsized values, and the public
// API must not change type under `--cfg loom`.
#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(not(loom))]
pub(crate) use std::sync::Arc;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::AtomicU32;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::AtomicU32;

#[cfg(loom)]
pub(crate) use loom::thread;
#[cfg(not(loom))]
pub(crate) use std::thread;

#[cfg(loom)]
pub(crate) use loom::thread_local;
#[cfg(not(loom))]
pub(crate) use std::thread_local;

/// A mutual-exclusion lock whose `lock()` returns the guard directly.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(imp::Mutex<T>);

/// Guard of [`Mutex`].
pub(crate) type MutexGuard<'a, T> = imp::MutexGuard<'a, T>;

/// A reader-writer lock whose `read()`/`write()` return guards directly.
#[derive(Debug, Default)]
pub(crate) struct RwLock<T>(imp::RwLock<T>);

/// A condition variable paired with [`Mutex`], owned-guard style.
#[derive(Debug, Default)]
pub(crate) struct Condvar(imp::Condvar);

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex(imp::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        imp::lock(&self.0)
    }
}

impl<T> RwLock<T> {
    pub(crate) fn new(value: T) -> Self {
        RwLock(imp::RwLock::new(value))
    }

    pub(crate) fn read(&self) -> imp::RwLockReadGuard<'_, T> {
        imp::read(&self.0)
    }

    pub(crate) fn write(&self) -> imp::RwLockWriteGuard<'_, T> {
        imp::write(&self.0)
    }
}

impl Condvar {
    pub(crate) fn new() -> Self {
        Condvar(imp::Condvar::new())
    }

    /// Blocks until notified, releasing `guard` while waiting.
    pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        imp::wait(&self.0, guard)
    }

    pub(crate) fn notify_all(&self) {
        self.0.notify_all();
    }
}

#[cfg(not(loom))]
mod imp {
    pub(crate) use parking_lot::{
        Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
    };

    pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock()
    }
    pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
        l.read()
    }
    pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
        l.write()
    }
    pub(crate) fn wait<'a, T>(cv: &Condvar, mut g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        cv.wait(&mut g);
        g
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::sync::{
        Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
    };

    // Loom's locks never poison in a model that does not panic while holding them; a
    // poisoned lock is still usable, so recover the guard either way.
    pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
        l.read().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
        l.write().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn wait<'a, T>(cv: &Condvar, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        cv.wait(g).unwrap_or_else(|e| e.into_inner())
    }
}

/// Declares a lazily initialised process-wide static: `once_cell` normally,
/// `loom::lazy_static!` (reset for every model iteration) under loom.
macro_rules! lazy_global {
    // Private statics only: `loom::lazy_static!` cannot take a `$vis` fragment.
    ($(#[$m:meta])* static $name:ident : $ty:ty = $init:expr;) => {
        #[cfg(not(loom))]
        $(#[$m])* static $name: once_cell::sync::Lazy<$ty> = once_cell::sync::Lazy::new(|| $init);
        #[cfg(loom)]
        loom::lazy_static! { $(#[$m])* static ref $name: $ty = $init; }
    };
}
pub(crate) use lazy_global;

/// Number of store shards (and of op-name and collection stripes): a power of two
/// sized from the core count (32 per core, at least 4, at most 256), fixed at 2 under
/// loom to keep models small.
///
/// Many per core, because a creator holds a lock of its shard through its commit
/// (the variable's op name and collections): with few shards, two running creators
/// often want the same one, and a waiter that does not get it within a few spins
/// yields or parks. Measured with 8 threads creating distinct names on 2 cores,
/// 8 shards gave 0.15 context switches per creation and 64 shards 0.02.
pub(crate) fn default_shard_count() -> usize {
    if cfg!(loom) {
        return 2;
    }
    static CACHED: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CACHED.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
        (cores * 32).next_power_of_two().clamp(4, 256)
    })
}

/// A process-unique id (graphs, thread stripes). Only uniqueness matters, never ordering
/// between threads, so a plain `std` counter serves under loom too.
pub(crate) fn next_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// An id unique among the scope frames of the calling thread: a per-thread count,
/// so that entering a scope touches no counter shared with other threads. (Frames
/// are only ever compared with the frames of the thread that pushed them.)
pub(crate) fn next_frame_id() -> u64 {
    // `std`'s thread-local even under loom, whose threads then share it: the ids
    // stay unique, which is all that matters.
    std::thread_local! {
        static NEXT: std::cell::Cell<u64> = const { std::cell::Cell::new(1) };
    }
    NEXT.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    })
}

/// The id of the calling thread (loom's simulated id under loom).
pub(crate) fn current_thread_id() -> thread::ThreadId {
    thread_local! {
        // Cached: `thread::current()` clones the thread handle (two atomic operations
        // on a shared count) every time.
        static ID: thread::ThreadId = thread::current().id();
    }
    ID.with(|id| *id)
}
