//! `get_variable`: the builder, the allocation-free reuse hit, argument resolution
//! against the current scope, and the true getter at the end of the custom-getter
//! chain, which takes the single ([`single`]) or the partitioned
//! ([`partitioned`]) path. Plain variables (`tf.Variable`) are in [`plain`].

mod partitioned;
mod plain;
mod single;

pub use plain::{variable, PlainVariableBuilder};

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::store::Entry;
use crate::graph::{Graph, LOCAL_VARIABLES};
use crate::initializer::Init;
use crate::names;
use crate::scope::defaults::{defaults_setters, ScopeDefaults};
use crate::scope::thread_state::{with_state, with_states, SharedName};
use crate::scope::{CustomGetter, GetterArgs, NextGetter, Reuse};
use crate::shape::{IntoShape, PartialShape, Shape};
use crate::slot_map::{Outcome, Probe};
use crate::sync;
use crate::variable::{AnyVariable, PartitionedVariable, Variable};
use partitioned::get_partitioned;
use single::{check_reuse, commit_single, initializer_of, mode, prepare_single, CommitArgs};
use std::cell::Cell;
use std::fmt;

/// Gets an existing variable or creates a new one in the current variable scope:
/// TF1's `tf.get_variable`. Configure the call, then [`build`](GetVariable::build).
///
/// ```
/// use varscope::{get_variable, variable_scope, Graph, Init, Reuse};
/// Graph::with_seed(7).as_default(|| {
///     let w = variable_scope("layer").enter(|_| {
///         get_variable("w").shape([3, 4]).initializer(Init::zeros()).build()
///     }).unwrap();
///     assert_eq!(w.name(), "layer/w:0");
///     // The same name again without reuse is an error, with TF's hint:
///     let err = variable_scope("layer").enter(|_| get_variable("w").shape([3, 4]).build())
///         .unwrap_err();
///     assert!(err.to_string().contains("Did you mean to set reuse=True"));
/// });
/// ```
#[inline]
pub fn get_variable(name: &str) -> GetVariable<'_> {
    GetVariable::new(name, false)
}

/// As [`get_variable`], for a local variable: not trainable, in
/// `local_variables` (and not in `global_variables`).
///
/// ```
/// use varscope::{get_local_variable, Graph};
/// let g = Graph::with_seed(1);
/// let v = g.as_default(|| get_local_variable("count").shape([1]).build()).unwrap();
/// assert!(!v.trainable());
/// assert_eq!(g.local_variables(), vec![v]);
/// assert!(g.global_variables().is_empty());
/// ```
pub fn get_local_variable(name: &str) -> GetVariable<'_> {
    GetVariable::new(name, true)
}

/// A `get_variable` call being configured.
///
/// ```
/// use varscope::{get_variable, DType, Graph, Init};
/// Graph::with_seed(1).as_default(|| {
///     let builder = get_variable("w").shape([2, 2]).dtype(DType::F64).initializer(Init::ones());
///     let w = builder.clone().build().unwrap();
///     assert_eq!(w.dtype(), DType::F64);
/// });
/// ```
#[must_use = "call build() to get the variable"]
#[derive(Clone)]
pub struct GetVariable<'a> {
    name: &'a str,
    /// The requested shape.
    shape: Option<ShapeArg>,
    /// The call's initializer and dtype, kept inline: most calls set one or both.
    initializer: Option<Init>,
    dtype: Option<DType>,
    /// What few calls set: boxed, and only when set, so that the builder stays small
    /// enough to be moved without a `memcpy` call.
    rare: Option<Box<Rare>>,
    trainable: Option<bool>,
    validate_shape: bool,
    local: bool,
    graph: Option<Graph>,
}

impl fmt::Debug for GetVariable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetVariable")
            .field("name", &self.name)
            .field("dtype", &self.dtype)
            .field("initializer", &self.initializer)
            .finish_non_exhaustive()
    }
}

impl<'a> GetVariable<'a> {
    #[inline]
    fn new(name: &'a str, local: bool) -> Self {
        GetVariable {
            name,
            shape: None,
            initializer: None,
            dtype: None,
            rare: None,
            trainable: None,
            validate_shape: true,
            local,
            graph: None,
        }
    }

