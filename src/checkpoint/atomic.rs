//! Atomic file replacement: write a temporary file beside the target, sync it, rename
//! it over the target, sync the directory.
//!
//! [`AtomicFile`] is the crate-internal building block of every checkpoint writer
//! ([`save_safetensors`](super::save_safetensors), and writers of multi-file formats,
//! which commit one `AtomicFile` per file). A reader of the target sees either the old
//! file or the complete new one, never a partial write.
//!
//! # Temporary files
//!
//! The temporary file is created (with `create_new`, so never over an existing file)
//! in the target's directory and named
//!
//! ```text
//! .<target file name>.tmp-<pid>-<counter>-<16 hex digits>
//! ```
//!
//! (`<pid>` the writing process's id, `<counter>` a per-process sequence number, then a
//! random 64-bit value). Dropping an [`AtomicFile`] without committing it removes the
//! temporary file.

use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// How a checkpoint file is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct WriteOptions {}

/// A file being written atomically: the data goes to a temporary file beside the
/// target; [`commit`](AtomicFile::commit) renames it over the target. Dropping it
/// uncommitted removes the temporary file.
#[derive(Debug)]
pub(crate) struct AtomicFile {
    file: File,
    /// The temporary file (`None` once renamed).
    tmp: Option<PathBuf>,
    target: PathBuf,
    dir: PathBuf,
}

impl AtomicFile {
    /// Creates a new, uniquely named temporary file beside `target` (see the module
    /// docs for its name).
    ///
    /// # Errors
    /// [`Error::Io`] when the temporary file cannot be created (for example when the
    /// directory does not exist).
    pub(crate) fn create(target: &Path, _opts: &WriteOptions) -> Result<AtomicFile> {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let (file, tmp) = create_temp(&dir, target)?;
        Ok(AtomicFile {
            file,
            tmp: Some(tmp),
            target: target.to_path_buf(),
            dir,
        })
    }

    /// The open temporary file, to write the contents into.
    pub(crate) fn file_mut(&mut self) -> &mut File {
        &mut self.file
    }

    /// The temporary file's path.
    pub(crate) fn temp_path(&self) -> &Path {
        self.tmp.as_deref().unwrap_or(&self.target)
    }

    /// Syncs the temporary file, renames it over the target and syncs the directory
    /// (on Unix).
    ///
    /// # Errors
    /// [`Error::Io`] when syncing or renaming fails (the temporary file is then
    /// removed and the target untouched), or when the directory cannot be synced after
    /// the rename (the new file is then already in place).
    pub(crate) fn commit(mut self) -> Result<()> {
        let tmp = self.temp_path().to_path_buf();
        self.file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        fs::rename(&tmp, &self.target).map_err(|e| Error::io(&self.target, e))?;
        self.tmp = None;
        sync_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Some(p) = self.tmp.take() {
            let _ = fs::remove_file(p);
        }
    }
}

/// Creates a new, uniquely named temporary file next to `target`.
fn create_temp(dir: &Path, target: &Path) -> Result<(File, PathBuf)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let stem = target
        .file_name()
        .map_or_else(|| "checkpoint".into(), |n| n.to_string_lossy().into_owned());
    let mut last_err = None;
    for _ in 0..16 {
        let mut rnd = [0u8; 8];
        let rnd = getrandom::getrandom(&mut rnd).map_or(0, |()| u64::from_le_bytes(rnd));
        let name = format!(
            ".{stem}.tmp-{}-{}-{rnd:016x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let tmp = dir.join(name);
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some((tmp, e)),
            Err(e) => return Err(Error::io(&tmp, e)),
        }
    }
    let (tmp, e) = last_err.unwrap_or_else(|| {
        (
            dir.to_path_buf(),
            io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name"),
        )
    });
    Err(Error::io(&tmp, e))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}
