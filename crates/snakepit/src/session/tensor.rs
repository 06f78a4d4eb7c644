//! Validation of tensors (nested arrays of numbers, against a shape and a dtype) and
//! embeddings (flat arrays of numbers of a given length).

use serde_json::Value;

use super::Dtype;
use super::validate::{expected, kind};

pub(super) fn check_embedding(value: &Value, dimensions: Option<usize>) -> Result<(), String> {
    let items = value
        .as_array()
        .ok_or_else(|| expected("a list of numbers", value))?;
    if let Some(dimensions) = dimensions {
        if items.len() != dimensions {
            return Err(format!(
                "embedding has {} dimensions, expected {dimensions}",
                items.len()
            ));
        }
    }
    match items.iter().position(|item| !item.is_number()) {
        Some(index) => Err(format!(
            "element {index}: {}",
            expected("a number", &items[index])
        )),
        None => Ok(()),
    }
}

/// Checks nested arrays against `shape` (or, without one, for being rectangular) and their
/// elements against `dtype` (or, without one, for being numbers).
pub(super) fn check_tensor(
    value: &Value,
    shape: Option<&[usize]>,
    dtype: Option<Dtype>,
) -> Result<(), String> {
    let shape = match shape {
        Some(shape) => shape.to_vec(),
        None => infer_shape(value),
    };
    let mut index = Vec::with_capacity(shape.len());
    check_tensor_level(value, &shape, dtype, &mut index)
        .map_err(|reason| format!("tensor does not fit shape {shape:?}: {reason}"))
}

/// The shape of nested lists, read along the first element of each level.
pub(super) fn infer_shape(value: &Value) -> Vec<usize> {
    let mut shape = Vec::new();
    let mut level = value;
    while let Some(items) = level.as_array() {
        shape.push(items.len());
        match items.first() {
            Some(first) => level = first,
            None => break,
        }
    }
    shape
}

fn check_tensor_level(
    value: &Value,
    shape: &[usize],
    dtype: Option<Dtype>,
    index: &mut Vec<usize>,
) -> Result<(), String> {
    let Some((&length, inner_shape)) = shape.split_first() else {
        return check_element(value, dtype).map_err(|reason| format!("{} {reason}", at(index)));
    };
    let Some(items) = value.as_array() else {
        return Err(format!(
            "{} is {}, expected an array of {length}",
            at(index),
            kind(value)
        ));
    };
    if items.len() != length {
        return Err(format!(
            "{} has {} entries, expected {length}",
            at(index),
            items.len()
        ));
    }
    for (position, item) in items.iter().enumerate() {
        index.push(position);
        check_tensor_level(item, inner_shape, dtype, index)?;
        index.pop();
    }
    Ok(())
}

/// Names a position in a tensor: "the tensor" or "element [0, 1]".
fn at(index: &[usize]) -> String {
    if index.is_empty() {
        "the tensor".to_owned()
    } else {
        format!("element {index:?}")
    }
}

fn check_element(value: &Value, dtype: Option<Dtype>) -> Result<(), String> {
    let Some(dtype) = dtype else {
        return check_number(value);
    };
    if dtype == Dtype::Bool {
        return if value.is_boolean() {
            Ok(())
        } else {
            Err(format!(
                "is {}, expected a boolean for dtype bool",
                kind(value)
            ))
        };
    }
    let Some((min, max)) = dtype.int_range() else {
        return check_number(value);
    };
    let number = value
        .as_i64()
        .map(i128::from)
        .or_else(|| value.as_u64().map(i128::from));
    match number {
        Some(number) if (min..=max).contains(&number) => Ok(()),
        Some(number) => Err(format!("is {number}, outside the range of {dtype}")),
        None => Err(format!(
            "is {}, expected an integer for dtype {dtype}",
            kind(value)
        )),
    }
}

fn check_number(value: &Value) -> Result<(), String> {
    if value.is_number() {
        Ok(())
    } else {
        Err(format!("is {}, expected a number", kind(value)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::session::VariableType;
    use crate::session::validate::tests::rejects;

    #[test]
    fn tensors_and_embeddings_accept_good_and_reject_bad_values() {
        use VariableType as T;
        rejects(
            T::Tensor,
            json!({}),
            json!([[1, 2], [3, 4]]),
            json!([[1, 2], [3]]),
            "element [1] has 1 entries, expected 2",
        );
        rejects(
            T::Tensor,
            json!({}),
            json!([1.5]),
            json!("x"),
            "expected a number",
        );
        rejects(
            T::Tensor,
            json!({"shape": [2, 3]}),
            json!([[1, 2, 3], [4, 5, 6]]),
            json!([[1, 2], [3, 4]]),
            "does not fit shape [2, 3]: element [0] has 2 entries, expected 3",
        );
        rejects(
            T::Tensor,
            json!({"shape": [2]}),
            json!([1, 2]),
            json!([[1], [2]]),
            "element [0] is an array of 1, expected a number",
        );
        rejects(
            T::Tensor,
            json!({"shape": [1, 2]}),
            json!([[1, 2]]),
            json!([1]),
            "element [0] is a number (1), expected an array of 2",
        );
        rejects(
            T::Tensor,
            json!({"shape": [1, 2]}),
            json!([[1, 2]]),
            json!([[1, 2], [3, 4]]),
            "the tensor has 2 entries, expected 1",
        );
        rejects(
            T::Tensor,
            json!({"shape": []}),
            json!(1.5),
            json!([1.5]),
            "expected a number",
        );
        rejects(
            T::Tensor,
            json!({"dtype": "int32"}),
            json!([1, 2]),
            json!([1, 2.5]),
            "element [1] is a number (2.5), expected an integer for dtype int32",
        );
        rejects(
            T::Tensor,
            json!({"dtype": "uint8", "shape": [1]}),
            json!([255]),
            json!([256]),
            "element [0] is 256, outside the range of uint8",
        );
        rejects(
            T::Tensor,
            json!({"dtype": "float32"}),
            // Kept as float32, so read back as floats.
            json!([1.0, 2.5]),
            json!([true]),
            "expected a number",
        );
    }
}
