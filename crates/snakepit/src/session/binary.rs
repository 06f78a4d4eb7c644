//! Tensor and embedding variables are kept as binary ([`NdArray`]), not as JSON numbers:
//! a value given as nested JSON lists is validated and packed; one given as an array (the
//! tagged form of [`NdArray`]) is checked against the spec. Snapshots for JSON readers
//! unpack it again; workers get the array itself.

use serde_json::Value;

use super::tensor::infer_shape;
use super::variable::variable_not_found;
use super::{Dtype, SessionError, SessionStore, Variable, VariableSpec, validate};
use crate::value::{MARKER_KEY, NdArray};

impl Variable {
    /// A copy for readers: a binary value is also unpacked into `value`.
    pub(super) fn snapshot(&self) -> Self {
        let mut snapshot = self.clone();
        if let Some(array) = &self.array {
            snapshot.value = to_json(array);
        }
        snapshot
    }
}

impl SessionStore {
    /// One variable as stored: a binary value only in `array`, not unpacked into `value`.
    pub(crate) fn get_stored_variable(
        &self,
        session: &str,
        name: &str,
    ) -> Result<Variable, SessionError> {
        self.inner
            .with_session(session, |session| session.variables.get(name).cloned())?
            .ok_or_else(|| variable_not_found(session, name))
    }

    /// The session's variables as stored, sorted by name.
    pub(crate) fn list_stored_variables(
        &self,
        session: &str,
    ) -> Result<Vec<Variable>, SessionError> {
        self.inner.with_session(session, |session| {
            session.variables.values().cloned().collect()
        })
    }
}

/// The binary form of `value` for a tensor or embedding `spec` (checked against it);
/// `None` for other specs, whose value is only checked.
pub(super) fn admit(spec: &VariableSpec, value: &Value) -> Result<Option<NdArray>, String> {
    let (shape, dtype) = match spec {
        VariableSpec::Tensor { shape, dtype } => (shape.as_deref(), *dtype),
        VariableSpec::Embedding { .. } => (None, None),
        _ => return validate::check_value(spec, value).map(|()| None),
    };
    if value.get(MARKER_KEY).is_some() {
        let array: NdArray =
            serde_json::from_value(value.clone()).map_err(|err| format!("not an array: {err}"))?;
        check_array(spec, &array)?;
        return Ok(Some(array));
    }
    validate::check_value(spec, value)?;
    let shape = match (spec, shape) {
        (VariableSpec::Embedding { .. }, _) => vec![value.as_array().map_or(0, Vec::len)],
        (_, Some(shape)) => shape.to_vec(),
        (_, None) => infer_shape(value),
    };
    let dtype = match (spec, dtype) {
        (_, Some(dtype)) => dtype,
        (VariableSpec::Embedding { .. }, None) => Dtype::Float64,
        // An untyped tensor of whole numbers stays whole numbers.
        (_, None) if all_integers(value) => Dtype::Int64,
        (_, None) => Dtype::Float64,
    };
    pack(value, shape, dtype).map(Some)
}

/// Whether every element of nested lists is an integer that fits `i64`.
fn all_integers(value: &Value) -> bool {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items),
            element if element.is_i64() => {}
            _ => return false,
        }
    }
    true
}

/// Checks an array against a tensor's shape and dtype, or an embedding's dimensions.
fn check_array(spec: &VariableSpec, array: &NdArray) -> Result<(), String> {
    match spec {
        VariableSpec::Tensor { shape, dtype } => {
            if let Some(shape) = shape.as_deref().filter(|shape| *shape != array.shape()) {
                return Err(format!(
                    "tensor has shape {:?}, expected {shape:?}",
                    array.shape()
                ));
            }
            match dtype {
                Some(dtype) if *dtype != array.dtype() => Err(format!(
                    "tensor has dtype {}, expected {dtype}",
                    array.dtype()
                )),
                _ => Ok(()),
            }
        }
        VariableSpec::Embedding { dimensions } => {
            if !matches!(
                array.dtype(),
                Dtype::Float16 | Dtype::Bfloat16 | Dtype::Float32 | Dtype::Float64
            ) {
                return Err(format!("an embedding holds floats, not {}", array.dtype()));
            }
            match (array.shape(), dimensions) {
                ([length], Some(dimensions)) if length != dimensions => Err(format!(
                    "embedding has {length} dimensions, expected {dimensions}"
                )),
                ([_], _) => Ok(()),
                (shape, _) => Err(format!("an embedding is flat, not of shape {shape:?}")),
            }
        }
        _ => Ok(()),
    }
}

