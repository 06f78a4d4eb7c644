//! The shortcut for the frame a worker sends most: a MessagePack `result` holding only
//! `kind`, `id`, `success` and, last, `result` or `error`. The envelope is read by hand and
//! only the value goes through rmp-serde, so a reply costs no [`Message`](super::Message) (a
//! struct of some thirty fields) to build, move and drop.
//!
//! The shortcut never decides what a frame means on its own: anything it does not fully
//! recognise (another kind or key, JSON, `buffers`, a key twice, the value not last, a
//! value rmp-serde refuses) gives `None`, and the frame takes the general path
//! ([`decode_frame`](super::decode_frame)), which accepts or rejects it as it always has.
//! What the shortcut accepts, the general path would decode to the same reply.

use serde::Deserialize as _;
use serde_json::Value;

use super::MAX_DEPTH;

/// A plain `result` frame.
#[derive(Debug, PartialEq)]
pub(crate) struct PlainReply {
    /// The call it answers.
    pub(crate) id: u64,
    /// Whether the call succeeded.
    pub(crate) success: bool,
    /// The value, when it did.
    pub(crate) result: Option<Value>,
    /// The error, when it did not.
    pub(crate) error: Option<Value>,
}

/// `payload` as a plain `result`, or `None` for the general path to decode.
pub(crate) fn plain_reply(payload: &[u8]) -> Option<PlainReply> {
    let (&first, mut rest) = payload.split_first()?;
    // A fixmap: the envelope has at most 15 keys.
    if !(0x80..=0x8f).contains(&first) {
        return None;
    }
    let mut kind = false;
    let mut id = None;
    let mut success = None;
    let mut result = None;
    let mut error = None;
    let entries = first & 0x0f;
    for entry in 1..=entries {
        let key = read_str(&mut rest)?;
        if matches!(key, b"result" | b"error") {
            // The value comes last (as every bridge writes it), so it is read in place;
            // what follows it is ignored, as the general path ignores it.
            if entry != entries {
                return None;
            }
            // `nil` is an absent value, as the general path's `Option` reads it.
            let value = Some(read_last_value(rest)?).filter(|value| !value.is_null());
            if key == b"result" {
                result = value;
            } else {
                error = value;
            }
            break;
        }
        match key {
            b"kind" if !kind => {
                if read_str(&mut rest)? != b"result" {
                    return None;
                }
                kind = true;
            }
            b"id" if id.is_none() => id = Some(read_uint(&mut rest)?),
            b"success" if success.is_none() => success = Some(read_bool(&mut rest)?),
            _ => return None,
        }
    }
    if !kind {
        return None;
    }
    Some(PlainReply {
        id: id?,
        success: success?,
        result,
        error,
    })
}

/// A fixstr or str8, as bytes.
fn read_str<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (&marker, after) = rest.split_first()?;
    let (len, after) = match marker {
        0xa0..=0xbf => (usize::from(marker & 0x1f), after),
        0xd9 => {
            let (&len, after) = after.split_first()?;
            (usize::from(len), after)
        }
        _ => return None,
    };
    let (text, after) = after.split_at_checked(len)?;
    *rest = after;
    Some(text)
}

/// A non-negative integer of any width.
fn read_uint(rest: &mut &[u8]) -> Option<u64> {
    let (&marker, after) = rest.split_first()?;
    let width = match marker {
        0x00..=0x7f => {
            *rest = after;
            return Some(u64::from(marker));
        }
        0xcc => 1,
        0xcd => 2,
        0xce => 4,
        0xcf => 8,
        _ => return None,
    };
    let (bytes, after) = after.split_at_checked(width)?;
    *rest = after;
    Some(
        bytes
            .iter()
            .fold(0, |value, &byte| (value << 8) | u64::from(byte)),
    )
}

fn read_bool(rest: &mut &[u8]) -> Option<bool> {
    let (&marker, after) = rest.split_first()?;
    let value = match marker {
        0xc2 => false,
        0xc3 => true,
        _ => return None,
    };
    *rest = after;
    Some(value)
}

