//! The wire contract between the host and a worker: frames, messages and encodings.
//!
//! `docs/PROTOCOL.md` is the specification this module implements; the example frames in
//! `protocol/examples/` are checked against it by the tests of both this crate and the
//! Python bridge.
#![cfg_attr(
    not(feature = "bench"),
    expect(
        unreachable_pub,
        reason = "`Encoding` and `Message` are public only through the `bench` feature's floor"
    )
)]

mod call;
mod codec;
mod depth;
#[cfg(test)]
mod examples;
mod frame;
mod loose;
mod message;
mod plain_reply;

pub(crate) use call::CallOut;
pub use codec::Encoding;
pub(crate) use codec::{FrameError, decode, decode_frame};
#[cfg(test)]
pub(crate) use codec::{decode_value, encode_value};
pub use depth::MAX_DEPTH;
pub(crate) use depth::{Scan, dismantle, exceeds};
pub(crate) use frame::{DEFAULT_MAX_FRAME, FrameBuffer, frame_codec};
pub(crate) use loose::decode_inline_bins;
pub(crate) use message::Kind;
pub use message::Message;
pub use message::{ParamSpec, ToolSpec};
pub(crate) use plain_reply::plain_reply;

/// The protocol version this crate speaks.
pub(crate) const PROTOCOL_VERSION: u32 = 1;
