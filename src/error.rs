//! The crate's one error type.

use crate::dtype::DType;
use crate::shape::{PartialShape, Shape};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// `Result` with [`Error`] as the default error.
///
/// ```
/// fn first_name(g: &varscope::Graph) -> varscope::Result<String> {
///     let v = varscope::get_variable("w").shape([1]).graph(g).build()?;
///     Ok(v.name())
/// }
/// assert_eq!(first_name(&varscope::Graph::new()).unwrap(), "w:0");
/// // With another error type.
/// let r: varscope::Result<u8, std::num::ParseIntError> = "7".parse();
/// assert_eq!(r.unwrap(), 7);
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every way an operation of this crate can fail.
///
/// Errors carry the names, shapes and dtypes involved; their `Display` text follows
/// TensorFlow 1's wording (so users recognise it) and adds hints where TF's text is
/// terse. [`Error::kind`] gives the coarse [`ErrorKind`], which is what code should
/// usually match on (the enum is `#[non_exhaustive]`, and several variants share a
/// kind):
///
/// ```
/// use varscope::{get_variable, Error, ErrorKind, Graph};
/// let g = Graph::with_seed(1);
/// g.as_default(|| {
///     get_variable("w").shape([2usize]).build().unwrap();
///     match get_variable("w").shape([2usize]).build() {
///         Err(e) if e.kind() == ErrorKind::AlreadyExists => {
///             assert!(e.to_string().contains("Variable w already exists"));
///         }
///         other => panic!("unexpected {other:?}"),
///     }
///     // Restore and checkpoint errors have kinds of their own or share the
///     // scoping ones: a missing file is `Io`, a variable absent from the
///     // checkpoint `NotFound`.
///     let missing = std::path::Path::new("/no/such/dir/model.safetensors");
///     let e = varscope::restore::restore_file(&g, missing).unwrap_err();
///     assert_eq!(e.kind(), ErrorKind::Io);
///     assert!(matches!(&e, Error::Io { path, .. } if path == missing));
///     let e = varscope::restore::restore(&g, &Default::default()).unwrap_err();
///     assert_eq!(e.kind(), ErrorKind::NotFound);
///     assert_eq!(e.to_string(), "variable w is not in the checkpoint");
/// });
/// ```
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

    /// Reuse with a dtype different from the existing variable's.
    #[error("{}", dtype_message(name, *requested, *found, *partitioned))]
    DTypeMismatch {
        /// Full name of the variable.
        name: String,
        /// The requested dtype.
        requested: DType,
        /// The stored (or initializer's) dtype.
        found: DType,
        /// Whether the variable is partitioned.
        partitioned: bool,
    },

    /// An explicit `dtype` disagrees with the dtype of a value initializer
    /// (`Init::Value`). TF raises this as a plain `ValueError`, so its kind is
    /// [`ErrorKind::Other`].
    #[error("Initializer type '{initializer}' and explicit dtype '{explicit}' don't match.")]
    InitializerDTypeMismatch {
        /// The explicitly requested dtype.
        explicit: DType,
        /// The value initializer's dtype.
        initializer: DType,
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
    /// initializing. Kind [`ErrorKind::Reentrant`].
    #[error("re-entrant creation of variable {name}: its initializer (or custom getter) asked for the variable being created")]
    Reentrant {
        /// Full name of the variable.
        name: String,
    },

    /// An initializer panicked; nothing was stored. Kind
    /// [`ErrorKind::InitializerPanicked`].
    #[error("initializer of variable {name} panicked: {message}")]
    InitializerPanicked {
        /// Full name of the variable.
        name: String,
        /// The panic payload, if it was a string.
        message: String,
    },

    /// Waiting for a creation in progress on another thread would deadlock: the
    /// thread creating it waits — directly or through other threads' creations — for
    /// a creation of the calling thread. `chain` names the slots along the cycle,
    /// starting and ending with the one the caller asked for (variables by full name,
    /// templates by name): `a/v -> b/w -> a/v` means that the creator of `a/v` waits
    /// for `b/w`, whose creator (the caller) would wait for `a/v`. Nothing was
    /// created; the other creations of the cycle go on. Kind [`ErrorKind::Cycle`].
    ///
    /// ```
    /// use varscope::{Error, ErrorKind};
    /// let e = Error::Cycle { chain: vec!["a/v".into(), "b/w".into(), "a/v".into()] };
    /// assert_eq!(e.kind(), ErrorKind::Cycle);
    /// assert!(e.to_string().contains("a/v -> b/w -> a/v"));
    /// ```
    #[error("cycle of creations across threads: {} (each one's creator waits for the next; waiting would deadlock)", chain.join(" -> "))]
    Cycle {
        /// The names along the cycle, the first repeated at the end.
        chain: Vec<String>,
    },

    /// A user callback other than an initializer panicked: a custom getter, a
    /// regularizer, a constraint or a template's function. The panic was caught; the
    /// store is unchanged by the failed call. Kind [`ErrorKind::Panicked`].
    ///
    /// ```
    /// use varscope::{Callback, Error, ErrorKind};
    /// let e = Error::Panicked { callback: Callback::Regularizer, name: "s/v".into(), message: "boom".into() };
    /// assert_eq!(e.kind(), ErrorKind::Panicked);
    /// assert_eq!(e.to_string(), "regularizer of variable s/v panicked: boom");
    /// ```
    #[error("{} panicked: {message}", callback.describe(name))]
    Panicked {
        /// Which callback panicked.
        callback: Callback,
        /// The variable's full name (the template's name for [`Callback::Template`]).
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

    /// Entering one more scope would nest deeper than the thread can hold: more than
    /// [`MAX_SCOPE_DEPTH`](crate::MAX_SCOPE_DEPTH) open scopes, or too little of the
    /// thread's stack left for another level of recursion. Kind
    /// [`ErrorKind::Other`].
    ///
    /// ```
    /// use varscope::{Error, ErrorKind, Graph, MAX_SCOPE_DEPTH, name_scope_guard};
    /// Graph::new().as_default(|| {
    ///     let _open: Vec<_> = (0..MAX_SCOPE_DEPTH).map(|_| name_scope_guard("x/").unwrap()).collect();
    ///     let e = name_scope_guard("x/").unwrap_err();
    ///     assert!(matches!(e, Error::NestingTooDeep { depth, .. } if depth == MAX_SCOPE_DEPTH));
    ///     assert_eq!(e.kind(), ErrorKind::Other);
    /// });
    /// ```
    #[error("scopes nested too deeply ({depth} open on this thread): {reason}")]
    NestingTooDeep {
        /// Scopes (variable and name scopes) open on the calling thread.
        depth: usize,
        /// Which bound was reached.
        reason: &'static str,
    },

    /// Any other invalid argument.
    #[error("{message}")]
    InvalidArgument {
        /// What is wrong.
        message: String,
    },

    /// Opening, reading, writing, syncing or renaming a file failed. Kind
    /// [`ErrorKind::Io`]; the text is `<path>: <the io::Error's text>`.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file (or directory) the operation was on.
        path: PathBuf,
        /// The underlying error (shared, so that `Error` stays `Clone`; it is also the
        /// [`source`](std::error::Error::source), as an `Arc<std::io::Error>`).
        #[source]
        source: Arc<std::io::Error>,
    },

    /// A write target exists and is not a regular file — a symbolic link, FIFO, device
    /// node, socket or directory — so it was left alone. A checkpoint write replaces
    /// such a target only when forced (never a directory), and then replaces the entry
    /// itself (a symbolic link is never followed). Kind [`ErrorKind::Io`].
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use varscope::checkpoint::save_safetensors;
    /// use varscope::{Error, ErrorKind, Tensor};
    /// let dir = std::env::temp_dir().join(format!("varscope-doc-notregular-{}", std::process::id()));
    /// std::fs::create_dir_all(dir.join("m.safetensors")).unwrap(); // a directory in the way
    /// let t = Tensor::scalar(1.0f32);
    /// let e = save_safetensors(&dir.join("m.safetensors"), [("w".to_string(), &t)], &BTreeMap::new())
    ///     .unwrap_err();
    /// assert!(matches!(&e, Error::NotRegularFile { file_type: "directory", .. }));
    /// assert_eq!(e.kind(), ErrorKind::Io);
    /// assert!(dir.join("m.safetensors").is_dir()); // left alone
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    #[error("{}: is a {file_type}, not a regular file; refusing to replace it", .path.display())]
    NotRegularFile {
        /// The target path.
        path: PathBuf,
        /// What it is: `symbolic link`, `FIFO`, `character device`, `block device`,
        /// `socket` or `directory`.
        file_type: &'static str,
    },

    /// A checkpoint is corrupt: a truncated file, a malformed safetensors header, an
    /// unsupported dtype, inconsistent data offsets, or partition metadata that does
    /// not describe the shards it lists. Kind [`ErrorKind::Checkpoint`].
    #[error("corrupt checkpoint: {message}")]
    Checkpoint {
        /// What is wrong, starting with the file's path when there is a file.
        message: String,
    },

    /// Restoring: a variable has no tensor in the checkpoint — neither its own, nor a
    /// whole tensor or shards it could be cut from. Kind [`ErrorKind::NotFound`].
    #[error("variable {name} is not in the checkpoint")]
    NotInCheckpoint {
        /// The variable's checkpoint name (`scope/v`, a shard's `scope/v/part_0`).
        name: String,
    },

    /// Restoring: the checkpoint tensor for a variable has another shape. Kind
    /// [`ErrorKind::ShapeMismatch`].
    #[error("cannot restore variable {name} from checkpoint tensor {tensor}: the variable needs shape {expected}, the tensor has shape {found}")]
    CheckpointShapeMismatch {
        /// The variable's checkpoint name.
        name: String,
        /// The checkpoint tensor it was to be restored from (the whole variable's, for
        /// a shard cut out of an unpartitioned tensor).
        tensor: String,
        /// The shape `tensor` must have: the variable's, or the whole variable's when
        /// a shard is cut from it.
        expected: Shape,
        /// The checkpoint tensor's shape.
        found: Shape,
    },

    /// Restoring: the checkpoint tensor for a variable has another dtype. Kind
    /// [`ErrorKind::DTypeMismatch`].
    #[error("cannot restore variable {name} from checkpoint tensor {tensor}: the variable has dtype {expected}, the tensor has dtype {found}")]
    CheckpointDTypeMismatch {
        /// The variable's checkpoint name.
        name: String,
        /// The checkpoint tensor it was to be restored from.
        tensor: String,
        /// The variable's dtype.
        expected: DType,
        /// The checkpoint tensor's dtype.
        found: DType,
    },

    /// `init_from_checkpoint`: the checkpoint tensor an assignment map names for a
    /// variable is not in the checkpoint. Kind [`ErrorKind::NotFound`].
    #[error("tensor {tensor} (for variable {variable}) is not found in checkpoint {checkpoint}")]
    MappedNotInCheckpoint {
        /// The checkpoint tensor the map gives.
        tensor: String,
        /// The variable it was to be restored into.
        variable: String,
        /// The checkpoint's path.
        checkpoint: String,
    },

    /// A value buffer could not be allocated: its byte size overflows, exceeds what
    /// one allocation may hold, or the allocator refused it. Nothing was stored. Kind
    /// [`ErrorKind::Allocation`].
    ///
    /// ```
    /// use varscope::{get_variable, Error, ErrorKind, Graph};
    /// let g = Graph::with_seed(1);
    /// // TF accepts any shape at creation; the value cannot be built.
    /// let v = g.as_default(|| get_variable("huge").shape([1usize << 60]).build()).unwrap();
    /// let e = v.value().unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::Allocation);
    /// assert!(matches!(&e, Error::Allocation { name, bytes } if name == "huge" && *bytes == 1 << 62));
    /// ```
    #[error("cannot allocate {bytes} bytes for the value of {}", if .name.is_empty() { "a tensor" } else { .name.as_str() })]
    Allocation {
        /// The variable's checkpoint name (empty for a tensor outside any variable).
        name: String,
        /// The size of the buffer that was asked for.
        bytes: u128,
    },

    /// An error raised while building a model spec (`varscope::model`): the spec
    /// key of the module or scope that raised it, and the error worded for the
    /// spec's author (the fix spelled in TOML). Its [`kind`](Error::kind) is the
    /// underlying error's, which is also its [`source`](std::error::Error::source).
    ///
    /// ```
    /// use varscope::{Error, ErrorKind};
    /// let inner = Error::ImproperNesting;
    /// let e = Error::InSpec { key: "scopes[0]".into(), message: "bad nesting".into(), source: Box::new(inner) };
    /// assert_eq!(e.to_string(), "spec key `scopes[0]`: bad nesting");
    /// assert_eq!(e.kind(), ErrorKind::Other); // the underlying error's kind
    /// assert!(std::error::Error::source(&e).is_some());
    /// ```
    #[error("spec key `{key}`: {message}")]
    InSpec {
        /// The spec key (`scopes[0].modules[1]`, `blocks.layer.modules[0]`).
        key: String,
        /// What went wrong and how to fix it in the spec.
        message: String,
        /// The underlying error.
        source: Box<Error>,
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
    if partitioned {
        format!("Trying to reuse partitioned variable {name}, but specified dtype {requested} and found dtype {found}.")
    } else {
        format!(
            "Trying to share variable {name}, but specified dtype {requested} and found dtype {found}."
        )
    }
}

/// The user callback named by [`Error::Panicked`].
///
/// ```
/// use varscope::{get_variable, Callback, Constraint, Error, Graph};
/// let w = get_variable("w").shape([1]).constraint(Constraint::new(|_| panic!("bad projection")))
///     .graph(&Graph::with_seed(1)).build().unwrap();
/// let e = w.apply_constraint().unwrap_err();
/// assert!(matches!(e, Error::Panicked { callback: Callback::Constraint, .. }));
/// assert!(w.value().is_ok()); // unchanged
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Callback {
    /// A [`CustomGetter`](crate::CustomGetter).
    CustomGetter,
    /// A [`Regularizer`](crate::Regularizer), evaluated by
    /// [`RegularizationLoss::value`](crate::RegularizationLoss::value).
    Regularizer,
    /// A [`Constraint`](crate::Constraint), applied by
    /// [`Variable::apply_constraint`](crate::Variable::apply_constraint).
    Constraint,
    /// A [`Template`](crate::Template)'s function.
    Template,
}

impl Callback {
    fn describe(self, name: &str) -> String {
        match self {
            Callback::CustomGetter => format!("custom getter of variable {name}"),
            Callback::Regularizer => format!("regularizer of variable {name}"),
            Callback::Constraint => format!("constraint of variable {name}"),
            Callback::Template => format!("template {name}"),
        }
    }
}

/// The coarse kind of an [`Error`].
///
/// The kinds from [`InvalidName`](ErrorKind::InvalidName) to
/// [`TypeMismatch`](ErrorKind::TypeMismatch), and [`Other`](ErrorKind::Other), are the
/// error kinds of the conformance format (TensorFlow's exception classes, as the
/// recorded traces name them). The remaining kinds are varscope's own — failures TF
/// has no counterpart for, which would otherwise all be `Other`:
///
/// | kind | errors |
/// |---|---|
/// | [`Reentrant`](ErrorKind::Reentrant) | [`Error::Reentrant`] |
/// | [`InitializerPanicked`](ErrorKind::InitializerPanicked) | [`Error::InitializerPanicked`] |
/// | [`Cycle`](ErrorKind::Cycle) | [`Error::Cycle`] |
/// | [`Panicked`](ErrorKind::Panicked) | [`Error::Panicked`] |
/// | [`Io`](ErrorKind::Io) | [`Error::Io`], [`Error::NotRegularFile`] |
/// | [`Checkpoint`](ErrorKind::Checkpoint) | [`Error::Checkpoint`] |
/// | [`Allocation`](ErrorKind::Allocation) | [`Error::Allocation`] |
///
/// Restoring reuses the scoping kinds: [`Error::NotInCheckpoint`] is
/// [`NotFound`](ErrorKind::NotFound), [`Error::CheckpointShapeMismatch`]
/// [`ShapeMismatch`](ErrorKind::ShapeMismatch) and [`Error::CheckpointDTypeMismatch`]
/// [`DTypeMismatch`](ErrorKind::DTypeMismatch). Everything else (bad initializer
/// parameters, invalid shapes, improper nesting, failed jobs, other invalid
/// arguments) is [`Other`](ErrorKind::Other).
///
/// ```
/// use varscope::{get_variable, variable_scope, ErrorKind, Graph, Reuse};
/// Graph::with_seed(1).as_default(|| {
///     let e = variable_scope("s").reuse(Reuse::Yes)
///         .enter(|_| get_variable("missing").shape([1]).build()).unwrap_err();
///     assert_eq!(e.kind(), ErrorKind::NotFound);
///     assert_eq!(e.kind().as_str(), "not_found");
/// });
/// ```
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
    /// `reentrant`: an initializer or custom getter asked for the variable it is
    /// creating.
    Reentrant,
    /// `initializer_panicked`: an initializer panicked.
    InitializerPanicked,
    /// `io`: a file could not be opened, read, written, synced or renamed.
    Io,
    /// `checkpoint`: a checkpoint file or its partition metadata is corrupt.
    Checkpoint,
    /// `cycle`: waiting for another thread's creation would close a cycle.
    Cycle,
    /// `panicked`: a custom getter, regularizer, constraint or template function
    /// panicked.
    Panicked,
    /// `allocation`: a value buffer could not be allocated.
    Allocation,
}

