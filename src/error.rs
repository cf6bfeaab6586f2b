//! The crate's one error type.

use crate::dtype::DType;
use crate::shape::PartialShape;
use std::fmt;
use std::sync::Arc;

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every way an operation of this crate can fail.
///
/// Errors carry the names, shapes and dtypes involved; their `Display` text follows
/// TensorFlow 1's wording (so users recognise it) and adds hints where TF's text is
/// terse. [`Error::kind`] gives the coarse [`ErrorKind`].
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A scope or variable name does not match TensorFlow's name pattern.
    #[error("'{name}' is not a valid {} name. A {} name has to match the following pattern: {}", if *.root { "root scope" } else { "scope" }, if *.root { "root scope" } else { "scope" }, if *.root { crate::names::ROOT_PATTERN } else { crate::names::SCOPE_PATTERN })]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Whether it was checked as a root name (first character must be
        /// alphanumeric or `.`).
        root: bool,
    },

    /// Creation under `reuse = No` of a name that already exists.
    #[error("{} {name} already exists, disallowed. Did you mean to set reuse=True or reuse=tf.AUTO_REUSE in VarScope?{}", if *.partitioned { "Partitioned variable with name" } else { "Variable" }, if *.partitioned { "" } else { " (use Reuse::Yes or Reuse::Auto on the enclosing variable_scope)" })]
    AlreadyExists {
        /// Full name of the variable.
        name: String,
        /// Whether the existing variable is partitioned.
        partitioned: bool,
    },

    /// Lookup under `reuse = Yes` of a name that does not exist.
    #[error("{}", not_found_message(name, *partitioned))]
    NotFound {
        /// Full name of the variable.
        name: String,
        /// Whether a partitioned variable was requested.
        partitioned: bool,
    },

    /// Reuse with a shape incompatible with the existing variable's.
    #[error("Trying to {} {name}, but specified shape {requested} and found shape {found}.", if *.partitioned { "reuse partitioned variable" } else { "share variable" })]
    ShapeMismatch {
        /// Full name of the variable.
        name: String,
        /// The requested shape.
        requested: PartialShape,
        /// The stored shape.
        found: PartialShape,
        /// Whether the variable is partitioned.
        partitioned: bool,
    },

    /// Reuse with a dtype different from the existing variable's, or an explicit dtype
    /// that disagrees with a value initializer.
    #[error("{}", dtype_message(name, *requested, *found, *partitioned))]
    DTypeMismatch {
        /// Full name of the variable (empty for the initializer check).
        name: String,
        /// The requested dtype.
        requested: DType,
        /// The stored (or initializer's) dtype.
        found: DType,
        /// Whether the variable is partitioned.
        partitioned: bool,
    },

    /// A partitioned variable met a plain one of the same name, a different
    /// partitioning, or a partitioner returned an invalid partition list.
    #[error("{message}")]
    PartitionMismatch {
        /// Full name of the variable.
        name: String,
        /// What disagreed.
        message: String,
    },

    /// A variable is created with neither a full shape nor a value initializer.
    #[error("Variable {name} did not get an initializer, so its `shape` argument must be specified (and fully defined{}).", .shape.as_ref().map(|s| format!("; got {s}")).unwrap_or_default())]
    ShapeRequired {
        /// Full name of the variable.
        name: String,
        /// The partial shape that was given, if any.
        shape: Option<PartialShape>,
    },

    /// A reuse setting that TensorFlow rejects (`reuse` with a default name).
    #[error("{message}")]
    InvalidReuse {
        /// TF's text.
        message: String,
    },

    /// A template created a new trainable variable after its first call.
    #[error("Trainable variable created when calling a template after the first time, perhaps you used tf.Variable when you meant tf.get_variable: {names:?}")]
    TemplateVariable {
        /// The template's name.
        template: String,
        /// The new trainable variables.
        names: Vec<String>,
    },

    /// A value of the wrong kind (for example a partitioned variable where a plain one
    /// was asked for).
    #[error("{message}")]
    TypeMismatch {
        /// What was expected and found.
        message: String,
    },

    /// An initializer or custom getter tried to create the very variable it is
    /// initializing.
    #[error("re-entrant creation of variable {name}: its initializer (or custom getter) asked for the variable being created")]
    Reentrant {
        /// Full name of the variable.
        name: String,
    },

    /// An initializer panicked; nothing was stored.
    #[error("initializer of variable {name} panicked: {message}")]
    InitializerPanicked {
        /// Full name of the variable.
        name: String,
        /// The panic payload, if it was a string.
        message: String,
    },

    /// An initializer could not produce a value (bad parameters, wrong dtype, too many
    /// constant values, …).
    #[error("initializer of variable {name}: {message}")]
    Initializer {
        /// Full name of the variable (empty when not yet known).
        name: String,
        /// What is wrong.
        message: String,
    },

    /// A negative, overflowing or otherwise impossible shape.
    #[error("invalid shape: {message}")]
    InvalidShape {
        /// What is wrong.
        message: String,
    },

    /// Scope guards were dropped in a different order than they were created.
    #[error("Improper nesting of variable_scope.")]
    ImproperNesting,

    /// Any other invalid argument.
    #[error("{message}")]
    InvalidArgument {
        /// What is wrong.
        message: String,
    },

    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// A checkpoint is corrupt or does not match the graph.
    #[error("checkpoint: {message}")]
    Checkpoint {
        /// What is wrong.
        message: String,
    },

    /// A runtime job failed or panicked.
    #[error("job failed: {message}")]
    Job {
        /// The job's error or panic message.
        message: String,
    },
}