    /// The shape (required to create, unless the initializer is a value).
    ///
    /// ```
    /// use varscope::{get_variable, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     let w = get_variable("w").shape([3usize, 4]).build().unwrap();
    ///     assert_eq!(w.shape().dims(), &[3, 4]);
    ///     let scalar = get_variable("s").shape(Vec::<usize>::new()).build().unwrap();
    ///     assert_eq!(scalar.shape().num_elements(), 1);
    ///     // Without an initializer value the shape is required.
    ///     assert!(get_variable("none").build().is_err());
    /// });
    /// ```
    #[inline]
    pub fn shape(mut self, shape: impl IntoShape) -> Self {
        self.shape = Some(match shape.into_shape_or_partial() {
            Ok(Ok(known)) => ShapeArg::Known(known),
            Ok(Err(partial)) => ShapeArg::Partial(partial),
            Err(e) => ShapeArg::Invalid(Box::new(e)),
        });
        self
    }
    /// Whether the variable is trainable (default true).
    ///
    /// ```
    /// use varscope::{get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| get_variable("step").shape([1]).trainable(false).build()).unwrap();
    /// assert!(g.trainable_variables().is_empty());
    /// assert_eq!(g.global_variables().len(), 1);
    /// ```
    pub fn trainable(mut self, t: bool) -> Self {
        self.trainable = Some(t);
        self
    }
    /// Collections to add the variable to (default: global variables; trainable
    /// variables are always added to `trainable_variables` too).
    ///
    /// ```
    /// use varscope::{get_variable, Graph, GLOBAL_VARIABLES};
    /// let g = Graph::with_seed(1);
    /// let v = g.as_default(|| {
    ///     get_variable("w").shape([1]).collections([GLOBAL_VARIABLES, "my_weights"]).build()
    /// }).unwrap();
    /// assert_eq!(g.get_collection("my_weights"), vec![v.clone()]);
    /// assert_eq!(g.trainable_variables(), vec![v]);
    /// ```
    pub fn collections<S: Into<String>>(mut self, c: impl IntoIterator<Item = S>) -> Self {
        self.rare_mut().collections = Some(c.into_iter().map(Into::into).collect());
        self
    }
    /// Whether to validate the shape of a value initializer.
    ///
    /// ```
    /// use varscope::{get_variable, Graph, Init, Tensor};
    /// Graph::with_seed(1).as_default(|| {
    ///     let value = Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap();
    ///     let v = get_variable("v").initializer(Init::from_value(value)).validate_shape(false)
    ///         .build().unwrap();
    ///     assert_eq!(v.shape().dims(), &[2]);
    /// });
    /// ```
    pub fn validate_shape(mut self, v: bool) -> Self {
        self.validate_shape = v;
        self
    }
    /// A custom getter for this call only (replaces the scope's).
    ///
    /// ```
    /// use varscope::{get_variable, CustomGetter, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     // A getter that renames every variable it is asked for.
    ///     let suffix = CustomGetter::new(|next, mut args| {
    ///         args.name = format!("{}_ema", args.name);
    ///         next.get(args)
    ///     });
    ///     let v = get_variable("w").shape([1]).custom_getter(suffix).build().unwrap();
    ///     assert_eq!(v.name(), "w_ema:0");
    /// });
    /// ```
    pub fn custom_getter(mut self, g: CustomGetter) -> Self {
        self.defaults_mut().custom_getters = vec![g];
        self
    }

    fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Default::default)
    }
    fn defaults_mut(&mut self) -> &mut ScopeDefaults {
        self.rare_mut()
            .defaults
            .get_or_insert_with(Default::default)
    }
    fn set_initializer(&mut self, init: Init) {
        self.initializer = Some(init);
    }
    fn set_dtype(&mut self, d: DType) {
        self.dtype = Some(d);
    }

    /// Uses `graph` instead of the thread's default graph.
    ///
    /// ```
    /// use varscope::{get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// // No `as_default` needed.
    /// let v = get_variable("w").shape([1]).graph(&g).build().unwrap();
    /// assert_eq!(g.global_variables(), vec![v]);
    /// ```
    pub fn graph(mut self, g: &Graph) -> Self {
        self.graph = Some(g.clone());
        self
    }

    defaults_setters!("for this call (default: the scope's)");

    /// Gets or creates a single (unpartitioned) variable.
    ///
    /// # Errors
    /// Any error of [`build_any`](GetVariable::build_any), and
    /// [`Error::TypeMismatch`] if the result is partitioned.
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, Graph, Reuse};
    /// Graph::with_seed(1).as_default(|| {
    ///     let w = get_variable("w").shape([2]).build().unwrap();
    ///     let again = variable_scope("").reuse(Reuse::Yes)
    ///         .enter(|_| get_variable("w").shape([2]).build()).unwrap();
    ///     assert_eq!(w, again);
    /// });
    /// ```
    #[inline]
    pub fn build(self) -> Result<Variable> {
        self.build_any()?.into_single()
    }

    /// Gets or creates a partitioned variable.
    ///
    /// # Errors
    /// Any error of [`build_any`](GetVariable::build_any), and
    /// [`Error::TypeMismatch`] if the result is not partitioned.
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     let emb = get_variable("emb").shape([10, 4])
    ///         .partitioner(FixedSizePartitioner::new(2, 0)).build_partitioned().unwrap();
    ///     assert_eq!(emb.shards()[1].name(), "emb/part_1:0");
    ///     // A partitioned variable is not a single one.
    ///     assert!(get_variable("emb").shape([10, 4]).build().is_err());
    /// });
    /// ```
    pub fn build_partitioned(self) -> Result<PartitionedVariable> {
        self.build_any()?.into_partitioned()
    }

    /// Gets or creates the variable, partitioned or not.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`], [`Error::NotFound`], [`Error::ShapeMismatch`],
    /// [`Error::DTypeMismatch`], [`Error::ShapeRequired`],
    /// [`Error::PartitionMismatch`], [`Error::InvalidName`], [`Error::InvalidShape`],
    /// [`Error::Initializer`], [`Error::InitializerPanicked`], [`Error::Reentrant`],
    /// as TF1 raises them. The store is unchanged on error.
    ///
    /// ```
    /// use varscope::{get_variable, AnyVariable, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     match get_variable("w").shape([2]).build_any().unwrap() {
    ///         AnyVariable::Single(v) => assert_eq!(v.name(), "w:0"),
    ///         AnyVariable::Partitioned(p) => panic!("unexpected {}", p.name()),
    ///     }
    /// });
    /// ```
    pub fn build_any(mut self) -> Result<AnyVariable> {
        // Written in place: the hit returns one word.
        let mut bare = None;
        if let Some(v) = self.hit(&mut bare) {
            return Ok(AnyVariable::Single(v));
        }
        if let Some(b) = bare {
            let created = self.create_bare(&b);
            names::recycle(b.name);
            if let Some(v) = created? {
                return Ok(AnyVariable::Single(v));
            }
        }
        self.resolve_and_get()
    }

    /// Whether the call sets nothing a scope could default but its initializer
    /// (planned, not custom or a value) and dtype, and has a known shape: in a scope
    /// that sets no default but the dtype, it can be created without being resolved
    /// against the scope — unless its full name ends in `/` (an absolute op name).
    fn is_bare(&self) -> bool {
        self.rare.is_none()
            && !self.local
            && matches!(self.shape, Some(ShapeArg::Known(_)))
            && !matches!(self.initializer, Some(Init::Custom(_) | Init::Value(_)))
    }

    /// The reuse hit: an existing single variable in a reusing scope without custom
    /// getters or partitioner, whose shape and dtype match. Borrows the graph, the
    /// scope and the name (built in a per-thread scratch buffer): no allocation, and
    /// only the store shard's read lock.
    ///
    /// In the same visit to the thread's state, a miss of a bare call (see
    /// [`is_bare`](Self::is_bare)) fills in `bare`, for [`create_bare`](Self::create_bare).
    /// `None` with `bare` empty sends the call down the full path, which also
    /// produces every error.
    fn hit(&self, bare: &mut Option<BareCreation>) -> Option<Variable> {
        if matches!(self.initializer, Some(Init::Value(_)))
            || self
                .rare
                .as_deref()
                .and_then(|r| r.defaults.as_ref())
                .is_some_and(|d| d.partitioner.is_some() || !d.custom_getters.is_empty())
        {
            return None;
        }
        if matches!(self.shape, Some(ShapeArg::Invalid(_))) {
            return None;
        }
        let mut look = |graph: &Graph| {
            with_states(|states| {
                let (state, key) = states.state_and_scratch(graph);
                let scope = &state.current;
                let hot = scope.hot();
                let dtype = self.dtype.unwrap_or(hot.dtype);
                // Asked only off the hit path.
                let creatable = || hot.bare && hot.reuse != Reuse::Yes && self.is_bare();
                if (hot.reuse == Reuse::No || !hot.plain) && !creatable() {
                    return None;
                }
                key.clear();
                let prefix = scope.name_str();
                if !prefix.is_empty() {
                    key.push_str(prefix);
                    key.push('/');
                }
                key.push_str(self.name);
                // The name goes on in the spare buffer: the scratch one stays here.
                let mut create = |key: &str, absent| {
                    let mut name = names::spare_string();
                    name.push_str(key);
                    *bare = Some(BareCreation {
                        name,
                        reuse: hot.reuse,
                        absent,
                        dtype,
                    });
                    None
                };
                // `scope/` (from the name `""`) names its op absolutely: the full path.
                let absolute = key.ends_with('/');
                if hot.reuse == Reuse::No {
                    return if absolute { None } else { create(key, None) };
                }
                let found = match graph.inner.store.probe(key) {
                    Probe::Ready(Entry::Single(v)) => v,
                    Probe::Absent(h) if !absolute && creatable() => return create(key, Some(h)),
                    Probe::Absent(h) => {
                        ABSENT.with(|a| a.set(Some(h)));
                        return None;
                    }
                    _ => return None,
                };
                let shape_ok = match &self.shape {
                    None => true,
                    Some(ShapeArg::Known(known)) => known == found.shape(),
                    Some(ShapeArg::Partial(partial)) => {
                        partial.is_compatible_with_shape(found.shape())
                    }
                    Some(ShapeArg::Invalid(_)) => false,
                };
                if shape_ok && found.dtype() == dtype {
                    Some(found)
                } else {
                    None
                }
            })
        };
        match &self.graph {
            Some(g) => look(g),
            None => Graph::with_current(look),
        }
    }

    /// The creation of a bare call the hit found missing (see
    /// [`single::create_bare`]). `None` when the name exists after all.
    fn create_bare(&mut self, b: &BareCreation) -> Result<Option<Variable>> {
        let graph = CallGraph::of(&self.graph);
        let Some(ShapeArg::Known(shape)) = &self.shape else {
            return Ok(None);
        };
        single::create_bare(
            &graph,
            &b.name,
            b.reuse,
            b.absent,
            shape,
            b.dtype,
            &mut self.initializer,
            self.trainable.unwrap_or(true),
        )
    }

    /// The full path: resolves the call against the current scope, then runs the
    /// custom getters and the true getter.
    fn resolve_and_get(self) -> Result<AnyVariable> {
        let graph = CallGraph::of(&self.graph);
        let graph: &Graph = &graph;
        let shape = match self.shape {
            None => None,
            Some(ShapeArg::Known(known)) => Some(known.to_partial()),
            Some(ShapeArg::Partial(partial)) => Some(partial),
            Some(ShapeArg::Invalid(e)) => return Err(*e),
        };
        if let (Some(dtype), Some(Init::Value(t))) = (self.dtype, &self.initializer) {
            if t.dtype() != dtype {
                return Err(Error::InitializerDTypeMismatch {
                    explicit: dtype,
                    initializer: t.dtype(),
                });
            }
        }
        let mut trainable = self.trainable.unwrap_or(true);
        let (call, mut collections) = match self.rare {
            None => (None, None),
            Some(rare) => (rare.defaults, rare.collections),
        };
        if self.local {
            trainable = false;
            let mut c = collections.unwrap_or_default();
            c.push(LOCAL_VARIABLES.to_string());
            collections = Some(c);
        }
        let (initializer, dtype) = (self.initializer, self.dtype);
        let (name, validate_shape) = (self.name, self.validate_shape);
        // The arguments are assembled where they are used, from the scope's defaults
        // under the call's own: no intermediate set of defaults to move around.
        // Written in place: returned through the closures, the arguments would be
        // copied at every level.
        let mut out = None;
        with_state(graph, |s| {
            s.current.read(|f| {
                let scope = &f.defaults;
                let d = match call {
                    None => ScopeDefaults::for_bare_call_in(initializer, dtype, scope),
                    Some(mut call) => {
                        call.initializer = initializer;
                        call.dtype = dtype;
                        call.for_call_in(scope)
                    }
                };
                let args = GetterArgs {
                    // Handed back by the true getter.
                    name: names::join_spare(&f.name, name),
                    shape,
                    dtype: d.dtype.unwrap_or(DType::F32),
                    initializer: d.initializer,
                    regularizer: d.regularizer,
                    reuse: f.reuse,
                    trainable,
                    collections,
                    caching_device: d.caching_device,
                    partitioner: d.partitioner,
                    validate_shape,
                    use_resource: d.use_resource,
                    constraint: d.constraint,
                };
                out = Some((args, d.custom_getters));
            })
        });
        let (args, custom_getters) = out.expect("set by the closure");
        // TF runs the rest of `get_variable` (custom getters included) under
        // `name_scope(None)`: ops a getter, a partitioner or a custom initializer
        // creates are named from the root. Nothing else reads the name scope.
        let user_code = !custom_getters.is_empty()
            || args.partitioner.is_some()
            || matches!(args.initializer, Some(Init::Custom(_)));
        let _root = user_code.then(|| RootNameScope::enter(graph));
        if custom_getters.is_empty() {
            return true_getter(graph, args);
        }
        NextGetter::new(graph, &custom_getters, true_getter).get(args)
    }
}

