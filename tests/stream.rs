//! Streamed checkpoint writes: byte-identical to the whole-model save for several
//! specs, thread and worker counts and pool sizes, with bounded memory.

use std::process::Command;
use varscope::checkpoint::StreamOptions;
use varscope::model::{build_model, ModelSpec};
use varscope::{Graph, Runtime};

mod common;
#[path = "common/specs.rs"]
mod specs;

use common::peak_rss_kib;
use specs::{bert_small, default_small, read, TempDir, ROOT};

/// Every initializer family and dtype, shards of each, tensors larger than a buffer.
const MIXED: &str = r#"
seed = 11
[[scopes]]
name = "m"
modules = [
  { type = "variable", name = "ortho", shape = [300, 200], initializer = { kind = "orthogonal" } },
  { type = "variable", name = "ortho_parts", shape = [90, 40], initializer = { kind = "orthogonal" }, partitioner = { kind = "fixed", shards = 3 } },
  { type = "variable", name = "eye", shape = [70, 90], initializer = { kind = "identity" } },
  { type = "variable", name = "list", shape = [5, 4], initializer = { kind = "constant", value = 0.25 } },
  { type = "variable", name = "ones", shape = [100001], initializer = { kind = "ones" } },
  { type = "variable", name = "half", shape = [400, 333], dtype = "float16", initializer = { kind = "random_normal" } },
  { type = "variable", name = "brain", shape = [333, 400], dtype = "bfloat16", initializer = { kind = "truncated_normal" } },
  { type = "variable", name = "double", shape = [250, 301], dtype = "float64", initializer = { kind = "glorot_uniform" } },
  { type = "variable", name = "ints", shape = [70000], dtype = "int32", initializer = { kind = "random_uniform", min = -5, max = 100 } },
  { type = "variable", name = "longs", shape = [3, 30000], dtype = "int64", initializer = { kind = "random_uniform", min = 0, max = 1000 } },
  { type = "variable", name = "flags", shape = [1001], dtype = "bool", initializer = { kind = "zeros" } },
  { type = "variable", name = "cols", shape = [200, 1000], initializer = { kind = "he_normal" }, partitioner = { kind = "fixed", shards = 7, axis = 1 } },
  { type = "variable", name = "rows", shape = [1000, 300], initializer = { kind = "truncated_normal", stddev = 0.1 }, partitioner = { kind = "fixed", shards = 4 } },
  { type = "variable", name = "empty", shape = [0, 5] },
]
"#;

fn specs() -> Vec<(&'static str, String)> {
    vec![
        ("tiny", read("examples/tiny.toml")),
        ("client", read("examples/client.toml")),
        ("default-small", default_small()),
        ("bert-small", bert_small()),
        ("mixed", MIXED.to_string()),
    ]
}

/// The whole-model file and the streamed one for `spec`.
fn both(
    spec: &ModelSpec,
    dir: &TempDir,
    workers: usize,
    threads: usize,
    pool: usize,
) -> (Vec<u8>, Vec<u8>, varscope::checkpoint::StreamStats) {
    let pool_threads = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let rt = Runtime::new(workers).unwrap();
    let whole = build_model(spec, &rt, &Graph::with_seed(spec.seed)).unwrap();
    let a = dir.path("whole.safetensors");
    pool_threads.install(|| whole.save(&a, &whole.checkpoint_metadata(spec)).unwrap());
    let streamed = build_model(spec, &rt, &Graph::with_seed(spec.seed)).unwrap();
    let b = dir.path("streamed.safetensors");
    let options = StreamOptions::new().pool_bytes(pool);
    let stats = pool_threads
        .install(|| {
            streamed.save_streamed(&b, &streamed.checkpoint_metadata(spec), &options, &|_| {})
        })
        .unwrap();
    assert!(stats.buffers_allocated <= options.buffers());
    (std::fs::read(a).unwrap(), std::fs::read(b).unwrap(), stats)
}

