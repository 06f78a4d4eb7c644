//! The task that owns one worker process: it reads the link, routes each frame (see
//! `route.rs`), notices the end of the process, and cleans up after it.

use std::io;
use std::pin::Pin;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use std::task::Poll;

use nix::sys::signal::Signal;
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot};

use super::reading::{LinkEnd, Next};
use super::route::{Routed, route, spawn_host_call};
use super::shared::Shared;
use super::state::{Closed, Control, Lifecycle, WorkerEvent};
use crate::error::ExitInfo;
use crate::process::signal_group;

/// How long a worker whose link closed gets to exit by itself before it is killed.
const LINK_CLOSED_GRACE: Duration = Duration::from_secs(2);
/// How long a worker whose link failed gets to show it is exiting, so its end is reported as
/// the crash it is rather than as a protocol error.
const READ_ERROR_GRACE: Duration = Duration::from_millis(500);
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

impl End {
    fn from_control(control: Option<Control>) -> Self {
        match control {
            Some(Control::Stop { grace }) => Self::Stop(grace),
            Some(Control::Kill) | None => Self::Kill,
        }
    }
}

type ExitFuture<'a> = Pin<&'a mut (dyn Future<Output = io::Result<ExitStatus>> + Send)>;

/// The end of a worker's process, awaited by a task of its own: polling it on every frame
/// would cost a `waitpid` per frame, while this receiver is an atomic check.
pub(super) struct Exit {
    receiver: oneshot::Receiver<io::Result<ExitStatus>>,
    status: Option<io::Result<ExitStatus>>,
}

impl Exit {
    /// Starts waiting for `child` to end.
    pub(super) fn watch(mut child: Child) -> Self {
        let (sender, receiver) = oneshot::channel();
        tokio::spawn(async move {
            // The supervisor may be gone; then nobody needs the status.
            let _unheard = sender.send(child.wait().await);
        });
        Self {
            receiver,
            status: None,
        }
    }

    /// Waits for an end reported by someone else: a worker forked by the zygote is not the
    /// host's child, so its end arrives on `receiver` (`crate::zygote`).
    pub(super) fn reported(receiver: oneshot::Receiver<io::Result<ExitStatus>>) -> Self {
        Self {
            receiver,
            status: None,
        }
    }

    /// Waits for the end of the process.
    pub(super) async fn wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = Some(
                (&mut self.receiver)
                    .await
                    .unwrap_or_else(|_| Err(io::Error::other("the exit watcher is gone"))),
            );
        }
        self.status
            .as_ref()
            .and_then(|status| status.as_ref().ok().copied())
    }
}

/// What the supervisor read and routed: a frame's routing, or the end of the link.
enum Step {
    Routed(Result<Routed, String>),
    End(LinkEnd),
}

/// The supervisor's next frame, routed with the reader locked so that frames are routed in
/// the order they came, whoever reads them.
async fn next_step(shared: &Shared) -> Step {
    std::future::poll_fn(|cx| {
        let mut state = shared.read.lock_for_supervisor(cx);
        match shared.read.poll_supervisor(&mut state) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Next::Frame(payload)) => Poll::Ready(Step::Routed(route(shared, &payload))),
            Poll::Ready(Next::End(end)) => Poll::Ready(Step::End(end)),
        }
    })
    .await
}

/// Owns a worker's process; reads its link whenever no caller does (`reading.rs`).
pub(super) struct Supervisor {
    pub(super) shared: Arc<Shared>,
    pub(super) exit: Exit,
    pub(super) control: mpsc::UnboundedReceiver<Control>,
    pub(super) events: mpsc::UnboundedSender<WorkerEvent>,
}

impl Supervisor {
    /// Runs until the worker is gone.
    pub(super) async fn run(mut self) {
        let end = self.watch().await;
        self.shared.advance(Lifecycle::Stopping { killed: false });
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
        self.shared.pending.close(|| closed.to_error(worker));
        self.shared.read.wake_caller();
        self.shared.advance(Lifecycle::Exited(closed));
        if self.events.send(WorkerEvent::Exited { worker }).is_err() {
            tracing::debug!(%worker, "the pool is gone; no one to tell about the exit");
        }
    }

    async fn watch(&mut self) -> End {
        let shared = Arc::clone(&self.shared);
        let exit = &mut self.exit;
        let mut exited = Box::pin(async {
            exit.wait()
                .await
                .ok_or_else(|| io::Error::other("the worker could not be waited on"))
        });
        loop {
            tokio::select! {
                biased;
                step = next_step(&shared) => match step {
                    Step::Routed(routed) => match routed {
                        // Only a reading caller is handed its own reply.
                        Ok(Routed::Done | Routed::Mine(_)) => {}
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
                    Step::End(LinkEnd::Failed(err)) => return read_failed(err, exited.as_mut()).await,
                    Step::End(LinkEnd::Closed) => return End::LinkClosed,
                    Step::End(LinkEnd::Protocol(detail)) => return End::Protocol(detail),
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
                self.kill_group();
                (self.exit.wait().await, Some(Closed::Protocol(detail)))
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
                (self.exit.wait().await, None)
            }
        };
        // The leader is gone; whatever it started in its group goes with it.
        if let Err(err) = signal_group(pgid, Signal::SIGKILL) {
            tracing::debug!(worker = %self.shared.id, error = %err, "the worker's group is already gone");
        }
        self.shared.output.settle(OUTPUT_SETTLE).await;
        let mut exit = status.map(ExitInfo::from_status).unwrap_or_default();
        exit.killed_by_pool = self.shared.lifecycle.borrow().killed_by_pool();
        closed.unwrap_or_else(|| Closed::Exited {
            exit,
            stderr_tail: self.shared.output.tail(),
        })
    }

    /// Kills the group, recording that the pool did it.
    fn kill_group(&self) {
        self.shared.kill_now();
    }

    async fn wait_or_kill(&mut self, grace: Duration) -> Option<ExitStatus> {
        match tokio::time::timeout(grace, self.exit.wait()).await {
            Ok(status) => status,
            Err(_) => {
                tracing::warn!(worker = %self.shared.id, ?grace, "worker did not exit in time; killing it");
                self.kill_group();
                self.exit.wait().await
            }
        }
    }

    /// Reads the replies a worker wrote just before it exited.
    async fn drain_link(&mut self) {
        let drain = async {
            while let Step::Routed(routed) = next_step(&self.shared).await {
                match routed {
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

/// A read error on the link: when the process is exiting (the usual cause: it was killed
/// and its end of the socket reset), report the exit; otherwise the worker broke the link.
async fn read_failed(err: io::Error, exited: ExitFuture<'_>) -> End {
    match tokio::time::timeout(READ_ERROR_GRACE, exited).await {
        Ok(status) => End::Exited(status),
        Err(_) => End::Protocol(err.to_string()),
    }
}
