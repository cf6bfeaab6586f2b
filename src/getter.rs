//! `get_variable`: argument resolution, custom getters, the true getter and the
//! partitioned path.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{Graph, LOCAL_VARIABLES, REGULARIZATION_LOSSES};
use crate::init::{Init, InitContext, Seeds};
use crate::names;
use crate::partition::{checked_partitions, shard_layout, Partitioner};
use crate::scope::Reuse;
use crate::shape::{IntoShape, PartialShape, Shape};
use crate::store::{Entry, Mode, Outcome};
use crate::sync::{Arc, Mutex};
use crate::tensor::Tensor;
use crate::variable::{
    register, slice_axis, AnyVariable, Constraint, PartitionedVariable, Plan, RegularizationLoss,
    Regularizer, SaveSliceInfo, ValueState, VarInner, Variable,
};
use std::fmt;

/// The arguments a custom getter receives — already resolved against the current
/// variable scope — and may change before calling the next getter.
#[derive(Clone)]
#[non_exhaustive]
pub struct GetterArgs {
    /// The full name (`scope/v`), used verbatim by the true getter.
    pub name: String,
    /// The requested shape, if any.
    pub shape: Option<PartialShape>,
    /// The dtype (explicit, else the scope's).
    pub dtype: DType,
    /// The initializer (explicit, else the scope's; `None` means the dtype default).
    pub initializer: Option<Init>,
    /// The regularizer.
    pub regularizer: Option<Regularizer>,
    /// The scope's reuse mode.
    pub reuse: Reuse,
    /// Whether the variable is trainable.
    pub trainable: bool,
    /// Collections (`None`: global variables).
    pub collections: Option<Vec<String>>,
    /// The caching device.
    pub caching_device: Option<String>,
    /// The partitioner.
    pub partitioner: Option<std::sync::Arc<dyn Partitioner>>,
    /// Whether to validate the shape of a value initializer.
    pub validate_shape: bool,
    /// The `use_resource` flag.
    pub use_resource: Option<bool>,
    /// The constraint.
    pub constraint: Option<Constraint>,
}

impl fmt::Debug for GetterArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetterArgs")
            .field("name", &self.name)
            .field("shape", &self.shape)
            .field("dtype", &self.dtype)
            .field("initializer", &self.initializer)
            .field("reuse", &self.reuse)
            .field("trainable", &self.trainable)
            .field("collections", &self.collections)
            .field("partitioner", &self.partitioner)
            .finish_non_exhaustive()
    }
}

type GetterFn = dyn Fn(&NextGetter<'_>, GetterArgs) -> Result<AnyVariable> + Send + Sync;

/// A custom getter: intercepts every `get_variable` call in its scope (creation and
/// reuse alike), and may change the arguments, call the next getter any number of
/// times, or return something else.
///
/// Getters set on nested scopes compose as in TF: the innermost scope's getter runs
/// first, and calls the outer ones through [`NextGetter::get`].
///
/// ```
/// use varscope::{get_variable, variable_scope, CustomGetter, Graph};
/// Graph::new().as_default(|| {
///     let suffix = |s: &'static str| CustomGetter::new(move |next, mut args| {
///         args.name.push_str(s);
///         next.get(args)
///     });
///     let v = variable_scope("a").custom_getter(suffix("_A")).enter(|_| {
///         variable_scope("b").custom_getter(suffix("_B")).enter(|_| {
///             get_variable("v").shape([1]).build()
///         })
///     }).unwrap().unwrap().unwrap();
///     assert_eq!(v.name(), "a/b/v_B_A:0");
/// });
/// ```
#[derive(Clone)]
pub struct CustomGetter(std::sync::Arc<GetterFn>);

impl fmt::Debug for CustomGetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CustomGetter")
    }
}

impl CustomGetter {
    /// A custom getter from a function of the next getter and the arguments.
    pub fn new(
        f: impl Fn(&NextGetter<'_>, GetterArgs) -> Result<AnyVariable> + Send + Sync + 'static,
    ) -> Self {
        CustomGetter(std::sync::Arc::new(f))
    }
}

/// The rest of the getter chain, handed to a [`CustomGetter`].
pub struct NextGetter<'a> {
    graph: &'a Graph,
    rest: &'a [CustomGetter],
}

impl fmt::Debug for NextGetter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NextGetter")
            .field("remaining_getters", &self.rest.len())
            .finish()
    }
}

