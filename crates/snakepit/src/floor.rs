//! The benchmark floor: a bare framed echo between this process and a Python process, with no
//! pool in between.
//!
//! `snakepit bench` compares every figure of the pool with this floor: the same link, the
//! same frames and the same codec, and nothing else. The Python side is
//! `python -m snakepit_bridge.floor`, which answers every message with a `result` carrying
//! the message's `args`.

/// The wire types the floor speaks, for the benchmark.
pub use crate::protocol::{Encoding, Message};

use std::ffi::OsString;
use std::path::PathBuf;

use futures_util::StreamExt;
use nix::sys::signal::Signal;
use tokio::io::AsyncWriteExt;
use tokio::process::Child;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

use crate::adapter::{Adapter, PythonAdapter, WorkerCommand};
use crate::error::{Error, Result};
use crate::process::{LinkMode, LinkReader, LinkWriter, SpawnRequest, signal_group, spawn};
use crate::protocol::{DEFAULT_MAX_FRAME, FrameBuffer, Kind, decode, frame_codec};
use crate::worker::WorkerId;

/// A Python process echoing frames over a native link.
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
    /// Starts the echo process with `python` (resolved as [`PythonAdapter`] resolves it),
    /// sending frames in `encoding`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the interpreter does not run, [`Error::Spawn`] when it cannot
    /// be started.
    pub async fn start(python: impl Into<PathBuf>, encoding: Encoding) -> Result<Self> {
        let adapter = PythonAdapter::new("snakepit_bridge.floor:unused").python(python);
        let command = tokio::task::spawn_blocking(move || adapter.worker_command())
            .await
            .map_err(|err| Error::Config(format!("preparing the floor panicked: {err}")))??;
        let process = spawn(SpawnRequest {
            program: command.program,
            args: vec![
                OsString::from("-m"),
                OsString::from("snakepit_bridge.floor"),
            ],
            env: command.env,
            cwd: None,
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

    /// Sends `message` and waits for the echo.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the link fails, [`Error::Protocol`] when the answer does not decode.
    pub async fn echo(&mut self, message: &Message) -> Result<Message> {
        self.send(message).await?;
        self.receive().await
    }

    /// Asks the floor for `n` bare chunk frames and reads them all, then the result; returns
    /// how many chunks arrived. This is the streaming floor: the same link and codec as a
    /// streaming call, with nothing else.
    ///
    /// # Errors
    ///
    /// As [`Floor::echo`].
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

    /// Stops the echo process and waits for it.
    pub async fn stop(mut self) {
        if let Err(err) = self.writer.shutdown().await {
            tracing::debug!(error = %err, "closing the floor's link failed");
        }
        if tokio::time::timeout(std::time::Duration::from_secs(2), self.child.wait())
            .await
            .is_err()
        {
            if let Err(err) = signal_group(self.pid, Signal::SIGKILL) {
                tracing::warn!(error = %err, "could not kill the floor");
            }
            if let Err(err) = self.child.wait().await {
                tracing::debug!(error = %err, "could not reap the floor");
            }
        }
    }
}
