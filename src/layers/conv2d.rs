//! `tf.compat.v1.layers.conv2d`.

use super::{common_setters, Common};
use crate::error::Result;
use crate::initializer::Init;
use crate::variable::{AnyVariable, Regularizer};

/// A 2-D convolution's variables, as `tf.compat.v1.layers.conv2d` creates them
/// (`data_format="channels_last"`): `kernel [kh, kw, in_channels, filters]`
/// (initializer: the scope's, else Glorot uniform) and `bias [filters]` (zeros), in a
/// scope named `conv2d` (uniquified) or the given name.
///
/// ```
/// use varscope::{layers, Graph};
/// Graph::with_seed(1).as_default(|| -> varscope::Result<()> {
///     let c = layers::conv2d([3, 3], 2, 16).build()?;
///     assert_eq!(c.kernel.name(), "conv2d/kernel:0");
///     assert_eq!(c.kernel.shape().dims(), &[3, 3, 2, 16]);
///     let c1 = layers::conv2d([1, 1], 16, 8).build()?;
///     assert_eq!(c1.bias.unwrap().name(), "conv2d_1/bias:0");
///     Ok(())
/// })
/// .unwrap();
/// ```
pub fn conv2d(kernel_size: [usize; 2], in_channels: usize, filters: usize) -> Conv2d {
    Conv2d {
        kernel_size,
        in_channels,
        filters,
        use_bias: true,
        kernel_initializer: None,
        bias_initializer: None,
        kernel_regularizer: None,
        common: Common::default(),
    }
}

/// The configuration of a [`conv2d`] layer.
///
/// ```
/// use varscope::{layers, Graph};
/// let v = Graph::with_seed(1).as_default(|| layers::conv2d([5, 5], 3, 16).name("conv1").build()).unwrap();
/// assert_eq!(v.kernel.name(), "conv1/kernel:0");
/// ```
#[must_use = "a layer creates nothing until built"]
#[derive(Debug, Clone)]
pub struct Conv2d {
    kernel_size: [usize; 2],
    in_channels: usize,
    filters: usize,
    use_bias: bool,
    kernel_initializer: Option<Init>,
    bias_initializer: Option<Init>,
    kernel_regularizer: Option<Regularizer>,
    common: Common,
}

/// The variables of a [`conv2d`] layer.
///
/// ```
/// use varscope::{layers, Graph};
/// let v = Graph::with_seed(1).as_default(|| layers::conv2d([3, 1], 2, 4).build()).unwrap();
/// assert_eq!(v.kernel.shape().dims(), &[3, 1, 2, 4]);
/// assert_eq!(v.bias.unwrap().shape().dims(), &[4]);
/// ```
#[derive(Debug, Clone)]
pub struct Conv2dVariables {
    /// `kernel [kh, kw, in_channels, filters]`.
    pub kernel: AnyVariable,
    /// `bias [filters]`, unless `use_bias(false)`.
    pub bias: Option<AnyVariable>,
}

impl Conv2d {
    common_setters!("conv2d", "layers::conv2d([3, 3], 2, 4)");

    /// Whether to add a bias (default true).
    ///
    /// ```
    /// use varscope::{layers, Graph};
    /// let g = Graph::with_seed(1);
    /// let v = g.as_default(|| layers::conv2d([3, 3], 2, 4).use_bias(false).build()).unwrap();
    /// assert!(v.bias.is_none());
    /// assert_eq!(g.global_variables().len(), 1);
    /// ```
    pub fn use_bias(mut self, b: bool) -> Self {
        self.use_bias = b;
        self
    }
    /// The kernel's initializer (default: the scope's, else Glorot uniform).
    ///
    /// ```
    /// use varscope::{layers, Graph, Init};
    /// let v = Graph::with_seed(1).as_default(|| layers::conv2d([1, 1], 1, 2).kernel_initializer(Init::ones()).build()).unwrap();
    /// assert_eq!(v.kernel.value().unwrap().to_f64_vec(), [1.0, 1.0]);
    /// ```
    pub fn kernel_initializer(mut self, i: Init) -> Self {
        self.kernel_initializer = Some(i);
        self
    }
    /// The bias initializer (default zeros).
    ///
    /// ```
    /// use varscope::{layers, Graph, Init};
    /// let v = Graph::with_seed(1).as_default(|| layers::conv2d([1, 1], 1, 2).bias_initializer(Init::constant(2.0)).build()).unwrap();
    /// assert_eq!(v.bias.unwrap().value().unwrap().to_f64_vec(), [2.0, 2.0]);
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
    /// g.as_default(|| layers::conv2d([3, 3], 1, 1).kernel_regularizer(Regularizer::l2(1.0)).build()).unwrap();
    /// assert_eq!(g.regularization_losses()[0].variable().name(), "conv2d/kernel:0");
    /// ```
    pub fn kernel_regularizer(mut self, r: Regularizer) -> Self {
        self.kernel_regularizer = Some(r);
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
    /// g.as_default(|| -> varscope::Result<()> {
    ///     layers::conv2d([3, 3], 1, 8).build()?;
    ///     layers::conv2d([3, 3], 8, 8).build()?;
    ///     Ok(())
    /// }).unwrap();
    /// let names: Vec<_> = g.global_variables().iter().map(|v| v.name()).collect();
    /// assert_eq!(names, ["conv2d/kernel:0", "conv2d/bias:0", "conv2d_1/kernel:0", "conv2d_1/bias:0"]);
    /// ```
    pub fn build(self) -> Result<Conv2dVariables> {
        let c = &self.common;
        let [kh, kw] = self.kernel_size;
        c.enter("conv2d", || {
            let (kernel, bias) = c.kernel_and_bias(
                vec![kh, kw, self.in_channels, self.filters],
                (
                    self.kernel_initializer.as_ref(),
                    self.kernel_regularizer.as_ref(),
                ),
                self.use_bias
                    .then_some((self.filters, self.bias_initializer.as_ref(), None)),
            )?;
            Ok(Conv2dVariables { kernel, bias })
        })
    }
}
