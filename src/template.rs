//! Templates (`make_template`): functions whose variables are created on the first
//! call and shared by every later call.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::getter::CustomGetter;
use crate::graph::{Graph, GLOBAL_VARIABLES, LOCAL_VARIABLES, TRAINABLE_VARIABLES};
use crate::scope::{
    enter_pure_named, pure_scope_frames, unique_variable_scope, variable_scope,
    variable_scope_default, PureOptions, Reuse, VariableScope,
};
use crate::sync::{self, Arc, Condvar, Mutex};
use crate::variable::Variable;
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
    pub fn create_scope_now(mut self, now: bool) -> Self {
        self.create_scope_now = now;
        self
    }
    /// Uses this scope name verbatim instead of uniquifying the template name.
    pub fn unique_name(mut self, name: &str) -> Self {
        self.unique_name = Some(name.to_string());
        self
    }
    /// A custom getter applied on every call.
    pub fn custom_getter(mut self, g: CustomGetter) -> Self {
        self.custom_getter = Some(g);
        self
    }

    /// Makes the template in the current graph.
    ///
    /// # Errors
    /// None today; reserved for name validation.
    pub fn build(self) -> Result<Template<R>> {
        let graph = Graph::current();
        let mut scope = None;
        if self.create_scope_now {
            let s = match &self.unique_name {
                Some(u) => u.clone(),
                None => unique_variable_scope(&graph, &self.name),
            };
            let mut frames = pure_scope_frames(&graph);
            let opts = PureOptions {
                custom_getter: self.custom_getter.clone(),
                dtype: Some(DType::F32),
                ..PureOptions::default()
            };
            scope = Some(enter_pure_named(&graph, &s, None, opts, frames.frames()));
            frames.close()?;
        }
        Ok(Template(Arc::new(TemplateInner {
            name: self.name,
            unique_name: self.unique_name,
            custom_getter: self.custom_getter,
            func: self.func,
            graph,
            state: Mutex::new(TplState {
                scope,
                phase: Phase::Fresh,
            }),
            cv: Condvar::new(),
        })))
    }
}

enum Phase {
    Fresh,
    FirstCall(sync::thread::ThreadId),
    Created,
}

struct TplState {
    scope: Option<VariableScope>,
    phase: Phase,
}

struct TemplateInner<R> {
    name: String,
    unique_name: Option<String>,
    custom_getter: Option<CustomGetter>,
    func: std::sync::Arc<TemplateFn<R>>,
    graph: Graph,
    state: Mutex<TplState>,
    cv: Condvar,
}

/// A function whose variables are shared across calls. Cheap to clone; callable from
/// any thread: concurrent first calls are serialized (later callers wait for the
/// first call to finish and then reuse its variables).
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
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The captured variable scope (`None` before the first call unless created
    /// with `create_scope_now`).
    pub fn variable_scope(&self) -> Option<VariableScope> {
        self.0.state.lock().scope.clone()
    }

    /// The scope name with a trailing slash (TF's `variable_scope_name`).
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
        if !matches!(self.0.state.lock().phase, Phase::Created) {
            return Vec::new();
        }
        match self.variable_scope_name() {
            Some(prefix) => self.0.graph.get_collection_scoped(key, &prefix),
            None => Vec::new(),
        }
    }

    /// Global variables under the template's scope (empty before the first call).
    pub fn global_variables(&self) -> Vec<Variable> {
        self.collection(GLOBAL_VARIABLES)
    }
    /// Trainable variables under the template's scope.
    pub fn trainable_variables(&self) -> Vec<Variable> {
        self.collection(TRAINABLE_VARIABLES)
    }
    /// Local variables under the template's scope.
    pub fn local_variables(&self) -> Vec<Variable> {
        self.collection(LOCAL_VARIABLES)
    }
    /// Global and local variables.
    pub fn variables(&self) -> Vec<Variable> {
        let mut v = self.global_variables();
        v.extend(self.local_variables());
        v
    }

    /// Calls the function: the first call creates variables, later calls reuse them.
    ///
    /// # Errors
    /// The function's error; [`Error::TemplateVariable`] when a later call creates a
    /// trainable variable. A failed first call leaves the template uncalled, so the
    /// next call is a first call again (TF's behaviour).
    pub fn call(&self) -> Result<R> {
        let inner = &self.0;
        let me = sync::current_thread_id();
        let mut st = inner.state.lock();
        let first = loop {
            match st.phase {
                Phase::Fresh => {
                    st.phase = Phase::FirstCall(me);
                    break true;
                }
                Phase::Created => break false,
                Phase::FirstCall(owner) if owner == me => {
                    // A recursive call during the first call: reuse what exists.
                    let scope = st.scope.clone();
                    drop(st);
                    return match scope {
                        Some(s) => variable_scope(&s)
                            .reuse(Reuse::Yes)
                            .graph(&inner.graph)
                            .enter(|_| (inner.func)())?,
                        None => (inner.func)(),
                    };
                }
                Phase::FirstCall(_) => st = inner.cv.wait(st),
            }
        };
        let scope = st.scope.clone();
        drop(st);
        if first {
            self.first_call(scope)
        } else {
            self.later_call(scope.expect("a created template has a scope"))
        }
    }

    fn first_call(&self, scope: Option<VariableScope>) -> Result<R> {
        let inner = &self.0;
        let run = || -> Result<R> {
            match scope {
                Some(s) => variable_scope(&s)
                    .graph(&inner.graph)
                    .enter(|_| (inner.func)())?,
                None => {
                    let mut b = match &inner.unique_name {
                        Some(u) => variable_scope(u.as_str()),
                        None => variable_scope_default(&inner.name),
                    };
                    if let Some(g) = &inner.custom_getter {
                        b = b.custom_getter(g.clone());
                    }
                    b.graph(&inner.graph).enter(|s| {
                        inner.state.lock().scope = Some(s.clone());
                        (inner.func)()
                    })?
                }
            }
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run));
        let mut st = inner.state.lock();
        st.phase = match &result {
            Ok(Ok(_)) => Phase::Created,
            _ => Phase::Fresh,
        };
        drop(st);
        inner.cv.notify_all();
        match result {
            Ok(r) => r,
            Err(p) => std::panic::resume_unwind(p),
        }
    }

    fn later_call(&self, scope: VariableScope) -> Result<R> {
        let inner = &self.0;
        let before = inner.graph.with_thread_state(|s| s.trainable_created.len());
        let out = variable_scope(&scope)
            .reuse(Reuse::Yes)
            .graph(&inner.graph)
            .enter(|_| (inner.func)())?;
        let new: Vec<String> = inner
            .graph
            .with_thread_state(|s| s.trainable_created[before..].to_vec());
        if !new.is_empty() {
            return Err(Error::TemplateVariable {
                template: inner.name.clone(),
                names: new,
            });
        }
        out
    }
}