#[test]
fn streamed_files_equal_whole_model_saves() {
    let dir = TempDir::new("equal");
    for (name, text) in specs() {
        let spec = ModelSpec::from_toml_str(&text).unwrap();
        for (workers, threads, pool) in [(1, 1, 0), (2, 3, 1 << 20), (3, 2, 8 << 20)] {
            let (whole, streamed, stats) = both(&spec, &dir, workers, threads, pool);
            assert_eq!(stats.bytes, whole.len() as u64, "{name}");
            assert!(
                whole == streamed,
                "{name}: streamed file differs (workers {workers}, threads {threads}, pool {pool})"
            );
        }
    }
}

#[test]
fn streamed_values_do_not_depend_on_threads_or_pool() {
    let dir = TempDir::new("threads");
    let spec = ModelSpec::from_toml_str(&default_small()).unwrap();
    let (_, one, _) = both(&spec, &dir, 1, 1, 0);
    let (_, four, _) = both(&spec, &dir, 4, 4, 64 << 20);
    assert!(one == four);
}

#[test]
fn streamed_pool_is_bounded_for_a_model_many_times_its_size() {
    // 64 MiB of values through an 8 MiB pool.
    let spec = ModelSpec::from_toml_str(
        r#"
        seed = 5
        [[scopes]]
        name = "big"
        repeat = 4
        modules = [{ type = "variable", name = "w", shape = [2048, 2048], initializer = { kind = "truncated_normal" } }]
        "#,
    )
    .unwrap();
    let dir = TempDir::new("bounded");
    let rt = Runtime::new(2).unwrap();
    let model = build_model(&spec, &rt, &Graph::with_seed(spec.seed)).unwrap();
    assert_eq!(model.nbytes(), 64 << 20);
    let options = StreamOptions::new().pool_bytes(8 << 20);
    let path = dir.path("big.safetensors");
    let written = std::sync::atomic::AtomicU64::new(0);
    let stats = model
        .save_streamed(&path, &model.checkpoint_metadata(&spec), &options, &|n| {
            written.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
    assert!(stats.buffers_allocated <= options.buffers());
    assert!(stats.buffers_allocated * stats.buffer_bytes <= 8 << 20);
    assert_eq!(written.into_inner(), stats.bytes);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), stats.bytes);
    // Nothing was materialized: the values stay pending.
    assert!(model.tensors().iter().all(|v| !v.is_initialized()));
}

#[cfg(target_os = "linux")]
#[test]
fn cli_build_peak_memory_stays_below_the_model_size() {
    let dir = TempDir::new("rss");
    let spec = dir.path("big.toml");
    // 128 MiB of values; the build's pool is 8 MiB.
    std::fs::write(
        &spec,
        r#"
        seed = 3
        [[scopes]]
        name = "big"
        repeat = 8
        modules = [{ type = "variable", name = "w", shape = [2048, 2048], initializer = { kind = "random_normal" } }]
        "#,
    )
    .unwrap();
    let out = dir.path("big.safetensors");
    let peak = peak_rss_kib(&[
        "build",
        spec.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--pool-mib",
        "8",
        "--quiet",
    ]);
    let size = std::fs::metadata(&out).unwrap().len();
    assert!(size > 128 << 20);
    // Well under the model's size (the whole-model path needs more than all of it).
    assert!(
        peak < 64 << 10,
        "peak RSS {peak} KiB for a {size}-byte checkpoint"
    );
}

