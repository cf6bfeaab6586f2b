//! Model specifications and the parallel model builder behind the `varscope` CLI.
//!
//! A model spec is a TOML file (unknown keys are rejected):
//!
//! ```toml
//! name = "tiny"
//! seed = 7                     # graph seed (values derive from it and the names)
//! dtype = "float32"            # defaults of every top-level scope …
//! initializer = { kind = "glorot_uniform" }
//!
//! [blocks.layer]               # a reusable list of modules
//! modules = [
//!   { type = "attention", dim = 8, heads = 2 },
//!   { type = "mlp", dim = 8, hidden = 16 },
//! ]
//!
//! [templates.head]             # make_template: variables shared by every caller
//! modules = [{ type = "dense", inputs = 8, units = 4 }]
//!
//! [[scopes]]
//! name = "model"
//! initializer = { kind = "truncated_normal", stddev = 0.02 }
//! modules = [{ type = "embedding", vocab = 100, dim = 8, partitioner = { kind = "fixed", shards = 2 } }]
//!
//! [[scopes.scopes]]
//! name = "tower"               # four towers sharing one set of weights (AUTO_REUSE)
//! repeat = 4
//! share = true
//!
//! [[scopes.scopes.scopes]]
//! name = "layer"               # layer_0, layer_1
//! repeat = 2
//! block = "layer"
//!
//! [[scopes.scopes.scopes]]
//! name = "out"
//! template = "head"
//! ```
//!
//! The [spec reference](crate::spec_reference) describes every key, with an example.
//! In short: module types `dense` (`inputs`, `units`), `conv2d` (`kernel_size = [h, w]`,
//! `in_channels`, `filters`), `embedding` (`vocab`, `dim`, optional `partitioner`),
//! `layer_norm` (`dim`), `batch_normalization` (`dim`), `attention` (`dim`, `heads`),
//! `mlp` (`dim`, `hidden`) and `variable` (`name`, `shape`, `trainable`), built by
//! [`crate::layers`] (an unnamed module is uniquified like a `tf.layers` layer:
//! `dense`, `dense_1`); sizes may name `[constants]`; blocks may hold sub-scopes; scope
//! names may contain `/`. Each module takes an optional `name`,
//! `initializer` and `dtype`. Scopes take `name`, `repeat`, `share`, `reuse`
//! (`"no"`, `"yes"`, `"auto"`), `initializer`, `partitioner` (`fixed`, `min_max`,
//! `axis_size`), `dtype`, `block`, `template`, `modules` and child `scopes`.
//! Initializer kinds: `zeros`, `ones`, `constant`, `random_uniform`, `random_normal`,
//! `truncated_normal`, `glorot_uniform`, `glorot_normal`, `he_normal`, `he_uniform`,
//! `lecun_normal`, `lecun_uniform`, `variance_scaling`, `orthogonal`, `identity`,
//! `uniform_unit_scaling` (with an optional op `seed`).
//!
//! ```
//! use varscope::model::{build_model, ModelSpec};
//! use varscope::{Graph, Runtime};
//! let spec = ModelSpec::from_toml_str(r#"
//!     seed = 1
//!     [[scopes]]
//!     name = "net"
//!     modules = [{ type = "dense", inputs = 3, units = 2 }]
//! "#).unwrap();
//! let rt = Runtime::new(2).unwrap();
//! let graph = Graph::with_seed(spec.seed);
//! let model = build_model(&spec, &rt, &graph).unwrap();
//! assert_eq!(model.param_count(), 3 * 2 + 2);
//! assert!(model.summary().render().contains("kernel"));
//! ```

mod build;
mod expected;
mod spec;
mod stream;
mod summary;
mod tf_stream;
mod units;

pub use build::{build_model, BuiltModel};
pub use expected::expected_values;
pub use spec::{
    BlockSpec, DTypeSpec, Dim, DistributionSpec, FanModeSpec, InitSpec, ModelSpec, ModuleSpec,
    PartitionerSpec, ReuseSpec, ScopeSpec, SpecError, DEFAULT_SPEC,
};
pub use stream::VerifyReport;
pub use summary::{Summary, SummaryEntry};
