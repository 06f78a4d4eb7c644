//! Releases: the memfds a worker recycles, given back to it once the host has dropped them.
//!
//! A worker that reuses its result buffers names each memfd with an `id`
//! (`{"shm": "memfd", "len": N, "id": 7}`). The mapping the host makes of it holds a
//! [`Release`]; when the last view of the mapping is dropped, the id goes into the worker's
//! [`Releases`], and the next frame the host writes to that worker is preceded by a
//! `release` frame naming it (`docs/PROTOCOL.md`, "Shared memory"). Until then the worker
//! keeps the memfd aside and never writes it, so the host never sees its buffer change.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// What wakes the worker's writer when a first id waits, so an idle worker hears of its
/// releases without waiting for its next call.
type Wake = Box<dyn Fn() + Send + Sync>;

/// The ids waiting to be released to one worker.
#[derive(Default)]
pub(crate) struct Releases {
    ids: Mutex<Vec<u64>>,
    pending: AtomicBool,
    wake: OnceLock<Wake>,
}

impl std::fmt::Debug for Releases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Releases")
            .field("pending", &self.is_pending())
            .finish_non_exhaustive()
    }
}

impl Releases {
    /// Calls `wake` whenever an id arrives in an empty queue (once per batch).
    pub(crate) fn on_first(&self, wake: impl Fn() + Send + Sync + 'static) {
        // Set once, when the worker starts; a second call keeps the first.
        let _ = self.wake.set(Box::new(wake));
    }

    /// Whether ids wait: one relaxed load, cheap enough for every frame written.
    pub(crate) fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Takes every waiting id.
    pub(crate) fn take(&self) -> Vec<u64> {
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        self.pending.store(false, Ordering::Release);
        std::mem::take(&mut *ids)
    }

    fn push(&self, id: u64) {
        let first = {
            let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
            ids.push(id);
            self.pending.store(true, Ordering::Release);
            ids.len() == 1
        };
        if first && let Some(wake) = self.wake.get() {
            wake();
        }
    }
}

/// Held by the host's mapping of a recycled memfd: dropping it queues the id for release.
#[derive(Debug)]
pub(crate) struct Release {
    queue: Arc<Releases>,
    id: u64,
}

impl Release {
    /// The release of memfd `id` into `queue`.
    pub(crate) fn new(queue: Arc<Releases>, id: u64) -> Self {
        Self { queue, id }
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        self.queue.push(self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[test]
    fn dropped_releases_queue_their_ids_and_wake_once_per_batch() {
        let queue = Arc::new(Releases::default());
        let wakes = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&wakes);
        queue.on_first(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        assert!(!queue.is_pending());
        drop(Release::new(Arc::clone(&queue), 7));
        drop(Release::new(Arc::clone(&queue), 9));
        assert!(queue.is_pending());
        assert_eq!(wakes.load(Ordering::SeqCst), 1);
        assert_eq!(queue.take(), [7, 9]);
        assert!(!queue.is_pending());
        drop(Release::new(Arc::clone(&queue), 3));
        assert_eq!(wakes.load(Ordering::SeqCst), 2);
        assert_eq!(queue.take(), [3]);
    }
}
