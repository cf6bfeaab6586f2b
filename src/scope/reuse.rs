//! The reuse mode of a scope.

/// The reuse mode of a variable scope (TF1's `reuse=False / True / AUTO_REUSE`).
///
/// As an *argument* of [`variable_scope`](crate::variable_scope), `No` means
/// "inherit" (TF: `reuse=False` is the same as `None`): reuse can be switched on in a
/// sub-scope but never off.
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
