//! Loom models of templates' first call, which goes through the same init-once slot
//! as a variable's creation: racing first calls run the function's creating call
//! once and share its variables, a panicking first call leaves the template uncalled
//! for the next caller, a template that calls itself during its first call gets
//! `Reentrant` instead of deadlocking, and two templates whose first calls call each
//! other from two threads get `Cycle` on one thread instead of deadlocking.
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use varscope::{get_variable, make_template, ErrorKind, Graph, Init, Template, Variable};

/// Message of the deliberate panic below; the panic hook stays quiet for it.
const BOOM: &str = "deliberate template panic";

fn quiet_deliberate_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&BOOM) {
                default(info);
            }
        }));
    });
}

/// A template whose function gets `w` (shape `[2]`, zeros) and counts its runs.
fn counting_template(g: &Graph, runs: &Arc<AtomicUsize>) -> Template<Variable> {
    let runs = runs.clone();
    g.as_default(|| {
        make_template("t", move || {
            runs.fetch_add(1, Ordering::SeqCst);
            get_variable("w")
                .shape([2usize])
                .initializer(Init::zeros())
                .build()
        })
        .build()
    })
    .unwrap()
}

/// Two threads race for the first call: both get the same variable, the function
/// runs once per call (twice), and one variable exists.
#[test]
fn racing_first_calls_share_one_creation() {
    loom::model(|| {
        let g = Graph::with_seed_and_shards(1, 2);
        let runs = Arc::new(AtomicUsize::new(0));
        let tpl = counting_template(&g, &runs);
        let t = {
            let (g, tpl) = (g.clone(), tpl.clone());
            thread::spawn(move || g.as_default(|| tpl.call()))
        };
        let mine = g.as_default(|| tpl.call()).unwrap();
        let theirs = t.join().unwrap().unwrap();
        assert!(mine == theirs, "both calls see the same variable");
        assert_eq!(mine.name(), "t/w:0");
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "one first call, one later call"
        );
        assert_eq!(g.store().len(), 1);
        assert_eq!(tpl.trainable_variables().len(), 1);
    });
}

/// A first call that panics (on its first run only) racing another call: the panic
/// becomes `Panicked` (naming the template) for that caller, the template stays uncalled, and
/// the other call (before or after) performs the real first call.
#[test]
fn panicking_first_call_leaves_the_template_uncalled() {
    quiet_deliberate_panics();
    loom::model(|| {
        let g = Graph::with_seed_and_shards(1, 2);
        let runs = Arc::new(AtomicUsize::new(0));
        let tpl = {
            let runs = runs.clone();
            g.as_default(|| {
                make_template("t", move || {
                    if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                        panic!("{}", BOOM);
                    }
                    get_variable("w")
                        .shape([2usize])
                        .initializer(Init::zeros())
                        .build()
                })
                .build()
            })
            .unwrap()
        };
        let t = {
            let (g, tpl) = (g.clone(), tpl.clone());
            thread::spawn(move || g.as_default(|| tpl.call()))
        };
        let mine = g.as_default(|| tpl.call());
        let theirs = t.join().unwrap();
        let (ok, err) = match (mine, theirs) {
            (Ok(v), Err(e)) | (Err(e), Ok(v)) => (v, e),
            (a, b) => panic!("expected one panic and one success, got {a:?} and {b:?}"),
        };
        assert_eq!(err.kind(), ErrorKind::Panicked, "{err}");
        assert_eq!(ok.name(), "t/w:0");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert_eq!(g.store().len(), 1);
        // Created now: a later call reuses.
        assert!(g.as_default(|| tpl.call()).unwrap() == ok);
    });
}

/// A template whose function calls the template itself during the first call gets
/// `Reentrant` from the inner call, and the failed first call leaves it uncalled.
#[test]
fn reentrant_first_call_is_an_error_not_a_deadlock() {
    loom::model(|| {
        let g = Graph::with_seed_and_shards(1, 1);
        let slot: Arc<loom::sync::Mutex<Option<Template<Variable>>>> =
            Arc::new(loom::sync::Mutex::new(None));
        let tpl = {
            let slot = slot.clone();
            g.as_default(|| {
                make_template("t", move || {
                    let me = slot.lock().unwrap().clone();
                    match me {
                        Some(me) => me.call(),
                        None => get_variable("w").shape([2usize]).build(),
                    }
                })
                .build()
            })
            .unwrap()
        };
        *slot.lock().unwrap() = Some(tpl.clone());
        let t = {
            let (g, tpl) = (g.clone(), tpl.clone());
            thread::spawn(move || g.as_default(|| tpl.call()))
        };
        let mine = g.as_default(|| tpl.call());
        let theirs = t.join().unwrap();
        for r in [mine, theirs] {
            let e = r.expect_err("the inner call is re-entrant");
            assert_eq!(e.kind(), ErrorKind::Reentrant, "{e}");
        }
        assert!(tpl.variable_scope().is_some());
        assert_eq!(g.store().len(), 0);
        // Break the template's reference cycle through `slot`.
        slot.lock().unwrap().take();
    });
}

type Cell = Arc<loom::sync::Mutex<Option<Template<Variable>>>>;

/// A template (scope captured at build time) whose function, on its first run only,
/// calls the template in `other` (passing its error on), then gets `w`.
fn calling_template(g: &Graph, name: &str, other: &Cell) -> Template<Variable> {
    let other = other.clone();
    let runs = AtomicUsize::new(0);
    g.as_default(|| {
        make_template(name, move || {
            if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                let t = other.lock().unwrap().clone().expect("set before the calls");
                t.call()?;
            }
            get_variable("w")
                .shape([2usize])
                .initializer(Init::zeros())
                .build()
        })
        .create_scope_now(true)
        .build()
    })
    .unwrap()
}

/// Two templates whose first calls call each other, first-called from two threads:
/// exactly one call fails — with `Cycle` (naming the templates) when the first calls
/// overlap, with `Reentrant` when one thread ran both first runs — and the other
/// succeeds; never a deadlock, and both templates work afterwards.
#[test]
fn templates_calling_each_other_from_two_threads() {
    loom::model(|| {
        let g = Graph::with_seed_and_shards(1, 2);
        let (cx, cy): (Cell, Cell) = Default::default();
        let x = calling_template(&g, "x", &cy);
        let y = calling_template(&g, "y", &cx);
        *cx.lock().unwrap() = Some(x.clone());
        *cy.lock().unwrap() = Some(y.clone());
        let t = {
            let (g, y) = (g.clone(), y.clone());
            thread::spawn(move || g.as_default(|| y.call()))
        };
        let rx = g.as_default(|| x.call());
        let ry = t.join().unwrap();
        let (err, expected) = match (&rx, &ry) {
            (Err(e), Ok(_)) => (e, ["y", "x", "y"]),
            (Ok(_), Err(e)) => (e, ["x", "y", "x"]),
            (a, b) => panic!("expected exactly one failure, got {a:?} and {b:?}"),
        };
        match err {
            varscope::Error::Cycle { chain } => assert_eq!(chain, &expected),
            e => assert_eq!(e.kind(), ErrorKind::Reentrant, "{e}"),
        }
        assert_eq!(g.as_default(|| x.call()).unwrap().name(), "x/w:0");
        assert_eq!(g.as_default(|| y.call()).unwrap().name(), "y/w:0");
        assert_eq!(g.store().len(), 2);
        // Break the templates' reference cycle through the cells.
        cx.lock().unwrap().take();
        cy.lock().unwrap().take();
    });
}
