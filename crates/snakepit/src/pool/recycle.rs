//! Recycling: replacing a worker by a fresh one after enough calls, enough time or too much
//! memory, make-before-break.
//!
//! The replacement starts while the old worker keeps serving. Once it is ready it joins the
//! pool and the old worker retires: it takes no new call, finishes the ones it runs, and is
//! stopped. No call fails because of a recycle. The worker's in-memory state goes with it:
//! a session it owned moves to another worker (hint affinity) or reports
//! [`Error::SessionLost`](crate::Error::SessionLost) once (strict affinity). The roster
//! lets one start per slot be under way, so a worker that dies while its replacement starts
//! gets no second replacement.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Weak};

use tracing::Instrument;

use super::handle::PoolShared;
use super::replace;
use super::stats::Counters;
use crate::telemetry::Event;
use crate::worker::{Worker, WorkerId, start};

/// Counts a served call of `worker`, which may make it due for recycling.
pub(super) fn count_call(shared: &Arc<PoolShared>, worker: &Worker) {
    let calls = worker.count_served();
    if let Some(limit) = shared.config.recycle.max_requests {
        #[expect(
            clippy::cast_precision_loss,
            reason = "call counts compared approximately"
        )]
        let due = scaled(shared, worker.id(), limit as f64) <= calls as f64;
        if due {
            recycle(shared, worker, "request count");
        }
    }
}

/// The worker's own share of a limit: `limit` scaled by its jitter factor in `1 ± jitter`.
fn scaled(shared: &PoolShared, worker: WorkerId, limit: f64) -> f64 {
    let jitter = shared.config.recycle.jitter.clamp(0.0, 0.9);
    let mut hasher = shared.jitter_seed.build_hasher();
    hasher.write_u64(worker.get());
    #[expect(
        clippy::cast_precision_loss,
        reason = "a random fraction needs no precision"
    )]
    let unit = (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64;
    limit * (1.0 - jitter + 2.0 * jitter * unit)
}

/// Starts replacing `old`, unless that is already under way.
pub(super) fn recycle(shared: &Arc<PoolShared>, old: &Worker, reason: &'static str) {
    let Some(slot) = shared.roster.begin_recycle(old.id()) else {
        return;
    };
    tracing::info!(worker = %old.id(), reason, "recycling worker");
    let pool = Arc::downgrade(shared);
    shared
        .tasks
        .spawn(make_then_break(pool, old.id(), slot, reason).in_current_span());
}

async fn make_then_break(pool: Weak<PoolShared>, old: WorkerId, slot: usize, reason: &'static str) {
    let Some(shared) = pool.upgrade() else { return };
    match start(&shared.spec, shared.events.clone()).await {
        Ok(fresh) => match (
            fresh.id(),
            shared
                .roster
                .finish_recycle(old, fresh, slot, std::time::Instant::now()),
        ) {
            (replacement, Ok(stop)) => {
                Counters::bump(&shared.counters.recycled);
                shared.telemetry.record_recycle(reason);
                shared.telemetry.emit(|| Event::WorkerRecycled {
                    worker: old,
                    replacement,
                    reason,
                });
                for worker in stop {
                    stop_retired(&shared, worker);
                }
            }
            (_, Err(needs_replacement)) => {
                tracing::warn!(worker = %old, "the recycled worker's replacement died at once");
                if needs_replacement {
                    replace::spawn(&shared, slot, shared.config.health.restart_backoff);
                }
            }
        },
        Err(err) => {
            tracing::warn!(worker = %old, error = %err, "could not start a replacement; keeping the worker");
            if shared.roster.recycle_failed(slot) {
                replace::spawn(&shared, slot, shared.config.health.restart_backoff);
            }
        }
    }
}

/// Stops a retired worker, which is idle.
pub(super) fn stop_retired(shared: &Arc<PoolShared>, worker: Worker) {
    let grace = shared.config.stop_grace;
    shared.tasks.spawn(
        async move {
            tracing::debug!(worker = %worker.id(), "stopping a retired worker");
            worker.stop(grace).await;
        }
        .in_current_span(),
    );
}

/// Checks age and memory of every worker at the configured interval, for as long as the
/// pool exists. Memory is read from `/proc` off the async runtime.
pub(super) async fn watch_limits(pool: Weak<PoolShared>) {
    let Some(interval) = pool
        .upgrade()
        .map(|shared| shared.config.recycle.check_interval)
    else {
        return;
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(shared) = pool.upgrade() else { break };
        if shared.roster.is_closed() {
            break;
        }
        let limits = shared.config.recycle;
        let workers: Vec<Worker> = shared
            .roster
            .workers()
            .into_iter()
            .filter(|worker| !worker.is_retiring())
            .collect();
        let mut over_memory = Vec::new();
        for worker in &workers {
            if let Some(max_age) = limits.max_age {
                if worker.age().as_secs_f64() >= scaled(&shared, worker.id(), max_age.as_secs_f64())
                {
                    recycle(&shared, worker, "age");
                    continue;
                }
            }
            over_memory.push(worker.clone());
        }
        let Some(max_memory) = limits.max_memory_bytes else {
            continue;
        };
        drop(shared);
        let pids: Vec<u32> = over_memory.iter().map(Worker::pid).collect();
        let rss = crate::process::group_rss_all_off_runtime(pids).await;
        let Some(shared) = pool.upgrade() else { break };
        for worker in &over_memory {
            if rss.get(&worker.pid()).copied().unwrap_or(0) >= max_memory {
                recycle(&shared, worker, "memory");
            }
        }
    }
}
