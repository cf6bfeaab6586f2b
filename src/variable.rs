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
///
/// ```
/// use varscope::partition::FixedSizePartitioner;
/// use varscope::{get_variable, Graph};
/// let g = Graph::with_seed(1);
/// let emb = g.as_default(|| {
///     get_variable("emb").shape([10, 4]).partitioner(FixedSizePartitioner::new(2, 0)).build_partitioned()
/// }).unwrap();
/// let info = emb.shards()[1].save_slice_info().unwrap();
/// assert_eq!(info.full_name, "emb");
/// assert_eq!(info.offset, [5, 0]);
/// assert_eq!(info.shape.dims(), &[5, 4]);
/// ```
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
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// let emb = g.as_default(|| {
    ///     get_variable("emb").shape([10, 4]).partitioner(FixedSizePartitioner::new(2, 0)).build_partitioned()
    /// }).unwrap();
    /// assert_eq!(emb.shards()[1].save_slice_info().unwrap().spec(), "10 4 5,5:0,4");
    /// ```
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
    /// Inline: a plan (an initializer and its seeds) is smaller than a tensor, so a
    /// pending value costs no allocation of its own.
    Pending(Plan),
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
///
/// ```
/// use varscope::{get_variable, Graph, Init};
/// let g = Graph::with_seed(1);
/// let w = g.as_default(|| get_variable("w").shape([2]).initializer(Init::ones()).build()).unwrap();
/// let same = w.clone();
/// assert_eq!(w, same); // one variable, two handles
/// assert!(!w.is_initialized());
/// assert_eq!(same.value().unwrap().to_f64_vec(), [1.0, 1.0]);
/// assert!(w.is_initialized());
/// ```
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
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, Graph};
    /// let g = Graph::with_seed(1);
    /// let w = g.as_default(|| variable_scope("s").enter(|_| get_variable("w").shape([1]).build())).unwrap();
    /// assert_eq!(w.name(), "s/w:0");
    /// ```
    pub fn name(&self) -> String {
        format!("{}:0", self.0.names.op_name())
    }

    /// The op name (the tensor name without `:0`). It equals the store key unless TF's
    /// graph-wide uniquification renamed the variable (an op already used the name).
    ///
    /// ```
    /// use varscope::{get_variable, variable, Graph, Tensor};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| -> varscope::Result<()> {
    ///     let plain = variable(Tensor::scalar(1.0f32)).name("w").build()?;
    ///     let got = get_variable("w").shape([1]).build()?; // the op name `w` is taken
    ///     assert_eq!((plain.op_name(), got.op_name()), ("w", "w_1"));
    ///     assert_eq!(got.store_key(), Some("w"));
    ///     Ok(())
    /// }).unwrap();
    /// ```
    pub fn op_name(&self) -> &str {
        self.0.names.op_name()
    }

    /// The store key (the full name given to `get_variable`), or `None` for a plain
    /// variable.
    ///
    /// ```
    /// use varscope::{get_variable, variable, Graph, Tensor};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| -> varscope::Result<()> {
    ///     assert_eq!(get_variable("w").shape([1]).build()?.store_key(), Some("w"));
    ///     assert_eq!(variable(Tensor::scalar(0i64)).name("step").build()?.store_key(), None);
    ///     Ok(())
    /// }).unwrap();
    /// ```
    pub fn store_key(&self) -> Option<&str> {
        self.0.names.key().map(|k| &**k)
    }

    /// The name used for checkpoints: the op name, as TF's `Saver` keys a variable
    /// (`var.op.name`). It is unique within a graph, so a plain `variable(…).name("w")`
    /// and a `get_variable("w")` (op `w_1`) are saved as `w` and `w_1`. A shard of a
    /// partitioned variable is saved under its own op name (`w/part_0`), with the
    /// whole variable's layout beside it.
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| -> varscope::Result<()> {
    ///     assert_eq!(get_variable("w").shape([1]).build()?.checkpoint_name(), "w");
    ///     let emb = get_variable("emb").shape([4]).partitioner(FixedSizePartitioner::new(2, 0))
    ///         .build_partitioned()?;
    ///     assert_eq!(emb.shards()[0].checkpoint_name(), "emb/part_0");
    ///     Ok(())
    /// }).unwrap();
    /// ```
    pub fn checkpoint_name(&self) -> &str {
        self.0.names.op_name()
    }

    /// The shape.
    ///
    /// ```
    /// use varscope::{get_variable, Graph};
    /// let w = get_variable("w").shape([3, 4]).graph(&Graph::with_seed(1)).build().unwrap();
    /// assert_eq!(w.shape().dims(), &[3, 4]);
    /// assert_eq!(w.shape().num_elements(), 12);
    /// ```
    pub fn shape(&self) -> &Shape {
        &self.0.shape
    }

    /// The dtype.
    ///
    /// ```
    /// use varscope::{get_variable, DType, Graph};
    /// let g = Graph::with_seed(1);
    /// let w = get_variable("w").shape([1]).dtype(DType::I64).graph(&g).build().unwrap();
    /// assert_eq!(w.dtype(), DType::I64);
    /// assert_eq!(w.value().unwrap().dtype(), DType::I64);
    /// ```
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }

    /// Whether the variable is trainable.
    ///
    /// ```
    /// use varscope::{get_local_variable, get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// assert!(get_variable("w").shape([1]).graph(&g).build().unwrap().trainable());
    /// assert!(!get_local_variable("n").shape([1]).graph(&g).build().unwrap().trainable());
    /// ```
    pub fn trainable(&self) -> bool {
        self.0.trainable
    }

    /// The caching device, if any.
    ///
    /// ```
    /// use varscope::{get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// let w = get_variable("w").shape([1]).caching_device("/cpu:0").graph(&g).build().unwrap();
    /// assert_eq!(w.caching_device(), Some("/cpu:0"));
    /// assert_eq!(get_variable("v").shape([1]).graph(&g).build().unwrap().caching_device(), None);
    /// ```
    pub fn caching_device(&self) -> Option<&str> {
        self.0.extras.get()?.caching_device.as_deref()
    }

    /// The constraint, if any.
    ///
    /// ```
    /// use varscope::{get_variable, Constraint, Graph};
    /// let g = Graph::with_seed(1);
    /// let c = Constraint::new(|t| t.clone());
    /// let w = get_variable("w").shape([1]).constraint(c.clone()).graph(&g).build().unwrap();
    /// assert!(w.constraint().is_some_and(|x| x.ptr_eq(&c)));
    /// ```
    pub fn constraint(&self) -> Option<&Constraint> {
        self.0.extras.get()?.constraint.as_ref()
    }

    /// The `use_resource` flag it was created with.
    ///
    /// ```
    /// use varscope::{get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// let w = get_variable("w").shape([1]).use_resource(true).graph(&g).build().unwrap();
    /// assert_eq!(w.use_resource(), Some(true));
    /// ```
    pub fn use_resource(&self) -> Option<bool> {
        self.0.extras.get()?.use_resource
    }

    /// Shard placement, for shards of a partitioned variable.
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// let single = get_variable("w").shape([4]).graph(&g).build().unwrap();
    /// assert!(single.save_slice_info().is_none());
    /// let emb = get_variable("emb").shape([4]).partitioner(FixedSizePartitioner::new(2, 0))
    ///     .graph(&g).build_partitioned().unwrap();
    /// assert_eq!(emb.shards()[1].save_slice_info().unwrap().offset, [2]);
    /// ```
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
    ///
    /// ```
    /// use varscope::{get_variable, DType, Graph};
    /// let g = Graph::with_seed(1);
    /// let w = get_variable("w").shape([3, 4]).dtype(DType::F64).graph(&g).build().unwrap();
    /// assert_eq!(w.nbytes(), 3 * 4 * 8);
    /// assert!(!w.is_initialized()); // known without materializing
    /// ```
    pub fn nbytes(&self) -> usize {
        // Saturating: a shape accepted at creation may be too large to allocate.
        self.0
            .shape
            .num_elements()
            .saturating_mul(self.0.dtype.size())
    }

    /// Whether the value has been materialized.
    ///
    /// ```
    /// use varscope::{get_variable, Graph};
    /// let w = get_variable("w").shape([2]).graph(&Graph::with_seed(1)).build().unwrap();
    /// assert!(!w.is_initialized());
    /// w.initialize().unwrap();
    /// assert!(w.is_initialized());
    /// ```
    pub fn is_initialized(&self) -> bool {
        matches!(&*self.0.value.lock(), ValueState::Ready(_))
    }

    /// Materializes the value if it is still pending.
    ///
    /// # Errors
    /// The initializer's error (the variable then stays pending).
    ///
    /// ```
    /// use varscope::{get_variable, Graph, Init};
    /// let w = get_variable("w").shape([2]).initializer(Init::constant(2.0))
    ///     .graph(&Graph::with_seed(1)).build().unwrap();
    /// w.initialize().unwrap();
    /// w.initialize().unwrap(); // once only: a no-op now
    /// assert_eq!(w.value().unwrap().to_f64_vec(), [2.0, 2.0]);
    /// ```
    pub fn initialize(&self) -> Result<()> {
        self.with_value(|_| ())
    }

    /// Runs `f` on the value, materializing it first if needed.
    ///
    /// # Errors
    /// The initializer's error.
    ///
    /// ```
    /// use varscope::{get_variable, Graph, Init};
    /// let w = get_variable("w").shape([1000]).initializer(Init::ones())
    ///     .graph(&Graph::with_seed(1)).build().unwrap();
    /// // Reads in place, without copying the value.
    /// let sum: f64 = w.with_value(|t| t.to_f64_vec().iter().sum()).unwrap();
    /// assert_eq!(sum, 1000.0);
    /// ```
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
    ///
    /// ```
    /// use varscope::{get_variable, Graph, Init};
    /// let g = Graph::with_seed(1);
    /// let w = get_variable("w").shape([2, 2]).initializer(Init::identity(1.0)).graph(&g).build().unwrap();
    /// assert_eq!(w.value().unwrap().to_f64_vec(), [1.0, 0.0, 0.0, 1.0]);
    /// ```
    pub fn value(&self) -> Result<Tensor> {
        self.with_value(Tensor::clone)
    }

    /// Replaces the value.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] / [`Error::DTypeMismatch`] when `value` does not match
    /// the variable; the variable is unchanged.
    ///
    /// ```
    /// use varscope::{get_variable, Error, Graph, Tensor};
    /// let w = get_variable("w").shape([2]).graph(&Graph::with_seed(1)).build().unwrap();
    /// w.assign(Tensor::from_vec(vec![5.0f32, 6.0], [2]).unwrap()).unwrap();
    /// assert_eq!(w.value().unwrap().to_f64_vec(), [5.0, 6.0]);
    /// let wrong = w.assign(Tensor::from_vec(vec![1.0f32], [1]).unwrap()).unwrap_err();
    /// assert!(matches!(wrong, Error::ShapeMismatch { .. }));
    /// assert!(matches!(w.assign(Tensor::scalar(1.0f64)), Err(Error::DTypeMismatch { .. })));
    /// ```
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
    ///
    /// ```
    /// use varscope::{get_variable, Constraint, Graph, Tensor};
    /// // Clip to [-1, 1].
    /// let clip = Constraint::new(|t| {
    ///     let v: Vec<f32> = t.to_f64_vec().iter().map(|x| x.clamp(-1.0, 1.0) as f32).collect();
    ///     Tensor::from_vec(v, t.shape().dims().to_vec()).unwrap()
    /// });
    /// let w = get_variable("w").shape([2]).constraint(clip).graph(&Graph::with_seed(1)).build().unwrap();
    /// w.assign(Tensor::from_vec(vec![3.0f32, -0.5], [2]).unwrap()).unwrap();
    /// w.apply_constraint().unwrap();
    /// assert_eq!(w.value().unwrap().to_f64_vec(), [1.0, -0.5]);
    /// ```
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
    // A plan is made only after its initializer passed `validate` for this variable.
    with_context(var, plan, |ctx| plan.init.materialize_validated(ctx))
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
///
/// ```
/// use varscope::partition::FixedSizePartitioner;
/// use varscope::{get_variable, Graph, Init};
/// let g = Graph::with_seed(1);
/// let emb = get_variable("emb").shape([5, 2]).initializer(Init::ones())
///     .partitioner(FixedSizePartitioner::new(2, 0)).graph(&g).build_partitioned().unwrap();
/// let dims: Vec<_> = emb.shards().iter().map(|s| s.shape().dims()[0]).collect();
/// assert_eq!(dims, [3, 2]); // the first shards take the remainder, as in TF
/// assert_eq!(emb.as_tensor().unwrap().shape().dims(), &[5, 2]);
/// ```
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
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, Graph};
    /// let emb = get_variable("emb").shape([4]).partitioner(FixedSizePartitioner::new(2, 0))
    ///     .graph(&Graph::with_seed(1)).build_partitioned().unwrap();
    /// assert_eq!(emb.name(), "emb"); // no `:0`
    /// assert_eq!(emb.shards()[0].name(), "emb/part_0:0");
    /// ```
    pub fn name(&self) -> &str {
        &self.0.name
    }
    /// The full shape.
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, Graph};
    /// let emb = get_variable("emb").shape([6, 3]).partitioner(FixedSizePartitioner::new(3, 0))
    ///     .graph(&Graph::with_seed(1)).build_partitioned().unwrap();
    /// assert_eq!(emb.shape().dims(), &[6, 3]);
    /// assert_eq!(emb.shards()[0].shape().dims(), &[2, 3]);
    /// ```
    pub fn shape(&self) -> &Shape {
        &self.0.shape
    }
    /// The dtype.
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, DType, Graph};
    /// let emb = get_variable("emb").shape([4]).dtype(DType::F16).partitioner(FixedSizePartitioner::new(2, 0))
    ///     .graph(&Graph::with_seed(1)).build_partitioned().unwrap();
    /// assert_eq!(emb.dtype(), DType::F16);
    /// assert!(emb.shards().iter().all(|s| s.dtype() == DType::F16));
    /// ```
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }
    /// The partition count per axis.
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, Graph};
    /// let emb = get_variable("emb").shape([4, 6]).partitioner(FixedSizePartitioner::new(3, 1))
    ///     .graph(&Graph::with_seed(1)).build_partitioned().unwrap();
    /// assert_eq!(emb.partitions(), &[1, 3]);
    /// assert_eq!(emb.axis(), 1);
    /// ```
    pub fn partitions(&self) -> &[usize] {
        &self.0.partitions
    }
    /// The shards, ordered by offset.
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// let emb = get_variable("emb").shape([4]).partitioner(FixedSizePartitioner::new(2, 0))
    ///     .graph(&g).build_partitioned().unwrap();
    /// assert_eq!(emb.shards(), &g.global_variables()[..]); // the shards are the graph's variables
    /// ```
    pub fn shards(&self) -> &[Variable] {
        &self.0.shards
    }
    /// Number of shards.
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, Graph};
    /// let emb = get_variable("emb").shape([4]).partitioner(FixedSizePartitioner::new(4, 0))
    ///     .graph(&Graph::with_seed(1)).build_partitioned().unwrap();
    /// assert_eq!(emb.len(), 4);
    /// assert!(!emb.is_empty());
    /// ```
    pub fn len(&self) -> usize {
        self.0.shards.len()
    }
    /// Always false: a partitioned variable has at least one shard.
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, Graph};
    /// let emb = get_variable("emb").shape([1]).partitioner(FixedSizePartitioner::new(1, 0))
    ///     .graph(&Graph::with_seed(1)).build_partitioned().unwrap();
    /// assert!(!emb.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.shards.is_empty()
    }
    /// The axis the variable is split along.
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// let by_rows = get_variable("a").shape([4, 4]).partitioner(FixedSizePartitioner::new(2, 0))
    ///     .graph(&g).build_partitioned().unwrap();
    /// let by_cols = get_variable("b").shape([4, 4]).partitioner(FixedSizePartitioner::new(2, 1))
    ///     .graph(&g).build_partitioned().unwrap();
    /// assert_eq!((by_rows.axis(), by_cols.axis()), (0, 1));
    /// ```
    pub fn axis(&self) -> usize {
        self.0.partitions.iter().position(|&p| p > 1).unwrap_or(0)
    }
    /// Total size of the shards in bytes.
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, Graph};
    /// let emb = get_variable("emb").shape([10, 4]).partitioner(FixedSizePartitioner::new(3, 0))
    ///     .graph(&Graph::with_seed(1)).build_partitioned().unwrap();
    /// assert_eq!(emb.nbytes(), 10 * 4 * 4);
    /// ```
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
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, Graph, Init};
    /// let emb = get_variable("emb").shape([3]).initializer(Init::constant_list(vec![1.0, 2.0, 3.0]))
    ///     .partitioner(FixedSizePartitioner::new(2, 0)).graph(&Graph::with_seed(1)).build_partitioned().unwrap();
    /// assert_eq!(emb.shards()[1].value().unwrap().to_f64_vec(), [3.0]);
    /// assert_eq!(emb.as_tensor().unwrap().to_f64_vec(), [1.0, 2.0, 3.0]);
    /// ```
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
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, Graph, Tensor};
    /// let emb = get_variable("emb").shape([4]).partitioner(FixedSizePartitioner::new(2, 0))
    ///     .graph(&Graph::with_seed(1)).build_partitioned().unwrap();
    /// emb.assign(&Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [4]).unwrap()).unwrap();
    /// assert_eq!(emb.shards()[1].value().unwrap().to_f64_vec(), [3.0, 4.0]);
    /// assert!(emb.assign(&Tensor::from_vec(vec![1.0f32], [1]).unwrap()).is_err());
    /// ```
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
///
/// ```
/// use varscope::partition::FixedSizePartitioner;
/// use varscope::{get_variable, AnyVariable, Graph};
/// let g = Graph::with_seed(1);
/// let any = get_variable("emb").shape([4]).partitioner(FixedSizePartitioner::new(2, 0))
///     .graph(&g).build_any().unwrap();
/// assert!(matches!(&any, AnyVariable::Partitioned(p) if p.len() == 2));
/// assert_eq!(any.shape().dims(), &[4]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyVariable {
    /// A single variable.
    Single(Variable),
    /// A partitioned variable.
    Partitioned(PartitionedVariable),
}

