//! Shapes: fully known [`Shape`]s of variables and possibly partial [`PartialShape`]s
//! of requests.

use crate::error::{Error, Result};
use smallvec::SmallVec;
use std::fmt;

/// Dimensions, inline up to rank 2 (no allocation for the shapes of most variables,
/// and no larger than a `Vec`).
type Dims = SmallVec<[usize; 2]>;
/// Possibly unknown dimensions, inline for rank 1 (errors carry partial shapes and
/// must stay small, so not more).
type PartialDims = SmallVec<[Option<usize>; 1]>;

/// A fully defined shape, as every variable has.
///
/// Construction checks that the element count fits in `usize`, and that the product
/// of the nonzero dimensions fits in `isize` (what an `ndarray` array of the shape
/// needs, even an empty one), so code holding a `Shape` never overflows computing
/// either.
///
/// ```
/// use varscope::Shape;
/// let s = Shape::new([2, 3]).unwrap();
/// assert_eq!(s.num_elements(), 6);
/// assert_eq!(s.to_string(), "(2, 3)");
/// assert!(Shape::new([usize::MAX, 2]).is_err());
/// // Empty, but no array can have a dimension this large.
/// assert!(Shape::new([usize::MAX, 0]).is_err());
/// assert_eq!(Shape::new([1usize << 40, 0]).unwrap().num_elements(), 0);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape {
    dims: Dims,
    elements: usize,
}

impl Shape {
    /// A shape from its dimensions; errors if the element count overflows `usize`.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] when the product of the dimensions overflows `usize`,
    /// or the product of the nonzero ones overflows `isize`.
    ///
    /// ```
    /// use varscope::Shape;
    /// let s = Shape::new([2, 3]).unwrap();
    /// assert_eq!(s.num_elements(), 6);
    /// assert!(Shape::new([usize::MAX, 2]).is_err()); // element count overflows
    /// ```
    pub fn new(dims: impl AsRef<[usize]>) -> Result<Self> {
        Shape::from_dims(Dims::from_slice(dims.as_ref()))
    }

    #[inline]
    fn from_dims(dims: Dims) -> Result<Self> {
        let elements = checked_product(&dims).ok_or_else(|| Error::InvalidShape {
            message: format!(
                "shape {} has more elements than fit in usize",
                fmt_dims(Some(&dims.iter().map(|&d| Some(d)).collect::<Vec<_>>()))
            ),
        })?;
        Ok(Shape { dims, elements })
    }

    /// The scalar shape `()`.
    ///
    /// ```
    /// use varscope::Shape;
    /// let s = Shape::scalar();
    /// assert_eq!((s.rank(), s.num_elements()), (0, 1));
    /// assert_eq!(s.to_string(), "()");
    /// ```
    pub fn scalar() -> Self {
        Shape {
            dims: Dims::new(),
            elements: 1,
        }
    }

    /// The dimensions.
    ///
    /// ```
    /// use varscope::Shape;
    /// assert_eq!(Shape::new(vec![4, 1]).unwrap().dims(), &[4, 1]);
    /// ```
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// Number of dimensions.
    ///
    /// ```
    /// use varscope::Shape;
    /// assert_eq!(Shape::new([2, 3, 4]).unwrap().rank(), 3);
    /// ```
    pub fn rank(&self) -> usize {
        self.dims.len()
    }

    /// Number of elements (1 for a scalar).
    ///
    /// ```
    /// use varscope::Shape;
    /// assert_eq!(Shape::new([2, 0, 4]).unwrap().num_elements(), 0);
    /// assert_eq!(Shape::new([3]).unwrap().to_string(), "(3,)");
    /// ```
    pub fn num_elements(&self) -> usize {
        self.elements
    }

    /// The shape of an existing array: `len` is its element count (which the array's
    /// own invariants keep consistent with `dims`).
    pub(crate) fn of_array(dims: &[usize], len: usize) -> Self {
        Shape {
            dims: Dims::from_slice(dims),
            elements: len,
        }
    }

    /// This shape as a (fully known) [`PartialShape`].
    ///
    /// ```
    /// use varscope::{PartialShape, Shape};
    /// let p = Shape::new([2, 3]).unwrap().to_partial();
    /// assert!(p.is_fully_defined());
    /// assert_eq!(p, PartialShape::known(vec![Some(2), Some(3)]));
    /// ```
    pub fn to_partial(&self) -> PartialShape {
        PartialShape {
            dims: Some(self.dims.iter().map(|&d| Some(d)).collect()),
        }
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Shape{:?}", self.dims)
    }
}

impl fmt::Display for Shape {
    /// TensorFlow's `TensorShape` text: `(2, 3)`, `(3,)`, `()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&fmt_dims(Some(
            &self.dims.iter().map(|&d| Some(d)).collect::<Vec<_>>(),
        )))
    }
}

