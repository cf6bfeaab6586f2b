//! The `varscope` binary on small specs: build, inspect, verify, errors, atomic writes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TINY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tiny.toml");

fn varscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_varscope"))
        .args(args)
        .output()
        .expect("run varscope")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("varscope-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
    fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn build_tiny(dir: &TempDir, file: &str, extra: &[&str]) -> Output {
    let out = dir.path(file);
    let mut args = vec!["build", TINY, "-o", out.as_str()];
    args.extend_from_slice(extra);
    varscope(&args)
}

#[test]
fn build_prints_the_summary_and_timings_and_writes_the_checkpoint() {
    let dir = TempDir::new("build");
    let o = build_tiny(
        &dir,
        "tiny.safetensors",
        &["--workers", "3", "--threads", "2"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for needle in [
        "net/",
        "tower/",
        "layer_0 … layer_1 ×2/",
        "weights",
        "[50, 16]",
        "bfloat16",
        "total: ",
        "build:",
        "init:",
        "write:",
        "GB/s",
        "on 3 workers",
        "on 2 threads",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    // No progress bar when stderr is not a terminal.
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    let ckpt =
        varscope::checkpoint::load_safetensors(Path::new(&dir.path("tiny.safetensors"))).unwrap();
    assert!(ckpt.tensors.contains_key("net/emb/weights/part_0"));
    assert!(ckpt
        .tensors
        .contains_key("net/tower/layer_0/attention/q/kernel"));
    assert_eq!(ckpt.metadata["varscope.seed"], "7");
    assert!(ckpt.metadata.contains_key("partition:net/emb/weights"));
}

#[test]
fn seed_flag_overrides_the_spec() {
    let dir = TempDir::new("seed");
    let o = build_tiny(&dir, "s.safetensors", &["--seed", "99"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ckpt =
        varscope::checkpoint::load_safetensors(Path::new(&dir.path("s.safetensors"))).unwrap();
    assert_eq!(ckpt.metadata["varscope.seed"], "99");
}

#[test]
fn same_seed_same_bytes_for_any_workers_and_threads() {
    let dir = TempDir::new("det");
    let a = build_tiny(&dir, "a.safetensors", &["--workers", "1", "--threads", "1"]);
    let b = build_tiny(&dir, "b.safetensors", &["--workers", "4", "--threads", "3"]);
    assert!(a.status.success() && b.status.success());
    let fa = std::fs::read(dir.path("a.safetensors")).unwrap();
    let fb = std::fs::read(dir.path("b.safetensors")).unwrap();
    assert_eq!(fa, fb);
}

#[test]
fn inspect_prints_the_summary_with_shards() {
    let dir = TempDir::new("inspect");
    assert!(build_tiny(&dir, "t.safetensors", &[]).status.success());
    let o = varscope(&["inspect", &dir.path("t.safetensors")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let emb = text
        .lines()
        .find(|l| l.contains("[50, 16]"))
        .unwrap_or_else(|| panic!("no embedding row in\n{text}"));
    assert!(emb.trim_end().ends_with(" 3"), "{emb}");
    assert!(text.contains("seed: 7"), "{text}");
    assert!(text.contains("model: tiny"), "{text}");
    // Same totals as the build.
    let built = stdout(&build_tiny(&dir, "u.safetensors", &[]));
    let total = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("total:"))
            .map(str::to_string)
    };
    assert_eq!(total(&text), total(&built));
}

#[test]
fn inspect_and_verify_reject_a_corrupt_or_missing_checkpoint() {
    let dir = TempDir::new("inspect-bad");
    let bad = dir.path("bad.safetensors");
    std::fs::write(&bad, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all").unwrap();
    for args in [
        vec!["inspect", bad.as_str()],
        vec!["verify", TINY, bad.as_str()],
    ] {
        let o = varscope(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert!(err.starts_with("error: corrupt checkpoint: "), "{err}");
        assert!(
            err.contains("bad.safetensors: header is not valid JSON"),
            "{err}"
        );
    }
    let missing = dir.path("missing.safetensors");
    let o = varscope(&["inspect", &missing]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with(&format!("error: {missing}: ")),
        "{}",
        stderr(&o)
    );
}

#[test]
fn verify_passes_on_its_own_checkpoint_and_fails_on_a_changed_one() {
    let dir = TempDir::new("verify");
    assert!(build_tiny(&dir, "t.safetensors", &[]).status.success());
    let file = dir.path("t.safetensors");
    let o = varscope(&["verify", TINY, &file, "--workers", "1", "--threads", "1"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("OK: all 42 tensors"), "{}", stdout(&o));

    // Flip one bit of the last tensor's data.
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    let o = varscope(&["verify", TINY, &file]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("MISMATCH"), "{}", stdout(&o));
    assert!(stdout(&o).contains("1 of"), "{}", stdout(&o));
    assert!(stderr(&o).contains("does not match"), "{}", stderr(&o));
}

#[test]
fn verify_reports_a_checkpoint_of_another_model() {
    let dir = TempDir::new("verify-other");
    let spec = dir.path("other.toml");
    std::fs::write(
        &spec,
        "seed = 7\n[[scopes]]\nname = \"net\"\nmodules = [{ type = \"dense\", name = \"half\", inputs = 2, units = 2 }]\n",
    )
    .unwrap();
    assert!(build_tiny(&dir, "t.safetensors", &[]).status.success());
    let o = varscope(&["verify", &spec, &dir.path("t.safetensors")]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(
        text.contains("net/half/kernel: missing from the checkpoint"),
        "{text}"
    );
    assert!(text.contains("not in the model"), "{text}");
}

#[test]
fn malformed_spec_names_line_column_and_key() {
    let dir = TempDir::new("malformed");
    let spec = dir.path("bad.toml");
    std::fs::write(
        &spec,
        "seed = 1\n[[scopes]]\nname = \"a\"\nmodules = [\n  { type = \"dense\", inputs = 4, unitz = 2 },\n]\n",
    )
    .unwrap();
    let o = varscope(&["build", &spec, "-o", &dir.path("x.safetensors")]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("line 5, column"), "{err}");
    assert!(err.contains("key `scopes[0].modules[0].unitz`"), "{err}");
    assert!(err.contains("unknown field `unitz`"), "{err}");
    assert_eq!(dir.files(), vec!["bad.toml"]);
}

#[test]
fn failed_write_leaves_the_earlier_checkpoint_intact_and_no_partial_file() {
    let dir = TempDir::new("atomic");
    assert!(build_tiny(&dir, "t.safetensors", &[]).status.success());
    let before = std::fs::read(dir.path("t.safetensors")).unwrap();
    // Rebuild with another seed under a 4 KiB file-size limit (SIGXFSZ ignored, so
    // the write fails with EFBIG instead of killing the process).
    let script = format!(
        "trap '' XFSZ; ulimit -f 8; exec '{}' build '{}' -o '{}' --seed 1234 --quiet",
        env!("CARGO_BIN_EXE_varscope"),
        TINY,
        dir.path("t.safetensors")
    );
    let o = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("error:"), "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path("t.safetensors")).unwrap(), before);
    assert_eq!(dir.files(), vec!["t.safetensors"]);
}

#[test]
fn missing_output_directory_is_an_error() {
    let dir = TempDir::new("nodir");
    let out = dir.path("no/such/dir/x.safetensors");
    let o = varscope(&["build", TINY, "-o", &out, "--quiet"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("error:"));
    assert!(!Path::new(&out).exists());
}

#[test]
fn an_empty_spec_is_an_error_not_an_empty_model() {
    let dir = TempDir::new("empty-spec");
    let spec = dir.path("empty.toml");
    std::fs::write(&spec, "seed = 3\n").unwrap();
    let o = varscope(&["build", &spec, "-o", &dir.path("x.safetensors")]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("key `scopes`"), "{err}");
    assert!(err.contains("[[scopes]]"), "{err}");
    assert_eq!(dir.files(), vec!["empty.toml"]);
}

#[test]
fn build_errors_name_the_spec_key_and_the_toml_fix() {
    let dir = TempDir::new("build-error");
    let spec = dir.path("twice.toml");
    std::fs::write(
        &spec,
        "[[scopes]]\nname = \"net\"\nmodules = [\n  { type = \"dense\", name = \"p\", inputs = 2, units = 2 },\n  { type = \"dense\", name = \"p\", inputs = 2, units = 2 },\n]\n",
    )
    .unwrap();
    let o = varscope(&["build", &spec, "-o", &dir.path("x.safetensors")]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("spec key `scopes[0].modules[1]`"), "{err}");
    assert!(
        err.contains("Variable net/p/kernel already exists"),
        "{err}"
    );
    assert!(err.contains("reuse = \"auto\""), "{err}");
    assert!(!err.contains("Reuse::"), "{err}");
    assert_eq!(dir.files(), vec!["twice.toml"]);
}
