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
//!   so readers see either the old file or the complete new one. A target that is not
//!   a regular file (a symbolic link, FIFO, device node) is not replaced unless forced
//!   ([`save_safetensors_with`], [`WriteOptions`]). Temporary files left by killed
//!   writers are swept on the next write to the same target, and
//!   [`remove_temp_files`] removes those of writes in progress (for signal handlers).
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

mod atomic;
mod bundle;
mod direct;
pub(crate) use self::direct::DirectReader;
mod layout;
mod safetensors;
mod stream;

use crate::tensor::Tensor;
use std::collections::BTreeMap;

pub use self::atomic::{remove_temp_files, WriteOptions};
pub use self::bundle::{
    bundle_data_path, bundle_index_path, bundle_part_path, merge_tf_bundle, write_tf_bundle_part,
    write_tf_bundle_streamed, BundleEntry, BundleLayout, BundlePiece, BundleReader, BundleWriter,
    MergeReport, TensorSlice,
};
pub(crate) use self::bundle::{copy_region, masked_crc32c, StoredPiece};
pub(crate) use self::layout::checked_partitions;
pub use self::layout::{
    partition_metadata_key, PartitionInfo, ShardInfo, PARTITION_METADATA_PREFIX,
};
pub use self::safetensors::{
    dtype_from_safetensors_name, load_safetensors, read_header, safetensors_dtype_name,
    save_safetensors, save_safetensors_with, CheckpointHeader, TensorInfo, MAX_HEADER_SIZE,
};
pub use self::safetensors::{safetensors_layout, SafetensorsLayout};
pub(crate) use self::stream::{append_le, read_at, resize};
pub use self::stream::{
    write_safetensors_streamed, FillFn, StreamOptions, StreamStats, DEFAULT_POOL_BYTES,
};

/// The contents of a safetensors file, as [`load_safetensors`] returns them.
///
/// ```
/// use std::collections::BTreeMap;
/// use varscope::checkpoint::{load_safetensors, save_safetensors};
/// use varscope::Tensor;
/// let dir = std::env::temp_dir().join(format!("varscope-doc-loaded-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("m.safetensors");
/// let t = Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap();
/// let meta = BTreeMap::from([("step".to_string(), "7".to_string())]);
/// save_safetensors(&path, [("w".to_string(), &t)], &meta).unwrap();
/// let loaded = load_safetensors(&path).unwrap();
/// assert_eq!(loaded.tensors["w"], t);
/// assert_eq!(loaded.metadata, meta);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoadedCheckpoint {
    /// Every tensor, by name.
    pub tensors: BTreeMap<String, Tensor>,
    /// The `__metadata__` map of the header (empty when the file has none).
    pub metadata: BTreeMap<String, String>,
}

/// The two checkpoint formats varscope reads and writes.
///
/// ```
/// use varscope::checkpoint::{AnyCheckpoint, BundleWriter, CheckpointFormat};
/// let dir = std::env::temp_dir().join(format!("varscope-doc-format-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// BundleWriter::new(&dir.join("m"), 1).unwrap().finish().unwrap();
/// assert_eq!(AnyCheckpoint::open(&dir.join("m")).unwrap().format(), CheckpointFormat::TfBundle);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointFormat {
    /// A safetensors file with varscope's partition metadata.
    Safetensors,
    /// A TensorFlow tensor bundle (`PREFIX.index` + `PREFIX.data-*-of-*`).
    TfBundle,
}

