//! [`Graph`]: the shared half of the scoping state — variable store, op-name registry,
//! collections and random seed — plus the per-thread default-graph stack.
//!
//! Everything here is shared by all threads and striped so that threads working on
//! different names do not contend: the store by full name ([`store`]), op names by
//! name family ([`op_names`]), collections by thread ([`collections`]). The
//! per-thread half (scope stacks, name stacks, default-name counters) is the scope
//! layer's, which keys it by [`Graph::id`].

mod collections;
mod op_names;
pub(crate) mod store;

pub use collections::{
    CollectionItem, GLOBAL_VARIABLES, LOCAL_VARIABLES, REGULARIZATION_LOSSES, TRAINABLE_VARIABLES,
};

use crate::error::{Error, Result};
use crate::slot_map::Key;
use crate::sync::{self, Arc};
use crate::variable::{RegularizationLoss, Variable};
use collections::{Collections, Membership};
use crossbeam_utils::CachePadded;
use op_names::OpNames;
pub(crate) use op_names::OpType;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use store::VariableStore;

/// A record of an op created through [`Graph::create_op`]: only its name and type.
///
/// ```
/// use varscope::{Graph, OpRecord};
/// let g = Graph::new();
/// g.create_op("Const", None).unwrap();
/// let rec = OpRecord { name: "Const".into(), op_type: "Const".into() };
/// assert_eq!(g.ops(), vec![rec]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpRecord {
    /// The unique op name (`scope/Const_1`).
    pub name: String,
    /// The op type (`Const`).
    pub op_type: String,
}

pub(crate) struct GraphInner {
    pub(crate) id: u64,
    seed: u64,
    seed_is_explicit: bool,
    pub(crate) store: VariableStore,
    op_names: OpNames,
    collections: Collections,
    /// The graph's event counter: numbers ops and collection appends, so reads can
    /// put them back in the order they happened. Every creation writes it, so it
    /// has a cache line of its own: the fields beside it are read on every call, and
    /// sharing their line would make each creation on one core a cache miss for the
    /// calls on every other.
    events: CachePadded<std::sync::atomic::AtomicU64>,
    /// Dropped with the graph: per-thread state of a dead graph can be recognized
    /// (and freed) through a [`GraphToken`].
    alive: std::sync::Arc<()>,
}

/// Graphs dropped so far, process-wide: a thread that sees this change frees its
/// scope state of the graphs that are gone (see [`graphs_dropped`]).
static GRAPHS_DROPPED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many graphs have been dropped so far in this process.
pub(crate) fn graphs_dropped() -> u64 {
    GRAPHS_DROPPED.load(std::sync::atomic::Ordering::Acquire)
}

impl Drop for GraphInner {
    fn drop(&mut self) {
        // `alive` is dropped after this body; bumping first would let a thread sweep
        // before the token is dead and miss it. So drop the token's target now.
        self.alive = std::sync::Arc::new(());
        GRAPHS_DROPPED.fetch_add(1, std::sync::atomic::Ordering::Release);
    }
}

/// A weak token of a graph, telling whether it is still alive without keeping it so.
#[derive(Debug, Clone)]
pub(crate) struct GraphToken(std::sync::Weak<()>);

impl GraphToken {
    pub(crate) fn is_alive(&self) -> bool {
        self.0.strong_count() > 0
    }
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
    ///
    /// ```
    /// use varscope::Graph;
    /// let (a, b) = (Graph::new(), Graph::new());
    /// assert_ne!(a.id(), b.id());
    /// assert!(!a.seed_is_explicit());
    /// ```
    pub fn new() -> Graph {
        Graph::build(entropy_seed(), false)
    }

