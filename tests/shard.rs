//! `build --shard I/N` and `merge`: the merged bundle equals one process writing N
//! data files; missing, damaged, foreign and disagreeing parts are refused and no
//! index is written; a failed part leaves no file.

#[path = "common/specs.rs"]
mod specs;

use specs::{assert_same_bundle, specs, TempDir, ROOT};
use std::path::Path;
use std::process::{Command, Output};
use varscope::checkpoint::{
    bundle_data_path, bundle_index_path, bundle_part_path, merge_tf_bundle, BundleReader,
    StreamOptions, WriteOptions,
};
use varscope::model::{build_model, BuiltModel, ModelSpec};
use varscope::{Error, ErrorKind, Graph, Runtime};

fn model(text: &str, seed: Option<u64>) -> (ModelSpec, BuiltModel) {
    let spec = ModelSpec::from_toml_str(text).unwrap();
    let rt = Runtime::new(2).unwrap();
    let m = build_model(&spec, &rt, &Graph::with_seed(seed.unwrap_or(spec.seed))).unwrap();
    (spec, m)
}

/// Writes every part of `text`'s bundle at `prefix`, each from a model of its own (as
/// separate processes would).
fn write_parts(text: &str, prefix: &Path, n: usize, only: &[usize]) {
    for &i in only {
        let (spec, m) = model(text, None);
        m.save_tf_bundle_part(
            prefix,
            i,
            n,
            &m.tf_part_source(&spec),
            &StreamOptions::new(),
            &|_| {},
        )
        .unwrap();
    }
}

fn merge(prefix: &Path) -> varscope::Result<varscope::checkpoint::MergeReport> {
    merge_tf_bundle(prefix, false, &WriteOptions::new())
}

fn varscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_varscope"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(o: Output, code: i32) -> String {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn merged_parts_equal_one_process_writing_n_files() {
    let dir = TempDir::new("shard-equal");
    for (name, text) in specs() {
        for n in [1, 2, 3, 5] {
            let one = dir.path(&format!("{name}-{n}-one"));
            let (_, m) = model(&text, None);
            m.save_tf_bundle(&one, n).unwrap();
            let parts = dir.path(&format!("{name}-{n}-parts"));
            // In reverse order: the order the parts are written in does not matter.
            let order: Vec<usize> = (0..n).rev().collect();
            write_parts(&text, &parts, n, &order);
            let report = merge(&parts).unwrap();
            assert_eq!(report.num_shards, n);
            assert_same_bundle(&one, &parts, n, &format!("{name}, {n} files"));
            for i in 0..n {
                assert!(!bundle_part_path(&parts, i, n).exists());
            }
        }
    }
}

