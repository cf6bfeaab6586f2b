//! Variable handles: [`Variable`], [`PartitionedVariable`], [`AnyVariable`], plus
//! regularizers and constraints.

use crate::dtype::DType;
use crate::error::{Callback, Error, Result};
use crate::initializer::{Init, InitContext, Seeds};
use crate::partition::save_slice_spec;
use crate::shape::Shape;
use crate::slot_map::Key;
use crate::sync::{Arc, Mutex};
use crate::tensor::{dispatch, Tensor};
use std::fmt;

/// Where a shard sits in its partitioned variable (TF's `SaveSliceInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveSliceInfo {
    /// Full name of the partitioned variable (`scope/w`).
    pub full_name: String,
    /// Shape of the whole partitioned variable.
    pub full_shape: Shape,
    /// Offset of this shard.
    pub offset: Vec<usize>,
    /// Shape of this shard.
    pub shape: Shape,
}

impl SaveSliceInfo {
    /// TF's save-slice spec string (`"10 4 0,4:0,4"`).
    pub fn spec(&self) -> String {
        save_slice_spec(&self.full_shape, &self.offset, &self.shape)
    }
}

/// How a pending value will be computed. Where the variable sits in a larger one
/// (a shard) is its [`SaveSliceInfo`].
pub(crate) struct Plan {
    pub(crate) init: Init,
    pub(crate) seeds: Seeds,
}

pub(crate) enum ValueState {
    /// Boxed: a pending value costs a pointer, and a ready one its tensor.
    Pending(Box<Plan>),
    Ready(Tensor),
}

pub(crate) struct VarInner {
    /// The op name; shares its allocation with `key` when they are equal.
    pub(crate) names: Names,
    pub(crate) shape: Shape,
    pub(crate) dtype: DType,
    pub(crate) trainable: bool,
    /// What most variables do not have, boxed to keep variables small; set at most
    /// once (at creation, or when a plain variable turns out to be a shard).
    pub(crate) extras: std::sync::OnceLock<Box<Extras>>,
    pub(crate) value: Mutex<ValueState>,
}

/// A variable's op name and store key, in 24 bytes.
pub(crate) enum Names {
    /// A store variable whose op name is its key (almost all of them).
    Same(Key),
    /// A store variable renamed by TF's uniquification: op name, key.
    Renamed(Box<(Key, Key)>),
    /// A plain variable: its op name; not in the store.
    Plain(Key),
}

impl Names {
    /// The names of a store variable.
    pub(crate) fn store(op_name: Key, key: Key) -> Names {
        if op_name == key {
            Names::Same(key)
        } else {
            Names::Renamed(Box::new((op_name, key)))
        }
    }

    fn op_name(&self) -> &Key {
        match self {
            Names::Same(k) | Names::Plain(k) => k,
            Names::Renamed(b) => &b.0,
        }
    }

    fn key(&self) -> Option<&Key> {
        match self {
            Names::Same(k) => Some(k),
            Names::Renamed(b) => Some(&b.1),
            Names::Plain(_) => None,
        }
    }
}

/// The rarely set attributes of a variable.
#[derive(Default)]
pub(crate) struct Extras {
    pub(crate) use_resource: Option<bool>,
    pub(crate) caching_device: Option<Box<str>>,
    pub(crate) constraint: Option<Constraint>,
    pub(crate) save_slice: Option<SaveSliceInfo>,
}

impl Extras {
    /// The cell of a new variable: empty when nothing is set.
    pub(crate) fn cell(self) -> std::sync::OnceLock<Box<Extras>> {
        let cell = std::sync::OnceLock::new();
        let empty = self.use_resource.is_none()
            && self.caching_device.is_none()
            && self.constraint.is_none()
            && self.save_slice.is_none();
        if !empty {
            let _ = cell.set(Box::new(self));
        }
        cell
    }
}

/// A variable: a named, shaped, typed value shared by every thread of a graph.
///
/// Cheap to clone; equality is identity (two handles are equal when they refer to
/// the same variable). The value materializes lazily — on first read, or for all
/// pending variables at once with [`Graph::initialize_all`](crate::Graph::initialize_all) — exactly once.
#[derive(Clone)]
pub struct Variable(pub(crate) Arc<VarInner>);

