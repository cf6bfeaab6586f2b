//! The scope layer: the per-thread half of the scoping state.
//!
//! * [`defaults`] — [`Reuse`] and `ScopeDefaults`, what a scope carries for the
//!   `get_variable` calls in it;
//! * [`custom_getter`] — custom getters and the arguments they see;
//! * [`thread_state`] — the per-(graph, thread) state and its thread-local;
//! * [`frames`] — what entering a scope pushes, and how guards pop it;
//! * [`name_scope`] and [`variable_scope`] — the two kinds of scope.

pub(crate) mod custom_getter;
pub(crate) mod defaults;
pub(crate) mod frames;
pub(crate) mod name_scope;
pub(crate) mod thread_state;
pub(crate) mod variable_scope;

pub use custom_getter::{CustomGetter, GetterArgs, NextGetter};
pub use defaults::Reuse;
pub use name_scope::{name_scope, name_scope_guard, try_name_scope, NameScopeGuard};
pub use variable_scope::{
    get_variable_scope, variable_scope, variable_scope_default, ScopeTarget, VariableScope,
    VariableScopeBuilder, VariableScopeGuard,
};
