//! TensorFlow's random distributions over a Philox stream, addressable by element.
//!
//! Every kernel reproduces one of TF's CPU kernels (`FillPhiloxRandomTask` with a
//! distribution of `random_distributions.h`) followed by the Python-side affine
//! map (`rnd * scale + shift`, in the output dtype). Output element `k` belongs to
//! group `k / G`; a fixed-sample distribution computes group `g` from Philox block
//! `g` (uniform and normal), a variable-sample one (truncated normal) from the
//! blocks reserved for it, starting at `g * 256 * G / 4`. Hence [`fill_range`] can
//! produce any contiguous range of the output on its own, in any order, on any
//! thread, with bit-identical results.

use super::fastmath;
use super::philox::PhiloxStream;
use half::{bf16, f16};

/// Groups per vectorized batch.
const B: usize = 16;
/// Groups per truncated-normal batch.
const TB: usize = 4 * B;
/// Philox blocks TF reserves per output element of a variable-sample distribution
/// (`kReservedSamplesPerOutput` = 256 uint32 samples = 64 blocks).
const RESERVED_BLOCKS_PER_OUTPUT: u64 = 256 / 4;

/// A distribution whose output is made of fixed-size groups.
pub(crate) trait Kernel: Sync {
    /// Output element type.
    type T: Copy + Default + Send;
    /// Elements per group (at most 4).
    const G: usize;
    /// Writes group `g` into `out` (`out.len() == G`).
    fn group(&self, g: u64, out: &mut [Self::T]);
    /// Writes groups `g, g + 1, …` into `out` (`out.len()` a multiple of `G`).
    fn groups(&self, g: u64, out: &mut [Self::T]) {
        for (i, c) in out.chunks_exact_mut(Self::G).enumerate() {
            self.group(g + i as u64, c);
        }
    }
}

/// Fills `out` with the output elements `start .. start + out.len()`.
pub(crate) fn fill_range<K: Kernel>(k: &K, start: u64, out: &mut [K::T]) {
    let g = K::G as u64;
    let mut pos = 0usize;
    let mut idx = start;
    let r = (idx % g) as usize;
    if r != 0 && !out.is_empty() {
        let mut tmp = [K::T::default(); 4];
        k.group(idx / g, &mut tmp[..K::G]);
        let n = (K::G - r).min(out.len());
        out[..n].copy_from_slice(&tmp[r..r + n]);
        pos = n;
        idx += n as u64;
    }
    let full = (out.len() - pos) / K::G * K::G;
    if full > 0 {
        k.groups(idx / g, &mut out[pos..pos + full]);
        pos += full;
        idx += full as u64;
    }
    if pos < out.len() {
        let mut tmp = [K::T::default(); 4];
        k.group(idx / g, &mut tmp[..K::G]);
        let n = out.len() - pos;
        out[pos..].copy_from_slice(&tmp[..n]);
    }
}

// ---------------------------------------------------------------------------------
// Element conversions of random_distributions.h

/// `Uint32ToFloat`: 23 random mantissa bits, uniform in `[0, 1)`.
#[inline(always)]
pub(crate) fn u32_to_f32(x: u32) -> f32 {
    f32::from_bits((x & 0x007f_ffff) | 0x3f80_0000) - 1.0
}

/// `Uint64ToDouble`: 52 random mantissa bits, uniform in `[0, 1)`.
#[inline(always)]
pub(crate) fn u64_to_f64(x0: u32, x1: u32) -> f64 {
    let man = (u64::from(x0 & 0x000f_ffff) << 32) | u64::from(x1);
    f64::from_bits((1023u64 << 52) | man) - 1.0
}

/// `BoxMullerFloat`: two standard normals from two uint32 samples.
///
/// TensorFlow's kernel calls the platform libm's `logf`, `sinf` and `cosf`; this
/// uses the crate's own branch-free [`fastmath`] functions instead (within 2 ulp
/// of exact, identical on every platform). `u1` and `v1` are TensorFlow's bit for
/// bit, so the results differ from TensorFlow's by a few float32 ulps at most.
#[inline(always)]
pub(crate) fn box_muller_f32(x0: u32, x1: u32) -> (f32, f32) {
    const EPSILON: f32 = 1.0e-7;
    // `max` rather than a branch: `u1` is never NaN.
    let u1 = u32_to_f32(x0).max(EPSILON);
    // `2.0f * M_PI * Uint32ToFloat(x1)` is evaluated in double precision.
    let v1 = (2.0 * std::f64::consts::PI * f64::from(u32_to_f32(x1))) as f32;
    let u2 = (-2.0f32 * fastmath::ln(u1)).sqrt();
    let (s, c) = fastmath::sin_cos(v1);
    (s * u2, c * u2)
}

