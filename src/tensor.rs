//! [`Tensor`]: a dense `ndarray` value of any supported [`DType`].

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::Shape;
use half::{bf16, f16};
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, IxDyn};

/// A dense n-dimensional value: one `ndarray::ArrayD` of the matching element type.
///
/// ```
/// use varscope::{DType, Tensor};
/// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]).unwrap();
/// assert_eq!(t.dtype(), DType::F32);
/// assert_eq!(t.shape().dims(), &[2, 2]);
/// assert_eq!(t.view::<f32>().unwrap()[[1, 0]], 3.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Tensor {
    /// `float16` values.
    F16(ArrayD<f16>),
    /// `bfloat16` values.
    BF16(ArrayD<bf16>),
    /// `float32` values.
    F32(ArrayD<f32>),
    /// `float64` values.
    F64(ArrayD<f64>),
    /// `int32` values.
    I32(ArrayD<i32>),
    /// `int64` values.
    I64(ArrayD<i64>),
    /// `bool` values.
    Bool(ArrayD<bool>),
}

/// Element types a [`Tensor`] can hold (sealed).
///
/// ```
/// use varscope::{DType, Element, Tensor};
/// fn sum<T: Element>(t: &Tensor) -> Option<f64> {
///     Some(t.view::<T>()?.iter().map(|v| v.to_f64()).sum())
/// }
/// let t = Tensor::from_vec(vec![1i32, 2, 3], [3]).unwrap();
/// assert_eq!(<i32 as Element>::DTYPE, DType::I32);
/// assert_eq!(sum::<i32>(&t), Some(6.0));
/// assert_eq!(sum::<f32>(&t), None); // wrong element type
/// ```
pub trait Element: Clone + Copy + Send + Sync + PartialEq + std::fmt::Debug + 'static {
    /// The matching dtype.
    const DTYPE: DType;
    /// Zero of this type (`false` for bool).
    ///
    /// ```
    /// use varscope::Element;
    /// assert_eq!(<f32 as Element>::zero(), 0.0);
    /// assert!(!<bool as Element>::zero());
    /// ```
    fn zero() -> Self;
    /// Wraps an array into a tensor.
    ///
    /// ```
    /// use varscope::{DType, Element};
    /// let t = <i64 as Element>::wrap(ndarray::ArrayD::from_elem(ndarray::IxDyn(&[2]), 7));
    /// assert_eq!((t.dtype(), t.to_f64_vec()), (DType::I64, vec![7.0, 7.0]));
    /// ```
    fn wrap(a: ArrayD<Self>) -> Tensor;
    /// A view of the tensor's values, if the dtype matches.
    ///
    /// ```
    /// use varscope::{Element, Tensor};
    /// let t = Tensor::scalar(1.5f64);
    /// assert_eq!(<f64 as Element>::view(&t).unwrap()[[]], 1.5);
    /// assert!(<f32 as Element>::view(&t).is_none());
    /// ```
    fn view(t: &Tensor) -> Option<ArrayViewD<'_, Self>>;
    /// A mutable view of the tensor's values, if the dtype matches.
    ///
    /// ```
    /// use varscope::{Element, Tensor};
    /// let mut t = Tensor::scalar(1i32);
    /// <i32 as Element>::view_mut(&mut t).unwrap()[[]] = 5;
    /// assert_eq!(t, Tensor::scalar(5i32));
    /// ```
    fn view_mut(t: &mut Tensor) -> Option<ArrayViewMutD<'_, Self>>;
    /// Converts from `f64` the way TensorFlow casts (saturating for integers).
    ///
    /// ```
    /// use varscope::Element;
    /// assert_eq!(<i32 as Element>::from_f64(1e12), i32::MAX); // saturates
    /// assert_eq!(<i64 as Element>::from_f64(-2.7), -2);     // truncates toward zero
    /// assert!(<bool as Element>::from_f64(0.5));
    /// ```
    fn from_f64(v: f64) -> Self;
    /// Converts to `f64`.
    ///
    /// ```
    /// use varscope::Element;
    /// assert_eq!(true.to_f64(), 1.0);
    /// assert_eq!(half::f16::from_f32(0.5).to_f64(), 0.5);
    /// ```
    fn to_f64(self) -> f64;
    #[doc(hidden)]
    fn __sealed(_: private::Sealed);
}

