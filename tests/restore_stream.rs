//! `restore_file` reads straight into the variables: everything is resolved from the
//! header or index first, then each value is read with positioned reads into a new
//! buffer of the variable's shape (CRC32C checked for bundles), then all are assigned.

use std::path::PathBuf;
use varscope::checkpoint::AnyCheckpoint;
use varscope::model::{build_model, BuiltModel, ModelSpec};
use varscope::restore::{init_from_checkpoint_in, restore, restore_file};
use varscope::{ErrorKind, Graph, Runtime, Tensor};

mod common;
use common::TempDir;

/// The saved side: variables partitioned along rows and columns, whole ones, several
/// dtypes.
const SAVED: &str = r#"
[[scopes]]
name = "m"
modules = [
  { type = "variable", name = "emb", shape = [50, 6], initializer = { kind = "random_normal" }, partitioner = { kind = "fixed", shards = 3 } },
  { type = "variable", name = "cols", shape = [8, 30], initializer = { kind = "random_uniform" }, partitioner = { kind = "fixed", shards = 4, axis = 1 } },
  { type = "variable", name = "w", shape = [5, 7], initializer = { kind = "truncated_normal" } },
  { type = "variable", name = "parts", shape = [12, 4], initializer = { kind = "glorot_uniform" }, partitioner = { kind = "fixed", shards = 3 } },
  { type = "variable", name = "b16", shape = [10, 3], dtype = "bfloat16", initializer = { kind = "random_normal" }, partitioner = { kind = "fixed", shards = 2 } },
  { type = "variable", name = "ids", shape = [3, 4, 5], dtype = "int64", initializer = { kind = "random_uniform", min = 0, max = 1000 }, partitioner = { kind = "fixed", shards = 2, axis = 1 } },
  { type = "variable", name = "flags", shape = [7], dtype = "bool", initializer = { kind = "ones" } },
  { type = "variable", name = "big", shape = [300, 1000], initializer = { kind = "random_normal" }, partitioner = { kind = "fixed", shards = 3, axis = 1 } },
  { type = "variable", name = "tall", shape = [3000, 100], initializer = { kind = "random_normal" } },
]
"#;

/// The restoring side: the same variables, partitioned differently (other shard
/// counts, another axis, whole into shards and shards into whole).
const RESTORED: &str = r#"
[[scopes]]
name = "m"
modules = [
  { type = "variable", name = "emb", shape = [50, 6], partitioner = { kind = "fixed", shards = 4 } },
  { type = "variable", name = "cols", shape = [8, 30], partitioner = { kind = "fixed", shards = 3 } },
  { type = "variable", name = "w", shape = [5, 7], partitioner = { kind = "fixed", shards = 2, axis = 1 } },
  { type = "variable", name = "parts", shape = [12, 4] },
  { type = "variable", name = "b16", shape = [10, 3], dtype = "bfloat16", partitioner = { kind = "fixed", shards = 5 } },
  { type = "variable", name = "ids", shape = [3, 4, 5], dtype = "int64", partitioner = { kind = "fixed", shards = 3, axis = 2 } },
  { type = "variable", name = "flags", shape = [7], dtype = "bool" },
  { type = "variable", name = "big", shape = [300, 1000], partitioner = { kind = "fixed", shards = 7 } },
  { type = "variable", name = "tall", shape = [3000, 100], partitioner = { kind = "fixed", shards = 7 } },
]
"#;

fn model(text: &str, seed: u64) -> BuiltModel {
    let spec = ModelSpec::from_toml_str(text).unwrap();
    build_model(&spec, &Runtime::new(1).unwrap(), &Graph::with_seed(seed)).unwrap()
}

/// Every variable's whole value, by name.
fn values(m: &BuiltModel) -> Vec<(String, Tensor)> {
    m.variables()
        .iter()
        .map(|v| {
            let name = v.name();
            (name.trim_end_matches(":0").to_string(), v.value().unwrap())
        })
        .collect()
}

fn assert_same(got: &[(String, Tensor)], want: &[(String, Tensor)], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for ((n, a), (m, b)) in got.iter().zip(want) {
        assert_eq!(n, m, "{what}");
        assert!(
            a == b,
            "{what}: {n} differs:\n{:?}\n{:?}",
            a.to_f64_vec(),
            b.to_f64_vec()
        );
    }
}

/// The saved model written in both formats: (safetensors path, bundle prefix).
fn save_both(dir: &TempDir, saved: &BuiltModel) -> (PathBuf, PathBuf) {
    let spec = ModelSpec::from_toml_str(SAVED).unwrap();
    let st = dir.path("m.safetensors");
    saved.save(&st, &saved.checkpoint_metadata(&spec)).unwrap();
    let prefix = dir.path("m.ckpt");
    saved.save_tf_bundle(&prefix, 2).unwrap();
    (st, prefix)
}

