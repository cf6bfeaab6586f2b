//! The safetensors file format: dtype names, the header reader, [`save_safetensors`]
//! and [`load_safetensors`].

use super::atomic::{AtomicFile, WriteOptions};
use super::LoadedCheckpoint;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::Tensor;
use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

/// The largest header [`load_safetensors`] accepts (the `safetensors` crate's limit).
pub const MAX_HEADER_SIZE: u64 = 100_000_000;

/// The header key of the metadata map.
const METADATA_KEY: &str = "__metadata__";

/// One tensor of a [`CheckpointHeader`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's dtype.
    pub dtype: DType,
    /// The tensor's shape.
    pub shape: Shape,
    /// Its byte range `[begin, end)`, relative to the start of the data (which follows
    /// the header).
    pub data_offsets: (u64, u64),
}

impl TensorInfo {
    /// Size of the tensor's data in bytes.
    pub fn nbytes(&self) -> u64 {
        self.data_offsets.1.saturating_sub(self.data_offsets.0)
    }
}

/// The validated header of a safetensors file, as [`read_header`] returns it.
///
/// ```
/// use std::collections::BTreeMap;
/// use varscope::checkpoint::{read_header, save_safetensors};
/// use varscope::{DType, Tensor};
/// let dir = std::env::temp_dir().join(format!("varscope-doc-header-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("h.safetensors");
/// let t = Tensor::from_vec(vec![1.0f32; 6], [2, 3]).unwrap();
/// let meta = BTreeMap::from([("varscope.seed".to_string(), "7".to_string())]);
/// save_safetensors(&path, [("dense/kernel".to_string(), &t)], &meta).unwrap();
/// let header = read_header(&path).unwrap();
/// let info = &header.tensors["dense/kernel"];
/// assert_eq!((info.dtype, info.shape.dims(), info.nbytes()), (DType::F32, &[2usize, 3][..], 24));
/// assert_eq!(header.metadata["varscope.seed"], "7");
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckpointHeader {
    /// dtype, shape and byte range of every tensor, by name.
    pub tensors: BTreeMap<String, TensorInfo>,
    /// The `__metadata__` map (empty when the file has none).
    pub metadata: BTreeMap<String, String>,
    /// The file size in bytes.
    pub file_size: u64,
}

/// The safetensors name of a dtype (`F32`, `BF16`, `BOOL`, …).
///
/// ```
/// use varscope::checkpoint::{dtype_from_safetensors_name, safetensors_dtype_name};
/// use varscope::DType;
/// assert_eq!(safetensors_dtype_name(DType::BF16), "BF16");
/// assert_eq!(dtype_from_safetensors_name("F32"), Some(DType::F32));
/// ```
pub fn safetensors_dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::F16 => "F16",
        DType::BF16 => "BF16",
        DType::F32 => "F32",
        DType::F64 => "F64",
        DType::I32 => "I32",
        DType::I64 => "I64",
        DType::Bool => "BOOL",
    }
}

/// The dtype of a safetensors dtype name; `None` for names this crate does not support
/// (`U8`, `F8_E4M3`, …).
pub fn dtype_from_safetensors_name(name: &str) -> Option<DType> {
    Some(match name {
        "F16" => DType::F16,
        "BF16" => DType::BF16,
        "F32" => DType::F32,
        "F64" => DType::F64,
        "I32" => DType::I32,
        "I64" => DType::I64,
        "BOOL" => DType::Bool,
        _ => return None,
    })
}

fn corrupt(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::corrupt(format!("{}: {message}", path.display()))
}

fn io_err(path: &Path, e: io::Error) -> Error {
    Error::io(path, e)
}

// ---------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------