mod private {
    #[derive(Debug)]
    pub struct Sealed;
}

macro_rules! element {
    ($t:ty, $variant:ident, $zero:expr, |$v:ident| $from:expr, |$s:ident| $to:expr) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            fn zero() -> Self {
                $zero
            }
            fn wrap(a: ArrayD<Self>) -> Tensor {
                Tensor::$variant(a)
            }
            fn view(t: &Tensor) -> Option<ArrayViewD<'_, Self>> {
                match t {
                    Tensor::$variant(a) => Some(a.view()),
                    _ => None,
                }
            }
            fn view_mut(t: &mut Tensor) -> Option<ArrayViewMutD<'_, Self>> {
                match t {
                    Tensor::$variant(a) => Some(a.view_mut()),
                    _ => None,
                }
            }
            fn from_f64($v: f64) -> Self {
                $from
            }
            fn to_f64(self) -> f64 {
                let $s = self;
                $to
            }
            fn __sealed(_: private::Sealed) {}
        }
    };
}

element!(f16, F16, f16::ZERO, |v| f16::from_f64(v), |s| s.to_f64());
element!(bf16, BF16, bf16::ZERO, |v| bf16::from_f64(v), |s| s
    .to_f64());
element!(f32, F32, 0.0, |v| v as f32, |s| f64::from(s));
element!(f64, F64, 0.0, |v| v, |s| s);
element!(i32, I32, 0, |v| v as i32, |s| f64::from(s));
element!(i64, I64, 0, |v| v as i64, |s| s as f64);
element!(bool, Bool, false, |v| v != 0.0, |s| if s {
    1.0
} else {
    0.0
});

/// Applies `$body` to the inner array of any variant, binding it as `$a`.
macro_rules! dispatch {
    ($t:expr, $a:ident => $body:expr) => {
        match $t {
            Tensor::F16($a) => $body,
            Tensor::BF16($a) => $body,
            Tensor::F32($a) => $body,
            Tensor::F64($a) => $body,
            Tensor::I32($a) => $body,
            Tensor::I64($a) => $body,
            Tensor::Bool($a) => $body,
        }
    };
}
pub(crate) use dispatch;

impl Tensor {
    /// A tensor of zeros (`false` for bool).
    ///
    /// # Panics
    /// Aborts the process when the allocation fails, as `Vec` does;
    /// [`try_zeros`](Tensor::try_zeros) returns an error instead.
    ///
    /// ```
    /// use varscope::{DType, Shape, Tensor};
    /// let t = Tensor::zeros(DType::I32, &Shape::new([2, 2]).unwrap());
    /// assert_eq!(t.dtype(), DType::I32);
    /// assert_eq!(t.to_f64_vec(), [0.0; 4]);
    /// ```
    pub fn zeros(dtype: DType, shape: &Shape) -> Tensor {
        fn z<T: Element>(s: &Shape) -> Tensor {
            T::wrap(ArrayD::from_elem(IxDyn(s.dims()), T::zero()))
        }
        match dtype {
            DType::F16 => z::<f16>(shape),
            DType::BF16 => z::<bf16>(shape),
            DType::F32 => z::<f32>(shape),
            DType::F64 => z::<f64>(shape),
            DType::I32 => z::<i32>(shape),
            DType::I64 => z::<i64>(shape),
            DType::Bool => z::<bool>(shape),
        }
    }

    /// A tensor of zeros (`false` for bool), or an error when the buffer cannot be
    /// allocated. The buffer is requested zeroed from the allocator (so untouched
    /// pages cost no memory), and never aborts the process.
    ///
    /// # Errors
    /// [`Error::Allocation`] (with an empty `name`) when the byte size overflows,
    /// exceeds `isize::MAX`, or the allocator refuses it.
    ///
    /// ```
    /// use varscope::{DType, ErrorKind, Shape, Tensor};
    /// let t = Tensor::try_zeros(DType::F32, &Shape::new([2, 3]).unwrap()).unwrap();
    /// assert_eq!(t.to_f64_vec(), [0.0; 6]);
    /// let huge = Shape::new([1usize << 61]).unwrap();
    /// let e = Tensor::try_zeros(DType::F64, &huge).unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::Allocation);
    /// ```
    pub fn try_zeros(dtype: DType, shape: &Shape) -> Result<Tensor> {
        fn z<T: Element + bytemuck::Zeroable>(s: &Shape) -> Result<Tensor> {
            Ok(T::wrap(array_from_vec(
                s,
                zeroed_vec::<T>(s.num_elements())?,
            )?))
        }
        match dtype {
            DType::F16 => z::<f16>(shape),
            DType::BF16 => z::<bf16>(shape),
            DType::F32 => z::<f32>(shape),
            DType::F64 => z::<f64>(shape),
            DType::I32 => z::<i32>(shape),
            DType::I64 => z::<i64>(shape),
            DType::Bool => z::<bool>(shape),
        }
    }