impl AnyVariable {
    /// The name: `scope/v:0` for a single variable, `scope/w` for a partitioned one.
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, Graph};
    /// let g = Graph::with_seed(1);
    /// assert_eq!(get_variable("w").shape([1]).graph(&g).build_any().unwrap().name(), "w:0");
    /// let p = get_variable("emb").shape([4]).partitioner(FixedSizePartitioner::new(2, 0)).graph(&g);
    /// assert_eq!(p.build_any().unwrap().name(), "emb");
    /// ```
    pub fn name(&self) -> String {
        match self {
            AnyVariable::Single(v) => v.name(),
            AnyVariable::Partitioned(p) => p.name().to_string(),
        }
    }
    /// The (full) shape.
    ///
    /// ```
    /// use varscope::{get_variable, Graph};
    /// let any = get_variable("w").shape([2, 5]).graph(&Graph::with_seed(1)).build_any().unwrap();
    /// assert_eq!(any.shape().dims(), &[2, 5]);
    /// ```
    pub fn shape(&self) -> &Shape {
        match self {
            AnyVariable::Single(v) => v.shape(),
            AnyVariable::Partitioned(p) => p.shape(),
        }
    }
    /// The dtype.
    ///
    /// ```
    /// use varscope::{get_variable, DType, Graph};
    /// let any = get_variable("w").shape([1]).dtype(DType::Bool).graph(&Graph::with_seed(1)).build_any().unwrap();
    /// assert_eq!(any.dtype(), DType::Bool);
    /// ```
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
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, Graph, Init};
    /// let any = get_variable("emb").shape([4]).initializer(Init::ones())
    ///     .partitioner(FixedSizePartitioner::new(2, 0)).graph(&Graph::with_seed(1)).build_any().unwrap();
    /// assert_eq!(any.value().unwrap().to_f64_vec(), [1.0; 4]); // the shards, concatenated
    /// ```
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
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, Error, Graph};
    /// let g = Graph::with_seed(1);
    /// let w = get_variable("w").shape([1]).graph(&g).build_any().unwrap();
    /// assert_eq!(w.into_single().unwrap().name(), "w:0");
    /// let p = get_variable("emb").shape([4]).partitioner(FixedSizePartitioner::new(2, 0)).graph(&g)
    ///     .build_any().unwrap();
    /// assert!(matches!(p.into_single(), Err(Error::TypeMismatch { .. })));
    /// ```
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
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, Error, Graph};
    /// let g = Graph::with_seed(1);
    /// let p = get_variable("emb").shape([4]).partitioner(FixedSizePartitioner::new(2, 0)).graph(&g)
    ///     .build_any().unwrap();
    /// assert_eq!(p.into_partitioned().unwrap().len(), 2);
    /// let w = get_variable("w").shape([1]).graph(&g).build_any().unwrap();
    /// assert!(matches!(w.into_partitioned(), Err(Error::TypeMismatch { .. })));
    /// ```
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
///
/// ```
/// use varscope::{get_variable, Graph, Init, Regularizer};
/// let g = Graph::with_seed(1);
/// get_variable("w").shape([2]).initializer(Init::constant(3.0)).regularizer(Regularizer::l2(1.0))
///     .graph(&g).build().unwrap();
/// assert_eq!(g.regularization_losses()[0].value().unwrap(), (9.0 + 9.0) / 2.0);
/// ```
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
    ///
    /// ```
    /// use varscope::{get_variable, Graph, Init, Regularizer};
    /// let g = Graph::with_seed(1);
    /// let max_abs = Regularizer::new(|t| t.to_f64_vec().iter().fold(0.0, |m: f64, x| m.max(x.abs())));
    /// get_variable("w").shape([3]).initializer(Init::constant_list(vec![1.0, -4.0, 2.0]))
    ///     .regularizer(max_abs).graph(&g).build().unwrap();
    /// assert_eq!(g.regularization_losses()[0].value().unwrap(), 4.0);
    /// ```
    pub fn new(f: impl Fn(&Tensor) -> f64 + Send + Sync + 'static) -> Self {
        Regularizer(Some(std::sync::Arc::new(f)))
    }
    /// TF's `no_regularizer`: disables an inherited regularizer.
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, Graph, Regularizer};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| variable_scope("s").regularizer(Regularizer::l1(1.0))
    ///     .enter(|_| get_variable("b").shape([1]).regularizer(Regularizer::none()).build())).unwrap();
    /// assert!(g.regularization_losses().is_empty());
    /// assert!(Regularizer::none().is_none());
    /// ```
    pub fn none() -> Self {
        Regularizer(None)
    }
    /// `scale * sum(|x|)`.
    ///
    /// ```
    /// use varscope::{get_variable, Graph, Init, Regularizer};
    /// let g = Graph::with_seed(1);
    /// get_variable("w").shape([2]).initializer(Init::constant_list(vec![1.0, -2.0]))
    ///     .regularizer(Regularizer::l1(0.1)).graph(&g).build().unwrap();
    /// assert!((g.regularization_losses()[0].value().unwrap() - 0.3).abs() < 1e-12);
    /// ```
    pub fn l1(scale: f64) -> Self {
        Regularizer::new(move |t| scale * t.to_f64_vec().iter().map(|x| x.abs()).sum::<f64>())
    }
    /// `scale * sum(x²) / 2` (TF's `l2_regularizer`).
    ///
    /// ```
    /// use varscope::{get_variable, Graph, Init, Regularizer};
    /// let g = Graph::with_seed(1);
    /// get_variable("w").shape([2]).initializer(Init::constant_list(vec![1.0, -2.0]))
    ///     .regularizer(Regularizer::l2(2.0)).graph(&g).build().unwrap();
    /// assert_eq!(g.regularization_losses()[0].value().unwrap(), 2.0 * 5.0 / 2.0);
    /// ```
    pub fn l2(scale: f64) -> Self {
        Regularizer::new(move |t| scale * t.to_f64_vec().iter().map(|x| x * x).sum::<f64>() / 2.0)
    }
    /// Whether this is the "no regularizer".
    ///
    /// ```
    /// use varscope::Regularizer;
    /// assert!(Regularizer::none().is_none());
    /// assert!(!Regularizer::l2(1.0).is_none());
    /// ```
    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }
}

