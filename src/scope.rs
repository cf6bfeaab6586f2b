//! Variable scopes and name scopes: the per-thread half of the scoping state.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::getter::CustomGetter;
use crate::graph::{Graph, GLOBAL_VARIABLES, LOCAL_VARIABLES, TRAINABLE_VARIABLES};
use crate::init::Init;
use crate::names;
use crate::partition::Partitioner;
use crate::sync::{self, Arc, RwLock};
use crate::variable::{Constraint, Regularizer, Variable};
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;

/// The reuse mode of a variable scope (TF1's `reuse=False / True / AUTO_REUSE`).
///
/// As an *argument* of [`variable_scope`], `No` means "inherit" (TF: `reuse=False`
/// is the same as `None`): reuse can be switched on in a sub-scope but never off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Reuse {
    /// Create only: an existing name is an error.
    #[default]
    No,
    /// Reuse only: a missing name is an error.
    Yes,
    /// Get the variable if it exists, create it otherwise.
    Auto,
}

impl Reuse {
    /// TF's `passed or parent`: `No` inherits, `Yes`/`Auto` override.
    pub(crate) fn or(self, parent: Reuse) -> Reuse {
        if self == Reuse::No {
            parent
        } else {
            self
        }
    }
}

#[derive(Clone)]
pub(crate) struct ScopeFields {
    pub(crate) name: String,
    pub(crate) original_name_scope: String,
    pub(crate) reuse: Reuse,
    pub(crate) initializer: Option<Init>,
    pub(crate) regularizer: Option<Regularizer>,
    pub(crate) caching_device: Option<String>,
    pub(crate) partitioner: Option<std::sync::Arc<dyn Partitioner>>,
    /// Composed custom getters, outermost wrapper (innermost scope) first.
    pub(crate) custom_getters: Vec<CustomGetter>,
    pub(crate) dtype: DType,
    pub(crate) use_resource: Option<bool>,
    pub(crate) constraint: Option<Constraint>,
}

impl ScopeFields {
    fn root() -> ScopeFields {
        ScopeFields {
            name: String::new(),
            original_name_scope: String::new(),
            reuse: Reuse::No,
            initializer: None,
            regularizer: None,
            caching_device: None,
            partitioner: None,
            custom_getters: Vec::new(),
            dtype: DType::F32,
            use_resource: None,
            constraint: None,
        }
    }
}

/// What `get_variable` takes from the current scope.
pub(crate) struct ResolvedScope {
    pub(crate) full_name: String,
    pub(crate) reuse: Reuse,
    pub(crate) initializer: Option<Init>,
    pub(crate) regularizer: Option<Regularizer>,
    pub(crate) caching_device: Option<String>,
    pub(crate) partitioner: Option<std::sync::Arc<dyn Partitioner>>,
    pub(crate) custom_getters: Vec<CustomGetter>,
    pub(crate) dtype: DType,
    pub(crate) use_resource: Option<bool>,
    pub(crate) constraint: Option<Constraint>,
}

/// A variable scope: the prefix of variable names plus the defaults
/// (`reuse`, initializer, partitioner, dtype, …) of `get_variable` calls in it.
///
/// A `VariableScope` is a shared, thread-safe handle: clones refer to the same scope
/// object (setters such as [`reuse_variables`](VariableScope::reuse_variables) are
/// seen through every clone), and it can be *captured* in one thread and re-entered
/// in another with [`variable_scope`]`(&scope)`, which gives the same variable prefix.
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
///     let v = h.join().unwrap().unwrap().unwrap();
///     assert_eq!(v.name(), "main/v:0");
/// });
/// ```
#[derive(Clone)]
pub struct VariableScope {
    inner: Arc<RwLock<ScopeFields>>,
}

