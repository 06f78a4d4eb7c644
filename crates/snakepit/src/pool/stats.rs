//! Pool counters and the snapshot [`Pool::stats`](crate::Pool::stats) returns.

use std::sync::atomic::{AtomicU64, Ordering};

use super::circuit::CircuitState;

/// A snapshot of a pool's state and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PoolStats {
    /// Live workers.
    pub workers: usize,
    /// Workers idle and ready for a call.
    pub available: usize,
    /// Workers running a call (or finishing a cancelled one).
    pub busy: usize,
    /// Calls made, including those that failed.
    pub requests: u64,
    /// Calls waiting for a worker right now.
    pub queued: usize,
    /// Calls that failed, for any reason.
    pub errors: u64,
    /// Calls that ran past their deadline.
    pub timeouts: u64,
    /// Calls that waited past the queue timeout.
    pub queue_timeouts: u64,
    /// Calls refused because the queue was full.
    pub pool_saturated: u64,
    /// Replacement workers started after a worker exited.
    pub restarts: u64,
    /// Calls retried on another worker after a crash.
    pub retries: u64,
    /// Workers replaced by recycling (requests, age, memory).
    pub recycled: u64,
    /// The circuit breaker's state.
    pub circuit: CircuitState,
    /// Worker slots left empty because their workers keep crashing.
    pub tainted_slots: usize,
    /// Whether the pool runs short of its size (tainted slots, replacements pending).
    pub degraded: bool,
}

/// The counters behind [`PoolStats`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) requests: AtomicU64,
    pub(super) errors: AtomicU64,
    pub(super) timeouts: AtomicU64,
    pub(super) queue_timeouts: AtomicU64,
    pub(super) pool_saturated: AtomicU64,
    pub(super) restarts: AtomicU64,
    pub(super) retries: AtomicU64,
    pub(super) recycled: AtomicU64,
}

impl Counters {
    /// Counts a failed call under its kind.
    pub(super) fn count_error(&self, err: &crate::Error) {
        Self::bump(&self.errors);
        match err {
            crate::Error::Timeout { .. } => Self::bump(&self.timeouts),
            crate::Error::QueueTimeout { .. } => Self::bump(&self.queue_timeouts),
            crate::Error::PoolSaturated { .. } => Self::bump(&self.pool_saturated),
            _ => {}
        }
    }

    pub(super) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
