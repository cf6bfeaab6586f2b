//! Cycles, panics and guards: creations that wait for each other across threads get
//! `Error::Cycle` instead of deadlocking (variables, templates, random dependency
//! graphs among initializers), callbacks that read their own variable do not
//! deadlock, panicking callbacks are errors, and scope guards dropped out of order
//! leave a consistent stack. Every multi-threaded case runs under a watchdog that
//! fails the test instead of hanging.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::thread;
use std::time::Duration;
use varscope::{
    get_variable, get_variable_scope, make_template, name_scope_guard, variable_scope, Callback,
    Constraint, CustomGetter, Error, ErrorKind, Graph, Init, Regularizer, Result, Reuse, Template,
    Tensor, Variable,
};

/// Message of the deliberate panics below; the panic hook stays quiet for it.
const BOOM: &str = "deliberate cycles-test panic";

fn quiet_deliberate_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str));
            if msg != Some(BOOM) {
                default(info);
            }
        }));
    });
}

/// Runs `f` on its own thread and returns its result; fails the test when it has not
/// finished within a minute (a deadlock) instead of hanging.
fn watchdog<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(r) => r,
        Err(RecvTimeoutError::Timeout) => panic!("{what}: no result within 60 s (deadlock)"),
        Err(RecvTimeoutError::Disconnected) => panic!("{what}: the test thread panicked"),
    }
}

/// `get_variable(name)` of shape `[1]` in scope `s` (reuse `Auto`, no name scope).
fn get(g: &Graph, name: &str, init: Init) -> Result<Variable> {
    variable_scope("s")
        .reuse(Reuse::Auto)
        .auxiliary_name_scope(false)
        .graph(g)
        .enter(|_| get_variable(name).shape([1usize]).initializer(init).build())
}

fn one(x: f32) -> Result<Tensor> {
    Tensor::from_vec(vec![x], [1])
}

fn chain_of(e: &Error) -> Vec<String> {
    match e {
        Error::Cycle { chain } => chain.clone(),
        other => panic!("expected Error::Cycle, got {other}"),
    }
}

/// Two threads whose initializers each ask for the other's variable, both inside
/// their creation at once (a barrier): one gets `Cycle` naming the chain, the other
/// completes (creating the second variable itself once the first creation failed).
#[test]
fn two_initializers_asking_for_each_other_from_two_threads() {
    for round in 0..20 {
        let results = watchdog("two-thread variable cycle", move || {
            let g = Graph::with_seed(1);
            let barrier = Arc::new(Barrier::new(2));
            let asking = |other: &'static str| {
                let barrier = barrier.clone();
                Init::custom(move |_| {
                    barrier.wait();
                    get_variable(other)
                        .shape([1usize])
                        .initializer(Init::zeros())
                        .build()?;
                    one(1.0)
                })
            };
            let spawn = |name: &'static str, init: Init| {
                let g = g.clone();
                thread::spawn(move || get(&g, name, init))
            };
            let ta = spawn("a", asking("b"));
            let tb = spawn("b", asking("a"));
            let a = ta.join().unwrap();
            let b = tb.join().unwrap();
            let names: Vec<String> = g.store().entries().into_iter().map(|e| e.0).collect();
            (a, b, names)
        });
        let (a, b, names) = results;
        let expected = match (&a, &b) {
            (Ok(_), Err(e)) => {
                assert_eq!(e.kind(), ErrorKind::Cycle, "{e}");
                ["s/a", "s/b", "s/a"]
            }
            (Err(e), Ok(_)) => {
                assert_eq!(e.kind(), ErrorKind::Cycle, "{e}");
                ["s/b", "s/a", "s/b"]
            }
            other => panic!("round {round}: expected one cycle error, got {other:?}"),
        };
        let e = a.as_ref().err().or(b.as_ref().err()).unwrap();
        assert_eq!(chain_of(e), expected);
        assert!(e.to_string().contains(&expected.join(" -> ")), "{e}");
        assert_eq!(names, ["s/a", "s/b"], "both variables exist once");
    }
}

