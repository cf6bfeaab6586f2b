//! Initializers: TensorFlow 1's `init_ops`, with TF-compatible seeded random streams.
//!
//! INTERFACE STUB: the implementation replaces the bodies, keeping these signatures.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::Tensor;
use std::fmt;
use std::sync::Arc;

/// Everything an initializer needs to fill one variable, or one shard of a
/// partitioned variable.
#[derive(Debug, Clone)]
pub struct InitContext<'a> {
    /// Full name of the variable (for error messages).
    pub name: &'a str,
    /// Element type to produce.
    pub dtype: DType,
    /// Shape of the whole variable (of the partitioned variable for a shard).
    pub full_shape: &'a Shape,
    /// Offset of this part inside `full_shape` (all zeros when not partitioned).
    pub offset: &'a [usize],
    /// Shape of this part.
    pub shape: &'a Shape,
    /// The random seed pair.
    pub seeds: Seeds,
}

/// The seed pair of a random initializer, as TensorFlow's kernels receive it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Seeds {
    /// First seed (the graph-level seed).
    pub seed: u64,
    /// Second seed (the op-level seed).
    pub seed2: u64,
}

impl Seeds {
    /// TF's `get_seed(graph_seed, op_seed)` for a graph with a seed.
    pub fn tf(graph_seed: u64, op_seed: u64) -> Seeds {
        Seeds {
            seed: graph_seed,
            seed2: op_seed,
        }
    }

    /// The seeds of a variable whose initializer has no op seed: derived from the
    /// graph seed and the variable's full name, never from creation order.
    pub fn for_name(graph_seed: u64, full_name: &str) -> Seeds {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in full_name.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        Seeds::tf(graph_seed, h)
    }
}

/// Fan mode of [`Init::VarianceScaling`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanMode {
    /// Number of input units.
    FanIn,
    /// Number of output units.
    FanOut,
    /// Average of both.
    FanAvg,
}

/// Distribution of [`Init::VarianceScaling`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distribution {
    /// Truncated normal with TF's 0.8796 stddev correction (`"normal"` is an alias).
    TruncatedNormal,
    /// Plain normal.
    UntruncatedNormal,
    /// Uniform.
    Uniform,
}

/// A constant initializer's value.
#[derive(Debug, Clone, PartialEq)]
pub enum ConstantValue {
    /// Fill with one value.
    Scalar(f64),
    /// Row-major values; the last repeats when shorter than the variable.
    List(Vec<f64>),
}

/// A user-supplied initializer function.
#[derive(Clone)]
pub struct CustomInit(pub(crate) Arc<dyn Fn(&InitContext<'_>) -> Result<Tensor> + Send + Sync>);

impl fmt::Debug for CustomInit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CustomInit")
    }
}

/// An initializer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Init {
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
    /// A constant.
    Constant(ConstantValue),
    /// A concrete tensor: gives the variable's shape and dtype.
    Value(Tensor),
    /// `U[minval, maxval)`.
    RandomUniform {
        /// Lower bound.
        minval: f64,
        /// Upper bound (1 for floats when `None`; required for integers).
        maxval: Option<f64>,
        /// Op seed.
        seed: Option<u64>,
    },
    /// `N(mean, stddev²)`.
    RandomNormal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        stddev: f64,
        /// Op seed.
        seed: Option<u64>,
    },
    /// Normal re-drawn beyond two standard deviations.
    TruncatedNormal {
        /// Mean.
        mean: f64,
        /// Standard deviation before truncation.
        stddev: f64,
        /// Op seed.
        seed: Option<u64>,
    },
    /// TF's deprecated `uniform_unit_scaling_initializer`.
    UniformUnitScaling {
        /// Scale factor.
        factor: f64,
        /// Op seed.
        seed: Option<u64>,
    },
    /// `variance_scaling_initializer` (glorot, he and lecun are presets).
    VarianceScaling {
        /// Scale (> 0).
        scale: f64,
        /// Fan mode.
        mode: FanMode,
        /// Distribution.
        distribution: Distribution,
        /// Op seed.
        seed: Option<u64>,
    },
    /// A (semi-)orthogonal matrix.
    Orthogonal {
        /// Multiplier.
        gain: f64,
        /// Op seed.
        seed: Option<u64>,
    },
    /// `gain * I` (2-D only).
    Identity {
        /// Multiplier.
        gain: f64,
    },
    /// A user function, run once at creation.
    Custom(CustomInit),
}

