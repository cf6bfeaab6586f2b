//! Sequential file writes that bypass the page cache where the system allows it.
//!
//! A streamed checkpoint is written front to back in large buffers. Through the page
//! cache, every byte is copied once more by the kernel into freshly allocated cache
//! pages, which on virtual machines costs more CPU than computing the values
//! themselves. [`SeqWriter`] instead writes whole, aligned pages with `O_DIRECT`
//! (Linux) straight from the caller's buffers: the partial pages at the edges of a
//! buffer are gathered in a one-page staging block and written once complete, so the
//! file's bytes are exactly those a buffered writer would write.
//!
//! Anything the system refuses (`O_DIRECT` unsupported by the file system, an
//! unaligned buffer, a write out of sequence) falls back to ordinary positioned
//! writes, so the result never depends on the path taken; the final partial page is
//! always written through the page cache. Durability is the caller's `fsync`, as for
//! any write.

use std::fs::File;
use std::io;

/// The alignment of direct writes: file offsets, lengths and buffer addresses.
pub(crate) const ALIGN: usize = 4096;

/// Positioned writes of one file, front to back (see the module docs).
pub(crate) struct SeqWriter<'f> {
    /// The file, opened normally: the fallback and the last partial page.
    buffered: &'f File,
    /// The same file opened with `O_DIRECT`, while direct writes work.
    direct: Option<File>,
    /// One aligned page of staging (`stage_buf[stage_at..stage_at + ALIGN]`).
    stage_buf: Vec<u8>,
    stage_at: usize,
    /// Bytes held in the staging page, the start of whose page is `page_off`.
    staged: usize,
    page_off: u64,
    /// The offset the next write is expected at.
    next: u64,
    /// Bytes written with direct I/O (for reports and tests).
    direct_bytes: u64,
}

impl<'f> SeqWriter<'f> {
    /// A writer of `buffered`, also writing through `direct` (the same file opened
    /// with `O_DIRECT`) when given. The file is written from offset 0.
    pub(crate) fn new(buffered: &'f File, direct: Option<File>) -> SeqWriter<'f> {
        let (stage_buf, stage_at) = if direct.is_some() {
            aligned_block(ALIGN)
        } else {
            (Vec::new(), 0)
        };
        SeqWriter {
            buffered,
            direct,
            stage_buf,
            stage_at,
            staged: 0,
            page_off: 0,
            next: 0,
            direct_bytes: 0,
        }
    }

    /// Bytes written so far with direct I/O.
    pub(crate) fn direct_bytes(&self) -> u64 {
        self.direct_bytes
    }

    /// Writes `data` at `offset`. Writes in sequence (each at the end of the one
    /// before) go through direct I/O where possible; any other write first flushes
    /// the staged page and continues through the page cache.
    pub(crate) fn write(&mut self, offset: u64, mut data: &[u8]) -> io::Result<()> {
        if self.direct.is_none() {
            return write_at(self.buffered, data, offset);
        }
        if offset != self.next {
            self.stop_direct()?;
            return write_at(self.buffered, data, offset);
        }
        self.next = offset + data.len() as u64;
        let mut at = offset;
        // Complete the staged page first.
        if self.staged > 0 {
            let k = (ALIGN - self.staged).min(data.len());
            let s = self.stage_at + self.staged;
            self.stage_buf[s..s + k].copy_from_slice(&data[..k]);
            self.staged += k;
            data = &data[k..];
            at += k as u64;
            if self.staged < ALIGN {
                return Ok(());
            }
            self.flush_stage()?;
        } else {
            self.page_off = at;
        }
        // `at` is page-aligned here unless this is the file's first, unaligned write.
        if at % ALIGN as u64 != 0 {
            // Only offset 0 starts a sequence, so this does not happen; stay correct.
            self.stop_direct()?;
            return write_at(self.buffered, data, at);
        }
        let whole = data.len() / ALIGN * ALIGN;
        if whole > 0 {
            if data.as_ptr() as usize % ALIGN == 0 {
                self.write_direct(&data[..whole], at)?;
            } else {
                // An unaligned buffer (a small header, say): page by page through the
                // staging block.
                for (k, page) in data[..whole].chunks(ALIGN).enumerate() {
                    let s = self.stage_at;
                    self.stage_buf[s..s + ALIGN].copy_from_slice(page);
                    self.staged = ALIGN;
                    self.page_off = at + (k * ALIGN) as u64;
                    self.flush_stage()?;
                }
            }
            data = &data[whole..];
            at += whole as u64;
        }
        if !data.is_empty() {
            let s = self.stage_at;
            self.stage_buf[s..s + data.len()].copy_from_slice(data);
            self.staged = data.len();
            self.page_off = at;
        }
        Ok(())
    }

    /// Writes what is staged (the file's last, partial page) through the page cache.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.stop_direct()
    }

