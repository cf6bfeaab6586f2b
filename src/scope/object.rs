//! The scope object: [`VariableScope`], a shared handle to a scope's name and the
//! defaults of the `get_variable` calls in it.

use crate::dtype::DType;
use crate::graph::{Graph, GLOBAL_VARIABLES, LOCAL_VARIABLES, TRAINABLE_VARIABLES};
use crate::initializer::Init;
use crate::partition::Partitioner;
use crate::scope::custom_getter::CustomGetter;
use crate::scope::defaults::{Reuse, ScopeDefaults};
use crate::scope::thread_state::SharedName;
use crate::slot_map::Key;
use crate::sync::{Arc, AtomicU32, RwLock};
use crate::variable::{Constraint, Regularizer, Variable};
use std::fmt;
use std::sync::atomic::Ordering;

/// What a scope object holds.
pub(crate) struct ScopeFields {
    /// The full scope name (`foo/bar`; `""` at root).
    pub(crate) name: Key,
    pub(crate) original_name_scope: OriginalNameScope,
    pub(crate) reuse: Reuse,
    /// Shared with the parent scope when the scope was opened without defaults of its
    /// own (the common case); setters copy on write.
    pub(crate) defaults: std::sync::Arc<ScopeDefaults>,
}

/// TF's `original_name_scope`: the name scope a scope was opened in, with its
/// trailing slash (`foo/bar/`), or a name used verbatim.
#[derive(Clone, Default)]
pub(crate) struct OriginalNameScope {
    name: SharedName,
    /// Whether the name is a name scope (a slash is added) or verbatim.
    slash: bool,
}

impl OriginalNameScope {
    /// The name scope `stack` (`foo/bar/`, or `""` at root).
    pub(crate) fn name_scope(stack: SharedName) -> Self {
        OriginalNameScope {
            name: stack,
            slash: true,
        }
    }

    /// `name` as given.
    pub(crate) fn verbatim(name: &str) -> Self {
        OriginalNameScope {
            name: SharedName::new(name),
            slash: false,
        }
    }
}

impl OriginalNameScope {
    /// The name as TF's `original_name_scope` gives it.
    pub(crate) fn text(&self) -> String {
        if self.slash {
            self.name.with_slash()
        } else {
            self.name.to_string()
        }
    }
}

/// A variable scope: the prefix of variable names plus the defaults
/// (`reuse`, initializer, partitioner, dtype, …) of `get_variable` calls in it.
///
/// A `VariableScope` is a shared, thread-safe handle: clones refer to the same scope
/// object (setters such as [`reuse_variables`](VariableScope::reuse_variables) are
/// seen through every clone), and it can be *captured* in one thread and re-entered
/// in another with [`variable_scope`](crate::variable_scope)`(&scope)`, which gives the same variable prefix.
///
/// ```
/// use varscope::{get_variable, variable_scope, Graph};
/// let g = Graph::with_seed(1);
/// g.as_default(|| {
///     let scope = variable_scope("main").enter(|s| s.clone()).unwrap();
///     let h = std::thread::spawn({
///         let g = g.clone();
///         move || g.as_default(|| {
///             variable_scope(&scope).enter(|_| get_variable("v").shape([1]).build())
///         })
///     });
///     let v = h.join().unwrap().unwrap();
///     assert_eq!(v.name(), "main/v:0");
/// });
/// ```
#[derive(Clone)]
pub struct VariableScope {
    inner: Arc<ScopeInner>,
}

struct ScopeInner {
    /// The full scope name, immutable (also in `fields`).
    name: Key,
    /// What a `get_variable` reuse hit needs, readable without the lock: see
    /// [`Hot`]. Rewritten under the write lock by every setter.
    hot: AtomicU32,
    fields: RwLock<ScopeFields>,
}

/// The part of a scope a `get_variable` reuse hit reads, packed in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hot {
    pub(crate) reuse: Reuse,
    /// The default dtype.
    pub(crate) dtype: DType,
    /// Whether the scope has neither a partitioner nor custom getters (a hit can skip
    /// the getter chain).
    pub(crate) plain: bool,
    /// Whether the scope is plain and sets no default but the dtype (a creation can
    /// skip resolving the call against the scope's defaults).
    pub(crate) bare: bool,
}

