//! TF1's layers as variable creators: `tf.compat.v1.layers.dense`, `conv2d` and
//! `batch_normalization`, `tf.contrib.layers.layer_norm`, and the embedding table of
//! an `embedding_lookup`.
//!
//! Each layer creates exactly the variables TF creates — the same names, shapes
//! (`kernel` as `[in, out]`), dtypes, trainability, collections and default
//! initializers — in the calling thread's current variable scope, with TF's scope
//! rules:
//!
//! * a layer without a name opens a scope uniquified from its default name (`dense`,
//!   `dense_1`, …), exactly like `variable_scope(None, default_name="dense")`, so the
//!   counter is shared with every other scope of that name and restarts when the
//!   enclosing scope is re-entered;
//! * a layer *with* a name opens that scope as is (not uniquified: a second layer of
//!   the same name in the same scope is `Variable proj/kernel already exists`, as in
//!   TF, unless reuse is on);
//! * `reuse(Reuse::Yes | Reuse::Auto)` reuses; an unnamed layer with reuse on opens
//!   its default name as is (`dense`, never `dense_1`), as `tf.layers` does. Reuse is
//!   otherwise inherited from the enclosing scope.
//!
//! There are no tensors here: a layer takes the sizes its inputs would have and
//! returns its variables.
//!
//! ```
//! use varscope::{layers, variable_scope, Graph, Reuse};
//! Graph::with_seed(1).as_default(|| -> varscope::Result<()> {
//!     let a = layers::dense(4, 3).build()?;            // dense/kernel [4, 3], dense/bias [3]
//!     let b = layers::dense(4, 3).build()?;            // dense_1/…
//!     let c = layers::dense(4, 3).name("dense").reuse(Reuse::Yes).build()?;
//!     assert_eq!(a.kernel.name(), "dense/kernel:0");
//!     assert_eq!(b.kernel.name(), "dense_1/kernel:0");
//!     assert_eq!(c.kernel, a.kernel);
//!     variable_scope("encoder").enter(|_| -> varscope::Result<()> {
//!         let ln = layers::layer_norm(3).build()?;
//!         assert_eq!(ln.beta.unwrap().name(), "encoder/LayerNorm/beta:0");
//!         Ok(())
//!     })
//! })
//! .unwrap();
//! ```
//!
//! The test `tests/layers.rs` replays scenarios recorded from TensorFlow 2.21
//! (`tests/data/layers/record.py`) and compares every variable.

mod batch_norm;
mod conv2d;
mod dense;
mod embedding;
mod layer_norm;

pub use batch_norm::{batch_normalization, BatchNorm, BatchNormVariables};
pub use conv2d::{conv2d, Conv2d, Conv2dVariables};
pub use dense::{dense, Dense, DenseVariables};
pub use embedding::{embedding, Embedding};
pub use layer_norm::{layer_norm, LayerNorm, LayerNormVariables};

use crate::dtype::DType;
use crate::error::Result;
use crate::getter::{get_variable, GetVariable};
use crate::initializer::Init;
use crate::scope::{variable_scope, variable_scope_default, Reuse};
use crate::variable::{AnyVariable, Regularizer};

/// TF's `tf.GraphKeys.MODEL_VARIABLES`: where `tf.contrib` layers put their variables.
///
/// ```
/// use varscope::{layers, Graph};
/// let g = Graph::with_seed(1);
/// g.as_default(|| layers::layer_norm(4).build()).unwrap();
/// let names: Vec<_> = g.get_collection(layers::MODEL_VARIABLES).iter().map(|v| v.name()).collect();
/// assert_eq!(names, ["LayerNorm/beta:0", "LayerNorm/gamma:0"]);
/// ```
pub const MODEL_VARIABLES: &str = "model_variables";

/// What every layer builder carries: its name, reuse mode, dtype and trainability.
#[derive(Debug, Clone, Default)]
pub(crate) struct Common {
    pub(crate) name: Option<String>,
    pub(crate) reuse: Reuse,
    pub(crate) dtype: Option<DType>,
    pub(crate) trainable: Option<bool>,
}

impl Common {
    /// Runs `f` in the layer's scope, opened as `tf.layers.Layer._set_scope` and
    /// `__call__` open it: the given name as is; no name and reuse on, the default
    /// name as is; no name, the default name uniquified.
    pub(crate) fn enter<R>(&self, default: &str, f: impl FnOnce() -> Result<R>) -> Result<R> {
        let b = match (&self.name, self.reuse) {
            (Some(n), _) => variable_scope(n.as_str()),
            (None, Reuse::Yes | Reuse::Auto) => variable_scope(default),
            (None, Reuse::No) => variable_scope_default(default),
        };
        b.reuse(self.reuse).enter(|_| f())
    }

