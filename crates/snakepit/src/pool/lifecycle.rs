//! Starting a pool, replacing workers that exit, shutting down, and the kill on drop.

use std::collections::HashMap;
use std::hash::RandomState;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::circuit::CircuitBreaker;
use super::handle::{Pool, PoolShared};
use super::health::Slots;
use super::heartbeat::heartbeat;
use super::recycle::{give_back, watch_limits};
use super::scheduler::Scheduler;
use super::stats::Counters;
use crate::adapter::Adapter;
use crate::config::PoolConfig;
use crate::error::Result;
use crate::session::{RemovedSession, SessionStore};
use crate::tool::HostTools;
use crate::worker::{Worker, WorkerEvent, WorkerSpec, start};

/// The first pause before retrying a replacement that failed to start.
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// The longest pause between retries.
const MAX_RETRY: Duration = Duration::from_secs(10);

/// Starts every worker concurrently and builds the pool once all are ready.
pub(super) async fn start_pool(
    adapter: Arc<dyn Adapter>,
    config: PoolConfig,
    spec: WorkerSpec,
    sessions: SessionStore,
    host: Arc<HostTools>,
) -> Result<Pool> {
    let span = tracing::info_span!("pool.start", adapter = %adapter.name(), size = config.size);
    async move {
        let (events, event_receiver) = mpsc::unbounded_channel();
        let starts = (0..config.size).map(|_| start(&spec, events.clone()));
        let mut started = Vec::with_capacity(config.size);
        let mut failure = None;
        for outcome in futures_util::future::join_all(starts).await {
            match outcome {
                Ok(worker) => started.push(worker),
                Err(err) => {
                    tracing::error!(error = %err, "worker failed to start");
                    failure.get_or_insert(err);
                }
            }
        }
        if let Some(err) = failure {
            for worker in &started {
                worker.kill();
            }
            return Err(err);
        }
        let tools = started
            .first()
            .map(|worker| worker.tools().to_vec())
            .unwrap_or_default();
        let shared = Arc::new(PoolShared {
            adapter,
            scheduler: Scheduler::new(config.max_queue),
            circuit: CircuitBreaker::new(config.circuit),
            slots: Mutex::new(Slots::new(config.size, config.health)),
            recycling: Mutex::default(),
            jitter_seed: RandomState::new(),
            config,
            spec,
            counters: Counters::default(),
            workers: Mutex::new(HashMap::new()),
            events,
            tools,
            replacements: TaskTracker::new(),
            closing: CancellationToken::new(),
            sessions,
            host,
        });
        shared.host.attach(Arc::downgrade(&shared));
        let removals = shared.sessions.subscribe_removals();
        tokio::spawn(forget_sessions(Arc::downgrade(&shared), removals).in_current_span());
        for (slot, worker) in started.into_iter().enumerate() {
            shared.workers().insert(worker.id(), worker.clone());
            shared.slots().assign(worker.id(), slot);
            give_back(&shared, worker, false);
        }
        tokio::spawn(manage(Arc::downgrade(&shared), event_receiver).in_current_span());
        tokio::spawn(heartbeat(Arc::downgrade(&shared)).in_current_span());
        let limits = shared.config.recycle;
        if limits.max_age.is_some() || limits.max_memory_bytes.is_some() {
            tokio::spawn(watch_limits(Arc::downgrade(&shared)).in_current_span());
        }
        tracing::info!("pool ready");
        Ok(Pool { shared })
    }
    .instrument(span)
    .await
}