/// A chain of three threads (a → b → c → a) all inside their creations at once: the
/// last one to wait gets `Cycle` with the three names; nobody hangs; every variable
/// that could be created is.
#[test]
fn three_thread_cycle_is_reported_with_its_whole_chain() {
    let (results, names) = watchdog("three-thread cycle", || {
        let g = Graph::with_seed(1);
        let barrier = Arc::new(Barrier::new(3));
        let handles: Vec<_> = [("a", "b"), ("b", "c"), ("c", "a")]
            .into_iter()
            .map(|(me, other)| {
                let (g, barrier) = (g.clone(), barrier.clone());
                let init = Init::custom(move |_| {
                    barrier.wait();
                    get_variable(other)
                        .shape([1usize])
                        .initializer(Init::zeros())
                        .build()?;
                    one(1.0)
                });
                thread::spawn(move || get(&g, me, init))
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let names: Vec<String> = g.store().entries().into_iter().map(|e| e.0).collect();
        (results, names)
    });
    let errors: Vec<&Error> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(errors.len(), 1, "{results:?}");
    let chain = chain_of(errors[0]);
    assert_eq!(chain.len(), 4, "{chain:?}");
    assert_eq!(chain.first(), chain.last());
    let mut distinct = chain[..3].to_vec();
    distinct.sort();
    assert_eq!(distinct, ["s/a", "s/b", "s/c"]);
    assert_eq!(names, ["s/a", "s/b", "s/c"]);
}

/// Same-thread re-entrancy keeps its own error.
#[test]
fn same_thread_reentrancy_is_still_reentrant() {
    let g = Graph::with_seed(1);
    let inner = Arc::new(OnceLock::new());
    let init = {
        let inner = inner.clone();
        Init::custom(move |_| {
            let again = get_variable("v").shape([1usize]).build();
            let _ = inner.set(again.map(|_| ()));
            one(2.0)
        })
    };
    let v = get(&g, "v", init).unwrap();
    assert_eq!(v.value().unwrap().to_f64_vec(), [2.0]);
    match inner.get() {
        Some(Err(Error::Reentrant { name })) => assert_eq!(name, "s/v"),
        other => panic!("expected Reentrant, got {other:?}"),
    }
}

/// A template whose function (on its first run) waits at `barrier` and then calls
/// `other`, then gets `w`.
fn calling_template(
    g: &Graph,
    name: &str,
    barrier: &Arc<Barrier>,
    other: &Arc<OnceLock<Template<Variable>>>,
) -> Template<Variable> {
    let (barrier, other) = (barrier.clone(), other.clone());
    let runs = AtomicUsize::new(0);
    g.as_default(|| {
        make_template(name, move || {
            if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                barrier.wait();
                other.get().expect("set before the calls").call()?;
            }
            get_variable("w").shape([1usize]).build()
        })
        .create_scope_now(true)
        .build()
    })
    .unwrap()
}

/// Two templates whose first calls call each other, first-called from two threads
/// at once: one call gets `Cycle` (`x -> y -> x` or `y -> x -> y`), the other
/// completes; both templates are usable afterwards.
#[test]
fn templates_whose_first_calls_call_each_other_from_two_threads() {
    for round in 0..20 {
        let (rx, ry, later) = watchdog("two-thread template cycle", || {
            let g = Graph::with_seed(1);
            let barrier = Arc::new(Barrier::new(2));
            let (cx, cy) = (Arc::new(OnceLock::new()), Arc::new(OnceLock::new()));
            let x = calling_template(&g, "x", &barrier, &cy);
            let y = calling_template(&g, "y", &barrier, &cx);
            let _ = cx.set(x.clone());
            let _ = cy.set(y.clone());
            let spawn = |t: &Template<Variable>| {
                let (g, t) = (g.clone(), t.clone());
                thread::spawn(move || g.as_default(|| t.call()))
            };
            let (tx, ty) = (spawn(&x), spawn(&y));
            let (rx, ry) = (tx.join().unwrap(), ty.join().unwrap());
            let later = g.as_default(|| (x.call(), y.call()));
            // Break the templates' reference cycle through the cells.
            drop((x, y));
            (rx, ry, later)
        });
        let expected = match (&rx, &ry) {
            (Ok(_), Err(_)) => ["x", "y", "x"],
            (Err(_), Ok(_)) => ["y", "x", "y"],
            other => panic!("round {round}: expected one cycle error, got {other:?}"),
        };
        let e = rx.as_ref().err().or(ry.as_ref().err()).unwrap();
        assert_eq!(e.kind(), ErrorKind::Cycle, "{e}");
        assert_eq!(chain_of(e), expected);
        let (lx, ly) = later;
        assert_eq!(lx.unwrap().name(), "x/w:0");
        assert_eq!(ly.unwrap().name(), "y/w:0");
    }
}

/// A regularizer that reads its own variable (and a constraint that does) no
/// longer deadlocks on the variable's value lock.
#[test]
fn regularizer_and_constraint_reading_their_own_variable() {
    let (loss, constrained) = watchdog("self-reading regularizer", || {
        let g = Graph::with_seed(1);
        let cell: Arc<OnceLock<Variable>> = Arc::new(OnceLock::new());
        let reg = {
            let cell = cell.clone();
            Regularizer::new(move |t| {
                let own = cell.get().unwrap().value().unwrap().to_f64_vec()[0];
                own + t.to_f64_vec()[0]
            })
        };
        let con = {
            let cell = cell.clone();
            Constraint::new(move |t| {
                let own = cell.get().unwrap().value().unwrap().to_f64_vec()[0];
                Tensor::from_vec(vec![(own * 3.0 + t.to_f64_vec()[0]) as f32], [1]).unwrap()
            })
        };
        let v = g
            .as_default(|| {
                get_variable("w")
                    .shape([1usize])
                    .initializer(Init::ones())
                    .regularizer(reg)
                    .constraint(con)
                    .build()
            })
            .unwrap();
        let _ = cell.set(v.clone());
        let loss = g.regularization_losses()[0].value().unwrap();
        v.apply_constraint().unwrap();
        let constrained = v.value().unwrap().to_f64_vec();
        (loss, constrained)
    });
    assert_eq!(loss, 2.0);
    assert_eq!(constrained, [4.0]);
}

/// A panicking custom getter is `Error::Panicked` naming it and the variable; the
/// store and the scope stack are unchanged and later calls work.
#[test]
fn panicking_custom_getter_is_an_error() {
    quiet_deliberate_panics();
    let g = Graph::with_seed(1);
    g.as_default(|| {
        let boom = CustomGetter::new(|_, _| std::panic::panic_any(BOOM));
        let e = variable_scope("s")
            .custom_getter(boom)
            .enter(|_| get_variable("v").shape([1usize]).build())
            .unwrap_err();
        match &e {
            Error::Panicked {
                callback: Callback::CustomGetter,
                name,
                message,
            } => {
                assert_eq!(name, "s/v");
                assert_eq!(message, BOOM);
            }
            other => panic!("expected a custom getter panic, got {other}"),
        }
        assert_eq!(e.kind(), ErrorKind::Panicked);
        assert!(g.store().is_empty());
        assert_eq!(get_variable_scope().name(), "");
        assert_eq!(g.name_stack(), "");
        // A getter calling a panicking one sees an error it can handle.
        let seen = Arc::new(Mutex::new(None));
        let handler = {
            let seen = seen.clone();
            CustomGetter::new(move |next, args| {
                let r = next.get(args);
                if let Err(e) = &r {
                    *seen.lock().unwrap() = Some(e.kind());
                }
                r
            })
        };
        let boom = CustomGetter::new(|_, _| std::panic::panic_any(BOOM));
        let e = variable_scope("t")
            .custom_getter(boom)
            .enter(|_| {
                variable_scope("u")
                    .custom_getter(handler)
                    .enter(|_| get_variable("v").shape([1usize]).build())
            })
            .unwrap_err();
        assert!(
            matches!(&e, Error::Panicked { name, .. } if name == "t/u/v"),
            "{e}"
        );
        assert_eq!(*seen.lock().unwrap(), Some(ErrorKind::Panicked));
        assert!(g.store().is_empty());
        let v = variable_scope("s")
            .enter(|_| get_variable("v").shape([1usize]).build())
            .unwrap();
        assert_eq!(v.name(), "s/v:0");
    });
}

/// Panicking regularizers and constraints are errors; the value stays as it was.
#[test]
fn panicking_regularizer_and_constraint_are_errors() {
    quiet_deliberate_panics();
    let g = Graph::with_seed(1);
    let v = g
        .as_default(|| {
            get_variable("w")
                .shape([2usize])
                .initializer(Init::ones())
                .regularizer(Regularizer::new(|_| std::panic::panic_any(BOOM)))
                .constraint(Constraint::new(|_| std::panic::panic_any(BOOM)))
                .build()
        })
        .unwrap();
    let e = g.regularization_losses()[0].value().unwrap_err();
    assert!(
        matches!(&e, Error::Panicked { callback: Callback::Regularizer, name, message } if name == "w" && message == BOOM),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        format!("regularizer of variable w panicked: {BOOM}")
    );
    let e = v.apply_constraint().unwrap_err();
    assert!(
        matches!(&e, Error::Panicked { callback: Callback::Constraint, name, .. } if name == "w"),
        "{e}"
    );
    assert_eq!(v.value().unwrap().to_f64_vec(), [1.0, 1.0]);
    // Still usable.
    assert_eq!(g.regularization_losses().len(), 1);
    assert_eq!(g.store().len(), 1);
}

/// A template function panicking in its first call leaves the template uncalled
/// and the store unchanged; panicking in a later call is an error too, and the next
/// call works.
#[test]
fn panicking_template_function_is_an_error_on_first_and_later_calls() {
    quiet_deliberate_panics();
    let g = Graph::with_seed(1);
    let runs = Arc::new(AtomicUsize::new(0));
    let t = {
        let runs = runs.clone();
        g.as_default(|| {
            make_template("t", move || {
                let n = runs.fetch_add(1, Ordering::SeqCst);
                if n == 0 {
                    std::panic::panic_any(BOOM);
                }
                let v = get_variable("w").shape([1usize]).build()?;
                if n == 2 {
                    std::panic::panic_any(BOOM);
                }
                Ok(v)
            })
            .build()
        })
        .unwrap()
    };
    g.as_default(|| {
        let e = t.call().unwrap_err();
        assert!(
            matches!(&e, Error::Panicked { callback: Callback::Template, name, message } if name == "t" && message == BOOM),
            "{e}"
        );
        assert_eq!(get_variable_scope().name(), "");
        let first = t.call().unwrap();
        let e = t.call().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Panicked, "{e}");
        assert_eq!(t.call().unwrap(), first);
        assert_eq!(get_variable_scope().name(), "");
        assert_eq!(g.name_stack(), "");
    });
}

