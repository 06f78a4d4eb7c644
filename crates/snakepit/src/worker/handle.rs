//! The cheap cloneable handle to one worker, and the state it shares with its supervisor.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use super::WorkerId;
use super::link::LinkWriter;
use crate::error::{Error, ExitInfo, Result};
use crate::process::{OutputTail, signal_group};
use crate::protocol::{Kind, Message, ToolSpec};
use crate::session::SessionId;
use crate::tool::HostTools;

/// A call waiting for its reply: where the reply goes, where its chunks go (streaming
/// calls), and the session it runs in (the scope of its host calls).
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) reply: oneshot::Sender<Result<Message>>,
    pub(super) chunks: Option<mpsc::Sender<Value>>,
    pub(super) session: Option<SessionId>,
}

/// What the pool hears from a worker's supervisor.
#[derive(Debug)]
pub(crate) enum WorkerEvent {
    /// The worker's process is gone and its pending calls have been failed.
    Exited {
        /// The worker that exited.
        worker: WorkerId,
    },
}

/// What a handle asks of the supervisor.
#[derive(Debug, Clone, Copy)]
pub(super) enum Control {
    /// Stop gracefully: TERM to the group, wait `grace`, then KILL.
    Stop { grace: Duration },
    /// Kill the group now.
    Kill,
}

/// Why a worker's link is closed, kept so that calls made after the fact get the same answer
/// as the calls that were pending.
#[derive(Debug, Clone)]
pub(super) enum Closed {
    /// The process ended.
    Exited { exit: ExitInfo, stderr_tail: String },
    /// The worker broke the protocol and was killed.
    Protocol(String),
    /// The pool stopped the worker.
    Shutdown,
}

impl Closed {
    pub(super) fn to_error(&self, worker: WorkerId) -> Error {
        match self {
            Self::Exited { exit, stderr_tail } => Error::WorkerExited {
                worker,
                exit: *exit,
                stderr_tail: stderr_tail.clone(),
            },
            Self::Protocol(detail) => Error::WorkerProtocol {
                worker,
                detail: detail.clone(),
            },
            Self::Shutdown => Error::Shutdown,
        }
    }
}

/// The state a worker's handles share with its supervisor.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) id: WorkerId,
    pub(super) pid: u32,
    pub(super) classic: bool,
    pub(super) alive: AtomicBool,
    /// Set when the pool kills the worker, so its exit is not taken for a crash.
    pub(super) killed: AtomicBool,
    /// Set when the worker is being replaced by a fresh one (recycling).
    pub(super) retiring: AtomicBool,
    /// Calls it has answered.
    pub(super) served: AtomicU64,
    /// When it became ready.
    pub(super) started: std::time::Instant,
    pub(super) writer: tokio::sync::Mutex<LinkWriter>,
    /// Calls waiting for a reply; `None` once the worker is closed.
    pub(super) pending: Mutex<Option<HashMap<u64, Pending>>>,
    pub(super) next_call: AtomicU64,
    pub(super) tools: Vec<ToolSpec>,
    pub(super) output: OutputTail,
    pub(super) closed: OnceLock<Closed>,
    pub(super) exited: watch::Sender<bool>,
    pub(super) run: Option<Arc<crate::registry::Run>>,
    pub(super) host: Option<Arc<HostTools>>,
}

impl Shared {
    /// Writes one message to the worker. A write abandoned halfway, or failed, kills the
    /// worker: half a frame on the link would corrupt everything after it.
    pub(super) async fn send(&self, message: &Message) -> Result<()> {
        let mut writer = self.writer.lock().await;
        let mut guard = KillOnDrop(Some(self));
        let outcome = writer.send(message).await;
        guard.0 = None;
        if let Err(Error::Io { .. }) = &outcome {
            self.kill_now();
        }
        outcome
    }

    /// Marks the worker as not to be used and kills its process group.
    pub(super) fn kill_now(&self) {
        self.alive.store(false, Ordering::Release);
        self.killed.store(true, Ordering::Release);
        if let Err(err) = signal_group(self.pid, Signal::SIGKILL) {
            tracing::warn!(worker = %self.id, error = %err, "could not kill the worker's process group");
        }
    }
}

/// A call sent to a worker, waiting for its reply.
#[derive(Debug)]
pub(crate) struct InFlight {
    /// The call's id on the link.
    pub(crate) id: u64,
    /// Resolves with the reply, or the error that ended the worker.
    pub(crate) reply: oneshot::Receiver<Result<Message>>,
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

