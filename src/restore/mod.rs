//! Restoring a graph's variables from a checkpoint (safetensors or TF bundle) —
//! by name ([`restore`], [`restore_file`]), or with TF's assignment maps
//! ([`init_from_checkpoint`], [`init_from_checkpoint_in`]).
//!
//! Every global variable of the graph is looked up under its checkpoint name
//! ([`Variable::checkpoint_name`]: `scope/v`, shards `scope/v/part_i`):
//!
//! 1. a tensor of exactly that name, dtype and shape is used as is;
//! 2. otherwise a shard of a partitioned variable is cut out of the *whole* variable's
//!    tensor (`scope/v`), so a partitioned variable restores from an unpartitioned
//!    checkpoint, or from one partitioned differently; a tensor of the right name but
//!    the wrong dtype or shape is an error when there is nothing to cut from;
//! 3. the whole tensor is itself either stored under its name or assembled from the
//!    checkpoint's shards, as described by a `partition:<name>` metadata entry (JSON
//!    [`PartitionInfo`], which [`crate::model`] writes), so an unpartitioned variable
//!    restores from a partitioned checkpoint too.
//!
//! Restoring is all or nothing: every value is resolved and checked first, and only
//! then assigned, so a failed restore changes no variable. Failures are ordinary
//! [`Error`]s:
//!
//! | failure | error | [`kind`](Error::kind) |
//! |---|---|---|
//! | no tensor for a variable | [`Error::NotInCheckpoint`] | `NotFound` |
//! | a tensor of another shape | [`Error::CheckpointShapeMismatch`] | `ShapeMismatch` |
//! | a tensor of another dtype | [`Error::CheckpointDTypeMismatch`] | `DTypeMismatch` |
//! | corrupt file or partition metadata | [`Error::Checkpoint`] | `Checkpoint` |
//! | the file cannot be read | [`Error::Io`] | `Io` |
//!
//! The file format and the partition metadata are [`crate::checkpoint`]'s; this module
//! only reads them.
//!
//! ```
//! use varscope::checkpoint::LoadedCheckpoint;
//! use varscope::restore::restore;
//! use varscope::{get_variable, Graph, Tensor};
//! let g = Graph::with_seed(1);
//! let v = g.as_default(|| get_variable("w").shape([2usize]).build()).unwrap();
//! let mut ckpt = LoadedCheckpoint::default();
//! ckpt.tensors.insert("w".into(), Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap());
//! let report = restore(&g, &ckpt).unwrap();
//! assert_eq!(report.restored, vec!["w".to_string()]);
//! assert_eq!(v.value().unwrap().to_f64_vec(), vec![1.0, 2.0]);
//! ```

mod assignment;

pub use self::assignment::{init_from_checkpoint, init_from_checkpoint_in};

use crate::checkpoint::{AnyCheckpoint, LoadedCheckpoint, PartitionInfo};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::shape::Shape;
use crate::tensor::{Element, Tensor};
use crate::variable::Variable;
use half::{bf16, f16};
use ndarray::Slice;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

/// What a successful restore did.
///
/// ```
/// use varscope::checkpoint::LoadedCheckpoint;
/// use varscope::restore::restore;
/// use varscope::{get_variable, Graph, Tensor};
/// let g = Graph::with_seed(1);
/// let w = g.as_default(|| get_variable("w").shape([2]).build()).unwrap();
/// let mut ckpt = LoadedCheckpoint::default();
/// ckpt.tensors.insert("w".into(), Tensor::from_vec(vec![3.0f32, 4.0], [2]).unwrap());
/// ckpt.tensors.insert("extra".into(), Tensor::from_vec(vec![0.0f32], [1]).unwrap());
/// let report = restore(&g, &ckpt).unwrap();
/// assert_eq!(report.restored, ["w"]);
/// assert_eq!(report.unused, ["extra"]);
/// assert_eq!(report.bytes, 8);
/// assert_eq!(w.value().unwrap().to_f64_vec(), [3.0, 4.0]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Checkpoint names of the restored variables (shards individually), sorted.
    pub restored: Vec<String>,
    /// Those of them that were cut out of a whole tensor or assembled from shards.
    pub resliced: Vec<String>,
    /// Checkpoint tensors no variable used, sorted.
    pub unused: Vec<String>,
    /// Bytes assigned.
    pub bytes: u64,
}

