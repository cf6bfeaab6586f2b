#![doc = include_str!("../README.md")]
#![doc = ""]
#![doc = include_str!("doc_layers.md")]
#![doc = ""]
#![doc = include_str!("doc_concurrency.md")]
#![doc = ""]
#![doc = include_str!("doc_threads.md")]
#![deny(missing_docs)]
#![cfg_attr(loom, allow(dead_code, unused_imports))]
// Streamed reads, ranged fills and direct I/O serve the model builder (`spec`); a
// build without it leaves them unused.
#![cfg_attr(not(feature = "spec"), allow(dead_code, unused_imports))]

pub mod checkpoint;
mod dtype;
mod error;
mod getter;
mod graph;
pub mod init;
mod initializer;
pub mod layers;
#[cfg(feature = "spec")]
pub mod model;
mod names;
pub mod partition;
#[doc = include_str!("doc_porting.md")]
pub mod porting {}
pub mod restore;
#[cfg(feature = "spec")]
#[doc = include_str!("doc_spec.md")]
pub mod spec_reference {}
mod runtime;
mod scope;
mod shape;
mod slot_map;
pub(crate) mod sync;
mod template;
mod tensor;
mod variable;

pub use dtype::DType;
pub use error::{Callback, Error, ErrorKind, Result};
pub use getter::{get_local_variable, get_variable, variable, GetVariable, PlainVariableBuilder};
pub use graph::store::VariableStore;
pub use graph::{
    CollectionItem, DefaultGraphGuard, Graph, OpRecord, GLOBAL_VARIABLES, LOCAL_VARIABLES,
    REGULARIZATION_LOSSES, TRAINABLE_VARIABLES,
};
pub use initializer::Init;
pub use runtime::{JobHandle, Runtime};
#[cfg(any(loom, feature = "test-hooks"))]
#[doc(hidden)]
pub use scope::thread_state::thread_state_count;
pub use scope::{
    get_variable_scope, name_scope, name_scope_guard, variable_scope, variable_scope_default,
    Context, CustomGetter, GetterArgs, NameScopeGuard, NextGetter, Reuse, ScopeOutput, ScopeTarget,
    VariableScope, VariableScopeBuilder, VariableScopeGuard, MAX_SCOPE_DEPTH,
};
pub use shape::{IntoShape, PartialShape, Shape};
pub use template::{make_template, Template, TemplateBuilder};
pub use tensor::{Element, Tensor};
pub use variable::{
    AnyVariable, Constraint, PartitionedVariable, RegularizationLoss, Regularizer, SaveSliceInfo,
    Variable,
};
