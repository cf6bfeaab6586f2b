//! The per-thread half of the scoping state: for each (graph, thread), the current
//! variable scope, the name stack, the default-name counters and the open scope
//! frames — in a thread-local, keyed by graph id.
//!
//! The state of a graph that has been dropped is freed the next time the thread
//! uses scoping on any graph, or when the thread exits.

use crate::error::{Error, Result};
use crate::graph::{graphs_dropped, Graph, GraphToken};
use crate::names;
use crate::scope::counts::{ScopeCounts, Snapshot, Untouched};
use crate::scope::object::VariableScope;
use crate::slot_map::Key;
use crate::sync;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// A name scope's name, without trailing slash (empty at root), shared: cloning it
/// touches one reference count, and the root allocates nothing.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct SharedName(Option<Key>);

impl SharedName {
    /// The root (`""`).
    pub(crate) fn root() -> SharedName {
        SharedName(None)
    }

    /// A copy of `name`.
    pub(crate) fn new(name: &str) -> SharedName {
        SharedName((!name.is_empty()).then(|| Key::from(name)))
    }

    /// `name` itself, shared.
    pub(crate) fn from_key(name: Key) -> SharedName {
        SharedName(Some(name).filter(|k| !k.is_empty()))
    }

    pub(crate) fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }

    /// What entering the name scope yields: the name with its trailing slash, or
    /// `""` at root.
    pub(crate) fn with_slash(&self) -> String {
        match &self.0 {
            None => String::new(),
            Some(k) => {
                let mut s = String::with_capacity(k.len() + 1);
                s.push_str(k);
                s.push('/');
                s
            }
        }
    }
}

