//! [`BundleLayout`]: where every tensor and slice of a tensor bundle goes, known from
//! names, dtypes and shapes alone, before any value exists.

use super::proto::{BundleEntryProto, BundleHeaderProto, Dim, Extent, TensorShapeProto};
use super::proto::{TensorSliceProto, VersionDef};
use super::{slice_key, table, tf_dtype, TensorSlice};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::Shape;
use prost::Message;
use std::collections::BTreeMap;

/// The layout of a tensor bundle with a given number of data files: every whole
/// tensor and every slice of a partitioned variable (a *piece*) with its data file,
/// offset and size, and the index entries, without the values (and so without
/// their checksums).
///
/// Pieces are placed as [`BundleWriter`](super::BundleWriter) places them: in the
/// order they are added, each in the data file with the fewest bytes so far (the
/// lowest-numbered of equals), after the bytes already there. A partitioned
/// variable's full-shape entry lists its slices in the order they were added
/// (partition order, as TF's `Saver` writes them). The same additions give the
/// same layout, so separate processes agree on it without talking to each other.
///
/// ```
/// use varscope::checkpoint::BundleLayout;
/// use varscope::{DType, Shape};
/// let mut layout = BundleLayout::new(2).unwrap();
/// layout.add("big", DType::F32, &Shape::new([100]).unwrap()).unwrap();
/// layout.add("small", DType::F32, &Shape::new([10]).unwrap()).unwrap();
/// let full = Shape::new([4, 2]).unwrap();
/// layout.add_slice("emb", DType::F32, &full, &[0, 0], &Shape::new([2, 2]).unwrap()).unwrap();
/// layout.add_slice("emb", DType::F32, &full, &[2, 0], &Shape::new([2, 2]).unwrap()).unwrap();
/// let placed: Vec<(usize, u64)> = layout.pieces().iter().map(|p| (p.shard(), p.offset())).collect();
/// assert_eq!(placed, [(0, 0), (1, 0), (1, 40), (1, 56)]);
/// assert_eq!(layout.shard_sizes(), [400, 72]);
/// assert_eq!(layout.num_entries(), 5); // big, small, emb and its two slices
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BundleLayout {
    num_shards: usize,
    entries: BTreeMap<Vec<u8>, BundleEntryProto>,
    pieces: Vec<BundlePiece>,
    /// For each sliced variable's full entry: its first piece (the part that holds it).
    sliced: BTreeMap<Vec<u8>, usize>,
    shard_bytes: Vec<u64>,
}

/// One piece of a [`BundleLayout`]: a whole tensor or one slice of a partitioned
/// variable, stored contiguously in one data file.
///
/// ```
/// use varscope::checkpoint::BundleLayout;
/// use varscope::{DType, Shape};
/// let mut layout = BundleLayout::new(1).unwrap();
/// let full = Shape::new([6]).unwrap();
/// layout.add_slice("v", DType::I64, &full, &[4], &Shape::new([2]).unwrap()).unwrap();
/// let p = &layout.pieces()[0];
/// assert_eq!((p.name(), p.dtype(), p.shape().dims()), ("v", DType::I64, &[2][..]));
/// assert_eq!((p.shard(), p.offset(), p.size()), (0, 0, 16));
/// assert_eq!(p.slice().unwrap().offset, [4]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundlePiece {
    name: String,
    key: Vec<u8>,
    dtype: DType,
    shape: Shape,
    slice: Option<TensorSlice>,
    shard: usize,
    offset: u64,
    size: u64,
}

impl BundlePiece {
    /// The tensor's name (a partitioned variable's name for a slice).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The piece's own shape (a slice's shape for a slice).
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// Where the slice lies in its variable; `None` for a whole tensor.
    pub fn slice(&self) -> Option<&TensorSlice> {
        self.slice.as_ref()
    }

    /// The data file holding the bytes.
    pub fn shard(&self) -> usize {
        self.shard
    }

    /// Byte offset in that data file.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Number of bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The index key of the piece.
    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }
}

impl BundleLayout {
    /// An empty layout with `num_shards` data files (1 to 99999).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for another number of data files.
    ///
    /// ```
    /// use varscope::checkpoint::BundleLayout;
    /// assert!(BundleLayout::new(0).is_err());
    /// assert_eq!(BundleLayout::new(3).unwrap().shard_sizes(), [0, 0, 0]);
    /// ```
    pub fn new(num_shards: usize) -> Result<BundleLayout> {
        if num_shards == 0 || num_shards > 99_999 {
            return Err(Error::invalid_arg(format!(
                "a bundle needs 1 to 99999 data shards, not {num_shards}"
            )));
        }
        Ok(BundleLayout {
            num_shards,
            entries: BTreeMap::new(),
            pieces: Vec::new(),
            sliced: BTreeMap::new(),
            shard_bytes: vec![0; num_shards],
        })
    }

    /// Number of data files.
    pub fn num_shards(&self) -> usize {
        self.num_shards
    }

    /// Every piece, in the order added.
    pub fn pieces(&self) -> &[BundlePiece] {
        &self.pieces
    }

