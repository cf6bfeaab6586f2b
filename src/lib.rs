//! varscope: TensorFlow 1 variable scoping as a thread-aware concurrent runtime.
#![deny(missing_docs)]
#![cfg_attr(loom, allow(dead_code, unused_imports))]

pub mod checkpoint;
mod dtype;
mod error;
pub mod init;
pub mod partition;
mod names;
mod shape;
pub(crate) mod sync;
mod tensor;

pub use dtype::DType;
pub use error::{Error, ErrorKind, Result};
pub use shape::{IntoShape, PartialShape, Shape};
pub use tensor::{Element, Tensor};
