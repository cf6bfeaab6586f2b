//! Port of TensorFlow's `template_test.py` (tf1-semantics.md §8.6).
//!
//! Adaptations: template functions take no arguments, so TF's call arguments and
//! `make_template(..., **kwargs)` bindings are captured values (a shared cell where the
//! argument changes between calls); ops are `Graph::create_op` records.
//!
//! Skipped, and why:
//! * test_end_to_end, test_end_to_end_eager: training through a session/optimizer.
//! * test_skip_stack_frames: construction stacks are not recorded.
//! * test_template_without_name: the name is a `&str`, never None.
//! * test_unique_name_raise_error_in_eager, test_nested_eager_templates_raises_error,
//!   test_permits_extra_non_trainable_variables_eager: eager mode only.
//! * test_nested_templates_with_defun, test_make_template_with_defun,
//!   test_graph_function_no_name: graph functions (`create_graph_function_`) are not
//!   modelled.
//! * test_non_trainable_variables: `Template` has no `non_trainable_variables`
//!   accessor (the trainable/global split is checked by test_global_variables and
//!   test_trainable_variables).

mod common;

use common::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use varscope::{
    get_local_variable, get_variable, get_variable_scope, make_template, variable, variable_scope,
    CustomGetter, ErrorKind, Graph, Init, Result, Reuse, Tensor, Variable,
};

fn variable_scoped_function() -> Result<Variable> {
    get_variable("dummy")
        .shape([1])
        .initializer(Init::zeros())
        .build()
}

fn internally_variable_scoped_function(scope_name: &str) -> Result<Variable> {
    variable_scope(scope_name).enter(|_| variable_scoped_function())
}

fn function_with_create(trainable: bool) -> Result<Variable> {
    variable(Tensor::scalar(0i32))
        .trainable(trainable)
        .build()?;
    variable_scoped_function()
}

fn function_with_side_create(trainable: bool, name: &str) -> Result<Variable> {
    get_variable(name).shape([1]).trainable(trainable).build()?;
    variable_scoped_function()
}

fn variable_scoped_function_with_local_variable() -> Result<Variable> {
    get_local_variable("local")
        .shape([1])
        .initializer(Init::zeros())
        .build()?;
    variable_scoped_function()
}

#[test]
fn test_template_with_name() {
    Graph::new().as_default(|| {
        let tmpl1 = make_template("s1", variable_scoped_function)
            .build()
            .unwrap();
        let tmpl2 = make_template("s1", variable_scoped_function)
            .build()
            .unwrap();
        let v1 = tmpl1.call().unwrap();
        let v2 = tmpl1.call().unwrap();
        let v3 = tmpl2.call().unwrap();
        assert_eq!(v1, v2);
        assert_ne!(v1, v3);
        assert_eq!(v1.name(), "s1/dummy:0");
        assert_eq!(v3.name(), "s1_1/dummy:0");
    });
}

#[test]
fn test_template_with_empty_name() {
    Graph::new().as_default(|| {
        variable_scope("outer")
            .enter(|_| {
                let x = scalar("x");
                let t = make_template("", variable_scoped_function).build().unwrap();
                let v = t.call().unwrap();
                assert_eq!(v.name(), "outer//dummy:0");
                assert_eq!(t.variable_scope_name().unwrap(), "outer/");
                let vars = t.variables();
                assert!(vars.contains(&x));
                assert!(vars.contains(&v));
            })
            .unwrap();
    });
}

#[test]
fn test_same_unique_name_raise_error() {
    Graph::new().as_default(|| {
        let tmpl1 = make_template("_", variable_scoped_function)
            .unique_name("s1")
            .build()
            .unwrap();
        tmpl1.call().unwrap();
        let tmpl2 = make_template("_", variable_scoped_function)
            .unique_name("s1")
            .build()
            .unwrap();
        let e = tmpl2.call().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        assert!(
            e.to_string()
                .starts_with("Variable s1/dummy already exists, disallowed"),
            "{e}"
        );
    });
}

