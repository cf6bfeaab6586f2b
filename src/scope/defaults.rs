//! What a variable scope carries for the `get_variable` calls in it, and what a call
//! (or a sub-scope) may override: one `ScopeDefaults` type for all of them.

use crate::dtype::DType;
use crate::initializer::Init;
use crate::partition::Partitioner;
use crate::scope::custom_getter::CustomGetter;
use crate::variable::{Constraint, Regularizer};

pub(crate) use crate::scope::reuse::Reuse;

/// The defaults of `get_variable` calls: carried by a scope, given to a
/// `variable_scope(…)` builder for its new scope, or set on one call. `None` means
/// "not set here" (inherit, or the built-in default).
#[derive(Clone, Default)]
pub(crate) struct ScopeDefaults {
    pub(crate) initializer: Option<Init>,
    pub(crate) regularizer: Option<Regularizer>,
    /// `Some("")` explicitly disables an inherited caching device.
    pub(crate) caching_device: Option<String>,
    pub(crate) partitioner: Option<std::sync::Arc<dyn Partitioner>>,
    /// Custom getters, outermost wrapper (innermost scope) first. A builder or a call
    /// holds at most one.
    pub(crate) custom_getters: Vec<CustomGetter>,
    /// `None`: `float32`.
    pub(crate) dtype: Option<DType>,
    pub(crate) use_resource: Option<bool>,
    /// Never inherited by sub-scopes.
    pub(crate) constraint: Option<Constraint>,
}

impl ScopeDefaults {
    /// The defaults of a scope opened with these arguments inside a scope with
    /// `parent`'s defaults (TF's `_pure_variable_scope`): given values override,
    /// custom getters compose (the new one runs first), the constraint is the new
    /// scope's own.
    pub(crate) fn over(&self, parent: &ScopeDefaults) -> ScopeDefaults {
        let mut custom_getters = self.custom_getters.clone();
        custom_getters.extend(parent.custom_getters.iter().cloned());
        ScopeDefaults {
            initializer: self
                .initializer
                .clone()
                .or_else(|| parent.initializer.clone()),
            regularizer: self
                .regularizer
                .clone()
                .or_else(|| parent.regularizer.clone()),
            caching_device: self
                .caching_device
                .clone()
                .or_else(|| parent.caching_device.clone()),
            partitioner: self
                .partitioner
                .clone()
                .or_else(|| parent.partitioner.clone()),
            custom_getters,
            dtype: self.dtype.or(parent.dtype),
            use_resource: self.use_resource.or(parent.use_resource),
            constraint: self.constraint.clone(),
        }
    }

    /// The defaults of a `get_variable` call with these arguments in a scope with
    /// `scope`'s defaults. Unlike [`over`](ScopeDefaults::over) (a sub-scope), the
    /// call's custom getter *replaces* the scope's, and the scope's constraint applies.
    pub(crate) fn for_call_in(&self, scope: &ScopeDefaults) -> ScopeDefaults {
        fn pick<T: Clone>(call: &Option<T>, scope: &Option<T>) -> Option<T> {
            call.clone().or_else(|| scope.clone())
        }
        ScopeDefaults {
            initializer: pick(&self.initializer, &scope.initializer),
            regularizer: pick(&self.regularizer, &scope.regularizer),
            caching_device: pick(&self.caching_device, &scope.caching_device),
            partitioner: pick(&self.partitioner, &scope.partitioner),
            custom_getters: if self.custom_getters.is_empty() {
                scope.custom_getters.clone()
            } else {
                self.custom_getters.clone()
            },
            dtype: self.dtype.or(scope.dtype),
            use_resource: self.use_resource.or(scope.use_resource),
            constraint: pick(&self.constraint, &scope.constraint),
        }
    }

    /// The effective dtype.
    pub(crate) fn dtype(&self) -> DType {
        self.dtype.unwrap_or(DType::F32)
    }
}

/// The setters shared by the builders that hold a [`ScopeDefaults`] behind a
/// `defaults_mut()` method (`variable_scope(…)` and `get_variable(…)`).
macro_rules! defaults_setters {
    ($what:literal) => {
        #[doc = concat!("The initializer ", $what, ".")]
        pub fn initializer(mut self, init: $crate::initializer::Init) -> Self {
            self.defaults_mut().initializer = Some(init);
            self
        }
        #[doc = concat!("The regularizer ", $what, " ([`Regularizer::none`](crate::Regularizer::none) disables an inherited one).")]
        pub fn regularizer(mut self, r: $crate::variable::Regularizer) -> Self {
            self.defaults_mut().regularizer = Some(r);
            self
        }
        #[doc = concat!("The caching device ", $what, " (`\"\"` disables an inherited one).")]
        pub fn caching_device(mut self, d: &str) -> Self {
            self.defaults_mut().caching_device = Some(d.to_string());
            self
        }
        #[doc = concat!("The partitioner ", $what, ".")]
        pub fn partitioner(mut self, p: impl $crate::partition::Partitioner + 'static) -> Self {
            self.defaults_mut().partitioner = Some(std::sync::Arc::new(p));
            self
        }
        #[doc = concat!("The partitioner ", $what, ", shared.")]
        pub fn partitioner_arc(
            mut self,
            p: std::sync::Arc<dyn $crate::partition::Partitioner>,
        ) -> Self {
            self.defaults_mut().partitioner = Some(p);
            self
        }
        #[doc = concat!("The dtype ", $what, " (`float32` unless set).")]
        pub fn dtype(mut self, d: $crate::dtype::DType) -> Self {
            self.defaults_mut().dtype = Some(d);
            self
        }
        #[doc = concat!("The `use_resource` flag ", $what, " (recorded on variables).")]
        pub fn use_resource(mut self, u: bool) -> Self {
            self.defaults_mut().use_resource = Some(u);
            self
        }
        #[doc = concat!("The constraint ", $what, " (a scope's is not inherited by sub-scopes).")]
        pub fn constraint(mut self, c: $crate::variable::Constraint) -> Self {
            self.defaults_mut().constraint = Some(c);
            self
        }
    };
}
pub(crate) use defaults_setters;
