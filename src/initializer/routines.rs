//! The fill routines of the built-in initializers, one per family (constant,
//! list, value, identity, orthogonal, random), that `Init::materialize`
//! dispatches to; each fills an already allocated output (a whole variable or
//! one shard) from the global positions of its elements.

use super::fill::{fill_part, Part};
use super::kernels::{self, fill_range, Dist, F64Kernel, Half, HalfKernel, Kernel, Real};
use super::linalg;
use super::philox::PhiloxStream;
use super::{compute_fans, init_err, Distribution, FanMode, Init, InitContext};
use crate::dtype::DType;
use crate::error::Result;
use crate::shape::Shape;
use crate::tensor::{try_vec, Element, Tensor};
use half::{bf16, f16};
use ndarray::ArrayD;

/// A random draw after parameter resolution: distribution and its two parameters
/// (`(minval, maxval)` for uniform, `(mean, stddev)` for the normals).
#[derive(Debug, Clone, Copy)]
pub(super) struct Draw {
    dist: Dist,
    pub(super) a: f64,
    b: f64,
}

impl Draw {
    /// Resolves a random initializer into a distribution and its parameters, as the
    /// Python initializers compute them (in float64, from the full shape).
    pub(super) fn of(init: &Init, full: &Shape) -> Result<Draw> {
        Ok(match *init {
            Init::RandomUniform { minval, maxval, .. } => Draw {
                dist: Dist::Uniform,
                a: minval,
                b: maxval.unwrap_or(1.0),
            },
            Init::RandomNormal { mean, stddev, .. } => Draw {
                dist: Dist::Normal,
                a: mean,
                b: stddev,
            },
            Init::TruncatedNormal { mean, stddev, .. } => Draw {
                dist: Dist::Truncated,
                a: mean,
                b: stddev,
            },
            Init::UniformUnitScaling { factor, .. } => {
                let d = full.dims();
                let mut input_size = 1.0f64;
                for &x in &d[..d.len().saturating_sub(1)] {
                    input_size *= x as f64;
                }
                let input_size = input_size.max(1.0);
                let max_val = (3.0 / input_size).sqrt() * factor;
                Draw {
                    dist: Dist::Uniform,
                    a: -max_val,
                    b: max_val,
                }
            }
            Init::VarianceScaling {
                scale,
                mode,
                distribution,
                ..
            } => {
                let (fan_in, fan_out) = compute_fans(full.dims());
                let (fan_in, fan_out) = (fan_in as f64, fan_out as f64);
                let n = match mode {
                    FanMode::FanIn => fan_in,
                    FanMode::FanOut => fan_out,
                    FanMode::FanAvg => (fan_in + fan_out) / 2.0,
                };
                let s = scale / n.max(1.0);
                match distribution {
                    Distribution::TruncatedNormal => Draw {
                        dist: Dist::Truncated,
                        a: 0.0,
                        // scipy.stats.truncnorm.std(a=-2, b=2, loc=0., scale=1.)
                        b: s.sqrt() / 0.879_625_661_034_239_8,
                    },
                    Distribution::UntruncatedNormal => Draw {
                        dist: Dist::Normal,
                        a: 0.0,
                        b: s.sqrt(),
                    },
                    Distribution::Uniform => {
                        let limit = (3.0 * s).sqrt();
                        Draw {
                            dist: Dist::Uniform,
                            a: -limit,
                            b: limit,
                        }
                    }
                }
            }
            _ => return Err(init_err("", "not a random initializer")),
        })
    }
}

/// Integer bounds of an integer uniform, converted as TF converts them.
pub(super) fn int_bounds(dtype: DType, minval: f64, maxval: f64) -> (i64, i64) {
    match dtype {
        DType::I32 => (i64::from(minval as i32), i64::from(maxval as i32)),
        _ => (minval as i64, maxval as i64),
    }
}

/// The standard-layout slice of an array of the output.
fn slice_mut<'t, T>(name: &str, a: &'t mut ArrayD<T>) -> Result<&'t mut [T]> {
    a.as_slice_mut()
        .ok_or_else(|| init_err(name, "output tensor is not in standard (row-major) layout"))
}

/// Fills by a function of the global index: `f(k)`.
fn fill_indexed<T, F>(name: &str, a: &mut ArrayD<T>, part: &Part, f: F) -> Result<()>
where
    T: Send,
    F: Fn(u64) -> T + Sync,
{
    let s = slice_mut(name, a)?;
    fill_part(s, part, &|start, run: &mut [T]| {
        for (i, o) in run.iter_mut().enumerate() {
            *o = f(start + i as u64);
        }
    });
    Ok(())
}

