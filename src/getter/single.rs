//! The single-variable path of `get_variable` (TF's `_get_single_variable`): checks
//! on reuse, and creation — everything that can fail first, then an infallible
//! commit (op name, collections, regularizer).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::store::Entry;
use crate::graph::Graph;
use crate::initializer::{Init, InitContext, Seeds};
use crate::names;
use crate::scope::thread_state::note_trainable;
use crate::scope::{GetterArgs, Reuse};
use crate::shape::{PartialShape, Shape};
use crate::slot_map::{Key, Mode, Outcome};
use crate::sync::{Arc, Mutex};
use crate::tensor::Tensor;
use crate::variable::{
    Constraint, Extras, Names, Plan, RegularizationLoss, Regularizer, SaveSliceInfo, ValueState,
    VarInner, Variable,
};
use smallvec::SmallVec;

/// Rejects variables whose value could never be allocated (the byte count overflows
/// `usize` or exceeds `isize::MAX`), so they fail at creation instead of when the
/// value is first built.
pub(crate) fn check_byte_size(shape: &Shape, dtype: DType) -> Result<()> {
    match shape.num_elements().checked_mul(dtype.size()) {
        Some(bytes) if isize::try_from(bytes).is_ok() => Ok(()),
        _ => Err(Error::InvalidShape {
            message: format!(
                "a {dtype} variable of shape {shape} needs more bytes than can be allocated"
            ),
        }),
    }
}

pub(crate) fn mode(reuse: Reuse) -> Mode {
    match reuse {
        Reuse::Yes => Mode::Lookup,
        Reuse::No | Reuse::Auto => Mode::Create,
    }
}

/// The checks of a reuse: the requested shape and dtype against the existing ones.
pub(crate) fn check_reuse(
    args: &GetterArgs,
    shape: &Shape,
    dtype: DType,
    partitioned: bool,
) -> Result<()> {
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
pub(crate) struct Part<'a> {
    pub(crate) full_shape: &'a Shape,
    pub(crate) offset: Vec<usize>,
    pub(crate) shape: Shape,
    pub(crate) seeds: Seeds,
    pub(crate) full_name: &'a str,
}

/// A variable ready to be committed: everything that can fail has been done.
pub(crate) struct Prepared {
    pub(crate) shape: Shape,
    pub(crate) dtype: DType,
    pub(crate) value: ValueState,
    /// Boxed: only shards have one, and a prepared variable is moved several times.
    pub(crate) save_slice: Option<Box<SaveSliceInfo>>,
}

pub(crate) fn seeds_for(graph: &Graph, init: &Init, full_name: &str) -> Seeds {
    match init.seed() {
        // TF's `get_seed`: an op seed on a graph without a seed of its own pairs with
        // `DEFAULT_GRAPH_SEED`, so the values are fixed (and TF's).
        Some(op_seed) if graph.seed_is_explicit() => Seeds::tf(graph.seed(), op_seed),
        Some(op_seed) => Seeds::op_only(op_seed),
        None => Seeds::for_name(graph.seed(), full_name),
    }
}

/// The initializer a call resolves to: its own (else its scope's), else the dtype's
/// default.
pub(crate) fn initializer_of(args: &mut GetterArgs) -> Init {
    args.initializer
        .take()
        .unwrap_or_else(|| default_initializer(args.dtype))
}

/// Validates and computes everything for one variable without side effects; runs a
/// custom initializer. `init` is the call's initializer (see [`initializer_of`]).
pub(crate) fn prepare_single(
    graph: &Graph,
    args: &GetterArgs,
    init: Init,
    part: Option<Part<'_>>,
) -> Result<Prepared> {
    let key = &args.name;
    names::validate(key.strip_suffix('/').unwrap_or(key), true)?;
    if let Some(abs) = key.strip_suffix('/') {
        if graph.has_op(abs) {
            return Err(Error::invalid_arg(format!(
                "Duplicate node name in graph: '{abs}'"
            )));
        }
    }
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
    prepare_shaped(graph, key, shape, dtype, init, part)
}

/// The rest of [`prepare_single`] once the name is checked and the shape known.
pub(crate) fn prepare_shaped(
    graph: &Graph,
    key: &str,
    shape: Shape,
    dtype: DType,
    init: Init,
    part: Option<Part<'_>>,
) -> Result<Prepared> {
    check_byte_size(&shape, dtype)?;
    let zeros: SmallVec<[usize; 4]> = SmallVec::from_elem(0, shape.rank());
    let (full_shape, offset, seeds, full_name) = match &part {
        Some(p) => (p.full_shape, p.offset.as_slice(), p.seeds, p.full_name),
        None => (&shape, zeros.as_slice(), seeds_for(graph, &init, key), key),
    };
    let ctx = InitContext {
        name: full_name,
        dtype,
        full_shape,
        offset,
        shape: &shape,
        seeds,
    };
    // TF runs the initializer inside the variable's name scope: once it has been
    // called, a failure has used up the op name (the next `j` is `j_1`), though the
    // store is unchanged.
    let use_up_name = || {
        if part.is_none() && !key.ends_with('/') {
            graph.unique_name_at(key, true);
        }
    };
    let whole = part.is_none();
    let run = std::panic::AssertUnwindSafe(|| init_value(init, &ctx, key, &shape, dtype, whole));
    let value = match std::panic::catch_unwind(run) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            use_up_name();
            return Err(e);
        }
        // A panic is the initializer's exception: the name is used up too, and the
        // store reports the panic.
        Err(payload) => {
            use_up_name();
            std::panic::resume_unwind(payload);
        }
    };
    let save_slice = part.map(|p| {
        Box::new(SaveSliceInfo {
            full_name: p.full_name.to_string(),
            full_shape: p.full_shape.clone(),
            offset: p.offset,
            shape: shape.clone(),
        })
    });
    Ok(Prepared {
        shape,
        dtype,
        value,
        save_slice,
    })
}

