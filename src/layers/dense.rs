//! `tf.compat.v1.layers.dense`.

use super::{common_setters, Common};
use crate::error::Result;
use crate::initializer::Init;
use crate::variable::{AnyVariable, Regularizer};

/// A densely connected layer's variables, as `tf.compat.v1.layers.dense` creates
/// them: `kernel [inputs, units]` (initializer: the scope's, else Glorot uniform) and
/// `bias [units]` (zeros), in a scope named `dense` (uniquified) or the given name.
///
/// ```
/// use varscope::{layers, Graph, Init};
/// Graph::with_seed(1).as_default(|| -> varscope::Result<()> {
///     let d = layers::dense(768, 3072)
///         .name("intermediate")
///         .kernel_initializer(Init::truncated_normal(0.0, 0.02))
///         .build()?;
///     assert_eq!(d.kernel.name(), "intermediate/kernel:0");
///     assert_eq!(d.kernel.shape().dims(), &[768, 3072]);
///     assert_eq!(d.bias.unwrap().shape().dims(), &[3072]);
///     let no_bias = layers::dense(4, 2).use_bias(false).build()?;
///     assert!(no_bias.bias.is_none());
///     Ok(())
/// })
/// .unwrap();
/// ```
pub fn dense(inputs: usize, units: usize) -> Dense {
    Dense {
        inputs,
        units,
        use_bias: true,
        kernel_initializer: None,
        bias_initializer: None,
        kernel_regularizer: None,
        bias_regularizer: None,
        common: Common::default(),
    }
}

/// The configuration of a [`dense`] layer.
///
/// ```
/// use varscope::{layers, Graph};
/// let g = Graph::with_seed(1);
/// let layer = layers::dense(8, 2).use_bias(false);
/// let v = g.as_default(|| layer.clone().build()).unwrap();
/// let again = g.as_default(|| layer.build()).unwrap(); // a configuration can be built again
/// assert_eq!((v.kernel.name(), again.kernel.name()), ("dense/kernel:0".into(), "dense_1/kernel:0".into()));
/// ```
#[must_use = "a layer creates nothing until built"]
#[derive(Debug, Clone)]
pub struct Dense {
    inputs: usize,
    units: usize,
    use_bias: bool,
    kernel_initializer: Option<Init>,
    bias_initializer: Option<Init>,
    kernel_regularizer: Option<Regularizer>,
    bias_regularizer: Option<Regularizer>,
    common: Common,
}

/// The variables of a [`dense`] layer.
///
/// ```
/// use varscope::{layers, Graph};
/// let v = Graph::with_seed(1).as_default(|| layers::dense(8, 2).build()).unwrap();
/// assert_eq!(v.kernel.shape().dims(), &[8, 2]);
/// assert_eq!(v.bias.unwrap().shape().dims(), &[2]);
/// ```
#[derive(Debug, Clone)]
pub struct DenseVariables {
    /// `kernel [inputs, units]` (partitioned if the scope has a partitioner).
    pub kernel: AnyVariable,
    /// `bias [units]`, unless `use_bias(false)`.
    pub bias: Option<AnyVariable>,
}

impl Dense {
    common_setters!("dense", "layers::dense(4, 3)");

    /// Whether to add a bias (default true).
    ///
    /// ```
    /// use varscope::{layers, Graph};
    /// let v = Graph::with_seed(1).as_default(|| layers::dense(8, 2).use_bias(false).build()).unwrap();
    /// assert!(v.bias.is_none());
    /// ```
    pub fn use_bias(mut self, b: bool) -> Self {
        self.use_bias = b;
        self
    }
    /// The kernel's initializer (default: the scope's, else Glorot uniform).
    ///
    /// ```
    /// use varscope::{layers, Graph, Init};
    /// let v = Graph::with_seed(1).as_default(|| layers::dense(2, 2).kernel_initializer(Init::identity(1.0)).build()).unwrap();
    /// assert_eq!(v.kernel.value().unwrap().to_f64_vec(), [1.0, 0.0, 0.0, 1.0]);
    /// ```
    pub fn kernel_initializer(mut self, i: Init) -> Self {
        self.kernel_initializer = Some(i);
        self
    }
    /// The bias initializer (default zeros).
    ///
    /// ```
    /// use varscope::{layers, Graph, Init};
    /// let v = Graph::with_seed(1).as_default(|| layers::dense(2, 3).bias_initializer(Init::constant(0.1)).build()).unwrap();
    /// assert!(v.bias.unwrap().value().unwrap().to_f64_vec().iter().all(|&b| (b - 0.1).abs() < 1e-7));
    /// ```
    pub fn bias_initializer(mut self, i: Init) -> Self {
        self.bias_initializer = Some(i);
        self
    }
    /// A regularizer of the kernel.
    ///
    /// ```
    /// use varscope::{layers, Graph, Regularizer};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| layers::dense(2, 2).kernel_regularizer(Regularizer::l2(1.0)).build()).unwrap();
    /// assert_eq!(g.regularization_losses()[0].name(), "dense/kernel/Regularizer");
    /// ```
    pub fn kernel_regularizer(mut self, r: Regularizer) -> Self {
        self.kernel_regularizer = Some(r);
        self
    }
    /// A regularizer of the bias.
    ///
    /// ```
    /// use varscope::{layers, Graph, Regularizer};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| layers::dense(2, 2).bias_regularizer(Regularizer::l1(1.0)).build()).unwrap();
    /// assert_eq!(g.regularization_losses()[0].variable().name(), "dense/bias:0");
    /// ```
    pub fn bias_regularizer(mut self, r: Regularizer) -> Self {
        self.bias_regularizer = Some(r);
        self
    }

    /// Creates (or, with reuse, gets) the variables.
    ///
    /// # Errors
    /// Any error of `variable_scope` and `get_variable`, as TF raises them
    /// ([`Error::AlreadyExists`](crate::Error::AlreadyExists) for a second layer of
    /// the same name without reuse, …).
    ///
    /// ```
    /// use varscope::{layers, Error, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     layers::dense(2, 2).name("proj").build().unwrap();
    ///     let e = layers::dense(2, 2).name("proj").build().unwrap_err(); // named: not uniquified
    ///     assert!(matches!(e, Error::AlreadyExists { .. }));
    /// });
    /// ```
    pub fn build(self) -> Result<DenseVariables> {
        let c = &self.common;
        c.enter("dense", || {
            let (kernel, bias) = c.kernel_and_bias(
                vec![self.inputs, self.units],
                (
                    self.kernel_initializer.as_ref(),
                    self.kernel_regularizer.as_ref(),
                ),
                self.use_bias.then_some((
                    self.units,
                    self.bias_initializer.as_ref(),
                    self.bias_regularizer.as_ref(),
                )),
            )?;
            Ok(DenseVariables { kernel, bias })
        })
    }
}