impl std::ops::Deref for SharedName {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for SharedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Per-(graph, thread) scoping state.
pub(crate) struct ThreadState {
    pub(crate) current: VariableScope,
    /// TF's `variable_scopes_count`: full scope name → times opened.
    pub(crate) counts: ScopeCounts,
    /// The current name scope, without trailing slash (`""` at root).
    pub(crate) name_stack: SharedName,
    pub(crate) frames: Vec<Frame>,
    /// Frames whose guard was closed out of order: they are popped as soon as they are
    /// on top of the stack again.
    pub(crate) orphans: Vec<u64>,
    /// The open template calls watching for new trainable variables (shared with
    /// the contexts captured inside them, which may run on other threads).
    pub(crate) recorders: Vec<Recorder>,
}

impl ThreadState {
    pub(crate) fn new() -> ThreadState {
        ThreadState {
            current: VariableScope::root(),
            counts: ScopeCounts::default(),
            name_stack: SharedName::root(),
            frames: Vec::new(),
            orphans: Vec::new(),
            recorders: Vec::new(),
        }
    }
}

/// What is restored when a frame is popped.
pub(crate) enum FrameKind {
    Var {
        prev: VariableScope,
        counts: CountsOnExit,
    },
    Name {
        prev_stack: SharedName,
    },
}

pub(crate) enum CountsOnExit {
    /// String-named scope: zero every counter under `{name}/` (nothing to do if the
    /// proof that they were all zero when it opened still holds).
    ZeroUnder(Key, Option<Untouched>),
    /// Re-entered scope object: restore every counter (TF's behaviour, #15296).
    Restore(Snapshot),
}

pub(crate) struct Frame {
    pub(crate) id: u64,
    pub(crate) kind: FrameKind,
}

impl ThreadState {
    pub(crate) fn pop_frame(&mut self, f: Frame) {
        match f.kind {
            FrameKind::Var { prev, counts, .. } => {
                match counts {
                    CountsOnExit::ZeroUnder(name, untouched) => {
                        self.counts.zero_under(&name, untouched)
                    }
                    CountsOnExit::Restore(snapshot) => self.counts.restore(snapshot),
                }
                self.current = prev;
            }
            FrameKind::Name { prev_stack } => self.name_stack = prev_stack,
        }
    }
}

impl ThreadState {
    /// Pops every frame from the top down to and including the one with id `ids[0]`
    /// (a guard's outermost frame), restoring what each saved; forgets popped frames
    /// marked as orphans. Nothing happens when that frame is no longer open.
    pub(crate) fn unwind_below(&mut self, ids: &[u64]) {
        let Some(first) = ids.first() else { return };
        let Some(pos) = self.frames.iter().rposition(|f| f.id == *first) else {
            return;
        };
        while self.frames.len() > pos {
            let Some(f) = self.frames.pop() else { break };
            if let Some(o) = self.orphans.iter().position(|&o| o == f.id) {
                self.orphans.swap_remove(o);
            }
            self.pop_frame(f);
        }
        // Frames closed out of order earlier are left now that they are on top.
        while let Some(o) = self
            .frames
            .last()
            .and_then(|f| self.orphans.iter().position(|&o| o == f.id))
        {
            self.orphans.swap_remove(o);
            let Some(f) = self.frames.pop() else { break };
            self.pop_frame(f);
        }
    }
}

/// The trainable variables created during one template call, from any thread that
/// runs a context captured inside it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Recorder(pub(crate) std::sync::Arc<Log>);

/// The names a [`Recorder`] collects. While one exists anywhere in the process,
/// creations look for recorders in their thread's state; with none (almost always),
/// a creation skips that look-up.
#[derive(Debug)]
pub(crate) struct Log(crate::sync::Mutex<Vec<String>>);

/// How many [`Log`]s exist in the process.
static LOGS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Default for Log {
    fn default() -> Self {
        LOGS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Log(Default::default())
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        LOGS.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl std::ops::Deref for Log {
    type Target = crate::sync::Mutex<Vec<String>>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// Hasher for graph ids, which are already unique small integers.
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Each graph's state, by graph id.
type StateMap = HashMap<u64, (GraphToken, ThreadState), BuildHasherDefault<IdHasher>>;

#[derive(Default)]
pub(crate) struct States {
    map: StateMap,
    /// [`graphs_dropped`] when this thread last freed the state of dead graphs.
    swept_at: u64,
    /// Scratch space for building full names on the `get_variable` hit path.
    scratch: String,
}

impl States {
    /// The state for `graph`, created (root scope, empty stacks) on first use.
    pub(crate) fn get(&mut self, graph: &Graph) -> &mut ThreadState {
        self.sweep();
        state_in(&mut self.map, graph)
    }

    /// The state for `graph` (see [`get`](Self::get)) and the scratch buffer,
    /// borrowed together.
    pub(crate) fn state_and_scratch(&mut self, graph: &Graph) -> (&ThreadState, &mut String) {
        self.sweep();
        (state_in(&mut self.map, graph), &mut self.scratch)
    }

    /// Frees the state of graphs dropped since the last sweep (one atomic load when
    /// none was). A thread that never uses varscope again keeps it until it exits.
    fn sweep(&mut self) {
        let dropped = graphs_dropped();
        if dropped != self.swept_at {
            self.swept_at = dropped;
            self.map.retain(|_, (token, _)| token.is_alive());
        }
    }
}

/// The entry of `graph` in `map`, created on first use.
fn state_in<'m>(map: &'m mut StateMap, graph: &Graph) -> &'m mut ThreadState {
    &mut map
        .entry(graph.id())
        .or_insert_with(|| (graph.token(), ThreadState::new()))
        .1
}

sync::thread_local! {
    static STATES: RefCell<States> = RefCell::new(States::default());
}

/// Runs `f` on the calling thread's scope state for `graph`. `f` must not run user
/// code (the state is borrowed meanwhile).
pub(crate) fn with_state<R>(graph: &Graph, f: impl FnOnce(&mut ThreadState) -> R) -> R {
    STATES.with(|s| f(s.borrow_mut().get(graph)))
}

/// As [`with_state`], but `None` instead of a panic when the thread-local is gone
/// (a guard dropped during thread exit) or already borrowed: for `Drop` impls.
pub(crate) fn try_with_state<R>(graph: &Graph, f: impl FnOnce(&mut ThreadState) -> R) -> Option<R> {
    STATES
        .try_with(|s| s.try_borrow_mut().ok().map(|mut s| f(s.get(graph))))
        .ok()
        .flatten()
}

/// As [`with_state`], with the whole per-thread table (for the scratch buffer).
pub(crate) fn with_states<R>(f: impl FnOnce(&mut States) -> R) -> R {
    STATES.with(|s| f(&mut s.borrow_mut()))
}

/// How many graphs the calling thread holds scope state for: a hook for this
/// crate's own tests (feature `test-hooks`), not part of the API.
#[cfg(any(loom, feature = "test-hooks"))]
#[doc(hidden)]
pub fn thread_state_count() -> usize {
    with_states(|s| {
        s.sweep();
        s.map.len()
    })
}

/// Records a new trainable variable for the template calls watching this thread.
pub(crate) fn note_trainable(graph: &Graph, name: impl FnOnce() -> String) {
    // A recorder in this thread's state is a live log, created before it was put
    // there by this thread (or by the thread that handed this one its context), so
    // the count cannot read zero while one is here.
    if LOGS.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        return;
    }
    with_state(graph, |s| {
        if !s.recorders.is_empty() {
            let name = name();
            for r in &s.recorders {
                r.0.lock().push(name.clone());
            }
        }
    });
}

impl Graph {
    /// The calling thread's current name scope (without trailing slash; `""` at root).
    ///
    /// ```
    /// use varscope::{name_scope, Graph};
    /// let g = Graph::new();
    /// g.as_default(|| {
    ///     assert_eq!(g.name_stack(), "");
    ///     name_scope("a", |_| name_scope("b", |_| assert_eq!(g.name_stack(), "a/b"))).unwrap();
    /// });
    /// ```
    pub fn name_stack(&self) -> String {
        with_state(self, |s| s.name_stack.to_string())
    }

