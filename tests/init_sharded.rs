//! Sharded = sliced: for every initializer, materializing a part (any offset and
//! shape, slicing along any axis) gives, bit for bit, the matching slice of the
//! unpartitioned variable.

use varscope::init::{Distribution, FanMode, InitContext, Seeds};

use varscope::Init;
use varscope::{DType, Shape, Tensor};

/// Every initializer, with the dtypes it supports.
fn cases() -> Vec<(&'static str, Init, Vec<DType>)> {
    use DType::*;
    let floats = vec![F32, F64, F16, BF16];
    let all = vec![F32, F64, F16, BF16, I32, I64, Bool];
    let mut v = vec![
        ("zeros", Init::zeros(), all.clone()),
        ("ones", Init::ones(), all.clone()),
        // A float constant is rejected for integer and bool dtypes (TF's TypeError),
        // an integer one only for bool.
        ("constant", Init::constant(0.4), floats.clone()),
        (
            "constant_int",
            Init::constant(3),
            all.iter().copied().filter(|&d| d != DType::Bool).collect(),
        ),
        ("constant_bool", Init::constant(true), all.clone()),
        (
            "constant_list",
            Init::constant_list((0..15).map(|i| i as f64 * 0.5 - 3.0).collect()),
            all.clone(),
        ),
        (
            "random_uniform",
            Init::random_uniform(-3.0, 1.0).with_seed(5),
            floats.clone(),
        ),
        (
            "random_uniform_int",
            Init::random_uniform_int(-7, 100).with_seed(5),
            vec![I32, I64],
        ),
        (
            "random_normal",
            Init::random_normal(0.5, 2.0).with_seed(5),
            floats.clone(),
        ),
        (
            "truncated_normal",
            Init::truncated_normal(0.0, 1.0).with_seed(5),
            floats.clone(),
        ),
        (
            "uniform_unit_scaling",
            Init::uniform_unit_scaling(1.43),
            floats.clone(),
        ),
        ("glorot_uniform", Init::glorot_uniform(), floats.clone()),
        ("glorot_normal", Init::glorot_normal(), floats.clone()),
        ("he_uniform", Init::he_uniform(), floats.clone()),
        ("he_normal", Init::he_normal(), floats.clone()),
        ("lecun_uniform", Init::lecun_uniform(), floats.clone()),
        ("lecun_normal", Init::lecun_normal(), floats.clone()),
        (
            "orthogonal",
            Init::orthogonal(1.5).with_seed(9),
            floats.clone(),
        ),
    ];
    for mode in [FanMode::FanIn, FanMode::FanOut, FanMode::FanAvg] {
        for dist in [
            Distribution::TruncatedNormal,
            Distribution::UntruncatedNormal,
            Distribution::Uniform,
        ] {
            v.push((
                "variance_scaling",
                Init::variance_scaling(2.0, mode, dist).unwrap(),
                vec![F32, F64],
            ));
        }
    }
    v
}

fn ctx<'a>(
    dtype: DType,
    full: &'a Shape,
    offset: &'a [usize],
    shape: &'a Shape,
) -> InitContext<'a> {
    InitContext {
        name: "scope/w",
        dtype,
        full_shape: full,
        offset,
        shape,
        seeds: Seeds::tf(1234, 99),
    }
}

/// Little-endian bytes of the elements of `t` (shape `full`) inside the part.
fn slice_bytes(t: &Tensor, full: &[usize], offset: &[usize], shape: &[usize]) -> Vec<u8> {
    let bytes = t.to_le_bytes();
    let size = t.dtype().size();
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n * size);
    for k in 0..n {
        // Multi-index in the part, then global row-major index.
        let mut rem = k;
        let mut idx = vec![0; shape.len()];
        for a in (0..shape.len()).rev() {
            idx[a] = rem % shape[a] + offset[a];
            rem /= shape[a];
        }
        let g = idx.iter().zip(full).fold(0, |acc, (&i, &d)| acc * d + i);
        out.extend_from_slice(&bytes[g * size..(g + 1) * size]);
    }
    out
}

/// Parts along every axis of `full`: a middle slice and a complete partition into
/// three uneven shards.
fn parts(full: &[usize]) -> Vec<(Vec<usize>, Vec<usize>)> {
    let mut v = Vec::new();
    for axis in 0..full.len() {
        let d = full[axis];
        let mut cuts = vec![(1.min(d), (d - 1).max(1.min(d)))];
        let a = d / 3;
        let b = (2 * d) / 3 + 1;
        cuts.extend([(0, a), (a, b.min(d)), (b.min(d), d)]);
        for (lo, hi) in cuts {
            let mut off = vec![0; full.len()];
            let mut shape = full.to_vec();
            off[axis] = lo;
            shape[axis] = hi - lo;
            v.push((off, shape));
        }
    }
    // A block cut along two axes at once.
    if full.len() >= 2 {
        let mut off = vec![0; full.len()];
        let mut shape = full.to_vec();
        off[0] = full[0] / 2;
        shape[0] = full[0] - full[0] / 2;
        off[1] = 1.min(full[1]);
        shape[1] = full[1] - off[1];
        v.push((off, shape));
    }
    v
}

