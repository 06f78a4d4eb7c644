//! Sessions: per-user or per-conversation state kept on the host, with a TTL.

mod error;

pub use error::SessionError;