    /// A new graph with a fixed graph-level seed (TF's `set_random_seed`).
    ///
    /// ```
    /// use varscope::{get_variable, Graph};
    /// // The same seed and names give the same values.
    /// let value = |seed| {
    ///     let g = Graph::with_seed(seed);
    ///     g.as_default(|| get_variable("w").shape([3]).build()).unwrap().value().unwrap()
    /// };
    /// assert_eq!(value(42), value(42));
    /// assert_ne!(value(42), value(43));
    /// ```
    pub fn with_seed(seed: u64) -> Graph {
        Graph::build(seed, true)
    }

    /// A new graph with a fixed seed and a given number of store shards (rounded up
    /// to a power of two): a hook for this crate's own tests and loom models (feature
    /// `test-hooks`), not part of the API.
    #[cfg(any(loom, feature = "test-hooks"))]
    #[doc(hidden)]
    pub fn with_seed_and_shards(seed: u64, shards: usize) -> Graph {
        Graph::build_with(seed, true, VariableStore::with_shards(shards))
    }

    fn build(seed: u64, explicit: bool) -> Graph {
        Graph::build_with(seed, explicit, VariableStore::new())
    }

    fn build_with(seed: u64, seed_is_explicit: bool, store: VariableStore) -> Graph {
        let stripes = store.shard_count();
        Graph {
            inner: Arc::new(GraphInner {
                id: sync::next_id(),
                seed,
                seed_is_explicit,
                store,
                op_names: OpNames::with_stripes(stripes),
                collections: Collections::with_stripes(stripes),
                events: CachePadded::new(std::sync::atomic::AtomicU64::new(0)),
                alive: std::sync::Arc::new(()),
            }),
        }
    }

    /// A token telling whether this graph is still alive.
    pub(crate) fn token(&self) -> GraphToken {
        GraphToken(std::sync::Arc::downgrade(&self.inner.alive))
    }

    /// The graph-level random seed. A graph made with [`Graph::new`] draws it from OS
    /// entropy; pass it to [`Graph::with_seed`] to reproduce the run.
    ///
    /// ```
    /// use varscope::Graph;
    /// assert_eq!(Graph::with_seed(7).seed(), 7);
    /// // A drawn seed reproduces the graph's values when passed back.
    /// let g = Graph::new();
    /// let again = Graph::with_seed(g.seed());
    /// assert_eq!(again.seed(), g.seed());
    /// ```
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// Whether the seed was given explicitly.
    ///
    /// ```
    /// use varscope::Graph;
    /// assert!(Graph::with_seed(7).seed_is_explicit());
    /// assert!(!Graph::new().seed_is_explicit());
    /// ```
    pub fn seed_is_explicit(&self) -> bool {
        self.inner.seed_is_explicit
    }

    /// A process-unique id of this graph.
    ///
    /// ```
    /// use varscope::Graph;
    /// let g = Graph::new();
    /// assert_eq!(g.clone().id(), g.id()); // clones share the graph
    /// assert_ne!(Graph::new().id(), g.id());
    /// ```
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The calling thread's default graph: the innermost one made default with
    /// [`Graph::as_default`] / [`Graph::as_default_guard`] on this thread, or else
    /// the process-wide default graph.
    ///
    /// ```
    /// use varscope::Graph;
    /// assert_eq!(Graph::current(), Graph::process_default());
    /// let g = Graph::new();
    /// g.as_default(|| assert_eq!(Graph::current(), g));
    /// ```
    pub fn current() -> Graph {
        CONTEXT
            .with(|c| c.borrow().default_graphs.last().map(|g| Graph::clone(g)))
            .unwrap_or_else(|| PROCESS_DEFAULT.clone())
    }

    /// Runs `f` on the calling thread's default graph without cloning its handle.
    /// `f` must not change the thread's default graph.
    pub(crate) fn with_current<R>(f: impl FnOnce(&Graph) -> R) -> R {
        CONTEXT.with(|c| match c.borrow().default_graphs.last() {
            Some(g) => f(g),
            None => f(&PROCESS_DEFAULT),
        })
    }

