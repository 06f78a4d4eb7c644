//! [`Pool`], the cheap cloneable handle, and the state all its clones share.

use std::collections::{HashMap, HashSet};
use std::hash::RandomState;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::circuit::CircuitBreaker;
use super::health::Slots;
use super::scheduler::Scheduler;
use super::stats::{Counters, PoolStats};
use crate::adapter::Adapter;
use crate::config::PoolConfig;
use crate::protocol::ToolSpec;
use crate::session::{SessionId, SessionStore};
use crate::tool::{HostTool, HostTools};
use crate::worker::{Worker, WorkerEvent, WorkerId, WorkerSpec};

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
    pub(super) scheduler: Scheduler,
    pub(super) counters: Counters,
    /// Every live worker, busy or idle.
    pub(super) workers: Mutex<HashMap<WorkerId, Worker>>,
    pub(super) events: mpsc::UnboundedSender<WorkerEvent>,
    pub(super) tools: Vec<ToolSpec>,
    /// Replacement starts in progress; shutdown waits for them.
    pub(super) replacements: TaskTracker,
    /// Cancelled when shutdown begins; replacements stop retrying.
    pub(super) closing: CancellationToken,
    /// The sessions of this pool's calls.
    pub(super) sessions: SessionStore,
    /// The host tools its workers can call.
    pub(super) host: Arc<HostTools>,
    /// The circuit breaker.
    pub(super) circuit: CircuitBreaker,
    /// Which worker fills which slot, and the slots' crash history.
    pub(super) slots: Mutex<Slots>,
    /// Workers whose replacement by recycling is under way.
    pub(super) recycling: Mutex<HashSet<WorkerId>>,
    /// Seeds each worker's jitter factor for recycling limits.
    pub(super) jitter_seed: RandomState,
}

impl PoolShared {
    pub(super) fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().expect("slot lock is never poisoned")
    }

    pub(super) fn recycling(&self) -> std::sync::MutexGuard<'_, HashSet<WorkerId>> {
        self.recycling
            .lock()
            .expect("recycling lock is never poisoned")
    }

    /// Whether worker `id` is one of the pool's live workers.
    pub(super) fn is_live_worker(&self, id: WorkerId) -> bool {
        self.workers().get(&id).is_some_and(Worker::is_alive)
    }

    pub(super) fn workers(&self) -> std::sync::MutexGuard<'_, HashMap<WorkerId, Worker>> {
        self.workers
            .lock()
            .expect("worker table lock is never poisoned")
    }
}

impl Pool {
    pub(crate) fn from_shared(shared: Arc<PoolShared>) -> Self {
        Self { shared }
    }

    /// The pool's session store: sessions, programs and variables of the calls made with
    /// [`Pool::execute_in_session`].
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

    /// A snapshot of the pool's state and counters.
    pub fn stats(&self) -> PoolStats {
        let shared = &self.shared;
        let now = std::time::Instant::now();
        let workers = shared
            .workers()
            .values()
            .filter(|worker| worker.is_alive() && !worker.is_retiring())
            .count();
        let tainted_slots = shared.slots().tainted(now);
        let (available, queued) = shared.scheduler.counts();
        let counters = &shared.counters;
        PoolStats {
            workers,
            available,
            busy: workers.saturating_sub(available),
            requests: Counters::read(&counters.requests),
            queued,
            errors: Counters::read(&counters.errors),
            timeouts: Counters::read(&counters.timeouts),
            queue_timeouts: Counters::read(&counters.queue_timeouts),
            pool_saturated: Counters::read(&counters.pool_saturated),
            restarts: Counters::read(&counters.restarts),
            retries: Counters::read(&counters.retries),
            recycled: Counters::read(&counters.recycled),
            circuit: shared.circuit.state(now),
            tainted_slots,
            degraded: tainted_slots > 0 || workers < shared.config.size,
        }
    }

    /// The process ids of the live workers. Each is also the id of the worker's process
    /// group.
    pub fn worker_pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self
            .shared
            .workers()
            .values()
            .filter(|worker| worker.is_alive())
            .map(Worker::pid)
            .collect();
        pids.sort_unstable();
        pids
    }

    /// The tools the workers offer, as the first worker announced them.
    pub fn tools(&self) -> &[ToolSpec] {
        &self.shared.tools
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