impl NextGetter<'_> {
    /// Calls the next getter (eventually the true getter, which creates or reuses).
    ///
    /// # Errors
    /// Whatever the next getter returns.
    pub fn get(&self, args: GetterArgs) -> Result<AnyVariable> {
        match self.rest.split_first() {
            Some((g, rest)) => (g.0)(
                &NextGetter {
                    graph: self.graph,
                    rest,
                },
                args,
            ),
            None => true_getter(self.graph, args),
        }
    }

    /// The graph the call is for.
    pub fn graph(&self) -> &Graph {
        self.graph
    }
}

/// Gets an existing variable or creates a new one in the current variable scope:
/// TF1's `tf.get_variable`. Configure the call, then [`build`](GetVariable::build).
///
/// ```
/// use varscope::{get_variable, variable_scope, Graph, Init, Reuse};
/// Graph::with_seed(7).as_default(|| {
///     let w = variable_scope("layer").enter(|_| {
///         get_variable("w").shape([3, 4]).initializer(Init::zeros()).build()
///     }).unwrap().unwrap();
///     assert_eq!(w.name(), "layer/w:0");
///     // The same name again without reuse is an error, with TF's hint:
///     let err = variable_scope("layer").enter(|_| get_variable("w").shape([3, 4]).build())
///         .unwrap().unwrap_err();
///     assert!(err.to_string().contains("Did you mean to set reuse=True"));
/// });
/// ```
pub fn get_variable(name: &str) -> GetVariable {
    GetVariable::new(name, false)
}

/// As [`get_variable`], for a local variable: not trainable, in
/// `local_variables` (and not in `global_variables`).
pub fn get_local_variable(name: &str) -> GetVariable {
    GetVariable::new(name, true)
}

/// A `get_variable` call being configured.
#[must_use = "call build() to get the variable"]
#[derive(Clone)]
pub struct GetVariable {
    name: String,
    shape: Option<Result<PartialShape>>,
    dtype: Option<DType>,
    initializer: Option<Init>,
    regularizer: Option<Regularizer>,
    trainable: Option<bool>,
    collections: Option<Vec<String>>,
    caching_device: Option<String>,
    partitioner: Option<std::sync::Arc<dyn Partitioner>>,
    validate_shape: bool,
    use_resource: Option<bool>,
    custom_getter: Option<CustomGetter>,
    constraint: Option<Constraint>,
    local: bool,
    graph: Option<Graph>,
}

impl fmt::Debug for GetVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetVariable")
            .field("name", &self.name)
            .field("dtype", &self.dtype)
            .field("initializer", &self.initializer)
            .finish_non_exhaustive()
    }
}

impl GetVariable {
    fn new(name: &str, local: bool) -> Self {
        GetVariable {
            name: name.to_string(),
            shape: None,
            dtype: None,
            initializer: None,
            regularizer: None,
            trainable: None,
            collections: None,
            caching_device: None,
            partitioner: None,
            validate_shape: true,
            use_resource: None,
            custom_getter: None,
            constraint: None,
            local,
            graph: None,
        }
    }

