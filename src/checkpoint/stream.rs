//! Streamed safetensors writes: values are produced piece by piece into a bounded
//! pool of reusable buffers and written at their final file offsets (the layout is
//! known from the shapes up front) by a writer thread, so producing and writing
//! overlap and memory stays bounded whatever the checkpoint's size.

use super::atomic::{AtomicFile, WriteOptions};
use super::direct::{congruent_start, open_direct, SeqWriter, ALIGN};
use super::safetensors::SafetensorsLayout;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::{try_vec, Element, Tensor};
use crossbeam_channel::{bounded, Receiver, Sender};
use ndarray::{ArrayD, IxDyn};
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The default memory for buffers of a streamed write: 256 MiB.
pub const DEFAULT_POOL_BYTES: usize = 256 << 20;

/// The smallest buffer of a streamed write.
const MIN_BUFFER: usize = 64 << 10;

/// The largest buffer of a streamed write.
const MAX_BUFFER: usize = 16 << 20;

/// Options of a streamed write ([`write_safetensors_streamed`]).
///
/// ```
/// use varscope::checkpoint::StreamOptions;
/// let o = StreamOptions::new().pool_bytes(8 << 20);
/// assert_eq!(o.buffer_bytes() * o.buffers(), 8 << 20);
/// ```
#[derive(Debug, Clone)]
pub struct StreamOptions {
    pool_bytes: usize,
    write: WriteOptions,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions::new()
    }
}

impl StreamOptions {
    /// A pool of [`DEFAULT_POOL_BYTES`] and default [`WriteOptions`].
    pub fn new() -> StreamOptions {
        StreamOptions {
            pool_bytes: DEFAULT_POOL_BYTES,
            write: WriteOptions::new(),
        }
    }

    /// The memory for buffers of values being produced or written (at least two
    /// buffers of 64 KiB are used whatever is asked). Each piece of values is also
    /// produced in a scratch tensor of at most one buffer per dtype.
    pub fn pool_bytes(mut self, bytes: usize) -> StreamOptions {
        self.pool_bytes = bytes;
        self
    }

    /// The [`WriteOptions`] of the file written.
    pub fn write_options(mut self, options: WriteOptions) -> StreamOptions {
        self.write = options;
        self
    }

    /// The [`WriteOptions`] of the files written.
    pub(crate) fn write(&self) -> &WriteOptions {
        &self.write
    }

    /// The size of one buffer: an eighth of the pool, between 64 KiB and 16 MiB.
    pub fn buffer_bytes(&self) -> usize {
        (self.pool_bytes / 8).clamp(MIN_BUFFER, MAX_BUFFER)
    }

    /// The number of buffers (at least 2).
    pub fn buffers(&self) -> usize {
        (self.pool_bytes / self.buffer_bytes()).max(2)
    }
}

/// What a streamed write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamStats {
    /// The file's size.
    pub bytes: u64,
    /// Buffers allocated (never more than [`StreamOptions::buffers`]).
    pub buffers_allocated: usize,
    /// Size of each buffer.
    pub buffer_bytes: usize,
    /// Time spent producing values (on the calling thread and its rayon pool).
    pub fill_time: Duration,
    /// Time spent in positioned writes (on the writer thread).
    pub write_time: Duration,
    /// Time from the start to the end of the last write (before the sync).
    pub stream_time: Duration,
    /// Time of the final sync and rename.
    pub commit_time: Duration,
    /// Bytes written with direct I/O (see [`WriteOptions::direct`]); the rest went
    /// through the page cache.
    pub direct_bytes: u64,
}

/// Produces the values of a tensor of a layout: `fill(index, first, out)` fills the
/// 1-D `out` with elements `first .. first + out.len()` (row-major) of tensor
/// `index` of [`SafetensorsLayout::tensors`] (for a TF bundle: of piece `index` of
/// [`BundleLayout::pieces`](super::BundleLayout::pieces)).
pub type FillFn<'a> = dyn Fn(usize, usize, &mut Tensor) -> Result<()> + Sync + 'a;

