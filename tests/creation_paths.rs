//! A `get_variable` call that sets nothing but its shape, initializer, dtype and
//! trainability, in a scope that sets no default but the dtype, is created without
//! being resolved against the scope. These tests check that this path and the full
//! one (taken here through a custom getter that only forwards, or by naming the
//! default collections) build the same graph and report the same errors.

use std::sync::{Arc, Barrier};
use varscope::{
    get_variable, get_variable_scope, variable_scope, CustomGetter, DType, Error, Graph, Init,
    Reuse, Variable, GLOBAL_VARIABLES,
};

/// How a call is sent down the full path.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Path {
    /// As written: bare calls take the quick creation.
    Quick,
    /// Every scope has a custom getter that only forwards.
    Getter,
    /// Every call names the default collections.
    Collections,
}

fn forward() -> CustomGetter {
    CustomGetter::new(|next, args| next.get(args))
}

/// `get_variable(name)` with `shape` and `init`, down `path`.
fn get(path: Path, name: &str, shape: &[usize], init: Init) -> Result<Variable, Error> {
    let call = get_variable(name).shape(shape.to_vec()).initializer(init);
    match path {
        Path::Collections => call.collections([GLOBAL_VARIABLES]).build(),
        _ => call.build(),
    }
}

/// Enters `name` with `reuse`, down `path`.
fn scope<R>(path: Path, name: &str, reuse: Reuse, f: impl FnOnce() -> R) -> R {
    let mut b = variable_scope(name).reuse(reuse);
    if path == Path::Getter {
        b = b.custom_getter(forward());
    }
    let guard = b.guard().unwrap();
    let out = f();
    guard.close().unwrap();
    out
}

/// A model's worth of calls, and the errors along the way (as text).
fn build(path: Path) -> (Graph, Vec<String>) {
    let g = Graph::with_seed(11);
    let mut errors = Vec::new();
    g.as_default(|| {
        let mut note = |r: Result<Variable, Error>| {
            if let Err(e) = r {
                errors.push(e.to_string());
            }
        };
        scope(path, "enc", Reuse::No, || {
            note(get(path, "w", &[3, 4], Init::glorot_uniform()));
            note(get(path, "b", &[4], Init::zeros()));
            // Taken: TF's "Did you mean to set reuse=True" error.
            note(get(path, "w", &[3, 4], Init::zeros()));
            // A name that is not a valid op name.
            note(get(path, "bad name", &[1], Init::zeros()));
            // `enc/`: a full name ending in `/` names its op absolutely (`enc`).
            note(get(path, "", &[1], Init::zeros()));
            // Case variants: distinct variables, uniquified op names.
            note(get(path, "W", &[2], Init::ones()));
            scope(path, "inner", Reuse::No, || {
                note(get(path, "k", &[2, 2], Init::truncated_normal(0.0, 1.0)));
            });
        });
        scope(path, "shared", Reuse::Auto, || {
            note(get(path, "e", &[5], Init::random_uniform(-1.0, 1.0)));
            // Reused.
            note(get(path, "e", &[5], Init::zeros()));
            // Reused with another shape: a mismatch.
            note(get(path, "e", &[6], Init::zeros()));
            note(
                get_variable("steps")
                    .shape([1])
                    .dtype(DType::I64)
                    .trainable(false)
                    .build(),
            );
        });
        // A scope with a default dtype is still bare.
        let mut f64_scope = variable_scope("wide").dtype(DType::F64);
        if path == Path::Getter {
            f64_scope = f64_scope.custom_getter(forward());
        }
        f64_scope
            .enter(|_| note(get(path, "x", &[2], Init::constant(2.5))))
            .unwrap();
        // A byte count that overflows.
        scope(path, "huge", Reuse::No, || {
            note(get(path, "h", &[1 << 31, 1 << 31], Init::zeros()));
        });
        // Reuse = Yes: a missing name.
        scope(path, "enc", Reuse::Yes, || {
            note(get(path, "missing", &[1], Init::zeros()));
        });
    });
    (g, errors)
}

fn describe(g: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    for v in g.global_variables() {
        v.initialize().unwrap();
        out.push(format!(
            "{} {} {:?} {} {} {:?}",
            v.name(),
            v.op_name(),
            v.shape().dims(),
            v.dtype(),
            v.trainable(),
            v.value().unwrap().to_f64_vec()
        ));
    }
    let trainable: Vec<_> = g.trainable_variables().iter().map(Variable::name).collect();
    out.push(format!("trainable {trainable:?}"));
    out.extend(
        g.ops()
            .into_iter()
            .map(|o| format!("op {} {}", o.name, o.op_type)),
    );
    out.push(format!("store {}", g.store().len()));
    out
}

#[test]
fn the_quick_creation_builds_what_the_full_path_builds() {
    let (quick, quick_errors) = build(Path::Quick);
    for path in [Path::Getter, Path::Collections] {
        let (full, full_errors) = build(path);
        assert_eq!(describe(&quick), describe(&full), "{path:?}");
        assert_eq!(quick_errors, full_errors, "{path:?}");
    }
    // The errors are the ones expected, in order.
    let expected = [
        "Did you mean to set reuse=True",
        "bad name",
        "shape",
        "bytes",
        "does not exist",
    ];
    assert_eq!(quick_errors.len(), expected.len(), "{quick_errors:?}");
    for (e, want) in quick_errors.iter().zip(expected) {
        assert!(e.contains(want), "{e:?} should mention {want:?}");
    }
    let names: Vec<_> = quick
        .global_variables()
        .iter()
        .map(Variable::name)
        .collect();
    assert_eq!(
        names,
        [
            "enc/w:0",
            "enc/b:0",
            "enc:0",
            "enc/W_1:0",
            "enc/inner/k:0",
            "shared/e:0",
            "shared/steps:0",
            "wide/x:0"
        ]
    );
    // `enc/W` is a distinct variable (its own store entry) whose op name was
    // uniquified against `enc/w`, case-insensitively, as in TF.
    assert!(quick.store().get("enc/W").is_some());
}