    /// The shape (required to create, unless the initializer is a value).
    pub fn shape(mut self, shape: impl IntoShape) -> Self {
        self.shape = Some(shape.into_partial_shape());
        self
    }
    /// The dtype (default: the scope's, `float32`).
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = Some(dtype);
        self
    }
    /// The initializer (default: the scope's, else glorot-uniform for floats and
    /// zeros otherwise).
    pub fn initializer(mut self, init: Init) -> Self {
        self.initializer = Some(init);
        self
    }
    /// The regularizer (default: the scope's).
    pub fn regularizer(mut self, r: Regularizer) -> Self {
        self.regularizer = Some(r);
        self
    }
    /// Whether the variable is trainable (default true).
    pub fn trainable(mut self, t: bool) -> Self {
        self.trainable = Some(t);
        self
    }
    /// Collections to add the variable to (default: global variables; trainable
    /// variables are always added to `trainable_variables` too).
    pub fn collections<S: Into<String>>(mut self, c: impl IntoIterator<Item = S>) -> Self {
        self.collections = Some(c.into_iter().map(Into::into).collect());
        self
    }
    /// The caching device.
    pub fn caching_device(mut self, d: &str) -> Self {
        self.caching_device = Some(d.to_string());
        self
    }
    /// A partitioner (default: the scope's).
    pub fn partitioner(mut self, p: impl Partitioner + 'static) -> Self {
        self.partitioner = Some(std::sync::Arc::new(p));
        self
    }
    /// A shared partitioner.
    pub fn partitioner_arc(mut self, p: std::sync::Arc<dyn Partitioner>) -> Self {
        self.partitioner = Some(p);
        self
    }
    /// Whether to validate the shape of a value initializer.
    pub fn validate_shape(mut self, v: bool) -> Self {
        self.validate_shape = v;
        self
    }
    /// The `use_resource` flag.
    pub fn use_resource(mut self, u: bool) -> Self {
        self.use_resource = Some(u);
        self
    }
    /// A custom getter for this call only (replaces the scope's).
    pub fn custom_getter(mut self, g: CustomGetter) -> Self {
        self.custom_getter = Some(g);
        self
    }
    /// A constraint (default: the current scope's).
    pub fn constraint(mut self, c: Constraint) -> Self {
        self.constraint = Some(c);
        self
    }
    /// Uses `graph` instead of the thread's default graph.
    pub fn graph(mut self, g: &Graph) -> Self {
        self.graph = Some(g.clone());
        self
    }

    /// Gets or creates a single (unpartitioned) variable.
    ///
    /// # Errors
    /// Any error of [`build_any`](GetVariable::build_any), and
    /// [`Error::TypeMismatch`] if the result is partitioned.
    pub fn build(self) -> Result<Variable> {
        self.build_any()?.into_single()
    }

    /// Gets or creates a partitioned variable.
    ///
    /// # Errors
    /// Any error of [`build_any`](GetVariable::build_any), and
    /// [`Error::TypeMismatch`] if the result is not partitioned.
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
    pub fn build_any(self) -> Result<AnyVariable> {
        let graph = self.graph.clone().unwrap_or_else(Graph::current);
        let current = graph.with_thread_state(|s| s.current.clone());
        let shape = self.shape.transpose()?;
        let scope = current.resolve_for_get(
            &self.name,
            self.custom_getter.is_none(),
            self.initializer.is_none(),
            self.constraint.is_none(),
        );
        let regularizer = self.regularizer.or(scope.regularizer);
        let caching_device = self.caching_device.or(scope.caching_device);
        let partitioner = self.partitioner.or(scope.partitioner);
        let getters = match self.custom_getter {
            Some(g) => vec![g],
            None => scope.custom_getters,
        };
        let use_resource = self.use_resource.or(scope.use_resource);
        let full_name = scope.full_name;
        if let (Some(dtype), Some(Init::Value(t))) = (self.dtype, &self.initializer) {
            if t.dtype() != dtype {
                return Err(Error::DTypeMismatch {
                    name: String::new(),
                    requested: dtype,
                    found: t.dtype(),
                    partitioned: false,
                });
            }
        }
        let initializer = self.initializer.or(scope.initializer);
        let constraint = self.constraint.or(scope.constraint);
        let dtype = self.dtype.unwrap_or(scope.dtype);
        let mut trainable = self.trainable.unwrap_or(true);
        let mut collections = self.collections;
        if self.local {
            trainable = false;
            let mut c = collections.unwrap_or_default();
            c.push(LOCAL_VARIABLES.to_string());
            collections = Some(c);
        }
        let args = GetterArgs {
            name: full_name,
            shape,
            dtype,
            initializer,
            regularizer,
            reuse: scope.reuse,
            trainable,
            collections,
            caching_device,
            partitioner,
            validate_shape: self.validate_shape,
            use_resource,
            constraint,
        };
        // TF runs the rest of `get_variable` (custom getters included) under
        // `name_scope(None)`: ops a getter creates are named from the root.
        let _root = RootNameScope::enter(&graph);
        NextGetter {
            graph: &graph,
            rest: &getters,
        }
        .get(args)
    }
}

/// Resets the calling thread's name stack to the root, restoring it when dropped.
struct RootNameScope<'a> {
    graph: &'a Graph,
    saved: String,
}

impl<'a> RootNameScope<'a> {
    fn enter(graph: &'a Graph) -> Self {
        let saved = graph.with_thread_state(|s| std::mem::take(&mut s.name_stack));
        RootNameScope { graph, saved }
    }
}

impl Drop for RootNameScope<'_> {
    fn drop(&mut self) {
        let saved = std::mem::take(&mut self.saved);
        self.graph.with_thread_state(|s| s.name_stack = saved);
    }
}

