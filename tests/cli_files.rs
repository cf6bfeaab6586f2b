//! The `varscope` binary and the files around it: targets that are not regular files,
//! temporary files left by interrupted or killed writes, FIFOs and directories given
//! to `inspect`/`verify`, a closed standard output, `--threads 0`, a missing output
//! directory.
//!
//! FIFOs and device nodes are created in a temporary directory of the test's own; no
//! real device node is ever opened or written.
#![cfg(unix)]

use std::fs;
use std::os::unix::fs::{symlink, FileTypeExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

const TINY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tiny.toml");
const BIN: &str = env!("CARGO_BIN_EXE_varscope");

fn varscope(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run varscope")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("varscope-files-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn s(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
    fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
    /// The temporary files of target `name` in the directory.
    fn temps(&self, name: &str) -> Vec<String> {
        let prefix = format!(".{name}.tmp-");
        self.files()
            .into_iter()
            .filter(|f| f.starts_with(&prefix))
            .collect()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(st.success(), "mkfifo {}", path.display());
    assert!(fs::symlink_metadata(path).unwrap().file_type().is_fifo());
}

/// Waits for `child`, killing it and failing after `limit` (a hang guard, not a timing
/// assertion: every command here finishes in well under a second when it works).
fn wait_or_kill(mut child: Child, limit: Duration, what: &str) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?} (blocked?)");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn spawn(args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn varscope")
}

fn build_tiny(out: &Path, extra: &[&str]) -> Output {
    let out = out.display().to_string();
    let mut args = vec!["build", TINY, "-o", out.as_str(), "--quiet"];
    args.extend_from_slice(extra);
    varscope(&args)
}

// ---------------------------------------------------------------------------------
// -o: targets that are not regular files
// ---------------------------------------------------------------------------------

