//! Variable scopes (TF's `tf.variable_scope`): the variable-name prefix and the
//! `get_variable` defaults of the calling thread, entered by name, by default name,
//! or by re-entering a captured scope.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{DefaultGraphGuard, Graph};
use crate::initializer::Init;
use crate::names;
use crate::scope::custom_getter::CustomGetter;
use crate::scope::defaults::{defaults_setters, Reuse, ScopeDefaults};
use crate::scope::frames::{check_depth, check_depth_in, FrameIds, FrameSet};
use crate::scope::name_scope::{enter_name_scope_in, reenter_current_name_scope_in};
use crate::scope::object::{OriginalNameScope, ScopeFields, VariableScope};
use crate::scope::output::ScopeOutput;
use crate::scope::thread_state::{
    with_state, CountsOnExit, Frame, FrameKind, SharedName, ThreadState,
};
use crate::sync;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// What a [`variable_scope`] call opens: a name, a captured scope, or nothing (then
/// a default name must be given, see [`variable_scope_default`]).
///
/// ```
/// use varscope::{get_variable, get_variable_scope, variable_scope, Graph, ScopeTarget};
/// Graph::with_seed(1).as_default(|| -> varscope::Result<()> {
///     // A name …
///     let enc = variable_scope("enc").enter(|s| s.clone())?;
///     // … or a captured scope: re-entered from anywhere, its name replaces the prefix.
///     let w = variable_scope("other").enter(|_| {
///         variable_scope(&enc).enter(|_| get_variable("w").shape([1]).build())
///     })?;
///     assert_eq!(w.name(), "enc/w:0");
///     // Nothing: the default name is used.
///     let n = variable_scope(ScopeTarget::None).default_name("blk").enter(|s| s.name())?;
///     assert_eq!(n, "blk");
///     assert_eq!(get_variable_scope().name(), "");
///     Ok(())
/// }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub enum ScopeTarget<'a> {
    /// A scope name relative to the current variable scope.
    Name(Cow<'a, str>),
    /// A captured scope, re-entered ("jump": its name replaces the current prefix).
    Scope(VariableScope),
    /// No name: the default name is uniquified (`bar`, `bar_1`, …).
    None,
}

impl<'a> From<&'a str> for ScopeTarget<'a> {
    fn from(s: &'a str) -> Self {
        ScopeTarget::Name(Cow::Borrowed(s))
    }
}
impl From<String> for ScopeTarget<'_> {
    fn from(s: String) -> Self {
        ScopeTarget::Name(Cow::Owned(s))
    }
}
impl<'a> From<&'a String> for ScopeTarget<'a> {
    fn from(s: &'a String) -> Self {
        ScopeTarget::Name(Cow::Borrowed(s))
    }
}
impl From<&VariableScope> for ScopeTarget<'_> {
    fn from(s: &VariableScope) -> Self {
        ScopeTarget::Scope(s.clone())
    }
}
impl From<VariableScope> for ScopeTarget<'_> {
    fn from(s: VariableScope) -> Self {
        ScopeTarget::Scope(s)
    }
}

/// Opens a variable scope on the calling thread's default graph: TF1's
/// `variable_scope(name_or_scope, …)`. Configure it, then [`enter`] it with a closure
/// or take a [`guard`].
///
/// [`enter`]: VariableScopeBuilder::enter
/// [`guard`]: VariableScopeBuilder::guard
///
/// ```
/// use varscope::{get_variable, variable_scope, Graph, Reuse};
/// Graph::with_seed(0).as_default(|| {
///     let a = variable_scope("foo").enter(|_| get_variable("v").shape([1]).build()).unwrap();
///     let b = variable_scope("foo").reuse(Reuse::Yes)
///         .enter(|_| get_variable("v").shape([1]).build()).unwrap();
///     assert_eq!(a, b);
///     assert_eq!(a.name(), "foo/v:0");
/// });
/// ```
pub fn variable_scope<'a>(target: impl Into<ScopeTarget<'a>>) -> VariableScopeBuilder<'a> {
    VariableScopeBuilder::new(target.into())
}

/// Opens a variable scope named by uniquifying `default_name` among the current
/// scope's children (`bar`, then `bar_1`, …): TF1's
/// `variable_scope(None, default_name=…)`.
///
/// ```
/// use varscope::{variable_scope_default, Graph};
/// Graph::new().as_default(|| {
///     let a = variable_scope_default("layer").enter(|s| s.name()).unwrap();
///     let b = variable_scope_default("layer").enter(|s| s.name()).unwrap();
///     assert_eq!((a.as_str(), b.as_str()), ("layer", "layer_1"));
/// });
/// ```
pub fn variable_scope_default(default_name: &str) -> VariableScopeBuilder<'_> {
    VariableScopeBuilder::new(ScopeTarget::None).default_name(default_name)
}

