//! Custom getters (TF's `custom_getter`): functions that intercept `get_variable`
//! calls, and the arguments they see. A scope default, so it lives in the scope
//! layer; the getter at the end of the chain is supplied by the getter layer.

use crate::dtype::DType;
#[cfg(doc)]
use crate::error::Error;
use crate::error::{Callback, Result};
use crate::graph::Graph;
use crate::initializer::Init;
use crate::partition::Partitioner;
use crate::scope::reuse::Reuse;
use crate::shape::PartialShape;
use crate::variable::{catch_callback, AnyVariable, Constraint, Regularizer};
use std::fmt;

/// The arguments a custom getter receives — already resolved against the current
/// variable scope — and may change before calling the next getter.
///
/// ```
/// use varscope::{get_variable, variable_scope, CustomGetter, DType, Graph};
/// Graph::with_seed(1).as_default(|| {
///     // Sees the resolved arguments, and may change them.
///     let to_f64 = CustomGetter::new(|next, mut args| {
///         assert_eq!(args.name, "s/w");
///         assert_eq!(args.dtype, DType::F32);
///         args.dtype = DType::F64;
///         next.get(args)
///     });
///     let w = variable_scope("s").custom_getter(to_f64)
///         .enter(|_| get_variable("w").shape([1]).build()).unwrap();
///     assert_eq!(w.dtype(), DType::F64);
/// });
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct GetterArgs {
    /// The full name (`scope/v`), used verbatim by the true getter.
    pub name: String,
    /// The requested shape, if any.
    pub shape: Option<PartialShape>,
    /// The dtype (explicit, else the scope's).
    pub dtype: DType,
    /// The initializer (explicit, else the scope's; `None` means the dtype default).
    pub initializer: Option<Init>,
    /// The regularizer.
    pub regularizer: Option<Regularizer>,
    /// The scope's reuse mode.
    pub reuse: Reuse,
    /// Whether the variable is trainable.
    pub trainable: bool,
    /// Collections (`None`: global variables).
    pub collections: Option<Vec<String>>,
    /// The caching device.
    pub caching_device: Option<String>,
    /// The partitioner.
    pub partitioner: Option<std::sync::Arc<dyn Partitioner>>,
    /// Whether to validate the shape of a value initializer.
    pub validate_shape: bool,
    /// The `use_resource` flag.
    pub use_resource: Option<bool>,
    /// The constraint.
    pub constraint: Option<Constraint>,
}

impl fmt::Debug for GetterArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetterArgs")
            .field("name", &self.name)
            .field("shape", &self.shape)
            .field("dtype", &self.dtype)
            .field("initializer", &self.initializer)
            .field("reuse", &self.reuse)
            .field("trainable", &self.trainable)
            .field("collections", &self.collections)
            .field("partitioner", &self.partitioner)
            .finish_non_exhaustive()
    }
}

type GetterFn = dyn Fn(&NextGetter<'_>, GetterArgs) -> Result<AnyVariable> + Send + Sync;

/// A custom getter: intercepts every `get_variable` call in its scope (creation and
/// reuse alike), and may change the arguments, call the next getter any number of
/// times, or return something else.
///
/// Getters set on nested scopes compose as in TF: the innermost scope's getter runs
/// first, and calls the outer ones through [`NextGetter::get`].
///
/// ```
/// use varscope::{get_variable, variable_scope, CustomGetter, Graph};
/// Graph::new().as_default(|| {
///     let suffix = |s: &'static str| CustomGetter::new(move |next, mut args| {
///         args.name.push_str(s);
///         next.get(args)
///     });
///     let v = variable_scope("a").custom_getter(suffix("_A")).enter(|_| {
///         variable_scope("b").custom_getter(suffix("_B")).enter(|_| {
///             get_variable("v").shape([1]).build()
///         })
///     }).unwrap();
///     assert_eq!(v.name(), "a/b/v_B_A:0");
/// });
/// ```
#[derive(Clone)]
pub struct CustomGetter(std::sync::Arc<GetterFn>);

impl fmt::Debug for CustomGetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CustomGetter")
    }
}