/// Writes the safetensors file of `layout` at `path`, atomically (as
/// [`save_safetensors`](super::save_safetensors) does), with values from `fill`,
/// calling `progress(bytes)` as bytes are written (from the writer thread).
///
/// The values are produced on the calling thread (in parallel on its rayon pool for
/// large pieces) into at most [`StreamOptions::buffers`] reusable buffers, which a
/// writer thread writes at their offsets with positioned writes, so producing and
/// writing overlap and no more than the pool (and one scratch piece per dtype) is
/// held. The bytes are those [`save_safetensors`](super::save_safetensors) writes
/// for the same values.
///
/// ```
/// use std::collections::BTreeMap;
/// use varscope::checkpoint::{
///     load_safetensors, safetensors_layout, write_safetensors_streamed, StreamOptions,
/// };
/// use varscope::{DType, Shape, Tensor};
/// let layout = safetensors_layout(
///     vec![("ramp".to_string(), DType::F32, Shape::new([100_000]).unwrap())],
///     &BTreeMap::new(),
/// ).unwrap();
/// let dir = std::env::temp_dir().join(format!("varscope-doc-stream-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("ramp.safetensors");
/// let fill = |_: usize, first: usize, out: &mut Tensor| -> varscope::Result<()> {
///     let mut v = out.view_mut::<f32>().unwrap();
///     for (i, x) in v.iter_mut().enumerate() {
///         *x = (first + i) as f32;
///     }
///     Ok(())
/// };
/// let stats = write_safetensors_streamed(
///     &path, &layout, &StreamOptions::new().pool_bytes(0), &fill, &|_| {},
/// ).unwrap();
/// assert_eq!(stats.buffers_allocated, 2);
/// let t = &load_safetensors(&path).unwrap().tensors["ramp"];
/// assert_eq!(t.to_f64_vec()[99_999], 99_999.0);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// # Errors
/// The first error of `fill`, [`Error::Allocation`] for a buffer, or the errors of
/// [`save_safetensors_with`](super::save_safetensors_with) (I/O, a target that is not
/// a regular file). No file is left at `path` on error and an existing one is kept.
pub fn write_safetensors_streamed(
    path: &Path,
    layout: &SafetensorsLayout,
    options: &StreamOptions,
    fill: &FillFn<'_>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<StreamStats> {
    let out = AtomicFile::create(path, &options.write)?;
    let started = Instant::now();
    let regions: Vec<Region> = layout
        .tensors
        .iter()
        .enumerate()
        .map(|(source, (_, dtype, shape, start, _))| Region {
            file: 0,
            start: *start,
            dtype: *dtype,
            elements: shape.num_elements(),
            source,
        })
        .collect();
    let mut outs = [out];
    let run = stream_regions(
        &mut outs,
        &layout.prefix,
        &regions,
        options,
        fill,
        progress,
        false,
    )?;
    let stream_time = started.elapsed();
    let t = Instant::now();
    let [out] = outs;
    out.commit()?;
    Ok(run.stats(layout.file_size, options, stream_time, t.elapsed()))
}

/// One run of values of a streamed write: `elements` values of `dtype`, produced by
/// `fill(source, first, out)`, whose bytes go to file `file` from byte `start` on.
#[derive(Debug, Clone)]
pub(crate) struct Region {
    /// Index into the files of [`stream_regions`].
    pub file: usize,
    /// Offset of the first byte in that file.
    pub start: u64,
    /// Element type.
    pub dtype: DType,
    /// Number of elements.
    pub elements: usize,
    /// What `fill` is called with.
    pub source: usize,
}

/// What [`stream_regions`] did.
#[derive(Debug, Clone, Default)]
pub(crate) struct StreamRun {
    /// Buffers allocated.
    pub buffers_allocated: usize,
    /// Time spent producing values.
    pub fill_time: Duration,
    /// Time spent in positioned writes.
    pub write_time: Duration,
    /// Bytes written with direct I/O.
    pub direct_bytes: u64,
    /// The (unmasked) CRC32C of every region's bytes, when asked for.
    pub crcs: Vec<u32>,
}