/// Returns the calling thread's current variable scope in the default graph
/// (TF's `get_variable_scope()`).
///
/// ```
/// use varscope::{get_variable_scope, variable_scope, Graph};
/// Graph::new().as_default(|| {
///     assert_eq!(get_variable_scope().name(), "");
///     variable_scope("a/b").enter(|_| assert_eq!(get_variable_scope().name(), "a/b")).unwrap();
/// });
/// ```
pub fn get_variable_scope() -> VariableScope {
    Graph::with_current(|g| with_state(g, |s| s.current.clone()))
}

/// Configuration of a variable scope to enter. See [`variable_scope`].
///
/// ```
/// use varscope::{get_variable, variable_scope, Graph, Init, Reuse};
/// Graph::with_seed(1).as_default(|| {
///     // A configuration is a value: keep it, clone it, enter it again.
///     let shared = variable_scope("tower").reuse(Reuse::Auto).initializer(Init::zeros());
///     let a = shared.clone().enter(|_| get_variable("w").shape([2]).build()).unwrap();
///     let b = shared.enter(|_| get_variable("w").shape([2]).build()).unwrap();
///     assert_eq!(a, b);
///     assert_eq!(a.value().unwrap().to_f64_vec(), [0.0, 0.0]);
/// });
/// ```
#[must_use = "a scope builder does nothing until entered"]
#[derive(Clone)]
pub struct VariableScopeBuilder<'a> {
    target: ScopeTarget<'a>,
    default_name: Option<Cow<'a, str>>,
    reuse: Reuse,
    /// Boxed, so that a builder is cheap to move; `None` until a default is set.
    defaults: Option<Box<ScopeDefaults>>,
    auxiliary_name_scope: bool,
    graph: Option<Graph>,
}

impl fmt::Debug for VariableScopeBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VariableScopeBuilder")
            .field("target", &self.target)
            .field("default_name", &self.default_name)
            .field("reuse", &self.reuse)
            .field("auxiliary_name_scope", &self.auxiliary_name_scope)
            .finish_non_exhaustive()
    }
}

impl<'a> VariableScopeBuilder<'a> {
    fn new(target: ScopeTarget<'a>) -> Self {
        VariableScopeBuilder {
            target,
            default_name: None,
            reuse: Reuse::No,
            defaults: None,
            auxiliary_name_scope: true,
            graph: None,
        }
    }

