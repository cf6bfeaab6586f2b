//! Streamed tensor-bundle writes: the layout is known from the shapes
//! ([`BundleLayout`]), so values are produced block by block into the bounded pool
//! of [`StreamOptions`] and written at their final offsets of every data file, each
//! piece's CRC32C computed from its bytes as they are produced. One process writes
//! the whole bundle ([`write_tf_bundle_streamed`]) or one data file and its part of
//! the index ([`write_tf_bundle_part`], merged by
//! [`merge_tf_bundle`](super::merge_tf_bundle)).

use super::layout::{index_bytes, BundleLayout};
use super::part::{bundle_part_path, encode_part, PartContents};
use super::{bundle_data_path, bundle_index_path};
use crate::checkpoint::atomic::AtomicFile;
use crate::checkpoint::stream::{stream_regions, Region, StreamRun};
use crate::checkpoint::{FillFn, StreamOptions, StreamStats};
use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// The regions of the pieces of `layout` in data file `only` (all with `None`), in
/// file order; a region's `source` is its piece's index and its file the shard (0
/// for `only`).
fn regions(layout: &BundleLayout, only: Option<usize>) -> Vec<Region> {
    let mut out: Vec<Region> = layout
        .pieces()
        .iter()
        .enumerate()
        .filter(|(_, p)| only.is_none_or(|s| p.shard() == s))
        .map(|(source, p)| Region {
            file: if only.is_some() { 0 } else { p.shard() },
            start: p.offset(),
            dtype: p.dtype(),
            elements: p.shape().num_elements(),
            source,
        })
        .collect();
    out.sort_by_key(|r| (r.file, r.start, r.source));
    out
}

/// The CRC32C of every piece of `layout` (0 for pieces not in `regions`).
fn piece_crcs(layout: &BundleLayout, regions: &[Region], run: &StreamRun) -> Vec<u32> {
    let mut crcs = vec![0u32; layout.pieces().len()];
    for (r, &c) in regions.iter().zip(&run.crcs) {
        if let Some(slot) = crcs.get_mut(r.source) {
            *slot = c;
        }
    }
    crcs
}

/// Writes the tensor bundle of `layout` at `prefix` (`PREFIX.index` and every
/// `PREFIX.data-*-of-*`) with values from `fill` (called with a piece's index in
/// [`BundleLayout::pieces`]), through the bounded pool of `options`, calling
/// `progress(bytes)` as data bytes are written.
///
/// The bytes are those [`BundleWriter`](super::BundleWriter) writes when given the
/// same tensors in the same order (the layout places them the same way); the files
/// are written atomically as it writes them (data files renamed first, the index
/// last; nothing is left on error and an existing bundle stays intact). A data file
/// without any piece is written empty, as TF does.
///
/// ```
/// use varscope::checkpoint::{write_tf_bundle_streamed, BundleLayout, BundleReader, StreamOptions};
/// use varscope::{DType, Shape, Tensor};
/// let mut layout = BundleLayout::new(2).unwrap();
/// layout.add("ramp", DType::F32, &Shape::new([1000]).unwrap()).unwrap();
/// layout.add("ones", DType::I64, &Shape::new([3]).unwrap()).unwrap();
/// let fill = |piece: usize, first: usize, out: &mut Tensor| -> varscope::Result<()> {
///     match piece {
///         0 => out.view_mut::<f32>().unwrap().iter_mut().enumerate()
///             .for_each(|(i, x)| *x = (first + i) as f32),
///         _ => out.view_mut::<i64>().unwrap().fill(1),
///     }
///     Ok(())
/// };
/// let dir = std::env::temp_dir().join(format!("varscope-doc-tfstream-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let prefix = dir.join("model.ckpt");
/// let opts = StreamOptions::new().pool_bytes(0);
/// write_tf_bundle_streamed(&prefix, &layout, &opts, &fill, &|_| {}).unwrap();
/// let r = BundleReader::open(&prefix).unwrap();
/// assert_eq!(r.read("ramp").unwrap().to_f64_vec()[999], 999.0);
/// assert_eq!(r.read("ones").unwrap().to_f64_vec(), [1.0; 3]);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// # Errors
/// The first error of `fill`, [`Error::Allocation`] for a buffer, [`Error::Io`]
/// writing, syncing or renaming, [`Error::NotRegularFile`] for a target that may
/// not be replaced.
pub fn write_tf_bundle_streamed(
    prefix: &Path,
    layout: &BundleLayout,
    options: &StreamOptions,
    fill: &FillFn<'_>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<StreamStats> {
    let index_path = bundle_index_path(prefix);
    let write = options.write();
    write.check_target(&index_path)?;
    let n = layout.num_shards();
    let mut outs = Vec::with_capacity(n);
    for i in 0..n {
        outs.push(AtomicFile::create(&bundle_data_path(prefix, i, n), write)?);
    }
    let started = Instant::now();
    let regions = regions(layout, None);
    let run = stream_regions(&mut outs, &[], &regions, options, fill, progress, true)?;
    let entries = layout.entries_with_crcs(&piece_crcs(layout, &regions, &run))?;
    let index = index_bytes(n, &entries, &index_path)?;
    let stream_time = started.elapsed();
    let t = Instant::now();
    commit_with(outs, &index_path, &index, options)?;
    let bytes = layout.data_bytes().saturating_add(index.len() as u64);
    Ok(run.stats(bytes, options, stream_time, t.elapsed()))
}

