//! Partitioners and shard geometry (TensorFlow 1's partitioned variables).
//!
//! A [`Partitioner`] decides how many shards a variable of a given shape and dtype is
//! split into along each axis. The three built-in partitioners of TF 1 are ported with
//! their exact arithmetic:
//!
//! * [`FixedSizePartitioner`]: `fixed_size_partitioner(num_shards, axis)`;
//! * [`VariableAxisSizePartitioner`]: `variable_axis_size_partitioner(max_shard_bytes, …)`;
//! * [`MinMaxVariablePartitioner`]: `min_max_variable_partitioner(max_partitions, …)`.
//!
//! Any closure `Fn(&Shape, DType) -> Result<Vec<usize>>` becomes a partitioner through
//! [`FnPartitioner`].
//!
//! The result of a partitioner is validated as TF's `_call_partitioner` does, and the
//! shards are laid out as `_get_partitioned_variable` does: along the first axis with
//! more than one partition, the first `D % n` shards get one extra row.
//! [`partition_layout`] runs both steps:
//!
//! ```
//! use varscope::partition::{partition_layout, save_slice_spec, FixedSizePartitioner};
//! use varscope::{DType, Shape};
//! let full = Shape::new([10, 4]).unwrap();
//! let p = FixedSizePartitioner::new(3, 0);
//! let (partitions, shards) = partition_layout(&p, &full, DType::F32).unwrap();
//! assert_eq!(partitions, vec![3, 1]);
//! let rows: Vec<usize> = shards.iter().map(|s| s.shape.dims()[0]).collect();
//! assert_eq!(rows, vec![4, 3, 3]);
//! assert_eq!(shards[1].offset, vec![4, 0]);
//! assert_eq!(save_slice_spec(&full, &shards[1].offset, &shards[1].shape), "10 4 4,3:0,4");
//! ```

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::Shape;
use std::fmt;

/// Decides how many shards a variable is split into along each axis.
///
/// Implementations return one entry per axis of `shape`. The caller validates the
/// result (see [`partition_layout`]): its length must equal the rank, every entry must
/// be at least 1, and at most one entry may be greater than 1.
///
/// ```
/// use varscope::partition::Partitioner;
/// use varscope::{get_variable, DType, Graph, Result, Shape};
/// // One shard per 4 rows, along axis 0.
/// #[derive(Debug)]
/// struct FourRows;
/// impl Partitioner for FourRows {
///     fn partitions(&self, shape: &Shape, _: DType) -> Result<Vec<usize>> {
///         let mut p = vec![1; shape.rank()];
///         p[0] = shape.dims()[0].div_ceil(4);
///         Ok(p)
///     }
/// }
/// let emb = get_variable("emb").shape([10, 2]).partitioner(FourRows)
///     .graph(&Graph::with_seed(1)).build_partitioned().unwrap();
/// assert_eq!(emb.len(), 3);
/// ```
pub trait Partitioner: Send + Sync + fmt::Debug {
    /// The partition count per axis (length = rank; at most one entry > 1).
    ///
    /// # Errors
    /// Any error the partitioner finds with the shape or dtype.
    ///
    /// ```
    /// use varscope::partition::{FixedSizePartitioner, Partitioner};
    /// use varscope::{DType, Shape};
    /// let p = FixedSizePartitioner::new(3, 1);
    /// assert_eq!(p.partitions(&Shape::new([4, 9]).unwrap(), DType::F32).unwrap(), [1, 3]);
    /// ```
    fn partitions(&self, shape: &Shape, dtype: DType) -> Result<Vec<usize>>;
}

impl<P: Partitioner + ?Sized> Partitioner for &P {
    fn partitions(&self, shape: &Shape, dtype: DType) -> Result<Vec<usize>> {
        (**self).partitions(shape, dtype)
    }
}

impl<P: Partitioner + ?Sized> Partitioner for Box<P> {
    fn partitions(&self, shape: &Shape, dtype: DType) -> Result<Vec<usize>> {
        (**self).partitions(shape, dtype)
    }
}

impl<P: Partitioner + ?Sized> Partitioner for std::sync::Arc<P> {
    fn partitions(&self, shape: &Shape, dtype: DType) -> Result<Vec<usize>> {
        (**self).partitions(shape, dtype)
    }
}

/// One shard of a partitioned variable.
///
/// ```
/// use varscope::partition::{partition_layout, FixedSizePartitioner, ShardSpec};
/// use varscope::{DType, Shape};
/// let full = Shape::new([5, 2]).unwrap();
/// let (_, shards) = partition_layout(&FixedSizePartitioner::new(2, 0), &full, DType::F32).unwrap();
/// assert_eq!(shards[1], ShardSpec { shape: Shape::new([2, 2]).unwrap(), offset: vec![3, 0] });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardSpec {
    /// Shape of the shard.
    pub shape: Shape,
    /// Offset of the shard in the full variable.
    pub offset: Vec<usize>,
}

impl ShardSpec {
    /// TF's save-slice spec of this shard in the variable of shape `full`
    /// (see [`save_slice_spec`]).
    ///
    /// ```
    /// use varscope::partition::{partition_layout, FixedSizePartitioner};
    /// use varscope::{DType, Shape};
    /// let full = Shape::new([5, 2]).unwrap();
    /// let (_, shards) = partition_layout(&FixedSizePartitioner::new(2, 0), &full, DType::F32).unwrap();
    /// assert_eq!(shards[1].spec(&full), "5 2 3,2:0,2");
    /// ```
    pub fn spec(&self, full: &Shape) -> String {
        save_slice_spec(full, &self.offset, &self.shape)
    }
}