/// Dropping an outer guard before the inner ones neither panics nor leaves a scope
/// stuck: the stack returns to what it was before the outer guard, and the inner
/// guards' drops (or closes) do nothing.
#[test]
fn dropping_an_outer_guard_first_unwinds_the_stack() {
    let g = Graph::with_seed(1);
    g.as_default(|| {
        let a = variable_scope("a").guard().unwrap();
        let b = variable_scope("b").guard().unwrap();
        let ns = name_scope_guard("ns").unwrap();
        let c = variable_scope("c").guard().unwrap();
        assert_eq!(get_variable_scope().name(), "a/b/c");
        assert_eq!(g.name_stack(), "a/b/ns/c");
        // Middle guard first: back to `a`.
        drop(b);
        assert_eq!(get_variable_scope().name(), "a");
        assert_eq!(g.name_stack(), "a");
        drop(c);
        assert!(ns.close().is_ok(), "an unwound guard closes as a no-op");
        assert_eq!(get_variable_scope().name(), "a");
        let v = get_variable("v").shape([1usize]).build().unwrap();
        assert_eq!(v.name(), "a/v:0");
        // Outer guard with an inner one still open.
        let inner = variable_scope("inner").guard().unwrap();
        let ns2 = name_scope_guard("n2").unwrap();
        drop(a);
        assert_eq!(get_variable_scope().name(), "");
        assert_eq!(g.name_stack(), "");
        drop(ns2);
        drop(inner);
        assert_eq!(get_variable_scope().name(), "");
        // The thread is not stuck: scopes open and close normally.
        let w = variable_scope("a")
            .enter(|_| get_variable("w").shape([1usize]).build())
            .unwrap();
        assert_eq!(w.name(), "a/w:0");
        assert_eq!(get_variable_scope().name(), "");
        // A name scope guard dropped before the variable scope opened inside it.
        let n = name_scope_guard("outer_ns").unwrap();
        let s = variable_scope("vs").guard().unwrap();
        drop(n);
        assert_eq!(g.name_stack(), "");
        assert_eq!(get_variable_scope().name(), "");
        drop(s);
        assert_eq!(get_variable_scope().name(), "");
    });
}