#[test]
fn more_files_than_tensors_leaves_empty_data_files_as_tf_writes_them() {
    let dir = TempDir::new("shard-empty");
    let prefix = dir.path("m");
    write_parts(specs::TWO, &prefix, 5, &[0, 1, 2, 3, 4]);
    merge(&prefix).unwrap();
    let sizes: Vec<u64> = (0..5)
        .map(|i| {
            std::fs::metadata(bundle_data_path(&prefix, i, 5))
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(sizes, [120, 4800, 0, 0, 0]);
    let (_, m) = model(specs::TWO, None);
    m.save_tf_bundle(&dir.path("one"), 5).unwrap();
    assert_same_bundle(&dir.path("one"), &prefix, 5, "two tensors in 5 files");
    assert_eq!(BundleReader::open(&prefix).unwrap().num_shards(), 5);
}

#[test]
fn a_part_computes_only_the_values_of_its_data_file() {
    let dir = TempDir::new("shard-only");
    for i in 0..3 {
        let (spec, m) = model(specs::MIXED, None);
        let layout = m.tf_bundle_layout(3).unwrap();
        m.save_tf_bundle_part(
            &dir.path("m"),
            i,
            3,
            &m.tf_part_source(&spec),
            &StreamOptions::new(),
            &|_| {},
        )
        .unwrap();
        // Orthogonal values are computed whole and kept: only those of this file.
        for v in m.tensors().iter().filter(|v| v.is_initialized()) {
            let placed = layout.pieces().iter().position(|p| {
                p.name() == v.checkpoint_name()
                    || v.checkpoint_name()
                        .starts_with(&format!("{}/part_", p.name()))
                        && p.slice().map(|s| &s.offset) == v.save_slice_info().map(|s| &s.offset)
            });
            let shard = placed.map(|k| layout.pieces()[k].shard());
            assert_eq!(
                shard,
                Some(i),
                "{} computed for part {i}",
                v.checkpoint_name()
            );
        }
    }
}

#[test]
fn cli_parts_and_merge_equal_cli_shards() {
    let dir = TempDir::new("shard-cli");
    let tiny = format!("{ROOT}/examples/tiny.toml");
    let one = dir.path("one");
    ok(varscope(&[
        "build",
        &tiny,
        "--format",
        "tf",
        "--shards",
        "3",
        "-q",
        "-o",
        one.to_str().unwrap(),
    ]));
    let prefix = dir.path("m");
    let p = prefix.to_str().unwrap();
    for i in 0..3 {
        let shard = format!("{i}/3");
        let out = ok(varscope(&[
            "build", &tiny, "--format", "tf", "--shard", &shard, "--shards", "3", "-o", p,
        ]));
        assert!(out.contains(&format!("part {i} of 3")), "{out}");
        assert!(bundle_part_path(&prefix, i, 3).is_file());
        assert!(!bundle_index_path(&prefix).exists());
    }
    let out = ok(varscope(&["merge", p]));
    assert!(out.contains("merge:"), "{out}");
    assert_same_bundle(&one, &prefix, 3, "cli");
    // Quiet prints nothing.
    let q = dir.path("q");
    let qp = q.to_str().unwrap();
    for i in 0..2 {
        let o = varscope(&["build", &tiny, "--shard", &format!("{i}/2"), "-q", "-o", qp]);
        assert!(o.status.success() && o.stdout.is_empty() && o.stderr.is_empty());
    }
    let o = varscope(&["merge", "-q", qp]);
    assert!(o.status.success() && o.stdout.is_empty() && o.stderr.is_empty());
    // Verify reads the merged bundle back as the spec's values.
    let out = ok(varscope(&["verify", &tiny, p]));
    assert!(out.contains("OK"), "{out}");
}

#[test]
fn a_missing_part_is_listed_and_no_index_written() {
    let dir = TempDir::new("shard-missing");
    let prefix = dir.path("m");
    write_parts(specs::MIXED, &prefix, 5, &[0, 2, 4]);
    let e = merge(&prefix).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("missing parts 1, 3 of 5"), "{text}");
    assert!(text.contains("m.index.part-00001-of-00005"), "{text}");
    assert!(text.contains("m.index.part-00003-of-00005"), "{text}");
    assert!(!bundle_index_path(&prefix).exists());
    assert!(bundle_part_path(&prefix, 0, 5).exists(), "parts are kept");
    // The CLI says the same, exit 2.
    let err = fails(varscope(&["merge", prefix.to_str().unwrap()]), 2);
    assert!(err.contains("missing parts 1, 3 of 5"), "{err}");
    // Once the rest is written, the merge succeeds.
    write_parts(specs::MIXED, &prefix, 5, &[1, 3]);
    merge(&prefix).unwrap();
    // Nothing to merge at a prefix without parts.
    let e = merge(&dir.path("nothing")).unwrap_err();
    assert!(e.to_string().contains("no partial indices"), "{e}");
}

#[test]
fn a_damaged_part_is_refused() {
    let dir = TempDir::new("shard-corrupt");
    let prefix = dir.path("m");
    write_parts(specs::MIXED, &prefix, 3, &[0, 1, 2]);
    let part = bundle_part_path(&prefix, 1, 3);
    let good = std::fs::read(&part).unwrap();
    for at in [0, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x20;
        std::fs::write(&part, &bad).unwrap();
        let e = merge(&prefix).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Checkpoint, "{e}");
        assert!(e.to_string().contains("m.index.part-00001-of-00003"), "{e}");
        assert!(!bundle_index_path(&prefix).exists());
    }
    // Truncated, or not a part at all.
    for bad in [&good[..good.len() - 3], &b"hello"[..]] {
        std::fs::write(&part, bad).unwrap();
        assert_eq!(merge(&prefix).unwrap_err().kind(), ErrorKind::Checkpoint);
    }
    // A part renamed as another one's.
    std::fs::copy(bundle_part_path(&prefix, 0, 3), &part).unwrap();
    let e = merge(&prefix).unwrap_err();
    assert!(e.to_string().contains("not the part its name gives"), "{e}");
    std::fs::write(&part, &good).unwrap();
    merge(&prefix).unwrap();
}