#[test]
fn every_initializer_shards_equal_slices() {
    let shapes: Vec<Vec<usize>> = vec![
        vec![10, 4],
        vec![4, 10],
        vec![3, 4, 5],
        vec![23],
        vec![7, 1, 3],
        vec![2, 3, 2, 8],
    ];
    let mut checked = 0;
    for (name, init, dtypes) in cases() {
        for &dtype in &dtypes {
            for full in &shapes {
                if name == "orthogonal" && full.len() < 2 {
                    continue;
                }
                let fs = Shape::new(full.clone()).unwrap();
                let zero = vec![0; full.len()];
                let whole = init
                    .materialize(&ctx(dtype, &fs, &zero, &fs))
                    .unwrap_or_else(|e| panic!("{name} {dtype} {full:?}: {e}"));
                assert_eq!(whole.shape(), fs);
                assert_eq!(whole.dtype(), dtype);
                for (off, shape) in parts(full) {
                    let ps = Shape::new(shape.clone()).unwrap();
                    let part = init
                        .materialize(&ctx(dtype, &fs, &off, &ps))
                        .unwrap_or_else(|e| panic!("{name} {dtype} {full:?} {off:?}: {e}"));
                    assert_eq!(part.shape(), ps);
                    assert_eq!(
                        part.to_le_bytes(),
                        slice_bytes(&whole, full, &off, &shape),
                        "{name} {dtype} full {full:?} offset {off:?} shape {shape:?}"
                    );
                    checked += 1;
                }
            }
        }
    }
    println!("{checked} shards checked");
}

#[test]
fn identity_shards() {
    for (rows, cols) in [(6, 4), (4, 6), (5, 5)] {
        let fs = Shape::new([rows, cols]).unwrap();
        for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16] {
            let init = Init::identity(2.0);
            let whole = init.materialize(&ctx(dtype, &fs, &[0, 0], &fs)).unwrap();
            let w = whole.to_f64_vec();
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(w[r * cols + c], if r == c { 2.0 } else { 0.0 });
                }
            }
            for (off, shape) in parts(&[rows, cols]) {
                let ps = Shape::new(shape.clone()).unwrap();
                let part = init.materialize(&ctx(dtype, &fs, &off, &ps)).unwrap();
                assert_eq!(
                    part.to_le_bytes(),
                    slice_bytes(&whole, &[rows, cols], &off, &shape)
                );
            }
        }
    }
}

#[test]
fn value_shards() {
    let data: Vec<i64> = (0..60).collect();
    let t = Tensor::from_vec(data, [3, 4, 5]).unwrap();
    let init = Init::from_value(t.clone());
    let fs = Shape::new([3, 4, 5]).unwrap();
    let whole = init
        .materialize(&ctx(DType::I64, &fs, &[0, 0, 0], &fs))
        .unwrap();
    assert_eq!(whole, t);
    for (off, shape) in parts(&[3, 4, 5]) {
        let ps = Shape::new(shape.clone()).unwrap();
        let part = init.materialize(&ctx(DType::I64, &fs, &off, &ps)).unwrap();
        assert_eq!(
            part.to_le_bytes(),
            slice_bytes(&t, &[3, 4, 5], &off, &shape)
        );
    }
}

#[test]
fn rows_3_to_7_and_columns() {
    // The two cases named in the issue, spelled out.
    let init = Init::truncated_normal(0.0, 1.0).with_seed(3);
    let fs = Shape::new([10, 4]).unwrap();
    let whole = init
        .materialize(&ctx(DType::F32, &fs, &[0, 0], &fs))
        .unwrap();
    let ps = Shape::new([4, 4]).unwrap();
    let rows = init
        .materialize(&ctx(DType::F32, &fs, &[3, 0], &ps))
        .unwrap();
    assert_eq!(rows.to_f64_vec(), whole.to_f64_vec()[12..28].to_vec());

    let fs = Shape::new([4, 10]).unwrap();
    let whole = init
        .materialize(&ctx(DType::F32, &fs, &[0, 0], &fs))
        .unwrap();
    let ps = Shape::new([4, 3]).unwrap();
    let cols = init
        .materialize(&ctx(DType::F32, &fs, &[0, 7], &ps))
        .unwrap();
    let w = whole.to_f64_vec();
    let want: Vec<f64> = (0..4)
        .flat_map(|r| w[r * 10 + 7..r * 10 + 10].to_vec())
        .collect();
    assert_eq!(cols.to_f64_vec(), want);
}

