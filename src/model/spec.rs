//! The TOML model specification: types, parsing with positioned errors, validation.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::initializer::{Distribution, FanMode, Init};
use crate::partition::{
    FixedSizePartitioner, MinMaxVariablePartitioner, Partitioner, VariableAxisSizePartitioner,
};
use crate::scope::Reuse;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The text of the built-in default model (a transformer-like model of about 300M
/// parameters with weight-sharing towers and a partitioned embedding).
///
/// ```
/// use varscope::model::{ModelSpec, DEFAULT_SPEC};
/// let spec = ModelSpec::from_toml_str(DEFAULT_SPEC).unwrap();
/// assert_eq!(spec.source_hash(), ModelSpec::default_spec().source_hash());
/// assert!(!spec.scopes.is_empty());
/// ```
pub const DEFAULT_SPEC: &str = include_str!("default.toml");

/// A model specification, parsed from TOML (see the [module docs](super)).
///
/// ```
/// use varscope::model::{ModelSpec, ModuleSpec};
/// let spec = ModelSpec::from_toml_str(r#"
///     seed = 5
///     [constants]
///     hidden = 16
///     [[scopes]]
///     name = "net"
///     modules = [{ type = "dense", inputs = "hidden", units = 4 }]
/// "#).unwrap();
/// assert_eq!(spec.seed, 5);
/// assert_eq!(spec.constants["hidden"], 16);
/// assert!(matches!(spec.scopes[0].modules[0], ModuleSpec::Dense { .. }));
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// A descriptive name.
    #[serde(default)]
    pub name: Option<String>,
    /// The graph seed (overridable on the command line).
    #[serde(default)]
    pub seed: u64,
    /// Default dtype of every top-level scope.
    #[serde(default)]
    pub dtype: Option<DTypeSpec>,
    /// Default initializer of every top-level scope and template.
    #[serde(default, deserialize_with = "opt_init")]
    pub initializer: Option<InitSpec>,
    /// Default partitioner of every top-level scope.
    #[serde(default, deserialize_with = "opt_partitioner")]
    pub partitioner: Option<PartitionerSpec>,
    /// Named sizes (`[constants]`, `hidden = 768`), usable wherever a size or a
    /// count is expected by writing the name as a string (`dim = "hidden"`).
    #[serde(default)]
    pub constants: BTreeMap<String, i64>,
    /// Named module lists (and sub-scopes), instantiated by scopes with
    /// `block = "name"`.
    #[serde(default)]
    pub blocks: BTreeMap<String, BlockSpec>,
    /// Named templates (`make_template`, scope created at the root): every scope with
    /// `template = "name"` calls it and so shares its variables.
    #[serde(default)]
    pub templates: BTreeMap<String, BlockSpec>,
    /// The top-level scopes, built in order.
    #[serde(default)]
    pub scopes: Vec<ScopeSpec>,
    /// The source text the spec was parsed from.
    #[serde(skip)]
    pub source: String,
}

/// A list of modules with optional defaults (a `[blocks.x]` or `[templates.x]` table).
///
/// ```
/// use varscope::model::ModelSpec;
/// let spec = ModelSpec::from_toml_str(r#"
///     [blocks.ffn]
///     modules = [{ type = "dense", inputs = 4, units = 8 }, { type = "dense", inputs = 8, units = 4 }]
///     [[scopes]]
///     name = "layer"
///     block = "ffn"
/// "#).unwrap();
/// assert_eq!(spec.blocks["ffn"].modules.len(), 2);
/// assert_eq!(spec.scopes[0].block.as_deref(), Some("ffn"));
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockSpec {
    /// Initializer for modules that set none (templates only; blocks inherit the scope's).
    #[serde(default, deserialize_with = "opt_init")]
    pub initializer: Option<InitSpec>,
    /// The modules.
    #[serde(default, deserialize_with = "module_list")]
    pub modules: Vec<ModuleSpec>,
    /// Sub-scopes added to every scope that uses the block (blocks only), built after
    /// that scope's own `scopes`.
    #[serde(default)]
    pub scopes: Vec<ScopeSpec>,
}

/// A variable scope with its modules and child scopes.
///
/// ```
/// use varscope::model::{ModelSpec, ReuseSpec};
/// let spec = ModelSpec::from_toml_str(r#"
///     [[scopes]]
///     name = "tower"
///     repeat = 2
///     share = true
///     modules = [{ type = "dense", inputs = 2, units = 2 }]
///     [[scopes.scopes]]
///     name = "head"
///     reuse = "auto"
/// "#).unwrap();
/// let tower = &spec.scopes[0];
/// assert_eq!((tower.name.as_str(), tower.repeat, tower.share), ("tower", Some(2), true));
/// assert_eq!(tower.scopes[0].reuse, Some(ReuseSpec::Auto));
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeSpec {
    /// The scope name; it may contain `/` (`"cls/predictions"`), which opens the
    /// nested scopes at once, as in TF.
    pub name: String,
    /// Build the scope this many times: as `name_0 … name_{n-1}`, or — with `share` —
    /// as `name` every time (towers sharing weights through reuse).
    #[serde(default, deserialize_with = "opt_count")]
    pub repeat: Option<usize>,
    /// With `repeat`: every instance enters the same scope (reuse defaults to `auto`).
    #[serde(default)]
    pub share: bool,
    /// The scope's reuse mode: `"no"` (inherit), `"yes"` or `"auto"`. A scope with
    /// `reuse = "yes"` is built after everything before it in the spec.
    #[serde(default)]
    pub reuse: Option<ReuseSpec>,
    /// Default initializer in the scope.
    #[serde(default, deserialize_with = "opt_init")]
    pub initializer: Option<InitSpec>,
    /// Default partitioner in the scope.
    #[serde(default, deserialize_with = "opt_partitioner")]
    pub partitioner: Option<PartitionerSpec>,
    /// Default dtype in the scope.
    #[serde(default)]
    pub dtype: Option<DTypeSpec>,
    /// Add the modules of `[blocks.<name>]`.
    #[serde(default)]
    pub block: Option<String>,
    /// Call `[templates.<name>]` (shared variables).
    #[serde(default)]
    pub template: Option<String>,
    /// Modules built in this scope.
    #[serde(default, deserialize_with = "module_list")]
    pub modules: Vec<ModuleSpec>,
    /// Child scopes.
    #[serde(default)]
    pub scopes: Vec<ScopeSpec>,
}

/// A reuse mode.
///
/// ```
/// use varscope::model::ReuseSpec;
/// use varscope::Reuse;
/// assert_eq!(Reuse::from(ReuseSpec::Auto), Reuse::Auto);
/// assert_eq!(Reuse::from(ReuseSpec::No), Reuse::No);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReuseSpec {
    /// Create (inherit).
    No,
    /// Reuse only.
    Yes,
    /// Get or create.
    Auto,
}

