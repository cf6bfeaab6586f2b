//! A checkpoint's tensors as pieces of bytes at known places — in a safetensors file,
//! in a bundle's data files, or in memory — and the reads that put regions of them
//! straight into freshly allocated buffers of the target shapes.
//!
//! [`Catalog`] describes a checkpoint in varscope's layout (shards `name/part_i` and
//! `partition:<name>` metadata; a bundle's sliced variable is presented that way)
//! from its header or index only. [`Catalog::read_regions`] then reads every
//! requested region with positioned reads: a region that is a whole stored piece goes
//! straight into its buffer in one read; other regions go through one bounded scratch
//! window. A bundle piece is read in full, in order, so its CRC32C is checked whenever
//! any part of it is used.

use crate::checkpoint::{
    copy_region, masked_crc32c, read_at, BundleReader, CheckpointHeader, LoadedCheckpoint,
    PartitionInfo, TensorSlice,
};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::Tensor;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes of the scratch window through which regions that are not whole pieces are
/// read (and pieces' unused bytes, for their checksum).
pub(crate) const WINDOW_BYTES: usize = 4 << 20;
/// Runs at least this long are read straight into their destination.
const DIRECT_BYTES: usize = 64 << 10;

/// Where a piece's bytes are.
#[derive(Debug, Clone)]
pub(crate) enum Data<'a> {
    /// In file `file` of the catalog, from byte `offset`, with the masked CRC32C a
    /// bundle records.
    File {
        file: usize,
        offset: u64,
        crc: Option<u32>,
    },
    /// An in-memory tensor.
    Memory(&'a Tensor),
}

/// One stored tensor: dtype, shape and where its little-endian bytes are.
#[derive(Debug, Clone)]
pub(crate) struct Piece<'a> {
    pub(crate) dtype: DType,
    pub(crate) dims: Vec<usize>,
    pub(crate) data: Data<'a>,
    /// How messages name the stored bytes (a bundle's slice names its variable and
    /// offset).
    pub(crate) label: String,
}

impl Piece<'_> {
    fn elements(&self) -> usize {
        self.dims.iter().product()
    }

    pub(crate) fn nbytes(&self) -> u64 {
        (self.elements() as u64).saturating_mul(self.dtype.size() as u64)
    }
}

/// A whole tensor: stored under its name, or the shards a `partition:<name>` entry
/// lists.
#[derive(Debug)]
pub(crate) struct Whole {
    pub(crate) dtype: DType,
    pub(crate) dims: Vec<usize>,
    /// Piece names and their offsets in the whole tensor.
    pub(crate) pieces: Vec<(String, Vec<usize>)>,
}

/// A region of a whole tensor to read into a new buffer of its shape.
#[derive(Debug, Clone)]
pub(crate) struct Region {
    pub(crate) whole: Arc<Whole>,
    /// Where the region starts in the whole tensor.
    pub(crate) offset: Vec<usize>,
    /// The region's (and the new buffer's) shape.
    pub(crate) dims: Vec<usize>,
    /// The variable it is for (named in allocation errors).
    pub(crate) variable: String,
}

/// A checkpoint in varscope's layout, described without reading its data.
#[derive(Debug)]
pub(crate) struct Catalog<'a> {
    files: Vec<(File, PathBuf)>,
    /// The checkpoint (messages).
    origin: PathBuf,
    /// Every tensor by name, shards of a bundle's sliced variable as `name/part_i`.
    pub(crate) tensors: BTreeMap<String, Piece<'a>>,
    metadata: Cow<'a, BTreeMap<String, String>>,
    wholes: BTreeMap<String, Arc<Whole>>,
}

fn corrupt(path: &Path, m: impl std::fmt::Display) -> Error {
    Error::corrupt(format!("{}: {m}", path.display()))
}