/// A small deterministic generator (xorshift64*), so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Dependencies among `n` variables: `deps[i]` lists the variables `i`'s
/// initializer asks for. Acyclic: only higher indices; else any other index, plus a
/// forced cycle through a few of them.
fn random_deps(rng: &mut Rng, n: usize, acyclic: bool) -> Vec<Vec<usize>> {
    let mut deps: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            (0..n)
                .filter(|&j| if acyclic { j > i } else { j != i })
                .filter(|_| rng.chance(if acyclic { 20 } else { 8 }))
                .collect()
        })
        .collect();
    if !acyclic {
        let len = 2 + rng.below(3);
        let members: Vec<usize> = (0..len).map(|_| rng.below(n)).collect();
        for w in 0..len {
            let (from, to) = (members[w], members[(w + 1) % len]);
            if from != to && !deps[from].contains(&to) {
                deps[from].push(to);
            }
        }
    }
    deps
}

/// For each variable, whether a dependency cycle is reachable from it (then its
/// creation can never succeed when initializers pass errors on).
fn doomed(deps: &[Vec<usize>]) -> Vec<bool> {
    let n = deps.len();
    let mut reach = vec![vec![false; n]; n];
    for (i, d) in deps.iter().enumerate() {
        for &j in d {
            reach[i][j] = true;
        }
    }
    // Warshall's transitive closure: row i gains row k whenever i reaches k.
    for k in 0..n {
        let via = reach[k].clone();
        for row in reach.iter_mut() {
            if row[k] {
                for (r, v) in row.iter_mut().zip(&via) {
                    *r |= *v;
                }
            }
        }
    }
    (0..n)
        .map(|i| reach[i][i] || (0..n).any(|k| reach[i][k] && reach[k][k]))
        .collect()
}

