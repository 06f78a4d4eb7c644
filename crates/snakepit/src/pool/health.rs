//! The health of each worker slot: recent crashes, the restart backoff they earn, and taint.
//!
//! A pool has `size` slots; each live worker fills one. When a worker crashes, its slot's
//! crash history decides when the replacement starts: the first crash in the window restarts
//! after the base backoff, each further one doubles it, and `taint_after` crashes in the
//! window taint the slot for `taint_duration`, during which the pool runs short and reports
//! itself degraded.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::config::HealthConfig;
use crate::worker::WorkerId;

/// When a crashed slot's replacement may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Restart {
    /// How long to wait first.
    pub(super) after: Duration,
    /// Whether the slot is tainted (the wait is the taint).
    pub(super) tainted: bool,
}

#[derive(Debug, Default)]
struct Slot {
    crashes: VecDeque<Instant>,
    tainted_until: Option<Instant>,
}

/// Which worker fills which slot, and each slot's crash history.
#[derive(Debug)]
pub(super) struct Slots {
    config: HealthConfig,
    slots: Vec<Slot>,
    by_worker: HashMap<WorkerId, usize>,
    /// Slots whose next worker is starting (a replacement or a recycle).
    starting: HashSet<usize>,
}

impl Slots {
    pub(super) fn new(size: usize, config: HealthConfig) -> Self {
        Self {
            config,
            slots: (0..size).map(|_| Slot::default()).collect(),
            by_worker: HashMap::new(),
            starting: HashSet::new(),
        }
    }

    /// Puts `worker` in slot `slot`.
    pub(super) fn assign(&mut self, worker: WorkerId, slot: usize) {
        self.by_worker.insert(worker, slot);
    }

    /// Takes `worker` out of its slot; returns the slot.
    pub(super) fn release(&mut self, worker: WorkerId) -> Option<usize> {
        self.by_worker.remove(&worker)
    }

    /// The slot `worker` fills.
    pub(super) fn slot_of(&self, worker: WorkerId) -> Option<usize> {
        self.by_worker.get(&worker).copied()
    }

    /// Records a crash of `slot`'s worker at `now` and says when to restart it.
    pub(super) fn crashed(&mut self, slot: usize, now: Instant) -> Restart {
        let config = self.config;
        let Some(state) = self.slots.get_mut(slot) else {
            return Restart {
                after: config.restart_backoff,
                tainted: false,
            };
        };
        while state
            .crashes
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) > config.crash_window)
        {
            state.crashes.pop_front();
        }
        state.crashes.push_back(now);
        let recent = u32::try_from(state.crashes.len()).unwrap_or(u32::MAX);
        if recent >= config.taint_after.max(1) {
            state.crashes.clear();
            state.tainted_until = Some(now + config.taint_duration);
            return Restart {
                after: config.taint_duration,
                tainted: true,
            };
        }
        let doublings = recent.saturating_sub(1).min(20);
        let after = config
            .restart_backoff
            .saturating_mul(1 << doublings)
            .min(config.restart_backoff_max);
        Restart {
            after,
            tainted: false,
        }
    }

    /// How many slots are tainted at `now`.
    pub(super) fn tainted(&self, now: Instant) -> usize {
        self.slots
            .iter()
            .filter(|slot| slot.tainted_until.is_some_and(|until| until > now))
            .count()
    }

    /// Whether a worker fills `slot`.
    pub(super) fn is_filled(&self, slot: usize) -> bool {
        self.by_worker.values().any(|taken| *taken == slot)
    }

    /// Records that a worker for `slot` is starting; `false` when one already is.
    pub(super) fn begin_start(&mut self, slot: usize) -> bool {
        self.starting.insert(slot)
    }

    /// Records that the start for `slot` is over (ready, failed or abandoned).
    pub(super) fn end_start(&mut self, slot: usize) {
        self.starting.remove(&slot);
    }

    /// Whether a worker for `slot` is starting.
    pub(super) fn is_starting(&self, slot: usize) -> bool {
        self.starting.contains(&slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots() -> Slots {
        Slots::new(
            2,
            HealthConfig {
                restart_backoff: Duration::from_millis(100),
                restart_backoff_max: Duration::from_secs(1),
                crash_window: Duration::from_secs(60),
                taint_after: 4,
                taint_duration: Duration::from_secs(30),
                ..HealthConfig::default()
            },
        )
    }

    #[test]
    fn crashes_back_off_exponentially_then_taint_the_slot() {
        let mut slots = slots();
        let now = Instant::now();
        let delays: Vec<Duration> = (0..3).map(|_| slots.crashed(0, now).after).collect();
        assert_eq!(delays, [100, 200, 400].map(Duration::from_millis));
        assert_eq!(slots.tainted(now), 0);
        let fourth = slots.crashed(0, now);
        assert!(fourth.tainted);
        assert_eq!(fourth.after, Duration::from_secs(30));
        assert_eq!(slots.tainted(now), 1);
        assert_eq!(slots.tainted(now + Duration::from_secs(31)), 0);
        // The other slot is unaffected.
        assert_eq!(slots.crashed(1, now).after, Duration::from_millis(100));
    }

    #[test]
    fn old_crashes_leave_the_window() {
        let mut slots = slots();
        let start = Instant::now();
        for _ in 0..3 {
            slots.crashed(0, start);
        }
        let later = start + Duration::from_secs(61);
        assert_eq!(slots.crashed(0, later).after, Duration::from_millis(100));
    }

    #[test]
    fn slots_track_their_workers() {
        let mut slots = slots();
        let worker = WorkerId::next();
        slots.assign(worker, 1);
        assert_eq!(slots.slot_of(worker), Some(1));
        assert!(slots.is_filled(1));
        assert!(!slots.is_filled(0));
        assert_eq!(slots.release(worker), Some(1));
        assert_eq!(slots.slot_of(worker), None);
    }
}
