//! Loom models of the variable store: concurrent get-or-create, creation races,
//! lookups racing creation, failing and panicking initializers, nested and re-entrant
//! creation, and the direct path that planned initializers take. Every model drives
//! the real `get_variable` → store path (the crate's `sync` shim switches it to
//! loom's primitives); custom initializers count their runs with loom atomics.
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use varscope::{
    get_variable, variable_scope, Error, ErrorKind, Graph, Init, Result, Reuse, Tensor, Variable,
};

/// Message of the deliberate panics below; the panic hook stays quiet for it.
const BOOM: &str = "deliberate initializer panic";

/// Keeps the default panic hook for everything but the deliberate panics, which loom
/// would otherwise print once per explored interleaving.
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

/// A custom initializer producing `values` (shape `[2]`) that counts its runs.
fn counting(values: [f32; 2], runs: &Arc<AtomicUsize>) -> Init {
    let runs = runs.clone();
    Init::custom(move |_| {
        runs.fetch_add(1, Ordering::SeqCst);
        Tensor::from_vec(values.to_vec(), [2])
    })
}

/// `get_variable(name)` of shape `[2]` inside scope `s` (entered without a name
/// scope, to keep the model small) with the given reuse mode.
fn get(g: &Graph, reuse: Reuse, name: &str, init: Init) -> Result<Variable> {
    variable_scope("s")
        .reuse(reuse)
        .auxiliary_name_scope(false)
        .graph(g)
        .enter(|_| get_variable(name).shape([2usize]).initializer(init).build())
}

fn values(v: &Variable) -> Vec<f64> {
    v.value()
        .expect("a returned variable is readable")
        .to_f64_vec()
}

/// Two threads and the main thread get-or-create the same name: the initializer runs
/// exactly once and everybody gets the identical variable.
#[test]
fn auto_get_or_create_runs_initializer_once() {
    loom::model(|| {
        let g = Graph::with_seed_and_shards(1, 2);
        let runs = Arc::new(AtomicUsize::new(0));
        let spawn = |vals| {
            let (g, runs) = (g.clone(), runs.clone());
            thread::spawn(move || get(&g, Reuse::Auto, "v", counting(vals, &runs)))
        };
        let t1 = spawn([1.0, 1.0]);
        let t2 = spawn([2.0, 2.0]);
        let v0 = get(&g, Reuse::Auto, "v", counting([3.0, 3.0], &runs)).unwrap();
        let v1 = t1.join().unwrap().unwrap();
        let v2 = t2.join().unwrap().unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1, "initializer runs");
        assert!(v0 == v1 && v1 == v2, "all threads get the same variable");
        assert_eq!(v0.name(), "s/v:0");
        let vals = values(&v0);
        assert!(vals == [1.0; 2] || vals == [2.0; 2] || vals == [3.0; 2]);
        assert_eq!(g.store().len(), 1);
        assert_eq!(g.store().slot_count(), 1);
        assert_eq!(g.global_variables().len(), 1);
    });
}

/// Two threads create (`Reuse::No`) the same name: exactly one succeeds, the other
/// gets `AlreadyExists`, and the store holds one entry.
#[test]
fn create_race_has_one_winner() {
    loom::model(|| {
        let g = Graph::with_seed_and_shards(1, 1);
        let runs = Arc::new(AtomicUsize::new(0));
        let t = {
            let (g, runs) = (g.clone(), runs.clone());
            thread::spawn(move || get(&g, Reuse::No, "v", counting([1.0, 1.0], &runs)))
        };
        let mine = get(&g, Reuse::No, "v", counting([2.0, 2.0], &runs));
        let theirs = t.join().unwrap();
        let (winner, loser) = match (mine, theirs) {
            (Ok(v), Err(e)) | (Err(e), Ok(v)) => (v, e),
            (a, b) => panic!("expected exactly one success, got {a:?} and {b:?}"),
        };
        assert_eq!(loser.kind(), ErrorKind::AlreadyExists, "{loser}");
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(g.store().len(), 1);
        assert_eq!(g.store().slot_count(), 1);
        let stored = g.store().get("s/v").unwrap().into_single().unwrap();
        assert!(stored == winner);
    });
}