/// A scope object whose defaults change after it was captured stops being bare, and
/// the next creation in it takes the full path (and the new default).
#[test]
fn a_scope_given_a_default_later_is_no_longer_bare() {
    let g = Graph::with_seed(3);
    g.as_default(|| {
        let s = variable_scope("s").enter(|s| s.clone()).unwrap();
        let plain = variable_scope(&s)
            .enter(|_| get(Path::Quick, "a", &[2], Init::zeros()))
            .unwrap();
        s.set_initializer(Some(Init::ones()));
        let ones = variable_scope(&s)
            .enter(|_| get_variable("b").shape([2]).build())
            .unwrap();
        assert_eq!(plain.value().unwrap().to_f64_vec(), [0.0, 0.0]);
        assert_eq!(ones.value().unwrap().to_f64_vec(), [1.0, 1.0]);
        s.set_initializer(None);
        s.set_dtype(DType::F64);
        let wide = variable_scope(&s)
            .enter(|_| {
                get_variable("c")
                    .shape([2])
                    .initializer(Init::zeros())
                    .build()
            })
            .unwrap();
        assert_eq!(wide.dtype(), DType::F64);
        // The root scope, re-entered with reuse = Auto: quick creations, then hits.
        let auto = variable_scope(get_variable_scope()).reuse(Reuse::Auto);
        let first = auto
            .clone()
            .enter(|_| get(Path::Quick, "r", &[1], Init::zeros()))
            .unwrap();
        let again = variable_scope(get_variable_scope())
            .reuse(Reuse::Auto)
            .enter(|_| get(Path::Quick, "r", &[1], Init::ones()))
            .unwrap();
        assert_eq!(first, again);
    });
}

/// Threads racing to create the same names through the quick path each get the one
/// variable of a name, created once.
#[test]
fn racing_quick_creations_create_each_name_once() {
    const THREADS: usize = 8;
    const NAMES: usize = 300;
    let g = Graph::with_seed(5);
    let barrier = Arc::new(Barrier::new(THREADS));
    let results: Vec<Vec<Variable>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (g, barrier) = (g.clone(), barrier.clone());
                s.spawn(move || {
                    g.as_default(|| {
                        barrier.wait();
                        variable_scope("race")
                            .reuse(Reuse::Auto)
                            .enter(|_| {
                                // Each thread walks the names from its own start.
                                (0..NAMES)
                                    .map(|i| {
                                        let n = format!("v{}", (i + t * 37) % NAMES);
                                        get(Path::Quick, &n, &[4], Init::zeros()).unwrap()
                                    })
                                    .collect::<Vec<_>>()
                            })
                            .unwrap()
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(g.store().len(), NAMES);
    assert_eq!(g.global_variables().len(), NAMES);
    assert_eq!(g.ops().len(), NAMES);
    for (t, vars) in results.iter().enumerate() {
        for (i, v) in vars.iter().enumerate() {
            let n = format!("race/v{}:0", (i + t * 37) % NAMES);
            assert_eq!(v.name(), n);
            assert_eq!(v.op_name(), &n[..n.len() - 2], "no op name was uniquified");
            let first = &results[0][(i + t * 37) % NAMES];
            assert_eq!(v.name(), first.name());
            assert_eq!(v, first);
        }
    }
}

/// Threads racing to create the same names, in the same order, with different
/// shapes: whoever loses a race for a name — also after preparing its own creation,
/// when the full path takes over — reuses the winner's variable only when the
/// shapes agree, and otherwise gets TF's shape mismatch.
#[test]
fn racing_quick_creations_with_other_shapes_check_the_shape() {
    const THREADS: usize = 8;
    const NAMES: usize = 400;
    for round in 0..20 {
        let g = Graph::with_seed(7);
        let barrier = Arc::new(Barrier::new(THREADS));
        let results: Vec<Vec<(usize, Result<Variable, Error>)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (g, barrier) = (g.clone(), barrier.clone());
                    s.spawn(move || {
                        g.as_default(|| {
                            let guard = variable_scope("race").reuse(Reuse::Auto).guard().unwrap();
                            barrier.wait();
                            let out = (0..NAMES)
                                .map(|i| {
                                    let n = format!("v{i}_{round}");
                                    let dim = 1 + (t + i) % 2;
                                    (dim, get(Path::Quick, &n, &[dim], Init::zeros()))
                                })
                                .collect::<Vec<_>>();
                            guard.close().unwrap();
                            out
                        })
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(g.store().len(), NAMES);
        for (dim, r) in results.into_iter().flatten() {
            match r {
                Ok(v) => assert_eq!(v.shape().dims(), &[dim], "{}", v.name()),
                Err(e) => assert!(e.to_string().contains("Trying to share variable"), "{e}"),
            }
        }
    }
}
