//! Port of TensorFlow's `VariableScopeMultithreadedTest` (tf1-semantics.md §8.5): each
//! thread has its own scope stack over the graph's shared store.

mod common;

use common::*;
use std::sync::{Arc, Barrier};
use std::thread;
use varscope::{get_variable, variable_scope, ErrorKind, Graph};

fn thread_fn(i: usize, graph: &Graph) -> Result<(), String> {
    graph.as_default(|| {
        variable_scope("foo")
            .enter(|s| {
                assert_eq!(s.name(), "foo");
                let r = get_variable("v").shape(SCALAR).build();
                if i == 0 {
                    assert_eq!(r.unwrap().name(), "foo/v:0");
                } else {
                    // Any thread after the first fails to create the same name.
                    assert_eq!(r.unwrap_err().kind(), ErrorKind::AlreadyExists);
                }
            })
            .map_err(|e| e.to_string())
    })
}

#[test]
fn test_two_threads_disjoint_scope_entry() {
    let graph = Graph::new();
    for i in 0..2 {
        // Thread 0 finishes before thread 1 starts.
        let g = graph.clone();
        thread::spawn(move || thread_fn(i, &g))
            .join()
            .unwrap()
            .unwrap();
    }
    assert_eq!(graph.store().len(), 1);
}

#[test]
fn test_two_threads_nested_scope_entry() {
    let graph = Graph::new();
    // pause[i]: thread i is inside its scope; run: both may leave.
    let pause0 = Arc::new(Barrier::new(2));
    let pause1 = Arc::new(Barrier::new(2));
    let run = Arc::new(Barrier::new(3));
    let spawn = |i: usize, pause: Arc<Barrier>| {
        let (g, run) = (graph.clone(), run.clone());
        thread::spawn(move || {
            g.as_default(|| {
                variable_scope("foo")
                    .enter(|s| {
                        assert_eq!(s.name(), "foo");
                        let r = get_variable("v").shape(SCALAR).build();
                        if i == 0 {
                            assert_eq!(r.unwrap().name(), "foo/v:0");
                        } else {
                            assert_eq!(r.unwrap_err().kind(), ErrorKind::AlreadyExists);
                        }
                        pause.wait();
                        run.wait();
                    })
                    .unwrap();
            })
        })
    };
    let t0 = spawn(0, pause0.clone());
    pause0.wait();
    let t1 = spawn(1, pause1.clone());
    pause1.wait();
    run.wait();
    t0.join().unwrap();
    t1.join().unwrap();
    assert_eq!(graph.store().len(), 1);
}

#[test]
fn test_reenter_main_scope() {
    let graph = Graph::new();
    graph.as_default(|| {
        variable_scope("main")
            .enter(|main_thread_scope| {
                let (g, main) = (graph.clone(), main_thread_scope.clone());
                thread::spawn(move || {
                    g.as_default(|| {
                        // Created with the main scope: prefixed "main".
                        variable_scope(&main)
                            .enter(|_| {
                                variable_scope("foo")
                                    .enter(|_| {
                                        assert_eq!(scalar("v").name(), "main/foo/v:0");
                                    })
                                    .unwrap();
                            })
                            .unwrap();
                        // Outside the main scope: not prefixed.
                        variable_scope("bar")
                            .enter(|_| assert_eq!(scalar("v").name(), "bar/v:0"))
                            .unwrap();
                    })
                })
                .join()
                .unwrap();
            })
            .unwrap();
    });
    let mut keys: Vec<String> = graph
        .store()
        .entries()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    keys.sort();
    assert_eq!(keys, ["bar/v", "main/foo/v"]);
}
