//! A call running on a worker, and what happens to the worker's place when its caller stops
//! waiting.

use std::time::Duration;

use tokio::sync::oneshot;

use super::lease::Lease;
use crate::error::Result;
use tokio::time::Instant;

use crate::worker::{InFlight, Reply, Worker};

/// A call on a worker. Dropped before the reply arrived (deadline passed, caller gone,
/// stream dropped), it cancels the call and keeps the worker's place taken until the worker
/// answers, or kills the worker after the grace period.
#[derive(Debug)]
pub(super) struct InFlightGuard {
    lease: Option<Lease>,
    id: u64,
    reply: Option<oneshot::Receiver<Result<Reply>>>,
    /// Whether the caller reads the reply from the link itself.
    alone: bool,
    grace: Duration,
}

impl InFlightGuard {
    pub(super) fn new(lease: Lease, in_flight: InFlight, grace: Duration) -> Self {
        Self {
            lease: Some(lease),
            id: in_flight.id,
            reply: Some(in_flight.reply),
            alone: in_flight.alone,
            grace,
        }
    }

    /// The worker the call runs on.
    pub(super) fn worker(&self) -> Option<&Worker> {
        self.lease.as_ref().map(Lease::worker)
    }

    /// The reply arrived: the place goes back. Returns whether it went straight to a
    /// waiting call.
    pub(super) fn complete(&mut self) -> bool {
        self.reply = None;
        self.lease.take().is_some_and(Lease::served)
    }

    /// Waits until `deadline` for the reply (the caller reads it from the link when the call
    /// is alone there); `None` when the deadline passed first.
    pub(super) async fn reply(&mut self, deadline: Instant) -> Option<Result<Reply>> {
        let worker = self
            .lease
            .as_ref()
            .map(Lease::worker)
            .expect("the guard holds the lease until it completes");
        let reply = self
            .reply
            .as_mut()
            .expect("the guard holds the reply until it completes");
        worker.reply(self.id, reply, self.alone, deadline).await
    }

    /// The receiver of the reply.
    pub(super) fn reply_mut(&mut self) -> &mut oneshot::Receiver<Result<Reply>> {
        self.reply
            .as_mut()
            .expect("the guard holds the reply until it completes")
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let (Some(lease), Some(reply)) = (self.lease.take(), self.reply.take()) else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(recover(lease, self.id, reply, self.grace));
            }
            Err(_) => lease.worker().kill(),
        }
    }
}

/// Cancels an abandoned call and gives its place back once the worker answers, or kills the
/// worker. The grace period bounds everything, sending the cancel included.
async fn recover(lease: Lease, id: u64, reply: oneshot::Receiver<Result<Reply>>, grace: Duration) {
    let worker = lease.worker().clone();
    let answered = tokio::time::timeout(grace, async {
        worker.cancel(id).await;
        reply.await
    })
    .await;
    match answered {
        Ok(Ok(Ok(_))) => tracing::debug!(worker = %worker.id(), id, "worker answered the cancel"),
        _ => {
            tracing::warn!(worker = %worker.id(), id, ?grace, "worker did not answer the cancel; killing it");
            worker.forget(id);
            worker.kill();
        }
    }
    drop(lease);
}
