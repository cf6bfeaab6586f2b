//! Streamed TF-bundle writes: byte-identical (index and every data file) to the
//! bundle writer's, for several specs, data-file counts, pools and thread counts,
//! with a bounded pool; a failure leaves no file and keeps an old bundle.

#[path = "common/specs.rs"]
mod specs;

use specs::{assert_same_bundle, read, specs, TempDir, ROOT};
use std::process::Command;
use varscope::checkpoint::{BundleReader, BundleWriter, StreamOptions};
use varscope::model::{build_model, ModelSpec};
use varscope::{Graph, Runtime, Tensor};

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

#[test]
fn streamed_bundles_equal_the_bundle_writers() {
    let dir = TempDir::new("tfstream-equal");
    let rt = Runtime::new(2).unwrap();
    for (name, text) in specs() {
        let spec = ModelSpec::from_toml_str(&text).unwrap();
        for n in [1, 2, 3] {
            let reference = dir.path(&format!("{name}-{n}-writer"));
            let m = build_model(&spec, &rt, &Graph::with_seed(spec.seed)).unwrap();
            m.save_tf_bundle(&reference, n).unwrap();
            for (threads, pool_bytes) in [(1, 0), (2, 1 << 20), (2, 256 << 20)] {
                let m = build_model(&spec, &rt, &Graph::with_seed(spec.seed)).unwrap();
                let out = dir.path(&format!("{name}-{n}-{threads}-{pool_bytes}"));
                let options = StreamOptions::new().pool_bytes(pool_bytes);
                let stats = pool(threads)
                    .install(|| m.save_tf_bundle_streamed(&out, n, &options, &|_| {}))
                    .unwrap();
                assert!(stats.buffers_allocated <= options.buffers());
                let what = format!("{name}, {n} files, {threads} threads, pool {pool_bytes}");
                assert_same_bundle(&reference, &out, n, &what);
                let total = BundleReader::open(&out).unwrap().file_size();
                assert_eq!(stats.bytes, total, "{what}");
            }
        }
    }
}

#[test]
fn partitioned_slices_are_listed_in_partition_order() {
    let dir = TempDir::new("tfstream-order");
    let spec = ModelSpec::from_toml_str(specs::MIXED).unwrap();
    let rt = Runtime::new(1).unwrap();
    let m = build_model(&spec, &rt, &Graph::with_seed(spec.seed)).unwrap();
    let prefix = dir.path("m");
    m.save_tf_bundle_streamed(&prefix, 3, &StreamOptions::new(), &|_| {})
        .unwrap();
    let r = BundleReader::open(&prefix).unwrap();
    let cols = r.entry("m/cols").unwrap();
    let starts: Vec<usize> = cols.slices.iter().map(|s| s.offset[1]).collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted);
    assert_eq!(starts.len(), 7);
    // The values read back are the model's.
    let rows = r.read("m/rows").unwrap();
    let mine: Vec<f64> = m
        .tensors()
        .iter()
        .filter(|v| v.checkpoint_name().starts_with("m/rows/part_"))
        .flat_map(|v| v.value().unwrap().to_f64_vec())
        .collect();
    assert_eq!(rows.to_f64_vec(), mine);
}

#[test]
fn streamed_pool_is_bounded_for_a_bundle_many_times_its_size() {
    let dir = TempDir::new("tfstream-bounded");
    let spec = ModelSpec::from_toml_str(
        r#"
        seed = 3
        [[scopes]]
        name = "big"
        repeat = 4
        modules = [{ type = "variable", name = "w", shape = [1024, 1024] }]
        "#,
    )
    .unwrap();
    let rt = Runtime::new(1).unwrap();
    let m = build_model(&spec, &rt, &Graph::with_seed(spec.seed)).unwrap();
    // 16 MiB of values through a pool of 1 MiB.
    let options = StreamOptions::new().pool_bytes(1 << 20);
    let stats = m
        .save_tf_bundle_streamed(&dir.path("m"), 3, &options, &|_| {})
        .unwrap();
    assert!(stats.buffers_allocated <= options.buffers());
    assert!((stats.buffers_allocated * stats.buffer_bytes) as u64 <= 1 << 20);
    assert!(m.tensors().iter().all(|v| !v.is_initialized()));
    let reference = build_model(&spec, &rt, &Graph::with_seed(spec.seed)).unwrap();
    reference.save_tf_bundle(&dir.path("ref"), 3).unwrap();
    assert_same_bundle(&dir.path("ref"), &dir.path("m"), 3, "bounded");
}

