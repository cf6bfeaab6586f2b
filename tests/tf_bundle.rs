//! TF tensor bundles: the fixtures TF wrote (`tests/data/tf_bundle/`, made by
//! `generate.py` beside them), round trips through the writer, and corrupt bundles.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use varscope::checkpoint::{
    bundle_data_path, bundle_index_path, load_safetensors, save_safetensors, AnyCheckpoint,
    BundleReader, BundleWriter, CheckpointFormat, TensorSlice,
};
use varscope::{DType, ErrorKind, Shape, Tensor};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tf_bundle/sharded/model.ckpt")
}

fn expected() -> serde_json::Map<String, serde_json::Value> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tf_bundle/expected.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    v.as_object().unwrap().clone()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("varscope-tfb-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn reads_every_tensor_tf_wrote_with_tf_values() {
    let r = BundleReader::open(&fixture()).unwrap();
    assert_eq!(r.num_shards(), 2);
    let exp = expected();
    let names: Vec<&String> = r.entries().keys().collect();
    let exp_names: Vec<&String> = exp.keys().collect();
    assert_eq!(names, exp_names);
    for (name, e) in &exp {
        let t = r.read(name).unwrap();
        assert_eq!(t.dtype().name(), e["dtype"].as_str().unwrap(), "{name}");
        let shape: Vec<usize> = e["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(t.shape().dims(), shape.as_slice(), "{name}");
        let values: Vec<f64> = e["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(t.to_f64_vec(), values, "{name}");
    }
    // The partitioned variable is listed once, with TF's three slices.
    let emb = r.entry("body/emb").unwrap();
    assert_eq!(emb.slices.len(), 3);
    assert_eq!(
        emb.slices[0],
        TensorSlice {
            offset: vec![0, 0],
            shape: vec![3, 2]
        }
    );
    assert_eq!(r.entry("body/step").unwrap().shape.rank(), 0);
    // The index name opens it too, and by content.
    let any = AnyCheckpoint::open(&bundle_index_path(&fixture())).unwrap();
    assert_eq!(any.format(), CheckpointFormat::TfBundle);
}

#[test]
fn any_slice_of_a_sliced_or_whole_tensor() {
    let r = BundleReader::open(&fixture()).unwrap();
    let whole = r.read("body/emb").unwrap().to_f64_vec();
    // Rows 2..6 span all three of TF's slices (rows 0-2, 3-4, 5-6).
    let s = TensorSlice {
        offset: vec![2, 1],
        shape: vec![4, 1],
    };
    let got = r.read_slice("body/emb", &s).unwrap().to_f64_vec();
    let want: Vec<f64> = (2..6).map(|row| whole[row * 2 + 1]).collect();
    assert_eq!(got, want);
    let w = r.read("body/w32").unwrap().to_f64_vec();
    let s = TensorSlice {
        offset: vec![1, 1],
        shape: vec![1, 2],
    };
    assert_eq!(
        r.read_slice("body/w32", &s).unwrap().to_f64_vec(),
        w[4..6].to_vec()
    );
    let outside = TensorSlice {
        offset: vec![6, 0],
        shape: vec![2, 2],
    };
    let e = r.read_slice("body/emb", &outside).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Other);
    assert_eq!(r.read("nope").unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn load_gives_varscope_layout_with_partition_metadata() {
    let any = AnyCheckpoint::open(&fixture()).unwrap();
    let l = any.load().unwrap();
    assert!(l.tensors.contains_key("body/emb/part_0"));
    assert_eq!(l.tensors["body/emb/part_2"].shape().dims(), &[2, 2]);
    assert!(l.metadata.contains_key("partition:body/emb"));
    assert!(!l.tensors.contains_key("body/emb"));
    let h = any.header();
    assert_eq!(h.tensors.len(), l.tensors.len());
}

/// Every dtype, a scalar, an empty tensor, and a partitioned variable.
fn sample() -> Vec<(String, Tensor)> {
    vec![
        (
            "a/f16".into(),
            Tensor::from_vec(vec![half::f16::from_f32(0.5), half::f16::MAX], [2]).unwrap(),
        ),
        (
            "a/bf16".into(),
            Tensor::from_vec(vec![half::bf16::from_f32(-2.0)], [1]).unwrap(),
        ),
        (
            "a/f32".into(),
            Tensor::from_vec((0..12).map(|i| i as f32 / 3.0).collect(), [3, 4]).unwrap(),
        ),
        (
            "a/f64".into(),
            Tensor::from_vec(vec![1e-300f64, -0.0], [2, 1]).unwrap(),
        ),
        (
            "a/i32".into(),
            Tensor::from_vec(vec![i32::MIN, 7], [2]).unwrap(),
        ),
        ("a/i64".into(), Tensor::scalar(i64::MAX)),
        (
            "a/b".into(),
            Tensor::from_vec(vec![true, false, true], [3]).unwrap(),
        ),
        (
            "a/empty".into(),
            Tensor::from_vec(Vec::<f32>::new(), [0, 4]).unwrap(),
        ),
    ]
}

#[test]
fn writer_round_trips_every_dtype_over_shards() {
    let d = tmp("rt");
    for shards in [1, 3] {
        let prefix = d.join(format!("m{shards}"));
        let mut w = BundleWriter::new(&prefix, shards).unwrap();
        for (n, t) in sample() {
            w.add(&n, &t).unwrap();
        }
        let full = Shape::new([5, 3]).unwrap();
        let emb = Tensor::from_vec((0..15).map(|i| i as f32).collect(), [5, 3]).unwrap();
        let top = Tensor::from_vec((0..9).map(|i| i as f32).collect(), [3, 3]).unwrap();
        let bottom = Tensor::from_vec((9..15).map(|i| i as f32).collect(), [2, 3]).unwrap();
        w.add_slice("a/emb", &full, &[3, 0], &bottom).unwrap();
        w.add_slice("a/emb", &full, &[0, 0], &top).unwrap();
        let size = w.finish().unwrap();
        let on_disk: u64 = std::iter::once(bundle_index_path(&prefix))
            .chain((0..shards).map(|i| bundle_data_path(&prefix, i, shards)))
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum();
        assert_eq!(size, on_disk);
        let r = BundleReader::open(&prefix).unwrap();
        assert_eq!(r.num_shards(), shards);
        for (n, t) in sample() {
            assert_eq!(r.read(&n).unwrap(), t, "{n}");
        }
        assert_eq!(r.read("a/emb").unwrap(), emb);
        assert_eq!(r.entry("a/emb").unwrap().slices.len(), 2);
        // No temporary files are left behind.
        let left: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(left.is_empty());
    }
}

#[test]
fn safetensors_to_bundle_to_safetensors_keeps_values() {
    let d = tmp("conv");
    let st = d.join("a.safetensors");
    let tensors = sample();
    save_safetensors(
        &st,
        tensors.iter().map(|(n, t)| (n.clone(), t)),
        &BTreeMap::new(),
    )
    .unwrap();
    let prefix = d.join("b.ckpt");
    let src = AnyCheckpoint::open(&st).unwrap();
    let mut w = BundleWriter::new(&prefix, 2).unwrap();
    for (n, t) in &src.load().unwrap().tensors {
        w.add(n, t).unwrap();
    }
    w.finish().unwrap();
    let back = AnyCheckpoint::open(&prefix).unwrap().load().unwrap();
    let st2 = d.join("c.safetensors");
    save_safetensors(
        &st2,
        back.tensors.iter().map(|(n, t)| (n.clone(), t)),
        &BTreeMap::new(),
    )
    .unwrap();
    let again = load_safetensors(&st2).unwrap();
    for (n, t) in &tensors {
        assert_eq!(again.tensors[n].to_le_bytes(), t.to_le_bytes(), "{n}");
        assert_eq!(again.tensors[n].dtype(), t.dtype());
    }
    let _ = DType::F32;
}