#[test]
fn test_unique_name_and_reuse() {
    Graph::new().as_default(|| {
        let tmpl1 = make_template("_", variable_scoped_function)
            .unique_name("s1")
            .build()
            .unwrap();
        let v1 = tmpl1.call().unwrap();
        let v2 = tmpl1.call().unwrap();
        get_variable_scope().reuse_variables();
        let tmpl2 = make_template("_", variable_scoped_function)
            .unique_name("s1")
            .build()
            .unwrap();
        let v3 = tmpl2.call().unwrap();
        assert_eq!(v1, v2);
        assert_eq!(v1, v3);
        assert_eq!(v1.name(), "s1/dummy:0");
    });
}

#[test]
fn test_template_in_scope() {
    Graph::new().as_default(|| {
        let tmpl1 = make_template("s1", variable_scoped_function)
            .build()
            .unwrap();
        let tmpl2 = make_template("s1", variable_scoped_function)
            .build()
            .unwrap();
        let (v1, v3) = variable_scope("scope")
            .enter(|_| (tmpl1.call().unwrap(), tmpl2.call().unwrap()))
            .unwrap();
        // The template contract requires the following to ignore scope2.
        let v2 = variable_scope("scope2")
            .enter(|_| tmpl1.call().unwrap())
            .unwrap();
        assert_eq!(v1, v2);
        assert_ne!(v1, v3);
        assert_eq!(v1.name(), "scope/s1/dummy:0");
        assert_eq!(v3.name(), "scope/s1_1/dummy:0");
    });
}

#[test]
fn test_template_with_internal_reuse() {
    Graph::new().as_default(|| {
        let arg = Arc::new(Mutex::new("test".to_string()));
        let f = {
            let arg = arg.clone();
            move || internally_variable_scoped_function(&arg.lock().unwrap().clone())
        };
        let tmpl1 = make_template("s1", f.clone()).build().unwrap();
        let tmpl2 = make_template("s1", f).build().unwrap();
        let v1 = tmpl1.call().unwrap();
        let v2 = tmpl1.call().unwrap();
        let v3 = tmpl2.call().unwrap();
        assert_eq!(v1, v2);
        assert_ne!(v1, v3);
        assert_eq!(v1.name(), "s1/test/dummy:0");
        assert_eq!(v3.name(), "s1_1/test/dummy:0");
        *arg.lock().unwrap() = "not_test".into();
        assert_eq!(tmpl1.call().unwrap_err().kind(), ErrorKind::NotFound);
    });
}

#[test]
fn test_make_template() {
    Graph::new().as_default(|| {
        let f = || internally_variable_scoped_function("test");
        let tmpl1 = make_template("s1", f).build().unwrap();
        let tmpl2 = make_template("s1", f).build().unwrap();
        let v1 = tmpl1.call().unwrap();
        let v2 = tmpl1.call().unwrap();
        let v3 = tmpl2.call().unwrap();
        assert_eq!(v1, v2);
        assert_ne!(v1, v3);
        assert_eq!(v1.name(), "s1/test/dummy:0");
        assert_eq!(v3.name(), "s1_1/test/dummy:0");
    });
}

#[test]
fn test_enforces_no_extra_trainable_variables() {
    Graph::new().as_default(|| {
        let tmpl = make_template("s", || function_with_create(true))
            .build()
            .unwrap();
        tmpl.call().unwrap();
        let e = tmpl.call().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TemplateVariable);
    });
}

#[test]
fn test_enforces_no_extra_trainable_variables_eager() {
    // Run in graph mode as TF's run_in_graph_and_eager_modes does: the second call
    // asks for a new trainable `get_variable` name under reuse.
    Graph::new().as_default(|| {
        let name = Arc::new(Mutex::new("1".to_string()));
        let tmpl = {
            let name = name.clone();
            make_template("s", move || {
                function_with_side_create(true, &name.lock().unwrap())
            })
            .build()
            .unwrap()
        };
        assert_eq!(tmpl.call().unwrap().name(), "s/dummy:0");
        *name.lock().unwrap() = "2".into();
        let e = tmpl.call().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
    });
}

#[test]
fn test_permits_extra_non_trainable_variables() {
    Graph::new().as_default(|| {
        let tmpl = make_template("s", || function_with_create(false))
            .build()
            .unwrap();
        assert_eq!(tmpl.call().unwrap(), tmpl.call().unwrap());
    });
}