    /// The size of every data file.
    pub fn shard_sizes(&self) -> &[u64] {
        &self.shard_bytes
    }

    /// Number of entries of the index (besides its header): one per piece and one per
    /// partitioned variable.
    pub fn num_entries(&self) -> usize {
        self.entries.len()
    }

    /// Total bytes of the data files.
    pub fn data_bytes(&self) -> u64 {
        self.shard_bytes.iter().fold(0, |a, &b| a.saturating_add(b))
    }

    fn lightest_shard(&self) -> usize {
        (0..self.num_shards)
            .min_by_key(|&i| self.shard_bytes[i])
            .unwrap_or(0)
    }

    /// Adds the whole tensor `name`; returns the index of its piece.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a duplicate or empty name.
    ///
    /// ```
    /// use varscope::checkpoint::BundleLayout;
    /// use varscope::{DType, Shape};
    /// let mut layout = BundleLayout::new(1).unwrap();
    /// assert_eq!(layout.add("w", DType::F32, &Shape::scalar()).unwrap(), 0);
    /// assert!(layout.add("w", DType::F32, &Shape::scalar()).is_err()); // duplicate
    /// ```
    pub fn add(&mut self, name: &str, dtype: DType, shape: &Shape) -> Result<usize> {
        self.add_to(name, dtype, shape, None)
    }

    /// [`BundleLayout::add`] into data file `shard`, or the lightest one.
    pub(crate) fn add_to(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &Shape,
        shard: Option<usize>,
    ) -> Result<usize> {
        if name.is_empty() {
            return Err(Error::invalid_arg("a bundle tensor needs a name"));
        }
        if self.entries.contains_key(name.as_bytes()) {
            return Err(Error::invalid_arg(format!(
                "duplicate tensor name '{name}' in a bundle"
            )));
        }
        let key = name.as_bytes().to_vec();
        let index = self.place(name, key.clone(), dtype, shape, None, shard)?;
        let entry = self.data_entry(index);
        self.entries.insert(key, entry);
        Ok(index)
    }

    /// Adds the slice at `offset`, of shape `shape`, of the partitioned variable
    /// `name` of shape `full_shape`; returns the index of its piece. A slice covering
    /// the whole variable is added as a whole tensor, as TF does.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the slice does not lie within `full_shape`, its
    /// dtype or the full shape differs from earlier slices of `name`, `name` was added
    /// whole, or the slice was added before.
    ///
    /// ```
    /// use varscope::checkpoint::BundleLayout;
    /// use varscope::{DType, Shape};
    /// let mut layout = BundleLayout::new(1).unwrap();
    /// let full = Shape::new([4]).unwrap();
    /// let half = Shape::new([2]).unwrap();
    /// layout.add_slice("v", DType::F32, &full, &[0], &half).unwrap();
    /// assert!(layout.add_slice("v", DType::F32, &full, &[3], &half).is_err()); // outside
    /// assert!(layout.add_slice("v", DType::F64, &full, &[2], &half).is_err()); // dtype
    /// ```
    pub fn add_slice(
        &mut self,
        name: &str,
        dtype: DType,
        full_shape: &Shape,
        offset: &[usize],
        shape: &Shape,
    ) -> Result<usize> {
        self.add_slice_to(name, dtype, full_shape, offset, shape, None)
    }