impl<'a> Catalog<'a> {
    /// An in-memory checkpoint.
    pub(crate) fn memory(ckpt: &'a LoadedCheckpoint) -> Catalog<'a> {
        let tensors = ckpt
            .tensors
            .iter()
            .map(|(name, t)| {
                let piece = Piece {
                    dtype: t.dtype(),
                    dims: t.shape().dims().to_vec(),
                    data: Data::Memory(t),
                    label: format!("tensor {name}"),
                };
                (name.clone(), piece)
            })
            .collect();
        Catalog {
            files: Vec::new(),
            origin: PathBuf::new(),
            tensors,
            metadata: Cow::Borrowed(&ckpt.metadata),
            wholes: BTreeMap::new(),
        }
    }

    /// A safetensors file whose header (validated by
    /// [`read_header`](crate::checkpoint::read_header)) is `header`.
    pub(crate) fn safetensors(path: &Path, header: &'a CheckpointHeader) -> Result<Catalog<'a>> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut len = [0u8; 8];
        read_at(&file, &mut len, 0).map_err(|e| read_error(path, e))?;
        let data_start = u64::from_le_bytes(len).saturating_add(8);
        let tensors = header
            .tensors
            .iter()
            .map(|(name, info)| {
                let piece = Piece {
                    dtype: info.dtype,
                    dims: info.shape.dims().to_vec(),
                    data: Data::File {
                        file: 0,
                        offset: data_start.saturating_add(info.data_offsets.0),
                        crc: None,
                    },
                    label: format!("tensor '{name}'"),
                };
                (name.clone(), piece)
            })
            .collect();
        Ok(Catalog {
            files: vec![(file, path.to_path_buf())],
            origin: path.to_path_buf(),
            tensors,
            metadata: Cow::Borrowed(&header.metadata),
            wholes: BTreeMap::new(),
        })
    }

    /// A TF bundle: a sliced variable `v` becomes shards `v/part_i` (ordered by
    /// offset) and a `partition:v` entry, as [`AnyCheckpoint::load`] lays it out.
    ///
    /// [`AnyCheckpoint::load`]: crate::checkpoint::AnyCheckpoint::load
    pub(crate) fn bundle(reader: &BundleReader) -> Result<Catalog<'static>> {
        let mut files: Vec<(File, PathBuf)> = Vec::new();
        let mut file_index: BTreeMap<PathBuf, usize> = BTreeMap::new();
        let mut tensors = BTreeMap::new();
        let mut metadata = BTreeMap::new();
        let prefix = reader.prefix().to_path_buf();
        let mut add = |tensors: &mut BTreeMap<String, Piece<'static>>,
                       name: String,
                       dtype: DType,
                       dims: Vec<usize>,
                       stored: crate::checkpoint::StoredPiece<'_>,
                       label: String|
         -> Result<()> {
            let file = match file_index.get(stored.path) {
                Some(&i) => i,
                None => {
                    let f = stored
                        .file
                        .try_clone()
                        .map_err(|e| Error::io(stored.path, e))?;
                    files.push((f, stored.path.to_path_buf()));
                    file_index.insert(stored.path.to_path_buf(), files.len() - 1);
                    files.len() - 1
                }
            };
            let piece = Piece {
                dtype,
                dims,
                data: Data::File {
                    file,
                    offset: stored.offset,
                    crc: Some(stored.crc),
                },
                label,
            };
            if piece.nbytes() != stored.size {
                return Err(corrupt(
                    &prefix,
                    format!(
                        "{}: {} bytes stored for {} expected",
                        piece.label,
                        stored.size,
                        piece.nbytes()
                    ),
                ));
            }
            if tensors.insert(name.clone(), piece).is_some() {
                return Err(corrupt(
                    &prefix,
                    format!("tensor {name} clashes with the shard name of a sliced variable"),
                ));
            }
            Ok(())
        };
        for (name, e) in reader.entries() {
            let missing = || corrupt(&prefix, format!("tensor {name}: a slice is not stored"));
            if e.slices.is_empty() {
                let stored = reader.stored_piece(name, None).ok_or_else(missing)?;
                let label = format!("tensor {name}");
                add(
                    &mut tensors,
                    name.clone(),
                    e.dtype,
                    e.shape.dims().to_vec(),
                    stored,
                    label,
                )?;
                continue;
            }
            let mut info = PartitionInfo {
                full_shape: e.shape.dims().to_vec(),
                shards: Vec::with_capacity(e.slices.len()),
            };
            for (i, s) in e.slices.iter().enumerate() {
                let stored = reader.stored_piece(name, Some(s)).ok_or_else(missing)?;
                let shard = format!("{name}/part_{i}");
                let label = format!("tensor {name} (slice at {:?})", s.offset);
                add(
                    &mut tensors,
                    shard.clone(),
                    e.dtype,
                    s.shape.clone(),
                    stored,
                    label,
                )?;
                info.shards.push(crate::checkpoint::ShardInfo {
                    name: shard,
                    offset: s.offset.clone(),
                    shape: s.shape.clone(),
                });
            }
            metadata.insert(
                crate::checkpoint::partition_metadata_key(name),
                info.to_json(),
            );
        }
        Ok(Catalog {
            files,
            origin: prefix,
            tensors,
            metadata: Cow::Owned(metadata),
            wholes: BTreeMap::new(),
        })
    }

