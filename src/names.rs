//! Name validation, as TensorFlow's `name_scope` does it.

use crate::error::{Error, Result};

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

/// Runs `f` on `prefix/name` (or `name` at root), built on the stack when it is
/// short: for names that are only looked up or copied into a shared key.
pub(crate) fn with_joined<R>(prefix: &str, name: &str, f: impl FnOnce(&str) -> R) -> R {
    if prefix.is_empty() {
        return f(name);
    }
    let mut buf: smallvec::SmallVec<[u8; 192]> = smallvec::SmallVec::new();
    buf.extend_from_slice(prefix.as_bytes());
    buf.push(b'/');
    buf.extend_from_slice(name.as_bytes());
    // Both parts are `str`, joined at a character boundary by an ASCII byte.
    f(std::str::from_utf8(&buf).expect("two strs joined by '/' are UTF-8"))
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
