//! [`CorrelationId`]: the id that ties together every event, span and log line of one call,
//! on the host and in the worker.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// The correlation id of one call: given by the caller
/// ([`Call::correlation_id`](crate::Call::correlation_id)) or generated. Cheap to clone.
///
/// A generated id is this process's random prefix and a counter, such as
/// `5c1f0e9a3b7d2c44-1a`: unique across processes with overwhelming likelihood, and made
/// without a system call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CorrelationId(Arc<str>);

impl CorrelationId {
    /// A fresh id.
    pub fn generate() -> Self {
        static PREFIX: OnceLock<u64> = OnceLock::new();
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let prefix = *PREFIX.get_or_init(|| RandomState::new().hash_one(std::process::id()));
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Self(Arc::from(format!("{prefix:016x}-{n:x}")))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for CorrelationId {
    fn from(id: &str) -> Self {
        Self(Arc::from(id))
    }
}

impl From<String> for CorrelationId {
    fn from(id: String) -> Self {
        Self(Arc::from(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_differ_and_given_ones_are_kept() {
        let first = CorrelationId::generate();
        let second = CorrelationId::generate();
        assert_ne!(first, second);
        let prefix = |id: &CorrelationId| id.as_str().split('-').next().map(str::to_owned);
        assert_eq!(prefix(&first), prefix(&second), "one prefix per process");
        assert_eq!(CorrelationId::from("req-7").as_str(), "req-7");
    }
}
