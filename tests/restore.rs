//! Restoring variables from safetensors checkpoints.

use std::collections::BTreeMap;
use std::path::PathBuf;
use varscope::checkpoint::{
    partition_metadata_key, save_safetensors, LoadedCheckpoint, PartitionInfo,
    PARTITION_METADATA_PREFIX,
};
use varscope::partition::FixedSizePartitioner;
use varscope::restore::{restore, restore_file};
use varscope::{
    get_variable, variable_scope, DType, Error, ErrorKind, Graph, Init, PartitionedVariable,
    Tensor, Variable,
};

/// `base + flat index in the full variable`, so shards carry their position.
fn iota(base: f32) -> Init {
    Init::custom(move |ctx| {
        let full = ctx.full_shape.dims().to_vec();
        let shape = ctx.shape.dims().to_vec();
        let cols: usize = full[1..].iter().product();
        let mut out = Vec::with_capacity(ctx.shape.num_elements());
        for r in 0..shape[0] {
            for c in 0..cols {
                out.push(base + ((ctx.offset[0] + r) * cols + c) as f32);
            }
        }
        Tensor::from_vec(out, shape)
    })
}

fn single(g: &Graph, name: &str, dims: [usize; 2], base: f32) -> Variable {
    g.as_default(|| {
        variable_scope("m")
            .enter(|_| {
                get_variable(name)
                    .shape(dims)
                    .initializer(iota(base))
                    .build()
            })
            .unwrap()
    })
}

fn partitioned(
    g: &Graph,
    name: &str,
    dims: [usize; 2],
    shards: usize,
    base: f32,
) -> PartitionedVariable {
    g.as_default(|| {
        variable_scope("m")
            .enter(|_| {
                get_variable(name)
                    .shape(dims)
                    .initializer(iota(base))
                    .partitioner(FixedSizePartitioner::new(shards, 0))
                    .build_partitioned()
            })
            .unwrap()
    })
}

fn values(v: &Variable) -> Vec<f64> {
    v.value().unwrap().to_f64_vec()
}

fn expected(dims: [usize; 2], base: f64) -> Vec<f64> {
    (0..dims[0] * dims[1]).map(|i| base + i as f64).collect()
}

fn checkpoint_of(g: &Graph) -> LoadedCheckpoint {
    let mut ckpt = LoadedCheckpoint::default();
    for v in g.global_variables() {
        ckpt.tensors
            .insert(v.checkpoint_name().to_string(), v.value().unwrap());
    }
    ckpt
}