/// A regularization loss recorded for a variable. Cheap to clone.
///
/// ```
/// use varscope::{get_variable, Graph, Regularizer};
/// let g = Graph::with_seed(1);
/// let w = get_variable("w").shape([1]).regularizer(Regularizer::l2(1.0)).graph(&g).build().unwrap();
/// let loss = g.regularization_losses()[0].clone();
/// assert_eq!(loss.variable(), &w);
/// ```
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
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, Graph, Regularizer};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| variable_scope("s").regularizer(Regularizer::l2(1.0))
    ///     .enter(|_| get_variable("w").shape([1]).build())).unwrap();
    /// assert_eq!(g.regularization_losses()[0].name(), "s/w/Regularizer");
    /// ```
    pub fn name(&self) -> &str {
        &self.0.name
    }
    /// The regularized variable.
    ///
    /// ```
    /// use varscope::{get_variable, Graph, Regularizer};
    /// let g = Graph::with_seed(1);
    /// let w = get_variable("w").shape([1]).regularizer(Regularizer::l1(1.0)).graph(&g).build().unwrap();
    /// assert_eq!(g.regularization_losses()[0].variable(), &w);
    /// ```
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
///
/// ```
/// use varscope::{Constraint, Tensor};
/// let zero = Constraint::new(|t| Tensor::zeros(t.dtype(), &t.shape()));
/// let out = zero.apply(&Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap());
/// assert_eq!(out.to_f64_vec(), [0.0, 0.0]);
/// ```
#[derive(Clone)]
pub struct Constraint(std::sync::Arc<dyn Fn(&Tensor) -> Tensor + Send + Sync>);

