//! The variable store against two baselines, on identical workloads.
//!
//! Every contender implements the same small [`Store`] trait, `get_or_create(name,
//! init) -> handle`:
//!
//! * `mutex_hashmap` — one global `Mutex<HashMap>`, the initializer run while holding
//!   it (candle-nn's `VarMap` style);
//! * `dashmap` — a `DashMap` (same shard count as varscope's store): a read-locked
//!   lookup first, then the entry API, running the initializer under the shard's
//!   write lock;
//! * `varscope` — `get_variable(name)` with `Reuse::Auto` and a custom initializer on a
//!   graph (the whole TF1 path: scope lookup, name composition, store, reuse checks,
//!   collections).
//!
//! The `hit` group also times `graph.store().get(full_name)` (`varscope_store_get`):
//! the store's own lookup, without `get_variable`'s scoping work.
//!
//! Multi-threaded workloads use `iter_custom`: the threads are started outside the
//! timed region and meet at a start barrier; each worker then reads its own clock,
//! right after the barrier and again when its share of the work is done, and an
//! iteration counts as long as its slowest worker (see [`timed_threads`]). Results on
//! a small shared machine compare the contenders with each other, not absolute speed.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dashmap::DashMap;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};
use varscope::{get_variable, variable_scope, Graph, Init, Reuse, Tensor, Variable, VariableScope};

/// An initializer: produces the variable's value.
type InitFn = Arc<dyn Fn() -> Tensor + Send + Sync>;

/// The interface every contender implements.
trait Store: Sync {
    type Handle: Send;
    /// Gets `name`, creating it with `init` when missing (exactly once).
    fn get_or_create(&self, name: &str, init: &InitFn) -> Self::Handle;
    /// Runs `f` on the calling thread in whatever context `get_or_create` needs.
    fn on_thread<R>(&self, f: impl FnOnce() -> R) -> R {
        f()
    }
}

struct MutexHashMap(Mutex<HashMap<String, Arc<Tensor>>>);

impl Store for MutexHashMap {
    type Handle = Arc<Tensor>;
    fn get_or_create(&self, name: &str, init: &InitFn) -> Arc<Tensor> {
        let mut map = self.0.lock().unwrap();
        if let Some(v) = map.get(name) {
            return v.clone();
        }
        let v = Arc::new(init());
        map.insert(name.to_string(), v.clone());
        v
    }
}

struct Dash(DashMap<String, Arc<Tensor>>);

impl Store for Dash {
    type Handle = Arc<Tensor>;
    fn get_or_create(&self, name: &str, init: &InitFn) -> Arc<Tensor> {
        if let Some(v) = self.0.get(name) {
            return v.clone();
        }
        self.0
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(init()))
            .clone()
    }
}

struct Varscope {
    graph: Graph,
    /// `bench`, with `Reuse::Auto`.
    scope: VariableScope,
    dims: Vec<usize>,
}

impl Varscope {
    fn new(dims: &[usize]) -> Varscope {
        let graph = Graph::with_seed(1);
        let scope = variable_scope("bench")
            .reuse(Reuse::Auto)
            .graph(&graph)
            .enter(|s| s.clone())
            .unwrap();
        Varscope {
            graph,
            scope,
            dims: dims.to_vec(),
        }
    }
}

impl Store for Varscope {
    type Handle = Variable;
    fn get_or_create(&self, name: &str, init: &InitFn) -> Variable {
        let f = init.clone();
        get_variable(name)
            .shape(self.dims.clone())
            .initializer(Init::custom(move |_| Ok(f())))
            .graph(&self.graph)
            .build()
            .unwrap()
    }
    fn on_thread<R>(&self, f: impl FnOnce() -> R) -> R {
        variable_scope(&self.scope)
            .graph(&self.graph)
            .enter(|_| Ok::<_, varscope::Error>(f()))
            .unwrap()
    }
}

const SMALL: usize = 16;
const SLOW: usize = 64 * 1024;

fn small_init() -> InitFn {
    Arc::new(|| Tensor::from_vec(vec![0.5f32; SMALL], [SMALL]).unwrap())
}

/// Fills a 64K-element buffer element by element (a few hundred microseconds).
fn slow_init() -> InitFn {
    Arc::new(|| {
        let data: Vec<f32> = (0..SLOW).map(|i| (i as f32 * 0.001).sin()).collect();
        Tensor::from_vec(data, [SLOW]).unwrap()
    })
}

