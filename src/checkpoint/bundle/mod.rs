//! TensorFlow's tensor bundle (checkpoint format V2), read and written natively: no
//! libtensorflow, no Python, no protoc.
//!
//! A bundle at prefix `P` is `P.index`, an immutable sorted table (LevelDB's table
//! format) mapping tensor names to `BundleEntryProto`s (the empty key holds the
//! `BundleHeaderProto`: shard count, endianness, version), and the data files
//! `P.data-00000-of-0000N` holding the raw little-endian bytes. A variable
//! partitioned the way TF's `Saver` writes it has one full-shape entry listing its
//! slices, and each slice is stored under TF's slice key
//! ([`slice_key`]: the ordered-code encoding of name and extents).
//!
//! * [`BundleReader`] reads the index once (footer magic, every block's masked
//!   CRC32C, key order, every entry validated against the data files' sizes) and reads
//!   tensor data with positioned reads straight into the destination buffer, checking
//!   each tensor's CRC32C. It gives a whole tensor (assembled from its slices) or any
//!   slice of one.
//! * [`BundleWriter`] writes a bundle with any number of data shards, whole tensors
//!   and slices, atomically (temporary files beside the targets, synced, renamed, the
//!   index last).
//!
//! ```
//! use varscope::checkpoint::{BundleReader, BundleWriter, TensorSlice};
//! use varscope::{DType, Shape, Tensor};
//! let dir = std::env::temp_dir().join(format!("varscope-doc-bundle-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let prefix = dir.join("model.ckpt");
//! let w = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2]).unwrap();
//! let top = Tensor::from_vec(vec![0i64, 1, 2, 3], [2, 2]).unwrap();
//! let bottom = Tensor::from_vec(vec![4i64, 5], [1, 2]).unwrap();
//! let mut writer = BundleWriter::new(&prefix, 2).unwrap();
//! writer.add("net/w", &w).unwrap();
//! let full = Shape::new([3, 2]).unwrap();
//! writer.add_slice("net/emb", &full, &[0, 0], &top).unwrap();
//! writer.add_slice("net/emb", &full, &[2, 0], &bottom).unwrap();
//! writer.finish().unwrap();
//!
//! let reader = BundleReader::open(&prefix).unwrap();
//! assert_eq!(reader.num_shards(), 2);
//! assert_eq!(reader.read("net/w").unwrap(), w);
//! let emb = reader.entry("net/emb").unwrap();
//! assert_eq!((emb.dtype, emb.slices.len()), (DType::I64, 2));
//! let whole = reader.read("net/emb").unwrap();
//! assert_eq!(whole.to_f64_vec(), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
//! let rows = TensorSlice { offset: vec![1, 0], shape: vec![2, 2] };
//! assert_eq!(reader.read_slice("net/emb", &rows).unwrap().to_f64_vec(), vec![2.0, 3.0, 4.0, 5.0]);
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod layout;
mod part;
mod proto;
mod reader;
mod stream;
mod table;
mod writer;

use crate::dtype::DType;
use std::path::{Path, PathBuf};

pub use self::layout::{BundleLayout, BundlePiece};
pub use self::part::{bundle_part_path, merge_tf_bundle, MergeReport};
pub(crate) use self::reader::{copy_region, masked_crc32c, StoredPiece};
pub use self::reader::{BundleEntry, BundleReader};
pub use self::stream::{write_tf_bundle_part, write_tf_bundle_streamed};
pub use self::writer::BundleWriter;

/// A slice of a tensor: where it starts and its shape, one number per dimension.
///
/// ```
/// use varscope::checkpoint::TensorSlice;
/// let s = TensorSlice { offset: vec![3, 0], shape: vec![2, 4] };
/// assert!(s.lies_within(&[5, 4]));
/// assert!(!s.lies_within(&[4, 4]));
/// assert_eq!(s.num_elements(), Some(8));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorSlice {
    /// Start of the slice in every dimension.
    pub offset: Vec<usize>,
    /// Length of the slice in every dimension.
    pub shape: Vec<usize>,
}

impl TensorSlice {
    /// The slice covering all of a tensor of shape `dims`.
    ///
    /// ```
    /// use varscope::checkpoint::TensorSlice;
    /// let s = TensorSlice::full(&[3, 4]);
    /// assert_eq!((s.offset, s.shape), (vec![0, 0], vec![3, 4]));
    /// ```
    pub fn full(dims: &[usize]) -> TensorSlice {
        TensorSlice {
            offset: vec![0; dims.len()],
            shape: dims.to_vec(),
        }
    }

