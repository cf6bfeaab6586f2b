//! Restoring a graph's variables from a safetensors checkpoint — TensorFlow's
//! `init_from_checkpoint` by name.
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

use crate::checkpoint::{load_safetensors, LoadedCheckpoint};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::shape::Shape;
use crate::tensor::{Element, Tensor};
use crate::variable::{PartitionedVariable, Variable};
use half::{bf16, f16};
use ndarray::Slice;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

/// Prefix of the metadata keys describing partitioned variables
/// (`partition:<name>` → [`PartitionInfo`] JSON).
pub const PARTITION_METADATA_PREFIX: &str = "partition:";

/// How a partitioned variable is split into checkpoint tensors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Shape of the whole variable.
    pub full_shape: Vec<usize>,
    /// The shards, ordered by offset.
    pub shards: Vec<ShardInfo>,
}

/// One shard of a [`PartitionInfo`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    /// The shard's tensor name (`scope/v/part_0`).
    pub name: String,
    /// Offset of the shard in the whole variable.
    pub offset: Vec<usize>,
    /// Shape of the shard.
    pub shape: Vec<usize>,
}

impl PartitionInfo {
    /// The layout of a partitioned variable.
    pub fn of(p: &PartitionedVariable) -> PartitionInfo {
        let rank = p.shape().rank();
        PartitionInfo {
            full_shape: p.shape().dims().to_vec(),
            shards: p
                .shards()
                .iter()
                .map(|s| ShardInfo {
                    name: s.checkpoint_name().to_string(),
                    offset: s
                        .save_slice_info()
                        .map_or_else(|| vec![0; rank], |i| i.offset.clone()),
                    shape: s.shape().dims().to_vec(),
                })
                .collect(),
        }
    }

    /// The JSON form: `{"full_shape": [..], "shards": [{"name", "offset", "shape"}]}`.
    pub fn to_json(&self) -> String {
        let shards: Vec<Value> = self
            .shards
            .iter()
            .map(|s| json!({"name": s.name, "offset": s.offset, "shape": s.shape}))
            .collect();
        json!({"full_shape": self.full_shape, "shards": shards}).to_string()
    }

    /// Parses [`PartitionInfo::to_json`]'s form.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the JSON is malformed or inconsistent (a shard outside
    /// the full shape, overlapping shards, shards not covering the variable).
    pub fn from_json(name: &str, text: &str) -> Result<PartitionInfo> {
        let bad = |m: &str| Error::corrupt(format!("partition metadata of {name}: {m}"));
        let v: Value = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
        let dims = |v: &Value| -> Option<Vec<usize>> {
            v.as_array()?
                .iter()
                .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                .collect()
        };
        let full_shape = dims(&v["full_shape"]).ok_or_else(|| bad("missing full_shape"))?;
        let mut shards = Vec::new();
        for s in v["shards"]
            .as_array()
            .ok_or_else(|| bad("missing shards"))?
        {
            shards.push(ShardInfo {
                name: s["name"]
                    .as_str()
                    .ok_or_else(|| bad("shard without a name"))?
                    .to_string(),
                offset: dims(&s["offset"]).ok_or_else(|| bad("shard without an offset"))?,
                shape: dims(&s["shape"]).ok_or_else(|| bad("shard without a shape"))?,
            });
        }
        let info = PartitionInfo { full_shape, shards };
        info.check().map_err(|m| bad(&m))?;
        Ok(info)
    }

