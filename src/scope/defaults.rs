//! What a variable scope carries for the `get_variable` calls in it, and what a call
//! (or a sub-scope) may override: one `ScopeDefaults` type for all of them.

use crate::dtype::DType;
use crate::initializer::Init;
use crate::partition::Partitioner;
use crate::scope::custom_getter::CustomGetter;
use crate::variable::{Constraint, Regularizer};

pub(crate) use crate::scope::reuse::Reuse;
use std::sync::Arc;

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

    /// Whether no default is set.
    pub(crate) fn is_empty(&self) -> bool {
        let ScopeDefaults {
            initializer,
            regularizer,
            caching_device,
            partitioner,
            custom_getters,
            dtype,
            use_resource,
            constraint,
        } = self;
        initializer.is_none()
            && regularizer.is_none()
            && caching_device.is_none()
            && partitioner.is_none()
            && custom_getters.is_empty()
            && dtype.is_none()
            && use_resource.is_none()
            && constraint.is_none()
    }

    /// [`over`](ScopeDefaults::over) for a scope opened with `args` (`None`: none
    /// given), sharing `parent`'s defaults when `args` add nothing to them.
    pub(crate) fn inherit(
        args: Option<&ScopeDefaults>,
        parent: &Arc<ScopeDefaults>,
    ) -> Arc<ScopeDefaults> {
        match args {
            Some(a) if !a.is_empty() => Arc::new(a.over(parent)),
            _ if parent.constraint.is_none() => Arc::clone(parent),
            _ => Arc::new(ScopeDefaults::default().over(parent)),
        }
    }

    /// The defaults of a `get_variable` call with these arguments in a scope with
    /// `scope`'s defaults. Unlike [`over`](ScopeDefaults::over) (a sub-scope), the
    /// call's custom getter *replaces* the scope's, and the scope's constraint applies.
    pub(crate) fn for_call_in(self, scope: &ScopeDefaults) -> ScopeDefaults {
        // The call's own values are moved, only the scope's are cloned.
        fn pick<T: Clone>(call: Option<T>, scope: &Option<T>) -> Option<T> {
            call.or_else(|| scope.clone())
        }
        ScopeDefaults {
            initializer: pick(self.initializer, &scope.initializer),
            regularizer: pick(self.regularizer, &scope.regularizer),
            caching_device: pick(self.caching_device, &scope.caching_device),
            partitioner: pick(self.partitioner, &scope.partitioner),
            custom_getters: if self.custom_getters.is_empty() {
                scope.custom_getters.clone()
            } else {
                self.custom_getters
            },
            dtype: self.dtype.or(scope.dtype),
            use_resource: self.use_resource.or(scope.use_resource),
            constraint: pick(self.constraint, &scope.constraint),
        }
    }

    /// [`for_call_in`](ScopeDefaults::for_call_in) for a call that sets no default
    /// but its initializer and dtype (most calls), without building the call's
    /// defaults first: about 100 instructions less per creation under callgrind.
    #[inline]
    pub(crate) fn for_bare_call_in(
        initializer: Option<Init>,
        dtype: Option<DType>,
        scope: &ScopeDefaults,
    ) -> ScopeDefaults {
        ScopeDefaults {
            initializer: initializer.or_else(|| scope.initializer.clone()),
            regularizer: scope.regularizer.clone(),
            caching_device: scope.caching_device.clone(),
            partitioner: scope.partitioner.clone(),
            custom_getters: scope.custom_getters.clone(),
            dtype: dtype.or(scope.dtype),
            use_resource: scope.use_resource,
            constraint: scope.constraint.clone(),
        }
    }

    /// The effective dtype.
    pub(crate) fn dtype(&self) -> DType {
        self.dtype.unwrap_or(DType::F32)
    }
}