/// Packs validated nested lists of numbers (C order) into an array of `dtype`.
fn pack(value: &Value, shape: Vec<usize>, dtype: Dtype) -> Result<NdArray, String> {
    let mut bytes = Vec::with_capacity(shape.iter().product::<usize>() * dtype.itemsize());
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items.iter().rev()),
            element => pack_element(element, dtype, &mut bytes)?,
        }
    }
    NdArray::new(dtype, shape, bytes).map_err(|err| err.to_string())
}

#[expect(
    clippy::cast_possible_truncation,
    reason = "elements were validated against the dtype's range; floats narrow as numpy does"
)]
fn pack_element(value: &Value, dtype: Dtype, out: &mut Vec<u8>) -> Result<(), String> {
    let float = || {
        value
            .as_f64()
            .ok_or_else(|| format!("{value} is not a number"))
    };
    let int = || {
        value
            .as_i64()
            .map(i128::from)
            .or_else(|| value.as_u64().map(i128::from))
            .ok_or_else(|| format!("{value} is not an integer"))
    };
    match dtype {
        Dtype::Bool => out.push(u8::from(value.as_bool().unwrap_or(false))),
        Dtype::Int8 => out.extend((int()? as i8).to_le_bytes()),
        Dtype::Int16 => out.extend((int()? as i16).to_le_bytes()),
        Dtype::Int32 => out.extend((int()? as i32).to_le_bytes()),
        Dtype::Int64 => out.extend((int()? as i64).to_le_bytes()),
        Dtype::Uint8 => out.extend((int()? as u8).to_le_bytes()),
        Dtype::Uint16 => out.extend((int()? as u16).to_le_bytes()),
        Dtype::Uint32 => out.extend((int()? as u32).to_le_bytes()),
        Dtype::Uint64 => out.extend((int()? as u64).to_le_bytes()),
        Dtype::Float16 => out.extend(half::f16::from_f64(float()?).to_le_bytes()),
        Dtype::Bfloat16 => out.extend(half::bf16::from_f64(float()?).to_le_bytes()),
        Dtype::Float32 => out.extend((float()? as f32).to_le_bytes()),
        Dtype::Float64 => out.extend(float()?.to_le_bytes()),
        other => return Err(format!("a {other} tensor cannot be given as JSON numbers")),
    }
    Ok(())
}

/// The array as nested JSON lists (complex elements as `[re, im]`).
pub(super) fn to_json(array: &NdArray) -> Value {
    let data = array.data();
    let size = array.dtype().itemsize();
    let elements: Vec<Value> = data
        .chunks_exact(size.max(1))
        .map(|bytes| unpack_element(bytes, array.dtype()))
        .collect();
    nest(elements, array.shape())
}