impl fmt::Debug for VariableScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.inner.read();
        f.debug_struct("VariableScope")
            .field("name", &s.name)
            .field("original_name_scope", &s.original_name_scope)
            .field("reuse", &s.reuse)
            .field("dtype", &s.dtype)
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
            inner: Arc::new(RwLock::new(fields)),
        }
    }

    pub(crate) fn root() -> VariableScope {
        VariableScope::from_fields(ScopeFields::root())
    }

    /// The scope defaults a `get_variable(name)` call needs, copying only what the
    /// call does not override.
    pub(crate) fn resolve_for_get(
        &self,
        name: &str,
        want_getters: bool,
        want_initializer: bool,
        want_constraint: bool,
    ) -> ResolvedScope {
        let f = self.inner.read();
        ResolvedScope {
            full_name: names::join(&f.name, name),
            reuse: f.reuse,
            initializer: if want_initializer {
                f.initializer.clone()
            } else {
                None
            },
            regularizer: f.regularizer.clone(),
            caching_device: f.caching_device.clone(),
            partitioner: f.partitioner.clone(),
            custom_getters: if want_getters {
                f.custom_getters.clone()
            } else {
                Vec::new()
            },
            dtype: f.dtype,
            use_resource: f.use_resource,
            constraint: if want_constraint {
                f.constraint.clone()
            } else {
                None
            },
        }
    }

    pub(crate) fn fields(&self) -> ScopeFields {
        self.inner.read().clone()
    }

    /// The full variable-scope name (`foo/bar`; `""` at root).
    pub fn name(&self) -> String {
        self.inner.read().name.clone()
    }

    /// The name scope that was current when the scope was first entered
    /// (`foo/bar/`); re-entering it with [`name_scope`] puts ops back there.
    pub fn original_name_scope(&self) -> String {
        self.inner.read().original_name_scope.clone()
    }

    /// The reuse mode.
    pub fn reuse(&self) -> Reuse {
        self.inner.read().reuse
    }

    /// Sets reuse to `Yes` for this scope object (and sub-scopes opened later). There
    /// is no way back, as in TF.
    pub fn reuse_variables(&self) {
        self.inner.write().reuse = Reuse::Yes;
    }

    /// The default initializer.
    pub fn initializer(&self) -> Option<Init> {
        self.inner.read().initializer.clone()
    }
    /// Sets the default initializer.
    pub fn set_initializer(&self, init: Option<Init>) {
        self.inner.write().initializer = init;
    }
    /// The default regularizer.
    pub fn regularizer(&self) -> Option<Regularizer> {
        self.inner.read().regularizer.clone()
    }
    /// Sets the default regularizer.
    pub fn set_regularizer(&self, r: Option<Regularizer>) {
        self.inner.write().regularizer = r;
    }
    /// The default caching device (`Some("")` explicitly disables an inherited one).
    pub fn caching_device(&self) -> Option<String> {
        self.inner.read().caching_device.clone()
    }
    /// Sets the default caching device.
    pub fn set_caching_device(&self, d: Option<String>) {
        self.inner.write().caching_device = d;
    }
    /// The default partitioner.
    pub fn partitioner(&self) -> Option<std::sync::Arc<dyn Partitioner>> {
        self.inner.read().partitioner.clone()
    }
    /// Sets the default partitioner.
    pub fn set_partitioner(&self, p: Option<std::sync::Arc<dyn Partitioner>>) {
        self.inner.write().partitioner = p;
    }
    /// The composed custom getters, outermost wrapper first.
    pub fn custom_getters(&self) -> Vec<CustomGetter> {
        self.inner.read().custom_getters.clone()
    }
    /// Replaces the custom getter (TF's `set_custom_getter`).
    pub fn set_custom_getter(&self, g: Option<CustomGetter>) {
        self.inner.write().custom_getters = g.into_iter().collect();
    }
    /// The default dtype (`float32` unless set).
    pub fn dtype(&self) -> DType {
        self.inner.read().dtype
    }
    /// Sets the default dtype.
    pub fn set_dtype(&self, d: DType) {
        self.inner.write().dtype = d;
    }
    /// The `use_resource` flag (recorded on variables; no behavioural effect here).
    pub fn use_resource(&self) -> Option<bool> {
        self.inner.read().use_resource
    }
    /// Sets the `use_resource` flag.
    pub fn set_use_resource(&self, u: Option<bool>) {
        self.inner.write().use_resource = u;
    }
    /// The constraint of this scope (never inherited by sub-scopes).
    pub fn constraint(&self) -> Option<Constraint> {
        self.inner.read().constraint.clone()
    }
    /// Sets the constraint.
    pub fn set_constraint(&self, c: Option<Constraint>) {
        self.inner.write().constraint = c;
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
    pub fn get_collection(&self, key: &str) -> Vec<Variable> {
        Graph::current().get_collection_scoped(key, &self.prefix())
    }
    /// Global variables under this scope.
    pub fn global_variables(&self) -> Vec<Variable> {
        self.get_collection(GLOBAL_VARIABLES)
    }
    /// Trainable variables under this scope.
    pub fn trainable_variables(&self) -> Vec<Variable> {
        self.get_collection(TRAINABLE_VARIABLES)
    }
    /// Local variables under this scope.
    pub fn local_variables(&self) -> Vec<Variable> {
        self.get_collection(LOCAL_VARIABLES)
    }
}

