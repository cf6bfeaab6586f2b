//! `init_from_checkpoint` with TF's assignment maps
//! (`tf.compat.v1.train.init_from_checkpoint`).

use super::source::{Catalog, Region};
use super::RestoreReport;
use crate::checkpoint::{AnyCheckpoint, BundleEntry};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::tensor::Tensor;
use crate::variable::{AnyVariable, Variable};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Initializes variables of the calling thread's default graph from the checkpoint at
/// `ckpt` (safetensors or TF bundle, told apart by content), with TF1's
/// `init_from_checkpoint` rules for `assignment_map` (checkpoint name → current name):
///
/// * `{"old_scope/": "new_scope/"}`: every `get_variable` variable under `new_scope/`
///   from the tensor of the same name under `old_scope/`;
/// * `{"old/w": "new/w"}`: the one variable `new/w` (single or partitioned) from the
///   tensor `old/w`;
/// * `{"/": "new/"}`: the variables under `new/` from the checkpoint's root
///   (`{"/": "/"}`: every variable from the tensor of its own name).
///
/// Only mapped variables change; every other variable keeps its initializer. A
/// partitioned variable receives its slices of the checkpoint's tensor, whatever
/// partitioning (if any) the checkpoint has. Mapped variables are materialized and
/// assigned only once every mapping has resolved and every value has been read, so a
/// failure changes nothing. Values are read as [`restore_file`](super::restore_file)
/// reads them: straight from the file into each variable's new buffer, bundle
/// checksums checked.
///
/// ```
/// use varscope::checkpoint::BundleWriter;
/// use varscope::restore::init_from_checkpoint;
/// use varscope::{get_variable, variable_scope, ErrorKind, Graph, Tensor};
/// let dir = std::env::temp_dir().join(format!("varscope-doc-ifc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let prefix = dir.join("bert.ckpt");
/// let w = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]).unwrap();
/// let mut writer = BundleWriter::new(&prefix, 1).unwrap();
/// writer.add("bert/dense/kernel", &w).unwrap();
/// writer.finish().unwrap();
///
/// let g = Graph::with_seed(3);
/// let _default = g.as_default_guard();
/// let (k, head) = variable_scope("encoder").enter(|_| {
///     let k = variable_scope("dense").enter(|_| get_variable("kernel").shape([2, 2]).build())?;
///     let head = get_variable("output_weights").shape([2]).build()?;
///     Ok::<_, varscope::Error>((k, head))
/// }).unwrap();
/// let before = head.value().unwrap();
/// let report = init_from_checkpoint(&prefix, [("bert/", "encoder/")]).unwrap_err();
/// // `encoder/output_weights` is under the mapped scope but not in the checkpoint.
/// assert_eq!(report.kind(), ErrorKind::NotFound);
/// assert!(report.to_string().contains("bert/output_weights"));
///
/// // Map the body only: the new head keeps its initializer.
/// let report = init_from_checkpoint(&prefix, [("bert/dense/", "encoder/dense/")]).unwrap();
/// assert_eq!(report.restored, ["encoder/dense/kernel"]);
/// assert_eq!(k.value().unwrap(), w);
/// assert_eq!(head.value().unwrap(), before);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// # Errors
/// * [`Error::MappedNotInCheckpoint`] (kind `NotFound`) naming the checkpoint tensor
///   and the variable when a mapped tensor is missing;
/// * [`Error::CheckpointShapeMismatch`] / [`Error::CheckpointDTypeMismatch`] naming
///   both when they disagree;
/// * [`Error::InvalidArgument`] for a scope-only variable name mapped from a tensor
///   name (TF's "Assignment map with scope only name …");
/// * the checkpoint's read errors ([`Error::Checkpoint`], [`Error::Io`]).
pub fn init_from_checkpoint<K: AsRef<str>, V: AsRef<str>>(
    ckpt: &Path,
    assignment_map: impl IntoIterator<Item = (K, V)>,
) -> Result<RestoreReport> {
    let c = AnyCheckpoint::open(ckpt)?;
    Graph::with_current(|g| init_from_checkpoint_in(g, &c, assignment_map))
}

