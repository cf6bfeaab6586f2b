//! Loom models of the per-thread half of the scoping state: variable-scope stacks and
//! default-name counters are per (graph, thread), and a scope captured in one thread
//! and re-entered in another gives the same variable prefix. The crate's
//! thread-local state goes through `loom::thread_local!` under loom, so each
//! simulated thread has its own.
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use varscope::{
    get_variable, get_variable_scope, variable_scope, variable_scope_default, Graph, Init, Result,
    Reuse, Tensor, Variable, VariableScope,
};

/// A custom initializer of shape `[2]` that counts its runs.
fn counting(runs: &Arc<AtomicUsize>) -> Init {
    let runs = runs.clone();
    Init::custom(move |_| {
        runs.fetch_add(1, Ordering::SeqCst);
        Tensor::from_vec(vec![1.0f32, 2.0], [2])
    })
}

fn get_v(init: Init) -> Result<Variable> {
    get_variable("v").shape([2usize]).initializer(init).build()
}

/// Each thread sees only its own variable-scope stack: a scope open in one thread
/// is not the current scope of another, and variables land under the right prefix.
#[test]
fn scope_stacks_are_per_thread() {
    loom::model(|| {
        let g = Graph::with_seed_and_shards(1, 2);
        let t = {
            let g = g.clone();
            thread::spawn(move || {
                g.as_default(|| {
                    let at_root = get_variable_scope().name();
                    let inside = variable_scope("b")
                        .auxiliary_name_scope(false)
                        .enter(|s| {
                            let v = get_v(Init::zeros()).unwrap();
                            (s.name(), get_variable_scope().name(), v.name())
                        })
                        .unwrap();
                    (at_root, inside, get_variable_scope().name())
                })
            })
        };
        let mine = g.as_default(|| {
            variable_scope("a")
                .auxiliary_name_scope(false)
                .enter(|s| {
                    let v = get_v(Init::zeros()).unwrap();
                    (s.name(), get_variable_scope().name(), v.name())
                })
                .unwrap()
        });
        let (root_before, theirs, root_after) = t.join().unwrap();
        assert_eq!(mine, ("a".into(), "a".into(), "a/v:0".into()));
        assert_eq!(theirs, ("b".into(), "b".into(), "b/v:0".into()));
        assert_eq!(root_before, "");
        assert_eq!(root_after, "");
        assert_eq!(g.as_default(|| get_variable_scope().name()), "");
        assert_eq!(g.store().len(), 2);
    });
}

/// Default-name counters are per thread (each thread's first `blk` is `blk`), while
/// the name scopes they open are unique graph-wide.
#[test]
fn default_name_counters_are_per_thread() {
    loom::model(|| {
        let g = Graph::with_seed_and_shards(1, 1);
        let open_two = |g: &Graph| {
            g.as_default(|| {
                let first = variable_scope_default("blk")
                    .enter(|s| (s.name(), s.original_name_scope()))
                    .unwrap();
                let second = variable_scope_default("blk")
                    .enter(|s| (s.name(), s.original_name_scope()))
                    .unwrap();
                [first, second]
            })
        };
        let t = {
            let g = g.clone();
            thread::spawn(move || open_two(&g))
        };
        let mine = open_two(&g);
        let theirs = t.join().unwrap();
        for scopes in [&mine, &theirs] {
            assert_eq!(scopes[0].0, "blk");
            assert_eq!(scopes[1].0, "blk_1");
        }
        let mut name_scopes: Vec<&str> = mine
            .iter()
            .chain(&theirs)
            .map(|(_, ns)| ns.as_str())
            .collect();
        name_scopes.sort_unstable();
        assert_eq!(name_scopes, ["blk/", "blk_1/", "blk_2/", "blk_3/"]);
    });
}

/// A scope captured in the main thread and re-entered in another thread (while the
/// main thread re-enters it too) yields the same prefix and the same variable,
/// created once.
#[test]
fn captured_scope_reentered_in_another_thread() {
    loom::model(|| {
        let g = Graph::with_seed_and_shards(1, 2);
        let captured: VariableScope = g
            .as_default(|| variable_scope("main").enter(|s| s.clone()))
            .unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let reenter = |g: &Graph, scope: &VariableScope, init: Init| {
            g.as_default(|| {
                variable_scope(scope)
                    .reuse(Reuse::Auto)
                    .enter(|s| (s.name(), get_v(init)))
                    .unwrap()
            })
        };
        let t = {
            let (g, captured, init) = (g.clone(), captured.clone(), counting(&runs));
            thread::spawn(move || reenter(&g, &captured, init))
        };
        let (my_scope, mine) = reenter(&g, &captured, counting(&runs));
        let (their_scope, theirs) = t.join().unwrap();
        let (mine, theirs) = (mine.unwrap(), theirs.unwrap());
        assert_eq!(my_scope, "main");
        assert_eq!(their_scope, "main");
        assert_eq!(mine.name(), "main/v:0");
        assert!(mine == theirs, "the same variable in both threads");
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(
            captured.name(),
            "main",
            "re-entering does not change the scope"
        );
    });
}