impl fmt::Debug for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Constraint")
    }
}

impl Constraint {
    /// A constraint from a function.
    ///
    /// ```
    /// use varscope::{Constraint, Tensor};
    /// let neg = Constraint::new(|t| Tensor::from_vec(t.to_f64_vec().iter().map(|x| -x).collect::<Vec<f64>>(), t.shape().dims().to_vec()).unwrap());
    /// assert_eq!(neg.apply(&Tensor::scalar(2.0f64)).to_f64_vec(), [-2.0]);
    /// ```
    pub fn new(f: impl Fn(&Tensor) -> Tensor + Send + Sync + 'static) -> Self {
        Constraint(std::sync::Arc::new(f))
    }
    /// Applies the constraint.
    ///
    /// ```
    /// use varscope::{Constraint, Tensor};
    /// let id = Constraint::new(|t| t.clone());
    /// let t = Tensor::scalar(7i32);
    /// assert_eq!(id.apply(&t), t);
    /// ```
    pub fn apply(&self, t: &Tensor) -> Tensor {
        (self.0)(t)
    }
    /// Whether two handles are the same constraint.
    ///
    /// ```
    /// use varscope::Constraint;
    /// let a = Constraint::new(|t| t.clone());
    /// let b = Constraint::new(|t| t.clone());
    /// assert!(a.ptr_eq(&a.clone()));
    /// assert!(!a.ptr_eq(&b)); // same code, different constraints
    /// ```
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
