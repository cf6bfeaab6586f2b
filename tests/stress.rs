//! Real-thread stress tests of the cross-thread guarantees (the loom models in
//! `loom-tests/` prove them on small shapes; these hammer the real `std` build):
//! get-or-create from many threads, creation races (planned and custom initializers),
//! op-name uniquification, readers racing creators, failing and panicking
//! initializers under contention, and captured scopes re-entered from many threads.
//! Every thread starts at a `Barrier`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use varscope::{
    get_variable, variable_scope, variable_scope_default, Error, ErrorKind, Graph, Init, Result,
    Reuse, Tensor, Variable, VariableScope,
};

/// Message of the deliberate panics below; the panic hook stays quiet for it.
const BOOM: &str = "deliberate stress panic";

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

/// Per-name run counters.
fn counters(n: usize) -> Arc<Vec<AtomicUsize>> {
    Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect())
}

/// A custom initializer for name number `i`: counts its run in `runs[i]` and fills
/// `len` elements with `i` (so a reader can tell a complete value).
fn counted_init(runs: &Arc<Vec<AtomicUsize>>, i: usize, len: usize) -> Init {
    let runs = runs.clone();
    Init::custom(move |_| {
        runs[i].fetch_add(1, Ordering::SeqCst);
        Tensor::from_vec(vec![i as f32; len], [len])
    })
}

/// Runs `f` on `n` threads started together at a barrier; returns their results in
/// thread order.
fn on_threads<R: Send + 'static>(
    n: usize,
    f: impl Fn(usize) -> R + Send + Sync + 'static,
) -> Vec<R> {
    let f = Arc::new(f);
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|t| {
            let (f, barrier) = (f.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                f(t)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("stress thread panicked"))
        .collect()
}

/// `get_variable("v{i}")` of shape `[len]` in scope `s` of `g` with `reuse`.
fn get_in(g: &Graph, reuse: Reuse, i: usize, len: usize, init: Init) -> Result<Variable> {
    variable_scope("s")
        .reuse(reuse)
        .auxiliary_name_scope(false)
        .graph(g)
        .enter(|_| {
            get_variable(&format!("v{i}"))
                .shape([len])
                .initializer(init)
                .build()
        })
}

#[test]
fn auto_get_or_create_runs_each_initializer_once() {
    const NAMES: usize = 64;
    const CALLS_PER_THREAD: usize = 2048;
    for threads in [2, 4, 8, 16] {
        let g = Graph::with_seed(7);
        let runs = counters(NAMES);
        let seen = {
            let (g, runs) = (g.clone(), runs.clone());
            on_threads(threads, move |t| {
                let mut first: Vec<Option<Variable>> = vec![None; NAMES];
                g.as_default(|| {
                    variable_scope("s")
                        .reuse(Reuse::Auto)
                        .auxiliary_name_scope(false)
                        .enter(|_| {
                            for k in 0..CALLS_PER_THREAD {
                                // Each thread walks the names in its own order.
                                let i = (k * (2 * t + 1) + t) % NAMES;
                                let v = get_variable(&format!("v{i}"))
                                    .shape([4usize])
                                    .initializer(counted_init(&runs, i, 4))
                                    .build()
                                    .unwrap();
                                match &first[i] {
                                    Some(f) => assert!(*f == v, "one handle per name"),
                                    None => first[i] = Some(v),
                                }
                            }
                        })
                        .unwrap()
                });
                first
            })
        };
        for i in 0..NAMES {
            assert_eq!(runs[i].load(Ordering::SeqCst), 1, "v{i}, {threads} threads");
            let handles: Vec<&Variable> = seen.iter().filter_map(|s| s[i].as_ref()).collect();
            assert!(!handles.is_empty());
            assert!(handles.iter().all(|v| **v == *handles[0]), "v{i}");
            assert_eq!(handles[0].name(), format!("s/v{i}:0"));
            assert_eq!(handles[0].value().unwrap().to_f64_vec(), [i as f64; 4]);
        }
        assert_eq!(g.store().len(), NAMES);
        assert_eq!(g.store().slot_count(), NAMES);
        assert_eq!(g.global_variables().len(), NAMES);
    }
}

#[test]
fn creation_races_have_exactly_one_winner_per_name() {
    const NAMES: usize = 256;
    const THREADS: usize = 8;
    for _round in 0..5 {
        let g = Graph::with_seed(7);
        let runs = counters(NAMES);
        let results = {
            let (g, runs) = (g.clone(), runs.clone());
            on_threads(THREADS, move |t| {
                (0..NAMES)
                    .map(|k| {
                        let i = (k + t * 31) % NAMES;
                        let r = get_in(&g, Reuse::No, i, 2, counted_init(&runs, i, 2));
                        (i, r)
                    })
                    .collect::<Vec<_>>()
            })
        };
        let mut winners = vec![0usize; NAMES];
        let mut losers = 0;
        for (i, r) in results.into_iter().flatten() {
            match r {
                Ok(v) => {
                    winners[i] += 1;
                    assert_eq!(v.name(), format!("s/v{i}:0"));
                }
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
                    losers += 1;
                }
            }
        }
        assert!(winners.iter().all(|&w| w == 1), "{winners:?}");
        assert_eq!(losers, NAMES * (THREADS - 1));
        assert!(runs.iter().all(|r| r.load(Ordering::SeqCst) == 1));
        assert_eq!(g.store().len(), NAMES);
        assert_eq!(g.store().slot_count(), NAMES);
        assert_eq!(g.global_variables().len(), NAMES);
    }
}

