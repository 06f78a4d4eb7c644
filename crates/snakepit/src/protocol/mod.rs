//! The wire contract between the host and a worker: frames, messages and encodings.
//!
//! `docs/PROTOCOL.md` is the specification this module implements; the example frames in
//! `protocol/examples/` are checked against it by the tests of both this crate and the
//! Python bridge.

mod codec;
mod depth;
mod frame;
mod message;

pub use codec::{Encoding, FrameError, decode, decode_frame, decode_value, encode_value};
pub use depth::{MAX_DEPTH, Scan, exceeds, scan};
pub use frame::{DEFAULT_MAX_FRAME, FrameBuffer, frame_codec};
pub use message::{Kind, Message, ParamSpec, ToolSpec};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;
