//! A fast hasher for the small maps keyed by ids on the hot path (pending calls by call id,
//! workers by worker id). Ids are made by the host, not by untrusted input, so the
//! flood-resistance of the default SipHash buys nothing there and costs on every call.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map keyed by host-made ids.
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Hashes integers by one multiplication (Fibonacci hashing); other bytes fold in the same
/// way.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

const SPREAD: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(u64::from(*byte));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(SPREAD);
    }

    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_spread_over_the_high_bits() {
        let hashes: std::collections::HashSet<u64> = (0..1000u64)
            .map(|id| {
                let mut hasher = IdHasher::default();
                hasher.write_u64(id);
                hasher.finish() >> 57
            })
            .collect();
        assert!(hashes.len() > 64, "only {} buckets used", hashes.len());
        let mut map: IdMap<u64, u64> = IdMap::default();
        for id in 0..100 {
            map.insert(id, id * 2);
        }
        assert_eq!(map.get(&42), Some(&84));
    }
}
