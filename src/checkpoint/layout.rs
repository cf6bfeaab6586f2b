//! The partition metadata of a checkpoint: how a partitioned variable is split into
//! checkpoint tensors.

use crate::error::{Error, Result};
use crate::variable::PartitionedVariable;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

/// Prefix of the metadata keys describing partitioned variables
/// (`partition:<name>` → [`PartitionInfo`] JSON).
///
/// ```
/// use varscope::checkpoint::{partition_metadata_key, PARTITION_METADATA_PREFIX};
/// let key = partition_metadata_key("emb");
/// assert_eq!(key.strip_prefix(PARTITION_METADATA_PREFIX), Some("emb"));
/// ```
pub const PARTITION_METADATA_PREFIX: &str = "partition:";

/// The metadata key of the partitioned variable `name`: `partition:<name>`.
///
/// ```
/// assert_eq!(varscope::checkpoint::partition_metadata_key("m/emb"), "partition:m/emb");
/// ```
pub fn partition_metadata_key(name: &str) -> String {
    format!("{PARTITION_METADATA_PREFIX}{name}")
}

/// How a partitioned variable is split into checkpoint tensors.
///
/// ```
/// use std::collections::{BTreeMap, HashSet};
/// use varscope::checkpoint::{partition_metadata_key, PartitionInfo, ShardInfo};
/// let info = PartitionInfo {
///     full_shape: vec![5, 2],
///     shards: vec![
///         ShardInfo { name: "emb/part_0".into(), offset: vec![0, 0], shape: vec![3, 2] },
///         ShardInfo { name: "emb/part_1".into(), offset: vec![3, 0], shape: vec![2, 2] },
///     ],
/// };
/// let metadata = BTreeMap::from([(partition_metadata_key("emb"), info.to_json())]);
/// assert_eq!(PartitionInfo::from_metadata(&metadata, "emb").unwrap(), Some(info));
/// assert_eq!(PartitionInfo::from_metadata(&metadata, "w").unwrap(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Shape of the whole variable.
    pub full_shape: Vec<usize>,
    /// The shards, ordered by offset.
    pub shards: Vec<ShardInfo>,
}