/// Formats a list as Python prints it: `[2, 1]`.
fn py_list(v: &[usize]) -> String {
    let parts: Vec<String> = v.iter().map(ToString::to_string).collect();
    format!("[{}]", parts.join(", "))
}

fn mismatch(message: String) -> Error {
    Error::PartitionMismatch {
        name: String::new(),
        message,
    }
}

/// The rank and partition-list checks of TF's `_call_partitioner` (steps 2, 4, 5, 6).
fn validate_partitions(shape: &Shape, partitions: &[usize]) -> Result<()> {
    if shape.rank() < 1 {
        return Err(mismatch(format!(
            "A partitioned Variable must have rank at least 1, shape: {shape}"
        )));
    }
    if partitions.len() != shape.rank() {
        return Err(mismatch(format!(
            "Partitioner returned a partition list that does not match the Variable's rank: {} vs. {shape}",
            py_list(partitions)
        )));
    }
    if partitions.iter().any(|&p| p < 1) {
        return Err(mismatch(format!(
            "Partitioner returned zero partitions for some axes: {}",
            py_list(partitions)
        )));
    }
    if partitions.iter().filter(|&&p| p > 1).count() > 1 {
        return Err(mismatch(format!(
            "Can only slice a variable along one dimension: shape: {shape}, partitioning: {}",
            py_list(partitions)
        )));
    }
    Ok(())
}

/// Calls `p` and validates its result as TF's `_call_partitioner` does.
///
/// The rank is checked before `p` is called (so partitioners never see a scalar).
/// Validation failures are [`Error::PartitionMismatch`] with an empty `name` and TF's
/// message; errors of `p` itself are passed through unchanged.
pub(crate) fn checked_partitions(
    p: &dyn Partitioner,
    shape: &Shape,
    dtype: DType,
) -> Result<Vec<usize>> {
    if shape.rank() < 1 {
        return Err(mismatch(format!(
            "A partitioned Variable must have rank at least 1, shape: {shape}"
        )));
    }
    let partitions = p.partitions(shape, dtype)?;
    validate_partitions(shape, &partitions)?;
    Ok(partitions)
}

/// The shards for `partitions` of `full`: the first `D % n` shards get one extra row.
///
/// `partitions` is validated as [`checked_partitions`] does. As TF's `_PartitionInfo`
/// does, every shard's offset must satisfy `0 <= offset < full` in every dimension, so
/// more shards than rows (or a zero-sized dimension) is an error.
pub(crate) fn shard_layout(full: &Shape, partitions: &[usize]) -> Result<Vec<ShardSpec>> {
    validate_partitions(full, partitions)?;
    let (axis, n) = partitions
        .iter()
        .enumerate()
        .find(|&(_, &p)| p > 1)
        .map_or((0, 1), |(axis, &p)| (axis, p));
    let dims = full.dims();
    let d = dims[axis];
    let (base, extra) = (d / n, d % n);
    let mut off = 0;
    let mut out = Vec::with_capacity(n.min(d.max(1)));
    for i in 0..n {
        let mut offset = vec![0; full.rank()];
        offset[axis] = off;
        if let Some((&o, &s)) = offset.iter().zip(dims).find(|&(&o, &s)| o >= s) {
            return Err(mismatch(format!(
                "Expected 0 <= offset < shape but found offset={o}, shape={s} for var_offset={}, full_shape={}",
                py_list(&offset),
                py_list(dims)
            )));
        }
        let size = base + usize::from(i < extra);
        let mut shard_dims = dims.to_vec();
        shard_dims[axis] = size;
        off += size;
        // A shard never has more elements than the full shape, so this cannot fail.
        out.push(ShardSpec {
            shape: Shape::new(shard_dims)?,
            offset,
        });
    }
    Ok(out)
}

/// Runs `p` on `shape`, validates its result and lays out the shards.
///
/// This is what creating a partitioned variable does before creating its shards:
/// TF's `_call_partitioner` followed by the shard geometry of
/// `_get_partitioned_variable`. Returns the partition list and the shards in offset
/// order (shard `i` is named `<name>/part_<i>`).
///
/// # Errors
/// * [`Error::PartitionMismatch`] (with an empty `name`) for a scalar shape, a partition
///   list of the wrong length, a zero entry, more than one sliced axis, or more shards
///   than rows along the sliced axis; the messages are TensorFlow's.
/// * Whatever `p` itself returns (for example [`Error::InvalidArgument`] for an axis out
///   of range).
///
/// ```
/// use varscope::partition::{partition_layout, FixedSizePartitioner};
/// use varscope::{DType, ErrorKind, Shape};
/// let full = Shape::new([7, 3]).unwrap();
/// let (parts, shards) = partition_layout(&FixedSizePartitioner::new(3, 0), &full, DType::F32).unwrap();
/// assert_eq!(parts, [3, 1]);
/// let rows: Vec<_> = shards.iter().map(|s| (s.offset[0], s.shape.dims()[0])).collect();
/// assert_eq!(rows, [(0, 3), (3, 2), (5, 2)]);
/// // A scalar cannot be partitioned.
/// let e = partition_layout(&FixedSizePartitioner::new(2, 0), &Shape::scalar(), DType::F32).unwrap_err();
/// assert_eq!(e.kind(), ErrorKind::PartitionMismatch);
/// ```
pub fn partition_layout(
    p: &dyn Partitioner,
    shape: &Shape,
    dtype: DType,
) -> Result<(Vec<usize>, Vec<ShardSpec>)> {
    let partitions = checked_partitions(p, shape, dtype)?;
    let shards = shard_layout(shape, &partitions)?;
    Ok((partitions, shards))
}