impl fmt::Debug for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Variable")
            .field("name", &self.name())
            .field("shape", &self.0.shape)
            .field("dtype", &self.0.dtype)
            .field("trainable", &self.0.trainable)
            .finish()
    }
}

impl PartialEq for Variable {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for Variable {}

impl Variable {
    /// The tensor name: `"scope/v:0"`.
    pub fn name(&self) -> String {
        format!("{}:0", self.0.names.op_name())
    }

    /// The op name (the tensor name without `:0`). It equals the store key unless TF's
    /// graph-wide uniquification renamed the variable (an op already used the name).
    pub fn op_name(&self) -> &str {
        self.0.names.op_name()
    }

    /// The store key (the full name given to `get_variable`), or `None` for a plain
    /// variable.
    pub fn store_key(&self) -> Option<&str> {
        self.0.names.key().map(|k| &**k)
    }

    /// The name used for checkpoints: the op name, as TF's `Saver` keys a variable
    /// (`var.op.name`). It is unique within a graph, so a plain `variable(…).name("w")`
    /// and a `get_variable("w")` (op `w_1`) are saved as `w` and `w_1`. A shard of a
    /// partitioned variable is saved under its own op name (`w/part_0`), with the
    /// whole variable's layout beside it.
    pub fn checkpoint_name(&self) -> &str {
        self.0.names.op_name()
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.0.shape
    }

    /// The dtype.
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }

    /// Whether the variable is trainable.
    pub fn trainable(&self) -> bool {
        self.0.trainable
    }

    /// The caching device, if any.
    pub fn caching_device(&self) -> Option<&str> {
        self.0.extras.get()?.caching_device.as_deref()
    }

    /// The constraint, if any.
    pub fn constraint(&self) -> Option<&Constraint> {
        self.0.extras.get()?.constraint.as_ref()
    }

    /// The `use_resource` flag it was created with.
    pub fn use_resource(&self) -> Option<bool> {
        self.0.extras.get()?.use_resource
    }

    /// Shard placement, for shards of a partitioned variable.
    pub fn save_slice_info(&self) -> Option<&SaveSliceInfo> {
        self.0.extras.get()?.save_slice.as_ref()
    }

    /// Makes a variable created plain a shard (TF's `_set_save_slice_info` on a shard
    /// found in the store). `false` when it has attributes of its own already.
    pub(crate) fn become_shard(&self, info: SaveSliceInfo) -> bool {
        if self.save_slice_info() == Some(&info) {
            return true;
        }
        self.0
            .extras
            .set(Box::new(Extras {
                save_slice: Some(info),
                ..Extras::default()
            }))
            .is_ok()
    }

    /// Size of the value in bytes.
    pub fn nbytes(&self) -> usize {
        // Saturating: a shape accepted at creation may be too large to allocate.
        self.0
            .shape
            .num_elements()
            .saturating_mul(self.0.dtype.size())
    }

    /// Whether the value has been materialized.
    pub fn is_initialized(&self) -> bool {
        matches!(&*self.0.value.lock(), ValueState::Ready(_))
    }

    /// Materializes the value if it is still pending.
    ///
    /// # Errors
    /// The initializer's error (the variable then stays pending).
    pub fn initialize(&self) -> Result<()> {
        self.with_value(|_| ())
    }

    /// Runs `f` on the value, materializing it first if needed.
    ///
    /// # Errors
    /// The initializer's error.
    pub fn with_value<R>(&self, f: impl FnOnce(&Tensor) -> R) -> Result<R> {
        let mut state = self.0.value.lock();
        if let ValueState::Pending(plan) = &*state {
            let t = materialize(self, plan)?;
            *state = ValueState::Ready(t);
        }
        match &*state {
            ValueState::Ready(t) => Ok(f(t)),
            ValueState::Pending(_) => unreachable!("materialized above"),
        }
    }

    /// A copy of the value (materializing it first if needed).
    ///
    /// # Errors
    /// The initializer's error.
    pub fn value(&self) -> Result<Tensor> {
        self.with_value(Tensor::clone)
    }