    /// The catalog of an opened checkpoint of either format.
    pub(crate) fn of(ckpt: &'a crate::checkpoint::AnyCheckpoint) -> Result<Catalog<'a>> {
        match ckpt {
            crate::checkpoint::AnyCheckpoint::Safetensors { path, header, .. } => {
                Catalog::safetensors(path, header)
            }
            crate::checkpoint::AnyCheckpoint::Bundle(b) => Catalog::bundle(b),
        }
    }

    /// The whole tensor `name`: stored under its name, or assembled from the shards
    /// its partition metadata lists (checked against the stored shards). Adds the
    /// pieces it uses to `used`.
    pub(crate) fn whole(
        &mut self,
        name: &str,
        used: &mut BTreeSet<String>,
    ) -> Result<Option<Arc<Whole>>> {
        if let Some(p) = self.tensors.get(name) {
            used.insert(name.to_string());
            if let Some(w) = self.wholes.get(name) {
                return Ok(Some(w.clone()));
            }
            let w = Arc::new(Whole {
                dtype: p.dtype,
                dims: p.dims.clone(),
                pieces: vec![(name.to_string(), vec![0; p.dims.len()])],
            });
            self.wholes.insert(name.to_string(), w.clone());
            return Ok(Some(w));
        }
        if let Some(w) = self.wholes.get(name) {
            return Ok(Some(w.clone()));
        }
        let Some(info) = PartitionInfo::from_metadata(&self.metadata, name)? else {
            return Ok(None);
        };
        let bad = |m: String| Error::corrupt(format!("partitioned variable {name}: {m}"));
        let mut dtype = None;
        let mut pieces = Vec::with_capacity(info.shards.len());
        for s in &info.shards {
            let t = self
                .tensors
                .get(&s.name)
                .ok_or_else(|| bad(format!("shard {} is missing", s.name)))?;
            if t.dims != s.shape {
                return Err(bad(format!(
                    "shard {} has shape {} but the metadata says {:?}",
                    s.name,
                    Shape::new(&t.dims).map_err(|e| bad(e.to_string()))?,
                    s.shape
                )));
            }
            if *dtype.get_or_insert(t.dtype) != t.dtype {
                return Err(bad("shards of different dtypes".into()));
            }
            if !fits(&info.full_shape, &s.offset, &s.shape) {
                return Err(Error::corrupt(format!(
                    "a shard at {:?} of shape {:?} lies outside {:?}",
                    s.offset, s.shape, info.full_shape
                )));
            }
            pieces.push((s.name.clone(), s.offset.clone()));
        }
        let dtype = dtype.ok_or_else(|| bad("no shards".into()))?;
        Shape::new(&info.full_shape).map_err(|e| bad(e.to_string()))?;
        for s in &info.shards {
            used.insert(s.name.clone());
        }
        let w = Arc::new(Whole {
            dtype,
            dims: info.full_shape,
            pieces,
        });
        self.wholes.insert(name.to_string(), w.clone());
        Ok(Some(w))
    }

    /// Reads every region into a new buffer of its shape, all or nothing: every
    /// buffer is allocated first, then each piece any region needs is read once with
    /// positioned reads (a bundle piece in full, checking its CRC32C), bool bytes are
    /// checked, and only then are the tensors returned, in the order of `regions`.
    pub(crate) fn read_regions(&self, regions: &[Region]) -> Result<Vec<Tensor>> {
        // Every buffer first: an allocation failure reads nothing.
        let mut targets = Vec::with_capacity(regions.len());
        for r in regions {
            let shape = Shape::new(&r.dims).map_err(|e| Error::corrupt(e.to_string()))?;
            if !fits(&r.whole.dims, &r.offset, &r.dims) {
                return Err(Error::invalid_arg(format!(
                    "region at {:?} of shape {:?} lies outside {:?}",
                    r.offset, r.dims, r.whole.dims
                )));
            }
            let from_file = r
                .whole
                .pieces
                .iter()
                .any(|(n, _)| matches!(self.tensors.get(n), Some(p) if matches!(p.data, Data::File { .. })));
            let t = if from_file && r.whole.dtype == DType::Bool {
                let n = shape.num_elements();
                let bytes =
                    crate::tensor::zeroed_vec(n).map_err(|e| e.for_variable(&r.variable))?;
                Target::Bool(bytes, shape)
            } else {
                let t = Tensor::try_zeros(r.whole.dtype, &shape)
                    .map_err(|e| e.for_variable(&r.variable))?;
                Target::Tensor(t, from_file)
            };
            targets.push(t);
        }
        // What every piece gives: whole regions (in memory) or byte runs (files).
        let mut by_piece: BTreeMap<&str, Uses> = BTreeMap::new();
        for (ti, r) in regions.iter().enumerate() {
            let want = TensorSlice {
                offset: r.offset.clone(),
                shape: r.dims.clone(),
            };
            let mut covered = 0u128;
            for (name, offset) in &r.whole.pieces {
                let p = self.piece(name)?;
                let piece = TensorSlice {
                    offset: offset.clone(),
                    shape: p.dims.clone(),
                };
                let Some(i) = piece.intersect(&want) else {
                    continue;
                };
                covered += i.shape.iter().map(|&d| d as u128).product::<u128>();
                let src: Vec<usize> = (0..i.offset.len())
                    .map(|d| i.offset[d] - offset[d])
                    .collect();
                let dst: Vec<usize> = (0..i.offset.len())
                    .map(|d| i.offset[d] - r.offset[d])
                    .collect();
                let uses = by_piece.entry(name.as_str()).or_default();
                match p.data {
                    Data::Memory(_) => uses.copies.push((ti, src, dst, i.shape)),
                    Data::File { .. } => {
                        let size = p.dtype.size();
                        for_runs(&p.dims, &src, &r.dims, &dst, &i.shape, |s, d, n| {
                            uses.runs.push(Run {
                                src: s * size,
                                dst: d * size,
                                len: n * size,
                                target: ti,
                            });
                        });
                    }
                }
            }
            let want_n = r.dims.iter().map(|&d| d as u128).product::<u128>();
            if covered != want_n {
                return Err(corrupt(
                    &self.origin,
                    format!(
                        "the pieces of tensor {} do not cover the region at {:?} of shape {:?}",
                        r.variable, r.offset, r.dims
                    ),
                ));
            }
        }
        // Pieces in file order, for sequential reads.
        let mut order: Vec<(&str, Uses)> = by_piece.into_iter().collect();
        order.sort_by_key(|(name, _)| match self.tensors.get(*name).map(|p| &p.data) {
            Some(Data::File { file, offset, .. }) => (*file, *offset),
            _ => (usize::MAX, 0),
        });
        let mut scratch = Vec::new();
        for (name, mut uses) in order {
            let p = self.piece(name)?;
            match &p.data {
                Data::Memory(t) => {
                    for (ti, src, dst, shape) in &uses.copies {
                        let Some(Target::Tensor(out, _)) = targets.get_mut(*ti) else {
                            return Err(Error::invalid_arg("an in-memory piece of a byte buffer"));
                        };
                        if out.shape().dims() == shape.as_slice()
                            && t.shape().dims() == shape.as_slice()
                        {
                            *out = (*t).clone();
                        } else {
                            copy_region(out, dst, t, src, shape);
                        }
                    }
                }
                Data::File { file, offset, crc } => {
                    let file = FilePiece {
                        piece: p,
                        file: *file,
                        base: *offset,
                        crc: *crc,
                    };
                    self.read_piece(&file, &mut uses.runs, &mut targets, &mut scratch)?;
                }
            }
        }
        targets
            .into_iter()
            .zip(regions)
            .map(|(t, r)| t.finish(&self.origin, &r.variable))
            .collect()
    }

    fn piece(&self, name: &str) -> Result<&Piece<'a>> {
        self.tensors
            .get(name)
            .ok_or_else(|| corrupt(&self.origin, format!("shard {name} is missing")))
    }