#[test]
fn test_internal_variable_reuse() {
    Graph::new().as_default(|| {
        let nested = || -> Result<Variable> {
            let (vs, v1) = variable_scope("nested").enter(|vs| {
                let v = get_variable("x")
                    .initializer(Init::zeros())
                    .shape(SCALAR)
                    .build();
                (vs.clone(), v)
            })?;
            let v1 = v1?;
            let v2 = variable_scope(&vs)
                .reuse(Reuse::Yes)
                .enter(|_| get_variable("x").build())?;
            assert_eq!(v1, v2);
            Ok(v1)
        };
        let tmpl1 = make_template("s1", nested).build().unwrap();
        let tmpl2 = make_template("s1", nested).build().unwrap();
        let v1 = tmpl1.call().unwrap();
        let v2 = tmpl1.call().unwrap();
        let v3 = tmpl2.call().unwrap();
        assert_eq!(v1, v2);
        assert_ne!(v1, v3);
        assert_eq!(v1.name(), "s1/nested/x:0");
        assert_eq!(v3.name(), "s1_1/nested/x:0");
    });
}

#[test]
fn test_nested_templates() {
    Graph::new().as_default(|| {
        let nested_template = || -> Result<Variable> {
            let nested1 = make_template("nested", variable_scoped_function).build()?;
            let nested2 = make_template("nested", variable_scoped_function).build()?;
            let v1 = nested1.call()?;
            let v2 = nested2.call()?;
            assert_ne!(v1, v2);
            assert_eq!(
                nested1.variable_scope().unwrap().name().rsplit('/').next(),
                Some("nested")
            );
            assert_eq!(
                nested2.variable_scope().unwrap().name().rsplit('/').next(),
                Some("nested_1")
            );
            Ok(v2)
        };
        let tmpl1 = make_template("s1", nested_template).build().unwrap();
        let tmpl2 = make_template("s1", nested_template).build().unwrap();
        let v1 = tmpl1.call().unwrap();
        let v2 = tmpl1.call().unwrap();
        let v3 = tmpl2.call().unwrap();
        assert_eq!(v1, v2);
        assert_ne!(v1, v3);
        assert_eq!(v1.name(), "s1/nested_1/dummy:0");
        assert_eq!(v3.name(), "s1_1/nested_1/dummy:0");
        // Per-template variable lists are isolated.
        assert_eq!(
            names(&tmpl1.global_variables()),
            ["s1/nested/dummy:0", "s1/nested_1/dummy:0"]
        );
        assert_eq!(
            names(&tmpl2.global_variables()),
            ["s1_1/nested/dummy:0", "s1_1/nested_1/dummy:0"]
        );
    });
}

#[test]
fn test_immediate_scope_creation() {
    Graph::new().as_default(|| {
        let (tmpl_immed, tmpl_defer) = variable_scope("ctor_scope")
            .enter(|_| {
                (
                    make_template("a", variable_scoped_function)
                        .create_scope_now(true)
                        .build()
                        .unwrap(),
                    make_template("b", variable_scoped_function)
                        .create_scope_now(false)
                        .build()
                        .unwrap(),
                )
            })
            .unwrap();
        let (inner_imm_var, inner_defer_var) = variable_scope("call_scope")
            .enter(|_| (tmpl_immed.call().unwrap(), tmpl_defer.call().unwrap()))
            .unwrap();
        let outer_imm_var = tmpl_immed.call().unwrap();
        let outer_defer_var = tmpl_defer.call().unwrap();
        assert_ne!(inner_imm_var, inner_defer_var);
        assert_eq!(outer_imm_var, inner_imm_var);
        assert_eq!(outer_defer_var, inner_defer_var);
        assert_eq!(inner_imm_var.name(), "ctor_scope/a/dummy:0");
        assert_eq!(inner_defer_var.name(), "call_scope/b/dummy:0");
    });
}

#[test]
fn test_scope_access() {
    Graph::new().as_default(|| {
        let (ta, tb) = variable_scope("foo")
            .enter(|_| {
                (
                    make_template("bar", variable_scoped_function)
                        .create_scope_now(true)
                        .build()
                        .unwrap(),
                    make_template("bar", variable_scoped_function)
                        .create_scope_now(true)
                        .build()
                        .unwrap(),
                )
            })
            .unwrap();
        assert_eq!(ta.variable_scope().unwrap().name(), "foo/bar");
        assert_eq!(tb.variable_scope().unwrap().name(), "foo/bar_1");
        // create_scope_now: original_name_scope is the raw name, without a slash.
        assert_eq!(ta.variable_scope().unwrap().original_name_scope(), "bar");
        let tc = variable_scope("foo_2")
            .enter(|_| {
                make_template("blah", variable_scoped_function)
                    .build()
                    .unwrap()
            })
            .unwrap();
        assert!(tc.variable_scope().is_none());
        tc.call().unwrap();
        // Called at the top level, so there is no preceding "foo_2".
        assert_eq!(tc.variable_scope().unwrap().name(), "blah");
    });
}

