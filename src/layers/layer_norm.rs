//! `tf.contrib.layers.layer_norm`.

use super::{with, Common, MODEL_VARIABLES};
use crate::error::Result;
use crate::graph::GLOBAL_VARIABLES;
use crate::initializer::Init;
use crate::scope::{variable_scope, variable_scope_default, Reuse};
use crate::variable::AnyVariable;

/// A layer normalization's variables, as `tf.contrib.layers.layer_norm` creates them
/// (`begin_params_axis=-1`): `beta [dim]` (zeros, unless `center(false)`), then
/// `gamma [dim]` (ones, unless `scale(false)`), in the global, trainable and
/// [`MODEL_VARIABLES`] collections.
///
/// Its scope follows `variable_scope(scope, default_name="LayerNorm", reuse=reuse)`,
/// not the `tf.layers` rule: the given name as is, else `LayerNorm` uniquified — and,
/// as in TF, reuse without a name is an error ([`Error::InvalidReuse`](crate::Error::InvalidReuse)).
///
/// ```
/// use varscope::{layers, variable_scope, Graph};
/// Graph::with_seed(1).as_default(|| -> varscope::Result<()> {
///     variable_scope("output").enter(|_| -> varscope::Result<()> {
///         let ln = layers::layer_norm(768).build()?;
///         assert_eq!(ln.beta.unwrap().name(), "output/LayerNorm/beta:0");
///         assert_eq!(ln.gamma.unwrap().name(), "output/LayerNorm/gamma:0");
///         let again = layers::layer_norm(768).build()?;
///         assert_eq!(again.beta.unwrap().name(), "output/LayerNorm_1/beta:0");
///         Ok(())
///     })
/// })
/// .unwrap();
/// ```
pub fn layer_norm(dim: usize) -> LayerNorm {
    LayerNorm {
        dim,
        center: true,
        scale: true,
        common: Common::default(),
        default_name: "LayerNorm",
    }
}

/// The configuration of a [`layer_norm`] layer.
///
/// ```
/// use varscope::{layers, Graph};
/// let g = Graph::with_seed(1);
/// g.as_default(|| -> varscope::Result<()> {
///     layers::layer_norm(4).build()?;
///     layers::layer_norm(4).build()?;
///     Ok(())
/// }).unwrap();
/// assert_eq!(g.global_variables()[2].name(), "LayerNorm_1/beta:0");
/// ```
#[must_use = "a layer creates nothing until built"]
#[derive(Debug, Clone)]
pub struct LayerNorm {
    dim: usize,
    center: bool,
    scale: bool,
    common: Common,
    default_name: &'static str,
}

/// The variables of a [`layer_norm`] layer.
///
/// ```
/// use varscope::{layers, Graph};
/// let v = Graph::with_seed(1).as_default(|| layers::layer_norm(3).build()).unwrap();
/// assert_eq!(v.beta.unwrap().value().unwrap().to_f64_vec(), [0.0; 3]);
/// assert_eq!(v.gamma.unwrap().value().unwrap().to_f64_vec(), [1.0; 3]);
/// ```
#[derive(Debug, Clone)]
pub struct LayerNormVariables {
    /// `beta [dim]`, unless `center(false)`.
    pub beta: Option<AnyVariable>,
    /// `gamma [dim]`, unless `scale(false)`.
    pub gamma: Option<AnyVariable>,
}

