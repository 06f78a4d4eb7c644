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
        // `{prefix:016x}-{n:x}`, written by hand: `format!` costs a call its largest share
        // of the host's instructions spent on telemetry.
        let mut text = [0_u8; 33];
        hex(prefix, &mut text[..16]);
        text[16] = b'-';
        let digits = (64 - (n | 1).leading_zeros()).div_ceil(4) as usize;
        hex(n, &mut text[17..17 + digits]);
        let text = std::str::from_utf8(&text[..17 + digits]).expect("hex digits are ASCII");
        Self(Arc::from(text))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Writes the low `out.len()` hex digits of `value` into `out`, most significant first.
fn hex(mut value: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in out.iter_mut().rev() {
        *byte = DIGITS[(value & 0xf) as usize];
        value >>= 4;
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

    #[test]
    fn hand_written_hex_matches_format() {
        for value in [0_u64, 1, 0xf, 0x10, 0x1a, 0xdead_beef, u64::MAX] {
            let digits = (64 - (value | 1).leading_zeros()).div_ceil(4) as usize;
            let mut out = vec![0_u8; digits];
            hex(value, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), format!("{value:x}"));
            let mut wide = [0_u8; 16];
            hex(value, &mut wide);
            assert_eq!(std::str::from_utf8(&wide).unwrap(), format!("{value:016x}"));
        }
    }
}