/// Planned initializers create through the store's direct path, custom ones through
/// the slot protocol; mixed on the same names from many threads (even threads
/// planned, odd ones custom; `Reuse::No` and `Reuse::Auto` alternating by name),
/// every name ends up as one variable with one op name and one collection entry,
/// and each custom initializer ran only if its creation is the stored one.
#[test]
fn planned_and_custom_creations_race_on_the_same_names() {
    const NAMES: usize = 256;
    const THREADS: usize = 8;
    for _round in 0..4 {
        let g = Graph::with_seed(7);
        let runs = counters(NAMES);
        let results = {
            let (g, runs) = (g.clone(), runs.clone());
            on_threads(THREADS, move |t| {
                (0..NAMES)
                    .map(|k| {
                        let i = (k * 7 + t * 31) % NAMES;
                        let reuse = if i % 2 == 0 { Reuse::No } else { Reuse::Auto };
                        let init = if t % 2 == 0 {
                            // Planned: the value tells the creating thread apart.
                            Init::constant(1000.0 + i as f64)
                        } else {
                            counted_init(&runs, i, 2)
                        };
                        (i, get_in(&g, reuse, i, 2, init))
                    })
                    .collect::<Vec<_>>()
            })
        };
        let mut handles: Vec<Option<Variable>> = vec![None; NAMES];
        let mut created = vec![0usize; NAMES];
        for (i, r) in results.into_iter().flatten() {
            match r {
                Ok(v) => {
                    assert_eq!(v.name(), format!("s/v{i}:0"), "one op name per variable");
                    match &handles[i] {
                        Some(h) => assert!(*h == v, "one variable per name (v{i})"),
                        None => handles[i] = Some(v),
                    }
                    created[i] += 1;
                }
                Err(e) => {
                    assert_eq!(i % 2, 0, "only Reuse::No calls fail: {e}");
                    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
                }
            }
        }
        for i in 0..NAMES {
            let v = handles[i].as_ref().expect("every name was created");
            if i % 2 == 0 {
                assert_eq!(created[i], 1, "exactly one winner for v{i}");
            } else {
                assert_eq!(created[i], THREADS, "every Auto call gets v{i}");
            }
            let value = v.value().unwrap().to_f64_vec();
            let custom = runs[i].load(Ordering::SeqCst);
            if value == [i as f64; 2] {
                assert_eq!(custom, 1, "the stored custom creation ran once (v{i})");
            } else {
                assert_eq!(value, [1000.0 + i as f64; 2], "v{i}");
                assert_eq!(custom, 0, "a custom initializer ran for a planned v{i}");
            }
        }
        assert_eq!(g.store().len(), NAMES);
        assert_eq!(g.store().slot_count(), NAMES);
        assert_eq!(g.global_variables().len(), NAMES);
    }
}

