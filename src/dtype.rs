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
    ///
    /// ```
    /// use varscope::DType;
    /// assert_eq!(DType::BF16.name(), "bfloat16");
    /// assert_eq!(DType::I64.to_string(), "int64");
    /// ```
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
    ///
    /// ```
    /// use varscope::DType;
    /// assert_eq!(DType::from_name("float32"), Some(DType::F32));
    /// assert_eq!(DType::from_name("F16"), Some(DType::F16)); // safetensors' name
    /// assert_eq!(DType::from_name("string"), None);
    /// ```
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
    ///
    /// ```
    /// use varscope::DType;
    /// assert_eq!((DType::BF16.size(), DType::F64.size(), DType::Bool.size()), (2, 8, 1));
    /// ```
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
    ///
    /// ```
    /// use varscope::{get_variable, DType, Graph};
    /// assert!(DType::F16.is_floating() && !DType::I32.is_floating());
    /// // Integer variables default to zeros, floating ones to glorot-uniform.
    /// let g = Graph::with_seed(1);
    /// let i = get_variable("i").shape([8]).dtype(DType::I32).graph(&g).build().unwrap();
    /// assert_eq!(i.value().unwrap().to_f64_vec(), [0.0; 8]);
    /// let f = get_variable("f").shape([8]).graph(&g).build().unwrap();
    /// assert!(f.value().unwrap().to_f64_vec().iter().any(|&x| x != 0.0));
    /// ```
    pub fn is_floating(self) -> bool {
        matches!(self, DType::F16 | DType::BF16 | DType::F32 | DType::F64)
    }

    /// Whether this is an integer type.
    ///
    /// ```
    /// use varscope::DType;
    /// assert!(DType::I64.is_integer());
    /// assert!(!DType::Bool.is_integer() && !DType::F32.is_integer());
    /// ```
    pub fn is_integer(self) -> bool {
        matches!(self, DType::I32 | DType::I64)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
