//! [`Worker`], the cheap cloneable handle to one worker: start calls, cancel, ping, drop a
//! session, retire, kill, stop.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::WorkerId;
use super::pending::{ChunkSender, Pending, Reply, Running};
use super::shared::{Registration, Shared};
use super::state::{Control, Lifecycle};
use crate::error::{Error, Result};
use crate::protocol::{CallOut, Kind, Message, ToolSpec};
use crate::session::SessionId;
use crate::value::Buffer;

/// A call sent to a worker, waiting for its reply.
#[derive(Debug)]
pub(crate) struct InFlight {
    /// The call's id on the link.
    pub(crate) id: u64,
    /// Resolves with the reply, or the error that ended the worker.
    pub(crate) reply: oneshot::Receiver<Result<Reply>>,
    /// Whether the call is alone on the link (capacity 1, no stream), so that its caller
    /// reads its reply itself ([`Worker::reply`]).
    pub(crate) alone: bool,
}

/// What to send as one call.
#[derive(Debug)]
pub(crate) struct CallFrame<'a> {
    /// The tool to run.
    pub(crate) command: &'a str,
    /// Its arguments.
    pub(crate) args: Value,
    /// The session the call runs in.
    pub(crate) session: Option<&'a SessionId>,
    /// The deadline the worker is told about.
    pub(crate) timeout: Duration,
    /// Where chunks go, for a streaming call.
    pub(crate) chunks: Option<ChunkSender>,
    /// The call's correlation id.
    pub(crate) correlation_id: Option<&'a str>,
    /// The W3C `traceparent` of the call's span (feature `otel`).
    pub(crate) traceparent: Option<&'a str>,
    /// The buffers the arguments' markers point at.
    pub(crate) buffers: &'a [Buffer],
}

/// A cheap cloneable handle to one worker.
///
/// # Caveats
///
/// When the last handle is dropped, the supervisor kills the worker's process group.
#[derive(Debug, Clone)]
pub(crate) struct Worker {
    handle: Arc<Handle>,
}

#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
    control: mpsc::UnboundedSender<Control>,
}

impl Worker {
    pub(super) fn new(shared: Arc<Shared>, control: mpsc::UnboundedSender<Control>) -> Self {
        Self {
            handle: Arc::new(Handle { shared, control }),
        }
    }

    pub(super) fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// The worker's id.
    pub(crate) fn id(&self) -> WorkerId {
        self.shared().id
    }

    /// The worker's process id, which is also its process group id.
    pub(crate) fn pid(&self) -> u32 {
        self.shared().pid
    }

    /// How many calls the worker takes at once.
    pub(crate) fn capacity(&self) -> usize {
        self.shared().capacity
    }

    /// The tools the worker announced in its hello.
    pub(crate) fn tools(&self) -> &[ToolSpec] {
        &self.shared().tools
    }

    /// Whether the worker can run calls: ready or retiring, not stopping or exited.
    pub(crate) fn is_alive(&self) -> bool {
        self.shared().is_alive()
    }

    /// Marks the worker for retirement: it takes no new call and is stopped once idle. Only
    /// the pool's roster calls this, under its lock.
    pub(crate) fn retire(&self) {
        self.shared().advance(Lifecycle::Retiring);
    }

    /// Whether the worker is retiring.
    pub(crate) fn is_retiring(&self) -> bool {
        matches!(*self.shared().lifecycle.borrow(), Lifecycle::Retiring)
    }