    /// TF's `unique_name`: `name` under the calling thread's name scope, made unique
    /// graph-wide and case-insensitively (`foo`, `foo_1`, …). With `mark`, the name is
    /// recorded as used.
    ///
    /// ```
    /// use varscope::{name_scope, Graph};
    /// let g = Graph::new();
    /// g.as_default(|| {
    ///     assert_eq!(g.unique_name("op", false), "op"); // not recorded …
    ///     assert_eq!(g.unique_name("op", true), "op");  // … recorded
    ///     assert_eq!(g.unique_name("OP", true), "OP_1"); // case-insensitive, as in TF
    ///     let inside = name_scope("s", |_| g.unique_name("op", true)).unwrap();
    ///     assert_eq!(inside, "s/op");
    /// });
    /// ```
    pub fn unique_name(&self, name: &str, mark: bool) -> String {
        let full = with_state(self, |s| names::join(&s.name_stack, name));
        self.unique_name_at(&full, mark)
    }

    /// Runs `f` with fresh scope state for this graph on the calling thread — root
    /// variable scope, empty name scope, empty counters — as a new thread would see,
    /// restoring the previous state afterwards (also on panic).
    ///
    /// ```
    /// use varscope::{get_variable_scope, variable_scope, Graph};
    /// let g = Graph::new();
    /// g.as_default(|| {
    ///     let _s = variable_scope("deep").guard().unwrap();
    ///     g.with_fresh_thread_state(|| assert_eq!(get_variable_scope().name(), ""));
    ///     assert_eq!(get_variable_scope().name(), "deep"); // restored
    /// });
    /// ```
    pub fn with_fresh_thread_state<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore<'g> {
            graph: &'g Graph,
            saved: Option<ThreadState>,
        }
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                if let Some(saved) = self.saved.take() {
                    let _ = STATES.try_with(|s| *s.borrow_mut().get(self.graph) = saved);
                }
            }
        }
        let saved = with_state(self, |s| std::mem::replace(s, ThreadState::new()));
        let _restore = Restore {
            graph: self,
            saved: Some(saved),
        };
        f()
    }
    /// Creates an op record and returns its unique name: `name` (or `op_type` when
    /// `None`) under the current name scope, uniquified; a name ending in `/` is used
    /// verbatim without the slash.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the resulting name is not a valid op name.
    ///
    /// ```
    /// use varscope::{name_scope, Graph};
    /// let g = Graph::new();
    /// g.as_default(|| -> varscope::Result<()> {
    ///     assert_eq!(g.create_op("MatMul", None)?, "MatMul");
    ///     assert_eq!(g.create_op("MatMul", None)?, "MatMul_1");
    ///     assert_eq!(name_scope("s", |_| g.create_op("Add", Some("sum")))?, "s/sum");
    ///     assert_eq!(g.create_op("Add", Some("top/"))?, "top"); // verbatim
    ///     assert!(g.create_op("Add", Some("top/")).is_err()); // taken
    ///     assert!(g.create_op("Add", Some("bad name")).is_err());
    ///     Ok(())
    /// }).unwrap();
    /// ```
    pub fn create_op(&self, op_type: &str, name: Option<&str>) -> Result<String> {
        let requested = name.unwrap_or(op_type);
        let full = if let Some(stripped) = requested.strip_suffix('/') {
            stripped.to_string()
        } else {
            if names::validate(requested, false).is_err() {
                return Err(Error::invalid_arg(format!(
                    "'{requested}' is not a valid node name"
                )));
            }
            self.unique_name(requested, true)
        };
        if names::validate(&full, true).is_err() {
            return Err(Error::invalid_arg(format!(
                "'{full}' is not a valid node name"
            )));
        }
        self.register_op(
            crate::slot_map::Key::from(full.as_str()),
            crate::graph::OpType::Other(op_type.into()),
        )?;
        Ok(full)
    }
}