/// The graph a call runs on: its own, or a thread-local handle to the thread's
/// default (no shared reference count touched per call).
enum CallGraph<'a> {
    Own(&'a Graph),
    Default(std::rc::Rc<Graph>),
}

impl<'a> CallGraph<'a> {
    fn of(own: &'a Option<Graph>) -> Self {
        match own {
            Some(g) => CallGraph::Own(g),
            None => CallGraph::Default(Graph::current_local()),
        }
    }
}

impl std::ops::Deref for CallGraph<'_> {
    type Target = Graph;
    fn deref(&self) -> &Graph {
        match self {
            CallGraph::Own(g) => g,
            CallGraph::Default(g) => g,
        }
    }
}

/// A bare call with a name the store does not have (as far as the hit looked).
struct BareCreation {
    /// The full name, in the thread's spare buffer.
    name: String,
    /// The scope's reuse: not `Yes`.
    reuse: Reuse,
    /// The store hash of the name, when a look-up found it missing.
    absent: Option<u64>,
    dtype: DType,
}

/// The parts of a call few calls set.
#[derive(Clone, Default)]
struct Rare {
    /// The call's defaults (its custom getter replaces the scope's).
    defaults: Option<Box<ScopeDefaults>>,
    collections: Option<Vec<String>>,
}