    /// Reads the runs of one piece into their targets (see [`WINDOW_BYTES`]); with a
    /// checksum, every byte of the piece is read once, in order, and checked.
    fn read_piece(
        &self,
        fp: &FilePiece<'_, '_>,
        runs: &mut [Run],
        targets: &mut [Target],
        scratch: &mut Vec<u8>,
    ) -> Result<()> {
        let (p, file, base, crc) = (fp.piece, fp.file, fp.base, fp.crc);
        let (f, path) = self
            .files
            .get(file)
            .ok_or_else(|| Error::invalid_arg("no such data file"))?;
        let io = |e: std::io::Error| read_error(path, e);
        let size = p.nbytes();
        runs.sort_by_key(|r| r.src);
        let mut sum = 0u32;
        // `scratch` holds the piece's bytes [ws, we); with a checksum, [0, we) are
        // summed.
        let (mut ws, mut we) = (0u64, 0u64);
        let load = |from: u64, to: u64, sum: &mut u32, scratch: &mut Vec<u8>| -> Result<()> {
            let n = usize::try_from(to - from).map_err(|_| Error::invalid_arg("window"))?;
            scratch.clear();
            if scratch.try_reserve(n).is_err() {
                return Err(Error::Allocation {
                    name: String::new(),
                    bytes: n as u128,
                });
            }
            scratch.resize(n, 0);
            read_at(f, scratch, base + from).map_err(io)?;
            if crc.is_some() {
                *sum = crc32c::crc32c_append(*sum, scratch);
            }
            Ok(())
        };
        for r in runs.iter() {
            let (a, b) = (r.src as u64, (r.src + r.len) as u64);
            let dst = targets[r.target].bytes_mut()?;
            let dst = dst
                .get_mut(r.dst..r.dst + r.len)
                .ok_or_else(|| Error::invalid_arg("run outside its buffer"))?;
            if r.len >= DIRECT_BYTES && a >= we {
                if crc.is_some() {
                    while we < a {
                        let to = (we + WINDOW_BYTES as u64).min(a);
                        load(we, to, &mut sum, scratch)?;
                        we = to;
                    }
                }
                read_at(f, dst, base + a).map_err(io)?;
                if crc.is_some() {
                    sum = crc32c::crc32c_append(sum, dst);
                }
                (ws, we) = (b, b);
                continue;
            }
            let mut pos = a;
            while pos < b {
                let at = (pos - a) as usize;
                if pos < ws {
                    let end = b.min(ws);
                    read_at(f, &mut dst[at..(end - a) as usize], base + pos).map_err(io)?;
                    pos = end;
                } else if pos < we {
                    let end = b.min(we);
                    dst[at..(end - a) as usize]
                        .copy_from_slice(&scratch[(pos - ws) as usize..(end - ws) as usize]);
                    pos = end;
                } else {
                    let from = if crc.is_some() { we } else { pos };
                    let to = (from + WINDOW_BYTES as u64).min(size);
                    if to <= pos {
                        return Err(corrupt(path, format!("{}: a read past its end", p.label)));
                    }
                    load(from, to, &mut sum, scratch)?;
                    (ws, we) = (from, to);
                }
            }
        }
        if let Some(stored) = crc {
            while we < size {
                let to = (we + WINDOW_BYTES as u64).min(size);
                load(we, to, &mut sum, scratch)?;
                we = to;
            }
            check_crc(path, &p.label, stored, sum)?;
        }
        Ok(())
    }

