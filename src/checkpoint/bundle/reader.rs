//! [`BundleReader`]: a tensor bundle's index read once, tensors read with positioned
//! reads straight into their buffers.

use super::proto::{BundleEntryProto, BundleHeaderProto, TensorSliceProto};
use super::{bundle_data_path, bundle_index_path, dtype_of_tf, slice_key, table, TensorSlice};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::{Element, Tensor};
use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn, Slice};
use prost::Message;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The bundle versions this reader understands (TF's `kTensorBundleVersion`).
const BUNDLE_VERSION: i32 = 1;
/// The most data files a bundle may name (far above any real one; bounds the
/// files opened).
const MAX_SHARDS: i32 = 1 << 16;

/// One tensor of a bundle, as [`BundleReader::entry`] describes it.
///
/// ```
/// use varscope::checkpoint::{BundleReader, BundleWriter, TensorSlice};
/// use varscope::{DType, Shape, Tensor};
/// let dir = std::env::temp_dir().join(format!("varscope-doc-entry-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let full = Shape::new([4]).unwrap();
/// let mut w = BundleWriter::new(&dir.join("m"), 1).unwrap();
/// w.add_slice("emb", &full, &[0], &Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap()).unwrap();
/// w.add_slice("emb", &full, &[2], &Tensor::from_vec(vec![3.0f32, 4.0], [2]).unwrap()).unwrap();
/// w.finish().unwrap();
/// let r = BundleReader::open(&dir.join("m")).unwrap();
/// let e = r.entry("emb").unwrap();
/// assert_eq!((e.dtype, e.shape.dims()), (DType::F32, &[4usize][..]));
/// assert_eq!(e.slices, [TensorSlice { offset: vec![0], shape: vec![2] },
///                       TensorSlice { offset: vec![2], shape: vec![2] }]);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleEntry {
    /// The tensor's dtype.
    pub dtype: DType,
    /// The whole tensor's shape.
    pub shape: Shape,
    /// Empty for a tensor stored whole; for a partitioned variable, the slices it was
    /// saved in, ordered by offset.
    pub slices: Vec<TensorSlice>,
}

/// Where a stored tensor's bytes are.
#[derive(Debug, Clone)]
struct Stored {
    dtype: DType,
    dims: Vec<usize>,
    shard: usize,
    offset: u64,
    size: u64,
    crc: u32,
}

/// A tensor bundle opened for reading: the index is read and validated once; data is
/// read on demand.
///
/// Entries whose dtype varscope does not have (strings, complex numbers, …) are not
/// listed; [`BundleReader::unsupported`] names them.
///
/// ```
/// use varscope::checkpoint::{BundleReader, BundleWriter};
/// use varscope::Tensor;
/// let dir = std::env::temp_dir().join(format!("varscope-doc-reader-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let t = Tensor::from_vec(vec![1i64, 2, 3], [3]).unwrap();
/// let mut w = BundleWriter::new(&dir.join("m"), 2).unwrap();
/// w.add("step", &t).unwrap();
/// w.finish().unwrap();
/// let r = BundleReader::open(&dir.join("m.index")).unwrap();
/// assert_eq!(r.read("step").unwrap(), t);
/// assert!(r.read("missing").is_err());
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
pub struct BundleReader {
    prefix: PathBuf,
    entries: BTreeMap<String, BundleEntry>,
    stored: HashMap<Vec<u8>, Stored>,
    unsupported: BTreeMap<String, i32>,
    files: Vec<(File, PathBuf)>,
    data_bytes: u64,
    index_bytes: u64,
}

fn corrupt(path: &Path, m: impl std::fmt::Display) -> Error {
    Error::corrupt(format!("{}: {m}", path.display()))
}