pub(super) fn fill_constant(
    ctx: &InitContext<'_>,
    out: &mut Tensor,
    part: &Part,
    v: f64,
) -> Result<()> {
    fn go<T: Element>(name: &str, a: &mut ArrayD<T>, part: &Part, v: f64) -> Result<()> {
        let x = T::from_f64(v);
        let s = slice_mut(name, a)?;
        fill_part(s, part, &|_, run: &mut [T]| run.fill(x));
        Ok(())
    }
    crate::tensor::dispatch!(out, a => go(ctx.name, a, part, v))
}

pub(super) fn fill_list(
    ctx: &InitContext<'_>,
    out: &mut Tensor,
    part: &Part,
    vs: &[f64],
) -> Result<()> {
    fn go<T: Element>(name: &str, a: &mut ArrayD<T>, part: &Part, vs: &[f64]) -> Result<()> {
        let conv: Vec<T> = vs.iter().map(|&v| T::from_f64(v)).collect();
        let Some(&last) = conv.last() else {
            // TF fills a tensor from an empty proto with zeros.
            return Ok(());
        };
        fill_indexed(name, a, part, |k| {
            usize::try_from(k)
                .ok()
                .and_then(|k| conv.get(k))
                .copied()
                .unwrap_or(last)
        })
    }
    crate::tensor::dispatch!(out, a => go(ctx.name, a, part, vs))
}

pub(super) fn fill_value(
    ctx: &InitContext<'_>,
    out: &mut Tensor,
    part: &Part,
    t: &Tensor,
) -> Result<()> {
    fn go<T: Element>(name: &str, a: &mut ArrayD<T>, part: &Part, t: &Tensor) -> Result<()> {
        let src = T::view(t).ok_or_else(|| init_err(name, "value dtype mismatch"))?;
        let src = src.as_standard_layout();
        let src = src
            .as_slice()
            .ok_or_else(|| init_err(name, "value is not in standard layout"))?;
        let s = slice_mut(name, a)?;
        fill_part(s, part, &|start, run: &mut [T]| {
            let st = start as usize;
            run.copy_from_slice(&src[st..st + run.len()]);
        });
        Ok(())
    }
    crate::tensor::dispatch!(out, a => go(ctx.name, a, part, t))
}

/// `a * b` rounded as the dtype's own multiplication (exact product, one rounding).
fn mul_in<T: Element>(a: T, b: T) -> T {
    T::from_f64(a.to_f64() * b.to_f64())
}

pub(super) fn fill_identity(
    ctx: &InitContext<'_>,
    out: &mut Tensor,
    part: &Part,
    gain: f64,
) -> Result<()> {
    fn go<T: Element>(name: &str, a: &mut ArrayD<T>, part: &Part, cols: u64, g: f64) -> Result<()> {
        let gain = T::from_f64(g);
        let on = mul_in(gain, T::from_f64(1.0));
        let off = mul_in(gain, T::from_f64(0.0));
        fill_indexed(
            name,
            a,
            part,
            |k| if k / cols == k % cols { on } else { off },
        )
    }
    let cols = ctx.full_shape.dims()[1] as u64;
    if cols == 0 {
        return Ok(());
    }
    crate::tensor::dispatch!(out, a => go(ctx.name, a, part, cols, gain))
}

pub(super) fn fill_orthogonal(
    ctx: &InitContext<'_>,
    out: &mut Tensor,
    part: &Part,
    st: PhiloxStream,
    gain: f64,
) -> Result<()> {
    let dims = ctx.full_shape.dims();
    let Some((&cols, outer)) = dims.split_last() else {
        return Ok(());
    };
    // The rows multiply to at most the element count, which fits in usize.
    let rows: usize = outer.iter().product();
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    let whole = ctx.shape == ctx.full_shape;
    let key = (ctx.seeds, ctx.dtype, rows, cols);
    let q = orthogonal_cache::get(key, whole, ctx.shape.num_elements(), rows * cols, || {
        orthogonal_q(ctx.dtype, st, rows, cols)
    })
    .map_err(|e| e.for_variable(ctx.name))?;
    fn go<T: Element>(
        name: &str,
        a: &mut ArrayD<T>,
        part: &Part,
        q: &OrthoQ,
        g: f64,
    ) -> Result<()> {
        let gain = T::from_f64(g);
        fill_indexed(name, a, part, |k| mul_in(gain, T::from_f64(q.at(k))))
    }
    crate::tensor::dispatch!(out, a => go(ctx.name, a, part, &q, gain))
}