    /// Counts one answered call; returns how many it has answered.
    pub(crate) fn count_served(&self) -> u64 {
        self.shared().served.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// How long ago the worker became ready.
    pub(crate) fn age(&self) -> Duration {
        self.shared().started.elapsed()
    }

    /// Sends a `ping` and waits up to `timeout` for the `pong`, the send included. Classic
    /// workers cannot be pinged and always pass.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when no answer came in time, or the worker's exit error.
    pub(crate) async fn ping(&self, timeout: Duration) -> Result<()> {
        if self.is_classic() {
            return Ok(());
        }
        let shared = self.shared();
        let ping = async {
            let id = shared.next_id();
            let reply = self.register(id, None, None, Running::Ping)?;
            let mut registration = Registration {
                table: &shared.pending,
                id,
                armed: true,
            };
            shared.send(&Message::for_call(Kind::Ping, id)).await?;
            let answered = reply.await;
            registration.armed = false;
            match answered {
                Ok(outcome) => outcome.map(drop),
                Err(_) => Err(self.closed_error()),
            }
        };
        tokio::time::timeout(timeout, ping)
            .await
            .unwrap_or_else(|_| {
                Err(Error::Timeout {
                    command: "ping".to_owned(),
                    after: timeout,
                })
            })
    }

    /// Whether the worker speaks the classic v0.0.1 protocol.
    pub(crate) fn is_classic(&self) -> bool {
        self.shared().classic
    }

    /// Sends a call and returns the in-flight call to wait on.
    ///
    /// # Errors
    ///
    /// The worker's exit error when it is already closed; [`Error::FrameTooLarge`] or
    /// [`Error::Protocol`] when the call cannot be framed (the worker is unaffected). A
    /// failed write is not an error here: the worker is killed and the reply resolves with
    /// its exit error.
    ///
    /// # Cancel safety
    ///
    /// Dropped while waiting for the link, it leaves nothing behind; dropped with part of
    /// the frame written, it kills the worker.
    pub(crate) async fn start_call(&self, call: CallFrame<'_>) -> Result<InFlight> {
        let shared = self.shared();
        // Buffers over the threshold go as memfds, prepared before the link is locked.
        let memfds = if call.buffers.is_empty() {
            None
        } else {
            shared.shm.plan(call.buffers)?
        };
        let id = shared.next_id();
        let frame = CallOut {
            kind: (!shared.classic).then_some(Kind::Call),
            id,
            command: call.command,
            args: &call.args,
            session_id: if shared.classic {
                None
            } else {
                call.session.map(SessionId::as_str)
            },
            timeout_ms: if shared.classic {
                None
            } else {
                u64::try_from(call.timeout.as_millis()).ok()
            },
            correlation_id: call.correlation_id.filter(|_| !shared.classic),
            traceparent: call.traceparent.filter(|_| !shared.classic),
            stream: (!shared.classic && call.chunks.is_some()).then_some(true),
            buffers: crate::value::wire::outgoing(
                call.buffers,
                memfds.as_ref().and_then(|_| shared.shm.threshold()),
            ),
        };
        // The link is mostly free: taking it at once skips the lock's future.
        let mut writer = match shared.writer.try_lock() {
            Ok(writer) => writer,
            Err(_) => shared.writer.lock().await,
        };
        let running = shared.running(call.command);
        let alone = shared.capacity == 1 && call.chunks.is_none();
        let reply = self.register(id, call.chunks, call.session.cloned(), running)?;
        let mut registration = Registration {
            table: &shared.pending,
            id,
            armed: true,
        };
        if shared.capacity == 1 {
            // One call at a time: the worker's output lines until its answer are this call's.
            // Noting it costs less than asking whether output lines are logged at all.
            shared.output.set_call(frame.correlation_id);
        }
        let sent = match &memfds {
            None => shared.send_call_locked(&mut writer, &frame).await,
            Some(memfds) => {
                shared
                    .send_call_with_fds_locked(&mut writer, &frame, memfds)
                    .await
            }
        };
        match sent {
            Ok(()) | Err(Error::Io { .. }) => {
                registration.armed = false;
                Ok(InFlight { id, reply, alone })
            }
            Err(err) => {
                tracing::debug!(worker = %shared.id, command = call.command, error = %err, "call not sent");
                Err(err)
            }
        }
    }

    /// Waits until `deadline` for the reply of a call sent with [`Worker::start_call`]
    /// (`id` and `reply` from its [`InFlight`]); `None` when the deadline passed first. A call alone
    /// on the link ([`InFlight::alone`]) reads its reply from the link itself.
    pub(crate) async fn reply(
        &self,
        id: u64,
        reply: &mut oneshot::Receiver<Result<Reply>>,
        alone: bool,
        deadline: tokio::time::Instant,
    ) -> Option<Result<Reply>> {
        if alone {
            return super::reply_wait::ReplyWait::new(&self.handle.shared, id, reply, deadline)
                .await;
        }
        match tokio::time::timeout_at(deadline, reply).await {
            Ok(Ok(reply)) => Some(reply),
            Ok(Err(_)) => Some(Err(self.closed_error())),
            Err(_) => None,
        }
    }

    /// Asks the worker to stop call `id`. A classic worker cannot be asked, so it is killed.
    pub(crate) async fn cancel(&self, id: u64) {
        if self.is_classic() {
            self.kill();
            return;
        }
        if let Err(err) = self
            .shared()
            .send(&Message::for_call(Kind::Cancel, id))
            .await
        {
            tracing::debug!(worker = %self.id(), error = %err, "could not send cancel; killing");
            self.kill();
        }
    }

    /// Kills the worker's process group now. Pending calls fail with its exit error.
    pub(crate) fn kill(&self) {
        self.shared().kill_now();
        // The supervisor may already be gone, in which case there is nothing left to tell.
        let _gone = self.handle.control.send(Control::Kill);
    }

    /// Kills the worker's process group now without waiting; used where no runtime may run.
    pub(crate) fn kill_sync(&self) {
        self.shared().kill_now();
    }

    /// Stops the worker: TERM to its process group, `grace`, then KILL. Resolves once the
    /// process is gone.
    pub(crate) async fn stop(&self, grace: Duration) {
        self.shared().advance(Lifecycle::Stopping { killed: false });
        let mut lifecycle = self.shared().lifecycle.subscribe();
        if self.handle.control.send(Control::Stop { grace }).is_err() {
            return;
        }
        if lifecycle
            .wait_for(|state| matches!(state, Lifecycle::Exited(_)))
            .await
            .is_err()
        {
            tracing::debug!(worker = %self.id(), "supervisor ended before reporting the exit");
        }
    }

    /// Drops the pending entry of call `id`.
    pub(crate) fn forget(&self, id: u64) {
        self.shared().pending.remove(id);
    }

    /// Tells the worker to forget a session's state. Classic workers have none.
    pub(crate) async fn drop_session(&self, session: &SessionId) {
        if self.is_classic() || !self.is_alive() {
            return;
        }
        let message = Message {
            session_id: Some(session.as_str().to_owned()),
            ..Message::new(Kind::SessionDrop)
        };
        if let Err(err) = self.shared().send(&message).await {
            tracing::debug!(worker = %self.id(), error = %err, "could not send session_drop");
        }
    }

    fn register(
        &self,
        id: u64,
        chunks: Option<ChunkSender>,
        session: Option<SessionId>,
        running: Running,
    ) -> Result<oneshot::Receiver<Result<Reply>>> {
        let (reply, receiver) = oneshot::channel();
        let pending = Pending {
            reply,
            chunks,
            session,
            running,
        };
        match self.shared().pending.insert(id, pending) {
            Some(()) => Ok(receiver),
            None => Err(self.closed_error()),
        }
    }

    /// The error calls get once the worker is closed.
    pub(crate) fn closed_error(&self) -> Error {
        let shared = self.shared();
        shared
            .closed()
            .map_or(Error::Shutdown, |closed| closed.to_error(shared.id))
    }
}