/// TF's save-slice spec string: `"10 4 0,4:0,4"`.
///
/// The full dimensions separated by spaces, a space, then `offset,length` per dimension
/// separated by colons (`SaveSliceInfo.spec`).
///
/// ```
/// use varscope::partition::save_slice_spec;
/// use varscope::Shape;
/// let full = Shape::new([10, 4]).unwrap();
/// let part = Shape::new([5, 4]).unwrap();
/// assert_eq!(save_slice_spec(&full, &[5, 0], &part), "10 4 5,5:0,4");
/// ```
pub fn save_slice_spec(full: &Shape, offset: &[usize], shape: &Shape) -> String {
    let dims: Vec<String> = full.dims().iter().map(ToString::to_string).collect();
    let slices: Vec<String> = offset
        .iter()
        .zip(shape.dims())
        .map(|(o, l)| format!("{o},{l}"))
        .collect();
    format!("{} {}", dims.join(" "), slices.join(":"))
}

/// The error for an axis that the shape does not have (TF raises `ValueError` in
/// `min_max_variable_partitioner` and `IndexError` in the others).
fn axis_error(axis: usize, shape: &Shape) -> Error {
    Error::invalid_arg(format!(
        "Cannot partition variable along axis {axis} when shape is only {shape}"
    ))
}

/// `fixed_size_partitioner(num_shards, axis)`.
///
/// Splits `axis` into `min(num_shards, shape[axis])` shards. As in TF, `num_shards = 0`
/// (or an empty axis) gives a zero entry, which validation rejects with
/// `Partitioner returned zero partitions for some axes: …`.
///
/// ```
/// use varscope::partition::{FixedSizePartitioner, Partitioner};
/// use varscope::{DType, Shape};
/// let p = FixedSizePartitioner::new(8, 0);
/// // Never more shards than rows.
/// assert_eq!(p.partitions(&Shape::new([3, 2]).unwrap(), DType::F32).unwrap(), [3, 1]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedSizePartitioner {
    num_shards: usize,
    axis: usize,
}

impl FixedSizePartitioner {
    /// Splits `axis` into `min(num_shards, shape[axis])` shards.
    ///
    /// ```
    /// use varscope::partition::{FixedSizePartitioner, Partitioner};
    /// use varscope::{DType, Shape};
    /// let p = FixedSizePartitioner::new(2, 1);
    /// assert_eq!(p.partitions(&Shape::new([4, 4]).unwrap(), DType::F32).unwrap(), [1, 2]);
    /// // An axis the shape does not have is an error when used.
    /// assert!(p.partitions(&Shape::new([4]).unwrap(), DType::F32).is_err());
    /// ```
    pub fn new(num_shards: usize, axis: usize) -> Self {
        FixedSizePartitioner { num_shards, axis }
    }

    /// The requested number of shards.
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// assert_eq!(FixedSizePartitioner::new(4, 0).num_shards(), 4);
    /// ```
    pub fn num_shards(&self) -> usize {
        self.num_shards
    }

    /// The axis that is split.
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// assert_eq!(FixedSizePartitioner::new(4, 1).axis(), 1);
    /// ```
    pub fn axis(&self) -> usize {
        self.axis
    }
}

impl Partitioner for FixedSizePartitioner {
    /// # Errors
    /// [`Error::InvalidArgument`] when `axis >= rank`.
    fn partitions(&self, shape: &Shape, _dtype: DType) -> Result<Vec<usize>> {
        let dim = *shape
            .dims()
            .get(self.axis)
            .ok_or_else(|| axis_error(self.axis, shape))?;
        let mut p = vec![1; shape.rank()];
        p[self.axis] = self.num_shards.min(dim);
        Ok(p)
    }
}

/// `variable_axis_size_partitioner(max_shard_bytes, axis, bytes_per_string_element,
/// max_shards)`.
///
/// Splits `axis` so that each shard holds at most `max_shard_bytes` bytes (but at least
/// one slice), with TF's floating-point arithmetic:
///
/// ```text
/// bytes_per_slice  = (num_elements / shape[axis]) * dtype.size      (f64)
/// slices_per_shard = max(1, floor(max_shard_bytes / bytes_per_slice))
/// axis_shards      = ceil(shape[axis] / slices_per_shard)
/// axis_shards      = min(max_shards, axis_shards)  if max_shards is set (and not 0)
/// ```
///
/// `bytes_per_string_element` sizes string elements in TF; this crate has no string
/// dtype, so it is only validated and kept.
///
/// ```
/// use varscope::partition::{Partitioner, VariableAxisSizePartitioner};
/// use varscope::{DType, Shape};
/// let s = Shape::new([4, 8, 16, 32]).unwrap();
/// let p = VariableAxisSizePartitioner::new(2048, 3, 16, None).unwrap();
/// assert_eq!(p.partitions(&s, DType::F32).unwrap(), vec![1, 1, 1, 32]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableAxisSizePartitioner {
    max_shard_bytes: usize,
    axis: usize,
    bytes_per_string_element: usize,
    max_shards: Option<usize>,
}

