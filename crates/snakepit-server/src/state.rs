//! The server's shared state: the named pools it serves, the event bus, the token, and the
//! shutdown signal.
//!
//! Every request finds its pool in the library's registry ([`snakepit::Pools`], shared with
//! Rust programs through [`crate::ServerHandle::pools`]): the registry is the one map of
//! names to pools. Beside it the server keeps what only it knows of each pool ([`Served`]:
//! the fingerprint it was built from, its monitor, since when it serves), by name, and
//! hands a request the record of the very pool the registry gave it. A pool a Rust program
//! puts into the registry is served too, with a fresh record; a pool it takes out is no
//! longer served. A call keeps the pool handle it started with, so a pool replaced during
//! the call finishes it (make-before-break).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use serde_json::{Value, json};
use snakepit::{Pool, Pools};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::auth::Token;
use crate::error::ApiError;
use crate::forward::Forwarders;
use crate::monitor::Monitor;

/// How many events wait for a slow subscriber before it loses some.
const EVENT_BUFFER: usize = 1024;

/// One served pool.
#[derive(Debug)]
pub struct Served {
    /// The pool's name in the API.
    pub name: String,
    /// The pool.
    pub pool: Pool,
    /// What the pool was built from; a reload replaces the pool when this changes.
    pub fingerprint: String,
    /// The server's view of it.
    pub monitor: Monitor,
    /// When it started serving.
    pub since: Instant,
}

/// Pools by name, with the server's record of each.
pub type PoolMap = Arc<BTreeMap<String, Arc<Served>>>;

/// The fingerprint of a pool the server did not start (a Rust program put it into the
/// registry); a reload replaces it when the config names the same pool.
pub const EXTERNAL: &str = "put into the registry by the program";

/// One event of `/v1/events`: its name and its JSON data.
#[derive(Debug, Clone)]
pub struct Event {
    /// The SSE event name: `snapshot`, `call`, `worker`, `reload`.
    pub name: &'static str,
    /// The data.
    pub data: Value,
}

/// State every handler shares.
#[derive(Debug)]
pub struct AppState {
    registry: Pools,
    records: RwLock<BTreeMap<String, Arc<Served>>>,
    events: broadcast::Sender<Arc<Event>>,
    /// Cancelled when the server starts to shut down: event streams end, readiness fails.
    pub shutdown: CancellationToken,
    /// The token requests must carry.
    pub token: Token,
    /// The tasks forwarding the pools' library events to `/v1/events`.
    pub forwarders: Forwarders,
}

impl AppState {
    /// State serving `pools`.
    pub fn new(pools: BTreeMap<String, Arc<Served>>, token: Token) -> Self {
        let registry = Pools::new();
        for (name, served) in &pools {
            registry.insert(name.clone(), served.pool.clone());
        }
        Self {
            registry,
            records: RwLock::new(pools),
            events: broadcast::channel(EVENT_BUFFER).0,
            shutdown: CancellationToken::new(),
            token,
            forwarders: Forwarders::default(),
        }
    }