impl BundleReader {
    /// Opens the bundle at `path`: its prefix (`model.ckpt`) or its index file
    /// (`model.ckpt.index`).
    ///
    /// # Errors
    /// * [`Error::Checkpoint`] naming the file for a truncated or malformed index (bad
    ///   footer magic, a block checksum mismatch, unsorted keys, an undecodable
    ///   entry), a big-endian or too new bundle, an entry whose shape or byte range
    ///   does not fit its data file, and a sliced entry missing a slice.
    /// * [`Error::Io`] when a file cannot be opened or read.
    ///
    /// ```
    /// use varscope::checkpoint::BundleReader;
    /// use varscope::ErrorKind;
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-open-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// assert_eq!(BundleReader::open(&dir.join("none")).unwrap_err().kind(), ErrorKind::Io);
    /// std::fs::write(dir.join("bad.index"), b"not an index").unwrap();
    /// assert_eq!(BundleReader::open(&dir.join("bad")).unwrap_err().kind(), ErrorKind::Checkpoint);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn open(path: &Path) -> Result<BundleReader> {
        let prefix = match path.to_str().and_then(|s| s.strip_suffix(".index")) {
            Some(p) => PathBuf::from(p),
            None => path.to_path_buf(),
        };
        let index_path = bundle_index_path(&prefix);
        let bytes = std::fs::read(&index_path).map_err(|e| Error::io(&index_path, e))?;
        let rows = table::read_table(&bytes).map_err(|m| corrupt(&index_path, m))?;
        let mut rows = rows.into_iter();
        let header = match rows.next() {
            Some((k, v)) if k.is_empty() => BundleHeaderProto::decode(v.as_slice())
                .map_err(|e| corrupt(&index_path, format!("bad bundle header: {e}")))?,
            _ => return Err(corrupt(&index_path, "the index has no bundle header")),
        };
        if header.endianness != 0 {
            return Err(corrupt(
                &index_path,
                "big-endian bundle: varscope reads little-endian bundles only",
            ));
        }
        if let Some(v) = &header.version {
            if v.min_consumer > BUNDLE_VERSION || v.bad_consumers.contains(&BUNDLE_VERSION) {
                return Err(corrupt(
                    &index_path,
                    format!(
                        "bundle version {} (min consumer {}) is not readable by version {BUNDLE_VERSION}",
                        v.producer, v.min_consumer
                    ),
                ));
            }
        }
        if header.num_shards < 1 || header.num_shards > MAX_SHARDS {
            return Err(corrupt(
                &index_path,
                format!("absurd number of data shards {}", header.num_shards),
            ));
        }
        let num_shards = header.num_shards as usize;
        let mut files = Vec::with_capacity(num_shards);
        let mut sizes = Vec::with_capacity(num_shards);
        for i in 0..num_shards {
            let p = bundle_data_path(&prefix, i, num_shards);
            let f = File::open(&p).map_err(|e| Error::io(&p, e))?;
            let len = f.metadata().map_err(|e| Error::io(&p, e))?.len();
            sizes.push(len);
            files.push((f, p));
        }
        let mut reader = BundleReader {
            prefix,
            entries: BTreeMap::new(),
            stored: HashMap::new(),
            unsupported: BTreeMap::new(),
            files,
            data_bytes: sizes.iter().sum(),
            index_bytes: bytes.len() as u64,
        };
        let mut sliced: Vec<(String, DType, Vec<usize>, Vec<TensorSliceProto>)> = Vec::new();
        for (key, value) in rows {
            let shown = String::from_utf8_lossy(&key).into_owned();
            let bad = |m: String| corrupt(&index_path, format!("tensor {shown:?}: {m}"));
            let entry = BundleEntryProto::decode(value.as_slice())
                .map_err(|e| bad(format!("undecodable entry: {e}")))?;
            let Some(dtype) = dtype_of_tf(entry.dtype) else {
                reader.unsupported.insert(shown, entry.dtype);
                continue;
            };
            let shape = entry.shape.as_ref();
            if shape.is_some_and(|s| s.unknown_rank) {
                return Err(bad("shape of unknown rank".into()));
            }
            let dims: Vec<usize> = shape
                .map(|s| &s.dim[..])
                .unwrap_or_default()
                .iter()
                .map(|d| {
                    usize::try_from(d.size).map_err(|_| bad(format!("bad dimension {}", d.size)))
                })
                .collect::<Result<_>>()?;
            let shape = Shape::new(&dims).map_err(|e| bad(e.to_string()))?;
            if !entry.slices.is_empty() {
                let name = String::from_utf8(key).map_err(|_| bad("name is not UTF-8".into()))?;
                sliced.push((name, dtype, dims, entry.slices));
                continue;
            }
            let shard = usize::try_from(entry.shard_id)
                .ok()
                .filter(|&s| s < num_shards)
                .ok_or_else(|| bad(format!("shard {} of {num_shards}", entry.shard_id)))?;
            let (offset, size) = match (u64::try_from(entry.offset), u64::try_from(entry.size)) {
                (Ok(o), Ok(s)) => (o, s),
                _ => return Err(bad("negative offset or size".into())),
            };
            let expected = shape
                .num_elements()
                .checked_mul(dtype.size())
                .and_then(|n| u64::try_from(n).ok());
            if expected != Some(size) {
                return Err(bad(format!(
                    "{size} bytes cannot hold a {dtype} tensor of shape {shape}"
                )));
            }
            let file_len = sizes[shard];
            if offset.checked_add(size).is_none_or(|end| end > file_len) {
                return Err(corrupt(
                    &reader.files[shard].1,
                    format!(
                        "tensor {shown:?} at bytes {offset}..+{size} runs past the end of the data file ({file_len} bytes)"
                    ),
                ));
            }
            let stored = Stored {
                dtype,
                dims: dims.clone(),
                shard,
                offset,
                size,
                crc: entry.crc32c,
            };
            if key.first() != Some(&0) {
                let name =
                    String::from_utf8(key.clone()).map_err(|_| bad("name is not UTF-8".into()))?;
                reader.entries.insert(
                    name,
                    BundleEntry {
                        dtype,
                        shape,
                        slices: Vec::new(),
                    },
                );
            }
            reader.stored.insert(key, stored);
        }
        for (name, dtype, dims, slices) in sliced {
            let bad = |m: String| corrupt(&index_path, format!("tensor {name:?}: {m}"));
            let mut out = Vec::with_capacity(slices.len());
            for s in &slices {
                let (slice, extents) = slice_of(s, &dims).ok_or_else(|| {
                    bad(format!("a slice {s:?} that does not lie within {dims:?}"))
                })?;
                let key = slice_key(&name, &extents);
                let st = reader
                    .stored
                    .get(&key)
                    .ok_or_else(|| bad(format!("slice {slice:?} is not stored")))?;
                if st.dtype != dtype || st.dims != slice.shape {
                    return Err(bad(format!(
                        "slice {slice:?} is stored as {} {:?}",
                        st.dtype, st.dims
                    )));
                }
                out.push(slice);
            }
            out.sort();
            out.dedup();
            for (i, a) in out.iter().enumerate() {
                if let Some(b) = out[i + 1..].iter().find(|b| {
                    a.intersect(b).is_some()
                        && a.num_elements() != Some(0)
                        && b.num_elements() != Some(0)
                }) {
                    return Err(bad(format!("slices {a:?} and {b:?} overlap")));
                }
            }
            let shape = Shape::new(&dims).map_err(|e| bad(e.to_string()))?;
            reader.entries.insert(
                name,
                BundleEntry {
                    dtype,
                    shape,
                    slices: out,
                },
            );
        }
        Ok(reader)
    }

    /// The bundle's prefix.
    ///
    /// ```
    /// use varscope::checkpoint::{BundleReader, BundleWriter};
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-prefix-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// BundleWriter::new(&dir.join("m"), 1).unwrap().finish().unwrap();
    /// assert_eq!(BundleReader::open(&dir.join("m.index")).unwrap().prefix(), dir.join("m"));
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// Number of data files.
    ///
    /// ```
    /// use varscope::checkpoint::{BundleReader, BundleWriter};
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-shards-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// BundleWriter::new(&dir.join("m"), 3).unwrap().finish().unwrap();
    /// assert_eq!(BundleReader::open(&dir.join("m")).unwrap().num_shards(), 3);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn num_shards(&self) -> usize {
        self.files.len()
    }

    /// Total size of the index and data files in bytes.
    ///
    /// ```
    /// use varscope::checkpoint::{BundleReader, BundleWriter};
    /// use varscope::Tensor;
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-size-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let mut w = BundleWriter::new(&dir.join("m"), 1).unwrap();
    /// w.add("w", &Tensor::from_vec(vec![0.0f64; 100], [100]).unwrap()).unwrap();
    /// w.finish().unwrap();
    /// let r = BundleReader::open(&dir.join("m")).unwrap();
    /// let on_disk = std::fs::metadata(dir.join("m.index")).unwrap().len()
    ///     + std::fs::metadata(dir.join("m.data-00000-of-00001")).unwrap().len();
    /// assert_eq!(r.file_size(), on_disk);
    /// assert!(r.file_size() > 800);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn file_size(&self) -> u64 {
        self.index_bytes + self.data_bytes
    }

    /// Every tensor (by its full name; slices are not listed separately).
    ///
    /// ```
    /// use varscope::checkpoint::{BundleReader, BundleWriter};
    /// use varscope::Tensor;
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-entries-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let mut w = BundleWriter::new(&dir.join("m"), 1).unwrap();
    /// w.add("b", &Tensor::scalar(1.0f32)).unwrap();
    /// w.add("a", &Tensor::scalar(2.0f32)).unwrap();
    /// w.finish().unwrap();
    /// let r = BundleReader::open(&dir.join("m")).unwrap();
    /// assert_eq!(r.entries().keys().collect::<Vec<_>>(), ["a", "b"]);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn entries(&self) -> &BTreeMap<String, BundleEntry> {
        &self.entries
    }

    /// The tensor `name`, if the bundle has it.
    ///
    /// ```
    /// use varscope::checkpoint::{BundleReader, BundleWriter};
    /// use varscope::{DType, Tensor};
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-entry1-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let mut w = BundleWriter::new(&dir.join("m"), 1).unwrap();
    /// w.add("n", &Tensor::from_vec(vec![1i32, 2], [2]).unwrap()).unwrap();
    /// w.finish().unwrap();
    /// let r = BundleReader::open(&dir.join("m")).unwrap();
    /// assert_eq!(r.entry("n").unwrap().dtype, DType::I32);
    /// assert!(r.entry("n").unwrap().slices.is_empty()); // stored whole
    /// assert!(r.entry("m").is_none());
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn entry(&self, name: &str) -> Option<&BundleEntry> {
        self.entries.get(name)
    }

    /// Tensors of dtypes varscope does not have, with their TF `DataType` numbers.
    ///
    /// ```
    /// use varscope::checkpoint::{BundleReader, BundleWriter};
    /// use varscope::Tensor;
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-unsup-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let mut w = BundleWriter::new(&dir.join("m"), 1).unwrap();
    /// w.add("w", &Tensor::scalar(1.0f32)).unwrap();
    /// w.finish().unwrap();
    /// // Every dtype varscope writes it also reads.
    /// assert!(BundleReader::open(&dir.join("m")).unwrap().unsupported().is_empty());
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn unsupported(&self) -> &BTreeMap<String, i32> {
        &self.unsupported
    }

    fn entry_or_err(&self, name: &str) -> Result<&BundleEntry> {
        self.entries.get(name).ok_or_else(|| {
            let extra = match self.unsupported.get(name) {
                Some(dt) => format!(" of a dtype varscope does not have (TF DataType {dt})"),
                None => String::new(),
            };
            Error::NotInCheckpoint {
                name: format!("{name}{extra}"),
            }
        })
    }

    /// The whole tensor `name` (assembled from its slices for a partitioned variable).
    ///
    /// # Errors
    /// [`Error::NotInCheckpoint`] when there is no such tensor; [`Error::Checkpoint`]
    /// when its data fails its checksum, a bool byte is not 0 or 1, or its slices do
    /// not cover it; [`Error::Io`] when reading fails.
    ///
    /// ```
    /// use varscope::checkpoint::{BundleReader, BundleWriter};
    /// use varscope::{ErrorKind, Shape, Tensor};
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-read-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let full = Shape::new([3]).unwrap();
    /// let mut w = BundleWriter::new(&dir.join("m"), 2).unwrap();
    /// w.add_slice("v", &full, &[0], &Tensor::from_vec(vec![1.0f32], [1]).unwrap()).unwrap();
    /// w.add_slice("v", &full, &[1], &Tensor::from_vec(vec![2.0f32, 3.0], [2]).unwrap()).unwrap();
    /// w.finish().unwrap();
    /// let r = BundleReader::open(&dir.join("m")).unwrap();
    /// assert_eq!(r.read("v").unwrap().to_f64_vec(), [1.0, 2.0, 3.0]); // assembled
    /// assert_eq!(r.read("x").unwrap_err().kind(), ErrorKind::NotFound);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn read(&self, name: &str) -> Result<Tensor> {
        let e = self.entry_or_err(name)?;
        self.read_slice(name, &TensorSlice::full(e.shape.dims()))
    }

    /// The slice `slice` of the tensor `name`, whether the tensor is stored whole or in
    /// slices (of any layout).
    ///
    /// # Errors
    /// Those of [`BundleReader::read`], and [`Error::InvalidArgument`] when `slice`
    /// does not lie within the tensor.
    ///
    /// ```
    /// use varscope::checkpoint::{BundleReader, BundleWriter, TensorSlice};
    /// use varscope::Tensor;
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-rslice-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let mut w = BundleWriter::new(&dir.join("m"), 1).unwrap();
    /// w.add("w", &Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2]).unwrap()).unwrap();
    /// w.finish().unwrap();
    /// let r = BundleReader::open(&dir.join("m")).unwrap();
    /// let rows = TensorSlice { offset: vec![1, 0], shape: vec![2, 2] };
    /// assert_eq!(r.read_slice("w", &rows).unwrap().to_f64_vec(), [3.0, 4.0, 5.0, 6.0]);
    /// let outside = TensorSlice { offset: vec![2, 0], shape: vec![2, 2] };
    /// assert!(r.read_slice("w", &outside).is_err());
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn read_slice(&self, name: &str, slice: &TensorSlice) -> Result<Tensor> {
        let e = self.entry_or_err(name)?;
        let dims = e.shape.dims();
        if !slice.lies_within(dims) {
            return Err(Error::invalid_arg(format!(
                "slice {slice:?} does not lie within tensor {name} of shape {}",
                e.shape
            )));
        }
        let pieces: Vec<(TensorSlice, Vec<u8>)> = if e.slices.is_empty() {
            vec![(TensorSlice::full(dims), name.as_bytes().to_vec())]
        } else {
            e.slices
                .iter()
                .map(|s| (s.clone(), slice_key(name, &extents(s))))
                .collect()
        };
        // Fast path: exactly one stored piece.
        if let Some((_, key)) = pieces.iter().find(|(p, _)| p == slice) {
            return self.read_stored(name, key);
        }
        let want = slice.num_elements().unwrap_or(usize::MAX);
        let mut covered = 0usize;
        let mut parts = Vec::new();
        for (p, key) in &pieces {
            if let Some(i) = p.intersect(slice) {
                covered = covered.saturating_add(i.num_elements().unwrap_or(usize::MAX));
                parts.push((p, key, i));
            }
        }
        // Stored slices never overlap (TF's Saver writes a partitioning), so covering
        // the volume means covering the slice; the result is at most as large as the
        // pieces read, which fit in the data files.
        if covered != want || want == usize::MAX {
            if want == 0 {
                let shape = Shape::new(&slice.shape).map_err(|e| Error::corrupt(e.to_string()))?;
                return Ok(Tensor::zeros(e.dtype, &shape));
            }
            return Err(corrupt(
                &self.prefix,
                format!("the slices of tensor {name} do not cover {slice:?}"),
            ));
        }
        let shape = Shape::new(&slice.shape).map_err(|e| Error::corrupt(e.to_string()))?;
        let mut out = Tensor::zeros(e.dtype, &shape);
        for (p, key, i) in parts {
            let piece = self.read_stored(name, key)?;
            let src: Vec<usize> = (0..dims.len()).map(|d| i.offset[d] - p.offset[d]).collect();
            let dst: Vec<usize> = (0..dims.len())
                .map(|d| i.offset[d] - slice.offset[d])
                .collect();
            copy_region(&mut out, &dst, &piece, &src, &i.shape);
        }
        Ok(out)
    }

    /// Where the bytes of `name` are stored: the whole tensor (`slice` `None`) or one of
    /// the slices [`BundleEntry::slices`] lists. `None` when there is no such piece.
    pub(crate) fn stored_piece(
        &self,
        name: &str,
        slice: Option<&TensorSlice>,
    ) -> Option<StoredPiece<'_>> {
        let key = match slice {
            None => name.as_bytes().to_vec(),
            Some(s) => slice_key(name, &extents(s)),
        };
        let st = self.stored.get(&key)?;
        let (file, path) = self.files.get(st.shard)?;
        Some(StoredPiece {
            file,
            path,
            offset: st.offset,
            size: st.size,
            crc: st.crc,
        })
    }

    /// Reads the stored tensor under `key` with one positioned read into its buffer and
    /// checks its CRC32C.
    fn read_stored(&self, name: &str, key: &[u8]) -> Result<Tensor> {
        let st = self.stored.get(key).ok_or_else(|| {
            corrupt(
                &self.prefix,
                format!("tensor {name}: a slice is not stored"),
            )
        })?;
        let (file, path) = &self.files[st.shard];
        let n = st.dims.iter().product::<usize>();
        let bad = |m: String| corrupt(path, format!("tensor {name}: {m}"));
        let check = |bytes: &[u8]| {
            let crc = super::table::mask(crc32c::crc32c(bytes));
            if crc != st.crc {
                Err(bad(format!(
                    "data checksum mismatch (stored {:#010x}, computed {crc:#010x})",
                    st.crc
                )))
            } else {
                Ok(())
            }
        };
        let io = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                bad("the data file is shorter than the index says".into())
            } else {
                Error::io(path, e)
            }
        };
        fn read_pod<T: bytemuck::Pod + Element>(
            file: &File,
            st: &Stored,
            n: usize,
            check: &dyn Fn(&[u8]) -> Result<()>,
            io: &dyn Fn(std::io::Error) -> Error,
        ) -> Result<ArrayD<T>> {
            // `n * size == st.size`, which fits in the data file (checked at open).
            let mut v: Vec<T> = Vec::new();
            v.try_reserve_exact(n)
                .map_err(|e| Error::corrupt(format!("cannot allocate {} bytes: {e}", st.size)))?;
            v.resize(n, T::zeroed());
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut v);
            read_at(file, bytes, st.offset).map_err(io)?;
            check(bytes)?;
            if cfg!(target_endian = "big") {
                swap_bytes(bytes, std::mem::size_of::<T>());
            }
            ArrayD::from_shape_vec(IxDyn(&st.dims), v).map_err(|e| Error::corrupt(e.to_string()))
        }
        Ok(match st.dtype {
            DType::F16 => Tensor::F16(read_pod::<f16>(file, st, n, &check, &io)?),
            DType::BF16 => Tensor::BF16(read_pod::<bf16>(file, st, n, &check, &io)?),
            DType::F32 => Tensor::F32(read_pod::<f32>(file, st, n, &check, &io)?),
            DType::F64 => Tensor::F64(read_pod::<f64>(file, st, n, &check, &io)?),
            DType::I32 => Tensor::I32(read_pod::<i32>(file, st, n, &check, &io)?),
            DType::I64 => Tensor::I64(read_pod::<i64>(file, st, n, &check, &io)?),
            DType::Bool => {
                let mut bytes = Vec::new();
                bytes
                    .try_reserve_exact(n)
                    .map_err(|e| bad(format!("cannot allocate {n} bytes: {e}")))?;
                bytes.resize(n, 0u8);
                read_at(file, &mut bytes, st.offset).map_err(io)?;
                check(&bytes)?;
                if let Some(b) = bytes.iter().find(|&&b| b > 1) {
                    return Err(bad(format!("byte {b} is not a valid bool")));
                }
                let v: Vec<bool> = bytes.into_iter().map(|b| b != 0).collect();
                Tensor::Bool(
                    ArrayD::from_shape_vec(IxDyn(&st.dims), v)
                        .map_err(|e| Error::corrupt(e.to_string()))?,
                )
            }
        })
    }
}

