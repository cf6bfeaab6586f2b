//! Initializer throughput (float32), on one thread and on all cores, with a plain
//! `slice.fill()` baseline on the same buffer.
//!
//! `cargo bench --bench init`; set `INIT_BENCH_QUICK=1` to skip the 1e8 sizes.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Duration;
use varscope::init::{InitContext, Seeds};
use varscope::Init;
use varscope::{DType, Shape, Tensor};

fn inits() -> Vec<(&'static str, Init)> {
    vec![
        ("zeros", Init::zeros()),
        ("constant", Init::constant(0.25)),
        ("uniform", Init::random_uniform(-1.0, 1.0)),
        ("normal", Init::random_normal(0.0, 1.0)),
        ("truncated_normal", Init::truncated_normal(0.0, 1.0)),
    ]
}

fn bench(c: &mut Criterion) {
    let quick = std::env::var_os("INIT_BENCH_QUICK").is_some();
    let all = rayon::current_num_threads();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let many = rayon::ThreadPoolBuilder::new()
        .num_threads(all)
        .build()
        .unwrap();
    let mut sizes = vec![10_000usize, 1_000_000];
    if !quick {
        sizes.push(100_000_000);
    }
    for &n in &sizes {
        let mut g = c.benchmark_group(format!("init_f32_{n:.0e}"));
        g.throughput(Throughput::Bytes((n * 4) as u64));
        if n >= 100_000_000 {
            g.sample_size(10);
            g.warm_up_time(Duration::from_millis(500));
            g.measurement_time(Duration::from_secs(4));
        } else {
            g.measurement_time(Duration::from_secs(2));
            g.warm_up_time(Duration::from_millis(300));
        }
        let shape = Shape::new([n]).unwrap();
        let ctx = InitContext {
            name: "bench",
            dtype: DType::F32,
            full_shape: &shape,
            offset: &[0],
            shape: &shape,
            seeds: Seeds::tf(1, 2),
        };
        let mut buf = Tensor::zeros(DType::F32, &shape);
        // Touch the pages once so every variant measures filling, not faulting.
        buf.view_mut::<f32>().unwrap().fill(1.0);
        g.bench_function(BenchmarkId::new("fill_baseline", "1thread"), |b| {
            b.iter(|| {
                let mut v = buf.view_mut::<f32>().unwrap();
                v.as_slice_mut().unwrap().fill(std::hint::black_box(0.25));
            })
        });
        // The same baseline, run through `install` on the 1-thread pool (the
        // initializer variants below pay the same hop into the pool).
        g.bench_function(BenchmarkId::new("fill_baseline", "1thread-install"), |b| {
            b.iter(|| {
                one.install(|| {
                    let mut v = buf.view_mut::<f32>().unwrap();
                    v.as_slice_mut().unwrap().fill(std::hint::black_box(0.25));
                })
            })
        });
        // Constant fills called directly on the calling thread (no `install`;
        // large outputs then use the global pool).
        for (name, init) in [("zeros", Init::zeros()), ("constant", Init::constant(0.25))] {
            g.bench_function(BenchmarkId::new(name, "direct"), |b| {
                b.iter(|| init.fill_into(&ctx, &mut buf).unwrap())
            });
        }
        for (name, init) in inits() {
            for (label, pool) in [("1thread", &one), ("all", &many)] {
                let id = if label == "all" {
                    format!("{label}{all}")
                } else {
                    label.to_string()
                };
                g.bench_function(BenchmarkId::new(name, id), |b| {
                    b.iter(|| pool.install(|| init.fill_into(&ctx, &mut buf).unwrap()))
                });
            }
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
