//! The task that owns one worker process: it reads the link, routes replies to callers,
//! notices the end of the process, and cleans up after it.

use std::io;
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use nix::sys::signal::Signal;
use tokio::process::Child;
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

use super::handle::{Closed, Control, Shared, WorkerEvent};
use crate::error::ExitInfo;
use crate::process::{LinkReader, signal_group};
use crate::protocol::{Kind, Message, decode};
use crate::tool::HostFailure;
use serde_json::Value;

/// How long a worker whose link closed gets to exit by itself before it is killed.
const LINK_CLOSED_GRACE: Duration = Duration::from_secs(2);
/// How long replies already in the link are still read after the process exited.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(200);
/// How long the output readers get to catch the last lines of a dead worker.
const OUTPUT_SETTLE: Duration = Duration::from_millis(300);

/// What a frame from the worker asks of the supervisor.
enum Routed {
    /// Nothing more.
    Done,
    /// Deliver a chunk to a streaming caller.
    Chunk(mpsc::Sender<Value>, Value),
    /// Run a host tool and answer.
    HostCall(Box<Message>),
}

/// How the watch over a worker ended.
enum End {
    Exited(io::Result<ExitStatus>),
    LinkClosed,
    Protocol(String),
    Stop(Duration),
    Kill,
}

impl End {
    fn from_control(control: Option<Control>) -> Self {
        match control {
            Some(Control::Stop { grace }) => Self::Stop(grace),
            Some(Control::Kill) | None => Self::Kill,
        }
    }
}

/// Owns a worker's process and the reading half of its link.
pub(super) struct Supervisor {
    pub(super) shared: Arc<Shared>,
    pub(super) child: Child,
    pub(super) reader: FramedRead<LinkReader, LengthDelimitedCodec>,
    pub(super) control: mpsc::UnboundedReceiver<Control>,
    pub(super) events: mpsc::UnboundedSender<WorkerEvent>,
}

impl Supervisor {
    /// Runs until the worker is gone.
    pub(super) async fn run(mut self) {
        let end = self.watch().await;
        self.shared.alive.store(false, Ordering::Release);
        let closed = self.finish(end).await;
        let worker = self.shared.id;
        super::start::released(self.shared.run.as_deref(), worker, self.shared.pid);
        match &closed {
            Closed::Shutdown => tracing::debug!(%worker, "worker stopped"),
            Closed::Exited { exit, .. } => tracing::info!(%worker, %exit, "worker exited"),
            Closed::Protocol(detail) => {
                tracing::warn!(%worker, detail, "worker broke the protocol and was killed");
            }
        }
        let closed = self.shared.closed.get_or_init(|| closed).clone();
        let pending = self
            .shared
            .pending
            .lock()
            .expect("pending lock is never poisoned")
            .take();
        for (_, call) in pending.into_iter().flatten() {
            // A caller that stopped waiting has nothing to be told.
            let _unheard = call.reply.send(Err(closed.to_error(worker)));
        }
        self.shared.exited.send_replace(true);
        if self.events.send(WorkerEvent::Exited { worker }).is_err() {
            tracing::debug!(%worker, "the pool is gone; no one to tell about the exit");
        }
    }

    async fn watch(&mut self) -> End {
        let shared = Arc::clone(&self.shared);
        // One wait future for the whole watch: each new one would cost a `waitpid` per frame.
        let exited = self.child.wait();
        tokio::pin!(exited);
        loop {
            tokio::select! {
                frame = self.reader.next() => match frame {
                    Some(Ok(payload)) => match route(&shared, &payload) {
                        Ok(Routed::Done) => {}
                        Ok(Routed::Chunk(chunks, data)) => {
                            // A full chunk buffer stops the reading here: backpressure on the
                            // worker, whose writes block until the caller catches up.
                            let data = match chunks.try_send(data) {
                                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => continue,
                                Err(mpsc::error::TrySendError::Full(data)) => data,
                            };
                            tokio::select! {
                                _delivered = chunks.send(data) => {}
                                status = &mut exited => return End::Exited(status),
                                control = self.control.recv() => return End::from_control(control),
                            }
                        }
                        Ok(Routed::HostCall(message)) => spawn_host_call(&shared, *message),
                        Err(detail) => return End::Protocol(detail),
                    },
                    Some(Err(err)) => return End::Protocol(err.to_string()),
                    None => return End::LinkClosed,
                },
                status = &mut exited => return End::Exited(status),
                control = self.control.recv() => return End::from_control(control),
            }
        }
    }

    async fn finish(&mut self, end: End) -> Closed {
        let pgid = self.shared.pid;
        let (status, closed) = match end {
            End::Exited(status) => {
                self.drain_link().await;
                (status.ok(), None)
            }
            End::LinkClosed => (self.wait_or_kill(LINK_CLOSED_GRACE).await, None),
            End::Protocol(detail) => {
                self.shared.killed.store(true, Ordering::Release);
                self.kill_group();
                (self.child.wait().await.ok(), Some(Closed::Protocol(detail)))
            }
            End::Stop(grace) => {
                self.shared.writer.lock().await.close().await;
                if let Err(err) = signal_group(pgid, Signal::SIGTERM) {
                    tracing::warn!(worker = %self.shared.id, error = %err, "could not signal the worker's group");
                }
                (self.wait_or_kill(grace).await, Some(Closed::Shutdown))
            }
            End::Kill => {
                self.shared.killed.store(true, Ordering::Release);
                self.kill_group();
                (self.child.wait().await.ok(), None)
            }
        };
        // The leader is gone; whatever it started in its group goes with it.
        self.kill_group();
        self.shared.output.settle(OUTPUT_SETTLE).await;
        let mut exit = status.map(ExitInfo::from_status).unwrap_or_default();
        exit.killed_by_pool = self.shared.killed.load(Ordering::Acquire);
        closed.unwrap_or_else(|| Closed::Exited {
            exit,
            stderr_tail: self.shared.output.tail(),
        })
    }

