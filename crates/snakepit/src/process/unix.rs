//! Unix specifics: the code that runs in the child between `fork` and `exec`, and signals to
//! process groups.
//!
//! In the child, before `exec`: the parent-death signal is set to `SIGKILL` (Linux), the
//! child checks that its parent is still the host (the host may have died before the signal
//! was armed), and the link's ends and the fd channel are moved to their numbers without
//! `FD_CLOEXEC`. Everything done there is async-signal-safe: no allocation, no locks.

use std::io;
use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The descriptor number a native worker finds its fd channel on (`SNAKEPIT_SHM_FD`).
pub(crate) const SHM_FD: RawFd = 4;

/// The descriptors a child gets before `exec`: (the host's descriptor, its number in the
/// child). A fixed array, so the child can walk it without allocating.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Placements {
    placed: [Option<(RawFd, RawFd)>; 4],
}

impl Placements {
    /// Adds descriptor `fd`, to become number `target` in the child.
    pub(super) fn push(&mut self, fd: RawFd, target: RawFd) {
        let free = self.placed.iter_mut().find(|slot| slot.is_none());
        debug_assert!(free.is_some(), "a child gets at most four descriptors");
        if let Some(slot) = free {
            *slot = Some((fd, target));
        }
    }
}

/// Prepares the child between `fork` and `exec`: `placements` are its link's ends and its
/// fd channel, each put on its number without `FD_CLOEXEC`; `host_pid` is the host's
/// process id.
#[expect(
    unsafe_code,
    reason = "pre_exec is the only way to arm the parent-death signal and place the link fd; \
              the closure calls only async-signal-safe functions"
)]
pub(super) fn prepare_child(
    command: &mut tokio::process::Command,
    placements: Placements,
    host_pid: u32,
) {
    let host_pid = libc::pid_t::try_from(host_pid).unwrap_or(libc::pid_t::MAX);
    // SAFETY: the closure runs in the forked child and calls only async-signal-safe libc
    // functions (prctl, getppid, dup2, fcntl); it allocates nothing and takes no locks.
    unsafe {
        command.pre_exec(move || {
            #[cfg(target_os = "linux")]
            {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::getppid() != host_pid {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
            }
            #[cfg(not(target_os = "linux"))]
            let _ = host_pid;
            // Every descriptor first moves above all the target numbers, so placing one
            // cannot overwrite another; the final dup2 onto its number clears close-on-exec
            // (the moved copies keep it and go at exec).
            let highest = placements
                .placed
                .iter()
                .flatten()
                .map(|&(_, target)| target)
                .max()
                .unwrap_or(0);
            let mut moved = [None; 4];
            for (slot, placed) in moved.iter_mut().zip(placements.placed) {
                if let Some((fd, target)) = placed {
                    let copy = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, highest + 1);
                    if copy < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    *slot = Some((copy, target));
                }
            }
            for (copy, target) in moved.into_iter().flatten() {
                if libc::dup2(copy, target) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Sends `signal` to every process in the group led by `pgid`. A group that no longer exists
/// is not an error.
pub(crate) fn signal_group(pgid: u32, signal: Signal) -> io::Result<()> {
    let Ok(raw) = i32::try_from(pgid) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    if raw <= 1 {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    match killpg(Pid::from_raw(raw), signal) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(errno) => Err(io::Error::from(errno)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signalling_pid_one_or_zero_is_refused() {
        assert!(signal_group(1, Signal::SIGTERM).is_err());
        assert!(signal_group(0, Signal::SIGTERM).is_err());
    }
}
