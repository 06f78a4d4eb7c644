//! [`Payload`]: a JSON value with the buffers its markers point at, and the two ways out
//! of it: typed through serde, or as self-contained JSON.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::marker::{self, MARKER_KEY};
use super::{Buffer, sink};

/// A value as it travels: JSON, with buffer markers pointing into `buffers`.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Payload {
    /// The JSON value, markers included.
    pub value: Value,
    /// The buffers the markers point at, by index.
    pub buffers: Vec<Buffer>,
}

impl Payload {
    /// A payload with no buffers.
    pub fn json(value: Value) -> Self {
        Self {
            value,
            buffers: Vec::new(),
        }
    }

    /// Serializes `value`: each [`Buffer`] and [`NdArray`](super::NdArray) in it becomes a
    /// marker and its bytes a buffer (no copy).
    ///
    /// # Errors
    ///
    /// When `value` does not serialize to JSON.
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        let (value, buffers) = sink::collect(|| serde_json::to_value(value));
        Ok(Self {
            value: value?,
            buffers,
        })
    }

    /// Deserializes the value as `T`, markers resolved from the buffers (no copy).
    ///
    /// # Errors
    ///
    /// When the value does not convert, or a marker is bad (an index past the buffers, a
    /// dtype and shape that do not match the byte length).
    pub fn decode<T: DeserializeOwned>(self) -> Result<T, serde_json::Error> {
        if self.buffers.is_empty() {
            return serde_json::from_value(self.value);
        }
        let value = self.value;
        sink::lend(self.buffers, || serde_json::from_value(value)).0
    }

    /// The value as self-contained JSON: every marker's index replaced by the tagged
    /// base64 form of its buffer (`{"__snakepit_buffer__": {"base64": ".."}, ..}`). With no
    /// buffers, the value as it is.
    ///
    /// # Errors
    ///
    /// A description of the first bad marker: an index past the buffers, or a dtype and
    /// shape that do not match the byte length.
    pub fn into_json(self) -> Result<Value, String> {
        let mut value = self.value;
        if !self.buffers.is_empty() {
            inline_markers(&mut value, &self.buffers)?;
        }
        Ok(value)
    }

    /// Checks every marker in the value against the buffers.
    ///
    /// # Errors
    ///
    /// As [`Payload::into_json`].
    pub fn check(&self) -> Result<(), String> {
        let mut stack = vec![&self.value];
        while let Some(value) = stack.pop() {
            match value {
                Value::Object(map) if marked_buffer(map, &self.buffers)?.is_none() => {
                    stack.extend(map.values());
                }
                Value::Array(items) => stack.extend(items),
                _ => {}
            }
        }
        Ok(())
    }
}

/// The buffer of a marker map whose target is an index, checked; `None` for other maps.
fn marked_buffer<'b>(
    map: &Map<String, Value>,
    buffers: &'b [Buffer],
) -> Result<Option<&'b Buffer>, String> {
    let Some(index) = map.get(MARKER_KEY).and_then(Value::as_u64) else {
        return Ok(None);
    };
    let buffer = usize::try_from(index)
        .ok()
        .and_then(|index| buffers.get(index))
        .ok_or_else(|| {
            format!(
                "buffer marker {index} points past the {} buffers of the message",
                buffers.len()
            )
        })?;
    check_marker(map, buffer)?;
    Ok(Some(buffer))
}

impl From<Value> for Payload {
    fn from(value: Value) -> Self {
        Self::json(value)
    }
}

/// Replaces the index of every marker in `value` by its buffer's tagged base64 form.
fn inline_markers(value: &mut Value, buffers: &[Buffer]) -> Result<(), String> {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(buffer) = marked_buffer(map, buffers)? {
                    let mut inline = Map::new();
                    inline.insert("base64".to_owned(), marker::to_base64(buffer).into());
                    map.insert(MARKER_KEY.to_owned(), Value::Object(inline));
                } else {
                    stack.extend(map.values_mut());
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
    Ok(())
}

/// Checks an array marker's dtype and shape against its buffer's length.
fn check_marker(map: &Map<String, Value>, buffer: &Buffer) -> Result<(), String> {
    let (dtype, shape) = match (map.get("dtype"), map.get("shape")) {
        (None, None) => return Ok(()),
        (Some(Value::String(dtype)), Some(Value::Array(shape))) => (dtype, shape),
        _ => return Err("an array marker needs a string `dtype` and a list `shape`".to_owned()),
    };
    let dtype = marker::parse_dtype(dtype)?;
    let shape = shape
        .iter()
        .map(|extent| {
            extent
                .as_u64()
                .and_then(|extent| usize::try_from(extent).ok())
        })
        .collect::<Option<Vec<usize>>>()
        .ok_or("an array marker's shape must be a list of sizes")?;
    marker::check_array(dtype, &shape, buffer.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::NdArray;
    use serde_json::json;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Both {
        raw: Buffer,
        array: NdArray,
        name: String,
    }

    fn both() -> Both {
        Both {
            raw: Buffer::from(vec![9_u8; 5]),
            array: NdArray::from_vec(vec![1_u16, 2, 3], &[3]).unwrap(),
            name: "x".to_owned(),
        }
    }

    #[test]
    fn encode_writes_markers_and_decode_reads_them() {
        let payload = Payload::encode(&both()).unwrap();
        assert_eq!(payload.value["raw"], json!({MARKER_KEY: 0}));
        assert_eq!(
            payload.value["array"],
            json!({MARKER_KEY: 1, "dtype": "uint16", "shape": [3]})
        );
        assert_eq!(payload.buffers.len(), 2);
        assert_eq!(payload.clone().decode::<Both>().unwrap(), both());
        let json = payload.into_json().unwrap();
        assert_eq!(json["raw"][MARKER_KEY]["base64"], "CQkJCQk=");
        assert_eq!(serde_json::from_value::<Both>(json).unwrap(), both());
    }

    #[test]
    fn bad_markers_are_clear_errors() {
        let past = Payload {
            value: json!({"raw": {MARKER_KEY: 3}}),
            buffers: vec![Buffer::from(vec![1_u8])],
        };
        let err = past.clone().into_json().unwrap_err();
        assert_eq!(
            err,
            "buffer marker 3 points past the 1 buffers of the message"
        );
        assert_eq!(past.check().unwrap_err(), err);
        #[derive(Debug, serde::Deserialize)]
        struct Raw {
            #[expect(dead_code, reason = "only the error matters")]
            raw: Buffer,
        }
        let err = past.decode::<Raw>().unwrap_err().to_string();
        assert!(err.contains("points past the 1 buffers"), "{err}");
        let short = Payload {
            value: json!([{MARKER_KEY: 0, "dtype": "float64", "shape": [2]}]),
            buffers: vec![Buffer::from(vec![0_u8; 15])],
        };
        let err = short.clone().into_json().unwrap_err();
        assert!(
            err.contains("needs 16 bytes, but its buffer holds 15"),
            "{err}"
        );
        let err = short.decode::<Vec<NdArray>>().unwrap_err().to_string();
        assert!(err.contains("needs 16 bytes"), "{err}");
        let unknown = Payload {
            value: json!({MARKER_KEY: 0, "dtype": "float128", "shape": [1]}),
            buffers: vec![Buffer::from(vec![0_u8; 16])],
        };
        assert!(unknown.into_json().unwrap_err().contains("unknown dtype"));
    }
}
