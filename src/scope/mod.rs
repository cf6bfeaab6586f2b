//! The scope layer: the per-thread half of the scoping state.
//!
//! * [`reuse`] — [`Reuse`];
//! * [`defaults`] — `ScopeDefaults`, what a scope carries for the `get_variable`
//!   calls in it;
//! * [`custom_getter`] — custom getters and the arguments they see;
//! * [`object`] — [`VariableScope`], the shared scope object;
//! * [`thread_state`] — the per-(graph, thread) state, the frames entering a scope
//!   pushes on it, and its thread-local;
//! * [`counts`] — the default-name counters in that state;
//! * [`frames`] — how guards pop their frames;
//! * [`context`] — a thread's scoping context as a value, for other threads;
//! * [`name_scope`] and [`variable_scope`] — entering the two kinds of scope, and
//!   [`output`], what their closures return.

pub(crate) mod context;
pub(crate) mod counts;
pub(crate) mod custom_getter;
pub(crate) mod defaults;
pub(crate) mod frames;
pub(crate) mod name_scope;
pub(crate) mod object;
pub(crate) mod output;
pub(crate) mod reuse;
pub(crate) mod thread_state;
pub(crate) mod variable_scope;

pub use context::Context;
pub use custom_getter::{CustomGetter, GetterArgs, NextGetter};
pub use frames::MAX_SCOPE_DEPTH;
pub use name_scope::{name_scope, name_scope_guard, NameScopeGuard};
pub use object::VariableScope;
pub use output::ScopeOutput;
pub use reuse::Reuse;
pub use variable_scope::{
    get_variable_scope, variable_scope, variable_scope_default, ScopeTarget, VariableScopeBuilder,
    VariableScopeGuard,
};
