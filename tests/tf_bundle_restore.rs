//! `init_from_checkpoint` with TF's assignment maps, from the bundle TF wrote
//! (`tests/data/tf_bundle/`) and from safetensors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use varscope::checkpoint::{save_safetensors, AnyCheckpoint};
use varscope::partition::FixedSizePartitioner;
use varscope::restore::{init_from_checkpoint, init_from_checkpoint_in};
use varscope::{get_variable, variable_scope, AnyVariable, DType, Error, ErrorKind, Graph, Tensor};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tf_bundle/sharded/model.ckpt")
}

/// The fixture's variables under scope `scope`, `emb` in 2 shards (TF wrote 3), plus a
/// new head `scope/output_weights` the checkpoint does not have.
fn build(g: &Graph, scope: &str) -> BTreeMap<String, AnyVariable> {
    g.as_default(|| {
        variable_scope(scope).enter(|_| {
            let mut out = BTreeMap::new();
            for (n, d, s) in [
                ("w32", DType::F32, vec![2, 3]),
                ("w64", DType::F64, vec![3]),
                ("h16", DType::F16, vec![3]),
                ("bf", DType::BF16, vec![3]),
                ("i32", DType::I32, vec![2, 2]),
                ("i64", DType::I64, vec![2]),
                ("flags", DType::Bool, vec![3]),
                ("step", DType::I64, vec![]),
                ("empty", DType::F32, vec![0, 3]),
            ] {
                out.insert(
                    n.to_string(),
                    get_variable(n).shape(s).dtype(d).build_any().unwrap(),
                );
            }
            let emb = get_variable("emb")
                .shape([7, 2])
                .partitioner(FixedSizePartitioner::new(2, 0))
                .build_any()
                .unwrap();
            out.insert("emb".into(), emb);
            let head = get_variable("output_weights")
                .shape([2, 2])
                .build_any()
                .unwrap();
            out.insert("output_weights".into(), head);
            Ok::<_, Error>(out)
        })
    })
    .unwrap()
}

fn value(v: &AnyVariable) -> Tensor {
    v.value().unwrap()
}

#[test]
fn scope_map_restores_the_body_and_keeps_the_new_head() {
    let g = Graph::with_seed(5);
    let vars = build(&g, "enc");
    let head_before = value(&vars["output_weights"]);
    let w32_before = value(&vars["w32"]);
    let ckpt = AnyCheckpoint::open(&fixture()).unwrap();
    // The whole scope: the head has no tensor, so nothing at all changes.
    let e = init_from_checkpoint_in(&g, &ckpt, [("body/", "enc/")]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(
        matches!(&e, Error::MappedNotInCheckpoint { tensor, variable, .. }
        if tensor == "body/output_weights" && variable == "enc/output_weights"),
        "{e}"
    );
    assert_eq!(value(&vars["w32"]), w32_before);

    // Every body variable one by one, as a fine-tuning script maps them.
    let map: Vec<(String, String)> = vars
        .keys()
        .filter(|n| *n != "output_weights")
        .map(|n| (format!("body/{n}"), format!("enc/{n}")))
        .collect();
    let report = g
        .as_default(|| init_from_checkpoint(&fixture(), map.clone()))
        .unwrap();
    assert!(report.restored.contains(&"enc/emb/part_1".to_string()));
    for n in vars.keys().filter(|n| *n != "output_weights") {
        assert_eq!(
            value(&vars[n]),
            ckpt.read(&format!("body/{n}")).unwrap(),
            "{n}"
        );
    }
    assert_eq!(value(&vars["output_weights"]), head_before);
    assert!(report.unused.contains(&"head/b".to_string()));
}

#[test]
fn root_and_single_variable_maps() {
    let ckpt = AnyCheckpoint::open(&fixture()).unwrap();
    // {"/": "/"}: every variable from the tensor of its own name.
    let g = Graph::with_seed(1);
    let vars = build(&g, "body");
    let e = init_from_checkpoint_in(&g, &ckpt, [("/", "/")]).unwrap_err();
    assert!(e.to_string().contains("body/output_weights"), "{e}");
    // {"/": "x/"} roots the checkpoint under x/.
    let g2 = Graph::with_seed(1);
    let b = g2
        .as_default(|| {
            variable_scope("x")
                .enter(|_| variable_scope("head").enter(|_| get_variable("b").shape([2]).build()))
        })
        .unwrap();
    init_from_checkpoint_in(&g2, &ckpt, [("/", "x/")]).unwrap();
    assert_eq!(b.value().unwrap().to_f64_vec(), vec![0.25, 0.75]);
    // One variable under another name.
    let r = init_from_checkpoint_in(
        &g,
        &ckpt,
        [("body/w32", "body/w32"), ("head/b", "body/output_weights")],
    );
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ShapeMismatch);
    assert!(
        e.to_string().contains("body/output_weights") && e.to_string().contains("head/b"),
        "{e}"
    );
    let r = init_from_checkpoint_in(&g, &ckpt, [("body/i64", "body/step")]).unwrap_err();
    assert_eq!(r.kind(), ErrorKind::ShapeMismatch);
    let r = init_from_checkpoint_in(&g, &ckpt, [("body/w64", "body/bf")]).unwrap_err();
    assert_eq!(r.kind(), ErrorKind::DTypeMismatch);
    let r = init_from_checkpoint_in(&g, &ckpt, [("body/nope", "body/w32")]).unwrap_err();
    assert!(matches!(r, Error::MappedNotInCheckpoint { .. }));
    // A scope-only name must be mapped from a scope.
    let r = init_from_checkpoint_in(&g, &ckpt, [("body/w32", "nothing/")]).unwrap_err();
    assert_eq!(r.kind(), ErrorKind::Other);
    let ok = init_from_checkpoint_in(&g, &ckpt, [("body/emb", "body/emb")]).unwrap();
    assert_eq!(ok.restored, ["body/emb/part_0", "body/emb/part_1"]);
    let emb = vars["emb"].value().unwrap();
    assert_eq!(emb, ckpt.read("body/emb").unwrap());
}

#[test]
fn works_from_safetensors_too() {
    let d = std::env::temp_dir().join(format!("varscope-ifc-st-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join("m.safetensors");
    let w = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2]).unwrap();
    save_safetensors(&p, [("old/emb".to_string(), &w)], &BTreeMap::new()).unwrap();
    let g = Graph::with_seed(1);
    let emb = g
        .as_default(|| {
            variable_scope("new").enter(|_| {
                get_variable("emb")
                    .shape([3, 2])
                    .partitioner(FixedSizePartitioner::new(3, 0))
                    .build_partitioned()
            })
        })
        .unwrap();
    g.as_default(|| init_from_checkpoint(&p, [("old/", "new/")]))
        .unwrap();
    assert_eq!(emb.as_tensor().unwrap(), w);
    std::fs::remove_dir_all(&d).unwrap();
}
