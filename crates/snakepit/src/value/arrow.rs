//! [`ArrowBatch`] (feature `arrow`): an Arrow record batch in a call's value, carried as an
//! Arrow IPC stream in a buffer, so a large batch goes through shared memory like any
//! buffer; a `pyarrow.RecordBatch` in Python.

use std::io::Cursor;

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use serde::de::{self, Deserialize, Deserializer};
use serde::ser::{self, Serialize, SerializeMap, Serializer};

use super::Buffer;

/// The reserved key of an Arrow value: `{"__snakepit_arrow__": <bytes marker>}`, the
/// marker's buffer an Arrow IPC stream (a schema and its batches).
pub const ARROW_KEY: &str = "__snakepit_arrow__";

/// An Arrow [`RecordBatch`] as a call argument or result.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Int64Array, RecordBatch};
/// use snakepit::value::ArrowBatch;
///
/// let batch = RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(vec![1, 2])) as _)])?;
/// let value = ArrowBatch::new(batch.clone());
/// assert_eq!(value.batch(), &batch);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ArrowBatch {
    batch: RecordBatch,
}

impl ArrowBatch {
    /// Wraps `batch`.
    pub fn new(batch: RecordBatch) -> Self {
        Self { batch }
    }

    /// The batch.
    pub fn batch(&self) -> &RecordBatch {
        &self.batch
    }

    /// The batch, unwrapped.
    pub fn into_batch(self) -> RecordBatch {
        self.batch
    }

    /// The batch as an Arrow IPC stream.
    fn to_ipc(&self) -> Result<Vec<u8>, arrow_schema::ArrowError> {
        let mut bytes = Vec::new();
        let mut writer = StreamWriter::try_new(&mut bytes, &self.batch.schema())?;
        writer.write(&self.batch)?;
        writer.finish()?;
        drop(writer);
        Ok(bytes)
    }

    /// Reads an IPC stream of one batch (or none: an empty batch of its schema).
    fn from_ipc(bytes: &[u8]) -> Result<Self, String> {
        let reader = StreamReader::try_new(Cursor::new(bytes), None)
            .map_err(|err| format!("an Arrow value is not an IPC stream: {err}"))?;
        let schema = reader.schema();
        let mut batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| format!("an Arrow value's batch is invalid: {err}"))?;
        match batches.len() {
            0 => Ok(Self::new(RecordBatch::new_empty(schema))),
            1 => Ok(Self::new(batches.remove(0))),
            n => Err(format!(
                "an Arrow value holds {n} batches; one was expected"
            )),
        }
    }
}

impl From<RecordBatch> for ArrowBatch {
    fn from(batch: RecordBatch) -> Self {
        Self::new(batch)
    }
}

impl Serialize for ArrowBatch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = self.to_ipc().map_err(ser::Error::custom)?;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(ARROW_KEY, &Buffer::from(bytes))?;
        map.end()
    }
}

#[derive(serde::Deserialize)]
struct Tagged {
    #[serde(rename = "__snakepit_arrow__")]
    data: Buffer,
}

impl<'de> Deserialize<'de> for ArrowBatch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let tagged = Tagged::deserialize(deserializer)?;
        Self::from_ipc(&tagged.data).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Float64Array, StringArray};

    use super::*;

    #[test]
    fn a_batch_round_trips_through_the_tagged_form() {
        let batch = RecordBatch::try_from_iter([
            ("x", Arc::new(Float64Array::from(vec![1.5, 2.5])) as _),
            ("name", Arc::new(StringArray::from(vec!["a", "b"])) as _),
        ])
        .unwrap();
        let value = serde_json::to_value(ArrowBatch::new(batch.clone())).unwrap();
        assert!(value.get(ARROW_KEY).is_some());
        let back: ArrowBatch = serde_json::from_value(value).unwrap();
        assert_eq!(back.batch(), &batch);
        let garbage = serde_json::json!({ARROW_KEY: {"__snakepit_buffer__": {"base64": "AAAA"}}});
        assert!(serde_json::from_value::<ArrowBatch>(garbage).is_err());
    }
}