impl From<ReuseSpec> for Reuse {
    fn from(r: ReuseSpec) -> Reuse {
        match r {
            ReuseSpec::No => Reuse::No,
            ReuseSpec::Yes => Reuse::Yes,
            ReuseSpec::Auto => Reuse::Auto,
        }
    }
}

/// A dtype, written as TF names it (`"float32"`, `"bfloat16"`, `"int64"`, …).
///
/// ```
/// use varscope::model::ModelSpec;
/// use varscope::DType;
/// // A spec needs a scope; this one adds a small one after the top-level keys.
/// let parse = |top: &str| ModelSpec::from_toml_str(&format!(
///     "{top}\n[[scopes]]\nname = \"m\"\nmodules = [{{ type = \"dense\", inputs = 2, units = 2 }}]"));
/// let spec = parse(r#"dtype = "bfloat16""#).unwrap();
/// assert_eq!(spec.dtype.unwrap().0, DType::BF16);
/// let e = parse(r#"dtype = "float8""#).unwrap_err();
/// assert!(e.to_string().contains("unknown dtype `float8`"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct DTypeSpec(pub DType);

impl TryFrom<String> for DTypeSpec {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        DType::from_name(&s).map(DTypeSpec).ok_or_else(|| {
            format!("unknown dtype `{s}`, expected one of float16, bfloat16, float32, float64, int32, int64, bool")
        })
    }
}

/// A strictly positive size: an integer, or the name of one of the spec's
/// `[constants]` as a string.
///
/// ```
/// use varscope::model::{Dim, ModelSpec, ModuleSpec};
/// let spec = ModelSpec::from_toml_str(r#"
///     [constants]
///     hidden = 32
///     [[scopes]]
///     name = "s"
///     modules = [{ type = "dense", inputs = "hidden", units = 8 }]
/// "#).unwrap();
/// match &spec.scopes[0].modules[0] {
///     ModuleSpec::Dense { inputs, units, .. } => assert_eq!((*inputs, *units), (Dim(32), Dim(8))),
///     other => panic!("unexpected {other:?}"),
/// }
/// assert!(ModelSpec::from_toml_str(r#"
///     [[scopes]]
///     name = "s"
///     modules = [{ type = "dense", inputs = 0, units = 8 }]
/// "#).is_err()); // sizes are strictly positive
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dim(pub usize);

impl<'de> Deserialize<'de> for Dim {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = SizeOrName::deserialize(d)?
            .resolve()
            .map_err(serde::de::Error::custom)?;
        Dim::try_from(v).map_err(serde::de::Error::custom)
    }
}

/// An integer, or a constant's name (resolved against the spec being parsed).
#[derive(Deserialize)]
#[serde(untagged)]
enum SizeOrName {
    Int(i64),
    Name(String),
}

impl SizeOrName {
    fn resolve(self) -> std::result::Result<i64, String> {
        match self {
            SizeOrName::Int(v) => Ok(v),
            SizeOrName::Name(n) => CONSTANTS.with(|c| {
                let c = c.borrow();
                c.get(&n).copied().ok_or_else(|| {
                    let known: Vec<&str> = c.keys().map(String::as_str).collect();
                    if known.is_empty() {
                        format!("unknown constant `{n}`: expected a number, or the name of a constant defined under [constants] (there are none)")
                    } else {
                        format!("unknown constant `{n}` (defined under [constants]: {})", known.join(", "))
                    }
                })
            }),
        }
    }
}

std::thread_local! {
    /// The `[constants]` of the spec being parsed on this thread.
    static CONSTANTS: std::cell::RefCell<BTreeMap<String, i64>> =
        const { std::cell::RefCell::new(BTreeMap::new()) };
}

/// Sets the constants of the spec being parsed for the guard's lifetime.
struct ConstantsGuard(BTreeMap<String, i64>);

impl ConstantsGuard {
    fn set(constants: BTreeMap<String, i64>) -> ConstantsGuard {
        ConstantsGuard(CONSTANTS.with(|c| c.replace(constants)))
    }
}

impl Drop for ConstantsGuard {
    fn drop(&mut self) {
        let old = std::mem::take(&mut self.0);
        CONSTANTS.with(|c| c.replace(old));
    }
}

/// The integer `[constants]` of a spec text (anything else is left for the
/// deserializer to report).
fn constants_of(text: &str) -> BTreeMap<String, i64> {
    let Ok(table) = text.parse::<toml::Table>() else {
        return BTreeMap::new();
    };
    match table.get("constants") {
        Some(toml::Value::Table(t)) => t
            .iter()
            .filter_map(|(k, v)| v.as_integer().map(|i| (k.clone(), i)))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// A count of at least 1 (`repeat`), or a constant's name.
fn opt_count<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<usize>, D::Error> {
    let v = SizeOrName::deserialize(d)?
        .resolve()
        .map_err(serde::de::Error::custom)?;
    usize::try_from(v)
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("expected a count, found {v}")))
}

/// A shape: sizes of at least 0, each an integer or a constant's name.
fn shape_list<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<usize>, D::Error> {
    Vec::<SizeOrName>::deserialize(d)?
        .into_iter()
        .map(|s| {
            let v = s.resolve().map_err(serde::de::Error::custom)?;
            usize::try_from(v).map_err(|_| {
                serde::de::Error::custom(format!("expected a non-negative size, found {v}"))
            })
        })
        .collect()
}

impl TryFrom<i64> for Dim {
    type Error = String;
    fn try_from(v: i64) -> std::result::Result<Self, String> {
        if v <= 0 {
            Err(format!("expected a positive size, found {v}"))
        } else {
            usize::try_from(v)
                .map(Dim)
                .map_err(|_| format!("size {v} is too large"))
        }
    }
}

fn one() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}