impl StreamRun {
    /// The [`StreamStats`] of a write of `bytes` through the pool of `options`.
    pub(crate) fn stats(
        &self,
        bytes: u64,
        options: &StreamOptions,
        stream_time: Duration,
        commit_time: Duration,
    ) -> StreamStats {
        StreamStats {
            bytes,
            buffers_allocated: self.buffers_allocated,
            buffer_bytes: options.buffer_bytes(),
            fill_time: self.fill_time,
            write_time: self.write_time,
            stream_time,
            commit_time,
            direct_bytes: self.direct_bytes,
        }
    }
}

/// Writes `head` at the start of the first file, then produces the bytes of every
/// region (in the order given) into the pool of `options` and writes them at their
/// offsets of `outs` on a writer thread, each file front to back through a
/// [`SeqWriter`] (direct I/O where the options and the file system allow). Buffers
/// carry on from one region to the next when the next starts where the buffer ends
/// in the same file. With `crcs`, the CRC32C of each region's bytes is computed as
/// they are produced.
pub(crate) fn stream_regions(
    outs: &mut [AtomicFile],
    head: &[u8],
    regions: &[Region],
    options: &StreamOptions,
    fill: &FillFn<'_>,
    progress: &(dyn Fn(u64) + Sync),
    crcs: bool,
) -> Result<StreamRun> {
    if let Some(r) = regions.iter().find(|r| r.file >= outs.len()) {
        return Err(Error::invalid_arg(format!(
            "a streamed region goes to file {} of {}",
            r.file,
            outs.len()
        )));
    }
    let targets: Vec<std::path::PathBuf> = outs.iter().map(|o| o.target().to_path_buf()).collect();
    let name = |i: usize| {
        targets
            .get(i)
            .map_or_else(|| Path::new("checkpoint writer"), |p| p.as_path())
    };
    let direct: Vec<Option<File>> = outs
        .iter()
        .map(|o| {
            if options.write.is_direct() {
                o.temp_path().and_then(open_direct)
            } else {
                None
            }
        })
        .collect();
    let mut seqs: Vec<SeqWriter<'_>> = outs
        .iter_mut()
        .zip(direct)
        .map(|(o, d)| SeqWriter::new(o.file_mut(), d))
        .collect();
    if let Some(first) = seqs.first_mut() {
        first.write(0, head).map_err(|e| Error::io(name(0), e))?;
        progress(head.len() as u64);
    }
    let max = options.buffers();
    let cap = options.buffer_bytes();
    let failed = AtomicBool::new(false);
    let (produced, written) = std::thread::scope(|sc| {
        let (full_tx, full_rx) = bounded::<Filled>(max);
        let (free_tx, free_rx) = bounded::<Vec<u8>>(max);
        let failed = &failed;
        let writer = std::thread::Builder::new()
            .name("checkpoint-writer".into())
            .spawn_scoped(sc, move || {
                write_loop(seqs, &full_rx, &free_tx, failed, progress)
            });
        let writer = match writer {
            Ok(w) => w,
            Err(e) => return (Err(Error::io(name(0), e)), Ok(Ok((Duration::ZERO, 0)))),
        };
        let mut pool = Pool {
            free: free_rx,
            allocated: 0,
            max,
            cap,
        };
        let produced = produce(regions, fill, &mut pool, &full_tx, failed, crcs);
        drop(full_tx);
        let written = writer.join();
        (produced.map(|p| (p, pool.allocated)), written)
    });
    let (write_time, direct_bytes) = match written {
        Ok(Ok(t)) => t,
        Ok(Err((i, e))) => return Err(Error::io(name(i), e)),
        Err(_) => {
            return Err(Error::io(
                name(0),
                std::io::Error::other("the checkpoint writer thread panicked"),
            ))
        }
    };
    let ((fill_time, crcs), buffers_allocated) = produced?;
    Ok(StreamRun {
        buffers_allocated,
        fill_time,
        write_time,
        direct_bytes,
        crcs,
    })
}

/// Reads exactly `buf.len()` bytes at `offset`.
#[cfg(unix)]
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