#[test]
fn a_failed_streamed_write_leaves_the_old_file_and_no_temporary() {
    let dir = TempDir::new("fail");
    let path = dir.path("m.safetensors");
    std::fs::write(&path, b"old").unwrap();
    // The orthogonal factor of this variable cannot be allocated: known only when its
    // values are computed, after the tensors before it were written.
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
    let model = build_model(&spec, &rt, &Graph::with_seed(1)).unwrap();
    let e = model
        .save_streamed(
            &path,
            &model.checkpoint_metadata(&spec),
            &StreamOptions::new().pool_bytes(0),
            &|_| {},
        )
        .unwrap_err();
    assert_eq!(e.kind(), varscope::ErrorKind::Allocation, "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"old");
    let names: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["m.safetensors"]);
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_varscope"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn quiet_prints_nothing_and_verbose_the_full_tree() {
    let dir = TempDir::new("output");
    let tiny = format!("{ROOT}/examples/tiny.toml");
    let out = dir.path("t.safetensors");
    let out = out.to_str().unwrap();
    let quiet = run(&["build", &tiny, "-o", out, "--quiet"]);
    assert!(quiet.status.success());
    assert!(quiet.stdout.is_empty() && quiet.stderr.is_empty());
    let quiet_bytes = std::fs::read(out).unwrap();

    let normal = run(&["build", &tiny, "-o", out]);
    let text = String::from_utf8(normal.stdout).unwrap();
    assert!(text.contains("layer_0 … layer_1 ×2/"), "{text}");
    assert!(!text.contains("layer_1/"), "{text}");
    assert!(!text.contains("declared bytes"), "{text}");
    for needle in ["init:", "write:", "init+write:", "GB/s"] {
        assert!(text.contains(needle), "missing {needle} in {text}");
    }
    assert_eq!(std::fs::read(out).unwrap(), quiet_bytes);

    let verbose = run(&["build", &tiny, "-o", out, "--verbose"]);
    let full = String::from_utf8(verbose.stdout).unwrap();
    assert!(full.contains("layer_1/") && !full.contains('×'), "{full}");
    // The folded tree is shorter; the totals are the same.
    assert!(text.lines().count() < full.lines().count());
    let total = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("total: "))
            .map(str::to_string)
    };
    assert_eq!(total(&text), total(&full));
    assert!(run(&["build", &tiny, "-o", out, "-q", "-v"]).status.code() == Some(2));
}

#[test]
fn folded_scope_rows_count_every_instance() {
    let spec = ModelSpec::from_toml_str(&default_small()).unwrap();
    let rt = Runtime::new(2).unwrap();
    let model = build_model(&spec, &rt, &Graph::with_seed(1)).unwrap();
    let summary = model.summary();
    let folded = summary.render_folded();
    let row = |text: &str, label: &str| -> Option<String> {
        text.lines()
            .find(|l| l.trim_start().starts_with(label))
            .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
    };
    // `model/` counts every layer in both renderings.
    assert_eq!(row(&folded, "model/"), row(&summary.render(), "model/"));
    assert!(folded.contains("layer_0 … layer_1 ×2/"), "{folded}");
}

#[test]
fn streamed_verify_finds_every_kind_of_problem() {
    let dir = TempDir::new("verify");
    let spec = ModelSpec::from_toml_str(MIXED).unwrap();
    let rt = Runtime::new(2).unwrap();
    let path = dir.path("m.safetensors");
    let model = build_model(&spec, &rt, &Graph::with_seed(spec.seed)).unwrap();
    model
        .save(&path, &model.checkpoint_metadata(&spec))
        .unwrap();
    for piece in [60usize, 4096, 1 << 20] {
        let fresh = build_model(&spec, &rt, &Graph::with_seed(spec.seed)).unwrap();
        let r = fresh.verify_safetensors(&path, piece, &|_| {}).unwrap();
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.matched, r.tensors);
        assert_eq!(r.bytes, fresh.nbytes());
    }
    // Flip one byte inside `m/ones`: exactly one element differs.
    let header = varscope::checkpoint::read_header(&path).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let data = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let at = data + header.tensors["m/ones"].data_offsets.0 as usize + 4 * 70_000 + 1;
    bytes[at] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let fresh = build_model(&spec, &rt, &Graph::with_seed(spec.seed)).unwrap();
    let r = fresh.verify_safetensors(&path, 4096, &|_| {}).unwrap();
    assert_eq!(r.problems, ["m/ones: 1 of 100,001 elements differ"]);
    assert_eq!(r.matched, r.tensors - 1);
    // Another model: missing, extra and reshaped tensors.
    let other = ModelSpec::from_toml_str(
        "[[scopes]]\nname = \"m\"\nmodules = [{ type = \"variable\", name = \"ones\", shape = [3] }, { type = \"variable\", name = \"new\", shape = [3] }]\n",
    )
    .unwrap();
    let o = build_model(&other, &rt, &Graph::with_seed(1)).unwrap();
    let r = o.verify_safetensors(&path, 4096, &|_| {}).unwrap();
    assert_eq!(r.matched, 0);
    assert!(
        r.problems.iter().any(|p| p.starts_with("m/new: missing")),
        "{:?}",
        r.problems
    );
    assert!(
        r.problems
            .iter()
            .any(|p| p.starts_with("m/ones: checkpoint has float32 (100001,)")),
        "{:?}",
        r.problems
    );
    assert!(r.problems.iter().any(|p| p == "m/eye: not in the model"));
}