impl Hot {
    fn of(f: &ScopeFields) -> Hot {
        let d = &f.defaults;
        let plain = d.partitioner.is_none() && d.custom_getters.is_empty();
        Hot {
            reuse: f.reuse,
            dtype: d.dtype(),
            plain,
            bare: plain
                && d.initializer.is_none()
                && d.regularizer.is_none()
                && d.caching_device.is_none()
                && d.use_resource.is_none()
                && d.constraint.is_none(),
        }
    }

    fn pack(self) -> u32 {
        let reuse = match self.reuse {
            Reuse::No => 0,
            Reuse::Yes => 1,
            Reuse::Auto => 2,
        };
        let dtype = DType::ALL
            .iter()
            .position(|&d| d == self.dtype)
            .unwrap_or(0) as u32;
        reuse | (u32::from(self.plain) << 2) | (u32::from(self.bare) << 3) | (dtype << 8)
    }

    fn unpack(w: u32) -> Hot {
        Hot {
            reuse: match w & 3 {
                1 => Reuse::Yes,
                2 => Reuse::Auto,
                _ => Reuse::No,
            },
            plain: w & 4 != 0,
            bare: w & 8 != 0,
            dtype: DType::ALL[((w >> 8) as usize).min(DType::ALL.len() - 1)],
        }
    }
}

impl fmt::Debug for VariableScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.inner.fields.read();
        f.debug_struct("VariableScope")
            .field("name", &s.name)
            .field("original_name_scope", &s.original_name_scope.text())
            .field("reuse", &s.reuse)
            .field("dtype", &s.defaults.dtype())
            .finish_non_exhaustive()
    }
}

impl PartialEq for VariableScope {
    /// Identity: two handles are equal when they refer to the same scope object.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}
impl Eq for VariableScope {}

impl VariableScope {
    pub(crate) fn from_fields(fields: ScopeFields) -> VariableScope {
        VariableScope {
            inner: Arc::new(ScopeInner {
                name: fields.name.clone(),
                hot: AtomicU32::new(Hot::of(&fields).pack()),
                fields: RwLock::new(fields),
            }),
        }
    }

    /// The full name, borrowed (no lock).
    pub(crate) fn name_str(&self) -> &str {
        &self.inner.name
    }

    /// What a reuse hit needs (no lock).
    pub(crate) fn hot(&self) -> Hot {
        Hot::unpack(self.inner.hot.load(Ordering::Acquire))
    }

    /// Changes the fields under the write lock, keeping [`Hot`] in step.
    fn write(&self, f: impl FnOnce(&mut ScopeFields)) {
        let mut fields = self.inner.fields.write();
        f(&mut fields);
        self.inner
            .hot
            .store(Hot::of(&fields).pack(), Ordering::Release);
    }

    /// Changes the defaults (copied first when shared with other scopes).
    fn write_defaults(&self, f: impl FnOnce(&mut ScopeDefaults)) {
        self.write(|fields| f(std::sync::Arc::make_mut(&mut fields.defaults)));
    }

    pub(crate) fn root() -> VariableScope {
        VariableScope::from_fields(ScopeFields {
            name: Key::from(""),
            original_name_scope: OriginalNameScope::default(),
            reuse: Reuse::No,
            defaults: Default::default(),
        })
    }

    /// Runs `f` on the scope's fields, read-locked.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&ScopeFields) -> R) -> R {
        f(&self.inner.fields.read())
    }

    /// The full variable-scope name (`foo/bar`; `""` at root).
    ///
    /// ```
    /// use varscope::{get_variable_scope, variable_scope, Graph};
    /// Graph::new().as_default(|| {
    ///     assert_eq!(get_variable_scope().name(), "");
    ///     assert_eq!(variable_scope("a/b").enter(|s| s.name()).unwrap(), "a/b");
    /// });
    /// ```
    pub fn name(&self) -> String {
        self.inner.name.to_string()
    }

    /// The name scope that was current when the scope was first entered
    /// (`foo/bar/`); re-entering it with [`name_scope`](crate::name_scope) puts ops back there.
    ///
    /// ```
    /// use varscope::{variable_scope, Graph};
    /// Graph::new().as_default(|| {
    ///     let first = variable_scope("s").enter(|s| s.clone()).unwrap();
    ///     assert_eq!(first.original_name_scope(), "s/");
    ///     // Opening `s` again gives a new name scope, `s_1/` …
    ///     assert_eq!(variable_scope("s").enter(|s| s.original_name_scope()).unwrap(), "s_1/");
    ///     // … re-entering the captured scope keeps the first one's.
    ///     assert_eq!(variable_scope(&first).enter(|s| s.original_name_scope()).unwrap(), "s/");
    /// });
    /// ```
    pub fn original_name_scope(&self) -> String {
        self.inner.fields.read().original_name_scope.text()
    }