    /// A tensor from row-major values and a shape.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] if the shape overflows or disagrees with `data.len()`.
    ///
    /// ```
    /// use varscope::{Error, Tensor};
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]).unwrap();
    /// assert_eq!(t.view::<f32>().unwrap()[[1, 0]], 4.0);
    /// let e = Tensor::from_vec(vec![1.0f32, 2.0], [3]).unwrap_err();
    /// assert!(matches!(e, Error::InvalidShape { .. }));
    /// ```
    pub fn from_vec<T: Element>(data: Vec<T>, shape: impl Into<Vec<usize>>) -> Result<Tensor> {
        let shape = Shape::new(shape.into())?;
        if shape.num_elements() != data.len() {
            return Err(Error::InvalidShape {
                message: format!(
                    "{} values cannot fill shape {} ({} elements)",
                    data.len(),
                    shape,
                    shape.num_elements()
                ),
            });
        }
        let a =
            ArrayD::from_shape_vec(IxDyn(shape.dims()), data).map_err(|e| Error::InvalidShape {
                message: e.to_string(),
            })?;
        Ok(T::wrap(a))
    }

    /// A scalar tensor.
    ///
    /// ```
    /// use varscope::Tensor;
    /// let t = Tensor::scalar(3i64);
    /// assert_eq!(t.shape().rank(), 0);
    /// assert_eq!(t.len(), 1);
    /// ```
    pub fn scalar<T: Element>(v: T) -> Tensor {
        T::wrap(ArrayD::from_elem(IxDyn(&[]), v))
    }

    /// Wraps an `ndarray` array.
    ///
    /// ```
    /// use varscope::{DType, Tensor};
    /// let a = ndarray::ArrayD::<f64>::zeros(ndarray::IxDyn(&[2, 3]));
    /// let t = Tensor::from_array(a);
    /// assert_eq!((t.dtype(), t.shape().dims()), (DType::F64, &[2usize, 3][..]));
    /// ```
    pub fn from_array<T: Element>(a: ArrayD<T>) -> Tensor {
        T::wrap(a)
    }

    /// The element type.
    ///
    /// ```
    /// use varscope::{DType, Tensor};
    /// assert_eq!(Tensor::scalar(true).dtype(), DType::Bool);
    /// assert_eq!(Tensor::scalar(half::bf16::ONE).dtype(), DType::BF16);
    /// ```
    pub fn dtype(&self) -> DType {
        match self {
            Tensor::F16(_) => DType::F16,
            Tensor::BF16(_) => DType::BF16,
            Tensor::F32(_) => DType::F32,
            Tensor::F64(_) => DType::F64,
            Tensor::I32(_) => DType::I32,
            Tensor::I64(_) => DType::I64,
            Tensor::Bool(_) => DType::Bool,
        }
    }

    /// The shape.
    ///
    /// ```
    /// use varscope::Tensor;
    /// let t = Tensor::from_vec(vec![0i32; 24], [2, 3, 4]).unwrap();
    /// assert_eq!(t.shape().dims(), &[2, 3, 4]);
    /// assert_eq!(t.shape().to_string(), "(2, 3, 4)");
    /// ```
    pub fn shape(&self) -> Shape {
        dispatch!(self, a => Shape::of_array(a.shape(), a.len()))
    }

    /// Number of elements.
    ///
    /// ```
    /// use varscope::Tensor;
    /// assert_eq!(Tensor::from_vec(vec![0.0f32; 6], [2, 3]).unwrap().len(), 6);
    /// ```
    pub fn len(&self) -> usize {
        dispatch!(self, a => a.len())
    }

    /// Whether the tensor has no elements.
    ///
    /// ```
    /// use varscope::Tensor;
    /// assert!(Tensor::from_vec(Vec::<f32>::new(), [0, 3]).unwrap().is_empty());
    /// assert!(!Tensor::scalar(0.0f32).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size of the values in bytes.
    ///
    /// ```
    /// use varscope::Tensor;
    /// assert_eq!(Tensor::from_vec(vec![0.0f64; 3], [3]).unwrap().nbytes(), 24);
    /// assert_eq!(Tensor::from_vec(vec![false; 3], [3]).unwrap().nbytes(), 3);
    /// ```
    pub fn nbytes(&self) -> usize {
        // An allocated buffer's size fits in `isize`.
        self.len().saturating_mul(self.dtype().size())
    }

    /// A typed view; `None` if `T` is not this tensor's element type.
    ///
    /// ```
    /// use varscope::Tensor;
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap();
    /// assert_eq!(t.view::<f32>().unwrap().sum(), 3.0);
    /// assert!(t.view::<f64>().is_none());
    /// ```
    pub fn view<T: Element>(&self) -> Option<ArrayViewD<'_, T>> {
        T::view(self)
    }

    /// A typed mutable view; `None` if `T` is not this tensor's element type.
    ///
    /// ```
    /// use varscope::Tensor;
    /// let mut t = Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap();
    /// t.view_mut::<f32>().unwrap().mapv_inplace(|x| x * 10.0);
    /// assert_eq!(t.to_f64_vec(), [10.0, 20.0]);
    /// ```
    pub fn view_mut<T: Element>(&mut self) -> Option<ArrayViewMutD<'_, T>> {
        T::view_mut(self)
    }

    /// The values, row-major, converted to `f64` (bools as 0/1).
    ///
    /// ```
    /// use varscope::Tensor;
    /// let t = Tensor::from_vec(vec![true, false], [2]).unwrap();
    /// assert_eq!(t.to_f64_vec(), [1.0, 0.0]);
    /// ```
    pub fn to_f64_vec(&self) -> Vec<f64> {
        dispatch!(self, a => a.iter().map(|v| v.to_f64()).collect())
    }

    /// The values as little-endian bytes, row-major (the safetensors layout).
    ///
    /// ```
    /// use varscope::Tensor;
    /// let t = Tensor::from_vec(vec![1i32, 256], [2]).unwrap();
    /// assert_eq!(t.to_le_bytes(), [1, 0, 0, 0, 0, 1, 0, 0]);
    /// ```
    pub fn to_le_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.nbytes());
        self.write_le_bytes(&mut out);
        out
    }

    /// Appends the values as little-endian bytes, row-major.
    ///
    /// ```
    /// use varscope::Tensor;
    /// let mut out = vec![0xff];
    /// Tensor::scalar(1.0f32).write_le_bytes(&mut out);
    /// assert_eq!(out, [0xff, 0x00, 0x00, 0x80, 0x3f]);
    /// ```
    pub fn write_le_bytes(&self, out: &mut Vec<u8>) {
        match self {
            Tensor::F16(a) => a
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            Tensor::BF16(a) => a
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            Tensor::F32(a) => a
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            Tensor::F64(a) => a
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            Tensor::I32(a) => a
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            Tensor::I64(a) => a
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            Tensor::Bool(a) => a.iter().for_each(|v| out.push(u8::from(*v))),
        }
    }

    /// Builds a tensor from little-endian bytes.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] when the byte length disagrees with shape and dtype, or a
    /// bool byte is not 0 or 1.
    ///
    /// ```
    /// use varscope::{DType, Shape, Tensor};
    /// let shape = Shape::new([2]).unwrap();
    /// let t = Tensor::from_vec(vec![1.5f64, -2.0], [2]).unwrap();
    /// assert_eq!(Tensor::from_le_bytes(DType::F64, &shape, &t.to_le_bytes()).unwrap(), t);
    /// assert!(Tensor::from_le_bytes(DType::F64, &shape, &[0; 15]).is_err()); // one byte short
    /// assert!(Tensor::from_le_bytes(DType::Bool, &shape, &[0, 2]).is_err()); // not a bool
    /// ```
    pub fn from_le_bytes(dtype: DType, shape: &Shape, bytes: &[u8]) -> Result<Tensor> {
        let expected = shape.num_elements().checked_mul(dtype.size());
        if expected != Some(bytes.len()) {
            return Err(Error::InvalidShape {
                message: format!(
                    "{} bytes cannot hold a {dtype} tensor of shape {shape}",
                    bytes.len()
                ),
            });
        }
        fn build<T: Element, const N: usize>(
            shape: &Shape,
            bytes: &[u8],
            f: impl Fn([u8; N]) -> T,
        ) -> Result<Tensor> {
            let mut v: Vec<T> = try_vec(bytes.len() / N)?;
            v.extend(
                bytes
                    .chunks_exact(N)
                    .filter_map(|c| <[u8; N]>::try_from(c).ok())
                    .map(&f),
            );
            Ok(T::wrap(array_from_vec(shape, v)?))
        }
        match dtype {
            DType::F16 => build(shape, bytes, f16::from_le_bytes),
            DType::BF16 => build(shape, bytes, bf16::from_le_bytes),
            DType::F32 => build(shape, bytes, f32::from_le_bytes),
            DType::F64 => build(shape, bytes, f64::from_le_bytes),
            DType::I32 => build(shape, bytes, i32::from_le_bytes),
            DType::I64 => build(shape, bytes, i64::from_le_bytes),
            DType::Bool => {
                if let Some(b) = bytes.iter().find(|&&b| b > 1) {
                    return Err(Error::InvalidShape {
                        message: format!("byte {b} is not a valid bool"),
                    });
                }
                build(shape, bytes, |[b]: [u8; 1]| b != 0)
            }
        }
    }

    /// Converts to another dtype (TensorFlow `cast` semantics: floats truncate toward
    /// zero into integers, nonzero is `true`).
    ///
    /// ```
    /// use varscope::{DType, Tensor};
    /// let t = Tensor::from_vec(vec![-1.7f32, 0.0, 2.9], [3]).unwrap();
    /// assert_eq!(t.cast(DType::I32).to_f64_vec(), [-1.0, 0.0, 2.0]);
    /// assert_eq!(t.cast(DType::Bool).to_f64_vec(), [1.0, 0.0, 1.0]);
    /// ```
    pub fn cast(&self, dtype: DType) -> Tensor {
        if dtype == self.dtype() {
            return self.clone();
        }
        fn conv<T: Element>(t: &Tensor) -> Tensor {
            T::wrap(dispatch!(t, a => a.mapv(|v| T::from_f64(v.to_f64()))))
        }
        match dtype {
            DType::F16 => conv::<f16>(self),
            DType::BF16 => conv::<bf16>(self),
            DType::F32 => conv::<f32>(self),
            DType::F64 => conv::<f64>(self),
            DType::I32 => conv::<i32>(self),
            DType::I64 => conv::<i64>(self),
            DType::Bool => conv::<bool>(self),
        }
    }
}

