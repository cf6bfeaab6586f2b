//! The reuse mode of a scope.

/// The reuse mode of a variable scope (TF1's `reuse=False / True / AUTO_REUSE`).
///
/// As an *argument* of [`variable_scope`](crate::variable_scope), `No` means
/// "inherit" (TF: `reuse=False` is the same as `None`): reuse can be switched on in a
/// sub-scope but never off.
///
/// ```
/// use varscope::{get_variable, variable_scope, Graph, Reuse};
/// Graph::with_seed(1).as_default(|| {
///     let get = |r: Reuse| variable_scope("s").reuse(r).enter(|_| get_variable("w").shape([1]).build());
///     assert!(get(Reuse::Yes).is_err());   // nothing to reuse yet
///     let w = get(Reuse::No).unwrap();     // created
///     assert!(get(Reuse::No).is_err());    // exists already
///     assert_eq!(get(Reuse::Yes).unwrap(), w);
///     assert_eq!(get(Reuse::Auto).unwrap(), w);
///     assert_eq!(Reuse::default(), Reuse::No);
/// });
/// ```
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