#[test]
fn output_symlink_is_refused_and_with_force_replaced_not_followed() {
    let dir = TempDir::new("symlink");
    let real = dir.path("real.bin");
    fs::write(&real, b"keep me").unwrap();
    let link = dir.path("link.safetensors");
    symlink(&real, &link).unwrap();

    let o = build_tiny(&link, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("is a symbolic link"), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read(&real).unwrap(), b"keep me");
    assert!(dir.temps("link.safetensors").is_empty());

    let o = build_tiny(&link, &["--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The link itself was replaced by the checkpoint; what it pointed to is untouched.
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_file());
    assert_eq!(fs::read(&real).unwrap(), b"keep me");
    let o = varscope(&["verify", TINY, &dir.s("link.safetensors")]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn output_symlink_to_a_missing_file_is_refused_too() {
    let dir = TempDir::new("dangling");
    let link = dir.path("m.safetensors");
    symlink(dir.path("nowhere"), &link).unwrap();
    let o = build_tiny(&link, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is a symbolic link"), "{}", stderr(&o));
    assert!(!dir.path("nowhere").exists(), "the link was not followed");
    assert_eq!(dir.files(), vec!["m.safetensors".to_string()]);
}

#[test]
fn output_fifo_is_refused_unless_forced() {
    let dir = TempDir::new("fifo-out");
    let fifo = dir.path("m.safetensors");
    mkfifo(&fifo);
    // Without the check the write would replace the FIFO (no reader: nothing blocks).
    let o = wait_or_kill(
        spawn(&["build", TINY, "-o", &dir.s("m.safetensors"), "-q"]),
        Duration::from_secs(60),
        "build -o FIFO",
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is a FIFO"), "{}", stderr(&o));
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert_eq!(dir.files(), vec!["m.safetensors".to_string()]);

    let o = build_tiny(&fifo, &["--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_file());
}

#[test]
fn output_directory_is_refused_even_when_forced() {
    let dir = TempDir::new("dir-out");
    let d = dir.path("m.safetensors");
    fs::create_dir(&d).unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let o = build_tiny(&d, extra);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains("is a directory"), "{}", stderr(&o));
        assert!(d.is_dir());
    }
    assert_eq!(dir.files(), vec!["m.safetensors".to_string()]);
}

/// A character device node of our own (a copy of the null device's numbers, in the
/// test's directory) — only where the test may create one (as root); skipped otherwise.
#[test]
fn output_device_node_is_refused_unless_forced() {
    let dir = TempDir::new("dev-out");
    let node = dir.path("m.safetensors");
    let made = Command::new("mknod")
        .arg(&node)
        .args(["c", "1", "3"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        eprintln!("skipped: cannot create a device node here (not root?)");
        return;
    }
    assert!(fs::symlink_metadata(&node)
        .unwrap()
        .file_type()
        .is_char_device());
    let o = build_tiny(&node, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is a character device"),
        "{}",
        stderr(&o)
    );
    assert!(fs::symlink_metadata(&node)
        .unwrap()
        .file_type()
        .is_char_device());

    // A symbolic link to the node is refused as a link (and never followed).
    let link = dir.path("link.safetensors");
    symlink(&node, &link).unwrap();
    let o = build_tiny(&link, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is a symbolic link"), "{}", stderr(&o));
    assert!(fs::symlink_metadata(&node)
        .unwrap()
        .file_type()
        .is_char_device());

    let o = build_tiny(&node, &["--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(fs::symlink_metadata(&node).unwrap().file_type().is_file());
}

// ---------------------------------------------------------------------------------
// Temporary files: signals and the sweep
// ---------------------------------------------------------------------------------

/// A spec with one large zero-initialized variable: its write takes long enough to
/// be interrupted while the temporary file exists.
fn big_spec(dir: &TempDir, elements: usize) -> String {
    let spec = dir.path(&format!("big-{elements}.toml"));
    fs::write(
        &spec,
        format!(
            "name = \"big\"\nseed = 1\ndtype = \"float32\"\n[[scopes]]\nname = \"s\"\n\
             modules = [{{ type = \"variable\", name = \"big\", shape = [{elements}], \
             initializer = {{ kind = \"zeros\" }} }}]\n"
        ),
    )
    .unwrap();
    spec.display().to_string()
}

/// What happened when a build was sent `signal` as soon as its temporary file
/// appeared.
struct Interrupted {
    status: ExitStatus,
    /// Whether the temporary file was seen (and the signal sent) before the build
    /// finished.
    signalled: bool,
    target_exists: bool,
}

fn build_and_signal(
    dir: &TempDir,
    elements: usize,
    signal: rustix::process::Signal,
) -> Interrupted {
    let spec = big_spec(dir, elements);
    let target = dir.path("m.safetensors");
    let _ = fs::remove_file(&target);
    let mut child = Command::new(BIN)
        .args(["build", &spec, "-o", &dir.s("m.safetensors"), "-q"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = rustix::process::Pid::from_child(&child);
    let start = Instant::now();
    let mut signalled = false;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if !signalled && !dir.temps("m.safetensors").is_empty() {
            rustix::process::kill_process(pid, signal).unwrap();
            signalled = true;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("build did not finish");
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    Interrupted {
        status,
        signalled,
        target_exists: target.exists(),
    }
}

/// Sends each of SIGINT, SIGTERM, SIGHUP to a build while it writes: it exits with
/// 128 + the signal number and leaves no temporary file. A build that finished before
/// the signal landed proves nothing and is retried with a larger model.
#[test]
fn interrupted_builds_remove_their_temporary_file() {
    use rustix::process::Signal;
    let dir = TempDir::new("signals");
    for (signal, signo) in [(Signal::INT, 2), (Signal::TERM, 15), (Signal::HUP, 1)] {
        let mut proven = false;
        for elements in [8 << 20, 32 << 20, 64 << 20] {
            let r = build_and_signal(&dir, elements, signal);
            assert!(
                dir.temps("m.safetensors").is_empty(),
                "signal {signo}: temporary file left: {:?}",
                dir.files()
            );
            // A signal landing just as the build finishes may find it exiting with 0;
            // then its write completed.
            assert!(
                r.status.code() == Some(128 + signo) || (r.status.success() && r.target_exists),
                "signal {signo}: {:?}",
                r.status
            );
            if r.signalled && !r.target_exists {
                proven = true;
                break;
            }
        }
        assert!(proven, "signal {signo} never arrived during a write");
    }
}

/// SIGKILL cannot be handled: the temporary file stays, and the next write to the
/// same target removes it.
#[test]
fn the_next_write_sweeps_what_a_killed_build_left() {
    let dir = TempDir::new("sigkill");
    let mut proven = false;
    for elements in [8 << 20, 32 << 20, 64 << 20] {
        let r = build_and_signal(&dir, elements, rustix::process::Signal::KILL);
        if !r.signalled || r.target_exists {
            continue;
        }
        assert_eq!(r.status.code(), None, "killed by the signal");
        assert_eq!(dir.temps("m.safetensors").len(), 1, "{:?}", dir.files());
        let o = build_tiny(&dir.path("m.safetensors"), &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(dir.temps("m.safetensors").is_empty(), "{:?}", dir.files());
        proven = true;
        break;
    }
    assert!(proven, "SIGKILL never arrived during a write");
}

/// The sweep removes only files of the exact temporary-name pattern, of this target,
/// whose process is gone.
#[test]
fn the_sweep_removes_only_stale_temporary_files_of_the_same_target() {
    let dir = TempDir::new("sweep");
    // A pid that no longer runs: a child that has exited and been reaped.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let alive = std::process::id();
    let rnd = "0123456789abcdef";
    let stale = format!(".m.safetensors.tmp-{dead}-3-{rnd}");
    let keep = [
        format!(".m.safetensors.tmp-{alive}-3-{rnd}"), // a live writer
        format!(".other.safetensors.tmp-{dead}-3-{rnd}"), // another target
        format!(".m.safetensors.tmp-{dead}-3-{rnd}.bak"), // not the pattern
        format!("m.safetensors.tmp-{dead}-3-{rnd}"),   // not hidden
        "notes.txt".to_string(),
    ];
    for f in keep.iter().chain([&stale]) {
        fs::write(dir.path(f), b"x").unwrap();
    }
    // A directory of the stale name pattern is not removed either.
    let stale_dir = format!(".m.safetensors.tmp-{dead}-4-{rnd}");
    fs::create_dir(dir.path(&stale_dir)).unwrap();

    let o = build_tiny(&dir.path("m.safetensors"), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut expected: Vec<String> = keep.to_vec();
    expected.push(stale_dir);
    expected.push("m.safetensors".into());
    expected.sort();
    assert_eq!(dir.files(), expected);
}

// ---------------------------------------------------------------------------------
// inspect / verify on what is not a file
// ---------------------------------------------------------------------------------

#[test]
fn inspect_and_verify_on_a_fifo_without_writer_do_not_block() {
    let dir = TempDir::new("fifo-in");
    let fifo = dir.s("ckpt.safetensors");
    mkfifo(Path::new(&fifo));
    for args in [
        vec!["inspect", fifo.as_str()],
        vec!["verify", TINY, fifo.as_str()],
    ] {
        let o = wait_or_kill(spawn(&args), Duration::from_secs(60), args[0]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("is a FIFO, not a checkpoint file"), "{err}");
        assert!(err.contains(&fifo), "{err}");
    }
}

#[test]
fn inspect_on_a_directory_says_it_is_a_directory() {
    let dir = TempDir::new("dir-in");
    let d = dir.s("ckpt");
    fs::create_dir(&d).unwrap();
    for args in [
        vec!["inspect", d.as_str()],
        vec!["verify", TINY, d.as_str()],
    ] {
        let o = varscope(&args);
        assert_eq!(o.status.code(), Some(2));
        let err = stderr(&o);
        assert!(
            err.contains("is a directory, not a checkpoint file"),
            "{err}"
        );
        assert!(!err.contains("too short"), "{err}");
    }
}

// ---------------------------------------------------------------------------------
// A closed standard output
// ---------------------------------------------------------------------------------

/// The writing end of a pipe whose reading end is already closed: a FIFO opened
/// read-write (which does not block), opened again write-only, then the read-write
/// end dropped.
fn closed_pipe(dir: &TempDir) -> fs::File {
    let fifo = dir.path("pipe");
    mkfifo(&fifo);
    let rw = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    let w = fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    drop(rw);
    w
}

#[test]
fn a_closed_stdout_ends_quietly_with_the_broken_pipe_status() {
    let dir = TempDir::new("epipe");
    let out = dir.s("m.safetensors");
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .stdout(closed_pipe(&dir))
            .stderr(Stdio::piped())
            .output()
            .unwrap()
    };
    let o = run(&["build", TINY, "-o", &out]);
    assert_eq!(o.status.code(), Some(141), "{}", stderr(&o));
    assert_eq!(stderr(&o), "", "no panic, no message");
    // The work was done nevertheless: the checkpoint is complete.
    let v = varscope(&["verify", TINY, &out]);
    assert!(v.status.success(), "{}", stderr(&v));
    let _ = fs::remove_file(dir.path("pipe"));

    for args in [
        vec!["inspect", out.as_str()],
        vec!["verify", TINY, out.as_str()],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(141), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{args:?}");
        let _ = fs::remove_file(dir.path("pipe"));
    }
}

// ---------------------------------------------------------------------------------
// Papercuts
// ---------------------------------------------------------------------------------

#[test]
fn threads_zero_is_rejected_like_workers_zero() {
    let dir = TempDir::new("threads0");
    let out = dir.path("m.safetensors");
    for flag in ["--threads", "--workers"] {
        let o = build_tiny(&out, &[flag, "0"]);
        assert_eq!(o.status.code(), Some(2), "{flag}");
        let err = stderr(&o);
        assert!(err.contains("at least one"), "{flag}: {err}");
        assert!(!out.exists(), "{flag}");
    }
    let ok = build_tiny(&out, &[]);
    assert!(ok.status.success());
    for flag in ["--threads", "--workers"] {
        let o = varscope(&["verify", TINY, &dir.s("m.safetensors"), flag, "0"]);
        assert_eq!(o.status.code(), Some(2), "{flag}");
        assert!(
            stderr(&o).contains("at least one"),
            "{flag}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn a_missing_output_directory_is_reported_by_the_path_given() {
    let dir = TempDir::new("nodir");
    let out = dir.s("no/such/m.safetensors");
    let o = build_tiny(Path::new(&out), &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains(&out), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(!err.contains(".tmp-"), "{err}");
    assert!(dir.files().is_empty());
}