#[test]
fn partitioned_variables_restore_from_another_partitioning_in_both_formats() {
    let dir = TempDir::new("rstream-parts");
    let saved = model(SAVED, 7);
    let expected = values(&saved);
    let (st, prefix) = save_both(&dir, &saved);
    for path in [st.clone(), prefix.clone(), dir.path("m.ckpt.index")] {
        let target = model(RESTORED, 99);
        assert_ne!(values(&target), expected);
        let report = restore_file(target.graph(), &path).unwrap();
        assert_same(&values(&target), &expected, &path.display().to_string());
        // 4 + 3 + 2 + 1 + 5 + 3 + 1 + 7 + 7 variables and shards, all but `flags` cut
        // or assembled.
        assert_eq!(report.restored.len(), 33, "{report:?}");
        assert_eq!(report.resliced.len(), 32, "{report:?}");
        assert!(report.unused.is_empty(), "{report:?}");
        let nbytes: u64 = expected.iter().map(|(_, t)| t.nbytes() as u64).sum();
        assert_eq!(report.bytes, nbytes);

        // The in-memory path agrees, report and all.
        let loaded = AnyCheckpoint::open(&path).unwrap().load().unwrap();
        let again = model(RESTORED, 98);
        assert_eq!(restore(again.graph(), &loaded).unwrap(), report);
        assert_eq!(values(&again), expected);
    }
    // The same partitioning restores every shard as stored (nothing cut).
    for path in [st, prefix] {
        let same = model(SAVED, 3);
        let report = restore_file(same.graph(), &path).unwrap();
        assert!(report.resliced.is_empty(), "{report:?}");
        assert_eq!(values(&same), expected);
    }
}

#[test]
fn init_from_checkpoint_reads_regions_of_either_format() {
    let dir = TempDir::new("rstream-ifc");
    let saved = model(SAVED, 7);
    let expected = values(&saved);
    let (st, prefix) = save_both(&dir, &saved);
    for path in [st, prefix] {
        let target = model(RESTORED, 99);
        let ckpt = AnyCheckpoint::open(&path).unwrap();
        let report = init_from_checkpoint_in(target.graph(), &ckpt, [("m/", "m/")]).unwrap();
        assert_eq!(report.restored.len(), 33);
        assert_same(&values(&target), &expected, &path.display().to_string());
    }
}

#[test]
fn a_corrupted_bundle_byte_leaves_every_variable_unchanged() {
    let dir = TempDir::new("rstream-crc");
    let saved = model(SAVED, 7);
    let prefix = dir.path("m.ckpt");
    saved.save_tf_bundle(&prefix, 1).unwrap();
    let data = dir.path("m.ckpt.data-00000-of-00001");
    let clean = std::fs::read(&data).unwrap();
    for at in [0, 1000, clean.len() / 2, clean.len() - 1] {
        let mut bytes = clean.clone();
        bytes[at] ^= 0x01;
        std::fs::write(&data, &bytes).unwrap();
        // Regions cut from the bundle's slices, and stored slices read whole.
        for text in [RESTORED, SAVED] {
            let target = model(text, 99);
            let before = values(&target);
            let e = restore_file(target.graph(), &prefix).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Checkpoint, "{e}");
            assert!(e.to_string().contains("data checksum mismatch"), "{e}");
            assert_eq!(values(&target), before, "byte {at}");
            let ckpt = AnyCheckpoint::open(&prefix).unwrap();
            let e = init_from_checkpoint_in(target.graph(), &ckpt, [("/", "/")]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Checkpoint, "{e}");
            assert_eq!(values(&target), before, "byte {at}");
        }
    }
    std::fs::write(&data, &clean).unwrap();
    let target = model(RESTORED, 99);
    restore_file(target.graph(), &prefix).unwrap();
    assert_same(&values(&target), &values(&saved), "clean");
}

#[test]
fn a_truncated_file_or_bad_bool_is_an_error_and_changes_nothing() {
    let dir = TempDir::new("rstream-trunc");
    let saved = model(SAVED, 7);
    let (st, _) = save_both(&dir, &saved);
    let clean = std::fs::read(&st).unwrap();
    // A bool byte of 2: find `flags`' bytes (all ones) by saving it as zeros.
    let zeros = SAVED.replace(
        r#"dtype = "bool", initializer = { kind = "ones" }"#,
        r#"dtype = "bool", initializer = { kind = "zeros" }"#,
    );
    let other = model(&zeros, 7);
    let st2 = dir.path("z.safetensors");
    let spec = ModelSpec::from_toml_str(&zeros).unwrap();
    other.save(&st2, &other.checkpoint_metadata(&spec)).unwrap();
    let z = std::fs::read(&st2).unwrap();
    let header_len = u64::from_le_bytes(clean[..8].try_into().unwrap()) as usize;
    let at = (8 + header_len..clean.len())
        .find(|&i| clean[i] != z[i])
        .unwrap();
    let mut bytes = clean.clone();
    bytes[at] = 2;
    std::fs::write(&st, &bytes).unwrap();
    let target = model(RESTORED, 99);
    let before = values(&target);
    let e = restore_file(target.graph(), &st).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Checkpoint, "{e}");
    assert!(e.to_string().contains("not a valid bool"), "{e}");
    assert_eq!(values(&target), before);
}