/// One shard of a [`PartitionInfo`].
///
/// ```
/// use varscope::checkpoint::PartitionInfo;
/// use varscope::partition::FixedSizePartitioner;
/// use varscope::{get_variable, Graph};
/// let emb = get_variable("emb").shape([5, 2]).partitioner(FixedSizePartitioner::new(2, 0))
///     .graph(&Graph::with_seed(1)).build_partitioned().unwrap();
/// let shard = &PartitionInfo::of(&emb).shards[1];
/// assert_eq!((shard.name.as_str(), &shard.offset[..], &shard.shape[..]), ("emb/part_1", &[3, 0][..], &[2, 2][..]));
/// ```
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
    ///
    /// ```
    /// use varscope::checkpoint::PartitionInfo;
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, Graph};
    /// let emb = get_variable("emb").shape([6, 2]).partitioner(FixedSizePartitioner::new(3, 0))
    ///     .graph(&Graph::with_seed(1)).build_partitioned().unwrap();
    /// let info = PartitionInfo::of(&emb);
    /// assert_eq!(info.full_shape, [6, 2]);
    /// assert_eq!(info.shards.iter().map(|s| s.offset[0]).collect::<Vec<_>>(), [0, 2, 4]);
    /// ```
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
    ///
    /// Written straight into the string, so memory is the text's size, not that of a
    /// JSON tree per shard.
    ///
    /// ```
    /// use varscope::checkpoint::{PartitionInfo, ShardInfo};
    /// let info = PartitionInfo {
    ///     full_shape: vec![2],
    ///     shards: vec![ShardInfo { name: "v/part_0".into(), offset: vec![0], shape: vec![2] }],
    /// };
    /// let json = info.to_json();
    /// assert!(json.contains("\"v/part_0\""));
    /// assert_eq!(PartitionInfo::from_json("v", &json).unwrap(), info); // round trip
    /// ```
    pub fn to_json(&self) -> String {
        fn dims(out: &mut String, d: &[usize]) {
            out.push('[');
            for (i, x) in d.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{x}");
            }
            out.push(']');
        }
        let mut out = String::from("{\"full_shape\":");
        dims(&mut out, &self.full_shape);
        out.push_str(",\"shards\":[");
        for (i, s) in self.shards.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"name\":");
            // Escaping a string cannot fail.
            out.push_str(&serde_json::to_string(&s.name).unwrap_or_default());
            out.push_str(",\"offset\":");
            dims(&mut out, &s.offset);
            out.push_str(",\"shape\":");
            dims(&mut out, &s.shape);
            out.push('}');
        }
        out.push_str("]}");
        out
    }

    /// Parses [`PartitionInfo::to_json`]'s form; `name` is the variable's, for the
    /// error text.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the JSON is malformed or inconsistent (a shard outside
    /// the full shape, overlapping shards, shards not covering the variable).
    ///
    /// ```
    /// use varscope::checkpoint::{PartitionInfo, ShardInfo};
    /// use varscope::ErrorKind;
    /// let gap = PartitionInfo {
    ///     full_shape: vec![4],
    ///     shards: vec![ShardInfo { name: "v/part_0".into(), offset: vec![0], shape: vec![2] }],
    /// };
    /// // The shards do not cover the variable.
    /// let e = PartitionInfo::from_json("v", &gap.to_json()).unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::Checkpoint);
    /// assert!(PartitionInfo::from_json("v", "{not json").is_err());
    /// ```
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

    /// The layout of the partitioned variable `name` recorded in a checkpoint's
    /// metadata, or `None` when there is no `partition:<name>` entry.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the entry is malformed (see
    /// [`PartitionInfo::from_json`]).
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use varscope::checkpoint::{partition_metadata_key, PartitionInfo};
    /// let bad = BTreeMap::from([(partition_metadata_key("v"), "[]".to_string())]);
    /// assert!(PartitionInfo::from_metadata(&bad, "v").is_err());
    /// assert_eq!(PartitionInfo::from_metadata(&bad, "w").unwrap(), None);
    /// ```
    pub fn from_metadata(
        metadata: &BTreeMap<String, String>,
        name: &str,
    ) -> Result<Option<PartitionInfo>> {
        metadata
            .get(&partition_metadata_key(name))
            .map(|text| PartitionInfo::from_json(name, text))
            .transpose()
    }

    /// Every partitioned variable recorded in a checkpoint's metadata, by name.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] for the first malformed entry.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use varscope::checkpoint::{partition_metadata_key, PartitionInfo, ShardInfo};
    /// let one = |n: &str| PartitionInfo {
    ///     full_shape: vec![1],
    ///     shards: vec![ShardInfo { name: format!("{n}/part_0"), offset: vec![0], shape: vec![1] }],
    /// };
    /// let metadata = BTreeMap::from([
    ///     (partition_metadata_key("a"), one("a").to_json()),
    ///     (partition_metadata_key("b"), one("b").to_json()),
    ///     ("format".to_string(), "pt".to_string()), // other keys are ignored
    /// ]);
    /// let all = PartitionInfo::all_from_metadata(&metadata).unwrap();
    /// assert_eq!(all.keys().collect::<Vec<_>>(), ["a", "b"]);
    /// assert_eq!(all["b"], one("b"));
    /// ```
    pub fn all_from_metadata(
        metadata: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, PartitionInfo>> {
        metadata
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(PARTITION_METADATA_PREFIX)?, v)))
            .map(|(name, v)| Ok((name.to_string(), PartitionInfo::from_json(name, v)?)))
            .collect()
    }

    /// Checks that the shards tile the full shape exactly, in time linear in the
    /// number of shards (up to sorting) and without overflowing on absurd
    /// dimensions: ranks, bounds, distinct names, total size, and no overlap.
    fn check(&self) -> std::result::Result<(), String> {
        let rank = self.full_shape.len();
        let mut total: u128 = 0;
        let mut names = HashSet::with_capacity(self.shards.len());
        for s in &self.shards {
            if s.offset.len() != rank || s.shape.len() != rank {
                return Err(format!("shard {} has the wrong rank", s.name));
            }
            let outside = s
                .offset
                .iter()
                .zip(&s.shape)
                .zip(&self.full_shape)
                .any(|((&o, &d), &f)| o.checked_add(d).is_none_or(|end| end > f));
            if outside {
                return Err(format!(
                    "shard {} lies outside {:?}",
                    s.name, self.full_shape
                ));
            }
            if !names.insert(s.name.as_str()) {
                return Err(format!("shard {} is listed more than once", s.name));
            }
            total = total.saturating_add(product(&s.shape));
        }
        // Shards lie inside the variable, so when their sizes add up to its size they
        // tile it exactly if (and only if) no two nonempty ones overlap.
        let full = product(&self.full_shape);
        if total != full {
            return Err("the shards do not cover the variable".into());
        }
        if full == 0 {
            return Ok(());
        }
        let nonempty: Vec<&ShardInfo> = self
            .shards
            .iter()
            .filter(|s| !s.shape.contains(&0))
            .collect();
        // The axes along which some shard does not span the whole variable.
        let cut: Vec<usize> = (0..rank)
            .filter(|&a| {
                nonempty.iter().any(|s| {
                    s.offset.get(a) != Some(&0) || s.shape.get(a) != self.full_shape.get(a)
                })
            })
            .collect();
        match cut.as_slice() {
            [] => {
                if nonempty.len() > 1 {
                    return Err(overlap(nonempty[0], nonempty[1]));
                }
                Ok(())
            }
            // The shape TF's partitioners give: slices along one axis, which must
            // follow each other without overlapping.
            &[axis] => {
                let mut along: Vec<(usize, usize, &ShardInfo)> = nonempty
                    .iter()
                    .filter_map(|s| Some((*s.offset.get(axis)?, *s.shape.get(axis)?, *s)))
                    .collect();
                along.sort_unstable_by_key(|&(o, _, _)| o);
                for w in along.windows(2) {
                    let ((o0, d0, a), (o1, _, b)) = (w[0], w[1]);
                    if o0.saturating_add(d0) > o1 {
                        return Err(overlap(a, b));
                    }
                }
                Ok(())
            }
            // Slices along several axes (no TF partitioner writes them): checked pair
            // by pair, so only for a bounded number of shards.
            _ if nonempty.len() <= MAX_PAIRWISE_SHARDS => {
                for (i, a) in nonempty.iter().enumerate() {
                    for b in &nonempty[i + 1..] {
                        let overlaps = (0..rank).all(|k| {
                            a.offset[k] < b.offset[k].saturating_add(b.shape[k])
                                && b.offset[k] < a.offset[k].saturating_add(a.shape[k])
                        });
                        if overlaps {
                            return Err(overlap(a, b));
                        }
                    }
                }
                Ok(())
            }
            _ => Err(format!(
                "{} shards slice the variable along more than one axis (at most {MAX_PAIRWISE_SHARDS} can)",
                nonempty.len()
            )),
        }
    }
}