/// `BoxMullerDouble`: two standard normals from four uint32 samples.
#[inline]
pub(crate) fn box_muller_f64(x0: u32, x1: u32, x2: u32, x3: u32) -> (f64, f64) {
    const EPSILON: f64 = 1.0e-7;
    let mut u1 = u64_to_f64(x0, x1);
    if u1 < EPSILON {
        u1 = EPSILON;
    }
    let v1 = 2.0 * std::f64::consts::PI * u64_to_f64(x2, x3);
    let u2 = (-2.0 * u1.ln()).sqrt();
    let (s, c) = v1.sin_cos();
    (s * u2, c * u2)
}

/// Box–Muller over `N` lanes (vectorizes).
#[inline(always)]
fn box_muller_lanes<const N: usize>(a: &[u32; N], b: &[u32; N]) -> ([f32; N], [f32; N]) {
    let mut s = [0f32; N];
    let mut c = [0f32; N];
    for i in 0..N {
        let (x, y) = box_muller_f32(a[i], b[i]);
        s[i] = x;
        c[i] = y;
    }
    (s, c)
}

// ---------------------------------------------------------------------------------
// Output element types

/// Floating-point outputs and their arithmetic as TF/Eigen performs it.
pub(crate) trait Real: Copy + Default + Send + Sync + 'static {
    /// `x * a + b` with the rounding of two separate TF ops in this dtype.
    fn affine(x: Self, a: Self, b: Self) -> Self;
    /// From f64 (TF's conversion of a Python float).
    fn from_f64(v: f64) -> Self;
    /// `a - b` in this dtype.
    fn sub(a: Self, b: Self) -> Self;
}

impl Real for f32 {
    #[inline(always)]
    fn affine(x: f32, a: f32, b: f32) -> f32 {
        x * a + b
    }
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
    fn sub(a: f32, b: f32) -> f32 {
        a - b
    }
}

impl Real for f64 {
    #[inline(always)]
    fn affine(x: f64, a: f64, b: f64) -> f64 {
        x * a + b
    }
    fn from_f64(v: f64) -> f64 {
        v
    }
    fn sub(a: f64, b: f64) -> f64 {
        a - b
    }
}

/// 16-bit floats: Eigen computes each op in float32 and rounds to nearest even.
pub(crate) trait Half: Real {
    /// Round from f32.
    fn from_f32(v: f32) -> Self;
    /// `Uint16ToHalf` / `Uint16ToGfloat16`: uniform `[0, 1)` from the low bits.
    fn uniform(x: u32) -> Self;
}

macro_rules! half_real {
    ($t:ty, $mant_bits:expr) => {
        impl Real for $t {
            #[inline(always)]
            fn affine(x: $t, a: $t, b: $t) -> $t {
                let m = <$t>::from_f32(x.to_f32() * a.to_f32());
                <$t>::from_f32(m.to_f32() + b.to_f32())
            }
            fn from_f64(v: f64) -> $t {
                <$t>::from_f64(v)
            }
            fn sub(a: $t, b: $t) -> $t {
                <$t>::from_f32(a.to_f32() - b.to_f32())
            }
        }
        impl Half for $t {
            #[inline(always)]
            fn from_f32(v: f32) -> $t {
                <$t>::from_f32(v)
            }
            #[inline(always)]
            fn uniform(x: u32) -> $t {
                // (1 + m / 2^bits) - 1 is exact in the 16-bit type.
                let m = x & ((1 << $mant_bits) - 1);
                <$t>::from_f32(m as f32 / (1u32 << $mant_bits) as f32)
            }
        }
    };
}
half_real!(f16, 10);
half_real!(bf16, 7);

// ---------------------------------------------------------------------------------
// Kernels

