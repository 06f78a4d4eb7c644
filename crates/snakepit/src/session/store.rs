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
            Inserted::Full if !self.cleanup_expired().is_empty() => {
                self.try_insert(id, ttl, owner)
            }
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