/// Writes `tensors` and `metadata` to `path` in the safetensors format; returns the
/// number of bytes written (the file's size).
///
/// Tensors are written in sorted-name order, streamed one by one through a buffered
/// writer (contiguous arrays are written straight from memory), so memory use does not
/// grow with the checkpoint. The header is padded with spaces to a multiple of 8 bytes,
/// as the `safetensors` crate does.
///
/// The write is atomic: the data goes to a temporary file in the same directory, which
/// is synced and renamed over `path`, after which the directory is synced (on Unix). On
/// any failure before the rename the temporary file is removed and an existing file at
/// `path` is left untouched; a failure to sync the directory after the rename is still
/// reported, though the new file is then already in place. Errors name `path`, not the
/// temporary file.
///
/// The temporary file is `.<file name>.tmp-<pid>-<counter>-<random hex>`. Temporary
/// files of `path` left by a process that no longer runs (killed, say) are removed
/// first; [`remove_temp_files`](super::remove_temp_files) removes those of writes in
/// progress (for signal handlers).
///
/// A `path` that is a symbolic link, FIFO, device node, socket or directory is not
/// replaced ([`Error::NotRegularFile`]); [`save_safetensors_with`] can force it.
///
/// ```
/// use std::collections::BTreeMap;
/// use varscope::checkpoint::save_safetensors;
/// use varscope::{ErrorKind, Tensor};
/// let dir = std::env::temp_dir().join(format!("varscope-doc-save-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("m.safetensors");
/// let k = Tensor::from_vec(vec![1.0f32; 6], [2, 3]).unwrap();
/// let b = Tensor::from_vec(vec![0.0f32; 3], [3]).unwrap();
/// let meta = BTreeMap::from([("varscope.seed".to_string(), "7".to_string())]);
/// let tensors = [("dense/kernel".to_string(), &k), ("dense/bias".to_string(), &b)];
/// let size = save_safetensors(&path, tensors, &meta).unwrap();
/// assert_eq!(size, std::fs::metadata(&path).unwrap().len());
///
/// // Nothing is written into a directory that does not exist.
/// let e = save_safetensors(&dir.join("no/such/m.safetensors"), [], &meta).unwrap_err();
/// assert_eq!(e.kind(), ErrorKind::Io);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// # Errors
/// * [`Error::InvalidArgument`] for duplicate tensor names or a tensor named
///   `__metadata__`, before anything is written.
/// * [`Error::NotRegularFile`] when `path` exists and is not a regular file.
/// * [`Error::Io`] on `path` when creating, writing, syncing or renaming fails (for
///   example when the directory does not exist).
pub fn save_safetensors<'a>(
    path: &Path,
    tensors: impl IntoIterator<Item = (String, &'a Tensor)>,
    metadata: &BTreeMap<String, String>,
) -> Result<u64> {
    save_safetensors_with(path, tensors, metadata, &WriteOptions::default())
}

/// [`save_safetensors`] with [`WriteOptions`]: with
/// [`force`](WriteOptions::force), a target that is a symbolic link, FIFO, device node
/// or socket is replaced by the new file (the entry itself; a link is not followed).
///
/// ```
/// use std::collections::BTreeMap;
/// use varscope::checkpoint::{save_safetensors, save_safetensors_with, WriteOptions};
/// use varscope::{Error, Tensor};
/// let dir = std::env::temp_dir().join(format!("varscope-doc-force-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let (real, link) = (dir.join("real.safetensors"), dir.join("link.safetensors"));
/// let t = Tensor::from_vec(vec![1.0f32], [1]).unwrap();
/// let meta = BTreeMap::new();
/// save_safetensors(&real, [("t".to_string(), &t)], &meta).unwrap();
/// # #[cfg(unix)] {
/// std::os::unix::fs::symlink(&real, &link).unwrap();
/// let e = save_safetensors(&link, [], &meta).unwrap_err();
/// assert!(matches!(e, Error::NotRegularFile { file_type: "symbolic link", .. }));
/// save_safetensors_with(&link, [], &meta, &WriteOptions::new().force(true)).unwrap();
/// // The link was replaced, not followed.
/// assert!(std::fs::symlink_metadata(&link).unwrap().is_file());
/// assert!(varscope::checkpoint::load_safetensors(&real).unwrap().tensors.contains_key("t"));
/// # }
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// # Errors
/// Those of [`save_safetensors`].
pub fn save_safetensors_with<'a>(
    path: &Path,
    tensors: impl IntoIterator<Item = (String, &'a Tensor)>,
    metadata: &BTreeMap<String, String>,
    options: &WriteOptions,
) -> Result<u64> {
    let mut tensors: Vec<(String, &Tensor)> = tensors.into_iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = tensors.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::invalid_arg(format!(
            "duplicate tensor name '{}' in checkpoint {}",
            w[0].0,
            path.display()
        )));
    }
    if tensors.iter().any(|(name, _)| name == METADATA_KEY) {
        return Err(Error::invalid_arg(format!(
            "'{METADATA_KEY}' is reserved and cannot name a tensor (checkpoint {})",
            path.display()
        )));
    }
    let header = build_header(
        tensors
            .iter()
            .map(|(n, t)| (n.as_str(), t.dtype(), t.shape().dims().to_vec())),
        metadata,
    );

    let mut out = AtomicFile::create(path, options)?;
    let written =
        write_file(out.file_mut(), &header, &tensors).map_err(|e| io_err(out.target(), e))?;
    out.commit()?;
    Ok(written)
}