/// What is restored when a frame is popped.
enum FrameKind {
    Var {
        prev: VariableScope,
        counts: CountsOnExit,
    },
    Name {
        prev_stack: String,
    },
}

enum CountsOnExit {
    /// String-named scope: zero every counter under `prefix`.
    ZeroUnder(String),
    /// Re-entered scope object: restore the whole map (TF's behaviour, #15296).
    Restore(HashMap<String, u64>),
}

pub(crate) struct Frame {
    id: u64,
    kind: FrameKind,
}

/// Per-(graph, thread) scoping state.
pub(crate) struct ThreadState {
    pub(crate) current: VariableScope,
    pub(crate) counts: HashMap<String, u64>,
    pub(crate) name_stack: String,
    frames: Vec<Frame>,
    /// Frames whose guard was closed out of order: they are popped as soon as they are
    /// on top of the stack again.
    orphans: Vec<u64>,
    /// Names of trainable variables this thread created (template checks).
    pub(crate) trainable_created: Vec<String>,
}

impl ThreadState {
    pub(crate) fn new() -> ThreadState {
        ThreadState {
            current: VariableScope::root(),
            counts: HashMap::new(),
            name_stack: String::new(),
            frames: Vec::new(),
            orphans: Vec::new(),
            trainable_created: Vec::new(),
        }
    }

    fn pop_frame(&mut self, f: Frame) {
        match f.kind {
            FrameKind::Var { prev, counts, .. } => {
                match counts {
                    CountsOnExit::ZeroUnder(prefix) => {
                        for (k, v) in self.counts.iter_mut() {
                            if k.starts_with(&prefix) {
                                *v = 0;
                            }
                        }
                    }
                    CountsOnExit::Restore(map) => self.counts = map,
                }
                self.current = prev;
            }
            FrameKind::Name { prev_stack } => self.name_stack = prev_stack,
        }
    }
}

/// Frames pushed by one guard, innermost last.
pub(crate) struct FrameSet {
    graph: Graph,
    ids: Vec<u64>,
}

impl FrameSet {
    /// Leaves the frames, or reports improper nesting (they are then left as soon as
    /// the frames above them are).
    fn close(&mut self) -> Result<()> {
        if self.pop_or_orphan() {
            Ok(())
        } else {
            Err(Error::ImproperNesting)
        }
    }

    /// What a guard's `Drop` does: leave the frames, panicking on improper nesting
    /// unless the thread is already unwinding.
    fn leave_on_drop(&mut self, what: &str) {
        if !self.pop() && !std::thread::panicking() {
            panic!("Improper nesting of {what}: guards dropped out of order");
        }
    }

    /// Pops the frames if they are on top, in order. Returns false (changing nothing)
    /// when they are not: improper nesting.
    fn pop(&mut self) -> bool {
        let ids = std::mem::take(&mut self.ids);
        if ids.is_empty() {
            return true;
        }
        let ok = self.graph.with_thread_state(|s| {
            let n = ids.len();
            if s.frames.len() < n {
                return false;
            }
            let top = &s.frames[s.frames.len() - n..];
            if !top.iter().zip(&ids).all(|(f, id)| f.id == *id) {
                return false;
            }
            for _ in 0..n {
                let f = s.frames.pop().expect("length checked");
                s.pop_frame(f);
            }
            // Frames closed out of order earlier are left now that they are on top.
            while let Some(pos) = s
                .frames
                .last()
                .and_then(|f| s.orphans.iter().position(|&o| o == f.id))
            {
                s.orphans.swap_remove(pos);
                let f = s.frames.pop().expect("checked above");
                s.pop_frame(f);
            }
            true
        });
        if !ok {
            self.ids = ids;
        }
        ok
    }

