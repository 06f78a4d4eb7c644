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
use crate::protocol::{Kind, decode};

/// How long a worker whose link closed gets to exit by itself before it is killed.
const LINK_CLOSED_GRACE: Duration = Duration::from_secs(2);
/// How long replies already in the link are still read after the process exited.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(200);
/// How long the output readers get to catch the last lines of a dead worker.
const OUTPUT_SETTLE: Duration = Duration::from_millis(300);

/// How the watch over a worker ended.
enum End {
    Exited(io::Result<ExitStatus>),
    LinkClosed,
    Protocol(String),
    Stop(Duration),
    Kill,
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
        for (_, reply) in pending.into_iter().flatten() {
            // A caller that stopped waiting has nothing to be told.
            let _unheard = reply.send(Err(closed.to_error(worker)));
        }
        self.shared.exited.send_replace(true);
        if self.events.send(WorkerEvent::Exited { worker }).is_err() {
            tracing::debug!(%worker, "the pool is gone; no one to tell about the exit");
        }
    }

    async fn watch(&mut self) -> End {
        loop {
            tokio::select! {
                frame = self.reader.next() => match frame {
                    Some(Ok(payload)) => {
                        if let Err(detail) = self.route(&payload) {
                            return End::Protocol(detail);
                        }
                    }
                    Some(Err(err)) => return End::Protocol(err.to_string()),
                    None => return End::LinkClosed,
                },
                status = self.child.wait() => return End::Exited(status),
                control = self.control.recv() => return match control {
                    Some(Control::Stop { grace }) => End::Stop(grace),
                    Some(Control::Kill) | None => End::Kill,
                },
            }
        }
    }

    /// Routes one frame from the worker. An error means the worker broke the protocol.
    fn route(&self, payload: &[u8]) -> Result<(), String> {
        let message = decode(payload).map_err(|err| err.to_string())?;
        match message.kind() {
            Kind::Result | Kind::Pong => {
                let mut pending = self
                    .shared
                    .pending
                    .lock()
                    .expect("pending lock is never poisoned");
                let Some(pending) = pending.as_mut() else {
                    return Ok(());
                };
                let id = match message.id {
                    Some(id) => Some(id),
                    // A classic worker that does not echo ids has one call in flight.
                    None if self.shared.classic && pending.len() == 1 => {
                        pending.keys().next().copied()
                    }
                    None => return Err("a reply without an id".to_owned()),
                };
                match id.and_then(|id| pending.remove(&id)) {
                    Some(reply) => {
                        // The caller may have stopped waiting; the reply is then dropped.
                        let _unheard = reply.send(Ok(message));
                    }
                    None => {
                        tracing::debug!(worker = %self.shared.id, id = ?message.id, "reply to no pending call")
                    }
                }
                Ok(())
            }
            Kind::Hello => Err("a second hello".to_owned()),
            kind => {
                tracing::debug!(worker = %self.shared.id, ?kind, "message ignored");
                Ok(())
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
                self.kill_group();
                (self.child.wait().await.ok(), None)
            }
        };
        // The leader is gone; whatever it started in its group goes with it.
        self.kill_group();
        self.shared.output.settle(OUTPUT_SETTLE).await;
        closed.unwrap_or_else(|| Closed::Exited {
            exit: status.map(ExitInfo::from_status).unwrap_or_default(),
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
                self.kill_group();
                self.child.wait().await.ok()
            }
        }
    }

    /// Reads the replies a worker wrote just before it exited.
    async fn drain_link(&mut self) {
        let drain = async {
            while let Some(Ok(payload)) = self.reader.next().await {
                if self.route(&payload).is_err() {
                    break;
                }
            }
        };
        // A grandchild may hold the link open; then the drain stops at the deadline.
        let _open = tokio::time::timeout(DRAIN_AFTER_EXIT, drain).await;
    }
}