/// A `Reuse::Yes` lookup racing a creation sees either `NotFound` or the complete
/// variable, never a partial one; a plain `store.get` likewise.
#[test]
fn lookup_racing_creation_sees_nothing_or_everything() {
    loom::model(|| {
        let g = Graph::with_seed_and_shards(1, 1);
        let runs = Arc::new(AtomicUsize::new(0));
        let reader = {
            let g = g.clone();
            thread::spawn(move || {
                let direct = g.store().get("s/v").map(|a| a.into_single().unwrap());
                let looked_up = get(&g, Reuse::Yes, "v", Init::zeros());
                (direct, looked_up)
            })
        };
        let created = get(&g, Reuse::Auto, "v", counting([4.0, 5.0], &runs)).unwrap();
        let (direct, looked_up) = reader.join().unwrap();
        for v in direct.iter().chain(looked_up.as_ref().ok()) {
            assert!(*v == created);
            assert_eq!(values(v), [4.0, 5.0]);
        }
        match looked_up {
            Ok(_) => {}
            Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "{e}"),
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // A lookup of a missing name leaves no slot behind.
        assert_eq!(g.store().slot_count(), 1);
    });
}

/// What one racing creator saw.
#[derive(Debug)]
enum Seen {
    Failed,
    Panicked,
    Got(Variable),
}