    /// As [`pop`](FrameSet::pop), but when the frames are not on top they are marked
    /// to be popped as soon as they are (so the guard can be released without leaving
    /// the thread's scope stack stuck). Returns whether they were popped now.
    fn pop_or_orphan(&mut self) -> bool {
        if self.pop() {
            return true;
        }
        let ids = std::mem::take(&mut self.ids);
        self.graph.with_thread_state(|s| s.orphans.extend(ids));
        false
    }
}

fn push_frame(graph: &Graph, kind: FrameKind) -> u64 {
    let id = sync::next_id();
    graph.with_thread_state(|s| s.frames.push(Frame { id, kind }));
    id
}

/// Enters a name scope on `graph` for the calling thread; returns the string the
/// scope yields and the frame id.
fn enter_name_scope(graph: &Graph, name: &str) -> Result<(String, u64)> {
    let stack = graph.name_stack();
    names::validate(name, stack.is_empty())?;
    let (new_stack, yielded) = if name.is_empty() {
        (String::new(), String::new())
    } else if let Some(abs) = name.strip_suffix('/') {
        (abs.to_string(), name.to_string())
    } else {
        let unique = graph.unique_name(name, true);
        let y = format!("{unique}/");
        (unique, y)
    };
    let id = sync::next_id();
    graph.with_thread_state(|s| {
        let prev_stack = std::mem::replace(&mut s.name_stack, new_stack);
        s.frames.push(Frame {
            id,
            kind: FrameKind::Name { prev_stack },
        });
    });
    Ok((yielded, id))
}

/// Re-enters the current name scope unchanged (`auxiliary_name_scope = false`).
fn reenter_current_name_scope(graph: &Graph) -> (String, u64) {
    let stack = graph.name_stack();
    let yielded = if stack.is_empty() {
        String::new()
    } else {
        format!("{stack}/")
    };
    let id = push_frame(
        graph,
        FrameKind::Name {
            prev_stack: stack.clone(),
        },
    );
    (yielded, id)
}

/// Runs `f` inside name scope `name` of the current graph, passing the string the
/// scope yields (`"outer/inner/"`, or `""` at root).
///
/// `name` is relative and uniquified (`"s"` → `s/`, then `s_1/`), absolute when it
/// ends in `/` (re-entered verbatim), or `""` for the root.
///
/// # Errors
/// [`Error::InvalidName`] when `name` is not a valid scope name.
///
/// ```
/// use varscope::{name_scope, Graph};
/// Graph::new().as_default(|| {
///     assert_eq!(name_scope("s", |ns| ns.to_string()).unwrap(), "s/");
///     assert_eq!(name_scope("s", |ns| ns.to_string()).unwrap(), "s_1/");
///     assert_eq!(name_scope("s/", |ns| ns.to_string()).unwrap(), "s/");
/// });
/// ```
pub fn name_scope<R>(name: &str, f: impl FnOnce(&str) -> R) -> Result<R> {
    let g = name_scope_guard(name)?;
    let out = f(g.name());
    g.close()?;
    Ok(out)
}

/// As [`name_scope`], with the closure's error flattened into the result.
///
/// # Errors
/// [`Error::InvalidName`] when `name` is not a valid scope name, or the closure's error.
pub fn try_name_scope<R>(name: &str, f: impl FnOnce(&str) -> Result<R>) -> Result<R> {
    name_scope(name, f)?
}

/// Enters name scope `name` until the guard is dropped (see [`name_scope`]).
///
/// # Errors
/// [`Error::InvalidName`] when `name` is not a valid scope name.
pub fn name_scope_guard(name: &str) -> Result<NameScopeGuard> {
    let graph = Graph::current();
    let (yielded, id) = enter_name_scope(&graph, name)?;
    Ok(NameScopeGuard {
        name: yielded,
        frames: FrameSet {
            graph,
            ids: vec![id],
        },
        _not_send: PhantomData,
    })
}