    /// Replaces the value.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] / [`Error::DTypeMismatch`] when `value` does not match
    /// the variable; the variable is unchanged.
    pub fn assign(&self, value: Tensor) -> Result<()> {
        if value.dtype() != self.0.dtype {
            return Err(Error::DTypeMismatch {
                name: self.checkpoint_name().to_string(),
                requested: value.dtype(),
                found: self.0.dtype,
                partitioned: false,
            });
        }
        if value.shape() != self.0.shape {
            return Err(Error::ShapeMismatch {
                name: self.checkpoint_name().to_string(),
                requested: value.shape().to_partial(),
                found: self.0.shape.to_partial(),
                partitioned: false,
            });
        }
        *self.0.value.lock() = ValueState::Ready(value);
        Ok(())
    }

    /// Runs the variable's constraint (if any) on its value and stores the result.
    ///
    /// # Errors
    /// The initializer's error, or a constraint result of the wrong shape or dtype.
    ///
    /// The constraint runs on a copy of the value with no lock held, so it may read
    /// the variable itself; a panicking constraint is [`Error::Panicked`] and leaves
    /// the value unchanged.
    pub fn apply_constraint(&self) -> Result<()> {
        if let Some(c) = self.constraint() {
            let value = self.value()?;
            let v = catch_callback(Callback::Constraint, self.checkpoint_name(), || {
                c.apply(&value)
            })?;
            self.assign(v)?;
        }
        Ok(())
    }
}

impl Variable {
    /// Fills `out` (a 1-D tensor of the variable's dtype) with the elements `first ..
    /// first + out.len()` of the value, row-major, without materializing a pending
    /// value whose initializer computes elements on their own (an `orthogonal` or
    /// custom one is materialized, and kept, first).
    ///
    /// # Errors
    /// The initializer's error, or [`Error::Initializer`] when `out` does not fit.
    pub(crate) fn fill_range(&self, first: usize, out: &mut Tensor) -> Result<()> {
        let mut state = self.0.value.lock();
        if let ValueState::Pending(plan) = &*state {
            if plan.init.fills_ranges() {
                return with_context(self, plan, |ctx| plan.init.fill_range(ctx, first, out));
            }
            let t = materialize(self, plan)?;
            *state = ValueState::Ready(t);
        }
        match &*state {
            ValueState::Ready(t) => copy_range(self.checkpoint_name(), t, first, out),
            ValueState::Pending(_) => unreachable!("materialized above"),
        }
    }

    /// Runs `f` on the value without keeping a pending value materialized: it is
    /// computed for `f` and dropped after, so the variable stays pending.
    ///
    /// # Errors
    /// The initializer's error.
    pub(crate) fn with_value_transient<R>(&self, f: impl FnOnce(&Tensor) -> R) -> Result<R> {
        let state = self.0.value.lock();
        match &*state {
            ValueState::Ready(t) => Ok(f(t)),
            ValueState::Pending(plan) => {
                let t = materialize(self, plan)?;
                Ok(f(&t))
            }
        }
    }
}

/// Copies elements `first ..` of `t` (row-major) into the 1-D `out`.
fn copy_range(name: &str, t: &Tensor, first: usize, out: &mut Tensor) -> Result<()> {
    fn go<T: crate::tensor::Element>(
        name: &str,
        src: &ndarray::ArrayD<T>,
        first: usize,
        out: &mut Tensor,
    ) -> Result<()> {
        let bad = || Error::Initializer {
            name: name.to_string(),
            message: format!("cannot copy elements {first}.. into a {} buffer", T::DTYPE),
        };
        let mut dst = T::view_mut(out).ok_or_else(bad)?;
        let dst = dst.as_slice_mut().ok_or_else(bad)?;
        let n = dst.len();
        let end = first.checked_add(n).ok_or_else(bad)?;
        match src.as_slice() {
            Some(s) => dst.copy_from_slice(s.get(first..end).ok_or_else(bad)?),
            None => {
                let mut it = src.iter().skip(first);
                for d in dst.iter_mut() {
                    *d = *it.next().ok_or_else(bad)?;
                }
            }
        }
        Ok(())
    }
    crate::tensor::dispatch!(t, a => go(name, a, first, out))
}

