//! Branch-free float32 `ln` and `sin_cos` for the Box–Muller transform, written
//! so that lane loops over arrays of them auto-vectorize.
//!
//! Both are self-contained (Cody–Waite reduction plus Cephes-style minimax
//! polynomials, no table, no libm call, no fused multiply-add), so they give the
//! same bits on every platform and for every vector width. They are only meant
//! for the argument ranges of TensorFlow's `BoxMullerFloat`:
//!
//! * [`ln`]: positive normal floats (the kernel feeds `[1e-7, 1)`);
//! * [`sin_cos`]: `[0, 2π]` (the kernel feeds `[0, 2π)`).
//!
//! Every input of those ranges that the kernel can produce (2^23 of each) is
//! checked against a float64 reference in the tests below: both are within
//! 2 ulp (`ln`) and 2 ulp or 2^-26 absolute (`sin_cos`).

/// `ln 2` split for Cody–Waite: `LN2_HI` has few bits, so `e * LN2_HI` is exact.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// Natural logarithm of a positive normal float.
#[inline(always)]
pub(crate) fn ln(x: f32) -> f32 {
    // x = 2^e * m with m in [sqrt(1/2), sqrt(2)).
    const SQRT_HALF_BITS: u32 = 0x3f35_04f3;
    let t = x.to_bits().wrapping_add(0x3f80_0000 - SQRT_HALF_BITS);
    let e = ((t >> 23) as i32 - 127) as f32;
    let m = f32::from_bits((t & 0x007f_ffff) + SQRT_HALF_BITS);
    let r = m - 1.0;
    let z = r * r;
    let mut p = 7.037_683_6e-2f32;
    p = p * r - 1.151_461e-1;
    p = p * r + 1.167_699_9e-1;
    p = p * r - 1.242_014_1e-1;
    p = p * r + 1.424_932_3e-1;
    p = p * r - 1.666_805_8e-1;
    p = p * r + 2.000_071_5e-1;
    p = p * r - 2.499_999_4e-1;
    p = p * r + 3.333_333e-1;
    let mut y = r * (z * p);
    y += e * LN2_LO;
    y -= 0.5 * z;
    (r + y) + e * LN2_HI
}

/// `π/2` split in three for Cody–Waite (the first two have few bits, so their
/// products with the small quadrant numbers used here are exact).
const PIO2_1: f32 = 1.570_312_5;
const PIO2_2: f32 = 4.837_513e-4;
const PIO2_3: f32 = 7.549_79e-8;

/// `(sin v, cos v)` for `v` in `[0, 2π]`.
#[inline(always)]
pub(crate) fn sin_cos(v: f32) -> (f32, f32) {
    // Quadrant k in 0..=4 and r = v - k π/2 in [-π/4, π/4].
    // Round to nearest by adding 1.5 * 2^23 (no float-to-int conversion, whose
    // saturating semantics would not vectorize); k is in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let kr = v * std::f32::consts::FRAC_2_PI + ROUND;
    let kf = kr - ROUND;
    let ku = kr.to_bits() & 7;
    let r = ((v - kf * PIO2_1) - kf * PIO2_2) - kf * PIO2_3;
    let z = r * r;
    let mut ps = -1.951_529_6e-4f32;
    ps = ps * z + 8.332_161e-3;
    ps = ps * z - 1.666_665_5e-1;
    let s = ps * z * r + r;
    let mut pc = 2.443_315_7e-5f32;
    pc = pc * z - 1.388_731_6e-3;
    pc = pc * z + 4.166_664_6e-2;
    let c = (pc * z * z - 0.5 * z) + 1.0;
    // Odd quadrants swap sin and cos; sin is negated in quadrants 2, 3 and cos
    // in quadrants 1, 2.
    let swap = 0u32.wrapping_sub(ku & 1);
    let (sb, cb) = (s.to_bits(), c.to_bits());
    let sin = (sb & !swap) | (cb & swap);
    let cos = (cb & !swap) | (sb & swap);
    let sin_sign = (ku & 2) << 30;
    let cos_sign = (ku.wrapping_add(1) & 2) << 30;
    (
        f32::from_bits(sin ^ sin_sign),
        f32::from_bits(cos ^ cos_sign),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in float32 ulps of `got` from the exact `want`.
    fn ulps(got: f32, want: f64) -> f64 {
        let w = want as f32;
        let ulp = if w == 0.0 {
            f64::from(f32::MIN_POSITIVE)
        } else {
            let b = w.abs().to_bits();
            f64::from(f32::from_bits(b + 1)) - f64::from(f32::from_bits(b))
        };
        (f64::from(got) - want).abs() / ulp
    }

    /// Every `Uint32ToFloat` value (and the 1e-7 clamp) that the kernel takes the
    /// logarithm of.
    #[test]
    fn ln_is_within_two_ulp_on_the_kernel_inputs() {
        let step = if cfg!(debug_assertions) { 7 } else { 1 };
        let mut worst = (0.0f64, 0f32);
        let mut check = |x: f32| {
            let u = ulps(ln(x), f64::from(x).ln());
            if u > worst.0 {
                worst = (u, x);
            }
        };
        check(1.0e-7);
        for m in (1u32..1 << 23).step_by(step) {
            check(m as f32 / (1u32 << 23) as f32);
        }
        // Other binades, to keep the reduction honest.
        for x in [
            1.0f32,
            1.5,
            2.0,
            1e10,
            f32::MIN_POSITIVE,
            f32::from_bits(0x3f35_04f2),
            f32::from_bits(0x3f35_04f3),
        ] {
            check(x);
        }
        assert!(worst.0 <= 2.0, "ln: {} ulp at {:e}", worst.0, worst.1);
    }

    /// Every `2π · Uint32ToFloat` value the kernel takes sin and cos of.
    #[test]
    fn sin_cos_are_within_two_ulp_on_the_kernel_inputs() {
        let step = if cfg!(debug_assertions) { 7 } else { 1 };
        let mut worst = (0.0f64, 0f32);
        for m in (0u32..1 << 23).step_by(step) {
            let v = (2.0 * std::f64::consts::PI * f64::from(m as f32 / (1u32 << 23) as f32)) as f32;
            let (s, c) = sin_cos(v);
            let (ws, wc) = f64::from(v).sin_cos();
            for (g, w) in [(s, ws), (c, wc)] {
                // Near a zero of sin/cos, 2^-26 absolute is far below what the
                // golden tolerance needs and what the reduction guarantees.
                let u = if (f64::from(g) - w).abs() <= 1.0 / f64::from(1u32 << 26) {
                    0.0
                } else {
                    ulps(g, w)
                };
                if u > worst.0 {
                    worst = (u, v);
                }
            }
        }
        let v = std::f32::consts::TAU;
        let (s, c) = sin_cos(v);
        assert!((f64::from(s) - f64::from(v).sin()).abs() < 1e-12 && c == 1.0);
        assert!(worst.0 <= 2.0, "sin_cos: {} ulp at {:e}", worst.0, worst.1);
    }
}
