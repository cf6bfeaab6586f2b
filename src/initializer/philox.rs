//! Philox4x32-10, the counter-based generator behind TensorFlow's random kernels.
//!
//! TensorFlow's `PhiloxRandom(seed, seed2)` uses `seed` as the 64-bit key and
//! `seed2` as the upper 64 bits of the 128-bit counter; the lower 64 bits start at
//! zero and count 128-bit blocks. Block `n` of a stream is therefore the Philox
//! permutation of the counter `(seed2 << 64) + n`, which makes every block (and so
//! every output element) computable on its own, from its position alone.

/// Multiplier of the first word pair.
const M0: u32 = 0xD251_1F53;
/// Multiplier of the second word pair.
const M1: u32 = 0xCD9E_8D57;
/// Key schedule increment, first word (golden ratio).
const W0: u32 = 0x9E37_79B9;
/// Key schedule increment, second word (sqrt(3) - 1).
const W1: u32 = 0xBB67_AE85;

/// Philox4x32-10 of one counter under one key, as in Random123.
///
/// ```
/// use varscope::init::philox::philox4x32_10;
/// assert_eq!(
///     philox4x32_10([0, 0, 0, 0], [0, 0]),
///     [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
/// );
/// ```
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut x = [[counter[0]], [counter[1]], [counter[2]], [counter[3]]];
    rounds::<1>(key, &mut x);
    [x[0][0], x[1][0], x[2][0], x[3][0]]
}

/// Ten Philox rounds over `N` counters stored word-major (`x[word][lane]`), in
/// place. Written lane-wise so that the compiler vectorizes it.
#[inline(always)]
#[allow(clippy::needless_range_loop)]
pub(crate) fn rounds<const N: usize>(key: [u32; 2], x: &mut [[u32; N]; 4]) {
    let (mut k0, mut k1) = (key[0], key[1]);
    for r in 0..10 {
        for i in 0..N {
            let p0 = u64::from(M0) * u64::from(x[0][i]);
            let p1 = u64::from(M1) * u64::from(x[2][i]);
            let n0 = ((p1 >> 32) as u32) ^ x[1][i] ^ k0;
            let n2 = ((p0 >> 32) as u32) ^ x[3][i] ^ k1;
            x[0][i] = n0;
            x[1][i] = p1 as u32;
            x[2][i] = n2;
            x[3][i] = p0 as u32;
        }
        if r < 9 {
            k0 = k0.wrapping_add(W0);
            k1 = k1.wrapping_add(W1);
        }
    }
}

/// One seeded Philox stream: TensorFlow's `PhiloxRandom(seed, seed2)` before any
/// sample was drawn.
///
/// ```
/// use varscope::init::philox::PhiloxStream;
/// let s = PhiloxStream::new(1, 3);
/// // Blocks are a pure function of their index.
/// assert_eq!(s.block(5), s.block(5));
/// assert_ne!(s.block(5), s.block(6));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhiloxStream {
    key: [u32; 2],
    base: u128,
}

impl PhiloxStream {
    /// The stream of TensorFlow's `PhiloxRandom(seed, seed2)`.
    ///
    /// ```
    /// use varscope::init::philox::PhiloxStream;
    /// // Random123's known-answer vector for philox4x32-10 (zero key, zero counter).
    /// let s = PhiloxStream::new(0, 0);
    /// assert_eq!(s.block(0), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
    /// ```
    pub fn new(seed: u64, seed2: u64) -> PhiloxStream {
        PhiloxStream {
            key: [seed as u32, (seed >> 32) as u32],
            base: u128::from(seed2) << 64,
        }
    }

    /// The key words.
    ///
    /// ```
    /// use varscope::init::philox::PhiloxStream;
    /// assert_eq!(PhiloxStream::new(0x1_0000_0002, 0).key(), [2, 1]); // low word first
    /// ```
    pub fn key(&self) -> [u32; 2] {
        self.key
    }

