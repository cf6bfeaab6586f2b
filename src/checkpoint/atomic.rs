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
//! random 64-bit value, all in decimal but the last). Three things remove it when a
//! write does not complete:
//!
//! * dropping an [`AtomicFile`] without committing it (an error, a panic);
//! * [`remove_temp_files`], which the `varscope` binary calls from its SIGINT, SIGTERM
//!   and SIGHUP handler: every live temporary file is in a process-wide registry;
//! * the sweep at the start of the next write to the same target: temporary files of
//!   exactly this name pattern whose `<pid>` is no longer a running process (on Unix)
//!   are removed. That is what cleans up after `SIGKILL` or a power cut. A pid that
//!   runs again (reused) keeps its files until a later write; a process in another pid
//!   namespace writing into the same directory would look dead, so do not share an
//!   output directory across containers while writing to the same target.
//!
//! # Targets that are not regular files
//!
//! A target that exists and is a symbolic link, FIFO, device node or socket is not
//! replaced unless [`WriteOptions::force`] is set ([`Error::NotRegularFile`]); a
//! directory never is. The check is made when the temporary file is created and again
//! just before the rename. Even when forced, the rename replaces the directory entry
//! itself: a symbolic link is replaced, never followed.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// How a checkpoint file is written: whether a target that is not a regular file may
/// be replaced, and whether large sequential writes may bypass the page cache.
///
/// ```
/// use varscope::checkpoint::WriteOptions;
/// assert!(!WriteOptions::default().is_force());
/// assert!(WriteOptions::new().force(true).is_force());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    force: bool,
    /// Direct I/O is off ([`WriteOptions::direct`]); stored negated so that the
    /// derived default has it on.
    buffered: bool,
}

impl WriteOptions {
    /// The defaults: refuse to replace a target that is not a regular file.
    ///
    /// ```
    /// use varscope::checkpoint::WriteOptions;
    /// assert_eq!(WriteOptions::new(), WriteOptions::default());
    /// assert!(!WriteOptions::new().is_force());
    /// ```
    pub fn new() -> WriteOptions {
        WriteOptions::default()
    }

    /// Whether a target that is a symbolic link, FIFO, device node or socket may be
    /// replaced (the entry itself: a link is not followed). A directory never is.
    ///
    /// ```
    /// use varscope::checkpoint::WriteOptions;
    /// let dir = std::env::temp_dir();
    /// // Even forced, a directory is never replaced.
    /// assert!(WriteOptions::new().force(true).check_target(&dir).is_err());
    /// assert!(WriteOptions::new().force(true).is_force());
    /// ```
    pub fn force(mut self, force: bool) -> WriteOptions {
        self.force = force;
        self
    }

    /// Whether [`force`](WriteOptions::force) is set.
    ///
    /// ```
    /// use varscope::checkpoint::WriteOptions;
    /// assert!(WriteOptions::new().force(true).is_force());
    /// assert!(!WriteOptions::new().force(true).force(false).is_force());
    /// ```
    pub fn is_force(&self) -> bool {
        self.force
    }

    /// Whether streamed writes (a build through the buffer pool, either format) write
    /// whole pages with direct I/O, bypassing the page cache (`O_DIRECT`, Linux only;
    /// on by default). It saves the kernel's copy of every byte into the page cache,
    /// which is most of a streamed write's CPU time on virtual machines. Where the file
    /// system refuses it, writes go through the page cache; the file's bytes are the
    /// same either way, and it is synced and renamed into place as always.
    ///
    /// ```
    /// use varscope::checkpoint::WriteOptions;
    /// assert!(WriteOptions::new().is_direct());
    /// assert!(!WriteOptions::new().direct(false).is_direct());
    /// ```
    pub fn direct(mut self, on: bool) -> WriteOptions {
        self.buffered = !on;
        self
    }

    /// Whether [`direct`](WriteOptions::direct) I/O is tried.
    pub fn is_direct(&self) -> bool {
        !self.buffered
    }

