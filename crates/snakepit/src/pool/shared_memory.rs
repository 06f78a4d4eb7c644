//! Shared memory a caller fills in place: [`Pool::alloc_shared`].

use super::handle::Pool;
use crate::error::Result;
use crate::shm::SharedBufferMut;

impl Pool {
    /// A zeroed writable buffer of `len` bytes in shared memory (a sealed memfd) that the
    /// caller fills in place; [`SharedBufferMut::freeze`] turns it into a
    /// [`SharedBuffer`](crate::SharedBuffer) that goes to a worker without a copy. It counts
    /// against the pool's shared-memory cap until it is dropped.
    ///
    /// # Errors
    ///
    /// [`Error::SharedMemoryCap`](crate::Error::SharedMemoryCap) over the cap,
    /// [`Error::Io`](crate::Error::Io) when the memfd cannot be made.
    pub fn alloc_shared(&self, len: usize) -> Result<SharedBufferMut> {
        SharedBufferMut::new(len, &self.shared.spec.shm)
    }

    /// Bytes of shared memory the pool holds now (mapped buffers received from workers,
    /// buffers allocated with [`Pool::alloc_shared`] or being sent).
    pub fn shared_memory_in_use(&self) -> usize {
        self.shared.spec.shm.used()
    }
}