/// Loads the checkpoint at `path` — a safetensors file or a TF bundle, told apart by
/// content ([`AnyCheckpoint::open`]) — and restores `graph`'s variables from it (see
/// [`restore`]).
///
/// ```
/// use std::collections::BTreeMap;
/// use varscope::checkpoint::save_safetensors;
/// use varscope::restore::restore_file;
/// use varscope::{get_variable, variable_scope, ErrorKind, Graph, Tensor};
/// let dir = std::env::temp_dir().join(format!("varscope-doc-restore-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("m.safetensors");
/// let saved = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [3]).unwrap();
/// save_safetensors(&path, [("net/b".to_string(), &saved)], &BTreeMap::new()).unwrap();
///
/// let g = Graph::with_seed(1);
/// let b = g
///     .as_default(|| variable_scope("net").enter(|_| get_variable("b").shape([3]).build()))
///     .unwrap();
/// let report = restore_file(&g, &path).unwrap();
/// assert_eq!(report.bytes, 12);
/// assert_eq!(b.value().unwrap(), saved);
///
/// let e = restore_file(&g, &dir.join("missing.safetensors")).unwrap_err();
/// assert_eq!(e.kind(), ErrorKind::Io);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// # Errors
/// [`Error::Checkpoint`] for a malformed file, [`Error::Io`] when it cannot be read,
/// and the errors of [`restore`]. No variable changes on error.
pub fn restore_file(graph: &Graph, path: &Path) -> Result<RestoreReport> {
    let ckpt = AnyCheckpoint::open(path)?.load()?;
    restore(graph, &ckpt)
}

/// Restores every global variable of `graph` from `ckpt` (see the module docs), all
/// or nothing.
///
/// ```
/// use varscope::checkpoint::LoadedCheckpoint;
/// use varscope::restore::restore;
/// use varscope::{get_variable, Error, ErrorKind, Graph, Tensor};
/// use varscope::partition::FixedSizePartitioner;
/// let g = Graph::with_seed(1);
/// // A variable in 2 shards, restored from an unpartitioned tensor.
/// let emb = g
///     .as_default(|| {
///         get_variable("emb")
///             .shape([4usize, 2])
///             .partitioner(FixedSizePartitioner::new(2, 0))
///             .build_partitioned()
///     })
///     .unwrap();
/// let mut ckpt = LoadedCheckpoint::default();
/// let whole = Tensor::from_vec((0..8).map(|i| i as f32).collect(), [4, 2]).unwrap();
/// ckpt.tensors.insert("emb".into(), whole.clone());
/// let report = restore(&g, &ckpt).unwrap();
/// assert_eq!(report.resliced, ["emb/part_0", "emb/part_1"]);
/// assert_eq!(emb.as_tensor().unwrap(), whole);
///
/// // A tensor of the wrong shape is an error naming both sides.
/// ckpt.tensors.insert("emb".into(), Tensor::from_vec(vec![0.0f32; 8], [2, 4]).unwrap());
/// let e = restore(&g, &ckpt).unwrap_err();
/// assert_eq!(e.kind(), ErrorKind::ShapeMismatch);
/// assert!(matches!(&e, Error::CheckpointShapeMismatch { tensor, .. } if tensor == "emb"));
/// assert_eq!(emb.as_tensor().unwrap(), whole, "nothing changed");
/// ```
///
/// # Errors
/// [`Error::NotInCheckpoint`], [`Error::CheckpointShapeMismatch`],
/// [`Error::CheckpointDTypeMismatch`], or [`Error::Checkpoint`] for inconsistent
/// partition metadata; an initializer error of a variable materialized to be
/// assigned. No variable changes on error.
pub fn restore(graph: &Graph, ckpt: &LoadedCheckpoint) -> Result<RestoreReport> {
    let mut seen = HashSet::new();
    let targets: Vec<Variable> = graph
        .global_variables()
        .into_iter()
        .filter(|v| seen.insert(v.checkpoint_name().to_string()))
        .collect();
    let mut resolver = Resolver {
        ckpt,
        assembled: BTreeMap::new(),
        used: BTreeSet::new(),
    };
    let mut values = Vec::with_capacity(targets.len());
    let mut resliced = Vec::new();
    for v in &targets {
        let (t, cut) = resolver.value_for(v)?;
        if cut {
            resliced.push(v.checkpoint_name().to_string());
        }
        values.push(t);
    }
    // Everything is resolved and checked: assign.
    let mut report = RestoreReport::default();
    for (v, t) in targets.iter().zip(values) {
        report.bytes = report.bytes.saturating_add(t.nbytes() as u64);
        v.assign(t)?;
        report.restored.push(v.checkpoint_name().to_string());
    }
    report.restored.sort();
    resliced.sort();
    report.resliced = resliced;
    report.unused = ckpt
        .tensors
        .keys()
        .filter(|k| !resolver.used.contains(*k))
        .cloned()
        .collect();
    Ok(report)
}

