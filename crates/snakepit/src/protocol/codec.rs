//! The two encodings of a message, JSON and MessagePack, and how a receiver tells them apart.
//!
//! A JSON frame starts with `{`; a MessagePack frame starts with a map header. The two never
//! overlap, so [`decode`] accepts either on every frame.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde::de::DeserializeOwned;
#[cfg(test)]
use serde_json::Value;

use super::Message;
use super::depth::{MAX_DEPTH, Scan, scan};
use crate::error::{Error, Result};

/// A message encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// UTF-8 JSON text; always available.
    Json,
    /// MessagePack, with maps keyed by field name.
    MsgPack,
}

impl Encoding {
    /// The encoding's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::MsgPack => "msgpack",
        }
    }

    /// Which encoding a frame payload is in, judged by its first byte.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] when the payload is empty or starts with neither a JSON object nor
    /// a MessagePack map.
    pub(crate) fn detect(payload: &[u8]) -> Result<Self> {
        match payload.first() {
            Some(b'{') => Ok(Self::Json),
            Some(0x80..=0x8f | 0xde | 0xdf) => Ok(Self::MsgPack),
            Some(byte) => Err(Error::Protocol(format!(
                "frame starts with byte {byte:#04x}, which opens neither a JSON object nor a MessagePack map"
            ))),
            None => Err(Error::Protocol("empty frame".to_owned())),
        }
    }

    /// Appends `value` in this encoding to `out`.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] when the value cannot be encoded.
    pub(crate) fn encode_into<T: Serialize + ?Sized>(
        self,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        match self {
            Self::Json => serde_json::to_writer(&mut *out, value)
                .map_err(|err| Error::Protocol(format!("could not encode JSON: {err}"))),
            Self::MsgPack => value
                .serialize(&mut rmp_serde::Serializer::new(&mut *out).with_struct_map())
                .map_err(|err| Error::Protocol(format!("could not encode MessagePack: {err}"))),
        }
    }

    /// Decodes a payload nested at most one level more than [`MAX_DEPTH`] (the frame's map
    /// around its values); deeper payloads are measured by [`scan`] and refused.
    fn decode_as<T: DeserializeOwned>(self, payload: &[u8]) -> Result<T, FrameError> {
        let too_deep = || match scan(payload, self) {
            Some(scanned) => FrameError::TooDeep(scanned),
            None => FrameError::Malformed(Error::Protocol(format!(
                "invalid {self} message: nested too deep"
            ))),
        };
        match self {
            Self::Json => match serde_json::from_slice(payload) {
                Ok(value) => Ok(value),
                // serde_json stops at 128 levels; below the protocol's limit the payload is
                // decoded again on a stack that grows as needed.
                Err(err) if err.to_string().starts_with("recursion limit exceeded") => {
                    match scan(payload, self) {
                        Some(scanned) if scanned.depth <= MAX_DEPTH + 1 => {
                            let mut json = serde_json::Deserializer::from_slice(payload);
                            json.disable_recursion_limit();
                            let deep = serde_stacker::Deserializer::new(&mut json);
                            T::deserialize(deep).map_err(|err| {
                                FrameError::Malformed(Error::Protocol(format!(
                                    "invalid JSON message: {err}"
                                )))
                            })
                        }
                        _ => Err(too_deep()),
                    }
                }
                Err(err) => Err(FrameError::Malformed(Error::Protocol(format!(
                    "invalid JSON message: {err}"
                )))),
            },
            Self::MsgPack => {
                let mut msgpack = rmp_serde::Deserializer::from_read_ref(payload);
                msgpack.set_max_depth(MAX_DEPTH + 2);
                match T::deserialize(&mut msgpack) {
                    Ok(value) => Ok(value),
                    Err(rmp_serde::decode::Error::DepthLimitExceeded) => Err(too_deep()),
                    Err(err) => Err(FrameError::Malformed(Error::Protocol(format!(
                        "invalid MessagePack message: {err}"
                    )))),
                }
            }
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Encoding {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        match name {
            "json" => Ok(Self::Json),
            "msgpack" => Ok(Self::MsgPack),
            other => Err(Error::Protocol(format!("unknown encoding `{other}`"))),
        }
    }
}

/// Decodes one frame payload into a [`Message`], in whichever encoding it is.
///
/// # Errors
///
/// [`Error::Protocol`] when the payload is not a message in either encoding.
pub(crate) fn decode(payload: &[u8]) -> Result<Message> {
    decode_frame(payload).map_err(FrameError::into_error)
}

/// Why a frame could not be decoded.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// The frame is well-formed but nests deeper than [`MAX_DEPTH`]; the scan says which
    /// call it belongs to.
    TooDeep(Scan),
    /// The frame is not a message.
    Malformed(Error),
}