#[test]
fn parts_of_other_builds_are_not_mixed() {
    let dir = TempDir::new("shard-foreign");
    let prefix = dir.path("m");
    write_parts(specs::MIXED, &prefix, 3, &[0, 2]);
    // Another seed: the same layout, other values.
    let (spec, other) = model(specs::MIXED, Some(12));
    other
        .save_tf_bundle_part(
            &prefix,
            1,
            3,
            &other.tf_part_source(&spec),
            &StreamOptions::new(),
            &|_| {},
        )
        .unwrap();
    let e = merge(&prefix).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Checkpoint, "{e}");
    assert!(e.to_string().contains("different builds"), "{e}");
    assert!(!bundle_index_path(&prefix).exists());
    // Another spec's part.
    let (spec, tiny) = model(&specs::read("examples/tiny.toml"), None);
    tiny.save_tf_bundle_part(
        &prefix,
        1,
        3,
        &tiny.tf_part_source(&spec),
        &StreamOptions::new(),
        &|_| {},
    )
    .unwrap();
    assert!(merge(&prefix)
        .unwrap_err()
        .to_string()
        .contains("different builds"));
    // The same spec and seed but another source text.
    let (_, same) = model(specs::MIXED, None);
    same.save_tf_bundle_part(
        &prefix,
        1,
        3,
        "something else",
        &StreamOptions::new(),
        &|_| {},
    )
    .unwrap();
    assert!(merge(&prefix)
        .unwrap_err()
        .to_string()
        .contains("different builds"));
    // Parts of another number of data files at the same prefix.
    write_parts(specs::MIXED, &prefix, 3, &[1]);
    write_parts(specs::MIXED, &prefix, 2, &[0]);
    let e = merge(&prefix).unwrap_err();
    assert!(
        e.to_string().contains("different shard counts (2, 3)"),
        "{e}"
    );
    std::fs::remove_file(bundle_part_path(&prefix, 0, 2)).unwrap();
    merge(&prefix).unwrap();
    let (_, m) = model(specs::MIXED, None);
    m.save_tf_bundle(&dir.path("one"), 3).unwrap();
    assert_same_bundle(&dir.path("one"), &prefix, 3, "after the foreign parts went");
}

#[test]
fn a_data_file_of_the_wrong_size_or_missing_is_refused() {
    let dir = TempDir::new("shard-data");
    let prefix = dir.path("m");
    write_parts(specs::MIXED, &prefix, 2, &[0, 1]);
    let data = bundle_data_path(&prefix, 1, 2);
    let bytes = std::fs::read(&data).unwrap();
    std::fs::write(&data, &bytes[..bytes.len() - 1]).unwrap();
    let e = merge(&prefix).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Checkpoint, "{e}");
    assert!(e.to_string().contains("its part says"), "{e}");
    std::fs::remove_file(&data).unwrap();
    assert!(merge(&prefix)
        .unwrap_err()
        .to_string()
        .contains("is missing"));
    assert!(!bundle_index_path(&prefix).exists());
    std::fs::write(&data, &bytes).unwrap();
    merge(&prefix).unwrap();
}

#[test]
fn merging_again_or_over_an_index_needs_force() {
    let dir = TempDir::new("shard-twice");
    let prefix = dir.path("m");
    let p = prefix.to_str().unwrap();
    write_parts(specs::TWO, &prefix, 2, &[0, 1]);
    ok(varscope(&["merge", p]));
    let index = std::fs::read(bundle_index_path(&prefix)).unwrap();
    // Merged already: the parts are gone.
    let err = fails(varscope(&["merge", p]), 2);
    assert!(
        err.contains("no partial indices") && err.contains("merged already"),
        "{err}"
    );
    assert_eq!(std::fs::read(bundle_index_path(&prefix)).unwrap(), index);
    // A part over an existing bundle is refused: it would break that bundle.
    let spec = dir.path("two.toml");
    std::fs::write(&spec, specs::TWO).unwrap();
    let s = spec.to_str().unwrap();
    let err = fails(varscope(&["build", s, "--shard", "0/2", "-o", p]), 2);
    assert!(err.contains("--force"), "{err}");
    assert!(!bundle_part_path(&prefix, 0, 2).exists());
    // Forced, the old index goes first.
    ok(varscope(&[
        "build", s, "--shard", "0/2", "--force", "-q", "-o", p,
    ]));
    assert!(!bundle_index_path(&prefix).exists());
    ok(varscope(&["build", s, "--shard", "1/2", "-q", "-o", p]));
    // An index written meanwhile (one process, all files) is not replaced without --force.
    ok(varscope(&[
        "build", s, "--format", "tf", "--shards", "2", "-q", "-o", p,
    ]));
    let err = fails(varscope(&["merge", p]), 2);
    assert!(
        err.contains("exists already") && err.contains("--force"),
        "{err}"
    );
    assert!(bundle_part_path(&prefix, 1, 2).exists());
    ok(varscope(&["merge", "--force", p]));
    assert_eq!(std::fs::read(bundle_index_path(&prefix)).unwrap(), index);
    assert!(!bundle_part_path(&prefix, 1, 2).exists());
}

