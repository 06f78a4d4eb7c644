//! How deep values may nest, checked without recursion.
//!
//! Encoders and decoders recurse once per level of nesting, so a value nested thousands of
//! levels deep would overflow the stack of whoever encodes or decodes it. Both sides of the
//! link hold the same limit, [`MAX_DEPTH`]: a value (arguments, a result, a chunk) may nest
//! that many containers. A value is checked with [`exceeds`] before it is encoded, and every
//! incoming frame is measured by [`scan`] before it is decoded. Neither recurses. When a
//! frame is too deep, [`scan`] still finds its top-level `id`, `ref` and `kind`, so the
//! one call it belongs to can fail while the worker keeps serving.

use serde_json::Value;

use super::Encoding;

/// The deepest a value may nest: a list inside a list ... 512 containers deep is allowed,
/// 513 is not. A frame is a map around its values, so a frame may nest one level more.
pub const MAX_DEPTH: usize = 512;

/// Whether `value` nests more than `limit` containers deep. Scalars have depth 0, `[]` and
/// `{}` depth 1.
pub(crate) fn exceeds<'v>(value: &'v Value, limit: usize) -> bool {
    // Containers still to look into, with their depth. Flat values (the common case) never
    // push one, so they cost no allocation.
    let mut stack: Vec<(&'v Value, usize)> = Vec::new();
    let mut current = (value, 1usize);
    loop {
        let (value, depth) = current;
        let is_container = matches!(value, Value::Array(_) | Value::Object(_));
        if is_container && depth > limit {
            return true;
        }
        let mut push = |child: &'v Value| {
            if matches!(child, Value::Array(_) | Value::Object(_)) {
                stack.push((child, depth + 1));
            }
        };
        match value {
            Value::Array(items) => items.iter().for_each(&mut push),
            Value::Object(fields) => fields.values().for_each(&mut push),
            _ => {}
        }
        match stack.pop() {
            Some(next) => current = next,
            None => return false,
        }
    }
}

/// Drops `value` without recursion: a value nested deeper than the stack allows would
/// overflow it in the ordinary recursive drop.
pub(crate) fn dismantle(value: Value) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items),
            Value::Object(fields) => stack.extend(fields.into_iter().map(|(_, value)| value)),
            _ => {}
        }
    }
}

/// What [`scan`] learned of a frame without decoding it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// The deepest nesting in the frame, the frame's own map included.
    pub(crate) depth: usize,
    /// The frame's top-level `id`, if it is an unsigned integer.
    pub(crate) id: Option<u64>,
    /// The frame's top-level `ref` (a host call's reference), if it is an unsigned integer.
    pub(crate) reference: Option<u64>,
    /// The frame's top-level `kind`, if it is a string.
    pub(crate) kind: Option<String>,
}

/// Measures a frame's nesting and reads its top-level ids, without recursion. `None` when
/// the payload is not well-formed enough to scan.
pub(crate) fn scan(payload: &[u8], encoding: Encoding) -> Option<Scan> {
    match encoding {
        Encoding::Json => json::scan(payload),
        Encoding::MsgPack => msgpack::scan(payload),
    }
}

/// Which top-level field a key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    Reference,
    Kind,
    Other,
}

impl Field {
    fn of(key: &[u8]) -> Self {
        match key {
            b"id" => Self::Id,
            b"ref" => Self::Reference,
            b"kind" => Self::Kind,
            _ => Self::Other,
        }
    }

    fn record_int(self, scan: &mut Scan, number: u64) {
        match self {
            Self::Id => scan.id = Some(number),
            Self::Reference => scan.reference = Some(number),
            Self::Kind | Self::Other => {}
        }
    }
}

mod json {
    use super::{Field, Scan};