/// Guard of a name scope; restores the previous name scope when dropped.
///
/// # Panics
/// Dropping guards out of order panics (unless the thread is already panicking);
/// use [`close`](NameScopeGuard::close) to get an error instead.
#[must_use = "the name scope is left when the guard is dropped"]
pub struct NameScopeGuard {
    name: String,
    frames: FrameSet,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for NameScopeGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NameScopeGuard")
            .field("name", &self.name)
            .finish()
    }
}

impl NameScopeGuard {
    /// The string the scope yields (`"outer/"`, or `""` at root).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Leaves the scope.
    ///
    /// # Errors
    /// [`Error::ImproperNesting`] if an inner scope is still open. The scope then stays
    /// in effect until the inner scopes are left, and is left right after them.
    pub fn close(mut self) -> Result<()> {
        self.frames.close()
    }
}

impl Drop for NameScopeGuard {
    fn drop(&mut self) {
        self.frames.leave_on_drop("name_scope");
    }
}

/// What a [`variable_scope`] call opens: a name, a captured scope, or nothing (then
/// a default name must be given, see [`variable_scope_default`]).
#[derive(Debug, Clone)]
pub enum ScopeTarget {
    /// A scope name relative to the current variable scope.
    Name(String),
    /// A captured scope, re-entered ("jump": its name replaces the current prefix).
    Scope(VariableScope),
    /// No name: the default name is uniquified (`bar`, `bar_1`, …).
    None,
}

impl From<&str> for ScopeTarget {
    fn from(s: &str) -> Self {
        ScopeTarget::Name(s.to_string())
    }
}
impl From<String> for ScopeTarget {
    fn from(s: String) -> Self {
        ScopeTarget::Name(s)
    }
}
impl From<&String> for ScopeTarget {
    fn from(s: &String) -> Self {
        ScopeTarget::Name(s.clone())
    }
}
impl From<&VariableScope> for ScopeTarget {
    fn from(s: &VariableScope) -> Self {
        ScopeTarget::Scope(s.clone())
    }
}
impl From<VariableScope> for ScopeTarget {
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
///     let a = variable_scope("foo").enter(|_| get_variable("v").shape([1]).build()).unwrap().unwrap();
///     let b = variable_scope("foo").reuse(Reuse::Yes)
///         .enter(|_| get_variable("v").shape([1]).build()).unwrap().unwrap();
///     assert_eq!(a, b);
///     assert_eq!(a.name(), "foo/v:0");
/// });
/// ```
pub fn variable_scope(target: impl Into<ScopeTarget>) -> VariableScopeBuilder {
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
pub fn variable_scope_default(default_name: &str) -> VariableScopeBuilder {
    VariableScopeBuilder::new(ScopeTarget::None).default_name(default_name)
}

/// Returns the calling thread's current variable scope in the default graph
/// (TF's `get_variable_scope()`).
pub fn get_variable_scope() -> VariableScope {
    Graph::current().with_thread_state(|s| s.current.clone())
}

/// Configuration of a variable scope to enter. See [`variable_scope`].
#[must_use = "a scope builder does nothing until entered"]
#[derive(Clone)]
pub struct VariableScopeBuilder {
    target: ScopeTarget,
    default_name: Option<String>,
    reuse: Reuse,
    initializer: Option<Init>,
    regularizer: Option<Regularizer>,
    caching_device: Option<String>,
    partitioner: Option<std::sync::Arc<dyn Partitioner>>,
    custom_getter: Option<CustomGetter>,
    dtype: Option<DType>,
    use_resource: Option<bool>,
    constraint: Option<Constraint>,
    auxiliary_name_scope: bool,
    graph: Option<Graph>,
}

impl fmt::Debug for VariableScopeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VariableScopeBuilder")
            .field("target", &self.target)
            .field("default_name", &self.default_name)
            .field("reuse", &self.reuse)
            .field("auxiliary_name_scope", &self.auxiliary_name_scope)
            .finish_non_exhaustive()
    }
}