/// The element count, when it fits in `usize` and the product of the nonzero
/// dimensions fits in `isize` (`ndarray`'s limit for any array, empty or not).
fn checked_product(dims: &[usize]) -> Option<usize> {
    let nonzero = dims
        .iter()
        .filter(|&&d| d != 0)
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))?;
    isize::try_from(nonzero).ok()?;
    Some(if dims.contains(&0) { 0 } else { nonzero })
}

fn fmt_dims(dims: Option<&[Option<usize>]>) -> String {
    match dims {
        None => "<unknown>".to_string(),
        Some(d) => {
            let parts: Vec<String> = d
                .iter()
                .map(|x| x.map_or_else(|| "?".to_string(), |v| v.to_string()))
                .collect();
            if parts.len() == 1 {
                format!("({},)", parts[0])
            } else {
                format!("({})", parts.join(", "))
            }
        }
    }
}

/// A shape that may be only partly known: unknown rank, or unknown dimensions.
///
/// Used for requests (`get_variable` with `[None, 4]`) and compared with
/// [`is_compatible_with`](PartialShape::is_compatible_with) on reuse, as TensorFlow does.
///
/// ```
/// use varscope::{get_variable, Graph, PartialShape};
/// let g = Graph::with_seed(1);
/// let w = get_variable("w").shape([5, 4]).graph(&g).build().unwrap();
/// // Reuse with a partly known shape: the unknown dimension matches anything.
/// let again = get_variable("w").shape([None, Some(4)]).graph(&g);
/// let scope = varscope::variable_scope("").reuse(varscope::Reuse::Yes).graph(&g);
/// assert_eq!(scope.enter(|_| again.build()).unwrap(), w);
/// assert_eq!(PartialShape::known(vec![None, Some(4)]).to_string(), "(?, 4)");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct PartialShape {
    dims: Option<PartialDims>,
}

impl PartialShape {
    /// Unknown rank.
    ///
    /// ```
    /// use varscope::{PartialShape, Shape};
    /// let u = PartialShape::unknown();
    /// assert_eq!(u.dims(), None);
    /// assert!(u.is_compatible_with_shape(&Shape::new([7, 7, 7]).unwrap()));
    /// assert_eq!(u.to_string(), "<unknown>");
    /// ```
    pub fn unknown() -> Self {
        PartialShape { dims: None }
    }

    /// Known rank with possibly unknown dimensions.
    ///
    /// ```
    /// use varscope::PartialShape;
    /// let p = PartialShape::known(vec![None, Some(3)]);
    /// assert_eq!(p.dims(), Some(&[None, Some(3)][..]));
    /// assert!(!p.is_fully_defined());
    /// ```
    pub fn known(dims: Vec<Option<usize>>) -> Self {
        PartialShape {
            dims: Some(PartialDims::from_vec(dims)),
        }
    }

    /// The dimensions, if the rank is known.
    ///
    /// ```
    /// use varscope::PartialShape;
    /// assert_eq!(PartialShape::known(vec![Some(2)]).dims(), Some(&[Some(2)][..]));
    /// assert_eq!(PartialShape::unknown().dims(), None);
    /// ```
    pub fn dims(&self) -> Option<&[Option<usize>]> {
        self.dims.as_deref()
    }

