//! Inputs that once aborted, panicked or ran away with memory: huge shapes, crafted
//! partition metadata, absurd names. Each gives a typed error or a bounded result.
//! The big shapes are generated and never allocated.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use varscope::checkpoint::{
    load_safetensors, partition_metadata_key, read_header, save_safetensors, CheckpointHeader,
    LoadedCheckpoint, PartitionInfo, ShardInfo, TensorInfo,
};
use varscope::model::{build_model, ModelSpec, Summary, SummaryEntry};
use varscope::partition::{FixedSizePartitioner, FnPartitioner};
use varscope::restore::{restore, restore_file};
use varscope::{get_variable, DType, Error, ErrorKind, Graph, Init, Runtime, Shape, Tensor};

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("varscope-hardening-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// More bytes than any user address space holds (2^52), in an f32 variable.
const HUGE: [usize; 2] = [1 << 40, 1 << 10];

// ---------------------------------------------------------------------------------
// Row 2: sizes
// ---------------------------------------------------------------------------------

#[test]
fn a_variable_too_large_to_allocate_is_an_allocation_error_at_initialize_all() {
    let g = Graph::with_seed(3);
    let (big, small) = g.as_default(|| {
        // Accepted at creation, as TF accepts any shape.
        let big = get_variable("big").shape(HUGE).build().unwrap();
        let small = get_variable("small").shape([3]).build().unwrap();
        (big, small)
    });
    let e = g.initialize_all().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Allocation, "{e}");
    match &e {
        Error::Allocation { name, bytes } => {
            assert_eq!(name, "big");
            assert_eq!(*bytes, 4u128 << 50);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        e.to_string(),
        format!("cannot allocate {} bytes for the value of big", 4u128 << 50)
    );
    // The other variable was initialized; the big one stays pending and fails again.
    assert!(small.is_initialized());
    assert!(!big.is_initialized());
    assert_eq!(big.value().unwrap_err().kind(), ErrorKind::Allocation);
    // A shard of a partitioned variable names itself.
    let p = g
        .as_default(|| {
            get_variable("p")
                .shape(HUGE)
                .initializer(Init::zeros())
                .partitioner(FixedSizePartitioner::new(2, 0))
                .build_partitioned()
        })
        .unwrap();
    match p.shards()[0].value().unwrap_err() {
        Error::Allocation { name, bytes } => {
            assert_eq!(name, "p/part_0");
            assert_eq!(bytes, 2u128 << 50);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn try_zeros_reports_the_byte_size_and_allocates_small_tensors() {
    let e = Tensor::try_zeros(DType::F64, &Shape::new(HUGE).unwrap()).unwrap_err();
    assert!(
        matches!(e, Error::Allocation { ref name, bytes } if name.is_empty() && bytes == 8u128 << 50),
        "{e:?}"
    );
    for dtype in [
        DType::F16,
        DType::BF16,
        DType::F32,
        DType::F64,
        DType::I32,
        DType::I64,
        DType::Bool,
    ] {
        let s = Shape::new([3, 0, 2]).unwrap();
        let t = Tensor::try_zeros(dtype, &s).unwrap();
        assert_eq!((t.dtype(), t.shape()), (dtype, s));
        let s = Shape::new([2, 2]).unwrap();
        assert_eq!(
            Tensor::try_zeros(dtype, &s).unwrap(),
            Tensor::zeros(dtype, &s)
        );
    }
}

fn spec(text: &str) -> ModelSpec {
    ModelSpec::from_toml_str(text).unwrap()
}

#[test]
fn a_spec_dimension_too_large_to_allocate_fails_the_build_with_an_error() {
    let s = spec(&format!(
        r#"
        [[scopes]]
        name = "m"
        modules = [{{ type = "variable", name = "e", shape = [{}, {}] }}]
        "#,
        HUGE[0], HUGE[1]
    ));
    let g = Graph::with_seed(1);
    let rt = Runtime::new(2).unwrap();
    let model = build_model(&s, &rt, &g).unwrap();
    assert_eq!(model.param_count(), 1 << 50);
    let e = model.initialize(|_| {}).unwrap_err();
    assert!(
        matches!(&e, Error::Allocation { name, .. } if name == "m/e"),
        "{e:?}"
    );
}

#[test]
fn partition_counts_are_bounded_by_the_dimension_they_split() {
    // A spec asking for 4e9 shards of 1000 rows gets 1000.
    let s = spec(
        r#"
        [[scopes]]
        name = "m"
        modules = [{ type = "variable", name = "e", shape = [1000, 4], partitioner = { kind = "fixed", shards = 4000000000 } }]
        "#,
    );
    let g = Graph::with_seed(1);
    let rt = Runtime::new(2).unwrap();
    let model = build_model(&s, &rt, &g).unwrap();
    assert_eq!(model.tensors().len(), 1000);
    assert_eq!(model.param_count(), 4000);
    // A partitioner returning more shards than rows is an error, whatever the count.
    for n in [1001, 1 << 40, usize::MAX] {
        let e = g
            .as_default(|| {
                get_variable(&format!("x{}", n.count_ones()))
                    .shape([1000, 4])
                    .partitioner(FnPartitioner::new(move |_: &Shape, _| Ok(vec![n, 1])))
                    .build_partitioned()
            })
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PartitionMismatch, "{n}: {e}");
    }
}

// ---------------------------------------------------------------------------------
// Row 3: shapes
// ---------------------------------------------------------------------------------

#[test]
fn empty_shapes_with_enormous_dimensions_are_rejected_without_panicking() {
    for dims in [
        vec![usize::MAX, 0],
        vec![0, usize::MAX],
        vec![1 << 62, 4, 0],
        vec![0, 1 << 32, 1 << 32],
    ] {
        let e = Shape::new(&dims).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Other, "{dims:?}");
        assert!(matches!(e, Error::InvalidShape { .. }), "{dims:?}");
        let e = Graph::new()
            .as_default(|| get_variable("v").shape(dims.clone()).build())
            .unwrap_err();
        assert!(matches!(e, Error::InvalidShape { .. }), "{dims:?}: {e}");
        let e = Tensor::from_vec(Vec::<f32>::new(), dims.clone()).unwrap_err();
        assert!(matches!(e, Error::InvalidShape { .. }), "{dims:?}: {e}");
    }
    // Large but representable empty shapes work end to end.
    let g = Graph::new();
    let v = g
        .as_default(|| get_variable("v").shape([1usize << 40, 0]).build())
        .unwrap();
    assert_eq!(v.value().unwrap().len(), 0);
    assert_eq!(v.value().unwrap().shape().dims(), &[1 << 40, 0]);
}

#[test]
fn model_totals_saturate_instead_of_overflowing() {
    // Three variables of 2^61 - 1 float32 elements: each fits, their bytes do not.
    let n = (1u64 << 61) - 1;
    let s = spec(&format!(
        r#"
        [[scopes]]
        name = "m"
        modules = [
          {{ type = "variable", name = "a", shape = [{n}] }},
          {{ type = "variable", name = "b", shape = [{n}] }},
          {{ type = "variable", name = "c", shape = [{n}] }},
        ]
        "#
    ));
    let g = Graph::with_seed(1);
    let rt = Runtime::new(2).unwrap();
    let model = build_model(&s, &rt, &g).unwrap();
    assert_eq!(model.param_count(), 3 * n);
    assert_eq!(model.nbytes(), u64::MAX);
    let summary = model.summary();
    assert_eq!(summary.total_bytes(), u64::MAX);
    assert!(summary.render().contains("total: "));
}

// ---------------------------------------------------------------------------------
// Row 4: partition metadata
// ---------------------------------------------------------------------------------

fn f32s(n: usize) -> Tensor {
    Tensor::from_vec((0..n).map(|i| i as f32).collect(), [n]).unwrap()
}

fn shard(name: &str, offset: Vec<usize>, shape: Vec<usize>) -> ShardInfo {
    ShardInfo {
        name: name.into(),
        offset,
        shape,
    }
}

/// Writes `tensors` with a `partition:<var>` entry of `info`'s JSON.
fn write_with_partition(
    path: &Path,
    tensors: &[(&str, &Tensor)],
    var: &str,
    json: String,
) -> LoadedCheckpoint {
    let metadata = BTreeMap::from([(partition_metadata_key(var), json)]);
    save_safetensors(
        path,
        tensors.iter().map(|(n, t)| (n.to_string(), *t)),
        &metadata,
    )
    .unwrap();
    LoadedCheckpoint {
        tensors: tensors
            .iter()
            .map(|(n, t)| (n.to_string(), (*t).clone()))
            .collect(),
        metadata,
    }
}

/// A graph with a `[rows]` variable `emb` that restore must assemble.
fn graph_with(var: &str, rows: usize) -> Graph {
    let g = Graph::with_seed(1);
    g.as_default(|| get_variable(var).shape([rows]).build())
        .unwrap();
    g
}

/// Every reader rejects the file as corrupt: header, load, restore (file and memory),
/// and the summary of a hand-built header.
fn rejected_everywhere(path: &Path, ckpt: &LoadedCheckpoint, g: &Graph, what: &str) {
    let e = read_header(path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Checkpoint, "{what}: read_header: {e}");
    assert!(
        e.to_string().contains("partition metadata of"),
        "{what}: {e}"
    );
    let e = load_safetensors(path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Checkpoint, "{what}: load: {e}");
    let e = restore_file(g, path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Checkpoint, "{what}: restore_file: {e}");
    let e = restore(g, ckpt).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Checkpoint, "{what}: restore: {e}");
    let header = CheckpointHeader {
        tensors: ckpt
            .tensors
            .iter()
            .map(|(n, t)| {
                let len = t.nbytes() as u64;
                (
                    n.clone(),
                    TensorInfo {
                        dtype: t.dtype(),
                        shape: t.shape(),
                        data_offsets: (0, len),
                    },
                )
            })
            .collect(),
        metadata: ckpt.metadata.clone(),
        file_size: 0,
    };
    let e = Summary::from_header(&header).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Checkpoint, "{what}: summary: {e}");
}