fn with_context<R>(var: &Variable, plan: &Plan, f: impl FnOnce(&InitContext<'_>) -> R) -> R {
    let zeros: smallvec::SmallVec<[usize; 4]> =
        smallvec::SmallVec::from_elem(0, var.0.shape.rank());
    let (full_shape, offset) = match var.save_slice_info() {
        Some(s) => (&s.full_shape, s.offset.as_slice()),
        None => (&var.0.shape, zeros.as_slice()),
    };
    let ctx = InitContext {
        name: var.checkpoint_name(),
        dtype: var.0.dtype,
        full_shape,
        offset,
        shape: &var.0.shape,
        seeds: plan.seeds,
    };
    f(&ctx)
}

fn materialize(var: &Variable, plan: &Plan) -> Result<Tensor> {
    with_context(var, plan, |ctx| plan.init.materialize(ctx))
}

/// Materializes `vars` in parallel (sequentially under loom).
pub(crate) fn initialize_many(vars: &[Variable], progress: &(dyn Fn(u64) + Sync)) -> Result<u64> {
    let one = |v: &Variable| -> Result<u64> {
        v.initialize()?;
        let n = v.nbytes() as u64;
        progress(n);
        Ok(n)
    };
    #[cfg(not(loom))]
    {
        use rayon::prelude::*;
        let results: Vec<Result<u64>> = vars.par_iter().map(one).collect();
        let mut total = 0;
        let mut first_err = None;
        for r in results {
            match r {
                Ok(n) => total += n,
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(total), Err)
    }
    #[cfg(loom)]
    {
        let mut total = 0;
        for v in vars {
            total += one(v)?;
        }
        Ok(total)
    }
}

/// A variable split into shards along one axis (TF's `PartitionedVariable`).
///
/// Cheap to clone; equality is identity.
#[derive(Clone)]
pub struct PartitionedVariable(Arc<PvInner>);

struct PvInner {
    name: String,
    shape: Shape,
    dtype: DType,
    partitions: Vec<usize>,
    shards: Vec<Variable>,
}

impl fmt::Debug for PartitionedVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartitionedVariable")
            .field("name", &self.0.name)
            .field("shape", &self.0.shape)
            .field("dtype", &self.0.dtype)
            .field("partitions", &self.0.partitions)
            .finish()
    }
}

impl PartialEq for PartitionedVariable {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for PartitionedVariable {}

impl PartitionedVariable {
    pub(crate) fn new(
        name: String,
        shape: Shape,
        dtype: DType,
        partitions: Vec<usize>,
        shards: Vec<Variable>,
    ) -> Self {
        PartitionedVariable(Arc::new(PvInner {
            name,
            shape,
            dtype,
            partitions,
            shards,
        }))
    }

    /// The full name, without `:0` (`scope/w`).
    pub fn name(&self) -> &str {
        &self.0.name
    }
    /// The full shape.
    pub fn shape(&self) -> &Shape {
        &self.0.shape
    }
    /// The dtype.
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }
    /// The partition count per axis.
    pub fn partitions(&self) -> &[usize] {
        &self.0.partitions
    }
    /// The shards, ordered by offset.
    pub fn shards(&self) -> &[Variable] {
        &self.0.shards
    }
    /// Number of shards.
    pub fn len(&self) -> usize {
        self.0.shards.len()
    }
    /// Always false: a partitioned variable has at least one shard.
    pub fn is_empty(&self) -> bool {
        self.0.shards.is_empty()
    }
    /// The axis the variable is split along.
    pub fn axis(&self) -> usize {
        self.0.partitions.iter().position(|&p| p > 1).unwrap_or(0)
    }
    /// Total size of the shards in bytes.
    pub fn nbytes(&self) -> usize {
        self.0
            .shards
            .iter()
            .map(Variable::nbytes)
            .fold(0, usize::saturating_add)
    }

