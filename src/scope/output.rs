//! [`ScopeOutput`]: what a closure run inside a scope may return, so that entering a
//! scope gives back the closure's own result — flattened when it is a `Result`.

use crate::error::Error;

/// What the closure of [`VariableScopeBuilder::enter`](crate::VariableScopeBuilder::enter)
/// or [`name_scope`](crate::name_scope) returns.
///
/// A `Result<T, E>` is flattened: entering gives `Result<T, E>`, with an error of
/// entering the scope converted into `E` (any `E: From<varscope::Error>`: varscope's
/// own [`Error`], `Box<dyn std::error::Error>`, `anyhow::Error`, …). Plain values —
/// `()`, numbers, strings, references, variables, scopes, tensors, and `Vec`s,
/// `Option`s, boxes and tuples of anything — come back as `Ok(value)`. For another
/// type of your own, return `Ok(value)` from the closure.
///
/// ```
/// use varscope::{get_variable, variable_scope, Graph};
/// Graph::new().as_default(|| -> varscope::Result<()> {
///     // A fallible closure: one `?`, not two.
///     let w = variable_scope("a").enter(|_| get_variable("w").shape([2]).build())?;
///     assert_eq!(w.name(), "a/w:0");
///     // A plain value comes back in `Ok`.
///     let name = variable_scope("b").enter(|s| s.name())?;
///     assert_eq!(name, "b");
///     Ok(())
/// })
/// .unwrap();
/// ```
#[diagnostic::on_unimplemented(
    message = "a scope's closure must return a `Result` or a plain value varscope knows",
    label = "`{Self}` is not a `ScopeOutput`",
    note = "return `Ok(value)` (a `varscope::Result<{Self}>`) from the closure"
)]
pub trait ScopeOutput {
    /// The value of a successful call.
    type Value;
    /// The error type of the call (entering errors are converted into it).
    type Error: From<Error>;
    /// The closure's output as a `Result`.
    ///
    /// # Errors
    /// The closure's own error, for a `Result`.
    ///
    /// ```
    /// use varscope::ScopeOutput;
    /// assert_eq!(5.into_result().unwrap(), 5);
    /// let failed: varscope::Result<()> = Err(varscope::Error::ImproperNesting);
    /// assert!(matches!(failed.into_result(), Err(varscope::Error::ImproperNesting)));
    /// ```
    fn into_result(self) -> Result<Self::Value, Self::Error>;
}

impl<T, E: From<Error>> ScopeOutput for Result<T, E> {
    type Value = T;
    type Error = E;
    fn into_result(self) -> Result<T, E> {
        self
    }
}

macro_rules! plain_outputs {
    ($($t:ty),* $(,)?) => {$(
        impl ScopeOutput for $t {
            type Value = $t;
            type Error = Error;
            fn into_result(self) -> Result<$t, Error> {
                Ok(self)
            }
        }
    )*};
}

plain_outputs!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    crate::Variable,
    crate::AnyVariable,
    crate::PartitionedVariable,
    crate::VariableScope,
    crate::Tensor,
    crate::Shape,
    crate::PartialShape,
    crate::DType,
    crate::Graph,
    crate::Reuse,
    crate::Context,
    crate::Init,
    crate::CustomGetter,
    crate::Regularizer,
    crate::Constraint,
    crate::RegularizationLoss,
    crate::SaveSliceInfo,
    crate::init::Scalar,
);

macro_rules! generic_outputs {
    ($([$($g:ident),*] $t:ty),* $(,)?) => {$(
        impl<$($g),*> ScopeOutput for $t {
            type Value = $t;
            type Error = Error;
            fn into_result(self) -> Result<$t, Error> {
                Ok(self)
            }
        }
    )*};
}

generic_outputs!(
    [T] Vec<T>,
    [T] Option<T>,
    [T] Box<T>,
    [T] std::sync::Arc<T>,
    [T] std::rc::Rc<T>,
    [K, V] std::collections::BTreeMap<K, V>,
    [K, V] std::collections::HashMap<K, V>,
    [T] std::collections::BTreeSet<T>,
    [T] std::collections::HashSet<T>,
    [A, B] (A, B),
    [A, B, C] (A, B, C),
    [A, B, C, D] (A, B, C, D),
    [R] crate::Template<R>,
);

impl<T: ?Sized> ScopeOutput for &T {
    type Value = Self;
    type Error = Error;
    fn into_result(self) -> Result<Self, Error> {
        Ok(self)
    }
}