    /// Reads the piece `name` through a buffer of about `chunk_bytes` and checks its
    /// checksum (a bundle's; a piece without one is not read).
    pub(crate) fn check_checksum(&self, name: &str, chunk_bytes: usize) -> Result<()> {
        let Some(at) = self.locate(name) else {
            return Ok(());
        };
        let Some(stored) = at.crc else {
            return Ok(());
        };
        let mut buf = Vec::new();
        let mut sum = 0u32;
        let mut done = 0u64;
        let chunk = chunk_bytes.max(1) as u64;
        while done < at.size {
            let n = chunk.min(at.size - done) as usize;
            buf.resize(n, 0);
            read_at(at.file, &mut buf, at.offset + done).map_err(|e| read_error(at.path, e))?;
            sum = crc32c::crc32c_append(sum, &buf);
            done += n as u64;
        }
        check_crc(at.path, at.label, stored, sum)
    }

    /// Where the piece `name` is, if it is in a file.
    pub(crate) fn locate(&self, name: &str) -> Option<Located<'_>> {
        let p = self.tensors.get(name)?;
        match &p.data {
            Data::File { file, offset, crc } => {
                let (f, path) = self.files.get(*file)?;
                Some(Located {
                    file: f,
                    path,
                    offset: *offset,
                    size: p.nbytes(),
                    crc: *crc,
                    label: &p.label,
                })
            }
            Data::Memory(_) => None,
        }
    }
}

