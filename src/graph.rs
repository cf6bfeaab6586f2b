//! [`Graph`]: the shared half of the scoping state — variable store, op-name registry,
//! collections and random seed — plus the per-thread default-graph stack.

use crate::error::{Error, Result};
use crate::names;
use crate::scope::ThreadState;
use crate::store::VariableStore;
use crate::sync::{self, Arc, Mutex};
use crate::variable::{RegularizationLoss, Variable};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasherDefault;
use std::marker::PhantomData;

/// Collection key of all global variables (TF's `GraphKeys.GLOBAL_VARIABLES`).
pub const GLOBAL_VARIABLES: &str = "variables";
/// Collection key of trainable variables.
pub const TRAINABLE_VARIABLES: &str = "trainable_variables";
/// Collection key of local (non-checkpointed, non-trainable) variables.
pub const LOCAL_VARIABLES: &str = "local_variables";
/// Collection key of regularization losses.
pub const REGULARIZATION_LOSSES: &str = "regularization_losses";

/// One item of a graph collection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CollectionItem {
    /// A variable.
    Variable(Variable),
    /// A regularization loss.
    Loss(RegularizationLoss),
}

/// A record of an op created through [`Graph::create_op`]: only its name and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpRecord {
    /// The unique op name (`scope/Const_1`).
    pub name: String,
    /// The op type (`Const`).
    pub op_type: String,
}

#[derive(Default)]
struct OpRegistry {
    names: std::collections::HashSet<String>,
    records: Vec<OpRecord>,
}

pub(crate) struct GraphInner {
    pub(crate) id: u64,
    seed: u64,
    seed_is_explicit: bool,
    pub(crate) store: VariableStore,
    names_in_use: Mutex<HashMap<String, u64>>,
    ops: Mutex<OpRegistry>,
    collections: Mutex<HashMap<String, Vec<CollectionItem>>>,
    /// Every variable of the graph in creation order (store variables and plain ones).
    all_variables: Mutex<Vec<Variable>>,
}

/// A graph: the variables, op names and collections that all threads share.
///
/// `Graph` is a cheap handle (`Clone` shares the same graph; equality is identity).
/// Each thread that works with a graph has its own variable-scope stack, name-scope
/// stack and default-name counters for it (see the crate docs, "Concurrency model").
///
/// ```
/// use varscope::{Graph, get_variable};
/// let g = Graph::with_seed(42);
/// let v = g.as_default(|| get_variable("w").shape([2, 3]).build()).unwrap();
/// assert_eq!(v.name(), "w:0");
/// assert_eq!(g.global_variables().len(), 1);
/// ```
#[derive(Clone)]
pub struct Graph {
    pub(crate) inner: Arc<GraphInner>,
}

impl fmt::Debug for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Graph")
            .field("id", &self.inner.id)
            .field("seed", &self.inner.seed)
            .field("variables", &self.inner.store.len())
            .finish()
    }
}

impl PartialEq for Graph {
    fn eq(&self, other: &Self) -> bool {
        self.inner.id == other.inner.id
    }
}
impl Eq for Graph {}

impl Default for Graph {
    fn default() -> Self {
        Graph::new()
    }
}

fn entropy_seed() -> u64 {
    let mut buf = [0u8; 8];
    if getrandom::getrandom(&mut buf).is_err() {
        // No OS entropy: fall back to time and a process-unique counter.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        return t ^ sync::next_id().rotate_left(32);
    }
    // Keep seeds within TF's positive int32 range so they survive TF's truncation and
    // can be passed back through `Graph::with_seed` unchanged.
    u64::from_le_bytes(buf) % (i32::MAX as u64)
}

impl Graph {
    /// A new graph with a random seed drawn from OS entropy (see [`Graph::seed`]).
    pub fn new() -> Graph {
        Graph::build(entropy_seed(), false)
    }

    /// A new graph with a fixed graph-level seed (TF's `set_random_seed`).
    pub fn with_seed(seed: u64) -> Graph {
        Graph::build(seed, true)
    }

    /// A new graph with a fixed seed and a given number of store shards (rounded up
    /// to a power of two). Mostly for tests and benchmarks.
    pub fn with_seed_and_shards(seed: u64, shards: usize) -> Graph {
        Graph::build_with(seed, true, VariableStore::with_shards(shards))
    }

    fn build(seed: u64, explicit: bool) -> Graph {
        Graph::build_with(seed, explicit, VariableStore::new())
    }