    /// [`BundleLayout::add_slice`] into data file `shard`, or the lightest one.
    pub(crate) fn add_slice_to(
        &mut self,
        name: &str,
        dtype: DType,
        full_shape: &Shape,
        offset: &[usize],
        shape: &Shape,
        shard: Option<usize>,
    ) -> Result<usize> {
        let slice = TensorSlice {
            offset: offset.to_vec(),
            shape: shape.dims().to_vec(),
        };
        let bad = |m: String| Error::invalid_arg(format!("slice {slice:?} of {name}: {m}"));
        if !slice.lies_within(full_shape.dims()) {
            return Err(bad(format!("does not lie within {full_shape}")));
        }
        if slice == TensorSlice::full(full_shape.dims()) {
            return self.add_to(name, dtype, shape, shard);
        }
        let tf = tf_dtype(dtype);
        let full_proto = shape_proto(full_shape.dims());
        if let Some(e) = self.entries.get(name.as_bytes()) {
            if e.slices.is_empty() {
                return Err(bad("the variable was added whole".into()));
            }
            if e.dtype != tf || e.shape.as_ref() != Some(&full_proto) {
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
        let index = self.place(name, key.clone(), dtype, shape, Some(slice.clone()), shard)?;
        let entry = self.data_entry(index);
        self.entries.insert(key, entry);
        let full_key = name.as_bytes().to_vec();
        self.sliced.entry(full_key.clone()).or_insert(index);
        let full = self
            .entries
            .entry(full_key)
            .or_insert_with(|| BundleEntryProto {
                dtype: tf,
                shape: Some(full_proto),
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
        Ok(index)
    }

    fn place(
        &mut self,
        name: &str,
        key: Vec<u8>,
        dtype: DType,
        shape: &Shape,
        slice: Option<TensorSlice>,
        shard: Option<usize>,
    ) -> Result<usize> {
        let shard = match shard {
            Some(s) if s >= self.num_shards => {
                return Err(Error::invalid_arg(format!(
                    "data shard {s} of a bundle with {}",
                    self.num_shards
                )))
            }
            Some(s) => s,
            None => self.lightest_shard(),
        };
        let size = (shape.num_elements() as u64).saturating_mul(dtype.size() as u64);
        let offset = self.shard_bytes[shard];
        self.shard_bytes[shard] = offset.saturating_add(size);
        self.pieces.push(BundlePiece {
            name: name.to_string(),
            key,
            dtype,
            shape: shape.clone(),
            slice,
            shard,
            offset,
            size,
        });
        Ok(self.pieces.len() - 1)
    }

    fn data_entry(&self, index: usize) -> BundleEntryProto {
        let p = &self.pieces[index];
        BundleEntryProto {
            dtype: tf_dtype(p.dtype),
            shape: Some(shape_proto(p.shape.dims())),
            shard_id: p.shard as i32,
            offset: p.offset as i64,
            size: p.size as i64,
            crc32c: 0,
            slices: Vec::new(),
        }
    }

    /// A fingerprint of the whole layout: the number of data files and every entry
    /// (names, dtypes, shapes, slices, files, offsets, sizes). Layouts of other
    /// models or shard counts differ in it (values do not enter it).
    ///
    /// ```
    /// use varscope::checkpoint::BundleLayout;
    /// use varscope::{DType, Shape};
    /// let make = |n: usize, dims: &[usize]| {
    ///     let mut l = BundleLayout::new(n).unwrap();
    ///     l.add("w", DType::F32, &Shape::new(dims).unwrap()).unwrap();
    ///     l.fingerprint()
    /// };
    /// assert_eq!(make(2, &[3]), make(2, &[3]));
    /// assert_ne!(make(2, &[3]), make(3, &[3]));
    /// assert_ne!(make(2, &[3]), make(2, &[4]));
    /// ```
    pub fn fingerprint(&self) -> u64 {
        fingerprint_of(self.num_shards, self.entries.iter())
    }

    /// The entries without checksums, by key.
    pub(crate) fn entries(&self) -> &BTreeMap<Vec<u8>, BundleEntryProto> {
        &self.entries
    }

    /// The piece whose part holds the full entry of a sliced variable, by key.
    pub(crate) fn sliced_owners(&self) -> &BTreeMap<Vec<u8>, usize> {
        &self.sliced
    }

    /// The entries with the checksums of the pieces' bytes (`crcs[i]`: the unmasked
    /// CRC32C of piece `i`).
    pub(crate) fn entries_with_crcs(
        &self,
        crcs: &[u32],
    ) -> Result<BTreeMap<Vec<u8>, BundleEntryProto>> {
        if crcs.len() != self.pieces.len() {
            return Err(Error::invalid_arg(format!(
                "{} checksums for {} pieces of a bundle",
                crcs.len(),
                self.pieces.len()
            )));
        }
        let mut entries = self.entries.clone();
        for (p, &crc) in self.pieces.iter().zip(crcs) {
            if let Some(e) = entries.get_mut(&p.key) {
                e.crc32c = table::mask(crc);
            }
        }
        Ok(entries)
    }
}

/// FNV-1a over the number of shards and every (key, entry without checksum).
pub(crate) fn fingerprint_of<'a>(
    num_shards: usize,
    entries: impl Iterator<Item = (&'a Vec<u8>, &'a BundleEntryProto)>,
) -> u64 {
    fn feed(h: &mut u64, bytes: &[u8]) {
        for &b in bytes {
            *h ^= u64::from(b);
            *h = h.wrapping_mul(0x100_0000_01b3);
        }
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    feed(&mut h, &(num_shards as u64).to_le_bytes());
    for (k, e) in entries {
        let mut e = e.clone();
        e.crc32c = 0;
        let v = e.encode_to_vec();
        feed(&mut h, &(k.len() as u64).to_le_bytes());
        feed(&mut h, k);
        feed(&mut h, &(v.len() as u64).to_le_bytes());
        feed(&mut h, &v);
    }
    h
}

/// The bytes of a bundle's index: the header (`num_shards`) and `entries`, as TF
/// writes them.
pub(crate) fn index_bytes(
    num_shards: usize,
    entries: &BTreeMap<Vec<u8>, BundleEntryProto>,
    what: &std::path::Path,
) -> Result<Vec<u8>> {
    let mut tb = table::TableBuilder::default();
    let header = BundleHeaderProto {
        num_shards: num_shards as i32,
        endianness: 0,
        version: Some(VersionDef {
            producer: 1,
            ..VersionDef::default()
        }),
    };
    let table_err = |m: String| Error::invalid_arg(format!("{}: {m}", what.display()));
    tb.add(b"", &header.encode_to_vec()).map_err(table_err)?;
    for (k, e) in entries {
        tb.add(k, &e.encode_to_vec()).map_err(table_err)?;
    }
    Ok(tb.finish())
}

pub(crate) fn shape_proto(dims: &[usize]) -> TensorShapeProto {
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
