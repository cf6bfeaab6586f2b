//! `examples/bert.toml` and `examples/bert.rs` build BERT-base with its pretraining
//! heads exactly as TensorFlow does: the 206 names and shapes of
//! `tests/data/layers/bert.json`, recorded from TF 2.21 by
//! `tests/data/layers/record.py`. And they build the same model: same names, shapes
//! and values (checked on a shrunken config, whose values fit a debug build).

#[path = "../examples/bert.rs"]
#[allow(dead_code)] // the example's `main`
mod bert;

use bert::{build_bert, BertConfig};
use serde::Deserialize;
use std::collections::BTreeMap;
use varscope::model::{build_model, ModelSpec};
use varscope::{layers, AnyVariable, Graph, Runtime};

const BERT_TOML: &str = include_str!("../examples/bert.toml");

#[derive(Debug, Deserialize)]
struct Recorded {
    variables: Vec<TfVariable>,
}

#[derive(Debug, Deserialize)]
struct TfVariable {
    name: String,
    shape: Vec<usize>,
    trainable: bool,
    collections: Vec<String>,
}

fn tf_variables() -> Vec<TfVariable> {
    let r: Recorded =
        serde_json::from_str(include_str!("data/layers/bert.json")).expect("bert.json parses");
    r.variables
}

/// Name → shape, sorted by name.
fn tf_shapes() -> BTreeMap<String, Vec<usize>> {
    tf_variables()
        .into_iter()
        .map(|v| (v.name, v.shape))
        .collect()
}

fn spec_shapes(spec: &ModelSpec, workers: usize) -> (Graph, BTreeMap<String, Vec<usize>>) {
    let rt = Runtime::new(workers).unwrap();
    let graph = Graph::with_seed(spec.seed);
    let model = build_model(spec, &rt, &graph).unwrap();
    let shapes = model
        .variables()
        .iter()
        .map(|v| match v {
            AnyVariable::Single(s) => (s.op_name().to_string(), s.shape().dims().to_vec()),
            AnyVariable::Partitioned(p) => panic!("unexpected partitioned {}", p.name()),
        })
        .collect();
    (graph, shapes)
}

fn graph_shapes(graph: &Graph) -> BTreeMap<String, Vec<usize>> {
    graph
        .global_variables()
        .iter()
        .map(|v| (v.op_name().to_string(), v.shape().dims().to_vec()))
        .collect()
}

#[test]
fn tf_recorded_206_variables() {
    let tf = tf_variables();
    assert_eq!(tf.len(), 206);
    assert_eq!(tf_shapes().len(), 206, "names are unique");
    let params: usize = tf.iter().map(|v| v.shape.iter().product::<usize>()).sum();
    // BERT-base with its heads: 110M parameters.
    assert_eq!(params, 110_106_428);
}

#[test]
fn the_spec_builds_tfs_variables() {
    let spec = ModelSpec::from_toml_str(BERT_TOML).unwrap();
    let (graph, shapes) = spec_shapes(&spec, 3);
    assert_eq!(shapes, tf_shapes());
    for v in tf_variables() {
        let got = graph
            .global_variables()
            .into_iter()
            .find(|g| g.op_name() == v.name)
            .unwrap();
        assert_eq!(got.trainable(), v.trainable, "{}", v.name);
    }
}

#[test]
fn the_example_builds_tfs_variables_on_any_number_of_workers() {
    for workers in [1, 4] {
        let graph = build_bert(&BertConfig::base(), workers, 1).unwrap();
        assert_eq!(graph_shapes(&graph), tf_shapes(), "{workers} workers");
        // The LayerNorm variables are model variables, as tf.contrib makes them.
        let model: Vec<String> = graph
            .get_collection(layers::MODEL_VARIABLES)
            .iter()
            .map(|v| v.op_name().to_string())
            .collect();
        for v in tf_variables() {
            let want = v.collections.iter().any(|c| c == "model_variables");
            assert_eq!(model.contains(&v.name), want, "{}", v.name);
        }
    }
}

/// `examples/bert.toml` with smaller sizes (the `[constants]` rewritten).
fn small_toml() -> String {
    let mut text = BERT_TOML.to_string();
    for (from, to) in [
        ("vocab = 30522", "vocab = 97"),
        ("hidden = 768", "hidden = 16"),
        ("layers = 12", "layers = 3"),
        ("intermediate = 3072", "intermediate = 40"),
        ("max_position = 512", "max_position = 24"),
    ] {
        assert!(text.contains(from), "{from}");
        text = text.replace(from, to);
    }
    text
}

fn small_config() -> BertConfig {
    BertConfig {
        vocab_size: 97,
        hidden_size: 16,
        num_hidden_layers: 3,
        intermediate_size: 40,
        max_position_embeddings: 24,
        type_vocab_size: 2,
        initializer_range: 0.02,
    }
}

#[test]
fn the_spec_and_the_example_give_the_same_values() {
    let spec = ModelSpec::from_toml_str(&small_toml()).unwrap();
    let (spec_graph, spec_shapes) = spec_shapes(&spec, 2);
    let example = build_bert(&small_config(), 3, spec.seed).unwrap();
    assert_eq!(graph_shapes(&example), spec_shapes);
    assert_eq!(spec_shapes.len(), 16 * 3 + 5 + 2 + 7);
    let values = |g: &Graph| -> BTreeMap<String, Vec<f64>> {
        g.global_variables()
            .iter()
            .map(|v| (v.op_name().to_string(), v.value().unwrap().to_f64_vec()))
            .collect()
    };
    let (a, b) = (values(&spec_graph), values(&example));
    assert_eq!(a, b);
    // Real values: the kernels are random within two standard deviations, the
    // biases zeros, LayerNorm gamma ones.
    let k = &a[KERNEL];
    assert_eq!(k.len(), 16 * 40);
    assert!(k.iter().all(|x| x.abs() <= 0.04) && k.iter().any(|&x| x != 0.0));
    assert!(a["cls/predictions/output_bias"].iter().all(|&x| x == 0.0));
    assert!(a["bert/embeddings/LayerNorm/gamma"]
        .iter()
        .all(|&x| x == 1.0));
    // Another seed gives other values.
    let other = build_bert(&small_config(), 1, spec.seed + 1).unwrap();
    assert_ne!(values(&other)[KERNEL], *k);
}

const KERNEL: &str = "bert/encoder/layer_2/intermediate/dense/kernel";
