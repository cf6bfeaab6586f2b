//! `varscope::layers` against `tests/data/layers/layers.json`, recorded from
//! TensorFlow 2.21 (`tf.compat.v1.layers` from tf-keras, and `layer_norm` as
//! `tf.contrib.layers.layer_norm` names it) by `tests/data/layers/record.py`.
//!
//! Every scenario's steps are replayed on a fresh graph; the variables created must
//! be TF's, in TF's order — names, shapes, dtypes, trainability, collections — and
//! their values must be what TF's initializer would give (zeros, ones, or random
//! within the bounds TF's initializer had: Glorot uniform's limit, truncated
//! normal's two standard deviations). A scenario where TF raised must raise the same
//! error at the same point.

use serde::Deserialize;
use serde_json::Value;
use varscope::{layers, variable_scope, variable_scope_default, Graph, Init, Result, Reuse};

#[derive(Debug, Deserialize)]
struct Golden {
    scenarios: Vec<Scenario>,
}

#[derive(Debug, Deserialize)]
struct Scenario {
    name: String,
    steps: Vec<Value>,
    error: Option<String>,
    variables: Vec<Expected>,
}

#[derive(Debug, Deserialize)]
struct Expected {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    trainable: bool,
    collections: Vec<String>,
    initializer: Value,
}

fn golden() -> Golden {
    let text = include_str!("data/layers/layers.json");
    serde_json::from_str(text).expect("layers.json parses")
}

fn usize_of(step: &Value, key: &str) -> usize {
    step[key]
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or_else(|| panic!("{key} in {step}"))
}

fn reuse_of(step: &Value) -> Reuse {
    match &step["reuse"] {
        Value::Bool(true) => Reuse::Yes,
        Value::String(s) if s == "auto" => Reuse::Auto,
        _ => Reuse::No,
    }
}

fn init_of(spec: &Value) -> Option<Init> {
    match spec["kind"].as_str()? {
        "truncated_normal" => Some(Init::truncated_normal(0.0, spec["stddev"].as_f64()?)),
        "zeros" => Some(Init::zeros()),
        "ones" => Some(Init::ones()),
        other => panic!("initializer {other}"),
    }
}

fn flag(step: &Value, key: &str) -> bool {
    step[key].as_bool().unwrap_or(true)
}

/// Runs the steps as the recorder ran them in TF.
fn run(steps: &[Value]) -> Result<()> {
    for step in steps {
        let name = step["name"].as_str();
        let reuse = reuse_of(step);
        match step["do"].as_str().expect("do") {
            "variable_scope" => {
                let body = step["body"].as_array().cloned().unwrap_or_default();
                let b = match (name, step["default_name"].as_str()) {
                    (Some(n), _) => variable_scope(n),
                    (None, Some(d)) => variable_scope_default(d),
                    (None, None) => panic!("scope without a name"),
                };
                b.reuse(reuse).enter(|_| run(&body))?;
            }
            "dense" => {
                let mut l = layers::dense(usize_of(step, "inputs"), usize_of(step, "units"))
                    .reuse(reuse)
                    .use_bias(flag(step, "use_bias"));
                if let Some(n) = name {
                    l = l.name(n);
                }
                if let Some(i) = init_of(&step["kernel_initializer"]) {
                    l = l.kernel_initializer(i);
                }
                l.build()?;
            }
            "conv2d" => {
                let k = step["kernel_size"].as_array().expect("kernel_size");
                let k: Vec<usize> = k.iter().map(|v| v.as_u64().unwrap() as usize).collect();
                let mut l = layers::conv2d(
                    [k[0], k[1]],
                    usize_of(step, "in_channels"),
                    usize_of(step, "filters"),
                )
                .reuse(reuse)
                .use_bias(flag(step, "use_bias"));
                if let Some(n) = name {
                    l = l.name(n);
                }
                l.build()?;
            }
            "batch_normalization" => {
                let mut l = layers::batch_normalization(usize_of(step, "channels"))
                    .reuse(reuse)
                    .center(flag(step, "center"))
                    .scale(flag(step, "scale"));
                if let Some(n) = name {
                    l = l.name(n);
                }
                l.build()?;
            }
            "layer_norm" => {
                let mut l = layers::layer_norm(usize_of(step, "dim")).reuse(reuse);
                if let Some(n) = name {
                    l = l.name(n);
                }
                l.build()?;
            }
            "embedding" => {
                let mut l = layers::embedding(
                    name.expect("embedding name"),
                    usize_of(step, "vocab"),
                    usize_of(step, "dim"),
                );
                if let Some(i) = init_of(&step["initializer"]) {
                    l = l.initializer(i);
                }
                l.build()?;
            }
            other => panic!("unknown step {other}"),
        }
    }
    Ok(())
}

