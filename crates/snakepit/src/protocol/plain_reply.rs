//! The shortcut for the frame a worker sends most: a MessagePack `result` holding only
//! `kind`, `id`, `success` and `result` or `error`. The envelope is read by hand and only
//! the values go through rmp-serde, so a reply costs no [`Message`](super::Message) (a
//! struct of some thirty fields) to build, move and drop.
//!
//! The shortcut never decides what a frame means on its own: anything it does not fully
//! recognise (another kind or key, JSON, `buffers`, a key twice, a value rmp-serde refuses,
//! bytes left over) gives `None`, and the frame takes the general path
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
    for _ in 0..(first & 0x0f) {
        let key = read_str(&mut rest)?;
        match key {
            b"kind" if !kind => {
                if read_str(&mut rest)? != b"result" {
                    return None;
                }
                kind = true;
            }
            b"id" if id.is_none() => id = Some(read_uint(&mut rest)?),
            b"success" if success.is_none() => success = Some(read_bool(&mut rest)?),
            b"result" if result.is_none() => result = Some(read_value(&mut rest)?),
            b"error" if error.is_none() => error = Some(read_value(&mut rest)?),
            _ => return None,
        }
    }
    if !kind || !rest.is_empty() {
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

/// One value; the envelope is one level, so the value may nest one level less than the
/// general path allows the whole frame.
fn read_value(rest: &mut &[u8]) -> Option<Value> {
    let mut msgpack = rmp_serde::Deserializer::new(&mut *rest);
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

    #[test]
    fn a_plain_result_is_read_as_the_general_path_reads_it() {
        for frame in [
            json!({"kind": "result", "id": 7, "success": true, "result": {"a": [1, "x", null]}}),
            json!({"id": 300, "success": true, "result": {}, "kind": "result"}),
            json!({"kind": "result", "id": 70_000, "success": false,
                   "error": {"type": "ValueError", "message": "m", "traceback": "t"}}),
            json!({"kind": "result", "id": u64::MAX, "success": true, "result": 1.5}),
        ] {
            let payload = msgpack(&frame);
            let fast = plain_reply(&payload).expect("the shortcut takes it");
            let general = decode_frame(&payload).expect("decodes");
            assert_eq!(Some(fast.id), general.id);
            assert_eq!(Some(fast.success), general.success);
            assert_eq!(fast.result, general.result);
            assert_eq!(fast.error, general.error);
        }
    }

    #[test]
    fn anything_else_goes_to_the_general_path() {
        for frame in [
            json!({"kind": "chunk", "id": 1, "seq": 0, "data": 1}),
            json!({"kind": "result", "id": 1, "success": true, "result": 1, "buffers": []}),
            json!({"id": 1, "success": true, "result": 1}),
            json!({"kind": "result", "id": -1, "success": true, "result": 1}),
            json!({"kind": "result", "id": 1, "success": "yes", "result": 1}),
            json!({"kind": "result", "success": true, "result": 1}),
        ] {
            assert_eq!(plain_reply(&msgpack(&frame)), None, "{frame}");
        }
        let json = serde_json::to_vec(&json!({"kind": "result", "id": 1, "success": true}))
            .expect("encodes");
        assert_eq!(plain_reply(&json), None);
        let mut trailing = msgpack(&json!({"kind": "result", "id": 1, "success": true}));
        trailing.push(0xc0);
        assert_eq!(plain_reply(&trailing), None);
        // A key twice: fixmap of 4 with `id` repeated.
        let mut twice = vec![0x84];
        for part in [
            json!("kind"),
            json!("result"),
            json!("id"),
            json!(1),
            json!("id"),
        ] {
            twice.extend(msgpack(&part));
        }
        twice.extend(msgpack(&json!(2)));
        twice.extend(msgpack(&json!("success")));
        twice.extend(msgpack(&json!(true)));
        assert_eq!(plain_reply(&twice), None);
    }

    #[test]
    fn a_value_deeper_than_the_limit_goes_to_the_general_path() {
        let mut deep = json!(1);
        for _ in 0..MAX_DEPTH + 1 {
            deep = json!([deep]);
        }
        let payload = msgpack(&json!({"kind": "result", "id": 1, "success": true, "result": deep}));
        assert_eq!(plain_reply(&payload), None);
        assert!(
            decode_frame(&payload).is_err(),
            "the general path refuses it too"
        );
    }

    proptest! {
        /// Whatever the bytes, the shortcut never accepts what the general path would read
        /// differently.
        #[test]
        fn the_shortcut_agrees_with_the_general_path(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut payload = vec![0x83];
            payload.extend(msgpack(&json!("kind")));
            payload.extend(msgpack(&json!("result")));
            payload.extend(bytes);
            if let Some(fast) = plain_reply(&payload) {
                let general = decode_frame(&payload).expect("the general path decodes it too");
                prop_assert_eq!(Some(fast.id), general.id);
                prop_assert_eq!(Some(fast.success), general.success);
                prop_assert_eq!(fast.result, general.result);
                prop_assert_eq!(fast.error, general.error);
            }
        }
    }
}
