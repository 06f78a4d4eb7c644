//! The reaper: a small process that outlives the host by a moment and kills every worker
//! process group still registered when the host dies, however it dies.
//!
//! Workers die with the host through the parent-death signal, but the processes a tool
//! started (a `subprocess`, a `multiprocessing` pool) do not: the signal reaches the worker
//! alone. The reaper closes that gap. It is forked (without `exec`) from the spawner thread
//! before the first worker, leaves the host's process group, closes every descriptor but the
//! read end of a pipe, and waits on that pipe. The host writes `add`/`remove` records for each
//! worker group; when the host is gone the pipe reaches end-of-file and the reaper sends
//! SIGKILL to every group still registered, then exits. The child runs only
//! async-signal-safe system calls: no allocation, no locks.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::sync::Mutex;

/// The most worker groups the reaper tracks at once; beyond that, registration is refused
/// and the worker relies on the parent-death signal alone.
const SLOTS: usize = 4096;
const ADD: u32 = 1;
const REMOVE: u32 = 0;

/// The host's end of the reaper's pipe.
#[derive(Debug)]
pub(crate) struct Reaper {
    pipe: Mutex<File>,
}

impl Reaper {
    /// Forks the reaper. Call it from the spawner thread.
    ///
    /// # Errors
    ///
    /// The system error when the pipe or the fork fails.
    pub(crate) fn start() -> io::Result<Self> {
        let (read_end, write_end) = cloexec_pipe()?;
        fork_reaper(read_end)?;
        Ok(Self {
            pipe: Mutex::new(File::from(write_end)),
        })
    }

    /// Tells the reaper to kill group `pgid` if the host dies.
    pub(crate) fn register(&self, pgid: u32) {
        self.send(ADD, pgid);
    }

    /// Tells the reaper group `pgid` is gone.
    pub(crate) fn unregister(&self, pgid: u32) {
        self.send(REMOVE, pgid);
    }

    fn send(&self, op: u32, pgid: u32) {
        let mut record = [0u8; 8];
        record[..4].copy_from_slice(&op.to_le_bytes());
        record[4..].copy_from_slice(&pgid.to_le_bytes());
        let mut pipe = self
            .pipe
            .lock()
            .expect("reaper pipe lock is never poisoned");
        // Eight bytes are below PIPE_BUF, so the write is atomic.
        if let Err(err) = pipe.write_all(&record) {
            tracing::warn!(error = %err, pgid, "the reaper is gone; worker groups rely on the parent-death signal");
        }
    }
}

/// A pipe whose ends are closed on `exec`, so workers never inherit them.
#[cfg(target_os = "linux")]
fn cloexec_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)
}

/// A pipe whose ends are closed on `exec`. Without `pipe2` the flag is set right after
/// creation; the reaper is started on the spawner thread before any worker, so no spawn of
/// ours can fork in between.
#[cfg(not(target_os = "linux"))]
fn cloexec_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    let (read_end, write_end) = nix::unistd::pipe().map_err(io::Error::from)?;
    for end in [&read_end, &write_end] {
        fcntl(end, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(io::Error::from)?;
    }
    Ok((read_end, write_end))
}

#[expect(
    unsafe_code,
    reason = "fork without exec in a multi-threaded process; the child calls only \
              async-signal-safe system calls and never returns"
)]
fn fork_reaper(read_end: OwnedFd) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let read_fd = read_end.as_raw_fd();
    // SAFETY: in the child only async-signal-safe calls run (setpgid, dup2, close, read, kill,
    // _exit), on stack memory; the child never returns into Rust code of the parent.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => unsafe { reaper_main(read_fd) },
        _ => {
            drop(read_end);
            Ok(())
        }
    }
}

/// The reaper's whole life. Never returns.
#[expect(unsafe_code, reason = "runs in a forked child: raw system calls only")]
unsafe fn reaper_main(read_fd: libc::c_int) -> ! {
    const PIPE_FD: libc::c_int = 3;
    // SAFETY: plain system calls on descriptors this process owns; see `fork_reaper`.
    unsafe {
        libc::setpgid(0, 0);
        if read_fd != PIPE_FD {
            libc::dup2(read_fd, PIPE_FD);
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            // The host's stdio may be pipes someone waits on; the reaper must not hold them.
            libc::dup2(null, 0);
            libc::dup2(null, 1);
            libc::dup2(null, 2);
        }
        close_from(PIPE_FD + 1);
        let mut groups = [0u32; SLOTS];
        let mut buffer = [0u8; 512];
        let mut filled = 0usize;
        loop {
            let read = libc::read(
                PIPE_FD,
                buffer.as_mut_ptr().add(filled).cast(),
                buffer.len() - filled,
            );
            // Reading errno is async-signal-safe; `Errno::last` works on every Unix.
            if read < 0 && nix::errno::Errno::last() == nix::errno::Errno::EINTR {
                continue;
            }
            if read <= 0 {
                break;
            }
            filled += read as usize;
            let whole = filled - filled % 8;
            let mut at = 0;
            while at < whole {
                let op = u32::from_le_bytes([
                    buffer[at],
                    buffer[at + 1],
                    buffer[at + 2],
                    buffer[at + 3],
                ]);
                let pgid = u32::from_le_bytes([
                    buffer[at + 4],
                    buffer[at + 5],
                    buffer[at + 6],
                    buffer[at + 7],
                ]);
                apply(&mut groups, op, pgid);
                at += 8;
            }
            let rest = filled - whole;
            for index in 0..rest {
                buffer[index] = buffer[whole + index];
            }
            filled = rest;
        }
        for pgid in groups {
            if pgid > 1 {
                libc::kill(-(pgid as libc::pid_t), libc::SIGKILL);
            }
        }
        libc::_exit(0)
    }
}

fn apply(groups: &mut [u32; SLOTS], op: u32, pgid: u32) {
    if op == ADD {
        if let Some(slot) = groups.iter_mut().find(|slot| **slot == 0) {
            *slot = pgid;
        }
    } else if let Some(slot) = groups.iter_mut().find(|slot| **slot == pgid) {
        *slot = 0;
    }
}

/// Closes every descriptor from `first` up: with one `close_range` call on Linux (falling
/// back to the loop on kernels without it), with a loop elsewhere.
#[expect(
    unsafe_code,
    reason = "closes inherited descriptors in the forked reaper"
)]
unsafe fn close_from(first: libc::c_int) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: close_range is an async-signal-safe system call.
        let done = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                first as libc::c_uint,
                libc::c_uint::MAX,
                0u32,
            )
        };
        if done == 0 {
            return;
        }
    }
    // SAFETY: sysconf and close are async-signal-safe.
    unsafe {
        let limit = libc::sysconf(libc::_SC_OPEN_MAX);
        let last = if limit > 0 {
            libc::c_int::try_from(limit)
                .unwrap_or(libc::c_int::MAX)
                .min(1 << 20)
        } else {
            65536
        };
        for fd in first..last {
            libc::close(fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_add_and_remove_groups() {
        let mut groups = [0u32; SLOTS];
        apply(&mut groups, ADD, 42);
        apply(&mut groups, ADD, 43);
        apply(&mut groups, REMOVE, 42);
        assert_eq!(
            groups.iter().filter(|slot| **slot != 0).collect::<Vec<_>>(),
            vec![&43]
        );
    }
}
