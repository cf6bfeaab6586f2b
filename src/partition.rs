//! Partitioners and shard geometry.
//!
//! INTERFACE STUB: the implementation replaces the bodies, keeping these signatures.

use crate::dtype::DType;
use crate::error::Result;
use crate::shape::Shape;
use std::fmt;

/// Decides how many shards a variable is split into along each axis.
pub trait Partitioner: Send + Sync + fmt::Debug {
    /// The partition count per axis (length = rank; at most one entry > 1).
    ///
    /// # Errors
    /// Any error the partitioner finds with the shape or dtype.
    fn partitions(&self, shape: &Shape, dtype: DType) -> Result<Vec<usize>>;
}

/// One shard of a partitioned variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardSpec {
    /// Shape of the shard.
    pub shape: Shape,
    /// Offset of the shard in the full variable.
    pub offset: Vec<usize>,
}

/// Calls `p` and validates its result as TF's `_call_partitioner` does.
pub(crate) fn checked_partitions(p: &dyn Partitioner, shape: &Shape, dtype: DType) -> Result<Vec<usize>> {
    p.partitions(shape, dtype)
}

/// The shards for `partitions` of `full`: the first `D % n` shards get one extra row.
pub(crate) fn shard_layout(full: &Shape, partitions: &[usize]) -> Result<Vec<ShardSpec>> {
    let axis = partitions.iter().position(|&p| p > 1).unwrap_or(0);
    let n = partitions.get(axis).copied().unwrap_or(1).max(1);
    let d = full.dims()[axis];
    let (base, extra) = (d / n, d % n);
    let mut off = 0;
    let mut out = Vec::new();
    for i in 0..n {
        let size = base + usize::from(i < extra);
        let mut dims = full.dims().to_vec();
        dims[axis] = size;
        let mut offset = vec![0; full.rank()];
        offset[axis] = off;
        off += size;
        out.push(ShardSpec { shape: Shape::new(dims)?, offset });
    }
    Ok(out)
}

/// TF's save-slice spec string: `"10 4 0,4:0,4"`.
pub fn save_slice_spec(full: &Shape, offset: &[usize], shape: &Shape) -> String {
    let dims: Vec<String> = full.dims().iter().map(ToString::to_string).collect();
    let slices: Vec<String> = offset
        .iter()
        .zip(shape.dims())
        .map(|(o, l)| format!("{o},{l}"))
        .collect();
    format!("{} {}", dims.join(" "), slices.join(":"))
}

/// `fixed_size_partitioner(num_shards, axis)`.
#[derive(Debug, Clone)]
pub struct FixedSizePartitioner {
    num_shards: usize,
    axis: usize,
}

impl FixedSizePartitioner {
    /// Splits `axis` into `min(num_shards, shape[axis])` shards.
    pub fn new(num_shards: usize, axis: usize) -> Self {
        FixedSizePartitioner { num_shards, axis }
    }
}

impl Partitioner for FixedSizePartitioner {
    fn partitions(&self, shape: &Shape, _dtype: DType) -> Result<Vec<usize>> {
        let mut p = vec![1; shape.rank()];
        p[self.axis] = self.num_shards.min(shape.dims()[self.axis]);
        Ok(p)
    }
}
