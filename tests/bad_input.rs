//! Every bad input gives a typed error — never a panic or an abort — and leaves the
//! graph unchanged: store entries and slots, collections, existing values, the current
//! variable scope and name scope.

mod common;

use common::*;
use std::sync::Arc;
use varscope::partition::FnPartitioner;
use varscope::partition::Partitioner;
use varscope::{
    get_variable, name_scope, name_scope_guard, variable_scope, variable_scope_default,
    CustomGetter, DType, Error, ErrorKind, Graph, Init, Reuse, Shape, Tensor,
};

/// A graph with a few variables whose values are known.
fn populated() -> Graph {
    let g = Graph::new();
    g.as_default(|| {
        variable_scope("s")
            .enter(|_| {
                get_variable("v")
                    .shape([2])
                    .initializer(fill(1.5))
                    .build()
                    .unwrap();
                get_variable("p")
                    .shape([4, 2])
                    .initializer(fill(2.0))
                    .partitioner(FixedSize2)
                    .build_partitioned()
                    .unwrap();
            })
            .unwrap();
        get_variable("i")
            .shape([3])
            .dtype(DType::I32)
            .initializer(fill(7.0))
            .build()
            .unwrap();
    });
    g
}

#[derive(Debug)]
struct FixedSize2;
impl Partitioner for FixedSize2 {
    fn partitions(&self, shape: &Shape, _: DType) -> varscope::Result<Vec<usize>> {
        let mut p = vec![1; shape.rank()];
        p[0] = 2;
        Ok(p)
    }
}

/// Runs `f` (which must fail) in scope `s` of a populated graph and checks that
/// nothing changed. Returns the error.
fn fails_cleanly<T: std::fmt::Debug>(f: impl FnOnce() -> varscope::Result<T>) -> Error {
    let g = populated();
    let before = snapshot(&g);
    let e = g.as_default(f).unwrap_err();
    assert_eq!(snapshot(&g), before, "state changed by failing call ({e})");
    e
}

fn in_s<T>(f: impl FnOnce() -> varscope::Result<T>) -> varscope::Result<T> {
    variable_scope("s").reuse(Reuse::Auto).enter(|_| f())
}

#[test]
fn invalid_root_names() {
    for name in ["_x", "-x", "/x", "bad name", "é", "变量", "a\tb", "a:b"] {
        let e = fails_cleanly(|| variable_scope(name).enter(|_| ()));
        assert_eq!(e.kind(), ErrorKind::InvalidName, "{name}");
        let e = fails_cleanly(|| get_variable(name).shape([1]).build());
        assert_eq!(e.kind(), ErrorKind::InvalidName, "{name}");
        let e = fails_cleanly(|| name_scope(name, |_| ()));
        assert_eq!(e.kind(), ErrorKind::InvalidName, "{name}");
        let e = fails_cleanly(|| variable_scope_default(name).enter(|_| ()));
        assert_eq!(e.kind(), ErrorKind::InvalidName, "{name}");
    }
    let e = fails_cleanly(|| variable_scope("_").enter(|_| ()));
    assert!(matches!(e, Error::InvalidName { ref name, root: true } if name == "_"));
}

#[test]
fn invalid_nested_names() {
    // Nested names may start with `_`, `-` or `/`, but never contain spaces or
    // non-ASCII characters.
    for name in ["bad name", "é", "a\u{0}b", "x y/z"] {
        let e = fails_cleanly(|| name_scope("ns", |_| variable_scope(name).enter(|_| ())));
        assert_eq!(e.kind(), ErrorKind::InvalidName, "{name}");
        let e = fails_cleanly(|| in_s(|| get_variable(name).shape([1]).build()));
        assert_eq!(e.kind(), ErrorKind::InvalidName, "{name}");
    }
    // `_x` enters under a name scope, but its variables are checked at root.
    let e = fails_cleanly(|| {
        name_scope("ns", |_| {
            variable_scope("_x").enter(|s| {
                assert_eq!(s.name(), "_x");
                get_variable("v").shape([1]).build()
            })
        })
    });
    assert!(matches!(e, Error::InvalidName { ref name, root: true } if name == "_x/v"));
    // Inside a scope a leading underscore is fine.
    let g = Graph::new();
    let v = g
        .as_default(|| variable_scope("ok").enter(|_| get_variable("_under").shape([1]).build()))
        .unwrap();
    assert_eq!(v.name(), "ok/_under:0");
}

