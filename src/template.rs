//! Templates (`make_template`): functions whose variables are created on the first
//! call and shared by every later call.
//!
//! The first call goes through the same init-once [`Slot`] as a variable's creation:
//! concurrent first calls are serialized (one runs, the others wait and then reuse
//! its variables), a failing or panicking first call leaves the template uncalled,
//! and a first call that calls the template again on the same thread is
//! [`Error::Reentrant`] instead of a deadlock. First calls of templates that call
//! each other from two threads are a cycle of the slots' wait-for registry: the
//! call that would close it gets [`Error::Cycle`] instead of waiting. A panicking
//! function (first or later call) is [`Error::Panicked`].

use crate::dtype::DType;
use crate::error::{Callback, Error, Result};
use crate::graph::{Graph, GLOBAL_VARIABLES, LOCAL_VARIABLES, TRAINABLE_VARIABLES};
use crate::scope::defaults::ScopeDefaults;
use crate::scope::thread_state::{with_state, Recorder};
use crate::scope::variable_scope::{enter_pure_named, pure_scope_frames, unique_variable_scope};
use crate::scope::{variable_scope, variable_scope_default, CustomGetter, Reuse, VariableScope};
use crate::slot_map::Slot;
use crate::sync::{Arc, Mutex};
use crate::variable::{catch_callback, Variable};
use std::fmt;

/// Wraps `func` so that its variables are created on the first call and reused on
/// every later call (TF1's `tf.make_template`). Configure, then
/// [`build`](TemplateBuilder::build).
///
/// ```
/// use varscope::{get_variable, make_template, Graph};
/// Graph::with_seed(3).as_default(|| {
///     let dense = make_template("dense", || get_variable("w").shape([2, 2]).build()).build().unwrap();
///     let a = dense.call().unwrap();
///     let b = dense.call().unwrap();
///     assert_eq!(a, b);
///     assert_eq!(a.name(), "dense/w:0");
/// });
/// ```
pub fn make_template<R, F>(name: &str, func: F) -> TemplateBuilder<R>
where
    F: Fn() -> Result<R> + Send + Sync + 'static,
{
    TemplateBuilder {
        name: name.to_string(),
        func: std::sync::Arc::new(func),
        create_scope_now: false,
        unique_name: None,
        custom_getter: None,
    }
}

type TemplateFn<R> = dyn Fn() -> Result<R> + Send + Sync;

/// Configuration of a template; see [`make_template`].
///
/// ```
/// use varscope::{get_variable, make_template, Graph};
/// Graph::with_seed(1).as_default(|| {
///     let builder = make_template("head", || get_variable("w").shape([1]).build());
///     let t = builder.unique_name("my_head").build().unwrap();
///     assert_eq!(t.call().unwrap().name(), "my_head/w:0");
/// });
/// ```
#[must_use = "call build() to make the template"]
pub struct TemplateBuilder<R> {
    name: String,
    func: std::sync::Arc<TemplateFn<R>>,
    create_scope_now: bool,
    unique_name: Option<String>,
    custom_getter: Option<CustomGetter>,
}

impl<R> fmt::Debug for TemplateBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemplateBuilder")
            .field("name", &self.name)
            .field("create_scope_now", &self.create_scope_now)
            .field("unique_name", &self.unique_name)
            .finish_non_exhaustive()
    }
}

