//! [`BundleWriter`]: writes a tensor bundle (any number of data shards, whole tensors
//! and slices) atomically.

use super::proto::{
    BundleEntryProto, BundleHeaderProto, Dim, Extent, TensorShapeProto, TensorSliceProto,
    VersionDef,
};
use super::{bundle_data_path, bundle_index_path, slice_key, table, tf_dtype, TensorSlice};
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::Tensor;
use prost::Message;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes a tensor bundle at a prefix: tensors are streamed into the data files as
/// they are added; [`BundleWriter::finish`] writes the index and puts every file in
/// place.
///
/// Files are written under temporary names beside their targets, synced, and renamed
/// on `finish` — the data files first and the index (what readers open) last. A writer
/// dropped without `finish` (or a failed `finish`) removes its temporary files and
/// leaves any existing bundle at the prefix untouched.
///
/// A tensor is added whole ([`BundleWriter::add`]) or as slices of a partitioned
/// variable ([`BundleWriter::add_slice`]), as TF's `Saver` writes them: one full-shape
/// entry listing the slices, each slice stored under TF's slice key. Whole tensors and
/// slices go to the data shard with the fewest bytes so far unless a shard is chosen
/// (`*_to_shard`).
#[derive(Debug)]
pub struct BundleWriter {
    prefix: PathBuf,
    shards: Vec<ShardFile>,
    entries: BTreeMap<Vec<u8>, BundleEntryProto>,
    written: u64,
}

#[derive(Debug)]
struct ShardFile {
    out: Option<BufWriter<File>>,
    temp: TempFile,
    offset: u64,
}

impl BundleWriter {
    /// Starts a bundle at `prefix` with `num_shards` data files (at least 1).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for 0 shards; [`Error::Io`] when a temporary file
    /// cannot be created (for example when the directory does not exist).
    pub fn new(prefix: &Path, num_shards: usize) -> Result<BundleWriter> {
        if num_shards == 0 || num_shards > 99_999 {
            return Err(Error::invalid_arg(format!(
                "a bundle needs 1 to 99999 data shards, not {num_shards}"
            )));
        }
        let mut shards = Vec::with_capacity(num_shards);
        for i in 0..num_shards {
            let (file, temp) = TempFile::create(&bundle_data_path(prefix, i, num_shards))?;
            shards.push(ShardFile {
                out: Some(BufWriter::with_capacity(1 << 20, file)),
                temp,
                offset: 0,
            });
        }
        Ok(BundleWriter {
            prefix: prefix.to_path_buf(),
            shards,
            entries: BTreeMap::new(),
            written: 0,
        })
    }

    fn lightest_shard(&self) -> usize {
        (0..self.shards.len())
            .min_by_key(|&i| self.shards[i].offset)
            .unwrap_or(0)
    }

    /// Adds the whole tensor `name`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a duplicate or empty name; [`Error::Io`] when
    /// writing fails.
    pub fn add(&mut self, name: &str, t: &Tensor) -> Result<()> {
        let shard = self.lightest_shard();
        self.add_to_shard(name, t, shard)
    }

    /// [`BundleWriter::add`] into data file `shard`.
    ///
    /// # Errors
    /// Those of [`BundleWriter::add`], and [`Error::InvalidArgument`] for a shard out
    /// of range.
    pub fn add_to_shard(&mut self, name: &str, t: &Tensor, shard: usize) -> Result<()> {
        if name.is_empty() {
            return Err(Error::invalid_arg("a bundle tensor needs a name"));
        }
        if self.entries.contains_key(name.as_bytes()) {
            return Err(Error::invalid_arg(format!(
                "duplicate tensor name '{name}' in bundle {}",
                self.prefix.display()
            )));
        }
        let entry = self.write_data(t, shard)?;
        self.entries.insert(name.as_bytes().to_vec(), entry);
        Ok(())
    }

    /// Adds the slice of the partitioned variable `name` (of shape `full_shape`) at
    /// `offset`, whose values are `t`. A slice covering the whole variable is added as
    /// a whole tensor, as TF does.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the slice does not lie within `full_shape`, its
    /// dtype or the full shape differs from earlier slices of `name`, `name` was added
    /// whole, or the slice was added before; [`Error::Io`] when writing fails.
    pub fn add_slice(
        &mut self,
        name: &str,
        full_shape: &Shape,
        offset: &[usize],
        t: &Tensor,
    ) -> Result<()> {
        let shard = self.lightest_shard();
        self.add_slice_to_shard(name, full_shape, offset, t, shard)
    }

    /// [`BundleWriter::add_slice`] into data file `shard`.
    ///
    /// # Errors
    /// Those of [`BundleWriter::add_slice`], and [`Error::InvalidArgument`] for a
    /// shard out of range.
    pub fn add_slice_to_shard(
        &mut self,
        name: &str,
        full_shape: &Shape,
        offset: &[usize],
        t: &Tensor,
        shard: usize,
    ) -> Result<()> {
        let slice = TensorSlice {
            offset: offset.to_vec(),
            shape: t.shape().dims().to_vec(),
        };
        let bad = |m: String| Error::invalid_arg(format!("slice {slice:?} of {name}: {m}"));
        if !slice.lies_within(full_shape.dims()) {
            return Err(bad(format!("does not lie within {full_shape}")));
        }
        if slice == TensorSlice::full(full_shape.dims()) {
            return self.add_to_shard(name, t, shard);
        }
        let dtype = tf_dtype(t.dtype());
        let shape = shape_proto(full_shape.dims());
        if let Some(e) = self.entries.get(name.as_bytes()) {
            if e.slices.is_empty() {
                return Err(bad("the variable was added whole".into()));
            }
            if e.dtype != dtype || e.shape.as_ref() != Some(&shape) {
                return Err(bad(
                    "dtype or full shape differs from its other slices".into()
                ));
            }
        }
        let extents: Vec<(i64, i64)> = slice
            .offset
            .iter()
            .zip(&slice.shape)
            .map(|(&o, &l)| (o as i64, l as i64))
            .collect();
        let key = slice_key(name, &extents);
        if self.entries.contains_key(&key) {
            return Err(bad("added twice".into()));
        }
        let entry = self.write_data(t, shard)?;
        self.entries.insert(key, entry);
        let full = self
            .entries
            .entry(name.as_bytes().to_vec())
            .or_insert_with(|| BundleEntryProto {
                dtype,
                shape: Some(shape),
                ..BundleEntryProto::default()
            });
        full.slices.push(TensorSliceProto {
            extent: extents
                .iter()
                .map(|&(start, length)| Extent {
                    start,
                    length: Some(length),
                })
                .collect(),
        });
        Ok(())
    }

