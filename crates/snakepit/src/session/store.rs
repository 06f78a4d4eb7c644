//! The session store: a sharded map of sessions with TTL expiry, a background sweep, owner
//! binding for worker affinity, and removal notifications.
//!
//! # Design
//!
//! Sessions live in [`SHARDS`] shards, each a `std::sync::RwLock<HashMap<..>>`, chosen by
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

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock, Weak};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::removal::{RemovalReason, RemovedSession, Subscribers};
use super::{Session, SessionError, SessionId, SessionInfo, SessionStoreConfig, SessionStoreStats};
use crate::worker::WorkerId;

/// How many shards the map is split into.
const SHARDS: usize = 64;

type Shard = RwLock<HashMap<SessionId, Arc<Entry>>>;

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

pub(super) struct Inner {
    shards: Box<[Shard]>,
    shard_hasher: RandomState,
    config: SessionStoreConfig,
    /// The origin of the entries' atomic timestamps.
    epoch: Instant,
    len: AtomicUsize,
    created: AtomicU64,
    deleted: AtomicU64,
    expired: AtomicU64,
    pub(super) global_programs: RwLock<HashMap<String, Value>>,
    subscribers: Subscribers,
    sweeper: OnceLock<AbortHandle>,
}

/// One session and its bookkeeping.
pub(super) struct Entry {
    created_at: Instant,
    ttl: Duration,
    ttl_nanos: u64,
    /// Nanoseconds since the store's epoch.
    last_access: AtomicU64,
    owner: Mutex<Option<WorkerId>>,
    session: Mutex<Session>,
}

impl Entry {
    fn is_expired(&self, now_nanos: u64) -> bool {
        now_nanos.saturating_sub(self.last_access.load(Ordering::Relaxed)) >= self.ttl_nanos
    }

    fn owner(&self) -> Option<WorkerId> {
        *lock(&self.owner)
    }
}

impl SessionStore {
    /// Makes an empty store. Inside a tokio runtime, also spawns the task that removes
    /// expired sessions every [`SessionStoreConfig::sweep_interval`].
    pub fn new(config: SessionStoreConfig) -> Self {
        let sweep_interval = config.sweep_interval;
        let inner = Arc::new(Inner {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            shard_hasher: RandomState::new(),
            config,
            epoch: Instant::now(),
            len: AtomicUsize::new(0),
            created: AtomicU64::new(0),
            deleted: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            global_programs: RwLock::default(),
            subscribers: Subscribers::default(),
            sweeper: OnceLock::new(),
        });
        if !sweep_interval.is_zero() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let task = runtime.spawn(sweep(Arc::downgrade(&inner), sweep_interval));
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

    /// Removes every expired session now, tells the removal subscribers, and returns the
    /// removed ids. The background sweep calls this.
    pub fn cleanup_expired(&self) -> Vec<SessionId> {
        self.inner.cleanup_expired()
    }
}

/// Owner binding and removal notifications, for the pool's session affinity.
impl SessionStore {
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

/// The outcome of an insert.
enum Inserted {
    New(SessionInfo),
    /// A live session already had the id; it was refreshed.
    Existing(SessionInfo),
    Full,
}

impl Inner {
    fn shard(&self, id: &str) -> &Shard {
        let hash = self.shard_hasher.hash_one(id);
        &self.shards[(hash as usize) % SHARDS]
    }

    fn now_nanos(&self) -> u64 {
        nanos(Instant::now().saturating_duration_since(self.epoch))
    }

    fn instant_of(&self, nanos: u64) -> Instant {
        self.epoch + Duration::from_nanos(nanos)
    }

    fn info(&self, id: SessionId, entry: &Entry, last_access: u64) -> SessionInfo {
        SessionInfo {
            id,
            created_at: entry.created_at,
            last_access: self.instant_of(last_access),
            ttl: entry.ttl,
            owner: entry.owner(),
        }
    }

    /// Refreshes a live session's last access and returns its info; on an expired session,
    /// removes it and returns `None`.
    fn touch(&self, id: &str) -> Option<SessionInfo> {
        let now = self.now_nanos();
        {
            let shard = read(self.shard(id));
            let entry = shard.get(id)?;
            if !entry.is_expired(now) {
                entry.last_access.fetch_max(now, Ordering::Relaxed);
                return Some(self.info(SessionId::from(id), entry, now));
            }
        }
        self.remove_if_expired(id);
        None
    }

    /// Runs `change` on a live session, refreshing its last access.
    pub(super) fn with_session<R>(
        &self,
        id: &str,
        change: impl FnOnce(&mut Session) -> R,
    ) -> Result<R, SessionError> {
        let now = self.now_nanos();
        let entry = {
            let shard = read(self.shard(id));
            match shard.get(id) {
                Some(entry) if !entry.is_expired(now) => {
                    entry.last_access.fetch_max(now, Ordering::Relaxed);
                    Some(Arc::clone(entry))
                }
                Some(_) => None,
                None => return Err(SessionError::NotFound(id.to_owned())),
            }
        };
        let Some(entry) = entry else {
            self.remove_if_expired(id);
            return Err(SessionError::NotFound(id.to_owned()));
        };
        let mut session = lock(&entry.session);
        session.last_access = self.instant_of(now);
        Ok(change(&mut session))
    }