impl VariableAxisSizePartitioner {
    /// Checks the arguments as TF does at construction.
    ///
    /// As in TF (where `max_shards=0` is falsy), `max_shards = Some(0)` means no cap.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] with `Both max_shard_bytes and bytes_per_string_element
    /// must be positive.` when either is 0.
    ///
    /// ```
    /// use varscope::partition::VariableAxisSizePartitioner;
    /// assert!(VariableAxisSizePartitioner::new(1 << 20, 0, 16, None).is_ok());
    /// let e = VariableAxisSizePartitioner::new(0, 0, 16, None).unwrap_err();
    /// assert!(e.to_string().contains("Both max_shard_bytes and bytes_per_string_element must be positive."));
    /// assert_eq!(VariableAxisSizePartitioner::new(64, 0, 16, Some(0)).unwrap().max_shards(), None);
    /// ```
    pub fn new(
        max_shard_bytes: usize,
        axis: usize,
        bytes_per_string_element: usize,
        max_shards: Option<usize>,
    ) -> Result<Self> {
        if max_shard_bytes < 1 || bytes_per_string_element < 1 {
            return Err(Error::invalid_arg(
                "Both max_shard_bytes and bytes_per_string_element must be positive.",
            ));
        }
        Ok(VariableAxisSizePartitioner {
            max_shard_bytes,
            axis,
            bytes_per_string_element,
            max_shards: max_shards.filter(|&m| m > 0),
        })
    }

    /// The maximum number of bytes per shard.
    ///
    /// ```
    /// use varscope::partition::VariableAxisSizePartitioner;
    /// assert_eq!(VariableAxisSizePartitioner::new(4096, 0, 16, None).unwrap().max_shard_bytes(), 4096);
    /// ```
    pub fn max_shard_bytes(&self) -> usize {
        self.max_shard_bytes
    }

    /// The axis that is split.
    ///
    /// ```
    /// use varscope::partition::VariableAxisSizePartitioner;
    /// assert_eq!(VariableAxisSizePartitioner::new(4096, 2, 16, None).unwrap().axis(), 2);
    /// ```
    pub fn axis(&self) -> usize {
        self.axis
    }

    /// Bytes assumed per string element (unused: no string dtype here).
    ///
    /// ```
    /// use varscope::partition::VariableAxisSizePartitioner;
    /// assert_eq!(VariableAxisSizePartitioner::new(4096, 0, 32, None).unwrap().bytes_per_string_element(), 32);
    /// ```
    pub fn bytes_per_string_element(&self) -> usize {
        self.bytes_per_string_element
    }

    /// The cap on the number of shards, if any.
    ///
    /// ```
    /// use varscope::partition::{Partitioner, VariableAxisSizePartitioner};
    /// use varscope::{DType, Shape};
    /// let p = VariableAxisSizePartitioner::new(64, 0, 16, Some(4)).unwrap();
    /// assert_eq!(p.max_shards(), Some(4));
    /// // 1024 rows of 4 bytes want 64 shards of 64 bytes; capped at 4.
    /// assert_eq!(p.partitions(&Shape::new([1024]).unwrap(), DType::F32).unwrap(), [4]);
    /// ```
    pub fn max_shards(&self) -> Option<usize> {
        self.max_shards
    }
}

impl Partitioner for VariableAxisSizePartitioner {
    /// # Errors
    /// [`Error::InvalidArgument`] when `axis >= rank`, or when the shape has a zero
    /// dimension (TF divides by zero there).
    fn partitions(&self, shape: &Shape, dtype: DType) -> Result<Vec<usize>> {
        let dim = *shape
            .dims()
            .get(self.axis)
            .ok_or_else(|| axis_error(self.axis, shape))?;
        if shape.num_elements() == 0 {
            return Err(Error::invalid_arg(format!(
                "Cannot compute the slice size of a variable with no elements: shape {shape}"
            )));
        }
        let element_size = dtype.size() as f64;
        // Python: `1.0 * (shape.num_elements() / shape.dims[axis].value) * element_size`.
        let bytes_per_slice = (shape.num_elements() as f64 / dim as f64) * element_size;
        let slices_per_shard = (self.max_shard_bytes as f64 / bytes_per_slice)
            .floor()
            .max(1.0);
        let mut axis_shards = (dim as f64 / slices_per_shard).ceil() as usize;
        if let Some(m) = self.max_shards {
            axis_shards = axis_shards.min(m);
        }
        let mut p = vec![1; shape.rank()];
        p[self.axis] = axis_shards;
        Ok(p)
    }
}

