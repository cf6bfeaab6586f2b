//! Plain variables (TF's `tf.Variable`): always new, named through the name scope,
//! and not in the variable store.

use crate::error::{Error, Result};
use crate::graph::{Graph, OpType};
use crate::names;
use crate::scope::thread_state::{note_trainable, with_state};
use crate::slot_map::Key;
use crate::sync::{Arc, Mutex};
use crate::tensor::Tensor;
use crate::variable::{Names, ValueState, VarInner, Variable};

/// Creates a plain variable (TF's `tf.Variable(initial_value, name=…)`): always new,
/// named through the current *name* scope and uniquified (`x`, `x_1`, …). It is not
/// in the variable store, so `get_variable` never returns it.
///
/// ```
/// use varscope::{variable, Graph, Tensor};
/// Graph::new().as_default(|| {
///     let a = variable(Tensor::scalar(1.0f32)).name("x").build().unwrap();
///     let b = variable(Tensor::scalar(2.0f32)).name("x").build().unwrap();
///     assert_eq!((a.name().as_str(), b.name().as_str()), ("x:0", "x_1:0"));
/// });
/// ```
pub fn variable(initial_value: Tensor) -> PlainVariableBuilder {
    PlainVariableBuilder {
        initial_value,
        name: None,
        trainable: true,
        collections: None,
    }
}

/// Builder of a plain variable; see [`variable`].
///
/// ```
/// use varscope::{variable, Graph, Tensor};
/// let g = Graph::new();
/// let step = g.as_default(|| variable(Tensor::scalar(0i64)).name("global_step").trainable(false).build()).unwrap();
/// assert_eq!(step.name(), "global_step:0");
/// assert_eq!(g.global_variables(), vec![step]);
/// assert!(g.trainable_variables().is_empty());
/// ```
#[derive(Debug)]
#[must_use = "call build() to create the variable"]
pub struct PlainVariableBuilder {
    initial_value: Tensor,
    name: Option<String>,
    trainable: bool,
    collections: Option<Vec<String>>,
}

impl PlainVariableBuilder {
    /// The name (default `Variable`).
    ///
    /// ```
    /// use varscope::{name_scope, variable, Graph, Tensor};
    /// Graph::new().as_default(|| {
    ///     let v = variable(Tensor::scalar(1.0f32)).build().unwrap();
    ///     assert_eq!(v.name(), "Variable:0"); // the default name
    ///     // Plain variables follow the name scope (get_variable follows the variable scope).
    ///     let w = name_scope("ns", |_| variable(Tensor::scalar(1.0f32)).name("w").build()).unwrap();
    ///     assert_eq!(w.name(), "ns/w:0");
    /// });
    /// ```
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }
    /// Whether it is trainable (default true).
    ///
    /// ```
    /// use varscope::{variable, Graph, Tensor};
    /// let g = Graph::new();
    /// let v = g.as_default(|| variable(Tensor::scalar(1.0f32)).trainable(false).build()).unwrap();
    /// assert!(!v.trainable());
    /// assert!(g.trainable_variables().is_empty());
    /// ```
    pub fn trainable(mut self, t: bool) -> Self {
        self.trainable = t;
        self
    }
    /// Collections (default: global variables).
    ///
    /// ```
    /// use varscope::{variable, Graph, Tensor, LOCAL_VARIABLES};
    /// let g = Graph::new();
    /// let v = g.as_default(|| variable(Tensor::scalar(1.0f32)).collections([LOCAL_VARIABLES]).build()).unwrap();
    /// assert_eq!(g.local_variables(), vec![v]);
    /// assert!(g.global_variables().is_empty());
    /// ```
    pub fn collections<S: Into<String>>(mut self, c: impl IntoIterator<Item = S>) -> Self {
        self.collections = Some(c.into_iter().map(Into::into).collect());
        self
    }

    /// Creates the variable in the current graph.
    ///
    /// # Errors
    /// [`Error::InvalidName`] for an invalid name.
    ///
    /// ```
    /// use varscope::{variable, Graph, Tensor};
    /// Graph::new().as_default(|| {
    ///     let t = Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap();
    ///     let v = variable(t.clone()).name("v").build().unwrap();
    ///     assert_eq!(v.value().unwrap(), t);
    ///     assert!(v.store_key().is_none()); // not in the store: get_variable cannot reuse it
    ///     assert!(variable(t).name("bad name").build().is_err());
    /// });
    /// ```
    pub fn build(self) -> Result<Variable> {
        let graph = Graph::current();
        let name = self.name.as_deref().unwrap_or("Variable");
        let full = with_state(&graph, |s| {
            names::validate(name, s.name_stack.is_empty())?;
            Ok::<_, Error>(names::join(&s.name_stack, name))
        })?;
        let (op_name, seq) = match name.strip_suffix('/') {
            Some(abs) => {
                let abs = Key::from(abs);
                let seq = graph.register_op(abs.clone(), OpType::Variable)?;
                (abs, seq)
            }
            None => graph.unique_variable_op(&full, None)?,
        };
        let shape = self.initial_value.shape();
        let var = Variable(Arc::new(VarInner {
            names: Names::Plain(op_name),
            dtype: self.initial_value.dtype(),
            shape,
            trainable: self.trainable,
            extras: Default::default(),
            value: Mutex::new(ValueState::Ready(self.initial_value)),
        }));
        graph.register_variable(&var, self.collections.as_deref(), self.trainable, seq);
        if self.trainable {
            note_trainable(&graph, || var.name());
        }
        Ok(var)
    }
}
