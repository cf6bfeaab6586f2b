//! Materializes a 1 GiB float32 variable with a normal initializer and prints
//! how long it took; run under `/usr/bin/time -v` (see `scripts/peak_rss_init.sh`)
//! to see the peak resident set size, which should be about 1 GiB plus a small
//! constant: the output is allocated once and filled in place.

use std::time::Instant;
use varscope::init::{InitContext, Seeds};
use varscope::Init;
use varscope::{DType, Shape};

fn main() {
    let n = (1usize << 30) / 4;
    let shape = Shape::new([n / 1024, 1024]).expect("shape");
    let ctx = InitContext {
        name: "big",
        dtype: DType::F32,
        full_shape: &shape,
        offset: &[0, 0],
        shape: &shape,
        seeds: Seeds::tf(1, 2),
    };
    let t0 = Instant::now();
    let t = Init::random_normal(0.0, 1.0)
        .materialize(&ctx)
        .expect("materialize");
    let dt = t0.elapsed();
    let v = t.view::<f32>().expect("f32");
    println!(
        "materialized {} float32 values ({} MiB) in {:.2?} on {} threads; v[0] = {}",
        t.len(),
        t.nbytes() >> 20,
        dt,
        rayon::current_num_threads(),
        v[[0, 0]]
    );
}