/// Rejects variables whose value could never be allocated (the byte count overflows
/// `usize` or exceeds `isize::MAX`), so they fail at creation instead of when the
/// value is first built.
fn check_byte_size(shape: &Shape, dtype: DType) -> Result<()> {
    match shape.num_elements().checked_mul(dtype.size()) {
        Some(bytes) if isize::try_from(bytes).is_ok() => Ok(()),
        _ => Err(Error::InvalidShape {
            message: format!(
                "a {dtype} variable of shape {shape} needs more bytes than can be allocated"
            ),
        }),
    }
}

fn mode(reuse: Reuse) -> Mode {
    match reuse {
        Reuse::Yes => Mode::Lookup,
        Reuse::No | Reuse::Auto => Mode::Create,
    }
}

/// TF's `_true_getter`: the partitioned path, or the single-variable path.
pub(crate) fn true_getter(graph: &Graph, args: GetterArgs) -> Result<AnyVariable> {
    let is_scalar =
        matches!(args.shape.as_ref().and_then(PartialShape::dims), Some(d) if d.is_empty());
    if let Some(p) = args.partitioner.clone() {
        if !is_scalar {
            return get_partitioned(graph, &args, p.as_ref());
        }
    }
    if matches!(args.initializer, Some(Init::Value(_))) && args.shape.is_some() {
        return Err(Error::invalid_arg(
            "If initializer is a constant, do not specify shape.",
        ));
    }
    let outcome = graph
        .inner
        .store
        .get_or_create(&args.name, mode(args.reuse), || {
            let prepared = prepare_single(graph, &args, None)?;
            Ok(Entry::Single(commit_single(graph, &args, prepared)))
        })?;
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
            check_reuse(&args, v.shape(), v.dtype(), false)?;
            Ok(AnyVariable::Single(v))
        }
    }
}

fn check_reuse(args: &GetterArgs, shape: &Shape, dtype: DType, partitioned: bool) -> Result<()> {
    if let Some(req) = &args.shape {
        if !req.is_compatible_with_shape(shape) {
            return Err(Error::ShapeMismatch {
                name: args.name.clone(),
                requested: req.clone(),
                found: shape.to_partial(),
                partitioned,
            });
        }
    }
    if args.dtype != dtype {
        return Err(Error::DTypeMismatch {
            name: args.name.clone(),
            requested: args.dtype,
            found: dtype,
            partitioned,
        });
    }
    Ok(())
}

/// The default initializer for a dtype: glorot-uniform for floats, zeros otherwise.
pub(crate) fn default_initializer(dtype: DType) -> Init {
    if dtype.is_floating() {
        Init::glorot_uniform()
    } else {
        Init::zeros()
    }
}

/// Placement of a shard: the whole variable's shape, seeds and this shard's offset.
struct Part<'a> {
    full_shape: &'a Shape,
    offset: Vec<usize>,
    shape: Shape,
    seeds: Seeds,
    full_name: &'a str,
}

/// A variable ready to be committed: everything that can fail has been done.
struct Prepared {
    shape: Shape,
    dtype: DType,
    value: ValueState,
    save_slice: Option<SaveSliceInfo>,
}

fn seeds_for(graph: &Graph, init: &Init, full_name: &str) -> Seeds {
    match init.seed() {
        Some(op_seed) => Seeds::tf(graph.seed(), op_seed),
        None => Seeds::for_name(graph.seed(), full_name),
    }
}