/// The JSON header, padded with spaces to a multiple of 8 bytes.
fn build_header<'a>(
    tensors: impl IntoIterator<Item = (&'a str, DType, Vec<usize>)>,
    metadata: &BTreeMap<String, String>,
) -> Vec<u8> {
    build_header_offsets(tensors, metadata).0
}

/// The JSON header (padded) and every tensor's byte range in the data section.
fn build_header_offsets<'a>(
    tensors: impl IntoIterator<Item = (&'a str, DType, Vec<usize>)>,
    metadata: &BTreeMap<String, String>,
) -> (Vec<u8>, Vec<(u64, u64)>) {
    let mut map = Map::new();
    if !metadata.is_empty() {
        let m: Map<String, Value> = metadata
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        map.insert(METADATA_KEY.to_string(), Value::Object(m));
    }
    let mut offset: u64 = 0;
    let mut ranges = Vec::new();
    for (name, dtype, dims) in tensors {
        let nbytes = dims
            .iter()
            .fold(dtype.size() as u64, |n, &d| n.saturating_mul(d as u64));
        let end = offset.saturating_add(nbytes);
        ranges.push((offset, end));
        let mut info = Map::new();
        info.insert(
            "dtype".into(),
            Value::String(safetensors_dtype_name(dtype).into()),
        );
        info.insert(
            "shape".into(),
            Value::Array(dims.iter().map(|&d| Value::from(d)).collect()),
        );
        info.insert(
            "data_offsets".into(),
            Value::Array(vec![Value::from(offset), Value::from(end)]),
        );
        map.insert(name.to_string(), Value::Object(info));
        offset = end;
    }
    // Serialising a map of strings and numbers cannot fail.
    let mut bytes = serde_json::to_vec(&Value::Object(map)).unwrap_or_default();
    let padded = bytes.len().div_ceil(8) * 8;
    bytes.resize(padded, b' ');
    (bytes, ranges)
}

/// The layout of a safetensors file, known from names, dtypes and shapes alone:
/// the bytes before the data (the header's length and the header, exactly as
/// [`save_safetensors`] writes them) and where each tensor's bytes go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetensorsLayout {
    /// The file's first bytes: the 8-byte little-endian header length, then the
    /// header.
    pub prefix: Vec<u8>,
    /// The tensors in file order (sorted by name): name, dtype, shape, and the
    /// absolute file offsets `[start, end)` of its bytes.
    pub tensors: Vec<(String, DType, Shape, u64, u64)>,
    /// The file's size.
    pub file_size: u64,
}