    /// Whether the slice has `dims`' rank and lies inside a tensor of shape `dims`.
    ///
    /// ```
    /// use varscope::checkpoint::TensorSlice;
    /// let s = TensorSlice { offset: vec![2], shape: vec![2] };
    /// assert!(s.lies_within(&[4]));
    /// assert!(!s.lies_within(&[3]));
    /// assert!(!s.lies_within(&[4, 1])); // rank differs
    /// ```
    pub fn lies_within(&self, dims: &[usize]) -> bool {
        self.offset.len() == dims.len()
            && self.shape.len() == dims.len()
            && (0..dims.len()).all(|i| {
                self.offset[i]
                    .checked_add(self.shape[i])
                    .is_some_and(|e| e <= dims[i])
            })
    }

    /// Number of elements, `None` on overflow.
    ///
    /// ```
    /// use varscope::checkpoint::TensorSlice;
    /// assert_eq!(TensorSlice::full(&[2, 3]).num_elements(), Some(6));
    /// assert_eq!(TensorSlice::full(&[usize::MAX, 2]).num_elements(), None);
    /// ```
    pub fn num_elements(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
    }

    /// The overlap of two slices of the same rank, if they overlap at all.
    pub(crate) fn intersect(&self, other: &TensorSlice) -> Option<TensorSlice> {
        let mut offset = Vec::with_capacity(self.offset.len());
        let mut shape = Vec::with_capacity(self.offset.len());
        for i in 0..self.offset.len() {
            let lo = self.offset[i].max(*other.offset.get(i)?);
            let hi = (self.offset[i] + self.shape[i]).min(other.offset[i] + *other.shape.get(i)?);
            if hi <= lo {
                return None;
            }
            offset.push(lo);
            shape.push(hi - lo);
        }
        Some(TensorSlice { offset, shape })
    }
}

/// The index file of the bundle at `prefix`: `PREFIX.index`.
///
/// ```
/// use std::path::Path;
/// use varscope::checkpoint::{bundle_data_path, bundle_index_path};
/// assert_eq!(bundle_index_path(Path::new("m/model.ckpt")), Path::new("m/model.ckpt.index"));
/// assert_eq!(
///     bundle_data_path(Path::new("m/model.ckpt"), 1, 2),
///     Path::new("m/model.ckpt.data-00001-of-00002")
/// );
/// ```
pub fn bundle_index_path(prefix: &Path) -> PathBuf {
    suffixed(prefix, ".index")
}

/// Data file `shard` of `num_shards` of the bundle at `prefix`:
/// `PREFIX.data-%05d-of-%05d` (TF's `naming.cc`).
///
/// ```
/// use std::path::Path;
/// use varscope::checkpoint::bundle_data_path;
/// let p = bundle_data_path(Path::new("model.ckpt"), 0, 1);
/// assert_eq!(p, Path::new("model.ckpt.data-00000-of-00001"));
/// ```
pub fn bundle_data_path(prefix: &Path, shard: usize, num_shards: usize) -> PathBuf {
    suffixed(prefix, &format!(".data-{shard:05}-of-{num_shards:05}"))
}