    fn build_with(seed: u64, seed_is_explicit: bool, store: VariableStore) -> Graph {
        Graph {
            inner: Arc::new(GraphInner {
                id: sync::next_id(),
                seed,
                seed_is_explicit,
                store,
                names_in_use: Mutex::new(HashMap::new()),
                ops: Mutex::new(OpRegistry::default()),
                collections: Mutex::new(HashMap::new()),
                all_variables: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The graph-level random seed. A graph made with [`Graph::new`] draws it from OS
    /// entropy; pass it to [`Graph::with_seed`] to reproduce the run.
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// Whether the seed was given explicitly.
    pub fn seed_is_explicit(&self) -> bool {
        self.inner.seed_is_explicit
    }

    /// A process-unique id of this graph.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The calling thread's default graph: the innermost one made default with
    /// [`Graph::as_default`] / [`Graph::as_default_guard`] on this thread, or else
    /// the process-wide default graph.
    pub fn current() -> Graph {
        CONTEXT
            .with(|c| c.borrow().default_graphs.last().cloned())
            .unwrap_or_else(|| PROCESS_DEFAULT.clone())
    }

    /// The process-wide default graph, used by threads that set none.
    pub fn process_default() -> Graph {
        PROCESS_DEFAULT.clone()
    }

    /// Runs `f` with this graph as the calling thread's default graph.
    pub fn as_default<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.as_default_guard();
        f()
    }

    /// Makes this graph the calling thread's default graph until the guard drops.
    /// Guards must be dropped in reverse order of creation.
    pub fn as_default_guard(&self) -> DefaultGraphGuard {
        let depth = CONTEXT.with(|c| {
            let mut c = c.borrow_mut();
            c.default_graphs.push(self.clone());
            c.default_graphs.len()
        });
        DefaultGraphGuard {
            depth,
            _not_send: PhantomData,
        }
    }

    /// TF's `unique_name`: `name` under the calling thread's name scope, made unique
    /// graph-wide and case-insensitively (`foo`, `foo_1`, …). With `mark`, the name is
    /// recorded as used.
    pub fn unique_name(&self, name: &str, mark: bool) -> String {
        let stack = self.name_stack();
        self.unique_name_at(&names::join(&stack, name), mark)
    }

    /// `unique_name` of an already absolute name (no name stack applied).
    pub(crate) fn unique_name_at(&self, name: &str, mark: bool) -> String {
        let mut used = self.inner.names_in_use.lock();
        let key = name.to_lowercase();
        let mut i = used.get(&key).copied().unwrap_or(0);
        if mark {
            used.insert(key.clone(), i + 1);
        }
        if i == 0 {
            return name.to_string();
        }
        let base = key;
        let mut candidate = format!("{base}_{i}");
        while used.contains_key(&candidate) {
            i += 1;
            candidate = format!("{base}_{i}");
        }
        if mark {
            used.insert(candidate, 1);
        }
        format!("{name}_{i}")
    }

    /// The calling thread's current name scope (without trailing slash; `""` at root).
    pub fn name_stack(&self) -> String {
        self.with_thread_state(|s| s.name_stack.clone())
    }

    /// Creates an op record and returns its unique name: `name` (or `op_type` when
    /// `None`) under the current name scope, uniquified; a name ending in `/` is used
    /// verbatim without the slash.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the resulting name is not a valid op name.
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
        self.register_op(&full, op_type)?;
        Ok(full)
    }

    /// Records an op name; a name already taken by another op is an error (TF's
    /// "Duplicate node name in graph"), which only absolute names (ending in `/`)
    /// can hit.
    pub(crate) fn register_op(&self, name: &str, op_type: &str) -> Result<()> {
        let mut ops = self.inner.ops.lock();
        if !ops.names.insert(name.to_string()) {
            return Err(Error::invalid_arg(format!(
                "Duplicate node name in graph: '{name}'"
            )));
        }
        ops.records.push(OpRecord {
            name: name.to_string(),
            op_type: op_type.to_string(),
        });
        Ok(())
    }

    /// Whether an op of this exact name exists.
    pub fn has_op(&self, name: &str) -> bool {
        self.inner.ops.lock().names.contains(name)
    }

    /// Every op created through [`Graph::create_op`], in creation order.
    pub fn ops(&self) -> Vec<OpRecord> {
        self.inner.ops.lock().records.clone()
    }

    /// Appends a variable to a collection.
    pub fn add_to_collection(&self, key: &str, var: &Variable) {
        self.push_item(key, CollectionItem::Variable(var.clone()));
    }

    pub(crate) fn push_item(&self, key: &str, item: CollectionItem) {
        self.inner
            .collections
            .lock()
            .entry(key.to_string())
            .or_default()
            .push(item);
    }

    pub(crate) fn record_variable(&self, var: &Variable) {
        self.inner.all_variables.lock().push(var.clone());
    }

    /// The items of a collection, in insertion order.
    pub fn collection_items(&self, key: &str) -> Vec<CollectionItem> {
        self.inner
            .collections
            .lock()
            .get(key)
            .cloned()
            .unwrap_or_default()
    }

    /// The variables of a collection, in insertion order.
    pub fn get_collection(&self, key: &str) -> Vec<Variable> {
        self.get_collection_scoped(key, "")
    }

    /// The variables of a collection whose names start with `scope` — a *literal*
    /// prefix (TF matches it as a regex; see "Differences from TF1").
    pub fn get_collection_scoped(&self, key: &str, scope: &str) -> Vec<Variable> {
        let cols = self.inner.collections.lock();
        cols.get(key)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| match i {
                        CollectionItem::Variable(v) if v.name().starts_with(scope) => {
                            Some(v.clone())
                        }
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Length of a collection.
    pub fn collection_len(&self, key: &str) -> usize {
        self.inner.collections.lock().get(key).map_or(0, Vec::len)
    }

    /// All global variables, in creation order.
    pub fn global_variables(&self) -> Vec<Variable> {
        self.get_collection(GLOBAL_VARIABLES)
    }

    /// All trainable variables, in creation order.
    pub fn trainable_variables(&self) -> Vec<Variable> {
        self.get_collection(TRAINABLE_VARIABLES)
    }

    /// All local variables, in creation order.
    pub fn local_variables(&self) -> Vec<Variable> {
        self.get_collection(LOCAL_VARIABLES)
    }

    /// The regularization losses, in creation order.
    pub fn regularization_losses(&self) -> Vec<RegularizationLoss> {
        self.collection_items(REGULARIZATION_LOSSES)
            .into_iter()
            .filter_map(|i| match i {
                CollectionItem::Loss(l) => Some(l),
                CollectionItem::Variable(_) => None,
            })
            .collect()
    }

    /// Every variable of the graph — `get_variable` ones, their shards, and plain
    /// variables — in creation order, whatever collections they are in.
    pub fn all_variables(&self) -> Vec<Variable> {
        self.inner.all_variables.lock().clone()
    }

    /// The variable store of this graph.
    pub fn store(&self) -> &VariableStore {
        &self.inner.store
    }

    /// Materializes the values of every variable that is still pending, in parallel
    /// across and within variables. Returns the number of bytes initialized.
    ///
    /// # Errors
    /// The first initializer error met; other variables are still initialized.
    pub fn initialize_all(&self) -> Result<u64> {
        self.initialize_all_with_progress(|_| {})
    }

    /// As [`Graph::initialize_all`], calling `progress(bytes)` after each variable
    /// with the bytes it initialized (from whichever thread finished it).
    ///
    /// # Errors
    /// The first initializer error met; other variables are still initialized.
    pub fn initialize_all_with_progress(&self, progress: impl Fn(u64) + Sync) -> Result<u64> {
        let pending: Vec<Variable> = self
            .all_variables()
            .into_iter()
            .filter(|v| !v.is_initialized())
            .collect();
        crate::variable::initialize_many(&pending, &progress)
    }

    /// Runs `f` on the calling thread's scope state for this graph.
    pub(crate) fn with_thread_state<R>(&self, f: impl FnOnce(&mut ThreadState) -> R) -> R {
        CONTEXT.with(|c| {
            let mut c = c.borrow_mut();
            let state = c
                .states
                .entry(self.inner.id)
                .or_insert_with(ThreadState::new);
            f(state)
        })
    }

    /// Runs `f` with fresh scope state for this graph on the calling thread — root
    /// variable scope, empty name scope, empty counters — as a new thread would see,
    /// restoring the previous state afterwards (also on panic).
    pub fn with_fresh_thread_state<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore {
            id: u64,
            saved: Option<ThreadState>,
        }
        impl Drop for Restore {
            fn drop(&mut self) {
                let saved = self.saved.take();
                let _ = CONTEXT.try_with(|c| {
                    let mut c = c.borrow_mut();
                    match saved {
                        Some(s) => c.states.insert(self.id, s),
                        None => c.states.remove(&self.id),
                    };
                });
            }
        }
        let id = self.inner.id;
        let saved = CONTEXT.with(|c| c.borrow_mut().states.insert(id, ThreadState::new()));
        let _restore = Restore { id, saved };
        f()
    }
}

/// Restores the previous default graph of the thread when dropped.
#[must_use = "the graph stops being the default when the guard is dropped"]
#[derive(Debug)]
pub struct DefaultGraphGuard {
    depth: usize,
    _not_send: PhantomData<*const ()>,
}

impl Drop for DefaultGraphGuard {
    fn drop(&mut self) {
        let _ = CONTEXT.try_with(|c| {
            let mut c = c.borrow_mut();
            if c.default_graphs.len() == self.depth {
                c.default_graphs.pop();
            } else {
                // Misnested: drop everything above and including our level so the
                // stack stays consistent, without panicking in a destructor.
                c.default_graphs.truncate(self.depth.saturating_sub(1));
            }
        });
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

#[derive(Default)]
pub(crate) struct Context {
    default_graphs: Vec<Graph>,
    states: HashMap<u64, ThreadState, BuildHasherDefault<IdHasher>>,
}

sync::thread_local! {
    static CONTEXT: RefCell<Context> = RefCell::new(Context::default());
}

sync::lazy_global! {
    static PROCESS_DEFAULT: Graph = Graph::new();
}