/// The [`SafetensorsLayout`] of a file of `tensors` (in any order) and `metadata`,
/// as [`save_safetensors`] would write it, without any values.
///
/// ```
/// use std::collections::BTreeMap;
/// use varscope::checkpoint::{safetensors_layout, save_safetensors};
/// use varscope::{DType, Shape, Tensor};
/// let t = Tensor::from_vec(vec![1.0f32; 6], [2, 3]).unwrap();
/// let meta = BTreeMap::new();
/// let layout =
///     safetensors_layout(vec![("w".to_string(), DType::F32, Shape::new([2, 3]).unwrap())], &meta)
///         .unwrap();
/// let dir = std::env::temp_dir().join(format!("varscope-doc-layout-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("w.safetensors");
/// let size = save_safetensors(&path, [("w".to_string(), &t)], &meta).unwrap();
/// let bytes = std::fs::read(&path).unwrap();
/// assert_eq!(layout.file_size, size);
/// assert_eq!(&bytes[..layout.prefix.len()], &layout.prefix[..]);
/// assert_eq!(layout.tensors[0].3, layout.prefix.len() as u64);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] for duplicate names or a tensor named `__metadata__`.
pub fn safetensors_layout(
    tensors: Vec<(String, DType, Shape)>,
    metadata: &BTreeMap<String, String>,
) -> Result<SafetensorsLayout> {
    let mut tensors = tensors;
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = tensors.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::invalid_arg(format!(
            "duplicate tensor name '{}' in a checkpoint",
            w[0].0
        )));
    }
    if tensors.iter().any(|(name, ..)| name == METADATA_KEY) {
        return Err(Error::invalid_arg(format!(
            "'{METADATA_KEY}' is reserved and cannot name a tensor"
        )));
    }
    let (header, ranges) = build_header_offsets(
        tensors
            .iter()
            .map(|(n, d, s)| (n.as_str(), *d, s.dims().to_vec())),
        metadata,
    );
    let mut prefix = Vec::with_capacity(header.len() + 8);
    prefix.extend_from_slice(&(header.len() as u64).to_le_bytes());
    prefix.extend_from_slice(&header);
    let base = prefix.len() as u64;
    let file_size = base.saturating_add(ranges.last().map_or(0, |r| r.1));
    let tensors = tensors
        .into_iter()
        .zip(ranges)
        .map(|((n, d, s), (a, b))| (n, d, s, base.saturating_add(a), base.saturating_add(b)))
        .collect();
    Ok(SafetensorsLayout {
        prefix,
        tensors,
        file_size,
    })
}

/// Writes the file's contents through a buffer and flushes it (the caller syncs).
fn write_file(file: &mut File, header: &[u8], tensors: &[(String, &Tensor)]) -> io::Result<u64> {
    let mut w = BufWriter::with_capacity(1 << 20, file);
    w.write_all(&(header.len() as u64).to_le_bytes())?;
    w.write_all(header)?;
    let mut written = 8 + header.len() as u64;
    for (_, t) in tensors {
        write_tensor(&mut w, t)?;
        written += t.nbytes() as u64;
    }
    w.flush()?;
    Ok(written)
}

fn write_tensor<W: Write>(w: &mut W, t: &Tensor) -> io::Result<()> {
    match t {
        Tensor::F16(a) => write_pod(w, a, |v| v.to_le_bytes()),
        Tensor::BF16(a) => write_pod(w, a, |v| v.to_le_bytes()),
        Tensor::F32(a) => write_pod(w, a, |v| v.to_le_bytes()),
        Tensor::F64(a) => write_pod(w, a, |v| v.to_le_bytes()),
        Tensor::I32(a) => write_pod(w, a, |v| v.to_le_bytes()),
        Tensor::I64(a) => write_pod(w, a, |v| v.to_le_bytes()),
        Tensor::Bool(a) => a.iter().try_for_each(|&b| w.write_all(&[u8::from(b)])),
    }
}

/// Writes a contiguous little-endian array as one slice of bytes, anything else element
/// by element.
fn write_pod<T: bytemuck::Pod, const N: usize, W: Write>(
    w: &mut W,
    a: &ArrayD<T>,
    le: impl Fn(&T) -> [u8; N],
) -> io::Result<()> {
    if cfg!(target_endian = "little") {
        if let Some(s) = a.as_slice() {
            return w.write_all(bytemuck::cast_slice(s));
        }
    }
    a.iter().try_for_each(|v| w.write_all(&le(v)))
}

// ---------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------

