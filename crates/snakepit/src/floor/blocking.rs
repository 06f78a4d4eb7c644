//! The blocking floor: the echo process's link driven by plain blocking `write` and `read`
//! calls on the calling OS thread, with no runtime: the fastest a host can talk to the same
//! Python process with the same frames and codec.
//!
//! Only starting and stopping need the runtime (the process is forked on the spawner thread
//! and reaped by tokio); [`BlockingFloor::ping`] blocks the thread it runs on, so call it from
//! a thread of its own.

use std::fs::File;
use std::io::{ErrorKind, Read as _, Write as _};
use std::path::PathBuf;

use tokio::process::Child;

use super::{floor_request, reap};
use crate::error::{Error, Result};
use crate::process::spawn_std_link;
use crate::protocol::{DEFAULT_MAX_FRAME, Encoding, FrameBuffer, Message, decode};

/// How many bytes the read buffer starts with; it grows for larger frames.
const INITIAL_READ_BUFFER: usize = 64 * 1024;
/// The length prefix of a frame.
const PREFIX: usize = 4;

/// A Python process echoing frames over a link driven by blocking calls.
pub struct BlockingFloor {
    child: Child,
    pid: u32,
    /// Where the echoes are read.
    reader: File,
    /// Where the frames are written.
    writer: File,
    output: FrameBuffer,
    input: Vec<u8>,
    /// The first buffered byte not yet consumed.
    start: usize,
    /// One past the last buffered byte.
    end: usize,
    encoding: Encoding,
}

impl std::fmt::Debug for BlockingFloor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingFloor")
            .field("pid", &self.pid)
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}

impl BlockingFloor {
    /// Starts the echo process with `python` (resolved as
    /// [`PythonAdapter`](crate::PythonAdapter) resolves it), sending frames in `encoding`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the interpreter does not run, [`Error::Spawn`] when it cannot
    /// be started.
    pub async fn start(python: impl Into<PathBuf>, encoding: Encoding) -> Result<Self> {
        let process = spawn_std_link(floor_request(python.into()).await?).await?;
        Ok(Self {
            child: process.child,
            pid: process.pid,
            reader: process.reader,
            writer: process.writer,
            output: FrameBuffer::new(),
            input: vec![0; INITIAL_READ_BUFFER],
            start: 0,
            end: 0,
            encoding,
        })
    }

    /// Sends a `ping` call with `id` and blocks until its echo is read and decoded.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the link fails, [`Error::Protocol`] when the answer does not decode
    /// or carries another id, [`Error::FrameTooLarge`] when the answer is over the maximum.
    pub fn ping(&mut self, id: u64) -> Result<()> {
        let message = Message::call(id, "ping", serde_json::json!({}));
        let frame = self
            .output
            .encode(&message, self.encoding, DEFAULT_MAX_FRAME)?;
        self.writer.write_all(frame).map_err(|source| Error::Io {
            context: "could not write to the floor".to_owned(),
            source,
        })?;
        let reply = self.receive()?;
        if reply.id == Some(id) {
            Ok(())
        } else {
            Err(Error::Protocol(format!(
                "the floor answered id {:?} to id {id}",
                reply.id
            )))
        }
    }

    /// Reads until one whole frame is buffered, then decodes it.
    fn receive(&mut self) -> Result<Message> {
        loop {
            if let Some(size) = self.buffered_frame()? {
                let payload = self.start + PREFIX..self.start + PREFIX + size;
                let message = decode(&self.input[payload]);
                self.start += PREFIX + size;
                if self.start == self.end {
                    self.start = 0;
                    self.end = 0;
                }
                return message;
            }
            self.fill()?;
        }
    }

    /// The payload size of the frame at the front of the buffer, once all of it is there.
    fn buffered_frame(&self) -> Result<Option<usize>> {
        let buffered = &self.input[self.start..self.end];
        let Some(prefix) = buffered.first_chunk::<PREFIX>() else {
            return Ok(None);
        };
        let size = usize::try_from(u32::from_be_bytes(*prefix)).unwrap_or(usize::MAX);
        if size > DEFAULT_MAX_FRAME {
            return Err(Error::FrameTooLarge {
                size,
                max: DEFAULT_MAX_FRAME,
            });
        }
        Ok((buffered.len() >= PREFIX + size).then_some(size))
    }

    /// One `read` into the free end of the buffer, compacting or growing it first.
    fn fill(&mut self) -> Result<()> {
        if self.start > 0 {
            self.input.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.input.len() {
            self.input.resize(self.input.len() * 2, 0);
        }
        loop {
            match self.reader.read(&mut self.input[self.end..]) {
                Ok(0) => return Err(Error::Protocol("the floor closed its link".to_owned())),
                Ok(read) => {
                    self.end += read;
                    return Ok(());
                }
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(Error::Io {
                        context: "could not read from the floor".to_owned(),
                        source,
                    });
                }
            }
        }
    }

    /// Closes the link and waits for the echo process to exit.
    pub async fn stop(self) {
        drop(self.writer);
        drop(self.reader);
        reap(self.child, self.pid).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `$SNAKEPIT_PYTHON`, else `python3`; the bridge must be importable by it.
    fn python() -> PathBuf {
        std::env::var_os("SNAKEPIT_PYTHON").map_or_else(|| PathBuf::from("python3"), PathBuf::from)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_blocking_floor_echoes_every_id_in_turn() {
        let mut floor = BlockingFloor::start(python(), Encoding::Json)
            .await
            .expect("the floor starts");
        let (floor, outcome) = tokio::task::spawn_blocking(move || {
            let outcome = (1..=200).try_for_each(|id| floor.ping(id));
            (floor, outcome)
        })
        .await
        .expect("the ping thread does not panic");
        floor.stop().await;
        outcome.expect("every ping is echoed with its id");
    }
}
