//! A worker's side of shared memory: its fd channel and the pool's budget, and the two
//! operations frames with memfd buffers need: send the descriptors before the frame (under
//! the writer lock), take them when a frame names them.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::Arc;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::protocol::Message;
use crate::shm::{Budget, FdChannel, Release, Releases, SharedBuffer};
use crate::value::Buffer;
use crate::value::wire::BufferEntry;

/// A worker's fd channel (none for classic and gRPC workers), the pool's budget, the
/// size from which buffers travel as memfds, and the worker's recycled memfds the host has
/// dropped and not yet given back.
#[derive(Debug)]
pub(crate) struct WorkerShm {
    channel: Option<FdChannel>,
    budget: Budget,
    threshold: usize,
    releases: Arc<Releases>,
}

/// The `release` frame: the worker may reuse these memfds of its own.
#[derive(Serialize)]
pub(super) struct ReleaseFrame {
    kind: &'static str,
    release: Vec<u64>,
}

impl WorkerShm {
    /// Wraps the host's end of the fd channel; a channel that cannot be registered leaves
    /// the worker without shared memory (buffers then travel inline).
    pub(super) fn new(host_end: Option<OwnedFd>, budget: Budget, threshold: usize) -> Self {
        let channel = host_end.and_then(|fd| match FdChannel::new(fd) {
            Ok(channel) => Some(channel),
            Err(err) => {
                tracing::warn!(error = %err, "no fd channel; large buffers travel inline");
                None
            }
        });
        Self {
            channel,
            budget,
            threshold,
            releases: Arc::default(),
        }
    }

    /// The ids the host has released and not yet told the worker.
    pub(super) fn releases(&self) -> &Releases {
        &self.releases
    }

    /// The `release` frame for every id waiting, or `None` when none waits (one atomic
    /// load: the writer asks before every frame).
    pub(super) fn take_releases(&self) -> Option<ReleaseFrame> {
        if !self.releases.is_pending() {
            return None;
        }
        let release = self.releases.take();
        (!release.is_empty()).then_some(ReleaseFrame {
            kind: "release",
            release,
        })
    }

    /// The threshold to write a frame's buffers with, when this worker takes memfds.
    pub(crate) fn threshold(&self) -> Option<usize> {
        self.channel.as_ref().map(|_| self.threshold)
    }

    /// The memfds for the buffers of an outgoing frame that travel in shared memory (those
    /// of at least the threshold, in order): a buffer already in shared memory goes as its
    /// own memfd, any other is copied once into a new sealed one. `None` when no buffer
    /// travels in shared memory.
    ///
    /// # Errors
    ///
    /// [`Error::SharedMemoryCap`] over the pool's cap, [`Error::Io`] when a memfd cannot be
    /// made.
    pub(crate) fn plan(&self, buffers: &[Buffer]) -> Result<Option<Vec<SharedBuffer>>> {
        let Some(threshold) = self.threshold() else {
            return Ok(None);
        };
        let mut shared = Vec::new();
        for buffer in buffers.iter().filter(|buffer| buffer.len() >= threshold) {
            shared.push(match buffer.shared() {
                Some(region) => region.clone(),
                None => self.share(buffer)?,
            });
        }
        Ok((!shared.is_empty()).then_some(shared))
    }

    /// Replaces the shared-memory descriptors of a received frame by their mappings: takes
    /// the frame's packet from the fd channel, checks and maps each memfd. Called for every
    /// frame with `buffers` as soon as it is decoded, whether or not anyone waits for it,
    /// so the channel stays in step with the link. On error every descriptor becomes
    /// [`BufferEntry::Refused`], which fails the frame's call.
    pub(super) fn take_shared(&self, message: &mut Message) {
        let Some(entries) = message.buffers.as_mut() else {
            return;
        };
        let described: Vec<(usize, Option<u64>)> = entries
            .iter()
            .filter_map(|entry| match entry {
                BufferEntry::Shm { len, id } => {
                    Some((usize::try_from(*len).unwrap_or(usize::MAX), *id))
                }
                _ => None,
            })
            .collect();
        if described.is_empty() {
            return;
        }
        match self.receive(&described) {
            Ok(mapped) => {
                let mut mapped = mapped.into_iter();
                for entry in entries.iter_mut() {
                    if matches!(entry, BufferEntry::Shm { .. })
                        && let Some(region) = mapped.next()
                    {
                        *entry = BufferEntry::Inline(Buffer::from(region));
                    }
                }
            }
            Err(err) => {
                let reason = err.to_string();
                for entry in entries.iter_mut() {
                    if matches!(entry, BufferEntry::Shm { .. }) {
                        *entry = BufferEntry::Refused(reason.clone());
                    }
                }
            }
        }
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

    /// Sends the descriptors of the frame about to be written; only the link writer calls
    /// it, with the link locked, so no other frame's descriptors can come between.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] when the worker has no fd channel or the frame carries too many
    /// buffers; [`Error::Io`] when the channel is broken.
    pub(super) async fn send_fds(&self, fds: &[BorrowedFd<'_>]) -> Result<()> {
        match &self.channel {
            Some(channel) => channel.send(fds).await,
            None => Err(no_channel()),
        }
    }

    /// Takes the descriptors of a frame that names memfd buffers of these lengths (and ids,
    /// for memfds the worker recycles), checks each (sealed memfd of exactly that size) and
    /// maps it. On any error every descriptor of the frame is closed and nothing stays
    /// mapped.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] as [`FdChannel::receive`] and [`SharedBuffer::receive`] say;
    /// [`Error::SharedMemoryCap`] over the pool's cap.
    pub(super) fn receive(&self, described: &[(usize, Option<u64>)]) -> Result<Vec<SharedBuffer>> {
        let channel = self.channel.as_ref().ok_or_else(no_channel)?;
        let fds = channel.receive(described.len())?;
        fds.into_iter()
            .zip(described)
            .map(|(fd, (len, id))| {
                let release = id.map(|id| Release::new(Arc::clone(&self.releases), id));
                SharedBuffer::receive(fd, *len, &self.budget, release)
            })
            .collect()
    }
}

fn no_channel() -> Error {
    Error::Protocol("this worker has no fd channel for shared buffers".to_owned())
}