    /// The whole value: the shards concatenated along the partition axis.
    ///
    /// # Errors
    /// A shard initializer's error.
    pub fn as_tensor(&self) -> Result<Tensor> {
        let axis = ndarray::Axis(self.axis());
        let mut parts = Vec::with_capacity(self.len());
        for s in self.shards() {
            parts.push(s.value()?);
        }
        fn cat<T: crate::Element>(axis: ndarray::Axis, parts: &[Tensor]) -> Result<Tensor> {
            let views: Vec<_> = parts.iter().filter_map(|p| p.view::<T>()).collect();
            ndarray::concatenate(axis, &views)
                .map(T::wrap)
                .map_err(|e| Error::invalid_arg(format!("cannot concatenate shards: {e}")))
        }
        match self.dtype() {
            DType::F16 => cat::<half::f16>(axis, &parts),
            DType::BF16 => cat::<half::bf16>(axis, &parts),
            DType::F32 => cat::<f32>(axis, &parts),
            DType::F64 => cat::<f64>(axis, &parts),
            DType::I32 => cat::<i32>(axis, &parts),
            DType::I64 => cat::<i64>(axis, &parts),
            DType::Bool => cat::<bool>(axis, &parts),
        }
    }

    /// Assigns a whole value, splitting it into the shards.
    ///
    /// # Errors
    /// Shape or dtype mismatch; no shard changes then.
    pub fn assign(&self, value: &Tensor) -> Result<()> {
        if value.dtype() != self.dtype() || value.shape() != *self.shape() {
            return Err(Error::ShapeMismatch {
                name: self.name().to_string(),
                requested: value.shape().to_partial(),
                found: self.shape().to_partial(),
                partitioned: true,
            });
        }
        let axis = self.axis();
        let parts: Vec<Tensor> = self
            .shards()
            .iter()
            .map(|s| {
                let off = s.save_slice_info().map_or(0, |i| i.offset[axis]);
                slice_axis(value, axis, off, s.shape().dims()[axis])
            })
            .collect();
        for (s, p) in self.shards().iter().zip(parts) {
            s.assign(p)?;
        }
        Ok(())
    }
}

/// `t[off..off+len]` along `axis`, as a new tensor.
pub(crate) fn slice_axis(t: &Tensor, axis: usize, off: usize, len: usize) -> Tensor {
    let range = ndarray::Slice::from(off..off + len);
    dispatch!(t, a => crate::Element::wrap(a.slice_axis(ndarray::Axis(axis), range).to_owned()))
}

/// What `get_variable` returns: a plain variable or a partitioned one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyVariable {
    /// A single variable.
    Single(Variable),
    /// A partitioned variable.
    Partitioned(PartitionedVariable),
}

impl AnyVariable {
    /// The name: `scope/v:0` for a single variable, `scope/w` for a partitioned one.
    pub fn name(&self) -> String {
        match self {
            AnyVariable::Single(v) => v.name(),
            AnyVariable::Partitioned(p) => p.name().to_string(),
        }
    }
    /// The (full) shape.
    pub fn shape(&self) -> &Shape {
        match self {
            AnyVariable::Single(v) => v.shape(),
            AnyVariable::Partitioned(p) => p.shape(),
        }
    }
    /// The dtype.
    pub fn dtype(&self) -> DType {
        match self {
            AnyVariable::Single(v) => v.dtype(),
            AnyVariable::Partitioned(p) => p.dtype(),
        }
    }
    /// The whole value.
    ///
    /// # Errors
    /// An initializer's error.
    pub fn value(&self) -> Result<Tensor> {
        match self {
            AnyVariable::Single(v) => v.value(),
            AnyVariable::Partitioned(p) => p.as_tensor(),
        }
    }
    /// The single variable.
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] for a partitioned variable.
    pub fn into_single(self) -> Result<Variable> {
        match self {
            AnyVariable::Single(v) => Ok(v),
            AnyVariable::Partitioned(p) => Err(Error::TypeMismatch {
                message: format!(
                    "Expected a single variable, but got partitioned variable {}",
                    p.name()
                ),
            }),
        }
    }
    /// The partitioned variable.
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] for a single variable.
    pub fn into_partitioned(self) -> Result<PartitionedVariable> {
        match self {
            AnyVariable::Partitioned(p) => Ok(p),
            AnyVariable::Single(v) => Err(Error::TypeMismatch {
                message: format!(
                    "Expected a partitioned variable, but got single variable {}",
                    v.name()
                ),
            }),
        }
    }
}

/// A regularizer: maps a variable's value to a loss added to the graph's
/// `regularization_losses` collection when the variable is created.
#[derive(Clone)]
pub struct Regularizer(pub(crate) Option<std::sync::Arc<RegularizerFn>>);