    /// Binds a live session's owner; `false` when there is none.
    fn bind_existing(&self, id: &str, owner: Option<WorkerId>) -> bool {
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

    /// Inserts a new session, replacing an expired one. A live one is refreshed and
    /// returned as `Existing`. When the store is full, expired sessions are swept once and
    /// the insert is retried.
    fn insert(&self, id: &SessionId, ttl: Duration, owner: Option<WorkerId>) -> Inserted {
        match self.try_insert(id, ttl, owner) {
            Inserted::Full if !self.cleanup_expired().is_empty() => self.try_insert(id, ttl, owner),
            outcome => outcome,
        }
    }

    fn try_insert(&self, id: &SessionId, ttl: Duration, owner: Option<WorkerId>) -> Inserted {
        let now = self.now_nanos();
        let mut replaced = None;
        let outcome = {
            let mut shard = write(self.shard(id.as_str()));
            if let Some(entry) = shard.get(id.as_str()) {
                if !entry.is_expired(now) {
                    entry.last_access.fetch_max(now, Ordering::Relaxed);
                    return Inserted::Existing(self.info(id.clone(), entry, now));
                }
            }
            if let Some((old_id, old_entry)) = shard.remove_entry(id.as_str()) {
                // The slot's expired session goes; the new session takes over its count.
                self.len.fetch_sub(1, Ordering::Relaxed);
                replaced = Some((old_id, old_entry, RemovalReason::Expired));
            }
            let max = self.config.max_sessions;
            let reserved = self
                .len
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |len| {
                    (len < max).then_some(len + 1)
                })
                .is_ok();
            if reserved {
                let created_at = self.instant_of(now);
                let entry = Arc::new(Entry {
                    created_at,
                    ttl,
                    ttl_nanos: nanos(ttl),
                    last_access: AtomicU64::new(now),
                    owner: Mutex::new(owner),
                    session: Mutex::new(Session::new(id.clone(), created_at, ttl)),
                });
                let info = self.info(id.clone(), &entry, now);
                shard.insert(id.clone(), entry);
                self.created.fetch_add(1, Ordering::Relaxed);
                Inserted::New(info)
            } else {
                Inserted::Full
            }
        };
        if let Some((old_id, old_entry, reason)) = replaced {
            // `len` was already lowered above; record the rest.
            self.expired.fetch_add(1, Ordering::Relaxed);
            self.subscribers.notify([RemovedSession {
                id: old_id,
                owner: old_entry.owner(),
                reason,
            }]);
        }
        outcome
    }

    /// Removes the session if it is (still) expired.
    fn remove_if_expired(&self, id: &str) {
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

    fn cleanup_expired(&self) -> Vec<SessionId> {
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

    /// Updates the counters for sessions already taken out of the map, and notifies.
    fn record_removals(
        &self,
        removed: impl IntoIterator<Item = (SessionId, Arc<Entry>, RemovalReason)>,
    ) {
        let notifications: Vec<RemovedSession> = removed
            .into_iter()
            .map(|(id, entry, reason)| {
                self.len.fetch_sub(1, Ordering::Relaxed);
                let counter = match reason {
                    RemovalReason::Deleted => &self.deleted,
                    RemovalReason::Expired => &self.expired,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                RemovedSession {
                    id,
                    owner: entry.owner(),
                    reason,
                }
            })
            .collect();
        if !notifications.is_empty() {
            tracing::debug!(count = notifications.len(), "sessions removed");
            self.subscribers.notify(notifications);
        }
    }

    #[cfg(test)]
    fn subscribers_len(&self) -> usize {
        self.subscribers.len()
    }

    fn global_programs_len(&self) -> usize {
        read(&self.global_programs).len()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(sweeper) = self.sweeper.get() {
            sweeper.abort();
        }
    }
}

/// The background sweep: removes expired sessions every `every` until the store is gone.
async fn sweep(store: Weak<Inner>, every: Duration) {
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

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

// No lock in this module is held while user code runs except a session's own mutex, and
// the session data stays consistent even if the user's closure panicked part-way (it is
// plain data), so poisoned locks are recovered rather than propagated.

pub(super) fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use tokio::time::advance;

    use super::*;
    use crate::session::{RemovalReason, RemovedSession};

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
        let inner = Arc::downgrade(&store.inner);
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_tasks_keep_exact_counts() {
        const TASKS: usize = 8;
        const SESSIONS: usize = 100;
        const UPDATES: usize = 8_000;
        const CHURN: usize = 1_000;
        let store = store();
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let store = store.clone();
                tokio::spawn(async move {
                    for op in 0..UPDATES {
                        let id = format!("t{task}-{}", op % SESSIONS);
                        store.get_or_create(&id).unwrap();
                        store
                            .update(&id, |session| {
                                let count = session.metadata.entry("count").or_insert(json!(0));
                                *count = json!(count.as_u64().unwrap() + 1);
                            })
                            .unwrap();
                    }
                    for op in 0..CHURN {
                        let id = format!("c{task}-{op}");
                        store.create(id.as_str(), None).unwrap();
                        store.delete(&id).unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }

        let mut total = 0;
        for id in store.list() {
            total += store
                .update(&id, |session| session.metadata["count"].as_u64().unwrap())
                .unwrap();
        }
        assert_eq!(total, (TASKS * UPDATES) as u64);
        let stats = store.stats();
        assert_eq!(stats.sessions, TASKS * SESSIONS);
        assert_eq!(stats.created, (TASKS * (SESSIONS + CHURN)) as u64);
        assert_eq!(stats.deleted, (TASKS * CHURN) as u64);
        assert_eq!(stats.expired, 0);
    }
}