/// Writes `last` (an index) atomically at `last_path`, then renames the data files
/// into place and the index after them, as readers open the index first.
fn commit_with(
    outs: Vec<AtomicFile>,
    last_path: &Path,
    last: &[u8],
    options: &StreamOptions,
) -> Result<()> {
    let mut file = AtomicFile::create(last_path, options.write())?;
    file.file_mut()
        .write_all(last)
        .map_err(|e| Error::io(last_path, e))?;
    for o in outs {
        o.commit()?;
    }
    file.commit()
}

/// Writes data file `shard` of the bundle of `layout` at `prefix`
/// (`PREFIX.data-0000I-of-0000N`, [`bundle_data_path`]) and its part of the index
/// (`PREFIX.index.part-0000I-of-0000N`, [`bundle_part_path`]): the entries of the
/// pieces in that file with their checksums, and the full entries of the
/// partitioned variables whose first slice is there. `source` names what the
/// values come from (for example the spec's hash and the seed): parts of one
/// bundle must agree on it and on the layout, which
/// [`merge_tf_bundle`](super::merge_tf_bundle) checks before it writes the index.
///
/// Only the pieces of that file are computed (`fill` is called with a piece's index
/// in [`BundleLayout::pieces`]), through the bounded pool of `options`. Both files
/// are written atomically (the data file renamed first): a failure leaves neither.
/// A bundle already at `prefix` (its `PREFIX.index`) is refused, since replacing one
/// of its data files would make it inconsistent, unless the write options force the
/// write ([`WriteOptions::force`](crate::checkpoint::WriteOptions::force)): its
/// index is then removed first.
///
/// ```
/// use varscope::checkpoint::{
///     bundle_part_path, merge_tf_bundle, write_tf_bundle_part, BundleLayout, BundleReader,
///     StreamOptions, WriteOptions,
/// };
/// use varscope::{DType, Shape, Tensor};
/// let mut layout = BundleLayout::new(2).unwrap();
/// layout.add("a", DType::F32, &Shape::new([8]).unwrap()).unwrap();
/// layout.add("b", DType::F32, &Shape::new([4]).unwrap()).unwrap();
/// let fill = |piece: usize, _: usize, out: &mut Tensor| -> varscope::Result<()> {
///     out.view_mut::<f32>().unwrap().fill(piece as f32 + 0.5);
///     Ok(())
/// };
/// let dir = std::env::temp_dir().join(format!("varscope-doc-tfpart-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let prefix = dir.join("m");
/// let opts = StreamOptions::new();
/// // Each of these could run on another host sharing the directory.
/// for shard in 0..2 {
///     write_tf_bundle_part(&prefix, &layout, shard, "seed 1", &opts, &fill, &|_| {}).unwrap();
/// }
/// assert!(bundle_part_path(&prefix, 1, 2).is_file());
/// let merged = merge_tf_bundle(&prefix, false, &WriteOptions::new()).unwrap();
/// assert_eq!((merged.num_shards, merged.entries), (2, 2));
/// assert!(!bundle_part_path(&prefix, 1, 2).exists()); // the parts are gone
/// let r = BundleReader::open(&prefix).unwrap();
/// assert_eq!(r.read("b").unwrap().to_f64_vec(), [1.5; 4]);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] for a shard out of range or a bundle already at
/// `prefix`, and those of
/// [`write_tf_bundle_streamed`].
pub fn write_tf_bundle_part(
    prefix: &Path,
    layout: &BundleLayout,
    shard: usize,
    source: &str,
    options: &StreamOptions,
    fill: &FillFn<'_>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<StreamStats> {
    let n = layout.num_shards();
    if shard >= n {
        return Err(Error::invalid_arg(format!(
            "shard {shard} of a bundle with {n} data files (shards are 0 to {})",
            n - 1
        )));
    }
    let part_path = bundle_part_path(prefix, shard, n);
    let write = options.write();
    write.check_target(&part_path)?;
    let index_path = bundle_index_path(prefix);
    if std::fs::symlink_metadata(&index_path).is_ok() {
        if !write.is_force() {
            return Err(Error::invalid_arg(format!(
                "{} exists: a bundle is already at {}, and replacing one of its data files \
                 would leave it inconsistent (remove it, or force the write to remove its index)",
                index_path.display(),
                prefix.display()
            )));
        }
        // Forced: the old bundle goes, so no reader sees its index with new data.
        match std::fs::remove_file(&index_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&index_path, e)),
        }
    }
    let mut outs = vec![AtomicFile::create(
        &bundle_data_path(prefix, shard, n),
        write,
    )?];
    let started = Instant::now();
    let regions = regions(layout, Some(shard));
    let run = stream_regions(&mut outs, &[], &regions, options, fill, progress, true)?;
    let crcs = piece_crcs(layout, &regions, &run);
    let all = layout.entries_with_crcs(&crcs)?;
    let mut entries = Vec::new();
    for p in layout.pieces().iter().filter(|p| p.shard() == shard) {
        if let Some(e) = all.get(p.key()) {
            entries.push((p.key().to_vec(), e.clone()));
        }
    }
    for (key, &first) in layout.sliced_owners() {
        let here = layout
            .pieces()
            .get(first)
            .is_some_and(|p| p.shard() == shard);
        if let (true, Some(e)) = (here, all.get(key)) {
            entries.push((key.clone(), e.clone()));
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let data_size = layout.shard_sizes().get(shard).copied().unwrap_or(0);
    let bytes = encode_part(&PartContents {
        num_shards: n,
        shard,
        layout_fingerprint: layout.fingerprint(),
        source: source.to_string(),
        data_size,
        layout_entries: layout.num_entries() as u64,
        entries,
    });
    let stream_time = started.elapsed();
    let t = Instant::now();
    commit_with(outs, &part_path, &bytes, options)?;
    let total = data_size.saturating_add(bytes.len() as u64);
    Ok(run.stats(total, options, stream_time, t.elapsed()))
}