    /// The default name, used only when no name or scope is given.
    ///
    /// ```
    /// use varscope::{variable_scope, Graph, ScopeTarget};
    /// Graph::new().as_default(|| {
    ///     let open = |t: ScopeTarget<'static>| variable_scope(t).default_name("dense").enter(|s| s.name());
    ///     assert_eq!(open(ScopeTarget::None).unwrap(), "dense");
    ///     assert_eq!(open(ScopeTarget::None).unwrap(), "dense_1");
    ///     // A given name wins.
    ///     assert_eq!(open("head".into()).unwrap(), "head");
    /// });
    /// ```
    pub fn default_name(mut self, name: &'a str) -> Self {
        self.default_name = Some(Cow::Borrowed(name));
        self
    }
    /// Reuse mode; `No` inherits (reuse cannot be switched off).
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, Graph, Reuse};
    /// Graph::with_seed(1).as_default(|| {
    ///     // Auto: get it if it exists, create it otherwise — from any thread.
    ///     let a = variable_scope("s").reuse(Reuse::Auto).enter(|_| get_variable("w").shape([1]).build()).unwrap();
    ///     let b = variable_scope("s").reuse(Reuse::Auto).enter(|_| get_variable("w").shape([1]).build()).unwrap();
    ///     assert_eq!(a, b);
    ///     // Yes: a missing name is an error.
    ///     let e = variable_scope("s").reuse(Reuse::Yes).enter(|_| get_variable("v").shape([1]).build());
    ///     assert!(e.is_err());
    /// });
    /// ```
    pub fn reuse(mut self, reuse: Reuse) -> Self {
        self.reuse = reuse;
        self
    }
    /// A custom getter, composed with the inherited ones (this one runs first).
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, CustomGetter, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     let tag = |t: &'static str| CustomGetter::new(move |next, mut args| {
    ///         args.name.push_str(t);
    ///         next.get(args)
    ///     });
    ///     // The inner scope's getter runs first, then the outer one's.
    ///     let v = variable_scope("s").custom_getter(tag("_outer")).enter(|_| {
    ///         variable_scope("t").custom_getter(tag("_inner"))
    ///             .enter(|_| get_variable("w").shape([1]).build())
    ///     }).unwrap();
    ///     assert_eq!(v.name(), "s/t/w_inner_outer:0");
    /// });
    /// ```
    pub fn custom_getter(mut self, g: CustomGetter) -> Self {
        self.defaults_mut().custom_getters = vec![g];
        self
    }

    fn defaults_mut(&mut self) -> &mut ScopeDefaults {
        self.defaults.get_or_insert_with(Default::default)
    }
    fn set_initializer(&mut self, init: Init) {
        self.defaults_mut().initializer = Some(init);
    }
    fn set_dtype(&mut self, d: DType) {
        self.defaults_mut().dtype = Some(d);
    }

    defaults_setters!("for variables created in the scope and its sub-scopes");

    /// Whether to open a name scope too (default `true`).
    ///
    /// ```
    /// use varscope::{name_scope, variable_scope, Graph};
    /// Graph::new().as_default(|| {
    ///     let ns = |n: &str| n.to_string();
    ///     let with = variable_scope("s").enter(|_| name_scope("x", ns)).unwrap();
    ///     assert_eq!(with, "s/x/");
    ///     let without = variable_scope("t").auxiliary_name_scope(false)
    ///         .enter(|_| name_scope("x", ns)).unwrap();
    ///     assert_eq!(without, "x/");
    /// });
    /// ```
    pub fn auxiliary_name_scope(mut self, aux: bool) -> Self {
        self.auxiliary_name_scope = aux;
        self
    }
    /// Enters the scope in `graph` instead of the thread's default graph (the graph
    /// is also made the default inside).
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, Graph};
    /// let g = Graph::with_seed(1);
    /// let w = variable_scope("s").graph(&g).enter(|_| get_variable("w").shape([1]).build()).unwrap();
    /// assert_eq!(g.global_variables(), vec![w]);
    /// assert!(Graph::process_default().store().get("s/w").is_none());
    /// ```
    pub fn graph(mut self, graph: &Graph) -> Self {
        self.graph = Some(graph.clone());
        self
    }

    /// Enters the scope, runs `f` with it, and leaves it. Returns what `f` returns,
    /// flattened when it is a `Result` (see [`ScopeOutput`]).
    ///
    /// # Errors
    /// [`Error::InvalidName`] for an invalid name, [`Error::InvalidReuse`] for a reuse
    /// mode with a default name, [`Error::InvalidArgument`] when neither a name nor a
    /// default name is given, [`Error::ImproperNesting`] when `f` left an inner scope
    /// open — each converted into the closure's error type — or the closure's own
    /// error.
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, Graph};
    /// let v = Graph::new().as_default(|| {
    ///     variable_scope("a").enter(|_| get_variable("v").shape([2]).build())
    /// }).unwrap();
    /// assert_eq!(v.name(), "a/v:0");
    /// ```
    pub fn enter<R: ScopeOutput>(
        self,
        f: impl FnOnce(&VariableScope) -> R,
    ) -> std::result::Result<R::Value, R::Error> {
        let guard = self.guard()?;
        let out = f(guard.scope());
        guard.close()?;
        out.into_result()
    }

    /// Enters the scope until the returned guard is dropped.
    ///
    /// # Errors
    /// As [`enter`](VariableScopeBuilder::enter).
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     let scope = variable_scope("enc").guard().unwrap();
    ///     let w = get_variable("w").shape([1]).build().unwrap();
    ///     assert_eq!(w.name(), "enc/w:0");
    ///     scope.close().unwrap();   // or drop it (dropping out of order panics)
    /// });
    /// ```
    pub fn guard(self) -> Result<VariableScopeGuard> {
        // An explicit graph is made the default first, so that the thread-local
        // handle is the one it pushed.
        let graph_guard = self.graph.as_ref().map(Graph::as_default_guard);
        let graph = Graph::current_local();
        let mut ids = FrameIds::new();
        let opened = self.open(&graph, &mut ids);
        let mut frames = FrameSet { graph, ids };
        match opened {
            Ok(scope) => Ok(VariableScopeGuard {
                scope,
                frames,
                _graph_guard: graph_guard,
                _not_send: PhantomData,
            }),
            Err(e) => {
                frames.pop();
                Err(e)
            }
        }
    }

    fn open(self, graph: &Graph, ids: &mut FrameIds) -> Result<VariableScope> {
        let aux = self.auxiliary_name_scope;
        match &self.target {
            // The common case, in one visit to the thread's state.
            ScopeTarget::Name(s) => with_state(graph, |st| {
                check_depth_in(st)?;
                let old_ns = if !s.is_empty() || !aux {
                    let (stack, id) = open_name_scope(st, graph, s, aux)?;
                    ids.push(id);
                    Some(stack)
                } else {
                    None
                };
                Ok(enter_pure_named(
                    st,
                    s,
                    old_ns,
                    self.reuse,
                    self.defaults.as_deref(),
                    ids,
                ))
            }),
            ScopeTarget::Scope(captured) => {
                check_depth(graph)?;
                if aux {
                    let last = captured
                        .read(|f| f.name.rsplit('/').next().unwrap_or_default().to_string());
                    if !last.is_empty() {
                        let (_, id) =
                            with_state(graph, |st| enter_name_scope_in(st, graph, &last))?;
                        ids.push(id);
                    }
                } else {
                    let (_, id) = with_state(graph, reenter_current_name_scope_in);
                    ids.push(id);
                }
                Ok(enter_pure_captured(
                    graph,
                    captured,
                    self.reuse,
                    self.defaults.as_deref(),
                    ids,
                ))
            }
            ScopeTarget::None => with_state(graph, |st| {
                check_depth_in(st)?;
                let Some(default_name) = &self.default_name else {
                    return Err(Error::invalid_arg(
                        "If default_name is None then name_or_scope is required",
                    ));
                };
                if self.reuse != Reuse::No {
                    return Err(Error::InvalidReuse {
                        message: "reuse=True cannot be used without a name_or_scope".into(),
                    });
                }
                let (stack, id) = open_name_scope(st, graph, default_name, aux)?;
                ids.push(id);
                let unique = unique_variable_scope(st, default_name);
                Ok(enter_pure_named(
                    st,
                    &unique,
                    Some(stack),
                    self.reuse,
                    self.defaults.as_deref(),
                    ids,
                ))
            }),
        }
    }
}