/// Whether the f32 kernels run their AVX2 copy: the CPU has AVX2 and the
/// environment variable `VARSCOPE_INIT_NO_AVX2` is not set (a knob for
/// benchmarks and tests; both copies give identical bits).
pub(crate) fn use_avx2() -> bool {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        static USE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *USE.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx2")
                && std::env::var_os("VARSCOPE_INIT_NO_AVX2").is_none()
        })
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    false
}

/// Gives a float32 kernel with an inlined `groups_generic` a `groups_dispatch`
/// that runs the same generic code compiled for AVX2 when [`use_avx2`]. The AVX2
/// copy only has wider vectors: no FMA (not enabled), so every operation rounds
/// exactly as in the baseline (SSE2) copy and the results are bit-identical.
macro_rules! dispatched_groups {
    ($ty:ty) => {
        impl $ty {
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            #[target_feature(enable = "avx2")]
            #[allow(unsafe_code)]
            unsafe fn groups_avx2(&self, g: u64, out: &mut [f32]) {
                self.groups_generic(g, out)
            }

            fn groups_dispatch(&self, g: u64, out: &mut [f32]) {
                #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
                if use_avx2() {
                    // SAFETY: `use_avx2` checked that the CPU supports AVX2, the
                    // only requirement of `groups_avx2`.
                    #[allow(unsafe_code)]
                    return unsafe { self.groups_avx2(g, out) };
                }
                self.groups_generic(g, out)
            }
        }
    };
}

/// Uniform float32: `Uint32ToFloat`, four per block.
#[derive(Debug)]
pub(crate) struct UniformF32 {
    pub st: PhiloxStream,
    pub scale: f32,
    pub shift: f32,
}

impl UniformF32 {
    #[inline(always)]
    fn groups_generic(&self, g: u64, out: &mut [f32]) {
        let mut chunks = out.chunks_exact_mut(4 * B);
        let mut gi = g;
        for c in &mut chunks {
            let x = self.st.blocks_from::<B>(gi);
            for i in 0..B {
                for j in 0..4 {
                    c[4 * i + j] = f32::affine(u32_to_f32(x[j][i]), self.scale, self.shift);
                }
            }
            gi += B as u64;
        }
        for (i, c) in chunks.into_remainder().chunks_exact_mut(4).enumerate() {
            self.group(gi + i as u64, c);
        }
    }
}

dispatched_groups!(UniformF32);

impl Kernel for UniformF32 {
    type T = f32;
    const G: usize = 4;
    fn group(&self, g: u64, out: &mut [f32]) {
        let b = self.st.block(g);
        for j in 0..4 {
            out[j] = f32::affine(u32_to_f32(b[j]), self.scale, self.shift);
        }
    }
    fn groups(&self, g: u64, out: &mut [f32]) {
        self.groups_dispatch(g, out)
    }
}

/// Normal float32: two `BoxMullerFloat`s per block.
#[derive(Debug)]
pub(crate) struct NormalF32 {
    pub st: PhiloxStream,
    pub scale: f32,
    pub shift: f32,
}

impl NormalF32 {
    #[inline(always)]
    fn groups_generic(&self, g: u64, out: &mut [f32]) {
        let mut chunks = out.chunks_exact_mut(4 * B);
        let mut gi = g;
        for c in &mut chunks {
            let x = self.st.blocks_from::<B>(gi);
            let (s0, c0) = box_muller_lanes::<B>(&x[0], &x[1]);
            let (s1, c1) = box_muller_lanes::<B>(&x[2], &x[3]);
            for i in 0..B {
                c[4 * i] = f32::affine(s0[i], self.scale, self.shift);
                c[4 * i + 1] = f32::affine(c0[i], self.scale, self.shift);
                c[4 * i + 2] = f32::affine(s1[i], self.scale, self.shift);
                c[4 * i + 3] = f32::affine(c1[i], self.scale, self.shift);
            }
            gi += B as u64;
        }
        for (i, c) in chunks.into_remainder().chunks_exact_mut(4).enumerate() {
            self.group(gi + i as u64, c);
        }
    }
}

dispatched_groups!(NormalF32);

impl Kernel for NormalF32 {
    type T = f32;
    const G: usize = 4;
    fn group(&self, g: u64, out: &mut [f32]) {
        let b = self.st.block(g);
        let (a0, a1) = box_muller_f32(b[0], b[1]);
        let (a2, a3) = box_muller_f32(b[2], b[3]);
        for (o, v) in out.iter_mut().zip([a0, a1, a2, a3]) {
            *o = f32::affine(v, self.scale, self.shift);
        }
    }
    fn groups(&self, g: u64, out: &mut [f32]) {
        self.groups_dispatch(g, out)
    }
}

