//! The sharded map under the store: [`SHARDS`] shards of entries chosen by the hash of the
//! id, each entry's bookkeeping (last access as an atomic, owner) beside its session, and the
//! counters. Inserting (with the session limit), looking up and refreshing, and counting and
//! announcing removals happen here; expiry is in `expiry.rs`, owner binding in `owner.rs`.
//!
//! Lock order is shard, then session, then (for programs) the global programs. No lock in this
//! module is held across an `.await`.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::removal::{RemovalReason, RemovedSession, Subscribers};
use super::{Session, SessionError, SessionId, SessionInfo, SessionStoreConfig};
use crate::worker::WorkerId;

/// How many shards the map is split into.
pub(super) const SHARDS: usize = 64;

type Shard = RwLock<HashMap<SessionId, Arc<Entry>>>;

/// The store's state, shared by every handle.
pub(super) struct Inner {
    pub(super) shards: Box<[Shard]>,
    shard_hasher: RandomState,
    pub(super) config: SessionStoreConfig,
    /// The origin of the entries' atomic timestamps.
    epoch: Instant,
    pub(super) len: AtomicUsize,
    pub(super) created: AtomicU64,
    pub(super) deleted: AtomicU64,
    pub(super) expired: AtomicU64,
    pub(super) global_programs: RwLock<HashMap<String, Value>>,
    pub(super) subscribers: Subscribers,
    pub(super) sweeper: OnceLock<AbortHandle>,
}

/// One session and its bookkeeping.
pub(super) struct Entry {
    created_at: Instant,
    ttl: Duration,
    ttl_nanos: u64,
    /// Nanoseconds since the store's epoch.
    pub(super) last_access: AtomicU64,
    pub(super) owner: Mutex<Option<WorkerId>>,
    /// Whether the session's calls run one at a time (`SessionStore::set_serial`).
    pub(super) serial: AtomicBool,
    session: Mutex<Session>,
}

impl Entry {
    pub(super) fn is_expired(&self, now_nanos: u64) -> bool {
        now_nanos.saturating_sub(self.last_access.load(Ordering::Relaxed)) >= self.ttl_nanos
    }

    pub(super) fn owner(&self) -> Option<WorkerId> {
        *lock(&self.owner)
    }
}

/// The outcome of an insert.
pub(super) enum Inserted {
    /// A new session was made.
    New(SessionInfo),
    /// A live session already had the id; it was refreshed.
    Existing(SessionInfo),
    /// The store holds `max_sessions` live sessions.
    Full,
}

impl Inner {
    /// An empty map with its counters at zero and no sweep.
    pub(super) fn new(config: SessionStoreConfig) -> Self {
        Self {
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
        }
    }

    pub(super) fn shard(&self, id: &str) -> &Shard {
        let hash = self.shard_hasher.hash_one(id);
        &self.shards[(hash as usize) % SHARDS]
    }

    pub(super) fn now_nanos(&self) -> u64 {
        nanos(Instant::now().saturating_duration_since(self.epoch))
    }

    pub(super) fn instant_of(&self, nanos: u64) -> Instant {
        self.epoch + Duration::from_nanos(nanos)
    }

    pub(super) fn info(&self, id: SessionId, entry: &Entry, last_access: u64) -> SessionInfo {
        SessionInfo {
            id,
            created_at: entry.created_at,
            last_access: self.instant_of(last_access),
            ttl: entry.ttl,
            owner: entry.owner(),
            serial: entry.serial.load(Ordering::Relaxed),
        }
    }

    /// Refreshes a live session's last access and returns its info; on an expired session,
    /// removes it and returns `None`.
    pub(super) fn touch(&self, id: &str) -> Option<SessionInfo> {
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

    /// Inserts a new session, replacing an expired one. A live one is refreshed and
    /// returned as `Existing`. When the store is full, expired sessions are swept once and
    /// the insert is retried.
    pub(super) fn insert(
        &self,
        id: &SessionId,
        ttl: Duration,
        owner: Option<WorkerId>,
    ) -> Inserted {
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
                    serial: AtomicBool::new(false),
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

    /// Updates the counters for sessions already taken out of the map, and notifies.
    pub(super) fn record_removals(
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
    pub(super) fn subscribers_len(&self) -> usize {
        self.subscribers.len()
    }

    pub(super) fn global_programs_len(&self) -> usize {
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

pub(super) fn nanos(duration: Duration) -> u64 {
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

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::session::{SessionStore, SessionStoreConfig};

    #[test]
    fn sessions_spread_over_the_shards() {
        let store = SessionStore::new(SessionStoreConfig::default());
        for n in 0..1000 {
            store.create(format!("s{n}"), None).unwrap();
        }
        let used = store
            .inner
            .shards
            .iter()
            .filter(|shard| !super::read(shard).is_empty())
            .count();
        assert!(used > super::SHARDS / 2, "only {used} shards in use");
        assert_eq!(store.stats().sessions, 1000);
    }

    #[test]
    fn a_panicking_update_leaves_the_session_usable() {
        let store = SessionStore::new(SessionStoreConfig::default());
        store.create("a", None).unwrap();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.update("a", |session| {
                session.metadata.insert("before".into(), json!(1));
                panic!("the closure failed");
            })
        }));
        assert!(panicked.is_err());
        let kept = store
            .update("a", |session| session.metadata.get("before").cloned())
            .unwrap();
        assert_eq!(kept, Some(json!(1)));
        store.delete("a").unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_tasks_keep_exact_counts() {
        const TASKS: usize = 8;
        const SESSIONS: usize = 100;
        const UPDATES: usize = 8_000;
        const CHURN: usize = 1_000;
        let store = SessionStore::new(SessionStoreConfig::default());
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