    /// A `get_variable` call with the layer's dtype and trainability.
    pub(crate) fn var<'a>(&self, name: &'a str, shape: Vec<usize>) -> GetVariable<'a> {
        let mut g = get_variable(name).shape(shape);
        if let Some(d) = self.dtype {
            g = g.dtype(d);
        }
        if let Some(t) = self.trainable {
            g = g.trainable(t);
        }
        g
    }

    /// `kernel` (the given initializer, else the scope's, else Glorot uniform) and,
    /// with `bias` (its initializer, default zeros, and regularizer), `bias [units]`:
    /// the variables `tf.layers.Dense` and `tf.layers.Conv2D` build, in that order.
    pub(crate) fn kernel_and_bias(
        &self,
        kernel_shape: Vec<usize>,
        kernel: (Option<&Init>, Option<&Regularizer>),
        bias: Option<(usize, Option<&Init>, Option<&Regularizer>)>,
    ) -> Result<(AnyVariable, Option<AnyVariable>)> {
        let k = with(self.var("kernel", kernel_shape), kernel.0, kernel.1).build_any()?;
        let b = match bias {
            Some((units, init, reg)) => {
                let init = init.cloned().unwrap_or_else(Init::zeros);
                Some(with(self.var("bias", vec![units]), Some(&init), reg).build_any()?)
            }
            None => None,
        };
        Ok((k, b))
    }
}

/// Adds an initializer and a regularizer to a `get_variable` call when given.
pub(crate) fn with<'a>(
    mut g: GetVariable<'a>,
    init: Option<&Init>,
    reg: Option<&Regularizer>,
) -> GetVariable<'a> {
    if let Some(i) = init {
        g = g.initializer(i.clone());
    }
    if let Some(r) = reg {
        g = g.regularizer(r.clone());
    }
    g
}

/// The setters every layer builder shares.
macro_rules! common_setters {
    ($default:literal, $ctor:literal) => {
        #[doc = concat!("The layer's scope name (default: `", $default, "`, uniquified). A given")]
        /// name is used as is, like TF's `name=`, and may contain `/`.
        #[doc = ""]
        #[doc = "```"]
        #[doc = "use varscope::{layers, Graph};"]
        #[doc = "let g = Graph::with_seed(1);"]
        #[doc = concat!("g.as_default(|| ", $ctor, r#".name("blk/inner").build()).unwrap();"#)]
        #[doc = r#"assert!(g.global_variables().iter().all(|v| v.name().starts_with("blk/inner/")));"#]
        #[doc = "```"]
        pub fn name(mut self, name: &str) -> Self {
            self.common.name = Some(name.to_string());
            self
        }
        #[doc = concat!("TF's `reuse=`: `Reuse::Yes` or `Reuse::Auto` reuse the layer's variables (an unnamed layer then opens `", $default, "` itself, not a uniquified name);")]
        /// `Reuse::No` (the default) inherits the enclosing scope's mode.
        #[doc = ""]
        #[doc = "```"]
        #[doc = "use varscope::{layers, Graph, Reuse};"]
        #[doc = "let g = Graph::with_seed(1);"]
        #[doc = concat!("g.as_default(|| ", $ctor, ".build()).unwrap();")]
        #[doc = "let n = g.global_variables().len();"]
        #[doc = concat!("g.as_default(|| ", $ctor, ".reuse(Reuse::Yes).build()).unwrap();")]
        #[doc = "assert_eq!(g.global_variables().len(), n); // the same variables again"]
        #[doc = concat!("assert!(g.as_default(|| ", $ctor, r#".name("other").reuse(Reuse::Yes).build()).is_err());"#)]
        #[doc = "```"]
        pub fn reuse(mut self, reuse: $crate::scope::Reuse) -> Self {
            self.common.reuse = reuse;
            self
        }
        /// The variables' dtype (default: the scope's, `float32`).
        #[doc = ""]
        #[doc = "```"]
        #[doc = "use varscope::{layers, DType, Graph};"]
        #[doc = "let g = Graph::with_seed(1);"]
        #[doc = concat!("g.as_default(|| ", $ctor, ".dtype(DType::F64).build()).unwrap();")]
        #[doc = "assert!(g.global_variables().iter().all(|v| v.dtype() == DType::F64));"]
        #[doc = "```"]
        pub fn dtype(mut self, dtype: $crate::dtype::DType) -> Self {
            self.common.dtype = Some(dtype);
            self
        }
        /// Whether the (normally trainable) variables are trainable (default true).
        #[doc = ""]
        #[doc = "```"]
        #[doc = "use varscope::{layers, Graph};"]
        #[doc = "let g = Graph::with_seed(1);"]
        #[doc = concat!("g.as_default(|| ", $ctor, ".trainable(false).build()).unwrap();")]
        #[doc = "assert!(!g.global_variables().is_empty());"]
        #[doc = "assert!(g.trainable_variables().is_empty());"]
        #[doc = "```"]
        pub fn trainable(mut self, trainable: bool) -> Self {
            self.common.trainable = Some(trainable);
            self
        }
    };
}
pub(crate) use common_setters;