    /// Checks that a write with these options may replace `target`: it is absent, a
    /// regular file, or (when forced) anything but a directory. A symbolic link is
    /// judged as itself, not by what it points to. Writes make this check themselves;
    /// calling it first lets a program fail before it computes what it would write.
    ///
    /// ```
    /// use varscope::checkpoint::WriteOptions;
    /// use varscope::Error;
    /// let dir = std::env::temp_dir();
    /// let e = WriteOptions::new().force(true).check_target(&dir).unwrap_err();
    /// assert!(matches!(e, Error::NotRegularFile { file_type: "directory", .. }));
    /// let absent = dir.join(format!("varscope-doc-absent-{}", std::process::id()));
    /// WriteOptions::new().check_target(&absent).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Error::NotRegularFile`] when `target` may not be replaced; [`Error::Io`] when
    /// it cannot be examined.
    pub fn check_target(&self, target: &Path) -> Result<()> {
        check_target(target, self.force)
    }
}

// ---------------------------------------------------------------------------------
// The registry of live temporary files
// ---------------------------------------------------------------------------------

/// Every temporary file this process is writing, by id; `closed` once
/// [`remove_temp_files`] ran (no new temporary file is created after it).
///
/// A plain `std` mutex rather than one from `crate::sync`: it must be constructible in
/// a `static`, and it takes part in no protocol the loom models check.
struct Registry {
    closed: bool,
    live: BTreeMap<u64, PathBuf>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    closed: false,
    live: BTreeMap::new(),
});

fn registry() -> MutexGuard<'static, Registry> {
    // The registry holds plain paths: a panic while it was locked leaves it valid.
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes every temporary file this process is writing a checkpoint into, and makes
/// any later atomic write in this process fail with [`Error::Io`] (kind
/// `Interrupted`) instead of creating a new one; returns how many files were removed.
///
/// This is for a signal handler that is about to end the process (the `varscope`
/// binary calls it on SIGINT, SIGTERM and SIGHUP, from a thread that receives the
/// signals, then exits): writes in progress then fail at their rename and leave no
/// file behind, and targets keep their old contents. Call it from ordinary code, not
/// from inside an async-signal handler (it takes a lock and removes files).
///
/// ```
/// // With no write in progress there is nothing to remove. (Calling it ends every
/// // later write of the process, so this example runs it in a process of its own.)
/// assert_eq!(varscope::checkpoint::remove_temp_files(), 0);
/// ```
pub fn remove_temp_files() -> usize {
    let mut reg = registry();
    reg.closed = true;
    let live = std::mem::take(&mut reg.live);
    live.values().filter(|p| fs::remove_file(p).is_ok()).count()
}

// ---------------------------------------------------------------------------------
// AtomicFile
// ---------------------------------------------------------------------------------

/// A file being written atomically: the data goes to a temporary file beside the
/// target; [`commit`](AtomicFile::commit) renames it over the target. Dropping it
/// uncommitted removes the temporary file.
#[derive(Debug)]
pub(crate) struct AtomicFile {
    file: File,
    /// The temporary file's registry id and path (`None` once renamed or removed).
    tmp: Option<(u64, PathBuf)>,
    target: PathBuf,
    dir: PathBuf,
    force: bool,
}

impl AtomicFile {
    /// Removes stale temporary files of `target` (see the module docs), checks that
    /// `target` is absent, a regular file, or replaceable under `opts`, and creates a
    /// new, uniquely named temporary file beside it.
    ///
    /// # Errors
    /// * [`Error::NotRegularFile`] when the target may not be replaced.
    /// * [`Error::Io`] on `target` when the temporary file cannot be created (for
    ///   example when the directory does not exist), or with kind `Interrupted` after
    ///   [`remove_temp_files`].
    pub(crate) fn create(target: &Path, opts: &WriteOptions) -> Result<AtomicFile> {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        check_target(target, opts.force)?;
        let prefix = temp_prefix(target);
        sweep_stale(&dir, &prefix);
        let (file, tmp) = create_temp(&dir, target, &prefix)?;
        Ok(AtomicFile {
            file,
            tmp: Some(tmp),
            target: target.to_path_buf(),
            dir,
            force: opts.force,
        })
    }

