//! Notifications about sessions leaving the store, for the pool's affinity bookkeeping.
//!
//! Every removal, by [`SessionStore::delete`](super::SessionStore::delete) or by expiry,
//! sends one [`RemovedSession`] to every subscriber. Subscribers whose receiver is gone are
//! dropped on the next send.

use std::sync::{Mutex, PoisonError};

use tokio::sync::mpsc;

use super::SessionId;
use crate::worker::WorkerId;

/// Why a session left the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RemovalReason {
    /// [`SessionStore::delete`](super::SessionStore::delete) removed it.
    Deleted,
    /// Its TTL ran out.
    Expired,
}

/// A session that left the store, and the worker it was bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemovedSession {
    /// The session's id.
    pub(crate) id: SessionId,
    /// The worker the session was bound to, which may hold state for it.
    pub(crate) owner: Option<WorkerId>,
    /// Why it left.
    pub(crate) reason: RemovalReason,
}

/// The subscribers' senders.
#[derive(Debug, Default)]
pub(super) struct Subscribers {
    senders: Mutex<Vec<mpsc::UnboundedSender<RemovedSession>>>,
}

impl Subscribers {
    pub(super) fn subscribe(&self) -> mpsc::UnboundedReceiver<RemovedSession> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.lock().push(sender);
        receiver
    }

    /// Sends each removal to every subscriber, and drops the subscribers that are gone.
    pub(super) fn notify(&self, removed: impl IntoIterator<Item = RemovedSession>) {
        let mut senders = self.lock();
        if senders.is_empty() {
            return;
        }
        for removal in removed {
            senders.retain(|sender| sender.send(removal.clone()).is_ok());
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<mpsc::UnboundedSender<RemovedSession>>> {
        // Nothing runs user code under this lock, so a poisoned lock still holds a valid list.
        self.senders.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