/// A checkpoint of either format, opened by what the file is rather than by its name.
///
/// Two views are offered:
///
/// * TF's: [`AnyCheckpoint::entries`] lists every variable under its full name
///   (`scope/emb`, not its shards) with dtype, shape and the slices it is stored in,
///   and [`AnyCheckpoint::read`] / [`AnyCheckpoint::read_slice`] give the whole tensor
///   or any slice of it, whichever way it is stored. This is what
///   [`crate::restore::init_from_checkpoint`] uses.
/// * varscope's layout: [`AnyCheckpoint::load`] gives a [`LoadedCheckpoint`] with
///   shards named `scope/emb/part_i` and `partition:<name>` metadata (for a bundle,
///   built from its slices), which [`crate::restore::restore`] and the CLI use.
///
/// ```
/// use std::collections::BTreeMap;
/// use varscope::checkpoint::{save_safetensors, AnyCheckpoint, BundleWriter, CheckpointFormat};
/// use varscope::{ErrorKind, Tensor};
/// let dir = std::env::temp_dir().join(format!("varscope-doc-any-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let t = Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap();
/// save_safetensors(&dir.join("a.safetensors"), [("w".to_string(), &t)], &BTreeMap::new()).unwrap();
/// let mut w = BundleWriter::new(&dir.join("b"), 1).unwrap();
/// w.add("w", &t).unwrap();
/// w.finish().unwrap();
/// for (path, format) in [
///     (dir.join("a.safetensors"), CheckpointFormat::Safetensors),
///     (dir.join("b"), CheckpointFormat::TfBundle),
///     (dir.join("b.index"), CheckpointFormat::TfBundle),
/// ] {
///     let c = AnyCheckpoint::open(&path).unwrap();
///     assert_eq!(c.format(), format);
///     assert_eq!(c.read("w").unwrap(), t);
/// }
/// std::fs::write(dir.join("junk"), b"neither").unwrap();
/// let e = AnyCheckpoint::open(&dir.join("junk")).unwrap_err();
/// assert_eq!(e.kind(), ErrorKind::Checkpoint);
/// assert!(e.to_string().contains("not a safetensors file or TF bundle"));
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
pub enum AnyCheckpoint {
    /// A safetensors file: its header, and its tensors once read.
    Safetensors {
        /// The file.
        path: std::path::PathBuf,
        /// Its validated header.
        header: CheckpointHeader,
        /// The tensors, loaded on first use.
        loaded: std::sync::OnceLock<LoadedCheckpoint>,
    },
    /// A TF tensor bundle.
    Bundle(BundleReader),
}

impl AnyCheckpoint {
    /// Opens `path` as whichever format it is: a TF bundle's index file (`X.index`) or
    /// prefix (`X`, when `X.index` exists), or a safetensors file.
    ///
    /// # Errors
    /// [`crate::Error::Checkpoint`] "not a safetensors file or TF bundle" naming the
    /// path, or the format's own errors ([`BundleReader::open`], [`read_header`]).
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use varscope::checkpoint::{save_safetensors, AnyCheckpoint, CheckpointFormat};
    /// use varscope::Tensor;
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-anyopen-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// // Recognized by content, whatever the file is called.
    /// let path = dir.join("weights.bin");
    /// save_safetensors(&path, [("w".to_string(), &Tensor::scalar(1.0f32))], &BTreeMap::new()).unwrap();
    /// assert_eq!(AnyCheckpoint::open(&path).unwrap().format(), CheckpointFormat::Safetensors);
    /// assert!(AnyCheckpoint::open(&dir.join("absent")).is_err());
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn open(path: &std::path::Path) -> crate::Result<AnyCheckpoint> {
        let neither = || {
            crate::Error::corrupt(format!(
                "{}: not a safetensors file or TF bundle",
                path.display()
            ))
        };
        match std::fs::metadata(path) {
            // Only regular files are opened (a FIFO would block).
            Ok(m) if m.is_file() => {
                if bundle::looks_like_index(path) {
                    if !path.to_str().is_some_and(|s| s.ends_with(".index")) {
                        return Err(crate::Error::corrupt(format!(
                            "{}: a TF bundle index must be named PREFIX.index",
                            path.display()
                        )));
                    }
                    return BundleReader::open(path).map(AnyCheckpoint::Bundle);
                }
                if looks_like_safetensors(path) {
                    return Ok(AnyCheckpoint::Safetensors {
                        path: path.to_path_buf(),
                        header: read_header(path)?,
                        loaded: std::sync::OnceLock::new(),
                    });
                }
                Err(neither())
            }
            Ok(_) => Err(neither()),
            Err(e) => {
                let index = bundle_index_path(path);
                if std::fs::metadata(&index).is_ok_and(|m| m.is_file()) {
                    BundleReader::open(path).map(AnyCheckpoint::Bundle)
                } else {
                    Err(crate::Error::io(path, e))
                }
            }
        }
    }

