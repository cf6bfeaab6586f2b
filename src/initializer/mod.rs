//! The initializers (see the public [`crate::init`] module for the docs).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::Tensor;
use std::fmt;
use std::sync::Arc;

// Random streams: the Philox generator, the per-distribution kernels over it and
// their vectorized math, and the Householder QR of the orthogonal initializer.
mod fastmath;
mod kernels;
mod linalg;
pub mod philox;
// Shard geometry and the parallel fill driver; the per-family fill routines.
mod fill;
mod routines;
// Seed derivation.
mod seeds;

pub use seeds::Seeds;

use fill::Part;
use routines::{
    fill_constant, fill_identity, fill_list, fill_orthogonal, fill_random, fill_value, int_bounds,
    Draw,
};

/// Everything an initializer needs to fill one variable, or one shard of a
/// partitioned variable.
///
/// ```
/// use varscope::init::{InitContext, Seeds};
/// use varscope::{DType, Init, Shape};
/// let full = Shape::new([6]).unwrap();
/// let part = Shape::new([2]).unwrap();
/// // The shard at offset 4 of a 6-element variable.
/// let ctx = InitContext { name: "v", dtype: DType::F32, full_shape: &full, offset: &[4],
///     shape: &part, seeds: Seeds::tf(1, 1) };
/// let t = Init::constant_list(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).materialize(&ctx).unwrap();
/// assert_eq!(t.to_f64_vec(), [4.0, 5.0]);
/// ```
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

/// Fan mode of [`Init::VarianceScaling`].
///
/// ```
/// use varscope::init::{Distribution, FanMode};
/// use varscope::{get_variable, Graph, Init};
/// // Uniform variance scaling: limit = sqrt(3 * scale / fan); fan_in = 100 here.
/// let g = Graph::with_seed(1);
/// let init = Init::variance_scaling(1.0, FanMode::FanIn, Distribution::Uniform).unwrap();
/// let w = get_variable("w").shape([100, 10]).initializer(init).graph(&g).build().unwrap();
/// let limit = (3.0f64 / 100.0).sqrt();
/// assert!(w.value().unwrap().to_f64_vec().iter().all(|x| x.abs() <= limit));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanMode {
    /// Number of input units.
    FanIn,
    /// Number of output units.
    FanOut,
    /// Average of both.
    FanAvg,
}

impl FanMode {
    /// Parses TF's mode names (`"fan_in"`, `"fan_out"`, `"fan_avg"`, any case).
    ///
    /// # Errors
    /// [`Error::Initializer`] with TF's text for another name.
    ///
    /// ```
    /// use varscope::init::FanMode;
    /// assert_eq!(FanMode::parse("FAN_AVG").unwrap(), FanMode::FanAvg);
    /// assert!(FanMode::parse("fan").is_err());
    /// ```
    pub fn parse(mode: &str) -> Result<FanMode> {
        match mode.to_ascii_lowercase().as_str() {
            "fan_in" => Ok(FanMode::FanIn),
            "fan_out" => Ok(FanMode::FanOut),
            "fan_avg" => Ok(FanMode::FanAvg),
            _ => Err(Error::invalid_arg(format!(
                "Invalid `mode` argument: {mode}"
            ))),
        }
    }
}

/// Distribution of [`Init::VarianceScaling`].
///
/// ```
/// use varscope::init::{Distribution, FanMode};
/// use varscope::{get_variable, Graph, Init};
/// let g = Graph::with_seed(1);
/// let init = Init::variance_scaling(1.0, FanMode::FanIn, Distribution::TruncatedNormal).unwrap();
/// let w = get_variable("w").shape([100, 10]).initializer(init).graph(&g).build().unwrap();
/// // Truncated at two (corrected) standard deviations: 2 * sqrt(1/100) / 0.8796…
/// let bound = 2.0 * 0.1 / 0.87962566103423978;
/// assert!(w.value().unwrap().to_f64_vec().iter().all(|x| x.abs() <= bound + 1e-6));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distribution {
    /// Truncated normal with TF's 0.8796 stddev correction (`"normal"` is an alias).
    TruncatedNormal,
    /// Plain normal.
    UntruncatedNormal,
    /// Uniform.
    Uniform,
}

impl Distribution {
    /// Parses TF's distribution names (`"normal"`, `"truncated_normal"`,
    /// `"untruncated_normal"`, `"uniform"`; lower-cased first, as TF does).
    ///
    /// # Errors
    /// [`Error::Initializer`] with TF's text for another name.
    ///
    /// ```
    /// use varscope::init::Distribution;
    /// assert_eq!(Distribution::parse("Normal").unwrap(), Distribution::TruncatedNormal);
    /// assert!(Distribution::parse("gaussian").is_err());
    /// ```
    pub fn parse(distribution: &str) -> Result<Distribution> {
        match distribution.to_ascii_lowercase().as_str() {
            "normal" | "truncated_normal" => Ok(Distribution::TruncatedNormal),
            "untruncated_normal" => Ok(Distribution::UntruncatedNormal),
            "uniform" => Ok(Distribution::Uniform),
            _ => Err(init_err(
                "",
                format!("Invalid `distribution` argument: {distribution}"),
            )),
        }
    }
}

/// A constant initializer's value.
///
/// ```
/// use varscope::init::{ConstantValue, Scalar};
/// use varscope::Init;
/// assert!(matches!(Init::constant(2), Init::Constant(ConstantValue::Scalar(Scalar::Int(2)))));
/// assert!(matches!(Init::constant_list(vec![1.0]), Init::Constant(ConstantValue::List(_))));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum ConstantValue {
    /// Fill with one value.
    Scalar(Scalar),
    /// Row-major values; the last repeats when shorter than the variable.
    List(Vec<f64>),
}

