//! [`BundleWriter`]: writes a tensor bundle (any number of data shards, whole tensors
//! and slices) atomically.

use super::layout::{index_bytes, BundleLayout};
use super::{bundle_data_path, bundle_index_path, TensorSlice};
use crate::checkpoint::atomic::{AtomicFile, WriteOptions};
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::Tensor;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Bytes buffered per data file before a write.
const BUFFER: usize = 1 << 20;

/// Writes a tensor bundle at a prefix: tensors are streamed into the data files as
/// they are added; [`BundleWriter::finish`] writes the index and puts every file in
/// place.
///
/// Every file is written atomically (see [`WriteOptions`]): under a temporary name
/// beside its target, synced and renamed on `finish` — the data files first and the
/// index (what readers open) last. A writer dropped without `finish` (or a failed
/// `finish` before its first rename) removes its temporary files and leaves any
/// existing bundle at the prefix untouched.
///
/// A tensor is added whole ([`BundleWriter::add`]) or as slices of a partitioned
/// variable ([`BundleWriter::add_slice`]), as TF's `Saver` writes them: one full-shape
/// entry listing the slices, each slice stored under TF's slice key. Whole tensors and
/// slices go to the data shard with the fewest bytes so far unless a shard is chosen
/// (`*_to_shard`), exactly as [`BundleLayout`] places them.
///
/// ```
/// use varscope::checkpoint::{BundleReader, BundleWriter};
/// use varscope::Tensor;
/// let dir = std::env::temp_dir().join(format!("varscope-doc-writer-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let mut w = BundleWriter::new(&dir.join("model.ckpt"), 1).unwrap();
/// w.add("dense/kernel", &Tensor::from_vec(vec![0.5f32; 4], [2, 2]).unwrap()).unwrap();
/// w.finish().unwrap();
/// // Nothing is visible until `finish`; then TF's two files exist.
/// assert!(dir.join("model.ckpt.index").is_file());
/// assert!(dir.join("model.ckpt.data-00000-of-00001").is_file());
/// let r = BundleReader::open(&dir.join("model.ckpt")).unwrap();
/// assert_eq!(r.read("dense/kernel").unwrap().to_f64_vec(), [0.5; 4]);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
pub struct BundleWriter {
    prefix: PathBuf,
    shards: Vec<ShardFile>,
    layout: BundleLayout,
    crcs: Vec<u32>,
    written: u64,
    options: WriteOptions,
}

#[derive(Debug)]
struct ShardFile {
    file: AtomicFile,
    buf: Vec<u8>,
    offset: u64,
    failed: bool,
}

impl ShardFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.buf.len() + bytes.len() > BUFFER {
            self.flush()?;
        }
        if bytes.len() >= BUFFER {
            return self.file.file_mut().write_all(bytes);
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = self.file.file_mut().write_all(&self.buf);
        self.buf.clear();
        r
    }
}

