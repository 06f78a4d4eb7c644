//! The state a worker's handles share with its supervisor, and the one way to write to the
//! worker's link.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use nix::sys::signal::Signal;
use tokio::sync::watch;

use super::WorkerId;
use super::host::HostCalls;
use super::link::{LinkWriter, Progress};
use super::pending::{PendingTable, Running};
use super::state::{Closed, Lifecycle};
use crate::error::{Error, Result};
use crate::process::{OutputTail, signal_group};
use crate::protocol::{CallOut, Message, ToolSpec};

/// The state a worker's handles share with its supervisor.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) id: WorkerId,
    pub(super) pid: u32,
    pub(super) classic: bool,
    /// How many calls it takes at once.
    pub(super) capacity: usize,
    pub(super) lifecycle: watch::Sender<Lifecycle>,
    /// Calls it has answered.
    pub(super) served: AtomicU64,
    /// Resident memory of its process group in bytes, as the pool's sampler last read it
    /// (0: not read yet).
    pub(super) rss: AtomicU64,
    /// When it became ready.
    pub(super) started: std::time::Instant,
    pub(super) writer: tokio::sync::Mutex<LinkWriter>,
    /// The reading half of the link: read by the supervisor, or by the caller of a call
    /// alone on the link.
    pub(super) read: super::reading::ReadSide,
    pub(super) pending: PendingTable,
    pub(super) next_call: AtomicU64,
    pub(super) tools: Vec<ToolSpec>,
    /// The index in `tools` of the last command looked up: calls mostly repeat a command,
    /// and one comparison then finds it.
    pub(super) last_tool: AtomicU32,
    pub(super) output: OutputTail,
    pub(super) run: Option<Arc<crate::registry::Run>>,
    pub(super) host: Option<Arc<dyn HostCalls>>,
    /// The worker's fd channel and the pool's shared-memory budget.
    pub(super) shm: super::shm::WorkerShm,
}

impl Shared {
    /// Moves the lifecycle forward to `next`; `false` when it is already past it.
    pub(super) fn advance(&self, next: Lifecycle) -> bool {
        self.lifecycle.send_if_modified(|state| {
            if state.may_become(&next) {
                *state = next;
                true
            } else {
                false
            }
        })
    }

    pub(super) fn is_alive(&self) -> bool {
        self.lifecycle.borrow().is_alive()
    }

    /// Why the worker is closed, once it is.
    pub(super) fn closed(&self) -> Option<Closed> {
        match &*self.lifecycle.borrow() {
            Lifecycle::Exited(closed) => Some(closed.clone()),
            _ => None,
        }
    }

    /// What a call of `command` runs, for the worker snapshot: its index in the tool list.
    pub(super) fn running(&self, command: &str) -> Running {
        let hint = self.last_tool.load(Ordering::Relaxed);
        let hinted = usize::try_from(hint)
            .ok()
            .and_then(|index| self.tools.get(index));
        if hinted.is_some_and(|tool| tool.name == command) {
            return Running::Tool(hint);
        }
        let found = self
            .tools
            .iter()
            .position(|tool| tool.name == command)
            .and_then(|index| u32::try_from(index).ok());
        match found {
            Some(index) => {
                self.last_tool.store(index, Ordering::Relaxed);
                Running::Tool(index)
            }
            None => Running::Unlisted,
        }
    }

    /// A fresh call id.
    pub(super) fn next_id(&self) -> u64 {
        self.next_call.fetch_add(1, Ordering::Relaxed)
    }

    /// Writes one message to the worker. A write abandoned halfway, or failed, kills the
    /// worker: half a frame on the link would corrupt everything after it. A write abandoned
    /// before its first byte leaves the worker as it was.
    pub(super) async fn send(&self, message: &Message) -> Result<()> {
        let mut writer = self.writer.lock().await;
        self.send_locked(&mut writer, message).await
    }

    /// [`Shared::send`] with the writer already locked.
    pub(super) async fn send_locked(
        &self,
        writer: &mut LinkWriter,
        message: &Message,
    ) -> Result<()> {
        self.write_locked(writer, Outgoing::Message(message)).await
    }

