//! Partial indices of a bundle written by several processes, and their merge into
//! the bundle's index.
//!
//! A part, `PREFIX.index.part-0000I-of-0000N` ([`bundle_part_path`]), is written
//! beside data file `I` by [`write_tf_bundle_part`](super::write_tf_bundle_part).
//! Its format:
//!
//! | bytes | contents |
//! |---|---|
//! | 8 | the magic `VSBPART1` |
//! | n | a protocol buffer: number of data files (field 1), this file's number (2), the layout's fingerprint (3, fixed64), the source of the values (4, string), the data file's size (5), the number of entries of the whole index (6), and the entries of this part (7: key bytes, `BundleEntryProto`) in key order |
//! | 4 | the masked CRC32C of the protocol buffer, little-endian |
//!
//! [`merge_tf_bundle`] checks that all `N` parts are there and agree, then writes
//! the index TF's `Saver` would have written for the whole bundle.

use super::layout::{fingerprint_of, index_bytes};
use super::proto::BundleEntryProto;
use super::{bundle_data_path, bundle_index_path, suffixed, table};
use crate::checkpoint::atomic::{AtomicFile, WriteOptions};
use crate::error::{Error, Result};
use crate::tensor::try_vec;
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"VSBPART1";

/// The largest part read (its entries are small: this is millions of them).
const MAX_PART_BYTES: u64 = 1 << 30;

/// The partial index of data file `shard` of `num_shards`:
/// `PREFIX.index.part-%05d-of-%05d`.
///
/// ```
/// use std::path::Path;
/// use varscope::checkpoint::bundle_part_path;
/// let p = bundle_part_path(Path::new("ckpt/model"), 3, 8);
/// assert_eq!(p, Path::new("ckpt/model.index.part-00003-of-00008"));
/// ```
pub fn bundle_part_path(prefix: &Path, shard: usize, num_shards: usize) -> PathBuf {
    suffixed(
        prefix,
        &format!(".index.part-{shard:05}-of-{num_shards:05}"),
    )
}

#[derive(Clone, PartialEq, prost::Message)]
struct PartProto {
    #[prost(uint64, tag = "1")]
    num_shards: u64,
    #[prost(uint64, tag = "2")]
    shard: u64,
    #[prost(fixed64, tag = "3")]
    layout_fingerprint: u64,
    #[prost(string, tag = "4")]
    source: String,
    #[prost(uint64, tag = "5")]
    data_size: u64,
    #[prost(uint64, tag = "6")]
    layout_entries: u64,
    #[prost(message, repeated, tag = "7")]
    entries: Vec<PartEntryProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PartEntryProto {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(message, optional, tag = "2")]
    entry: Option<BundleEntryProto>,
}

/// What a part holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PartContents {
    pub num_shards: usize,
    pub shard: usize,
    pub layout_fingerprint: u64,
    pub source: String,
    pub data_size: u64,
    pub layout_entries: u64,
    pub entries: Vec<(Vec<u8>, BundleEntryProto)>,
}

/// The bytes of a part file.
pub(crate) fn encode_part(p: &PartContents) -> Vec<u8> {
    let proto = PartProto {
        num_shards: p.num_shards as u64,
        shard: p.shard as u64,
        layout_fingerprint: p.layout_fingerprint,
        source: p.source.clone(),
        data_size: p.data_size,
        layout_entries: p.layout_entries,
        entries: p
            .entries
            .iter()
            .map(|(k, e)| PartEntryProto {
                key: k.clone(),
                entry: Some(e.clone()),
            })
            .collect(),
    };
    let body = proto.encode_to_vec();
    let mut out = Vec::with_capacity(body.len() + 12);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&body);
    out.extend_from_slice(&table::mask(crc32c::crc32c(&body)).to_le_bytes());
    out
}