    /// The reuse mode.
    ///
    /// ```
    /// use varscope::{variable_scope, Graph, Reuse};
    /// Graph::new().as_default(|| {
    ///     let r = variable_scope("a").reuse(Reuse::Yes)
    ///         .enter(|_| variable_scope("b").enter(|s| s.reuse())).unwrap();
    ///     assert_eq!(r, Reuse::Yes); // inherited
    /// });
    /// ```
    pub fn reuse(&self) -> Reuse {
        self.inner.fields.read().reuse
    }

    /// Sets reuse to `Yes` for this scope object (and sub-scopes opened later). There
    /// is no way back, as in TF.
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     let (a, b) = variable_scope("s").enter(|scope| {
    ///         let a = get_variable("w").shape([1]).build()?;
    ///         scope.reuse_variables();
    ///         let b = get_variable("w").shape([1]).build()?;
    ///         Ok::<_, varscope::Error>((a, b))
    ///     }).unwrap();
    ///     assert_eq!(a, b);
    /// });
    /// ```
    pub fn reuse_variables(&self) {
        self.write(|f| f.reuse = Reuse::Yes);
    }

    /// The default initializer.
    ///
    /// ```
    /// use varscope::{get_variable_scope, variable_scope, Graph, Init};
    /// Graph::new().as_default(|| {
    ///     assert!(get_variable_scope().initializer().is_none());
    ///     let init = variable_scope("s").initializer(Init::ones()).enter(|s| s.initializer()).unwrap();
    ///     assert!(init.is_some());
    /// });
    /// ```
    pub fn initializer(&self) -> Option<Init> {
        self.inner.fields.read().defaults.initializer.clone()
    }
    /// Sets the default initializer.
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, Graph, Init};
    /// Graph::with_seed(1).as_default(|| {
    ///     let w = variable_scope("s").enter(|scope| {
    ///         scope.set_initializer(Some(Init::constant(4.0)));
    ///         get_variable("w").shape([1]).build()
    ///     }).unwrap();
    ///     assert_eq!(w.value().unwrap().to_f64_vec(), [4.0]);
    /// });
    /// ```
    pub fn set_initializer(&self, init: Option<Init>) {
        self.write_defaults(|s| s.initializer = init);
    }
    /// The default regularizer.
    ///
    /// ```
    /// use varscope::{variable_scope, Graph, Regularizer};
    /// Graph::new().as_default(|| {
    ///     let r = variable_scope("s").regularizer(Regularizer::l2(0.1)).enter(|s| s.regularizer()).unwrap();
    ///     assert!(r.is_some_and(|r| !r.is_none()));
    /// });
    /// ```
    pub fn regularizer(&self) -> Option<Regularizer> {
        self.inner.fields.read().defaults.regularizer.clone()
    }
    /// Sets the default regularizer.
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, Graph, Regularizer};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| variable_scope("s").enter(|scope| {
    ///     scope.set_regularizer(Some(Regularizer::l1(1.0)));
    ///     get_variable("w").shape([1]).build()
    /// })).unwrap();
    /// assert_eq!(g.regularization_losses().len(), 1);
    /// ```
    pub fn set_regularizer(&self, r: Option<Regularizer>) {
        self.write_defaults(|s| s.regularizer = r);
    }
    /// The default caching device (`Some("")` explicitly disables an inherited one).
    ///
    /// ```
    /// use varscope::{variable_scope, Graph};
    /// Graph::new().as_default(|| {
    ///     let d = variable_scope("s").caching_device("/cpu:0")
    ///         .enter(|_| variable_scope("t").enter(|s| s.caching_device())).unwrap();
    ///     assert_eq!(d.as_deref(), Some("/cpu:0")); // inherited
    /// });
    /// ```
    pub fn caching_device(&self) -> Option<String> {
        self.inner.fields.read().defaults.caching_device.clone()
    }
    /// Sets the default caching device.
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     let w = variable_scope("s").enter(|scope| {
    ///         scope.set_caching_device(Some("/cpu:0".into()));
    ///         get_variable("w").shape([1]).build()
    ///     }).unwrap();
    ///     assert_eq!(w.caching_device(), Some("/cpu:0"));
    /// });
    /// ```
    pub fn set_caching_device(&self, d: Option<String>) {
        self.write_defaults(|s| s.caching_device = d);
    }
    /// The default partitioner.
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable_scope, variable_scope, Graph};
    /// Graph::new().as_default(|| {
    ///     assert!(get_variable_scope().partitioner().is_none());
    ///     let p = variable_scope("s").partitioner(FixedSizePartitioner::new(2, 0))
    ///         .enter(|s| s.partitioner()).unwrap();
    ///     assert!(p.is_some());
    /// });
    /// ```
    pub fn partitioner(&self) -> Option<std::sync::Arc<dyn Partitioner>> {
        self.inner.fields.read().defaults.partitioner.clone()
    }
    /// Sets the default partitioner.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{get_variable, variable_scope, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     let emb = variable_scope("s").enter(|scope| {
    ///         scope.set_partitioner(Some(Arc::new(FixedSizePartitioner::new(3, 0))));
    ///         get_variable("emb").shape([6]).build_partitioned()
    ///     }).unwrap();
    ///     assert_eq!(emb.len(), 3);
    /// });
    /// ```
    pub fn set_partitioner(&self, p: Option<std::sync::Arc<dyn Partitioner>>) {
        self.write_defaults(|s| s.partitioner = p);
    }
    /// The composed custom getters, outermost wrapper first.
    ///
    /// ```
    /// use varscope::{variable_scope, CustomGetter, Graph};
    /// Graph::new().as_default(|| {
    ///     let pass = CustomGetter::new(|next, args| next.get(args));
    ///     let n = variable_scope("a").custom_getter(pass.clone()).enter(|_| {
    ///         variable_scope("b").custom_getter(pass.clone()).enter(|s| s.custom_getters().len())
    ///     }).unwrap();
    ///     assert_eq!(n, 2); // composed
    /// });
    /// ```
    pub fn custom_getters(&self) -> Vec<CustomGetter> {
        self.inner.fields.read().defaults.custom_getters.clone()
    }
    /// Replaces the custom getter (TF's `set_custom_getter`).
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, CustomGetter, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     let w = variable_scope("s").enter(|scope| {
    ///         scope.set_custom_getter(Some(CustomGetter::new(|next, mut args| {
    ///             args.name.push_str("_x");
    ///             next.get(args)
    ///         })));
    ///         get_variable("w").shape([1]).build()
    ///     }).unwrap();
    ///     assert_eq!(w.name(), "s/w_x:0");
    /// });
    /// ```
    pub fn set_custom_getter(&self, g: Option<CustomGetter>) {
        self.write_defaults(|s| s.custom_getters = g.into_iter().collect());
    }
    /// The default dtype (`float32` unless set).
    ///
    /// ```
    /// use varscope::{get_variable_scope, variable_scope, DType, Graph};
    /// Graph::new().as_default(|| {
    ///     assert_eq!(get_variable_scope().dtype(), DType::F32);
    ///     assert_eq!(variable_scope("s").dtype(DType::BF16).enter(|s| s.dtype()).unwrap(), DType::BF16);
    /// });
    /// ```
    pub fn dtype(&self) -> DType {
        self.inner.fields.read().defaults.dtype()
    }
    /// Sets the default dtype.
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, DType, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     let w = variable_scope("s").enter(|scope| {
    ///         scope.set_dtype(DType::F64);
    ///         get_variable("w").shape([1]).build()
    ///     }).unwrap();
    ///     assert_eq!(w.dtype(), DType::F64);
    /// });
    /// ```
    pub fn set_dtype(&self, d: DType) {
        self.write_defaults(|s| s.dtype = Some(d));
    }
    /// The `use_resource` flag (recorded on variables; no behavioural effect here).
    ///
    /// ```
    /// use varscope::{get_variable_scope, variable_scope, Graph};
    /// Graph::new().as_default(|| {
    ///     assert_eq!(get_variable_scope().use_resource(), None);
    ///     assert_eq!(variable_scope("s").use_resource(true).enter(|s| s.use_resource()).unwrap(), Some(true));
    /// });
    /// ```
    pub fn use_resource(&self) -> Option<bool> {
        self.inner.fields.read().defaults.use_resource
    }
    /// Sets the `use_resource` flag.
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     let w = variable_scope("s").enter(|scope| {
    ///         scope.set_use_resource(Some(true));
    ///         get_variable("w").shape([1]).build()
    ///     }).unwrap();
    ///     assert_eq!(w.use_resource(), Some(true));
    /// });
    /// ```
    pub fn set_use_resource(&self, u: Option<bool>) {
        self.write_defaults(|s| s.use_resource = u);
    }
    /// The constraint of this scope (never inherited by sub-scopes).
    ///
    /// ```
    /// use varscope::{variable_scope, Constraint, Graph};
    /// Graph::new().as_default(|| {
    ///     let c = Constraint::new(|t| t.clone());
    ///     let (own, sub) = variable_scope("s").constraint(c.clone()).enter(|s| {
    ///         (s.constraint(), variable_scope("t").enter(|t| t.constraint()).unwrap())
    ///     }).unwrap();
    ///     assert!(own.is_some_and(|x| x.ptr_eq(&c)));
    ///     assert!(sub.is_none()); // never inherited
    /// });
    /// ```
    pub fn constraint(&self) -> Option<Constraint> {
        self.inner.fields.read().defaults.constraint.clone()
    }
    /// Sets the constraint.
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, Constraint, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     let c = Constraint::new(|t| t.clone());
    ///     let w = variable_scope("s").enter(|scope| {
    ///         scope.set_constraint(Some(c.clone()));
    ///         get_variable("w").shape([1]).build()
    ///     }).unwrap();
    ///     assert!(w.constraint().is_some_and(|x| x.ptr_eq(&c)));
    /// });
    /// ```
    pub fn set_constraint(&self, c: Option<Constraint>) {
        self.write_defaults(|s| s.constraint = c);
    }

    fn prefix(&self) -> String {
        let n = self.name();
        if n.is_empty() {
            n
        } else {
            format!("{n}/")
        }
    }

    /// The variables of collection `key` in the current graph under this scope
    /// (literal prefix `name/`; everything at root).
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, Graph, Reuse};
    /// Graph::with_seed(1).as_default(|| {
    ///     let w = variable_scope("s").enter(|_| get_variable("w").shape([1]).build()).unwrap();
    ///     variable_scope("s").reuse(Reuse::Yes)
    ///         .enter(|s| assert_eq!(s.get_collection("variables"), vec![w.clone()])).unwrap();
    ///     assert!(variable_scope("t").enter(|t| t.get_collection("variables")).unwrap().is_empty());
    /// });
    /// ```
    pub fn get_collection(&self, key: &str) -> Vec<Variable> {
        Graph::current().get_collection_scoped(key, &self.prefix())
    }
    /// Global variables under this scope.
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     get_variable("top").shape([1]).build().unwrap();
    ///     let names = variable_scope("s").enter(|s| {
    ///         get_variable("w").shape([1]).build()?;
    ///         Ok::<_, varscope::Error>(s.global_variables().iter().map(|v| v.name()).collect::<Vec<_>>())
    ///     }).unwrap();
    ///     assert_eq!(names, ["s/w:0"]);
    /// });
    /// ```
    pub fn global_variables(&self) -> Vec<Variable> {
        self.get_collection(GLOBAL_VARIABLES)
    }
    /// Trainable variables under this scope.
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     let n = variable_scope("s").enter(|s| {
    ///         get_variable("w").shape([1]).build()?;
    ///         get_variable("step").shape([1]).trainable(false).build()?;
    ///         Ok::<_, varscope::Error>(s.trainable_variables().len())
    ///     }).unwrap();
    ///     assert_eq!(n, 1);
    /// });
    /// ```
    pub fn trainable_variables(&self) -> Vec<Variable> {
        self.get_collection(TRAINABLE_VARIABLES)
    }
    /// Local variables under this scope.
    ///
    /// ```
    /// use varscope::{get_local_variable, get_variable, variable_scope, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     let n = variable_scope("s").enter(|s| {
    ///         get_variable("w").shape([1]).build()?;
    ///         get_local_variable("seen").shape([1]).build()?;
    ///         Ok::<_, varscope::Error>(s.local_variables().iter().map(|v| v.name()).collect::<Vec<_>>())
    ///     }).unwrap();
    ///     assert_eq!(n, ["s/seen:0"]);
    /// });
    /// ```
    pub fn local_variables(&self) -> Vec<Variable> {
        self.get_collection(LOCAL_VARIABLES)
    }
}