/// A constant with the type it was written in — an integer, a float or a bool — which
/// TensorFlow checks against the variable's dtype: integer dtypes take integers and
/// bools, `bool` takes only bools, float dtypes take anything.
///
/// ```
/// use varscope::init::Scalar;
/// assert_eq!(Scalar::from(2), Scalar::Int(2));
/// assert_eq!(Scalar::from(2.0), Scalar::Float(2.0));
/// assert_eq!(Scalar::from(true), Scalar::Bool(true));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar {
    /// An integer (Python `int`).
    Int(i64),
    /// A float (Python `float`).
    Float(f64),
    /// A bool.
    Bool(bool),
}

impl Scalar {
    /// The value as a float (`true` is 1).
    ///
    /// ```
    /// use varscope::init::Scalar;
    /// assert_eq!(Scalar::Int(3).as_f64(), 3.0);
    /// assert_eq!(Scalar::Bool(true).as_f64(), 1.0);
    /// ```
    pub fn as_f64(self) -> f64 {
        match self {
            Scalar::Int(i) => i as f64,
            Scalar::Float(f) => f,
            Scalar::Bool(b) => f64::from(u8::from(b)),
        }
    }

    /// TF's check of the value against `dtype` (`TypeError: Expected int32, but got
    /// 0.5 of type 'float'.`).
    fn check(self, dtype: DType) -> Result<()> {
        let (text, ty) = match self {
            Scalar::Float(f) if dtype.is_integer() || dtype == DType::Bool => {
                (python_float(f), "float")
            }
            Scalar::Int(i) if dtype == DType::Bool => (i.to_string(), "int"),
            _ => return Ok(()),
        };
        Err(Error::TypeMismatch {
            message: format!("Expected {dtype}, but got {text} of type '{ty}'."),
        })
    }
}

macro_rules! scalar_from {
    ($($t:ty => $v:ident),*) => {$(
        impl From<$t> for Scalar {
            fn from(x: $t) -> Scalar {
                Scalar::$v(x.into())
            }
        }
    )*};
}
scalar_from!(i8 => Int, i16 => Int, i32 => Int, i64 => Int, u8 => Int, u16 => Int, u32 => Int,
    f32 => Float, f64 => Float, bool => Bool);

/// Python's `repr` of a float (`2.0`, `0.5`, `1e-05`, `1e+16`), for TF's error texts.
pub(crate) fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    let a = f.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        return format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    let s = format!("{f}");
    if s.contains('.') {
        s
    } else {
        s + ".0"
    }
}

/// The function type of a [`CustomInit`].
///
/// ```
/// use std::sync::Arc;
/// use varscope::init::{CustomFn, InitContext};
/// use varscope::{Tensor, Init};
/// let f: Arc<CustomFn> = Arc::new(|ctx: &InitContext<'_>| Ok(Tensor::zeros(ctx.dtype, ctx.shape)));
/// let init = Init::custom(move |ctx| f(ctx));
/// assert!(!init.is_random());
/// ```
pub type CustomFn = dyn Fn(&InitContext<'_>) -> Result<Tensor> + Send + Sync;

/// A user-supplied initializer function.
///
/// ```
/// use varscope::{get_variable, Graph, Init};
/// let g = Graph::with_seed(1);
/// let init = Init::custom(|ctx| Ok(varscope::Tensor::zeros(ctx.dtype, ctx.shape)));
/// assert!(matches!(&init, Init::Custom(_))); // holds a `CustomInit`
/// let w = get_variable("w").shape([2]).initializer(init).graph(&g).build().unwrap();
/// assert_eq!(w.value().unwrap().to_f64_vec(), [0.0, 0.0]);
/// ```
#[derive(Clone)]
pub struct CustomInit(pub(crate) Arc<CustomFn>);

impl fmt::Debug for CustomInit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CustomInit")
    }
}

/// An initializer.
///
/// ```
/// use varscope::init::{Distribution, FanMode};
/// use varscope::Init;
/// let he = Init::variance_scaling(2.0, FanMode::FanIn, Distribution::TruncatedNormal)
///     .unwrap()
///     .with_seed(7);
/// assert_eq!(he.seed(), Some(7));
/// assert!(Init::variance_scaling(0.0, FanMode::FanIn, Distribution::Uniform).is_err());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Init {
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
    /// A constant.
    Constant(ConstantValue),
    /// A concrete tensor: gives the variable's shape and dtype. Shared, so that
    /// cloning the initializer (per shard, per call through a template or a custom
    /// getter) does not copy the values; [`Init::from_value`] wraps one.
    Value(Arc<Tensor>),
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

fn init_err(name: &str, message: impl Into<String>) -> Error {
    Error::Initializer {
        name: name.to_string(),
        message: message.into(),
    }
}

