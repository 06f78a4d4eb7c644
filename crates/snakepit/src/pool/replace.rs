//! Starting the replacement of a slot's worker (after a crash, or after a recycle that could
//! not start one), retrying with backoff until it is ready or the pool closes.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tracing::Instrument;

use super::handle::PoolShared;
use super::roster::{AfterExit, Inserted};
use super::stats::Counters;
use crate::worker::{Worker, start};

/// The first pause before retrying a replacement that failed to start.
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// The longest pause between retries.
const MAX_RETRY: Duration = Duration::from_secs(10);

/// Starts a replacement for `slot` after `delay`, in the pool's task tracker. The roster
/// has already recorded that the slot's worker is starting.
pub(super) fn spawn(shared: &Arc<PoolShared>, slot: usize, delay: Duration) {
    let pool = Arc::downgrade(shared);
    shared
        .tasks
        .spawn(replace(pool, slot, delay).in_current_span());
}

async fn replace(pool: Weak<PoolShared>, slot: usize, delay: Duration) {
    let mut pause = FIRST_RETRY;
    let Some(closing) = pool.upgrade().map(|shared| shared.closing.clone()) else {
        return;
    };
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        () = closing.cancelled() => return abandon(&pool, slot),
    }
    loop {
        let Some(shared) = pool.upgrade() else { return };
        if shared.roster.is_closed() {
            return shared.roster.start_abandoned(slot);
        }
        match start(&shared.spec, shared.events.clone()).await {
            Ok(worker) => {
                Counters::bump(&shared.counters.restarts);
                shared.telemetry.record_restart();
                tracing::info!(worker = %worker.id(), slot, "replacement worker ready");
                join(&shared, worker, slot);
                return;
            }
            Err(err) => tracing::warn!(error = %err, ?pause, "replacement worker failed to start"),
        }
        drop(shared);
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = closing.cancelled() => return abandon(&pool, slot),
        }
        pause = (pause * 2).min(MAX_RETRY);
    }
}

/// Offers a ready worker to the roster for `slot`: it joins, is stopped (closed pool), or,
/// dead already, its slot gets another replacement.
pub(super) fn join(shared: &Arc<PoolShared>, worker: Worker, slot: usize) {
    match shared
        .roster
        .insert(worker, slot, std::time::Instant::now())
    {
        Inserted::Joined => {}
        Inserted::Refused(worker) => worker.kill(),
        Inserted::Died(AfterExit::Replace { slot, restart }) => spawn(shared, slot, restart.after),
        Inserted::Died(AfterExit::Nothing) => {}
    }
}

fn abandon(pool: &Weak<PoolShared>, slot: usize) {
    if let Some(shared) = pool.upgrade() {
        shared.roster.start_abandoned(slot);
    }
}