    /// The open temporary file, to write the contents into.
    pub(crate) fn file_mut(&mut self) -> &mut File {
        &mut self.file
    }

    /// The temporary file's path (to open it a second time, for direct I/O).
    pub(crate) fn temp_path(&self) -> Option<&Path> {
        self.tmp.as_ref().map(|(_, p)| p.as_path())
    }

    /// The target path.
    pub(crate) fn target(&self) -> &Path {
        &self.target
    }

    /// Syncs the temporary file, checks the target again, renames the temporary file
    /// over it and syncs the directory (on Unix).
    ///
    /// # Errors
    /// [`Error::NotRegularFile`] or [`Error::Io`] (on the target) when the target may
    /// no longer be replaced, or syncing or renaming fails — the temporary file is
    /// then removed and the target untouched — or [`Error::Io`] on the directory when
    /// it cannot be synced after the rename (the new file is then already in place).
    pub(crate) fn commit(mut self) -> Result<()> {
        self.file
            .sync_all()
            .map_err(|e| Error::io(&self.target, e))?;
        check_target(&self.target, self.force)?;
        {
            // The rename and the unregistering happen under the registry lock, so
            // `remove_temp_files` sees the temporary file either before (and removes
            // it; the rename then fails) or not at all (the target is complete).
            let mut reg = registry();
            let Some((id, tmp)) = self.tmp.take() else {
                return Err(interrupted(&self.target));
            };
            if reg.live.remove(&id).is_none() {
                // Removed by `remove_temp_files`.
                return Err(interrupted(&self.target));
            }
            if let Err(e) = fs::rename(&tmp, &self.target) {
                let _ = fs::remove_file(&tmp);
                return Err(Error::io(&self.target, e));
            }
        }
        sync_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Some((id, p)) = self.tmp.take() {
            let mut reg = registry();
            if reg.live.remove(&id).is_some() {
                let _ = fs::remove_file(p);
            }
        }
    }
}

fn interrupted(target: &Path) -> Error {
    Error::io(
        target,
        io::Error::new(
            io::ErrorKind::Interrupted,
            "write interrupted: the process is shutting down",
        ),
    )
}

/// What a non-regular file is, for [`Error::NotRegularFile`].
fn file_type_name(t: fs::FileType) -> &'static str {
    if t.is_symlink() {
        return "symbolic link";
    }
    if t.is_dir() {
        return "directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "FIFO";
        }
        if t.is_char_device() {
            return "character device";
        }
        if t.is_block_device() {
            return "block device";
        }
        if t.is_socket() {
            return "socket";
        }
    }
    "special file"
}

/// Whether `target` (not followed if a link) may be replaced.
fn check_target(target: &Path, force: bool) -> Result<()> {
    match fs::symlink_metadata(target) {
        Ok(m) if m.file_type().is_file() => Ok(()),
        Ok(m) if force && !m.file_type().is_dir() => Ok(()),
        Ok(m) => Err(Error::NotRegularFile {
            path: target.to_path_buf(),
            file_type: file_type_name(m.file_type()),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(target, e)),
    }
}

/// `.<target file name>.tmp-`: what every temporary file of `target` starts with.
fn temp_prefix(target: &Path) -> String {
    let stem = target
        .file_name()
        .map_or_else(|| "checkpoint".into(), |n| n.to_string_lossy().into_owned());
    format!(".{stem}.tmp-")
}

/// The pid in a temporary file name `<prefix><pid>-<counter>-<16 hex>`, or `None`
/// when `name` is not exactly of that form.
fn temp_owner(name: &str, prefix: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?;
    let mut parts = rest.split('-');
    let (pid, counter, rnd) = (parts.next()?, parts.next()?, parts.next()?);
    let decimal = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let hex = rnd.len() == 16 && rnd.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if parts.next().is_some() || !decimal(counter) || !hex || !decimal(pid) {
        return None;
    }
    counter.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Whether process `pid` may still be running (`true` when that cannot be told).
#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return true;
    };
    // Signal 0 checks for existence; EPERM means it exists under another user.
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(e) if e == rustix::io::Errno::SRCH
    )
}