/// The name scope a variable scope opens: `name`, or (without an auxiliary name
/// scope) the current one again.
fn open_name_scope(
    st: &mut ThreadState,
    graph: &Graph,
    name: &str,
    aux: bool,
) -> Result<(SharedName, u64)> {
    if aux {
        enter_name_scope_in(st, graph, name)
    } else {
        Ok(reenter_current_name_scope_in(st))
    }
}

/// TF's `_pure_variable_scope` entered with a string: a new scope object under the
/// current one, with `args` over the current scope's defaults. `old_name_scope` is
/// the name scope it was opened in; without one, `s` is used verbatim.
pub(crate) fn enter_pure_named(
    st: &mut ThreadState,
    s: &str,
    old_name_scope: Option<SharedName>,
    reuse: Reuse,
    args: Option<&ScopeDefaults>,
    ids: &mut FrameIds,
) -> VariableScope {
    let counts = &mut st.counts;
    let mut untouched = None;
    let fields = st.current.read(|parent| ScopeFields {
        name: names::with_joined(&parent.name, s, |n| {
            let (name, proof) = counts.increment_named(n);
            untouched = proof;
            name
        }),
        reuse: reuse.or(parent.reuse),
        defaults: ScopeDefaults::inherit(args, &parent.defaults),
        original_name_scope: match old_name_scope {
            Some(stack) => OriginalNameScope::name_scope(stack),
            None => OriginalNameScope::verbatim(s),
        },
    });
    let exit = CountsOnExit::ZeroUnder(fields.name.clone(), untouched);
    make_current(st, fields, exit, ids)
}

/// Makes a new scope object of `fields` the thread's current scope, pushing the frame
/// that restores the previous one (and the counters, by `counts`).
fn make_current(
    st: &mut ThreadState,
    fields: ScopeFields,
    counts: CountsOnExit,
    ids: &mut FrameIds,
) -> VariableScope {
    let id = sync::next_frame_id();
    let scope = VariableScope::from_fields(fields);
    let prev = std::mem::replace(&mut st.current, scope.clone());
    st.frames.push(Frame {
        id,
        kind: FrameKind::Var { prev, counts },
    });
    ids.push(id);
    scope
}

/// TF's `_pure_variable_scope` entered with a captured scope object (a jump): a new
/// scope object with the captured one's name, and `args` over its defaults.
pub(crate) fn enter_pure_captured(
    graph: &Graph,
    captured: &VariableScope,
    reuse: Reuse,
    args: Option<&ScopeDefaults>,
    ids: &mut FrameIds,
) -> VariableScope {
    let fields = captured.read(|base| ScopeFields {
        name: base.name.clone(),
        original_name_scope: base.original_name_scope.clone(),
        reuse: reuse.or(base.reuse),
        defaults: ScopeDefaults::inherit(args, &base.defaults),
    });
    with_state(graph, |st| {
        st.counts.increment(&fields.name);
        let snapshot = st.counts.snapshot();
        make_current(st, fields, CountsOnExit::Restore(snapshot), ids)
    })
}