/// Checks a variable's values against the initializer TF used.
fn check_values(scenario: &str, e: &Expected, values: &[f64]) {
    let what = format!("{scenario}: {}", e.name);
    let kind = e.initializer["kind"].as_str().expect("kind");
    match kind {
        "zeros" => assert!(values.iter().all(|&v| v == 0.0), "{what} not zeros"),
        "ones" => assert!(values.iter().all(|&v| v == 1.0), "{what} not ones"),
        "random_uniform" => {
            let lo = e.initializer["minval"].as_f64().unwrap();
            let hi = e.initializer["maxval"].as_f64().unwrap();
            // TF's limits are float32: allow that rounding.
            let tol = 1e-6 * hi.abs().max(1.0);
            assert!(
                values.iter().all(|&v| v >= lo - tol && v < hi + tol),
                "{what}: values outside [{lo}, {hi})"
            );
            let spread = values.iter().cloned().fold(0.0f64, |m, v| m.max(v.abs()));
            assert!(
                spread > 0.25 * hi,
                "{what}: values too narrow for U({lo}, {hi})"
            );
        }
        "truncated_normal" => {
            let sd = e.initializer["stddev"].as_f64().unwrap();
            let mean = e.initializer["mean"].as_f64().unwrap();
            assert!(
                values.iter().all(|&v| (v - mean).abs() <= 2.0 * sd + 1e-6),
                "{what}: values beyond two standard deviations"
            );
            assert!(values.iter().any(|&v| v != mean), "{what}: constant");
        }
        other => panic!("{what}: initializer {other}"),
    }
}

#[test]
fn layers_create_what_tf_creates() {
    let g = golden();
    assert!(g.scenarios.len() >= 20);
    for s in &g.scenarios {
        let graph = Graph::with_seed(7);
        let result = graph.as_default(|| run(&s.steps));
        match (&s.error, &result) {
            (None, Ok(())) => {}
            (Some(tf), Err(e)) => assert!(
                e.to_string().starts_with(tf.as_str()),
                "{}: TF raised `{tf}`, varscope `{e}`",
                s.name
            ),
            (None, Err(e)) => panic!("{}: TF succeeded, varscope failed: {e}", s.name),
            (Some(tf), Ok(())) => panic!("{}: TF raised `{tf}`, varscope succeeded", s.name),
        }
        let got = graph.global_variables();
        let names: Vec<String> = got.iter().map(|v| v.op_name().to_string()).collect();
        let want: Vec<&str> = s.variables.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, want, "{}: variables", s.name);
        let trainable: Vec<String> = graph
            .trainable_variables()
            .iter()
            .map(|v| v.op_name().to_string())
            .collect();
        let model: Vec<String> = graph
            .get_collection(layers::MODEL_VARIABLES)
            .iter()
            .map(|v| v.op_name().to_string())
            .collect();
        for (v, e) in got.iter().zip(&s.variables) {
            let what = format!("{}: {}", s.name, e.name);
            assert_eq!(v.shape().dims(), e.shape.as_slice(), "{what} shape");
            assert_eq!(v.dtype().name(), e.dtype, "{what} dtype");
            assert_eq!(v.trainable(), e.trainable, "{what} trainable");
            let in_trainable = trainable.contains(&e.name);
            let in_model = model.contains(&e.name);
            assert_eq!(
                in_trainable,
                e.collections.iter().any(|c| c == "trainable_variables"),
                "{what} in trainable_variables"
            );
            assert_eq!(
                in_model,
                e.collections.iter().any(|c| c == "model_variables"),
                "{what} in model_variables"
            );
            assert!(e.collections.iter().any(|c| c == "variables"));
            let values = v.value().expect("value").to_f64_vec();
            check_values(&s.name, e, &values);
        }
    }
}