/// `min_max_variable_partitioner(max_partitions, axis, min_slice_size,
/// bytes_per_string_element)`.
///
/// Splits `axis` into as many shards as keep each at least `min_slice_size` bytes, but
/// no more than `max_partitions` nor `shape[axis]`, and at least 1:
///
/// ```text
/// partitions[axis] = max(1, min(shape[axis], max_partitions,
///                               ceil(num_elements * dtype.size / min_slice_size)))
/// ```
///
/// (the division is a floating-point one, as in TF).
///
/// ```
/// use varscope::partition::{MinMaxVariablePartitioner, Partitioner};
/// use varscope::{DType, Shape};
/// let s = Shape::new([2048, 1024]).unwrap();
/// let p = MinMaxVariablePartitioner::new(100, 0, 256 << 10, 16).unwrap();
/// assert_eq!(p.partitions(&s, DType::F32).unwrap(), vec![32, 1]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinMaxVariablePartitioner {
    max_partitions: usize,
    axis: usize,
    min_slice_size: usize,
    bytes_per_string_element: usize,
}

impl MinMaxVariablePartitioner {
    /// TF's defaults are `max_partitions = 1`, `axis = 0`, `min_slice_size = 256 << 10`,
    /// `bytes_per_string_element = 16`.
    ///
    /// TF checks nothing at construction; this rejects the arguments TF would fail on at
    /// call time (a zero `min_slice_size` divides by zero) or that make no sense.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `min_slice_size` or `bytes_per_string_element`
    /// is 0.
    ///
    /// ```
    /// use varscope::partition::MinMaxVariablePartitioner;
    /// assert!(MinMaxVariablePartitioner::new(4, 0, 1024, 16).is_ok());
    /// assert!(MinMaxVariablePartitioner::new(4, 0, 0, 16).is_err());
    /// ```
    pub fn new(
        max_partitions: usize,
        axis: usize,
        min_slice_size: usize,
        bytes_per_string_element: usize,
    ) -> Result<Self> {
        if min_slice_size < 1 || bytes_per_string_element < 1 {
            return Err(Error::invalid_arg(
                "Both min_slice_size and bytes_per_string_element must be positive.",
            ));
        }
        Ok(MinMaxVariablePartitioner {
            max_partitions,
            axis,
            min_slice_size,
            bytes_per_string_element,
        })
    }

    /// The maximum number of partitions.
    ///
    /// ```
    /// use varscope::partition::MinMaxVariablePartitioner;
    /// assert_eq!(MinMaxVariablePartitioner::new(8, 0, 1024, 16).unwrap().max_partitions(), 8);
    /// ```
    pub fn max_partitions(&self) -> usize {
        self.max_partitions
    }

    /// The axis that is split.
    ///
    /// ```
    /// use varscope::partition::MinMaxVariablePartitioner;
    /// assert_eq!(MinMaxVariablePartitioner::new(8, 1, 1024, 16).unwrap().axis(), 1);
    /// ```
    pub fn axis(&self) -> usize {
        self.axis
    }

    /// The minimum size of a slice in bytes.
    ///
    /// ```
    /// use varscope::partition::{MinMaxVariablePartitioner, Partitioner};
    /// use varscope::{DType, Shape};
    /// let p = MinMaxVariablePartitioner::new(100, 0, 1024, 16).unwrap();
    /// assert_eq!(p.min_slice_size(), 1024);
    /// // 4096 bytes in slices of at least 1024 bytes: 4 partitions.
    /// assert_eq!(p.partitions(&Shape::new([1024]).unwrap(), DType::F32).unwrap(), [4]);
    /// ```
    pub fn min_slice_size(&self) -> usize {
        self.min_slice_size
    }

    /// Bytes assumed per string element (unused: no string dtype here).
    ///
    /// ```
    /// use varscope::partition::MinMaxVariablePartitioner;
    /// assert_eq!(MinMaxVariablePartitioner::default().bytes_per_string_element(), 16);
    /// ```
    pub fn bytes_per_string_element(&self) -> usize {
        self.bytes_per_string_element
    }
}

impl Default for MinMaxVariablePartitioner {
    /// TF's defaults: one partition along axis 0, slices of at least 256 KiB.
    fn default() -> Self {
        MinMaxVariablePartitioner {
            max_partitions: 1,
            axis: 0,
            min_slice_size: 256 << 10,
            bytes_per_string_element: 16,
        }
    }
}

impl Partitioner for MinMaxVariablePartitioner {
    /// # Errors
    /// [`Error::InvalidArgument`] with `Cannot partition variable along axis {axis} when
    /// shape is only {shape}` when `axis >= rank`.
    fn partitions(&self, shape: &Shape, dtype: DType) -> Result<Vec<usize>> {
        let dim = *shape
            .dims()
            .get(self.axis)
            .ok_or_else(|| axis_error(self.axis, shape))?;
        // Python integers do not overflow; u128 cannot overflow here either.
        let total_size_bytes = shape.num_elements() as u128 * dtype.size() as u128;
        let partitions = (total_size_bytes as f64 / self.min_slice_size as f64).ceil();
        // `as` saturates, so a huge quotient becomes usize::MAX before the `min`.
        let n = dim.min(self.max_partitions).min(partitions as usize).max(1);
        let mut p = vec![1; shape.rank()];
        p[self.axis] = n;
        Ok(p)
    }
}