impl ErrorKind {
    /// The snake-case name (the conformance format's, for the kinds it has).
    ///
    /// ```
    /// use varscope::{Error, ErrorKind};
    /// assert_eq!(ErrorKind::AlreadyExists.as_str(), "already_exists");
    /// assert_eq!(Error::ImproperNesting.kind().as_str(), "other");
    /// ```
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
            ErrorKind::Reentrant => "reentrant",
            ErrorKind::InitializerPanicked => "initializer_panicked",
            ErrorKind::Io => "io",
            ErrorKind::Checkpoint => "checkpoint",
            ErrorKind::Cycle => "cycle",
            ErrorKind::Panicked => "panicked",
            ErrorKind::Allocation => "allocation",
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
    ///
    /// ```
    /// use varscope::{get_variable, ErrorKind, Graph};
    /// Graph::with_seed(1).as_default(|| {
    ///     get_variable("w").shape([2]).build().unwrap();
    ///     let e = get_variable("w").shape([3]).build().unwrap_err();  // reuse is off
    ///     assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    ///     let bad = get_variable("bad name").shape([1]).build().unwrap_err();
    ///     assert_eq!(bad.kind(), ErrorKind::InvalidName);
    /// });
    /// ```
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
            Error::ShapeMismatch { .. } | Error::CheckpointShapeMismatch { .. } => {
                ErrorKind::ShapeMismatch
            }
            Error::DTypeMismatch { .. } | Error::CheckpointDTypeMismatch { .. } => {
                ErrorKind::DTypeMismatch
            }
            Error::NotInCheckpoint { .. } | Error::MappedNotInCheckpoint { .. } => {
                ErrorKind::NotFound
            }
            Error::PartitionMismatch { .. } => ErrorKind::PartitionMismatch,
            Error::ShapeRequired { .. } => ErrorKind::ShapeRequired,
            Error::InvalidReuse { .. } => ErrorKind::InvalidReuse,
            Error::TemplateVariable { .. } => ErrorKind::TemplateVariable,
            Error::TypeMismatch { .. } => ErrorKind::TypeMismatch,
            Error::Reentrant { .. } => ErrorKind::Reentrant,
            Error::InitializerPanicked { .. } => ErrorKind::InitializerPanicked,
            Error::Io { .. } | Error::NotRegularFile { .. } => ErrorKind::Io,
            Error::Checkpoint { .. } => ErrorKind::Checkpoint,
            Error::Cycle { .. } => ErrorKind::Cycle,
            Error::Panicked { .. } => ErrorKind::Panicked,
            Error::Allocation { .. } => ErrorKind::Allocation,
            Error::InSpec { source, .. } => source.kind(),
            Error::InitializerDTypeMismatch { .. }
            | Error::Initializer { .. }
            | Error::InvalidShape { .. }
            | Error::ImproperNesting
            | Error::NestingTooDeep { .. }
            | Error::InvalidArgument { .. }
            | Error::Job { .. } => ErrorKind::Other,
        }
    }

    /// `e`, raised while building the spec key `key`, worded for the spec's author:
    /// TF's text without the Rust API's hint, and the fix as TOML (an error that
    /// already names a key is kept as is).
    #[cfg_attr(not(feature = "spec"), allow(dead_code))]
    pub(crate) fn in_spec(key: &str, e: Error) -> Error {
        if matches!(e, Error::InSpec { .. }) {
            return e;
        }
        let tf = e.to_string().replace(
            " (use Reuse::Yes or Reuse::Auto on the enclosing variable_scope)",
            "",
        );
        let hint = match e.kind() {
            ErrorKind::AlreadyExists => " In the spec: give the module or scope a `name` of its own, or share the existing variables with `reuse = \"auto\"` (or `reuse = \"yes\"`) on its scope.",
            ErrorKind::NotFound => " In the spec: `reuse = \"yes\"` only gets variables built earlier in the spec; build it in an earlier scope, or write `reuse = \"auto\"` to create what is missing.",
            ErrorKind::ShapeMismatch | ErrorKind::DTypeMismatch | ErrorKind::PartitionMismatch => " In the spec: a scope that reuses a variable must give it the same sizes (`dim`, `units`, `shape`, …), `dtype` and `partitioner`.",
            ErrorKind::InvalidReuse => " In the spec: give the scope a `name`.",
            _ => "",
        };
        Error::InSpec {
            key: key.to_string(),
            message: format!("{tf}{hint}"),
            source: Box::new(e),
        }
    }

    pub(crate) fn invalid_arg(message: impl Into<String>) -> Error {
        Error::InvalidArgument {
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source: Arc::new(source),
        }
    }

    /// Names the variable of an allocation error that was raised without one.
    pub(crate) fn for_variable(self, variable: &str) -> Error {
        match self {
            Error::Allocation { name, bytes } if name.is_empty() => Error::Allocation {
                name: variable.to_string(),
                bytes,
            },
            e => e,
        }
    }

    pub(crate) fn corrupt(message: impl Into<String>) -> Error {
        Error::Checkpoint {
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(d: &[usize]) -> Shape {
        Shape::new(d).unwrap()
    }

    #[test]
    fn kinds_of_the_varscope_only_errors() {
        let io = Error::io(
            "/x/model.safetensors",
            std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory"),
        );
        assert_eq!(io.kind(), ErrorKind::Io);
        assert_eq!(
            io.to_string(),
            "/x/model.safetensors: No such file or directory"
        );
        assert!(std::error::Error::source(&io).is_some());
        let c = Error::corrupt("/x/m.safetensors: header is not a JSON object");
        assert_eq!(c.kind(), ErrorKind::Checkpoint);
        assert_eq!(
            c.to_string(),
            "corrupt checkpoint: /x/m.safetensors: header is not a JSON object"
        );
        let r = Error::Reentrant { name: "s/v".into() };
        assert_eq!(r.kind(), ErrorKind::Reentrant);
        let p = Error::InitializerPanicked {
            name: "s/v".into(),
            message: "boom".into(),
        };
        assert_eq!(p.kind(), ErrorKind::InitializerPanicked);
        assert_eq!(p.to_string(), "initializer of variable s/v panicked: boom");
        for (k, s) in [
            (ErrorKind::Reentrant, "reentrant"),
            (ErrorKind::InitializerPanicked, "initializer_panicked"),
            (ErrorKind::Io, "io"),
            (ErrorKind::Checkpoint, "checkpoint"),
        ] {
            assert_eq!(k.as_str(), s);
        }
    }

    #[test]
    fn restore_errors_name_both_sides_and_share_the_scoping_kinds() {
        let m = Error::NotInCheckpoint { name: "m/b".into() };
        assert_eq!(m.kind(), ErrorKind::NotFound);
        assert_eq!(m.to_string(), "variable m/b is not in the checkpoint");
        let s = Error::CheckpointShapeMismatch {
            name: "m/emb/part_0".into(),
            tensor: "m/emb".into(),
            expected: shape(&[7, 3]),
            found: shape(&[3, 7]),
        };
        assert_eq!(s.kind(), ErrorKind::ShapeMismatch);
        assert_eq!(
            s.to_string(),
            "cannot restore variable m/emb/part_0 from checkpoint tensor m/emb: the variable needs shape (7, 3), the tensor has shape (3, 7)"
        );
        let d = Error::CheckpointDTypeMismatch {
            name: "m/b".into(),
            tensor: "m/b".into(),
            expected: DType::F32,
            found: DType::F64,
        };
        assert_eq!(d.kind(), ErrorKind::DTypeMismatch);
        assert_eq!(
            d.to_string(),
            "cannot restore variable m/b from checkpoint tensor m/b: the variable has dtype float32, the tensor has dtype float64"
        );
    }

    #[test]
    fn initializer_dtype_mismatch_has_tf_text_and_kind_other() {
        let e = Error::InitializerDTypeMismatch {
            explicit: DType::F32,
            initializer: DType::I32,
        };
        assert_eq!(e.kind(), ErrorKind::Other);
        assert_eq!(
            e.to_string(),
            "Initializer type 'int32' and explicit dtype 'float32' don't match."
        );
    }
}