/// What one random dependency-graph case observed.
struct Case {
    /// Per thread, per requested variable: the result.
    results: Vec<Vec<(usize, Result<Variable>)>>,
    runs: Vec<usize>,
    stored: Vec<String>,
    cycles_seen: usize,
}

/// Runs `threads` threads, each requesting every variable in its own random order;
/// variable `i`'s initializer counts its run, then asks for `deps[i]` (passing
/// their errors on, or — `tolerant` — ignoring `Cycle`/`Reentrant` ones).
fn run_case(seed: u64, deps: Vec<Vec<usize>>, threads: usize, tolerant: bool) -> Case {
    let n = deps.len();
    let g = Graph::with_seed(seed);
    let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect());
    let cycles_seen = Arc::new(AtomicUsize::new(0));
    let deps = Arc::new(deps);
    // Every request of `v{i}`, outer or nested, passes initializer `i`.
    let table: Arc<Mutex<Vec<Init>>> = Arc::new(Mutex::new(Vec::new()));
    let inits: Vec<Init> = (0..n)
        .map(|i| {
            let (runs, deps, cycles_seen, table) = (
                runs.clone(),
                deps.clone(),
                cycles_seen.clone(),
                table.clone(),
            );
            Init::custom(move |_| {
                runs[i].fetch_add(1, Ordering::SeqCst);
                for &j in &deps[i] {
                    let init = table.lock().unwrap()[j].clone();
                    let r = get_variable(&format!("v{j}"))
                        .shape([1usize])
                        .initializer(init)
                        .build();
                    if let Err(e) = r {
                        if e.kind() == ErrorKind::Cycle {
                            cycles_seen.fetch_add(1, Ordering::SeqCst);
                        }
                        let benign = matches!(e.kind(), ErrorKind::Cycle | ErrorKind::Reentrant);
                        if !(tolerant && benign) {
                            return Err(e);
                        }
                    }
                }
                one(i as f32)
            })
        })
        .collect();
    *table.lock().unwrap() = inits;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (g, table, barrier) = (g.clone(), table.clone(), barrier.clone());
            let mut rng = Rng(seed ^ (t as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let mut order: Vec<usize> = (0..n).collect();
            for k in (1..n).rev() {
                order.swap(k, rng.below(k + 1));
            }
            thread::spawn(move || {
                barrier.wait();
                order
                    .into_iter()
                    .map(|i| {
                        let init = table.lock().unwrap()[i].clone();
                        (i, get(&g, &format!("v{i}"), init))
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results = handles.into_iter().map(|h| h.join().unwrap()).collect();
    // Break the initializers' reference cycle through the table.
    table.lock().unwrap().clear();
    Case {
        results,
        runs: runs.iter().map(|r| r.load(Ordering::SeqCst)).collect(),
        stored: g.store().entries().into_iter().map(|e| e.0).collect(),
        cycles_seen: cycles_seen.load(Ordering::SeqCst),
    }
}

fn names_of(indices: impl Iterator<Item = usize>) -> Vec<String> {
    let mut v: Vec<String> = indices.map(|i| format!("s/v{i}")).collect();
    v.sort();
    v
}

/// Random acyclic dependency graphs among initializers, requested by many threads
/// in random orders: every request succeeds and every variable is created exactly
/// once.
#[test]
fn random_acyclic_dependencies_all_complete_exactly_once() {
    for seed in 1..=12u64 {
        let case = watchdog("acyclic dependency graph", move || {
            let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
            let deps = random_deps(&mut rng, 24, true);
            run_case(seed, deps, 12, false)
        });
        for per_thread in &case.results {
            for (i, r) in per_thread {
                let v = r
                    .as_ref()
                    .unwrap_or_else(|e| panic!("seed {seed}: v{i}: {e}"));
                assert_eq!(v.value().unwrap().to_f64_vec(), [*i as f64]);
            }
        }
        assert!(
            case.runs.iter().all(|&r| r == 1),
            "seed {seed}: runs {:?}",
            case.runs
        );
        assert_eq!(case.stored, names_of(0..24), "seed {seed}");
        assert_eq!(
            case.cycles_seen, 0,
            "seed {seed}: no cycle in an acyclic graph"
        );
    }
}

/// Random cyclic dependency graphs, initializers passing errors on: a variable
/// succeeds exactly when no dependency cycle is reachable from it (then it is
/// created once); the others fail with `Cycle` or `Reentrant` on every thread —
/// and nothing hangs.
#[test]
fn random_cyclic_dependencies_fail_cleanly_and_never_hang() {
    let mut total_cycles = 0;
    for seed in 1..=12u64 {
        let (case, deps) = watchdog("cyclic dependency graph", move || {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let deps = random_deps(&mut rng, 16, false);
            (run_case(seed, deps.clone(), 12, false), deps)
        });
        let doomed = doomed(&deps);
        assert!(doomed.iter().any(|&d| d), "seed {seed}: a cycle was forced");
        for per_thread in &case.results {
            for (i, r) in per_thread {
                match r {
                    Ok(v) => {
                        assert!(!doomed[*i], "seed {seed}: v{i} cannot be created");
                        assert_eq!(v.value().unwrap().to_f64_vec(), [*i as f64]);
                    }
                    Err(e) => {
                        assert!(doomed[*i], "seed {seed}: v{i} failed: {e}");
                        assert!(
                            matches!(e.kind(), ErrorKind::Cycle | ErrorKind::Reentrant),
                            "seed {seed}: v{i}: {e}"
                        );
                    }
                }
            }
        }
        for (i, &r) in case.runs.iter().enumerate() {
            if !doomed[i] {
                assert_eq!(r, 1, "seed {seed}: v{i} created once");
            }
        }
        let ok = (0..16).filter(|&i| !doomed[i]);
        assert_eq!(case.stored, names_of(ok), "seed {seed}");
        total_cycles += case.cycles_seen;
    }
    println!("cycle errors observed: {total_cycles}");
}

/// Random cyclic dependency graphs whose initializers go on without a dependency
/// that reports `Cycle` or `Reentrant`: every request on every thread succeeds and
/// every variable is created exactly once.
#[test]
fn random_cyclic_dependencies_with_tolerant_initializers_all_complete() {
    let mut total_cycles = 0;
    for seed in 1..=12u64 {
        let case = watchdog("tolerant cyclic dependency graph", move || {
            let mut rng = Rng(seed.wrapping_mul(0xd1b5_4a32_d192_ed03) | 1);
            let deps = random_deps(&mut rng, 16, false);
            run_case(seed, deps, 12, true)
        });
        for per_thread in &case.results {
            for (i, r) in per_thread {
                let v = r
                    .as_ref()
                    .unwrap_or_else(|e| panic!("seed {seed}: v{i}: {e}"));
                assert_eq!(v.value().unwrap().to_f64_vec(), [*i as f64]);
            }
        }
        assert!(
            case.runs.iter().all(|&r| r == 1),
            "seed {seed}: runs {:?}",
            case.runs
        );
        assert_eq!(case.stored, names_of(0..16), "seed {seed}");
        total_cycles += case.cycles_seen;
    }
    println!("cycle errors observed: {total_cycles}");
}

/// 64 threads forming 32 two-thread cycles at once (each pair on its own two names,
/// all in one graph): every pair ends with exactly one `Cycle` error naming its own
/// two names, and every variable exists once.
#[test]
fn many_concurrent_two_thread_cycles() {
    const PAIRS: usize = 32;
    let (results, stored) = watchdog("32 concurrent cycles", || {
        let g = Graph::with_seed(1);
        let barriers: Vec<Arc<Barrier>> = (0..PAIRS).map(|_| Arc::new(Barrier::new(2))).collect();
        let handles: Vec<_> = (0..PAIRS * 2)
            .map(|t| {
                let (pair, side) = (t / 2, t % 2);
                let (me, other) = (format!("p{pair}_{side}"), format!("p{pair}_{}", 1 - side));
                let (g, barrier) = (g.clone(), barriers[pair].clone());
                let init = Init::custom(move |_| {
                    barrier.wait();
                    get_variable(&other)
                        .shape([1usize])
                        .initializer(Init::zeros())
                        .build()?;
                    one(1.0)
                });
                thread::spawn(move || get(&g, &me, init))
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        (results, g.store().len())
    });
    for pair in 0..PAIRS {
        let (r0, r1) = (&results[2 * pair], &results[2 * pair + 1]);
        let (e, failed) = match (r0, r1) {
            (Err(e), Ok(_)) => (e, 0),
            (Ok(_), Err(e)) => (e, 1),
            other => panic!("pair {pair}: expected one cycle error, got {other:?}"),
        };
        let (a, b) = (
            format!("s/p{pair}_{failed}"),
            format!("s/p{pair}_{}", 1 - failed),
        );
        assert_eq!(chain_of(e), [b.clone(), a, b], "pair {pair}");
    }
    assert_eq!(stored, PAIRS * 2);
}
