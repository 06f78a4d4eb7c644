//! Conversions between [`NdArray`] and `ndarray::ArrayD` (feature `ndarray`).

use ndarray::{ArrayD, IxDyn};

use super::{Element, NdArray};
use crate::error::{Error, Result};

impl NdArray {
    /// The array as an `ndarray::ArrayD<T>` (a copy of the elements, in C order).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when `T` is not the array's dtype.
    pub fn to_ndarray<T: Element>(&self) -> Result<ArrayD<T>> {
        let elements = self.to_vec::<T>()?;
        ArrayD::from_shape_vec(IxDyn(self.shape()), elements)
            .map_err(|err| Error::InvalidValue(format!("not an ndarray: {err}")))
    }
}

impl<T: Element> From<ArrayD<T>> for NdArray {
    /// The elements in C order: no copy when the array is already in standard layout.
    fn from(array: ArrayD<T>) -> Self {
        let shape = array.shape().to_vec();
        let array = if array.is_standard_layout() {
            array
        } else {
            array.as_standard_layout().into_owned()
        };
        let (elements, offset) = array.into_raw_vec_and_offset();
        let elements = match offset {
            Some(0) | None => elements,
            Some(start) => elements[start..].to_vec(),
        };
        let length = shape.iter().product::<usize>();
        let elements = if elements.len() == length {
            elements
        } else {
            elements[..length].to_vec()
        };
        Self::from_vec(elements, &shape).expect("a standard-layout array fills its shape")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_convert_both_ways_in_c_order() {
        let array =
            ArrayD::from_shape_vec(IxDyn(&[2, 3]), (0..6).map(f64::from).collect()).unwrap();
        let transposed = array.t().to_owned();
        let ours = NdArray::from(transposed.clone());
        assert_eq!(ours.shape(), &[3, 2]);
        assert_eq!(
            ours.as_slice::<f64>().unwrap(),
            &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
        );
        assert_eq!(ours.to_ndarray::<f64>().unwrap(), transposed);
        assert!(ours.to_ndarray::<f32>().is_err());
    }
}