/// The last value of the envelope, borrowed from the payload while decoding. The envelope
/// is one level, so the value may nest one level less than the general path allows the
/// whole frame.
fn read_last_value(rest: &[u8]) -> Option<Value> {
    let mut msgpack = rmp_serde::Deserializer::from_read_ref(rest);
    msgpack.set_max_depth(MAX_DEPTH + 1);
    Value::deserialize(&mut msgpack).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Encoding, decode_frame};
    use proptest::prelude::*;
    use serde_json::json;

    fn msgpack(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        Encoding::MsgPack
            .encode_into(value, &mut out)
            .expect("encodes");
        out
    }

    /// A msgpack map with its entries in the order given (a `json!` map sorts its keys).
    fn envelope(entries: &[(&str, Value)]) -> Vec<u8> {
        let mut out = vec![0x80 | u8::try_from(entries.len()).expect("a fixmap")];
        for (key, value) in entries {
            out.extend(msgpack(&json!(key)));
            out.extend(msgpack(value));
        }
        out
    }

    fn same_as_general(payload: &[u8], fast: &PlainReply) {
        let general = decode_frame(payload).expect("the general path decodes it");
        assert_eq!(Some(fast.id), general.id);
        assert_eq!(Some(fast.success), general.success);
        assert_eq!(fast.result, general.result);
        assert_eq!(fast.error, general.error);
        assert!(general.buffers.is_none());
    }

    #[test]
    fn a_plain_result_is_read_as_the_general_path_reads_it() {
        let error = json!({"type": "ValueError", "message": "m", "traceback": "t"});
        for entries in [
            vec![
                ("kind", json!("result")),
                ("id", json!(7)),
                ("success", json!(true)),
                ("result", json!({"a": [1, "x", null]})),
            ],
            vec![
                ("id", json!(300)),
                ("success", json!(true)),
                ("kind", json!("result")),
                ("result", json!({})),
            ],
            vec![
                ("kind", json!("result")),
                ("id", json!(70_000)),
                ("success", json!(false)),
                ("error", error),
            ],
            vec![
                ("kind", json!("result")),
                ("id", json!(u64::MAX)),
                ("success", json!(true)),
                ("result", json!(1.5)),
            ],
            vec![
                ("kind", json!("result")),
                ("id", json!(1)),
                ("success", json!(true)),
            ],
            vec![
                ("kind", json!("result")),
                ("id", json!(2)),
                ("success", json!(true)),
                ("result", Value::Null),
            ],
            vec![
                ("kind", json!("result")),
                ("id", json!(3)),
                ("success", json!(false)),
                ("error", Value::Null),
            ],
        ] {
            let payload = envelope(&entries);
            let fast = plain_reply(&payload).expect("the shortcut takes it");
            same_as_general(&payload, &fast);
        }
    }

    #[test]
    fn anything_else_goes_to_the_general_path() {
        let ok = || {
            vec![
                ("kind", json!("result")),
                ("id", json!(1)),
                ("success", json!(true)),
            ]
        };
        let with = |extra: (&'static str, Value)| {
            let mut entries = ok();
            entries.insert(0, extra);
            entries
        };
        for entries in [
            vec![
                ("kind", json!("chunk")),
                ("id", json!(1)),
                ("seq", json!(0)),
                ("data", json!(1)),
            ],
            with(("buffers", json!([]))),
            vec![
                ("id", json!(1)),
                ("success", json!(true)),
                ("result", json!(1)),
            ],
            vec![
                ("kind", json!("result")),
                ("id", json!(-1)),
                ("success", json!(true)),
            ],
            vec![
                ("kind", json!("result")),
                ("id", json!(1)),
                ("success", json!("yes")),
            ],
            vec![("kind", json!("result")), ("success", json!(true))],
            // A key twice.
            with(("id", json!(2))),
            // The value not last (every bridge writes it last).
            with(("result", json!(1))),
        ] {
            assert_eq!(plain_reply(&envelope(&entries)), None, "{entries:?}");
        }
        let json = serde_json::to_vec(&json!({"kind": "result", "id": 1, "success": true}))
            .expect("encodes");
        assert_eq!(plain_reply(&json), None);
    }

    #[test]
    fn a_value_deeper_than_the_limit_goes_to_the_general_path() {
        let mut deep = json!(1);
        for _ in 0..MAX_DEPTH + 1 {
            deep = json!([deep]);
        }
        let payload = envelope(&[
            ("kind", json!("result")),
            ("id", json!(1)),
            ("success", json!(true)),
            ("result", deep),
        ]);
        assert_eq!(plain_reply(&payload), None);
        assert!(
            decode_frame(&payload).is_err(),
            "the general path refuses it too"
        );
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            "[a-z]{0,6}".prop_map(Value::from),
            proptest::collection::vec(any::<u8>().prop_map(Value::from), 0..3)
                .prop_map(Value::from),
            ("[a-z]{1,4}", any::<u16>()).prop_map(|(key, n)| json!({ key: n })),
        ]
    }

    fn arb_key() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just("kind"),
            Just("id"),
            Just("success"),
            Just("result"),
            Just("error"),
            Just("seq"),
            Just("buffers"),
        ]
    }

    proptest! {
        /// Envelopes near a plain result (its keys in any order, values of any type, now and
        /// then an extra key): what the shortcut takes, the general path reads alike.
        #[test]
        fn the_shortcut_agrees_on_any_envelope(
            id in prop_oneof![any::<u64>().prop_map(Value::from), arb_value()],
            success in prop_oneof![any::<bool>().prop_map(Value::from), arb_value()],
            last in (prop_oneof![Just("result"), Just("error"), arb_key()], arb_value()),
            extra in proptest::collection::vec((arb_key(), arb_value()), 0..2),
            rotate in any::<usize>(),
        ) {
            let mut entries = vec![("kind", json!("result")), ("id", id), ("success", success)];
            entries.extend(extra);
            let turn = rotate % entries.len();
            entries.rotate_left(turn);
            entries.push(last);
            let payload = envelope(&entries);
            if let Some(fast) = plain_reply(&payload) {
                same_as_general(&payload, &fast);
            }
        }

        /// Whatever follows a `kind`, the shortcut never reads what the general path would
        /// read differently.
        #[test]
        fn the_shortcut_agrees_with_the_general_path(
            entries in 1..6_u8,
            bytes in proptest::collection::vec(any::<u8>(), 0..48),
        ) {
            let mut payload = vec![0x80 | entries];
            payload.extend(msgpack(&json!("kind")));
            payload.extend(msgpack(&json!("result")));
            payload.extend(bytes);
            if let Some(fast) = plain_reply(&payload) {
                same_as_general(&payload, &fast);
            }
        }
    }
}
