//! The cap on shared memory a pool holds at once: every mapping and every writable buffer
//! takes a [`Lease`] of its length, returned when it is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Error, Result};

/// The default cap on shared memory held by one pool: 4 GiB.
pub const DEFAULT_SHM_CAP: usize = 4 * 1024 * 1024 * 1024;

/// How much shared memory a pool may hold, and how much it holds now. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cap: usize,
    used: AtomicUsize,
}

impl Budget {
    /// A budget of `cap` bytes.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                cap,
                used: AtomicUsize::new(0),
            }),
        }
    }

    /// Bytes held now.
    pub(crate) fn used(&self) -> usize {
        self.inner.used.load(Ordering::Relaxed)
    }

    /// Takes `len` bytes of the budget.
    ///
    /// # Errors
    ///
    /// [`Error::SharedMemoryCap`] when the pool would hold more than its cap.
    pub(crate) fn reserve(&self, len: usize) -> Result<Lease> {
        let cap = self.inner.cap;
        self.inner
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(len).filter(|total| *total <= cap)
            })
            .map_err(|in_use| Error::SharedMemoryCap {
                requested: len,
                in_use,
                cap,
            })?;
        Ok(Lease {
            inner: Arc::clone(&self.inner),
            len,
        })
    }
}

/// A part of a [`Budget`], given back on drop.
#[derive(Debug)]
pub(crate) struct Lease {
    inner: Arc<Inner>,
    len: usize,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.inner.used.fetch_sub(self.len, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_over_the_cap_is_refused_and_a_dropped_one_comes_back() {
        let budget = Budget::new(100);
        let first = budget.reserve(60).unwrap();
        let err = budget.reserve(50).unwrap_err();
        assert!(
            matches!(
                err,
                Error::SharedMemoryCap {
                    requested: 50,
                    in_use: 60,
                    cap: 100
                }
            ),
            "{err}"
        );
        drop(first);
        assert_eq!(budget.used(), 0);
        let _second = budget.reserve(100).unwrap();
        assert_eq!(budget.used(), 100);
    }
}