    /// Writes the full staging page with direct I/O.
    fn flush_stage(&mut self) -> io::Result<()> {
        let s = self.stage_at;
        let page = std::mem::take(&mut self.stage_buf);
        let r = self.write_direct(&page[s..s + ALIGN], self.page_off);
        self.stage_buf = page;
        r?;
        self.staged = 0;
        self.page_off += ALIGN as u64;
        Ok(())
    }

    /// A direct write, or a buffered one when the system refuses it (and from then
    /// on).
    fn write_direct(&mut self, data: &[u8], offset: u64) -> io::Result<()> {
        if let Some(d) = &self.direct {
            match write_at(d, data, offset) {
                Ok(()) => {
                    self.direct_bytes += data.len() as u64;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::InvalidInput => self.direct = None,
                Err(e) => return Err(e),
            }
        }
        write_at(self.buffered, data, offset)
    }

    /// Writes the staged bytes through the page cache and stops direct writes.
    fn stop_direct(&mut self) -> io::Result<()> {
        self.direct = None;
        if self.staged > 0 {
            let s = self.stage_at;
            write_at(
                self.buffered,
                &self.stage_buf[s..s + self.staged],
                self.page_off,
            )?;
            self.staged = 0;
        }
        Ok(())
    }
}

/// A zeroed block of `len` bytes at an `ALIGN`-aligned address, as the vector and the
/// index of the block in it (safe code: a vector over-allocated by one page).
pub(crate) fn aligned_block(len: usize) -> (Vec<u8>, usize) {
    let v = vec![0u8; len + ALIGN];
    let at = v.as_ptr().align_offset(ALIGN).min(ALIGN);
    (v, at)
}

/// The number of leading bytes to skip in a buffer at `ptr` so that the byte meant
/// for file offset `offset` lies at an address congruent to it modulo [`ALIGN`].
pub(crate) fn congruent_start(ptr: *const u8, offset: u64) -> usize {
    let want = (offset % ALIGN as u64) as usize;
    let have = ptr as usize % ALIGN;
    (want + ALIGN - have) % ALIGN
}

/// Opens `path` for writing with `O_DIRECT`, where the system has it.
pub(crate) fn open_direct(path: &std::path::Path) -> Option<File> {
    open_with_direct(path, true)
}

/// Opens `path` with `O_DIRECT` for writing or reading, where the system has it.
fn open_with_direct(path: &std::path::Path, write: bool) -> Option<File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(write)
            .read(!write)
            .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
            .open(path)
            .ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (path, write);
        None
    }
}

/// Positioned reads that bypass the page cache where the system allows it: each
/// read fetches the aligned pages around the range asked for into one reused,
/// aligned buffer and returns the range from it. Files it cannot open with
/// `O_DIRECT`, or reads the system refuses, go through the page cache instead; the
/// bytes returned are the same.
pub(crate) struct DirectReader {
    /// Files opened with `O_DIRECT`, by path (`None`: not available for that file).
    files: Vec<(std::path::PathBuf, Option<File>)>,
    buf: Vec<u8>,
    /// Whether direct reads are still tried.
    enabled: bool,
}

impl DirectReader {
    /// A reader trying direct I/O when `enabled`.
    pub(crate) fn new(enabled: bool) -> DirectReader {
        DirectReader {
            files: Vec::new(),
            buf: Vec::new(),
            enabled,
        }
    }

    /// `len` bytes of `file` (at `path`) from `offset`.
    ///
    /// # Errors
    /// The read's error; `UnexpectedEof` when the file ends first.
    pub(crate) fn read(
        &mut self,
        file: &File,
        path: &std::path::Path,
        offset: u64,
        len: usize,
    ) -> io::Result<&[u8]> {
        if self.enabled {
            let i = match self.files.iter().position(|(p, _)| p == path) {
                Some(i) => i,
                None => {
                    self.files
                        .push((path.to_path_buf(), open_with_direct(path, false)));
                    self.files.len() - 1
                }
            };
            if self.files[i].1.is_some() {
                let head = (offset % ALIGN as u64) as usize;
                let start = offset - head as u64;
                let want = (head + len).div_ceil(ALIGN) * ALIGN;
                grow(&mut self.buf, want + ALIGN)?;
                let at = self.buf.as_ptr().align_offset(ALIGN).min(ALIGN);
                let d = self.files[i]
                    .1
                    .as_ref()
                    .map(|f| read_direct(f, &mut self.buf[at..at + want], start));
                match d {
                    Some(Ok(got)) if got >= head + len => {
                        return Ok(&self.buf[at + head..at + head + len]);
                    }
                    Some(Ok(_)) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Some(Err(e)) if e.kind() == io::ErrorKind::InvalidInput => {
                        self.enabled = false;
                    }
                    Some(Err(e)) => return Err(e),
                    None => {}
                }
            }
        }
        grow(&mut self.buf, len)?;
        super::stream::read_at(file, &mut self.buf[..len], offset)?;
        Ok(&self.buf[..len])
    }
}