/// An initializer, `{ kind = "truncated_normal", stddev = 0.02 }`.
///
/// ```
/// use varscope::model::ModelSpec;
/// // A spec needs a scope; this one adds a small one after the top-level keys.
/// let parse = |top: &str| ModelSpec::from_toml_str(&format!(
///     "{top}\n[[scopes]]\nname = \"m\"\nmodules = [{{ type = \"dense\", inputs = 2, units = 2 }}]"));
/// let spec = parse(r#"initializer = { kind = "truncated_normal", stddev = 0.02 }"#).unwrap();
/// let init = spec.initializer.unwrap().to_init().unwrap();
/// assert!(init.is_random());
/// assert!(parse(r#"initializer = { kind = "gaussian" }"#).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[allow(missing_docs)]
pub enum InitSpec {
    /// Zeros.
    Zeros {},
    /// Ones.
    Ones {},
    /// A constant, of the type it is written in (`1`, `1.0`, `true`), which is
    /// checked against the variable's dtype as TF does.
    Constant { value: ConstantSpec },
    /// `U[min, max)`.
    RandomUniform {
        #[serde(default)]
        min: f64,
        #[serde(default = "one")]
        max: f64,
        seed: Option<u64>,
    },
    /// Normal.
    RandomNormal {
        #[serde(default)]
        mean: f64,
        #[serde(default = "one")]
        stddev: f64,
        seed: Option<u64>,
    },
    /// Truncated normal.
    TruncatedNormal {
        #[serde(default)]
        mean: f64,
        #[serde(default = "one")]
        stddev: f64,
        seed: Option<u64>,
    },
    /// Glorot uniform (TF's default for floats).
    GlorotUniform { seed: Option<u64> },
    /// Glorot normal.
    GlorotNormal { seed: Option<u64> },
    /// He normal.
    HeNormal { seed: Option<u64> },
    /// He uniform.
    HeUniform { seed: Option<u64> },
    /// LeCun normal.
    LecunNormal { seed: Option<u64> },
    /// LeCun uniform.
    LecunUniform { seed: Option<u64> },
    /// Variance scaling.
    VarianceScaling {
        #[serde(default = "one")]
        scale: f64,
        #[serde(default)]
        mode: FanModeSpec,
        #[serde(default)]
        distribution: DistributionSpec,
        seed: Option<u64>,
    },
    /// Orthogonal.
    Orthogonal {
        #[serde(default = "one")]
        gain: f64,
        seed: Option<u64>,
    },
    /// `gain * I`.
    Identity {
        #[serde(default = "one")]
        gain: f64,
    },
    /// Uniform unit scaling.
    UniformUnitScaling {
        #[serde(default = "one")]
        factor: f64,
        seed: Option<u64>,
    },
}

/// Fan mode of variance scaling.
///
/// ```
/// use varscope::model::{FanModeSpec, InitSpec, ModelSpec};
/// // A spec needs a scope; this one adds a small one after the top-level keys.
/// let parse = |top: &str| ModelSpec::from_toml_str(&format!(
///     "{top}\n[[scopes]]\nname = \"m\"\nmodules = [{{ type = \"dense\", inputs = 2, units = 2 }}]"));
/// let spec = parse(
///     r#"initializer = { kind = "variance_scaling", scale = 2.0, mode = "fan_out" }"#).unwrap();
/// assert!(matches!(spec.initializer, Some(InitSpec::VarianceScaling { mode: FanModeSpec::FanOut, .. })));
/// assert_eq!(FanModeSpec::default(), FanModeSpec::FanIn);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum FanModeSpec {
    #[default]
    FanIn,
    FanOut,
    FanAvg,
}

/// Distribution of variance scaling.
///
/// ```
/// use varscope::model::{DistributionSpec, InitSpec, ModelSpec};
/// // A spec needs a scope; this one adds a small one after the top-level keys.
/// let parse = |top: &str| ModelSpec::from_toml_str(&format!(
///     "{top}\n[[scopes]]\nname = \"m\"\nmodules = [{{ type = \"dense\", inputs = 2, units = 2 }}]"));
/// let spec = parse(
///     r#"initializer = { kind = "variance_scaling", distribution = "uniform" }"#).unwrap();
/// assert!(matches!(spec.initializer, Some(InitSpec::VarianceScaling { distribution: DistributionSpec::Uniform, .. })));
/// assert_eq!(DistributionSpec::default(), DistributionSpec::TruncatedNormal);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum DistributionSpec {
    #[default]
    TruncatedNormal,
    /// Alias of `truncated_normal`, as in TF.
    Normal,
    UntruncatedNormal,
    Uniform,
}

impl InitSpec {
    /// The library initializer.
    ///
    /// # Errors
    /// [`Error::Initializer`] for parameters the initializer rejects.
    ///
    /// ```
    /// use varscope::model::{DistributionSpec, FanModeSpec, InitSpec};
    /// let ok = InitSpec::GlorotUniform { seed: Some(3) };
    /// assert_eq!(ok.to_init().unwrap().seed(), Some(3));
    /// let bad = InitSpec::VarianceScaling { scale: 0.0, mode: FanModeSpec::FanIn,
    ///     distribution: DistributionSpec::Uniform, seed: None };
    /// assert!(bad.to_init().is_err()); // scale must be positive
    /// ```
    pub fn to_init(&self) -> Result<Init> {
        use InitSpec as S;
        let (init, seed) = match *self {
            S::Zeros {} => (Init::zeros(), None),
            S::Ones {} => (Init::ones(), None),
            S::Constant { value } => (Init::constant(value.scalar()), None),
            S::RandomUniform { min, max, seed } => (Init::random_uniform(min, max), seed),
            S::RandomNormal { mean, stddev, seed } => (Init::random_normal(mean, stddev), seed),
            S::TruncatedNormal { mean, stddev, seed } => {
                (Init::truncated_normal(mean, stddev), seed)
            }
            S::GlorotUniform { seed } => (Init::glorot_uniform(), seed),
            S::GlorotNormal { seed } => (Init::glorot_normal(), seed),
            S::HeNormal { seed } => (Init::he_normal(), seed),
            S::HeUniform { seed } => (Init::he_uniform(), seed),
            S::LecunNormal { seed } => (Init::lecun_normal(), seed),
            S::LecunUniform { seed } => (Init::lecun_uniform(), seed),
            S::VarianceScaling {
                scale,
                mode,
                distribution,
                seed,
            } => {
                let mode = match mode {
                    FanModeSpec::FanIn => FanMode::FanIn,
                    FanModeSpec::FanOut => FanMode::FanOut,
                    FanModeSpec::FanAvg => FanMode::FanAvg,
                };
                let distribution = match distribution {
                    DistributionSpec::TruncatedNormal | DistributionSpec::Normal => {
                        Distribution::TruncatedNormal
                    }
                    DistributionSpec::UntruncatedNormal => Distribution::UntruncatedNormal,
                    DistributionSpec::Uniform => Distribution::Uniform,
                };
                (Init::variance_scaling(scale, mode, distribution)?, seed)
            }
            S::Orthogonal { gain, seed } => (Init::orthogonal(gain), seed),
            S::Identity { gain } => (Init::identity(gain), None),
            S::UniformUnitScaling { factor, seed } => (Init::uniform_unit_scaling(factor), seed),
        };
        Ok(match seed {
            Some(s) => init.with_seed(s),
            None => init,
        })
    }
}