impl BundleWriter {
    /// Starts a bundle at `prefix` with `num_shards` data files (at least 1).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for 0 shards; [`Error::Io`] when a temporary file
    /// cannot be created (for example when the directory does not exist).
    ///
    /// ```
    /// use varscope::checkpoint::BundleWriter;
    /// use varscope::{Error, ErrorKind};
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-wnew-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// assert!(matches!(BundleWriter::new(&dir.join("m"), 0), Err(Error::InvalidArgument { .. })));
    /// assert_eq!(BundleWriter::new(&dir.join("no/such/dir/m"), 1).unwrap_err().kind(), ErrorKind::Io);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn new(prefix: &Path, num_shards: usize) -> Result<BundleWriter> {
        BundleWriter::with_options(prefix, num_shards, &WriteOptions::default())
    }

    /// [`BundleWriter::new`] with [`WriteOptions`] (whether targets that are not
    /// regular files may be replaced).
    ///
    /// # Errors
    /// Those of [`BundleWriter::new`], and [`Error::NotRegularFile`] for a target that
    /// may not be replaced.
    ///
    /// ```
    /// use varscope::checkpoint::{BundleWriter, WriteOptions};
    /// use varscope::Error;
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-wopt-{}", std::process::id()));
    /// std::fs::create_dir_all(dir.join("m.index")).unwrap(); // a directory where the index goes
    /// let e = BundleWriter::with_options(&dir.join("m"), 1, &WriteOptions::new()).unwrap_err();
    /// assert!(matches!(e, Error::NotRegularFile { file_type: "directory", .. }));
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn with_options(
        prefix: &Path,
        num_shards: usize,
        options: &WriteOptions,
    ) -> Result<BundleWriter> {
        let layout = BundleLayout::new(num_shards)?;
        options.check_target(&bundle_index_path(prefix))?;
        let mut shards = Vec::with_capacity(num_shards);
        for i in 0..num_shards {
            let file = AtomicFile::create(&bundle_data_path(prefix, i, num_shards), options)?;
            shards.push(ShardFile {
                file,
                buf: Vec::with_capacity(BUFFER),
                offset: 0,
                failed: false,
            });
        }
        Ok(BundleWriter {
            prefix: prefix.to_path_buf(),
            shards,
            layout,
            crcs: Vec::new(),
            written: 0,
            options: options.clone(),
        })
    }

    /// Adds the whole tensor `name`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a duplicate or empty name; [`Error::Io`] when
    /// writing fails.
    ///
    /// ```
    /// use varscope::checkpoint::BundleWriter;
    /// use varscope::Tensor;
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-wadd-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let mut w = BundleWriter::new(&dir.join("m"), 1).unwrap();
    /// w.add("w", &Tensor::scalar(1.0f32)).unwrap();
    /// assert!(w.add("w", &Tensor::scalar(2.0f32)).is_err()); // duplicate
    /// assert!(w.add("", &Tensor::scalar(2.0f32)).is_err());  // empty name
    /// drop(w); // abandoned: leaves no files
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn add(&mut self, name: &str, t: &Tensor) -> Result<()> {
        self.add_whole(name, t, None)
    }

    /// [`BundleWriter::add`] into data file `shard`.
    ///
    /// # Errors
    /// Those of [`BundleWriter::add`], and [`Error::InvalidArgument`] for a shard out
    /// of range.
    ///
    /// ```
    /// use varscope::checkpoint::{BundleReader, BundleWriter};
    /// use varscope::Tensor;
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-wshard-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let mut w = BundleWriter::new(&dir.join("m"), 2).unwrap();
    /// w.add_to_shard("big", &Tensor::from_vec(vec![0.0f32; 256], [256]).unwrap(), 1).unwrap();
    /// assert!(w.add_to_shard("x", &Tensor::scalar(1.0f32), 2).is_err()); // out of range
    /// w.finish().unwrap();
    /// let shard1 = std::fs::metadata(dir.join("m.data-00001-of-00002")).unwrap().len();
    /// assert_eq!(shard1, 256 * 4);
    /// assert_eq!(BundleReader::open(&dir.join("m")).unwrap().read("big").unwrap().len(), 256);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn add_to_shard(&mut self, name: &str, t: &Tensor, shard: usize) -> Result<()> {
        self.add_whole(name, t, Some(shard))
    }

    fn add_whole(&mut self, name: &str, t: &Tensor, shard: Option<usize>) -> Result<()> {
        if self.layout.entries().contains_key(name.as_bytes()) && !name.is_empty() {
            return Err(Error::invalid_arg(format!(
                "duplicate tensor name '{name}' in bundle {}",
                self.prefix.display()
            )));
        }
        self.check_shard(shard)?;
        let index = self.layout.add_to(name, t.dtype(), &t.shape(), shard)?;
        self.write_data(t, index)
    }

    /// Adds the slice of the partitioned variable `name` (of shape `full_shape`) at
    /// `offset`, whose values are `t`. A slice covering the whole variable is added as
    /// a whole tensor, as TF does.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the slice does not lie within `full_shape`, its
    /// dtype or the full shape differs from earlier slices of `name`, `name` was added
    /// whole, or the slice was added before; [`Error::Io`] when writing fails.
    ///
    /// ```
    /// use varscope::checkpoint::{BundleReader, BundleWriter};
    /// use varscope::{Shape, Tensor};
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-wslice-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let full = Shape::new([4, 2]).unwrap();
    /// let mut w = BundleWriter::new(&dir.join("m"), 1).unwrap();
    /// w.add_slice("emb", &full, &[2, 0], &Tensor::from_vec(vec![5.0f32, 6.0, 7.0, 8.0], [2, 2]).unwrap()).unwrap();
    /// w.add_slice("emb", &full, &[0, 0], &Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]).unwrap()).unwrap();
    /// // A slice outside the variable is refused.
    /// assert!(w.add_slice("emb", &full, &[3, 0], &Tensor::from_vec(vec![0.0f32; 4], [2, 2]).unwrap()).is_err());
    /// w.finish().unwrap();
    /// let r = BundleReader::open(&dir.join("m")).unwrap();
    /// assert_eq!(r.read("emb").unwrap().to_f64_vec(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn add_slice(
        &mut self,
        name: &str,
        full_shape: &Shape,
        offset: &[usize],
        t: &Tensor,
    ) -> Result<()> {
        self.add_slice_to(name, full_shape, offset, t, None)
    }

    /// [`BundleWriter::add_slice`] into data file `shard`.
    ///
    /// # Errors
    /// Those of [`BundleWriter::add_slice`], and [`Error::InvalidArgument`] for a
    /// shard out of range.
    ///
    /// ```
    /// use varscope::checkpoint::{BundleReader, BundleWriter};
    /// use varscope::{Shape, Tensor};
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-wslice2-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let full = Shape::new([2]).unwrap();
    /// let mut w = BundleWriter::new(&dir.join("m"), 2).unwrap();
    /// w.add_slice_to_shard("v", &full, &[0], &Tensor::from_vec(vec![1.0f32], [1]).unwrap(), 0).unwrap();
    /// w.add_slice_to_shard("v", &full, &[1], &Tensor::from_vec(vec![2.0f32], [1]).unwrap(), 1).unwrap();
    /// w.finish().unwrap();
    /// assert_eq!(BundleReader::open(&dir.join("m")).unwrap().read("v").unwrap().to_f64_vec(), [1.0, 2.0]);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn add_slice_to_shard(
        &mut self,
        name: &str,
        full_shape: &Shape,
        offset: &[usize],
        t: &Tensor,
        shard: usize,
    ) -> Result<()> {
        self.add_slice_to(name, full_shape, offset, t, Some(shard))
    }

    fn add_slice_to(
        &mut self,
        name: &str,
        full_shape: &Shape,
        offset: &[usize],
        t: &Tensor,
        shard: Option<usize>,
    ) -> Result<()> {
        let slice = TensorSlice {
            offset: offset.to_vec(),
            shape: t.shape().dims().to_vec(),
        };
        if slice.lies_within(full_shape.dims()) && slice == TensorSlice::full(full_shape.dims()) {
            // Added as a whole tensor, with the whole tensor's errors.
            return self.add_whole(name, t, shard);
        }
        self.check_shard(shard)?;
        let index =
            self.layout
                .add_slice_to(name, t.dtype(), full_shape, offset, &t.shape(), shard)?;
        self.write_data(t, index)
    }

    /// A failed data file takes no more tensors.
    fn check_shard(&self, shard: Option<usize>) -> Result<()> {
        if let Some(f) = shard.and_then(|s| self.shards.get(s)) {
            if f.failed {
                return Err(Error::invalid_arg("the bundle writer failed earlier"));
            }
        }
        Ok(())
    }

    /// Streams `t` (piece `index` of the layout) into its data file, computing its
    /// CRC32C as it goes.
    fn write_data(&mut self, t: &Tensor, index: usize) -> Result<()> {
        let Some(piece) = self.layout.pieces().get(index) else {
            return Err(Error::invalid_arg(format!(
                "no piece {index} in the bundle"
            )));
        };
        let shard = piece.shard();
        let num = self.shards.len();
        let f = self.shards.get_mut(shard).ok_or_else(|| {
            Error::invalid_arg(format!("data shard {shard} of a bundle with {num}"))
        })?;
        if f.failed {
            return Err(Error::invalid_arg("the bundle writer failed earlier"));
        }
        let mut crc = 0u32;
        let result = for_each_le_chunk(t, |bytes| {
            crc = crc32c::crc32c_append(crc, bytes);
            f.write(bytes)
        });
        if let Err(e) = result {
            f.failed = true;
            return Err(Error::io(f.file.target(), e));
        }
        let size = t.nbytes() as u64;
        f.offset += size;
        self.written += size;
        self.crcs.push(crc);
        Ok(())
    }

    /// Writes the index and renames every file into place; returns the total size of
    /// the bundle's files.
    ///
    /// # Errors
    /// [`Error::Io`] when writing, syncing or renaming fails; nothing is left at the
    /// prefix then, except data files already renamed when a later rename fails.
    ///
    /// ```
    /// use varscope::checkpoint::{BundleReader, BundleWriter};
    /// use varscope::Tensor;
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-wfinish-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let mut w = BundleWriter::new(&dir.join("m"), 1).unwrap();
    /// w.add("w", &Tensor::from_vec(vec![0.0f32; 10], [10]).unwrap()).unwrap();
    /// let bytes = w.finish().unwrap();
    /// assert_eq!(bytes, BundleReader::open(&dir.join("m")).unwrap().file_size());
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn finish(mut self) -> Result<u64> {
        let index_path = bundle_index_path(&self.prefix);
        let entries = self.layout.entries_with_crcs(&self.crcs)?;
        let index = index_bytes(self.shards.len(), &entries, &index_path)?;
        for f in &mut self.shards {
            if f.failed {
                return Err(Error::invalid_arg("the bundle writer failed earlier"));
            }
            f.flush().map_err(|e| Error::io(f.file.target(), e))?;
        }
        let mut index_file = AtomicFile::create(&index_path, &self.options)?;
        index_file
            .file_mut()
            .write_all(&index)
            .map_err(|e| Error::io(&index_path, e))?;
        for f in self.shards {
            f.file.commit()?;
        }
        index_file.commit()?;
        Ok(self.written + index.len() as u64)
    }
}