/// Reads exactly `buf.len()` bytes at `offset`.
#[cfg(windows)]
pub(crate) fn read_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        let n = file.seek_read(buf, offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf = &mut buf[n..];
        offset += n as u64;
    }
    Ok(())
}

/// A buffer of values on its way to the writer: the index of its file, the file
/// offset of its first byte, the buffer, and where in it that byte is (placed for
/// direct writes, see [`congruent_start`]).
type Filled = (usize, u64, Vec<u8>, usize);

/// Writes every buffer received at its offset of its file and hands it back; after
/// an error it only hands buffers back (and `failed` tells the producer to stop).
/// Returns the time spent writing and the bytes written with direct I/O; an error
/// names the index of the file.
fn write_loop(
    mut files: Vec<SeqWriter<'_>>,
    full: &Receiver<Filled>,
    free: &Sender<Vec<u8>>,
    failed: &AtomicBool,
    progress: &(dyn Fn(u64) + Sync),
) -> std::result::Result<(Duration, u64), (usize, std::io::Error)> {
    let mut busy = Duration::ZERO;
    let mut first_err = None;
    for (index, offset, buf, start) in full {
        if first_err.is_none() {
            let t = Instant::now();
            let bytes = buf.get(start..).unwrap_or_default();
            let written = match files.get_mut(index) {
                Some(seq) => seq.write(offset, bytes),
                None => Err(std::io::Error::other("no such file in the write")),
            };
            match written {
                Ok(()) => progress(bytes.len() as u64),
                Err(e) => {
                    failed.store(true, Ordering::SeqCst);
                    first_err = Some((index, e));
                }
            }
            busy += t.elapsed();
        }
        // The producer may have stopped taking buffers: a full channel is fine.
        let _ = free.try_send(buf);
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    let t = Instant::now();
    let direct = files.iter().map(SeqWriter::direct_bytes).sum();
    for (index, seq) in files.into_iter().enumerate() {
        seq.finish().map_err(|e| (index, e))?;
    }
    Ok((busy + t.elapsed(), direct))
}

/// The bounded set of buffers: reused once the writer hands them back.
struct Pool {
    free: Receiver<Vec<u8>>,
    allocated: usize,
    max: usize,
    cap: usize,
}

impl Pool {
    fn take(&mut self) -> Result<Vec<u8>> {
        if let Ok(mut b) = self.free.try_recv() {
            b.clear();
            return Ok(b);
        }
        if self.allocated < self.max {
            // A page more than a buffer holds, to place its bytes for direct writes.
            let b = try_vec(self.cap + ALIGN)?;
            self.allocated += 1;
            return Ok(b);
        }
        match self.free.recv() {
            Ok(mut b) => {
                b.clear();
                Ok(b)
            }
            Err(_) => Err(Error::io(
                "checkpoint writer",
                std::io::Error::other("the writer thread stopped"),
            )),
        }
    }
}

/// Produces every region's bytes in order into pool buffers and sends them to the
/// writer; returns the time spent producing and (with `want_crcs`) each region's
/// CRC32C.
fn produce(
    regions: &[Region],
    fill: &FillFn<'_>,
    pool: &mut Pool,
    full: &Sender<Filled>,
    failed: &AtomicBool,
    want_crcs: bool,
) -> Result<(Duration, Vec<u32>)> {
    let mut busy = Duration::ZERO;
    let mut crcs = Vec::new();
    if want_crcs {
        crcs = try_vec(regions.len())?;
        crcs.resize(regions.len(), 0u32);
    }
    let mut scratch: Vec<(DType, Tensor)> = Vec::new();
    let mut current: Option<Filled> = None;
    let send = |b: Filled| -> Result<()> {
        full.send(b).map_err(|_| {
            Error::io(
                "checkpoint writer",
                std::io::Error::other("the writer thread stopped"),
            )
        })
    };
    for (index, region) in regions.iter().enumerate() {
        let dtype = region.dtype;
        let size = dtype.size().max(1);
        let n = region.elements;
        // A buffer carries on only where this region starts right after it.
        if let Some((file, offset, buf, skip)) = &current {
            let end = offset.saturating_add((buf.len() - skip) as u64);
            if *file != region.file || end != region.start {
                if let Some(c) = current.take() {
                    send(c)?;
                }
            }
        }
        let mut crc = 0u32;
        let mut first = 0usize;
        while first < n {
            if failed.load(Ordering::SeqCst) {
                // The writer's error is reported.
                return Ok((busy, crcs));
            }
            let (file, offset, mut buf, skip) = match current.take() {
                Some(c) => c,
                None => {
                    let mut b = pool.take()?;
                    let at = (first as u64).saturating_mul(size as u64);
                    let offset = region.start.saturating_add(at);
                    let skip = congruent_start(b.as_ptr(), offset);
                    b.resize(skip, 0);
                    (region.file, offset, b, skip)
                }
            };
            let room = (pool.cap.saturating_sub(buf.len() - skip)) / size;
            if room == 0 {
                send((file, offset, buf, skip))?;
                continue;
            }
            let k = room.min(n - first);
            let t = Instant::now();
            let slot = match scratch.iter().position(|(d, _)| *d == dtype) {
                Some(i) => i,
                None => {
                    scratch.push((dtype, Tensor::try_zeros(dtype, &crate::Shape::scalar())?));
                    scratch.len() - 1
                }
            };
            let Some((_, piece)) = scratch.get_mut(slot) else {
                return Err(Error::invalid_arg("no scratch buffer for the dtype"));
            };
            resize(piece, k)?;
            fill(region.source, first, piece)?;
            let before = buf.len();
            append_le(piece, &mut buf);
            if want_crcs {
                crc = crc32c::crc32c_append(crc, buf.get(before..).unwrap_or_default());
            }
            busy += t.elapsed();
            first += k;
            current = Some((file, offset, buf, skip));
        }
        if let Some(c) = crcs.get_mut(index) {
            *c = crc;
        }
    }
    if let Some(c) = current {
        send(c)?;
    }
    Ok((busy, crcs))
}

/// Makes `t` a 1-D tensor of `n` elements, reusing its allocation.
pub(crate) fn resize(t: &mut Tensor, n: usize) -> Result<()> {
    fn go<T: Element>(a: &mut ArrayD<T>, n: usize) -> Result<Tensor> {
        let empty =
            ArrayD::from_shape_vec(IxDyn(&[0]), Vec::new()).map_err(|e| Error::InvalidShape {
                message: format!("empty scratch buffer: {e}"),
            })?;
        let (mut v, _) = std::mem::replace(a, empty).into_raw_vec_and_offset();
        if n > v.len() {
            let more = n - v.len();
            v.try_reserve_exact(more).map_err(|_| Error::Allocation {
                name: String::new(),
                bytes: (n as u128).saturating_mul(std::mem::size_of::<T>() as u128),
            })?;
        }
        v.resize(n, T::zero());
        let a = ArrayD::from_shape_vec(IxDyn(&[n]), v).map_err(|e| Error::InvalidShape {
            message: format!("scratch buffer of {n} elements: {e}"),
        })?;
        Ok(T::wrap(a))
    }
    *t = crate::tensor::dispatch!(t, a => go(a, n))?;
    Ok(())
}

/// Appends the values' little-endian bytes, as the safetensors writer writes them.
pub(crate) fn append_le(t: &Tensor, out: &mut Vec<u8>) {
    if cfg!(target_endian = "little") {
        let bytes: Option<&[u8]> = match t {
            Tensor::F16(a) => a.as_slice().map(bytemuck::cast_slice),
            Tensor::BF16(a) => a.as_slice().map(bytemuck::cast_slice),
            Tensor::F32(a) => a.as_slice().map(bytemuck::cast_slice),
            Tensor::F64(a) => a.as_slice().map(bytemuck::cast_slice),
            Tensor::I32(a) => a.as_slice().map(bytemuck::cast_slice),
            Tensor::I64(a) => a.as_slice().map(bytemuck::cast_slice),
            Tensor::Bool(_) => None,
        };
        if let Some(b) = bytes {
            out.extend_from_slice(b);
            return;
        }
    }
    t.write_le_bytes(out);
}