    fn shared(&self) -> &Shared {
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

    /// The tools the worker announced in its hello.
    pub(crate) fn tools(&self) -> &[ToolSpec] {
        &self.shared().tools
    }

    /// Whether the worker can take calls: not exited, not being killed or stopped.
    pub(crate) fn is_alive(&self) -> bool {
        self.shared().alive.load(Ordering::Acquire)
    }

    /// Marks the worker for retirement: it takes no new call and is stopped once idle. Only
    /// the scheduler calls this, under its lock.
    pub(crate) fn retire(&self) {
        self.shared().retiring.store(true, Ordering::Release);
    }

    /// Whether the worker is retiring.
    pub(crate) fn is_retiring(&self) -> bool {
        self.shared().retiring.load(Ordering::Acquire)
    }

    /// Counts one answered call; returns how many it has answered.
    pub(crate) fn count_served(&self) -> u64 {
        self.shared().served.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// How long ago the worker became ready.
    pub(crate) fn age(&self) -> Duration {
        self.shared().started.elapsed()
    }

    /// The resident memory of the worker's process group, in bytes.
    pub(crate) fn group_rss(&self) -> u64 {
        crate::process::group_rss_bytes(self.pid())
    }

    /// Sends a `ping` and waits up to `timeout` for the `pong`. Classic workers cannot be
    /// pinged and always pass.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when no answer came in time, or the worker's exit error.
    pub(crate) async fn ping(&self, timeout: Duration) -> Result<()> {
        if self.is_classic() {
            return Ok(());
        }
        let id = self.shared().next_call.fetch_add(1, Ordering::Relaxed);
        let reply = self.register(id, None, None)?;
        self.send(&Message::for_call(Kind::Ping, id)).await?;
        match tokio::time::timeout(timeout, reply).await {
            Ok(Ok(outcome)) => outcome.map(drop),
            Ok(Err(_)) => Err(self.closed_error()),
            Err(_) => {
                self.forget(id);
                Err(Error::Timeout {
                    command: "ping".to_owned(),
                    after: timeout,
                })
            }
        }
    }

    /// Whether the worker speaks the classic v0.0.1 protocol.
    pub(crate) fn is_classic(&self) -> bool {
        self.shared().classic
    }

    /// Sends a call and returns the in-flight call to wait on.
    ///
    /// # Errors
    ///
    /// The worker's exit error when it is already closed; [`Error::FrameTooLarge`] when the
    /// call does not fit in a frame (the worker is unaffected). A failed write is not an
    /// error here: the worker is killed and the reply resolves with its exit error.
    pub(crate) async fn start_call(
        &self,
        command: &str,
        args: Value,
        session: Option<&SessionId>,
        timeout: Duration,
        chunks: Option<mpsc::Sender<Value>>,
    ) -> Result<InFlight> {
        let shared = self.shared();
        let id = shared.next_call.fetch_add(1, Ordering::Relaxed);
        let mut message = if shared.classic {
            Message::classic_call(id, command, args)
        } else {
            let mut message = Message::call(id, command, args);
            message.timeout_ms = u64::try_from(timeout.as_millis()).ok();
            message.session_id = session.map(|session| session.as_str().to_owned());
            if chunks.is_some() {
                message.stream = Some(true);
            }
            message
        };
        let reply = self.register(id, chunks, session.cloned())?;
        match self.send(&message).await {
            Ok(()) | Err(Error::Io { .. }) => Ok(InFlight { id, reply }),
            Err(err) => {
                self.forget(id);
                message.args = None;
                tracing::debug!(worker = %shared.id, ?message, error = %err, "call not sent");
                Err(err)
            }
        }
    }

    /// Asks the worker to stop call `id`. A classic worker cannot be asked, so it is killed.
    pub(crate) async fn cancel(&self, id: u64) {
        if self.is_classic() {
            self.kill();
            return;
        }
        if let Err(err) = self.send(&Message::for_call(Kind::Cancel, id)).await {
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
        self.shared().alive.store(false, Ordering::Release);
        let mut exited = self.shared().exited.subscribe();
        if self.handle.control.send(Control::Stop { grace }).is_err() {
            return;
        }
        if exited.wait_for(|exited| *exited).await.is_err() {
            tracing::debug!(worker = %self.id(), "supervisor ended before reporting the exit");
        }
    }

    /// Drops the pending entry of call `id`.
    pub(crate) fn forget(&self, id: u64) {
        let mut pending = self
            .shared()
            .pending
            .lock()
            .expect("pending lock is never poisoned");
        if let Some(pending) = pending.as_mut() {
            pending.remove(&id);
        }
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
        if let Err(err) = self.send(&message).await {
            tracing::debug!(worker = %self.id(), error = %err, "could not send session_drop");
        }
    }

    fn register(
        &self,
        id: u64,
        chunks: Option<mpsc::Sender<Value>>,
        session: Option<SessionId>,
    ) -> Result<oneshot::Receiver<Result<Message>>> {
        let shared = self.shared();
        let (reply, receiver) = oneshot::channel();
        let mut pending = shared
            .pending
            .lock()
            .expect("pending lock is never poisoned");
        match pending.as_mut() {
            Some(pending) => {
                pending.insert(
                    id,
                    Pending {
                        reply,
                        chunks,
                        session,
                    },
                );
                Ok(receiver)
            }
            None => Err(self.closed_error()),
        }
    }

    /// The error calls get once the worker is closed.
    pub(crate) fn closed_error(&self) -> Error {
        let shared = self.shared();
        shared
            .closed
            .get()
            .map_or(Error::Shutdown, |closed| closed.to_error(shared.id))
    }

    async fn send(&self, message: &Message) -> Result<()> {
        self.shared().send(message).await
    }
}

struct KillOnDrop<'a>(Option<&'a Shared>);

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            tracing::warn!(worker = %shared.id, "a write to the worker was abandoned halfway; killing it");
            shared.kill_now();
        }
    }
}
