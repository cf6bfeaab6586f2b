//! varscope side by side with candle-nn's `VarMap` and two plain maps, in one
//! process, contenders interleaved round by round. See `README.md` beside
//! `Cargo.toml` for the workloads, the targets and how to read the table.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use dashmap::DashMap;

// ---------------------------------------------------------------------------------
// Counting allocator
// ---------------------------------------------------------------------------------

/// Wraps the system allocator; while [`counting`] is on, counts allocation calls
/// (`alloc`, `alloc_zeroed` and `realloc`) and the net requested bytes. Off, it
/// costs one relaxed load of a flag that nobody writes during a timed run.
struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

#[inline]
fn note_alloc(size: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(size as i64, Ordering::Relaxed);
    }
}

#[inline]
fn note_free(size: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        LIVE_BYTES.fetch_sub(size as i64, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards its arguments unchanged to `System`, which is a
// correct `GlobalAlloc`; the bookkeeping around the calls only touches atomics and
// never allocates, so the allocator contract is exactly `System`'s.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract (non-zero size), passed on as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note_alloc(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note_alloc(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was returned by this allocator, that is by `System`, with
        // `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) };
        note_free(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr`/`layout` come from this allocator (that is `System`) and
        // `new_size` is valid, as the caller guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note_alloc(new_size);
            note_free(layout.size());
        }
        p
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Runs `f` with allocation counting on.
fn counted<R>(f: impl FnOnce() -> R) -> R {
    COUNTING.store(true, Ordering::SeqCst);
    let r = f();
    COUNTING.store(false, Ordering::SeqCst);
    r
}

// ---------------------------------------------------------------------------------
// The contenders' calls, one small function each
// ---------------------------------------------------------------------------------

/// Every varscope call the benchmark makes.
mod vs {
    use varscope::{
        get_variable, get_variable_scope, variable_scope, Graph, Init, Reuse, Variable,
        VariableScopeGuard,
    };

    pub fn new_graph() -> Graph {
        Graph::with_seed(1)
    }

    /// `a` (Auto) then `b`, entered on the calling thread's default graph. Fields
    /// drop in declaration order: `b` is left first.
    pub struct ScopeAb {
        _b: VariableScopeGuard,
        _a: VariableScopeGuard,
    }

    pub fn enter_ab() -> ScopeAb {
        let a = variable_scope("a").reuse(Reuse::Auto).guard().unwrap();
        let b = variable_scope("b").guard().unwrap();
        ScopeAb { _b: b, _a: a }
    }

    /// The current scope re-entered with `Reuse::Auto` (TF's
    /// `variable_scope(get_variable_scope(), reuse=AUTO_REUSE)`): names stay as they
    /// are, existing ones are reused.
    pub fn enter_root_auto() -> VariableScopeGuard {
        variable_scope(get_variable_scope())
            .reuse(Reuse::Auto)
            .guard()
            .unwrap()
    }

    /// Workload a: `w` in the current scope.
    pub fn get_w() -> Variable {
        get_variable("w").shape([16]).build().unwrap()
    }

    /// Workload b: enter `a` (Auto) and `b`, get `w`, leave both.
    pub fn enter_ab_get_w() -> Variable {
        variable_scope("a")
            .reuse(Reuse::Auto)
            .enter(|_| variable_scope("b").enter(|_| get_variable("w").shape([16]).build()))
            .unwrap()
    }

    /// Workloads c–e: get-or-create a `[16]` zeros variable and materialize it.
    pub fn create_zeros(name: &str) -> Variable {
        let v = get_variable(name)
            .shape([16])
            .initializer(Init::zeros())
            .build()
            .unwrap();
        v.initialize().unwrap();
        v
    }

    pub fn is_initialized(v: &Variable) -> bool {
        v.is_initialized()
    }

    pub fn name(v: &Variable) -> String {
        v.name()
    }

    pub fn len(g: &Graph) -> usize {
        g.store().len()
    }
}

/// Every candle-nn call the benchmark makes.
mod cn {
    use candle_core::{DType, Device, Tensor};
    use candle_nn::{Init, VarBuilder, VarMap};

    pub fn new_map() -> (VarMap, VarBuilder<'static>) {
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        (map, vb)
    }

    /// Workload a: `w` under a prebuilt builder.
    pub fn get_w(vb: &VarBuilder<'_>) -> Tensor {
        vb.get(16, "w").unwrap()
    }

    /// Workload b: push `a` and `b`, get `w`.
    pub fn pp_ab_get_w(vb: &VarBuilder<'_>) -> Tensor {
        vb.pp("a").pp("b").get(16, "w").unwrap()
    }

    /// Workloads c–e: get-or-create a `[16]` zeros variable.
    pub fn create_zeros(vb: &VarBuilder<'_>, name: &str) -> Tensor {
        vb.get_with_hints(16, name, Init::Const(0.)).unwrap()
    }

    pub fn len(map: &VarMap) -> usize {
        map.data().lock().unwrap().len()
    }
}

type Value = Arc<Vec<f32>>;

/// One `Mutex<HashMap>` (parking_lot's mutex, as varscope uses).
#[derive(Default)]
struct MutexMap(parking_lot::Mutex<HashMap<String, Value>>);

impl MutexMap {
    fn get_or_create(&self, name: &str) -> Value {
        let mut map = self.0.lock();
        if let Some(v) = map.get(name) {
            return v.clone();
        }
        let v = Arc::new(vec![0f32; 16]);
        map.insert(name.to_string(), v.clone());
        v
    }
}

/// A `DashMap`: read-locked lookup first, then the entry API.
#[derive(Default)]
struct Dash(DashMap<String, Value>);

impl Dash {
    fn get_or_create(&self, name: &str) -> Value {
        if let Some(v) = self.0.get(name) {
            return v.clone();
        }
        self.0
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(vec![0f32; 16]))
            .clone()
    }
}

// ---------------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------------

/// One contender's run: its timed region and what the allocator saw in it.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    elapsed: Duration,
    ops: u64,
    allocs: u64,
    /// Net requested bytes still live at the end of the timed region.
    live_bytes: i64,
    /// Time to drop the whole store, plus the creating thread's thread-local cleanup
    /// where the run had a thread of its own (workloads c, d).
    drop: Duration,
    /// The part of `drop` spent ending the creating thread (its thread-locals).
    tls_cleanup: Duration,
    /// Net requested bytes still live right after the store was dropped, counted from
    /// before it was made: what outlives the store on the creating thread.
    retained_bytes: i64,
}

impl Sample {
    fn ns_per_op(&self) -> f64 {
        self.elapsed.as_nanos() as f64 / self.ops as f64
    }
    fn allocs_per_op(&self) -> f64 {
        self.allocs as f64 / self.ops as f64
    }
    fn bytes_per_op(&self) -> f64 {
        self.live_bytes as f64 / self.ops as f64
    }
}

/// Times `f` (which performs `ops` operations) with `Instant`, and reads the
/// allocation counters around it.
fn measure(ops: u64, f: impl FnOnce()) -> Sample {
    let a0 = ALLOCS.load(Ordering::SeqCst);
    let b0 = LIVE_BYTES.load(Ordering::SeqCst);
    let t0 = Instant::now();
    f();
    let elapsed = t0.elapsed();
    Sample {
        elapsed,
        ops,
        allocs: ALLOCS.load(Ordering::SeqCst) - a0,
        live_bytes: LIVE_BYTES.load(Ordering::SeqCst) - b0,
        ..Sample::default()
    }
}

type RunFn<'a> = Box<dyn FnMut() -> Sample + 'a>;

struct Contender<'a> {
    name: &'static str,
    run: RunFn<'a>,
}

/// Runs `rounds` rounds; in round `r` every contender runs once, the order rotated
/// by `r`. Returns the samples per contender, in round order.
fn interleave(rounds: usize, contenders: &mut [Contender<'_>]) -> Vec<Vec<Sample>> {
    let n = contenders.len();
    let mut out = vec![Vec::with_capacity(rounds); n];
    for r in 0..rounds {
        for k in 0..n {
            let i = (r + k) % n;
            out[i].push((contenders[i].run)());
        }
    }
    out
}

/// One counted run per contender (outside the timed rounds).
fn count_allocs(contenders: &mut [Contender<'_>]) -> Vec<Sample> {
    contenders
        .iter_mut()
        .map(|c| {
            let s = counted(&mut c.run);
            eprintln!("    {:<16} {:>8.2} allocs/op", c.name, s.allocs_per_op());
            s
        })
        .collect()
}

/// Operations per batch so that one batch of `f` takes about `target`.
fn calibrate(target: Duration, mut f: impl FnMut(u64) -> Duration) -> u64 {
    let mut n = 64u64;
    loop {
        let d = f(n);
        if d >= Duration::from_millis(2) || n >= 1 << 26 {
            let per = d.as_secs_f64() / n as f64;
            return ((target.as_secs_f64() / per.max(1e-12)) as u64).clamp(64, 1 << 28);
        }
        n *= 4;
    }
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn min_max(xs: &[f64]) -> (f64, f64) {
    xs.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

/// Per-round ratios `a[r] / b[r]`.
fn paired(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x / y).collect()
}

fn fmt_ratio(rs: &[f64]) -> String {
    let (lo, hi) = min_max(rs);
    format!("{:.2} [{:.2}–{:.2}]", median(rs), lo, hi)
}

fn ns(samples: &[Sample]) -> Vec<f64> {
    samples.iter().map(Sample::ns_per_op).collect()
}

fn fmt_ns(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

fn yes_no(ok: bool) -> String {
    if ok { "yes" } else { "NO" }.to_string()
}

/// One line of the main table.
struct Row {
    workload: String,
    vs: String,
    cn: String,
    mutex: String,
    dash: String,
    ratio: String,
    vs_allocs: String,
    cn_allocs: String,
    target: String,
    met: String,
}

/// One line of the paired-ratio table.
struct RatioRow {
    workload: String,
    cells: Vec<String>,
}

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    ratios: Vec<RatioRow>,
    notes: Vec<String>,
}

const DASH: &str = "—";

// ---------------------------------------------------------------------------------
// Workloads
// ---------------------------------------------------------------------------------

/// The four contenders of workloads a and b, as batches of `op` calls.
fn hit_workload(cfg: &Config, report: &mut Report, label: &str, enter_each_call: bool) {
    let target = Duration::from_millis(cfg.batch_ms);

    // varscope: the graph is default (and for workload a, `a/b` entered) for the
    // whole workload; the variable exists before timing starts.
    let graph = vs::new_graph();
    let _default = graph.as_default_guard();
    let setup = vs::enter_ab_get_w();
    assert_eq!(vs::enter_ab_get_w(), setup);
    assert_eq!(vs::name(&setup), "a/b/w:0");
    let scopes = (!enter_each_call).then(vs::enter_ab);
    if scopes.is_some() {
        assert_eq!(vs::get_w(), setup);
    }

    let (map, vb) = cn::new_map();
    cn::pp_ab_get_w(&vb);
    let vb2 = vb.pp("a").pp("b");
    cn::get_w(&vb2);
    assert_eq!(cn::len(&map), 1);

    let key = "a/b/w";
    let mutex = MutexMap::default();
    mutex.get_or_create(key);
    let dash = Dash::default();
    dash.get_or_create(key);
    // Workload b: the baselines compose the scoped key on every call.
    let compose = || ["a", "b", "w"].join("/");
    // The batches capture references.
    let (vb, vb2, mutex, dash) = (&vb, &vb2, &mutex, &dash);

    macro_rules! batch {
        ($body:expr) => {{
            let n = calibrate(target, |n| {
                measure(n, || {
                    for _ in 0..n {
                        black_box($body);
                    }
                })
                .elapsed
            });
            Box::new(move || {
                measure(n, || {
                    for _ in 0..n {
                        black_box($body);
                    }
                })
            }) as RunFn<'_>
        }};
    }
    let mut contenders = if enter_each_call {
        vec![
            Contender {
                name: "varscope",
                run: batch!(vs::enter_ab_get_w()),
            },
            Contender {
                name: "candle",
                run: batch!(cn::pp_ab_get_w(vb)),
            },
            Contender {
                name: "Mutex<HashMap>",
                run: batch!(mutex.get_or_create(&compose())),
            },
            Contender {
                name: "DashMap",
                run: batch!(dash.get_or_create(&compose())),
            },
        ]
    } else {
        vec![
            Contender {
                name: "varscope",
                run: batch!(vs::get_w()),
            },
            Contender {
                name: "candle",
                run: batch!(cn::get_w(vb2)),
            },
            Contender {
                name: "Mutex<HashMap>",
                run: batch!(mutex.get_or_create(key)),
            },
            Contender {
                name: "DashMap",
                run: batch!(dash.get_or_create(key)),
            },
        ]
    };
    let allocs = count_allocs(&mut contenders);
    let samples = interleave(cfg.rounds, &mut contenders);
    drop(contenders);
    drop(scopes);
    assert_eq!(vs::len(&graph), 1);
    assert_eq!(cn::len(&map), 1);

    let (limit, target_text) = if enter_each_call {
        (2.0, "≤ 2× candle")
    } else {
        (1.0, "≤ 1× candle")
    };
    four_way_rows(report, label, &samples, &allocs, target_text, |r, _| {
        r <= limit
    });
}

/// Adds the main-table row and the paired-ratio row of a four-contender workload
/// (order: varscope, candle, Mutex<HashMap>, DashMap).
fn four_way_rows(
    report: &mut Report,
    label: &str,
    samples: &[Vec<Sample>],
    allocs: &[Sample],
    target: &str,
    met: impl Fn(f64, f64) -> bool,
) {
    let t: Vec<Vec<f64>> = samples.iter().map(|s| ns(s)).collect();
    let vs_cn = paired(&t[0], &t[1]);
    let vs_mx = paired(&t[0], &t[2]);
    let vs_dm = paired(&t[0], &t[3]);
    let ratio = median(&vs_cn);
    report.rows.push(Row {
        workload: label.to_string(),
        vs: fmt_ns(median(&t[0])),
        cn: fmt_ns(median(&t[1])),
        mutex: fmt_ns(median(&t[2])),
        dash: fmt_ns(median(&t[3])),
        ratio: fmt_ratio(&vs_cn),
        vs_allocs: format!("{:.2}", allocs[0].allocs_per_op()),
        cn_allocs: format!("{:.2}", allocs[1].allocs_per_op()),
        target: target.to_string(),
        met: yes_no(met(ratio, allocs[0].allocs_per_op())),
    });
    report.ratios.push(RatioRow {
        workload: label.to_string(),
        cells: vec![fmt_ratio(&vs_cn), fmt_ratio(&vs_mx), fmt_ratio(&vs_dm)],
    });
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// varscope: creates every name in a fresh graph, at the root scope re-entered with
/// `Reuse::Auto`. The graph is dropped after leaving `as_default`; the drop is timed.
fn vs_create(names: &[String]) -> Sample {
    let live0 = LIVE_BYTES.load(Ordering::SeqCst);
    let graph = vs::new_graph();
    let mut s = graph.as_default(|| {
        let _auto = vs::enter_root_auto();
        measure(names.len() as u64, || {
            for n in names {
                black_box(vs::create_zeros(n));
            }
        })
    });
    debug_assert_eq!(vs::len(&graph), names.len());
    let t0 = Instant::now();
    drop(graph);
    s.drop = t0.elapsed();
    s.retained_bytes = LIVE_BYTES.load(Ordering::SeqCst) - live0;
    s
}

/// candle: creates every name in a fresh `VarMap`; the map is dropped (timed) after
/// the builder that shares it.
fn cn_create(names: &[String]) -> Sample {
    let live0 = LIVE_BYTES.load(Ordering::SeqCst);
    let (map, vb) = cn::new_map();
    let mut s = measure(names.len() as u64, || {
        for n in names {
            black_box(cn::create_zeros(&vb, n));
        }
    });
    debug_assert_eq!(cn::len(&map), names.len());
    drop(vb);
    let t0 = Instant::now();
    drop(map);
    s.drop = t0.elapsed();
    s.retained_bytes = LIVE_BYTES.load(Ordering::SeqCst) - live0;
    s
}

/// Runs `f` on a thread of its own and adds the end of that thread — its
/// thread-locals being freed — to the sample's drop time.
fn on_own_thread(f: impl FnOnce() -> Sample + Send) -> Sample {
    std::thread::scope(|scope| {
        let worker = scope.spawn(move || {
            let s = f();
            (s, Instant::now())
        });
        // `join` returns once the thread has ended, its thread-local destructors run.
        let (mut s, done) = worker.join().expect("worker panicked");
        s.tls_cleanup = done.elapsed();
        s.drop += s.tls_cleanup;
        s
    })
}

fn map_create<M: Default>(names: &[String], op: impl Fn(&M, &str) -> Value) -> Sample {
    let map = M::default();
    let mut s = measure(names.len() as u64, || {
        for n in names {
            black_box(op(&map, n));
        }
    });
    let t0 = Instant::now();
    drop(map);
    s.drop = t0.elapsed();
    s
}

/// Workload c: `cfg.create` fresh names per batch, a fresh store per batch.
fn create_workload(cfg: &Config, report: &mut Report) {
    let names = names("v", cfg.create);
    {
        // The names are new, so each call creates, and the value is materialized.
        let g = vs::new_graph();
        g.as_default(|| {
            let _auto = vs::enter_root_auto();
            let v = vs::create_zeros(&names[0]);
            assert_eq!(vs::name(&v), "v0:0");
            assert!(vs::is_initialized(&v));
            assert_eq!(vs::create_zeros(&names[0]), v);
        });
    }
    let names = &names;
    let mut contenders = vec![
        Contender {
            name: "varscope",
            run: Box::new(move || vs_create(names)),
        },
        Contender {
            name: "candle",
            run: Box::new(move || cn_create(names)),
        },
        Contender {
            name: "Mutex<HashMap>",
            run: Box::new(move || map_create(names, MutexMap::get_or_create)),
        },
        Contender {
            name: "DashMap",
            run: Box::new(move || map_create(names, Dash::get_or_create)),
        },
    ];
    // Warm-up, then one counted batch each, then the timed rounds.
    for c in &mut contenders {
        (c.run)();
    }
    let allocs = count_allocs(&mut contenders);
    let samples = interleave(cfg.rounds, &mut contenders);
    four_way_rows(
        report,
        &format!("c. create [16] + initialize ({} names/batch)", cfg.create),
        &samples,
        &allocs,
        "≤ 0.8× candle, ≤ 8 allocs/var",
        |r, a| r <= 0.8 && a <= 8.0,
    );
}

/// Workload d: `cfg.million` variables, one thread, 3 interleaved rounds, plus one
/// counted run each for the bytes and allocations.
fn million_workload(cfg: &Config, report: &mut Report) {
    const ROUNDS: usize = 3;
    const VALUE_BYTES: f64 = 64.0;
    let names = names("v", cfg.million);
    let names = &names;
    // Each run on a thread of its own, so that what the run leaves in thread-locals
    // is freed (and timed) with the drop instead of piling up on the main thread.
    let mut contenders = vec![
        Contender {
            name: "varscope",
            run: Box::new(move || on_own_thread(|| vs_create(names))),
        },
        Contender {
            name: "candle",
            run: Box::new(move || on_own_thread(|| cn_create(names))),
        },
    ];
    let counted_runs = count_allocs(&mut contenders);
    let samples = interleave(ROUNDS, &mut contenders);
    let t: Vec<Vec<f64>> = samples.iter().map(|s| ns(s)).collect();
    let d: Vec<Vec<f64>> = samples
        .iter()
        .map(|s| s.iter().map(|x| x.drop.as_secs_f64()).collect())
        .collect();
    let bytes: Vec<f64> = counted_runs
        .iter()
        .map(|s| s.bytes_per_op() - VALUE_BYTES)
        .collect();
    let time_ratio = paired(&t[0], &t[1]);
    let drop_ratio = paired(&d[0], &d[1]);
    let m = cfg.million;
    let allocs = |i: usize| format!("{:.2}", counted_runs[i].allocs_per_op());
    report.rows.push(Row {
        workload: format!("d. {m} × [16] zeros, 1 thread: time/var ({ROUNDS} rounds)"),
        vs: fmt_ns(median(&t[0])),
        cn: fmt_ns(median(&t[1])),
        mutex: DASH.into(),
        dash: DASH.into(),
        ratio: fmt_ratio(&time_ratio),
        vs_allocs: allocs(0),
        cn_allocs: allocs(1),
        target: "≤ 1× candle".into(),
        met: yes_no(median(&time_ratio) <= 1.0),
    });
    report.rows.push(Row {
        workload: format!("d. {m} vars: bookkeeping bytes/var (heap, less 64 B of values)"),
        vs: format!("{:.0} B", bytes[0]),
        cn: format!("{:.0} B", bytes[1]),
        mutex: DASH.into(),
        dash: DASH.into(),
        ratio: format!("{:.2}", bytes[0] / bytes[1]),
        vs_allocs: DASH.into(),
        cn_allocs: DASH.into(),
        target: "≤ 400 B".into(),
        met: yes_no(bytes[0] <= 400.0),
    });
    report.rows.push(Row {
        workload: format!("d. {m} vars: drop the whole graph / VarMap"),
        vs: format!("{:.3} s", median(&d[0])),
        cn: format!("{:.3} s", median(&d[1])),
        mutex: DASH.into(),
        dash: DASH.into(),
        ratio: fmt_ratio(&drop_ratio),
        vs_allocs: DASH.into(),
        cn_allocs: DASH.into(),
        target: "≤ 0.5 s".into(),
        met: yes_no(median(&d[0]) <= 0.5),
    });
    let tls: Vec<f64> = samples
        .iter()
        .map(|s| {
            median(
                &s.iter()
                    .map(|x| x.tls_cleanup.as_secs_f64())
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let retained: Vec<f64> = counted_runs
        .iter()
        .map(|s| s.retained_bytes as f64 / m as f64)
        .collect();
    report.notes.push(format!(
        "d: drop = drop(graph / VarMap) after leaving as_default, plus the end of the \
         creating thread (thread-local cleanup): of it, thread end {:.3} s varscope, \
         {:.3} s candle (medians). Still allocated right after the drop, until the \
         thread ends: {:.0} B/var varscope, {:.0} B/var candle.",
        tls[0], tls[1], retained[0], retained[1]
    ));
    report.ratios.push(RatioRow {
        workload: format!("d. {m} vars: time/var"),
        cells: vec![fmt_ratio(&time_ratio), DASH.into(), DASH.into()],
    });
    report.ratios.push(RatioRow {
        workload: format!("d. {m} vars: drop"),
        cells: vec![fmt_ratio(&drop_ratio), DASH.into(), DASH.into()],
    });
}

/// The calling thread's CPU time.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec` for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Splits `names` over `threads` workers; each worker gets ready (`setup`), waits
/// at the start barrier, then reads its own CPU clock around its share of `op`.
/// Returns the summed CPU time of the workers per variable, in ns.
fn cpu_per_var<S>(
    threads: usize,
    names: &[String],
    setup: impl Fn() -> S + Sync,
    op: impl Fn(&S, &str) + Sync,
) -> f64 {
    let chunk = names.len().div_ceil(threads);
    let start = Barrier::new(threads);
    let cpu: Duration = std::thread::scope(|s| {
        let workers: Vec<_> = names
            .chunks(chunk)
            .map(|mine| {
                let (start, setup, op) = (&start, &setup, &op);
                s.spawn(move || {
                    let state = setup();
                    start.wait();
                    let t0 = thread_cpu_time();
                    for n in mine {
                        op(&state, n);
                    }
                    thread_cpu_time() - t0
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    cpu.as_nanos() as f64 / names.len() as f64
}

fn vs_threads(threads: usize, names: &[String]) -> f64 {
    let graph = vs::new_graph();
    let cpu = cpu_per_var(
        threads,
        names,
        || {
            let default = graph.as_default_guard();
            (vs::enter_root_auto(), default)
        },
        |_, n| {
            black_box(vs::create_zeros(n));
        },
    );
    assert_eq!(vs::len(&graph), names.len());
    // Every worker has left `as_default` (its thread has ended): drop the graph.
    drop(graph);
    cpu
}

fn cn_threads(threads: usize, names: &[String]) -> f64 {
    let (map, vb) = cn::new_map();
    let cpu = cpu_per_var(
        threads,
        names,
        || vb.clone(),
        |vb, n| {
            black_box(cn::create_zeros(vb, n));
        },
    );
    assert_eq!(cn::len(&map), names.len());
    cpu
}

/// Workload e: CPU time per variable, `cfg.threads` threads against 1, the same
/// names (so the same final store size) either way.
fn threads_workload(cfg: &Config, report: &mut Report) {
    let n = cfg.threads;
    let names: Vec<String> = (0..n)
        .flat_map(|t| (0..cfg.per_thread).map(move |i| format!("t{t}_v{i}")))
        .collect();
    let names = &names;
    let sample = |cpu_ns: f64| Sample {
        elapsed: Duration::from_nanos(cpu_ns.round() as u64),
        ops: 1,
        ..Sample::default()
    };
    let mut contenders = vec![
        Contender {
            name: "varscope 1 thread",
            run: Box::new(move || sample(vs_threads(1, names))),
        },
        Contender {
            name: "varscope N threads",
            run: Box::new(move || sample(vs_threads(n, names))),
        },
        Contender {
            name: "candle 1 thread",
            run: Box::new(move || sample(cn_threads(1, names))),
        },
        Contender {
            name: "candle N threads",
            run: Box::new(move || sample(cn_threads(n, names))),
        },
    ];
    for c in &mut contenders {
        (c.run)();
    }
    let samples = interleave(cfg.rounds, &mut contenders);
    let t: Vec<Vec<f64>> = samples.iter().map(|s| ns(s)).collect();
    let vs_scale = paired(&t[1], &t[0]);
    let cn_scale = paired(&t[3], &t[2]);
    let total = names.len();
    for (label, vs_t, cn_t) in [
        (
            format!("e. 1 thread, CPU ns/var ({total} names)"),
            &t[0],
            &t[2],
        ),
        (
            format!("e. {n} threads, CPU ns/var ({} names each)", cfg.per_thread),
            &t[1],
            &t[3],
        ),
    ] {
        let r = paired(vs_t, cn_t);
        report.rows.push(Row {
            workload: label.clone(),
            vs: fmt_ns(median(vs_t)),
            cn: fmt_ns(median(cn_t)),
            mutex: DASH.into(),
            dash: DASH.into(),
            ratio: fmt_ratio(&r),
            vs_allocs: DASH.into(),
            cn_allocs: DASH.into(),
            target: DASH.into(),
            met: DASH.into(),
        });
        report.ratios.push(RatioRow {
            workload: label,
            cells: vec![fmt_ratio(&r), DASH.into(), DASH.into()],
        });
    }
    report.rows.push(Row {
        workload: format!("e. CPU/var, {n} threads ÷ 1 thread (median of pairs)"),
        vs: fmt_ratio(&vs_scale),
        cn: fmt_ratio(&cn_scale),
        mutex: DASH.into(),
        dash: DASH.into(),
        ratio: DASH.into(),
        vs_allocs: DASH.into(),
        cn_allocs: DASH.into(),
        target: "varscope ≤ 1.3".into(),
        met: yes_no(median(&vs_scale) <= 1.3),
    });
    report.notes.push(format!(
        "e: each worker reads its own CLOCK_THREAD_CPUTIME_ID after the start barrier and \
         when done; CPU/var = sum over workers / {total} names. {n} threads on {} cores.",
        cores()
    ));
}

// ---------------------------------------------------------------------------------
// Command line, environment, output
// ---------------------------------------------------------------------------------

struct Config {
    rounds: usize,
    million: usize,
    create: usize,
    threads: usize,
    per_thread: usize,
    batch_ms: u64,
    only: String,
}

const USAGE: &str = "\
usage: varscope-peers [options]
  --rounds N      rounds per workload (default 15; workload d always runs 3)
  --million N     variables in workload d (default 1000000)
  --create N      fresh names per batch in workload c (default 10000)
  --threads N     worker threads in workload e (default 8)
  --per-thread N  names per worker in workload e (default 5000)
  --batch-ms N    target length of one batch in workloads a, b (default 20)
  --only LIST     workloads to run, e.g. `abc` (default abcde)";

fn parse_args() -> Config {
    let mut cfg = Config {
        rounds: 15,
        million: 1_000_000,
        create: 10_000,
        threads: 8,
        per_thread: 5_000,
        batch_ms: 20,
        only: "abcde".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let Some(value) = args.next() else {
            eprintln!("{flag} needs a value\n{USAGE}");
            std::process::exit(2);
        };
        let num = || -> usize {
            match value.replace('_', "").parse::<usize>() {
                Ok(v) if v > 0 => v,
                _ => {
                    eprintln!("{flag}: expected a positive integer, got `{value}`");
                    std::process::exit(2);
                }
            }
        };
        match flag.as_str() {
            "--rounds" => cfg.rounds = num(),
            "--million" => cfg.million = num(),
            "--create" => cfg.create = num(),
            "--threads" => cfg.threads = num(),
            "--per-thread" => cfg.per_thread = num(),
            "--batch-ms" => cfg.batch_ms = num() as u64,
            "--only" => cfg.only = value.clone(),
            _ => {
                eprintln!("unknown option {flag}\n{USAGE}");
                std::process::exit(2);
            }
        }
    }
    cfg
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "n/a".into())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn print_report(report: &Report) {
    println!(
        "| workload | varscope ns/op | candle ns/op | Mutex<HashMap> | DashMap \
         | ratio varscope/candle (median of pairs) [min–max] | varscope allocs/op \
         | candle allocs/op | target | met? |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---|---|");
    for r in &report.rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.workload,
            r.vs,
            r.cn,
            r.mutex,
            r.dash,
            r.ratio,
            r.vs_allocs,
            r.cn_allocs,
            r.target,
            r.met
        );
    }
    println!();
    println!(
        "| workload | varscope/candle | varscope/Mutex<HashMap> | varscope/DashMap |\n\
         |---|---:|---:|---:|"
    );
    for r in &report.ratios {
        println!("| {} | {} |", r.workload, r.cells.join(" | "));
    }
    println!();
    println!("Paired ratios: median [min–max] over rounds of (varscope ns/op) / (other ns/op), same round.");
    for n in &report.notes {
        println!("{n}");
    }
}

fn main() {
    let cfg = parse_args();
    let before = load_average();
    println!(
        "varscope-peers: {} rounds, {} cores ({}), batches ≈ {} ms; load average (1 min) before: {before}",
        cfg.rounds,
        cores(),
        cpu_model(),
        cfg.batch_ms
    );
    let mut report = Report::default();
    let t0 = Instant::now();
    for w in cfg.only.chars() {
        eprintln!(
            "[{:>6.1} s] workload {w} (load {})",
            t0.elapsed().as_secs_f64(),
            load_average()
        );
        match w {
            'a' => hit_workload(
                &cfg,
                &mut report,
                "a. reuse hit, 2-level scope entered once",
                false,
            ),
            'b' => hit_workload(&cfg, &mut report, "b. enter 2 scopes + get, per call", true),
            'c' => create_workload(&cfg, &mut report),
            'd' => million_workload(&cfg, &mut report),
            'e' => threads_workload(&cfg, &mut report),
            other => {
                eprintln!("unknown workload `{other}` (expected a–e)");
                std::process::exit(2);
            }
        }
    }
    report.notes.push(
        "allocs/op: allocation calls (alloc, alloc_zeroed, realloc) in one counted batch \
         run apart from the timed rounds. d bytes: net requested heap bytes of the counted run \
         (allocator overhead excluded) / variables − 64."
            .into(),
    );
    let after = load_average();
    println!();
    print_report(&report);
    println!();
    println!(
        "load average (1 min): before {before}, after {after}; total {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}
