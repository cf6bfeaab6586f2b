//! `tf.compat.v1.layers.batch_normalization`.

use super::{common_setters, with, Common};
use crate::error::Result;
use crate::initializer::Init;
use crate::variable::{AnyVariable, Regularizer};

/// A batch normalization's variables, as `tf.compat.v1.layers.batch_normalization`
/// creates them (`axis=-1`), in this order: `gamma [channels]` (ones, unless
/// `scale(false)`), `beta [channels]` (zeros, unless `center(false)`), and the
/// non-trainable `moving_mean` (zeros) and `moving_variance` (ones), which are in the
/// global variables but not the trainable ones. The scope is `batch_normalization`
/// (uniquified) or the given name.
///
/// ```
/// use varscope::{layers, Graph};
/// let g = Graph::with_seed(1);
/// g.as_default(|| -> varscope::Result<()> {
///     let bn = layers::batch_normalization(64).build()?;
///     assert_eq!(bn.moving_mean.name(), "batch_normalization/moving_mean:0");
///     assert!(!bn.moving_variance.trainable());
///     assert_eq!(bn.gamma.unwrap().shape().dims(), &[64]);
///     Ok(())
/// })
/// .unwrap();
/// assert_eq!(g.trainable_variables().len(), 2);
/// assert_eq!(g.global_variables().len(), 4);
/// ```
pub fn batch_normalization(channels: usize) -> BatchNorm {
    BatchNorm {
        channels,
        center: true,
        scale: true,
        beta_initializer: None,
        gamma_initializer: None,
        moving_mean_initializer: None,
        moving_variance_initializer: None,
        beta_regularizer: None,
        gamma_regularizer: None,
        common: Common::default(),
    }
}

/// The configuration of a [`batch_normalization`] layer.
///
/// ```
/// use varscope::{layers, Graph};
/// let v = Graph::with_seed(1).as_default(|| layers::batch_normalization(4).name("bn").build()).unwrap();
/// assert_eq!(v.moving_mean.name(), "bn/moving_mean:0");
/// ```
#[must_use = "a layer creates nothing until built"]
#[derive(Debug, Clone)]
pub struct BatchNorm {
    channels: usize,
    center: bool,
    scale: bool,
    beta_initializer: Option<Init>,
    gamma_initializer: Option<Init>,
    moving_mean_initializer: Option<Init>,
    moving_variance_initializer: Option<Init>,
    beta_regularizer: Option<Regularizer>,
    gamma_regularizer: Option<Regularizer>,
    common: Common,
}

/// The variables of a [`batch_normalization`] layer.
///
/// ```
/// use varscope::{layers, Graph};
/// let v = Graph::with_seed(1).as_default(|| layers::batch_normalization(4).build()).unwrap();
/// assert_eq!(v.gamma.unwrap().value().unwrap().to_f64_vec(), [1.0; 4]);
/// assert_eq!(v.beta.unwrap().value().unwrap().to_f64_vec(), [0.0; 4]);
/// assert!(!v.moving_mean.trainable() && !v.moving_variance.trainable());
/// ```
#[derive(Debug, Clone)]
pub struct BatchNormVariables {
    /// `gamma [channels]`, unless `scale(false)`.
    pub gamma: Option<AnyVariable>,
    /// `beta [channels]`, unless `center(false)`.
    pub beta: Option<AnyVariable>,
    /// `moving_mean [channels]`, not trainable.
    pub moving_mean: crate::variable::Variable,
    /// `moving_variance [channels]`, not trainable.
    pub moving_variance: crate::variable::Variable,
}

impl BatchNorm {
    common_setters!("batch_normalization", "layers::batch_normalization(3)");