/// A partitioner, `{ kind = "fixed", shards = 8 }`.
///
/// ```
/// use varscope::model::{Dim, ModelSpec, PartitionerSpec};
/// // A spec needs a scope; this one adds a small one after the top-level keys.
/// let parse = |top: &str| ModelSpec::from_toml_str(&format!(
///     "{top}\n[[scopes]]\nname = \"m\"\nmodules = [{{ type = \"dense\", inputs = 2, units = 2 }}]"));
/// let spec = parse(r#"partitioner = { kind = "fixed", shards = 4 }"#).unwrap();
/// assert_eq!(spec.partitioner, Some(PartitionerSpec::Fixed { shards: Dim(4), axis: 0 }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PartitionerSpec {
    /// `fixed_size_partitioner(shards, axis)`.
    Fixed {
        /// Number of shards.
        shards: Dim,
        /// Axis to split.
        #[serde(default)]
        axis: usize,
    },
    /// `min_max_variable_partitioner(max_partitions, axis, min_slice_size)`.
    MinMax {
        /// Maximum number of shards.
        max_partitions: Dim,
        /// Axis to split.
        #[serde(default)]
        axis: usize,
        /// Minimum bytes per shard (default 256 KiB).
        #[serde(default = "default_min_slice")]
        min_slice_size: Dim,
    },
    /// `variable_axis_size_partitioner(max_shard_bytes, axis, max_shards)`.
    AxisSize {
        /// Maximum bytes per shard.
        max_shard_bytes: Dim,
        /// Axis to split.
        #[serde(default)]
        axis: usize,
        /// Cap on the number of shards.
        #[serde(default)]
        max_shards: Option<usize>,
    },
}

fn default_min_slice() -> Dim {
    Dim(256 << 10)
}

impl PartitionerSpec {
    /// The library partitioner.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for arguments the partitioner rejects.
    ///
    /// ```
    /// use varscope::model::{Dim, PartitionerSpec};
    /// use varscope::partition::Partitioner;
    /// use varscope::{DType, Shape};
    /// let p = PartitionerSpec::MinMax { max_partitions: Dim(8), axis: 0, min_slice_size: Dim(1024) }
    ///     .to_partitioner().unwrap();
    /// // 8192 bytes in slices of at least 1024 bytes: 8 partitions.
    /// assert_eq!(p.partitions(&Shape::new([2048]).unwrap(), DType::F32).unwrap(), [8]);
    /// ```
    pub fn to_partitioner(&self) -> Result<Arc<dyn Partitioner>> {
        Ok(match *self {
            PartitionerSpec::Fixed { shards, axis } => {
                Arc::new(FixedSizePartitioner::new(shards.0, axis))
            }
            PartitionerSpec::MinMax {
                max_partitions,
                axis,
                min_slice_size,
            } => Arc::new(MinMaxVariablePartitioner::new(
                max_partitions.0,
                axis,
                min_slice_size.0,
                16,
            )?),
            PartitionerSpec::AxisSize {
                max_shard_bytes,
                axis,
                max_shards,
            } => Arc::new(VariableAxisSizePartitioner::new(
                max_shard_bytes.0,
                axis,
                16,
                max_shards,
            )?),
        })
    }
}

/// A module: a group of variables in its own sub-scope (named `name`, or after the
/// module type).
///
/// ```
/// use varscope::model::{ModelSpec, ModuleSpec};
/// let spec = ModelSpec::from_toml_str(r#"
///     [[scopes]]
///     name = "s"
///     modules = [{ type = "layer_norm", dim = 8 }, { type = "embedding", name = "tok", vocab = 10, dim = 4 }]
/// "#).unwrap();
/// let names: Vec<_> = spec.scopes[0].modules.iter().map(|m| (m.type_name(), m.name())).collect();
/// assert_eq!(names, [("layer_norm", "layer_norm"), ("embedding", "tok")]);
/// assert!(matches!(spec.scopes[0].modules[0], ModuleSpec::LayerNorm { .. }));
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ModuleSpec {
    /// `kernel [inputs, units]`, `bias [units]`.
    Dense {
        /// Sub-scope name (default `dense`).
        name: Option<String>,
        /// Input size.
        inputs: Dim,
        /// Output size.
        units: Dim,
        /// Whether to add a bias (default true).
        #[serde(default = "yes")]
        bias: bool,
        /// Kernel initializer.
        #[serde(default, deserialize_with = "opt_init")]
        initializer: Option<InitSpec>,
        /// Bias initializer (default zeros).
        #[serde(default, deserialize_with = "opt_init")]
        bias_initializer: Option<InitSpec>,
        /// dtype.
        dtype: Option<DTypeSpec>,
    },
    /// `kernel [kh, kw, in_channels, filters]`, `bias [filters]`.
    Conv2d {
        /// Sub-scope name (default `conv2d`).
        name: Option<String>,
        /// Kernel height and width.
        kernel_size: [Dim; 2],
        /// Input channels.
        in_channels: Dim,
        /// Output channels.
        filters: Dim,
        /// Whether to add a bias (default true).
        #[serde(default = "yes")]
        bias: bool,
        /// Kernel initializer.
        #[serde(default, deserialize_with = "opt_init")]
        initializer: Option<InitSpec>,
        /// Bias initializer (default zeros).
        #[serde(default, deserialize_with = "opt_init")]
        bias_initializer: Option<InitSpec>,
        /// dtype.
        dtype: Option<DTypeSpec>,
    },
    /// `weights [vocab, dim]`, optionally partitioned.
    Embedding {
        /// Sub-scope name (default `embedding`).
        name: Option<String>,
        /// Vocabulary size.
        vocab: Dim,
        /// Embedding size.
        dim: Dim,
        /// Initializer.
        #[serde(default, deserialize_with = "opt_init")]
        initializer: Option<InitSpec>,
        /// Partitioner (overrides the scope's).
        #[serde(default, deserialize_with = "opt_partitioner")]
        partitioner: Option<PartitionerSpec>,
        /// dtype.
        dtype: Option<DTypeSpec>,
    },
    /// `gamma [dim]` (ones), `beta [dim]` (zeros).
    LayerNorm {
        /// Sub-scope name (default `layer_norm`).
        name: Option<String>,
        /// Normalized size.
        dim: Dim,
        /// dtype.
        dtype: Option<DTypeSpec>,
    },
    /// `tf.layers.batch_normalization`: `gamma [dim]` (ones), `beta [dim]` (zeros) and
    /// the non-trainable `moving_mean` (zeros) and `moving_variance` (ones).
    BatchNormalization {
        /// Sub-scope name (default `batch_normalization`, uniquified).
        name: Option<String>,
        /// Number of channels (the last axis).
        dim: Dim,
        /// Whether to add `beta` (default true).
        #[serde(default = "yes")]
        center: bool,
        /// Whether to add `gamma` (default true).
        #[serde(default = "yes")]
        scale: bool,
        /// dtype.
        dtype: Option<DTypeSpec>,
    },
    /// `q`, `k`, `v`, `output` dense layers of `[dim, dim]`.
    Attention {
        /// Sub-scope name (default `attention`).
        name: Option<String>,
        /// Model size.
        dim: Dim,
        /// Number of heads (must divide `dim`).
        heads: Dim,
        /// Whether the projections have biases (default true).
        #[serde(default = "yes")]
        bias: bool,
        /// Kernel initializer.
        #[serde(default, deserialize_with = "opt_init")]
        initializer: Option<InitSpec>,
        /// dtype.
        dtype: Option<DTypeSpec>,
    },
    /// `fc1 [dim, hidden]`, `fc2 [hidden, dim]` dense layers.
    Mlp {
        /// Sub-scope name (default `mlp`).
        name: Option<String>,
        /// Model size.
        dim: Dim,
        /// Hidden size.
        hidden: Dim,
        /// Whether the layers have biases (default true).
        #[serde(default = "yes")]
        bias: bool,
        /// Kernel initializer.
        #[serde(default, deserialize_with = "opt_init")]
        initializer: Option<InitSpec>,
        /// dtype.
        dtype: Option<DTypeSpec>,
    },
    /// One variable of any shape (`get_variable` directly in the scope).
    Variable {
        /// The variable name.
        name: String,
        /// Its shape (`[]` for a scalar).
        #[serde(deserialize_with = "shape_list")]
        shape: Vec<usize>,
        /// Initializer.
        #[serde(default, deserialize_with = "opt_init")]
        initializer: Option<InitSpec>,
        /// Partitioner.
        #[serde(default, deserialize_with = "opt_partitioner")]
        partitioner: Option<PartitionerSpec>,
        /// dtype.
        dtype: Option<DTypeSpec>,
        /// Whether it is trainable (default true).
        #[serde(default = "yes")]
        trainable: bool,
    },
}

