//! Owner binding, for the pool's session affinity: each session may be bound to the worker
//! that runs its calls, and every removal is announced with that owner so the pool can tell
//! the worker to forget the session.
//!
//! The owner lives in the entry beside the session, under its own small mutex, so binding
//! and claiming take only the shard's read lock.

use std::sync::atomic::Ordering;

use tokio::sync::mpsc;

use super::removal::RemovedSession;
use super::shard::{Inner, Inserted, lock, read};
use super::{SessionError, SessionId, SessionStore};
use crate::worker::WorkerId;

/// Owner binding, the serial flag and removal notifications, for the pool's session
/// affinity.
impl SessionStore {
    /// Makes the session's calls run one at a time (`true`) or as the pool decides
    /// (`false`): on a worker of the concurrent profile, a serial session's next call waits
    /// for its previous one, as every session does with the pool's `serial_sessions`.
    ///
    /// # Errors
    ///
    /// [`SessionError::NotFound`] when the session does not exist or has expired.
    pub fn set_serial(&self, id: impl AsRef<str>, serial: bool) -> Result<(), SessionError> {
        let id = id.as_ref();
        let now = self.inner.now_nanos();
        let shard = read(self.inner.shard(id));
        match shard.get(id) {
            Some(entry) if !entry.is_expired(now) => {
                entry.serial.store(serial, Ordering::Relaxed);
                Ok(())
            }
            _ => Err(SessionError::NotFound(id.to_owned())),
        }
    }

    /// The worker the session is bound to; `None` when it is unbound, unknown or expired.
    /// Does not refresh the last access.
    pub(crate) fn owner(&self, id: impl AsRef<str>) -> Option<WorkerId> {
        let id = id.as_ref();
        let now = self.inner.now_nanos();
        let shard = read(self.inner.shard(id));
        shard
            .get(id)
            .filter(|entry| !entry.is_expired(now))
            .and_then(|entry| entry.owner())
    }

    /// Makes `candidate` the owner of a session that has none, and returns the owner: the
    /// candidate, or the worker that got there first. The session must exist.
    pub(crate) fn claim_owner(
        &self,
        id: impl AsRef<str>,
        candidate: WorkerId,
    ) -> Result<WorkerId, SessionError> {
        let id = id.as_ref();
        let now = self.inner.now_nanos();
        let shard = read(self.inner.shard(id));
        match shard.get(id) {
            Some(entry) if !entry.is_expired(now) => {
                entry.last_access.fetch_max(now, Ordering::Relaxed);
                let mut owner = lock(&entry.owner);
                Ok(*owner.get_or_insert(candidate))
            }
            _ => Err(SessionError::NotFound(id.to_owned())),
        }
    }

    /// Binds the session to a worker (or unbinds it with `None`), creating the session with
    /// the default TTL if it does not exist. Refreshes the last access.
    ///
    /// # Errors
    ///
    /// [`SessionError::TooMany`] when the session would have to be created and the store is
    /// full.
    pub(crate) fn bind_owner(
        &self,
        id: impl AsRef<str>,
        owner: Option<WorkerId>,
    ) -> Result<(), SessionError> {
        let id = id.as_ref();
        if self.inner.bind_existing(id, owner) {
            return Ok(());
        }
        let ttl = self.inner.config.default_ttl;
        match self.inner.insert(&SessionId::from(id), ttl, owner) {
            Inserted::New(_) => Ok(()),
            // Someone created it between the two steps; bind it now.
            Inserted::Existing(_) if self.inner.bind_existing(id, owner) => Ok(()),
            Inserted::Existing(_) => Err(SessionError::NotFound(id.to_owned())),
            Inserted::Full => Err(SessionError::TooMany {
                max: self.inner.config.max_sessions,
            }),
        }
    }

    /// A receiver of every future removal (deletion or expiry) together with the session's
    /// owner, so the pool can drop affinity and tell the worker to forget the session.
    pub(crate) fn subscribe_removals(&self) -> mpsc::UnboundedReceiver<RemovedSession> {
        self.inner.subscribers.subscribe()
    }
}

impl Inner {
    /// Binds a live session's owner; `false` when there is none.
    pub(super) fn bind_existing(&self, id: &str, owner: Option<WorkerId>) -> bool {
        let now = self.now_nanos();
        let shard = read(self.shard(id));
        match shard.get(id) {
            Some(entry) if !entry.is_expired(now) => {
                entry.last_access.fetch_max(now, Ordering::Relaxed);
                *lock(&entry.owner) = owner;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::advance;

    use crate::session::{RemovalReason, RemovedSession, SessionStore, SessionStoreConfig};

    const SECOND: Duration = Duration::from_secs(1);

    fn store() -> SessionStore {
        SessionStore::new(SessionStoreConfig::default())
    }

    #[tokio::test]
    async fn owners_and_removal_notifications() {
        let store = store();
        let mut removals = store.subscribe_removals();
        drop(store.subscribe_removals());
        let worker = crate::worker::WorkerId::next();

        // Binding creates the session.
        store.bind_owner("a", Some(worker)).unwrap();
        assert_eq!(store.owner("a"), Some(worker));
        assert_eq!(store.get("a").unwrap().owner(), Some(worker));
        assert_eq!(store.owner("missing"), None);

        store.delete("a").unwrap();
        assert_eq!(
            removals.try_recv().unwrap(),
            RemovedSession {
                id: "a".into(),
                owner: Some(worker),
                reason: RemovalReason::Deleted
            }
        );

        store.create("b", None).unwrap();
        store.bind_owner("b", Some(worker)).unwrap();
        store.bind_owner("b", None).unwrap();
        assert_eq!(store.owner("b"), None);
        store.delete("b").unwrap();
        assert_eq!(removals.try_recv().unwrap().owner, None);
        assert!(removals.try_recv().is_err());
        // The dropped subscriber is gone.
        assert_eq!(store.inner.subscribers_len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn expiry_notifies_with_the_owner() {
        let store = store();
        let mut removals = store.subscribe_removals();
        let worker = crate::worker::WorkerId::next();
        store.create("a", Some(SECOND)).unwrap();
        store.bind_owner("a", Some(worker)).unwrap();
        store.create("b", Some(SECOND)).unwrap();
        advance(2 * SECOND).await;
        assert_eq!(store.owner("a"), None);

        store.cleanup_expired();
        let mut removed = vec![removals.try_recv().unwrap(), removals.try_recv().unwrap()];
        removed.sort_by(|left, right| left.id.cmp(&right.id));
        assert_eq!(
            removed,
            [
                RemovedSession {
                    id: "a".into(),
                    owner: Some(worker),
                    reason: RemovalReason::Expired
                },
                RemovedSession {
                    id: "b".into(),
                    owner: None,
                    reason: RemovalReason::Expired
                },
            ]
        );
        // Expired sessions removed by a lookup or a re-create notify too.
        store.create("c", Some(SECOND)).unwrap();
        store.create("d", Some(SECOND)).unwrap();
        advance(2 * SECOND).await;
        assert!(store.get("c").is_err());
        store.create("d", None).unwrap();
        let reasons: Vec<_> = [removals.try_recv().unwrap(), removals.try_recv().unwrap()]
            .into_iter()
            .map(|removal| (removal.id.into_inner(), removal.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                ("c".to_owned(), RemovalReason::Expired),
                ("d".to_owned(), RemovalReason::Expired)
            ]
        );
    }
}
