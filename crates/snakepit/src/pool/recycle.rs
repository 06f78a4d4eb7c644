//! Recycling: replacing a worker by a fresh one after enough calls, enough time or too much
//! memory, make-before-break.
//!
//! The replacement starts while the old worker keeps serving. Once it is ready it joins the
//! pool and the old worker retires: it takes no new call, finishes the one it runs, and is
//! stopped. No call fails because of a recycle. The worker's in-memory state goes with it:
//! a session it owned moves to another worker (hint affinity) or reports
//! [`Error::SessionLost`](crate::Error::SessionLost) once (strict affinity).

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::Weak;

use tracing::Instrument;

use super::handle::PoolShared;
use super::stats::Counters;
use crate::worker::{Worker, start};

/// Returns a worker to the pool after use. `served` counts a call it answered, which may
/// make it due for recycling.
pub(super) fn give_back(shared: &Arc<PoolShared>, worker: Worker, served: bool) {
    if served {
        let calls = worker.count_served();
        if let Some(limit) = shared.config.recycle.max_requests {
            if scaled(shared, &worker, limit as f64) <= calls as f64 {
                recycle(shared, &worker, "request count");
            }
        }
    }
    if let Some(retired) = shared.scheduler.release(worker) {
        stop_retired(shared, retired);
    }
}

/// The worker's own share of a limit: `limit` scaled by its jitter factor in `1 ± jitter`.
fn scaled(shared: &PoolShared, worker: &Worker, limit: f64) -> f64 {
    let jitter = shared.config.recycle.jitter.clamp(0.0, 0.9);
    let mut hasher = shared.jitter_seed.build_hasher();
    hasher.write_u64(worker.id().get());
    #[expect(
        clippy::cast_precision_loss,
        reason = "a random fraction needs no precision"
    )]
    let unit = (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64;
    limit * (1.0 - jitter + 2.0 * jitter * unit)
}

/// Starts replacing `old`, unless that is already under way.
pub(super) fn recycle(shared: &Arc<PoolShared>, old: &Worker, reason: &'static str) {
    if !shared.recycling().insert(old.id()) || shared.scheduler.is_closed() {
        return;
    }
    tracing::info!(worker = %old.id(), reason, "recycling worker");
    let pool = Arc::downgrade(shared);
    let old = old.clone();
    shared
        .replacements
        .spawn(replace(pool, old).in_current_span());
}

async fn replace(pool: Weak<PoolShared>, old: Worker) {
    let Some(shared) = pool.upgrade() else { return };
    match start(&shared.spec, shared.events.clone()).await {
        Ok(fresh) => {
            let slot = shared.slots().slot_of(old.id());
            if let Some(slot) = slot {
                shared.slots().assign(fresh.id(), slot);
            }
            shared.workers().insert(fresh.id(), fresh.clone());
            Counters::bump(&shared.counters.recycled);
            if shared.scheduler.is_closed() {
                fresh.kill();
                return;
            }
            if let Some(retired) = shared.scheduler.release(fresh) {
                stop_retired(&shared, retired);
            }
            if let Some(idle) = shared.scheduler.retire(&old) {
                stop_retired(&shared, idle);
            }
        }
        Err(err) => {
            tracing::warn!(worker = %old.id(), error = %err, "could not start a replacement; keeping the worker");
            shared.recycling().remove(&old.id());
        }
    }
}

/// Stops a retired worker once it is idle (it is: it just came back).
fn stop_retired(shared: &Arc<PoolShared>, worker: Worker) {
    let grace = shared.config.stop_grace;
    shared.replacements.spawn(
        async move {
            tracing::debug!(worker = %worker.id(), "stopping a retired worker");
            worker.stop(grace).await;
        }
        .in_current_span(),
    );
}

/// Checks age and memory of every worker at the configured interval, for as long as the
/// pool exists.
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
        if shared.scheduler.is_closed() {
            break;
        }
        let limits = shared.config.recycle;
        let workers: Vec<Worker> = shared
            .workers()
            .values()
            .filter(|worker| !worker.is_retiring())
            .cloned()
            .collect();
        for worker in workers {
            if let Some(max_age) = limits.max_age {
                if worker.age().as_secs_f64() >= scaled(&shared, &worker, max_age.as_secs_f64()) {
                    recycle(&shared, &worker, "age");
                    continue;
                }
            }
            if let Some(max_memory) = limits.max_memory_bytes {
                #[expect(
                    clippy::cast_precision_loss,
                    reason = "byte counts compared approximately"
                )]
                let over = worker.group_rss() as f64 >= max_memory as f64;
                if over {
                    recycle(&shared, &worker, "memory");
                }
            }
        }
    }
}