#[test]
fn concurrent_op_creation_never_duplicates_a_name() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 1250;
    let g = Graph::with_seed(7);
    let names = {
        let g = g.clone();
        on_threads(THREADS, move |t| {
            (0..PER_THREAD)
                .map(|k| {
                    // Mix default op names, an explicit name, and a name that differs
                    // only by case (uniquified case-insensitively, as in TF).
                    let name = match (t + k) % 3 {
                        0 => None,
                        1 => Some("Add"),
                        _ => Some("ADD"),
                    };
                    g.create_op("Const", name).unwrap()
                })
                .collect::<Vec<_>>()
        })
    };
    let all: Vec<String> = names.into_iter().flatten().collect();
    assert_eq!(all.len(), THREADS * PER_THREAD);
    let lower: HashSet<String> = all.iter().map(|n| n.to_lowercase()).collect();
    assert_eq!(lower.len(), all.len(), "a duplicate op name");
    let ops = g.ops();
    assert_eq!(ops.len(), 10_000);
    let recorded: HashSet<&str> = ops.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(recorded.len(), 10_000);
    assert!(all.iter().all(|n| recorded.contains(n.as_str())));
}

#[test]
fn readers_racing_creators_only_see_complete_values() {
    const NAMES: usize = 128;
    const LEN: usize = 256;
    const CREATORS: usize = 4;
    const READERS: usize = 4;
    for _round in 0..5 {
        let g = Graph::with_seed(7);
        let runs = counters(NAMES);
        let not_found = Arc::new(AtomicUsize::new(0));
        let found = {
            let (g, runs, not_found) = (g.clone(), runs.clone(), not_found.clone());
            on_threads(CREATORS + READERS, move |t| {
                let mut found = Vec::new();
                if t < CREATORS {
                    for k in 0..NAMES {
                        let i = (k * (t + 1)) % NAMES;
                        let i = if t % 2 == 0 { i } else { NAMES - 1 - i };
                        let v =
                            get_in(&g, Reuse::Auto, i, LEN, counted_init(&runs, i, LEN)).unwrap();
                        found.push((i, v));
                    }
                    // A creator may have skipped names (k*(t+1) is not a permutation for
                    // every t); make sure every name gets created.
                    for i in 0..NAMES {
                        let v =
                            get_in(&g, Reuse::Auto, i, LEN, counted_init(&runs, i, LEN)).unwrap();
                        found.push((i, v));
                    }
                } else {
                    for k in 0..NAMES {
                        let i = (k + t * 17) % NAMES;
                        let v = loop {
                            if let Some(any) = g.store().get(&format!("s/v{i}")) {
                                let v = any.into_single().unwrap();
                                assert_eq!(v.value().unwrap().to_f64_vec(), vec![i as f64; LEN]);
                            }
                            match get_in(&g, Reuse::Yes, i, LEN, Init::zeros()) {
                                Ok(v) => break v,
                                Err(e) => {
                                    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
                                    not_found.fetch_add(1, Ordering::Relaxed);
                                    thread::yield_now();
                                }
                            }
                        };
                        assert_eq!(v.value().unwrap().to_f64_vec(), vec![i as f64; LEN]);
                        found.push((i, v));
                    }
                }
                found
            })
        };
        let mut canonical: Vec<Option<Variable>> = vec![None; NAMES];
        for (i, v) in found.into_iter().flatten() {
            match &canonical[i] {
                Some(c) => assert!(*c == v, "v{i}: readers and creators agree"),
                None => canonical[i] = Some(v),
            }
        }
        assert!(canonical.iter().all(Option::is_some));
        assert!(runs.iter().all(|r| r.load(Ordering::SeqCst) == 1));
        assert_eq!(g.store().len(), NAMES);
        assert_eq!(g.store().slot_count(), NAMES);
        // Not asserted: how often a reader came too early depends on scheduling.
        let _ = not_found.load(Ordering::Relaxed);
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

fn check_failure(e: &Error) {
    match e {
        Error::Initializer { message, .. } => assert_eq!(message, "no value"),
        Error::InitializerPanicked { message, .. } => assert_eq!(message, BOOM),
        other => panic!("unexpected error {other}"),
    }
}

#[test]
fn failing_and_panicking_initializers_under_contention() {
    quiet_deliberate_panics();
    const NAMES: usize = 64;
    const THREADS: usize = 8;
    for _round in 0..3 {
        let g = Graph::with_seed(7);

        // Phase 1: every thread's initializer fails or panics. Nothing is created and no
        // slot is left behind.
        let results = {
            let g = g.clone();
            on_threads(THREADS, move |t| {
                (0..NAMES)
                    .map(|i| {
                        let init = if (t + i) % 2 == 0 {
                            failing()
                        } else {
                            panicking()
                        };
                        get_in(&g, Reuse::Auto, i, 2, init)
                    })
                    .collect::<Vec<_>>()
            })
        };
        for r in results.iter().flatten() {
            check_failure(r.as_ref().unwrap_err());
        }
        assert_eq!(g.store().slot_count(), 0, "no stale slot after failures");
        assert_eq!(g.store().len(), 0);
        assert!(g.global_variables().is_empty());
        assert!(g.all_variables().is_empty());

        // Phase 2: a third of the threads still fail or panic, the rest create with
        // `Reuse::No`. Exactly one creation per name succeeds; the other good creators
        // get AlreadyExists, the bad ones their own failure or AlreadyExists.
        let runs = counters(NAMES);
        let results = {
            let (g, runs) = (g.clone(), runs.clone());
            on_threads(THREADS, move |t| {
                (0..NAMES)
                    .map(|i| {
                        let init = match t % 3 {
                            0 => failing(),
                            1 => panicking(),
                            _ => counted_init(&runs, i, 2),
                        };
                        (i, t % 3 == 2, get_in(&g, Reuse::No, i, 2, init))
                    })
                    .collect::<Vec<_>>()
            })
        };
        let mut successes = vec![0usize; NAMES];
        for (i, good, r) in results.into_iter().flatten() {
            match r {
                Ok(v) => {
                    assert!(good, "only a working initializer creates");
                    assert_eq!(v.value().unwrap().to_f64_vec(), [i as f64; 2]);
                    successes[i] += 1;
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => {
                    assert!(!good, "a working initializer only fails with AlreadyExists");
                    check_failure(&e);
                }
            }
        }
        assert!(successes.iter().all(|&s| s == 1), "{successes:?}");
        assert!(runs.iter().all(|r| r.load(Ordering::SeqCst) == 1));
        assert_eq!(g.store().len(), NAMES);
        assert_eq!(g.store().slot_count(), NAMES);
        assert_eq!(g.global_variables().len(), NAMES);
        // As in TF, every attempt whose initializer ran used up an op name (`v0`,
        // `v0_1`, …): the variable is stored under its name and named after the
        // attempts before it.
        for i in 0..NAMES {
            let v = g
                .store()
                .get(&format!("s/v{i}"))
                .unwrap()
                .into_single()
                .unwrap();
            assert_eq!(v.store_key(), Some(format!("s/v{i}").as_str()));
            let name = v.name();
            let suffix = name
                .strip_prefix(&format!("s/v{i}"))
                .and_then(|r| r.strip_suffix(":0"))
                .unwrap_or_else(|| panic!("{name}"));
            assert!(
                suffix.is_empty()
                    || suffix
                        .strip_prefix('_')
                        .is_some_and(|n| n.parse::<usize>().is_ok()),
                "{name}"
            );
        }
    }
}

#[test]
fn repeated_failures_on_few_names_leave_no_slot() {
    quiet_deliberate_panics();
    const THREADS: usize = 8;
    const ATTEMPTS: usize = 2000;
    let g = Graph::with_seed(7);
    let results = {
        let g = g.clone();
        on_threads(THREADS, move |t| {
            (0..ATTEMPTS)
                .map(|k| {
                    let init = if (t + k) % 2 == 0 {
                        failing()
                    } else {
                        panicking()
                    };
                    get_in(&g, Reuse::Auto, k % 2, 2, init)
                })
                .collect::<Vec<_>>()
        })
    };
    for r in results.iter().flatten() {
        check_failure(r.as_ref().unwrap_err());
    }
    assert_eq!(g.store().slot_count(), 0, "no stale slot after failures");
    assert_eq!(g.store().len(), 0);
    // Each name saw THREADS * ATTEMPTS / 2 failed attempts, each of which used up an
    // op name as in TF (`v0`, `v0_1`, …), so the variable is the next one.
    let runs = counters(2);
    for i in 0..2 {
        let v = get_in(&g, Reuse::No, i, 2, counted_init(&runs, i, 2)).unwrap();
        assert_eq!(v.store_key(), Some(format!("s/v{i}").as_str()));
        assert_eq!(v.name(), format!("s/v{i}_{}:0", THREADS * ATTEMPTS / 2));
    }
    assert_eq!(g.store().slot_count(), 2);
}

#[test]
fn captured_scopes_reentered_from_many_threads() {
    const THREADS: usize = 8;
    const ROUNDS: usize = 50;
    let g = Graph::with_seed(7);
    let (enc, dec): (VariableScope, VariableScope) = g.as_default(|| {
        let enc = variable_scope("model")
            .enter(|_| variable_scope("enc").enter(|s| s.clone()).unwrap())
            .unwrap();
        let dec = variable_scope("dec").enter(|s| s.clone()).unwrap();
        (enc, dec)
    });
    let runs = counters(4);
    let per_thread = {
        let (g, runs, enc, dec) = (g.clone(), runs.clone(), enc.clone(), dec.clone());
        on_threads(THREADS, move |_| {
            g.as_default(|| {
                let mut out = Vec::new();
                for _ in 0..ROUNDS {
                    for (s, scope) in [&enc, &dec].into_iter().enumerate() {
                        let got = variable_scope(scope)
                            .reuse(Reuse::Auto)
                            .enter(|inside| {
                                let w = get_variable("w")
                                    .shape([2usize])
                                    .initializer(counted_init(&runs, 2 * s, 2))
                                    .build()
                                    .unwrap();
                                // Default names count per thread and per entry.
                                let (blk, b) = variable_scope_default("blk")
                                    .enter(|blk| {
                                        let b = get_variable("b")
                                            .shape([2usize])
                                            .initializer(counted_init(&runs, 2 * s + 1, 2))
                                            .build()
                                            .unwrap();
                                        (blk.name(), b)
                                    })
                                    .unwrap();
                                (inside.name(), w, blk, b)
                            })
                            .unwrap();
                        out.push(got);
                    }
                }
                out
            })
        })
    };
    let expected = [
        (
            "model/enc",
            "model/enc/w:0",
            "model/enc/blk",
            "model/enc/blk/b:0",
        ),
        ("dec", "dec/w:0", "dec/blk", "dec/blk/b:0"),
    ];
    let reference = &per_thread[0];
    for out in &per_thread {
        assert_eq!(out.len(), 2 * ROUNDS);
        for (k, (scope, w, blk, b)) in out.iter().enumerate() {
            let (es, ew, eblk, eb) = expected[k % 2];
            assert_eq!((scope.as_str(), w.name().as_str()), (es, ew));
            assert_eq!((blk.as_str(), b.name().as_str()), (eblk, eb));
            assert!(
                *w == reference[k].1 && *b == reference[k].3,
                "one variable per name"
            );
        }
    }
    assert!(runs.iter().all(|r| r.load(Ordering::SeqCst) == 1));
    assert_eq!(g.store().len(), 4);
    // The captured scope objects themselves are unchanged.
    assert_eq!(enc.name(), "model/enc");
    assert_eq!(dec.name(), "dec");
}
