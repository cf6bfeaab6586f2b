//! `verify` of TF bundles: streamed, block by block, with positioned reads: whole
//! tensors and slices of partitioned variables, every kind of mismatch reported as
//! for safetensors, a corrupted byte caught by the entry's CRC32C, bounded memory.

use std::process::Command;
use varscope::checkpoint::AnyCheckpoint;
use varscope::model::{build_model, ModelSpec};
use varscope::{ErrorKind, Graph, Runtime};

mod common;
use common::TempDir;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_varscope"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Whole tensors of several dtypes, variables partitioned along rows and columns
/// (slices in the bundle), tensors larger than the 4 MiB verify piece.
const SPEC: &str = r#"
seed = 5
[[scopes]]
name = "m"
modules = [
  { type = "variable", name = "big", shape = [1100, 1000], initializer = { kind = "truncated_normal" } },
  { type = "variable", name = "rows", shape = [999, 64], initializer = { kind = "random_uniform" }, partitioner = { kind = "fixed", shards = 3 } },
  { type = "variable", name = "cols", shape = [40, 700], initializer = { kind = "he_normal" }, partitioner = { kind = "fixed", shards = 4, axis = 1 } },
  { type = "variable", name = "half", shape = [33, 17], dtype = "float16", initializer = { kind = "random_normal" } },
  { type = "variable", name = "ints", shape = [500], dtype = "int64", initializer = { kind = "random_uniform", min = 0, max = 90 } },
  { type = "variable", name = "flags", shape = [9], dtype = "bool" },
  { type = "variable", name = "scalar", shape = [], initializer = { kind = "constant", value = 2.5 } },
]
"#;