    /// Checks that the shards tile the full shape exactly.
    fn check(&self) -> std::result::Result<(), String> {
        let rank = self.full_shape.len();
        let mut total: u128 = 0;
        for s in &self.shards {
            if s.offset.len() != rank || s.shape.len() != rank {
                return Err(format!("shard {} has the wrong rank", s.name));
            }
            if (0..rank).any(|a| s.offset[a] + s.shape[a] > self.full_shape[a]) {
                return Err(format!(
                    "shard {} lies outside {:?}",
                    s.name, self.full_shape
                ));
            }
            total += s.shape.iter().map(|&d| d as u128).product::<u128>();
        }
        for (i, a) in self.shards.iter().enumerate() {
            for b in &self.shards[i + 1..] {
                let overlap = (0..rank).all(|k| {
                    a.offset[k] < b.offset[k] + b.shape[k] && b.offset[k] < a.offset[k] + a.shape[k]
                });
                let empty = a.shape.contains(&0) || b.shape.contains(&0);
                if overlap && !empty {
                    return Err(format!("shards {} and {} overlap", a.name, b.name));
                }
            }
        }
        let full: u128 = self.full_shape.iter().map(|&d| d as u128).product();
        if total != full {
            return Err("the shards do not cover the variable".into());
        }
        Ok(())
    }
}

/// What a successful restore did.
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

/// Loads the safetensors file `path` ([`load_safetensors`]) and restores `graph`'s
/// variables from it (see [`restore`]).
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
///     .as_default(|| variable_scope("net").try_enter(|_| get_variable("b").shape([3]).build()))
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
    let ckpt = load_safetensors(path)?;
    restore(graph, &ckpt)
}

/// Restores every global variable of `graph` from `ckpt` (see the module docs), all
/// or nothing.
///
/// ```
/// use varscope::checkpoint::LoadedCheckpoint;
/// use varscope::restore::restore;
/// use varscope::{get_variable, Error, ErrorKind, FixedSizePartitioner, Graph, Tensor};
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
        report.bytes += t.nbytes() as u64;
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
                    Ok((slice(full, &info.offset, v.shape().dims()), true))
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
            let key = format!("{PARTITION_METADATA_PREFIX}{name}");
            let Some(text) = self.ckpt.metadata.get(&key) else {
                return Ok(None);
            };
            let info = PartitionInfo::from_json(name, text)?;
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

/// `t[offset .. offset + shape]`, as a new tensor.
fn slice(t: &Tensor, offset: &[usize], shape: &[usize]) -> Tensor {
    fn go<T: Element>(t: &Tensor, offset: &[usize], shape: &[usize]) -> Tensor {
        let v = T::view(t).expect("dtype checked");
        let s = v.slice_each_axis(|ax| {
            let i = ax.axis.index();
            Slice::from(offset[i]..offset[i] + shape[i])
        });
        T::wrap(s.to_owned())
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

/// Assembles the whole tensor `name` from the shards `info` lists.
fn assemble(ckpt: &LoadedCheckpoint, name: &str, info: &PartitionInfo) -> Result<Tensor> {
    let corrupt = |m: String| Error::corrupt(format!("partitioned variable {name}: {m}"));
    let mut dtype = None;
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
    }
    let dtype = dtype.ok_or_else(|| corrupt("no shards".into()))?;
    let full_shape = Shape::new(info.full_shape.clone()).map_err(|e| corrupt(e.to_string()))?;
    let mut full = Tensor::zeros(dtype, &full_shape);
    fn place<T: Element>(full: &mut Tensor, part: &Tensor, offset: &[usize]) {
        let p = T::view(part).expect("dtype checked");
        let mut f = T::view_mut(full).expect("dtype checked");
        let dims = p.shape().to_vec();
        let mut region = f.slice_each_axis_mut(|ax| {
            let i = ax.axis.index();
            Slice::from(offset[i]..offset[i] + dims[i])
        });
        region.assign(&p);
    }
    for s in &info.shards {
        let part = &ckpt.tensors[&s.name];
        match dtype {
            DType::F16 => place::<f16>(&mut full, part, &s.offset),
            DType::BF16 => place::<bf16>(&mut full, part, &s.offset),
            DType::F32 => place::<f32>(&mut full, part, &s.offset),
            DType::F64 => place::<f64>(&mut full, part, &s.offset),
            DType::I32 => place::<i32>(&mut full, part, &s.offset),
            DType::I64 => place::<i64>(&mut full, part, &s.offset),
            DType::Bool => place::<bool>(&mut full, part, &s.offset),
        }
    }
    Ok(full)
}