impl<R> TemplateBuilder<R> {
    /// Captures the variable scope now (TF's `create_scope_now_`) instead of at the
    /// first call.
    ///
    /// ```
    /// use varscope::{get_variable, make_template, variable_scope, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     // Captured here, in `model`, although first called elsewhere.
    ///     let t = variable_scope("model").enter(|_| {
    ///         make_template("head", || get_variable("w").shape([2]).build()).create_scope_now(true).build()
    ///     }).unwrap();
    ///     let w = variable_scope("elsewhere").enter(|_| t.call()).unwrap();
    ///     assert_eq!(w.name(), "model/head/w:0");
    /// });
    /// ```
    pub fn create_scope_now(mut self, now: bool) -> Self {
        self.create_scope_now = now;
        self
    }
    /// Uses this scope name verbatim instead of uniquifying the template name.
    ///
    /// ```
    /// use varscope::{get_variable, make_template, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     let a = make_template("head", || get_variable("w").shape([1]).build()).build().unwrap();
    ///     let b = make_template("head", || get_variable("w").shape([1]).build()).build().unwrap();
    ///     let c = make_template("head", || get_variable("w").shape([1]).build())
    ///         .unique_name("shared_head").build().unwrap();
    ///     assert_eq!(a.call().unwrap().name(), "head/w:0");
    ///     assert_eq!(b.call().unwrap().name(), "head_1/w:0");
    ///     assert_eq!(c.call().unwrap().name(), "shared_head/w:0");
    /// });
    /// ```
    pub fn unique_name(mut self, name: &str) -> Self {
        self.unique_name = Some(name.to_string());
        self
    }
    /// A custom getter applied on every call.
    ///
    /// ```
    /// use varscope::{get_variable, make_template, CustomGetter, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     let tag = CustomGetter::new(|next, mut args| {
    ///         args.name.push_str("_t");
    ///         next.get(args)
    ///     });
    ///     let t = make_template("m", || get_variable("w").shape([1]).build()).custom_getter(tag).build().unwrap();
    ///     assert_eq!(t.call().unwrap().name(), "m/w_t:0");
    ///     assert_eq!(t.call().unwrap().name(), "m/w_t:0"); // on every call
    /// });
    /// ```
    pub fn custom_getter(mut self, g: CustomGetter) -> Self {
        self.custom_getter = Some(g);
        self
    }

    /// Makes the template in the current graph.
    ///
    /// # Errors
    /// None today; reserved for name validation.
    ///
    /// ```
    /// use varscope::{get_variable, make_template, Graph};
    /// let g = Graph::with_seed(1);
    /// let t = g.as_default(|| make_template("m", || get_variable("w").shape([1]).build()).build()).unwrap();
    /// // The template keeps its graph: calling it elsewhere still creates there.
    /// let w = t.call().unwrap();
    /// assert_eq!(g.global_variables(), vec![w]);
    /// ```
    pub fn build(self) -> Result<Template<R>> {
        let graph = Graph::current();
        let mut scope = None;
        if self.create_scope_now {
            let s = match &self.unique_name {
                Some(u) => u.clone(),
                None => with_state(&graph, |st| unique_variable_scope(st, &self.name)),
            };
            // The same default graph, as the thread-local handle the frames hold.
            let mut frames = pure_scope_frames(Graph::current_local());
            let args = ScopeDefaults {
                custom_getters: self.custom_getter.iter().cloned().collect(),
                dtype: Some(DType::F32),
                ..ScopeDefaults::default()
            };
            let ids = &mut frames.frames().ids;
            scope = Some(with_state(&graph, |st| {
                enter_pure_named(st, &s, None, Reuse::No, Some(&args), ids)
            }));
            frames.close()?;
        }
        Ok(Template(Arc::new(TemplateInner {
            name: self.name,
            unique_name: self.unique_name,
            custom_getter: self.custom_getter,
            func: self.func,
            graph,
            scope: Mutex::new(scope),
            created: Slot::new(),
        })))
    }
}

struct TemplateInner<R> {
    name: String,
    unique_name: Option<String>,
    custom_getter: Option<CustomGetter>,
    func: std::sync::Arc<TemplateFn<R>>,
    graph: Graph,
    /// The template's scope: captured at build time (`create_scope_now`) or by the
    /// first call as soon as it has entered it.
    scope: Mutex<Option<VariableScope>>,
    /// Ready (with the scope) once a first call has succeeded.
    created: Slot<VariableScope>,
}

/// A function whose variables are shared across calls. Cheap to clone; callable from
/// any thread: concurrent first calls are serialized (later callers wait for the
/// first call to finish and then reuse its variables).
///
/// ```
/// use varscope::{get_variable, make_template, Graph};
/// Graph::with_seed(1).as_default(|| {
///     let t = make_template("shared", || get_variable("w").shape([2]).build()).build().unwrap();
///     let t2 = t.clone();
///     // Concurrent first calls: one creates, the other reuses.
///     let other = std::thread::spawn(move || t2.call().unwrap());
///     let here = t.call().unwrap();
///     assert_eq!(other.join().unwrap(), here);
/// });
/// ```
pub struct Template<R>(Arc<TemplateInner<R>>);

impl<R> Clone for Template<R> {
    fn clone(&self) -> Self {
        Template(self.0.clone())
    }
}

impl<R> fmt::Debug for Template<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("name", &self.0.name)
            .field("variable_scope", &self.variable_scope().map(|s| s.name()))
            .finish()
    }
}