/// A piece's place in a file, as [`Catalog::locate`] gives it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Located<'c> {
    pub(crate) file: &'c File,
    pub(crate) path: &'c Path,
    /// Where its bytes start.
    pub(crate) offset: u64,
    /// How many bytes.
    pub(crate) size: u64,
    /// The masked CRC32C a bundle records (see [`check_crc`]).
    pub(crate) crc: Option<u32>,
    /// How messages name it.
    pub(crate) label: &'c str,
}

/// Compares a computed CRC32C with the masked one an index records.
pub(crate) fn check_crc(path: &Path, label: &str, stored: u32, computed: u32) -> Result<()> {
    let crc = masked_crc32c(computed);
    if crc != stored {
        return Err(corrupt(
            path,
            format!(
                "{label}: data checksum mismatch (stored {stored:#010x}, computed {crc:#010x})"
            ),
        ));
    }
    Ok(())
}

/// An unexpected end of file is corruption (the file shrank); other errors are IO.
pub(crate) fn read_error(path: &Path, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        corrupt(
            path,
            "the data file is shorter than its header or index says",
        )
    } else {
        Error::io(path, e)
    }
}

/// One contiguous copy: `len` bytes from byte `src` of a piece to byte `dst` of
/// target `target`.
#[derive(Debug, Clone)]
struct Run {
    src: usize,
    dst: usize,
    len: usize,
    target: usize,
}

/// An in-memory copy: target, offset in the piece, offset in the target, shape.
type RegionCopy = (usize, Vec<usize>, Vec<usize>, Vec<usize>);

