//! Branch-free `ln`, `sin` and `cos` for the float32 Box–Muller transform.
//!
//! TensorFlow computes `logf` and `sincosf` of float32 arguments. These versions
//! evaluate in float64 (relative error of a few 1e-16) and round once to float32,
//! so they return the correctly rounded float32 result except in vanishingly rare
//! near-halfway cases (where glibc's float functions, which are not correctly
//! rounded either, may differ by one ulp). They contain no branches and no library
//! calls, so the compiler vectorizes loops over them.

const MAGIC_ROUND: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52
const SQRT2: f64 = std::f64::consts::SQRT_2;
const LN2: f64 = std::f64::consts::LN_2;

/// Natural logarithm of a positive, finite, normal float32 `x`, evaluated in
/// float64.
#[inline(always)]
pub(crate) fn ln_f64_of_f32(x: f32) -> f64 {
    let xd = f64::from(x);
    let bits = xd.to_bits();
    // Exponent as a float, without an integer-to-float conversion.
    let e_raw = f64::from_bits(0x4330_0000_0000_0000 | (bits >> 52)) - 4_503_599_627_370_496.0;
    let m = f64::from_bits((bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000);
    let big = m > SQRT2;
    let m = if big { m * 0.5 } else { m };
    let e = e_raw - 1023.0 + if big { 1.0 } else { 0.0 };
    // ln(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716.
    let s = (m - 1.0) / (m + 1.0);
    let z = s * s;
    let p = 2.0 / 21.0;
    let p = p * z + 2.0 / 19.0;
    let p = p * z + 2.0 / 17.0;
    let p = p * z + 2.0 / 15.0;
    let p = p * z + 2.0 / 13.0;
    let p = p * z + 2.0 / 11.0;
    let p = p * z + 2.0 / 9.0;
    let p = p * z + 2.0 / 7.0;
    let p = p * z + 2.0 / 5.0;
    let p = p * z + 2.0 / 3.0;
    let lnm = 2.0 * s + s * (z * p);
    e * LN2 + lnm
}

/// `logf(x)`: ln of a positive normal float32, correctly rounded in practice.
#[inline(always)]
pub(crate) fn logf(x: f32) -> f32 {
    ln_f64_of_f32(x) as f32
}

/// `(sin(x), cos(x))` of a float32 in `[0, 8)`, evaluated in float64.
#[inline(always)]
pub(crate) fn sincos_f64_of_f32(x: f32) -> (f64, f64) {
    // pi/2 = P1 + P2 + P3 with P1 of 30 significant bits, so k * P1 is exact.
    const P1: f64 = 1.570_796_325_802_803;
    const P2: f64 = 9.920_935_184_482_005e-10;
    const P3: f64 = 6.123_233_995_736_766e-17;
    let xd = f64::from(x);
    let t = xd * std::f64::consts::FRAC_2_PI + MAGIC_ROUND;
    let q = t.to_bits() & 3;
    let k = t - MAGIC_ROUND;
    let r = ((xd - k * P1) - k * P2) - k * P3;
    let z = r * r;
    // sin(r) and cos(r) for |r| <= pi/4 (Taylor, error below 1e-17).
    let s = 1.0 / 355_687_428_096_000.0; // 1/17!
    let s = s * z - 1.0 / 1_307_674_368_000.0;
    let s = s * z + 1.0 / 6_227_020_800.0;
    let s = s * z - 1.0 / 39_916_800.0;
    let s = s * z + 1.0 / 362_880.0;
    let s = s * z - 1.0 / 5_040.0;
    let s = s * z + 1.0 / 120.0;
    let s = s * z - 1.0 / 6.0;
    let sin_r = r + r * (z * s);
    let c = 1.0 / 6_402_373_705_728_000.0; // 1/18!
    let c = c * z - 1.0 / 20_922_789_888_000.0;
    let c = c * z + 1.0 / 87_178_291_200.0;
    let c = c * z - 1.0 / 479_001_600.0;
    let c = c * z + 1.0 / 3_628_800.0;
    let c = c * z - 1.0 / 40_320.0;
    let c = c * z + 1.0 / 720.0;
    let c = c * z - 1.0 / 24.0;
    let c = c * z + 0.5;
    let cos_r = 1.0 - z * c;
    let swap = q & 1 != 0;
    let (s0, c0) = if swap { (cos_r, sin_r) } else { (sin_r, cos_r) };
    let sin = if q & 2 != 0 { -s0 } else { s0 };
    let cos = if (q + 1) & 2 != 0 { -c0 } else { c0 };
    (sin, cos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_split_pi_over_2() {
        // P1 has at most 30 significant bits.
        const P1: f64 = 1.570_796_325_802_803;
        assert_eq!(P1.to_bits() & ((1 << 23) - 1), 0);
        assert_eq!(P1 + 9.920_935_184_482_005e-10, std::f64::consts::FRAC_PI_2);
    }

    #[test]
    fn ln_accuracy() {
        let mut worst = 0.0f64;
        let mut x = 1e-7f32;
        while x < 1.0 {
            let want = f64::from(x).ln();
            let got = ln_f64_of_f32(x);
            worst = worst.max(((got - want) / want).abs());
            x = f32::from_bits(x.to_bits() + 977);
        }
        assert!(worst < 1e-15, "worst relative error {worst}");
    }

    #[test]
    fn sincos_accuracy() {
        let mut worst = 0.0f64;
        let mut x = 1e-6f32;
        while x < 6.3 {
            let (s, c) = sincos_f64_of_f32(x);
            let xd = f64::from(x);
            let es = (s - xd.sin()).abs() / xd.sin().abs().max(1e-300);
            let ec = (c - xd.cos()).abs() / xd.cos().abs().max(1e-300);
            worst = worst.max(es).max(ec);
            x = f32::from_bits(x.to_bits() + 311);
        }
        assert!(worst < 1e-14, "worst relative error {worst}");
    }
}