impl VariableScopeBuilder {
    fn new(target: ScopeTarget) -> Self {
        VariableScopeBuilder {
            target,
            default_name: None,
            reuse: Reuse::No,
            initializer: None,
            regularizer: None,
            caching_device: None,
            partitioner: None,
            custom_getter: None,
            dtype: None,
            use_resource: None,
            constraint: None,
            auxiliary_name_scope: true,
            graph: None,
        }
    }

    /// The default name, used only when no name or scope is given.
    pub fn default_name(mut self, name: &str) -> Self {
        self.default_name = Some(name.to_string());
        self
    }
    /// Reuse mode; `No` inherits (reuse cannot be switched off).
    pub fn reuse(mut self, reuse: Reuse) -> Self {
        self.reuse = reuse;
        self
    }
    /// Default initializer for variables in the scope.
    pub fn initializer(mut self, init: Init) -> Self {
        self.initializer = Some(init);
        self
    }
    /// Default regularizer.
    pub fn regularizer(mut self, r: Regularizer) -> Self {
        self.regularizer = Some(r);
        self
    }
    /// Default caching device (`""` disables an inherited one).
    pub fn caching_device(mut self, d: &str) -> Self {
        self.caching_device = Some(d.to_string());
        self
    }
    /// Default partitioner.
    pub fn partitioner(mut self, p: impl Partitioner + 'static) -> Self {
        self.partitioner = Some(std::sync::Arc::new(p));
        self
    }
    /// Default partitioner, shared.
    pub fn partitioner_arc(mut self, p: std::sync::Arc<dyn Partitioner>) -> Self {
        self.partitioner = Some(p);
        self
    }
    /// A custom getter, composed with the inherited ones (this one runs first).
    pub fn custom_getter(mut self, g: CustomGetter) -> Self {
        self.custom_getter = Some(g);
        self
    }
    /// Default dtype.
    pub fn dtype(mut self, d: DType) -> Self {
        self.dtype = Some(d);
        self
    }
    /// The `use_resource` flag.
    pub fn use_resource(mut self, u: bool) -> Self {
        self.use_resource = Some(u);
        self
    }
    /// Constraint for variables created directly in this scope (not inherited).
    pub fn constraint(mut self, c: Constraint) -> Self {
        self.constraint = Some(c);
        self
    }
    /// Whether to open a name scope too (default `true`).
    pub fn auxiliary_name_scope(mut self, aux: bool) -> Self {
        self.auxiliary_name_scope = aux;
        self
    }
    /// Enters the scope in `graph` instead of the thread's default graph (the graph
    /// is also made the default inside).
    pub fn graph(mut self, graph: &Graph) -> Self {
        self.graph = Some(graph.clone());
        self
    }

    /// Enters the scope, runs `f` with it, and leaves it.
    ///
    /// # Errors
    /// [`Error::InvalidName`] for an invalid name, [`Error::InvalidReuse`] for a reuse
    /// mode with a default name, [`Error::InvalidArgument`] when neither a name nor a
    /// default name is given. The closure's own result is returned inside `Ok`.
    pub fn enter<R>(self, f: impl FnOnce(&VariableScope) -> R) -> Result<R> {
        let guard = self.guard()?;
        let out = f(guard.scope());
        guard.close()?;
        Ok(out)
    }