/// Reads and validates only the header of a safetensors file: every tensor's dtype,
/// shape and byte range, the metadata, and the file size. The checks are those of
/// [`load_safetensors`] (everything but the data itself: a `BOOL` byte other than 0
/// or 1 goes unnoticed), so a file whose header reads can be loaded unless its data
/// changes.
///
/// ```
/// use std::collections::BTreeMap;
/// use varscope::checkpoint::{read_header, save_safetensors};
/// use varscope::{DType, Tensor};
/// let dir = std::env::temp_dir().join(format!("varscope-doc-header-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("m.safetensors");
/// let b = Tensor::from_vec(vec![1i64, 2, 3], [3]).unwrap();
/// let size = save_safetensors(&path, [("b".to_string(), &b)], &BTreeMap::new()).unwrap();
/// let header = read_header(&path).unwrap();
/// assert_eq!(header.file_size, size);
/// let info = &header.tensors["b"];
/// assert_eq!((info.dtype, info.shape.dims(), info.nbytes()), (DType::I64, &[3][..], 24));
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// # Errors
/// * [`Error::Checkpoint`] for a truncated file, a malformed header, an unsupported
///   dtype, inconsistent offsets, or `partition:` metadata that does not describe the
///   file's tensors (a malformed or overlapping layout, a shard that is missing, of
///   another shape or dtype, listed twice or by two variables).
/// * [`Error::Io`] when the file cannot be opened or read.
pub fn read_header(path: &Path) -> Result<CheckpointHeader> {
    let mut file = File::open(path).map_err(|e| io_err(path, e))?;
    read_header_from(&mut file, path)
}

/// Reads `file`'s header, leaving it positioned at the start of the data.
fn read_header_from(file: &mut File, path: &Path) -> Result<CheckpointHeader> {
    let file_size = file.metadata().map_err(|e| io_err(path, e))?.len();
    if file_size < 8 {
        return Err(corrupt(
            path,
            format!("file of {file_size} bytes is too short for a safetensors header"),
        ));
    }
    let mut len_bytes = [0u8; 8];
    file.read_exact(&mut len_bytes)
        .map_err(|e| read_err(path, e))?;
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > MAX_HEADER_SIZE {
        return Err(corrupt(
            path,
            format!("header length {header_len} exceeds the limit of {MAX_HEADER_SIZE} bytes"),
        ));
    }
    if header_len > file_size - 8 {
        return Err(corrupt(
            path,
            format!("header length {header_len} runs past the end of the file ({file_size} bytes)"),
        ));
    }
    // Bounded by MAX_HEADER_SIZE and the file length.
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)
        .map_err(|e| read_err(path, e))?;
    let data_len = file_size - 8 - header_len;
    let (tensors, metadata) = parse_header(path, &header, data_len)?;
    // Partition metadata must describe the tensors the file holds, before any data
    // is read or any variable assembled from it.
    super::layout::checked_partitions(&metadata, |name| {
        tensors.get(name).map(|t| (t.dtype, t.shape.dims()))
    })
    .map_err(|e| match e {
        Error::Checkpoint { message } => corrupt(path, message),
        e => e,
    })?;
    Ok(CheckpointHeader {
        tensors,
        metadata,
        file_size,
    })
}

