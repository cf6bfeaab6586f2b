//! The partition metadata of a checkpoint: how a partitioned variable is split into
//! checkpoint tensors.

use crate::error::{Error, Result};
use crate::variable::PartitionedVariable;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Prefix of the metadata keys describing partitioned variables
/// (`partition:<name>` → [`PartitionInfo`] JSON).
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
/// use std::collections::BTreeMap;
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

    /// Parses [`PartitionInfo::to_json`]'s form; `name` is the variable's, for the
    /// error text.
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

    /// The layout of the partitioned variable `name` recorded in a checkpoint's
    /// metadata, or `None` when there is no `partition:<name>` entry.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the entry is malformed (see
    /// [`PartitionInfo::from_json`]).
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
    pub fn all_from_metadata(
        metadata: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, PartitionInfo>> {
        metadata
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(PARTITION_METADATA_PREFIX)?, v)))
            .map(|(name, v)| Ok((name.to_string(), PartitionInfo::from_json(name, v)?)))
            .collect()
    }

    /// Checks that the shards tile the full shape exactly (without overflowing on
    /// absurd dimensions).
    fn check(&self) -> std::result::Result<(), String> {
        let rank = self.full_shape.len();
        let mut total: u128 = 0;
        for s in &self.shards {
            if s.offset.len() != rank || s.shape.len() != rank {
                return Err(format!("shard {} has the wrong rank", s.name));
            }
            if (0..rank).any(|a| s.offset[a].saturating_add(s.shape[a]) > self.full_shape[a]) {
                return Err(format!(
                    "shard {} lies outside {:?}",
                    s.name, self.full_shape
                ));
            }
            total = total.saturating_add(product(&s.shape));
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
        // Shards lie inside the variable, so their sizes add up to at most its size
        // when they do not overlap; saturation only matters for absurd shapes.
        if total != product(&self.full_shape) {
            return Err("the shards do not cover the variable".into());
        }
        Ok(())
    }
}

/// Number of elements, saturating.
fn product(dims: &[usize]) -> u128 {
    dims.iter()
        .fold(1u128, |acc, &d| acc.saturating_mul(d as u128))
}