fn seen(r: Result<Variable>) -> Seen {
    match r {
        Ok(v) => Seen::Got(v),
        Err(Error::InitializerPanicked { message, .. }) => {
            assert_eq!(message, BOOM);
            Seen::Panicked
        }
        Err(Error::Initializer { message, .. }) => {
            assert_eq!(message, "no value");
            Seen::Failed
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}

fn failing() -> Init {
    Init::custom(|ctx| {
        Err(Error::Initializer {
            name: ctx.name.to_string(),
            message: "no value".into(),
        })
    })
}

fn panicking() -> Init {
    Init::custom(|_| std::panic::panic_any(BOOM))
}

/// A failing and a panicking initializer race a waiter with a working one: the
/// waiter is woken and creates (its initializer runs once), failures leave nothing
/// behind, and the loser threads see either their own failure or the variable.
#[test]
fn failing_and_panicking_initializers_race_a_waiter() {
    quiet_deliberate_panics();
    // Three threads: the bound comes from `LOOM_MAX_PREEMPTIONS` like every model's
    // (3 in `scripts/loom.sh`, about 4 s), never unbounded.
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(b.preemption_bound.unwrap_or(3));
    b.check(|| {
        let g = Graph::with_seed_and_shards(1, 1);
        let runs = Arc::new(AtomicUsize::new(0));
        let spawn = |init: Init| {
            let g = g.clone();
            thread::spawn(move || seen(get(&g, Reuse::Auto, "v", init)))
        };
        let t_fail = spawn(failing());
        let t_panic = spawn(panicking());
        let good = get(&g, Reuse::Auto, "v", counting([7.0, 8.0], &runs)).unwrap();
        let fail = t_fail.join().unwrap();
        let panic = t_panic.join().unwrap();
        assert!(matches!(fail, Seen::Failed) || matches!(&fail, Seen::Got(v) if *v == good));
        assert!(matches!(panic, Seen::Panicked) || matches!(&panic, Seen::Got(v) if *v == good));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(values(&good), [7.0, 8.0]);
        assert_eq!(g.store().len(), 1);
        assert_eq!(g.store().slot_count(), 1);
        assert_eq!(g.global_variables().len(), 1);
    });
}

/// Only failing initializers race: both fail (each ran its own, or waited and then
/// ran it), no slot leaks, and a later creation succeeds (its op name the third, as
/// each failed initializer used one up).
#[test]
fn failures_leave_no_slot_and_a_later_create_succeeds() {
    quiet_deliberate_panics();
    loom::model(|| {
        let g = Graph::with_seed_and_shards(1, 1);
        let t = {
            let g = g.clone();
            thread::spawn(move || seen(get(&g, Reuse::No, "v", panicking())))
        };
        let mine = seen(get(&g, Reuse::No, "v", failing()));
        let theirs = t.join().unwrap();
        assert!(matches!(mine, Seen::Failed), "{mine:?}");
        assert!(matches!(theirs, Seen::Panicked), "{theirs:?}");
        assert_eq!(g.store().slot_count(), 0, "no stale slot");
        assert!(g.store().get("s/v").is_none());
        assert!(g.global_variables().is_empty(), "nothing registered");
        let runs = Arc::new(AtomicUsize::new(0));
        let v = get(&g, Reuse::No, "v", counting([1.0, 2.0], &runs)).unwrap();
        assert_eq!(values(&v), [1.0, 2.0]);
        // As in TF, each attempt whose initializer ran used up an op name, whichever
        // thread ran first: the variable is stored as `s/v` and named `s/v_2`.
        assert_eq!(v.store_key(), Some("s/v"));
        assert_eq!(v.name(), "s/v_2:0");
        assert_eq!(g.store().slot_count(), 1);
    });
}

/// An initializer that creates another variable of the same (only) shard completes,
/// while another thread asks for that variable: no deadlock, one creation each.
#[test]
fn initializer_creating_another_variable_in_the_same_shard() {
    loom::model(|| {
        let g = Graph::with_seed_and_shards(1, 1);
        let runs_a = Arc::new(AtomicUsize::new(0));
        let runs_b = Arc::new(AtomicUsize::new(0));
        let t = {
            let (g, runs_b) = (g.clone(), runs_b.clone());
            thread::spawn(move || get(&g, Reuse::Auto, "b", counting([2.0, 2.0], &runs_b)))
        };
        let inner_b = Arc::new(loom::sync::Mutex::new(None));
        let init_a = {
            let (g, runs_a, runs_b, inner_b) =
                (g.clone(), runs_a.clone(), runs_b.clone(), inner_b.clone());
            Init::custom(move |_| {
                runs_a.fetch_add(1, Ordering::SeqCst);
                // Runs inside `get_variable("a")`, in scope `s`, with the store's slot
                // for `s/a` claimed and no shard lock held.
                let b = get_variable("b")
                    .shape([2usize])
                    .initializer(counting([3.0, 3.0], &runs_b))
                    .graph(&g)
                    .build()?;
                *inner_b.lock().unwrap() = Some(b);
                Tensor::from_vec(vec![1.0f32, 1.0], [2])
            })
        };
        let a = get(&g, Reuse::Auto, "a", init_a).unwrap();
        let b = t.join().unwrap().unwrap();
        let inner_b = inner_b.lock().unwrap().take().unwrap();
        assert!(inner_b == b, "both threads get the same s/b");
        assert_eq!(runs_a.load(Ordering::SeqCst), 1);
        assert_eq!(runs_b.load(Ordering::SeqCst), 1);
        assert_eq!(values(&a), [1.0, 1.0]);
        assert_eq!(g.store().len(), 2);
        assert_eq!(g.store().slot_count(), 2);
    });
}

/// An initializer that asks for its own variable gets `Error::Reentrant` instead of
/// deadlocking; a second thread asking for the same name waits and gets the result.
#[test]
fn reentrant_creation_is_an_error_not_a_deadlock() {
    loom::model(|| {
        let g = Graph::with_seed_and_shards(1, 1);
        let runs = Arc::new(AtomicUsize::new(0));
        let inner = Arc::new(loom::sync::Mutex::new(None));
        let init = {
            let (g, runs, inner) = (g.clone(), runs.clone(), inner.clone());
            Init::custom(move |_| {
                runs.fetch_add(1, Ordering::SeqCst);
                let again = get_variable("v").shape([2usize]).graph(&g).build();
                *inner.lock().unwrap() = Some(again.map(|_| ()));
                Tensor::from_vec(vec![6.0f32, 6.0], [2])
            })
        };
        let t = {
            let (g, init) = (g.clone(), init.clone());
            thread::spawn(move || get(&g, Reuse::Auto, "v", init))
        };
        let mine = get(&g, Reuse::Auto, "v", init).unwrap();
        let theirs = t.join().unwrap().unwrap();
        assert!(mine == theirs);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        match inner.lock().unwrap().take() {
            Some(Err(Error::Reentrant { name })) => assert_eq!(name, "s/v"),
            other => panic!("expected Error::Reentrant, got {other:?}"),
        }
        assert_eq!(values(&mine), [6.0, 6.0]);
        assert_eq!(g.store().slot_count(), 1);
    });
}

/// The error's cycle, as names.
fn chain(e: &Error) -> Vec<&str> {
    match e {
        Error::Cycle { chain } => chain.iter().map(String::as_str).collect(),
        other => panic!("expected Error::Cycle, got {other}"),
    }
}

/// Two threads whose initializers each ask for the other's variable (`s/a` needs
/// `s/b`, `s/b` needs `s/a`, the inner requests with a plain initializer): when the
/// creations overlap, the thread whose wait would close the cycle gets `Cycle`
/// naming it, and the other completes (creating the second variable itself once
/// the first creation failed); otherwise both succeed. Never a deadlock; both
/// variables exist once and no slot is left behind.
#[test]
fn initializers_asking_for_each_other_from_two_threads() {
    loom::model(|| {
        let g = Graph::with_seed_and_shards(1, 2);
        let asking = |other: &'static str| {
            Init::custom(move |_| {
                get_variable(other)
                    .shape([2usize])
                    .initializer(Init::zeros())
                    .build()?;
                Tensor::from_vec(vec![1.0f32, 1.0], [2])
            })
        };
        let t = {
            let g = g.clone();
            thread::spawn(move || get(&g, Reuse::Auto, "b", asking("a")))
        };
        let a = get(&g, Reuse::Auto, "a", asking("b"));
        let b = t.join().unwrap();
        match (&a, &b) {
            (Ok(_), Ok(_)) => {}
            (Ok(_), Err(e)) => assert_eq!(chain(e), ["s/a", "s/b", "s/a"]),
            (Err(e), Ok(_)) => assert_eq!(chain(e), ["s/b", "s/a", "s/b"]),
            (Err(x), Err(y)) => panic!("both threads failed: {x}; {y}"),
        }
        assert_eq!(g.store().len(), 2);
        assert_eq!(g.store().slot_count(), 2);
        assert_eq!(g.global_variables().len(), 2);
    });
}

/// Planned (non-custom) initializers create through the direct path (the value goes
/// straight into the map, committed under the shard's creation lock): racing creators of one name
/// get one variable, registered once — one op name, one collection entry.
#[test]
fn planned_creations_race_to_one_variable() {
    loom::model(|| {
        let g = Graph::with_seed_and_shards(1, 1);
        let t = {
            let g = g.clone();
            thread::spawn(move || get(&g, Reuse::Auto, "v", Init::constant(1.0)))
        };
        let mine = get(&g, Reuse::Auto, "v", Init::constant(2.0)).unwrap();
        let theirs = t.join().unwrap().unwrap();
        assert!(mine == theirs, "both threads get the same variable");
        assert_eq!(mine.name(), "s/v:0", "the op name is taken once");
        let vals = values(&mine);
        assert!(vals == [1.0; 2] || vals == [2.0; 2], "{vals:?}");
        assert_eq!(g.store().len(), 1);
        assert_eq!(g.store().slot_count(), 1);
        assert_eq!(g.global_variables().len(), 1);
    });
}

/// `Reuse::No` through the direct path: one creator wins, the other gets
/// `AlreadyExists`, and nothing of the loser is registered.
#[test]
fn planned_create_race_has_one_winner() {
    loom::model(|| {
        let g = Graph::with_seed_and_shards(1, 1);
        let t = {
            let g = g.clone();
            thread::spawn(move || get(&g, Reuse::No, "v", Init::constant(1.0)))
        };
        let mine = get(&g, Reuse::No, "v", Init::constant(2.0));
        let theirs = t.join().unwrap();
        let (winner, loser) = match (mine, theirs) {
            (Ok(v), Err(e)) | (Err(e), Ok(v)) => (v, e),
            (a, b) => panic!("expected exactly one success, got {a:?} and {b:?}"),
        };
        assert_eq!(loser.kind(), ErrorKind::AlreadyExists, "{loser}");
        assert_eq!(winner.name(), "s/v:0");
        assert_eq!(g.store().len(), 1);
        assert_eq!(g.global_variables(), vec![winner]);
    });
}

/// A planned creation racing a custom one (slot protocol) of the same name: exactly
/// one creates, and the custom initializer runs only if its creation is the stored
/// one.
#[test]
fn planned_creation_racing_a_custom_one() {
    loom::model(|| {
        let g = Graph::with_seed_and_shards(1, 1);
        let runs = Arc::new(AtomicUsize::new(0));
        let t = {
            let (g, runs) = (g.clone(), runs.clone());
            thread::spawn(move || get(&g, Reuse::Auto, "v", counting([5.0, 6.0], &runs)))
        };
        let mine = get(&g, Reuse::Auto, "v", Init::constant(2.0)).unwrap();
        let theirs = t.join().unwrap().unwrap();
        assert!(mine == theirs, "both threads get the same variable");
        let custom_won = values(&mine) == [5.0, 6.0];
        if !custom_won {
            assert_eq!(values(&mine), [2.0, 2.0]);
        }
        assert_eq!(runs.load(Ordering::SeqCst), usize::from(custom_won));
        assert_eq!(mine.name(), "s/v:0");
        assert_eq!(g.store().len(), 1);
        assert_eq!(g.store().slot_count(), 1);
        assert_eq!(g.global_variables().len(), 1);
    });
}

/// A planned creation racing a failing custom one: the failure leaves nothing behind
/// and the planned creation stores its variable — after waiting for the failed slot
/// when it found it in the map.
#[test]
fn planned_creation_racing_a_failing_custom_one() {
    loom::model(|| {
        let g = Graph::with_seed_and_shards(1, 1);
        let t = {
            let g = g.clone();
            thread::spawn(move || seen(get(&g, Reuse::Auto, "v", failing())))
        };
        let mine = get(&g, Reuse::Auto, "v", Init::constant(3.0)).unwrap();
        let theirs = t.join().unwrap();
        assert_eq!(values(&mine), [3.0, 3.0]);
        match &theirs {
            Seen::Got(v) => {
                assert!(*v == mine);
                assert_eq!(mine.name(), "s/v:0");
            }
            // The failed initializer used up the op name if it ran first.
            Seen::Failed => assert!(["s/v:0", "s/v_1:0"].contains(&mine.name().as_str())),
            Seen::Panicked => panic!("nothing panics here"),
        }
        assert_eq!(g.store().len(), 1);
        assert_eq!(g.store().slot_count(), 1);
        assert_eq!(g.global_variables(), vec![mine]);
    });
}

/// A planned creation whose commit fails — its absolute op name (`x/` in scope `s`
/// is the op `s/x`) taken by another thread's op between its checks and its commit
/// — leaves nothing behind: nothing is stored or registered, and exactly one of the
/// two gets the name.
#[test]
fn failing_planned_commit_leaves_nothing() {
    loom::model(|| {
        let g = Graph::with_seed_and_shards(1, 1);
        let t = {
            let g = g.clone();
            thread::spawn(move || g.create_op("Const", Some("s/x/")))
        };
        let var = get(&g, Reuse::Auto, "x/", Init::constant(1.0));
        let op = t.join().unwrap();
        assert!(
            var.is_ok() != op.is_ok(),
            "one of them gets s/x: {var:?} / {op:?}"
        );
        let created = usize::from(var.is_ok());
        assert_eq!(g.store().len(), created);
        assert_eq!(g.store().slot_count(), created, "nothing is left");
        assert_eq!(g.global_variables().len(), created);
        if let Err(e) = var {
            assert!(e.to_string().contains("Duplicate node name"), "{e}");
        }
    });
}
