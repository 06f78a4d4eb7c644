//! A worker's side of shared memory: its fd channel and the pool's budget, and the two
//! operations frames with memfd buffers need: send the descriptors before the frame (under
//! the writer lock), take them when a frame names them.

use std::os::fd::{BorrowedFd, OwnedFd};

use super::link::LinkWriter;
use crate::error::{Error, Result};
use crate::shm::{Budget, FdChannel, SharedBuffer, SharedBufferMut};

/// A worker's fd channel (none for classic and gRPC workers) and the pool's budget.
#[derive(Debug)]
pub(crate) struct WorkerShm {
    channel: Option<FdChannel>,
    budget: Budget,
}

impl WorkerShm {
    /// Wraps the host's end of the fd channel; a channel that cannot be registered leaves
    /// the worker without shared memory (buffers then travel inline).
    pub(super) fn new(host_end: Option<OwnedFd>, budget: Budget) -> Self {
        let channel = host_end.and_then(|fd| match FdChannel::new(fd) {
            Ok(channel) => Some(channel),
            Err(err) => {
                tracing::warn!(error = %err, "no fd channel; large buffers travel inline");
                None
            }
        });
        Self { channel, budget }
    }

    /// Whether buffers can travel in shared memory to and from this worker.
    pub(crate) fn available(&self) -> bool {
        self.channel.is_some()
    }

    /// The pool's shared-memory budget.
    pub(crate) fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Copies `data` into a sealed memfd to send (for a buffer that is not in shared memory
    /// yet).
    ///
    /// # Errors
    ///
    /// As [`SharedBuffer::copy_from`].
    pub(crate) fn share(&self, data: &[u8]) -> Result<SharedBuffer> {
        SharedBuffer::copy_from(data, &self.budget)
    }

    /// A writable shared buffer of `len` bytes taken from the pool's budget.
    ///
    /// # Errors
    ///
    /// As [`SharedBufferMut::new`].
    pub(crate) fn alloc(&self, len: usize) -> Result<SharedBufferMut> {
        SharedBufferMut::new(len, &self.budget)
    }

    /// Sends the descriptors of the frame about to be written. The locked writer proves the
    /// caller holds the link, so no other frame's descriptors can come between.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] when the worker has no fd channel or the frame carries too many
    /// buffers; [`Error::Io`] when the channel is broken.
    pub(super) async fn send_locked(
        &self,
        _writer: &mut LinkWriter,
        fds: &[BorrowedFd<'_>],
    ) -> Result<()> {
        match &self.channel {
            Some(channel) => channel.send(fds).await,
            None => Err(no_channel()),
        }
    }

    /// Takes the descriptors of a frame that names memfd buffers of `lens` bytes, checks
    /// each (sealed memfd of exactly that size) and maps it. On any error every descriptor
    /// of the frame is closed and nothing stays mapped.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] as [`FdChannel::receive`] and [`SharedBuffer::receive`] say;
    /// [`Error::SharedMemoryCap`] over the pool's cap.
    pub(super) fn receive(&self, lens: &[usize]) -> Result<Vec<SharedBuffer>> {
        let channel = self.channel.as_ref().ok_or_else(no_channel)?;
        let fds = channel.receive(lens.len())?;
        fds.into_iter()
            .zip(lens)
            .map(|(fd, len)| SharedBuffer::receive(fd, *len, &self.budget))
            .collect()
    }
}

fn no_channel() -> Error {
    Error::Protocol("this worker has no fd channel for shared buffers".to_owned())
}