    /// The counter words of block `n`.
    ///
    /// ```
    /// use varscope::init::philox::PhiloxStream;
    /// let s = PhiloxStream::new(0, 7);
    /// assert_eq!(s.counter(3), [3, 0, 7, 0]); // seed2 is the upper half
    /// assert_eq!(s.counter(u64::MAX), [u32::MAX, u32::MAX, 7, 0]);
    /// ```
    #[inline(always)]
    pub fn counter(&self, n: u64) -> [u32; 4] {
        let c = self.base.wrapping_add(u128::from(n));
        [
            c as u32,
            (c >> 32) as u32,
            (c >> 64) as u32,
            (c >> 96) as u32,
        ]
    }

    /// The 128-bit block `n` of the stream (what TF's generator returns after
    /// skipping `n` blocks).
    ///
    /// ```
    /// use varscope::init::philox::PhiloxStream;
    /// let s = PhiloxStream::new(1, 2);
    /// let t = PhiloxStream::new(1, 3);
    /// assert_ne!(s.block(0), t.block(0)); // seed2 selects another stream
    /// assert_eq!(s.block(9), s.block(9));
    /// ```
    #[inline]
    pub fn block(&self, n: u64) -> [u32; 4] {
        philox4x32_10(self.counter(n), self.key)
    }

    /// Blocks `n[0], …, n[N-1]`, word-major: `out[word][lane]`.
    #[inline(always)]
    pub(crate) fn blocks_at<const N: usize>(&self, n: &[u64; N]) -> [[u32; N]; 4] {
        let mut x = [[0u32; N]; 4];
        for (i, &ni) in n.iter().enumerate() {
            let c = self.counter(ni);
            x[0][i] = c[0];
            x[1][i] = c[1];
            x[2][i] = c[2];
            x[3][i] = c[3];
        }
        rounds::<N>(self.key, &mut x);
        x
    }

    /// The `N` consecutive blocks `n0, n0 + 1, …`, word-major.
    #[inline(always)]
    #[allow(clippy::needless_range_loop)]
    pub(crate) fn blocks_from<const N: usize>(&self, n0: u64) -> [[u32; N]; 4] {
        let mut x = [[0u32; N]; 4];
        let c = self.counter(n0);
        if c[0].checked_add(N as u32).is_some() {
            // No carry out of the low word inside this batch.
            for i in 0..N {
                x[0][i] = c[0] + i as u32;
                x[1][i] = c[1];
                x[2][i] = c[2];
                x[3][i] = c[3];
            }
        } else {
            for i in 0..N {
                let ci = self.counter(n0.wrapping_add(i as u64));
                x[0][i] = ci[0];
                x[1][i] = ci[1];
                x[2][i] = ci[2];
                x[3][i] = ci[3];
            }
        }
        rounds::<N>(self.key, &mut x);
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random123's `kat_vectors`, the three `philox4x32 10` lines.
    #[test]
    fn known_answers() {
        let cases: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
            (
                [0, 0, 0, 0],
                [0, 0],
                [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8],
            ),
            (
                [u32::MAX; 4],
                [u32::MAX; 2],
                [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd],
            ),
            (
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0],
                [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1],
            ),
        ];
        for (ctr, key, want) in cases {
            assert_eq!(philox4x32_10(ctr, key), want);
        }
    }

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn lanes_match_scalar() {
        let s = PhiloxStream::new(0x1234_5678_9abc_def0, 0xffff_ffff_ffff_fff0);
        // Crosses the low-word carry and the 64-bit wrap of the block index.
        for n0 in [0u64, 7, u64::from(u32::MAX) - 3, u64::MAX - 5] {
            let v = s.blocks_from::<8>(n0);
            for i in 0..8 {
                let b = s.block(n0.wrapping_add(i as u64));
                assert_eq!([v[0][i], v[1][i], v[2][i], v[3][i]], b);
            }
            let idx: [u64; 8] = std::array::from_fn(|i| n0.wrapping_add(3 * i as u64));
            let w = s.blocks_at(&idx);
            for i in 0..8 {
                assert_eq!([w[0][i], w[1][i], w[2][i], w[3][i]], s.block(idx[i]));
            }
        }
    }

    #[test]
    fn counter_layout() {
        let s = PhiloxStream::new(5, 0x0000_0002_0000_0001);
        assert_eq!(s.key(), [5, 0]);
        assert_eq!(s.counter(0), [0, 0, 1, 2]);
        assert_eq!(s.counter(u64::from(u32::MAX) + 2), [1, 1, 1, 2]);
    }
}