/// A closure as a [`Partitioner`].
///
/// ```
/// use varscope::partition::{partition_layout, FnPartitioner};
/// use varscope::{DType, Shape};
/// let p = FnPartitioner::new(|shape: &Shape, _dtype: DType| {
///     let mut v = vec![1; shape.rank()];
///     v[0] = 2;
///     Ok(v)
/// });
/// let (_, shards) = partition_layout(&p, &Shape::new([5, 3]).unwrap(), DType::F32).unwrap();
/// assert_eq!(shards.len(), 2);
/// ```
pub struct FnPartitioner<F> {
    f: F,
    label: String,
}

impl<F> FnPartitioner<F>
where
    F: Fn(&Shape, DType) -> Result<Vec<usize>> + Send + Sync,
{
    /// Wraps `f`.
    ///
    /// ```
    /// use varscope::partition::{FnPartitioner, Partitioner};
    /// use varscope::{DType, Shape};
    /// let halves = FnPartitioner::new(|s: &Shape, _| {
    ///     let mut p = vec![1; s.rank()];
    ///     p[0] = 2; // two shards along axis 0
    ///     Ok(p)
    /// });
    /// assert_eq!(halves.partitions(&Shape::new([6, 2]).unwrap(), DType::F32).unwrap(), [2, 1]);
    /// ```
    pub fn new(f: F) -> Self {
        FnPartitioner {
            f,
            label: "<closure>".to_string(),
        }
    }

    /// Wraps `f`, shown as `label` in `Debug` output and messages.
    ///
    /// ```
    /// use varscope::partition::FnPartitioner;
    /// let p = FnPartitioner::with_label(|_: &varscope::Shape, _| Ok(vec![1]), "one_shard");
    /// assert!(format!("{p:?}").contains("one_shard"));
    /// ```
    pub fn with_label(f: F, label: impl Into<String>) -> Self {
        FnPartitioner {
            f,
            label: label.into(),
        }
    }
}

impl<F> fmt::Debug for FnPartitioner<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FnPartitioner").field(&self.label).finish()
    }
}

