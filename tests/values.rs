//! Values through the whole pipeline (`get_variable` → store → lazy materialization):
//! seeds come from the graph seed and the variable's name, never from creation order;
//! a shard equals the matching slice of the unpartitioned variable; values
//! materialize exactly once.

use std::sync::{Arc, Barrier};
use varscope::partition::FixedSizePartitioner;
use varscope::{get_variable, variable_scope, DType, Graph, Init, Reuse, Tensor, Variable};

fn inits() -> Vec<(&'static str, Init)> {
    vec![
        ("default", Init::glorot_uniform()),
        ("zeros", Init::zeros()),
        ("ones", Init::ones()),
        ("constant", Init::constant(0.25)),
        (
            "constant_list",
            Init::constant_list(vec![1.0, 2.0, 3.0, 4.0, 5.0]),
        ),
        ("uniform", Init::random_uniform(-2.0, 3.0)),
        ("normal", Init::random_normal(0.5, 2.0)),
        ("truncated", Init::truncated_normal(0.0, 1.0)),
        ("glorot_normal", Init::glorot_normal()),
        ("he_uniform", Init::he_uniform()),
        ("he_normal", Init::he_normal()),
        ("lecun_uniform", Init::lecun_uniform()),
        ("lecun_normal", Init::lecun_normal()),
        ("unit_scaling", Init::uniform_unit_scaling(1.5)),
        ("orthogonal", Init::orthogonal(1.0)),
        ("identity", Init::identity(2.0)),
        ("seeded_normal", Init::random_normal(0.0, 1.0).with_seed(7)),
    ]
}

const SHAPE: [usize; 2] = [13, 6];

fn build(graph: &Graph, name: &str, init: &Init) -> Variable {
    graph
        .as_default(|| {
            variable_scope("m").enter(|_| {
                get_variable(name)
                    .shape(SHAPE)
                    .initializer(init.clone())
                    .build()
            })
        })
        .unwrap()
}

#[test]
fn creation_order_and_threads_do_not_change_values() {
    let names: Vec<String> = (0..24).map(|i| format!("v{i}")).collect();
    // Sequential, in order, reading each value right away.
    let a = Graph::with_seed(99);
    let expected: Vec<Tensor> = names
        .iter()
        .map(|n| build(&a, n, &Init::glorot_uniform()).value().unwrap())
        .collect();
    // From 8 threads, in reverse order, interleaved, values read only at the end
    // through the parallel initializer.
    let b = Graph::with_seed(99);
    let barrier = Arc::new(Barrier::new(8));
    std::thread::scope(|s| {
        for t in 0..8 {
            let (b, names, barrier) = (b.clone(), names.clone(), barrier.clone());
            s.spawn(move || {
                barrier.wait();
                b.as_default(|| {
                    for n in names.iter().rev().skip(t).step_by(3) {
                        variable_scope("m")
                            .reuse(Reuse::Auto)
                            .enter(|_| get_variable(n).shape(SHAPE).build())
                            .unwrap();
                    }
                });
            });
        }
    });
    b.initialize_all().unwrap();
    for (n, want) in names.iter().zip(&expected) {
        let got = match b.store().get(&format!("m/{n}")) {
            Some(varscope::AnyVariable::Single(v)) => v.value().unwrap(),
            other => panic!("missing m/{n}: {other:?}"),
        };
        assert_eq!(&got, want, "{n}");
    }
    // A different graph seed gives different values.
    let c = Graph::with_seed(100);
    assert_ne!(
        build(&c, "v0", &Init::glorot_uniform()).value().unwrap(),
        expected[0]
    );
}

#[test]
fn entropy_seed_is_exposed_and_reproduces() {
    let g = Graph::new();
    let v = build(&g, "w", &Init::random_normal(0.0, 1.0))
        .value()
        .unwrap();
    let again = Graph::with_seed(g.seed());
    assert_eq!(
        build(&again, "w", &Init::random_normal(0.0, 1.0))
            .value()
            .unwrap(),
        v
    );
}

#[test]
fn shards_equal_slices_of_the_unpartitioned_variable() {
    for axis in [0usize, 1] {
        for shards in [2usize, 3, 5] {
            for (label, init) in inits() {
                let whole_graph = Graph::with_seed(5);
                let whole = build(&whole_graph, "w", &init).value().unwrap();
                let part_graph = Graph::with_seed(5);
                let pv = part_graph
                    .as_default(|| {
                        variable_scope("m")
                            .partitioner(FixedSizePartitioner::new(shards, axis))
                            .enter(|_| {
                                get_variable("w")
                                    .shape(SHAPE)
                                    .initializer(init.clone())
                                    .build_partitioned()
                            })
                    })
                    .unwrap();
                assert_eq!(pv.len(), shards.min(SHAPE[axis]));
                assert_eq!(
                    pv.as_tensor().unwrap(),
                    whole,
                    "{label}: {shards} shards along axis {axis}"
                );
            }
        }
    }
}

#[test]
fn values_materialize_once_and_lazily() {
    let g = Graph::with_seed(3);
    let v = build(&g, "big", &Init::random_normal(0.0, 1.0));
    assert!(!v.is_initialized());
    let n = g.initialize_all().unwrap();
    assert_eq!(n as usize, SHAPE[0] * SHAPE[1] * 4);
    assert!(v.is_initialized());
    let first = v.value().unwrap();
    // Nothing pending: a second pass initializes nothing and changes nothing.
    assert_eq!(g.initialize_all().unwrap(), 0);
    assert_eq!(v.value().unwrap(), first);
    // An assigned value is kept.
    let t = Tensor::zeros(DType::F32, v.shape());
    v.assign(t.clone()).unwrap();
    assert_eq!(g.initialize_all().unwrap(), 0);
    assert_eq!(v.value().unwrap(), t);
}