#[test]
fn a_failed_streamed_bundle_leaves_the_old_one_and_no_temporary() {
    let dir = TempDir::new("tfstream-fail");
    let prefix = dir.path("m");
    let mut w = BundleWriter::new(&prefix, 2).unwrap();
    w.add("old", &Tensor::from_vec(vec![1.0f32; 3], [3]).unwrap())
        .unwrap();
    w.finish().unwrap();
    let before = dir.names();
    let old: Vec<Vec<u8>> = before
        .iter()
        .map(|n| std::fs::read(dir.path(n)).unwrap())
        .collect();
    // The orthogonal factor cannot be allocated: known only when its values are
    // computed, after other tensors were written.
    let spec = ModelSpec::from_toml_str(
        r#"
        [[scopes]]
        name = "n"
        modules = [
          { type = "variable", name = "a", shape = [3000, 100] },
          { type = "variable", name = "zz", shape = [2097152, 2097152], initializer = { kind = "orthogonal" } },
        ]
        "#,
    )
    .unwrap();
    let rt = Runtime::new(1).unwrap();
    let m = build_model(&spec, &rt, &Graph::with_seed(1)).unwrap();
    let e = m
        .save_tf_bundle_streamed(&prefix, 2, &StreamOptions::new().pool_bytes(0), &|_| {})
        .unwrap_err();
    assert_eq!(e.kind(), varscope::ErrorKind::Allocation, "{e}");
    assert_eq!(dir.names(), before);
    for (n, bytes) in before.iter().zip(&old) {
        assert_eq!(&std::fs::read(dir.path(n)).unwrap(), bytes, "{n}");
    }
    assert_eq!(
        BundleReader::open(&prefix)
            .unwrap()
            .read("old")
            .unwrap()
            .to_f64_vec(),
        [1.0; 3]
    );
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_varscope"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cli_tf_build_streams_the_same_bundle_and_prints_like_safetensors() {
    let dir = TempDir::new("tfstream-cli");
    let tiny = format!("{ROOT}/examples/tiny.toml");
    let spec = ModelSpec::from_toml_str(&read("examples/tiny.toml")).unwrap();
    let rt = Runtime::new(1).unwrap();
    let m = build_model(&spec, &rt, &Graph::with_seed(spec.seed)).unwrap();
    m.save_tf_bundle(&dir.path("ref"), 3).unwrap();
    let out = dir.path("cli");
    let o = run(&[
        "build",
        &tiny,
        "--format",
        "tf",
        "--shards",
        "3",
        "--pool-mib",
        "1",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    for needle in ["init:", "write:", "init+write:", "overlapped", "seed: "] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
    assert_same_bundle(&dir.path("ref"), &out, 3, "cli");
    // Quiet prints nothing; verbose the full tree.
    let o = run(&[
        "build",
        &tiny,
        "--format",
        "tf",
        "-q",
        "-o",
        dir.path("q").to_str().unwrap(),
    ]);
    assert!(o.status.success());
    assert!(o.stdout.is_empty() && o.stderr.is_empty());
    let folded = run(&["build", &tiny, "-o", dir.path("f").to_str().unwrap()]);
    let full = run(&["build", &tiny, "-v", "-o", dir.path("v").to_str().unwrap()]);
    assert!(full.stdout.len() >= folded.stdout.len());
}