impl LayerNorm {
    /// TF's `scope=`: the scope name, used as is (default: `LayerNorm`, uniquified).
    ///
    /// ```
    /// use varscope::{layers, Graph};
    /// let v = Graph::with_seed(1).as_default(|| layers::layer_norm(3).name("attention/ln").build()).unwrap();
    /// assert_eq!(v.gamma.unwrap().name(), "attention/ln/gamma:0");
    /// ```
    pub fn name(mut self, name: &str) -> Self {
        self.common.name = Some(name.to_string());
        self
    }
    /// TF's `reuse=` (with no name it is an error, as in TF); `Reuse::No` inherits.
    ///
    /// ```
    /// use varscope::{layers, Graph, Reuse};
    /// Graph::with_seed(1).as_default(|| {
    ///     let a = layers::layer_norm(3).name("ln").build().unwrap();
    ///     let b = layers::layer_norm(3).name("ln").reuse(Reuse::Yes).build().unwrap();
    ///     assert_eq!(a.beta, b.beta);
    ///     assert!(layers::layer_norm(3).reuse(Reuse::Yes).build().is_err()); // reuse needs a name
    /// });
    /// ```
    pub fn reuse(mut self, reuse: Reuse) -> Self {
        self.common.reuse = reuse;
        self
    }
    /// The variables' dtype (default: the scope's, `float32`).
    ///
    /// ```
    /// use varscope::{layers, DType, Graph};
    /// let v = Graph::with_seed(1).as_default(|| layers::layer_norm(3).dtype(DType::F64).build()).unwrap();
    /// assert_eq!(v.beta.unwrap().dtype(), DType::F64);
    /// ```
    pub fn dtype(mut self, dtype: crate::dtype::DType) -> Self {
        self.common.dtype = Some(dtype);
        self
    }
    /// Whether the variables are trainable (default true).
    ///
    /// ```
    /// use varscope::{layers, Graph};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| layers::layer_norm(3).trainable(false).build()).unwrap();
    /// assert!(g.trainable_variables().is_empty());
    /// assert_eq!(g.global_variables().len(), 2);
    /// ```
    pub fn trainable(mut self, trainable: bool) -> Self {
        self.common.trainable = Some(trainable);
        self
    }
    /// Whether to add the offset `beta` (default true).
    ///
    /// ```
    /// use varscope::{layers, Graph};
    /// let v = Graph::with_seed(1).as_default(|| layers::layer_norm(3).center(false).build()).unwrap();
    /// assert!(v.beta.is_none());
    /// ```
    pub fn center(mut self, c: bool) -> Self {
        self.center = c;
        self
    }
    /// Whether to add the scale `gamma` (default true).
    ///
    /// ```
    /// use varscope::{layers, Graph};
    /// let v = Graph::with_seed(1).as_default(|| layers::layer_norm(3).scale(false).build()).unwrap();
    /// assert!(v.gamma.is_none());
    /// ```
    pub fn scale(mut self, s: bool) -> Self {
        self.scale = s;
        self
    }
    /// The default scope name (the spec builder's `layer_norm` modules keep theirs).
    #[cfg(feature = "spec")]
    pub(crate) fn default_name(mut self, name: &'static str) -> Self {
        self.default_name = name;
        self
    }

    /// Creates (or, with reuse, gets) the variables.
    ///
    /// # Errors
    /// Any error of `variable_scope` and `get_variable`, as TF raises them.
    ///
    /// ```
    /// use varscope::{layers, Graph};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| layers::layer_norm(3).build()).unwrap();
    /// // As tf.contrib layers do, also in `model_variables`.
    /// assert_eq!(g.collection_len(layers::MODEL_VARIABLES), 2);
    /// ```
    pub fn build(self) -> Result<LayerNormVariables> {
        let c = &self.common;
        let b = match &c.name {
            Some(n) => variable_scope(n.as_str()),
            None => variable_scope_default(self.default_name),
        };
        b.reuse(c.reuse).enter(|_| -> Result<LayerNormVariables> {
            let var = |name: &str, init: Init| {
                with(
                    c.var(name, vec![self.dim])
                        .collections([GLOBAL_VARIABLES, MODEL_VARIABLES]),
                    Some(&init),
                    None,
                )
                .build_any()
            };
            let beta = if self.center {
                Some(var("beta", Init::zeros())?)
            } else {
                None
            };
            let gamma = if self.scale {
                Some(var("gamma", Init::ones())?)
            } else {
                None
            };
            Ok(LayerNormVariables { beta, gamma })
        })
    }
}