fn mutex_hashmap(_dims: &[usize]) -> MutexHashMap {
    MutexHashMap(Mutex::new(HashMap::new()))
}

fn dash(_dims: &[usize]) -> Dash {
    Dash(DashMap::new())
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// Runs `work(store, thread)` on `threads` threads for each of `iters` iterations,
/// each on a fresh store from `make`, and returns the summed iteration times.
///
/// Each worker reads its own clock: it starts after the start barrier and stops when
/// the worker's `work` returns. An iteration's time is the **maximum** of its workers'
/// own durations, not their sum: the workloads report the throughput of the whole
/// batch (the elements are the names of all threads together), and the batch is done
/// when its slowest worker is. The main thread reads no clock, so it being
/// descheduled around the barrier cannot shorten a measurement.
fn timed_threads<S: Store>(
    iters: u64,
    threads: usize,
    make: &dyn Fn() -> S,
    work: &(dyn Fn(&S, usize) + Sync),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let store = make();
        let start = Barrier::new(threads);
        let slowest = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let (store, start) = (&store, &start);
                    s.spawn(move || {
                        store.on_thread(|| {
                            start.wait();
                            let t0 = Instant::now();
                            work(store, t);
                            t0.elapsed()
                        })
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("worker panicked"))
                .max()
                .unwrap_or_default()
        });
        total += slowest;
    }
    total
}

/// Latency of a reuse hit (the name exists), one thread.
fn hit(c: &mut Criterion) {
    let mut g = c.benchmark_group("store/hit");
    g.throughput(Throughput::Elements(1));
    let init = small_init();
    let keys = names("v", 1024);

    fn bench_hits<S: Store>(
        g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        id: &str,
        store: S,
        keys: &[String],
        init: &InitFn,
    ) {
        store.on_thread(|| {
            for k in keys {
                store.get_or_create(k, init);
            }
            let mut i = 0;
            g.bench_function(id, |b| {
                b.iter(|| {
                    i = (i + 1) & 1023;
                    black_box(store.get_or_create(&keys[i], init))
                })
            });
        });
    }
    bench_hits(
        &mut g,
        "mutex_hashmap",
        mutex_hashmap(&[SMALL]),
        &keys,
        &init,
    );
    bench_hits(&mut g, "dashmap", dash(&[SMALL]), &keys, &init);
    let vs = Varscope::new(&[SMALL]);
    let full: Vec<String> = keys.iter().map(|k| format!("bench/{k}")).collect();
    let graph = vs.graph.clone();
    bench_hits(&mut g, "varscope_get_variable", vs, &keys, &init);
    let mut i = 0;
    g.bench_function("varscope_store_get", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(graph.store().get(&full[i]))
        })
    });
    g.finish();
}

/// Creation of distinct names: 256 per thread per iteration, 1, 2 and 4 threads.
fn create_distinct(c: &mut Criterion) {
    const PER: usize = 256;
    let mut g = c.benchmark_group("store/create_distinct");
    g.sample_size(20);
    let init = small_init();
    let keys: Vec<Vec<String>> = (0..4).map(|t| names(&format!("t{t}_v"), PER)).collect();
    for threads in [1, 2, 4] {
        g.throughput(Throughput::Elements((PER * threads) as u64));
        macro_rules! contender {
            ($id:expr, $make:expr) => {
                g.bench_with_input(BenchmarkId::new($id, threads), &threads, |b, &n| {
                    b.iter_custom(|iters| {
                        timed_threads(iters, n, &|| $make(&[SMALL]), &|s, t| {
                            for k in &keys[t] {
                                black_box(s.get_or_create(k, &init));
                            }
                        })
                    })
                });
            };
        }
        contender!("mutex_hashmap", mutex_hashmap);
        contender!("dashmap", dash);
        contender!("varscope", Varscope::new);
    }
    g.finish();
}

/// Every thread asks for one shared name (Auto): created once, then contended hits.
fn shared_name(c: &mut Criterion) {
    const PER: usize = 512;
    let mut g = c.benchmark_group("store/shared_name_auto");
    g.sample_size(20);
    let init = small_init();
    for threads in [1, 2, 4] {
        g.throughput(Throughput::Elements((PER * threads) as u64));
        macro_rules! contender {
            ($id:expr, $make:expr) => {
                g.bench_with_input(BenchmarkId::new($id, threads), &threads, |b, &n| {
                    b.iter_custom(|iters| {
                        timed_threads(iters, n, &|| $make(&[SMALL]), &|s, _| {
                            for _ in 0..PER {
                                black_box(s.get_or_create("shared", &init));
                            }
                        })
                    })
                });
            };
        }
        contender!("mutex_hashmap", mutex_hashmap);
        contender!("dashmap", dash);
        contender!("varscope", Varscope::new);
    }
    g.finish();
}

