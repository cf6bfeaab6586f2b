//! The towers example resolves to one set of variables, with the same names, for any
//! number of workers.

#[path = "../examples/towers.rs"]
#[allow(dead_code)] // the example's `main`
mod towers;

use std::collections::BTreeSet;
use towers::{build_towers, Towers, TOWERS};

const EXPECTED_STORE: [&str; 6] = [
    "model/shared/embedding",
    "model/shared/softmax_w",
    "model/shared/softmax_w/part_0",
    "model/shared/softmax_w/part_1",
    "model/shared_block/b",
    "model/shared_block/w",
];

const EXPECTED_GLOBALS: [(&str, &[usize]); 5] = [
    ("model/shared/embedding:0", &[100, 16]),
    ("model/shared/softmax_w/part_0:0", &[8, 10]),
    ("model/shared/softmax_w/part_1:0", &[8, 10]),
    ("model/shared_block/b:0", &[16]),
    ("model/shared_block/w:0", &[16, 16]),
];

/// Sorted `(name, dims)` pairs.
type NamesAndShapes = Vec<(String, Vec<usize>)>;

fn store_names(t: &Towers) -> Vec<String> {
    t.graph.store().entries().into_iter().map(|e| e.0).collect()
}

fn global_names_and_shapes(t: &Towers) -> NamesAndShapes {
    let mut v: Vec<_> = t
        .graph
        .global_variables()
        .iter()
        .map(|v| (v.name(), v.shape().dims().to_vec()))
        .collect();
    v.sort();
    v
}

#[test]
fn one_set_of_variables_whatever_the_worker_count() {
    let mut first: Option<(Vec<String>, NamesAndShapes)> = None;
    for workers in [1, 2, 4, 8] {
        let built = build_towers(workers, TOWERS).unwrap();
        assert_eq!(built.towers.len(), TOWERS);

        let store = store_names(&built);
        let globals = global_names_and_shapes(&built);
        assert_eq!(store, EXPECTED_STORE, "store with {workers} workers");
        let expected: NamesAndShapes = EXPECTED_GLOBALS
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_vec()))
            .collect();
        assert_eq!(globals, expected, "global variables with {workers} workers");
        // Exactly one set: no name registered twice in the collection.
        assert_eq!(built.graph.global_variables().len(), EXPECTED_GLOBALS.len());
        assert_eq!(
            built.graph.trainable_variables().len(),
            EXPECTED_GLOBALS.len()
        );

        // Every tower resolved the very same variable objects.
        let shared = &built.towers[0].variables;
        assert_eq!(shared.len(), 5);
        for t in &built.towers {
            assert_eq!(
                &t.variables, shared,
                "tower {} with {workers} workers",
                t.index
            );
        }

        match &first {
            None => first = Some((store, globals)),
            Some((s, g)) => {
                assert_eq!(&store, s, "{workers} workers vs 1");
                assert_eq!(&globals, g, "{workers} workers vs 1");
            }
        }
    }
}

#[test]
fn each_tower_has_its_own_ops() {
    for workers in [1, 3] {
        let built = build_towers(workers, TOWERS).unwrap();
        let mut all = BTreeSet::new();
        for t in &built.towers {
            assert!(t.worker.starts_with("varscope-worker-"), "{}", t.worker);
            assert_eq!(t.ops.len(), 3);
            for (op, leaf) in t.ops.iter().zip(["input", "hidden", "logits"]) {
                assert_eq!(op, &format!("model/tower_{}/{leaf}", t.index));
                assert!(all.insert(op.clone()), "op {op} created twice");
            }
        }
        assert_eq!(all.len(), 3 * TOWERS);
    }
}
