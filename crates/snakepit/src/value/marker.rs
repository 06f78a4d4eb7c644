//! Buffer markers: the maps that stand in a value where binary data belongs, and the
//! checks every reader of a marker applies.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};

use super::{Buffer, Dtype, sink};

/// The reserved key of a buffer marker: a map holding it stands for binary data. Its value
/// is the index of an entry of the message's `buffers`, or (the self-contained tagged form)
/// a map `{"base64": ".."}`.
pub const MARKER_KEY: &str = "__snakepit_buffer__";

/// The base64 text of `bytes`.
pub(crate) fn to_base64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// The bytes of base64 `text`, 8-byte aligned.
pub(crate) fn from_base64(text: &str) -> Result<Buffer, String> {
    BASE64
        .decode(text)
        .map(|bytes| Buffer::copy_aligned(&bytes))
        .map_err(|err| format!("invalid base64 in a buffer: {err}"))
}

/// `{"base64": ".."}`: the tagged (inline) form of a buffer.
struct Inline<'a>(&'a Buffer);

impl serde::Serialize for Inline<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("base64", &to_base64(self.0))?;
        map.end()
    }
}

/// Writes the marker key and its target into `map`: the buffer's index in the sink when
/// one collects, else the tagged base64 form.
pub(super) fn serialize_target<M: SerializeMap>(
    map: &mut M,
    buffer: &Buffer,
) -> Result<(), M::Error> {
    match sink::push(buffer) {
        Some(index) => map.serialize_entry(MARKER_KEY, &index),
        None => map.serialize_entry(MARKER_KEY, &Inline(buffer)),
    }
}

/// The byte length an array of `dtype` and `shape` must have; an error names a mismatch.
pub(super) fn check_array(dtype: Dtype, shape: &[usize], len: usize) -> Result<(), String> {
    let expected = shape
        .iter()
        .try_fold(dtype.itemsize(), |total, &extent| total.checked_mul(extent));
    match expected {
        Some(expected) if expected == len => Ok(()),
        Some(expected) => Err(format!(
            "an array of dtype {dtype} and shape {shape:?} needs {expected} bytes, but its buffer holds {len}"
        )),
        None => Err(format!("an array of shape {shape:?} is too large")),
    }
}

/// Parses a dtype name as the wire spells it.
pub(super) fn parse_dtype(name: &str) -> Result<Dtype, String> {
    Dtype::parse(name).ok_or_else(|| format!("unknown dtype `{name}` in a buffer marker"))
}

/// What a marker points at.
#[derive(Debug)]
enum Target {
    /// An entry of the message's `buffers`.
    Index(u64),
    /// The bytes themselves (the tagged form, or raw bytes).
    Bytes(Buffer),
}

/// A marker as read, before its target is looked up.
#[derive(Debug)]
pub(super) struct RawMarker {
    target: Target,
    dtype: Option<String>,
    shape: Option<Vec<usize>>,
}

impl RawMarker {
    /// The marker's bytes, looked up in the source of buffers when it is an index.
    fn buffer(&mut self) -> Result<Buffer, String> {
        match &mut self.target {
            Target::Index(index) => sink::lookup(*index),
            Target::Bytes(buffer) => Ok(std::mem::take(buffer)),
        }
    }

    /// The marker's bytes (an array marker's bytes too).
    pub(super) fn into_buffer(mut self) -> Result<Buffer, String> {
        self.buffer()
    }

    /// The marker's array: its dtype, shape and checked bytes. A bytes marker reads as a
    /// one-dimensional `uint8` array.
    pub(super) fn into_array(mut self) -> Result<(Dtype, Vec<usize>, Buffer), String> {
        let buffer = self.buffer()?;
        let (dtype, shape) = match (self.dtype, self.shape) {
            (Some(dtype), Some(shape)) => (parse_dtype(&dtype)?, shape),
            (None, None) => (Dtype::Uint8, vec![buffer.len()]),
            _ => return Err("an array marker needs both `dtype` and `shape`".to_owned()),
        };
        check_array(dtype, &shape, buffer.len())?;
        Ok((dtype, shape, buffer))
    }
}

impl<'de> Deserialize<'de> for RawMarker {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MarkerVisitor)
    }
}

struct MarkerVisitor;

impl<'de> Visitor<'de> for MarkerVisitor {
    type Value = RawMarker;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a buffer marker (a map with the key `{MARKER_KEY}`) or bytes"
        )
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<RawMarker, E> {
        Ok(RawMarker {
            target: Target::Bytes(Buffer::copy_aligned(bytes)),
            dtype: None,
            shape: None,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawMarker, A::Error> {
        let (mut target, mut dtype, mut shape) = (None, None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                MARKER_KEY => target = Some(map.next_value::<TargetField>()?.0),
                "dtype" => dtype = Some(map.next_value::<String>()?),
                "shape" => shape = Some(map.next_value::<Vec<usize>>()?),
                other => {
                    return Err(de::Error::custom(format!(
                        "unexpected key `{other}` in a buffer marker"
                    )));
                }
            }
        }
        let target = target.ok_or_else(|| {
            de::Error::custom(format!(
                "expected a buffer marker, a map with the key `{MARKER_KEY}`"
            ))
        })?;
        Ok(RawMarker {
            target,
            dtype,
            shape,
        })
    }
}

/// The value under [`MARKER_KEY`]: an index, or `{"base64": ..}`.
struct TargetField(Target);

impl<'de> Deserialize<'de> for TargetField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TargetVisitor).map(TargetField)
    }
}

struct TargetVisitor;

impl<'de> Visitor<'de> for TargetVisitor {
    type Value = Target;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a buffer index or {\"base64\": ..}")
    }

    fn visit_u64<E: de::Error>(self, index: u64) -> Result<Target, E> {
        Ok(Target::Index(index))
    }

    fn visit_i64<E: de::Error>(self, index: i64) -> Result<Target, E> {
        u64::try_from(index)
            .map(Target::Index)
            .map_err(|_| E::custom(format!("buffer marker {index} is negative")))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Target, A::Error> {
        let mut buffer = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "base64" {
                let text = map.next_value::<String>()?;
                buffer = Some(from_base64(&text).map_err(de::Error::custom)?);
            } else {
                return Err(de::Error::custom(format!(
                    "unexpected key `{key}` in an inline buffer"
                )));
            }
        }
        buffer
            .map(Target::Bytes)
            .ok_or_else(|| de::Error::custom("an inline buffer without `base64`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_lengths_are_checked() {
        assert!(check_array(Dtype::Float64, &[2, 3], 48).is_ok());
        let err = check_array(Dtype::Float64, &[2, 3], 40).unwrap_err();
        assert!(
            err.contains("needs 48 bytes, but its buffer holds 40"),
            "{err}"
        );
        assert!(check_array(Dtype::Int8, &[usize::MAX, 2], 0).is_err());
        assert!(check_array(Dtype::Int8, &[0, 5], 0).is_ok());
    }
}