impl Init {
    /// Zeros.
    pub fn zeros() -> Init {
        Init::Zeros
    }
    /// Glorot uniform, the default for floating-point variables.
    pub fn glorot_uniform() -> Init {
        Init::VarianceScaling {
            scale: 1.0,
            mode: FanMode::FanAvg,
            distribution: Distribution::Uniform,
            seed: None,
        }
    }
    /// A scalar constant.
    pub fn constant(v: f64) -> Init {
        Init::Constant(ConstantValue::Scalar(v))
    }
    /// A user initializer function, called with the context of each variable (or
    /// shard) it creates.
    pub fn custom<F>(f: F) -> Init
    where
        F: Fn(&InitContext<'_>) -> Result<Tensor> + Send + Sync + 'static,
    {
        Init::Custom(CustomInit(Arc::new(f)))
    }
    /// The concrete tensor of [`Init::Value`].
    pub fn value(&self) -> Option<&Tensor> {
        match self {
            Init::Value(t) => Some(t),
            _ => None,
        }
    }
    /// The op seed, if set.
    pub fn seed(&self) -> Option<u64> {
        None
    }
    /// Checks parameters against the context without producing values.
    ///
    /// # Errors
    /// [`Error::Initializer`] for parameters TF rejects.
    pub fn validate(&self, _ctx: &InitContext<'_>) -> Result<()> {
        Ok(())
    }
    /// Produces the values of one variable or shard.
    ///
    /// # Errors
    /// [`Error::Initializer`] for parameters TF rejects, or a custom function's error.
    pub fn materialize(&self, ctx: &InitContext<'_>) -> Result<Tensor> {
        match self {
            Init::Custom(c) => (c.0)(ctx),
            Init::Value(t) => Ok(t.clone()),
            Init::Ones => Ok(Tensor::zeros(ctx.dtype, ctx.shape)),
            Init::Constant(ConstantValue::Scalar(v)) if *v != 0.0 => Err(Error::Initializer {
                name: ctx.name.into(),
                message: "stub".into(),
            }),
            _ => Ok(Tensor::zeros(ctx.dtype, ctx.shape)),
        }
    }
}

// Constructors completed by the initializer implementation.
impl Init {
    /// `U[minval, maxval)`.
    pub fn random_uniform(minval: f64, maxval: f64) -> Init {
        Init::RandomUniform {
            minval,
            maxval: Some(maxval),
            seed: None,
        }
    }
    /// `N(mean, stddev²)`.
    pub fn random_normal(mean: f64, stddev: f64) -> Init {
        Init::RandomNormal {
            mean,
            stddev,
            seed: None,
        }
    }
    /// Truncated normal.
    pub fn truncated_normal(mean: f64, stddev: f64) -> Init {
        Init::TruncatedNormal {
            mean,
            stddev,
            seed: None,
        }
    }
    /// Ones.
    pub fn ones() -> Init {
        Init::Ones
    }
    /// A list constant.
    pub fn constant_list(v: Vec<f64>) -> Init {
        Init::Constant(ConstantValue::List(v))
    }
    /// Sets the op seed.
    pub fn with_seed(self, _seed: u64) -> Init {
        self
    }
}

// Stand-in constructors (replaced by the initializer implementation)
impl Init {
    /// Glorot normal.
    pub fn glorot_normal() -> Init {
        Init::VarianceScaling {
            scale: 1.0,
            mode: FanMode::FanAvg,
            distribution: Distribution::TruncatedNormal,
            seed: None,
        }
    }
    /// He normal.
    pub fn he_normal() -> Init {
        Init::VarianceScaling {
            scale: 2.0,
            mode: FanMode::FanIn,
            distribution: Distribution::TruncatedNormal,
            seed: None,
        }
    }
    /// He uniform.
    pub fn he_uniform() -> Init {
        Init::VarianceScaling {
            scale: 2.0,
            mode: FanMode::FanIn,
            distribution: Distribution::Uniform,
            seed: None,
        }
    }
    /// LeCun normal.
    pub fn lecun_normal() -> Init {
        Init::VarianceScaling {
            scale: 1.0,
            mode: FanMode::FanIn,
            distribution: Distribution::TruncatedNormal,
            seed: None,
        }
    }
    /// LeCun uniform.
    pub fn lecun_uniform() -> Init {
        Init::VarianceScaling {
            scale: 1.0,
            mode: FanMode::FanIn,
            distribution: Distribution::Uniform,
            seed: None,
        }
    }
    /// Variance scaling.
    ///
    /// # Errors
    /// [`Error::Initializer`] for a non-positive scale.
    pub fn variance_scaling(scale: f64, mode: FanMode, distribution: Distribution) -> Result<Init> {
        if scale <= 0.0 {
            return Err(Error::Initializer {
                name: String::new(),
                message: "`scale` must be positive float.".into(),
            });
        }
        Ok(Init::VarianceScaling {
            scale,
            mode,
            distribution,
            seed: None,
        })
    }
    /// Orthogonal.
    pub fn orthogonal(gain: f64) -> Init {
        Init::Orthogonal { gain, seed: None }
    }
    /// Identity.
    pub fn identity(gain: f64) -> Init {
        Init::Identity { gain }
    }
    /// Uniform unit scaling.
    pub fn uniform_unit_scaling(factor: f64) -> Init {
        Init::UniformUnitScaling { factor, seed: None }
    }
}
