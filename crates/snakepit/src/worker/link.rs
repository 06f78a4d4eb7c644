//! The writing half of a worker's link: encodes a message into one frame and writes it.

use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};
use crate::process::LinkWriter as Sink;
use crate::protocol::{Encoding, FrameBuffer, Message};

/// Writes frames to one worker.
pub(super) struct LinkWriter {
    sink: Sink,
    buffer: FrameBuffer,
    pub(super) encoding: Encoding,
    max_frame: usize,
}

impl std::fmt::Debug for LinkWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkWriter")
            .field("encoding", &self.encoding)
            .field("max_frame", &self.max_frame)
            .finish_non_exhaustive()
    }
}

impl LinkWriter {
    pub(super) fn new(sink: Sink, encoding: Encoding, max_frame: usize) -> Self {
        Self {
            sink,
            buffer: FrameBuffer::new(),
            encoding,
            max_frame,
        }
    }

    /// Encodes and writes one message.
    ///
    /// # Errors
    ///
    /// [`Error::FrameTooLarge`] or [`Error::Protocol`] when the message cannot be framed
    /// (nothing was written), [`Error::Io`] when the write failed.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a write dropped halfway leaves a partial frame on the link. Callers
    /// kill the worker when that happens.
    pub(super) async fn send(&mut self, message: &Message) -> Result<()> {
        let frame = self.buffer.encode(message, self.encoding, self.max_frame)?;
        self.sink
            .write_all(frame)
            .await
            .map_err(|source| Error::Io {
                context: "could not write to the worker's link".to_owned(),
                source,
            })
    }

    /// Tells the link no more frames come (the worker sees end-of-file).
    pub(super) async fn close(&mut self) {
        if let Err(err) = self.sink.shutdown().await {
            tracing::debug!(error = %err, "closing the worker's link failed");
        }
    }
}
