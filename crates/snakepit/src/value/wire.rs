//! The entries of a message's top-level `buffers` list as the wire carries them: a
//! MessagePack `bin`, or `{"base64": ".."}` in JSON.
//!
//! [`BufferEntry`] is what a received frame holds; [`WireBuffers`] writes a call's buffers.
//! A transport other than inline bytes (shared memory) adds its descriptor here: as a
//! variant of [`BufferEntry`], resolved to a [`Buffer`] by [`resolve`].

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

use super::Buffer;
use super::marker::{from_base64, to_base64};

/// One entry of a received `buffers` list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BufferEntry {
    /// The bytes, inline in the frame.
    Inline(Buffer),
    /// An entry that is not a buffer; it fails the frame's call (not the whole link).
    Refused(String),
}

/// Writes `buffer` as one entry: `bin` in a binary format, `{"base64"}` in JSON.
fn serialize_entry<S: Serializer>(buffer: &Buffer, serializer: S) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("base64", &to_base64(buffer))?;
        map.end()
    } else {
        serializer.serialize_bytes(buffer)
    }
}

impl Serialize for BufferEntry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Inline(buffer) => serialize_entry(buffer, serializer),
            Self::Refused(reason) => Err(serde::ser::Error::custom(reason)),
        }
    }
}

impl<'de> Deserialize<'de> for BufferEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = BufferEntry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a buffer: bytes, or {\"base64\": ..}")
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<BufferEntry, E> {
        Ok(BufferEntry::Inline(Buffer::copy_aligned(bytes)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BufferEntry, A::Error> {
        let mut entry = None;
        while let Some(key) = map.next_key::<String>()? {
            entry = Some(match (key.as_str(), entry) {
                ("base64", None) => match map.next_value::<Value>()? {
                    Value::String(text) => match from_base64(&text) {
                        Ok(buffer) => BufferEntry::Inline(buffer),
                        Err(reason) => BufferEntry::Refused(reason),
                    },
                    _ => BufferEntry::Refused("`base64` is not a string".to_owned()),
                },
                (_, Some(BufferEntry::Refused(reason))) => {
                    map.next_value::<IgnoredAny>()?;
                    BufferEntry::Refused(reason)
                }
                (other, _) => {
                    map.next_value::<IgnoredAny>()?;
                    BufferEntry::Refused(format!("unexpected key `{other}` in a buffer entry"))
                }
            });
        }
        Ok(entry.unwrap_or_else(|| BufferEntry::Refused("an empty buffer entry".to_owned())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BufferEntry, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(invalid("a list"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<BufferEntry, E> {
        Ok(invalid("a string"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<BufferEntry, E> {
        Ok(invalid("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<BufferEntry, E> {
        Ok(invalid("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<BufferEntry, E> {
        Ok(invalid("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<BufferEntry, E> {
        Ok(invalid("a number"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<BufferEntry, E> {
        Ok(invalid("null"))
    }
}

fn invalid(what: &str) -> BufferEntry {
    BufferEntry::Refused(format!(
        "a buffer entry is {what}, not bytes or {{\"base64\": ..}}"
    ))
}

/// A call's buffers as the `buffers` field of the frame that carries them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WireBuffers<'a>(pub(crate) &'a [Buffer]);

impl Serialize for WireBuffers<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for buffer in self.0 {
            seq.serialize_element(&Entry(buffer))?;
        }
        seq.end()
    }
}

struct Entry<'a>(&'a Buffer);

impl Serialize for Entry<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_entry(self.0, serializer)
    }
}

/// The `buffers` field for an outgoing frame: absent when there are none.
pub(crate) fn outgoing(buffers: &[Buffer]) -> Option<WireBuffers<'_>> {
    (!buffers.is_empty()).then_some(WireBuffers(buffers))
}

/// The buffers of a received frame. An error says why an entry is unusable; it fails the
/// call the frame belongs to.
pub(crate) fn resolve(entries: Option<Vec<BufferEntry>>) -> Result<Vec<Buffer>, String> {
    entries
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(index, entry)| match entry {
            BufferEntry::Inline(buffer) => Ok(buffer),
            BufferEntry::Refused(reason) => Err(format!("buffer {index}: {reason}")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Encoding;

    #[test]
    fn entries_are_bin_in_msgpack_and_base64_in_json() {
        let buffers = [Buffer::from(vec![1_u8, 2, 3])];
        let mut msgpack = Vec::new();
        Encoding::MsgPack
            .encode_into(&WireBuffers(&buffers), &mut msgpack)
            .unwrap();
        assert_eq!(msgpack, [0x91, 0xc4, 3, 1, 2, 3]);
        let mut json = Vec::new();
        Encoding::Json
            .encode_into(&WireBuffers(&buffers), &mut json)
            .unwrap();
        assert_eq!(json, br#"[{"base64":"AQID"}]"#);
        let back: Vec<BufferEntry> = serde_json::from_slice(&json).unwrap();
        assert_eq!(resolve(Some(back)).unwrap(), buffers);
        let back: Vec<BufferEntry> = rmp_serde::from_slice(&msgpack).unwrap();
        assert_eq!(resolve(Some(back)).unwrap(), buffers);
        for (bad, reason) in [
            (&br#"[{"hex":"00"}]"#[..], "unexpected key `hex`"),
            (br#"[{"base64":"!"}]"#, "invalid base64"),
            (br#"[{"base64":1}]"#, "not a string"),
            (br#"[1]"#, "is a number"),
            (br#"[[1]]"#, "is a list"),
            (br#"[{}]"#, "an empty buffer entry"),
        ] {
            let entries: Vec<BufferEntry> = serde_json::from_slice(bad).unwrap();
            let err = resolve(Some(entries)).unwrap_err();
            assert!(
                err.starts_with("buffer 0: ") && err.contains(reason),
                "{err}"
            );
        }
    }
}
