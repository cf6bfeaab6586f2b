//! [`Seeds`]: the seed pair of a random initializer and its derivation, as
//! TensorFlow 1's `get_seed` computes it from the graph and op seeds, or from the
//! variable's name when the initializer has no op seed.

use super::philox::PhiloxStream;

/// The seed pair of a random initializer, as TensorFlow's kernels receive it.
///
/// `seed` becomes the Philox key and `seed2` the upper half of the Philox counter.
///
/// ```
/// use varscope::init::Seeds;
/// let s = Seeds::tf(10, 20);
/// assert_eq!((s.seed, s.seed2), (10, 20));
/// assert_eq!(s.stream().key(), [10, 0]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Seeds {
    /// First seed (the graph-level seed).
    pub seed: u64,
    /// Second seed (the op-level seed).
    pub seed2: u64,
}

/// `2**31 - 1`, TensorFlow's `_MAXINT32`.
const MAXINT32: u64 = (1 << 31) - 1;

impl Seeds {
    /// TF's `get_seed(op_seed)` in a graph with seed `graph_seed`: both seeds are
    /// reduced modulo `2**31 - 1` (`_truncate_seed`), and the pair `(0, 0)`, which
    /// the kernels would read as "nondeterministic", becomes `(0, 2**31 - 1)`.
    ///
    /// ```
    /// use varscope::init::Seeds;
    /// assert_eq!(Seeds::tf(1, 3), Seeds { seed: 1, seed2: 3 });
    /// assert_eq!(Seeds::tf((1 << 31) + 5, 42), Seeds { seed: 6, seed2: 42 });
    /// assert_eq!(Seeds::tf(0, 0), Seeds { seed: 0, seed2: (1 << 31) - 1 });
    /// ```
    pub fn tf(graph_seed: u64, op_seed: u64) -> Seeds {
        let seed = graph_seed % MAXINT32;
        let seed2 = op_seed % MAXINT32;
        if seed == 0 && seed2 == 0 {
            Seeds {
                seed: 0,
                seed2: MAXINT32,
            }
        } else {
            Seeds { seed, seed2 }
        }
    }

    /// TF's `get_seed(op_seed)` when only the op seed is set: the graph seed is
    /// `DEFAULT_GRAPH_SEED` (87654321).
    ///
    /// ```
    /// use varscope::init::Seeds;
    /// assert_eq!(Seeds::op_only(5), Seeds::tf(87654321, 5));
    /// ```
    pub fn op_only(op_seed: u64) -> Seeds {
        Seeds::tf(87_654_321, op_seed)
    }

    /// The seeds of a variable whose initializer has no op seed: derived from the
    /// graph seed and the variable's full name (a stable FNV-1a hash), never from
    /// creation order.
    ///
    /// ```
    /// use varscope::init::Seeds;
    /// assert_eq!(Seeds::for_name(1, "a/w"), Seeds::for_name(1, "a/w"));
    /// assert_ne!(Seeds::for_name(1, "a/w"), Seeds::for_name(1, "b/w"));
    /// ```
    pub fn for_name(graph_seed: u64, full_name: &str) -> Seeds {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in full_name.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        Seeds::tf(graph_seed, h)
    }

    /// The Philox stream these seeds select.
    ///
    /// ```
    /// use varscope::init::philox::PhiloxStream;
    /// use varscope::init::Seeds;
    /// assert_eq!(Seeds::tf(4, 5).stream(), PhiloxStream::new(4, 5));
    /// ```
    pub fn stream(&self) -> PhiloxStream {
        PhiloxStream::new(self.seed, self.seed2)
    }
}