    pub(super) fn scan(payload: &[u8]) -> Option<Scan> {
        let mut out = Scan::default();
        let mut depth = 0usize;
        let mut index = 0usize;
        // At depth 1: the key just read, waiting for its value.
        let mut field: Option<Field> = None;
        let mut expect_key = false;
        while index < payload.len() {
            let byte = payload[index];
            match byte {
                b'{' | b'[' => {
                    depth += 1;
                    out.depth = out.depth.max(depth);
                    expect_key = depth == 1 && byte == b'{';
                    field = None;
                }
                b'}' | b']' => depth = depth.checked_sub(1)?,
                b',' if depth == 1 => {
                    expect_key = true;
                    field = None;
                }
                b'"' => {
                    let end = string_end(payload, index + 1)?;
                    let text = &payload[index + 1..end];
                    if depth == 1 && expect_key {
                        field = Some(Field::of(text));
                        expect_key = false;
                    } else if depth == 1 && field == Some(Field::Kind) {
                        out.kind = std::str::from_utf8(text).ok().map(str::to_owned);
                    }
                    index = end;
                }
                b'0'..=b'9' if depth == 1 => {
                    let end = payload[index..]
                        .iter()
                        .position(|byte| !byte.is_ascii_digit())
                        .map_or(payload.len(), |offset| index + offset);
                    if let (Some(field), Some(number)) = (field, digits(&payload[index..end])) {
                        field.record_int(&mut out, number);
                    }
                    field = None;
                    index = end - 1;
                }
                _ => {}
            }
            index += 1;
        }
        (depth == 0).then_some(out)
    }

    /// The index of the quote that closes a string whose text starts at `start`.
    fn string_end(payload: &[u8], start: usize) -> Option<usize> {
        let mut index = start;
        while index < payload.len() {
            match payload[index] {
                b'\\' => index += 2,
                b'"' => return Some(index),
                _ => index += 1,
            }
        }
        None
    }

    fn digits(text: &[u8]) -> Option<u64> {
        std::str::from_utf8(text).ok()?.parse().ok()
    }
}

mod msgpack {
    use super::{Field, Scan};

    /// One item of a MessagePack value: a scalar of `skip` more bytes, or a container of
    /// `items` children.
    enum Item {
        Scalar { skip: usize },
        Uint(u64),
        Str { start: usize, len: usize },
        Container { items: usize },
    }

    fn be(payload: &[u8], at: usize, width: usize) -> Option<u64> {
        let bytes = payload.get(at..at + width)?;
        Some(
            bytes
                .iter()
                .fold(0u64, |acc, byte| acc << 8 | u64::from(*byte)),
        )
    }

    /// Reads the header at `at`; returns the item and the index after its header.
    fn header(payload: &[u8], at: usize) -> Option<(Item, usize)> {
        let byte = *payload.get(at)?;
        let next = at + 1;
        let sized =
            |width: usize| -> Option<usize> { usize::try_from(be(payload, next, width)?).ok() };
        let item = match byte {
            0x00..=0x7f => return Some((Item::Uint(u64::from(byte)), next)),
            0x80..=0x8f => Item::Container {
                items: 2 * usize::from(byte & 0x0f),
            },
            0x90..=0x9f => Item::Container {
                items: usize::from(byte & 0x0f),
            },
            0xa0..=0xbf => Item::Str {
                start: next,
                len: usize::from(byte & 0x1f),
            },
            0xc0 | 0xc2 | 0xc3 | 0xe0..=0xff => Item::Scalar { skip: 0 },
            0xc4 | 0xd9 => {
                let len = sized(1)?;
                return Some((str_or_bin(byte, next + 1, len), next + 1));
            }
            0xc5 | 0xda => {
                let len = sized(2)?;
                return Some((str_or_bin(byte, next + 2, len), next + 2));
            }
            0xc6 | 0xdb => {
                let len = sized(4)?;
                return Some((str_or_bin(byte, next + 4, len), next + 4));
            }
            0xc7 => Item::Scalar {
                skip: 2 + sized(1)?,
            },
            0xc8 => Item::Scalar {
                skip: 3 + sized(2)?,
            },
            0xc9 => Item::Scalar {
                skip: 5 + sized(4)?,
            },
            0xca | 0xd2 => Item::Scalar { skip: 4 },
            0xcb | 0xd3 => Item::Scalar { skip: 8 },
            0xcc => return Some((Item::Uint(be(payload, next, 1)?), next + 1)),
            0xcd => return Some((Item::Uint(be(payload, next, 2)?), next + 2)),
            0xce => return Some((Item::Uint(be(payload, next, 4)?), next + 4)),
            0xcf => return Some((Item::Uint(be(payload, next, 8)?), next + 8)),
            0xd0 => Item::Scalar { skip: 1 },
            0xd1 => Item::Scalar { skip: 2 },
            0xd4 => Item::Scalar { skip: 2 },
            0xd5 => Item::Scalar { skip: 3 },
            0xd6 => Item::Scalar { skip: 5 },
            0xd7 => Item::Scalar { skip: 9 },
            0xd8 => Item::Scalar { skip: 17 },
            0xdc => Item::Container { items: sized(2)? },
            0xdd => Item::Container { items: sized(4)? },
            0xde => Item::Container {
                items: 2 * sized(2)?,
            },
            0xdf => Item::Container {
                items: 2usize.checked_mul(sized(4)?)?,
            },
            0xc1 => return None,
        };
        let header_len = match byte {
            0xdc | 0xde => 2,
            0xdd | 0xdf => 4,
            _ => 0,
        };
        Some((item, next + header_len))
    }