    /// The format.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use varscope::checkpoint::{save_safetensors, AnyCheckpoint, CheckpointFormat};
    /// use varscope::Tensor;
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-anyfmt-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("m.safetensors");
    /// save_safetensors(&path, [("w".to_string(), &Tensor::scalar(1.0f32))], &BTreeMap::new()).unwrap();
    /// assert_eq!(AnyCheckpoint::open(&path).unwrap().format(), CheckpointFormat::Safetensors);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn format(&self) -> CheckpointFormat {
        match self {
            AnyCheckpoint::Safetensors { .. } => CheckpointFormat::Safetensors,
            AnyCheckpoint::Bundle(_) => CheckpointFormat::TfBundle,
        }
    }

    /// The file (safetensors) or prefix (bundle).
    ///
    /// ```
    /// use varscope::checkpoint::{AnyCheckpoint, BundleWriter};
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-anypath-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// BundleWriter::new(&dir.join("m"), 1).unwrap().finish().unwrap();
    /// // Opened by its index file, a bundle is named by its prefix.
    /// assert_eq!(AnyCheckpoint::open(&dir.join("m.index")).unwrap().path(), dir.join("m"));
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn path(&self) -> &std::path::Path {
        match self {
            AnyCheckpoint::Safetensors { path, .. } => path,
            AnyCheckpoint::Bundle(b) => b.prefix(),
        }
    }

    /// Total size of the checkpoint's files.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use varscope::checkpoint::{save_safetensors, AnyCheckpoint};
    /// use varscope::Tensor;
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-anysize-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("m.safetensors");
    /// save_safetensors(&path, [("w".to_string(), &Tensor::scalar(1.0f32))], &BTreeMap::new()).unwrap();
    /// assert_eq!(AnyCheckpoint::open(&path).unwrap().file_size(), std::fs::metadata(&path).unwrap().len());
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn file_size(&self) -> u64 {
        match self {
            AnyCheckpoint::Safetensors { header, .. } => header.file_size,
            AnyCheckpoint::Bundle(b) => b.file_size(),
        }
    }

    /// The metadata map (a bundle has none).
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use varscope::checkpoint::{save_safetensors, AnyCheckpoint};
    /// use varscope::Tensor;
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-anymeta-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("m.safetensors");
    /// let meta = BTreeMap::from([("model".to_string(), "bert".to_string())]);
    /// save_safetensors(&path, [("w".to_string(), &Tensor::scalar(1.0f32))], &meta).unwrap();
    /// assert_eq!(AnyCheckpoint::open(&path).unwrap().metadata(), meta);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn metadata(&self) -> BTreeMap<String, String> {
        match self {
            AnyCheckpoint::Safetensors { header, .. } => header.metadata.clone(),
            AnyCheckpoint::Bundle(_) => BTreeMap::new(),
        }
    }

    /// Every variable by full name (TF's view; shards of a partitioned variable are
    /// its slices).
    ///
    /// # Errors
    /// [`crate::Error::Checkpoint`] for malformed partition metadata.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use varscope::checkpoint::{partition_metadata_key, save_safetensors, AnyCheckpoint, PartitionInfo};
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, Graph};
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-anyentries-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let emb = get_variable("emb").shape([4, 2]).partitioner(FixedSizePartitioner::new(2, 0))
    ///     .graph(&Graph::with_seed(1)).build_partitioned().unwrap();
    /// let values: Vec<_> = emb.shards().iter().map(|s| s.value().unwrap()).collect();
    /// let tensors = emb.shards().iter().zip(&values).map(|(s, v)| (s.checkpoint_name().to_string(), v));
    /// let meta = BTreeMap::from([(partition_metadata_key("emb"), PartitionInfo::of(&emb).to_json())]);
    /// let path = dir.join("m.safetensors");
    /// save_safetensors(&path, tensors, &meta).unwrap();
    /// // TF's view: one variable `emb` stored in two slices.
    /// let entries = AnyCheckpoint::open(&path).unwrap().entries().unwrap();
    /// assert_eq!(entries.keys().collect::<Vec<_>>(), ["emb"]);
    /// assert_eq!(entries["emb"].slices.len(), 2);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn entries(&self) -> crate::Result<BTreeMap<String, BundleEntry>> {
        match self {
            AnyCheckpoint::Bundle(b) => Ok(b.entries().clone()),
            AnyCheckpoint::Safetensors { header, .. } => {
                let mut out = BTreeMap::new();
                let mut grouped = std::collections::BTreeSet::new();
                for (name, info) in PartitionInfo::all_from_metadata(&header.metadata)? {
                    let mut dtype = None;
                    let mut slices = Vec::new();
                    for s in &info.shards {
                        let t = header.tensors.get(&s.name).ok_or_else(|| {
                            crate::Error::corrupt(format!(
                                "{}: shard {} of {name} is missing",
                                header_path(self).display(),
                                s.name
                            ))
                        })?;
                        dtype = Some(t.dtype);
                        grouped.insert(s.name.clone());
                        slices.push(TensorSlice {
                            offset: s.offset.clone(),
                            shape: s.shape.clone(),
                        });
                    }
                    slices.sort();
                    let shape = crate::Shape::new(&info.full_shape)
                        .map_err(|e| crate::Error::corrupt(e.to_string()))?;
                    out.insert(
                        name,
                        BundleEntry {
                            dtype: dtype.unwrap_or(crate::DType::F32),
                            shape,
                            slices,
                        },
                    );
                }
                for (name, t) in &header.tensors {
                    if !grouped.contains(name) {
                        out.insert(
                            name.clone(),
                            BundleEntry {
                                dtype: t.dtype,
                                shape: t.shape.clone(),
                                slices: Vec::new(),
                            },
                        );
                    }
                }
                Ok(out)
            }
        }
    }

    fn loaded(&self) -> crate::Result<&LoadedCheckpoint> {
        match self {
            AnyCheckpoint::Safetensors { path, loaded, .. } => {
                if let Some(l) = loaded.get() {
                    return Ok(l);
                }
                let l = load_safetensors(path)?;
                Ok(loaded.get_or_init(|| l))
            }
            AnyCheckpoint::Bundle(_) => Err(crate::Error::invalid_arg("not a safetensors file")),
        }
    }

    /// The whole variable `name` (TF's view: a partitioned variable assembled).
    ///
    /// # Errors
    /// [`crate::Error::NotInCheckpoint`] when there is no such variable, and the
    /// format's read errors.
    ///
    /// ```
    /// use varscope::checkpoint::{AnyCheckpoint, BundleWriter};
    /// use varscope::{ErrorKind, Shape, Tensor};
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-anyread-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let mut w = BundleWriter::new(&dir.join("m"), 1).unwrap();
    /// let full = Shape::new([2]).unwrap();
    /// w.add_slice("v", &full, &[0], &Tensor::from_vec(vec![1.0f32], [1]).unwrap()).unwrap();
    /// w.add_slice("v", &full, &[1], &Tensor::from_vec(vec![2.0f32], [1]).unwrap()).unwrap();
    /// w.finish().unwrap();
    /// let c = AnyCheckpoint::open(&dir.join("m")).unwrap();
    /// assert_eq!(c.read("v").unwrap().to_f64_vec(), [1.0, 2.0]);
    /// assert_eq!(c.read("u").unwrap_err().kind(), ErrorKind::NotFound);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn read(&self, name: &str) -> crate::Result<Tensor> {
        match self {
            AnyCheckpoint::Bundle(b) => b.read(name),
            AnyCheckpoint::Safetensors { .. } => {
                let entries = self.entries()?;
                let e = entries
                    .get(name)
                    .ok_or_else(|| crate::Error::NotInCheckpoint {
                        name: name.to_string(),
                    })?;
                self.read_slice(name, &TensorSlice::full(e.shape.dims()))
            }
        }
    }

    /// The slice `slice` of the variable `name`, however it is stored.
    ///
    /// # Errors
    /// Those of [`AnyCheckpoint::read`], and [`crate::Error::InvalidArgument`] when
    /// the slice does not lie within the variable.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use varscope::checkpoint::{save_safetensors, AnyCheckpoint, TensorSlice};
    /// use varscope::Tensor;
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-anyrslice-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("m.safetensors");
    /// let t = Tensor::from_vec(vec![0i32, 1, 2, 3, 4, 5], [6]).unwrap();
    /// save_safetensors(&path, [("v".to_string(), &t)], &BTreeMap::new()).unwrap();
    /// let c = AnyCheckpoint::open(&path).unwrap();
    /// let mid = TensorSlice { offset: vec![2], shape: vec![3] };
    /// assert_eq!(c.read_slice("v", &mid).unwrap().to_f64_vec(), [2.0, 3.0, 4.0]);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn read_slice(&self, name: &str, slice: &TensorSlice) -> crate::Result<Tensor> {
        match self {
            AnyCheckpoint::Bundle(b) => b.read_slice(name, slice),
            AnyCheckpoint::Safetensors { header, .. } => {
                let ckpt = self.loaded()?;
                let bad_slice = |shape: &crate::Shape| {
                    crate::Error::invalid_arg(format!(
                        "slice {slice:?} does not lie within tensor {name} of shape {shape}"
                    ))
                };
                let out_shape = crate::Shape::new(&slice.shape)
                    .map_err(|e| crate::Error::invalid_arg(e.to_string()))?;
                if let Some(t) = ckpt.tensors.get(name) {
                    let shape = t.shape();
                    if !slice.lies_within(shape.dims()) {
                        return Err(bad_slice(&shape));
                    }
                    if slice.shape == shape.dims() {
                        return Ok(t.clone());
                    }
                    let mut out = Tensor::zeros(t.dtype(), &out_shape);
                    bundle::copy_region(
                        &mut out,
                        &vec![0; slice.offset.len()],
                        t,
                        &slice.offset,
                        &slice.shape,
                    );
                    return Ok(out);
                }
                let Some(info) = PartitionInfo::from_metadata(&header.metadata, name)? else {
                    return Err(crate::Error::NotInCheckpoint {
                        name: name.to_string(),
                    });
                };
                if !slice.lies_within(&info.full_shape) {
                    let full = crate::Shape::new(&info.full_shape)
                        .map_err(|e| crate::Error::corrupt(e.to_string()))?;
                    return Err(bad_slice(&full));
                }
                let mut out: Option<Tensor> = None;
                for s in &info.shards {
                    let part = ckpt.tensors.get(&s.name).ok_or_else(|| {
                        crate::Error::corrupt(format!(
                            "{}: shard {} of {name} is missing",
                            header_path(self).display(),
                            s.name
                        ))
                    })?;
                    if part.shape().dims() != s.shape.as_slice() {
                        return Err(crate::Error::corrupt(format!(
                            "{}: shard {} has shape {} but the metadata says {:?}",
                            header_path(self).display(),
                            s.name,
                            part.shape(),
                            s.shape
                        )));
                    }
                    let piece = TensorSlice {
                        offset: s.offset.clone(),
                        shape: s.shape.clone(),
                    };
                    let Some(i) = piece.intersect(slice) else {
                        continue;
                    };
                    let out = out.get_or_insert_with(|| Tensor::zeros(part.dtype(), &out_shape));
                    if out.dtype() != part.dtype() {
                        return Err(crate::Error::corrupt(format!(
                            "{}: shards of {name} have different dtypes",
                            header_path(self).display()
                        )));
                    }
                    let src: Vec<usize> = (0..i.offset.len())
                        .map(|d| i.offset[d] - piece.offset[d])
                        .collect();
                    let dst: Vec<usize> = (0..i.offset.len())
                        .map(|d| i.offset[d] - slice.offset[d])
                        .collect();
                    bundle::copy_region(out, &dst, part, &src, &i.shape);
                }
                let dtype = self
                    .entries()?
                    .get(name)
                    .map_or(crate::DType::F32, |e| e.dtype);
                Ok(out.unwrap_or_else(|| Tensor::zeros(dtype, &out_shape)))
            }
        }
    }

    /// The whole checkpoint in varscope's layout: a bundle's sliced variable becomes
    /// shards `name/part_i` (ordered by offset) and a `partition:<name>` entry.
    ///
    /// # Errors
    /// The format's read errors; [`crate::Error::Checkpoint`] when a bundle holds a
    /// tensor named like a shard of one of its sliced variables.
    ///
    /// ```
    /// use varscope::checkpoint::{partition_metadata_key, AnyCheckpoint, BundleWriter};
    /// use varscope::{Shape, Tensor};
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-anyload-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let mut w = BundleWriter::new(&dir.join("m"), 1).unwrap();
    /// let full = Shape::new([2]).unwrap();
    /// w.add_slice("v", &full, &[0], &Tensor::from_vec(vec![1.0f32], [1]).unwrap()).unwrap();
    /// w.add_slice("v", &full, &[1], &Tensor::from_vec(vec![2.0f32], [1]).unwrap()).unwrap();
    /// w.finish().unwrap();
    /// // varscope's layout: shards and partition metadata.
    /// let loaded = AnyCheckpoint::open(&dir.join("m")).unwrap().load().unwrap();
    /// assert_eq!(loaded.tensors.keys().collect::<Vec<_>>(), ["v/part_0", "v/part_1"]);
    /// assert!(loaded.metadata.contains_key(&partition_metadata_key("v")));
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn load(&self) -> crate::Result<LoadedCheckpoint> {
        match self {
            AnyCheckpoint::Safetensors { .. } => self.loaded().cloned(),
            AnyCheckpoint::Bundle(b) => {
                let mut out = LoadedCheckpoint::default();
                for (name, shards, info) in bundle_layout(b) {
                    match info {
                        None => {
                            if out.tensors.insert(name.clone(), b.read(&name)?).is_some() {
                                return Err(shard_clash(b, &name));
                            }
                        }
                        Some(info) => {
                            for (shard, s) in shards.iter().zip(&info.shards) {
                                let t = b.read_slice(&name, shard)?;
                                if out.tensors.insert(s.name.clone(), t).is_some() {
                                    return Err(shard_clash(b, &s.name));
                                }
                            }
                            out.metadata
                                .insert(partition_metadata_key(&name), info.to_json());
                        }
                    }
                }
                Ok(out)
            }
        }
    }

    /// The header in varscope's layout (for summaries): dtypes, shapes and byte sizes,
    /// a bundle's sliced variables as shards with partition metadata.
    ///
    /// ```
    /// use varscope::checkpoint::{AnyCheckpoint, BundleWriter};
    /// use varscope::Tensor;
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-anyheader-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let mut w = BundleWriter::new(&dir.join("m"), 1).unwrap();
    /// w.add("w", &Tensor::from_vec(vec![0.0f64; 3], [3]).unwrap()).unwrap();
    /// w.finish().unwrap();
    /// let h = AnyCheckpoint::open(&dir.join("m")).unwrap().header();
    /// assert_eq!(h.tensors["w"].nbytes(), 24);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn header(&self) -> CheckpointHeader {
        match self {
            AnyCheckpoint::Safetensors { header, .. } => header.clone(),
            AnyCheckpoint::Bundle(b) => {
                let mut h = CheckpointHeader {
                    file_size: b.file_size(),
                    ..CheckpointHeader::default()
                };
                let mut offset = 0u64;
                let mut push = |name: String, dtype: crate::DType, dims: &[usize]| {
                    let shape = crate::Shape::new(dims).unwrap_or_else(|_| crate::Shape::scalar());
                    let n = (shape.num_elements() as u64).saturating_mul(dtype.size() as u64);
                    h.tensors.insert(
                        name,
                        TensorInfo {
                            dtype,
                            shape,
                            data_offsets: (offset, offset.saturating_add(n)),
                        },
                    );
                    offset = offset.saturating_add(n);
                };
                let mut metadata = BTreeMap::new();
                for (name, shards, info) in bundle_layout(b) {
                    let Some(e) = b.entry(&name) else { continue };
                    match info {
                        None => push(name.clone(), e.dtype, e.shape.dims()),
                        Some(info) => {
                            for (shard, s) in shards.iter().zip(&info.shards) {
                                push(s.name.clone(), e.dtype, &shard.shape);
                            }
                            metadata.insert(partition_metadata_key(&name), info.to_json());
                        }
                    }
                }
                h.metadata = metadata;
                h
            }
        }
    }
}

