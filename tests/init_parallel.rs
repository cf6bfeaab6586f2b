//! Parallel fills are bit-identical whatever the rayon pool size (1, 2 or 8
//! threads), for whole variables and for shards, and equal the element-wise
//! definition (the sequential fill of small pieces).

use varscope::init::{InitContext, Seeds};

use varscope::Init;
use varscope::{DType, Shape, Tensor};

fn materialize_in(threads: usize, init: &Init, ctx: &InitContext<'_>) -> Tensor {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| init.materialize(ctx).unwrap())
}

fn inits() -> Vec<(&'static str, Init, Vec<DType>)> {
    use DType::*;
    let floats = vec![F32, F64, F16, BF16];
    vec![
        ("zeros", Init::zeros(), vec![F32, I64]),
        ("constant", Init::constant(0.25), vec![F32, BF16]),
        (
            "constant_list",
            Init::constant_list(vec![1.0, 2.0, 3.0]),
            vec![F32],
        ),
        (
            "uniform",
            Init::random_uniform(-1.0, 1.0).with_seed(3),
            floats.clone(),
        ),
        (
            "uniform_int",
            Init::random_uniform_int(0, 1000).with_seed(3),
            vec![I32, I64],
        ),
        (
            "normal",
            Init::random_normal(0.0, 1.0).with_seed(3),
            floats.clone(),
        ),
        (
            "truncated",
            Init::truncated_normal(1.0, 0.5).with_seed(3),
            floats.clone(),
        ),
        ("glorot", Init::glorot_uniform(), vec![F32]),
        ("identity", Init::identity(1.0), vec![F32]),
    ]
}

#[test]
fn pool_size_does_not_change_values() {
    // 300_007 elements: several work blocks plus a ragged tail.
    let full = Shape::new([300_007 / 7, 7]).unwrap();
    let n = full.num_elements();
    let cases: Vec<(Vec<usize>, Vec<usize>)> = vec![
        (vec![0, 0], full.dims().to_vec()),
        // Rows: one long run starting at an unaligned global index.
        (vec![1_001, 0], vec![30_000, 7]),
        // Columns: many short runs.
        (vec![0, 2], vec![full.dims()[0], 4]),
    ];
    for (name, init, dtypes) in inits() {
        for dtype in dtypes {
            for (off, shape) in &cases {
                let ps = Shape::new(shape.clone()).unwrap();
                let ctx = InitContext {
                    name: "w",
                    dtype,
                    full_shape: &full,
                    offset: off,
                    shape: &ps,
                    seeds: Seeds::tf(42, 7),
                };
                let one = materialize_in(1, &init, &ctx);
                let two = materialize_in(2, &init, &ctx);
                let eight = materialize_in(8, &init, &ctx);
                let b1 = one.to_le_bytes();
                assert_eq!(
                    b1,
                    two.to_le_bytes(),
                    "{name} {dtype} {off:?} 1 vs 2 threads"
                );
                assert_eq!(
                    b1,
                    eight.to_le_bytes(),
                    "{name} {dtype} {off:?} 1 vs 8 threads"
                );
            }
        }
    }
    assert!(n > 1 << 16);
}

#[test]
fn parallel_equals_small_sequential_pieces() {
    // Rows 40_000.. of a large variable, built from 8-row shards (each small
    // enough to be filled sequentially), equal the parallel fill of the block.
    let full = Shape::new([50_000, 5]).unwrap();
    for init in [
        Init::random_normal(0.0, 1.0).with_seed(11),
        Init::truncated_normal(0.0, 1.0).with_seed(11),
        Init::random_uniform(0.0, 1.0).with_seed(11),
    ] {
        let ps = Shape::new([10_000, 5]).unwrap();
        let ctx = InitContext {
            name: "w",
            dtype: DType::F32,
            full_shape: &full,
            offset: &[40_000, 0],
            shape: &ps,
            seeds: Seeds::tf(5, 6),
        };
        let big = materialize_in(8, &init, &ctx).to_le_bytes();
        let mut pieces = Vec::new();
        let small = Shape::new([8, 5]).unwrap();
        for r in (40_000..50_000).step_by(8) {
            let off = [r, 0];
            let c = InitContext {
                offset: &off,
                shape: &small,
                ..ctx.clone()
            };
            pieces.extend(init.materialize(&c).unwrap().to_le_bytes());
        }
        assert_eq!(big, pieces);
    }
}

#[test]
fn large_normal_statistics() {
    let full = Shape::new([1 << 20]).unwrap();
    let ctx = InitContext {
        name: "w",
        dtype: DType::F32,
        full_shape: &full,
        offset: &[0],
        shape: &full,
        seeds: Seeds::tf(1, 1),
    };
    for (init, mean, sd) in [
        (Init::random_normal(0.5, 2.0), 0.5, 2.0),
        (
            Init::truncated_normal(0.0, 1.0),
            0.0,
            0.879_625_661_034_239_8,
        ),
        (Init::random_uniform(-1.0, 1.0), 0.0, (1.0f64 / 3.0).sqrt()),
    ] {
        let v = materialize_in(2, &init.with_seed(1), &ctx).to_f64_vec();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let s = (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt();
        assert!((m - mean).abs() < 0.01, "mean {m}");
        assert!((s - sd).abs() < 0.01, "sd {s}");
    }
}
