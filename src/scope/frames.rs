//! Scope frames: what entering a variable or name scope pushed on the calling
//! thread's stack, and how guards pop them — in order, or (closed out of order) as
//! soon as the frames above are gone.

use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::scope::thread_state::{try_with_state, with_state, ThreadState};
use smallvec::SmallVec;

/// The frames of one guard (a variable scope pushes at most two).
pub(crate) type FrameIds = SmallVec<[u64; 2]>;

/// Frames pushed by one guard, innermost last.
pub(crate) struct FrameSet {
    /// A thread-local handle (guards stay on their thread): holding it touches no
    /// reference count shared with other threads.
    pub(crate) graph: std::rc::Rc<Graph>,
    pub(crate) ids: FrameIds,
}

impl FrameSet {
    /// Leaves the frames, or reports improper nesting (they are then left as soon as
    /// the frames above them are).
    pub(crate) fn close(&mut self) -> Result<()> {
        if self.pop_or_orphan() {
            Ok(())
        } else {
            Err(Error::ImproperNesting)
        }
    }

    /// What a guard's `Drop` does: leave the frames. When inner scopes are still open
    /// (an outer guard dropped first), they are left too — the stack unwinds back to
    /// below this guard's frames, as leaving the outer `with` block would in TF — and
    /// their guards' drops later find nothing to do. Never panics.
    pub(crate) fn leave_on_drop(&mut self) {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if !self.pop() {
                let ids = std::mem::take(&mut self.ids);
                try_with_state(&self.graph, |s| s.unwind_below(&ids));
            }
        }));
    }

    /// Pops the frames if they are on top, in order. Returns false (changing nothing)
    /// when they are not: improper nesting.
    pub(crate) fn pop(&mut self) -> bool {
        let ids = std::mem::take(&mut self.ids);
        if ids.is_empty() {
            return true;
        }
        let ok = with_state(&self.graph, |s| {
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
    /// Frames already left (unwound by an outer guard's drop) count as popped.
    pub(crate) fn pop_or_orphan(&mut self) -> bool {
        if self.pop() {
            return true;
        }
        let ids = std::mem::take(&mut self.ids);
        with_state(&self.graph, |s| {
            let open = ids
                .first()
                .is_some_and(|id| s.frames.iter().any(|f| f.id == *id));
            if open {
                s.orphans.extend(ids);
            }
            !open
        })
    }
}

/// The most scopes (variable and name scopes alike; a variable scope opens both) one
/// thread may have open in one graph. Full scope names grow with the depth, so
/// the bookkeeping of `d` nested scopes is `O(d²)` bytes, as in TF: at this bound
/// about 110 MB. Entering one more is [`Error::NestingTooDeep`].
///
/// ```
/// use varscope::{name_scope_guard, Error, Graph, MAX_SCOPE_DEPTH};
/// Graph::new().as_default(|| {
///     // Re-entering an absolute name keeps the names short; each guard still counts.
///     let guards: Vec<_> = (0..MAX_SCOPE_DEPTH).map(|_| name_scope_guard("s/").unwrap()).collect();
///     let e = name_scope_guard("s/").unwrap_err();
///     assert!(matches!(e, Error::NestingTooDeep { .. }));
///     drop(guards);
///     assert!(name_scope_guard("s/").is_ok());
/// });
/// ```
pub const MAX_SCOPE_DEPTH: usize = 10_000;

/// Stack a thread must have left to enter another scope: enough for a few levels of
/// recursive layer code, so that recursion deeper than the thread's stack gets
/// [`Error::NestingTooDeep`] instead of overflowing it.
const STACK_RED_ZONE: usize = 128 * 1024;

/// Checks that the calling thread may open one more scope in `graph`.
pub(crate) fn check_depth(graph: &Graph) -> Result<()> {
    with_state(graph, |s| check_depth_in(s))
}

/// [`check_depth`] on the calling thread's state `s`.
pub(crate) fn check_depth_in(s: &ThreadState) -> Result<()> {
    let depth = s.frames.len();
    if depth >= MAX_SCOPE_DEPTH {
        return Err(Error::NestingTooDeep {
            depth,
            reason: "at most varscope::MAX_SCOPE_DEPTH scopes may be open on a thread",
        });
    }
    // Loom runs its threads on small coroutine stacks the check would misread.
    if !cfg!(loom) && stacker::remaining_stack().is_some_and(|left| left < STACK_RED_ZONE) {
        return Err(Error::NestingTooDeep {
            depth,
            reason: "the thread's stack is nearly exhausted (recursion too deep for it)",
        });
    }
    Ok(())
}
