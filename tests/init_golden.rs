//! Every case of `tests/data/initializers.json` (recorded from TensorFlow 2.21,
//! `tf.compat.v1` graph mode) must be reproduced: float32 within 1e-6 relative,
//! float64 within 1e-12 relative (each with a small absolute floor near zero),
//! integers and bools exactly.

use serde::Deserialize;
use serde_json::Value;
use varscope::init::{Distribution, FanMode, InitContext, Seeds};
use varscope::Init;
use varscope::{DType, Shape};

#[derive(Debug, Deserialize)]
struct Golden {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    init: String,
    params: serde_json::Map<String, Value>,
    dtype: String,
    shape: Vec<usize>,
    graph_seed: u64,
    op_seed: u64,
    values: Vec<Value>,
}

fn param(c: &Case, k: &str) -> f64 {
    c.params[k].as_f64().unwrap_or_else(|| panic!("param {k}"))
}

fn make(c: &Case) -> Init {
    let init = match c.init.as_str() {
        "random_normal" => Init::random_normal(param(c, "mean"), param(c, "stddev")),
        "truncated_normal" => Init::truncated_normal(param(c, "mean"), param(c, "stddev")),
        "random_uniform" => Init::random_uniform(param(c, "minval"), param(c, "maxval")),
        "glorot_uniform" => Init::glorot_uniform(),
        "glorot_normal" => Init::glorot_normal(),
        "variance_scaling" => Init::variance_scaling(
            param(c, "scale"),
            FanMode::parse(c.params["mode"].as_str().unwrap()).unwrap(),
            Distribution::parse(c.params["distribution"].as_str().unwrap()).unwrap(),
        )
        .unwrap(),
        "uniform_unit_scaling" => Init::uniform_unit_scaling(param(c, "factor")),
        "constant" => Init::constant(param(c, "value")),
        "zeros" => Init::zeros(),
        "ones" => Init::ones(),
        other => panic!("unknown initializer {other}"),
    };
    init.with_seed(c.op_seed)
}

/// Compares one case; returns a description of the first mismatch.
fn check(c: &Case) -> Result<(f64, usize), String> {
    let dtype = DType::from_name(&c.dtype).ok_or("bad dtype")?;
    let shape = Shape::new(c.shape.clone()).map_err(|e| e.to_string())?;
    let offset = vec![0; shape.rank()];
    let init = make(c);
    let ctx = InitContext {
        name: "v",
        dtype,
        full_shape: &shape,
        offset: &offset,
        shape: &shape,
        seeds: Seeds::tf(c.graph_seed, init.seed().unwrap_or(c.op_seed)),
    };
    let t = init.materialize(&ctx).map_err(|e| e.to_string())?;
    if t.dtype() != dtype || t.shape() != shape {
        return Err(format!("got {} {}", t.dtype(), t.shape()));
    }
    let got = t.to_f64_vec();
    if got.len() != c.values.len() {
        return Err(format!("{} values, want {}", got.len(), c.values.len()));
    }
    let (rel, abs): (f64, f64) = match dtype {
        DType::F32 => (1e-6, 1e-7),
        DType::F64 => (1e-12, 1e-14),
        _ => (0.0, 0.0),
    };
    let mut worst = 0.0f64;
    let mut inexact = 0usize;
    for (i, (g, w)) in got.iter().zip(&c.values).enumerate() {
        let w = match w {
            Value::Bool(b) => f64::from(u8::from(*b)),
            other => other.as_f64().ok_or("bad value")?,
        };
        let err = (g - w).abs();
        if err > abs.max(rel * w.abs()) {
            return Err(format!("element {i}: got {g:e}, want {w:e}"));
        }
        if w != 0.0 {
            worst = worst.max(err / w.abs());
        }
        if dtype == DType::F32 && (*g as f32) != (w as f32) {
            inexact += 1;
        }
    }
    Ok((worst, inexact))
}

#[test]
fn golden_initializers() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/initializers.json"
    ))
    .expect("golden file");
    let golden: Golden = serde_json::from_str(&text).expect("golden json");
    let mut failed = 0;
    let mut total_inexact = 0;
    for (i, c) in golden.cases.iter().enumerate() {
        let label = format!(
            "#{i:3} {} {:?} {} {:?} seeds ({}, {})",
            c.init, c.params, c.dtype, c.shape, c.graph_seed, c.op_seed
        );
        match check(c) {
            Ok((worst, inexact)) => {
                total_inexact += inexact;
                println!("PASS {label} (max relative error {worst:.1e}, {inexact} not bit-exact)")
            }
            Err(e) => {
                failed += 1;
                println!("FAIL {label}: {e}");
            }
        }
    }
    let n = golden.cases.len();
    println!("{} of {n} golden initializer cases passed", n - failed);
    println!("float32 values not bit-exact: {total_inexact}");
    assert_eq!(failed, 0, "{failed} of {n} golden cases failed");
}
