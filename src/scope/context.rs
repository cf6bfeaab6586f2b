//! [`Context`]: the calling thread's scoping context as a value, to carry onto other
//! threads — rayon tasks, spawned threads, worker pools.

use crate::graph::Graph;
use crate::scope::object::VariableScope;
use crate::scope::thread_state::{with_state, Recorder, SharedName};
use std::fmt;

/// The scoping context of the calling thread — its default graph, current variable
/// scope, current name scope, and the template call in progress — captured as a
/// value that can be sent to other threads and run there.
///
/// In TF1 (and in varscope) every thread starts at the root scope of the
/// process-wide default graph, so work handed to another thread silently leaves the
/// scope it was written in: a `rayon` `par_iter` inside `variable_scope("outer")`
/// builds `v0:0` in the process default graph, not `outer/v0:0` in yours. Capture
/// the context where the work is written and run the work inside it:
///
/// ```
/// use rayon::prelude::*;
/// use varscope::{get_variable, variable_scope, Context, Graph, Result, Variable};
///
/// let graph = Graph::with_seed(1);
/// let _g = graph.as_default_guard();
/// let _s = variable_scope("outer").guard().unwrap();
/// let ctx = Context::capture();
/// let vars: Vec<Variable> = (0..16)
///     .into_par_iter()
///     .map(|i| ctx.run(|| get_variable(&format!("v{i}")).shape([2]).build()))
///     .collect::<Result<_>>()
///     .unwrap();
/// assert_eq!(vars[3].name(), "outer/v3:0");
/// assert_eq!(graph.global_variables().len(), 16);
/// ```
///
/// [`run`](Context::run) starts from fresh per-thread state for the graph — the
/// captured variable scope and name scope, empty default-name counters, as a new
/// thread inside that scope would have — and restores the thread's own state
/// afterwards, also when the closure panics. Variables created through a context
/// captured inside a [`Template`](crate::Template) call count for that call's "no new
/// trainable variable" check, whichever thread creates them.
#[derive(Clone)]
pub struct Context {
    graph: Graph,
    scope: VariableScope,
    name_stack: SharedName,
    recorders: Vec<Recorder>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("graph", &self.graph.id())
            .field("variable_scope", &self.scope.name_str())
            .field("name_scope", &self.name_stack)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// The calling thread's context: its default graph, variable scope, name scope
    /// and the template calls in progress.
    ///
    /// ```
    /// use varscope::{name_scope, variable_scope, Context, Graph};
    /// let g = Graph::new();
    /// let ctx = g.as_default(|| variable_scope("a").enter(|_| name_scope("b", |_| Context::capture()))).unwrap();
    /// assert_eq!(ctx.graph(), &g);
    /// assert_eq!(ctx.variable_scope().name(), "a");
    /// assert_eq!(ctx.name_scope(), "a/b");
    /// ```
    pub fn capture() -> Context {
        let graph = Graph::current();
        with_state(&graph, |s| Context {
            scope: s.current.clone(),
            name_stack: s.name_stack.clone(),
            recorders: s.recorders.clone(),
            graph: graph.clone(),
        })
    }

    /// The root context of `graph`: what a new thread with `graph` as its default
    /// graph has.
    pub(crate) fn root(graph: &Graph) -> Context {
        Context {
            graph: graph.clone(),
            scope: VariableScope::root(),
            name_stack: SharedName::root(),
            recorders: Vec::new(),
        }
    }

    /// The captured graph.
    ///
    /// ```
    /// use varscope::{Context, Graph};
    /// let g = Graph::new();
    /// assert_eq!(g.as_default(Context::capture).graph(), &g);
    /// assert_eq!(Context::capture().graph(), &Graph::process_default());
    /// ```
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The captured variable scope.
    ///
    /// ```
    /// use varscope::{variable_scope, Context, Graph};
    /// Graph::new().as_default(|| {
    ///     let ctx = variable_scope("enc").enter(|_| Context::capture()).unwrap();
    ///     assert_eq!(ctx.variable_scope().name(), "enc");
    /// });
    /// ```
    pub fn variable_scope(&self) -> &VariableScope {
        &self.scope
    }

    /// The captured name scope (without trailing slash; `""` at root).
    ///
    /// ```
    /// use varscope::{name_scope, Context, Graph};
    /// Graph::new().as_default(|| {
    ///     assert_eq!(Context::capture().name_scope(), "");
    ///     let ctx = name_scope("loss", |_| Context::capture()).unwrap();
    ///     assert_eq!(ctx.name_scope(), "loss");
    /// });
    /// ```
    pub fn name_scope(&self) -> &str {
        &self.name_stack
    }

    /// Runs `f` on the calling thread inside the captured context, then restores the
    /// thread's own default graph and scope state (also if `f` panics).
    ///
    /// ```
    /// use varscope::{get_variable, variable_scope, Context, Graph};
    /// let g = Graph::with_seed(1);
    /// let ctx = g.as_default(|| variable_scope("s").enter(|_| Context::capture())).unwrap();
    /// // On another thread, inside the captured scope and graph.
    /// let v = std::thread::spawn(move || ctx.run(|| get_variable("w").shape([1]).build()))
    ///     .join().unwrap().unwrap();
    /// assert_eq!(v.name(), "s/w:0");
    /// assert_eq!(g.global_variables(), vec![v]);
    /// ```
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        self.graph.as_default(|| {
            self.graph.with_fresh_thread_state(|| {
                with_state(&self.graph, |s| {
                    s.current = self.scope.clone();
                    s.name_stack.clone_from(&self.name_stack);
                    s.recorders.clone_from(&self.recorders);
                });
                f()
            })
        })
    }

    /// `f` made to run inside this context, for `par_iter().map(…)` and other
    /// one-argument callbacks.
    ///
    /// ```
    /// use rayon::prelude::*;
    /// use varscope::{get_variable, variable_scope, Context, Graph};
    /// let g = Graph::with_seed(1);
    /// let ctx = g.as_default(|| variable_scope("s").enter(|_| Context::capture())).unwrap();
    /// let make = ctx.wrap(|i: usize| get_variable(&format!("v{i}")).shape([1]).build());
    /// let names: Vec<String> = (0..4).into_par_iter().map(make).map(|v| v.unwrap().name()).collect();
    /// assert_eq!(names, ["s/v0:0", "s/v1:0", "s/v2:0", "s/v3:0"]);
    /// ```
    pub fn wrap<A, R>(&self, f: impl Fn(A) -> R + Send + Sync) -> impl Fn(A) -> R + Send + Sync {
        let ctx = self.clone();
        move |a| ctx.run(|| f(a))
    }

    /// `f` made to run once inside this context, for `std::thread::spawn`,
    /// `rayon::spawn` and the like.
    ///
    /// ```
    /// use varscope::{get_variable_scope, variable_scope, Context, Graph};
    /// let g = Graph::new();
    /// let ctx = g.as_default(|| variable_scope("s").enter(|_| Context::capture())).unwrap();
    /// let name = std::thread::spawn(ctx.wrap_once(|| get_variable_scope().name())).join().unwrap();
    /// assert_eq!(name, "s");
    /// ```
    pub fn wrap_once<R>(&self, f: impl FnOnce() -> R + Send) -> impl FnOnce() -> R + Send {
        let ctx = self.clone();
        move || ctx.run(f)
    }
}