/// Makes `buf` at least `n` bytes long, allocating fallibly (its contents are not
/// kept when it grows).
fn grow(buf: &mut Vec<u8>, n: usize) -> io::Result<()> {
    if buf.len() < n {
        *buf = Vec::new();
        buf.try_reserve_exact(n)
            .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
        buf.resize(n, 0);
    }
    Ok(())
}

/// Reads into `buf` from `offset` until it is full or the file ends; the bytes read.
fn read_direct(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match read_at(file, &mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

#[cfg(unix)]
fn write_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

#[cfg(windows)]
fn write_at(file: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        let n = file.seek_write(buf, offset)?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
        offset += n as u64;
    }
    Ok(())
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Writes `chunks` (split points of one byte stream) through a `SeqWriter` and
    /// returns the file's bytes and the bytes written directly.
    fn through(total: usize, cuts: &[usize], direct: bool) -> (Vec<u8>, Vec<u8>, Option<u64>) {
        let dir = std::env::temp_dir().join(format!(
            "varscope-direct-{}-{total}-{}-{direct}",
            std::process::id(),
            cuts.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let file = File::create(&path).unwrap();
        let expected: Vec<u8> = (0..total).map(|i| (i * 31 % 251) as u8).collect();
        let d = if direct { open_direct(&path) } else { None };
        let opened = d.is_some();
        let mut w = SeqWriter::new(&file, d);
        let mut prev = 0;
        for &c in cuts.iter().chain(std::iter::once(&total)) {
            // Each piece in its own buffer placed as the streamed writer places it.
            let piece = &expected[prev..c];
            let mut v = vec![0u8; piece.len() + ALIGN];
            let s = congruent_start(v.as_ptr(), prev as u64);
            v[s..s + piece.len()].copy_from_slice(piece);
            w.write(prev as u64, &v[s..s + piece.len()]).unwrap();
            prev = c;
        }
        let d = opened.then(|| w.direct_bytes());
        w.finish().unwrap();
        file.sync_all().unwrap();
        let got = std::fs::read(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        (expected, got, d)
    }

    #[test]
    fn any_split_writes_the_same_bytes() {
        for direct in [false, true] {
            for (total, cuts) in [
                (10usize, vec![]),
                (5000, vec![100]),
                (3 * ALIGN, vec![ALIGN]),
                (5 * ALIGN + 17, vec![1, 4095, 4096, 9000, 3 * ALIGN + 5]),
                (64 << 10, vec![40_000, 40_001, 50_000]),
            ] {
                let (want, got, d) = through(total, &cuts, direct);
                assert_eq!(got, want, "total {total}, cuts {cuts:?}, direct {direct}");
                // Where the file system takes direct I/O, the whole pages went that way.
                if let Some(d) = d {
                    assert!(d % ALIGN as u64 == 0 && d <= total as u64);
                    if total >= 3 * ALIGN {
                        assert!(d >= (total / ALIGN - 1) as u64 * ALIGN as u64, "{d}");
                    }
                }
            }
        }
    }

    #[test]
    fn direct_reads_return_the_bytes_asked_for() {
        let dir = std::env::temp_dir().join(format!("varscope-direct-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let bytes: Vec<u8> = (0..3 * ALIGN + 123).map(|i| (i * 7 % 253) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let file = File::open(&path).unwrap();
        for enabled in [true, false] {
            let mut r = DirectReader::new(enabled);
            for (off, len) in [
                (0usize, 10usize),
                (5, ALIGN),
                (ALIGN, ALIGN),
                (4000, 300),
                (3 * ALIGN, 123),
                (0, bytes.len()),
                (bytes.len(), 0),
            ] {
                let got = r.read(&file, &path, off as u64, len).unwrap();
                assert_eq!(got, &bytes[off..off + len], "{off} {len} {enabled}");
            }
            let e = r
                .read(&file, &path, (bytes.len() - 5) as u64, 10)
                .unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn out_of_sequence_writes_fall_back_to_the_page_cache() {
        let dir = std::env::temp_dir().join(format!("varscope-direct-seq-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let file = File::create(&path).unwrap();
        let mut w = SeqWriter::new(&file, open_direct(&path));
        w.write(0, &[1u8; 100]).unwrap();
        w.write(8192, &[3u8; 10]).unwrap();
        w.write(100, &[2u8; 50]).unwrap();
        w.finish().unwrap();
        let got = std::fs::read(&path).unwrap();
        assert_eq!(got.len(), 8202);
        assert!(got[..100].iter().all(|&b| b == 1));
        assert!(got[100..150].iter().all(|&b| b == 2));
        assert!(got[150..8192].iter().all(|&b| b == 0));
        assert!(got[8192..].iter().all(|&b| b == 3));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
