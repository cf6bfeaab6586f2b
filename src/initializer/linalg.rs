//! Reduced QR decomposition by Householder reflections, for the orthogonal
//! initializer.

use crate::error::Result;
use crate::tensor::{try_vec, zeroed_vec};

/// Columns above which reflections are applied in parallel.
#[cfg(not(loom))]
const PARALLEL_WORK: usize = 1 << 16;

/// `Q` of the reduced QR decomposition of the `m × n` matrix `a` (`m >= n`),
/// given column-major (`a[c][r]`), with each column multiplied by the sign of the
/// matching diagonal entry of `R` (so that `R` has a non-negative diagonal, as
/// TensorFlow's `orthogonal_initializer` arranges). Returns `Q` column-major.
///
/// # Errors
/// [`Error::Allocation`](crate::Error::Allocation) when a working buffer cannot be
/// allocated.
pub(crate) fn orthonormal_q(mut a: Vec<Vec<f64>>, m: usize) -> Result<Vec<Vec<f64>>> {
    let n = a.len();
    debug_assert!(m >= n);
    let mut vs: Vec<Vec<f64>> = try_vec(n)?;
    let mut diag: Vec<f64> = zeroed_vec(n)?;
    for j in 0..n {
        let (left, right) = a.split_at_mut(j + 1);
        let col = &mut left[j];
        let x = &col[j..m];
        let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        let alpha = if x[0] >= 0.0 { -norm } else { norm };
        let mut v = try_vec(x.len())?;
        v.extend_from_slice(x);
        v[0] -= alpha;
        let vv: f64 = v.iter().map(|t| t * t).sum();
        if vv == 0.0 || !vv.is_finite() {
            // Nothing to reflect: the column is already (a multiple of) e_j.
            diag[j] = x[0];
            vs.push(Vec::new());
            continue;
        }
        diag[j] = alpha;
        let beta = 2.0 / vv;
        reflect(&v, beta, j, right);
        vs.push(v);
        // Column j of R below the diagonal is zero; it is not needed further.
        col[j] = alpha;
    }
    // Q = H_0 H_1 … H_{n-1} [I_n; 0], applied from the right-most reflection.
    let mut q: Vec<Vec<f64>> = try_vec(n)?;
    for c in 0..n {
        let mut e: Vec<f64> = zeroed_vec(m)?;
        e[c] = 1.0;
        q.push(e);
    }
    for j in (0..n).rev() {
        let v = &vs[j];
        if v.is_empty() {
            continue;
        }
        let vv: f64 = v.iter().map(|t| t * t).sum();
        reflect(v, 2.0 / vv, j, &mut q);
    }
    for (c, col) in q.iter_mut().enumerate() {
        // TF multiplies by sign(d): +1, -1 or 0.
        let s = if diag[c] > 0.0 {
            1.0
        } else if diag[c] < 0.0 {
            -1.0
        } else {
            0.0
        };
        col.iter_mut().for_each(|x| *x *= s);
    }
    Ok(q)
}

/// Applies `I - beta v vᵀ` (acting on rows `j..`) to every column in `cols`.
fn reflect(v: &[f64], beta: f64, j: usize, cols: &mut [Vec<f64>]) {
    let apply = |col: &mut Vec<f64>| {
        let seg = &mut col[j..j + v.len()];
        let d: f64 = seg.iter().zip(v).map(|(a, b)| a * b).sum();
        let t = beta * d;
        for (a, b) in seg.iter_mut().zip(v) {
            *a -= t * b;
        }
    };
    #[cfg(not(loom))]
    {
        if v.len() * cols.len() >= PARALLEL_WORK {
            use rayon::prelude::*;
            cols.par_iter_mut().for_each(apply);
            return;
        }
    }
    cols.iter_mut().for_each(apply);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn q_is_orthonormal_and_spans_a() {
        let m = 7;
        let n = 4;
        let a: Vec<Vec<f64>> = (0..n)
            .map(|c| {
                (0..m)
                    .map(|r| ((r * 7 + c * 13) % 11) as f64 - 5.0 + 0.1 * c as f64)
                    .collect()
            })
            .collect();
        let q = orthonormal_q(a.clone(), m).unwrap();
        for i in 0..n {
            for k in 0..n {
                let d: f64 = (0..m).map(|r| q[i][r] * q[k][r]).sum();
                let want = if i == k { 1.0 } else { 0.0 };
                assert!((d - want).abs() < 1e-12, "{i} {k} {d}");
            }
        }
        // R = Qᵀ A is upper triangular with a positive diagonal.
        for i in 0..n {
            for k in 0..n {
                let r: f64 = (0..m).map(|t| q[i][t] * a[k][t]).sum();
                if i > k {
                    assert!(r.abs() < 1e-10);
                }
                if i == k {
                    assert!(r > 0.0);
                }
            }
        }
    }
}
