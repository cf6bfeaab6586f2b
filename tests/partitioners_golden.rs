//! Partitioner results and shard layouts against golden data recorded from TensorFlow
//! (`tests/data/partitioners.json`, a copy of `shared/golden/partitioners.json`).

use serde_json::Value;
use varscope::partition::{
    partition_layout, save_slice_spec, FixedSizePartitioner, MinMaxVariablePartitioner,
    Partitioner, VariableAxisSizePartitioner,
};
use varscope::{DType, Shape};

fn usize_list(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|x| usize::try_from(x.as_u64().expect("an unsigned integer")).unwrap())
        .collect()
}

fn param(params: &Value, key: &str) -> Option<usize> {
    params
        .get(key)
        .filter(|v| !v.is_null())
        .map(|v| usize::try_from(v.as_u64().expect("an unsigned integer")).unwrap())
}

fn make(kind: &str, params: &Value) -> Box<dyn Partitioner> {
    let axis = param(params, "axis").unwrap_or(0);
    let string_bytes = param(params, "bytes_per_string_element").unwrap_or(16);
    match kind {
        "fixed_size" => Box::new(FixedSizePartitioner::new(
            param(params, "num_shards").unwrap(),
            axis,
        )),
        "variable_axis_size" => Box::new(
            VariableAxisSizePartitioner::new(
                param(params, "max_shard_bytes").unwrap(),
                axis,
                string_bytes,
                param(params, "max_shards"),
            )
            .unwrap(),
        ),
        "min_max_variable" => Box::new(
            MinMaxVariablePartitioner::new(
                param(params, "max_partitions").unwrap_or(1),
                axis,
                param(params, "min_slice_size").unwrap_or(256 << 10),
                string_bytes,
            )
            .unwrap(),
        ),
        other => panic!("unknown partitioner {other}"),
    }
}

/// Checks one case; returns a description of every mismatch.
fn check_case(i: usize, case: &Value) -> Vec<String> {
    let kind = case["partitioner"].as_str().unwrap();
    let label = format!(
        "case {i} ({kind} {} shape {})",
        case["params"], case["shape"]
    );
    let shape = Shape::new(usize_list(&case["shape"])).unwrap();
    let dtype = DType::from_name(case["dtype"].as_str().unwrap()).unwrap();
    let p = make(kind, &case["params"]);
    let mut errors = Vec::new();

    // The partitioner alone.
    let raw = p.partitions(&shape, dtype).unwrap();
    let expected_partitions = usize_list(&case["partitions"]);
    if raw != expected_partitions {
        errors.push(format!(
            "{label}: partitions {raw:?}, expected {expected_partitions:?}"
        ));
    }

    // Validation and shard layout.
    let (partitions, shards) = match partition_layout(p.as_ref(), &shape, dtype) {
        Ok(x) => x,
        Err(e) => {
            errors.push(format!("{label}: partition_layout failed: {e}"));
            return errors;
        }
    };
    assert_eq!(partitions, raw);
    let expected = case["shards"].as_array().unwrap();
    if shards.len() != expected.len() {
        errors.push(format!(
            "{label}: {} shards, expected {}",
            shards.len(),
            expected.len()
        ));
        return errors;
    }
    for (j, (got, want)) in shards.iter().zip(expected).enumerate() {
        let name = format!("scope/w/part_{j}:0");
        if want["name"] != name.as_str() {
            errors.push(format!(
                "{label} shard {j}: name {name}, expected {}",
                want["name"]
            ));
        }
        if want["save_name"] != "scope/w" {
            errors.push(format!(
                "{label} shard {j}: save_name scope/w, expected {}",
                want["save_name"]
            ));
        }
        let want_shape = usize_list(&want["shape"]);
        if got.shape.dims() != want_shape.as_slice() {
            errors.push(format!(
                "{label} shard {j}: shape {:?}, expected {want_shape:?}",
                got.shape.dims()
            ));
        }
        let want_offset = usize_list(&want["offset"]);
        if got.offset != want_offset {
            errors.push(format!(
                "{label} shard {j}: offset {:?}, expected {want_offset:?}",
                got.offset
            ));
        }
        let spec = save_slice_spec(&shape, &got.offset, &got.shape);
        if want["spec"] != spec.as_str() || got.spec(&shape) != spec {
            errors.push(format!(
                "{label} shard {j}: spec {spec:?}, expected {}",
                want["spec"]
            ));
        }
    }
    errors
}

#[test]
fn golden_partitioners() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/partitioners.json"
    ))
    .expect("tests/data/partitioners.json");
    let golden: Value = serde_json::from_str(&text).unwrap();
    let cases = golden["cases"].as_array().unwrap();
    assert!(!cases.is_empty());

    let mut passed = 0;
    let mut failures = Vec::new();
    let mut shards = 0;
    for (i, case) in cases.iter().enumerate() {
        shards += case["shards"].as_array().map_or(0, Vec::len);
        let errors = check_case(i, case);
        if errors.is_empty() {
            passed += 1;
        }
        failures.extend(errors);
    }
    println!(
        "golden partitioners: {passed}/{} cases passed ({shards} shards)",
        cases.len()
    );
    assert!(failures.is_empty(), "mismatches:\n{}", failures.join("\n"));
    assert_eq!(passed, cases.len());
}