struct Resolver<'a> {
    ckpt: &'a LoadedCheckpoint,
    assembled: BTreeMap<String, Tensor>,
    used: BTreeSet<String>,
}

impl Resolver<'_> {
    /// The value for `v` and whether it was cut or assembled.
    fn value_for(&mut self, v: &Variable) -> Result<(Tensor, bool)> {
        let name = v.checkpoint_name();
        let exact = self
            .ckpt
            .tensors
            .get(name)
            .map(|t| check(name, name, t, v.dtype(), v.shape()).map(|()| t));
        if let Some(Ok(t)) = exact {
            self.used.insert(name.to_string());
            return Ok((t.clone(), false));
        }
        if let Some(info) = v.save_slice_info() {
            // A shard of another partitioning, or no shard at all: cut it from the
            // whole variable.
            let full_name = info.full_name.clone();
            return match (self.whole(&full_name)?, exact) {
                (Some(full), _) => {
                    check(name, &full_name, full, v.dtype(), &info.full_shape)?;
                    Ok((slice(full, &info.offset, v.shape().dims())?, true))
                }
                (None, Some(Err(e))) => Err(e),
                (None, _) => Err(Error::NotInCheckpoint {
                    name: name.to_string(),
                }),
            };
        }
        if let Some(Err(e)) = exact {
            return Err(e);
        }
        match self.whole(name)? {
            Some(t) => {
                check(name, name, t, v.dtype(), v.shape())?;
                Ok((t.clone(), true))
            }
            None => Err(Error::NotInCheckpoint {
                name: name.to_string(),
            }),
        }
    }

    /// The whole tensor `name`: stored under its name, or assembled from its shards.
    fn whole(&mut self, name: &str) -> Result<Option<&Tensor>> {
        if self.ckpt.tensors.contains_key(name) {
            self.used.insert(name.to_string());
            return Ok(self.ckpt.tensors.get(name));
        }
        if !self.assembled.contains_key(name) {
            let Some(info) = PartitionInfo::from_metadata(&self.ckpt.metadata, name)? else {
                return Ok(None);
            };
            let t = assemble(self.ckpt, name, &info)?;
            for s in &info.shards {
                self.used.insert(s.name.clone());
            }
            self.assembled.insert(name.to_string(), t);
        }
        Ok(self.assembled.get(name))
    }
}

fn check(name: &str, tensor: &str, t: &Tensor, dtype: DType, shape: &Shape) -> Result<()> {
    if t.dtype() != dtype {
        return Err(Error::CheckpointDTypeMismatch {
            name: name.to_string(),
            tensor: tensor.to_string(),
            expected: dtype,
            found: t.dtype(),
        });
    }
    if t.shape() != *shape {
        return Err(Error::CheckpointShapeMismatch {
            name: name.to_string(),
            tensor: tensor.to_string(),
            expected: shape.clone(),
            found: t.shape(),
        });
    }
    Ok(())
}