impl ModuleSpec {
    /// The module's type name (`dense`, `layer_norm`, …).
    ///
    /// ```
    /// use varscope::model::ModelSpec;
    /// let spec = ModelSpec::from_toml_str(r#"
    ///     [[scopes]]
    ///     name = "s"
    ///     modules = [{ type = "mlp", dim = 4, hidden = 8 }]
    /// "#).unwrap();
    /// assert_eq!(spec.scopes[0].modules[0].type_name(), "mlp");
    /// ```
    pub fn type_name(&self) -> &'static str {
        match self {
            ModuleSpec::Dense { .. } => "dense",
            ModuleSpec::Conv2d { .. } => "conv2d",
            ModuleSpec::Embedding { .. } => "embedding",
            ModuleSpec::LayerNorm { .. } => "layer_norm",
            ModuleSpec::BatchNormalization { .. } => "batch_normalization",
            ModuleSpec::Attention { .. } => "attention",
            ModuleSpec::Mlp { .. } => "mlp",
            ModuleSpec::Variable { .. } => "variable",
        }
    }

    /// The sub-scope (or, for `variable`, the variable) name: the given one, else the
    /// type name (which the builder uniquifies: `dense`, `dense_1`, …).
    ///
    /// ```
    /// use varscope::model::ModelSpec;
    /// let spec = ModelSpec::from_toml_str(r#"
    ///     [[scopes]]
    ///     name = "s"
    ///     modules = [{ type = "dense", inputs = 2, units = 2 }, { type = "dense", name = "proj", inputs = 2, units = 2 }]
    /// "#).unwrap();
    /// let m = &spec.scopes[0].modules;
    /// assert_eq!((m[0].name(), m[1].name()), ("dense", "proj"));
    /// ```
    pub fn name(&self) -> &str {
        self.given_name().unwrap_or_else(|| self.type_name())
    }

    /// The name given in the spec, if any.
    ///
    /// ```
    /// use varscope::model::ModelSpec;
    /// let spec = ModelSpec::from_toml_str(r#"
    ///     [[scopes]]
    ///     name = "s"
    ///     modules = [{ type = "dense", inputs = 2, units = 2 }, { type = "dense", name = "proj", inputs = 2, units = 2 }]
    /// "#).unwrap();
    /// let m = &spec.scopes[0].modules;
    /// assert_eq!((m[0].given_name(), m[1].given_name()), (None, Some("proj")));
    /// ```
    pub fn given_name(&self) -> Option<&str> {
        match self {
            ModuleSpec::Dense { name, .. }
            | ModuleSpec::Conv2d { name, .. }
            | ModuleSpec::Embedding { name, .. }
            | ModuleSpec::LayerNorm { name, .. }
            | ModuleSpec::BatchNormalization { name, .. }
            | ModuleSpec::Attention { name, .. }
            | ModuleSpec::Mlp { name, .. } => name.as_deref(),
            ModuleSpec::Variable { name, .. } => Some(name.as_str()),
        }
    }
}

/// Marks the key path of an error raised inside a tagged table (`\u{1}path\u{2}message`).
const FIELD_START: char = '\u{1}';
const FIELD_END: char = '\u{2}';

/// Deserializes a table tagged by a `tag` key (`{ type = "dense", inputs = 3 }`) into
/// the externally tagged enum `T` (`{ dense = { inputs = 3 } }`), so that errors keep
/// the key path of the offending field (serde's internally tagged enums lose it).
fn tagged<'de, D, T>(d: D, tag: &str) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::Error as _;
    let mut table = toml::Table::deserialize(d)?;
    let kind = match table.remove(tag) {
        Some(toml::Value::String(k)) => k,
        Some(other) => {
            return Err(D::Error::custom(format!(
                "{FIELD_START}{tag}{FIELD_END}expected a string, found {}",
                other.type_str()
            )))
        }
        None => return Err(D::Error::custom(format!("missing field `{tag}`"))),
    };
    let mut outer = toml::Table::new();
    outer.insert(kind.clone(), toml::Value::Table(table));
    serde_path_to_error::deserialize(toml::Value::Table(outer)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let mut message = inner.message().trim().to_string();
        // The first path segment is the variant; an unknown variant is the tag's fault,
        // a missing field the table's.
        let mut field = match path.split_once('.') {
            Some((_, rest)) if !rest.is_empty() => rest.to_string(),
            _ if message.starts_with("unknown variant") => tag.to_string(),
            _ => String::new(),
        };
        // An error of a nested tagged table already names its field.
        if let Some((nested, m)) = message
            .strip_prefix(FIELD_START)
            .and_then(|r| r.split_once(FIELD_END))
        {
            field = if field.is_empty() {
                nested.to_string()
            } else {
                format!("{field}.{nested}")
            };
            message = m.to_string();
        }
        if field.is_empty() {
            D::Error::custom(message)
        } else {
            D::Error::custom(format!("{FIELD_START}{field}{FIELD_END}{message}"))
        }
    })
}