    /// The fully defined shape, if every dimension is known.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] when the element count overflows `usize`.
    ///
    /// ```
    /// use varscope::PartialShape;
    /// let full = PartialShape::known(vec![Some(2), Some(3)]).to_shape().unwrap();
    /// assert_eq!(full.unwrap().dims(), &[2, 3]);
    /// assert_eq!(PartialShape::known(vec![None]).to_shape().unwrap(), None);
    /// assert!(PartialShape::known(vec![Some(usize::MAX), Some(2)]).to_shape().is_err());
    /// ```
    pub fn to_shape(&self) -> Result<Option<Shape>> {
        match &self.dims {
            Some(d) if d.iter().all(Option::is_some) => {
                Shape::from_dims(d.iter().map(|x| x.unwrap_or(0)).collect()).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Whether every dimension is known.
    ///
    /// ```
    /// use varscope::PartialShape;
    /// assert!(PartialShape::known(vec![Some(1)]).is_fully_defined());
    /// assert!(!PartialShape::unknown().is_fully_defined());
    /// ```
    pub fn is_fully_defined(&self) -> bool {
        matches!(&self.dims, Some(d) if d.iter().all(Option::is_some))
    }

    /// TensorFlow's compatibility: unknown rank or dimensions match anything.
    ///
    /// ```
    /// use varscope::PartialShape;
    /// let a = PartialShape::known(vec![None, Some(4)]);
    /// assert!(a.is_compatible_with(&PartialShape::known(vec![Some(9), Some(4)])));
    /// assert!(!a.is_compatible_with(&PartialShape::known(vec![Some(9), Some(5)])));
    /// assert!(!a.is_compatible_with(&PartialShape::known(vec![Some(4)]))); // rank differs
    /// assert!(a.is_compatible_with(&PartialShape::unknown()));
    /// ```
    pub fn is_compatible_with(&self, other: &PartialShape) -> bool {
        match (&self.dims, &other.dims) {
            (Some(a), Some(b)) => {
                a.len() == b.len()
                    && a.iter().zip(b).all(|(x, y)| match (x, y) {
                        (Some(x), Some(y)) => x == y,
                        _ => true,
                    })
            }
            _ => true,
        }
    }

    /// Whether a fully known shape with these dimensions is compatible.
    ///
    /// ```
    /// use varscope::{PartialShape, Shape};
    /// let p = PartialShape::known(vec![None, Some(4)]);
    /// assert!(p.is_compatible_with_shape(&Shape::new([2, 4]).unwrap()));
    /// assert!(!p.is_compatible_with_shape(&Shape::new([2, 3]).unwrap()));
    /// ```
    pub fn is_compatible_with_shape(&self, shape: &Shape) -> bool {
        match &self.dims {
            None => true,
            Some(a) => {
                a.len() == shape.rank()
                    && a.iter()
                        .zip(shape.dims())
                        .all(|(x, y)| x.is_none_or(|x| x == *y))
            }
        }
    }

    /// Merges two compatible shapes (TensorFlow's `merge_with`).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`]-free: returns [`Error::InvalidShape`] with TF's text
    /// `Shapes (5, 2) and (4, 2) are not compatible` when they are not compatible.
    ///
    /// ```
    /// use varscope::PartialShape;
    /// let a = PartialShape::known(vec![None, Some(2)]);
    /// let b = PartialShape::known(vec![Some(5), None]);
    /// assert_eq!(a.merge_with(&b).unwrap(), PartialShape::known(vec![Some(5), Some(2)]));
    /// let c = PartialShape::known(vec![Some(4), Some(2)]);
    /// let e = c.merge_with(&PartialShape::known(vec![Some(5), Some(2)])).unwrap_err();
    /// assert!(e.to_string().contains("Shapes (4, 2) and (5, 2) are not compatible"));
    /// ```
    pub fn merge_with(&self, other: &PartialShape) -> Result<PartialShape> {
        if !self.is_compatible_with(other) {
            return Err(Error::InvalidShape {
                message: format!("Shapes {self} and {other} are not compatible"),
            });
        }
        Ok(match (&self.dims, &other.dims) {
            (Some(a), Some(b)) => PartialShape {
                dims: Some(a.iter().zip(b).map(|(x, y)| x.or(*y)).collect()),
            },
            (Some(_), None) => self.clone(),
            _ => other.clone(),
        })
    }
}

impl fmt::Debug for PartialShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PartialShape({self})")
    }
}

impl fmt::Display for PartialShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&fmt_dims(self.dims.as_deref()))
    }
}

impl From<Shape> for PartialShape {
    fn from(s: Shape) -> Self {
        s.to_partial()
    }
}

impl From<&Shape> for PartialShape {
    fn from(s: &Shape) -> Self {
        s.to_partial()
    }
}

/// Anything accepted where a shape is requested: arrays, slices and vectors of
/// `usize` or `i64` (negative dimensions are rejected with a typed error), of
/// `Option<usize>` (unknown dimensions), or a [`Shape`]/[`PartialShape`].
///
/// ```
/// use varscope::{IntoShape, PartialShape, Shape};
/// assert_eq!([2usize, 3].into_partial_shape().unwrap(), PartialShape::known(vec![Some(2), Some(3)]));
/// assert_eq!(vec![None, Some(3)].into_partial_shape().unwrap().to_string(), "(?, 3)");
/// assert!([-1i64, 3].into_partial_shape().is_err()); // negative dimension
/// assert!(Shape::new([1]).unwrap().into_partial_shape().unwrap().is_fully_defined());
/// ```
pub trait IntoShape {
    /// Converts, validating negative dimensions and element-count overflow.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] for negative dimensions or an overflowing element count.
    ///
    /// ```
    /// use varscope::IntoShape;
    /// let p = [4i64, 5].into_partial_shape().unwrap();
    /// assert_eq!(p.to_shape().unwrap().unwrap().dims(), &[4, 5]);
    /// ```
    fn into_partial_shape(self) -> Result<PartialShape>;