#[test]
fn negative_dims() {
    let e = fails_cleanly(|| in_s(|| get_variable("n").shape([-1i64, 2]).build()));
    assert!(matches!(e, Error::InvalidShape { .. }), "{e}");
    let e = fails_cleanly(|| in_s(|| get_variable("n").shape(vec![3i64, -5]).build()));
    assert!(matches!(e, Error::InvalidShape { .. }), "{e}");
}

#[test]
fn element_count_overflow() {
    let e = fails_cleanly(|| in_s(|| get_variable("o").shape([usize::MAX, 2]).build()));
    assert!(matches!(e, Error::InvalidShape { .. }), "{e}");
    let e = fails_cleanly(|| in_s(|| get_variable("o").shape([i64::MAX, i64::MAX]).build()));
    assert!(matches!(e, Error::InvalidShape { .. }), "{e}");
    let e = fails_cleanly(|| {
        in_s(|| {
            get_variable("o")
                .shape([Some(usize::MAX), Some(3), None])
                .build()
        })
    });
    // A partial shape may still get a zero dimension, so it is not rejected as such;
    // creating from it fails for the missing dimension.
    assert_eq!(e.kind(), ErrorKind::ShapeRequired);
}

#[test]
fn byte_size_overflow() {
    // The element count fits in usize but the bytes do not (or exceed what can ever be
    // allocated): rejected at creation instead of failing when the value is built.
    let e = fails_cleanly(|| in_s(|| get_variable("b").shape([usize::MAX / 2]).build()));
    assert!(matches!(e, Error::InvalidShape { .. }), "{e}");
    let e = fails_cleanly(|| {
        in_s(|| {
            get_variable("b")
                .shape([usize::MAX / 4, 2])
                .dtype(DType::F64)
                .partitioner(FixedSize2)
                .build_partitioned()
        })
    });
    assert!(matches!(e, Error::InvalidShape { .. }), "{e}");
}

#[test]
fn value_initializer_with_explicit_shape() {
    let value = || Init::from_value(f32s(&[1.0, 2.0], &[2]));
    let e = fails_cleanly(|| in_s(|| get_variable("x").shape([3]).initializer(value()).build()));
    assert_eq!(
        e.to_string(),
        "If initializer is a constant, do not specify shape."
    );
    // Even when the shapes agree, and even on reuse (checked first in TF).
    let e = fails_cleanly(|| in_s(|| get_variable("v").shape([2]).initializer(value()).build()));
    assert_eq!(
        e.to_string(),
        "If initializer is a constant, do not specify shape."
    );
}