#[cfg(not(unix))]
fn process_alive(_pid: u32) -> bool {
    true
}

/// Removes the regular files in `dir` named like temporary files of this target
/// (`prefix`) whose writing process is gone. Best effort: errors are ignored.
fn sweep_stale(dir: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let me = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| temp_owner(n, prefix)) else {
            continue;
        };
        if pid == me || process_alive(pid) {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Creates a new, uniquely named temporary file next to `target` and registers it.
fn create_temp(dir: &Path, target: &Path, prefix: &str) -> Result<(File, (u64, PathBuf))> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut last_err = None;
    for _ in 0..16 {
        let mut rnd = [0u8; 8];
        let rnd = getrandom::getrandom(&mut rnd).map_or(0, |()| u64::from_le_bytes(rnd));
        let id = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!("{prefix}{}-{id}-{rnd:016x}", std::process::id()));
        // Created under the registry lock, so a file exists only once registered.
        let mut reg = registry();
        if reg.closed {
            return Err(interrupted(target));
        }
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => {
                reg.live.insert(id, tmp.clone());
                return Ok((f, (id, tmp)));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some(e),
            Err(e) => return Err(Error::io(target, e)),
        }
    }
    let e = last_err
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name"));
    Err(Error::io(target, e))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_parse_strictly() {
        let p = temp_prefix(Path::new("out/m.safetensors"));
        assert_eq!(p, ".m.safetensors.tmp-");
        assert_eq!(
            temp_owner(".m.safetensors.tmp-42-0-0123456789abcdef", &p),
            Some(42)
        );
        for bad in [
            ".m.safetensors.tmp-42-0-0123456789abcde",
            ".m.safetensors.tmp-42-0-0123456789ABCDEF",
            ".m.safetensors.tmp--0-0123456789abcdef",
            ".m.safetensors.tmp-+4-0-0123456789abcdef",
            ".m.safetensors.tmp-42-0-0123456789abcdef-1",
            ".m.safetensors.tmp-42-x-0123456789abcdef",
            ".m.safetensors.tmp-5.tmp-42-0-0123456789abcdef",
            "m.safetensors.tmp-42-0-0123456789abcdef",
            ".n.safetensors.tmp-42-0-0123456789abcdef",
        ] {
            assert_eq!(temp_owner(bad, &p), None, "{bad}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn this_process_is_alive_and_a_reaped_child_is_not() {
        assert!(process_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!process_alive(pid));
    }

    #[cfg(unix)]
    #[test]
    fn a_write_checks_the_target_sweeps_and_leaves_no_temporary_file() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("varscope-atomic-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let target = dir.join("t.bin");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = dir.join(format!(".t.bin.tmp-{dead}-0-00000000000000ff"));
        fs::write(&stale, b"stale").unwrap();

        // Dropped uncommitted: nothing left, and the stale file was swept on create.
        let mut f = AtomicFile::create(&target, &WriteOptions::new()).unwrap();
        f.file_mut().write_all(b"abandoned").unwrap();
        assert!(!stale.exists());
        drop(f);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);

        let mut f = AtomicFile::create(&target, &WriteOptions::new()).unwrap();
        f.file_mut().write_all(b"new").unwrap();
        f.commit().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");

        // A target turned into a symbolic link while being written is not replaced.
        let f = AtomicFile::create(&target, &WriteOptions::new()).unwrap();
        fs::remove_file(&target).unwrap();
        std::os::unix::fs::symlink(dir.join("elsewhere"), &target).unwrap();
        let e = f.commit().unwrap_err();
        assert!(matches!(
            e,
            Error::NotRegularFile {
                file_type: "symbolic link",
                ..
            }
        ));
        assert!(fs::symlink_metadata(&target)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "only the link");
        fs::remove_dir_all(&dir).unwrap();
    }
}