/// The setters shared by the builders that hold a [`ScopeDefaults`] behind a
/// `defaults_mut()` method, with `set_initializer` and `set_dtype` for the two
/// defaults a builder may keep inline (`variable_scope(…)` and `get_variable(…)`).
macro_rules! defaults_setters {
    ($what:literal) => {
        #[doc = concat!("The initializer ", $what, ".")]
        /// ```
        /// use varscope::{get_variable, variable_scope, Graph, Init};
        /// Graph::with_seed(1).as_default(|| -> varscope::Result<()> {
        ///     // On a scope: the default of the variables created in it …
        ///     let (a, b) = variable_scope("s").initializer(Init::ones()).enter(|_| {
        ///         let a = get_variable("a").shape([2]).build()?;
        ///         // … which one call may override.
        ///         let b = get_variable("b").shape([2]).initializer(Init::constant(3.0)).build()?;
        ///         Ok::<_, varscope::Error>((a, b))
        ///     })?;
        ///     assert_eq!(a.value()?.to_f64_vec(), [1.0, 1.0]);
        ///     assert_eq!(b.value()?.to_f64_vec(), [3.0, 3.0]);
        ///     Ok(())
        /// }).unwrap();
        /// ```
        pub fn initializer(mut self, init: $crate::initializer::Init) -> Self {
            self.set_initializer(init);
            self
        }
        #[doc = concat!("The regularizer ", $what, " ([`Regularizer::none`](crate::Regularizer::none) disables an inherited one).")]
        /// ```
        /// use varscope::{get_variable, variable_scope, Graph, Init, Regularizer};
        /// let g = Graph::with_seed(1);
        /// g.as_default(|| -> varscope::Result<()> {
        ///     variable_scope("s").regularizer(Regularizer::l2(0.5)).enter(|_| {
        ///         get_variable("w").shape([2]).initializer(Init::ones()).build()?;
        ///         // Switched off for one call.
        ///         get_variable("b").shape([2]).regularizer(Regularizer::none()).build()
        ///     })?;
        ///     Ok(())
        /// }).unwrap();
        /// let losses = g.regularization_losses();
        /// assert_eq!(losses.len(), 1);
        /// assert_eq!(losses[0].variable().name(), "s/w:0");
        /// assert!(losses[0].value().unwrap() > 0.0);
        /// ```
        pub fn regularizer(mut self, r: $crate::variable::Regularizer) -> Self {
            self.defaults_mut().regularizer = Some(r);
            self
        }
        #[doc = concat!("The caching device ", $what, " (`\"\"` disables an inherited one).")]
        /// ```
        /// use varscope::{get_variable, variable_scope, Graph};
        /// Graph::with_seed(1).as_default(|| -> varscope::Result<()> {
        ///     let (a, b) = variable_scope("s").caching_device("/cpu:0").enter(|_| {
        ///         let a = get_variable("a").shape([1]).build()?;
        ///         let b = get_variable("b").shape([1]).caching_device("").build()?;
        ///         Ok::<_, varscope::Error>((a, b))
        ///     })?;
        ///     assert_eq!(a.caching_device(), Some("/cpu:0"));
        ///     assert_eq!(b.caching_device(), None);
        ///     Ok(())
        /// }).unwrap();
        /// ```
        pub fn caching_device(mut self, d: &str) -> Self {
            self.defaults_mut().caching_device = Some(d.to_string());
            self
        }
        #[doc = concat!("The partitioner ", $what, ".")]
        /// ```
        /// use varscope::partition::FixedSizePartitioner;
        /// use varscope::{get_variable, variable_scope, Graph};
        /// Graph::with_seed(1).as_default(|| -> varscope::Result<()> {
        ///     let emb = variable_scope("s").partitioner(FixedSizePartitioner::new(2, 0))
        ///         .enter(|_| get_variable("emb").shape([6, 4]).build_partitioned())?;
        ///     assert_eq!(emb.len(), 2);
        ///     let w = get_variable("w").shape([6, 4])
        ///         .partitioner(FixedSizePartitioner::new(3, 0)).build_partitioned()?;
        ///     assert_eq!(w.shards()[2].name(), "w/part_2:0");
        ///     Ok(())
        /// }).unwrap();
        /// ```
        pub fn partitioner(mut self, p: impl $crate::partition::Partitioner + 'static) -> Self {
            self.defaults_mut().partitioner = Some(std::sync::Arc::new(p));
            self
        }
        #[doc = concat!("The partitioner ", $what, ", shared.")]
        /// ```
        /// use std::sync::Arc;
        /// use varscope::partition::{FixedSizePartitioner, Partitioner};
        /// use varscope::{get_variable, variable_scope, Graph};
        /// let shared: Arc<dyn Partitioner> = Arc::new(FixedSizePartitioner::new(2, 0));
        /// Graph::with_seed(1).as_default(|| -> varscope::Result<()> {
        ///     let a = variable_scope("s").partitioner_arc(shared.clone())
        ///         .enter(|_| get_variable("a").shape([4]).build_partitioned())?;
        ///     let b = get_variable("b").shape([4]).partitioner_arc(shared.clone()).build_partitioned()?;
        ///     assert_eq!((a.len(), b.len()), (2, 2));
        ///     Ok(())
        /// }).unwrap();
        /// ```
        pub fn partitioner_arc(
            mut self,
            p: std::sync::Arc<dyn $crate::partition::Partitioner>,
        ) -> Self {
            self.defaults_mut().partitioner = Some(p);
            self
        }
        #[doc = concat!("The dtype ", $what, " (`float32` unless set).")]
        /// ```
        /// use varscope::{get_variable, variable_scope, DType, Graph};
        /// Graph::with_seed(1).as_default(|| -> varscope::Result<()> {
        ///     assert_eq!(get_variable("f").shape([1]).build()?.dtype(), DType::F32);
        ///     let (a, b) = variable_scope("s").dtype(DType::F64).enter(|_| {
        ///         let a = get_variable("a").shape([1]).build()?;
        ///         let b = get_variable("b").shape([1]).dtype(DType::I32).build()?;
        ///         Ok::<_, varscope::Error>((a, b))
        ///     })?;
        ///     assert_eq!((a.dtype(), b.dtype()), (DType::F64, DType::I32));
        ///     Ok(())
        /// }).unwrap();
        /// ```
        pub fn dtype(mut self, d: $crate::dtype::DType) -> Self {
            self.set_dtype(d);
            self
        }
        #[doc = concat!("The `use_resource` flag ", $what, " (recorded on variables).")]
        /// ```
        /// use varscope::{get_variable, variable_scope, Graph};
        /// Graph::with_seed(1).as_default(|| -> varscope::Result<()> {
        ///     assert_eq!(get_variable("plain").shape([1]).build()?.use_resource(), None);
        ///     let (a, b) = variable_scope("s").use_resource(true).enter(|_| {
        ///         let a = get_variable("a").shape([1]).build()?;
        ///         let b = get_variable("b").shape([1]).use_resource(false).build()?;
        ///         Ok::<_, varscope::Error>((a, b))
        ///     })?;
        ///     assert_eq!((a.use_resource(), b.use_resource()), (Some(true), Some(false)));
        ///     Ok(())
        /// }).unwrap();
        /// ```
        pub fn use_resource(mut self, u: bool) -> Self {
            self.defaults_mut().use_resource = Some(u);
            self
        }
        #[doc = concat!("The constraint ", $what, " (a scope's is not inherited by sub-scopes).")]
        /// ```
        /// use varscope::{get_variable, variable_scope, Constraint, Graph};
        /// Graph::with_seed(1).as_default(|| -> varscope::Result<()> {
        ///     let c = Constraint::new(|t| t.clone());
        ///     let (a, inner) = variable_scope("s").constraint(c.clone()).enter(|_| {
        ///         let a = get_variable("a").shape([1]).build()?;
        ///         // Not inherited by a sub-scope.
        ///         let inner = variable_scope("t").enter(|_| get_variable("b").shape([1]).build())?;
        ///         Ok::<_, varscope::Error>((a, inner))
        ///     })?;
        ///     assert!(a.constraint().is_some_and(|x| x.ptr_eq(&c)));
        ///     assert!(inner.constraint().is_none());
        ///     let d = get_variable("d").shape([1]).constraint(c.clone()).build()?;
        ///     assert!(d.constraint().is_some_and(|x| x.ptr_eq(&c)));
        ///     Ok(())
        /// }).unwrap();
        /// ```
        pub fn constraint(mut self, c: $crate::variable::Constraint) -> Self {
            self.defaults_mut().constraint = Some(c);
            self
        }
    };
}
pub(crate) use defaults_setters;
