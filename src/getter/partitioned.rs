//! The partitioned path of `get_variable` (TF's `_get_partitioned_variable`): the
//! whole variable is one store entry whose creation creates its shards.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::getter::single::{
    check_byte_size, check_reuse, commit_single, default_initializer, mode, prepare_single,
    seeds_for, CommitArgs, Part,
};
use crate::graph::store::Entry;
use crate::graph::Graph;
use crate::initializer::Init;
use crate::partition::{checked_partitions, shard_layout, Partitioner};
use crate::scope::{GetterArgs, Reuse};
use crate::shape::{PartialShape, Shape};
use crate::slot_map::{Mode, Outcome};
use crate::variable::{slice_axis, AnyVariable, PartitionedVariable, ValueState};

fn partition_error(name: &str, message: String) -> Error {
    Error::PartitionMismatch {
        name: name.to_string(),
        message,
    }
}

/// TF's `_get_partitioned_variable`.
pub(crate) fn get_partitioned(
    graph: &Graph,
    args: &GetterArgs,
    p: &dyn Partitioner,
) -> Result<AnyVariable> {
    let name = &args.name;
    let store = &graph.inner.store;
    if let Some(Entry::Single(_)) = store.get_entry(name) {
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
    let outcome = store.get_or_create(name, mode(args.reuse), |_| {
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

/// TF's checks before creating the shards of `name`: when `part_0` exists, the shards
/// found must be exactly the `n` the partitioner asks for.
fn check_existing_shards(graph: &Graph, name: &str, n: usize) -> Result<()> {
    let store = &graph.inner.store;
    let exists = |i: usize| store.get_entry(&format!("{name}/part_{i}")).is_some();
    if n == 0 || !exists(0) {
        return Ok(());
    }
    let differs = "Partitioner returned a different partitioning than what was already found.";
    if !exists(n - 1) {
        return Err(partition_error(name, format!(
            "{differs}  Partitioner returned {n} shards, and shard {name}/part_0 was found, but {name}/part_{} was not.",
            n - 1
        )));
    }
    if exists(n) {
        return Err(partition_error(name, format!(
            "{differs}  Partitioner returned {n} shards, and shard {name}/part_0 was found, but so was the extra shard {name}/part_{n}."
        )));
    }
    Ok(())
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
    check_existing_shards(graph, name, layout.len())?;
    // Phase 1: prepare every shard (all fallible work) before touching the store.
    let mut prepared = Vec::with_capacity(layout.len());
    for (i, spec) in layout.iter().enumerate() {
        let mut shard_args = args.clone();
        shard_args.name = format!("{name}/part_{i}");
        shard_args.shape = Some(spec.shape.to_partial());
        shard_args.dtype = dtype;
        shard_args.partitioner = None;
        shard_args.initializer = None;
        let part = Part {
            full_shape: full,
            offset: spec.offset.clone(),
            shape: spec.shape.clone(),
            seeds,
            full_name: name,
        };
        let mut p = prepare_single(graph, &shard_args, init.clone(), Some(part))?;
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
        let slice = p.save_slice.clone();
        let mut slot_value = Some(p);
        let out = graph
            .inner
            .store
            .get_or_create(&shard_args.name, Mode::Create, |key| {
                let p = slot_value.take().expect("create runs once");
                commit_single(graph, &CommitArgs::of(&shard_args), key, p).map(Entry::Single)
            })?;
        match out {
            Outcome::Created(Entry::Single(v)) => shards.push(v),
            Outcome::Existing(Entry::Single(v)) if args.reuse != Reuse::No => {
                // An existing shard is checked as the plain variable it is, and becomes
                // this variable's shard (TF sets its save-slice info).
                check_reuse(&shard_args, v.shape(), v.dtype(), false)?;
                if let Some(slice) = slice {
                    v.become_shard(*slice);
                }
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
