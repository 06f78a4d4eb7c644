//! TTL expiry: a session not accessed for its TTL is invisible at once (every lookup checks
//! the entry's last access) and is removed by whichever comes first: a lookup that finds it
//! expired, an insert that needs its slot or room, [`SessionStore::cleanup_expired`], or the
//! background sweep the store runs inside a tokio runtime.

use std::sync::Weak;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use super::removal::RemovalReason;
use super::shard::{Inner, read, write};
use super::{SessionId, SessionStore};

impl SessionStore {
    /// Removes every expired session now, tells the removal subscribers, and returns the
    /// removed ids. The background sweep calls this.
    pub fn cleanup_expired(&self) -> Vec<SessionId> {
        self.inner.cleanup_expired()
    }
}

impl Inner {
    /// Removes the session if it is (still) expired.
    pub(super) fn remove_if_expired(&self, id: &str) {
        let now = self.now_nanos();
        let removed = {
            let mut shard = write(self.shard(id));
            match shard.get(id) {
                Some(entry) if entry.is_expired(now) => shard.remove_entry(id),
                _ => None,
            }
        };
        if let Some((id, entry)) = removed {
            self.record_removals([(id, entry, RemovalReason::Expired)]);
        }
    }

    pub(super) fn cleanup_expired(&self) -> Vec<SessionId> {
        let now = self.now_nanos();
        let mut removed = Vec::new();
        for shard in &self.shards {
            // Look under the read lock first, so a sweep that finds nothing never blocks
            // lookups.
            let any_expired = read(shard).values().any(|entry| entry.is_expired(now));
            if !any_expired {
                continue;
            }
            let mut shard = write(shard);
            let expired_ids: Vec<SessionId> = shard
                .iter()
                .filter(|(_, entry)| entry.is_expired(now))
                .map(|(id, _)| id.clone())
                .collect();
            for id in expired_ids {
                if let Some((id, entry)) = shard.remove_entry(&id) {
                    removed.push((id, entry, RemovalReason::Expired));
                }
            }
        }
        let ids = removed.iter().map(|(id, _, _)| id.clone()).collect();
        self.record_removals(removed);
        ids
    }
}

/// The background sweep: removes expired sessions every `every` until the store is gone.
pub(super) async fn sweep(store: Weak<Inner>, every: Duration) {
    let mut interval = tokio::time::interval_at(Instant::now() + every, every);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(inner) = store.upgrade() else {
            break;
        };
        let removed = inner.cleanup_expired();
        if !removed.is_empty() {
            tracing::debug!(count = removed.len(), "swept expired sessions");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::{Instant, advance};

    use crate::session::{SessionError, SessionId, SessionStore, SessionStoreConfig};

    const SECOND: Duration = Duration::from_secs(1);

    fn store() -> SessionStore {
        SessionStore::new(SessionStoreConfig::default())
    }

    #[tokio::test(start_paused = true)]
    async fn access_refreshes_the_ttl() {
        let store = store();
        let created = store.create("a", Some(10 * SECOND)).unwrap();
        let start = created.created_at();
        assert_eq!(created.expires_at(), Some(start + 10 * SECOND));

        advance(5 * SECOND).await;
        let info = store.get("a").unwrap();
        assert_eq!(info.last_access(), start + 5 * SECOND);
        assert_eq!(info.expires_at(), Some(start + 15 * SECOND));

        advance(6 * SECOND).await;
        assert!(store.exists("a"));
        store.get("a").unwrap();

        advance(11 * SECOND).await;
        assert!(!store.exists("a"));
        assert_eq!(store.list(), Vec::<SessionId>::new());
        assert_eq!(store.get("a"), Err(SessionError::NotFound("a".into())));
        assert_eq!(
            store.update("a", |_| ()),
            Err(SessionError::NotFound("a".into()))
        );
        // The lookup removed it as expired.
        let stats = store.stats();
        assert_eq!((stats.sessions, stats.expired), (0, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn cleanup_removes_and_counts_expired_sessions() {
        let store = store();
        for id in ["x", "y", "z"] {
            store.create(id, Some(10 * SECOND)).unwrap();
        }
        store.create("long", None).unwrap();
        advance(11 * SECOND).await;
        assert_eq!(store.stats().sessions, 4);

        let mut removed = store.cleanup_expired();
        removed.sort();
        assert_eq!(removed, ["x", "y", "z"].map(SessionId::from));
        assert!(store.cleanup_expired().is_empty());
        let stats = store.stats();
        assert_eq!(
            (stats.sessions, stats.created, stats.deleted, stats.expired),
            (1, 4, 0, 3)
        );
        assert!(store.exists("long"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_background_sweep_removes_expired_sessions() {
        let store = SessionStore::new(SessionStoreConfig {
            sweep_interval: SECOND,
            ..SessionStoreConfig::default()
        });
        store.create("a", Some(2 * SECOND)).unwrap();
        let deadline = Instant::now() + 60 * SECOND;
        while store.stats().expired == 0 {
            assert!(Instant::now() < deadline, "the sweep did not run");
            tokio::time::sleep(SECOND / 10).await;
        }
        assert_eq!(store.stats().sessions, 0);
    }

    #[tokio::test]
    async fn the_sweep_task_ends_with_the_store() {
        let store = store();
        let sweeper = store.inner.sweeper.get().unwrap().clone();
        let inner = std::sync::Arc::downgrade(&store.inner);
        drop(store);
        assert!(inner.upgrade().is_none());
        let deadline = Instant::now() + 10 * SECOND;
        while !sweeper.is_finished() {
            assert!(Instant::now() < deadline, "the sweep task is still running");
            tokio::task::yield_now().await;
        }
    }

    #[test]
    fn works_without_a_runtime() {
        let store = store();
        assert!(store.inner.sweeper.get().is_none());
        store.create("a", None).unwrap();
        assert!(store.exists("a"));
    }

    #[tokio::test(start_paused = true)]
    async fn an_expired_id_can_be_created_again() {
        let store = store();
        store.create("a", Some(SECOND)).unwrap();
        advance(2 * SECOND).await;
        store.create("a", Some(SECOND)).unwrap();
        let stats = store.stats();
        assert_eq!((stats.sessions, stats.created, stats.expired), (1, 2, 1));
    }
}
