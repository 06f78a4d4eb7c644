//! Framing: a 4-byte big-endian length, then one message.
//!
//! Reading uses [`frame_codec`] (a length-delimited codec that rejects frames over the
//! maximum before reading them); writing goes through a [`FrameBuffer`], which encodes a
//! message and its length prefix into one reusable buffer so a frame is one write.

use serde::Serialize;
use tokio_util::codec::LengthDelimitedCodec;

use super::Encoding;
use crate::error::{Error, Result};

/// The default maximum frame size: 64 MiB.
pub(crate) const DEFAULT_MAX_FRAME: usize = 64 * 1024 * 1024;

/// A codec that splits a byte stream into frame payloads of at most `max_frame` bytes.
pub(crate) fn frame_codec(max_frame: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .big_endian()
        .max_frame_length(max_frame)
        .new_codec()
}

/// A reusable buffer holding one encoded frame.
#[derive(Debug, Default)]
pub(crate) struct FrameBuffer {
    bytes: Vec<u8>,
}

impl FrameBuffer {
    /// An empty buffer.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Encodes `message` as one frame (length prefix included) and returns its bytes.
    ///
    /// # Errors
    ///
    /// [`Error::FrameTooLarge`] when the payload is over `max_frame` bytes, and
    /// [`Error::Protocol`] when the message cannot be encoded.
    pub(crate) fn encode<T: Serialize + ?Sized>(
        &mut self,
        message: &T,
        encoding: Encoding,
        max_frame: usize,
    ) -> Result<&[u8]> {
        self.bytes.clear();
        self.bytes.extend_from_slice(&[0; 4]);
        encoding.encode_into(message, &mut self.bytes)?;
        let size = self.bytes.len() - 4;
        let length = u32::try_from(size)
            .ok()
            .filter(|_| size <= max_frame && size > 0)
            .ok_or(Error::FrameTooLarge {
                size,
                max: max_frame,
            })?;
        self.bytes[..4].copy_from_slice(&length.to_be_bytes());
        Ok(&self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Message;
    use bytes::BytesMut;
    use tokio_util::codec::Decoder;

    #[test]
    fn an_encoded_frame_splits_back_into_its_payload() {
        let message = Message::call(5, "ping", serde_json::json!({"x": 1}));
        let mut buffer = FrameBuffer::new();
        let frame = buffer.encode(&message, Encoding::MsgPack, 1024).unwrap();
        let mut input = BytesMut::from(frame);
        let payload = frame_codec(1024).decode(&mut input).unwrap().unwrap();
        assert_eq!(crate::protocol::decode(&payload).unwrap(), message);
        assert!(input.is_empty());
    }

    #[test]
    fn a_message_over_the_maximum_is_refused() {
        let message = Message::call(5, "ping", serde_json::json!({"x": "y".repeat(100)}));
        let mut buffer = FrameBuffer::new();
        let err = buffer.encode(&message, Encoding::Json, 64).unwrap_err();
        assert!(matches!(err, Error::FrameTooLarge { max: 64, .. }), "{err}");
    }
}