#[test]
fn round_trip_through_a_file() {
    let src = Graph::with_seed(1);
    single(&src, "w", [2, 3], 100.0);
    let p = partitioned(&src, "emb", [5, 2], 2, 10.0);
    let dir = tempdir("roundtrip");
    let path = dir.join("ckpt.safetensors");
    let ckpt = checkpoint_of(&src);
    let mut meta = BTreeMap::new();
    meta.insert(
        partition_metadata_key(p.name()),
        PartitionInfo::of(&p).to_json(),
    );
    save_safetensors(
        &path,
        ckpt.tensors.iter().map(|(k, t)| (k.clone(), t)),
        &meta,
    )
    .unwrap();

    let dst = Graph::with_seed(2);
    let w = single(&dst, "w", [2, 3], 0.0);
    let q = partitioned(&dst, "emb", [5, 2], 2, 0.0);
    let report = restore_file(&dst, &path).unwrap();
    assert_eq!(report.restored, vec!["m/emb/part_0", "m/emb/part_1", "m/w"]);
    assert!(report.resliced.is_empty());
    assert!(report.unused.is_empty());
    assert_eq!(report.bytes, (6 + 10) * 4);
    assert_eq!(values(&w), expected([2, 3], 100.0));
    assert_eq!(q.as_tensor().unwrap().to_f64_vec(), expected([5, 2], 10.0));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn partitioned_variable_from_an_unpartitioned_tensor() {
    let src = Graph::with_seed(1);
    single(&src, "emb", [7, 3], 5.0);
    let dst = Graph::with_seed(2);
    let q = partitioned(&dst, "emb", [7, 3], 3, 0.0);
    let report = restore(&dst, &checkpoint_of(&src)).unwrap();
    assert_eq!(report.resliced.len(), 3);
    assert_eq!(q.as_tensor().unwrap().to_f64_vec(), expected([7, 3], 5.0));
    assert_eq!(report.unused, Vec::<String>::new());
}

#[test]
fn unpartitioned_and_repartitioned_variables_from_shards() {
    let src = Graph::with_seed(1);
    let p = partitioned(&src, "emb", [9, 2], 3, 1.0);
    let mut ckpt = checkpoint_of(&src);
    ckpt.metadata.insert(
        format!("{PARTITION_METADATA_PREFIX}m/emb"),
        PartitionInfo::of(&p).to_json(),
    );
    // Into one variable.
    let g1 = Graph::with_seed(2);
    let w = single(&g1, "emb", [9, 2], 0.0);
    restore(&g1, &ckpt).unwrap();
    assert_eq!(values(&w), expected([9, 2], 1.0));
    // Into a different partitioning.
    let g2 = Graph::with_seed(3);
    let q = partitioned(&g2, "emb", [9, 2], 2, 0.0);
    let report = restore(&g2, &ckpt).unwrap();
    assert_eq!(report.resliced, vec!["m/emb/part_0", "m/emb/part_1"]);
    assert_eq!(q.as_tensor().unwrap().to_f64_vec(), expected([9, 2], 1.0));
}

fn untouched(vars: &[&Variable]) -> Vec<Vec<f64>> {
    vars.iter().map(|v| values(v)).collect()
}

#[test]
fn missing_variable_is_a_typed_error_and_changes_nothing() {
    let src = Graph::with_seed(1);
    single(&src, "a", [2, 2], 50.0);
    let dst = Graph::with_seed(2);
    let a = single(&dst, "a", [2, 2], 0.0);
    let b = single(&dst, "b", [2, 2], 0.0);
    let before = untouched(&[&a, &b]);
    let e = restore(&dst, &checkpoint_of(&src)).unwrap_err();
    assert!(
        matches!(&e, Error::NotInCheckpoint { name } if name == "m/b"),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.to_string(), "variable m/b is not in the checkpoint");
    assert_eq!(untouched(&[&a, &b]), before);
}

#[test]
fn shape_and_dtype_mismatches_are_typed_errors_and_change_nothing() {
    let src = Graph::with_seed(1);
    single(&src, "a", [2, 2], 50.0);
    single(&src, "b", [3, 2], 60.0);
    let ckpt = checkpoint_of(&src);

    let dst = Graph::with_seed(2);
    let a = single(&dst, "a", [2, 2], 0.0);
    let b = single(&dst, "b", [2, 3], 0.0);
    let before = untouched(&[&a, &b]);
    let e = restore(&dst, &ckpt).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ShapeMismatch);
    match &e {
        Error::CheckpointShapeMismatch {
            name,
            tensor,
            expected,
            found,
        } => {
            assert_eq!(name, "m/b");
            assert_eq!(tensor, "m/b");
            assert_eq!(expected.dims(), &[2, 3]);
            assert_eq!(found.dims(), &[3, 2]);
        }
        e => panic!("unexpected {e}"),
    }
    assert_eq!(
        e.to_string(),
        "cannot restore variable m/b from checkpoint tensor m/b: the variable needs shape (2, 3), the tensor has shape (3, 2)"
    );
    assert_eq!(untouched(&[&a, &b]), before);

    let mut ckpt = ckpt;
    ckpt.tensors.insert(
        "m/b".into(),
        Tensor::zeros(DType::F64, &varscope::Shape::new([2, 3]).unwrap()),
    );
    let e = restore(&dst, &ckpt).unwrap_err();
    assert!(
        matches!(&e, Error::CheckpointDTypeMismatch { name, tensor, expected: DType::F32, found: DType::F64 } if name == "m/b" && tensor == "m/b"),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::DTypeMismatch);
    assert_eq!(
        e.to_string(),
        "cannot restore variable m/b from checkpoint tensor m/b: the variable has dtype float32, the tensor has dtype float64"
    );
    assert_eq!(untouched(&[&a, &b]), before);
}