#[test]
fn one_tensor_listed_many_times_as_shards_is_rejected_before_allocating() {
    let d = tempdir("repeat");
    let path = d.join("m.safetensors");
    let w = f32s(4);
    let info = PartitionInfo {
        full_shape: vec![4 * 40_000],
        shards: (0..40_000)
            .map(|i| shard("w", vec![4 * i], vec![4]))
            .collect(),
    };
    let ckpt = write_with_partition(&path, &[("w", &w)], "emb", info.to_json());
    rejected_everywhere(
        &path,
        &ckpt,
        &graph_with("emb", 4 * 40_000),
        "repeated shard",
    );
    let e = PartitionInfo::from_json("emb", &info.to_json()).unwrap_err();
    assert!(e.to_string().contains("listed more than once"), "{e}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn overflowing_offsets_and_huge_empty_shapes_are_corrupt_not_panics() {
    let d = tempdir("offsets");
    let path = d.join("m.safetensors");
    let w = f32s(4);
    let cases = [
        (
            "offset overflows",
            format!(
                r#"{{"full_shape":[4],"shards":[{{"name":"w","offset":[{}],"shape":[4]}}]}}"#,
                u64::MAX - 1
            ),
        ),
        (
            "zero beside huge dimensions",
            format!(
                r#"{{"full_shape":[0,{h},{h}],"shards":[{{"name":"w","offset":[0,0,0],"shape":[0,{h},{h}]}}]}}"#,
                h = 1u64 << 62
            ),
        ),
        (
            "dimension beyond u64",
            r#"{"full_shape":[18446744073709551616],"shards":[]}"#.to_string(),
        ),
        (
            "shape of another size",
            r#"{"full_shape":[8],"shards":[{"name":"w","offset":[0],"shape":[8]}]}"#.to_string(),
        ),
        (
            "missing shard",
            r#"{"full_shape":[8],"shards":[{"name":"w","offset":[0],"shape":[4]},{"name":"x","offset":[4],"shape":[4]}]}"#.to_string(),
        ),
        (
            "overlap",
            r#"{"full_shape":[8],"shards":[{"name":"w","offset":[0],"shape":[4]},{"name":"v","offset":[3],"shape":[4]}]}"#.to_string(),
        ),
        ("not JSON", "{".to_string()),
    ];
    let v = f32s(4);
    for (what, json) in cases {
        let ckpt = write_with_partition(&path, &[("w", &w), ("v", &v)], "emb", json);
        rejected_everywhere(&path, &ckpt, &graph_with("emb", 8), what);
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_tensor_may_be_a_shard_of_one_variable_only() {
    let d = tempdir("shared");
    let path = d.join("m.safetensors");
    let w = f32s(4);
    let one = PartitionInfo {
        full_shape: vec![4],
        shards: vec![shard("w", vec![0], vec![4])],
    }
    .to_json();
    let metadata = BTreeMap::from([
        (partition_metadata_key("a"), one.clone()),
        (partition_metadata_key("b"), one),
    ]);
    save_safetensors(&path, [("w".to_string(), &w)], &metadata).unwrap();
    let e = read_header(&path).unwrap_err();
    assert!(
        e.to_string().contains("also a shard of another variable"),
        "{e}"
    );
    assert_eq!(
        load_safetensors(&path).unwrap_err().kind(),
        ErrorKind::Checkpoint
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn valid_partition_metadata_still_restores_and_summarizes() {
    // Many shards, in scrambled order, with an empty one: linear checks accept it.
    let d = tempdir("valid");
    let path = d.join("m.safetensors");
    let n = 2000;
    let parts: Vec<Tensor> = (0..n).map(|i| f32s(1 + i % 3)).collect();
    let names: Vec<String> = (0..n).map(|i| format!("emb/part_{i}")).collect();
    let mut offset = 0;
    let mut shards = Vec::new();
    for (name, t) in names.iter().zip(&parts) {
        shards.push(shard(name, vec![offset, 0], vec![t.len(), 1]));
        offset += t.len();
    }
    shards.reverse();
    shards.push(shard("emb/empty", vec![offset, 0], vec![0, 1]));
    let rows = offset;
    let reshaped: Vec<Tensor> = parts
        .iter()
        .map(|t| {
            Tensor::from_vec(
                t.to_f64_vec().iter().map(|&x| x as f32).collect(),
                [t.len(), 1],
            )
            .unwrap()
        })
        .collect();
    let empty = Tensor::from_vec(Vec::<f32>::new(), [0, 1]).unwrap();
    let info = PartitionInfo {
        full_shape: vec![rows, 1],
        shards,
    };
    let mut tensors: Vec<(&str, &Tensor)> =
        names.iter().map(String::as_str).zip(&reshaped).collect();
    tensors.push(("emb/empty", &empty));
    write_with_partition(&path, &tensors, "emb", info.to_json());
    let header = read_header(&path).unwrap();
    let summary = Summary::from_header(&header).unwrap();
    assert_eq!(summary.entries.len(), 1);
    assert_eq!(summary.entries[0].shards, n + 1);
    assert_eq!(summary.total_params(), rows as u64);
    let g = Graph::with_seed(1);
    let v = g
        .as_default(|| get_variable("emb").shape([rows, 1]).build())
        .unwrap();
    restore_file(&g, &path).unwrap();
    let mut expected = Vec::new();
    for t in &parts {
        expected.extend(t.to_f64_vec());
    }
    assert_eq!(v.value().unwrap().to_f64_vec(), expected);
    std::fs::remove_dir_all(&d).unwrap();
}

// ---------------------------------------------------------------------------------
// Row 5: the summary
// ---------------------------------------------------------------------------------

fn entry(name: String, shape: Vec<usize>) -> SummaryEntry {
    SummaryEntry {
        name,
        shape,
        dtype: DType::F32,
        shards: 1,
    }
}

#[test]
fn render_handles_names_and_shapes_of_65536_characters_and_more() {
    let long = "n".repeat(70_000);
    let summary = Summary {
        entries: vec![
            entry(format!("s/{long}"), vec![2]),
            entry("s/t".into(), vec![1; 30_000]),
            entry("w".into(), vec![3, 4]),
        ],
    };
    let out = summary.render();
    assert!(out.contains(&long));
    assert!(out.contains(&format!("[{}]", vec!["1"; 30_000].join(", "))));
    assert!(
        out.ends_with("total: 15 parameters in 3 variables (3 tensors), 60 B\n"),
        "{}",
        &out[out.len() - 80..]
    );
}

#[test]
fn render_is_linear_in_deep_names() {
    // 20,000 levels: the rows are indented by at most 32 levels and padded to at
    // most 160 columns, so the text grows linearly with the depth.
    let depth = 20_000;
    let name = vec!["a"; depth].join("/");
    let summary = Summary {
        entries: vec![
            entry(name.clone(), vec![2]),
            entry(format!("{name}x"), vec![3]),
        ],
    };
    let out = summary.render();
    let rows = out.lines().count();
    assert_eq!(rows, 1 + (depth - 1) + 2 + 1);
    assert!(
        out.len() < rows * 300,
        "{} bytes for {rows} rows",
        out.len()
    );
    // Subtotals still add up along the whole path.
    let top = out.lines().nth(1).unwrap();
    assert!(top.starts_with("a/") && top.contains(" 5 "), "{top}");
}

#[test]
fn render_keeps_its_layout_for_ordinary_models() {
    let summary = Summary {
        entries: vec![
            entry("net/dense/bias".into(), vec![2]),
            entry("net/dense/kernel".into(), vec![3, 2]),
            entry("step".into(), vec![]),
        ],
    };
    let expected = "\
VARIABLE    SHAPE   DTYPE             PARAMS       BYTES  SHARDS
net/                                       8        32 B        
  dense/                                   8        32 B        
    bias    [2]     float32                2         8 B       1
    kernel  [3, 2]  float32                6        24 B       1
step        []      float32                1         4 B       1
total: 9 parameters in 3 variables (3 tensors), 36 B
";
    assert_eq!(summary.render(), expected);
}

// ---------------------------------------------------------------------------------
// Row 11: the orthogonal initializer
// ---------------------------------------------------------------------------------

#[test]
fn sharded_orthogonal_variables_equal_the_whole_ones_when_initialized_together() {
    let g = Graph::with_seed(5);
    let (whole, parts) = g.as_default(|| {
        let mut parts = Vec::new();
        let whole: Vec<_> = (0..3)
            .map(|i| {
                get_variable(&format!("w{i}"))
                    .shape([40, 24 + i])
                    .initializer(Init::orthogonal(1.5).with_seed(11 + i as u64))
                    .build()
                    .unwrap()
            })
            .collect();
        for i in 0..3 {
            for shards in [3, 8] {
                parts.push((
                    i,
                    get_variable(&format!("p{i}_{shards}"))
                        .shape([40, 24 + i])
                        .initializer(Init::orthogonal(1.5).with_seed(11 + i as u64))
                        .partitioner(FixedSizePartitioner::new(shards, 0))
                        .build_partitioned()
                        .unwrap(),
                ));
            }
        }
        (whole, parts)
    });
    // All shards of all variables at once, on several threads.
    g.initialize_all().unwrap();
    for (i, p) in parts {
        assert_eq!(
            p.as_tensor().unwrap(),
            whole[i].value().unwrap(),
            "{}",
            p.name()
        );
    }
}

#[test]
fn a_spec_whose_shapes_overflow_is_rejected_with_the_key_of_the_size() {
    let e = ModelSpec::from_toml_str(&format!(
        "[[scopes]]\nname = \"m\"\nmodules = [{{ type = \"dense\", inputs = {n}, units = {n} }}]\n",
        n = 1u64 << 62
    ))
    .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("scopes[0].modules[0].units"), "{e}");
    assert!(e.message.contains("invalid shape"), "{e}");
    assert_eq!(e.line, Some(3), "{e}");
    // One variable of 2^62 elements is a valid (if unallocatable) shape.
    assert!(ModelSpec::from_toml_str(&format!(
        "[[scopes]]\nname = \"m\"\nmodules = [{{ type = \"variable\", name = \"v\", shape = [{}] }}]\n",
        1u64 << 62
    ))
    .is_ok());
}