/// Validates and computes everything for one variable without side effects; runs a
/// custom initializer.
fn prepare_single(graph: &Graph, args: &GetterArgs, part: Option<Part<'_>>) -> Result<Prepared> {
    let key = &args.name;
    names::validate(key.strip_suffix('/').unwrap_or(key), true)?;
    if let Some(abs) = key.strip_suffix('/') {
        if graph.has_op(abs) {
            return Err(Error::invalid_arg(format!(
                "Duplicate node name in graph: '{abs}'"
            )));
        }
    }
    let init = args
        .initializer
        .clone()
        .unwrap_or_else(|| default_initializer(args.dtype));
    let (shape, dtype) = match (&part, &init) {
        (Some(p), Init::Value(t)) => (p.shape.clone(), t.dtype()),
        (Some(p), _) => (p.shape.clone(), args.dtype),
        (None, Init::Value(t)) => (t.shape(), t.dtype()),
        (None, _) => match args
            .shape
            .as_ref()
            .map(PartialShape::to_shape)
            .transpose()?
        {
            Some(Some(s)) => (s, args.dtype),
            _ => {
                return Err(Error::ShapeRequired {
                    name: key.clone(),
                    shape: args.shape.clone(),
                })
            }
        },
    };
    check_byte_size(&shape, dtype)?;
    let (full_shape, offset, seeds, full_name) = match &part {
        Some(p) => (p.full_shape.clone(), p.offset.clone(), p.seeds, p.full_name),
        None => (
            shape.clone(),
            vec![0; shape.rank()],
            seeds_for(graph, &init, key),
            key.as_str(),
        ),
    };
    let ctx = InitContext {
        name: full_name,
        dtype,
        full_shape: &full_shape,
        offset: &offset,
        shape: &shape,
        seeds,
    };
    init.validate(&ctx)?;
    let value = match &init {
        Init::Custom(_) => {
            let t = init.materialize(&ctx)?;
            check_produced(key, &t, &shape, dtype)?;
            ValueState::Ready(t)
        }
        Init::Value(t) if part.is_none() => ValueState::Ready(t.clone()),
        _ => ValueState::Pending(Plan {
            init,
            seeds,
            full_shape: full_shape.clone(),
            offset: offset.clone(),
        }),
    };
    let save_slice = part.map(|p| SaveSliceInfo {
        full_name: p.full_name.to_string(),
        full_shape: p.full_shape.clone(),
        offset: p.offset,
        shape: shape.clone(),
    });
    Ok(Prepared {
        shape,
        dtype,
        value,
        save_slice,
    })
}

fn check_produced(name: &str, t: &Tensor, shape: &Shape, dtype: DType) -> Result<()> {
    if t.dtype() != dtype || t.shape() != *shape {
        return Err(Error::Initializer {
            name: name.to_string(),
            message: format!(
                "the initializer produced a {} tensor of shape {}, but the variable is {} of shape {}",
                t.dtype(),
                t.shape(),
                dtype,
                shape
            ),
        });
    }
    Ok(())
}

/// Creates the variable from a prepared value: graph name, collections, regularizer.
/// Infallible, so a failed creation never leaves partial state behind.
fn commit_single(graph: &Graph, args: &GetterArgs, p: Prepared) -> Variable {
    let key = &args.name;
    let op_name = match key.strip_suffix('/') {
        Some(abs) => abs.to_string(),
        None => graph.unique_name_at(key, true),
    };
    // Only an absolute name can collide, and that was checked in `prepare_single`;
    // a concurrent op of the same absolute name is the one case left, where the
    // variable keeps its name and the op record is shared.
    let _ = graph.register_op(&op_name, "VariableV2");
    let var = Variable(Arc::new(VarInner {
        op_name,
        key: Some(key.clone()),
        shape: p.shape,
        dtype: p.dtype,
        trainable: args.trainable,
        caching_device: args.caching_device.clone().filter(|d| !d.is_empty()),
        constraint: args.constraint.clone(),
        use_resource: args.use_resource,
        save_slice: p.save_slice,
        value: Mutex::new(p.value),
    }));
    register(graph, &var, args.collections.clone(), args.trainable);
    if let Some(r) = &args.regularizer {
        if !r.is_none() {
            graph.push_item(
                REGULARIZATION_LOSSES,
                crate::graph::CollectionItem::Loss(RegularizationLoss::new(&var, r.clone())),
            );
        }
    }
    var
}

fn partition_error(name: &str, message: String) -> Error {
    Error::PartitionMismatch {
        name: name.to_string(),
        message,
    }
}

