//! Pool counters and the snapshot [`Pool::stats`](crate::Pool::stats) returns.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
    /// Percentiles of the duration of the calls that reached a worker, queue included.
    pub latency: LatencyPercentiles,
}

/// Percentiles of call durations since the pool started, each within 1/8 (12.5 %) of the
/// true value; `None` before the first call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct LatencyPercentiles {
    /// Calls measured.
    pub count: u64,
    /// The median.
    pub p50: Option<Duration>,
    /// The 95th percentile.
    pub p95: Option<Duration>,
    /// The 99th percentile.
    pub p99: Option<Duration>,
}

/// Sub-buckets per power of two: values are kept within 1/8 of their size.
const SUB_BITS: u32 = 3;
const SUB: u64 = 1 << SUB_BITS;
/// Microseconds up to 2^40 (about 12 days); longer calls count in the last bucket.
const MAX_EXP: u32 = 40;
const BUCKETS: usize = ((MAX_EXP - SUB_BITS + 2) as usize) * SUB as usize;

/// A fixed-bucket, log-linear histogram of durations in microseconds; recording is one
/// atomic add.
#[derive(Debug)]
pub(super) struct LatencyHistogram {
    counts: Box<[AtomicU64]>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl LatencyHistogram {
    fn index(micros: u64) -> usize {
        let micros = micros.min((1 << (MAX_EXP + 1)) - 1);
        if micros < SUB {
            return usize::try_from(micros).unwrap_or(0);
        }
        let exp = 63 - micros.leading_zeros();
        let sub = (micros >> (exp - SUB_BITS)) & (SUB - 1);
        usize::try_from(u64::from(exp - SUB_BITS + 1) * SUB + sub).unwrap_or(BUCKETS - 1)
    }

    /// The largest value bucket `index` holds, in microseconds.
    fn upper(index: usize) -> u64 {
        let index = index as u64;
        if index < SUB {
            return index;
        }
        let exp = index / SUB + u64::from(SUB_BITS) - 1;
        let sub = index % SUB;
        ((SUB + sub + 1) << (exp - u64::from(SUB_BITS))) - 1
    }

    /// Counts one call of `duration`.
    pub(super) fn record(&self, duration: Duration) {
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        self.counts[Self::index(micros)].fetch_add(1, Ordering::Relaxed);
    }

    /// The percentiles of what was recorded.
    pub(super) fn percentiles(&self) -> LatencyPercentiles {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let at = |quantile: f64| {
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss,
                reason = "a rank within the count"
            )]
            let rank = ((quantile * total as f64).ceil() as u64).max(1);
            let mut seen = 0;
            counts.iter().enumerate().find_map(|(index, count)| {
                seen += count;
                (seen >= rank).then(|| Duration::from_micros(Self::upper(index)))
            })
        };
        if total == 0 {
            return LatencyPercentiles::default();
        }
        LatencyPercentiles {
            count: total,
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
        }
    }
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
    /// Call durations.
    pub(super) latency: LatencyHistogram,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_their_values_within_an_eighth() {
        for micros in [0, 1, 7, 8, 9, 15, 16, 100, 1_000, 12_345, 1 << 30] {
            let index = LatencyHistogram::index(micros);
            let upper = LatencyHistogram::upper(index);
            assert!(upper >= micros, "{micros} in bucket up to {upper}");
            assert!(
                upper - micros <= micros / 8,
                "{micros} in bucket up to {upper}"
            );
            if index > 0 {
                assert!(LatencyHistogram::upper(index - 1) < micros, "{micros}");
            }
        }
    }

    #[test]
    fn percentiles_of_a_known_spread() {
        let histogram = LatencyHistogram::default();
        assert_eq!(histogram.percentiles(), LatencyPercentiles::default());
        for ms in 1..=100 {
            histogram.record(Duration::from_millis(ms));
        }
        let p = histogram.percentiles();
        assert_eq!(p.count, 100);
        let near = |value: Option<Duration>, ms: u64| {
            let value = value.unwrap().as_secs_f64() * 1000.0;
            #[expect(clippy::cast_precision_loss, reason = "test figures")]
            let ms = ms as f64;
            assert!(value >= ms && value <= ms * 1.125, "{value} vs {ms}");
        };
        near(p.p50, 50);
        near(p.p95, 95);
        near(p.p99, 99);
    }
}
