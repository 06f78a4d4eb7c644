//! A call running on a worker, and what happens to the worker when its caller stops waiting.

use std::time::Duration;

use tokio::sync::oneshot;

use super::scheduler::Lease;
use crate::error::Result;
use crate::protocol::Message;

/// A call on a worker. Dropped before the reply arrived (deadline passed, caller gone,
/// stream dropped), it cancels the call and keeps the worker out of the pool until the
/// worker answers, or kills it after the grace period.
#[derive(Debug)]
pub(super) struct InFlightGuard {
    pub(super) lease: Option<Lease>,
    pub(super) id: u64,
    pub(super) reply: Option<oneshot::Receiver<Result<Message>>>,
    pub(super) grace: Duration,
}

impl InFlightGuard {
    /// The reply arrived: the worker goes back to the pool.
    pub(super) fn complete(&mut self) {
        self.reply = None;
        self.lease = None;
    }

    /// The receiver of the reply.
    pub(super) fn reply_mut(&mut self) -> &mut oneshot::Receiver<Result<Message>> {
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

/// Cancels an abandoned call and returns the worker to the pool once it answers, or kills it.
async fn recover(
    lease: Lease,
    id: u64,
    reply: oneshot::Receiver<Result<Message>>,
    grace: Duration,
) {
    let worker = lease.worker().clone();
    worker.cancel(id).await;
    match tokio::time::timeout(grace, reply).await {
        Ok(Ok(Ok(_))) => tracing::debug!(worker = %worker.id(), id, "worker answered the cancel"),
        _ => {
            tracing::warn!(worker = %worker.id(), id, ?grace, "worker did not answer the cancel; killing it");
            worker.forget(id);
            worker.kill();
        }
    }
    drop(lease);
}