#[test]
fn test_custom_getter() {
    Graph::new().as_default(|| {
        let count = Arc::new(AtomicUsize::new(0));
        let getter = {
            let count = count.clone();
            CustomGetter::new(move |next, args| {
                count.fetch_add(1, Ordering::SeqCst);
                next.get(args)
            })
        };
        let tmpl1 = make_template("s1", variable_scoped_function)
            .custom_getter(getter.clone())
            .build()
            .unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 0);
        tmpl1.call().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 1);
        tmpl1.call().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 2);

        count.store(0, Ordering::SeqCst);
        let tmpl2 = make_template("s2", variable_scoped_function)
            .custom_getter(getter)
            .create_scope_now(true)
            .build()
            .unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 0);
        tmpl2.call().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 1);
        tmpl2.call().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn test_fails_gracefully() {
    for create_scope_now in [true, false] {
        Graph::new().as_default(|| {
            let bad_call = Arc::new(AtomicBool::new(true));
            let f = {
                let bad_call = bad_call.clone();
                move || -> Result<Variable> {
                    if bad_call.load(Ordering::SeqCst) {
                        // TF: calling with an unsupported kwarg raises TypeError.
                        return Err(varscope::Error::InvalidArgument {
                            message: "unexpected keyword argument 'is_training'".into(),
                        });
                    }
                    get_variable("w")
                        .shape([1])
                        .initializer(Init::zeros())
                        .build()
                }
            };
            let t = make_template("f1", f)
                .create_scope_now(create_scope_now)
                .build()
                .unwrap();
            assert!(t.call().is_err());
            // The failed call has not marked variables as created.
            assert!(t.global_variables().is_empty());
            bad_call.store(false, Ordering::SeqCst);
            let w = t.call().unwrap();
            assert_eq!(w.name(), "f1/w:0");
            assert_eq!(names(&t.global_variables()), ["f1/w:0"]);
        });
    }
}

#[test]
fn test_name_scopes_for_variable_scopes() {
    Graph::new().as_default(|| {
        let linear_module = || -> Result<(String, Variable)> {
            let w = get_variable("w")
                .shape([4, 2])
                .initializer(Init::zeros())
                .build()?;
            get_variable("b")
                .shape([2])
                .initializer(Init::zeros())
                .build()?;
            Graph::current().create_op("MatMul", None)?;
            Ok((add(), w))
        };
        let make_linear_module = |name: &str| {
            make_template(name, linear_module)
                .create_scope_now(true)
                .build()
                .unwrap()
        };
        let linear1 = make_linear_module("foo");
        let (outputs_a, w1) = linear1.call().unwrap();
        let (outputs_b, _) = linear1.call().unwrap();
        assert_eq!(linear1.variable_scope().unwrap().name(), "foo");
        assert_eq!(w1.name(), "foo/w:0");
        assert_eq!(outputs_a, "foo/add:0");
        assert_eq!(outputs_b, "foo_1/add:0");

        let linear2 = make_linear_module("foo");
        let (outputs_c, w2) = linear2.call().unwrap();
        let (outputs_d, _) = linear2.call().unwrap();
        assert_eq!(linear2.variable_scope().unwrap().name(), "foo_1");
        assert_eq!(w2.name(), "foo_1/w:0");
        assert_eq!(outputs_c, "foo_1_1/add:0");
        assert_eq!(outputs_d, "foo_1_2/add:0");
    });
}