/// Calls `f` with the tensor's little-endian bytes, in chunks: a contiguous array
/// (on a little-endian machine) as one slice, anything else converted in pieces.
fn for_each_le_chunk(t: &Tensor, mut f: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
    fn pod<T: bytemuck::Pod, const N: usize>(
        a: &ndarray::ArrayD<T>,
        le: impl Fn(&T) -> [u8; N],
        f: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        if cfg!(target_endian = "little") {
            if let Some(s) = a.as_slice() {
                return f(bytemuck::cast_slice(s));
            }
        }
        let mut buf = Vec::with_capacity(64 * 1024);
        for v in a.iter() {
            buf.extend_from_slice(&le(v));
            if buf.len() >= 64 * 1024 {
                f(&buf)?;
                buf.clear();
            }
        }
        f(&buf)
    }
    match t {
        Tensor::F16(a) => pod(a, |v| v.to_le_bytes(), &mut f),
        Tensor::BF16(a) => pod(a, |v| v.to_le_bytes(), &mut f),
        Tensor::F32(a) => pod(a, |v| v.to_le_bytes(), &mut f),
        Tensor::F64(a) => pod(a, |v| v.to_le_bytes(), &mut f),
        Tensor::I32(a) => pod(a, |v| v.to_le_bytes(), &mut f),
        Tensor::I64(a) => pod(a, |v| v.to_le_bytes(), &mut f),
        Tensor::Bool(a) => {
            let bytes: Vec<u8> = a.iter().map(|&b| u8::from(b)).collect();
            f(&bytes)
        }
    }
}
