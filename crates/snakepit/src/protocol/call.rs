//! [`CallOut`]: the `call` frame as the host writes it, borrowing the command and the
//! arguments instead of building a whole [`Message`](super::Message).

use serde::Serialize;
use serde_json::Value;

use super::Kind;
use crate::value::wire::WireBuffers;

/// A `call` frame to write. Serializes exactly as a [`Message`](super::Message) with the
/// same fields would (`classic` leaves out `kind`, as the v0.0.1 envelope has none).
#[derive(Debug, Serialize)]
pub(crate) struct CallOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<Kind>,
    pub(crate) id: u64,
    pub(crate) command: &'a str,
    pub(crate) args: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) session_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) correlation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) traceparent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stream: Option<bool>,
    /// The buffers the arguments' markers point at; `None` (absent) when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) buffers: Option<WireBuffers<'a>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Encoding, Message};
    use serde_json::json;

    #[test]
    fn a_call_out_encodes_as_the_equal_message() {
        let args = json!({"a": [1, 2]});
        let mut message = Message::call(7, "add", args.clone());
        message.session_id = Some("s".to_owned());
        message.timeout_ms = Some(250);
        message.stream = Some(true);
        message.correlation_id = Some("c-1".to_owned());
        let out = CallOut {
            kind: Some(Kind::Call),
            id: 7,
            command: "add",
            args: &args,
            session_id: Some("s"),
            timeout_ms: Some(250),
            correlation_id: Some("c-1"),
            traceparent: None,
            stream: Some(true),
            buffers: None,
        };
        let classic = CallOut {
            kind: None,
            id: 7,
            command: "add",
            args: &args,
            session_id: None,
            timeout_ms: None,
            correlation_id: None,
            traceparent: None,
            stream: None,
            buffers: None,
        };
        for encoding in [Encoding::Json, Encoding::MsgPack] {
            let (mut expected, mut actual) = (Vec::new(), Vec::new());
            encoding.encode_into(&message, &mut expected).unwrap();
            encoding.encode_into(&out, &mut actual).unwrap();
            assert_eq!(actual, expected, "{encoding}");
        }
        let (mut expected, mut actual) = (Vec::new(), Vec::new());
        let classic_message = Message::classic_call(7, "add", args.clone());
        Encoding::Json
            .encode_into(&classic_message, &mut expected)
            .unwrap();
        Encoding::Json.encode_into(&classic, &mut actual).unwrap();
        assert_eq!(actual, expected);
    }

    #[test]
    fn a_call_out_with_buffers_encodes_as_the_equal_message() {
        use crate::value::Buffer;
        use crate::value::wire::{BufferEntry, outgoing};
        let args = json!({"x": {"__snakepit_buffer__": 0}});
        let buffers = [Buffer::from(vec![1_u8, 2, 3])];
        let mut message = Message::call(1, "f", args.clone());
        message.buffers = Some(vec![BufferEntry::Inline(buffers[0].clone())]);
        let out = CallOut {
            kind: Some(Kind::Call),
            id: 1,
            command: "f",
            args: &args,
            session_id: None,
            timeout_ms: None,
            correlation_id: None,
            traceparent: None,
            stream: None,
            buffers: outgoing(&buffers, None),
        };
        for encoding in [Encoding::Json, Encoding::MsgPack] {
            let (mut expected, mut actual) = (Vec::new(), Vec::new());
            encoding.encode_into(&message, &mut expected).unwrap();
            encoding.encode_into(&out, &mut actual).unwrap();
            assert_eq!(actual, expected, "{encoding}");
            assert_eq!(crate::protocol::decode(&actual).unwrap(), message);
        }
        assert!(outgoing(&[], None).is_none());
    }
}
