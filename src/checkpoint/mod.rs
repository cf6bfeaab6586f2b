//! Checkpoints: the safetensors file format and the layout varscope writes into it.
//!
//! This module is the bottom layer of checkpointing; [`crate::restore`] (putting a
//! checkpoint's values into a graph's variables) and [`crate::model`] (writing a built
//! model) are built on it, and it depends on neither.
//!
//! # The format
//!
//! The [safetensors] format is an 8-byte little-endian header length `N`, a JSON header
//! of `N` bytes, then the raw little-endian tensor data. The header maps every tensor
//! name to `{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}` (offsets
//! relative to the start of the data) and may hold a `"__metadata__"` map of strings.
//! dtypes are named as [`safetensors_dtype_name`] gives them.
//!
//! * [`save_safetensors`] streams tensor by tensor (the file is never built in memory)
//!   into a temporary file next to the target, syncs it and renames it over the target,
//!   so readers see either the old file or the complete new one.
//! * [`load_safetensors`] validates the header completely before reading any data and
//!   reports every malformation as [`Error::Checkpoint`](crate::Error::Checkpoint),
//!   never panicking and never allocating more than the file can hold.
//! * [`read_header`] reads and validates only the header ([`CheckpointHeader`]: every
//!   tensor's dtype, shape and byte range, and the metadata), with the same checks.
//!
//! # The layout
//!
//! Tensors are keyed by their TensorFlow checkpoint names (`scope/v`, shards of a
//! partitioned variable `scope/v/part_0`, …). A partitioned variable additionally has a
//! metadata entry `partition:<name>` ([`PARTITION_METADATA_PREFIX`],
//! [`partition_metadata_key`]) holding its [`PartitionInfo`] as JSON: the whole
//! variable's shape and every shard's name, offset and shape. That is what lets a
//! reader reassemble the variable, and [`crate::restore`] restore it into a different
//! partitioning.
//!
//! ```
//! use std::collections::BTreeMap;
//! use varscope::checkpoint::{load_safetensors, read_header, save_safetensors};
//! use varscope::{DType, Tensor};
//! let dir = std::env::temp_dir().join(format!("varscope-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("model.safetensors");
//! let w = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]).unwrap();
//! let meta = BTreeMap::from([("step".to_string(), "10".to_string())]);
//! save_safetensors(&path, [("scope/w".to_string(), &w)], &meta).unwrap();
//! let header = read_header(&path).unwrap();
//! assert_eq!(header.tensors["scope/w"].dtype, DType::F32);
//! assert_eq!(header.tensors["scope/w"].shape.dims(), &[2, 2]);
//! let loaded = load_safetensors(&path).unwrap();
//! assert_eq!(loaded.tensors["scope/w"], w);
//! assert_eq!(loaded.metadata["step"], "10");
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```
//!
//! [safetensors]: https://github.com/huggingface/safetensors

mod layout;
mod safetensors;

use crate::tensor::Tensor;
use std::collections::BTreeMap;

pub(crate) use self::layout::checked_partitions;
pub use self::layout::{
    partition_metadata_key, PartitionInfo, ShardInfo, PARTITION_METADATA_PREFIX,
};
pub use self::safetensors::{
    dtype_from_safetensors_name, load_safetensors, read_header, safetensors_dtype_name,
    save_safetensors, CheckpointHeader, TensorInfo, MAX_HEADER_SIZE,
};

/// The contents of a safetensors file, as [`load_safetensors`] returns them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoadedCheckpoint {
    /// Every tensor, by name.
    pub tensors: BTreeMap<String, Tensor>,
    /// The `__metadata__` map of the header (empty when the file has none).
    pub metadata: BTreeMap<String, String>,
}
