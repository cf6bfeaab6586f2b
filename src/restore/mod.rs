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
//!    [`PartitionInfo`](crate::checkpoint::PartitionInfo), which [`crate::model`] writes), so an unpartitioned variable
//!    restores from a partitioned checkpoint too.
//!
//! Restoring is all or nothing: every value is resolved and checked first, and only
//! then assigned, so a failed restore changes no variable.
//!
//! [`restore_file`] resolves and checks every variable from the header or index alone
//! (names, dtypes, shapes, partition metadata or slices), then reads each value
//! straight into a newly allocated buffer of the variable's shape with positioned
//! reads — a stored tensor or slice that is the whole value in one read, a region cut
//! from other pieces through one bounded window — and only then assigns them all. No
//! copy of the checkpoint is held: the peak is the restored values plus a few MiB.
//! A TF bundle's entries are each read in full, in order, whenever any part of them is
//! used, so every CRC32C they record is checked; entries no variable uses are not read.
//!
//! Failures are ordinary [`Error`]s:
//!
//! | failure | error | [`kind`](Error::kind) |
//! |---|---|---|
//! | no tensor for a variable | [`Error::NotInCheckpoint`] | `NotFound` |
//! | a tensor of another shape | [`Error::CheckpointShapeMismatch`] | `ShapeMismatch` |
//! | a tensor of another dtype | [`Error::CheckpointDTypeMismatch`] | `DTypeMismatch` |
//! | corrupt file or partition metadata, a bundle checksum mismatch | [`Error::Checkpoint`] | `Checkpoint` |
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
mod source;

pub use self::assignment::{init_from_checkpoint, init_from_checkpoint_in};
pub(crate) use self::source::{check_crc, read_error, Catalog};

use self::source::Region;
use crate::checkpoint::{AnyCheckpoint, LoadedCheckpoint};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::shape::Shape;
use crate::variable::Variable;
use std::collections::{BTreeSet, HashSet};
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

/// Restores `graph`'s variables from the checkpoint at `path` — a safetensors file or
/// a TF bundle, told apart by content ([`AnyCheckpoint::open`]) — by the rules of
/// [`restore`], reading each value straight from the file into the variable's new
/// buffer (see the module docs): the checkpoint is never loaded whole.
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
/// [`Error::Checkpoint`] for a malformed file, a data file shorter than its index, a
/// bundle entry failing its CRC32C or a bool byte that is not 0 or 1, [`Error::Io`]
/// when it cannot be read, [`Error::Allocation`] when the values do not fit in
/// memory, and the errors of [`restore`]. No variable changes on error.
pub fn restore_file(graph: &Graph, path: &Path) -> Result<RestoreReport> {
    let opened = AnyCheckpoint::open(path)?;
    restore_from(graph, Catalog::of(&opened)?)
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
    restore_from(graph, Catalog::memory(ckpt))
}

/// Resolves every variable against the catalog (names, dtypes, shapes, partition
/// metadata), then reads all values, then assigns them.
fn restore_from(graph: &Graph, mut catalog: Catalog<'_>) -> Result<RestoreReport> {
    let mut seen = HashSet::new();
    let targets: Vec<Variable> = graph
        .global_variables()
        .into_iter()
        .filter(|v| seen.insert(v.checkpoint_name().to_string()))
        .collect();
    let mut used = BTreeSet::new();
    let mut regions = Vec::with_capacity(targets.len());
    let mut resliced = Vec::new();
    for v in &targets {
        let (region, cut) = region_for(&mut catalog, &mut used, v)?;
        if cut {
            resliced.push(v.checkpoint_name().to_string());
        }
        regions.push(region);
    }
    // Everything is resolved and checked: read, then assign.
    let values = catalog.read_regions(&regions)?;
    let mut report = RestoreReport::default();
    for (v, t) in targets.iter().zip(values) {
        report.bytes = report.bytes.saturating_add(t.nbytes() as u64);
        v.assign(t)?;
        report.restored.push(v.checkpoint_name().to_string());
    }
    report.restored.sort();
    resliced.sort();
    report.resliced = resliced;
    report.unused = catalog
        .tensors
        .keys()
        .filter(|k| !used.contains(*k))
        .cloned()
        .collect();
    Ok(report)
}

/// The region of the checkpoint that is `v`'s value, and whether it is cut from a
/// whole tensor or assembled from shards.
fn region_for(
    catalog: &mut Catalog<'_>,
    used: &mut BTreeSet<String>,
    v: &Variable,
) -> Result<(Region, bool)> {
    let name = v.checkpoint_name();
    let dims = v.shape().dims().to_vec();
    let region = |whole, offset: Vec<usize>| Region {
        whole,
        offset,
        dims: dims.clone(),
        variable: name.to_string(),
    };
    let exact = catalog
        .tensors
        .get(name)
        .map(|p| check(name, name, p.dtype, &p.dims, v.dtype(), v.shape()));
    if let Some(Ok(())) = exact {
        if let Some(whole) = catalog.whole(name, used)? {
            return Ok((region(whole, vec![0; dims.len()]), false));
        }
    }
    if let Some(info) = v.save_slice_info() {
        // A shard of another partitioning, or no shard at all: cut it from the
        // whole variable.
        let full_name = info.full_name.clone();
        return match (catalog.whole(&full_name, used)?, exact) {
            (Some(full), _) => {
                check(
                    name,
                    &full_name,
                    full.dtype,
                    &full.dims,
                    v.dtype(),
                    &info.full_shape,
                )?;
                Ok((region(full, info.offset.clone()), true))
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
    match catalog.whole(name, used)? {
        Some(t) => {
            check(name, name, t.dtype, &t.dims, v.dtype(), v.shape())?;
            Ok((region(t, vec![0; dims.len()]), true))
        }
        None => Err(Error::NotInCheckpoint {
            name: name.to_string(),
        }),
    }
}

fn check(
    name: &str,
    tensor: &str,
    found_dtype: DType,
    found_dims: &[usize],
    dtype: DType,
    shape: &Shape,
) -> Result<()> {
    if found_dtype != dtype {
        return Err(Error::CheckpointDTypeMismatch {
            name: name.to_string(),
            tensor: tensor.to_string(),
            expected: dtype,
            found: found_dtype,
        });
    }
    if found_dims != shape.dims() {
        return Err(Error::CheckpointShapeMismatch {
            name: name.to_string(),
            tensor: tensor.to_string(),
            expected: shape.clone(),
            found: Shape::new(found_dims).map_err(|e| Error::corrupt(e.to_string()))?,
        });
    }
    Ok(())
}