/// Reads a safetensors file written by [`save_safetensors`] (or any writer of the
/// format) into memory.
///
/// The header is validated before any data is read: its length must be at most
/// [`MAX_HEADER_SIZE`] and fit in the file, it must be a JSON object, every tensor's
/// dtype must be one of `F16`, `BF16`, `F32`, `F64`, `I32`, `I64`, `BOOL`, its byte
/// range must match its shape, and the ranges must tile the data exactly (no gaps, no
/// overlaps, nothing after the last tensor), as the `safetensors` crate requires.
/// Each tensor's data is then read straight into its typed buffer.
///
/// ```
/// use std::collections::BTreeMap;
/// use varscope::checkpoint::{load_safetensors, save_safetensors};
/// use varscope::{ErrorKind, Tensor};
/// let dir = std::env::temp_dir().join(format!("varscope-doc-load-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("m.safetensors");
/// let w = Tensor::from_vec(vec![0.5f32, -1.0], [2]).unwrap();
/// save_safetensors(&path, [("w".to_string(), &w)], &BTreeMap::new()).unwrap();
/// assert_eq!(load_safetensors(&path).unwrap().tensors["w"], w);
///
/// // A truncated file is a corrupt checkpoint, a missing one an I/O error.
/// let bytes = std::fs::read(&path).unwrap();
/// std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
/// assert_eq!(load_safetensors(&path).unwrap_err().kind(), ErrorKind::Checkpoint);
/// std::fs::remove_dir_all(&dir).unwrap();
/// assert_eq!(load_safetensors(&path).unwrap_err().kind(), ErrorKind::Io);
/// ```
///
/// # Errors
/// * [`Error::Checkpoint`] for a truncated or corrupt file, a malformed header, an
///   unsupported dtype, inconsistent offsets or a `BOOL` byte other than 0 or 1.
/// * [`Error::Io`] when the file cannot be opened or read.
pub fn load_safetensors(path: &Path) -> Result<LoadedCheckpoint> {
    let mut file = File::open(path).map_err(|e| io_err(path, e))?;
    let header = read_header_from(&mut file, path)?;
    let mut entries: Vec<(String, TensorInfo)> = header.tensors.into_iter().collect();
    entries.sort_by_key(|(_, e)| e.data_offsets);
    let mut tensors = BTreeMap::new();
    for (name, e) in entries {
        let t = read_tensor(&mut file, &e).map_err(|err| match err {
            ReadError::Io(io) => read_err(path, io),
            ReadError::Bad(m) => corrupt(path, format!("tensor '{name}': {m}")),
        })?;
        tensors.insert(name, t);
    }
    Ok(LoadedCheckpoint {
        tensors,
        metadata: header.metadata,
    })
}

/// An unexpected end of file is corruption (the file shrank while being read); other
/// read errors are IO errors.
fn read_err(path: &Path, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        corrupt(path, "unexpected end of file")
    } else {
        io_err(path, e)
    }
}

type Header = (BTreeMap<String, TensorInfo>, BTreeMap<String, String>);

fn parse_header(path: &Path, header: &[u8], data_len: u64) -> Result<Header> {
    let text = std::str::from_utf8(header)
        .map_err(|e| corrupt(path, format!("header is not UTF-8: {e}")))?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| corrupt(path, format!("header is not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(corrupt(path, "header is not a JSON object"));
    };
    let mut tensors = BTreeMap::new();
    let mut metadata = BTreeMap::new();
    for (name, info) in map {
        if name == METADATA_KEY {
            match info {
                Value::Null => {}
                Value::Object(m) => {
                    for (k, v) in m {
                        let Value::String(v) = v else {
                            return Err(corrupt(
                                path,
                                format!("metadata value of '{k}' is not a string"),
                            ));
                        };
                        metadata.insert(k, v);
                    }
                }
                _ => return Err(corrupt(path, "__metadata__ is not a JSON object")),
            }
            continue;
        }
        let entry = parse_entry(&name, &info).map_err(|m| corrupt(path, m))?;
        tensors.insert(name, entry);
    }

    // The byte ranges must tile [0, data_len) exactly.
    let mut ranges: Vec<(&String, &TensorInfo)> = tensors.iter().collect();
    ranges.sort_by_key(|(_, e)| e.data_offsets);
    let mut next = 0u64;
    for (name, e) in ranges {
        let (begin, end) = e.data_offsets;
        if begin != next {
            return Err(corrupt(
                path,
                format!(
                    "tensor '{name}' has data_offsets [{begin}, {end}], expected it to start at {next} (gap or overlap)"
                ),
            ));
        }
        if end > data_len {
            return Err(corrupt(
                path,
                format!(
                    "tensor '{name}' has data_offsets [{begin}, {end}] past the end of the data ({data_len} bytes)"
                ),
            ));
        }
        next = end;
    }
    if next != data_len {
        return Err(corrupt(
            path,
            format!("the tensors cover {next} bytes but the file holds {data_len} bytes of data"),
        ));
    }
    Ok((tensors, metadata))
}

fn parse_entry(name: &str, info: &Value) -> std::result::Result<TensorInfo, String> {
    let bad = |what: &str| format!("tensor '{name}': {what}");
    let Value::Object(info) = info else {
        return Err(bad("entry is not a JSON object"));
    };
    let dtype_name = info
        .get("dtype")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("missing or non-string dtype"))?;
    let dtype = dtype_from_safetensors_name(dtype_name)
        .ok_or_else(|| bad(&format!("unsupported dtype '{dtype_name}'")))?;
    let dims = info
        .get("shape")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("missing or non-list shape"))?
        .iter()
        .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| bad("shape has a dimension that is not a non-negative integer"))?;
    let shape = Shape::new(dims).map_err(|e| bad(&e.to_string()))?;
    let offsets = info
        .get("data_offsets")
        .and_then(Value::as_array)
        .and_then(|o| match o.as_slice() {
            [b, e] => Some((b.as_u64()?, e.as_u64()?)),
            _ => None,
        })
        .ok_or_else(|| bad("data_offsets is not a pair of non-negative integers"))?;
    let (begin, end) = offsets;
    let nbytes = (shape.num_elements() as u64).checked_mul(dtype.size() as u64);
    if begin > end || Some(end - begin) != nbytes {
        return Err(bad(&format!(
            "data_offsets [{begin}, {end}] do not match {dtype} shape {shape}"
        )));
    }
    Ok(TensorInfo {
        dtype,
        shape,
        data_offsets: offsets,
    })
}