    fn records(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Served>>> {
        self.records
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn records_mut(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Served>>> {
        self.records
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The record of `pool`, which the registry holds under `name`: the server's own, or a
    /// fresh one for a pool a Rust program put there (kept while the registry holds it).
    fn record(&self, name: &str, pool: Pool) -> Arc<Served> {
        if let Some(served) = self.records().get(name) {
            if served.pool.same_pool(&pool) {
                return Arc::clone(served);
            }
        }
        let mut records = self.records_mut();
        if let Some(served) = records.get(name) {
            if served.pool.same_pool(&pool) {
                return Arc::clone(served);
            }
        }
        let served = Arc::new(Served::new(name, pool, EXTERNAL));
        // Only the pool the registry holds now gets a lasting record: a handle taken just
        // before a reload replaced it keeps a record of its own for its last calls.
        let current = self
            .registry
            .get(name)
            .is_some_and(|now| now.same_pool(&served.pool));
        if current {
            records.insert(name.to_owned(), Arc::clone(&served));
        }
        served
    }

    /// The pools served now, from the registry, by name.
    pub fn pools(&self) -> PoolMap {
        Arc::new(
            self.registry
                .entries()
                .into_iter()
                .map(|(name, pool)| {
                    let served = self.record(&name, pool);
                    (name, served)
                })
                .collect(),
        )
    }

    /// Serves `pools` from now on; returns the pools it no longer serves (replaced or
    /// removed), for the caller to shut down. Each new or replaced pool goes into the
    /// registry under its name (make-before-break: new calls go to the new pool while the
    /// old one finishes its own), each pool no longer served is taken out.
    pub fn swap(&self, pools: &PoolMap) -> Vec<Pool> {
        // The records change first, under their lock, so a request that meets a new pool in
        // the registry finds its record.
        let mut records = self.records_mut();
        let mut retired = Vec::new();
        for (name, served) in pools.iter() {
            if let Some(old) = records.insert(name.clone(), Arc::clone(served)) {
                retire(&mut retired, pools, &old.pool);
            }
            if let Some(old) = self.registry.insert(name.clone(), served.pool.clone()) {
                retire(&mut retired, pools, &old);
            }
        }
        for (name, pool) in self.registry.entries() {
            if !pools.contains_key(&name) {
                self.registry.remove(&name);
                retire(&mut retired, pools, &pool);
            }
        }
        records.retain(|name, served| {
            let kept = pools.contains_key(name);
            if !kept {
                retire(&mut retired, pools, &served.pool);
            }
            kept
        });
        retired
    }

    /// The library's registry of the pools served now.
    pub fn registry(&self) -> &Pools {
        &self.registry
    }

    /// The pool named `name`, as the registry holds it now, with the server's record.
    ///
    /// # Errors
    ///
    /// 404 `unknown_pool`.
    pub fn pool(&self, name: &str) -> Result<Arc<Served>, ApiError> {
        let pool = self
            .registry
            .get(name)
            .ok_or_else(|| ApiError::unknown_pool(name))?;
        Ok(self.record(name, pool))
    }

    /// Sends an event to every subscriber (none is fine).
    pub fn emit(&self, name: &'static str, data: Value) {
        if self.events.receiver_count() > 0 {
            let _no_subscriber_is_fine = self.events.send(Arc::new(Event { name, data }));
        }
    }

    /// Whether anyone subscribes to the events.
    pub fn listened(&self) -> bool {
        self.events.receiver_count() > 0
    }

    /// A new subscription to the events.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    /// Whether every pool has at least one live worker and the server is not shutting down.
    pub fn readiness(&self) -> (bool, Value) {
        let pools = self.registry.entries();
        let detail: Vec<Value> = pools
            .iter()
            .map(|(name, pool)| {
                let stats = pool.stats();
                json!({"name": name, "ready": stats.workers > 0, "workers": stats.workers})
            })
            .collect();
        let ready = !self.shutdown.is_cancelled()
            && !pools.is_empty()
            && detail.iter().all(|pool| pool["ready"] == true);
        (ready, json!({"ready": ready, "pools": detail}))
    }
}

/// Adds `pool` to `retired` unless it is served on (in `kept`) or already there.
fn retire(retired: &mut Vec<Pool>, kept: &PoolMap, pool: &Pool) {
    let served_on = kept.values().any(|served| served.pool.same_pool(pool));
    if !served_on && !retired.iter().any(|other| other.same_pool(pool)) {
        retired.push(pool.clone());
    }
}

impl Served {
    /// Wraps a started pool.
    pub fn new(name: impl Into<String>, pool: Pool, fingerprint: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            pool,
            fingerprint: fingerprint.into(),
            monitor: Monitor::default(),
            since: Instant::now(),
        }
    }
}