/// Truncated normal producing float32 values (also the source of the 16-bit
/// versions, which round the accepted float32 values).
#[derive(Debug)]
struct TruncCore {
    st: PhiloxStream,
}

impl TruncCore {
    /// First block of group `g` (4 outputs per group).
    #[inline(always)]
    fn first_block(g: u64) -> u64 {
        g.wrapping_mul(4 * RESERVED_BLOCKS_PER_OUTPUT)
    }

    /// Continues group `g` from block `j` (relative) with `n` values accepted.
    fn finish(&self, g: u64, mut j: u64, res: &mut [f32; 4], mut n: usize) {
        let first = Self::first_block(g);
        loop {
            let b = self.st.block(first.wrapping_add(j));
            for p in 0..2 {
                let (f0, f1) = box_muller_f32(b[2 * p], b[2 * p + 1]);
                for f in [f0, f1] {
                    if f.abs() < 2.0 {
                        res[n] = f;
                        n += 1;
                        if n == 4 {
                            return;
                        }
                    }
                }
            }
            j += 1;
        }
    }

    fn group(&self, g: u64) -> [f32; 4] {
        let mut res = [0f32; 4];
        self.finish(g, 0, &mut res, 0);
        res
    }

    /// `TB` consecutive groups from `g`. The first block of every group is
    /// computed vectorized, then the second block of the groups that still need
    /// one (about 17 %), also vectorized; the very rare groups that need a third
    /// block continue one by one.
    #[inline(always)]
    fn batch(&self, g: u64, out: &mut [[f32; 4]; TB]) {
        let mut n = [0usize; TB];
        for q in 0..TB / B {
            let idx: [u64; B] = std::array::from_fn(|i| Self::first_block(g + (q * B + i) as u64));
            let x = self.st.blocks_at::<B>(&idx);
            let (s0, c0) = box_muller_lanes::<B>(&x[0], &x[1]);
            let (s1, c1) = box_muller_lanes::<B>(&x[2], &x[3]);
            for i in 0..B {
                let k = q * B + i;
                for f in [s0[i], c0[i], s1[i], c1[i]] {
                    if f.abs() < 2.0 {
                        out[k][n[k]] = f;
                        n[k] += 1;
                    }
                }
            }
        }
        let mut needy = [0usize; TB];
        let mut m = 0;
        for (k, &nk) in n.iter().enumerate() {
            if nk < 4 {
                needy[m] = k;
                m += 1;
            }
        }
        for chunk in needy[..m].chunks(B) {
            let idx: [u64; B] = std::array::from_fn(|l| {
                let k = chunk[l.min(chunk.len() - 1)];
                Self::first_block(g + k as u64).wrapping_add(1)
            });
            let x = self.st.blocks_at::<B>(&idx);
            let (s0, c0) = box_muller_lanes::<B>(&x[0], &x[1]);
            let (s1, c1) = box_muller_lanes::<B>(&x[2], &x[3]);
            for (l, &k) in chunk.iter().enumerate() {
                for f in [s0[l], c0[l], s1[l], c1[l]] {
                    if n[k] < 4 && f.abs() < 2.0 {
                        out[k][n[k]] = f;
                        n[k] += 1;
                    }
                }
                if n[k] < 4 {
                    self.finish(g + k as u64, 2, &mut out[k], n[k]);
                }
            }
        }
    }
}

/// Truncated normal float32 (`TruncatedNormalDistribution<…, float>`).
#[derive(Debug)]
pub(crate) struct TruncF32 {
    core: TruncCore,
    scale: f32,
    shift: f32,
}

impl TruncF32 {
    pub(crate) fn new(st: PhiloxStream, scale: f32, shift: f32) -> Self {
        TruncF32 {
            core: TruncCore { st },
            scale,
            shift,
        }
    }
}

impl TruncF32 {
    #[inline(always)]
    fn groups_generic(&self, g: u64, out: &mut [f32]) {
        let mut chunks = out.chunks_exact_mut(4 * TB);
        let mut gi = g;
        let mut tmp = [[0f32; 4]; TB];
        for c in &mut chunks {
            self.core.batch(gi, &mut tmp);
            for (o, v) in c.iter_mut().zip(tmp.as_flattened()) {
                *o = f32::affine(*v, self.scale, self.shift);
            }
            gi += TB as u64;
        }
        for (i, c) in chunks.into_remainder().chunks_exact_mut(4).enumerate() {
            self.group(gi + i as u64, c);
        }
    }
}