#[cfg(target_os = "linux")]
#[test]
fn cli_verify_peak_memory_stays_below_the_model_size() {
    let dir = TempDir::new("verify-rss");
    let spec = dir.path("big.toml");
    std::fs::write(
        &spec,
        r#"
        seed = 3
        [[scopes]]
        name = "big"
        repeat = 8
        modules = [{ type = "variable", name = "w", shape = [2048, 2048], initializer = { kind = "uniform_unit_scaling" } }]
        "#,
    )
    .unwrap();
    let out = dir.path("big.safetensors");
    let (spec, out) = (spec.to_str().unwrap(), out.to_str().unwrap());
    assert!(run(&["build", spec, "-o", out, "--pool-mib", "8", "-q"])
        .status
        .success());
    let peak = peak_rss_kib(&["verify", spec, out]);
    assert!(peak < 64 << 10, "peak RSS {peak} KiB verifying 128 MiB");
    // And a mismatch is still found and reported.
    let o = run(&["verify", spec, out, "--seed", "4"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("MISMATCH big_0/w: "));
}

#[test]
fn tf_bundles_are_written_one_tensor_at_a_time_with_the_same_bytes() {
    let dir = TempDir::new("bundle");
    let spec = ModelSpec::from_toml_str(&read("examples/tiny.toml")).unwrap();
    let rt = Runtime::new(2).unwrap();
    let lazy = build_model(&spec, &rt, &Graph::with_seed(spec.seed)).unwrap();
    lazy.save_tf_bundle(&dir.path("lazy"), 2).unwrap();
    // The values were computed for the writer and dropped.
    assert!(lazy.tensors().iter().all(|v| !v.is_initialized()));
    let eager = build_model(&spec, &rt, &Graph::with_seed(spec.seed)).unwrap();
    eager.initialize(|_| {}).unwrap();
    eager.save_tf_bundle(&dir.path("eager"), 2).unwrap();
    for suffix in [".index", ".data-00000-of-00002", ".data-00001-of-00002"] {
        let a = std::fs::read(dir.path(&format!("lazy{suffix}"))).unwrap();
        let b = std::fs::read(dir.path(&format!("eager{suffix}"))).unwrap();
        assert!(a == b, "{suffix} differs");
    }
    // The CLI's TF build writes the same bundle.
    let tiny = format!("{ROOT}/examples/tiny.toml");
    let cli = dir.path("cli");
    let o = run(&[
        "build",
        &tiny,
        "--format",
        "tf",
        "--shards",
        "2",
        "-o",
        cli.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for suffix in [".index", ".data-00000-of-00002", ".data-00001-of-00002"] {
        let a = std::fs::read(dir.path(&format!("cli{suffix}"))).unwrap();
        let b = std::fs::read(dir.path(&format!("eager{suffix}"))).unwrap();
        assert!(a == b, "cli {suffix} differs");
    }
}