#[test]
fn a_failed_part_leaves_no_file_of_its_shard() {
    let dir = TempDir::new("shard-fail");
    // The orthogonal factor of `zz` cannot be allocated: known only once its values
    // are computed, after `a`'s were written.
    let text = r#"
        [[scopes]]
        name = "n"
        modules = [
          { type = "variable", name = "a", shape = [3000, 100] },
          { type = "variable", name = "b", shape = [10] },
          { type = "variable", name = "zz", shape = [2097152, 2097152], initializer = { kind = "orthogonal" } },
        ]
        "#;
    let spec_path = dir.path("fail.toml");
    std::fs::write(&spec_path, text).unwrap();
    let (_, m) = model(text, None);
    let layout = m.tf_bundle_layout(2).unwrap();
    let failing = layout
        .pieces()
        .iter()
        .find(|p| p.name() == "n/zz")
        .unwrap()
        .shard();
    let prefix = dir.path("m");
    let p = prefix.to_str().unwrap();
    let s = spec_path.to_str().unwrap();
    let shard = format!("{failing}/2");
    let err = fails(
        varscope(&["build", s, "--shard", &shard, "--pool-mib", "0", "-o", p]),
        2,
    );
    assert!(err.contains("allocate") || err.contains("alloc"), "{err}");
    assert_eq!(
        dir.names(),
        ["fail.toml"],
        "nothing of the failed part is left"
    );
    // The other shard is written, and the merge then says what is missing.
    let other = format!("{}/2", 1 - failing);
    ok(varscope(&["build", s, "--shard", &other, "-q", "-o", p]));
    let err = fails(varscope(&["merge", p]), 2);
    assert!(
        err.contains(&format!("missing part {failing} of 2")),
        "{err}"
    );
}

#[test]
fn bad_shard_arguments_are_usage_errors() {
    let dir = TempDir::new("shard-usage");
    let tiny = format!("{ROOT}/examples/tiny.toml");
    let p = dir.path("m");
    let p = p.to_str().unwrap();
    for bad in [
        "3/3", "0/0", "4/2", "x", "1/", "/2", "-1/2", "1/2/3", "a/b", "0/100000",
    ] {
        let arg = format!("--shard={bad}");
        let err = fails(varscope(&["build", &tiny, &arg, "-o", p]), 2);
        assert!(err.contains("--shard"), "{bad}: {err}");
    }
    let err = fails(
        varscope(&["build", &tiny, "--shard", "1/3", "--shards", "2", "-o", p]),
        2,
    );
    assert!(err.contains("--shards 2"), "{err}");
    let err = fails(
        varscope(&[
            "build",
            &tiny,
            "--shard",
            "1/3",
            "--format",
            "safetensors",
            "-o",
            p,
        ]),
        2,
    );
    assert!(err.contains("--format tf"), "{err}");
    let st = dir.path("m.safetensors");
    let err = fails(
        varscope(&["build", &tiny, "--shard", "1/3", "-o", st.to_str().unwrap()]),
        2,
    );
    assert!(err.contains("--format tf"), "{err}");
    // Equal counts are fine.
    ok(varscope(&[
        "build", &tiny, "--shard", "1/3", "--shards", "3", "-q", "-o", p,
    ]));
    assert_eq!(
        dir.names(),
        ["m.data-00001-of-00003", "m.index.part-00001-of-00003"]
    );
}