/// TF's `_get_partitioned_variable`.
fn get_partitioned(graph: &Graph, args: &GetterArgs, p: &dyn Partitioner) -> Result<AnyVariable> {
    let name = &args.name;
    let store = &graph.inner.store;
    if let Some(AnyVariable::Single(_)) = store.get(name) {
        return Err(partition_error(name, format!(
            "A partitioner was provided, but an unpartitioned version of the variable was found: {name}.  Perhaps a variable of the same name was already created without partitioning?"
        )));
    }
    let mut shape = args.shape.clone().unwrap_or_else(PartialShape::unknown);
    let mut dtype = args.dtype;
    if let Some(Init::Value(t)) = &args.initializer {
        shape = shape.merge_with(&t.shape().to_partial())?;
        dtype = t.dtype();
    }
    let full = match shape.to_shape()? {
        Some(s) => s,
        None => {
            return Err(partition_error(name, format!(
                "Shape of a new partitioned variable must be fully defined, but instead was {shape}."
            )))
        }
    };
    check_byte_size(&full, dtype)?;
    if full.rank() == 0 {
        return Err(partition_error(
            name,
            format!("A partitioned Variable must have rank at least 1, shape: {full}"),
        ));
    }
    let partitions = checked_partitions(p, &full, dtype).map_err(|e| match e {
        Error::PartitionMismatch { message, .. } => partition_error(name, message),
        other => other,
    })?;
    let outcome = store.get_or_create(name, mode(args.reuse), || {
        create_partitioned(graph, args, &full, dtype, &partitions)
    })?;
    match outcome {
        Outcome::Created(e) => Ok(e.to_any()),
        Outcome::Missing => Err(Error::NotFound {
            name: name.clone(),
            partitioned: true,
        }),
        Outcome::Existing(Entry::Single(_)) => Err(partition_error(name, format!(
            "A partitioner was provided, but an unpartitioned version of the variable was found: {name}.  Perhaps a variable of the same name was already created without partitioning?"
        ))),
        Outcome::Existing(Entry::Partitioned(pv)) => {
            if args.reuse == Reuse::No {
                return Err(Error::AlreadyExists {
                    name: name.clone(),
                    partitioned: true,
                });
            }
            let mut check = args.clone();
            check.dtype = dtype;
            check.shape = Some(full.to_partial());
            check_reuse(&check, pv.shape(), pv.dtype(), true)?;
            if pv.partitions() != partitions.as_slice() {
                return Err(partition_error(name, format!(
                    "Trying to reuse partitioned variable {name}, but specified partitions {partitions:?} and found partitions {:?}.",
                    pv.partitions()
                )));
            }
            Ok(AnyVariable::Partitioned(pv))
        }
    }
}

fn create_partitioned(
    graph: &Graph,
    args: &GetterArgs,
    full: &Shape,
    dtype: DType,
    partitions: &[usize],
) -> Result<Entry> {
    let name = &args.name;
    let layout = shard_layout(full, partitions).map_err(|e| match e {
        Error::PartitionMismatch { message, .. } => partition_error(name, message),
        other => other,
    })?;
    let init = args
        .initializer
        .clone()
        .unwrap_or_else(|| default_initializer(dtype));
    let seeds = seeds_for(graph, &init, name);
    // Phase 1: prepare every shard (all fallible work) before touching the store.
    let mut prepared = Vec::with_capacity(layout.len());
    for (i, spec) in layout.iter().enumerate() {
        let mut shard_args = args.clone();
        shard_args.name = format!("{name}/part_{i}");
        shard_args.shape = Some(spec.shape.to_partial());
        shard_args.dtype = dtype;
        shard_args.partitioner = None;
        shard_args.initializer = Some(init.clone());
        let part = Part {
            full_shape: full,
            offset: spec.offset.clone(),
            shape: spec.shape.clone(),
            seeds,
            full_name: name,
        };
        let mut p = prepare_single(graph, &shard_args, Some(part))?;
        if let (Init::Value(t), ValueState::Pending(_)) = (&init, &p.value) {
            let axis = partitions.iter().position(|&n| n > 1).unwrap_or(0);
            p.value = ValueState::Ready(slice_axis(
                t,
                axis,
                spec.offset[axis],
                spec.shape.dims()[axis],
            ));
        }
        prepared.push((shard_args, p));
    }
    // Phase 2: commit the shards.
    let mut shards = Vec::with_capacity(prepared.len());
    for (shard_args, p) in prepared {
        let mut slot_value = Some(p);
        let out = graph
            .inner
            .store
            .get_or_create(&shard_args.name, Mode::Create, || {
                let p = slot_value.take().expect("create runs once");
                Ok(Entry::Single(commit_single(graph, &shard_args, p)))
            })?;
        match out {
            Outcome::Created(Entry::Single(v)) => shards.push(v),
            Outcome::Existing(Entry::Single(v)) if args.reuse != Reuse::No => {
                check_reuse(&shard_args, v.shape(), v.dtype(), true)?;
                shards.push(v);
            }
            _ => {
                return Err(Error::AlreadyExists {
                    name: shard_args.name.clone(),
                    partitioned: false,
                })
            }
        }
    }
    Ok(Entry::Partitioned(PartitionedVariable::new(
        name.clone(),
        full.clone(),
        dtype,
        partitions.to_vec(),
        shards,
    )))
}
