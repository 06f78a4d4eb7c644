//! [`Pool`], the cheap cloneable handle, and the state all its clones share.

use std::hash::RandomState;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::circuit::CircuitBreaker;
use super::roster::Roster;
use super::stats::{Counters, PoolStats};
use crate::adapter::Adapter;
use crate::config::PoolConfig;
use crate::protocol::ToolSpec;
use crate::session::{SessionId, SessionStore};
use crate::telemetry::{Events, Telemetry, WorkerEventStats};
use crate::tool::{HostTool, HostTools};
use crate::worker::{WorkerEvent, WorkerSpec};

/// A pool of worker processes.
///
/// Cloning is cheap; every clone drives the same workers.
///
/// ```no_run
/// # async fn demo() -> snakepit::Result<()> {
/// use snakepit::{Pool, PythonAdapter};
/// use serde_json::json;
///
/// let pool = Pool::builder(PythonAdapter::showcase()).size(4).start().await?;
/// let sum = pool.execute("compute", json!({"operation": "add", "a": 5, "b": 3})).await?;
/// assert_eq!(sum, json!(8));
/// pool.shutdown().await;
/// # Ok(()) }
/// ```
///
/// # Caveats
///
/// Dropping the last clone without [`Pool::shutdown`] kills every worker's process group at
/// once (SIGKILL), without a grace period; calls still running fail.
#[derive(Debug, Clone)]
pub struct Pool {
    pub(super) shared: Arc<PoolShared>,
}

/// The state of a pool.
#[derive(Debug)]
pub(crate) struct PoolShared {
    pub(super) adapter: Arc<dyn Adapter>,
    pub(super) config: PoolConfig,
    pub(super) spec: WorkerSpec,
    /// The workers, their load and slots, and the queue.
    pub(super) roster: Roster,
    pub(super) counters: Counters,
    pub(super) events: mpsc::UnboundedSender<WorkerEvent>,
    /// The tools the workers offer, as the first worker announced them.
    pub(super) tools: std::sync::OnceLock<Vec<ToolSpec>>,
    /// Replacement starts and stops of retired workers; shutdown waits for them.
    pub(super) tasks: TaskTracker,
    /// Cancelled when shutdown begins; replacements stop retrying.
    pub(super) closing: CancellationToken,
    /// The sessions of this pool's calls.
    pub(super) sessions: SessionStore,
    /// One call at a time per session, when `config.serial_sessions` is on.
    pub(super) gates: super::serial::SessionGates,
    /// The host tools its workers can call.
    pub(super) host: Arc<HostTools>,
    /// The circuit breaker.
    pub(super) circuit: CircuitBreaker,
    /// Seeds each worker's jitter factor for recycling limits.
    pub(super) jitter_seed: RandomState,
    /// The pool's name for metrics, and its event bus.
    pub(super) telemetry: Telemetry,
}

impl Pool {
    pub(crate) fn from_shared(shared: Arc<PoolShared>) -> Self {
        Self { shared }
    }

    /// The pool's session store: sessions, programs and variables of the calls made in a
    /// session.
    pub fn sessions(&self) -> &SessionStore {
        &self.shared.sessions
    }

    /// The host tools the pool's workers can call.
    pub fn host_tools(&self) -> &HostTools {
        &self.shared.host
    }

    /// Registers a host tool every call can use (`ctx.call_host_tool(name, ...)` in Python).
    pub fn register_host_tool(&self, tool: HostTool) {
        self.shared.host.register(tool);
    }

    /// Registers a host tool only calls in `session` can use.
    pub fn register_session_tool(&self, session: impl Into<SessionId>, tool: HostTool) {
        self.shared.host.register_for_session(session, tool);
    }

    /// Removes a global host tool; `false` when there was none of that name.
    pub fn unregister_host_tool(&self, name: &str) -> bool {
        self.shared.host.unregister(name)
    }

    /// A snapshot of the pool's state and counters.
    pub fn stats(&self) -> PoolStats {
        let shared = &self.shared;
        let now = std::time::Instant::now();
        let counts = shared.roster.counts(now);
        let counters = &shared.counters;
        PoolStats {
            workers: counts.live,
            available: counts.idle,
            busy: counts.busy,
            requests: Counters::read(&counters.requests),
            queued: counts.queued,
            errors: Counters::read(&counters.errors),
            timeouts: Counters::read(&counters.timeouts),
            queue_timeouts: Counters::read(&counters.queue_timeouts),
            pool_saturated: Counters::read(&counters.pool_saturated),
            restarts: Counters::read(&counters.restarts),
            retries: Counters::read(&counters.retries),
            recycled: Counters::read(&counters.recycled),
            circuit: shared.circuit.state(now),
            tainted_slots: counts.tainted,
            degraded: counts.tainted > 0 || counts.live < shared.config.size,
            latency: counters.latency.percentiles(),
        }
    }

    /// Subscribes to the pool's events (see [`Event`](crate::telemetry::Event)): every
    /// event from now on, up to [`EVENT_CAPACITY`](crate::telemetry::EVENT_CAPACITY)
    /// unread; a subscriber that falls further behind loses the oldest and is told how many.
    /// Subscribing costs the pool nothing while no subscriber exists.
    pub fn events(&self) -> Events {
        self.shared.telemetry.bus.subscribe()
    }

    /// The pool's name in metrics (its `pool` label): the builder's `instance_name`, else
    /// the adapter's name.
    pub fn telemetry_name(&self) -> &str {
        &self.shared.telemetry.pool
    }

    /// Counts of the events the workers sent (`event` frames): let through, and dropped
    /// for a bad name or one distinct name too many.
    pub fn worker_event_stats(&self) -> WorkerEventStats {
        self.shared.telemetry.gate.stats()
    }

    /// The process ids of the live workers. Each is also the id of the worker's process
    /// group.
    pub fn worker_pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self
            .shared
            .roster
            .workers()
            .iter()
            .filter(|worker| worker.is_alive())
            .map(crate::worker::Worker::pid)
            .collect();
        pids.sort_unstable();
        pids
    }

    /// Whether `other` is a handle to this same pool (not merely one built alike).
    pub fn same_pool(&self, other: &Pool) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// The tools the workers offer, as the first worker announced them.
    pub fn tools(&self) -> &[ToolSpec] {
        self.shared.tools.get().map_or(&[], Vec::as_slice)
    }

    /// The pool's settings.
    pub fn config(&self) -> &PoolConfig {
        &self.shared.config
    }

    /// The adapter's name.
    pub fn adapter_name(&self) -> String {
        self.shared.adapter.name()
    }
}