impl FrameError {
    /// The error as the crate's error.
    pub(crate) fn into_error(self) -> Error {
        match self {
            Self::TooDeep(scan) => Error::Protocol(format!(
                "a frame nested {} levels deep; the limit is {MAX_DEPTH}",
                scan.depth.saturating_sub(1)
            )),
            Self::Malformed(err) => err,
        }
    }
}

/// Decodes one frame payload into a [`Message`], telling a frame that is only too deep
/// from one that is malformed.
///
/// # Errors
///
/// [`FrameError::TooDeep`] when a value in it nests deeper than [`MAX_DEPTH`],
/// [`FrameError::Malformed`] when it is not a message.
pub(crate) fn decode_frame(payload: &[u8]) -> Result<Message, FrameError> {
    Encoding::detect(payload)
        .map_err(FrameError::Malformed)?
        .decode_as(payload)
}

/// Decodes one frame payload into a generic value, keeping fields [`Message`] does not know.
///
/// # Errors
///
/// [`Error::Protocol`] when the payload is not a map in either encoding.
#[cfg(test)]
pub(crate) fn decode_value(payload: &[u8]) -> Result<Value> {
    let value: Value = Encoding::detect(payload)?
        .decode_as(payload)
        .map_err(FrameError::into_error)?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(Error::Protocol("a message must be a map".to_owned()))
    }
}

/// Encodes a generic value as one frame payload.
///
/// # Errors
///
/// [`Error::Protocol`] when the value cannot be encoded.
#[cfg(test)]
pub(crate) fn encode_value(value: &Value, encoding: Encoding) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encoding.encode_into(value, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Kind;
    use proptest::prelude::*;

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1.0e12f64..1.0e12).prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::btree_map(".{0,6}", inner, 0..6)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        (
            any::<u64>(),
            "[a-z_]{1,12}",
            arb_value(),
            proptest::option::of("[a-z0-9_]{1,10}"),
            proptest::option::of(any::<u64>()),
            any::<bool>(),
        )
            .prop_map(|(id, command, value, session, timeout, success)| {
                // A null field reads back as an absent one, so values are wrapped in a map.
                let args = serde_json::json!({ "value": value });
                let mut message = Message::call(id, &command, args.clone());
                message.session_id = session;
                message.timeout_ms = timeout;
                if success {
                    message.result = Some(args);
                    message.success = Some(true);
                }
                message
            })
    }

    proptest! {
        #[test]
        fn every_message_round_trips_in_both_encodings(message in arb_message()) {
            for encoding in [Encoding::Json, Encoding::MsgPack] {
                let mut payload = Vec::new();
                encoding.encode_into(&message, &mut payload).unwrap();
                prop_assert_eq!(Encoding::detect(&payload).unwrap(), encoding);
                prop_assert_eq!(&decode(&payload).unwrap(), &message);
            }
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _outcome = decode(&bytes);
            let _outcome = decode_value(&bytes);
        }

        #[test]
        fn every_truncation_of_a_message_is_an_error(message in arb_message()) {
            for encoding in [Encoding::Json, Encoding::MsgPack] {
                let mut payload = Vec::new();
                encoding.encode_into(&message, &mut payload).unwrap();
                for cut in 0..payload.len() {
                    prop_assert!(decode(&payload[..cut]).is_err(), "cut at {cut} decoded");
                }
            }
        }
    }

    #[test]
    fn classic_messages_are_classified_by_their_fields() {
        let request = decode(br#"{"id":1,"command":"ping","args":{}}"#).unwrap();
        assert_eq!(request.kind(), Kind::Call);
        let reply = decode(br#"{"id":1,"success":false,"error":"nope"}"#).unwrap();
        assert_eq!(reply.kind(), Kind::Result);
        let odd = decode(br#"{"kind":"frobnicate","id":1}"#).unwrap();
        assert_eq!(odd.kind(), Kind::Unknown);
    }

    #[test]
    fn a_classic_call_has_exactly_the_classic_fields() {
        let message = Message::classic_call(3, "ping", serde_json::json!({}));
        let mut payload = Vec::new();
        Encoding::Json.encode_into(&message, &mut payload).unwrap();
        assert_eq!(payload, br#"{"id":3,"command":"ping","args":{}}"#);
    }
}