    /// Converts, keeping a fully known shape as a [`Shape`] — without allocating for
    /// ranks up to 2 — and anything else as a [`PartialShape`].
    ///
    /// # Errors
    /// As [`into_partial_shape`](IntoShape::into_partial_shape).
    ///
    /// ```
    /// use varscope::IntoShape;
    /// assert!(matches!([2usize, 2].into_shape_or_partial(), Ok(Ok(s)) if s.dims() == [2, 2]));
    /// assert!(matches!(vec![None, Some(2)].into_shape_or_partial(), Ok(Err(_))));
    /// ```
    fn into_shape_or_partial(self) -> Result<std::result::Result<Shape, PartialShape>>
    where
        Self: Sized,
    {
        self.into_partial_shape().map(Err)
    }
}

impl IntoShape for PartialShape {
    fn into_partial_shape(self) -> Result<PartialShape> {
        self.to_shape()?;
        Ok(self)
    }
}
impl IntoShape for Shape {
    fn into_partial_shape(self) -> Result<PartialShape> {
        Ok(self.to_partial())
    }
    fn into_shape_or_partial(self) -> Result<std::result::Result<Shape, PartialShape>> {
        Ok(Ok(self))
    }
}
impl IntoShape for &Shape {
    fn into_partial_shape(self) -> Result<PartialShape> {
        Ok(self.to_partial())
    }
    fn into_shape_or_partial(self) -> Result<std::result::Result<Shape, PartialShape>> {
        Ok(Ok(self.clone()))
    }
}
impl IntoShape for &[usize] {
    fn into_partial_shape(self) -> Result<PartialShape> {
        Shape::new(self).map(|s| s.to_partial())
    }
    fn into_shape_or_partial(self) -> Result<std::result::Result<Shape, PartialShape>> {
        Shape::new(self).map(Ok)
    }
}
impl IntoShape for Vec<usize> {
    fn into_partial_shape(self) -> Result<PartialShape> {
        Shape::new(self).map(|s| s.to_partial())
    }
    fn into_shape_or_partial(self) -> Result<std::result::Result<Shape, PartialShape>> {
        Shape::new(self).map(Ok)
    }
}
impl<const N: usize> IntoShape for [usize; N] {
    fn into_partial_shape(self) -> Result<PartialShape> {
        Shape::new(self).map(|s| s.to_partial())
    }
    fn into_shape_or_partial(self) -> Result<std::result::Result<Shape, PartialShape>> {
        Shape::new(self).map(Ok)
    }
}
#[inline]
fn signed_dims<T: Copy + Into<i128> + std::fmt::Debug>(dims: &[T]) -> Result<Shape> {
    let mut out = Dims::new();
    for &d in dims {
        let v: i128 = d.into();
        match usize::try_from(v) {
            Ok(u) => out.push(u),
            Err(_) => return Err(bad_dim(v, dims)),
        }
    }
    Shape::from_dims(out)
}

#[cold]
fn bad_dim(v: i128, dims: &[impl std::fmt::Debug]) -> Error {
    Error::InvalidShape {
        message: if v < 0 {
            format!("Dimension {v} must be >= 0 (shape {dims:?})")
        } else {
            format!("Dimension {v} does not fit in usize")
        },
    }
}

macro_rules! int_shapes {
    ($($t:ty),*) => {$(
        impl IntoShape for &[$t] {
            fn into_partial_shape(self) -> Result<PartialShape> {
                signed_dims(self).map(|s| s.to_partial())
            }
            fn into_shape_or_partial(self) -> Result<std::result::Result<Shape, PartialShape>> {
                signed_dims(self).map(Ok)
            }
        }
        impl IntoShape for Vec<$t> {
            fn into_partial_shape(self) -> Result<PartialShape> {
                signed_dims(&self).map(|s| s.to_partial())
            }
            fn into_shape_or_partial(self) -> Result<std::result::Result<Shape, PartialShape>> {
                signed_dims(&self).map(Ok)
            }
        }
        impl<const N: usize> IntoShape for [$t; N] {
            fn into_partial_shape(self) -> Result<PartialShape> {
                signed_dims(&self).map(|s| s.to_partial())
            }
            fn into_shape_or_partial(self) -> Result<std::result::Result<Shape, PartialShape>> {
                signed_dims(&self).map(Ok)
            }
        }
    )*};
}
int_shapes!(i32, i64, u32, u64);

impl IntoShape for &[Option<usize>] {
    fn into_partial_shape(self) -> Result<PartialShape> {
        PartialShape::known(self.to_vec()).into_partial_shape()
    }
}
impl IntoShape for Vec<Option<usize>> {
    fn into_partial_shape(self) -> Result<PartialShape> {
        PartialShape::known(self).into_partial_shape()
    }
}
impl<const N: usize> IntoShape for [Option<usize>; N] {
    fn into_partial_shape(self) -> Result<PartialShape> {
        PartialShape::known(self.to_vec()).into_partial_shape()
    }
}