fn unpack_element(bytes: &[u8], dtype: Dtype) -> Value {
    let take = |n: usize| -> [u8; 8] {
        let mut word = [0; 8];
        word[..n].copy_from_slice(&bytes[..n]);
        word
    };
    let f32_at = |at: usize| {
        let mut word = [0; 4];
        word.copy_from_slice(&bytes[at..at + 4]);
        f64::from(f32::from_le_bytes(word))
    };
    let f64_at = |at: usize| {
        let mut word = [0; 8];
        word.copy_from_slice(&bytes[at..at + 8]);
        f64::from_le_bytes(word)
    };
    let signed = |n: usize| {
        let shift = 64 - 8 * n as u32;
        (i64::from_le_bytes(take(n)) << shift) >> shift
    };
    match dtype {
        Dtype::Bool => Value::Bool(bytes[0] != 0),
        Dtype::Int8 => signed(1).into(),
        Dtype::Int16 => signed(2).into(),
        Dtype::Int32 => signed(4).into(),
        Dtype::Int64 => signed(8).into(),
        Dtype::Uint8 | Dtype::Uint16 | Dtype::Uint32 | Dtype::Uint64 => {
            u64::from_le_bytes(take(bytes.len())).into()
        }
        Dtype::Float16 => f64::from(half::f16::from_le_bytes([bytes[0], bytes[1]])).into(),
        Dtype::Bfloat16 => f64::from(half::bf16::from_le_bytes([bytes[0], bytes[1]])).into(),
        Dtype::Float32 => f32_at(0).into(),
        Dtype::Float64 => f64_at(0).into(),
        Dtype::Complex64 => Value::from(vec![f32_at(0), f32_at(4)]),
        Dtype::Complex128 => Value::from(vec![f64_at(0), f64_at(8)]),
    }
}

/// Nests a flat list of elements by `shape` (C order).
fn nest(elements: Vec<Value>, shape: &[usize]) -> Value {
    let Some((&outer, inner)) = shape.split_first() else {
        return elements.into_iter().next().unwrap_or(Value::Null);
    };
    if inner.is_empty() {
        return Value::Array(elements);
    }
    let step = inner.iter().product::<usize>();
    if step == 0 {
        return Value::Array((0..outer).map(|_| nest(Vec::new(), inner)).collect());
    }
    let mut rest = elements.into_iter();
    Value::Array(
        (0..outer)
            .map(|_| nest(rest.by_ref().take(step).collect(), inner))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_tensors_pack_and_unpack_exactly() {
        let spec = VariableSpec::Tensor {
            shape: None,
            dtype: Some(Dtype::Int16),
        };
        let value = json!([[1, -2, 3], [4, 5, -32768]]);
        let array = admit(&spec, &value).unwrap().unwrap();
        assert_eq!(array.shape(), &[2, 3]);
        assert_eq!(array.as_slice::<i16>().unwrap(), &[1, -2, 3, 4, 5, -32768]);
        assert_eq!(to_json(&array), value);
        let floats = VariableSpec::Embedding {
            dimensions: Some(3),
        };
        let array = admit(&floats, &json!([0.5, 1, -2.25])).unwrap().unwrap();
        assert_eq!(array.dtype(), Dtype::Float64);
        assert_eq!(to_json(&array), json!([0.5, 1.0, -2.25]));
        assert!(admit(&floats, &json!([0.5])).is_err());
        assert_eq!(admit(&VariableSpec::Boolean, &json!(true)), Ok(None));
        let scalar = VariableSpec::Tensor {
            shape: Some(vec![]),
            dtype: None,
        };
        assert_eq!(
            to_json(&admit(&scalar, &json!(1.5)).unwrap().unwrap()),
            json!(1.5)
        );
    }

    #[test]
    fn arrays_are_checked_against_the_spec() {
        let spec = VariableSpec::Tensor {
            shape: Some(vec![2]),
            dtype: Some(Dtype::Float32),
        };
        let good =
            serde_json::to_value(NdArray::from_vec(vec![1.0_f32, 2.0], &[2]).unwrap()).unwrap();
        let array = admit(&spec, &good).unwrap().unwrap();
        assert_eq!(to_json(&array), json!([1.0, 2.0]));
        let wrong_dtype =
            serde_json::to_value(NdArray::from_vec(vec![1.0_f64, 2.0], &[2]).unwrap()).unwrap();
        assert_eq!(
            admit(&spec, &wrong_dtype).unwrap_err(),
            "tensor has dtype float64, expected float32"
        );
        let embedding = VariableSpec::Embedding { dimensions: None };
        let ints = serde_json::to_value(NdArray::from_vec(vec![1_i32], &[1]).unwrap()).unwrap();
        assert!(admit(&embedding, &ints).unwrap_err().contains("floats"));
    }
}