/// One stored tensor or slice of a bundle, as [`BundleReader::stored_piece`] gives it:
/// its data file and byte range, and the masked CRC32C of its bytes (compare with
/// [`masked_crc32c`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoredPiece<'a> {
    /// The data file.
    pub(crate) file: &'a File,
    /// Its path (for messages).
    pub(crate) path: &'a Path,
    /// Where the bytes start.
    pub(crate) offset: u64,
    /// How many bytes.
    pub(crate) size: u64,
    /// The masked CRC32C the index records.
    pub(crate) crc: u32,
}

/// The masked form (as a bundle's index records it) of a CRC32C computed with
/// `crc32c::crc32c` / `crc32c_append`.
pub(crate) fn masked_crc32c(crc: u32) -> u32 {
    super::table::mask(crc)
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

fn swap_bytes(bytes: &mut [u8], size: usize) {
    if size > 1 {
        bytes.chunks_exact_mut(size).for_each(<[u8]>::reverse);
    }
}

/// A slice proto as a [`TensorSlice`] of a tensor of shape `dims`, with the extents
/// its key encodes (`-1` length for a full extent), or `None` when it does not fit.
fn slice_of(s: &TensorSliceProto, dims: &[usize]) -> Option<(TensorSlice, Vec<(i64, i64)>)> {
    if s.extent.len() != dims.len() {
        return None;
    }
    let mut slice = TensorSlice::full(dims);
    let mut ext = Vec::with_capacity(dims.len());
    for (i, e) in s.extent.iter().enumerate() {
        match e.length {
            None => {
                if e.start != 0 {
                    return None;
                }
                ext.push((0, -1));
            }
            Some(len) => {
                slice.offset[i] = usize::try_from(e.start).ok()?;
                slice.shape[i] = usize::try_from(len).ok()?;
                ext.push((e.start, len));
            }
        }
    }
    slice.lies_within(dims).then_some((slice, ext))
}

/// The key extents of a slice as varscope's and TF's Saver write them (explicit).
fn extents(s: &TensorSlice) -> Vec<(i64, i64)> {
    s.offset
        .iter()
        .zip(&s.shape)
        .map(|(&o, &l)| (o as i64, l as i64))
        .collect()
}

/// Copies `src[src_off .. src_off + shape]` into `dst[dst_off .. dst_off + shape]`
/// (same dtype, regions in bounds: the caller computed them by intersection).
pub(crate) fn copy_region(
    dst: &mut Tensor,
    dst_off: &[usize],
    src: &Tensor,
    src_off: &[usize],
    shape: &[usize],
) {
    fn go<T: Element>(
        dst: &mut Tensor,
        dst_off: &[usize],
        src: &Tensor,
        src_off: &[usize],
        shape: &[usize],
    ) {
        let (Some(mut d), Some(s)) = (T::view_mut(dst), T::view(src)) else {
            return;
        };
        let s = s.slice_each_axis(|ax| {
            let i = ax.axis.index();
            Slice::from(src_off[i]..src_off[i] + shape[i])
        });
        let mut d = d.slice_each_axis_mut(|ax| {
            let i = ax.axis.index();
            Slice::from(dst_off[i]..dst_off[i] + shape[i])
        });
        d.assign(&s);
    }
    match dst.dtype() {
        DType::F16 => go::<f16>(dst, dst_off, src, src_off, shape),
        DType::BF16 => go::<bf16>(dst, dst_off, src, src_off, shape),
        DType::F32 => go::<f32>(dst, dst_off, src, src_off, shape),
        DType::F64 => go::<f64>(dst, dst_off, src, src_off, shape),
        DType::I32 => go::<i32>(dst, dst_off, src, src_off, shape),
        DType::I64 => go::<i64>(dst, dst_off, src, src_off, shape),
        DType::Bool => go::<bool>(dst, dst_off, src, src_off, shape),
    }
}