/// A requested shape: fully known (inline up to rank 2), partial, or invalid (the
/// error is reported by `build`).
#[derive(Clone)]
enum ShapeArg {
    Known(Shape),
    Partial(PartialShape),
    Invalid(Box<Error>),
}

/// Resets the calling thread's name stack to the root, restoring it when dropped.
struct RootNameScope<'a> {
    graph: &'a Graph,
    saved: SharedName,
}

impl<'a> RootNameScope<'a> {
    fn enter(graph: &'a Graph) -> Self {
        let saved = with_state(graph, |s| std::mem::take(&mut s.name_stack));
        RootNameScope { graph, saved }
    }
}

impl Drop for RootNameScope<'_> {
    fn drop(&mut self) {
        let saved = std::mem::take(&mut self.saved);
        with_state(self.graph, |s| s.name_stack = saved);
    }
}

sync::thread_local! {
    /// The store hash of the name this thread's last reuse hit found missing: the
    /// creation that follows skips its first lookup. Only a hint (the creation's
    /// write-locked lookup decides), taken by the next true getter of the thread.
    // loom's `thread_local!` takes no `const` block.
    #[allow(clippy::missing_const_for_thread_local)]
    static ABSENT: Cell<Option<u64>> = Cell::new(None);
}

/// TF's `_true_getter`: the partitioned path, or the single-variable path.
pub(crate) fn true_getter(graph: &Graph, mut args: GetterArgs) -> Result<AnyVariable> {
    let out = get(graph, &mut args);
    // The name is copied wherever it is kept: its buffer serves the next call.
    names::recycle(std::mem::take(&mut args.name));
    out
}