/// The orthonormal factor of an orthogonal initializer's variable, column-major,
/// from which every element (of the whole variable or any shard) is read.
pub(super) struct OrthoQ {
    /// `Q`'s columns (`n` of them, `m` long).
    q: Vec<Vec<f64>>,
    /// Columns of the variable (seen as a `rows × cols` matrix).
    cols: usize,
    /// Whether the variable is `Qᵀ` (fewer rows than columns) rather than `Q`.
    transposed: bool,
}

impl OrthoQ {
    /// Element `k` (row-major) of the `rows × cols` variable.
    fn at(&self, k: u64) -> f64 {
        let k = k as usize;
        let (row, col) = (k / self.cols, k % self.cols);
        let (c, r) = if self.transposed {
            (row, col)
        } else {
            (col, row)
        };
        self.q
            .get(c)
            .and_then(|column| column.get(r))
            .copied()
            .unwrap_or(0.0)
    }
}

/// TF's orthogonal initializer: `A ~ N(0, 1)` of shape `(max, min)`, drawn in the
/// variable's dtype, and the sign-corrected `Q` of its QR decomposition.
///
/// The working buffers are allocated fallibly: the `Q` of a partitioned variable is
/// as large as the whole variable (in `f64`), whatever the size of a shard.
fn orthogonal_q(dtype: DType, st: PhiloxStream, rows: usize, cols: usize) -> Result<OrthoQ> {
    let (m, n) = if rows < cols {
        (cols, rows)
    } else {
        (rows, cols)
    };
    let a = draw_normal_f64(dtype, st, m * n)?;
    let mut acols: Vec<Vec<f64>> = try_vec(n)?;
    for c in 0..n {
        let mut col = try_vec(m)?;
        col.extend(a.iter().skip(c).step_by(n));
        acols.push(col);
    }
    drop(a);
    Ok(OrthoQ {
        q: linalg::orthonormal_q(acols, m)?,
        cols,
        transposed: rows < cols,
    })
}

/// The `Q` of a partitioned orthogonal variable, computed once for all its shards:
/// the first shard computes it (the others wait for it), and it is dropped once
/// shards covering the whole variable have taken it. At most a few variables are
/// kept; a shard of an evicted one recomputes the same `Q`.
mod orthogonal_cache {
    use super::OrthoQ;
    use crate::dtype::DType;
    use crate::error::Result;
    use crate::initializer::Seeds;
    use std::sync::{Arc, Mutex, OnceLock};

    pub(super) type Key = (Seeds, DType, usize, usize);

    struct Entry {
        key: Key,
        q: Arc<OnceLock<Result<Arc<OrthoQ>>>>,
        served: usize,
        total: usize,
    }

    const CAPACITY: usize = 4;

    static CACHE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

    /// `Q` for a part of `len` elements of a variable of `total` elements.
    pub(super) fn get(
        key: Key,
        whole: bool,
        len: usize,
        total: usize,
        compute: impl FnOnce() -> Result<OrthoQ>,
    ) -> Result<Arc<OrthoQ>> {
        if whole || cfg!(loom) {
            return compute().map(Arc::new);
        }
        let cell = {
            let mut cache = CACHE
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let i = match cache.iter().position(|e| e.key == key) {
                Some(i) => i,
                None => {
                    if cache.len() >= CAPACITY {
                        cache.remove(0);
                    }
                    cache.push(Entry {
                        key,
                        q: Arc::new(OnceLock::new()),
                        served: 0,
                        total,
                    });
                    cache.len() - 1
                }
            };
            let cell = Arc::clone(&cache[i].q);
            cache[i].served = cache[i].served.saturating_add(len);
            if cache[i].served >= cache[i].total {
                cache.remove(i);
            }
            cell
        };
        cell.get_or_init(|| compute().map(Arc::new)).clone()
    }
}

