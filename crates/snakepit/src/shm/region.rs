//! Buffers in shared memory: [`SharedBuffer`], a sealed memfd mapped read-only, and
//! [`SharedBufferMut`], a memfd the host fills in place before it freezes it.
//!
//! The one rule that keeps the host safe: it maps only memfds whose size is sealed
//! (`F_SEAL_SHRINK` and `F_SEAL_GROW`) and whose size is the length the frame declared, so
//! nothing another process does to the file later can make a read of the mapping fault.

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::ops::{Deref, DerefMut};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use bytes::Bytes;
use memmap2::{Mmap, MmapMut, MmapOptions};
use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::stat::{SFlag, fstat};

use super::budget::{Budget, Lease};
use super::release::Release;
use crate::error::{Error, Result};

/// The seals a received memfd must carry: its size cannot change.
const SIZE_SEALS: SealFlag = SealFlag::F_SEAL_SHRINK.union(SealFlag::F_SEAL_GROW);

/// A read-only buffer in shared memory: a sealed memfd, mapped. Cheap to clone; the mapping
/// and the descriptor are released when the last clone (and the last [`Bytes`] made by
/// [`SharedBuffer::bytes`]) is dropped.
#[derive(Clone)]
pub struct SharedBuffer {
    region: Arc<Region>,
}

struct Region {
    fd: OwnedFd,
    map: Mmap,
    _lease: Lease,
    /// For a memfd the worker recycles: tells it, once this region is dropped (after the
    /// mapping is gone), that it may write the memfd again.
    _release: Option<Release>,
}

impl fmt::Debug for SharedBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedBuffer")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl SharedBuffer {
    /// The buffer's length in bytes.
    pub fn len(&self) -> usize {
        self.region.map.len()
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer as [`Bytes`] that view the mapping (no copy).
    pub fn bytes(&self) -> Bytes {
        Bytes::from_owner(self.clone())
    }

    /// The memfd, to pass to a worker.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.region.fd.as_fd()
    }

    /// Copies `data` into a new sealed memfd (size and content sealed) and maps it.
    ///
    /// # Errors
    ///
    /// [`Error::SharedMemoryCap`] over the pool's cap, [`Error::Io`] when the memfd cannot be
    /// made.
    pub(crate) fn copy_from(data: &[u8], budget: &Budget) -> Result<Self> {
        let lease = budget.reserve(data.len())?;
        let fd = new_memfd()?;
        let mut file = File::from(fd);
        file.write_all(data)
            .map_err(io("could not fill a shared buffer"))?;
        let fd = OwnedFd::from(file);
        add_seals(
            &fd,
            SIZE_SEALS | SealFlag::F_SEAL_WRITE | SealFlag::F_SEAL_SEAL,
        )?;
        let map = map_read_only(&fd, data.len())?;
        Ok(Self::new(fd, map, lease, None))
    }

    /// Checks a memfd a worker sent and maps it read-only. `release`, for a memfd the
    /// worker recycles, goes with the mapping and tells the worker when it is dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] when the descriptor is not a memfd whose size is sealed at `len`
    /// bytes; [`Error::SharedMemoryCap`] over the pool's cap; [`Error::Io`] when the mapping
    /// fails.
    pub(crate) fn receive(
        fd: OwnedFd,
        len: usize,
        budget: &Budget,
        release: Option<Release>,
    ) -> Result<Self> {
        // Seals first: once the size is sealed, the size read next cannot change.
        let seals = fcntl(&fd, FcntlArg::F_GET_SEALS).map_err(|errno| {
            Error::Protocol(format!(
                "a shared buffer's descriptor is not a memfd (F_GET_SEALS: {errno})"
            ))
        })?;
        if !SealFlag::from_bits_truncate(seals).contains(SIZE_SEALS) {
            return Err(Error::Protocol(
                "a shared buffer's memfd is not sealed against shrinking and growing \
                 (F_SEAL_SHRINK | F_SEAL_GROW)"
                    .to_owned(),
            ));
        }
        let stat = fstat(&fd).map_err(|errno| {
            Error::Protocol(format!(
                "a shared buffer's memfd cannot be examined: {errno}"
            ))
        })?;
        if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            return Err(Error::Protocol(
                "a shared buffer's descriptor is not a regular memfd".to_owned(),
            ));
        }
        if u64::try_from(stat.st_size).ok() != u64::try_from(len).ok() {
            return Err(Error::Protocol(format!(
                "a shared buffer declared {len} bytes, but its memfd holds {}",
                stat.st_size
            )));
        }
        let lease = budget.reserve(len)?;
        let map = map_read_only(&fd, len)?;
        Ok(Self::new(fd, map, lease, release))
    }

    fn new(fd: OwnedFd, map: Mmap, lease: Lease, release: Option<Release>) -> Self {
        Self {
            region: Arc::new(Region {
                fd,
                map,
                _lease: lease,
                _release: release,
            }),
        }
    }
}