fn get(graph: &Graph, args: &mut GetterArgs) -> Result<AnyVariable> {
    let is_scalar =
        matches!(args.shape.as_ref().and_then(PartialShape::dims), Some(d) if d.is_empty());
    if let Some(p) = args.partitioner.clone() {
        if !is_scalar {
            return get_partitioned(graph, args, p.as_ref());
        }
    }
    if matches!(args.initializer, Some(Init::Value(_))) && args.shape.is_some() {
        return Err(Error::invalid_arg(
            "If initializer is a constant, do not specify shape.",
        ));
    }
    let store = &graph.inner.store;
    let custom = matches!(args.initializer, Some(Init::Custom(_)));
    // Moved out: the rest of the call has no use for it.
    let init = initializer_of(args);
    let args = &*args;
    let opts = CommitArgs::of(args);
    let commit = |key: &_, prepared| commit_single(graph, &opts, key, prepared).map(Entry::Single);
    // A custom initializer is user code: it runs once, claimed through the slot
    // protocol. Every other initializer is only planned here (nothing runs), so
    // the creation can go straight into the store.
    let outcome = if custom {
        store.get_or_create(&args.name, mode(args.reuse), |key| {
            commit(key, prepare_single(graph, args, init, None)?)
        })?
    } else {
        store.get_or_create_direct(
            &args.name,
            mode(args.reuse),
            ABSENT.with(Cell::take),
            || prepare_single(graph, args, init, None),
            commit,
        )?
    };
    match outcome {
        Outcome::Created(e) => Ok(e.to_any()),
        Outcome::Missing => Err(Error::NotFound {
            name: args.name.clone(),
            partitioned: false,
        }),
        Outcome::Existing(Entry::Partitioned(pv)) => {
            if args.reuse == Reuse::Yes {
                Ok(AnyVariable::Partitioned(pv))
            } else {
                Err(Error::PartitionMismatch {
                    name: args.name.clone(),
                    message: format!(
                        "No partitioner was provided, but a partitioned version of the variable was found: {}/part_0. Perhaps a variable of the same name was already created with partitioning?",
                        args.name
                    ),
                })
            }
        }
        Outcome::Existing(Entry::Single(v)) => {
            if args.reuse == Reuse::No {
                return Err(Error::AlreadyExists {
                    name: args.name.clone(),
                    partitioned: false,
                });
            }
            check_reuse(args, v.shape(), v.dtype(), false)?;
            Ok(AnyVariable::Single(v))
        }
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use super::*;

    /// The builder and the initializer are moved several times per call: they stay
    /// small enough to be moved inline (no `memcpy` call), and a pending value's
    /// plan fits in the space of the ready tensor.
    #[test]
    fn call_structs_stay_small() {
        assert!(std::mem::size_of::<GetVariable<'_>>() <= 128);
        assert!(std::mem::size_of::<Init>() <= 48);
        assert!(
            std::mem::size_of::<crate::variable::ValueState>()
                <= std::mem::size_of::<crate::tensor::Tensor>()
        );
    }
}