    /// Whether to add the offset `beta` (default true).
    ///
    /// ```
    /// use varscope::{layers, Graph};
    /// let v = Graph::with_seed(1).as_default(|| layers::batch_normalization(4).center(false).build()).unwrap();
    /// assert!(v.beta.is_none() && v.gamma.is_some());
    /// ```
    pub fn center(mut self, c: bool) -> Self {
        self.center = c;
        self
    }
    /// Whether to add the scale `gamma` (default true).
    ///
    /// ```
    /// use varscope::{layers, Graph};
    /// let v = Graph::with_seed(1).as_default(|| layers::batch_normalization(4).scale(false).build()).unwrap();
    /// assert!(v.gamma.is_none() && v.beta.is_some());
    /// ```
    pub fn scale(mut self, s: bool) -> Self {
        self.scale = s;
        self
    }
    /// `beta`'s initializer (default zeros).
    ///
    /// ```
    /// use varscope::{layers, Graph, Init};
    /// let v = Graph::with_seed(1).as_default(|| layers::batch_normalization(2).beta_initializer(Init::constant(0.5)).build()).unwrap();
    /// assert_eq!(v.beta.unwrap().value().unwrap().to_f64_vec(), [0.5, 0.5]);
    /// ```
    pub fn beta_initializer(mut self, i: Init) -> Self {
        self.beta_initializer = Some(i);
        self
    }
    /// `gamma`'s initializer (default ones).
    ///
    /// ```
    /// use varscope::{layers, Graph, Init};
    /// let v = Graph::with_seed(1).as_default(|| layers::batch_normalization(2).gamma_initializer(Init::constant(2.0)).build()).unwrap();
    /// assert_eq!(v.gamma.unwrap().value().unwrap().to_f64_vec(), [2.0, 2.0]);
    /// ```
    pub fn gamma_initializer(mut self, i: Init) -> Self {
        self.gamma_initializer = Some(i);
        self
    }
    /// `moving_mean`'s initializer (default zeros).
    ///
    /// ```
    /// use varscope::{layers, Graph, Init};
    /// let v = Graph::with_seed(1).as_default(|| layers::batch_normalization(2).moving_mean_initializer(Init::constant(3.0)).build()).unwrap();
    /// assert_eq!(v.moving_mean.value().unwrap().to_f64_vec(), [3.0, 3.0]);
    /// ```
    pub fn moving_mean_initializer(mut self, i: Init) -> Self {
        self.moving_mean_initializer = Some(i);
        self
    }
    /// `moving_variance`'s initializer (default ones).
    ///
    /// ```
    /// use varscope::{layers, Graph, Init};
    /// let v = Graph::with_seed(1).as_default(|| layers::batch_normalization(2).moving_variance_initializer(Init::constant(4.0)).build()).unwrap();
    /// assert_eq!(v.moving_variance.value().unwrap().to_f64_vec(), [4.0, 4.0]);
    /// ```
    pub fn moving_variance_initializer(mut self, i: Init) -> Self {
        self.moving_variance_initializer = Some(i);
        self
    }
    /// A regularizer of `beta`.
    ///
    /// ```
    /// use varscope::{layers, Graph, Regularizer};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| layers::batch_normalization(2).beta_regularizer(Regularizer::l2(1.0)).build()).unwrap();
    /// assert_eq!(g.regularization_losses()[0].variable().name(), "batch_normalization/beta:0");
    /// ```
    pub fn beta_regularizer(mut self, r: Regularizer) -> Self {
        self.beta_regularizer = Some(r);
        self
    }
    /// A regularizer of `gamma`.
    ///
    /// ```
    /// use varscope::{layers, Graph, Regularizer};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| layers::batch_normalization(2).gamma_regularizer(Regularizer::l2(1.0)).build()).unwrap();
    /// assert_eq!(g.regularization_losses()[0].variable().name(), "batch_normalization/gamma:0");
    /// ```
    pub fn gamma_regularizer(mut self, r: Regularizer) -> Self {
        self.gamma_regularizer = Some(r);
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
    /// g.as_default(|| layers::batch_normalization(3).build()).unwrap();
    /// let names: Vec<_> = g.global_variables().iter().map(|v| v.name()).collect();
    /// assert_eq!(names, ["batch_normalization/gamma:0", "batch_normalization/beta:0",
    ///     "batch_normalization/moving_mean:0", "batch_normalization/moving_variance:0"]);
    /// ```
    pub fn build(self) -> Result<BatchNormVariables> {
        let c = &self.common;
        let n = self.channels;
        let or = |i: &Option<Init>, d: fn() -> Init| i.clone().unwrap_or_else(d);
        c.enter("batch_normalization", || {
            let gamma = if self.scale {
                let init = or(&self.gamma_initializer, Init::ones);
                Some(
                    with(
                        c.var("gamma", vec![n]),
                        Some(&init),
                        self.gamma_regularizer.as_ref(),
                    )
                    .build_any()?,
                )
            } else {
                None
            };
            let beta = if self.center {
                let init = or(&self.beta_initializer, Init::zeros);
                Some(
                    with(
                        c.var("beta", vec![n]),
                        Some(&init),
                        self.beta_regularizer.as_ref(),
                    )
                    .build_any()?,
                )
            } else {
                None
            };
            let moving = |name: &str, init: Init| {
                with(c.var(name, vec![n]).trainable(false), Some(&init), None).build()
            };
            let moving_mean = moving(
                "moving_mean",
                or(&self.moving_mean_initializer, Init::zeros),
            )?;
            let moving_variance = moving(
                "moving_variance",
                or(&self.moving_variance_initializer, Init::ones),
            )?;
            Ok(BatchNormVariables {
                gamma,
                beta,
                moving_mean,
                moving_variance,
            })
        })
    }
}