/// Shards slicing a variable along several axes that are checked for overlaps.
const MAX_PAIRWISE_SHARDS: usize = 1024;

fn overlap(a: &ShardInfo, b: &ShardInfo) -> String {
    format!("shards {} and {} overlap", a.name, b.name)
}

/// Every partitioned variable of a checkpoint's metadata, checked against its tensors
/// (`tensor(name)` gives a tensor's dtype and shape): each entry must parse and tile
/// its variable ([`PartitionInfo::from_json`]), each shard must be a tensor of the
/// shape the entry gives, the shards of one variable must share a dtype, and no
/// tensor may be a shard of two variables — so the shards listed number at most the
/// tensors, and a variable assembled from them is no larger than they are. Returns
/// each variable's layout and its shards' dtype.
///
/// # Errors
/// [`Error::Checkpoint`] for the first problem, naming the variable.
pub(crate) fn checked_partitions<'a, D: Copy + PartialEq + 'a>(
    metadata: &BTreeMap<String, String>,
    tensor: impl Fn(&str) -> Option<(D, &'a [usize])>,
) -> Result<BTreeMap<String, (PartitionInfo, Option<D>)>> {
    let mut claimed: HashSet<String> = HashSet::new();
    let mut out = BTreeMap::new();
    for (key, text) in metadata {
        let Some(name) = key.strip_prefix(PARTITION_METADATA_PREFIX) else {
            continue;
        };
        let info = PartitionInfo::from_json(name, text)?;
        let bad = |m: String| Error::corrupt(format!("partition metadata of {name}: {m}"));
        let mut dtype = None;
        for s in &info.shards {
            let (d, shape) = tensor(&s.name)
                .ok_or_else(|| bad(format!("shard {} is not in the checkpoint", s.name)))?;
            if shape != s.shape.as_slice() {
                return Err(bad(format!(
                    "shard {} has shape {shape:?} but the metadata says {:?}",
                    s.name, s.shape
                )));
            }
            if *dtype.get_or_insert(d) != d {
                return Err(bad(format!(
                    "shard {} has another dtype than the others",
                    s.name
                )));
            }
        }
        for s in &info.shards {
            if !claimed.insert(s.name.clone()) {
                return Err(bad(format!(
                    "shard {} is also a shard of another variable",
                    s.name
                )));
            }
        }
        out.insert(name.to_string(), (info, dtype));
    }
    Ok(out)
}

/// Number of elements, saturating.
fn product(dims: &[usize]) -> u128 {
    dims.iter()
        .fold(1u128, |acc, &d| acc.saturating_mul(d as u128))
}
