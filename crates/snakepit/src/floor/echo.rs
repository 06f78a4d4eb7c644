//! The tokio floor: the echo process's link driven on the runtime, as the pool drives a
//! worker's, with nothing else in between.

use std::path::PathBuf;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::process::Child;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

use super::{floor_request, reap};
use crate::adapter::WorkerCommand;
use crate::error::{Error, Result};
use crate::process::{LinkMode, LinkReader, LinkWriter, SpawnRequest, spawn};
use crate::protocol::{
    DEFAULT_MAX_FRAME, Encoding, FrameBuffer, Kind, Message, decode, frame_codec,
};
use crate::worker::WorkerId;

/// A Python process echoing frames over a link driven by the tokio runtime.
pub struct Floor {
    child: Child,
    pid: u32,
    reader: FramedRead<LinkReader, LengthDelimitedCodec>,
    writer: LinkWriter,
    buffer: FrameBuffer,
    encoding: Encoding,
}

impl std::fmt::Debug for Floor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Floor")
            .field("pid", &self.pid)
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}

impl Floor {
    /// Starts the echo process with `python` (resolved as
    /// [`PythonAdapter`](crate::PythonAdapter) resolves it), sending frames in `encoding`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the interpreter does not run, [`Error::Spawn`] when it cannot
    /// be started.
    pub async fn start(python: impl Into<PathBuf>, encoding: Encoding) -> Result<Self> {
        let process = spawn(floor_request(python.into()).await?).await?;
        Ok(Self {
            child: process.child,
            pid: process.pid,
            reader: FramedRead::new(process.reader, frame_codec(DEFAULT_MAX_FRAME)),
            writer: process.writer,
            buffer: FrameBuffer::new(),
            encoding,
        })
    }

    /// Starts an echo process from a prepared command, such as
    /// [`NodeAdapter::floor_command`](crate::NodeAdapter::floor_command) (the Node floor),
    /// sending frames in `encoding`.
    ///
    /// # Errors
    ///
    /// [`Error::Spawn`] when the program cannot be started.
    pub async fn start_command(command: WorkerCommand, encoding: Encoding) -> Result<Self> {
        let process = spawn(SpawnRequest {
            program: command.program,
            args: command.args,
            env: command.env,
            cwd: command.cwd,
            link: LinkMode::Socketpair,
            worker: WorkerId::next(),
        })
        .await?;
        Ok(Self {
            child: process.child,
            pid: process.pid,
            reader: FramedRead::new(process.reader, frame_codec(DEFAULT_MAX_FRAME)),
            writer: process.writer,
            buffer: FrameBuffer::new(),
            encoding,
        })
    }

    /// Sends a `ping` call with `id` and waits for its echo.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the link fails, [`Error::Protocol`] when the answer does not decode
    /// or carries another id.
    pub async fn ping(&mut self, id: u64) -> Result<()> {
        self.send(&Message::call(id, "ping", serde_json::json!({})))
            .await?;
        let reply = self.receive().await?;
        if reply.id == Some(id) {
            Ok(())
        } else {
            Err(Error::Protocol(format!(
                "the floor answered id {:?} to id {id}",
                reply.id
            )))
        }
    }

    /// Sends `calls` `ping` calls keeping up to `window` of them in flight on the link (the
    /// floor answers them in order), and reads every echo: the most a link to one Python
    /// process carries when many calls are pipelined on it.
    ///
    /// # Errors
    ///
    /// As [`Floor::ping`].
    pub async fn pipelined(&mut self, calls: u64, window: u64) -> Result<()> {
        let window = window.max(1);
        let mut sent = 0;
        let mut answered = 0;
        while answered < calls {
            // Write a batch of calls in one go while the window has room.
            let room = window - (sent - answered);
            let batch = room.min(calls - sent);
            if batch > 0 {
                self.send_batch(sent + 1, batch).await?;
                sent += batch;
            }
            let reply = self.receive().await?;
            answered += 1;
            if reply.id != Some(answered) {
                return Err(Error::Protocol(format!(
                    "the floor answered id {:?} to id {answered}",
                    reply.id
                )));
            }
        }
        Ok(())
    }

    /// Writes `count` `ping` calls with ids from `first` in one write.
    async fn send_batch(&mut self, first: u64, count: u64) -> Result<()> {
        let mut frames = Vec::new();
        for id in first..first + count {
            let message = Message::call(id, "ping", serde_json::json!({}));
            frames.extend_from_slice(self.buffer.encode(
                &message,
                self.encoding,
                DEFAULT_MAX_FRAME,
            )?);
        }
        self.writer
            .write_all(&frames)
            .await
            .map_err(|source| Error::Io {
                context: "could not write to the floor".to_owned(),
                source,
            })
    }

    /// Asks the floor for `n` bare chunk frames and reads them all, then the result; returns
    /// how many chunks arrived. This is the streaming floor: the same link and codec as a
    /// streaming call, with nothing else.
    ///
    /// # Errors
    ///
    /// As [`Floor::ping`].
    pub async fn stream(&mut self, id: u64, n: u64) -> Result<u64> {
        self.send(&Message::call(id, "chunks", serde_json::json!({ "n": n })))
            .await?;
        let mut chunks = 0;
        loop {
            let message = self.receive().await?;
            match message.kind() {
                Kind::Chunk => chunks += 1,
                Kind::Result => return Ok(chunks),
                other => return Err(Error::Protocol(format!("the floor sent a {other:?}"))),
            }
        }
    }

    async fn send(&mut self, message: &Message) -> Result<()> {
        let frame = self
            .buffer
            .encode(message, self.encoding, DEFAULT_MAX_FRAME)?;
        self.writer
            .write_all(frame)
            .await
            .map_err(|source| Error::Io {
                context: "could not write to the floor".to_owned(),
                source,
            })
    }

    async fn receive(&mut self) -> Result<Message> {
        match self.reader.next().await {
            Some(Ok(payload)) => decode(&payload),
            Some(Err(source)) => Err(Error::Io {
                context: "could not read from the floor".to_owned(),
                source,
            }),
            None => Err(Error::Protocol("the floor closed its link".to_owned())),
        }
    }

    /// Closes the link and waits for the echo process to exit.
    pub async fn stop(mut self) {
        if let Err(err) = self.writer.shutdown().await {
            tracing::debug!(error = %err, "closing the floor's link failed");
        }
        drop(self.writer);
        drop(self.reader);
        reap(self.child, self.pid).await;
    }
}