    fn kill_group(&self) {
        if let Err(err) = signal_group(self.shared.pid, Signal::SIGKILL) {
            tracing::warn!(worker = %self.shared.id, error = %err, "could not kill the worker's group");
        }
    }

    async fn wait_or_kill(&mut self, grace: Duration) -> Option<ExitStatus> {
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => status.ok(),
            Err(_) => {
                tracing::warn!(worker = %self.shared.id, ?grace, "worker did not exit in time; killing it");
                self.shared.killed.store(true, Ordering::Release);
                self.kill_group();
                self.child.wait().await.ok()
            }
        }
    }

    /// Reads the replies a worker wrote just before it exited.
    async fn drain_link(&mut self) {
        let drain = async {
            while let Some(Ok(payload)) = self.reader.next().await {
                match route(&self.shared, &payload) {
                    Ok(Routed::Chunk(chunks, data)) => {
                        // The process is gone; a caller that stopped reading loses the rest.
                        let _unread = chunks.try_send(data);
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        };
        // A grandchild may hold the link open; then the drain stops at the deadline.
        let _open = tokio::time::timeout(DRAIN_AFTER_EXIT, drain).await;
    }
}

/// Routes one frame from the worker. An error means the worker broke the protocol.
fn route(shared: &Shared, payload: &[u8]) -> Result<Routed, String> {
    let message = decode(payload).map_err(|err| err.to_string())?;
    match message.kind() {
        Kind::Chunk => {
            let pending = shared
                .pending
                .lock()
                .expect("pending lock is never poisoned");
            let chunks = message
                .id
                .and_then(|id| pending.as_ref()?.get(&id)?.chunks.clone());
            Ok(match (chunks, message.data) {
                (Some(chunks), Some(data)) => Routed::Chunk(chunks, data),
                (Some(chunks), None) => Routed::Chunk(chunks, Value::Null),
                (None, _) => Routed::Done,
            })
        }
        Kind::HostCall => Ok(Routed::HostCall(Box::new(message))),
        Kind::Result | Kind::Pong => {
            let mut pending = shared
                .pending
                .lock()
                .expect("pending lock is never poisoned");
            let Some(pending) = pending.as_mut() else {
                return Ok(Routed::Done);
            };
            let id = match message.id {
                Some(id) => Some(id),
                // A classic worker that does not echo ids has one call in flight.
                None if shared.classic && pending.len() == 1 => pending.keys().next().copied(),
                None => return Err("a reply without an id".to_owned()),
            };
            match id.and_then(|id| pending.remove(&id)) {
                Some(call) => {
                    // The caller may have stopped waiting; the reply is then dropped.
                    let _unheard = call.reply.send(Ok(message));
                }
                None => {
                    tracing::debug!(worker = %shared.id, id = ?message.id, "reply to no pending call")
                }
            }
            Ok(Routed::Done)
        }
        Kind::Hello => Err("a second hello".to_owned()),
        kind => {
            tracing::debug!(worker = %shared.id, ?kind, "message ignored");
            Ok(Routed::Done)
        }
    }
}

/// Runs a host tool for the worker in a task of its own (the tool may take long, or call
/// the pool) and writes the answer to the worker.
fn spawn_host_call(shared: &Arc<Shared>, message: Message) {
    let shared = Arc::clone(shared);
    let session = message.id.and_then(|id| {
        let pending = shared
            .pending
            .lock()
            .expect("pending lock is never poisoned");
        pending.as_ref()?.get(&id).map(|call| call.session.clone())
    });
    tokio::spawn(async move {
        let tool = message.tool.unwrap_or_default();
        let args = message
            .args
            .unwrap_or_else(|| Value::Object(serde_json::Map::new()));
        let outcome = match (&shared.host, session) {
            (Some(host), Some(session)) => host.dispatch(shared.id, session, &tool, args).await,
            (None, Some(_)) => Err(HostFailure::new(
                "UnknownHostTool",
                "this pool offers no host tools",
            )),
            (_, None) => Err(HostFailure::new(
                "InvalidHostCall",
                "a host call outside any running call",
            )),
        };
        let mut reply = Message {
            id: message.id,
            reference: message.reference,
            ..Message::new(Kind::HostResult)
        };
        match outcome {
            Ok(result) => {
                reply.success = Some(true);
                reply.result = Some(result);
            }
            Err(failure) => {
                reply.success = Some(false);
                reply.error =
                    Some(serde_json::json!({"type": failure.kind, "message": failure.message}));
            }
        }
        if let Err(err) = shared.send(&reply).await {
            tracing::debug!(worker = %shared.id, error = %err, "could not answer a host call");
        }
    });
}
