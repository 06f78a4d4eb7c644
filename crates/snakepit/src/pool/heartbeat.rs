//! Heartbeats: idle workers are pinged at an interval; one that does not answer in time
//! (stuck in C code holding the GIL, say) is killed and replaced. Busy workers are judged by
//! their calls' deadlines instead.

use std::sync::{Arc, Weak};

use super::handle::PoolShared;
use super::lease::Lease;

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
        if shared.roster.is_closed() {
            break;
        }
        for worker in shared.roster.workers() {
            // Only idle workers, taken whole: no call lands on one while it is pinged.
            let Some(worker) = shared.roster.try_take_idle(worker.id()) else {
                continue;
            };
            let places = worker.capacity();
            let lease = Lease::with_places(Arc::clone(&shared), worker, places);
            let telemetry = shared.telemetry.clone();
            tokio::spawn(async move {
                let worker = lease.worker();
                if let Err(err) = worker.ping(health.heartbeat_timeout).await {
                    tracing::warn!(worker = %worker.id(), error = %err, "worker missed its heartbeat; killing it");
                    let id = worker.id();
                    telemetry.emit(|| crate::telemetry::Event::HeartbeatMissed { worker: id });
                    worker.kill();
                }
                drop(lease);
            });
        }
    }
}