/// `n` standard normals of `dtype` (TF's `random_normal`), widened to f64.
fn draw_normal_f64(dtype: DType, st: PhiloxStream, n: usize) -> Result<Vec<f64>> {
    fn go<K: Kernel>(k: &K, n: usize, w: impl Fn(K::T) -> f64) -> Result<Vec<f64>> {
        let mut v = try_vec(n)?;
        v.resize(n, K::T::default());
        let shape = Shape::new([n])?;
        let part = Part::new("", &shape, &[0], &shape)?;
        fill_part(&mut v, &part, &|s, o: &mut [K::T]| fill_range(k, s, o));
        let mut out = try_vec(n)?;
        out.extend(v.into_iter().map(w));
        Ok(out)
    }
    match dtype {
        DType::F64 => go(
            &F64Kernel {
                dist: Dist::Normal,
                st,
                scale: 1.0,
                shift: 0.0,
            },
            n,
            |x| x,
        ),
        DType::F16 => go(
            &half_kernel::<f16>(Dist::Normal, st, 0.0, 1.0),
            n,
            f64::from,
        ),
        DType::BF16 => go(
            &half_kernel::<bf16>(Dist::Normal, st, 0.0, 1.0),
            n,
            f64::from,
        ),
        _ => go(
            &kernels::NormalF32 {
                st,
                scale: 1.0,
                shift: 0.0,
            },
            n,
            f64::from,
        ),
    }
}

/// The affine parameters `(scale, shift)` of a draw, computed in the dtype as TF's
/// Python wrappers do (`rnd * (maxval - minval) + minval`, `rnd * stddev + mean`).
fn affine<T: Real>(dist: Dist, a: f64, b: f64) -> (T, T) {
    match dist {
        Dist::Uniform => (T::sub(T::from_f64(b), T::from_f64(a)), T::from_f64(a)),
        Dist::Normal | Dist::Truncated => (T::from_f64(b), T::from_f64(a)),
    }
}

fn half_kernel<H: Half>(dist: Dist, st: PhiloxStream, a: f64, b: f64) -> HalfKernel<H> {
    let (scale, shift) = affine::<H>(dist, a, b);
    HalfKernel {
        dist,
        st,
        scale,
        shift,
    }
}

fn run_kernel<K: Kernel>(name: &str, a: &mut ArrayD<K::T>, part: &Part, k: &K) -> Result<()> {
    let s = slice_mut(name, a)?;
    fill_part(s, part, &|start, o: &mut [K::T]| fill_range(k, start, o));
    Ok(())
}

pub(super) fn fill_random(
    ctx: &InitContext<'_>,
    out: &mut Tensor,
    part: &Part,
    st: PhiloxStream,
    d: Draw,
) -> Result<()> {
    let name = ctx.name;
    match out {
        Tensor::F32(a) => {
            let (scale, shift) = affine::<f32>(d.dist, d.a, d.b);
            match d.dist {
                Dist::Uniform => {
                    run_kernel(name, a, part, &kernels::UniformF32 { st, scale, shift })
                }
                Dist::Normal => run_kernel(name, a, part, &kernels::NormalF32 { st, scale, shift }),
                Dist::Truncated => {
                    run_kernel(name, a, part, &kernels::TruncF32::new(st, scale, shift))
                }
            }
        }
        Tensor::F64(a) => {
            let (scale, shift) = affine::<f64>(d.dist, d.a, d.b);
            run_kernel(
                name,
                a,
                part,
                &F64Kernel {
                    dist: d.dist,
                    st,
                    scale,
                    shift,
                },
            )
        }
        Tensor::F16(a) => run_kernel(name, a, part, &half_kernel::<f16>(d.dist, st, d.a, d.b)),
        Tensor::BF16(a) => run_kernel(name, a, part, &half_kernel::<bf16>(d.dist, st, d.a, d.b)),
        Tensor::I32(a) if d.dist == Dist::Uniform => {
            let (lo, hi) = int_bounds(DType::I32, d.a, d.b);
            let (lo, hi) = (lo as i32, hi as i32);
            let k = kernels::UniformI32 {
                st,
                lo,
                range: (hi as u32).wrapping_sub(lo as u32),
            };
            run_kernel(name, a, part, &k)
        }
        Tensor::I64(a) if d.dist == Dist::Uniform => {
            let (lo, hi) = int_bounds(DType::I64, d.a, d.b);
            let k = kernels::UniformI64 {
                st,
                lo,
                range: (hi as u64).wrapping_sub(lo as u64),
            };
            run_kernel(name, a, part, &k)
        }
        other => Err(init_err(
            name,
            format!(
                "Expected floating point type, got <dtype: '{}'>.",
                other.dtype()
            ),
        )),
    }
}