#[test]
fn validation_errors() {
    let fs = Shape::new([2, 3]).unwrap();
    let c = |dtype| ctx(dtype, &fs, &[0, 0], &fs);
    let msg = |r: varscope::Result<Tensor>| r.unwrap_err().to_string();
    // TF 2.21's errors: the float parameter does not convert to the dtype.
    let e = Init::random_normal(0.0, 1.0)
        .materialize(&c(DType::I32))
        .unwrap_err();
    assert_eq!(e.kind(), varscope::ErrorKind::TypeMismatch);
    assert_eq!(
        e.to_string(),
        "Expected int32, but got 0.0 of type 'float'."
    );
    let e = Init::constant(0.5).materialize(&c(DType::I64)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Expected int64, but got 0.5 of type 'float'."
    );
    let e = Init::constant(2).materialize(&c(DType::Bool)).unwrap_err();
    assert_eq!(e.to_string(), "Expected bool, but got 2 of type 'int'.");
    let e = Init::glorot_uniform()
        .materialize(&c(DType::Bool))
        .unwrap_err();
    assert!(e
        .to_string()
        .starts_with("Argument `dtype` got invalid value <dtype: 'bool'>"));
    assert!(msg(Init::RandomUniform {
        minval: 0.0,
        maxval: None,
        seed: None
    }
    .materialize(&c(DType::I64)))
    .contains("Must specify maxval for integer dtype"));
    assert!(
        msg(Init::constant_list(vec![1.0; 7]).materialize(&c(DType::F32)))
            .contains("Too many elements provided. Needed at most 6, but received 7")
    );
    let row = Shape::new([6]).unwrap();
    assert!(Init::orthogonal(1.0)
        .materialize(&ctx(DType::F32, &row, &[0], &row))
        .is_err());
    assert!(Init::identity(1.0)
        .materialize(&ctx(DType::F32, &row, &[0], &row))
        .is_err());
    let v = Tensor::from_vec(vec![1.0f32; 6], [3, 2]).unwrap();
    assert!(Init::from_value(v).materialize(&c(DType::F32)).is_err());
    let v = Tensor::from_vec(vec![1.0f64; 6], [2, 3]).unwrap();
    assert!(Init::from_value(v).materialize(&c(DType::F32)).is_err());
    // A part that does not fit.
    let ps = Shape::new([2, 3]).unwrap();
    assert!(Init::zeros()
        .materialize(&ctx(DType::F32, &fs, &[1, 0], &ps))
        .is_err());
    assert!(Init::variance_scaling(-1.0, FanMode::FanIn, Distribution::Uniform).is_err());
    // A constant list counts against the full shape, not the shard.
    let one_row = Shape::new([1, 3]).unwrap();
    let t = Init::constant_list(vec![1.0, 2.0, 3.0, 4.0, 5.0])
        .materialize(&ctx(DType::F32, &fs, &[1, 0], &one_row))
        .unwrap();
    assert_eq!(t.to_f64_vec(), vec![4.0, 5.0, 5.0]);
}

#[test]
fn orthogonal_is_orthogonal() {
    for (shape, gain) in [(vec![6, 4], 1.0), (vec![4, 6], 2.0), (vec![3, 2, 5], 1.0)] {
        let fs = Shape::new(shape.clone()).unwrap();
        let zero = vec![0; shape.len()];
        let t = Init::orthogonal(gain)
            .with_seed(1)
            .materialize(&ctx(DType::F64, &fs, &zero, &fs))
            .unwrap()
            .to_f64_vec();
        let cols = *shape.last().unwrap();
        let rows = t.len() / cols;
        // Rows orthonormal if rows <= cols, else columns.
        let (n, m, by_rows) = if rows <= cols {
            (rows, cols, true)
        } else {
            (cols, rows, false)
        };
        let at = |i: usize, k: usize| {
            if by_rows {
                t[i * cols + k]
            } else {
                t[k * cols + i]
            }
        };
        for i in 0..n {
            for j in 0..n {
                let d: f64 = (0..m).map(|k| at(i, k) * at(j, k)).sum();
                let want = if i == j { gain * gain } else { 0.0 };
                assert!((d - want).abs() < 1e-12, "{shape:?} {i} {j} {d}");
            }
        }
    }
}