#[test]
fn reuse_returns_the_same_variables() {
    let graph = Graph::with_seed(3);
    graph.as_default(|| {
        let a = layers::dense(4, 3).name("proj").build().unwrap();
        let b = layers::dense(4, 3)
            .name("proj")
            .reuse(Reuse::Yes)
            .build()
            .unwrap();
        assert_eq!(a.kernel, b.kernel);
        assert_eq!(a.bias, b.bias);
        // Reuse with another shape is TF's shape error.
        let e = layers::dense(4, 5)
            .name("proj")
            .reuse(Reuse::Yes)
            .build()
            .unwrap_err();
        assert_eq!(e.kind(), varscope::ErrorKind::ShapeMismatch, "{e}");
        let bn = layers::batch_normalization(3).build().unwrap();
        let bn2 = layers::batch_normalization(3)
            .reuse(Reuse::Auto)
            .build()
            .unwrap();
        assert_eq!(bn.moving_mean, bn2.moving_mean);
    });
}

#[test]
fn layers_follow_scope_defaults_and_options() {
    let graph = Graph::with_seed(3);
    graph.as_default(|| {
        variable_scope("s")
            .initializer(Init::zeros())
            .dtype(varscope::DType::F64)
            .enter(|_| -> Result<()> {
                // The kernel takes the scope's initializer; the bias keeps zeros.
                let d = layers::dense(2, 2).bias_initializer(Init::ones()).build()?;
                let k = d.kernel.into_single()?;
                assert_eq!(k.dtype(), varscope::DType::F64);
                assert!(k.value()?.to_f64_vec().iter().all(|&v| v == 0.0));
                let b = d.bias.unwrap().into_single()?;
                assert!(b.value()?.to_f64_vec().iter().all(|&v| v == 1.0));
                let frozen = layers::layer_norm(2).trainable(false).build()?;
                assert!(!frozen.gamma.unwrap().into_single()?.trainable());
                Ok(())
            })
            .unwrap();
    });
    assert!(graph
        .trainable_variables()
        .iter()
        .all(|v| !v.op_name().contains("LayerNorm")));
}

/// TF's `glorot_uniform` limit for a kernel shape: `sqrt(6 / (fan_in + fan_out))`,
/// the receptive field multiplying both fans.
fn glorot_limit(shape: &[usize]) -> f64 {
    let (rf, io) = shape.split_at(shape.len() - 2);
    let rf: usize = rf.iter().product();
    (6.0 / ((io[0] * rf + io[1] * rf) as f64)).sqrt()
}

#[test]
fn default_initializers_are_tfs_and_give_the_tf_exact_values() {
    for s in &golden().scenarios {
        let layered = Graph::with_seed(11);
        let _ = layered.as_default(|| run(&s.steps));
        // The same names with the initializer TF recorded, spelled out: since values
        // derive from the graph seed and the name, they must be bit for bit equal.
        let explicit = Graph::with_seed(11);
        for (v, e) in layered.global_variables().iter().zip(&s.variables) {
            let init = match e.initializer["kind"].as_str().unwrap() {
                "random_uniform" => {
                    let hi = e.initializer["maxval"].as_f64().unwrap();
                    let limit = glorot_limit(&e.shape);
                    assert!(
                        (hi - limit).abs() < 1e-6 * limit,
                        "{}: {} is Glorot's limit {limit}",
                        e.name,
                        hi
                    );
                    Init::glorot_uniform()
                }
                "truncated_normal" => Init::truncated_normal(0.0, 0.02),
                "zeros" => Init::zeros(),
                "ones" => Init::ones(),
                other => panic!("{other}"),
            };
            let w = varscope::get_variable(&e.name)
                .shape(e.shape.clone())
                .initializer(init)
                .graph(&explicit)
                .build()
                .unwrap();
            assert_eq!(
                v.value().unwrap(),
                w.value().unwrap(),
                "{}: {}",
                s.name,
                e.name
            );
        }
    }
}