/// What one piece gives to the targets.
#[derive(Debug, Default)]
struct Uses {
    /// In-memory pieces: whole regions.
    copies: Vec<RegionCopy>,
    /// File pieces: byte runs.
    runs: Vec<Run>,
}

/// A piece stored in a file.
struct FilePiece<'p, 'a> {
    piece: &'p Piece<'a>,
    file: usize,
    base: u64,
    crc: Option<u32>,
}

/// A buffer being filled: a tensor (whether it is filled from little-endian file
/// bytes), or the bytes of a bool tensor read from a file (checked to be 0 or 1 at
/// the end).
enum Target {
    Tensor(Tensor, bool),
    Bool(Vec<u8>, Shape),
}

/// The bytes of a freshly allocated (contiguous) numeric tensor.
fn tensor_bytes_mut(t: &mut Tensor) -> Option<&mut [u8]> {
    match t {
        Tensor::F16(a) => a.as_slice_mut().map(bytemuck::cast_slice_mut),
        Tensor::BF16(a) => a.as_slice_mut().map(bytemuck::cast_slice_mut),
        Tensor::F32(a) => a.as_slice_mut().map(bytemuck::cast_slice_mut),
        Tensor::F64(a) => a.as_slice_mut().map(bytemuck::cast_slice_mut),
        Tensor::I32(a) => a.as_slice_mut().map(bytemuck::cast_slice_mut),
        Tensor::I64(a) => a.as_slice_mut().map(bytemuck::cast_slice_mut),
        Tensor::Bool(_) => None,
    }
}

impl Target {
    fn bytes_mut(&mut self) -> Result<&mut [u8]> {
        let bytes = match self {
            Target::Bool(b, _) => Some(b.as_mut_slice()),
            Target::Tensor(t, _) => tensor_bytes_mut(t),
        };
        bytes.ok_or_else(|| Error::invalid_arg("a buffer that is not contiguous"))
    }

    fn finish(self, origin: &Path, variable: &str) -> Result<Tensor> {
        match self {
            Target::Bool(bytes, shape) => {
                if let Some(b) = bytes.iter().find(|&&b| b > 1) {
                    return Err(corrupt(
                        origin,
                        format!("the value of {variable}: byte {b} is not a valid bool"),
                    ));
                }
                let v: Vec<bool> = bytes.into_iter().map(|b| b != 0).collect();
                Tensor::from_vec(v, shape.dims().to_vec())
            }
            Target::Tensor(mut t, from_file) => {
                let size = t.dtype().size();
                if from_file && cfg!(target_endian = "big") && size > 1 {
                    if let Some(b) = tensor_bytes_mut(&mut t) {
                        b.chunks_exact_mut(size).for_each(<[u8]>::reverse);
                    }
                }
                Ok(t)
            }
        }
    }
}

/// Whether the region at `offset` of `shape` lies inside `dims`.
pub(crate) fn fits(dims: &[usize], offset: &[usize], shape: &[usize]) -> bool {
    dims.len() == offset.len()
        && dims.len() == shape.len()
        && dims
            .iter()
            .zip(offset.iter().zip(shape))
            .all(|(&d, (&o, &s))| o.checked_add(s).is_some_and(|e| e <= d))
}

