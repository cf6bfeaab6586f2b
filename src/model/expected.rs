//! Expected tensor values of a built model, as JSON, for checking a checkpoint with
//! another reader (the Python client test).

use super::build::BuiltModel;
use crate::checkpoint::safetensors_dtype_name;
use crate::dtype::DType;
use crate::error::Result;
use crate::tensor::{Element, Tensor};
use crate::variable::AnyVariable;
use half::{bf16, f16};
use serde_json::{json, Map, Value};

/// Flat indices sampled from a tensor of `n` elements: the first, last, middle and a
/// few spread by a fixed stride, deduplicated and sorted.
fn sample_indices(n: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let mut v = vec![0, n - 1, n / 2, n / 3];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..4 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push((x % n as u64) as usize);
    }
    v.sort_unstable();
    v.dedup();
    v
}

fn samples_and_sum(t: &Tensor) -> (Vec<Value>, f64) {
    fn go<T: Element>(t: &Tensor) -> (Vec<Value>, f64) {
        let view = T::view(t).expect("dtype matches");
        let flat: Vec<T> = view.iter().copied().collect();
        let samples = sample_indices(flat.len())
            .into_iter()
            .map(|i| json!([i, flat[i].to_f64()]))
            .collect();
        let sum = flat.iter().map(|x| x.to_f64()).sum();
        (samples, sum)
    }
    match t.dtype() {
        DType::F16 => go::<f16>(t),
        DType::BF16 => go::<bf16>(t),
        DType::F32 => go::<f32>(t),
        DType::F64 => go::<f64>(t),
        DType::I32 => go::<i32>(t),
        DType::I64 => go::<i64>(t),
        DType::Bool => go::<bool>(t),
    }
}

/// For every checkpoint tensor: name, shape, safetensors dtype, sum and sampled values
/// (`[flat_index, value]`); and for every partitioned variable the same for the whole
/// (reassembled) value plus its shard names. Values are exact as `f64`.
///
/// ```json
/// {"seed": 7, "tensors": {"net/dense/kernel": {"shape": [3, 2], "dtype": "F32",
///   "sum": 0.1, "samples": [[0, 0.5], …]}}, "partitioned": {"net/emb/weights":
///   {"shape": [10, 4], "dtype": "F32", "shards": ["…/part_0", …], "sum": …, "samples": […]}}}
/// ```
///
/// # Errors
/// An initializer error (values are materialized if needed).
pub fn expected_values(model: &BuiltModel) -> Result<Value> {
    let mut tensors = Map::new();
    for v in model.tensors() {
        let (samples, sum) = v.with_value(samples_and_sum)?;
        tensors.insert(
            v.checkpoint_name().to_string(),
            json!({
                "shape": v.shape().dims(),
                "dtype": safetensors_dtype_name(v.dtype()),
                "sum": sum,
                "samples": samples,
            }),
        );
    }
    let mut partitioned = Map::new();
    for v in model.variables() {
        if let AnyVariable::Partitioned(p) = v {
            let whole = p.as_tensor()?;
            let (samples, sum) = samples_and_sum(&whole);
            let shards: Vec<&str> = p.shards().iter().map(|s| s.checkpoint_name()).collect();
            partitioned.insert(
                p.name().to_string(),
                json!({
                    "shape": p.shape().dims(),
                    "dtype": safetensors_dtype_name(p.dtype()),
                    "shards": shards,
                    "sum": sum,
                    "samples": samples,
                }),
            );
        }
    }
    Ok(json!({
        "seed": model.graph().seed(),
        "tensors": tensors,
        "partitioned": partitioned,
    }))
}
