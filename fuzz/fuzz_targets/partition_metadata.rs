//! Partition metadata: `PartitionInfo::from_json` on any text, and for layouts it
//! accepts, assembling the variable from shards (restore) and summarizing a header
//! that lists them. Accepted layouts must tile their variable exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use varscope::checkpoint::{
    partition_metadata_key, CheckpointHeader, LoadedCheckpoint, PartitionInfo, TensorInfo,
};
use varscope::model::Summary;
use varscope::restore::restore;
use varscope::{get_variable, DType, Graph, Shape, Tensor};

/// Largest variable whose values are built.
const MAX_ELEMENTS: u128 = 1 << 16;

fn elements(dims: &[usize]) -> u128 {
    dims.iter().fold(1u128, |a, &d| a.saturating_mul(d as u128))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(info) = PartitionInfo::from_json("v", text) else {
        return;
    };
    // Accepted: the shards' sizes add up to the variable's.
    let total = info
        .shards
        .iter()
        .fold(0u128, |a, s| a.saturating_add(elements(&s.shape)));
    assert_eq!(total, elements(&info.full_shape), "accepted a layout that does not cover");
    let metadata = BTreeMap::from([(partition_metadata_key("v"), text.to_string())]);

    // The summary of a header holding the shards.
    let mut tensors = BTreeMap::new();
    let mut ok = true;
    for s in &info.shards {
        match Shape::new(&s.shape) {
            Ok(shape) => {
                tensors.insert(
                    s.name.clone(),
                    TensorInfo {
                        dtype: DType::F32,
                        shape,
                        data_offsets: (0, 0),
                    },
                );
            }
            Err(_) => ok = false,
        }
    }
    let header = CheckpointHeader {
        tensors,
        metadata: metadata.clone(),
        file_size: 0,
    };
    if let Ok(s) = Summary::from_header(&header) {
        let _ = s.render();
    }
    if !ok || elements(&info.full_shape) > MAX_ELEMENTS {
        return;
    }

    // Restore: shard `i` holds `i + 1` everywhere; every element of the assembled
    // variable must come from exactly one shard.
    let mut ckpt = LoadedCheckpoint {
        tensors: BTreeMap::new(),
        metadata,
    };
    for (i, s) in info.shards.iter().enumerate() {
        let n = s.shape.iter().product::<usize>();
        let Ok(t) = Tensor::from_vec(vec![(i + 1) as f32; n], s.shape.clone()) else {
            return;
        };
        ckpt.tensors.insert(s.name.clone(), t);
    }
    let g = Graph::with_seed(1);
    let Ok(v) = g.as_default(|| get_variable("v").shape(info.full_shape.clone()).build()) else {
        return;
    };
    if restore(&g, &ckpt).is_ok() {
        let values = v.value().expect("restored");
        assert!(values.to_f64_vec().iter().all(|&x| x >= 1.0), "a gap after restore");
    }
});