#[test]
fn value_initializer_dtype_vs_explicit_dtype() {
    let e = fails_cleanly(|| {
        in_s(|| {
            get_variable("x")
                .initializer(Init::from_value(Tensor::scalar(1i32)))
                .dtype(DType::F32)
                .build()
        })
    });
    // TF raises this as a plain ValueError: the kind is `other`, the variant says what
    // (`InitializerDTypeMismatch`; until the getter constructs it, a `DTypeMismatch`
    // without a name).
    assert!(
        matches!(
            e,
            Error::InitializerDTypeMismatch {
                explicit: DType::F32,
                initializer: DType::I32
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.kind(), ErrorKind::Other);
    assert_eq!(
        e.to_string(),
        "Initializer type 'int32' and explicit dtype 'float32' don't match."
    );
}

#[test]
fn missing_shape() {
    let e = fails_cleanly(|| in_s(|| get_variable("x").build()));
    assert_eq!(e.kind(), ErrorKind::ShapeRequired);
    let e = fails_cleanly(|| in_s(|| get_variable("x").initializer(Init::zeros()).build()));
    assert_eq!(e.kind(), ErrorKind::ShapeRequired);
}

#[test]
fn partial_shape_with_callable_initializer() {
    let e = fails_cleanly(|| {
        in_s(|| {
            get_variable("x")
                .shape([None, Some(3)])
                .initializer(fill(1.0))
                .build()
        })
    });
    assert_eq!(e.kind(), ErrorKind::ShapeRequired);
    assert!(e.to_string().contains("(?, 3)"), "{e}");
}

fn returning(p: Vec<usize>) -> Arc<dyn Partitioner> {
    Arc::new(FnPartitioner::new(move |_: &Shape, _| Ok(p.clone())))
}

#[test]
fn bad_partitioners() {
    let cases = [
        (vec![2], "does not match the Variable's rank"),
        (vec![2, 1, 1], "does not match the Variable's rank"),
        (vec![0, 1], "zero partitions"),
        (vec![2, 2], "Can only slice a variable along one dimension"),
        (vec![7, 1], "Expected 0 <= offset < shape"),
    ];
    for (p, msg) in cases {
        let e = fails_cleanly(|| {
            in_s(|| {
                get_variable("q")
                    .shape([5, 3])
                    .partitioner_arc(returning(p.clone()))
                    .build_partitioned()
            })
        });
        assert_eq!(e.kind(), ErrorKind::PartitionMismatch, "{p:?}");
        assert!(e.to_string().contains(msg), "{p:?}: {e}");
    }
    // A partitioner that itself fails.
    let e = fails_cleanly(|| {
        in_s(|| {
            get_variable("q")
                .shape([5, 3])
                .partitioner(FnPartitioner::new(|_: &Shape, _| {
                    Err(Error::InvalidArgument {
                        message: "nope".into(),
                    })
                }))
                .build_partitioned()
        })
    });
    assert_eq!(e.to_string(), "nope");
}

#[test]
fn reuse_yes_on_missing() {
    let e = fails_cleanly(|| {
        variable_scope("s")
            .reuse(Reuse::Yes)
            .enter(|_| get_variable("missing").shape([1]).build())
    });
    assert!(matches!(e, Error::NotFound { ref name, partitioned: false } if name == "s/missing"));
    let e = fails_cleanly(|| {
        variable_scope("s").reuse(Reuse::Yes).enter(|_| {
            get_variable("missing")
                .shape([4, 2])
                .partitioner(FixedSize2)
                .build_partitioned()
        })
    });
    assert!(
        matches!(
            e,
            Error::NotFound {
                partitioned: true,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn reuse_no_on_existing() {
    let e = fails_cleanly(|| variable_scope("s").enter(|_| get_variable("v").shape([2]).build()));
    assert!(matches!(e, Error::AlreadyExists { ref name, partitioned: false } if name == "s/v"));
    let e = fails_cleanly(|| {
        variable_scope("s").enter(|_| {
            get_variable("p")
                .shape([4, 2])
                .partitioner(FixedSize2)
                .build_partitioned()
        })
    });
    assert!(
        matches!(
            e,
            Error::AlreadyExists {
                partitioned: true,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn shape_and_dtype_mismatch_on_reuse() {
    let e = fails_cleanly(|| in_s(|| get_variable("v").shape([3]).build()));
    assert_eq!(
        e.to_string(),
        "Trying to share variable s/v, but specified shape (3,) and found shape (2,)."
    );
    let e = fails_cleanly(|| in_s(|| get_variable("v").shape([2]).dtype(DType::F64).build()));
    assert_eq!(e.kind(), ErrorKind::DTypeMismatch);
    // The scope dtype counts for the reuse check.
    let e = fails_cleanly(|| {
        variable_scope("s")
            .reuse(Reuse::Yes)
            .dtype(DType::I64)
            .enter(|_| get_variable("v").build())
    });
    assert_eq!(e.kind(), ErrorKind::DTypeMismatch);
    let e = fails_cleanly(|| {
        in_s(|| {
            get_variable("p")
                .shape([6, 2])
                .partitioner(FixedSize2)
                .build_partitioned()
        })
    });
    // TF words this "Trying to reuse partitioned variable …": a partition error.
    assert!(
        matches!(
            e,
            Error::ShapeMismatch {
                partitioned: true,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.kind(), ErrorKind::PartitionMismatch);
    // Partitioned vs plain.
    let e = fails_cleanly(|| in_s(|| get_variable("v").shape([2]).partitioner(FixedSize2).build()));
    assert_eq!(e.kind(), ErrorKind::PartitionMismatch);
    let e = fails_cleanly(|| in_s(|| get_variable("p").shape([4, 2]).build()));
    assert_eq!(e.kind(), ErrorKind::PartitionMismatch);
}

#[test]
fn custom_getter_returning_an_error() {
    let e = fails_cleanly(|| {
        in_s(|| {
            get_variable("g")
                .shape([1])
                .custom_getter(CustomGetter::new(|_, _| {
                    Err(Error::InvalidArgument {
                        message: "getter says no".into(),
                    })
                }))
                .build()
        })
    });
    assert_eq!(e.to_string(), "getter says no");
    // A getter that creates one variable, then fails: TF keeps the first variable; the
    // failure is still a typed error.
    let g = Graph::new();
    let e = g
        .as_default(|| {
            get_variable("h")
                .shape([1])
                .custom_getter(CustomGetter::new(|next, args| {
                    next.get(args)?;
                    Err(Error::InvalidArgument {
                        message: "after".into(),
                    })
                }))
                .build()
        })
        .unwrap_err();
    assert_eq!(e.to_string(), "after");
    assert_eq!(g.store().len(), 1);
}

#[test]
fn custom_initializer_returning_an_error() {
    let e = fails_cleanly(|| {
        in_s(|| {
            get_variable("c")
                .shape([2])
                .initializer(Init::custom(|_| {
                    Err(Error::InvalidArgument {
                        message: "init says no".into(),
                    })
                }))
                .build()
        })
    });
    assert_eq!(e.to_string(), "init says no");
    // The same for every shard of a partitioned variable: no shard is left behind.
    let e = fails_cleanly(|| {
        in_s(|| {
            get_variable("cp")
                .shape([4, 2])
                .partitioner(FixedSize2)
                .initializer(Init::custom(|ctx| {
                    if ctx.offset[0] > 0 {
                        Err(Error::InvalidArgument {
                            message: "second shard".into(),
                        })
                    } else {
                        Ok(Tensor::zeros(ctx.dtype, ctx.shape))
                    }
                }))
                .build_partitioned()
        })
    });
    assert_eq!(e.to_string(), "second shard");
}

#[test]
fn custom_initializer_returning_the_wrong_shape_or_dtype() {
    let e = fails_cleanly(|| {
        in_s(|| {
            get_variable("c")
                .shape([2, 2])
                .initializer(Init::custom(|ctx| {
                    Ok(Tensor::zeros(ctx.dtype, &Shape::new([4]).unwrap()))
                }))
                .build()
        })
    });
    assert!(
        matches!(e, Error::Initializer { ref name, .. } if name == "s/c"),
        "{e}"
    );
    let e = fails_cleanly(|| {
        in_s(|| {
            get_variable("c")
                .shape([2])
                .initializer(Init::custom(|ctx| Ok(Tensor::zeros(DType::F64, ctx.shape))))
                .build()
        })
    });
    assert!(matches!(e, Error::Initializer { .. }), "{e}");
}

#[test]
fn custom_initializer_panicking_then_a_later_create_succeeds() {
    let panicking = || Init::custom(|_| panic!("boom"));
    let e = fails_cleanly(|| {
        in_s(|| {
            get_variable("c")
                .shape([2])
                .initializer(panicking())
                .build()
        })
    });
    assert!(
        matches!(e, Error::InitializerPanicked { ref name, ref message } if name == "s/c" && message == "boom"),
        "{e}"
    );
    let g = populated();
    g.as_default(|| {
        let e = in_s(|| {
            get_variable("c")
                .shape([2])
                .initializer(panicking())
                .build()
        })
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InitializerPanicked);
        assert_eq!(e.kind().as_str(), "initializer_panicked");
        // As in TF, the failed initializer used up the op name (the store is unchanged):
        // the retry is stored as `s/c` and named `s/c_1`.
        let v = in_s(|| get_variable("c").shape([2]).initializer(fill(3.0)).build()).unwrap();
        assert_eq!(v.store_key(), Some("s/c"));
        assert_eq!(v.name(), "s/c_1:0");
        assert_eq!(values(&v), [3.0, 3.0]);
    });
}

#[test]
fn reentrant_creation() {
    let reentrant = || {
        Init::custom(|ctx| {
            // Asks for the variable being created (same scope, same name).
            get_variable("r").shape([1]).build()?;
            Ok(Tensor::zeros(ctx.dtype, ctx.shape))
        })
    };
    let e = fails_cleanly(|| {
        in_s(|| {
            get_variable("r")
                .shape([1])
                .initializer(reentrant())
                .build()
        })
    });
    assert!(
        matches!(e, Error::Reentrant { ref name } if name == "s/r"),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Reentrant);
    assert_eq!(e.kind().as_str(), "reentrant");
    // An initializer may create *other* variables.
    let g = Graph::new();
    let v = g
        .as_default(|| {
            get_variable("outer")
                .shape([1])
                .initializer(Init::custom(|ctx| {
                    get_variable("helper").shape([1]).build()?;
                    Ok(Tensor::zeros(ctx.dtype, ctx.shape))
                }))
                .build()
        })
        .unwrap();
    assert_eq!(v.name(), "outer:0");
    assert!(g.store().get("helper").is_some());
}

#[test]
fn improper_guard_nesting() {
    let g = populated();
    let before = snapshot(&g);
    g.as_default(|| {
        let a = variable_scope("a").guard().unwrap();
        let b = variable_scope("b").guard().unwrap();
        assert!(matches!(a.close(), Err(Error::ImproperNesting)));
        assert_eq!(varscope::get_variable_scope().name(), "a/b");
        b.close().unwrap();
        // `a` is left once it is on top again.
        assert_eq!(varscope::get_variable_scope().name(), "");
        assert_eq!(g.name_stack(), "");

        let n1 = name_scope_guard("n1").unwrap();
        let n2 = name_scope_guard("n2").unwrap();
        assert!(matches!(n1.close(), Err(Error::ImproperNesting)));
        assert_eq!(g.name_stack(), "n1/n2");
        n2.close().unwrap();
        assert_eq!(g.name_stack(), "");

        // Mixed: a name-scope guard closed while a variable scope inside it is open.
        let n = name_scope_guard("n").unwrap();
        let v = variable_scope("v").guard().unwrap();
        assert!(matches!(n.close(), Err(Error::ImproperNesting)));
        v.close().unwrap();
        assert_eq!(g.name_stack(), "");
        assert_eq!(varscope::get_variable_scope().name(), "");
    });
    let mut after = snapshot(&g);
    after.scope.clone_from(&before.scope);
    assert_eq!(after, before);
}

#[test]
fn default_name_with_reuse() {
    for reuse in [Reuse::Yes, Reuse::Auto] {
        let e = fails_cleanly(|| variable_scope_default("d").reuse(reuse).enter(|_| ()));
        assert_eq!(e.kind(), ErrorKind::InvalidReuse);
        assert_eq!(
            e.to_string(),
            "reuse=True cannot be used without a name_or_scope"
        );
    }
    // The failed entry consumed no counter: the next default scope is `d`.
    let g = Graph::new();
    g.as_default(|| {
        let _ = variable_scope_default("d").reuse(Reuse::Yes).enter(|_| ());
        assert_eq!(
            variable_scope_default("d").enter(|s| s.name()).unwrap(),
            "d"
        );
        assert_eq!(name_scope("d", |n| n.to_string()).unwrap(), "d_1/");
    });
}