#[test]
fn test_global_variables() {
    Graph::new().as_default(|| {
        let (ta, tb) = variable_scope("foo")
            .enter(|_| {
                (
                    make_template("bar", variable_scoped_function)
                        .create_scope_now(true)
                        .build()
                        .unwrap(),
                    make_template("s", || function_with_create(false))
                        .build()
                        .unwrap(),
                )
            })
            .unwrap();
        assert!(ta.global_variables().is_empty());
        assert!(tb.global_variables().is_empty());
        ta.call().unwrap();
        tb.call().unwrap();
        assert_eq!(ta.global_variables().len(), 1);
        assert_eq!(names(&tb.global_variables()), ["s/Variable:0", "s/dummy:0"]);
        assert_eq!(names(&tb.trainable_variables()), ["s/dummy:0"]);
    });
}

#[test]
fn test_trainable_variables() {
    Graph::new().as_default(|| {
        let (ta, tb) = variable_scope("foo2")
            .enter(|_| {
                let mk = || {
                    make_template("bar", variable_scoped_function)
                        .create_scope_now(true)
                        .build()
                        .unwrap()
                };
                (mk(), mk())
            })
            .unwrap();
        assert!(ta.trainable_variables().is_empty());
        assert!(tb.trainable_variables().is_empty());
        ta.call().unwrap();
        tb.call().unwrap();
        assert_eq!(names(&ta.trainable_variables()), ["foo2/bar/dummy:0"]);
        assert_eq!(names(&tb.trainable_variables()), ["foo2/bar_1/dummy:0"]);
    });
}

#[test]
fn test_local_variables() {
    Graph::new().as_default(|| {
        let (ta, tb) = variable_scope("foo3")
            .enter(|_| {
                (
                    make_template("bar", variable_scoped_function)
                        .create_scope_now(true)
                        .build()
                        .unwrap(),
                    make_template("bar", variable_scoped_function_with_local_variable)
                        .build()
                        .unwrap(),
                )
            })
            .unwrap();
        assert!(ta.local_variables().is_empty());
        assert!(tb.local_variables().is_empty());
        ta.call().unwrap();
        tb.call().unwrap();
        assert_eq!(ta.local_variables().len(), 0);
        assert_eq!(names(&tb.local_variables()), ["bar/local:0"]);
    });
}

// Beyond TF: the first call goes through the store's init-once protocol.

#[test]
fn a_panicking_first_call_is_an_error_and_leaves_the_template_uncalled() {
    let g = Graph::with_seed(1);
    g.as_default(|| {
        let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tpl = {
            let runs = runs.clone();
            make_template("t", move || {
                if runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    panic!("first call fails");
                }
                get_variable("w").shape([2]).build()
            })
            .build()
            .unwrap()
        };
        let e = tpl.call().unwrap_err();
        assert_eq!(e.kind(), varscope::ErrorKind::Panicked, "{e}");
        assert!(e.to_string().contains("first call fails"), "{e}");
        assert!(tpl.trainable_variables().is_empty());
        // The next call is a first call again; its scope is the one already entered.
        let w = tpl.call().unwrap();
        assert_eq!(w.name(), "t/w:0");
        assert!(tpl.call().unwrap() == w);
    });
}

#[test]
fn a_template_calling_itself_in_its_first_call_is_reentrant() {
    let g = Graph::with_seed(1);
    g.as_default(|| {
        let me: std::sync::Arc<std::sync::Mutex<Option<varscope::Template<varscope::Variable>>>> =
            Default::default();
        let tpl = {
            let me = me.clone();
            make_template("t", move || {
                let inner = me.lock().unwrap().clone();
                match inner {
                    Some(t) => t.call(),
                    None => get_variable("w").shape([2]).build(),
                }
            })
            .build()
            .unwrap()
        };
        *me.lock().unwrap() = Some(tpl.clone());
        let e = tpl.call().unwrap_err();
        assert_eq!(e.kind(), varscope::ErrorKind::Reentrant, "{e}");
        me.lock().unwrap().take();
        assert!(g.global_variables().is_empty());
    });
}

#[test]
fn concurrent_first_calls_create_once() {
    let g = Graph::with_seed(1);
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tpl = g.as_default(|| {
        let runs = runs.clone();
        make_template("t", move || {
            runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(2));
            get_variable("w").shape([2]).build()
        })
        .build()
        .unwrap()
    });
    let vars: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| s.spawn(|| g.as_default(|| tpl.call().unwrap())))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(vars.iter().all(|v| *v == vars[0]));
    assert_eq!(g.global_variables().len(), 1);
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 8);
}
