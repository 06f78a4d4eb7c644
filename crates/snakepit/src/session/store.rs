//! The session store's public face: [`SessionStore`], a cheap handle, and its operations on
//! whole sessions (create, look up, update, list, delete, stats). The map itself is in
//! `shard.rs`, TTL expiry and the sweep in `expiry.rs`, owner binding in `owner.rs`.
//!
//! # Design
//!
//! Sessions live in 64 shards, each a `std::sync::RwLock<HashMap<..>>`, chosen by
//! the hash of the id, so there is no global lock on the hot path. Each entry keeps its
//! bookkeeping (last access, owner) outside the session's own mutex: a lookup takes only the
//! shard's read lock and refreshes the last access with an atomic, and only
//! [`SessionStore::update`] and the program and variable operations lock the session.
//!
//! Lock order is shard, then session, then (for programs) the global programs. No operation
//! takes a shard's lock while it holds a session's lock except the closure of `update`, which
//! may call back into the store for *other* sessions; the sweep and removals never lock a
//! session, so that cannot deadlock. No lock is held across an `.await`.
//!
//! Time is `tokio::time::Instant`, so tests can pause and advance it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::expiry;
use super::removal::RemovalReason;
use super::shard::{Inner, Inserted, read, write};
use super::{Session, SessionError, SessionId, SessionInfo, SessionStoreConfig, SessionStoreStats};

/// A cheap, cloneable handle to a store of sessions with TTL expiry.
///
/// Every clone refers to the same store. A session expires when it has not been accessed
/// for its TTL; every operation on a session counts as an access. Expired sessions are
/// invisible at once and are removed by a background sweep.
///
/// # Caveats
///
/// When [`SessionStore::new`] runs inside a tokio runtime, it spawns the sweep task there;
/// the task ends when the last handle is dropped. Outside a runtime there is no background
/// sweep, and expired sessions are removed when they are looked up or by
/// [`SessionStore::cleanup_expired`].
#[derive(Clone)]
pub struct SessionStore {
    pub(super) inner: Arc<Inner>,
}

impl SessionStore {
    /// Makes an empty store. Inside a tokio runtime, also spawns the task that removes
    /// expired sessions every [`SessionStoreConfig::sweep_interval`].
    pub fn new(config: SessionStoreConfig) -> Self {
        let sweep_interval = config.sweep_interval;
        let inner = Arc::new(Inner::new(config));
        if !sweep_interval.is_zero() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let task = runtime.spawn(expiry::sweep(Arc::downgrade(&inner), sweep_interval));
                // The lock was created empty just above, so this cannot fail.
                let _already_set = inner.sweeper.set(task.abort_handle());
            }
        }
        Self { inner }
    }

    /// The store's settings.
    pub fn config(&self) -> &SessionStoreConfig {
        &self.inner.config
    }

    /// Creates a session. `ttl` overrides [`SessionStoreConfig::default_ttl`].
    ///
    /// # Errors
    ///
    /// [`SessionError::AlreadyExists`] when a live session has this id, and
    /// [`SessionError::TooMany`] when the store is full even after removing expired
    /// sessions.
    pub fn create(
        &self,
        id: impl Into<SessionId>,
        ttl: Option<Duration>,
    ) -> Result<SessionInfo, SessionError> {
        let id = id.into();
        let ttl = ttl.unwrap_or(self.inner.config.default_ttl);
        match self.inner.insert(&id, ttl, None) {
            Inserted::New(info) => Ok(info),
            Inserted::Existing(_) => Err(SessionError::AlreadyExists(id.into_inner())),
            Inserted::Full => Err(SessionError::TooMany {
                max: self.inner.config.max_sessions,
            }),
        }
    }

    /// Returns the session with this id, creating it with the default TTL if it does not
    /// exist. Refreshes the last access.
    ///
    /// # Errors
    ///
    /// [`SessionError::TooMany`] when the session would have to be created and the store is
    /// full.
    pub fn get_or_create(&self, id: impl AsRef<str>) -> Result<SessionInfo, SessionError> {
        let id = id.as_ref();
        if let Some(info) = self.inner.touch(id) {
            return Ok(info);
        }
        let ttl = self.inner.config.default_ttl;
        match self.inner.insert(&SessionId::from(id), ttl, None) {
            Inserted::New(info) | Inserted::Existing(info) => Ok(info),
            Inserted::Full => Err(SessionError::TooMany {
                max: self.inner.config.max_sessions,
            }),
        }
    }

    /// Looks a session up and refreshes its last access.
    ///
    /// # Errors
    ///
    /// [`SessionError::NotFound`] when there is no live session with this id.
    pub fn get(&self, id: impl AsRef<str>) -> Result<SessionInfo, SessionError> {
        let id = id.as_ref();
        self.inner
            .touch(id)
            .ok_or_else(|| SessionError::NotFound(id.to_owned()))
    }

    /// Whether a live session has this id. Does not refresh the last access.
    pub fn exists(&self, id: impl AsRef<str>) -> bool {
        let id = id.as_ref();
        let now = self.inner.now_nanos();
        let shard = read(self.inner.shard(id));
        shard.get(id).is_some_and(|entry| !entry.is_expired(now))
    }

    /// Runs `change` on the session under the session's lock and returns what it returns.
    /// Refreshes the last access.
    ///
    /// # Errors
    ///
    /// [`SessionError::NotFound`] when there is no live session with this id.
    ///
    /// # Caveats
    ///
    /// `change` runs while the session is locked: it must not call back into the store for
    /// the *same* session (that deadlocks), and other operations on this session wait for it.
    /// Operations on other sessions are fine.
    pub fn update<R>(
        &self,
        id: impl AsRef<str>,
        change: impl FnOnce(&mut Session) -> R,
    ) -> Result<R, SessionError> {
        self.inner.with_session(id.as_ref(), change)
    }

    /// The ids of the live sessions, in no particular order.
    pub fn list(&self) -> Vec<SessionId> {
        let now = self.inner.now_nanos();
        let mut ids = Vec::new();
        for shard in &self.inner.shards {
            let shard = read(shard);
            ids.extend(
                shard
                    .iter()
                    .filter(|(_, entry)| !entry.is_expired(now))
                    .map(|(id, _)| id.clone()),
            );
        }
        ids
    }

    /// Removes a session, and tells the removal subscribers.
    ///
    /// # Errors
    ///
    /// [`SessionError::NotFound`] when there is no live session with this id (an expired one
    /// is removed as expired).
    pub fn delete(&self, id: impl AsRef<str>) -> Result<(), SessionError> {
        let id = id.as_ref();
        let now = self.inner.now_nanos();
        let removed = {
            let mut shard = write(self.inner.shard(id));
            shard.remove_entry(id)
        };
        let Some((id, entry)) = removed else {
            return Err(SessionError::NotFound(id.to_owned()));
        };
        let expired = entry.is_expired(now);
        let reason = if expired {
            RemovalReason::Expired
        } else {
            RemovalReason::Deleted
        };
        self.inner.record_removals([(id.clone(), entry, reason)]);
        if expired {
            Err(SessionError::NotFound(id.into_inner()))
        } else {
            Ok(())
        }
    }

    /// The store's counters.
    pub fn stats(&self) -> SessionStoreStats {
        SessionStoreStats {
            sessions: self.inner.len.load(Ordering::Relaxed),
            created: self.inner.created.load(Ordering::Relaxed),
            deleted: self.inner.deleted.load(Ordering::Relaxed),
            expired: self.inner.expired.load(Ordering::Relaxed),
            global_programs: self.inner.global_programs_len(),
            max_sessions: self.inner.config.max_sessions,
        }
    }
}