fn opt_init<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<InitSpec>, D::Error> {
    tagged(d, "kind").map(Some)
}

fn opt_partitioner<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<PartitionerSpec>, D::Error> {
    tagged(d, "kind").map(Some)
}

fn module_list<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<ModuleSpec>, D::Error> {
    struct Module(ModuleSpec);
    impl<'de> Deserialize<'de> for Module {
        fn deserialize<D2: serde::Deserializer<'de>>(
            d: D2,
        ) -> std::result::Result<Self, D2::Error> {
            tagged(d, "type").map(Module)
        }
    }
    Ok(Vec::<Module>::deserialize(d)?
        .into_iter()
        .map(|m| m.0)
        .collect())
}

/// A spec error: where it is (line and column, 1-based, when known), which key, and
/// what is wrong.
///
/// ```
/// use varscope::model::ModelSpec;
/// let e = ModelSpec::from_toml_str("[[scopes]]\nname = \"a\"\nrepeats = 3\n").unwrap_err();
/// assert_eq!((e.line, e.column), (Some(3), Some(1)));
/// assert_eq!(e.key.as_deref(), Some("scopes[0].repeats"));
/// assert!(e.to_string().starts_with("line 3, column 1: key `scopes[0].repeats`: unknown field"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The dotted key path (`scopes[0].modules[1].dim`), when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, "line {l}, column {c}: ")?;
        }
        if let Some(k) = &self.key {
            write!(f, "key `{k}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for SpecError {}

impl From<SpecError> for Error {
    fn from(e: SpecError) -> Error {
        Error::InvalidArgument {
            message: format!("invalid model spec: {e}"),
        }
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}

impl ModelSpec {
    /// Parses and validates a spec.
    ///
    /// # Errors
    /// A [`SpecError`] giving the line, column and key of the first problem: TOML
    /// syntax, an unknown key, a value of the wrong type, a non-positive size, an
    /// invalid scope name, an undefined block or template, heads not dividing the
    /// attention size, …
    ///
    /// ```
    /// use varscope::model::ModelSpec;
    /// let spec = ModelSpec::from_toml_str("[[scopes]]\nname = \"cls/predictions\"\n").unwrap();
    /// assert_eq!(spec.scopes[0].name, "cls/predictions");
    /// // An empty spec would build an empty model: an error.
    /// let e = ModelSpec::from_toml_str("seed = 1\n").unwrap_err();
    /// assert_eq!(e.key.as_deref(), Some("scopes"));
    /// ```
    pub fn from_toml_str(text: &str) -> std::result::Result<ModelSpec, SpecError> {
        let _constants = ConstantsGuard::set(constants_of(text));
        let de = toml::Deserializer::new(text);
        let mut spec: ModelSpec = match serde_path_to_error::deserialize(de) {
            Ok(s) => s,
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let (line, column) = match inner.span() {
                    Some(span) => {
                        let (l, c) = line_col(text, span.start);
                        (Some(l), Some(c))
                    }
                    None => (None, None),
                };
                let mut key = (!path.is_empty() && path != ".").then_some(path);
                let raw = inner.message().trim().replace('\n', "; ");
                let mut message = raw.clone();
                let (mut line, mut column) = (line, column);
                if let Some(rest) = raw.strip_prefix(FIELD_START) {
                    if let Some((field, m)) = rest.split_once(FIELD_END) {
                        let full = match &key {
                            Some(k) => format!("{k}.{field}"),
                            None => field.to_string(),
                        };
                        if let Some((l, c)) = locate(text, &full) {
                            (line, column) = (Some(l), Some(c));
                        }
                        key = Some(full);
                        message = m.to_string();
                    }
                }
                return Err(SpecError {
                    line,
                    column,
                    key,
                    message,
                });
            }
        };
        spec.source = text.to_string();
        spec.validate().map_err(|(key, message)| {
            let (line, column) =
                locate(text, &key).map_or((None, None), |(l, c)| (Some(l), Some(c)));
            SpecError {
                line,
                column,
                key: Some(key),
                message,
            }
        })?;
        Ok(spec)
    }

    /// The built-in default spec (see [`DEFAULT_SPEC`]).
    ///
    /// ```
    /// use varscope::model::ModelSpec;
    /// let spec = ModelSpec::default_spec();
    /// assert_eq!(spec.name.as_deref(), Some("default-transformer"));
    /// assert_eq!(spec.seed, 42);
    /// ```
    pub fn default_spec() -> ModelSpec {
        ModelSpec::from_toml_str(DEFAULT_SPEC).expect("the built-in default spec is valid")
    }

    /// A 64-bit FNV-1a hash of the source text, in hex.
    ///
    /// ```
    /// use varscope::model::ModelSpec;
    /// let scope = "[[scopes]]\nname = \"m\"\nmodules = [{ type = \"dense\", inputs = 2, units = 2 }]";
    /// let parse = |text: &str| ModelSpec::from_toml_str(text).unwrap();
    /// let a = parse(&format!("seed = 1\n{scope}"));
    /// let b = parse(&format!("seed = 1 # a comment\n{scope}"));
    /// assert_eq!(a.source_hash().len(), 16);
    /// assert_eq!(a.source_hash(), parse(&format!("seed = 1\n{scope}")).source_hash());
    /// assert_ne!(a.source_hash(), b.source_hash()); // a hash of the text, not of the model
    /// ```
    pub fn source_hash(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.source.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        format!("{h:016x}")
    }

    /// Checks what serde cannot: names, references, module constraints. Returns the
    /// key path and message of the first problem.
    fn validate(&self) -> std::result::Result<(), (String, String)> {
        let check_init =
            |key: String, i: &Option<InitSpec>| -> std::result::Result<(), (String, String)> {
                if let Some(i) = i {
                    i.to_init().map_err(|e| (key, e.to_string()))?;
                }
                Ok(())
            };
        let check_part = |key: String,
                          p: &Option<PartitionerSpec>|
         -> std::result::Result<(), (String, String)> {
            if let Some(p) = p {
                p.to_partitioner().map_err(|e| (key, e.to_string()))?;
            }
            Ok(())
        };
        check_init("initializer".into(), &self.initializer)?;
        check_part("partitioner".into(), &self.partitioner)?;
        for (kind, map) in [("blocks", &self.blocks), ("templates", &self.templates)] {
            for (name, b) in map {
                let key = format!("{kind}.{name}");
                crate::names::validate(name, true).map_err(|e| (key.clone(), e.to_string()))?;
                check_init(format!("{key}.initializer"), &b.initializer)?;
                for (i, m) in b.modules.iter().enumerate() {
                    validate_module(&format!("{key}.modules[{i}]"), m)?;
                }
                if kind == "templates" && !b.scopes.is_empty() {
                    return Err((
                        format!("{key}.scopes"),
                        "a template takes `modules` only; put sub-scopes in a `[blocks.…]` table"
                            .into(),
                    ));
                }
                self.validate_block_scopes(&key, name, b, &mut Vec::new())?;
            }
        }
        if self.scopes.is_empty() {
            return Err((
                "scopes".into(),
                "the spec has no `[[scopes]]`, so it would build an empty model; add one, e.g. `[[scopes]]` with `name = \"model\"` and `modules = [{ type = \"dense\", inputs = 4, units = 4 }]`".into(),
            ));
        }
        for (i, s) in self.scopes.iter().enumerate() {
            self.validate_scope(&format!("scopes[{i}]"), s)?;
        }
        Ok(())
    }

    /// Validates the sub-scopes of block `name`, refusing a block that (through the
    /// blocks its scopes use) contains itself.
    fn validate_block_scopes(
        &self,
        key: &str,
        name: &str,
        b: &BlockSpec,
        stack: &mut Vec<String>,
    ) -> std::result::Result<(), (String, String)> {
        if stack.iter().any(|s| s == name) {
            return Err((
                format!("{key}.block"),
                format!(
                    "block `{name}` contains itself (through {})",
                    stack.join(" → ")
                ),
            ));
        }
        stack.push(name.to_string());
        for (i, c) in b.scopes.iter().enumerate() {
            self.walk_block_refs(&format!("blocks.{name}.scopes[{i}]"), c, stack)?;
        }
        stack.pop();
        Ok(())
    }

    fn walk_block_refs(
        &self,
        key: &str,
        s: &ScopeSpec,
        stack: &mut Vec<String>,
    ) -> std::result::Result<(), (String, String)> {
        self.validate_scope(key, s)?;
        if let Some((name, b)) = s.block.as_ref().and_then(|n| self.blocks.get_key_value(n)) {
            if stack.iter().any(|x| x == name) {
                return Err((
                    format!("{key}.block"),
                    format!(
                        "block `{name}` contains itself (through {})",
                        stack.join(" → ")
                    ),
                ));
            }
            self.validate_block_scopes(key, name, b, stack)?;
        }
        for (i, c) in s.scopes.iter().enumerate() {
            self.walk_block_refs(&format!("{key}.scopes[{i}]"), c, stack)?;
        }
        Ok(())
    }

    fn validate_scope(
        &self,
        key: &str,
        s: &ScopeSpec,
    ) -> std::result::Result<(), (String, String)> {
        check_path_name(key, "scope", &s.name)?;
        match s.repeat {
            Some(0) => return Err((format!("{key}.repeat"), "repeat must be at least 1".into())),
            None if s.share => {
                return Err((
                    format!("{key}.share"),
                    "`share = true` needs `repeat`".into(),
                ))
            }
            _ => {}
        }
        if let Some(b) = &s.block {
            if !self.blocks.contains_key(b) {
                return Err((
                    format!("{key}.block"),
                    format!("no block named `{b}` ([blocks.{b}])"),
                ));
            }
        }
        if let Some(t) = &s.template {
            if !self.templates.contains_key(t) {
                return Err((
                    format!("{key}.template"),
                    format!("no template named `{t}` ([templates.{t}])"),
                ));
            }
        }
        if let Some(i) = &s.initializer {
            i.to_init()
                .map_err(|e| (format!("{key}.initializer"), e.to_string()))?;
        }
        if let Some(p) = &s.partitioner {
            p.to_partitioner()
                .map_err(|e| (format!("{key}.partitioner"), e.to_string()))?;
        }
        for (i, m) in s.modules.iter().enumerate() {
            validate_module(&format!("{key}.modules[{i}]"), m)?;
        }
        for (i, c) in s.scopes.iter().enumerate() {
            self.validate_scope(&format!("{key}.scopes[{i}]"), c)?;
        }
        Ok(())
    }
}

/// A scope or module name: `/`-separated parts (`"cls/predictions"`), each non-empty
/// and matching TF's name pattern.
fn check_path_name(key: &str, what: &str, name: &str) -> std::result::Result<(), (String, String)> {
    if name.split('/').any(str::is_empty) {
        return Err((
            format!("{key}.name"),
            format!("{what} name `{name}` must be non-empty, without a leading, trailing or doubled `/`"),
        ));
    }
    for part in name.split('/') {
        crate::names::validate(part, true).map_err(|e| (format!("{key}.name"), e.to_string()))?;
    }
    Ok(())
}

fn validate_module(key: &str, m: &ModuleSpec) -> std::result::Result<(), (String, String)> {
    check_path_name(key, "module", m.name())?;
    let inits: Vec<(&str, &Option<InitSpec>)> = match m {
        ModuleSpec::Dense {
            initializer,
            bias_initializer,
            ..
        }
        | ModuleSpec::Conv2d {
            initializer,
            bias_initializer,
            ..
        } => vec![
            ("initializer", initializer),
            ("bias_initializer", bias_initializer),
        ],
        ModuleSpec::Embedding { initializer, .. }
        | ModuleSpec::Attention { initializer, .. }
        | ModuleSpec::Mlp { initializer, .. }
        | ModuleSpec::Variable { initializer, .. } => vec![("initializer", initializer)],
        ModuleSpec::LayerNorm { .. } | ModuleSpec::BatchNormalization { .. } => vec![],
    };
    for (field, i) in inits {
        if let Some(i) = i {
            i.to_init()
                .map_err(|e| (format!("{key}.{field}"), e.to_string()))?;
        }
    }
    check_shapes(key, m)?;
    match m {
        ModuleSpec::Attention { dim, heads, .. } if dim.0 % heads.0 != 0 => Err((
            format!("{key}.heads"),
            format!(
                "{} heads do not divide the attention size {}",
                heads.0, dim.0
            ),
        )),
        ModuleSpec::Embedding {
            partitioner: Some(p),
            ..
        }
        | ModuleSpec::Variable {
            partitioner: Some(p),
            ..
        } => p
            .to_partitioner()
            .map(|_| ())
            .map_err(|e| (format!("{key}.partitioner"), e.to_string())),
        _ => Ok(()),
    }
}

/// The one check of a module's sizes: every variable it creates must have a valid
/// shape (an element count that fits in `usize`). Larger-than-memory variables pass
/// (as in TF, where any shape can be declared); building their values fails with
/// [`Error::Allocation`]. Partition counts need no check here: the partitioners cap
/// them at the size of the dimension they split.
fn check_shapes(key: &str, m: &ModuleSpec) -> std::result::Result<(), (String, String)> {
    let shapes: Vec<(&str, Vec<usize>)> = match m {
        ModuleSpec::Dense { inputs, units, .. } => vec![("units", vec![inputs.0, units.0])],
        ModuleSpec::Conv2d {
            kernel_size,
            in_channels,
            filters,
            ..
        } => vec![(
            "filters",
            vec![kernel_size[0].0, kernel_size[1].0, in_channels.0, filters.0],
        )],
        ModuleSpec::Embedding { vocab, dim, .. } => vec![("dim", vec![vocab.0, dim.0])],
        ModuleSpec::LayerNorm { .. } | ModuleSpec::BatchNormalization { .. } => vec![],
        ModuleSpec::Attention { dim, .. } => vec![("dim", vec![dim.0, dim.0])],
        ModuleSpec::Mlp { dim, hidden, .. } => vec![("hidden", vec![dim.0, hidden.0])],
        ModuleSpec::Variable { shape, .. } => vec![("shape", shape.clone())],
    };
    for (field, dims) in shapes {
        crate::shape::Shape::new(&dims).map_err(|e| (format!("{key}.{field}"), e.to_string()))?;
    }
    Ok(())
}

/// Finds the line and column of a dotted key path (`scopes[0].modules[1].heads`) in
/// the TOML text, using the document's spans (the innermost element that has one).
fn locate(text: &str, key: &str) -> Option<(usize, usize)> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut item: &toml_edit::Item = doc.as_item();
    let mut span = None;
    for seg in key.split('.') {
        let (field, indices) = match seg.find('[') {
            Some(i) => (&seg[..i], &seg[i..]),
            None => (seg, ""),
        };
        let Some(next) = item.get(field) else { break };
        item = next;
        span = item.span().or(span);
        for idx in indices.split(['[', ']']).filter(|s| !s.is_empty()) {
            let Some(next) = idx.parse::<usize>().ok().and_then(|n| item.get(n)) else {
                break;
            };
            item = next;
            span = item.span().or(span);
        }
    }
    span.map(|s| line_col(text, s.start))
}

/// A constant's value in a spec, keeping the TOML type it was written in.
///
/// ```
/// use varscope::model::{InitSpec, ModelSpec};
/// // A spec needs a scope; this one adds a small one after the top-level keys.
/// let parse = |top: &str| ModelSpec::from_toml_str(&format!(
///     "{top}\n[[scopes]]\nname = \"m\"\nmodules = [{{ type = \"dense\", inputs = 2, units = 2 }}]"));
/// let spec = parse(r#"initializer = { kind = "constant", value = 2 }"#).unwrap();
/// let Some(InitSpec::Constant { value }) = spec.initializer else { panic!("not a constant") };
/// assert_eq!(format!("{value:?}"), "Int(2)"); // kept as written: an integer, not 2.0
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ConstantSpec {
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
}

impl ConstantSpec {
    fn scalar(self) -> crate::init::Scalar {
        match self {
            ConstantSpec::Bool(b) => b.into(),
            ConstantSpec::Int(i) => i.into(),
            ConstantSpec::Float(f) => f.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> SpecError {
        ModelSpec::from_toml_str(text).unwrap_err()
    }

    #[test]
    fn constants_resolve_and_unknown_ones_are_named() {
        let s = ModelSpec::from_toml_str(
            "[constants]\nh = 8\n[[scopes]]\nname = \"a\"\nrepeat = \"h\"\nmodules = [{ type = \"dense\", inputs = \"h\", units = 2 }]\n",
        )
        .unwrap();
        assert_eq!(s.scopes[0].repeat, Some(8));
        assert!(matches!(
            s.scopes[0].modules[0],
            ModuleSpec::Dense { inputs: Dim(8), .. }
        ));
        let e = err("[constants]\nh = 8\n[[scopes]]\nname = \"a\"\nmodules = [{ type = \"dense\", inputs = \"hh\", units = 2 }]\n");
        assert_eq!(e.key.as_deref(), Some("scopes[0].modules[0].inputs"));
        assert!(e.message.contains("unknown constant `hh`"), "{e}");
        assert!(e.message.contains("h"), "{e}");
        let e = err("[constants]\nz = 0\n[[scopes]]\nname = \"a\"\nmodules = [{ type = \"dense\", inputs = \"z\", units = 2 }]\n");
        assert!(e.message.contains("positive"), "{e}");
        let e = err("[constants]\nh = \"big\"\n[[scopes]]\nname = \"a\"\n");
        assert_eq!(e.key.as_deref(), Some("constants.h"));
        // Constants of one parse do not leak into the next.
        let e = err("[[scopes]]\nname = \"a\"\nmodules = [{ type = \"dense\", inputs = \"h\", units = 2 }]\n");
        assert!(e.message.contains("there are none"), "{e}");
    }

    #[test]
    fn names_may_contain_slashes_but_no_empty_parts() {
        assert!(ModelSpec::from_toml_str("[[scopes]]\nname = \"cls/predictions\"\n").is_ok());
        for bad in ["/a", "a/", "a//b", ""] {
            let e = err(&format!("[[scopes]]\nname = \"{bad}\"\n"));
            assert_eq!(e.key.as_deref(), Some("scopes[0].name"), "{bad}");
        }
        let e = err("[[scopes]]\nname = \"a/b c\"\n");
        assert!(e.message.contains("not a valid"), "{e}");
    }

    #[test]
    fn an_empty_spec_is_an_error() {
        for text in ["", "seed = 3\n", "[blocks.b]\nmodules = []\n"] {
            let e = err(text);
            assert_eq!(e.key.as_deref(), Some("scopes"), "{text:?}");
            assert!(e.message.contains("[[scopes]]"), "{e}");
        }
    }

    #[test]
    fn every_example_of_the_spec_reference_builds() {
        let page = include_str!("../doc_spec.md");
        let mut count = 0;
        for block in page.split("```toml\n").skip(1) {
            let text = block.split("```").next().unwrap_or_default();
            let spec = ModelSpec::from_toml_str(text).unwrap_or_else(|e| panic!("{e}\nin\n{text}"));
            let rt = crate::runtime::Runtime::new(2).unwrap();
            let graph = crate::graph::Graph::with_seed(spec.seed);
            let model = super::super::build_model(&spec, &rt, &graph)
                .unwrap_or_else(|e| panic!("{e}\nin\n{text}"));
            assert!(model.param_count() > 0);
            count += 1;
        }
        assert!(count >= 8, "{count} examples");
    }

    #[test]
    fn a_block_containing_itself_is_refused() {
        let e = err("[[blocks.a.scopes]]\nname = \"x\"\nblock = \"a\"\n[[scopes]]\nname = \"s\"\nblock = \"a\"\n");
        assert!(e.message.contains("contains itself"), "{e}");
        let e = err("[[templates.t.scopes]]\nname = \"x\"\n[[scopes]]\nname = \"s\"\n");
        assert_eq!(e.key.as_deref(), Some("templates.t.scopes"));
    }
}
