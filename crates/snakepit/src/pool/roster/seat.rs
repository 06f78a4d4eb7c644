//! `Seat`: what the roster needs of a worker, so its unit tests can use fakes.

use crate::worker::{Worker, WorkerId};

/// What the roster needs of a worker; implemented by [`Worker`] and by the fakes of the
/// roster's unit tests.
pub(in crate::pool) trait Seat: Clone {
    /// The worker's id.
    fn id(&self) -> WorkerId;
    /// How many calls it takes at once.
    fn capacity(&self) -> usize;
    /// Whether it can run calls.
    fn is_alive(&self) -> bool;
    /// Whether it is retiring.
    fn is_retiring(&self) -> bool;
    /// Marks it retiring.
    fn retire(&self);
}

impl Seat for Worker {
    fn id(&self) -> WorkerId {
        Worker::id(self)
    }
    fn capacity(&self) -> usize {
        Worker::capacity(self)
    }
    fn is_alive(&self) -> bool {
        Worker::is_alive(self)
    }
    fn is_retiring(&self) -> bool {
        Worker::is_retiring(self)
    }
    fn retire(&self) {
        Worker::retire(self);
    }
}