/// Replaces workers that exit, for as long as the pool exists and is open.
async fn manage(pool: Weak<PoolShared>, mut events: mpsc::UnboundedReceiver<WorkerEvent>) {
    while let Some(WorkerEvent::Exited { worker }) = events.recv().await {
        let Some(shared) = pool.upgrade() else { break };
        let gone = shared.workers().remove(&worker);
        shared.scheduler.forget_worker(worker);
        shared.recycling().remove(&worker);
        let slot = shared.slots().release(worker);
        // A retired worker was replaced before it stopped; nothing to do.
        let retired = gone.as_ref().is_some_and(Worker::is_retiring);
        if shared.scheduler.is_closed() || retired {
            continue;
        }
        let slot = slot.or_else(|| shared.slots().free_slot());
        let restart = slot.map(|slot| shared.slots().crashed(slot, std::time::Instant::now()));
        let delay = restart.map_or(shared.config.health.restart_backoff, |restart| {
            restart.after
        });
        if restart.is_some_and(|restart| restart.tainted) {
            tracing::error!(%worker, ?slot, ?delay, "worker slot keeps crashing; tainted");
        }
        shared
            .replacements
            .spawn(replace(Weak::clone(&pool), slot, delay).in_current_span());
    }
}

/// Tells the owning worker to drop the state of each removed session, and forgets the
/// session's host tools.
async fn forget_sessions(
    pool: Weak<PoolShared>,
    mut removals: mpsc::UnboundedReceiver<RemovedSession>,
) {
    while let Some(removed) = removals.recv().await {
        let Some(shared) = pool.upgrade() else { break };
        shared.host.forget_session(&removed.id);
        let owner = removed
            .owner
            .and_then(|owner| shared.workers().get(&owner).cloned());
        drop(shared);
        if let Some(worker) = owner {
            worker.drop_session(&removed.id).await;
        }
    }
}

/// Starts one replacement worker for `slot` after `delay`, retrying with exponential
/// backoff until it is ready or the pool is gone or closed.
async fn replace(pool: Weak<PoolShared>, slot: Option<usize>, delay: Duration) {
    let mut pause = FIRST_RETRY;
    let closing = match pool.upgrade() {
        Some(shared) => shared.closing.clone(),
        None => return,
    };
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        () = closing.cancelled() => return,
    }
    loop {
        let Some(shared) = pool.upgrade() else { return };
        if shared.scheduler.is_closed() {
            return;
        }
        match start(&shared.spec, shared.events.clone()).await {
            Ok(worker) => {
                Counters::bump(&shared.counters.restarts);
                shared.workers().insert(worker.id(), worker.clone());
                if let Some(slot) = slot {
                    shared.slots().assign(worker.id(), slot);
                }
                if shared.scheduler.is_closed() {
                    worker.kill();
                } else {
                    tracing::info!(worker = %worker.id(), "replacement worker ready");
                    give_back(&shared, worker, false);
                }
                return;
            }
            Err(err) => tracing::warn!(error = %err, ?pause, "replacement worker failed to start"),
        }
        drop(shared);
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = closing.cancelled() => return,
        }
        pause = (pause * 2).min(MAX_RETRY);
    }
}

impl Pool {
    /// Shuts the pool down: new calls and queued calls fail with
    /// [`Error::Shutdown`](crate::Error::Shutdown), running calls get up to the pool's
    /// `drain_timeout` to finish (then fail with `Shutdown`), and every worker is stopped:
    /// SIGTERM to its process group, `stop_grace`, then SIGKILL. Resolves when every worker
    /// process is gone. Calling it again does nothing more.
    pub async fn shutdown(&self) {
        let shared = &self.shared;
        shared.scheduler.close();
        shared.closing.cancel();
        let deadline = Instant::now() + shared.config.drain_timeout;
        loop {
            let released = shared.scheduler.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let stats = self.stats();
            if stats.busy == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                tracing::warn!(
                    busy = stats.busy,
                    "calls still running at shutdown; stopping their workers"
                );
                break;
            }
        }
        // A replacement that was starting is killed as soon as it is ready; wait for that.
        shared.replacements.close();
        shared.replacements.wait().await;
        let workers: Vec<Worker> = shared.workers().values().cloned().collect();
        let grace = shared.config.stop_grace;
        futures_util::future::join_all(workers.iter().map(|worker| worker.stop(grace))).await;
        tracing::info!(workers = workers.len(), "pool shut down");
    }
}

impl Drop for PoolShared {
    fn drop(&mut self) {
        let workers = self
            .workers
            .get_mut()
            .expect("worker table lock is never poisoned");
        for worker in workers.values() {
            worker.kill_sync();
        }
    }
}