dispatched_groups!(TruncF32);

impl Kernel for TruncF32 {
    type T = f32;
    const G: usize = 4;
    fn group(&self, g: u64, out: &mut [f32]) {
        for (o, v) in out.iter_mut().zip(self.core.group(g)) {
            *o = f32::affine(v, self.scale, self.shift);
        }
    }
    fn groups(&self, g: u64, out: &mut [f32]) {
        self.groups_dispatch(g, out)
    }
}

/// Which distribution a 16-bit kernel draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dist {
    Uniform,
    Normal,
    Truncated,
}

/// float16 / bfloat16 kernels: uniform from 16-bit mantissas, normal and truncated
/// normal through float32 Box–Muller rounded to the 16-bit type.
#[derive(Debug)]
pub(crate) struct HalfKernel<H> {
    pub dist: Dist,
    pub st: PhiloxStream,
    pub scale: H,
    pub shift: H,
}

impl<H: Half> Kernel for HalfKernel<H> {
    type T = H;
    const G: usize = 4;
    fn group(&self, g: u64, out: &mut [H]) {
        let raw: [H; 4] = match self.dist {
            Dist::Uniform => self.st.block(g).map(H::uniform),
            Dist::Normal => {
                let b = self.st.block(g);
                let (a0, a1) = box_muller_f32(b[0], b[1]);
                let (a2, a3) = box_muller_f32(b[2], b[3]);
                [a0, a1, a2, a3].map(H::from_f32)
            }
            Dist::Truncated => TruncCore { st: self.st }.group(g).map(H::from_f32),
        };
        for (o, v) in out.iter_mut().zip(raw) {
            *o = H::affine(v, self.scale, self.shift);
        }
    }
}

/// float64 kernels (`UniformDistribution`, `NormalDistribution` and
/// `TruncatedNormalDistribution` for double): two outputs per group.
#[derive(Debug)]
pub(crate) struct F64Kernel {
    pub dist: Dist,
    pub st: PhiloxStream,
    pub scale: f64,
    pub shift: f64,
}

impl Kernel for F64Kernel {
    type T = f64;
    const G: usize = 2;
    fn group(&self, g: u64, out: &mut [f64]) {
        let raw = match self.dist {
            Dist::Uniform => {
                let b = self.st.block(g);
                [u64_to_f64(b[0], b[1]), u64_to_f64(b[2], b[3])]
            }
            Dist::Normal => {
                let b = self.st.block(g);
                let (d0, d1) = box_muller_f64(b[0], b[1], b[2], b[3]);
                [d0, d1]
            }
            Dist::Truncated => {
                // 2 outputs per group, 2 * 256 samples = 128 blocks reserved.
                let first = g.wrapping_mul(2 * RESERVED_BLOCKS_PER_OUTPUT);
                let mut res = [0f64; 2];
                let mut n = 0;
                let mut j = 0u64;
                'outer: loop {
                    let b = self.st.block(first.wrapping_add(j));
                    let (d0, d1) = box_muller_f64(b[0], b[1], b[2], b[3]);
                    for d in [d0, d1] {
                        if d.abs() < 2.0 {
                            res[n] = d;
                            n += 1;
                            if n == 2 {
                                break 'outer;
                            }
                        }
                    }
                    j += 1;
                }
                res
            }
        };
        out[0] = f64::affine(raw[0], self.scale, self.shift);
        out[1] = f64::affine(raw[1], self.scale, self.shift);
    }
}

/// `UniformDistribution<…, int32>`: `lo + sample % range`, four per block.
#[derive(Debug)]
pub(crate) struct UniformI32 {
    pub st: PhiloxStream,
    pub lo: i32,
    pub range: u32,
}

impl Kernel for UniformI32 {
    type T = i32;
    const G: usize = 4;
    fn group(&self, g: u64, out: &mut [i32]) {
        let b = self.st.block(g);
        for j in 0..4 {
            out[j] = self.lo.wrapping_add((b[j] % self.range) as i32);
        }
    }
}