fn header_path(c: &AnyCheckpoint) -> &std::path::Path {
    c.path()
}

fn shard_clash(b: &BundleReader, name: &str) -> crate::Error {
    crate::Error::corrupt(format!(
        "{}: tensor {name} clashes with the shard name of a sliced variable",
        b.prefix().display()
    ))
}

/// Every entry of a bundle with, for a sliced one, its slices and the varscope layout
/// of them (`name/part_i`).
fn bundle_layout(b: &BundleReader) -> Vec<(String, Vec<TensorSlice>, Option<PartitionInfo>)> {
    b.entries()
        .iter()
        .map(|(name, e)| {
            if e.slices.is_empty() {
                return (name.clone(), Vec::new(), None);
            }
            let info = PartitionInfo {
                full_shape: e.shape.dims().to_vec(),
                shards: e
                    .slices
                    .iter()
                    .enumerate()
                    .map(|(i, s)| ShardInfo {
                        name: format!("{name}/part_{i}"),
                        offset: s.offset.clone(),
                        shape: s.shape.clone(),
                    })
                    .collect(),
            };
            (name.clone(), e.slices.clone(), Some(info))
        })
        .collect()
}

/// Whether `path` starts like a safetensors file: a plausible header length, then `{`.
fn looks_like_safetensors(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 9];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    f.read_exact(&mut head).is_ok()
        && u64::from_le_bytes([
            head[0], head[1], head[2], head[3], head[4], head[5], head[6], head[7],
        ]) <= MAX_HEADER_SIZE
        && head[8] == b'{'
}