fn not_found_message(name: &str, partitioned: bool) -> String {
    if partitioned {
        format!("PartitionedVariable {name} does not exist, or was not created with tf.get_variable(). Did you mean to set reuse=False or reuse=tf.AUTO_REUSE in VarScope?")
    } else {
        format!("Variable {name} does not exist, or was not created with tf.get_variable(). Did you mean to set reuse=tf.AUTO_REUSE in VarScope?")
    }
}

fn dtype_message(name: &str, requested: DType, found: DType, partitioned: bool) -> String {
    if name.is_empty() {
        format!("Initializer type '{found}' and explicit dtype '{requested}' don't match.")
    } else if partitioned {
        format!("Trying to reuse partitioned variable {name}, but specified dtype {requested} and found dtype {found}.")
    } else {
        format!(
            "Trying to share variable {name}, but specified dtype {requested} and found dtype {found}."
        )
    }
}

/// The coarse kind of an [`Error`], matching the kinds of the conformance format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `invalid_name`
    InvalidName,
    /// `already_exists`
    AlreadyExists,
    /// `not_found`
    NotFound,
    /// `shape_mismatch`
    ShapeMismatch,
    /// `dtype_mismatch`
    DTypeMismatch,
    /// `partition_mismatch`
    PartitionMismatch,
    /// `shape_required`
    ShapeRequired,
    /// `invalid_reuse`
    InvalidReuse,
    /// `template_variable`
    TemplateVariable,
    /// `type_mismatch`
    TypeMismatch,
    /// `other`
    Other,
}

impl ErrorKind {
    /// The snake-case name used by the conformance format.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidName => "invalid_name",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::NotFound => "not_found",
            ErrorKind::ShapeMismatch => "shape_mismatch",
            ErrorKind::DTypeMismatch => "dtype_mismatch",
            ErrorKind::PartitionMismatch => "partition_mismatch",
            ErrorKind::ShapeRequired => "shape_required",
            ErrorKind::InvalidReuse => "invalid_reuse",
            ErrorKind::TemplateVariable => "template_variable",
            ErrorKind::TypeMismatch => "type_mismatch",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// The coarse kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidName { .. } => ErrorKind::InvalidName,
            Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Error::NotFound { .. } => ErrorKind::NotFound,
            // TF words partitioned mismatches as partition errors, and the explicit-dtype
            // versus value-initializer check as a plain ValueError.
            Error::ShapeMismatch {
                partitioned: true, ..
            }
            | Error::DTypeMismatch {
                partitioned: true, ..
            } => ErrorKind::PartitionMismatch,
            Error::DTypeMismatch { name, .. } if name.is_empty() => ErrorKind::Other,
            Error::ShapeMismatch { .. } => ErrorKind::ShapeMismatch,
            Error::DTypeMismatch { .. } => ErrorKind::DTypeMismatch,
            Error::PartitionMismatch { .. } => ErrorKind::PartitionMismatch,
            Error::ShapeRequired { .. } => ErrorKind::ShapeRequired,
            Error::InvalidReuse { .. } => ErrorKind::InvalidReuse,
            Error::TemplateVariable { .. } => ErrorKind::TemplateVariable,
            Error::TypeMismatch { .. } => ErrorKind::TypeMismatch,
            _ => ErrorKind::Other,
        }
    }

    pub(crate) fn invalid_arg(message: impl Into<String>) -> Error {
        Error::InvalidArgument {
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source: Arc::new(source),
        }
    }
}
