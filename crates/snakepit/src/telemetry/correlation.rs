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
/// without a system call or an allocation.
#[derive(Clone)]
pub struct CorrelationId(Repr);

/// A generated id is kept inline (no allocation on a call's path); a given one is shared.
#[derive(Clone)]
enum Repr {
    Inline { text: [u8; INLINE], len: u8 },
    Shared(Arc<str>),
}

/// The longest generated id: 16 digits of prefix, `-`, 16 digits of counter.
const INLINE: usize = 33;

impl CorrelationId {
    /// A fresh id.
    pub fn generate() -> Self {
        static PREFIX: OnceLock<u64> = OnceLock::new();
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let prefix = *PREFIX.get_or_init(|| RandomState::new().hash_one(std::process::id()));
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // `{prefix:016x}-{n:x}`, written by hand: `format!` and the allocation cost more
        // than the rest of a call's telemetry.
        let mut text = [0_u8; INLINE];
        hex(prefix, &mut text[..16]);
        text[16] = b'-';
        let digits = (64 - (n | 1).leading_zeros()).div_ceil(4) as usize;
        hex(n, &mut text[17..17 + digits]);
        let len = u8::try_from(17 + digits).expect("at most 33 bytes");
        Self(Repr::Inline { text, len })
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { text, len } => {
                std::str::from_utf8(&text[..usize::from(*len)]).expect("hex digits are ASCII")
            }
            Repr::Shared(text) => text,
        }
    }
}

impl fmt::Debug for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CorrelationId")
            .field(&self.as_str())
            .finish()
    }
}

impl PartialEq for CorrelationId {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for CorrelationId {}

impl std::hash::Hash for CorrelationId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for CorrelationId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for CorrelationId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
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
        f.write_str(self.as_str())
    }
}

impl From<&str> for CorrelationId {
    fn from(id: &str) -> Self {
        Self(Repr::Shared(Arc::from(id)))
    }
}

impl From<String> for CorrelationId {
    fn from(id: String) -> Self {
        Self(Repr::Shared(Arc::from(id)))
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
        let text = first.as_str().to_owned();
        assert_eq!(CorrelationId::from(text.as_str()), first, "equal by text");
        assert_eq!(format!("{first:?}"), format!("CorrelationId({text:?})"));
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