/// `UniformDistribution<…, int64>`: two per block from 64-bit samples.
#[derive(Debug)]
pub(crate) struct UniformI64 {
    pub st: PhiloxStream,
    pub lo: i64,
    pub range: u64,
}

impl Kernel for UniformI64 {
    type T = i64;
    const G: usize = 2;
    fn group(&self, g: u64, out: &mut [i64]) {
        let b = self.st.block(g);
        for i in 0..2 {
            let bits = u64::from(b[2 * i]) | (u64::from(b[2 * i + 1]) << 32);
            out[i] = self.lo.wrapping_add((bits % self.range) as i64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole<K: Kernel>(k: &K, n: usize) -> Vec<K::T> {
        let mut v = vec![K::T::default(); n];
        for (i, o) in v.iter_mut().enumerate() {
            let mut one = [K::T::default()];
            fill_range(k, i as u64, &mut one);
            *o = one[0];
        }
        v
    }

    fn check<K: Kernel>(k: &K)
    where
        K::T: PartialEq + std::fmt::Debug,
    {
        let n = 4 * TB * 2 + 4 * B * 3 + 7;
        let want = whole(k, n);
        for start in [0usize, 1, 2, 3, 5, 64, 65, 257] {
            for len in [0usize, 1, 3, 4, 70, n - start] {
                if start + len > n {
                    continue;
                }
                let mut got = vec![K::T::default(); len];
                fill_range(k, start as u64, &mut got);
                assert_eq!(got, want[start..start + len], "start {start} len {len}");
            }
        }
    }

    #[test]
    fn ranges_agree_with_elements() {
        let st = PhiloxStream::new(7, 123_456_789);
        check(&UniformF32 {
            st,
            scale: 4.0,
            shift: -3.0,
        });
        check(&NormalF32 {
            st,
            scale: 2.0,
            shift: 0.5,
        });
        check(&TruncF32::new(st, 1.0, 0.0));
        for dist in [Dist::Uniform, Dist::Normal, Dist::Truncated] {
            check(&F64Kernel {
                dist,
                st,
                scale: 1.0,
                shift: 0.0,
            });
            check(&HalfKernel::<f16> {
                dist,
                st,
                scale: f16::ONE,
                shift: f16::ZERO,
            });
        }
        check(&UniformI32 {
            st,
            lo: -5,
            range: 11,
        });
        check(&UniformI64 {
            st,
            lo: -5,
            range: 11,
        });
    }

    #[test]
    fn truncated_within_two_sigma() {
        let k = TruncF32::new(PhiloxStream::new(1, 2), 1.0, 0.0);
        let mut v = vec![0f32; 10_000];
        fill_range(&k, 0, &mut v);
        assert!(v.iter().all(|x| x.abs() < 2.0));
    }

    /// The AVX2 copies of the float32 kernels give the bits of the baseline copy.
    #[test]
    #[allow(unsafe_code)]
    fn avx2_copy_is_bit_identical() {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        if std::arch::is_x86_feature_detected!("avx2") {
            fn same(a: &[f32], b: &[f32]) {
                assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()));
            }
            let n = 4 * TB * 40 + 4 * B + 12;
            for (seed, g0) in [((1u64, 2u64), 0u64), ((7, 123_456_789), 1 << 40)] {
                let st = PhiloxStream::new(seed.0, seed.1);
                let (mut a, mut b) = (vec![0f32; n], vec![0f32; n]);
                let u = UniformF32 {
                    st,
                    scale: 3.0,
                    shift: -1.5,
                };
                u.groups_generic(g0, &mut a);
                // SAFETY: AVX2 support was checked above.
                unsafe { u.groups_avx2(g0, &mut b) };
                same(&a, &b);
                let k = NormalF32 {
                    st,
                    scale: 0.7,
                    shift: 0.5,
                };
                k.groups_generic(g0, &mut a);
                // SAFETY: AVX2 support was checked above.
                unsafe { k.groups_avx2(g0, &mut b) };
                same(&a, &b);
                let t = TruncF32::new(st, 0.3, 0.1);
                t.groups_generic(g0, &mut a);
                // SAFETY: AVX2 support was checked above.
                unsafe { t.groups_avx2(g0, &mut b) };
                same(&a, &b);
                assert!(a.iter().any(|&x| x != a[0]));
            }
        }
    }
}