#[test]
fn corrupt_and_unreadable_files_are_typed_errors() {
    let dir = tempdir("corrupt");
    let g = Graph::with_seed(2);
    let a = single(&g, "a", [2, 2], 0.0);
    let before = values(&a);
    let path = dir.join("bad.safetensors");
    std::fs::write(&path, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all").unwrap();
    let e = restore_file(&g, &path).unwrap_err();
    assert!(matches!(e, Error::Checkpoint { .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::Checkpoint);
    assert!(e.to_string().starts_with("corrupt checkpoint: "), "{e}");
    assert!(e.to_string().contains("bad.safetensors"), "{e}");
    let missing = dir.join("missing.safetensors");
    let e = restore_file(&g, &missing).unwrap_err();
    assert!(
        matches!(&e, Error::Io { path, .. } if *path == missing),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Io);
    match &e {
        Error::Io { source, .. } => assert_eq!(source.kind(), std::io::ErrorKind::NotFound),
        e => panic!("unexpected {e}"),
    }
    assert!(std::error::Error::source(&e).is_some());
    assert!(
        e.to_string().starts_with(&missing.display().to_string()),
        "{e}"
    );
    assert_eq!(values(&a), before);

    // Partition metadata that does not tile the variable.
    let mut ckpt = LoadedCheckpoint::default();
    ckpt.tensors.insert(
        "m/a/part_0".into(),
        Tensor::from_vec(vec![1.0f32, 2.0], [1, 2]).unwrap(),
    );
    ckpt.metadata.insert(
        format!("{PARTITION_METADATA_PREFIX}m/a"),
        r#"{"full_shape":[2,2],"shards":[{"name":"m/a/part_0","offset":[0,0],"shape":[1,2]}]}"#
            .into(),
    );
    let e = restore(&g, &ckpt).unwrap_err();
    assert!(matches!(e, Error::Checkpoint { .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::Checkpoint);
    assert!(e.to_string().contains("partition metadata of m/a"), "{e}");
    assert_eq!(values(&a), before);

    // Absurd dimensions are corruption, not an overflow.
    let huge = u64::MAX;
    ckpt.metadata.insert(
        partition_metadata_key("m/a"),
        format!(
            r#"{{"full_shape":[{huge},{huge},{huge}],"shards":[{{"name":"m/a/part_0","offset":[{huge},0,0],"shape":[{huge},{huge},{huge}]}}]}}"#
        ),
    );
    let e = restore(&g, &ckpt).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Checkpoint, "{e}");
    ckpt.metadata.insert(
        partition_metadata_key("m/a"),
        format!(
            r#"{{"full_shape":[{huge},{huge},{huge}],"shards":[{{"name":"m/a/part_0","offset":[0,0,0],"shape":[{huge},{huge},{huge}]}}]}}"#
        ),
    );
    let e = restore(&g, &ckpt).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Checkpoint, "{e}");
    assert_eq!(values(&a), before);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_shard_cut_from_a_whole_tensor_of_the_wrong_shape_names_the_whole_tensor() {
    let src = Graph::with_seed(1);
    single(&src, "emb", [6, 3], 5.0);
    let dst = Graph::with_seed(2);
    let q = partitioned(&dst, "emb", [7, 3], 2, 0.0);
    let before = q.as_tensor().unwrap();
    let e = restore(&dst, &checkpoint_of(&src)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ShapeMismatch);
    match &e {
        Error::CheckpointShapeMismatch {
            name,
            tensor,
            expected,
            found,
        } => {
            assert_eq!(name, "m/emb/part_0");
            assert_eq!(tensor, "m/emb");
            assert_eq!(expected.dims(), &[7, 3]);
            assert_eq!(found.dims(), &[6, 3]);
        }
        e => panic!("unexpected {e}"),
    }
    assert_eq!(q.as_tensor().unwrap(), before);
}

#[test]
fn partition_metadata_helpers() {
    let g = Graph::with_seed(1);
    let p = partitioned(&g, "emb", [5, 2], 2, 0.0);
    assert_eq!(
        partition_metadata_key(p.name()),
        format!("{PARTITION_METADATA_PREFIX}m/emb")
    );
    let info = PartitionInfo::of(&p);
    assert_eq!(info.full_shape, [5, 2]);
    assert_eq!(info.shards.len(), 2);
    let metadata = BTreeMap::from([
        (partition_metadata_key(p.name()), info.to_json()),
        ("varscope.seed".to_string(), "1".to_string()),
    ]);
    assert_eq!(
        PartitionInfo::from_metadata(&metadata, "m/emb").unwrap(),
        Some(info.clone())
    );
    assert_eq!(
        PartitionInfo::from_metadata(&metadata, "m/w").unwrap(),
        None
    );
    let all = PartitionInfo::all_from_metadata(&metadata).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all["m/emb"], info);
    let mut bad = metadata;
    bad.insert(partition_metadata_key("m/x"), "{".into());
    let e = PartitionInfo::all_from_metadata(&bad).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Checkpoint);
    assert!(e.to_string().contains("partition metadata of m/x"), "{e}");
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("varscope-restore-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A plain `variable(…).name("w")` and a `get_variable("w")` are ops `w` and `w_1`, as in
/// TF 2.21, whose `Saver` keys variables by op name: both are saved and both restored.
#[test]
fn a_plain_variable_and_get_variable_of_one_name_are_saved_and_restored_apart() {
    let build = |plain: f32, got: f32| {
        let g = Graph::with_seed(1);
        let vars = g.as_default(|| {
            let a = varscope::variable(Tensor::from_vec(vec![plain; 2], [2]).unwrap())
                .name("w")
                .build()
                .unwrap();
            let b = get_variable("w")
                .shape([2])
                .initializer(Init::constant(got))
                .build()
                .unwrap();
            (a, b)
        });
        (g, vars)
    };
    let (_, (a, b)) = build(1.0, 2.0);
    assert_eq!(
        (a.name(), b.name()),
        ("w:0".to_string(), "w_1:0".to_string())
    );
    assert_eq!((a.checkpoint_name(), b.checkpoint_name()), ("w", "w_1"));
    let tensors = [
        (a.checkpoint_name().to_string(), a.value().unwrap()),
        (b.checkpoint_name().to_string(), b.value().unwrap()),
    ];
    let ckpt = LoadedCheckpoint {
        tensors: tensors.into_iter().collect(),
        metadata: BTreeMap::new(),
    };
    let (g2, (a2, b2)) = build(0.0, 0.0);
    let report = restore(&g2, &ckpt).unwrap();
    assert_eq!(report.restored, ["w", "w_1"]);
    assert!(report.unused.is_empty());
    assert_eq!(a2.value().unwrap().to_f64_vec(), [1.0, 1.0]);
    assert_eq!(b2.value().unwrap().to_f64_vec(), [2.0, 2.0]);
}