impl CustomGetter {
    /// A custom getter from a function of the next getter and the arguments.
    ///
    /// ```
    /// use varscope::{get_variable, AnyVariable, CustomGetter, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     // A getter may also answer without calling the rest of the chain.
    ///     let shared = get_variable("shared").shape([1]).build().unwrap();
    ///     let alias = CustomGetter::new(move |_next, _args| Ok(AnyVariable::Single(shared.clone())));
    ///     let v = get_variable("other").shape([1]).custom_getter(alias).build().unwrap();
    ///     assert_eq!(v.name(), "shared:0");
    /// });
    /// ```
    pub fn new(
        f: impl Fn(&NextGetter<'_>, GetterArgs) -> Result<AnyVariable> + Send + Sync + 'static,
    ) -> Self {
        CustomGetter(std::sync::Arc::new(f))
    }
}

/// The getter at the end of a chain: creates or reuses (the getter layer's).
pub(crate) type TrueGetter = fn(&Graph, GetterArgs) -> Result<AnyVariable>;

/// The rest of the getter chain, handed to a [`CustomGetter`].
///
/// ```
/// use varscope::{get_variable, CustomGetter, Graph};
/// Graph::with_seed(1).as_default(|| {
///     // Calls the rest of the chain twice: one variable and its moving average.
///     let with_ema = CustomGetter::new(|next, args| {
///         let mut ema = args.clone();
///         ema.name.push_str("/ema");
///         ema.trainable = false;
///         next.get(ema)?;
///         next.get(args)
///     });
///     let w = get_variable("w").shape([1]).custom_getter(with_ema).build().unwrap();
///     assert_eq!(w.name(), "w:0");
///     assert!(varscope::Graph::current().store().get("w/ema").is_some());
/// });
/// ```
pub struct NextGetter<'a> {
    graph: &'a Graph,
    rest: &'a [CustomGetter],
    end: TrueGetter,
}

impl fmt::Debug for NextGetter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NextGetter")
            .field("remaining_getters", &self.rest.len())
            .finish()
    }
}

impl<'a> NextGetter<'a> {
    /// Calls the next getter (eventually the true getter, which creates or reuses).
    ///
    /// # Errors
    /// Whatever the next getter returns; [`Error::Panicked`] when a custom getter
    /// panicked (the panic is caught where that getter was called, so the getters
    /// outside it see an error).
    ///
    /// ```
    /// use varscope::{get_variable, CustomGetter, Error, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     let panics = CustomGetter::new(|_next, _args| panic!("boom"));
    ///     let e = get_variable("w").shape([1]).custom_getter(panics).build().unwrap_err();
    ///     assert!(matches!(e, Error::Panicked { .. }));
    /// });
    /// ```
    pub fn get(&self, args: GetterArgs) -> Result<AnyVariable> {
        match self.rest.split_first() {
            Some((g, rest)) => {
                let next = NextGetter {
                    graph: self.graph,
                    rest,
                    end: self.end,
                };
                let name = args.name.clone();
                catch_callback(Callback::CustomGetter, &name, || (g.0)(&next, args))?
            }
            None => (self.end)(self.graph, args),
        }
    }

    /// The chain `getters`, ending in `end`.
    pub(crate) fn new(graph: &'a Graph, getters: &'a [CustomGetter], end: TrueGetter) -> Self {
        NextGetter {
            graph,
            rest: getters,
            end,
        }
    }

    /// The graph the call is for.
    ///
    /// ```
    /// use varscope::{get_variable, CustomGetter, Graph};
    /// let g = Graph::with_seed(1);
    /// let id = g.id();
    /// let check = CustomGetter::new(move |next, args| {
    ///     assert_eq!(next.graph().id(), id);
    ///     next.get(args)
    /// });
    /// get_variable("w").shape([1]).graph(&g).custom_getter(check).build().unwrap();
    /// ```
    pub fn graph(&self) -> &Graph {
        self.graph
    }
}