/// `t[offset .. offset + shape]`, as a new tensor (the region lies inside `t`: the
/// shard's slice info was checked against the variable, whose shape `t` has).
fn slice(t: &Tensor, offset: &[usize], shape: &[usize]) -> Result<Tensor> {
    fn go<T: Element>(t: &Tensor, offset: &[usize], shape: &[usize]) -> Result<Tensor> {
        let v = T::view(t).ok_or_else(|| Error::invalid_arg("slice of another dtype"))?;
        if !fits(v.shape(), offset, shape) {
            return Err(Error::invalid_arg(format!(
                "region at {offset:?} of shape {shape:?} lies outside {:?}",
                v.shape()
            )));
        }
        let s = v.slice_each_axis(|ax| region(offset, shape, ax.axis.index()));
        Ok(T::wrap(s.to_owned()))
    }
    match t.dtype() {
        DType::F16 => go::<f16>(t, offset, shape),
        DType::BF16 => go::<bf16>(t, offset, shape),
        DType::F32 => go::<f32>(t, offset, shape),
        DType::F64 => go::<f64>(t, offset, shape),
        DType::I32 => go::<i32>(t, offset, shape),
        DType::I64 => go::<i64>(t, offset, shape),
        DType::Bool => go::<bool>(t, offset, shape),
    }
}

/// Whether the region at `offset` of `shape` lies inside `dims`.
fn fits(dims: &[usize], offset: &[usize], shape: &[usize]) -> bool {
    dims.len() == offset.len()
        && dims.len() == shape.len()
        && dims
            .iter()
            .zip(offset.iter().zip(shape))
            .all(|(&d, (&o, &s))| o.checked_add(s).is_some_and(|e| e <= d))
}

/// The range of axis `i` of the region at `offset` of `shape` (checked by [`fits`]).
fn region(offset: &[usize], shape: &[usize], i: usize) -> Slice {
    let o = offset.get(i).copied().unwrap_or(0);
    let s = shape.get(i).copied().unwrap_or(0);
    Slice::from(o..o.saturating_add(s))
}

/// Assembles the whole tensor `name` from the shards `info` lists (a layout that
/// [`PartitionInfo`] checked: the shards tile the variable, so it is no larger
/// than they are together).
fn assemble(ckpt: &LoadedCheckpoint, name: &str, info: &PartitionInfo) -> Result<Tensor> {
    let corrupt = |m: String| Error::corrupt(format!("partitioned variable {name}: {m}"));
    let mut dtype = None;
    let mut parts = Vec::with_capacity(info.shards.len());
    for s in &info.shards {
        let t = ckpt
            .tensors
            .get(&s.name)
            .ok_or_else(|| corrupt(format!("shard {} is missing", s.name)))?;
        if t.shape().dims() != s.shape.as_slice() {
            return Err(corrupt(format!(
                "shard {} has shape {} but the metadata says {:?}",
                s.name,
                t.shape(),
                s.shape
            )));
        }
        if *dtype.get_or_insert(t.dtype()) != t.dtype() {
            return Err(corrupt("shards of different dtypes".into()));
        }
        parts.push((t, s.offset.as_slice()));
    }
    let dtype = dtype.ok_or_else(|| corrupt("no shards".into()))?;
    let full_shape = Shape::new(info.full_shape.clone()).map_err(|e| corrupt(e.to_string()))?;
    let mut full = Tensor::try_zeros(dtype, &full_shape).map_err(|e| e.for_variable(name))?;
    fn place<T: Element>(full: &mut Tensor, part: &Tensor, offset: &[usize]) -> Result<()> {
        let (Some(p), Some(mut f)) = (T::view(part), T::view_mut(full)) else {
            return Err(Error::invalid_arg("shards of different dtypes"));
        };
        let dims = p.shape().to_vec();
        if !fits(f.shape(), offset, &dims) {
            return Err(Error::corrupt(format!(
                "a shard at {offset:?} of shape {dims:?} lies outside {:?}",
                f.shape()
            )));
        }
        let mut region_mut = f.slice_each_axis_mut(|ax| region(offset, &dims, ax.axis.index()));
        region_mut.assign(&p);
        Ok(())
    }
    for (part, offset) in parts {
        match dtype {
            DType::F16 => place::<f16>(&mut full, part, offset)?,
            DType::BF16 => place::<bf16>(&mut full, part, offset)?,
            DType::F32 => place::<f32>(&mut full, part, offset)?,
            DType::F64 => place::<f64>(&mut full, part, offset)?,
            DType::I32 => place::<i32>(&mut full, part, offset)?,
            DType::I64 => place::<i64>(&mut full, part, offset)?,
            DType::Bool => place::<bool>(&mut full, part, offset)?,
        }
    }
    Ok(full)
}