/// TF's `_compute_fans(shape)`: `(fan_in, fan_out)`.
///
/// Rank 0 gives `(1, 1)`, rank 1 `(n, n)`, rank 2 `(rows, cols)`, and higher ranks
/// (convolution kernels `[..., in, out]`) multiply by the receptive field size.
///
/// ```
/// use varscope::init::compute_fans;
/// assert_eq!(compute_fans(&[3, 3, 64, 128]), (576, 1152));
/// assert_eq!(compute_fans(&[]), (1, 1));
/// assert_eq!(compute_fans(&[5]), (5, 5));
/// ```
pub fn compute_fans(shape: &[usize]) -> (u128, u128) {
    match shape {
        [] => (1, 1),
        [n] => (*n as u128, *n as u128),
        [rows, cols] => (*rows as u128, *cols as u128),
        [lead @ .., fan_in, fan_out] => {
            // Saturating: a shape's elements fit in usize, but be safe on any slice.
            let receptive = lead
                .iter()
                .fold(1u128, |acc, &d| acc.saturating_mul(d as u128));
            (
                (*fan_in as u128).saturating_mul(receptive),
                (*fan_out as u128).saturating_mul(receptive),
            )
        }
    }
}

impl Init {
    /// All zeros (`false` for bool).
    ///
    /// ```
    /// use varscope::{get_variable, DType, Graph, Init};
    /// let g = Graph::with_seed(1);
    /// let b = get_variable("b").shape([3]).dtype(DType::Bool).initializer(Init::zeros()).graph(&g);
    /// assert_eq!(b.build().unwrap().value().unwrap().to_f64_vec(), [0.0; 3]);
    /// ```
    pub fn zeros() -> Init {
        Init::Zeros
    }
    /// All ones (`true` for bool).
    ///
    /// ```
    /// use varscope::{get_variable, Graph, Init};
    /// let g = Graph::with_seed(1);
    /// let w = get_variable("w").shape([2, 2]).initializer(Init::ones()).graph(&g).build().unwrap();
    /// assert_eq!(w.value().unwrap().to_f64_vec(), [1.0; 4]);
    /// ```
    pub fn ones() -> Init {
        Init::Ones
    }
    /// A scalar constant, of the type it is written in ([`Scalar`]): as in TF, a
    /// float is an error for an integer or bool variable, an integer for a bool one.
    ///
    /// ```
    /// use varscope::{get_variable, DType, ErrorKind, Graph, Init};
    /// Graph::new().as_default(|| {
    ///     let n = get_variable("n").shape([2]).dtype(DType::I32).initializer(Init::constant(3));
    ///     assert_eq!(n.build().unwrap().value().unwrap().to_f64_vec(), [3.0, 3.0]);
    ///     let e = get_variable("m").shape([2]).dtype(DType::I32)
    ///         .initializer(Init::constant(0.5)).build().unwrap_err();
    ///     assert_eq!(e.kind(), ErrorKind::TypeMismatch);
    ///     assert_eq!(e.to_string(), "Expected int32, but got 0.5 of type 'float'.");
    /// });
    /// ```
    pub fn constant(v: impl Into<Scalar>) -> Init {
        Init::Constant(ConstantValue::Scalar(v.into()))
    }
    /// Row-major constant values: the last value repeats when the list is shorter
    /// than the variable; a longer list is an error. Shards read the list at their
    /// global positions (so a partitioned variable equals the unpartitioned one).
    ///
    /// ```
    /// use varscope::init::{InitContext, Seeds};
    /// use varscope::Init;
    /// use varscope::{DType, Shape};
    /// let s = Shape::new([2, 3]).unwrap();
    /// let ctx = InitContext { name: "c", dtype: DType::I32, full_shape: &s, offset: &[0, 0],
    ///     shape: &s, seeds: Seeds::tf(1, 1) };
    /// let t = Init::constant_list(vec![1.0, 2.0, 3.0, 4.0]).materialize(&ctx).unwrap();
    /// assert_eq!(t.to_f64_vec(), vec![1.0, 2.0, 3.0, 4.0, 4.0, 4.0]);
    /// ```
    pub fn constant_list(values: Vec<f64>) -> Init {
        Init::Constant(ConstantValue::List(values))
    }
    /// A concrete tensor (the variable takes its shape and dtype). Same as
    /// `Init::Value(Arc::new(t))`.
    ///
    /// ```
    /// use varscope::{get_variable, DType, Graph, Init, Tensor};
    /// let g = Graph::with_seed(1);
    /// let t = Tensor::from_vec(vec![1i64, 2, 3], [3]).unwrap();
    /// // No shape or dtype needed: the variable takes the tensor's.
    /// let v = get_variable("v").initializer(Init::from_value(t.clone())).graph(&g).build().unwrap();
    /// assert_eq!((v.dtype(), v.value().unwrap()), (DType::I64, t.clone()));
    /// // Clones of the initializer share the values instead of copying them.
    /// let init = Init::from_value(t);
    /// let copy = init.clone();
    /// assert!(std::ptr::eq(init.value().unwrap(), copy.value().unwrap()));
    /// ```
    pub fn from_value(t: Tensor) -> Init {
        Init::Value(Arc::new(t))
    }
    /// `U[minval, maxval)` for floats.
    ///
    /// ```
    /// use varscope::{get_variable, Graph, Init};
    /// let g = Graph::with_seed(1);
    /// let w = get_variable("w").shape([1000]).initializer(Init::random_uniform(-2.0, 3.0)).graph(&g);
    /// let vals = w.build().unwrap().value().unwrap().to_f64_vec();
    /// assert!(vals.iter().all(|&x| (-2.0..3.0).contains(&x)));
    /// ```
    pub fn random_uniform(minval: f64, maxval: f64) -> Init {
        Init::RandomUniform {
            minval,
            maxval: Some(maxval),
            seed: None,
        }
    }
    /// Integers uniform in `[minval, maxval)` (for `int32`/`int64` variables).
    ///
    /// ```
    /// use varscope::{get_variable, DType, Graph, Init};
    /// let g = Graph::with_seed(1);
    /// let n = get_variable("n").shape([1000]).dtype(DType::I32)
    ///     .initializer(Init::random_uniform_int(0, 5)).graph(&g).build().unwrap();
    /// let vals = n.value().unwrap().to_f64_vec();
    /// assert!(vals.iter().all(|&x| (0.0..5.0).contains(&x) && x.fract() == 0.0));
    /// assert!((0..5).all(|k| vals.contains(&(k as f64)))); // every value drawn
    /// ```
    pub fn random_uniform_int(minval: i64, maxval: i64) -> Init {
        Init::RandomUniform {
            minval: minval as f64,
            maxval: Some(maxval as f64),
            seed: None,
        }
    }
    /// `N(mean, stddev²)`.
    ///
    /// ```
    /// use varscope::{get_variable, Graph, Init};
    /// let g = Graph::with_seed(1);
    /// let w = get_variable("w").shape([10_000]).initializer(Init::random_normal(5.0, 0.5)).graph(&g);
    /// let vals = w.build().unwrap().value().unwrap().to_f64_vec();
    /// let mean = vals.iter().sum::<f64>() / vals.len() as f64;
    /// assert!((mean - 5.0).abs() < 0.05);
    /// ```
    pub fn random_normal(mean: f64, stddev: f64) -> Init {
        Init::RandomNormal {
            mean,
            stddev,
            seed: None,
        }
    }
    /// Normal re-drawn beyond two standard deviations.
    ///
    /// ```
    /// use varscope::{get_variable, Graph, Init};
    /// let g = Graph::with_seed(1);
    /// let w = get_variable("w").shape([10_000]).initializer(Init::truncated_normal(0.0, 1.0)).graph(&g);
    /// let vals = w.build().unwrap().value().unwrap().to_f64_vec();
    /// assert!(vals.iter().all(|x| x.abs() <= 2.0));
    /// ```
    pub fn truncated_normal(mean: f64, stddev: f64) -> Init {
        Init::TruncatedNormal {
            mean,
            stddev,
            seed: None,
        }
    }
    /// TF's deprecated `uniform_unit_scaling_initializer(factor)`.
    ///
    /// ```
    /// use varscope::{get_variable, Graph, Init};
    /// let g = Graph::with_seed(1);
    /// // limit = factor * sqrt(3 / input_size), input_size = 300 for a [300, 10] matrix
    /// let w = get_variable("w").shape([300, 10]).initializer(Init::uniform_unit_scaling(1.0)).graph(&g);
    /// let limit = (3.0f64 / 300.0).sqrt();
    /// assert!(w.build().unwrap().value().unwrap().to_f64_vec().iter().all(|x| x.abs() <= limit));
    /// ```
    pub fn uniform_unit_scaling(factor: f64) -> Init {
        Init::UniformUnitScaling { factor, seed: None }
    }
    /// `variance_scaling_initializer(scale, mode, distribution)`.
    ///
    /// # Errors
    /// [`Error::Initializer`] (TF's text) when `scale <= 0`.
    ///
    /// ```
    /// use varscope::init::{Distribution, FanMode};
    /// use varscope::{get_variable, Graph, Init};
    /// // fan_out of a [10, 40] kernel is 40: limit = sqrt(3 * 2 / 40).
    /// let init = Init::variance_scaling(2.0, FanMode::FanOut, Distribution::Uniform).unwrap();
    /// let w = get_variable("w").shape([10, 40]).initializer(init).graph(&Graph::with_seed(1)).build().unwrap();
    /// let limit = (6.0f64 / 40.0).sqrt();
    /// assert!(w.value().unwrap().to_f64_vec().iter().all(|x| x.abs() <= limit));
    /// let e = Init::variance_scaling(-1.0, FanMode::FanIn, Distribution::Uniform).unwrap_err();
    /// assert!(e.to_string().contains("scale"));
    /// ```
    pub fn variance_scaling(scale: f64, mode: FanMode, distribution: Distribution) -> Result<Init> {
        check_scale("", scale)?;
        Ok(Init::VarianceScaling {
            scale,
            mode,
            distribution,
            seed: None,
        })
    }
    fn vs(scale: f64, mode: FanMode, distribution: Distribution) -> Init {
        Init::VarianceScaling {
            scale,
            mode,
            distribution,
            seed: None,
        }
    }
    /// Glorot uniform, the default for floating-point variables.
    ///
    /// ```
    /// use varscope::{get_variable, Graph, Init};
    /// let g = Graph::with_seed(1);
    /// let w = get_variable("w").shape([20, 30]).initializer(Init::glorot_uniform()).graph(&g);
    /// let limit = (6.0f64 / (20.0 + 30.0)).sqrt();
    /// assert!(w.build().unwrap().value().unwrap().to_f64_vec().iter().all(|x| x.abs() <= limit));
    /// ```
    pub fn glorot_uniform() -> Init {
        Init::vs(1.0, FanMode::FanAvg, Distribution::Uniform)
    }
    /// Glorot normal (truncated).
    ///
    /// ```
    /// use varscope::{get_variable, Graph, Init};
    /// let g = Graph::with_seed(1);
    /// let w = get_variable("w").shape([20, 30]).initializer(Init::glorot_normal()).graph(&g);
    /// let stddev = (2.0f64 / 50.0).sqrt() / 0.87962566103423978;
    /// assert!(w.build().unwrap().value().unwrap().to_f64_vec().iter().all(|x| x.abs() <= 2.0 * stddev + 1e-6));
    /// ```
    pub fn glorot_normal() -> Init {
        Init::vs(1.0, FanMode::FanAvg, Distribution::TruncatedNormal)
    }
    /// He uniform.
    ///
    /// ```
    /// use varscope::{get_variable, Graph, Init};
    /// let g = Graph::with_seed(1);
    /// let w = get_variable("w").shape([50, 10]).initializer(Init::he_uniform()).graph(&g);
    /// let limit = (6.0f64 / 50.0).sqrt();
    /// assert!(w.build().unwrap().value().unwrap().to_f64_vec().iter().all(|x| x.abs() <= limit));
    /// ```
    pub fn he_uniform() -> Init {
        Init::vs(2.0, FanMode::FanIn, Distribution::Uniform)
    }
    /// He normal (truncated).
    ///
    /// ```
    /// use varscope::{get_variable, Graph, Init};
    /// let g = Graph::with_seed(1);
    /// let w = get_variable("w").shape([50, 10]).initializer(Init::he_normal()).graph(&g);
    /// let stddev = (2.0f64 / 50.0).sqrt() / 0.87962566103423978;
    /// assert!(w.build().unwrap().value().unwrap().to_f64_vec().iter().all(|x| x.abs() <= 2.0 * stddev + 1e-6));
    /// ```
    pub fn he_normal() -> Init {
        Init::vs(2.0, FanMode::FanIn, Distribution::TruncatedNormal)
    }
    /// LeCun uniform.
    ///
    /// ```
    /// use varscope::{get_variable, Graph, Init};
    /// let g = Graph::with_seed(1);
    /// let w = get_variable("w").shape([75, 10]).initializer(Init::lecun_uniform()).graph(&g);
    /// let limit = (3.0f64 / 75.0).sqrt();
    /// assert!(w.build().unwrap().value().unwrap().to_f64_vec().iter().all(|x| x.abs() <= limit));
    /// ```
    pub fn lecun_uniform() -> Init {
        Init::vs(1.0, FanMode::FanIn, Distribution::Uniform)
    }
    /// LeCun normal (truncated).
    ///
    /// ```
    /// use varscope::{get_variable, Graph, Init};
    /// let g = Graph::with_seed(1);
    /// let w = get_variable("w").shape([75, 10]).initializer(Init::lecun_normal()).graph(&g);
    /// let stddev = (1.0f64 / 75.0).sqrt() / 0.87962566103423978;
    /// assert!(w.build().unwrap().value().unwrap().to_f64_vec().iter().all(|x| x.abs() <= 2.0 * stddev + 1e-6));
    /// ```
    pub fn lecun_normal() -> Init {
        Init::vs(1.0, FanMode::FanIn, Distribution::TruncatedNormal)
    }
    /// A (semi-)orthogonal matrix times `gain`.
    ///
    /// ```
    /// use varscope::{get_variable, DType, Graph, Init};
    /// let g = Graph::with_seed(1);
    /// let q = get_variable("q").shape([4, 4]).dtype(DType::F64).initializer(Init::orthogonal(1.0))
    ///     .graph(&g).build().unwrap().value().unwrap().to_f64_vec();
    /// // Qᵀ·Q = I
    /// for i in 0..4 {
    ///     for j in 0..4 {
    ///         let dot: f64 = (0..4).map(|k| q[k * 4 + i] * q[k * 4 + j]).sum();
    ///         assert!((dot - if i == j { 1.0 } else { 0.0 }).abs() < 1e-9);
    ///     }
    /// }
    /// ```
    pub fn orthogonal(gain: f64) -> Init {
        Init::Orthogonal { gain, seed: None }
    }
    /// `gain * I` (2-D variables only).
    ///
    /// ```
    /// use varscope::{get_variable, Graph, Init};
    /// let g = Graph::with_seed(1);
    /// let w = get_variable("w").shape([2, 3]).initializer(Init::identity(2.0)).graph(&g).build().unwrap();
    /// assert_eq!(w.value().unwrap().to_f64_vec(), [2.0, 0.0, 0.0, 0.0, 2.0, 0.0]);
    /// assert!(get_variable("v").shape([2]).initializer(Init::identity(1.0)).graph(&g).build().is_err());
    /// ```
    pub fn identity(gain: f64) -> Init {
        Init::Identity { gain }
    }
    /// A user initializer function, called with the context of each variable (or
    /// shard) it creates.
    ///
    /// ```
    /// use varscope::{get_variable, Graph, Init, Tensor};
    /// let g = Graph::with_seed(1);
    /// // Each element holds its global index: shards see their offset.
    /// let iota = Init::custom(|ctx| {
    ///     let start = ctx.offset[0];
    ///     let vals: Vec<f32> = (start..start + ctx.shape.dims()[0]).map(|i| i as f32).collect();
    ///     Tensor::from_vec(vals, ctx.shape.dims().to_vec())
    /// });
    /// let emb = get_variable("emb").shape([4]).initializer(iota)
    ///     .partitioner(varscope::partition::FixedSizePartitioner::new(2, 0)).graph(&g)
    ///     .build_partitioned().unwrap();
    /// assert_eq!(emb.as_tensor().unwrap().to_f64_vec(), [0.0, 1.0, 2.0, 3.0]);
    /// ```
    pub fn custom<F>(f: F) -> Init
    where
        F: Fn(&InitContext<'_>) -> Result<Tensor> + Send + Sync + 'static,
    {
        Init::Custom(CustomInit(Arc::new(f)))
    }
    /// Sets the op seed of a random initializer (other initializers are returned
    /// unchanged).
    ///
    /// ```
    /// use varscope::{get_variable, Graph, Init};
    /// let g = Graph::with_seed(1);
    /// let draw = |name: &str, seed| get_variable(name).shape([4]).graph(&g)
    ///     .initializer(Init::random_normal(0.0, 1.0).with_seed(seed)).build().unwrap().value().unwrap();
    /// // The op seed fixes the values, whatever the name.
    /// assert_eq!(draw("a", 5), draw("b", 5));
    /// assert_ne!(draw("c", 5), draw("d", 6));
    /// assert_eq!(Init::ones().with_seed(3).seed(), None); // not random: unchanged
    /// ```
    pub fn with_seed(mut self, s: u64) -> Init {
        match &mut self {
            Init::RandomUniform { seed, .. }
            | Init::RandomNormal { seed, .. }
            | Init::TruncatedNormal { seed, .. }
            | Init::UniformUnitScaling { seed, .. }
            | Init::VarianceScaling { seed, .. }
            | Init::Orthogonal { seed, .. } => *seed = Some(s),
            _ => {}
        }
        self
    }
    /// The concrete tensor of [`Init::Value`].
    ///
    /// ```
    /// use varscope::{Init, Tensor};
    /// let t = Tensor::scalar(1.0f32);
    /// assert_eq!(Init::from_value(t.clone()).value(), Some(&t));
    /// assert_eq!(Init::ones().value(), None);
    /// ```
    pub fn value(&self) -> Option<&Tensor> {
        match self {
            Init::Value(t) => Some(t.as_ref()),
            _ => None,
        }
    }
    /// The op seed, if set.
    ///
    /// ```
    /// use varscope::Init;
    /// assert_eq!(Init::glorot_uniform().seed(), None);
    /// assert_eq!(Init::glorot_uniform().with_seed(9).seed(), Some(9));
    /// ```
    pub fn seed(&self) -> Option<u64> {
        match self {
            Init::RandomUniform { seed, .. }
            | Init::RandomNormal { seed, .. }
            | Init::TruncatedNormal { seed, .. }
            | Init::UniformUnitScaling { seed, .. }
            | Init::VarianceScaling { seed, .. }
            | Init::Orthogonal { seed, .. } => *seed,
            _ => None,
        }
    }
    /// Whether the initializer draws random numbers (and so uses `ctx.seeds`).
    ///
    /// ```
    /// use varscope::Init;
    /// assert!(Init::orthogonal(1.0).is_random());
    /// assert!(!Init::identity(1.0).is_random() && !Init::constant(1).is_random());
    /// ```
    pub fn is_random(&self) -> bool {
        matches!(
            self,
            Init::RandomUniform { .. }
                | Init::RandomNormal { .. }
                | Init::TruncatedNormal { .. }
                | Init::UniformUnitScaling { .. }
                | Init::VarianceScaling { .. }
                | Init::Orthogonal { .. }
        )
    }

    /// Checks parameters against the context without producing values.
    ///
    /// # Errors
    /// [`Error::Initializer`] for parameters TF rejects: a float-only initializer
    /// on a non-float dtype, an integer uniform without `maxval` or with
    /// `minval >= maxval`, a constant list longer than the (full) variable,
    /// orthogonal of rank < 2, identity not 2-D, a value tensor whose shape or dtype
    /// disagrees, or a part that does not fit in the full shape.
    ///
    /// ```
    /// use varscope::init::{InitContext, Seeds};
    /// use varscope::{DType, Init, Shape};
    /// let s = Shape::new([3]).unwrap();
    /// let ctx = InitContext { name: "n", dtype: DType::I32, full_shape: &s, offset: &[0],
    ///     shape: &s, seeds: Seeds::tf(1, 1) };
    /// assert!(Init::zeros().validate(&ctx).is_ok());
    /// let e = Init::orthogonal(1.0).validate(&ctx).unwrap_err(); // float-only on int32
    /// assert!(e.to_string().contains("Expected floating point type, got <dtype: 'int32'>."));
    /// ```
    pub fn validate(&self, ctx: &InitContext<'_>) -> Result<()> {
        let name = ctx.name;
        if let Init::Custom(_) = self {
            return Ok(());
        }
        let whole = ctx.shape == ctx.full_shape && ctx.offset.iter().all(|&o| o == 0);
        if !whole || ctx.offset.len() != ctx.shape.rank() {
            Part::new(name, ctx.full_shape, ctx.offset, ctx.shape)?;
        }
        let need_float = || {
            if ctx.dtype.is_floating() {
                Ok(())
            } else {
                Err(init_err(
                    name,
                    format!(
                        "Expected floating point type, got <dtype: '{}'>.",
                        ctx.dtype
                    ),
                ))
            }
        };
        match self {
            Init::Zeros | Init::Ones => Ok(()),
            Init::Constant(ConstantValue::Scalar(s)) => s.check(ctx.dtype),
            Init::Constant(ConstantValue::List(v)) => {
                let n = ctx.full_shape.num_elements();
                if v.len() > n {
                    Err(init_err(
                        name,
                        format!(
                            "Too many elements provided. Needed at most {n}, but received {}",
                            v.len()
                        ),
                    ))
                } else {
                    Ok(())
                }
            }
            Init::Value(t) => {
                if t.dtype() != ctx.dtype {
                    Err(init_err(
                        name,
                        format!(
                            "Initializer type '{}' and explicit dtype '{}' don't match.",
                            t.dtype(),
                            ctx.dtype
                        ),
                    ))
                } else if t.shape() != *ctx.full_shape {
                    Err(init_err(
                        name,
                        format!(
                            "initializer value of shape {} does not match the variable's shape {}",
                            t.shape(),
                            ctx.full_shape
                        ),
                    ))
                } else {
                    Ok(())
                }
            }
            Init::RandomUniform { minval, maxval, .. } => {
                if ctx.dtype.is_integer() {
                    let Some(maxval) = maxval else {
                        return Err(init_err(
                            name,
                            format!("Must specify maxval for integer dtype tf.{}", ctx.dtype),
                        ));
                    };
                    let (lo, hi) = int_bounds(ctx.dtype, *minval, *maxval);
                    if lo >= hi && ctx.full_shape.num_elements() > 0 {
                        return Err(init_err(
                            name,
                            format!("Need minval < maxval: {lo} >= {hi}"),
                        ));
                    }
                    Ok(())
                } else if ctx.dtype.is_floating() {
                    Ok(())
                } else {
                    Err(bad_random_dtype(ctx.dtype))
                }
            }
            // TF 2.21 builds these in the variable's dtype, and the float parameter is
            // what fails first.
            Init::RandomNormal { mean, .. } | Init::TruncatedNormal { mean, .. }
                if !ctx.dtype.is_floating() =>
            {
                Err(float_into(ctx.dtype, *mean))
            }
            Init::RandomNormal { .. }
            | Init::TruncatedNormal { .. }
            | Init::UniformUnitScaling { .. } => need_float(),
            Init::VarianceScaling {
                scale,
                distribution,
                ..
            } => {
                check_scale(name, *scale)?;
                if ctx.dtype.is_floating() {
                    return Ok(());
                }
                if *distribution == Distribution::Uniform {
                    if ctx.dtype == DType::Bool {
                        return Err(bad_random_dtype(ctx.dtype));
                    }
                    let lower = routines::Draw::of(self, ctx.full_shape)?.a;
                    return Err(float_into(ctx.dtype, lower));
                }
                Err(float_into(ctx.dtype, 0.0))
            }
            Init::Orthogonal { .. } => {
                need_float()?;
                if ctx.full_shape.rank() < 2 {
                    return Err(init_err(
                        name,
                        "The tensor to initialize must be at least two-dimensional",
                    ));
                }
                Ok(())
            }
            Init::Identity { .. } => {
                need_float()?;
                if ctx.full_shape.rank() != 2 {
                    return Err(init_err(
                        name,
                        "Identity matrix initializer can only be used for 2D matrices.",
                    ));
                }
                Ok(())
            }
            Init::Custom(_) => Ok(()),
        }
    }

    /// Produces the values of one variable or shard: allocates the output of
    /// `ctx.shape` once and fills it in place, in parallel on the current rayon
    /// pool for large outputs.
    ///
    /// # Errors
    /// [`Error::Initializer`] for parameters TF rejects, [`Error::Allocation`] (naming
    /// the variable) when the output cannot be allocated, or a custom function's
    /// error.
    ///
    /// ```
    /// use varscope::init::{InitContext, Seeds};
    /// use varscope::{get_variable, DType, Graph, Init, Shape};
    /// // The same values `get_variable` gives with the same seeds.
    /// let s = Shape::new([5]).unwrap();
    /// let ctx = InitContext { name: "w", dtype: DType::F32, full_shape: &s, offset: &[0],
    ///     shape: &s, seeds: Seeds::tf(7, 3) };
    /// let direct = Init::random_uniform(0.0, 1.0).with_seed(3).materialize(&ctx).unwrap();
    /// let g = Graph::with_seed(7);
    /// let v = get_variable("w").shape([5]).initializer(Init::random_uniform(0.0, 1.0).with_seed(3))
    ///     .graph(&g).build().unwrap();
    /// assert_eq!(v.value().unwrap(), direct);
    /// ```
    pub fn materialize(&self, ctx: &InitContext<'_>) -> Result<Tensor> {
        if let Init::Custom(c) = self {
            return (c.0)(ctx);
        }
        self.validate(ctx)?;
        self.materialize_validated(ctx)
    }

    /// [`materialize`](Init::materialize) for an initializer already
    /// [`validate`](Init::validate)d against `ctx` (a variable's plan, checked when
    /// the variable was created).
    pub(crate) fn materialize_validated(&self, ctx: &InitContext<'_>) -> Result<Tensor> {
        if let Init::Custom(c) = self {
            return (c.0)(ctx);
        }
        let mut t =
            Tensor::try_zeros(ctx.dtype, ctx.shape).map_err(|e| e.for_variable(ctx.name))?;
        if let Init::Zeros = self {
            return Ok(t);
        }
        self.fill_checked(ctx, &mut t)?;
        Ok(t)
    }

    /// Fills an existing tensor (of `ctx.dtype` and `ctx.shape`, standard layout)
    /// with the values [`materialize`](Init::materialize) would produce.
    ///
    /// # Errors
    /// As `materialize`, and [`Error::Initializer`] when `out` does not have the
    /// context's dtype and shape.
    ///
    /// ```
    /// use varscope::init::{InitContext, Seeds};
    /// use varscope::Init;
    /// use varscope::{DType, Shape, Tensor};
    /// let s = Shape::new([1000]).unwrap();
    /// let ctx = InitContext { name: "b", dtype: DType::F32, full_shape: &s, offset: &[0],
    ///     shape: &s, seeds: Seeds::tf(1, 2) };
    /// let mut buf = Tensor::zeros(DType::F32, &s);
    /// Init::random_normal(0.0, 1.0).fill_into(&ctx, &mut buf).unwrap();
    /// assert_eq!(buf, Init::random_normal(0.0, 1.0).materialize(&ctx).unwrap());
    /// ```
    pub fn fill_into(&self, ctx: &InitContext<'_>, out: &mut Tensor) -> Result<()> {
        if out.dtype() != ctx.dtype || out.shape() != *ctx.shape {
            return Err(init_err(
                ctx.name,
                format!(
                    "output buffer of dtype {} and shape {} does not match {} {}",
                    out.dtype(),
                    out.shape(),
                    ctx.dtype,
                    ctx.shape
                ),
            ));
        }
        if let Init::Custom(c) = self {
            let t = (c.0)(ctx)?;
            if t.dtype() != ctx.dtype || t.shape() != *ctx.shape {
                return Err(init_err(
                    ctx.name,
                    format!(
                        "custom initializer returned {} {} for a {} {} variable",
                        t.dtype(),
                        t.shape(),
                        ctx.dtype,
                        ctx.shape
                    ),
                ));
            }
            *out = t;
            return Ok(());
        }
        self.validate(ctx)?;
        self.fill_checked(ctx, out)
    }

    /// Whether [`fill_range`](Init::fill_range) computes elements on their own (every
    /// built-in initializer but `orthogonal`, whose elements all come from one QR
    /// decomposition, and custom functions, which make whole tensors).
    pub(crate) fn fills_ranges(&self) -> bool {
        !matches!(self, Init::Orthogonal { .. } | Init::Custom(_))
    }

    /// Fills `out` (a 1-D tensor of `ctx.dtype`) with the elements `first ..
    /// first + out.len()`, row-major, of the value [`materialize`](Init::materialize)
    /// would produce for `ctx`, without computing the others.
    ///
    /// # Errors
    /// As `materialize`; [`Error::Initializer`] when `out` is not a 1-D tensor of the
    /// dtype, the range does not fit, or the initializer does not
    /// [fill ranges](Init::fills_ranges).
    pub(crate) fn fill_range(
        &self,
        ctx: &InitContext<'_>,
        first: usize,
        out: &mut Tensor,
    ) -> Result<()> {
        if !self.fills_ranges() {
            return Err(init_err(
                ctx.name,
                "this initializer computes whole tensors, not ranges of elements",
            ));
        }
        if out.dtype() != ctx.dtype || out.shape().rank() != 1 {
            return Err(init_err(
                ctx.name,
                format!(
                    "range buffer of dtype {} and shape {} is not a 1-D {} tensor",
                    out.dtype(),
                    out.shape(),
                    ctx.dtype
                ),
            ));
        }
        self.validate(ctx)?;
        let part = Part::new(ctx.name, ctx.full_shape, ctx.offset, ctx.shape)?.range(
            ctx.name,
            first,
            out.len(),
        )?;
        self.fill_part_checked(ctx, out, &part)
    }

    /// Fills `out` (already checked against `ctx`).
    fn fill_checked(&self, ctx: &InitContext<'_>, out: &mut Tensor) -> Result<()> {
        let part = Part::new(ctx.name, ctx.full_shape, ctx.offset, ctx.shape)?;
        self.fill_part_checked(ctx, out, &part)
    }

    /// Fills `out` with the elements of `part` (the whole variable/shard or a range).
    fn fill_part_checked(
        &self,
        ctx: &InitContext<'_>,
        out: &mut Tensor,
        part: &Part,
    ) -> Result<()> {
        let st = ctx.seeds.stream();
        match self {
            Init::Zeros => fill_constant(ctx, out, part, 0.0),
            Init::Ones => fill_constant(ctx, out, part, 1.0),
            Init::Constant(ConstantValue::Scalar(v)) => fill_constant(ctx, out, part, v.as_f64()),
            Init::Constant(ConstantValue::List(vs)) => fill_list(ctx, out, part, vs),
            Init::Value(t) => fill_value(ctx, out, part, t),
            Init::Identity { gain } => fill_identity(ctx, out, part, *gain),
            Init::Orthogonal { gain, .. } => fill_orthogonal(ctx, out, part, st, *gain),
            Init::Custom(_) => Ok(()),
            random => {
                let draw = Draw::of(random, ctx.full_shape)?;
                fill_random(ctx, out, part, st, draw)
            }
        }
    }
}

/// TF's `TypeError` for a float parameter converted to a non-float dtype.
fn float_into(dtype: DType, v: f64) -> Error {
    Error::TypeMismatch {
        message: format!(
            "Expected {dtype}, but got {} of type 'float'.",
            python_float(v)
        ),
    }
}

/// TF 2.21's error for a uniform initializer on a dtype it does not draw.
fn bad_random_dtype(dtype: DType) -> Error {
    Error::invalid_arg(format!(
        "Argument `dtype` got invalid value <dtype: '{dtype}'>. Accepted dtypes are (tf.float16, tf.bfloat16, tf.float32, tf.float64, tf.int32, tf.int64)."
    ))
}

fn check_scale(name: &str, scale: f64) -> Result<()> {
    if scale <= 0.0 {
        Err(init_err(name, "`scale` must be positive float."))
    } else {
        Ok(())
    }
}
