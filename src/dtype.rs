//! Element types of variables.

use std::fmt;

/// The element type of a variable or tensor, named as TensorFlow names it.
///
/// ```
/// use varscope::DType;
/// assert_eq!(DType::F32.name(), "float32");
/// assert_eq!(DType::from_name("int64"), Some(DType::I64));
/// assert_eq!(DType::BF16.size(), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DType {
    /// IEEE 754 half precision (`float16`).
    F16,
    /// Brain floating point (`bfloat16`).
    BF16,
    /// `float32`, the default.
    F32,
    /// `float64`.
    F64,
    /// `int32`.
    I32,
    /// `int64`.
    I64,
    /// `bool`.
    Bool,
}

impl DType {
    /// Every supported dtype.
    pub const ALL: [DType; 7] = [
        DType::F16,
        DType::BF16,
        DType::F32,
        DType::F64,
        DType::I32,
        DType::I64,
        DType::Bool,
    ];

    /// TensorFlow's name: `float32`, `int64`, `bool`, …
    pub fn name(self) -> &'static str {
        match self {
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::Bool => "bool",
        }
    }

    /// Parses TensorFlow's name (also accepts `safetensors` names such as `F32`).
    pub fn from_name(name: &str) -> Option<DType> {
        Some(match name {
            "float16" | "half" | "F16" => DType::F16,
            "bfloat16" | "BF16" => DType::BF16,
            "float32" | "float" | "F32" => DType::F32,
            "float64" | "double" | "F64" => DType::F64,
            "int32" | "I32" => DType::I32,
            "int64" | "I64" => DType::I64,
            "bool" | "BOOL" => DType::Bool,
            _ => return None,
        })
    }

    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::F16 | DType::BF16 => 2,
            DType::F32 | DType::I32 => 4,
            DType::F64 | DType::I64 => 8,
            DType::Bool => 1,
        }
    }

    /// Whether this is a floating-point type (the default initializer is then
    /// glorot-uniform rather than zeros).
    pub fn is_floating(self) -> bool {
        matches!(self, DType::F16 | DType::BF16 | DType::F32 | DType::F64)
    }

    /// Whether this is an integer type.
    pub fn is_integer(self) -> bool {
        matches!(self, DType::I32 | DType::I64)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