impl Default for SessionStore {
    fn default() -> Self {
        Self::new(SessionStoreConfig::default())
    }
}

impl fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionStore")
            .field("config", &self.inner.config)
            .field("sessions", &self.inner.len.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use tokio::time::advance;

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn store() -> SessionStore {
        SessionStore::new(SessionStoreConfig::default())
    }

    fn store_with_max(max_sessions: usize) -> SessionStore {
        SessionStore::new(SessionStoreConfig {
            max_sessions,
            ..SessionStoreConfig::default()
        })
    }

    #[tokio::test]
    async fn create_get_update_list_delete() {
        let store = store();
        let info = store.create("a", None).unwrap();
        assert_eq!(info.id().as_str(), "a");
        assert_eq!(info.ttl(), Duration::from_secs(3600));
        assert_eq!(info.owner(), None);
        assert_eq!(
            store.create("a", None),
            Err(SessionError::AlreadyExists("a".into()))
        );
        assert!(store.exists("a"));
        assert!(!store.exists("b"));
        assert_eq!(store.get("a").unwrap().id(), &SessionId::from("a"));
        assert_eq!(store.get("b"), Err(SessionError::NotFound("b".into())));

        let turns = store
            .update("a", |session| {
                assert_eq!(session.id().as_str(), "a");
                assert_eq!(session.ttl(), Duration::from_secs(3600));
                assert!(session.last_access() >= session.created_at());
                session.metadata.insert("turns".into(), json!(1));
                session.metadata.len()
            })
            .unwrap();
        assert_eq!(turns, 1);
        let stored = store
            .update("a", |session| session.metadata.get("turns").cloned())
            .unwrap();
        assert_eq!(stored, Some(json!(1)));
        assert_eq!(
            store.update("b", |_| ()),
            Err(SessionError::NotFound("b".into()))
        );

        let created = store.get_or_create("b").unwrap();
        assert_eq!(
            store.get_or_create("b").unwrap().created_at(),
            created.created_at()
        );
        let mut ids = store.list();
        ids.sort();
        assert_eq!(ids, [SessionId::from("a"), SessionId::from("b")]);

        store.delete("a").unwrap();
        assert_eq!(store.delete("a"), Err(SessionError::NotFound("a".into())));
        assert!(!store.exists("a"));
        let stats = store.stats();
        assert_eq!(
            (stats.sessions, stats.created, stats.deleted, stats.expired),
            (1, 2, 1, 0)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_session_limit_holds() {
        let store = store_with_max(2);
        store.create("a", None).unwrap();
        store.create("b", None).unwrap();
        assert_eq!(
            store.create("c", None),
            Err(SessionError::TooMany { max: 2 })
        );
        assert_eq!(
            store.get_or_create("c"),
            Err(SessionError::TooMany { max: 2 })
        );
        assert_eq!(
            store.bind_owner("c", None),
            Err(SessionError::TooMany { max: 2 })
        );
        // Existing sessions are still reachable at the limit.
        store.get_or_create("a").unwrap();
        store.delete("a").unwrap();
        store.create("c", None).unwrap();
        assert_eq!(store.stats().sessions, 2);

        // Expired sessions make room.
        let store = store_with_max(1);
        store.create("x", Some(SECOND)).unwrap();
        advance(2 * SECOND).await;
        store.create("y", None).unwrap();
        let stats = store.stats();
        assert_eq!((stats.sessions, stats.expired), (1, 1));
    }
}