    /// The calling thread's default graph as a thread-local handle: cloning it and
    /// dropping it touch no shared counter (unlike cloning the `Graph`), and it stays
    /// valid while user code changes the default graph.
    pub(crate) fn current_local() -> std::rc::Rc<Graph> {
        CONTEXT.with(|c| {
            let mut c = c.borrow_mut();
            if let Some(g) = c.default_graphs.last() {
                return g.clone();
            }
            c.process_default
                .get_or_insert_with(|| std::rc::Rc::new(PROCESS_DEFAULT.clone()))
                .clone()
        })
    }

    /// The process-wide default graph, used by threads that set none.
    ///
    /// ```
    /// use varscope::Graph;
    /// // The same graph on every thread that sets no default.
    /// let here = Graph::process_default();
    /// let there = std::thread::spawn(Graph::current).join().unwrap();
    /// assert_eq!(here, there);
    /// ```
    pub fn process_default() -> Graph {
        PROCESS_DEFAULT.clone()
    }

    /// Runs `f` with this graph as the calling thread's default graph.
    ///
    /// ```
    /// use varscope::{get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// let w = g.as_default(|| get_variable("w").shape([2]).build()).unwrap();
    /// assert_eq!(g.global_variables(), vec![w]);
    /// // Nested: the innermost graph is the default.
    /// let inner = Graph::with_seed(2);
    /// g.as_default(|| inner.as_default(|| assert_eq!(Graph::current().id(), inner.id())));
    /// ```
    pub fn as_default<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.as_default_guard();
        f()
    }

    /// Makes this graph the calling thread's default graph until the guard drops.
    /// Guards must be dropped in reverse order of creation.
    ///
    /// ```
    /// use varscope::{get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// {
    ///     let _default = g.as_default_guard();
    ///     get_variable("w").shape([2]).build().unwrap();
    /// }
    /// assert_eq!(g.global_variables().len(), 1);
    /// ```
    pub fn as_default_guard(&self) -> DefaultGraphGuard {
        let depth = CONTEXT.with(|c| {
            let mut c = c.borrow_mut();
            c.default_graphs.push(std::rc::Rc::new(self.clone()));
            c.default_graphs.len()
        });
        DefaultGraphGuard {
            depth,
            _not_send: PhantomData,
        }
    }

    /// `unique_name(name, mark_as_used=True)` of an absolute name, as a shared name
    /// (what a name scope holds).
    pub(crate) fn unique_name_key(&self, name: &str) -> Key {
        self.inner.op_names.unique_key(name)
    }

    /// `unique_name` of an already absolute name (no name stack applied).
    pub(crate) fn unique_name_at(&self, name: &str, mark: bool) -> String {
        self.inner.op_names.unique(name, mark)
    }

    /// Uniquifies `name` (absolute) and registers a variable op under the result, in
    /// one step; `stored` is a shared copy of `name` to use when it is unchanged.
    /// Returns the op name and the op's event number.
    pub(crate) fn unique_variable_op(
        &self,
        name: &str,
        stored: Option<&Key>,
    ) -> Result<(Key, u64)> {
        self.inner
            .op_names
            .unique_and_register(name, stored, OpType::Variable, &self.inner.events)
            .map_err(|n| Error::invalid_arg(format!("Duplicate node name in graph: '{n}'")))
    }

    /// The next event number.
    pub(crate) fn next_event(&self) -> u64 {
        self.inner
            .events
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Records an op name; a name already taken by another op is an error (TF's
    /// "Duplicate node name in graph"), which only absolute names (ending in `/`)
    /// can hit.
    /// Returns the op's event number.
    pub(crate) fn register_op(&self, name: Key, op_type: OpType) -> Result<u64> {
        match self
            .inner
            .op_names
            .register(name.clone(), op_type, &self.inner.events)
        {
            Some(seq) => Ok(seq),
            None => Err(Error::invalid_arg(format!(
                "Duplicate node name in graph: '{name}'"
            ))),
        }
    }

    /// Whether an op of this exact name exists.
    ///
    /// ```
    /// use varscope::{get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| get_variable("w").shape([1]).build()).unwrap();
    /// assert!(g.has_op("w"));
    /// assert!(!g.has_op("v"));
    /// ```
    pub fn has_op(&self, name: &str) -> bool {
        self.inner.op_names.contains(name)
    }

    /// Every op created through [`Graph::create_op`] (and every variable op), in
    /// creation order.
    ///
    /// ```
    /// use varscope::{get_variable, name_scope, Graph};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| -> varscope::Result<()> {
    ///     get_variable("w").shape([1]).build()?;
    ///     name_scope("loss", |_| g.create_op("Add", None))?;
    ///     Ok(())
    /// }).unwrap();
    /// let ops: Vec<_> = g.ops().into_iter().map(|o| (o.name, o.op_type)).collect();
    /// assert_eq!(ops[0].0, "w");
    /// assert_eq!(ops.last().unwrap(), &("loss/Add".to_string(), "Add".to_string()));
    /// ```
    pub fn ops(&self) -> Vec<OpRecord> {
        self.inner
            .op_names
            .ops()
            .into_iter()
            .map(|(name, t)| OpRecord {
                name: name.to_string(),
                op_type: t.as_str().to_string(),
            })
            .collect()
    }

    /// Appends a variable to a collection.
    ///
    /// ```
    /// use varscope::{get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// let v = g.as_default(|| get_variable("w").shape([1]).build()).unwrap();
    /// g.add_to_collection("ema", &v);
    /// g.add_to_collection("ema", &v); // no deduplication, as in TF
    /// assert_eq!(g.collection_len("ema"), 2);
    /// ```
    pub fn add_to_collection(&self, key: &str, var: &Variable) {
        let seq = self.next_event();
        self.inner
            .collections
            .push_to(key, CollectionItem::Variable(var.clone()), seq);
    }

    /// Records a new variable in the graph and its collections (TF: each listed
    /// collection once, `global_variables` when none are listed; trainable variables
    /// also go to `trainable_variables`), as event `seq` (its op's).
    pub(crate) fn register_variable(
        &self,
        var: &Variable,
        collections: Option<&[String]>,
        trainable: bool,
        seq: u64,
    ) {
        let (of, extra) = match collections {
            None => (
                Membership::builtins(collections::default_mask(trainable)),
                Vec::new(),
            ),
            Some(keys) => {
                let base = collections::ALL
                    | if trainable {
                        collections::trainable_bit()
                    } else {
                        0
                    };
                self.inner
                    .collections
                    .membership(base, keys.iter().map(String::as_str))
            }
        };
        self.inner
            .collections
            .push(CollectionItem::Variable(var.clone()), of, &extra, seq);
    }

    /// Records a regularization loss.
    pub(crate) fn add_loss(&self, loss: RegularizationLoss) {
        let seq = self.next_event();
        self.inner
            .collections
            .push_to(REGULARIZATION_LOSSES, CollectionItem::Loss(loss), seq);
    }

    /// The items of a collection, in insertion order.
    ///
    /// ```
    /// use varscope::{get_variable, CollectionItem, Graph, Regularizer, REGULARIZATION_LOSSES};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| get_variable("w").shape([2]).regularizer(Regularizer::l1(1.0)).build()).unwrap();
    /// let items = g.collection_items(REGULARIZATION_LOSSES);
    /// assert!(matches!(&items[..], [CollectionItem::Loss(l)] if l.variable().name() == "w:0"));
    /// ```
    pub fn collection_items(&self, key: &str) -> Vec<CollectionItem> {
        self.inner.collections.items(key)
    }

    /// The variables of a collection, in insertion order.
    ///
    /// ```
    /// use varscope::{get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// let v = g.as_default(|| get_variable("w").shape([1]).build()).unwrap();
    /// g.add_to_collection("weights", &v);
    /// assert_eq!(g.get_collection("weights"), vec![v]);
    /// assert!(g.get_collection("nothing").is_empty());
    /// ```
    pub fn get_collection(&self, key: &str) -> Vec<Variable> {
        self.get_collection_scoped(key, "")
    }

    /// The variables of a collection whose names start with `scope` — a *literal*
    /// prefix (TF matches it as a regex; see "Differences from TF1").
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, Graph, GLOBAL_VARIABLES};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| -> varscope::Result<()> {
    ///     variable_scope("enc").enter(|_| get_variable("w").shape([1]).build())?;
    ///     variable_scope("dec").enter(|_| get_variable("w").shape([1]).build())?;
    ///     Ok(())
    /// }).unwrap();
    /// let enc = g.get_collection_scoped(GLOBAL_VARIABLES, "enc/");
    /// assert_eq!(enc.iter().map(|v| v.name()).collect::<Vec<_>>(), ["enc/w:0"]);
    /// ```
    pub fn get_collection_scoped(&self, key: &str, scope: &str) -> Vec<Variable> {
        self.inner.collections.variables(key, scope)
    }

    /// Length of a collection.
    ///
    /// ```
    /// use varscope::{get_variable, Graph, GLOBAL_VARIABLES};
    /// let g = Graph::with_seed(1);
    /// assert_eq!(g.collection_len(GLOBAL_VARIABLES), 0);
    /// g.as_default(|| get_variable("w").shape([1]).build()).unwrap();
    /// assert_eq!(g.collection_len(GLOBAL_VARIABLES), 1);
    /// ```
    pub fn collection_len(&self, key: &str) -> usize {
        self.inner.collections.len(key)
    }

    /// All global variables, in creation order.
    ///
    /// ```
    /// use varscope::{get_local_variable, get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| -> varscope::Result<()> {
    ///     get_variable("w").shape([2]).build()?;
    ///     get_variable("step").shape([1]).trainable(false).build()?;
    ///     get_local_variable("seen").shape([1]).build()?;
    ///     Ok(())
    /// }).unwrap();
    /// let names = |vs: Vec<varscope::Variable>| vs.iter().map(|v| v.name()).collect::<Vec<_>>();
    /// assert_eq!(names(g.global_variables()), ["w:0", "step:0"]);
    /// assert_eq!(names(g.trainable_variables()), ["w:0"]);
    /// assert_eq!(names(g.local_variables()), ["seen:0"]);
    /// ```
    pub fn global_variables(&self) -> Vec<Variable> {
        self.get_collection(GLOBAL_VARIABLES)
    }

    /// All trainable variables, in creation order.
    ///
    /// ```
    /// use varscope::{get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// let (w, _step) = g.as_default(|| -> varscope::Result<_> {
    ///     Ok((get_variable("w").shape([1]).build()?,
    ///         get_variable("step").shape([1]).trainable(false).build()?))
    /// }).unwrap();
    /// assert_eq!(g.trainable_variables(), vec![w]);
    /// ```
    pub fn trainable_variables(&self) -> Vec<Variable> {
        self.get_collection(TRAINABLE_VARIABLES)
    }

    /// All local variables, in creation order.
    ///
    /// ```
    /// use varscope::{get_local_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// let seen = g.as_default(|| get_local_variable("seen").shape([1]).build()).unwrap();
    /// assert_eq!(g.local_variables(), vec![seen.clone()]);
    /// assert!(!seen.trainable());
    /// assert!(g.global_variables().is_empty());
    /// ```
    pub fn local_variables(&self) -> Vec<Variable> {
        self.get_collection(LOCAL_VARIABLES)
    }

    /// The regularization losses, in creation order.
    ///
    /// ```
    /// use varscope::{get_variable, Graph, Init, Regularizer};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| {
    ///     get_variable("w").shape([3]).initializer(Init::constant(2.0))
    ///         .regularizer(Regularizer::l1(0.5)).build()
    /// }).unwrap();
    /// let losses = g.regularization_losses();
    /// assert_eq!(losses.len(), 1);
    /// assert_eq!(losses[0].value().unwrap(), 0.5 * 3.0 * 2.0);
    /// ```
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
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| {
    ///     get_variable("emb").shape([4, 2]).partitioner(FixedSizePartitioner::new(2, 0)).build_partitioned()
    /// }).unwrap();
    /// let names: Vec<_> = g.all_variables().iter().map(|v| v.name()).collect();
    /// assert_eq!(names, ["emb/part_0:0", "emb/part_1:0"]);
    /// ```
    pub fn all_variables(&self) -> Vec<Variable> {
        self.inner.collections.all_variables()
    }

    /// The variable store of this graph.
    ///
    /// ```
    /// use varscope::{get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// let w = g.as_default(|| get_variable("w").shape([1]).build()).unwrap();
    /// assert_eq!(g.store().len(), 1);
    /// assert_eq!(g.store().get("w").unwrap().into_single().unwrap(), w);
    /// ```
    pub fn store(&self) -> &VariableStore {
        &self.inner.store
    }

    /// Materializes the values of every variable that is still pending, in parallel
    /// across and within variables. Returns the number of bytes initialized.
    ///
    /// # Errors
    /// The first initializer error met; other variables are still initialized.
    ///
    /// ```
    /// use varscope::{get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// let w = g.as_default(|| get_variable("w").shape([256, 4]).build()).unwrap();
    /// assert!(!w.is_initialized());                 // values are lazy …
    /// assert_eq!(g.initialize_all().unwrap(), 256 * 4 * 4);
    /// assert!(w.is_initialized());                  // … until asked for
    /// assert_eq!(g.initialize_all().unwrap(), 0);   // nothing left to do
    /// ```
    pub fn initialize_all(&self) -> Result<u64> {
        self.initialize_all_with_progress(|_| {})
    }

    /// As [`Graph::initialize_all`], calling `progress(bytes)` after each variable
    /// with the bytes it initialized (from whichever thread finished it).
    ///
    /// # Errors
    /// The first initializer error met; other variables are still initialized.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use varscope::{get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| -> varscope::Result<()> {
    ///     get_variable("a").shape([8]).build()?;
    ///     get_variable("b").shape([2]).build()?;
    ///     Ok(())
    /// }).unwrap();
    /// let seen = AtomicU64::new(0);
    /// let total = g.initialize_all_with_progress(|b| { seen.fetch_add(b, Ordering::Relaxed); }).unwrap();
    /// assert_eq!(seen.into_inner(), total);
    /// ```
    pub fn initialize_all_with_progress(&self, progress: impl Fn(u64) + Sync) -> Result<u64> {
        let pending: Vec<Variable> = self
            .all_variables()
            .into_iter()
            .filter(|v| !v.is_initialized())
            .collect();
        crate::variable::initialize_many(&pending, &progress)
    }
}

/// Restores the previous default graph of the thread when dropped.
///
/// ```
/// use varscope::Graph;
/// let g = Graph::new();
/// let guard = g.as_default_guard();
/// assert_eq!(Graph::current(), g);
/// drop(guard);
/// assert_eq!(Graph::current(), Graph::process_default());
/// ```
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

#[derive(Default)]
struct Context {
    /// The stack of default graphs (thread-local handles; see `current_local`).
    default_graphs: Vec<std::rc::Rc<Graph>>,
    /// This thread's handle of the process-wide default graph, made on first use.
    process_default: Option<std::rc::Rc<Graph>>,
}

sync::thread_local! {
    static CONTEXT: RefCell<Context> = RefCell::new(Context::default());
}

sync::lazy_global! {
    static PROCESS_DEFAULT: Graph = Graph::new();
}