    fn str_or_bin(byte: u8, start: usize, len: usize) -> Item {
        if matches!(byte, 0xd9..=0xdb) {
            Item::Str { start, len }
        } else {
            Item::Scalar { skip: len }
        }
    }

    pub(super) fn scan(payload: &[u8]) -> Option<Scan> {
        let mut out = Scan::default();
        // Children still to read in each open container.
        let mut open: Vec<usize> = Vec::new();
        // How many children the top-level map has (keys and values).
        let mut top_total = 0usize;
        let mut field = Field::Other;
        let mut index = 0usize;
        loop {
            let (item, next) = header(payload, index)?;
            let at_top = open.len() == 1;
            let is_key = at_top && (top_total - open[0]) % 2 == 0;
            index = next;
            match item {
                Item::Scalar { skip } => index = index.checked_add(skip)?,
                Item::Uint(number) => {
                    if at_top && !is_key {
                        field.record_int(&mut out, number);
                    }
                }
                Item::Str { start, len } => {
                    let end = start.checked_add(len)?;
                    let text = payload.get(start..end)?;
                    if is_key {
                        field = Field::of(text);
                    } else if at_top && field == Field::Kind {
                        out.kind = std::str::from_utf8(text).ok().map(str::to_owned);
                    }
                    index = end;
                }
                Item::Container { items } => {
                    out.depth = out.depth.max(open.len() + 1);
                    if items > 0 {
                        if open.is_empty() {
                            top_total = items;
                        }
                        open.push(items);
                        continue;
                    }
                }
            }
            // The item is complete: count it against its container, closing finished ones.
            loop {
                let Some(remaining) = open.last_mut() else {
                    return (index == payload.len()).then_some(out);
                };
                *remaining -= 1;
                if *remaining > 0 {
                    break;
                }
                open.pop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Message;
    use serde_json::json;

    fn nested(depth: usize) -> Value {
        let mut value = json!(1);
        for _ in 0..depth {
            value = json!([value]);
        }
        value
    }

    fn encode(message: &Message, encoding: Encoding) -> Vec<u8> {
        let mut out = Vec::new();
        encoding.encode_into(message, &mut out).unwrap();
        out
    }

    #[test]
    fn depth_counts_containers() {
        assert!(!exceeds(&json!(1), 0));
        assert!(exceeds(&json!([]), 0));
        assert!(!exceeds(&json!([]), 1));
        assert!(!exceeds(&nested(MAX_DEPTH), MAX_DEPTH));
        assert!(exceeds(&nested(MAX_DEPTH + 1), MAX_DEPTH));
        assert!(exceeds(&json!({"a": [1, {"b": [[]]}]}), 3));
        assert!(!exceeds(&json!({"a": [1, {"b": [[]]}]}), 5));
    }

    #[test]
    fn a_very_deep_value_is_measured_without_recursion() {
        // Built by hand: `json!` and drop would recurse; a flat loop does not.
        let mut value = Value::Null;
        for _ in 0..200_000 {
            value = Value::Array(vec![value]);
        }
        assert!(exceeds(&value, MAX_DEPTH));
        // Dropping it recursively would overflow the stack.
        dismantle(value);
    }

    #[test]
    fn scan_finds_depth_and_ids_in_both_encodings() {
        for depth in [0, 1, 5, 300] {
            let mut message = Message::call(42, "ping", nested(depth));
            message.reference = Some(7);
            for encoding in [Encoding::Json, Encoding::MsgPack] {
                let scanned = scan(&encode(&message, encoding), encoding).unwrap();
                assert_eq!(scanned.depth, depth + 1, "{encoding} at {depth}");
                assert_eq!(scanned.id, Some(42), "{encoding}");
                assert_eq!(scanned.reference, Some(7), "{encoding}");
                assert_eq!(scanned.kind.as_deref(), Some("call"), "{encoding}");
            }
        }
    }

    #[test]
    fn scan_reads_ids_after_deep_fields() {
        let payload = format!(
            r#"{{"kind":"result","result":{}{}, "id" : 9 ,"success":true}}"#,
            "[".repeat(2000),
            "]".repeat(2000)
        );
        let scanned = scan(payload.as_bytes(), Encoding::Json).unwrap();
        assert_eq!(scanned.depth, 2001);
        assert_eq!(scanned.id, Some(9));
        assert_eq!(scanned.kind.as_deref(), Some("result"));
    }

    #[test]
    fn scan_skips_strings_with_brackets_and_escapes() {
        let payload = br#"{"id":3,"result":"[[[\"{{{","kind":"result"}"#;
        let scanned = scan(payload, Encoding::Json).unwrap();
        assert_eq!(scanned.depth, 1);
        assert_eq!(scanned.id, Some(3));
    }

    #[test]
    fn scan_refuses_truncated_payloads() {
        let message = Message::call(1, "x", nested(4));
        for encoding in [Encoding::Json, Encoding::MsgPack] {
            let payload = encode(&message, encoding);
            for cut in 1..payload.len() {
                let scanned = scan(&payload[..cut], encoding);
                assert!(
                    scanned.is_none() || encoding == Encoding::Json,
                    "{encoding} cut at {cut} scanned as {scanned:?}"
                );
            }
        }
    }
}

#[cfg(test)]
mod decode_tests {
    use super::*;
    use crate::protocol::{FrameError, Message, decode_frame};
    use serde_json::json;

    fn nested(depth: usize) -> Value {
        let mut value = json!(1);
        for _ in 0..depth {
            value = json!([value]);
        }
        value
    }

    #[test]
    fn values_up_to_the_limit_decode_in_both_encodings() {
        for encoding in [Encoding::Json, Encoding::MsgPack] {
            let mut message = Message::call(1, "x", Value::Null);
            message.success = Some(true);
            message.result = Some(nested(MAX_DEPTH));
            let mut payload = Vec::new();
            encoding.encode_into(&message, &mut payload).unwrap();
            let decoded = decode_frame(&payload).unwrap();
            assert_eq!(decoded.result, message.result, "{encoding}");
        }
    }

    /// A result frame nested `depth` levels deep, written out by hand: building such a
    /// value would itself recurse.
    fn deep_result(encoding: Encoding, depth: usize) -> Vec<u8> {
        match encoding {
            Encoding::Json => format!(
                r#"{{"kind":"result","id":77,"success":true,"result":{}1{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
            .into_bytes(),
            Encoding::MsgPack => {
                let mut payload = vec![0x84];
                for text in ["kind", "result"] {
                    payload.push(0xa0 | u8::try_from(text.len()).unwrap());
                    payload.extend_from_slice(text.as_bytes());
                }
                payload.extend_from_slice(&[0xa2, b'i', b'd', 0x4d]);
                payload.extend_from_slice(&[0xa7]);
                payload.extend_from_slice(b"success");
                payload.push(0xc3);
                payload.extend_from_slice(&[0xa6]);
                payload.extend_from_slice(b"result");
                payload.extend(std::iter::repeat_n(0x91, depth));
                payload.push(0x01);
                payload
            }
        }
    }

    #[test]
    fn deeper_values_are_refused_with_their_call_id() {
        for encoding in [Encoding::Json, Encoding::MsgPack] {
            assert!(
                decode_frame(&deep_result(encoding, 3)).is_ok(),
                "{encoding}"
            );
            for depth in [MAX_DEPTH + 1, 5000, 100_000] {
                match decode_frame(&deep_result(encoding, depth)) {
                    Err(FrameError::TooDeep(scan)) => {
                        assert_eq!(scan.id, Some(77), "{encoding}");
                        assert_eq!(scan.kind.as_deref(), Some("result"), "{encoding}");
                        assert_eq!(scan.depth, depth + 1, "{encoding}");
                    }
                    other => panic!("{encoding} at {depth}: {other:?}"),
                }
            }
        }
    }
}