fn suffixed(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// TF's key for a slice of the tensor `name` (`checkpoint::EncodeTensorNameSlice`):
/// ordered-code `0`, the name, the rank, then start and length of every dimension
/// (`-1` for a full extent, which varscope never writes but TF may).
pub(crate) fn slice_key(name: &str, extents: &[(i64, i64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 4 + 4 * extents.len());
    write_num_increasing(&mut out, 0);
    for &b in name.as_bytes() {
        match b {
            0x00 => out.extend_from_slice(&[0x00, 0xff]),
            0xff => out.extend_from_slice(&[0xff, 0x00]),
            b => out.push(b),
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
    write_num_increasing(&mut out, extents.len() as u64);
    for &(start, length) in extents {
        write_signed_num_increasing(&mut out, start);
        write_signed_num_increasing(&mut out, length);
    }
    out
}

/// OrderedCode's `WriteNumIncreasing`: a length byte, then the big-endian value without
/// leading zero bytes.
fn write_num_increasing(out: &mut Vec<u8>, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    out.push((8 - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

/// OrderedCode's `WriteSignedNumIncreasing`: a sign bit, as many length bits as extra
/// bytes follow, then the value (two's complement) in network order; 1 to 10 bytes.
fn write_signed_num_increasing(out: &mut Vec<u8>, v: i64) {
    let x = if v < 0 { !v } else { v } as u64;
    // Bits needed besides the sign: 1 + floor(log2 x), 0 for x == 0.
    let bits = 64 - x.leading_zeros() as usize;
    // n bytes hold n*7 - 1 value bits.
    let len = ((bits + 1).div_ceil(7)).max(1);
    if len == 1 {
        out.push(0x80 ^ (v as u8));
        return;
    }
    let sign = if v < 0 { 0xffu8 } else { 0 };
    let mut buf = [sign; 10];
    buf[2..].copy_from_slice(&v.to_be_bytes());
    let begin = 10 - len;
    // Header bits (`kLengthToHeaderBits`): `len - 1` ones after the sign bit.
    const HEADER: [[u8; 2]; 11] = [
        [0, 0],
        [0x80, 0],
        [0xc0, 0],
        [0xe0, 0],
        [0xf0, 0],
        [0xf8, 0],
        [0xfc, 0],
        [0xfe, 0],
        [0xff, 0],
        [0xff, 0x80],
        [0xff, 0xc0],
    ];
    let [h0, h1] = HEADER[len];
    buf[begin] ^= h0;
    buf[begin + 1] ^= h1;
    out.extend_from_slice(&buf[begin..]);
}

/// TF's `DataType` number of a dtype.
pub(crate) fn tf_dtype(d: DType) -> i32 {
    use proto::data_type::*;
    match d {
        DType::F16 => DT_HALF,
        DType::BF16 => DT_BFLOAT16,
        DType::F32 => DT_FLOAT,
        DType::F64 => DT_DOUBLE,
        DType::I32 => DT_INT32,
        DType::I64 => DT_INT64,
        DType::Bool => DT_BOOL,
    }
}

/// The dtype of a TF `DataType` number, if varscope has it.
pub(crate) fn dtype_of_tf(n: i32) -> Option<DType> {
    use proto::data_type::*;
    Some(match n {
        DT_HALF => DType::F16,
        DT_BFLOAT16 => DType::BF16,
        DT_FLOAT => DType::F32,
        DT_DOUBLE => DType::F64,
        DT_INT32 => DType::I32,
        DT_INT64 => DType::I64,
        DT_BOOL => DType::Bool,
        _ => return None,
    })
}

/// Whether `path` is a bundle's index file: its last 8 bytes are the table magic.
pub(crate) fn looks_like_index(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let Ok(len) = f.metadata().map(|m| m.len()) else {
        return false;
    };
    if len < table::FOOTER_LEN as u64 || f.seek(SeekFrom::End(-8)).is_err() {
        return false;
    }
    let mut tail = [0u8; 8];
    f.read_exact(&mut tail).is_ok() && table::has_magic(&tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_ordered_code_matches_tf_examples() {
        let enc = |v: i64| {
            let mut o = Vec::new();
            write_signed_num_increasing(&mut o, v);
            o
        };
        // From ordered_code.cc's comments and tests.
        assert_eq!(enc(0x424242), vec![0xf0, 0x42, 0x42, 0x42]);
        assert_eq!(enc(-0x800), vec![0x38, 0x00]);
        assert_eq!(enc(0), vec![0x80]);
        assert_eq!(enc(-1), vec![0x7f]);
        assert_eq!(enc(63), vec![0xbf]);
        assert_eq!(enc(64), vec![0xc0, 0x40]);
        assert_eq!(enc(-64), vec![0x40]);
        assert_eq!(enc(-65), vec![0x3f, 0xbf]);
        let mut max = vec![0xff, 0xc0];
        max.extend_from_slice(&i64::MAX.to_be_bytes());
        assert_eq!(enc(i64::MAX), max);
        assert_eq!(enc(i64::MIN).len(), 10);
        // Order is preserved.
        let vals = [
            i64::MIN,
            -1 << 40,
            -65,
            -64,
            -1,
            0,
            1,
            63,
            64,
            8191,
            8192,
            1 << 50,
            i64::MAX,
        ];
        for w in vals.windows(2) {
            assert!(enc(w[0]) < enc(w[1]), "{} < {}", w[0], w[1]);
        }
    }

    #[test]
    fn slice_key_matches_the_key_tf_wrote() {
        // The key TF's Saver wrote for `body/emb` rows 0..3 of (7, 2) (in the fixture).
        let mut expected = vec![0x00];
        expected.extend_from_slice(b"body/emb");
        expected.extend_from_slice(&[0x00, 0x01, 0x01, 0x02, 0x80, 0x83, 0x80, 0x82]);
        assert_eq!(slice_key("body/emb", &[(0, 3), (0, 2)]), expected);
    }
}
