//! The writing half of a worker's link: encodes a message into one frame and writes it.

use serde::Serialize;
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};
use crate::process::LinkWriter as Sink;
use crate::protocol::{Encoding, FrameBuffer, MAX_DEPTH, Message, exceeds};

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

/// How far a write got, read by whoever must decide what an abandoned write left behind.
#[derive(Debug, Default)]
pub(super) struct Progress {
    /// Bytes of the frame written so far.
    pub(super) written: usize,
    /// The frame's length.
    pub(super) total: usize,
}

impl Progress {
    /// Whether a part of a frame, but not all of it, is on the link.
    pub(super) fn is_partial(&self) -> bool {
        self.written > 0 && self.written < self.total
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

    /// Encodes and writes one message, recording in `progress` how much is written.
    ///
    /// # Errors
    ///
    /// [`Error::FrameTooLarge`] or [`Error::Protocol`] when the message cannot be framed
    /// (nothing was written), [`Error::Io`] when the write failed.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a write dropped halfway leaves a partial frame on the link, and
    /// `progress` says so. Callers kill the worker when that happens.
    pub(super) async fn send(&mut self, message: &Message, progress: &mut Progress) -> Result<()> {
        for value in [&message.args, &message.result, &message.data]
            .into_iter()
            .flatten()
        {
            if exceeds(value, MAX_DEPTH) {
                return Err(Error::Protocol(format!(
                    "a value nested deeper than {MAX_DEPTH} levels cannot be sent"
                )));
            }
        }
        self.send_frame(message, progress).await
    }

    /// Encodes and writes one frame whose values are known to be within the depth limit
    /// (a call's arguments are checked before the call takes a worker).
    ///
    /// # Errors
    ///
    /// As [`LinkWriter::send`].
    ///
    /// # Cancel safety
    ///
    /// As [`LinkWriter::send`].
    pub(super) async fn send_frame<T: Serialize>(
        &mut self,
        frame: &T,
        progress: &mut Progress,
    ) -> Result<()> {
        let frame = self.buffer.encode(frame, self.encoding, self.max_frame)?;
        progress.total = frame.len();
        progress.written = 0;
        while progress.written < frame.len() {
            let written = self
                .sink
                .write(&frame[progress.written..])
                .await
                .map_err(|source| Error::Io {
                    context: "could not write to the worker's link".to_owned(),
                    source,
                })?;
            if written == 0 {
                return Err(Error::Io {
                    context: "the worker's link is closed".to_owned(),
                    source: std::io::ErrorKind::WriteZero.into(),
                });
            }
            progress.written += written;
        }
        Ok(())
    }

    /// Encodes a frame, sends `memfds` on the worker's fd channel, then writes the frame:
    /// a frame that cannot be encoded sends no descriptors, so the channel stays in step.
    ///
    /// # Errors
    ///
    /// As [`LinkWriter::send`]; [`Error::Io`] when the fd channel is broken.
    ///
    /// # Cancel safety
    ///
    /// As [`LinkWriter::send`]: dropped after the descriptors went and before the whole
    /// frame did, the worker is killed (`progress` counts the descriptors as written).
    pub(super) async fn send_frame_with_fds<T: Serialize>(
        &mut self,
        frame: &T,
        shm: &super::shm::WorkerShm,
        memfds: &[crate::shm::SharedBuffer],
        progress: &mut Progress,
    ) -> Result<()> {
        let frame = self.buffer.encode(frame, self.encoding, self.max_frame)?;
        // One more unit than the frame: written once the descriptors are on the channel,
        // so an abandoned write from then on counts as partial.
        progress.total = frame.len() + 1;
        progress.written = 0;
        let fds: Vec<_> = memfds.iter().map(crate::shm::SharedBuffer::fd).collect();
        shm.send_fds(&fds).await?;
        progress.written = 1;
        let mut written = 0;
        while written < frame.len() {
            let n = self
                .sink
                .write(&frame[written..])
                .await
                .map_err(|source| Error::Io {
                    context: "could not write to the worker's link".to_owned(),
                    source,
                })?;
            if n == 0 {
                return Err(Error::Io {
                    context: "the worker's link is closed".to_owned(),
                    source: std::io::ErrorKind::WriteZero.into(),
                });
            }
            written += n;
            progress.written = written + 1;
        }
        Ok(())
    }

    /// Tells the link no more frames come (the worker sees end-of-file).
    pub(super) async fn close(&mut self) {
        if let Err(err) = self.sink.shutdown().await {
            tracing::debug!(error = %err, "closing the worker's link failed");
        }
    }
}