    /// Streams `t` into data file `shard`, computing its CRC32C as it goes.
    fn write_data(&mut self, t: &Tensor, shard: usize) -> Result<BundleEntryProto> {
        let num = self.shards.len();
        let f = self.shards.get_mut(shard).ok_or_else(|| {
            Error::invalid_arg(format!("data shard {shard} of a bundle with {num}"))
        })?;
        let path = f.temp.path.clone();
        let out = f
            .out
            .as_mut()
            .ok_or_else(|| Error::invalid_arg("the bundle writer failed earlier"))?;
        let mut crc = 0u32;
        let result = for_each_le_chunk(t, |bytes| {
            crc = crc32c::crc32c_append(crc, bytes);
            out.write_all(bytes)
        });
        if let Err(e) = result {
            f.out = None;
            return Err(Error::io(&path, e));
        }
        let size = t.nbytes() as u64;
        let entry = BundleEntryProto {
            dtype: tf_dtype(t.dtype()),
            shape: Some(shape_proto(t.shape().dims())),
            shard_id: shard as i32,
            offset: f.offset as i64,
            size: size as i64,
            crc32c: table::mask(crc),
            slices: Vec::new(),
        };
        f.offset += size;
        self.written += size;
        Ok(entry)
    }

    /// Writes the index and renames every file into place; returns the total size of
    /// the bundle's files.
    ///
    /// # Errors
    /// [`Error::Io`] when writing, syncing or renaming fails; nothing is left at the
    /// prefix then, except data files already renamed when a later rename fails.
    pub fn finish(mut self) -> Result<u64> {
        let mut tb = table::TableBuilder::default();
        let header = BundleHeaderProto {
            num_shards: self.shards.len() as i32,
            endianness: 0,
            version: Some(VersionDef {
                producer: 1,
                ..VersionDef::default()
            }),
        };
        let index_path = bundle_index_path(&self.prefix);
        let table_err = |m: String| Error::invalid_arg(format!("{}: {m}", index_path.display()));
        tb.add(b"", &header.encode_to_vec()).map_err(table_err)?;
        for (k, e) in &self.entries {
            tb.add(k, &e.encode_to_vec()).map_err(table_err)?;
        }
        let index = tb.finish();
        for f in &mut self.shards {
            let out = f
                .out
                .take()
                .ok_or_else(|| Error::invalid_arg("the bundle writer failed earlier"))?;
            let file = out
                .into_inner()
                .map_err(|e| Error::io(&f.temp.path, e.into_error()))?;
            file.sync_all().map_err(|e| Error::io(&f.temp.path, e))?;
        }
        let (mut file, index_temp) = TempFile::create(&index_path)?;
        file.write_all(&index)
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io(&index_temp.path, e))?;
        drop(file);
        for f in &mut self.shards {
            f.temp.commit()?;
        }
        let mut index_temp = index_temp;
        index_temp.commit()?;
        let dir = match self.prefix.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        sync_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(self.written + index.len() as u64)
    }
}

fn shape_proto(dims: &[usize]) -> TensorShapeProto {
    TensorShapeProto {
        dim: dims
            .iter()
            .map(|&d| Dim {
                size: d as i64,
                name: String::new(),
            })
            .collect(),
        unknown_rank: false,
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

/// A file written under a temporary name beside its target, renamed over it by
/// [`TempFile::commit`], removed on drop otherwise. (Private until the crate's shared
/// atomic-file writer exists; then this is swapped for it.)
#[derive(Debug)]
struct TempFile {
    path: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl TempFile {
    fn create(target: &Path) -> Result<(File, TempFile)> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        if let Ok(m) = fs::symlink_metadata(target) {
            if !m.file_type().is_file() {
                return Err(Error::invalid_arg(format!(
                    "{} exists and is not a regular file; not replacing it",
                    target.display()
                )));
            }
        }
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let stem = target
            .file_name()
            .map_or_else(|| "bundle".into(), |n| n.to_string_lossy().into_owned());
        let mut last = None;
        for _ in 0..16 {
            let mut rnd = [0u8; 8];
            let rnd = getrandom::getrandom(&mut rnd).map_or(0, |()| u64::from_le_bytes(rnd));
            let path = dir.join(format!(
                ".{stem}.tmp-{}-{}-{rnd:016x}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(f) => {
                    return Ok((
                        f,
                        TempFile {
                            path,
                            target: target.to_path_buf(),
                            committed: false,
                        },
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some((path, e)),
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        let (path, e) = last.unwrap_or_else(|| {
            (
                dir.clone(),
                io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name"),
            )
        });
        Err(Error::io(&path, e))
    }

    fn commit(&mut self) -> Result<()> {
        fs::rename(&self.path, &self.target).map_err(|e| Error::io(&self.target, e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}