/// Reads and checks a part file.
fn read_part(path: &Path) -> Result<PartContents> {
    let corrupt = |m: &str| Error::Checkpoint {
        message: format!("{}: {m}", path.display()),
    };
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
    if len > MAX_PART_BYTES {
        return Err(corrupt("too large for a partial bundle index"));
    }
    let mut bytes = try_vec(len as usize)?;
    f.read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    if bytes.len() < MAGIC.len() + 4 || !bytes.starts_with(MAGIC) {
        return Err(corrupt("not a partial bundle index (no VSBPART1 magic)"));
    }
    let (head, crc) = bytes.split_at(bytes.len() - 4);
    let body = &head[MAGIC.len()..];
    let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if table::mask(crc32c::crc32c(body)) != stored {
        return Err(corrupt("checksum mismatch (the file is damaged)"));
    }
    let p = PartProto::decode(body).map_err(|e| corrupt(&format!("malformed: {e}")))?;
    let mut entries = Vec::with_capacity(p.entries.len().min(1 << 20));
    for e in p.entries {
        let entry = e
            .entry
            .ok_or_else(|| corrupt("an entry without contents"))?;
        entries.push((e.key, entry));
    }
    Ok(PartContents {
        num_shards: usize::try_from(p.num_shards).unwrap_or(usize::MAX),
        shard: usize::try_from(p.shard).unwrap_or(usize::MAX),
        layout_fingerprint: p.layout_fingerprint,
        source: p.source,
        data_size: p.data_size,
        layout_entries: p.layout_entries,
        entries,
    })
}

/// What [`merge_tf_bundle`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeReport {
    /// Number of data files (and parts merged).
    pub num_shards: usize,
    /// Entries of the index written (besides its header).
    pub entries: usize,
    /// Size of the index written.
    pub index_bytes: u64,
    /// Total size of the data files.
    pub data_bytes: u64,
    /// What the parts say the values came from.
    pub source: String,
}

/// The parts found for `prefix`: (shard, number of shards, path), sorted.
fn find_parts(prefix: &Path) -> Result<Vec<(usize, usize, PathBuf)>> {
    let dir = match prefix.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = prefix
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::invalid_arg(format!("{}: not a prefix", prefix.display())))?;
    let lead = format!("{base}.index.part-");
    let mut out = Vec::new();
    let listing = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
    for item in listing {
        let item = item.map_err(|e| Error::io(&dir, e))?;
        let name = item.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&lead) else {
            continue;
        };
        let Some((i, n)) = rest.split_once("-of-") else {
            continue;
        };
        let digits = |s: &str| s.len() >= 5 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(i) || !digits(n) {
            continue;
        }
        if let (Ok(i), Ok(n)) = (i.parse::<usize>(), n.parse::<usize>()) {
            out.push((i, n, bundle_part_path(prefix, i, n)));
        }
    }
    out.sort();
    Ok(out)
}

