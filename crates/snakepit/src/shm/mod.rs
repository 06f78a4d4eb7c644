//! Shared memory for large buffers: sealed memfds passed to and from workers on a second
//! socketpair, the fd channel.
//!
//! [`SharedBuffer`] is a read-only mapping of a sealed memfd, [`SharedBufferMut`] a writable
//! one the host fills in place (from [`Pool::alloc_shared`](crate::Pool::alloc_shared)). The
//! fd channel (`channel.rs`) carries the descriptors; the budget (`budget.rs`) caps how much
//! shared memory a pool holds; releases (`release.rs`) give a worker back the memfds it
//! recycles. The host maps only memfds sealed against shrinking and
//! growing, whose size is the declared length (see `docs/design/shared-memory.md`).

mod budget;
mod channel;
mod region;
mod release;

pub(crate) use budget::Budget;
pub use budget::DEFAULT_SHM_CAP;
pub(crate) use channel::{FdChannel, pair};
pub use region::{SharedBuffer, SharedBufferMut};
pub(crate) use release::{Release, Releases};

/// The default size from which a buffer travels in shared memory instead of inline in the
/// frame: 64 KiB.
pub const DEFAULT_SHM_THRESHOLD: usize = 64 * 1024;

#[cfg(test)]
mod tests;
