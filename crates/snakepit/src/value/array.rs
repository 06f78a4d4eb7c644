//! [`NdArray`]: an n-dimensional array of one dtype, C order, little-endian, over a
//! [`Buffer`].

use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::{Buffer, Dtype, Element, marker};
use crate::error::{Error, Result};

/// An n-dimensional array: a dtype, a shape and the elements' bytes (C order,
/// little-endian). A `numpy.ndarray` in Python.
///
/// The bytes are a [`Buffer`], so cloning is cheap and a large array is never copied on
/// its way to the worker. Constructors check that the byte length is `product(shape) *
/// itemsize`; [`NdArray::as_slice`] views the elements in place.
///
/// ```
/// use snakepit::value::{Dtype, NdArray};
///
/// let array = NdArray::from_vec(vec![1_i32, 2, 3, 4, 5, 6], &[2, 3])?;
/// assert_eq!(array.dtype(), Dtype::Int32);
/// assert_eq!(array.shape(), &[2, 3]);
/// assert_eq!(array.as_slice::<i32>()?[5], 6);
/// assert!(array.as_slice::<f32>().is_err());
/// # Ok::<(), snakepit::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NdArray {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Buffer,
}

/// Owns a `Vec<T>` and shows it as bytes, so a vector becomes a buffer without a copy.
struct VecBytes<T>(Vec<T>);

impl<T: Element> AsRef<[u8]> for VecBytes<T> {
    fn as_ref(&self) -> &[u8] {
        bytemuck::cast_slice(&self.0)
    }
}

fn invalid(reason: String) -> Error {
    Error::InvalidValue(reason)
}

impl NdArray {
    /// An array of `dtype` and `shape` over `data`. Bytes not aligned for the dtype are
    /// copied once into aligned memory.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when the byte length is not `product(shape) * itemsize`.
    pub fn new(dtype: Dtype, shape: Vec<usize>, data: impl Into<Buffer>) -> Result<Self> {
        let mut data = data.into();
        marker::check_array(dtype, &shape, data.len()).map_err(invalid)?;
        if data.as_ptr().align_offset(dtype.align()) != 0 {
            data = Buffer::copy_aligned(&data);
        }
        Ok(Self { dtype, shape, data })
    }

    /// An array of `shape` holding `data` (no copy).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when `data.len()` is not the product of `shape`.
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize]) -> Result<Self> {
        Self::new(T::DTYPE, shape.to_vec(), Buffer::from_owner(VecBytes(data)))
    }

    /// A one-dimensional array holding `data` (no copy).
    pub fn from_vec1<T: Element>(data: Vec<T>) -> Self {
        let shape = vec![data.len()];
        Self {
            dtype: T::DTYPE,
            shape,
            data: Buffer::from_owner(VecBytes(data)),
        }
    }

    /// An array of `shape` holding a copy of `data`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when `data.len()` is not the product of `shape`.
    pub fn from_slice<T: Element>(data: &[T], shape: &[usize]) -> Result<Self> {
        Self::from_vec(data.to_vec(), shape)
    }

    /// A `bool` array of `shape`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when `data.len()` is not the product of `shape`.
    pub fn from_bools(data: &[bool], shape: &[usize]) -> Result<Self> {
        let bytes: Vec<u8> = data.iter().map(|&flag| u8::from(flag)).collect();
        Self::new(Dtype::Bool, shape.to_vec(), bytes)
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// The extent of each dimension.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// How many elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements' bytes.
    pub fn data(&self) -> &Buffer {
        &self.data
    }

    /// The elements' bytes, taking the array apart.
    pub fn into_data(self) -> Buffer {
        self.data
    }

    /// The elements in place, as `T` (a `bool` array as `u8`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when `T` is not the array's dtype.
    pub fn as_slice<T: Element>(&self) -> Result<&[T]> {
        let fits =
            T::DTYPE == self.dtype || (self.dtype == Dtype::Bool && T::DTYPE == Dtype::Uint8);
        if !fits {
            return Err(invalid(format!(
                "an array of dtype {} viewed as {}",
                self.dtype,
                T::DTYPE
            )));
        }
        bytemuck::try_cast_slice(&self.data).map_err(|err| {
            invalid(format!(
                "an array's bytes cannot be viewed as {}: {err}",
                T::DTYPE
            ))
        })
    }

    /// A copy of the elements as `T`.
    ///
    /// # Errors
    ///
    /// As [`NdArray::as_slice`].
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        self.as_slice().map(<[T]>::to_vec)
    }

    /// A copy of the elements of a `bool` array.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when the array's dtype is not `bool`.
    pub fn to_bools(&self) -> Result<Vec<bool>> {
        if self.dtype != Dtype::Bool {
            return Err(invalid(format!(
                "an array of dtype {} read as bool",
                self.dtype
            )));
        }
        Ok(self.data.iter().map(|&byte| byte != 0).collect())
    }
}

impl Serialize for NdArray {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        marker::serialize_target(&mut map, &self.data)?;
        map.serialize_entry("dtype", self.dtype.as_str())?;
        map.serialize_entry("shape", &self.shape)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for NdArray {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = marker::RawMarker::deserialize(deserializer)?;
        let (dtype, shape, data) = raw.into_array().map_err(serde::de::Error::custom)?;
        Self::new(dtype, shape, data).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_check_the_length_and_views_the_dtype() {
        let array = NdArray::from_vec(vec![1.5_f64, 2.5], &[2]).unwrap();
        assert_eq!(array.to_vec::<f64>().unwrap(), vec![1.5, 2.5]);
        assert!(NdArray::from_vec(vec![1.5_f64, 2.5], &[3]).is_err());
        let err = NdArray::new(Dtype::Float32, vec![2], vec![0_u8; 7]).unwrap_err();
        assert!(err.to_string().contains("needs 8 bytes"), "{err}");
        let flags = NdArray::from_bools(&[true, false], &[2]).unwrap();
        assert_eq!(flags.to_bools().unwrap(), vec![true, false]);
        assert_eq!(flags.as_slice::<u8>().unwrap(), &[1, 0]);
        assert!(array.to_bools().is_err());
    }

    #[test]
    fn unaligned_bytes_are_realigned() {
        let bytes = bytes::Bytes::from(vec![0_u8; 17]).slice(1..);
        let array = NdArray::new(Dtype::Float64, vec![2], bytes).unwrap();
        assert_eq!(array.as_slice::<f64>().unwrap(), &[0.0, 0.0]);
    }

    #[test]
    fn outside_a_call_an_array_is_tagged_and_reads_back() {
        let array = NdArray::from_vec(vec![[1.0_f32, -1.0]], &[1]).unwrap();
        let value = serde_json::to_value(&array).unwrap();
        assert_eq!(value["dtype"], "complex64");
        assert_eq!(value["shape"], serde_json::json!([1]));
        let back: NdArray = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(back, array);
        let mut bad = value;
        bad["shape"] = serde_json::json!([2]);
        let err = serde_json::from_value::<NdArray>(bad).unwrap_err();
        assert!(err.to_string().contains("needs 16 bytes"), "{err}");
    }
}