enum ReadError {
    Io(io::Error),
    Bad(String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// Reads one tensor; the reader is positioned at its first byte (the ranges tile the
/// data, and tensors are read in offset order).
fn read_tensor<R: Read>(r: &mut R, e: &TensorInfo) -> std::result::Result<Tensor, ReadError> {
    let n = e.shape.num_elements();
    let dims = e.shape.dims();
    Ok(match e.dtype {
        DType::F16 => Tensor::F16(read_pod(r, dims, n, |x: f16| {
            f16::from_le_bytes(x.to_ne_bytes())
        })?),
        DType::BF16 => Tensor::BF16(read_pod(r, dims, n, |x: bf16| {
            bf16::from_le_bytes(x.to_ne_bytes())
        })?),
        DType::F32 => Tensor::F32(read_pod(r, dims, n, |x: f32| {
            f32::from_le_bytes(x.to_ne_bytes())
        })?),
        DType::F64 => Tensor::F64(read_pod(r, dims, n, |x: f64| {
            f64::from_le_bytes(x.to_ne_bytes())
        })?),
        DType::I32 => Tensor::I32(read_pod(r, dims, n, |x: i32| {
            i32::from_le_bytes(x.to_ne_bytes())
        })?),
        DType::I64 => Tensor::I64(read_pod(r, dims, n, |x: i64| {
            i64::from_le_bytes(x.to_ne_bytes())
        })?),
        DType::Bool => {
            let bytes: ArrayD<u8> = read_pod(r, dims, n, |x: u8| x)?;
            if let Some(b) = bytes.iter().find(|&&b| b > 1) {
                return Err(ReadError::Bad(format!("byte {b} is not a valid BOOL")));
            }
            Tensor::Bool(bytes.mapv(|b| b != 0))
        }
    })
}

/// Reads `n` little-endian elements straight into a typed buffer; `from_le` converts a
/// value read in native byte order on big-endian targets.
fn read_pod<T: bytemuck::Pod, R: Read>(
    r: &mut R,
    dims: &[usize],
    n: usize,
    from_le: impl Fn(T) -> T,
) -> std::result::Result<ArrayD<T>, ReadError> {
    // `n` is bounded by the file's size, but the allocation may still fail.
    let mut v: Vec<T> = crate::tensor::zeroed_vec(n).map_err(|e| ReadError::Bad(e.to_string()))?;
    r.read_exact(bytemuck::cast_slice_mut(&mut v))?;
    if cfg!(target_endian = "big") {
        v.iter_mut().for_each(|x| *x = from_le(*x));
    }
    ArrayD::from_shape_vec(IxDyn(dims), v).map_err(|e| ReadError::Bad(e.to_string()))
}
