//! Heartbeats: idle workers are pinged at an interval; one that does not answer in time
//! (stuck in C code holding the GIL, say) is killed and replaced. Busy workers are judged by
//! their call's deadline instead.

use std::sync::Weak;

use super::handle::PoolShared;
use super::recycle::give_back;
use crate::worker::WorkerId;

/// Pings idle workers for as long as the pool exists.
pub(super) async fn heartbeat(pool: Weak<PoolShared>) {
    let Some(health) = pool.upgrade().map(|shared| shared.config.health) else {
        return;
    };
    let Some(interval) = health.heartbeat_interval else {
        return;
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let Some(shared) = pool.upgrade() else { break };
        if shared.scheduler.is_closed() {
            break;
        }
        let ids: Vec<WorkerId> = shared.workers().keys().copied().collect();
        for id in ids {
            // Only idle workers: taking one out of the idle list keeps calls off it meanwhile.
            let Some(worker) = shared.scheduler.try_take(id) else {
                continue;
            };
            let pool = Weak::clone(&pool);
            tokio::spawn(async move {
                let answered = worker.ping(health.heartbeat_timeout).await;
                if let Err(err) = &answered {
                    tracing::warn!(worker = %worker.id(), error = %err, "worker missed its heartbeat; killing it");
                    worker.kill();
                }
                if let Some(shared) = pool.upgrade() {
                    give_back(&shared, worker, false);
                }
            });
        }
    }
}