impl<F> Partitioner for FnPartitioner<F>
where
    F: Fn(&Shape, DType) -> Result<Vec<usize>> + Send + Sync,
{
    fn partitions(&self, shape: &Shape, dtype: DType) -> Result<Vec<usize>> {
        (self.f)(shape, dtype)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(d: &[usize]) -> Shape {
        Shape::new(d).unwrap()
    }

    fn msg(e: &Error) -> String {
        e.to_string()
    }

    #[test]
    fn fixed_size_vectors() {
        let p = FixedSizePartitioner::new(5, 0);
        assert_eq!(p.partitions(&s(&[10, 10]), DType::F32).unwrap(), [5, 1]);
        let p = FixedSizePartitioner::new(4, 0);
        assert_eq!(p.partitions(&s(&[20]), DType::I64).unwrap(), [4]);
        // Capped at the dimension.
        let p = FixedSizePartitioner::new(7, 1);
        assert_eq!(p.partitions(&s(&[9, 2, 3]), DType::F32).unwrap(), [1, 2, 1]);
    }

    #[test]
    fn fixed_size_errors() {
        let e = FixedSizePartitioner::new(2, 2)
            .partitions(&s(&[3, 4]), DType::F32)
            .unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }));
        assert_eq!(
            msg(&e),
            "Cannot partition variable along axis 2 when shape is only (3, 4)"
        );
        // Zero shards: the partitioner returns 0, validation rejects it.
        let p = FixedSizePartitioner::new(0, 0);
        assert_eq!(p.partitions(&s(&[3, 4]), DType::F32).unwrap(), [0, 1]);
        let e = partition_layout(&p, &s(&[3, 4]), DType::F32).unwrap_err();
        assert_eq!(
            msg(&e),
            "Partitioner returned zero partitions for some axes: [0, 1]"
        );
        assert!(matches!(e, Error::PartitionMismatch { ref name, .. } if name.is_empty()));
        // Scalars are rejected before the partitioner is called.
        let e = partition_layout(&p, &Shape::scalar(), DType::F32).unwrap_err();
        assert_eq!(
            msg(&e),
            "A partitioned Variable must have rank at least 1, shape: ()"
        );
    }

    #[test]
    fn variable_axis_size_vectors() {
        let shape = s(&[4, 8, 16, 32]);
        let case = |bytes, axis, max_shards| {
            let p = VariableAxisSizePartitioner::new(bytes, axis, 16, max_shards).unwrap();
            p.partitions(&shape, DType::F32).unwrap()
        };
        assert_eq!(case(131072, 0, None), [1, 1, 1, 1]);
        assert_eq!(case(65536, 1, None), [1, 1, 1, 1]);
        assert_eq!(case(32768, 2, None), [1, 1, 2, 1]);
        assert_eq!(case(2048, 3, None), [1, 1, 1, 32]);
        assert_eq!(case(1024, 3, None), [1, 1, 1, 32]);
        assert_eq!(case(1024, 3, Some(33)), [1, 1, 1, 32]);
        assert_eq!(case(1024, 3, Some(2)), [1, 1, 1, 2]);
        // max_shards = 0 is falsy in TF: no cap.
        assert_eq!(case(1024, 3, Some(0)), [1, 1, 1, 32]);
        // The string vector (bytes_per_string_element=8, 32768 bytes → 4 shards) is the
        // same arithmetic with an element size of 8, i.e. float64 here.
        let p = VariableAxisSizePartitioner::new(32768, 3, 8, None).unwrap();
        assert_eq!(p.partitions(&shape, DType::F64).unwrap(), [1, 1, 1, 4]);
    }

    #[test]
    fn variable_axis_size_errors() {
        let e = VariableAxisSizePartitioner::new(0, 0, 16, None).unwrap_err();
        assert_eq!(
            msg(&e),
            "Both max_shard_bytes and bytes_per_string_element must be positive."
        );
        let e = VariableAxisSizePartitioner::new(10, 0, 0, None).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }));
        let p = VariableAxisSizePartitioner::new(10, 1, 16, None).unwrap();
        let e = p.partitions(&s(&[5]), DType::F32).unwrap_err();
        assert_eq!(
            msg(&e),
            "Cannot partition variable along axis 1 when shape is only (5,)"
        );
        let e = p.partitions(&s(&[5, 0]), DType::F32).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }));
        let e = p.partitions(&s(&[0, 5]), DType::F32).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }));
    }

    #[test]
    fn min_max_vectors() {
        let case = |max, axis, min_slice, dims: &[usize]| {
            let p = MinMaxVariablePartitioner::new(max, axis, min_slice, 16).unwrap();
            p.partitions(&s(dims), DType::F32).unwrap()
        };
        assert_eq!(case(100, 0, 2 << 10, &[2048]), [4]);
        assert_eq!(case(100, 0, 256 << 10, &[2048, 1024]), [32, 1]);
        assert_eq!(case(16, 0, 256 << 10, &[2048, 1024]), [16, 1]);
        assert_eq!(case(1, 0, 256 << 10, &[2048, 1024]), [1, 1]);
        assert_eq!(case(100, 0, 128 << 10, &[2048, 1024]), [64, 1]);
        assert_eq!(case(100, 0, 512 << 10, &[2048, 1024]), [16, 1]);
        assert_eq!(case(100, 1, 256 << 10, &[64, 1024, 1, 3]), [1, 3, 1, 1]);
        assert_eq!(case(100, 3, 256 << 10, &[64, 1024, 1, 3]), [1, 1, 1, 3]);
        assert_eq!(case(100, 0, 256 << 10, &[16, 128, 1024]), [16, 1, 1]);
        assert_eq!(case(100, 0, 256 << 10, &[4, 512, 1024]), [4, 1, 1]);
        // Zero max_partitions and empty shapes still give one partition.
        assert_eq!(case(0, 0, 1, &[10]), [1]);
        assert_eq!(case(4, 0, 1, &[0, 3]), [1, 1]);
        assert_eq!(MinMaxVariablePartitioner::default().max_partitions(), 1);
    }

    #[test]
    fn min_max_errors() {
        let p = MinMaxVariablePartitioner::new(4, 2, 1024, 16).unwrap();
        let e = p.partitions(&s(&[3, 4]), DType::F32).unwrap_err();
        assert_eq!(
            msg(&e),
            "Cannot partition variable along axis 2 when shape is only (3, 4)"
        );
        assert!(MinMaxVariablePartitioner::new(4, 0, 0, 16).is_err());
        assert!(MinMaxVariablePartitioner::new(4, 0, 1, 0).is_err());
    }

    #[test]
    fn validation_messages() {
        let f = |v: Vec<usize>| FnPartitioner::new(move |_: &Shape, _: DType| Ok(v.clone()));
        let shape = s(&[2, 3]);
        let e = partition_layout(&f(vec![2]), &shape, DType::F32).unwrap_err();
        assert_eq!(
            msg(&e),
            "Partitioner returned a partition list that does not match the Variable's rank: [2] vs. (2, 3)"
        );
        let e = partition_layout(&f(vec![2, 3]), &shape, DType::F32).unwrap_err();
        assert_eq!(
            msg(&e),
            "Can only slice a variable along one dimension: shape: (2, 3), partitioning: [2, 3]"
        );
        let e = partition_layout(&f(vec![1, 0]), &shape, DType::F32).unwrap_err();
        assert_eq!(
            msg(&e),
            "Partitioner returned zero partitions for some axes: [1, 0]"
        );
        // More shards than rows: TF's _PartitionInfo check (checked against TF 2.21).
        let e = partition_layout(&f(vec![5, 1]), &shape, DType::F32).unwrap_err();
        assert_eq!(
            msg(&e),
            "Expected 0 <= offset < shape but found offset=2, shape=2 for var_offset=[2, 0], full_shape=[2, 3]"
        );
        assert!(matches!(e, Error::PartitionMismatch { .. }));
        // Errors of the partitioner itself pass through.
        let p = FnPartitioner::with_label(
            |_: &Shape, _: DType| Err(Error::invalid_arg("nope")),
            "failing",
        );
        assert_eq!(format!("{p:?}"), "FnPartitioner(\"failing\")");
        let e = partition_layout(&p, &shape, DType::F32).unwrap_err();
        assert_eq!(msg(&e), "nope");
    }

    #[test]
    fn shard_layout_geometry() {
        let rows = |dims: &[usize], parts: &[usize], axis: usize| -> Vec<usize> {
            shard_layout(&s(dims), parts)
                .unwrap()
                .iter()
                .map(|sh| sh.shape.dims()[axis])
                .collect()
        };
        assert_eq!(rows(&[10, 4], &[3, 1], 0), [4, 3, 3]);
        assert_eq!(rows(&[20, 43], &[1, 4], 1), [11, 11, 11, 10]);
        assert_eq!(rows(&[13, 5], &[3, 1], 0), [5, 4, 4]);
        let l = shard_layout(&s(&[10, 4]), &[3, 1]).unwrap();
        let offs: Vec<_> = l.iter().map(|sh| sh.offset.clone()).collect();
        assert_eq!(offs, [vec![0, 0], vec![4, 0], vec![7, 0]]);
        // Degenerate: one shard.
        let l = shard_layout(&s(&[10, 43]), &[1, 1]).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].spec(&s(&[10, 43])), "10 43 0,10:0,43");
        // Slice size one.
        assert_eq!(shard_layout(&s(&[10, 43]), &[10, 1]).unwrap().len(), 10);
        // Zero-sized dimension: TF's _PartitionInfo rejects offset 0 >= 0.
        let e = shard_layout(&s(&[0, 4]), &[1, 1]).unwrap_err();
        assert_eq!(
            msg(&e),
            "Expected 0 <= offset < shape but found offset=0, shape=0 for var_offset=[0, 0], full_shape=[0, 4]"
        );
        // Wrong lengths and scalars never panic.
        assert!(shard_layout(&s(&[4]), &[]).is_err());
        assert!(shard_layout(&s(&[4]), &[2, 1]).is_err());
        assert!(shard_layout(&Shape::scalar(), &[]).is_err());
        assert!(shard_layout(&s(&[4, 4]), &[2, 2]).is_err());
        // Many more shards than rows fail fast.
        assert!(shard_layout(&s(&[3]), &[usize::MAX]).is_err());
    }

    #[test]
    fn save_slice_specs() {
        assert_eq!(
            save_slice_spec(&s(&[10, 4]), &[0, 0], &s(&[4, 4])),
            "10 4 0,4:0,4"
        );
        assert_eq!(
            save_slice_spec(&s(&[20, 43]), &[0, 22], &s(&[20, 21])),
            "20 43 0,20:22,21"
        );
        assert_eq!(save_slice_spec(&s(&[4]), &[0], &s(&[1])), "4 0,1");
    }

    #[test]
    fn usable_as_trait_objects() {
        let boxed: Box<dyn Partitioner> = Box::new(FixedSizePartitioner::new(2, 0));
        let arc: std::sync::Arc<dyn Partitioner> = std::sync::Arc::new(boxed);
        let (p, _) = partition_layout(&arc, &s(&[4]), DType::F32).unwrap();
        assert_eq!(p, [2]);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn shards_tile_the_full_shape(
                dims in proptest::collection::vec(0usize..12, 0..4),
                parts in proptest::collection::vec(0usize..15, 0..5),
            ) {
                let full = s(&dims);
                match shard_layout(&full, &parts) {
                    Err(e) => {
                        let ok = matches!(e, Error::PartitionMismatch { .. });
                        prop_assert!(ok, "unexpected error kind: {:?}", e);
                    }
                    Ok(shards) => {
                        prop_assert_eq!(parts.len(), dims.len());
                        let n: usize = parts.iter().product();
                        prop_assert_eq!(shards.len(), n);
                        let axis = parts.iter().position(|&p| p > 1).unwrap_or(0);
                        let mut next = 0;
                        let mut total = 0;
                        for sh in &shards {
                            prop_assert!(sh.shape.dims()[axis] >= 1);
                            prop_assert_eq!(sh.offset[axis], next);
                            next += sh.shape.dims()[axis];
                            total += sh.shape.num_elements();
                            for (d, &full_dim) in dims.iter().enumerate() {
                                if d != axis {
                                    prop_assert_eq!(sh.shape.dims()[d], full_dim);
                                    prop_assert_eq!(sh.offset[d], 0);
                                }
                            }
                        }
                        prop_assert_eq!(next, dims[axis]);
                        prop_assert_eq!(total, full.num_elements());
                        // Sizes differ by at most one, larger first.
                        let sizes: Vec<usize> = shards.iter().map(|sh| sh.shape.dims()[axis]).collect();
                        prop_assert!(sizes.windows(2).all(|w| w[0] >= w[1] && w[0] - w[1] <= 1));
                    }
                }
            }

            #[test]
            fn builtin_partitioners_never_panic(
                dims in proptest::collection::vec(0usize..5000, 0..4),
                n in 0usize..40,
                axis in 0usize..4,
                bytes in 1usize..1_000_000,
                dt in 0usize..7,
            ) {
                let full = s(&dims);
                let dtype = DType::ALL[dt];
                let ps: Vec<Box<dyn Partitioner>> = vec![
                    Box::new(FixedSizePartitioner::new(n, axis)),
                    Box::new(VariableAxisSizePartitioner::new(bytes, axis, 16, Some(n)).unwrap()),
                    Box::new(MinMaxVariablePartitioner::new(n, axis, bytes, 16).unwrap()),
                ];
                for p in &ps {
                    if let Ok(parts) = p.partitions(&full, dtype) {
                        prop_assert_eq!(parts.len(), dims.len());
                    }
                    if let Ok((_, shards)) = partition_layout(p.as_ref(), &full, dtype) {
                        let total: usize = shards.iter().map(|sh| sh.shape.num_elements()).sum();
                        prop_assert_eq!(total, full.num_elements());
                    }
                }
            }
        }
    }
}
