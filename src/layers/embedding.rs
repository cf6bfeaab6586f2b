//! An embedding table, as BERT's `embedding_lookup` creates it.

use super::{with, Common};
use crate::error::Result;
use crate::initializer::Init;
use crate::partition::Partitioner;
use crate::variable::AnyVariable;
use std::sync::Arc;

/// An embedding table `name [vocab, dim]`, created directly in the current scope (no
/// scope of its own) with one `get_variable` call — what `embedding_lookup` in
/// google-research/bert and most TF1 code do. The initializer defaults to the
/// scope's (else Glorot uniform); a partitioner (or the scope's) shards it.
///
/// ```
/// use varscope::partition::FixedSizePartitioner;
/// use varscope::{layers, variable_scope, Graph, Init};
/// Graph::with_seed(1).as_default(|| -> varscope::Result<()> {
///     variable_scope("embeddings").enter(|_| -> varscope::Result<()> {
///         let words = layers::embedding("word_embeddings", 30522, 768)
///             .initializer(Init::truncated_normal(0.0, 0.02))
///             .build()?;
///         assert_eq!(words.name(), "embeddings/word_embeddings:0");
///         let sharded = layers::embedding("table", 100, 8)
///             .partitioner(FixedSizePartitioner::new(4, 0))
///             .build()?;
///         assert_eq!(sharded.into_partitioned()?.len(), 4);
///         Ok(())
///     })
/// })
/// .unwrap();
/// ```
pub fn embedding(name: &str, vocab: usize, dim: usize) -> Embedding {
    Embedding {
        name: name.to_string(),
        vocab,
        dim,
        initializer: None,
        partitioner: None,
        common: Common::default(),
    }
}

/// The configuration of an [`embedding`] table.
///
/// ```
/// use varscope::{layers, variable_scope, Graph};
/// let g = Graph::with_seed(1);
/// let table = g.as_default(|| variable_scope("bert").enter(|_| layers::embedding("word_embeddings", 100, 8).build())).unwrap();
/// assert_eq!(table.name(), "bert/word_embeddings:0");
/// assert_eq!(table.shape().dims(), &[100, 8]);
/// ```
#[must_use = "a layer creates nothing until built"]
#[derive(Clone)]
pub struct Embedding {
    name: String,
    vocab: usize,
    dim: usize,
    initializer: Option<Init>,
    partitioner: Option<Arc<dyn Partitioner>>,
    common: Common,
}

impl std::fmt::Debug for Embedding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedding")
            .field("name", &self.name)
            .field("vocab", &self.vocab)
            .field("dim", &self.dim)
            .field("initializer", &self.initializer)
            .field("partitioned", &self.partitioner.is_some())
            .finish_non_exhaustive()
    }
}

impl Embedding {
    /// The initializer (default: the scope's, else Glorot uniform).
    ///
    /// ```
    /// use varscope::{layers, Graph, Init};
    /// let t = Graph::with_seed(1).as_default(|| layers::embedding("e", 3, 2).initializer(Init::zeros()).build()).unwrap();
    /// assert_eq!(t.value().unwrap().to_f64_vec(), [0.0; 6]);
    /// ```
    pub fn initializer(mut self, i: Init) -> Self {
        self.initializer = Some(i);
        self
    }
    /// A partitioner (default: the scope's).
    ///
    /// ```
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{layers, Graph};
    /// let t = Graph::with_seed(1).as_default(|| {
    ///     layers::embedding("e", 10, 4).partitioner(FixedSizePartitioner::new(2, 0)).build()
    /// }).unwrap();
    /// assert_eq!(t.into_partitioned().unwrap().shards()[1].name(), "e/part_1:0");
    /// ```
    pub fn partitioner(mut self, p: impl Partitioner + 'static) -> Self {
        self.partitioner = Some(Arc::new(p));
        self
    }
    /// A shared partitioner (default: the scope's).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use varscope::partition::FixedSizePartitioner;
    /// use varscope::{layers, Graph};
    /// let p: Arc<dyn varscope::partition::Partitioner> = Arc::new(FixedSizePartitioner::new(4, 0));
    /// let t = Graph::with_seed(1).as_default(|| layers::embedding("e", 8, 2).partitioner_arc(p).build()).unwrap();
    /// assert_eq!(t.into_partitioned().unwrap().len(), 4);
    /// ```
    pub fn partitioner_arc(mut self, p: Arc<dyn Partitioner>) -> Self {
        self.partitioner = Some(p);
        self
    }
    /// The table's dtype (default: the scope's, `float32`).
    ///
    /// ```
    /// use varscope::{layers, DType, Graph};
    /// let t = Graph::with_seed(1).as_default(|| layers::embedding("e", 4, 2).dtype(DType::F16).build()).unwrap();
    /// assert_eq!(t.dtype(), DType::F16);
    /// ```
    pub fn dtype(mut self, dtype: crate::dtype::DType) -> Self {
        self.common.dtype = Some(dtype);
        self
    }
    /// Whether the table is trainable (default true).
    ///
    /// ```
    /// use varscope::{layers, Graph};
    /// let g = Graph::with_seed(1);
    /// g.as_default(|| layers::embedding("e", 4, 2).trainable(false).build()).unwrap();
    /// assert!(g.trainable_variables().is_empty());
    /// ```
    pub fn trainable(mut self, trainable: bool) -> Self {
        self.common.trainable = Some(trainable);
        self
    }

    /// Creates (or, in a reusing scope, gets) the table.
    ///
    /// # Errors
    /// Any error of `get_variable`, as TF raises them.
    ///
    /// ```
    /// use varscope::{layers, Graph, Reuse, variable_scope};
    /// Graph::with_seed(1).as_default(|| {
    ///     let a = layers::embedding("tok", 5, 2).build().unwrap();
    ///     // Tied weights: the same table, got again through reuse.
    ///     let b = variable_scope("").reuse(Reuse::Yes).enter(|_| layers::embedding("tok", 5, 2).build()).unwrap();
    ///     assert_eq!(a, b);
    /// });
    /// ```
    pub fn build(self) -> Result<AnyVariable> {
        let mut g = with(
            self.common.var(&self.name, vec![self.vocab, self.dim]),
            self.initializer.as_ref(),
            None,
        );
        if let Some(p) = self.partitioner {
            g = g.partitioner_arc(p);
        }
        g.build_any()
    }
}
