//! Holding a place on a worker, and the return path: the only place a worker goes back.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::handle::PoolShared;
use super::recycle;
use super::serial::SessionGate;
use crate::worker::Worker;

/// A place on a worker, taken for one call. Dropping it gives the place back.
#[derive(Debug)]
pub(super) struct Lease {
    shared: Arc<PoolShared>,
    worker: Worker,
    /// How many places it holds (a heartbeat holds all of an idle worker's).
    places: usize,
    /// Whether a call ran to its answer (counted for recycling by request count).
    served: bool,
    /// The gate of a serial session, let go with the place.
    gate: Option<SessionGate>,
}

impl Lease {
    pub(super) fn new(shared: Arc<PoolShared>, worker: Worker) -> Self {
        Self::with_places(shared, worker, 1)
    }

    pub(super) fn with_places(shared: Arc<PoolShared>, worker: Worker, places: usize) -> Self {
        Self {
            shared,
            worker,
            places,
            served: false,
            gate: None,
        }
    }

    pub(super) fn worker(&self) -> &Worker {
        &self.worker
    }

    /// Holds the gate of the call's serial session until the place goes back.
    pub(super) fn hold_gate(&mut self, gate: Option<SessionGate>) {
        self.gate = gate;
    }

    /// The call got its answer: gives the place back now. Returns whether it went
    /// straight to a waiting call.
    pub(super) fn served(mut self) -> bool {
        self.served = true;
        self.give_back() > 0
    }

    /// Gives the places back (once; later calls do nothing). A served call may make the
    /// worker due for recycling; a retiring worker that is now idle is stopped. Returns how
    /// many places went straight to waiting calls.
    fn give_back(&mut self) -> usize {
        let places = std::mem::take(&mut self.places);
        if places == 0 {
            return 0;
        }
        if self.served {
            recycle::count_call(&self.shared, &self.worker);
        }
        let released = self.shared.roster.release(self.worker.id(), places);
        if let Some(retired) = released.retired {
            recycle::stop_retired(&self.shared, retired);
        }
        released.handed_over
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.give_back();
    }
}

/// A place in the queue. Dropping it leaves the queue, and gives back a worker that was
/// handed over just as the wait was abandoned.
pub(super) struct QueueSlot {
    pub(super) shared: Arc<PoolShared>,
    pub(super) ticket: u64,
    pub(super) receiver: Option<oneshot::Receiver<Worker>>,
}

impl Drop for QueueSlot {
    fn drop(&mut self) {
        if let Some(mut receiver) = self.receiver.take() {
            if !self.shared.roster.leave(self.ticket) {
                if let Ok(worker) = receiver.try_recv() {
                    drop(Lease::new(Arc::clone(&self.shared), worker));
                }
            }
        }
    }
}