/// [`init_from_checkpoint`] into `graph` from an opened checkpoint.
///
/// # Errors
/// Those of [`init_from_checkpoint`].
///
/// ```
/// use varscope::checkpoint::{AnyCheckpoint, BundleWriter};
/// use varscope::restore::init_from_checkpoint_in;
/// use varscope::{get_variable, variable_scope, Graph, Tensor};
/// let dir = std::env::temp_dir().join(format!("varscope-doc-initin-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let saved = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [3]).unwrap();
/// let mut w = BundleWriter::new(&dir.join("old"), 1).unwrap();
/// w.add("old_model/bias", &saved).unwrap();
/// w.finish().unwrap();
/// // Into a graph that is not the thread's default, from a checkpoint opened once.
/// let g = Graph::with_seed(1);
/// let b = variable_scope("new_model").graph(&g).enter(|_| get_variable("bias").shape([3]).build()).unwrap();
/// let ckpt = AnyCheckpoint::open(&dir.join("old")).unwrap();
/// let report = init_from_checkpoint_in(&g, &ckpt, [("old_model/", "new_model/")]).unwrap();
/// assert_eq!(report.restored, ["new_model/bias"]);
/// assert_eq!(b.value().unwrap(), saved);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn init_from_checkpoint_in<K: AsRef<str>, V: AsRef<str>>(
    graph: &Graph,
    ckpt: &AnyCheckpoint,
    assignment_map: impl IntoIterator<Item = (K, V)>,
) -> Result<RestoreReport> {
    let mut map: Vec<(String, String)> = assignment_map
        .into_iter()
        .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
        .collect();
    map.sort();
    let entries = ckpt.entries()?;
    // Shards are reached through their partitioned variable (TF strips `/part_i`).
    let store: BTreeMap<String, AnyVariable> = graph
        .store()
        .entries()
        .into_iter()
        .filter(|(_, v)| !matches!(v, AnyVariable::Single(s) if s.save_slice_info().is_some()))
        .collect();
    let ckpt_name = ckpt.path().display().to_string();
    // (variable, checkpoint tensor), in map order; later mappings of a variable win,
    // as TF's later initializer assignments do.
    let mut plan: BTreeMap<String, (AnyVariable, String)> = BTreeMap::new();
    for (tensor, current) in &map {
        if let Some(var) = store.get(current) {
            if !entries.contains_key(tensor) {
                return Err(Error::MappedNotInCheckpoint {
                    tensor: tensor.clone(),
                    variable: current.clone(),
                    checkpoint: ckpt_name,
                });
            }
            plan.insert(current.clone(), (var.clone(), tensor.clone()));
            continue;
        }
        let scopes = current.rfind('/').map_or("", |i| &current[..i]);
        if !tensor.ends_with('/') {
            return Err(Error::invalid_arg(format!(
                "Assignment map with scope only name {scopes} should map to scope only {tensor}. Should be 'scope/': 'other_scope/'."
            )));
        }
        for (var_name, var) in &store {
            if !(scopes.is_empty() || var_name.starts_with(&format!("{scopes}/"))) {
                continue;
            }
            let mut full = var_name[scopes.len()..].to_string();
            if current != "/" && !full.is_empty() {
                full.remove(0);
            }
            if tensor != "/" {
                full = format!("{tensor}{full}");
            }
            if full.ends_with('/') {
                full.pop();
            }
            if !entries.contains_key(&full) {
                return Err(Error::MappedNotInCheckpoint {
                    tensor: full,
                    variable: var_name.clone(),
                    checkpoint: ckpt_name,
                });
            }
            plan.insert(var_name.clone(), (var.clone(), full));
        }
    }
    // Check every mapping, then read every value, then assign.
    for (var_name, (var, tensor)) in &plan {
        let Some(entry) = entries.get(tensor) else {
            return Err(Error::MappedNotInCheckpoint {
                tensor: tensor.clone(),
                variable: var_name.clone(),
                checkpoint: ckpt_name,
            });
        };
        check(var_name, tensor, entry, var)?;
    }
    let mut catalog = Catalog::of(ckpt)?;
    let mut used = BTreeSet::new();
    let mut vars: Vec<Variable> = Vec::new();
    let mut regions: Vec<Region> = Vec::new();
    for (var, tensor) in plan.values() {
        let whole = catalog
            .whole(tensor, &mut used)?
            .ok_or_else(|| Error::NotInCheckpoint {
                name: tensor.clone(),
            })?;
        let shards = match var {
            AnyVariable::Single(v) => vec![v.clone()],
            AnyVariable::Partitioned(p) => p.shards().to_vec(),
        };
        for s in shards {
            let offset = s
                .save_slice_info()
                .map_or_else(|| vec![0; s.shape().rank()], |i| i.offset.clone());
            regions.push(Region {
                whole: whole.clone(),
                offset,
                dims: s.shape().dims().to_vec(),
                variable: s.checkpoint_name().to_string(),
            });
            vars.push(s);
        }
    }
    let values: Vec<(Variable, Tensor)> = vars
        .into_iter()
        .zip(catalog.read_regions(&regions)?)
        .collect();
    let mut report = RestoreReport::default();
    for (v, t) in values {
        report.bytes += t.nbytes() as u64;
        v.assign(t)?;
        report.restored.push(v.checkpoint_name().to_string());
    }
    report.restored.sort();
    let used: std::collections::BTreeSet<&String> = plan.values().map(|(_, t)| t).collect();
    report.unused = entries
        .keys()
        .filter(|k| !used.contains(k))
        .cloned()
        .collect();
    Ok(report)
}

fn check(var_name: &str, tensor: &str, entry: &BundleEntry, var: &AnyVariable) -> Result<()> {
    if entry.dtype != var.dtype() {
        return Err(Error::CheckpointDTypeMismatch {
            name: var_name.to_string(),
            tensor: tensor.to_string(),
            expected: var.dtype(),
            found: entry.dtype,
        });
    }
    if entry.shape != *var.shape() {
        return Err(Error::CheckpointShapeMismatch {
            name: var_name.to_string(),
            tensor: tensor.to_string(),
            expected: var.shape().clone(),
            found: entry.shape.clone(),
        });
    }
    Ok(())
}
