//! The gate for events workers send (`event` frames): names must match the allow-list
//! pattern, and only so many distinct names are let through, so a worker cannot make the
//! host build unbounded label sets. What is dropped is counted.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// How many distinct event names a pool's workers may use; events with further names are
/// dropped and counted.
pub const MAX_WORKER_EVENT_NAMES: usize = 64;
/// The longest event name accepted.
const MAX_NAME_LEN: usize = 64;

/// Counts of the events workers sent, as [`Pool::worker_event_stats`](crate::Pool::worker_event_stats)
/// reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct WorkerEventStats {
    /// Events let through.
    pub accepted: u64,
    /// Events dropped: a name outside the pattern, or one name too many.
    pub dropped: u64,
    /// Distinct names seen.
    pub names: usize,
}

/// Checks worker event names and counts what it lets through.
#[derive(Debug, Default)]
pub(crate) struct WorkerEventGate {
    names: Mutex<HashSet<Arc<str>>>,
    accepted: AtomicU64,
    dropped: AtomicU64,
}

/// Whether `name` fits the pattern `[a-z][a-z0-9_]*(\.[a-z0-9_]+)*`, at most 64 bytes.
pub(crate) fn valid_name(name: &str) -> bool {
    let starts_with_letter = name.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
    starts_with_letter
        && name.len() <= MAX_NAME_LEN
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

impl WorkerEventGate {
    /// The interned name when the event may pass; `None` (and counted) when it is dropped.
    pub(crate) fn admit(&self, name: &str) -> Option<Arc<str>> {
        if !valid_name(name) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let mut names = self
            .names
            .lock()
            .expect("the name set lock is never poisoned");
        let admitted = match names.get(name) {
            Some(known) => Some(Arc::clone(known)),
            None if names.len() < MAX_WORKER_EVENT_NAMES => {
                let interned: Arc<str> = Arc::from(name);
                names.insert(Arc::clone(&interned));
                Some(interned)
            }
            None => None,
        };
        drop(names);
        let counter = if admitted.is_some() {
            &self.accepted
        } else {
            &self.dropped
        };
        counter.fetch_add(1, Ordering::Relaxed);
        admitted
    }

    /// The counts so far.
    pub(crate) fn stats(&self) -> WorkerEventStats {
        WorkerEventStats {
            accepted: self.accepted.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            names: self
                .names
                .lock()
                .expect("the name set lock is never poisoned")
                .len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_pattern() {
        for good in ["tool.execution", "a", "model.load_ms", "x1.y_2"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "",
            "Tool",
            "a..b",
            ".a",
            "a.",
            "a b",
            "1a",
            "a-b",
            &"a".repeat(65),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn distinct_names_are_capped_and_the_rest_counted() {
        let gate = WorkerEventGate::default();
        for n in 0..MAX_WORKER_EVENT_NAMES + 10 {
            gate.admit(&format!("flood.n{n}"));
        }
        assert!(
            gate.admit("flood.n0").is_some(),
            "a known name still passes"
        );
        assert!(gate.admit("Bad Name").is_none());
        let stats = gate.stats();
        assert_eq!(stats.names, MAX_WORKER_EVENT_NAMES);
        assert_eq!(stats.accepted, MAX_WORKER_EVENT_NAMES as u64 + 1);
        assert_eq!(stats.dropped, 11);
    }
}
