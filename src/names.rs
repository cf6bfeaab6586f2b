//! Name validation, as TensorFlow's `name_scope` does it.

use crate::error::{Error, Result};
use std::cell::Cell;

/// The pattern a name must match at the root name scope.
pub(crate) const ROOT_PATTERN: &str = r"^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$";
/// The pattern a name must match inside a non-root name scope.
pub(crate) const SCOPE_PATTERN: &str = r"^[A-Za-z0-9_.\\/>-]*$";

fn is_body_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '\\' | '/' | '>' | '-')
}

/// Checks `name` against TF's pattern: the root pattern (first character
/// alphanumeric or `.`) when `at_root`, the scope pattern otherwise. Empty names are
/// not validated (they mean "the root").
pub(crate) fn validate(name: &str, at_root: bool) -> Result<()> {
    if name.is_empty() {
        return Ok(());
    }
    let mut chars = name.chars();
    let ok = if at_root {
        let first = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.');
        first && chars.all(is_body_char)
    } else {
        chars.all(is_body_char)
    };
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName {
            name: name.to_string(),
            root: at_root,
        })
    }
}

/// Joins a scope prefix and a name the way TF does: `prefix/name`, or `name` at root.
pub(crate) fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        let mut s = String::with_capacity(prefix.len() + 1 + name.len());
        s.push_str(prefix);
        s.push('/');
        s.push_str(name);
        s
    }
}

/// Runs `f` on `prefix/name` (or `name` at root), built in the thread's spare buffer
/// (see [`join_spare`]): for names that are only looked up or copied into a shared
/// key. A nested call (`f` joining another name) finds the buffer out and builds in a
/// new one.
pub(crate) fn with_joined<R>(prefix: &str, name: &str, f: impl FnOnce(&str) -> R) -> R {
    if prefix.is_empty() {
        return f(name);
    }
    let joined = join_spare(prefix, name);
    let r = f(&joined);
    recycle(joined);
    r
}

// The calling thread's spare string buffer. Not part of any cross-thread protocol:
// `std`'s thread-local even under loom.
std::thread_local! {
    static SPARE: Cell<String> = const { Cell::new(String::new()) };
}

/// An empty string with the calling thread's spare buffer (no allocation once it has
/// grown); hand it back with [`recycle`]. A thread whose buffer is out (or whose
/// thread-locals are gone) gets a new, empty one.
pub(crate) fn spare_string() -> String {
    let mut s = SPARE.try_with(Cell::take).unwrap_or_default();
    s.clear();
    s
}

/// Keeps `s`'s buffer as the thread's spare (the larger of two; long ones are
/// dropped).
pub(crate) fn recycle(s: String) {
    if s.capacity() == 0 || s.capacity() > 1024 {
        return;
    }
    let _ = SPARE.try_with(|cell| {
        let other = cell.take();
        cell.set(if other.capacity() > s.capacity() {
            other
        } else {
            s
        });
    });
}

/// `prefix/name` (or `name` at root) in the thread's spare buffer (see
/// [`spare_string`]).
// Always inlined: `with_joined` runs on every scope entry.
#[inline(always)]
pub(crate) fn join_spare(prefix: &str, name: &str) -> String {
    let mut s = spare_string();
    if !prefix.is_empty() {
        s.push_str(prefix);
        s.push('/');
    }
    s.push_str(name);
    s
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn root_and_scope_patterns() {
        assert!(validate("foo", true).is_ok());
        assert!(validate(".hidden/x-1", true).is_ok());
        assert!(validate("_", true).is_err());
        assert!(validate("_x", false).is_ok());
        assert!(validate("bad name", false).is_err());
        assert!(validate("a>b\\c", true).is_ok());
        assert!(validate("", true).is_ok());
        assert!(validate("é", false).is_err());
    }
}