/// Checks the initializer against the variable and computes (custom, value) or plans
/// (everything else) its value.
fn init_value(
    init: Init,
    ctx: &InitContext<'_>,
    key: &str,
    shape: &Shape,
    dtype: DType,
    whole: bool,
) -> Result<ValueState> {
    init.validate(ctx)?;
    Ok(match init {
        Init::Custom(_) => {
            let t = init.materialize(ctx)?;
            check_produced(key, &t, shape, dtype)?;
            ValueState::Ready(t)
        }
        Init::Value(t) if whole => ValueState::Ready(std::sync::Arc::unwrap_or_clone(t)),
        // Validated above: materializing the plan later skips the check.
        init => ValueState::Pending(Plan {
            init,
            seeds: ctx.seeds,
        }),
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

/// What a commit takes of a call besides the prepared value.
pub(crate) struct CommitArgs<'a> {
    pub(crate) trainable: bool,
    pub(crate) use_resource: Option<bool>,
    pub(crate) caching_device: Option<&'a str>,
    pub(crate) constraint: Option<&'a Constraint>,
    pub(crate) collections: Option<&'a [String]>,
    pub(crate) regularizer: Option<&'a Regularizer>,
}

impl<'a> CommitArgs<'a> {
    /// A call's, as resolved against its scope.
    pub(crate) fn of(args: &'a GetterArgs) -> Self {
        CommitArgs {
            trainable: args.trainable,
            use_resource: args.use_resource,
            caching_device: args.caching_device.as_deref(),
            constraint: args.constraint.as_ref(),
            collections: args.collections.as_deref(),
            regularizer: args.regularizer.as_ref(),
        }
    }

    /// A call that sets nothing but (maybe) `trainable`, in a scope with no defaults.
    pub(crate) fn bare(trainable: bool) -> Self {
        CommitArgs {
            trainable,
            use_resource: None,
            caching_device: None,
            constraint: None,
            collections: None,
            regularizer: None,
        }
    }
}

/// Creates the variable from a prepared value: graph name, collections, regularizer.
/// `key` is the store's copy of the call's name, shared with the variable.
///
/// The op name is the one step that can still fail, and it comes first, so a failed
/// commit leaves nothing behind but the used-up name (as in TF): TF's "Duplicate node
/// name in graph" when the name (uniquified, or absolute for a name ending in `/`)
/// is an existing op's — `get_variable("v/")` then `get_variable("v")` in one scope.
pub(crate) fn commit_single(
    graph: &Graph,
    args: &CommitArgs<'_>,
    key: &Key,
    p: Prepared,
) -> Result<Variable> {
    let (op_name, seq) = match key.strip_suffix('/') {
        Some(abs) => {
            let abs = Key::from(abs);
            let seq = graph.register_op(abs.clone(), crate::graph::OpType::Variable)?;
            (abs, seq)
        }
        None => graph.unique_variable_op(key, Some(key))?,
    };
    let var = Variable(Arc::new(VarInner {
        names: Names::store(op_name, key.clone()),
        shape: p.shape,
        dtype: p.dtype,
        trainable: args.trainable,
        extras: Extras {
            use_resource: args.use_resource,
            caching_device: args.caching_device.filter(|d| !d.is_empty()).map(Box::from),
            constraint: args.constraint.cloned(),
            save_slice: p.save_slice.map(|s| *s),
        }
        .cell(),
        value: Mutex::new(p.value),
    }));
    graph.register_variable(&var, args.collections, args.trainable, seq);
    if args.trainable {
        note_trainable(graph, || var.name());
    }
    if let Some(r) = args.regularizer {
        if !r.is_none() {
            graph.add_loss(RegularizationLoss::new(&var, r.clone()));
        }
    }
    Ok(var)
}

/// The creation of a call that sets nothing but its shape (known), initializer
/// (planned, not custom or a value), dtype and trainability, in a plain scope that
/// sets no default but the dtype: the steps of the full path — the same checks,
/// errors and commit — without resolving the call against the scope. `name` is the
/// full name (not ending in `/`), `absent` the store hash of a look-up that found it
/// missing.
///
/// `Ok(None)` when the store has the name: the full path then decides between a
/// reuse and an error, checking the requested `shape` (left in place) against the
/// variable it finds. `init` is taken only when the creation is prepared: the full
/// path has no use for it once the name exists.
#[allow(clippy::too_many_arguments)]
pub(crate) fn create_bare(
    graph: &Graph,
    name: &str,
    reuse: Reuse,
    absent: Option<u64>,
    shape: &Shape,
    dtype: DType,
    init: &mut Option<Init>,
    trainable: bool,
) -> Result<Option<Variable>> {
    debug_assert!(reuse != Reuse::Yes && !name.ends_with('/'));
    let opts = CommitArgs::bare(trainable);
    let prepare = || {
        names::validate(name, true)?;
        let init = init.take().unwrap_or_else(|| default_initializer(dtype));
        prepare_shaped(graph, name, shape.clone(), dtype, init, None)
    };
    let commit = |key: &Key, p| commit_single(graph, &opts, key, p).map(Entry::Single);
    let store = &graph.inner.store;
    match store.get_or_create_direct(name, mode(reuse), absent, prepare, commit)? {
        Outcome::Created(Entry::Single(v)) => Ok(Some(v)),
        _ => Ok(None),
    }
}