/// TF's `_get_unique_variable_scope(prefix)`: the relative name to use for a default
/// name, filling holes (`blk`, `blk_1`, `blk_2`, `blk_4` after an explicit `blk_3`).
pub(crate) fn unique_variable_scope(st: &ThreadState, prefix: &str) -> String {
    let base = st.current.read(|f| names::join(&f.name, prefix));
    let count = |k: &str| st.counts.get(k);
    if count(&base) == 0 {
        return prefix.to_string();
    }
    let mut i = 1;
    while count(&format!("{base}_{i}")) != 0 {
        i += 1;
    }
    format!("{prefix}_{i}")
}

/// An open variable scope; leaves it (and its name scope) when dropped.
///
/// Dropping guards out of order never panics: dropping an outer guard first also
/// leaves the scopes opened inside it (the thread's stack returns to what it was
/// before this guard), and the inner guards' drops then do nothing. Use
/// [`close`](VariableScopeGuard::close) to get [`Error::ImproperNesting`] instead.
///
/// ```
/// use varscope::{get_variable, variable_scope, Graph};
/// Graph::with_seed(1).as_default(|| {
///     let outer = variable_scope("a").guard().unwrap();
///     let inner = variable_scope("b").guard().unwrap();
///     assert_eq!(get_variable("w").shape([1]).build().unwrap().name(), "a/b/w:0");
///     drop(outer); // leaves both
///     drop(inner); // nothing left to do
///     assert_eq!(get_variable("w").shape([1]).build().unwrap().name(), "w:0");
/// });
/// ```
#[must_use = "the variable scope is left when the guard is dropped"]
pub struct VariableScopeGuard {
    scope: VariableScope,
    frames: FrameSet,
    _graph_guard: Option<DefaultGraphGuard>,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for VariableScopeGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VariableScopeGuard")
            .field("scope", &self.scope)
            .finish()
    }
}

impl VariableScopeGuard {
    /// The scope that was entered (what `with variable_scope(…) as scope` binds).
    ///
    /// ```
    /// use varscope::{variable_scope, Graph};
    /// Graph::new().as_default(|| {
    ///     let g = variable_scope("a/b").guard().unwrap();
    ///     assert_eq!(g.scope().name(), "a/b");
    ///     assert_eq!(g.scope().original_name_scope(), "a/b/");
    /// });
    /// ```
    pub fn scope(&self) -> &VariableScope {
        &self.scope
    }

    /// Leaves the scope.
    ///
    /// # Errors
    /// [`Error::ImproperNesting`] if an inner scope is still open (TF's
    /// `RuntimeError("Improper nesting of variable_scope.")`). The scope then stays in
    /// effect until the inner scopes are left, and is left right after them.
    ///
    /// ```
    /// use varscope::{get_variable_scope, variable_scope, Error, Graph};
    /// Graph::new().as_default(|| {
    ///     let outer = variable_scope("a").guard().unwrap();
    ///     let inner = variable_scope("b").guard().unwrap();
    ///     assert!(matches!(outer.close(), Err(Error::ImproperNesting)));
    ///     assert_eq!(get_variable_scope().name(), "a/b");
    ///     inner.close().unwrap(); // leaves `b`, then `a`
    ///     assert_eq!(get_variable_scope().name(), "");
    /// });
    /// ```
    pub fn close(mut self) -> Result<()> {
        self.frames.close()
    }
}

impl Drop for VariableScopeGuard {
    fn drop(&mut self) {
        self.frames.leave_on_drop();
    }
}

/// An empty frame set for crate-internal scope entries (templates' pure scopes).
pub(crate) fn pure_scope_frames(graph: std::rc::Rc<Graph>) -> FrameSetHandle {
    FrameSetHandle(FrameSet {
        graph,
        ids: Default::default(),
    })
}

/// Frames opened by crate-internal scope entries (templates).
pub(crate) struct FrameSetHandle(FrameSet);

impl FrameSetHandle {
    pub(crate) fn frames(&mut self) -> &mut FrameSet {
        &mut self.0
    }
    pub(crate) fn close(mut self) -> Result<()> {
        self.0.close()
    }
}

impl Drop for FrameSetHandle {
    fn drop(&mut self) {
        self.0.pop_or_orphan();
    }
}