    /// Enters the scope, runs the fallible `f` with it, and leaves it: as
    /// [`enter`](VariableScopeBuilder::enter), with the closure's error flattened into
    /// the result.
    ///
    /// # Errors
    /// The errors of [`enter`](VariableScopeBuilder::enter), or the closure's error.
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, Graph};
    /// let v = Graph::new().as_default(|| {
    ///     variable_scope("a").try_enter(|_| get_variable("v").shape([2]).build())
    /// }).unwrap();
    /// assert_eq!(v.name(), "a/v:0");
    /// ```
    pub fn try_enter<R>(self, f: impl FnOnce(&VariableScope) -> Result<R>) -> Result<R> {
        self.enter(f)?
    }

    /// Enters the scope until the returned guard is dropped.
    ///
    /// # Errors
    /// As [`enter`](VariableScopeBuilder::enter).
    pub fn guard(self) -> Result<VariableScopeGuard> {
        let graph = self.graph.clone().unwrap_or_else(Graph::current);
        let graph_guard = self.graph.as_ref().map(Graph::as_default_guard);
        let mut frames = FrameSet {
            graph: graph.clone(),
            ids: Vec::new(),
        };
        match self.open(&graph, &mut frames) {
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

    fn open(self, graph: &Graph, frames: &mut FrameSet) -> Result<VariableScope> {
        let aux = self.auxiliary_name_scope;
        match self.target.clone() {
            ScopeTarget::Name(ref s) => {
                let old_ns = if !s.is_empty() || !aux {
                    let (y, id) = if aux {
                        enter_name_scope(graph, s)?
                    } else {
                        reenter_current_name_scope(graph)
                    };
                    frames.ids.push(id);
                    Some(y)
                } else {
                    None
                };
                let opts = self.options();
                let scope = enter_pure_named(graph, s, old_ns, opts, frames);
                Ok(scope)
            }
            ScopeTarget::Scope(ref captured) => {
                let last = captured
                    .name()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                if !last.is_empty() || !aux {
                    let (_, id) = if aux {
                        enter_name_scope(graph, &last)?
                    } else {
                        reenter_current_name_scope(graph)
                    };
                    frames.ids.push(id);
                }
                let opts = self.options();
                Ok(enter_pure_captured(graph, captured, opts, frames))
            }
            ScopeTarget::None => {
                let Some(default_name) = self.default_name.clone() else {
                    return Err(Error::invalid_arg(
                        "If default_name is None then name_or_scope is required",
                    ));
                };
                if self.reuse != Reuse::No {
                    return Err(Error::InvalidReuse {
                        message: "reuse=True cannot be used without a name_or_scope".into(),
                    });
                }
                let (y, id) = if aux {
                    enter_name_scope(graph, &default_name)?
                } else {
                    reenter_current_name_scope(graph)
                };
                frames.ids.push(id);
                let unique = unique_variable_scope(graph, &default_name);
                let opts = self.options();
                Ok(enter_pure_named(graph, &unique, Some(y), opts, frames))
            }
        }
    }

    fn options(&self) -> PureOptions {
        PureOptions {
            reuse: self.reuse,
            initializer: self.initializer.clone(),
            regularizer: self.regularizer.clone(),
            caching_device: self.caching_device.clone(),
            partitioner: self.partitioner.clone(),
            custom_getter: self.custom_getter.clone(),
            dtype: self.dtype,
            use_resource: self.use_resource,
            constraint: self.constraint.clone(),
        }
    }
}

/// Arguments of TF's `_pure_variable_scope`.
#[derive(Default)]
pub(crate) struct PureOptions {
    pub(crate) reuse: Reuse,
    pub(crate) initializer: Option<Init>,
    pub(crate) regularizer: Option<Regularizer>,
    pub(crate) caching_device: Option<String>,
    pub(crate) partitioner: Option<std::sync::Arc<dyn Partitioner>>,
    pub(crate) custom_getter: Option<CustomGetter>,
    pub(crate) dtype: Option<DType>,
    pub(crate) use_resource: Option<bool>,
    pub(crate) constraint: Option<Constraint>,
}

fn apply_options(base: &ScopeFields, opts: PureOptions) -> ScopeFields {
    let mut f = base.clone();
    if let Some(i) = opts.initializer {
        f.initializer = Some(i);
    }
    if let Some(r) = opts.regularizer {
        f.regularizer = Some(r);
    }
    if let Some(d) = opts.caching_device {
        f.caching_device = Some(d);
    }
    if let Some(p) = opts.partitioner {
        f.partitioner = Some(p);
    }
    if let Some(d) = opts.dtype {
        f.dtype = d;
    }
    if let Some(u) = opts.use_resource {
        f.use_resource = Some(u);
    }
    if let Some(g) = opts.custom_getter {
        f.custom_getters.insert(0, g);
    }
    f.constraint = opts.constraint;
    f
}

/// TF's `_pure_variable_scope` entered with a string.
pub(crate) fn enter_pure_named(
    graph: &Graph,
    s: &str,
    old_name_scope: Option<String>,
    opts: PureOptions,
    frames: &mut FrameSet,
) -> VariableScope {
    let id = sync::next_id();
    graph.with_thread_state(|st| {
        let parent = st.current.fields();
        let new_name = names::join(&parent.name, s);
        let reuse = opts.reuse.or(parent.reuse);
        let mut fields = apply_options(&parent, opts);
        fields.name = new_name.clone();
        fields.reuse = reuse;
        fields.original_name_scope = old_name_scope.unwrap_or_else(|| s.to_string());
        let scope = VariableScope::from_fields(fields);
        *st.counts.entry(new_name.clone()).or_insert(0) += 1;
        let prev = std::mem::replace(&mut st.current, scope.clone());
        st.frames.push(Frame {
            id,
            kind: FrameKind::Var {
                prev,
                counts: CountsOnExit::ZeroUnder(format!("{new_name}/")),
            },
        });
        frames.ids.push(id);
        scope
    })
}

/// TF's `_pure_variable_scope` entered with a captured scope object (a jump).
pub(crate) fn enter_pure_captured(
    graph: &Graph,
    captured: &VariableScope,
    opts: PureOptions,
    frames: &mut FrameSet,
) -> VariableScope {
    let base = captured.fields();
    let id = sync::next_id();
    graph.with_thread_state(|st| {
        let reuse = opts.reuse.or(base.reuse);
        let mut fields = apply_options(&base, opts);
        fields.reuse = reuse;
        let scope = VariableScope::from_fields(fields);
        *st.counts.entry(base.name.clone()).or_insert(0) += 1;
        let snapshot = st.counts.clone();
        let prev = std::mem::replace(&mut st.current, scope.clone());
        st.frames.push(Frame {
            id,
            kind: FrameKind::Var {
                prev,
                counts: CountsOnExit::Restore(snapshot),
            },
        });
        frames.ids.push(id);
        scope
    })
}

/// TF's `_get_unique_variable_scope(prefix)`: the relative name to use for a default
/// name, filling holes (`blk`, `blk_1`, `blk_2`, `blk_4` after an explicit `blk_3`).
pub(crate) fn unique_variable_scope(graph: &Graph, prefix: &str) -> String {
    graph.with_thread_state(|st| {
        let base = names::join(&st.current.name(), prefix);
        let count = |k: &str| st.counts.get(k).copied().unwrap_or(0);
        if count(&base) == 0 {
            return prefix.to_string();
        }
        let mut i = 1;
        while count(&format!("{base}_{i}")) != 0 {
            i += 1;
        }
        format!("{prefix}_{i}")
    })
}

/// An open variable scope; leaves it (and its name scope) when dropped.
///
/// # Panics
/// Dropping guards out of order panics (unless the thread is already panicking);
/// use [`close`](VariableScopeGuard::close) to get [`Error::ImproperNesting`] instead.
#[must_use = "the variable scope is left when the guard is dropped"]
pub struct VariableScopeGuard {
    scope: VariableScope,
    frames: FrameSet,
    _graph_guard: Option<crate::graph::DefaultGraphGuard>,
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
    pub fn scope(&self) -> &VariableScope {
        &self.scope
    }

    /// Leaves the scope.
    ///
    /// # Errors
    /// [`Error::ImproperNesting`] if an inner scope is still open (TF's
    /// `RuntimeError("Improper nesting of variable_scope.")`). The scope then stays in
    /// effect until the inner scopes are left, and is left right after them.
    pub fn close(mut self) -> Result<()> {
        self.frames.close()
    }
}

impl Drop for VariableScopeGuard {
    fn drop(&mut self) {
        self.frames.leave_on_drop("variable_scope");
    }
}

/// An empty frame set for crate-internal scope entries (templates' pure scopes).
pub(crate) fn pure_scope_frames(graph: &Graph) -> FrameSetHandle {
    FrameSetHandle(FrameSet {
        graph: graph.clone(),
        ids: Vec::new(),
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