impl<R> Template<R> {
    /// The template's name.
    ///
    /// ```
    /// use varscope::{get_variable, make_template, Graph};
    /// Graph::new().as_default(|| {
    ///     let t = make_template("dense", || get_variable("w").shape([1]).build()).build().unwrap();
    ///     assert_eq!(t.name(), "dense");
    /// });
    /// ```
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The captured variable scope (`None` before the first call unless created
    /// with `create_scope_now`).
    ///
    /// ```
    /// use varscope::{get_variable, make_template, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     let t = make_template("dense", || get_variable("w").shape([1]).build()).build().unwrap();
    ///     assert!(t.variable_scope().is_none()); // captured on the first call
    ///     t.call().unwrap();
    ///     assert_eq!(t.variable_scope().unwrap().name(), "dense");
    /// });
    /// ```
    pub fn variable_scope(&self) -> Option<VariableScope> {
        self.0.scope.lock().clone()
    }

    /// The scope name with a trailing slash (TF's `variable_scope_name`).
    ///
    /// ```
    /// use varscope::{get_variable, make_template, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     let t = make_template("dense", || get_variable("w").shape([1]).build())
    ///         .create_scope_now(true).build().unwrap();
    ///     assert_eq!(t.variable_scope_name().as_deref(), Some("dense/"));
    /// });
    /// ```
    pub fn variable_scope_name(&self) -> Option<String> {
        self.variable_scope().map(|s| {
            let n = s.name();
            if n.is_empty() || n.ends_with('/') {
                n
            } else {
                format!("{n}/")
            }
        })
    }

    fn collection(&self, key: &str) -> Vec<Variable> {
        if !self.0.created.is_ready() {
            return Vec::new();
        }
        match self.variable_scope_name() {
            Some(prefix) => self.0.graph.get_collection_scoped(key, &prefix),
            None => Vec::new(),
        }
    }

    /// Global variables under the template's scope (empty before the first call).
    ///
    /// ```
    /// use varscope::{get_variable, make_template, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     get_variable("outside").shape([1]).build().unwrap();
    ///     let t = make_template("m", || get_variable("w").shape([1]).build()).build().unwrap();
    ///     assert!(t.global_variables().is_empty()); // not called yet
    ///     let w = t.call().unwrap();
    ///     assert_eq!(t.global_variables(), vec![w]);
    /// });
    /// ```
    pub fn global_variables(&self) -> Vec<Variable> {
        self.collection(GLOBAL_VARIABLES)
    }
    /// Trainable variables under the template's scope.
    ///
    /// ```
    /// use varscope::{get_variable, make_template, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     let t = make_template("dense", || -> varscope::Result<()> {
    ///         get_variable("w").shape([2, 2]).build()?;
    ///         get_variable("steps").shape([1]).trainable(false).build()?;
    ///         Ok(())
    ///     }).build().unwrap();
    ///     t.call().unwrap();
    ///     t.call().unwrap();   // shares: nothing new
    ///     assert_eq!(t.trainable_variables().len(), 1);
    ///     assert_eq!(t.global_variables().len(), 2);
    /// });
    /// ```
    pub fn trainable_variables(&self) -> Vec<Variable> {
        self.collection(TRAINABLE_VARIABLES)
    }
    /// Local variables under the template's scope.
    ///
    /// ```
    /// use varscope::{get_local_variable, make_template, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     let t = make_template("m", || get_local_variable("count").shape([1]).build()).build().unwrap();
    ///     let c = t.call().unwrap();
    ///     assert_eq!(t.local_variables(), vec![c]);
    ///     assert!(t.global_variables().is_empty());
    /// });
    /// ```
    pub fn local_variables(&self) -> Vec<Variable> {
        self.collection(LOCAL_VARIABLES)
    }
    /// Global and local variables.
    ///
    /// ```
    /// use varscope::{get_local_variable, get_variable, make_template, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     let t = make_template("m", || -> varscope::Result<()> {
    ///         get_variable("w").shape([1]).build()?;
    ///         get_local_variable("count").shape([1]).build()?;
    ///         Ok(())
    ///     }).build().unwrap();
    ///     t.call().unwrap();
    ///     let names: Vec<_> = t.variables().iter().map(|v| v.name()).collect();
    ///     assert_eq!(names, ["m/w:0", "m/count:0"]);
    /// });
    /// ```
    pub fn variables(&self) -> Vec<Variable> {
        let mut v = self.global_variables();
        v.extend(self.local_variables());
        v
    }

    /// Calls the function: the first call creates variables, later calls reuse them.
    ///
    /// Callable from any thread. Concurrent first calls are serialized: one runs, the
    /// others wait for it and then call as later calls.
    ///
    /// # Errors
    /// The function's error; [`Error::TemplateVariable`] when a later call creates a
    /// trainable variable; [`Error::Panicked`] when the function panicked (first or
    /// later call); [`Error::Reentrant`] when the function calls its own template during
    /// the first call; [`Error::Cycle`] when the first call waits for another
    /// thread's first call (of this or another template, or a variable's creation)
    /// that waits for this one. A failed or panicking first call leaves the template uncalled,
    /// so the next call is a first call again (TF's behaviour).
    ///
    /// ```
    /// use varscope::{get_variable, make_template, Graph};
    /// let g = Graph::with_seed(1);
    /// let dense = g.as_default(|| {
    ///     make_template("dense", || get_variable("w").shape([2]).build()).build()
    /// }).unwrap();
    /// // Two threads race for the first call: one creates, the other reuses.
    /// let handles: Vec<_> = (0..2).map(|_| {
    ///     let (g, dense) = (g.clone(), dense.clone());
    ///     std::thread::spawn(move || g.as_default(|| dense.call()))
    /// }).collect();
    /// let vars: Vec<_> = handles.into_iter().map(|h| h.join().unwrap().unwrap()).collect();
    /// assert_eq!(vars[0], vars[1]);
    /// assert_eq!(vars[0].name(), "dense/w:0");
    /// ```
    pub fn call(&self) -> Result<R> {
        let inner = &self.0;
        if let Some(scope) = inner.created.get() {
            return self.later_call(scope);
        }
        let mut first = None;
        let (scope, created_now) = inner.created.get_or_init(&inner.name, || {
            let (scope, out) = self.first_call()?;
            first = Some(out);
            Ok(scope)
        })?;
        match first {
            Some(out) if created_now => Ok(out),
            _ => self.later_call(scope),
        }
    }

    /// The first call: enters the template's scope (captured, or a new one from its
    /// name), runs the function, and returns the scope with the result.
    fn first_call(&self) -> Result<(VariableScope, R)> {
        let inner = &self.0;
        let captured = inner.scope.lock().clone();
        match captured {
            Some(s) => {
                let out = variable_scope(&s)
                    .graph(&inner.graph)
                    .enter(|_| self.run_func())?;
                Ok((s, out))
            }
            None => {
                let mut b = match &inner.unique_name {
                    Some(u) => variable_scope(u.as_str()),
                    None => variable_scope_default(&inner.name),
                };
                if let Some(g) = &inner.custom_getter {
                    b = b.custom_getter(g.clone());
                }
                let (s, out) = b.graph(&inner.graph).enter(|s| {
                    *inner.scope.lock() = Some(s.clone());
                    (s.clone(), self.run_func())
                })?;
                Ok((s, out?))
            }
        }
    }

    /// Runs the function, a panic becoming [`Error::Panicked`] (caught inside the
    /// template's scope, which is then left normally).
    fn run_func(&self) -> Result<R> {
        catch_callback(Callback::Template, &self.0.name, || (self.0.func)())?
    }

    fn later_call(&self, scope: VariableScope) -> Result<R> {
        let inner = &self.0;
        let recorder = Recorder::default();
        // Watches this call's creations until dropped (also when the function panics).
        struct Watch<'g>(&'g Graph, Recorder);
        impl Drop for Watch<'_> {
            fn drop(&mut self) {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    with_state(self.0, |s| {
                        if let Some(i) = s
                            .recorders
                            .iter()
                            .rposition(|r| std::sync::Arc::ptr_eq(&r.0, &self.1 .0))
                        {
                            s.recorders.remove(i);
                        }
                    })
                }));
            }
        }
        with_state(&inner.graph, |s| s.recorders.push(recorder.clone()));
        let watch = Watch(&inner.graph, recorder.clone());
        let out = variable_scope(&scope)
            .reuse(Reuse::Yes)
            .graph(&inner.graph)
            .enter(|_| self.run_func());
        drop(watch);
        let new = std::mem::take(&mut *recorder.0.lock());
        let out = out?;
        if !new.is_empty() {
            return Err(Error::TemplateVariable {
                template: inner.name.clone(),
                names: new,
            });
        }
        Ok(out)
    }
}