fn write_spec(dir: &TempDir, name: &str, text: &str) -> String {
    let p = dir.arg(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn build_tf(spec: &str, prefix: &str, shards: usize) {
    let n = shards.to_string();
    let o = run(&[
        "build", spec, "-o", prefix, "--format", "tf", "--shards", &n, "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_bundle_built_with_1_or_3_data_files_verifies() {
    let dir = TempDir::new("vbundle-ok");
    let spec = write_spec(&dir, "m.toml", SPEC);
    for shards in [1, 3] {
        let prefix = dir.arg(&format!("m{shards}"));
        build_tf(&spec, &prefix, shards);
        for target in [prefix.clone(), format!("{prefix}.index")] {
            let o = run(&["verify", &spec, &target]);
            assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
            assert!(stdout(&o).contains("OK: all 12 tensors"), "{}", stdout(&o));
        }
    }
}

#[test]
fn a_wrong_seed_a_changed_missing_or_extra_tensor_is_reported() {
    let dir = TempDir::new("vbundle-mismatch");
    let spec = write_spec(&dir, "m.toml", SPEC);
    let prefix = dir.arg("m");
    build_tf(&spec, &prefix, 2);

    // Another seed: every random tensor differs, the constant ones do not.
    let o = run(&["verify", &spec, &prefix, "--seed", "6"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("MISMATCH m/big: 1,100,000 of 1,100,000 elements differ"),
        "{out}"
    );
    assert!(out.contains("MISMATCH m/rows/part_1: "), "{out}");
    assert!(out.contains("MISMATCH m/cols/part_3: "), "{out}");
    assert!(!out.contains("m/scalar"), "{out}");
    assert!(!out.contains("m/flags"), "{out}");

    // A changed tensor (another initializer), a missing one (new in the spec), an
    // extra one (gone from the spec), another shape and another partitioning.
    let changed = SPEC
        .replace(
            r#"name = "ints", shape = [500], dtype = "int64", initializer = { kind = "random_uniform", min = 0, max = 90 }"#,
            r#"name = "ints", shape = [500], dtype = "int64", initializer = { kind = "random_uniform", min = 0, max = 91 }"#,
        )
        .replace(
            r#"{ type = "variable", name = "flags", shape = [9], dtype = "bool" },"#,
            r#"{ type = "variable", name = "new", shape = [3] },"#,
        )
        .replace("shape = [33, 17]", "shape = [33, 18]")
        .replace("shards = 4, axis = 1", "shards = 5, axis = 1");
    let spec2 = write_spec(&dir, "changed.toml", &changed);
    let o = run(&["verify", &spec2, &prefix]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("MISMATCH m/ints: "), "{out}");
    assert!(out.contains(" of 500 elements differ"), "{out}");
    assert!(
        out.contains("MISMATCH m/new: missing from the checkpoint"),
        "{out}"
    );
    assert!(out.contains("MISMATCH m/flags: not in the model"), "{out}");
    assert!(
        out.contains(
            "MISMATCH m/half: checkpoint has float16 (33, 17), the spec gives float16 (33, 18)"
        ),
        "{out}"
    );
    // 5 column shards of 140 against the bundle's 4 slices of 175.
    assert!(
        out.contains("MISMATCH m/cols/part_0: checkpoint has float32 (40, 175), the spec gives float32 (40, 140)"),
        "{out}"
    );
    assert!(
        out.contains("MISMATCH m/cols/part_4: missing from the checkpoint"),
        "{out}"
    );
    assert!(!out.contains("m/big"), "{out}");
    assert!(!out.contains("m/rows"), "{out}");
    let err = stderr(&o);
    assert!(err.contains("does not match the spec"), "{err}");
}

#[test]
fn bundle_and_safetensors_reports_are_the_same() {
    let dir = TempDir::new("vbundle-same");
    let spec = ModelSpec::from_toml_str(SPEC).unwrap();
    let rt = Runtime::new(2).unwrap();
    let m = build_model(&spec, &rt, &Graph::with_seed(5)).unwrap();
    let st = dir.arg("m.safetensors");
    m.save(st.as_ref(), &m.checkpoint_metadata(&spec)).unwrap();
    let prefix = dir.arg("m");
    m.save_tf_bundle(prefix.as_ref(), 3).unwrap();
    let bundle = AnyCheckpoint::open(prefix.as_ref()).unwrap();
    for seed in [5, 9] {
        let other = build_model(&spec, &rt, &Graph::with_seed(seed)).unwrap();
        for piece in [64, 1000, 4 << 20] {
            let a = other
                .verify_safetensors(st.as_ref(), piece, &|_| {})
                .unwrap();
            let b = other.verify_checkpoint(&bundle, piece, &|_| {}).unwrap();
            assert_eq!(a, b, "seed {seed}, pieces of {piece} bytes");
            assert_eq!(a.tensors, 12);
            assert_eq!(a.problems.is_empty(), seed == 5, "{:?}", a.problems);
        }
    }
}

#[test]
fn a_flipped_data_byte_is_a_checksum_error() {
    let dir = TempDir::new("vbundle-crc");
    let spec = write_spec(&dir, "m.toml", SPEC);
    let prefix = dir.arg("m");
    build_tf(&spec, &prefix, 1);
    let data = format!("{prefix}.data-00000-of-00001");
    let clean = std::fs::read(&data).unwrap();
    // Bytes inside compared tensors: the first, a middle one and the last.
    for at in [0, clean.len() / 2, clean.len() - 1] {
        let mut bytes = clean.clone();
        bytes[at] ^= 0x10;
        std::fs::write(&data, &bytes).unwrap();
        let o = run(&["verify", &spec, &prefix]);
        assert!(!o.status.success());
        let err = stderr(&o);
        assert!(err.contains("data checksum mismatch"), "{err}");
        assert!(err.contains("corrupt checkpoint"), "{err}");
    }
    // An entry the spec does not have is checked too.
    std::fs::write(&data, &clean).unwrap();
    let spec_text = SPEC.replace(
        r#"{ type = "variable", name = "flags", shape = [9], dtype = "bool" },"#,
        "",
    );
    let spec = ModelSpec::from_toml_str(&spec_text).unwrap();
    let m = build_model(&spec, &Runtime::new(1).unwrap(), &Graph::with_seed(5)).unwrap();
    let ckpt = AnyCheckpoint::open(prefix.as_ref()).unwrap();
    let report = m.verify_checkpoint(&ckpt, 1 << 20, &|_| {}).unwrap();
    assert_eq!(report.problems, ["m/flags: not in the model"]);
    let alt = dir.arg("alt");
    // The same bundle with `flags` all ones: the bytes that differ are its bytes.
    let ones = SPEC.replace(
        r#"name = "flags", shape = [9], dtype = "bool" }"#,
        r#"name = "flags", shape = [9], dtype = "bool", initializer = { kind = "ones" } }"#,
    );
    let ones_spec = write_spec(&dir, "ones.toml", &ones);
    build_tf(&ones_spec, &alt, 1);
    let alt_bytes = std::fs::read(format!("{alt}.data-00000-of-00001")).unwrap();
    assert_eq!(alt_bytes.len(), clean.len());
    let at = (0..clean.len())
        .find(|&i| clean[i] != alt_bytes[i])
        .unwrap();
    let mut bytes = clean.clone();
    bytes[at] = 1; // still a valid bool: only the checksum tells
    std::fs::write(&data, &bytes).unwrap();
    let e = m.verify_checkpoint(&ckpt, 1 << 20, &|_| {}).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Checkpoint, "{e}");
    assert!(
        e.to_string()
            .contains("tensor m/flags: data checksum mismatch"),
        "{e}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn cli_verify_of_a_bundle_stays_below_the_model_size() {
    let dir = TempDir::new("vbundle-rss");
    let spec = write_spec(
        &dir,
        "big.toml",
        r#"
        seed = 3
        [[scopes]]
        name = "big"
        repeat = 8
        modules = [
          { type = "variable", name = "w", shape = [2048, 2048], initializer = { kind = "uniform_unit_scaling" } },
          { type = "variable", name = "p", shape = [4096, 512], initializer = { kind = "random_normal" }, partitioner = { kind = "fixed", shards = 3 } },
        ]
        "#,
    );
    let prefix = dir.arg("big");
    build_tf(&spec, &prefix, 2);
    let size: u64 = (0..2)
        .map(|i| {
            std::fs::metadata(format!("{prefix}.data-0000{i}-of-00002"))
                .unwrap()
                .len()
        })
        .sum();
    assert!(size >= 192 << 20, "{size}");
    let peak = common::peak_rss_kib(&["verify", &spec, &prefix]);
    assert!(
        peak < 64 << 10,
        "peak RSS {peak} KiB verifying a {size}-byte bundle"
    );
}