impl Deref for SharedBuffer {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.region.map
    }
}

impl AsRef<[u8]> for SharedBuffer {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

/// A writable buffer in shared memory, from [`Pool::alloc_shared`](crate::Pool::alloc_shared):
/// fill it in place, then [`freeze`](SharedBufferMut::freeze) it into a [`SharedBuffer`] that
/// goes to a worker without a copy.
pub struct SharedBufferMut {
    fd: OwnedFd,
    map: MmapMut,
    lease: Lease,
}

impl fmt::Debug for SharedBufferMut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedBufferMut")
            .field("len", &self.map.len())
            .finish_non_exhaustive()
    }
}

impl SharedBufferMut {
    /// A zeroed writable shared buffer of `len` bytes.
    ///
    /// # Errors
    ///
    /// [`Error::SharedMemoryCap`] over the pool's cap, [`Error::Io`] when the memfd cannot be
    /// made.
    pub(crate) fn new(len: usize, budget: &Budget) -> Result<Self> {
        let lease = budget.reserve(len)?;
        let fd = new_memfd()?;
        let file = File::from(fd);
        file.set_len(u64::try_from(len).unwrap_or(u64::MAX))
            .map_err(io("could not size a shared buffer"))?;
        let fd = OwnedFd::from(file);
        // The size is sealed now: nothing can shrink the file under the writable mapping.
        add_seals(&fd, SIZE_SEALS)?;
        #[expect(
            unsafe_code,
            reason = "mapping a file is unsafe because another process could change its size; \
                      this memfd is ours and its size is sealed"
        )]
        // SAFETY: the memfd was created above and its size is sealed, so the mapping stays
        // backed for its whole length.
        let map = unsafe { MmapOptions::new().len(len).populate().map_mut(&fd) }
            .map_err(io("could not map a shared buffer"))?;
        Ok(Self { fd, map, lease })
    }

    /// Seals the content too (no descriptor can write it any more; this mapping turns
    /// read-only) and returns the buffer to send.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the seals or the protection cannot be set.
    pub fn freeze(self) -> Result<SharedBuffer> {
        add_seals(
            &self.fd,
            SealFlag::F_SEAL_FUTURE_WRITE | SealFlag::F_SEAL_SEAL,
        )?;
        let map = self
            .map
            .make_read_only()
            .map_err(io("could not make a shared buffer read-only"))?;
        Ok(SharedBuffer::new(self.fd, map, self.lease, None))
    }
}

impl Deref for SharedBufferMut {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.map
    }
}

impl DerefMut for SharedBufferMut {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.map
    }
}

fn new_memfd() -> Result<OwnedFd> {
    memfd_create(
        c"snakepit",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )
    .map_err(|errno| Error::Io {
        context: "could not create a memfd".to_owned(),
        source: errno.into(),
    })
}

fn add_seals(fd: &OwnedFd, seals: SealFlag) -> Result<()> {
    fcntl(fd, FcntlArg::F_ADD_SEALS(seals))
        .map(drop)
        .map_err(|errno| Error::Io {
            context: "could not seal a shared buffer".to_owned(),
            source: errno.into(),
        })
}

/// Maps `fd` read-only, lazily: pages are mapped as they are read (a read fault maps its
/// neighbours too), which measured faster than `MAP_POPULATE` for a buffer read once and
/// costs nothing for the parts never read.
fn map_read_only(fd: &OwnedFd, len: usize) -> Result<Mmap> {
    #[expect(
        unsafe_code,
        reason = "mapping a file is unsafe because another process could shrink it; callers \
                  check that its size is sealed at `len` first"
    )]
    // SAFETY: every caller has checked (or set) F_SEAL_SHRINK | F_SEAL_GROW and the size, so
    // the mapping stays backed for its whole length whatever any process does to the file.
    let map = unsafe { MmapOptions::new().len(len).map(fd) };
    map.map_err(io("could not map a shared buffer"))
}

fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io {
        context: context.to_owned(),
        source,
    }
}
