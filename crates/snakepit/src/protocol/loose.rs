//! Frames whose values hold MessagePack `bin` inline, as a worker's MessagePack library
//! writes `bytes` (Python) or a `Buffer` (Node) by itself.
//!
//! A [`Message`]'s values are JSON and cannot hold bytes, so such a frame fails the normal
//! decode; only then is it decoded again here, each inline `bin` taken out into the
//! message's `buffers` and replaced by a buffer marker. Frames without inline bytes never
//! come here, so the common path pays nothing for it.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::Message;
use super::depth::MAX_DEPTH;
use crate::value::wire::BufferEntry;
use crate::value::{Buffer, MARKER_KEY};

/// The key of the temporary marker of an inline `bin`, renumbered once the frame's own
/// `buffers` are counted.
const INLINE_KEY: &str = "\u{0}snakepit_inline";

/// Decodes a MessagePack frame whose values hold inline `bin`s; `None` when it is not a
/// message even so.
pub(crate) fn decode_inline_bins(payload: &[u8]) -> Option<Message> {
    if !matches!(payload.first(), Some(0x80..=0x8f | 0xde | 0xdf)) {
        return None;
    }
    let inline = RefCell::new(Vec::new());
    let mut msgpack = rmp_serde::Deserializer::from_read_ref(payload);
    msgpack.set_max_depth(MAX_DEPTH + 2);
    let (mut fields, entries) = Envelope { inline: &inline }
        .deserialize(&mut msgpack)
        .ok()?;
    let own = entries.as_ref().map_or(0, Vec::len);
    for value in fields.values_mut() {
        renumber(value, own);
    }
    let mut message: Message = serde_json::from_value(Value::Object(fields)).ok()?;
    let mut buffers = entries.unwrap_or_default();
    buffers.extend(inline.into_inner().into_iter().map(BufferEntry::Inline));
    message.buffers = (!buffers.is_empty()).then_some(buffers);
    Some(message)
}

/// Turns the temporary markers in `value` into buffer markers after the frame's `own`
/// buffers.
fn renumber(value: &mut Value, own: usize) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => match map.get(INLINE_KEY).and_then(Value::as_u64) {
                Some(index) if map.len() == 1 => {
                    map.clear();
                    map.insert(MARKER_KEY.to_owned(), (own as u64 + index).into());
                }
                _ => stack.extend(map.values_mut()),
            },
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
}

/// The top-level map: `buffers` as entries, every other field as a loose value.
struct Envelope<'a> {
    inline: &'a RefCell<Vec<Buffer>>,
}

type Fields = (Map<String, Value>, Option<Vec<BufferEntry>>);

impl<'de> DeserializeSeed<'de> for Envelope<'_> {
    type Value = Fields;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Fields, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Envelope<'_> {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let (mut fields, mut entries) = (Map::new(), None);
        while let Some(key) = map.next_key::<String>()? {
            if key == "buffers" {
                entries = Some(map.next_value::<Vec<BufferEntry>>()?);
            } else {
                let value = map.next_value_seed(Loose {
                    inline: self.inline,
                })?;
                fields.insert(key, value);
            }
        }
        Ok((fields, entries))
    }
}

/// A JSON value in which bytes become temporary markers.
#[derive(Clone, Copy)]
struct Loose<'a> {
    inline: &'a RefCell<Vec<Buffer>>,
}

impl<'de> DeserializeSeed<'de> for Loose<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Loose<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Value, E> {
        Ok(value.into())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Value, E> {
        Ok(value.into())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Value, E> {
        Ok(value.into())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Value, E> {
        Ok(value.into())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Value, E> {
        let mut inline = self.inline.borrow_mut();
        inline.push(Buffer::copy_aligned(bytes));
        let index = inline.len() - 1;
        Ok(Value::Object(Map::from_iter([(
            INLINE_KEY.to_owned(),
            index.into(),
        )])))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            fields.insert(key, map.next_value_seed(self)?);
        }
        Ok(Value::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::decode;
    use crate::value::Payload;

    #[derive(serde::Serialize)]
    struct Frame<'a> {
        kind: &'a str,
        id: u64,
        success: bool,
        #[serde(with = "inline_result")]
        result: (&'a [u8], &'a [u8]),
        buffers: Vec<serde_bytes_like::Bin<'a>>,
    }

    mod serde_bytes_like {
        /// Bytes that serialize as `bin`.
        pub(super) struct Bin<'a>(pub(super) &'a [u8]);

        impl serde::Serialize for Bin<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
    }

    mod inline_result {
        use serde::ser::SerializeMap;

        pub(super) fn serialize<S: serde::Serializer>(
            value: &(&[u8], &[u8]),
            s: S,
        ) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(Some(3))?;
            map.serialize_entry("a", &super::serde_bytes_like::Bin(value.0))?;
            map.serialize_entry("b", &[super::serde_bytes_like::Bin(value.1)])?;
            map.serialize_entry("own", &serde_json::json!({crate::value::MARKER_KEY: 0}))?;
            map.end()
        }
    }

    #[test]
    fn inline_bins_become_buffers_after_the_frames_own() {
        let frame = Frame {
            kind: "result",
            id: 4,
            success: true,
            result: (b"first", b"second"),
            buffers: vec![serde_bytes_like::Bin(b"own")],
        };
        let payload = rmp_serde::to_vec_named(&frame).unwrap();
        assert!(
            decode(&payload).is_err(),
            "the normal decode refuses inline bytes"
        );
        let mut message = decode_inline_bins(&payload).unwrap();
        let buffers = crate::value::wire::resolve(message.buffers.take()).unwrap();
        let payload = Payload {
            value: message.result.unwrap(),
            buffers,
        };
        let json = payload.clone().into_json().unwrap();
        assert_eq!(json["own"][MARKER_KEY]["base64"], "b3du");
        assert_eq!(payload.value["a"], serde_json::json!({MARKER_KEY: 1}));
        assert_eq!(payload.value["b"][0], serde_json::json!({MARKER_KEY: 2}));
        assert_eq!(&payload.buffers[2][..], b"second");
        assert!(decode_inline_bins(b"{\"id\":1}").is_none());
        assert!(decode_inline_bins(&[0x81, 0xc4]).is_none());
    }
}
