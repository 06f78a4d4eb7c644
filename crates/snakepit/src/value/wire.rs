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
    /// A shared-memory descriptor `{"shm": "memfd", "len": N}`, with an `"id"` when the
    /// sender recycles the memfd: the bytes are in a memfd on the fd channel. The supervisor
    /// replaces it with `Inline` (the mapping) or `Refused` as soon as the frame is decoded
    /// (`crate::worker::shm`).
    Shm {
        /// The declared length in bytes.
        len: u64,
        /// The sender's name for a memfd it reuses once the host releases it.
        id: Option<u64>,
    },
    /// An entry that is not a buffer; it fails the frame's call (not the whole link).
    Refused(String),
}

/// The name of the memfd transport in a descriptor.
const MEMFD: &str = "memfd";

/// Writes a shared-memory descriptor.
fn serialize_descriptor<S: Serializer>(len: u64, serializer: S) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(2))?;
    map.serialize_entry("shm", MEMFD)?;
    map.serialize_entry("len", &len)?;
    map.end()
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
            Self::Shm { len, .. } => serialize_descriptor(*len, serializer),
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
        let (mut shm, mut len, mut id) = (None, None, None);
        while let Some(key) = map.next_key::<String>()? {
            if entry.is_none() && key == "id" && id.is_none() {
                id = Some(map.next_value::<Value>()?);
                continue;
            }
            // A shared-memory descriptor: `shm` and `len`, checked once the map is read.
            if entry.is_none() && key == "shm" && shm.is_none() {
                shm = Some(map.next_value::<Value>()?);
                continue;
            }
            if entry.is_none() && key == "len" && len.is_none() {
                len = Some(map.next_value::<Value>()?);
                continue;
            }
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
        let id = match id.map(|id| id.as_u64()) {
            None => None,
            Some(Some(id)) => Some(id),
            Some(None) => {
                return Ok(BufferEntry::Refused(
                    "a shared-memory descriptor's `id` is not a number".to_owned(),
                ));
            }
        };
        match (entry, shm, len) {
            (entry, None, None) if id.is_none() => {
                Ok(entry
                    .unwrap_or_else(|| BufferEntry::Refused("an empty buffer entry".to_owned())))
            }
            (None, Some(Value::String(kind)), Some(len)) if kind == MEMFD => {
                Ok(match len.as_u64() {
                    Some(len) => BufferEntry::Shm { len, id },
                    None => BufferEntry::Refused(
                        "a shared-memory descriptor's `len` is not a size".to_owned(),
                    ),
                })
            }
            (Some(BufferEntry::Refused(reason)), _, _) => Ok(BufferEntry::Refused(reason)),
            _ => Ok(BufferEntry::Refused(
                "a buffer entry needs `base64`, or `shm`: \"memfd\" and `len`".to_owned(),
            )),
        }
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

/// A call's buffers as the `buffers` field of the frame that carries them. With a
/// shared-memory threshold, every buffer of at least that many bytes is written as a memfd
/// descriptor (its memfd goes on the fd channel first, in the same order).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WireBuffers<'a>(pub(crate) &'a [Buffer], pub(crate) Option<usize>);

impl Serialize for WireBuffers<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for buffer in self.0 {
            seq.serialize_element(&Entry(buffer, self.1))?;
        }
        seq.end()
    }
}

struct Entry<'a>(&'a Buffer, Option<usize>);

impl Serialize for Entry<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.1 {
            Some(threshold) if self.0.len() >= threshold => {
                serialize_descriptor(u64::try_from(self.0.len()).unwrap_or(u64::MAX), serializer)
            }
            _ => serialize_entry(self.0, serializer),
        }
    }
}

/// The `buffers` field for an outgoing frame: absent when there are none. `shm_threshold`
/// is set when the buffers from that size on go as memfds.
pub(crate) fn outgoing(
    buffers: &[Buffer],
    shm_threshold: Option<usize>,
) -> Option<WireBuffers<'_>> {
    (!buffers.is_empty()).then_some(WireBuffers(buffers, shm_threshold))
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
            BufferEntry::Shm { .. } => Err(format!(
                "buffer {index}: a shared buffer came without its memfd"
            )),
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
            .encode_into(&WireBuffers(&buffers, None), &mut msgpack)
            .unwrap();
        assert_eq!(msgpack, [0x91, 0xc4, 3, 1, 2, 3]);
        let mut json = Vec::new();
        Encoding::Json
            .encode_into(&WireBuffers(&buffers, None), &mut json)
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

    #[test]
    fn buffers_over_the_threshold_are_written_and_read_as_memfd_descriptors() {
        let buffers = [Buffer::from(vec![1_u8; 3]), Buffer::from(vec![2_u8; 10])];
        let mut json = Vec::new();
        Encoding::Json
            .encode_into(&WireBuffers(&buffers, Some(10)), &mut json)
            .unwrap();
        assert_eq!(json, br#"[{"base64":"AQEB"},{"shm":"memfd","len":10}]"#);
        let back: Vec<BufferEntry> = serde_json::from_slice(&json).unwrap();
        assert_eq!(back[1], BufferEntry::Shm { len: 10, id: None });
        let named: Vec<BufferEntry> =
            serde_json::from_str(r#"[{"shm":"memfd","len":10,"id":7}]"#).unwrap();
        assert_eq!(
            named[0],
            BufferEntry::Shm {
                len: 10,
                id: Some(7)
            }
        );
        // Without its memfd, a descriptor fails the frame's call.
        assert!(
            resolve(Some(back))
                .unwrap_err()
                .contains("without its memfd")
        );
        for odd in [
            r#"[{"shm":"arena","len":10}]"#,
            r#"[{"shm":"memfd","len":-1}]"#,
            r#"[{"shm":"memfd"}]"#,
            r#"[{"shm":"memfd","len":10,"base64":"AA=="}]"#,
            r#"[{"shm":"memfd","len":10,"id":-1}]"#,
            r#"[{"id":1}]"#,
        ] {
            let back: Vec<BufferEntry> = serde_json::from_str(odd).unwrap();
            assert!(
                matches!(back[0], BufferEntry::Refused(_)),
                "{odd}: {back:?}"
            );
        }
    }
}
