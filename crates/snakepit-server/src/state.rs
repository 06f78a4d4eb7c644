//! The server's shared state: the named pools it serves, the event bus, the token, and the
//! shutdown signal.
//!
//! The pools live in the library's registry ([`snakepit::Pools`], shared with Rust programs
//! through [`crate::ServerHandle::pools`]); beside it, handlers read an `Arc` snapshot of each
//! pool's server-side state ([`Served`]: the pool, its fingerprint, its monitor), replaced
//! whole in the same step as the registry so calls in flight keep the pool they started on.

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

/// The pools by name; replaced whole, never changed in place.
pub type PoolMap = Arc<BTreeMap<String, Arc<Served>>>;

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
    pools: RwLock<PoolMap>,
    registry: Pools,
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
            pools: RwLock::new(Arc::new(pools)),
            registry,
            events: broadcast::channel(EVENT_BUFFER).0,
            shutdown: CancellationToken::new(),
            token,
            forwarders: Forwarders::default(),
        }
    }

    /// The pools served now.
    pub fn pools(&self) -> PoolMap {
        Arc::clone(
            &self
                .pools
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Serves `pools` from now on; returns the map it replaced. The registry follows: each
    /// new or replaced pool is put under its name (make-before-break: the new pool serves
    /// before the old one is shut down by the caller), each pool no longer served is taken
    /// out.
    pub fn swap(&self, pools: PoolMap) -> PoolMap {
        let mut current = self
            .pools
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (name, served) in pools.iter() {
            let same = current
                .get(name)
                .is_some_and(|old| Arc::ptr_eq(old, served));
            if !same {
                self.registry.insert(name.clone(), served.pool.clone());
            }
        }
        for name in current.keys() {
            if !pools.contains_key(name) {
                self.registry.remove(name);
            }
        }
        std::mem::replace(&mut current, pools)
    }

    /// The library's registry of the pools served now.
    pub fn registry(&self) -> &Pools {
        &self.registry
    }

    /// The pool named `name`.
    ///
    /// # Errors
    ///
    /// 404 `unknown_pool`.
    pub fn pool(&self, name: &str) -> Result<Arc<Served>, ApiError> {
        self.pools()
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::unknown_pool(name))
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
        let pools = self.pools();
        let detail: Vec<Value> = pools
            .values()
            .map(|served| {
                let stats = served.pool.stats();
                json!({"name": served.name, "ready": stats.workers > 0, "workers": stats.workers})
            })
            .collect();
        let ready = !self.shutdown.is_cancelled()
            && !pools.is_empty()
            && detail.iter().all(|pool| pool["ready"] == true);
        (ready, json!({"ready": ready, "pools": detail}))
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
