//! Initializers: TensorFlow 1's `init_ops`, with TF-compatible seeded random streams.
//!
//! Random initializers reproduce TensorFlow's CPU kernels exactly: the same
//! Philox4x32-10 stream ([`philox`]), the same uint32-to-float conversions, the
//! same Box–Muller transform and truncated-normal rejection with TF's per-group
//! counter reservation, and the same affine post-processing in the output dtype.
//! With `Seeds::tf(graph_seed, op_seed)`, a variable gets the values TensorFlow
//! gives `get_variable(…, initializer=init(seed=op_seed))` under
//! `set_random_seed(graph_seed)`.
//!
//! Every value is a function of its *global* position in the full variable, so a
//! shard (an [`InitContext`] with an offset and a part shape) holds exactly the
//! matching slice of the unpartitioned variable, whatever the partitioning, and
//! large outputs are filled in parallel (on the current rayon pool) with results
//! independent of the number of threads.
//!
//! ```
//! use varscope::init::{InitContext, Seeds};
//! use varscope::{DType, Init, Shape};
//!
//! let full = Shape::new([4, 3]).unwrap();
//! let ctx = InitContext {
//!     name: "w",
//!     dtype: DType::F32,
//!     full_shape: &full,
//!     offset: &[0, 0],
//!     shape: &full,
//!     seeds: Seeds::tf(1, 3),
//! };
//! let w = Init::glorot_uniform().materialize(&ctx).unwrap();
//! let limit = (6.0f32 / 7.0).sqrt();
//! assert!(w.view::<f32>().unwrap().iter().all(|v| v.abs() <= limit));
//!
//! // Rows 1..3 of the same variable, as a shard.
//! let part = Shape::new([2, 3]).unwrap();
//! let shard = InitContext { offset: &[1, 0], shape: &part, ..ctx.clone() };
//! let s = Init::glorot_uniform().materialize(&shard).unwrap();
//! assert_eq!(s.to_f64_vec(), w.to_f64_vec()[3..9].to_vec());
//! ```
//!
//! The initializer itself, [`Init`](crate::Init), is at the crate root; this module
//! holds what custom initializers and finer control need.

pub use crate::initializer::philox;
pub use crate::initializer::{
    compute_fans, ConstantValue, CustomFn, CustomInit, Distribution, FanMode, InitContext, Scalar,
    Seeds,
};