/// Writes the index `PREFIX.index` of a bundle whose data files and partial indices
/// were written by [`write_tf_bundle_part`](super::write_tf_bundle_part) (by any
/// number of processes), then removes the partial indices, as TF's sharded save
/// merges and removes its temporary pieces. The index is the one a single process
/// writing the whole bundle writes, byte for byte.
///
/// Before anything is written it checks that every part `0..N` is there, that all
/// agree (same number of data files, layout fingerprint and source), that no entry
/// is in two parts, that together they hold the whole layout, and that every data
/// file exists with the size its part gives. The index is written atomically.
///
/// An existing `PREFIX.index` is replaced only with `replace` (a bundle is already
/// there: merging again would mix files of two builds); `options` tells whether a
/// target that is not a regular file may be replaced.
///
/// ```
/// use varscope::checkpoint::{merge_tf_bundle, write_tf_bundle_part, BundleLayout, StreamOptions, WriteOptions};
/// use varscope::{DType, Error, Shape, Tensor};
/// let mut layout = BundleLayout::new(3).unwrap();
/// for name in ["a", "b", "c"] {
///     layout.add(name, DType::F32, &Shape::new([5]).unwrap()).unwrap();
/// }
/// let zeros = |_: usize, _: usize, _: &mut Tensor| -> varscope::Result<()> { Ok(()) };
/// let dir = std::env::temp_dir().join(format!("varscope-doc-merge-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let prefix = dir.join("m");
/// for shard in [0, 2] {
///     write_tf_bundle_part(&prefix, &layout, shard, "", &StreamOptions::new(), &zeros, &|_| {}).unwrap();
/// }
/// let e = merge_tf_bundle(&prefix, false, &WriteOptions::new()).unwrap_err();
/// assert!(matches!(e, Error::InvalidArgument { .. }));
/// assert!(e.to_string().contains("missing part 1 of 3"), "{e}");
/// assert!(!dir.join("m.index").exists());
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] when parts are missing (or there are none) or
/// `PREFIX.index` exists and `replace` is false; [`Error::Checkpoint`] for damaged,
/// foreign or disagreeing parts and data files missing or of the wrong size; [`Error::Io`] / [`Error::NotRegularFile`] reading or writing. No index is
/// written and no part removed then.
pub fn merge_tf_bundle(
    prefix: &Path,
    replace: bool,
    options: &WriteOptions,
) -> Result<MergeReport> {
    let index_path = bundle_index_path(prefix);
    let bad = |m: String| Error::Checkpoint {
        message: format!("{}: {m}", prefix.display()),
    };
    let incomplete = |m: String| {
        Error::invalid_arg(format!(
            "cannot merge the bundle at {}: {m}",
            prefix.display()
        ))
    };
    let found = find_parts(prefix)?;
    let exists = std::fs::symlink_metadata(&index_path).is_ok();
    if found.is_empty() {
        let also = if exists {
            format!(" ({} exists: merged already?)", index_path.display())
        } else {
            String::new()
        };
        return Err(incomplete(format!(
            "no partial indices ({}){also}",
            bundle_part_path(prefix, 0, 1)
                .display()
                .to_string()
                .replace("00000-of-00001", "*-of-*")
        )));
    }
    if exists && !replace {
        return Err(Error::invalid_arg(format!(
            "{} exists already: remove it or pass --force to replace it",
            index_path.display()
        )));
    }
    let counts: BTreeSet<usize> = found.iter().map(|(_, n, _)| *n).collect();
    if counts.len() > 1 {
        let list: Vec<String> = counts.iter().map(|n| n.to_string()).collect();
        return Err(bad(format!(
            "partial indices of different shard counts ({}): they are of different builds",
            list.join(", ")
        )));
    }
    let n = found[0].1;
    if n == 0 || n > 99_999 {
        return Err(bad(format!("partial indices of {n} shards")));
    }
    let have: BTreeSet<usize> = found.iter().map(|(i, _, _)| *i).collect();
    let missing: Vec<usize> = (0..n).filter(|i| !have.contains(i)).collect();
    if !missing.is_empty() {
        let names: Vec<String> = missing
            .iter()
            .map(|&i| bundle_part_path(prefix, i, n).display().to_string())
            .collect();
        let which: Vec<String> = missing.iter().map(|i| i.to_string()).collect();
        return Err(incomplete(format!(
            "missing part{} {} of {n}: {}",
            if missing.len() == 1 { "" } else { "s" },
            which.join(", "),
            names.join(", ")
        )));
    }
    if let Some((i, _, p)) = found.iter().find(|(i, _, _)| *i >= n) {
        return Err(bad(format!("{}: part {i} of only {n}", p.display())));
    }
    let mut parts = Vec::with_capacity(n);
    for (i, _, path) in &found {
        let p = read_part(path)?;
        if p.num_shards != n || p.shard != *i {
            return Err(Error::Checkpoint {
                message: format!(
                    "{}: holds part {} of {}, not the part its name gives",
                    path.display(),
                    p.shard,
                    p.num_shards
                ),
            });
        }
        parts.push((path.clone(), p));
    }
    let (first_path, first) = &parts[0];
    for (path, p) in &parts[1..] {
        if p.layout_fingerprint != first.layout_fingerprint
            || p.source != first.source
            || p.layout_entries != first.layout_entries
        {
            return Err(bad(format!(
                "{} and {} are parts of different builds (layout {:016x}, '{}' and layout {:016x}, '{}')",
                first_path.display(),
                path.display(),
                first.layout_fingerprint,
                first.source,
                p.layout_fingerprint,
                p.source
            )));
        }
    }
    let mut entries: BTreeMap<Vec<u8>, BundleEntryProto> = BTreeMap::new();
    let mut owner: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    for (i, (path, p)) in parts.iter().enumerate() {
        for (k, e) in &p.entries {
            if let Some(&j) = owner.get(k) {
                return Err(bad(format!(
                    "the entry {} is in both {} and {}",
                    String::from_utf8_lossy(k),
                    parts[j].0.display(),
                    path.display()
                )));
            }
            if e.slices.is_empty() && e.shard_id as i64 != p.shard as i64 {
                return Err(bad(format!(
                    "{}: an entry of data file {} in the part of file {}",
                    path.display(),
                    e.shard_id,
                    p.shard
                )));
            }
            owner.insert(k.clone(), i);
            entries.insert(k.clone(), e.clone());
        }
    }
    if entries.len() as u64 != first.layout_entries
        || fingerprint_of(n, entries.iter()) != first.layout_fingerprint
    {
        return Err(bad(format!(
            "the parts hold {} entries that do not make up their layout of {} entries",
            entries.len(),
            first.layout_entries
        )));
    }
    let mut data_bytes = 0u64;
    let mut wrong = Vec::new();
    for (_, p) in &parts {
        let data = bundle_data_path(prefix, p.shard, n);
        match std::fs::metadata(&data) {
            Ok(m) if m.is_file() && m.len() == p.data_size => {
                data_bytes = data_bytes.saturating_add(m.len());
            }
            Ok(m) => wrong.push(format!(
                "{} has {} bytes, its part says {}",
                data.display(),
                m.len(),
                p.data_size
            )),
            Err(_) => wrong.push(format!("{} is missing", data.display())),
        }
    }
    if !wrong.is_empty() {
        return Err(bad(format!("data files: {}", wrong.join("; "))));
    }
    let index = index_bytes(n, &entries, &index_path)?;
    let mut out = AtomicFile::create(&index_path, options)?;
    out.file_mut()
        .write_all(&index)
        .map_err(|e| Error::io(&index_path, e))?;
    out.commit()?;
    for (path, _) in &parts {
        // The index is in place: a part left behind is only clutter.
        let _ = std::fs::remove_file(path);
    }
    Ok(MergeReport {
        num_shards: n,
        entries: entries.len(),
        index_bytes: index.len() as u64,
        data_bytes,
        source: first.source.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{write_tf_bundle_part, BundleLayout, StreamOptions};
    use crate::dtype::DType;
    use crate::shape::Shape;
    use crate::tensor::Tensor;

    #[test]
    fn an_entry_in_two_parts_is_refused() {
        let dir = std::env::temp_dir().join(format!("varscope-part-dup-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let prefix = dir.join("m");
        let mut layout = BundleLayout::new(2).unwrap();
        layout
            .add("a", DType::F32, &Shape::new([4]).unwrap())
            .unwrap();
        layout
            .add("b", DType::F32, &Shape::new([4]).unwrap())
            .unwrap();
        let fill = |_: usize, _: usize, _: &mut Tensor| -> Result<()> { Ok(()) };
        for shard in 0..2 {
            let opts = StreamOptions::new();
            write_tf_bundle_part(&prefix, &layout, shard, "s", &opts, &fill, &|_| {}).unwrap();
        }
        let (p0, p1) = (
            bundle_part_path(&prefix, 0, 2),
            bundle_part_path(&prefix, 1, 2),
        );
        let first = read_part(&p0).unwrap();
        let mut second = read_part(&p1).unwrap();
        assert_eq!((first.entries.len(), second.entries.len()), (1, 1));
        second.entries.insert(0, first.entries[0].clone());
        std::fs::write(&p1, encode_part(&second)).unwrap();
        let e = merge_tf_bundle(&prefix, false, &WriteOptions::new()).unwrap_err();
        assert!(e.to_string().contains("the entry a is in both"), "{e}");
        // An entry left out: the parts do not make up the layout.
        second.entries.clear();
        std::fs::write(&p1, encode_part(&second)).unwrap();
        let e = merge_tf_bundle(&prefix, false, &WriteOptions::new()).unwrap_err();
        assert!(e.to_string().contains("do not make up their layout"), "{e}");
        assert!(!bundle_index_path(&prefix).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
