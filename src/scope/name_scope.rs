//! Name scopes (TF's `tf.name_scope`): the op-name prefix of the calling thread.

use crate::error::Result;
use crate::graph::Graph;
use crate::names;
use crate::scope::frames::{check_depth_in, FrameSet};
use crate::scope::output::ScopeOutput;
use crate::scope::thread_state::{with_state, Frame, FrameKind, SharedName, ThreadState};
use crate::sync;
use std::fmt;
use std::marker::PhantomData;

/// Enters name scope `name` in the calling thread's state `s` for `graph`; returns
/// the new name stack (what the scope yields, without its trailing slash) and the
/// frame id.
pub(crate) fn enter_name_scope_in(
    s: &mut ThreadState,
    graph: &Graph,
    name: &str,
) -> Result<(SharedName, u64)> {
    names::validate(name, s.name_stack.is_empty())?;
    let new_stack = if name.is_empty() {
        SharedName::root()
    } else if let Some(abs) = name.strip_suffix('/') {
        SharedName::new(abs)
    } else {
        let unique = names::with_joined(&s.name_stack, name, |full| graph.unique_name_key(full));
        SharedName::from_key(unique)
    };
    let id = push_name_stack(s, new_stack.clone());
    Ok((new_stack, id))
}

/// Re-enters the current name scope unchanged (`auxiliary_name_scope = false`).
pub(crate) fn reenter_current_name_scope_in(s: &mut ThreadState) -> (SharedName, u64) {
    let stack = s.name_stack.clone();
    let id = push_name_stack(s, stack.clone());
    (stack, id)
}

/// Makes `stack` the thread's name stack, pushing the frame that restores the
/// previous one; returns the frame's id.
fn push_name_stack(s: &mut ThreadState, stack: SharedName) -> u64 {
    let id = sync::next_frame_id();
    let prev_stack = std::mem::replace(&mut s.name_stack, stack);
    s.frames.push(Frame {
        id,
        kind: FrameKind::Name { prev_stack },
    });
    id
}

/// Runs `f` inside name scope `name` of the current graph, passing the string the
/// scope yields (`"outer/inner/"`, or `""` at root). Returns what `f` returns,
/// flattened when it is a `Result` (see [`ScopeOutput`]).
///
/// `name` is relative and uniquified (`"s"` → `s/`, then `s_1/`), absolute when it
/// ends in `/` (re-entered verbatim), or `""` for the root.
///
/// # Errors
/// [`Error::InvalidName`](crate::Error::InvalidName) when `name` is not a valid scope name.
///
/// ```
/// use varscope::{name_scope, Graph};
/// Graph::new().as_default(|| {
///     assert_eq!(name_scope("s", |ns| ns.to_string()).unwrap(), "s/");
///     assert_eq!(name_scope("s", |ns| ns.to_string()).unwrap(), "s_1/");
///     assert_eq!(name_scope("s/", |ns| ns.to_string()).unwrap(), "s/");
/// });
/// ```
pub fn name_scope<R: ScopeOutput>(
    name: &str,
    f: impl FnOnce(&str) -> R,
) -> std::result::Result<R::Value, R::Error> {
    let g = name_scope_guard(name)?;
    let out = f(g.name());
    g.close()?;
    out.into_result()
}

/// Enters name scope `name` until the guard is dropped (see [`name_scope`]).
///
/// # Errors
/// [`Error::InvalidName`](crate::Error::InvalidName) when `name` is not a valid scope name.
///
/// ```
/// use varscope::{name_scope_guard, Graph};
/// Graph::new().as_default(|| {
///     let outer = name_scope_guard("outer").unwrap();
///     assert_eq!(outer.name(), "outer/");
///     let inner = name_scope_guard("inner").unwrap();
///     assert_eq!(inner.name(), "outer/inner/");
///     inner.close().unwrap();
///     outer.close().unwrap();
/// });
/// ```
pub fn name_scope_guard(name: &str) -> Result<NameScopeGuard> {
    let graph = Graph::current_local();
    let (stack, id) = with_state(&graph, |s| {
        check_depth_in(s)?;
        enter_name_scope_in(s, &graph, name)
    })?;
    Ok(NameScopeGuard {
        name: stack.with_slash(),
        frames: FrameSet {
            graph,
            ids: smallvec::smallvec![id],
        },
        _not_send: PhantomData,
    })
}

/// Guard of a name scope; restores the previous name scope when dropped.
///
/// Dropping guards out of order never panics: dropping an outer guard first also
/// leaves the scopes opened inside it (the thread's stack returns to what it was
/// before this guard), and the inner guards' drops then do nothing. Use
/// [`close`](NameScopeGuard::close) to get an error for improper nesting instead.
///
/// ```
/// use varscope::{name_scope_guard, Graph};
/// let g = Graph::new();
/// g.as_default(|| {
///     let guard = name_scope_guard("loss").unwrap();
///     assert_eq!(g.name_stack(), "loss");
///     drop(guard);
///     assert_eq!(g.name_stack(), "");
/// });
/// ```
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
    ///
    /// ```
    /// use varscope::{name_scope_guard, Graph};
    /// Graph::new().as_default(|| {
    ///     assert_eq!(name_scope_guard("a").unwrap().name(), "a/");
    ///     assert_eq!(name_scope_guard("").unwrap().name(), "");
    /// });
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Leaves the scope.
    ///
    /// # Errors
    /// [`Error::ImproperNesting`](crate::Error::ImproperNesting) if an inner scope is still open. The scope then stays
    /// in effect until the inner scopes are left, and is left right after them.
    ///
    /// ```
    /// use varscope::{name_scope_guard, Error, Graph};
    /// Graph::new().as_default(|| {
    ///     let outer = name_scope_guard("a").unwrap();
    ///     let inner = name_scope_guard("b").unwrap();
    ///     assert!(matches!(outer.close(), Err(Error::ImproperNesting)));
    ///     inner.close().unwrap();
    /// });
    /// ```
    pub fn close(mut self) -> Result<()> {
        self.frames.close()
    }
}

impl Drop for NameScopeGuard {
    fn drop(&mut self) {
        self.frames.leave_on_drop();
    }
}