/// Distinct names with a slow (64K-element) initializer: 4 per thread per iteration.
fn slow_create(c: &mut Criterion) {
    const PER: usize = 4;
    let mut g = c.benchmark_group("store/slow_init_create");
    g.sample_size(10);
    let init = slow_init();
    let keys: Vec<Vec<String>> = (0..2).map(|t| names(&format!("t{t}_slow"), PER)).collect();
    for threads in [1, 2] {
        g.throughput(Throughput::Elements((PER * threads) as u64));
        macro_rules! contender {
            ($id:expr, $make:expr) => {
                g.bench_with_input(BenchmarkId::new($id, threads), &threads, |b, &n| {
                    b.iter_custom(|iters| {
                        timed_threads(iters, n, &|| $make(&[SLOW]), &|s, t| {
                            for k in &keys[t] {
                                black_box(s.get_or_create(k, &init));
                            }
                        })
                    })
                });
            };
        }
        contender!("mutex_hashmap", mutex_hashmap);
        contender!("dashmap", dash);
        contender!("varscope", Varscope::new);
    }
    g.finish();
}

/// 64 reuse hits on an existing name by one thread while another thread keeps
/// creating other names with the slow initializer. Only the hitting thread's time is
/// measured (from the moment the other thread has started a creation): it shows
/// whether a slow initializer blocks lookups of other names.
fn hit_during_slow_init(c: &mut Criterion) {
    const HITS: usize = 64;
    let mut g = c.benchmark_group("store/hit_during_slow_init");
    g.sample_size(10);
    g.throughput(Throughput::Elements(HITS as u64));
    let small = small_init();
    let slow = slow_init();

    fn run<S: Store>(iters: u64, make: &dyn Fn() -> S, small: &InitFn, slow: &InitFn) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let store = make();
            let started = AtomicBool::new(false);
            let stop = AtomicBool::new(false);
            std::thread::scope(|s| {
                s.spawn(|| {
                    store.on_thread(|| {
                        let mut k = 0;
                        while !stop.load(Ordering::Acquire) {
                            started.store(true, Ordering::Release);
                            black_box(store.get_or_create(&format!("slow{k}"), slow));
                            k += 1;
                        }
                    })
                });
                store.on_thread(|| {
                    store.get_or_create("hot", small);
                    while !started.load(Ordering::Acquire) {
                        std::hint::spin_loop();
                    }
                    let t0 = Instant::now();
                    for _ in 0..HITS {
                        black_box(store.get_or_create("hot", small));
                    }
                    total += t0.elapsed();
                });
                stop.store(true, Ordering::Release);
            });
        }
        total
    }

    g.bench_function("mutex_hashmap", |b| {
        b.iter_custom(|iters| run(iters, &|| mutex_hashmap(&[]), &small, &slow))
    });
    g.bench_function("dashmap", |b| {
        b.iter_custom(|iters| run(iters, &|| dash(&[]), &small, &slow))
    });
    g.bench_function("varscope", |b| {
        b.iter_custom(|iters| run(iters, &MixedVarscope::new, &small, &slow))
    });
    g.finish();
}

/// `Varscope` for the mixed workload: `hot` has the small shape, other names the
/// slow one.
struct MixedVarscope(Varscope);

impl MixedVarscope {
    fn new() -> MixedVarscope {
        MixedVarscope(Varscope::new(&[SLOW]))
    }
}

impl Store for MixedVarscope {
    type Handle = Variable;
    fn get_or_create(&self, name: &str, init: &InitFn) -> Variable {
        let dims = if name == "hot" { SMALL } else { SLOW };
        let f = init.clone();
        get_variable(name)
            .shape([dims])
            .initializer(Init::custom(move |_| Ok(f())))
            .graph(&self.0.graph)
            .build()
            .unwrap()
    }
    fn on_thread<R>(&self, f: impl FnOnce() -> R) -> R {
        self.0.on_thread(f)
    }
}

criterion_group!(
    benches,
    hit,
    create_distinct,
    shared_name,
    slow_create,
    hit_during_slow_init
);
criterion_main!(benches);