/// An empty vector with room for exactly `n` elements, or [`Error::Allocation`].
pub(crate) fn try_vec<T>(n: usize) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| alloc_error::<T>(n))?;
    Ok(v)
}

/// `n` zeroed elements, requested zeroed from the allocator, or [`Error::Allocation`].
pub(crate) fn zeroed_vec<T: bytemuck::Zeroable>(n: usize) -> Result<Vec<T>> {
    bytemuck::allocation::try_zeroed_vec::<T>(n).map_err(|()| alloc_error::<T>(n))
}

#[cold]
fn alloc_error<T>(n: usize) -> Error {
    Error::Allocation {
        name: String::new(),
        bytes: (n as u128).saturating_mul(std::mem::size_of::<T>() as u128),
    }
}

/// The array of `shape` holding `v` (whose length is `shape`'s element count).
pub(crate) fn array_from_vec<T>(shape: &Shape, v: Vec<T>) -> Result<ArrayD<T>> {
    // A vector is most variables' shape (biases, scales): ndarray's 1-D constructor
    // takes the vector as it is, without the general path's checks of the shape.
    if let [n] = *shape.dims() {
        if n == v.len() {
            return Ok(ndarray::Array1::from_vec(v).into_dyn());
        }
    }
    ArrayD::from_shape_vec(IxDyn(shape.dims()), v).map_err(|e| Error::InvalidShape {
        message: format!("shape {shape}: {e}"),
    })
}
