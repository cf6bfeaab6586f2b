//! The actor runtime: results, errors and panics, per-job fresh scope state,
//! captured scopes, shutdown and drop.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;
use varscope::{
    get_variable, get_variable_scope, name_scope_guard, variable_scope, variable_scope_default,
    Error, ErrorKind, Graph, Reuse, Runtime, VariableScope,
};

fn worker_names(n: usize) -> BTreeSet<String> {
    (0..n).map(|i| format!("varscope-worker-{i}")).collect()
}

fn thread_name() -> String {
    std::thread::current().name().unwrap_or("").to_string()
}

/// Runs one job per worker, all at the same time (each waits for the others), and
/// returns the names of the threads that ran them.
fn one_job_per_worker(rt: &Runtime, graph: &Graph) -> BTreeSet<String> {
    let n = rt.workers();
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let barrier = barrier.clone();
            rt.submit(graph, None, move || {
                barrier.wait();
                Ok(thread_name())
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn captured(graph: &Graph, name: &str, reuse: Reuse) -> VariableScope {
    graph
        .as_default(|| variable_scope(name).reuse(reuse).enter(|s| s.clone()))
        .unwrap()
}

#[test]
fn zero_workers_is_an_invalid_argument() {
    let err = Runtime::new(0).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
}

#[test]
fn workers_are_named_and_all_serve() {
    let rt = Runtime::new(3).unwrap();
    assert_eq!(rt.workers(), 3);
    let names = one_job_per_worker(&rt, &Graph::new());
    assert_eq!(names, worker_names(3));
    rt.shutdown().unwrap();
}

#[test]
fn job_errors_come_back_unchanged() {
    let graph = Graph::with_seed(1);
    let rt = Runtime::new(2).unwrap();
    let first = rt.submit(&graph, None, || get_variable("a").shape([2usize]).build());
    assert_eq!(first.join().unwrap().name(), "a:0");
    // The same name again under reuse = No: TF's AlreadyExists, from whichever worker.
    let again = rt.submit(&graph, None, || get_variable("a").shape([2usize]).build());
    let err = again.join().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    // A plain error made by the job.
    let custom = rt.submit(&graph, None, || -> varscope::Result<()> {
        Err(Error::InvalidArgument {
            message: "bad input 42".into(),
        })
    });
    match custom.join() {
        Err(Error::InvalidArgument { message }) => assert_eq!(message, "bad input 42"),
        other => panic!("unexpected {other:?}"),
    }
    rt.shutdown().unwrap();
}

#[test]
fn panics_come_back_as_job_errors_and_every_worker_survives() {
    let graph = Graph::with_seed(2);
    let rt = Runtime::new(3).unwrap();
    // One panic on each worker at the same time.
    let barrier = Arc::new(Barrier::new(3));
    let panics: Vec<_> = (0..3)
        .map(|i| {
            let barrier = barrier.clone();
            rt.submit(&graph, None, move || -> varscope::Result<()> {
                barrier.wait();
                panic!("tower {i} exploded")
            })
        })
        .collect();
    for (i, h) in panics.into_iter().enumerate() {
        match h.join() {
            Err(Error::Job { message }) => assert_eq!(message, format!("tower {i} exploded")),
            other => panic!("unexpected {other:?}"),
        }
    }
    // All three workers are still alive and serving.
    assert_eq!(one_job_per_worker(&rt, &graph), worker_names(3));
    // A panic in the middle of a scope left no scope behind for the next job.
    let h = rt.submit(&graph, None, || -> varscope::Result<()> {
        variable_scope("half").enter(|_| -> varscope::Result<()> { panic!("inside a scope") })
    });
    assert!(matches!(h.join(), Err(Error::Job { .. })));
    let after: Vec<_> = (0..6)
        .map(|_| rt.submit(&graph, None, || Ok(get_variable_scope().name())))
        .collect();
    for h in after {
        assert_eq!(h.join().unwrap(), "");
    }
    rt.shutdown().unwrap();
}

#[test]
fn default_name_counters_do_not_leak_between_jobs() {
    let graph = Graph::with_seed(3);
    // On one thread, a second default-named scope is uniquified: `x`, then `x_1`.
    let sequential: Vec<String> = graph.as_default(|| {
        (0..2)
            .map(|_| variable_scope_default("x").enter(|s| s.name()).unwrap())
            .collect()
    });
    assert_eq!(sequential, ["x", "x_1"]);

    // Jobs on one worker each start from fresh counters: always `x`.
    let rt = Runtime::new(1).unwrap();
    let handles: Vec<_> = (0..5)
        .map(|_| {
            rt.submit(&graph, None, || {
                variable_scope_default("x")
                    .enter(|s| get_variable("v").shape([1usize]).build().map(|_| s.name()))
            })
        })
        .collect();
    let mut results = handles.into_iter().map(|h| h.join());
    // The first job creates x/v; the later ones resolve to the same `x` scope and so
    // to the same name, which reuse = No rejects — proof they did not get `x_1`.
    assert_eq!(results.next().unwrap().unwrap(), "x");
    for r in results {
        let err = r.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
        assert!(err.to_string().contains("x/v"), "{err}");
    }
    rt.shutdown().unwrap();
}

#[test]
fn leaked_guards_do_not_leak_into_the_next_job() {
    let graph = Graph::with_seed(4);
    let rt = Runtime::new(1).unwrap();
    let dirty = rt.submit(&graph, None, || {
        let vs = variable_scope("dirty").guard()?;
        let ns = name_scope_guard("ns")?;
        let name = vs.scope().name();
        // Never leave them: without per-job fresh state the worker would stay inside.
        std::mem::forget(ns);
        std::mem::forget(vs);
        Ok(name)
    });
    assert_eq!(dirty.join().unwrap(), "dirty");
    let g = graph.clone();
    let clean = rt.submit(&graph, None, move || {
        let v = get_variable("w").shape([1usize]).build()?;
        Ok((get_variable_scope().name(), g.name_stack(), v.name()))
    });
    assert_eq!(
        clean.join().unwrap(),
        (String::new(), String::new(), "w:0".to_string())
    );
    rt.shutdown().unwrap();
}

#[test]
fn jobs_run_inside_the_captured_scope() {
    let graph = Graph::with_seed(5);
    let model = captured(&graph, "model", Reuse::No);
    let rt = Runtime::new(2).unwrap();
    let h = rt.submit(&graph, Some(&model), || {
        let w = get_variable("w").shape([2usize]).build()?;
        let inner = variable_scope("inner").enter(|_| get_variable("v").shape([3usize]).build())?;
        Ok((get_variable_scope().name(), w.name(), inner.name()))
    });
    assert_eq!(
        h.join().unwrap(),
        (
            "model".to_string(),
            "model/w:0".to_string(),
            "model/inner/v:0".to_string()
        )
    );
    // Jobs without a scope start at the root, even on a worker that just ran one
    // inside `model`.
    let root = rt.submit(&graph, None, || Ok(get_variable_scope().name()));
    assert_eq!(root.join().unwrap(), "");
    rt.shutdown().unwrap();
}

#[test]
fn captured_auto_reuse_scope_creates_each_name_once() {
    let graph = Graph::with_seed(6);
    let shared = captured(&graph, "shared", Reuse::Auto);
    let rt = Runtime::new(4).unwrap();
    let handles: Vec<_> = (0..40)
        .map(|i| {
            rt.submit(&graph, Some(&shared), move || {
                get_variable(&format!("v{}", i % 4)).shape([8usize]).build()
            })
        })
        .collect();
    let vars: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for (i, v) in vars.iter().enumerate() {
        assert_eq!(v.name(), format!("shared/v{}:0", i % 4));
        assert_eq!(v, &vars[i % 4], "one variable per name");
    }
    assert_eq!(graph.store().len(), 4);
    assert_eq!(graph.global_variables().len(), 4);
    rt.shutdown().unwrap();
}

#[test]
fn shutdown_drains_queued_jobs() {
    let graph = Graph::new();
    let done = Arc::new(AtomicUsize::new(0));
    let rt = Runtime::new(2).unwrap();
    for _ in 0..40 {
        let done = done.clone();
        // Handles dropped at once: the jobs must run anyway.
        drop(rt.submit(&graph, None, move || {
            std::thread::sleep(Duration::from_millis(2));
            done.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }));
    }
    rt.shutdown().unwrap();
    assert_eq!(done.load(Ordering::SeqCst), 40);
    // Every job's closure (holding a clone of `done`) has been dropped.
    assert_eq!(Arc::strong_count(&done), 1);
}

#[test]
fn drop_runs_queued_jobs_and_joins_workers() {
    let graph = Graph::new();
    let done = Arc::new(AtomicUsize::new(0));
    let rt = Runtime::new(3).unwrap();
    let handles: Vec<_> = (0..30)
        .map(|i| {
            let done = done.clone();
            rt.submit(&graph, None, move || {
                std::thread::sleep(Duration::from_millis(1));
                done.fetch_add(1, Ordering::SeqCst);
                Ok(i)
            })
        })
        .collect();
    drop(rt);
    assert_eq!(done.load(Ordering::SeqCst), 30);
    assert_eq!(Arc::strong_count(&done), 1);
    // The results outlive the runtime.
    let results: Vec<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results, (0..30).collect::<Vec<_>>());
}

#[test]
fn dropping_the_last_reference_inside_a_job_does_not_deadlock() {
    let graph = Graph::new();
    let rt = Arc::new(Runtime::new(2).unwrap());
    let inside = rt.clone();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let h = rt.submit(&graph, None, move || {
        go_rx.recv().unwrap();
        // The caller has dropped its reference: this is the last one, so the
        // runtime is dropped on one of its own workers.
        assert_eq!(Arc::strong_count(&inside), 1);
        drop(inside);
        Ok("dropped inside")
    });
    drop(rt);
    go_tx.send(()).unwrap();
    assert_eq!(h.join().unwrap(), "dropped inside");
}

#[test]
fn try_join_hands_out_the_result_once() {
    let rt = Runtime::new(1).unwrap();
    let h = rt.submit(&Graph::new(), None, || Ok(7));
    let first = loop {
        if let Some(r) = h.try_join() {
            break r;
        }
        std::thread::yield_now();
    };
    assert_eq!(first.unwrap(), 7);
    assert!(matches!(h.try_join(), Some(Err(Error::Job { .. }))));
    assert!(matches!(h.join(), Err(Error::Job { .. })));
}

#[test]
fn many_jobs_from_many_submitting_threads() {
    let graph = Graph::with_seed(8);
    let shared = captured(&graph, "net", Reuse::Auto);
    let rt = Runtime::new(4).unwrap();
    let seen_workers = Mutex::new(BTreeSet::new());
    std::thread::scope(|s| {
        for t in 0..6 {
            let (rt, graph, shared, seen) = (&rt, &graph, &shared, &seen_workers);
            s.spawn(move || {
                let handles: Vec<_> = (0..50)
                    .map(|j| {
                        rt.submit(graph, Some(shared), move || {
                            let v = get_variable(&format!("w{}", (t * 50 + j) % 10))
                                .shape([4usize])
                                .build()?;
                            // Fresh counters for every job: the default name is never
                            // uniquified, whatever ran on this worker before.
                            let blk = variable_scope_default("blk").enter(|s| s.name())?;
                            Ok((v, blk, thread_name()))
                        })
                    })
                    .collect();
                for (j, h) in handles.into_iter().enumerate() {
                    let (v, blk, worker) = h.join().unwrap();
                    assert_eq!(v.name(), format!("net/w{}:0", (t * 50 + j) % 10));
                    assert_eq!(blk, "net/blk");
                    seen.lock().unwrap().insert(worker);
                }
            });
        }
    });
    rt.shutdown().unwrap();
    let seen = seen_workers.into_inner().unwrap();
    assert!(seen.is_subset(&worker_names(4)), "{seen:?}");
    let mut names: Vec<String> = graph.store().entries().into_iter().map(|e| e.0).collect();
    names.sort();
    let expected: Vec<String> = {
        let mut v: Vec<String> = (0..10).map(|k| format!("net/w{k}")).collect();
        v.sort();
        v
    };
    assert_eq!(names, expected);
    assert_eq!(graph.global_variables().len(), 10);
}

/// Workers share one queue: a runtime's memory grows linearly with its workers, and
/// a worker count beyond `MAX_WORKERS` is a typed error instead of an abort.
#[test]
fn many_workers_share_one_queue_and_the_count_is_bounded() {
    assert!(matches!(
        Runtime::new(Runtime::MAX_WORKERS + 1),
        Err(varscope::Error::InvalidArgument { .. })
    ));
    let rt = Runtime::new(256).unwrap();
    let graph = Graph::with_seed(1);
    let handles: Vec<_> = (0..2048)
        .map(|i| rt.submit(&graph, None, move || Ok(i)))
        .collect();
    let sum: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, 2047 * 2048 / 2);
    assert_eq!(one_job_per_worker(&rt, &graph), worker_names(256));
}