    /// Writes one message whose buffers include `memfds`, sent on the fd channel right
    /// before the frame; as [`Shared::send`] otherwise.
    pub(super) async fn send_with_fds(
        &self,
        message: &Message,
        memfds: &[crate::shm::SharedBuffer],
    ) -> Result<()> {
        let mut writer = self.writer.lock().await;
        self.write_locked(&mut writer, Outgoing::MessageWithFds(message, memfds))
            .await
    }

    /// Writes a `call` frame; the writer is locked.
    pub(super) async fn send_call_locked(
        &self,
        writer: &mut LinkWriter,
        call: &CallOut<'_>,
    ) -> Result<()> {
        self.write_locked(writer, Outgoing::Call(call)).await
    }

    /// Writes a `call` frame whose buffers include `memfds`, sent on the fd channel right
    /// before the frame; the writer is locked.
    pub(super) async fn send_call_with_fds_locked(
        &self,
        writer: &mut LinkWriter,
        call: &CallOut<'_>,
        memfds: &[crate::shm::SharedBuffer],
    ) -> Result<()> {
        self.write_locked(writer, Outgoing::CallWithFds(call, memfds))
            .await
    }

    /// Tells the worker of the memfds the host has released (`crate::shm::Releases`), if
    /// no other frame has carried them yet.
    pub(super) async fn flush_releases(&self) -> Result<()> {
        let mut writer = self.writer.lock().await;
        self.write_locked(&mut writer, Outgoing::Nothing).await
    }

    async fn write_locked(&self, writer: &mut LinkWriter, frame: Outgoing<'_>) -> Result<()> {
        let mut write = WriteGuard {
            shared: self,
            progress: Progress::default(),
            armed: true,
        };
        // Released memfds go first, so the worker may reuse them for this frame's call.
        let released = match self.shm.take_releases() {
            Some(release) => writer.send_frame(&release, &mut write.progress).await,
            None => Ok(()),
        };
        let outcome = match (released, frame) {
            (Err(err), _) => Err(err),
            (Ok(()), Outgoing::Nothing) => Ok(()),
            (Ok(()), Outgoing::Message(message)) => writer.send(message, &mut write.progress).await,
            (Ok(()), Outgoing::Call(call)) => writer.send_frame(call, &mut write.progress).await,
            (Ok(()), Outgoing::CallWithFds(call, memfds)) => {
                writer
                    .send_frame_with_fds(call, &self.shm, memfds, &mut write.progress)
                    .await
            }
            (Ok(()), Outgoing::MessageWithFds(message, memfds)) => {
                writer
                    .send_frame_with_fds(message, &self.shm, memfds, &mut write.progress)
                    .await
            }
        };
        write.armed = false;
        if let Err(Error::Io { .. }) = &outcome {
            self.kill_now();
        }
        outcome
    }

    /// Marks the worker as killed by the pool and kills its process group.
    pub(super) fn kill_now(&self) {
        self.advance(Lifecycle::Stopping { killed: true });
        if let Err(err) = signal_group(self.pid, Signal::SIGKILL) {
            tracing::warn!(worker = %self.id, error = %err, "could not kill the worker's process group");
        }
    }
}

/// What to write.
enum Outgoing<'a> {
    /// Only the releases that wait, if any.
    Nothing,
    Message(&'a Message),
    Call(&'a CallOut<'a>),
    CallWithFds(&'a CallOut<'a>, &'a [crate::shm::SharedBuffer]),
    MessageWithFds(&'a Message, &'a [crate::shm::SharedBuffer]),
}

/// Kills the worker when a write is dropped with part of a frame on the link.
struct WriteGuard<'a> {
    shared: &'a Shared,
    progress: Progress,
    armed: bool,
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        if self.armed && self.progress.is_partial() {
            tracing::warn!(worker = %self.shared.id, "a write to the worker was abandoned halfway; killing it");
            self.shared.kill_now();
        }
    }
}

/// Removes a pending call when its sender gives up before the call is on the link.
pub(super) struct Registration<'a> {
    pub(super) table: &'a PendingTable,
    pub(super) id: u64,
    pub(super) armed: bool,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.table.remove(self.id);
        }
    }
}
