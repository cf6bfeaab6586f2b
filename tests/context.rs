//! `Context`: a thread's scoping context carried onto rayon tasks and other threads.

use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use varscope::{
    get_variable, get_variable_scope, make_template, variable_scope, variable_scope_default,
    Context, ErrorKind, Graph, Result, Reuse, Variable,
};

#[test]
fn par_iter_inside_a_scope_builds_in_that_scope_and_graph() {
    let graph = Graph::with_seed(1);
    let _g = graph.as_default_guard();
    let _s = variable_scope("outer").guard().unwrap();
    let ctx = Context::capture();
    let vars: Vec<Variable> = (0..32)
        .into_par_iter()
        .map(|i| ctx.run(|| get_variable(&format!("v{i}")).shape([2]).build()))
        .collect::<Result<_>>()
        .unwrap();
    for (i, v) in vars.iter().enumerate() {
        assert_eq!(v.name(), format!("outer/v{i}:0"));
        assert!(graph.store().get(&format!("outer/v{i}")).is_some());
    }
    assert_eq!(graph.global_variables().len(), 32);
    assert!(Graph::process_default().store().get("outer/v0").is_none());
    assert!(Graph::process_default().store().get("v0").is_none());
}

#[test]
fn without_a_context_work_on_other_threads_starts_at_the_root() {
    let graph = Graph::with_seed(1);
    let _g = graph.as_default_guard();
    let _s = variable_scope("outer").guard().unwrap();
    let seen = std::thread::scope(|s| {
        s.spawn(|| (Graph::current() == graph, get_variable_scope().name()))
            .join()
            .unwrap()
    });
    assert_eq!(
        seen,
        (false, String::new()),
        "TF semantics: a new thread starts fresh"
    );
    let ctx = Context::capture();
    let seen = std::thread::scope(|s| {
        s.spawn(ctx.wrap_once(|| (Graph::current() == graph, get_variable_scope().name())))
            .join()
            .unwrap()
    });
    assert_eq!(seen, (true, "outer".to_string()));
}

#[test]
fn ops_take_the_captured_name_scope_and_counters_start_fresh() {
    let graph = Graph::with_seed(1);
    graph.as_default(|| {
        variable_scope("net")
            .enter(|_| {
                let ctx = Context::capture();
                assert_eq!(ctx.name_scope(), "net");
                assert_eq!(ctx.variable_scope().name(), "net");
                let ops: Vec<String> = std::thread::scope(|s| {
                    let hs: Vec<_> = (0..4)
                        .map(|_| s.spawn(ctx.wrap_once(|| graph.create_op("Const", None))))
                        .collect();
                    hs.into_iter().map(|h| h.join().unwrap().unwrap()).collect()
                });
                let mut sorted = ops.clone();
                sorted.sort();
                assert_eq!(
                    sorted,
                    ["net/Const", "net/Const_1", "net/Const_2", "net/Const_3"]
                );
                // Every run starts with fresh default-name counters, as a new thread
                // inside the scope would.
                let blocks: Vec<String> = (0..3)
                    .map(|_| ctx.run(|| variable_scope_default("blk").enter(|s| s.name())))
                    .collect::<Result<_>>()?;
                assert_eq!(blocks, ["net/blk", "net/blk", "net/blk"]);
                Ok::<_, varscope::Error>(())
            })
            .unwrap();
    });
}

#[test]
fn the_thread_state_is_restored_after_a_run_even_when_it_panics() {
    let a = Graph::with_seed(1);
    let b = Graph::with_seed(2);
    let ctx = b.as_default(|| {
        variable_scope("in_b")
            .enter(|_| Context::capture())
            .unwrap()
    });
    a.as_default(|| {
        variable_scope("in_a")
            .enter(|_| {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    ctx.run(|| {
                        assert!(Graph::current() == b);
                        assert_eq!(get_variable_scope().name(), "in_b");
                        panic!("inside the context");
                    })
                }));
                assert!(r.is_err());
                assert!(Graph::current() == a);
                assert_eq!(get_variable_scope().name(), "in_a");
                let v = get_variable("w").shape([1]).build().unwrap();
                assert_eq!(v.name(), "in_a/w:0");
                assert!(a.store().get("in_a/w").is_some());
            })
            .unwrap();
    });
}

#[test]
fn a_templates_check_sees_variables_its_rayon_tasks_create() {
    let graph = Graph::with_seed(1);
    let calls = Arc::new(AtomicUsize::new(0));
    let tpl = graph.as_default(|| {
        let calls = calls.clone();
        make_template("t", move || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            let ctx = Context::capture();
            // The first call creates `w` from a task; a later call's task (reusing `w`)
            // also creates a new trainable variable in an `AUTO_REUSE` sub-scope.
            let names: Vec<String> = (0..=n)
                .into_par_iter()
                .map(|i| {
                    ctx.run(|| {
                        if i == 0 {
                            get_variable("w").shape([1]).build().map(|v| v.name())
                        } else {
                            variable_scope("extra").reuse(Reuse::Auto).enter(|_| {
                                get_variable(&format!("w{i}"))
                                    .shape([1])
                                    .build()
                                    .map(|v| v.name())
                            })
                        }
                    })
                })
                .collect::<Result<_>>()?;
            Ok(names)
        })
        .build()
        .unwrap()
    });
    graph.as_default(|| {
        assert_eq!(tpl.call().unwrap(), ["t/w:0"]);
        let e = variable_scope("x")
            .reuse(Reuse::Auto)
            .enter(|_| tpl.call())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TemplateVariable, "{e}");
        assert!(e.to_string().contains("t/extra/w1"), "{e}");
    });
}

#[test]
fn runtime_jobs_run_inside_a_captured_context() {
    let graph = Graph::with_seed(1);
    let rt = varscope::Runtime::new(2).unwrap();
    let ctx = graph
        .as_default(|| variable_scope("net").enter(|_| Context::capture()))
        .unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let graph = graph.clone();
            rt.submit_in(&ctx, move || {
                let op = graph.create_op("Const", None)?;
                let v = get_variable(&format!("w{i}")).shape([1]).build()?;
                Ok((op, v.name()))
            })
        })
        .collect();
    let mut ops = Vec::new();
    for (i, h) in handles.into_iter().enumerate() {
        let (op, name) = h.join().unwrap();
        assert_eq!(name, format!("net/w{i}:0"));
        ops.push(op);
    }
    ops.sort();
    assert_eq!(
        ops,
        ["net/Const", "net/Const_1", "net/Const_2", "net/Const_3"]
    );
    rt.shutdown().unwrap();
}