type RegularizerFn = dyn Fn(&Tensor) -> f64 + Send + Sync;

impl fmt::Debug for Regularizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Regularizer"
        } else {
            "Regularizer(none)"
        })
    }
}

impl Regularizer {
    /// A regularizer computing `f(value)`.
    pub fn new(f: impl Fn(&Tensor) -> f64 + Send + Sync + 'static) -> Self {
        Regularizer(Some(std::sync::Arc::new(f)))
    }
    /// TF's `no_regularizer`: disables an inherited regularizer.
    pub fn none() -> Self {
        Regularizer(None)
    }
    /// `scale * sum(|x|)`.
    pub fn l1(scale: f64) -> Self {
        Regularizer::new(move |t| scale * t.to_f64_vec().iter().map(|x| x.abs()).sum::<f64>())
    }
    /// `scale * sum(x²) / 2` (TF's `l2_regularizer`).
    pub fn l2(scale: f64) -> Self {
        Regularizer::new(move |t| scale * t.to_f64_vec().iter().map(|x| x * x).sum::<f64>() / 2.0)
    }
    /// Whether this is the "no regularizer".
    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }
}

/// A regularization loss recorded for a variable. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RegularizationLoss(std::sync::Arc<LossInner>);

#[derive(Debug)]
struct LossInner {
    name: String,
    variable: Variable,
    regularizer: Regularizer,
}

impl RegularizationLoss {
    pub(crate) fn new(variable: &Variable, regularizer: Regularizer) -> Self {
        RegularizationLoss(std::sync::Arc::new(LossInner {
            name: format!("{}/Regularizer", variable.op_name()),
            variable: variable.clone(),
            regularizer,
        }))
    }
    /// The loss name (`scope/v/Regularizer`).
    pub fn name(&self) -> &str {
        &self.0.name
    }
    /// The regularized variable.
    pub fn variable(&self) -> &Variable {
        &self.0.variable
    }
    /// Evaluates the loss on the variable's current value.
    ///
    /// The regularizer runs on a copy of the value with no lock held, so it may read
    /// the variable (or any other) itself.
    ///
    /// # Errors
    /// The variable's initializer error; [`Error::Panicked`] when the regularizer
    /// panicked.
    ///
    /// ```
    /// use varscope::{get_variable, Callback, Error, Graph, Init, Regularizer};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| {
    ///     get_variable("w").shape([2]).initializer(Init::ones())
    ///         .regularizer(Regularizer::new(|_| panic!("no loss today")))
    ///         .build().unwrap();
    /// });
    /// let e = g.regularization_losses()[0].value().unwrap_err();
    /// assert!(matches!(e, Error::Panicked { callback: Callback::Regularizer, ref name, .. } if name == "w"));
    /// ```
    pub fn value(&self) -> Result<f64> {
        let Some(f) = self.0.regularizer.0.clone() else {
            return Ok(0.0);
        };
        let var = &self.0.variable;
        let value = var.value()?;
        catch_callback(Callback::Regularizer, var.checkpoint_name(), || f(&value))
    }
}

/// A constraint: a projection applied to a variable's value after updates
/// (recorded on the variable, as TF does).
#[derive(Clone)]
pub struct Constraint(std::sync::Arc<dyn Fn(&Tensor) -> Tensor + Send + Sync>);

impl fmt::Debug for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Constraint")
    }
}

impl Constraint {
    /// A constraint from a function.
    pub fn new(f: impl Fn(&Tensor) -> Tensor + Send + Sync + 'static) -> Self {
        Constraint(std::sync::Arc::new(f))
    }
    /// Applies the constraint.
    pub fn apply(&self, t: &Tensor) -> Tensor {
        (self.0)(t)
    }
    /// Whether two handles are the same constraint.
    pub fn ptr_eq(&self, other: &Constraint) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Runs a user callback, turning a panic into [`Error::Panicked`] naming it and
/// `name`.
pub(crate) fn catch_callback<R>(
    callback: Callback,
    name: &str,
    f: impl FnOnce() -> R,
) -> Result<R> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| Error::Panicked {
        callback,
        name: name.to_string(),
        message: crate::slot_map::panic_message(payload.as_ref()),
    })
}