/// Calls `f(src_element, dst_element, elements)` for every contiguous run copying the
/// region `shape` at `src_off` of a row-major array of shape `src` to `dst_off` of one
/// of shape `dst`, in increasing order (regions in bounds, checked by the caller).
fn for_runs(
    src: &[usize],
    src_off: &[usize],
    dst: &[usize],
    dst_off: &[usize],
    shape: &[usize],
    mut f: impl FnMut(usize, usize, usize),
) {
    let n = shape.len();
    if shape.contains(&0) {
        return;
    }
    if n == 0 {
        f(0, 0, 1);
        return;
    }
    // Trailing axes the region covers fully in both arrays merge into one run.
    let mut d = n;
    while d > 0 && shape[d - 1] == src[d - 1] && shape[d - 1] == dst[d - 1] {
        d -= 1;
    }
    let inner = d.saturating_sub(1);
    let run: usize = shape[inner..].iter().product();
    let strides = |dims: &[usize]| {
        let mut s = vec![1usize; n];
        for i in (0..n - 1).rev() {
            s[i] = s[i + 1] * dims[i + 1];
        }
        s
    };
    let (ss, ds) = (strides(src), strides(dst));
    let mut idx = vec![0usize; inner];
    loop {
        let mut s = src_off[inner] * ss[inner];
        let mut t = dst_off[inner] * ds[inner];
        for i in 0..inner {
            s += (src_off[i] + idx[i]) * ss[i];
            t += (dst_off[i] + idx[i]) * ds[i];
        }
        f(s, t, run);
        // Odometer over the outer axes.
        let mut i = inner;
        loop {
            if i == 0 {
                return;
            }
            i -= 1;
            idx[i] += 1;
            if idx[i] < shape[i] {
                break;
            }
            idx[i] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::for_runs;

    /// The runs copy exactly what an element-by-element copy of the region does, for
    /// regions of every rank, offset and extent.
    #[test]
    fn runs_copy_the_region_element_by_element() {
        let flat = |dims: &[usize], idx: &[usize]| {
            idx.iter()
                .zip(dims)
                .fold(0usize, |acc, (&i, &d)| acc * d + i)
        };
        // (source dims, offset in it, destination dims, offset in it, region)
        type Case<'a> = (
            &'a [usize],
            &'a [usize],
            &'a [usize],
            &'a [usize],
            &'a [usize],
        );
        let cases: &[Case<'_>] = &[
            (&[], &[], &[], &[], &[]),
            (&[7], &[2], &[4], &[1], &[3]),
            (&[5, 6], &[0, 0], &[5, 6], &[0, 0], &[5, 6]),
            (&[5, 6], &[1, 0], &[3, 6], &[0, 0], &[3, 6]),
            (&[5, 6], &[0, 2], &[5, 3], &[0, 0], &[5, 3]),
            (&[4, 9], &[1, 3], &[6, 8], &[2, 1], &[3, 5]),
            (&[3, 4, 5], &[0, 1, 0], &[3, 2, 5], &[0, 0, 0], &[3, 2, 5]),
            (&[3, 4, 5], &[1, 0, 2], &[2, 4, 7], &[0, 0, 4], &[2, 4, 3]),
            (&[3, 4, 5], &[0, 0, 0], &[3, 4, 5], &[0, 0, 0], &[3, 0, 5]),
        ];
        for &(src, so, dst, d_o, shape) in cases {
            let n_src: usize = src.iter().product();
            let n_dst: usize = dst.iter().product();
            let source: Vec<usize> = (0..n_src).collect();
            let mut want = vec![usize::MAX; n_dst];
            let total: usize = shape.iter().product();
            for k in 0..total {
                let mut idx = vec![0; shape.len()];
                let mut r = k;
                for a in (0..shape.len()).rev() {
                    idx[a] = r % shape[a];
                    r /= shape[a];
                }
                let s: Vec<usize> = idx.iter().zip(so).map(|(i, o)| i + o).collect();
                let t: Vec<usize> = idx.iter().zip(d_o).map(|(i, o)| i + o).collect();
                want[flat(dst, &t)] = source[flat(src, &s)];
            }
            let mut got = vec![usize::MAX; n_dst];
            let mut last = None;
            for_runs(src, so, dst, d_o, shape, |s, t, len| {
                assert!(last.is_none_or(|l| s >= l), "runs in increasing order");
                last = Some(s + len);
                got[t..t + len].copy_from_slice(&source[s..s + len]);
            });
            assert_eq!(got, want, "{src:?} {so:?} -> {dst:?} {d_o:?} of {shape:?}");
        }
    }
}
