//! Deep nesting: a typed error instead of a stack overflow or unbounded growth, and a
//! consistent scope stack afterwards.

use varscope::{get_variable, name_scope, variable_scope, Error, Graph, Result, MAX_SCOPE_DEPTH};

fn recurse(depth: usize) -> Result<usize> {
    variable_scope("a").enter(|_| {
        if depth == 0 {
            Ok(0)
        } else {
            recurse(depth - 1).map(|d| d + 1)
        }
    })
}

/// Recursive layer code deeper than the thread's stack gets `NestingTooDeep` on the way
/// down and unwinds through every scope cleanly.
#[test]
fn recursion_deeper_than_the_stack_is_an_error_not_an_overflow() {
    let g = Graph::with_seed(1);
    let g2 = g.clone();
    let out = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || {
            g2.as_default(|| {
                let err = recurse(1_000_000).unwrap_err();
                // Every scope was left: the thread is back at the root.
                let v = get_variable("v").shape([1]).build().unwrap();
                (err, v.name(), g2.name_stack())
            })
        })
        .unwrap()
        .join()
        .unwrap();
    match out.0 {
        Error::NestingTooDeep { depth, reason } => {
            assert!(depth > 10 && depth < MAX_SCOPE_DEPTH, "{depth}");
            assert!(reason.contains("stack"), "{reason}");
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(out.1, "v:0");
    assert_eq!(out.2, "");
}

/// Guards opened in a loop stop at `MAX_SCOPE_DEPTH` open scopes (a variable scope
/// opens two: itself and its name scope).
#[test]
fn open_scopes_are_bounded_and_the_stack_stays_consistent() {
    let g = Graph::with_seed(1);
    g.as_default(|| {
        let mut guards = Vec::new();
        let err = loop {
            match variable_scope("s").guard() {
                Ok(gd) => guards.push(gd),
                Err(e) => break e,
            }
        };
        assert_eq!(guards.len(), MAX_SCOPE_DEPTH / 2);
        assert!(matches!(err, Error::NestingTooDeep { depth, .. } if depth == MAX_SCOPE_DEPTH));
        assert!(name_scope("n", |_| ()).is_err());
        let deep = get_variable("v").shape([1]).build().unwrap();
        assert_eq!(deep.name().matches("s/").count(), MAX_SCOPE_DEPTH / 2);
        while let Some(gd) = guards.pop() {
            gd.close().unwrap();
        }
        assert_eq!(get_variable("w").shape([1]).build().unwrap().name(), "w:0");
        // The depth bound is per open scope, not per scope ever opened.
        for _ in 0..3 * MAX_SCOPE_DEPTH {
            variable_scope("t").enter(|_| ()).unwrap();
        }
    });
}

/// A thread's scope state for a graph is freed once the graph is dropped, the next
/// time the thread uses any graph, not when the thread exits.
#[test]
fn dropped_graphs_leave_no_per_thread_state_behind() {
    std::thread::spawn(|| {
        let keep = Graph::with_seed(1);
        keep.as_default(|| variable_scope("k").enter(|_| ()).unwrap());
        for i in 0..100u64 {
            let g = Graph::with_seed(i);
            g.as_default(|| variable_scope("s").enter(|_| get_variable("v").shape([1]).build()))
                .unwrap();
            assert_eq!(varscope::thread_state_count(), 2);
        }
        keep.as_default(|| get_variable("w").shape([1]).build())
            .unwrap();
        assert_eq!(varscope::thread_state_count(), 1);
        drop(keep);
        assert_eq!(varscope::thread_state_count(), 0);
    })
    .join()
    .unwrap();
}
