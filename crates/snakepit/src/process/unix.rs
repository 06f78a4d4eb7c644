//! Unix specifics: the code that runs in the child between `fork` and `exec`, and signals to
//! process groups.
//!
//! In the child, before `exec`: the parent-death signal is set to `SIGKILL` (Linux), the
//! child checks that its parent is still the host (the host may have died before the signal
//! was armed), and the link end is moved to [`LINK_FD`] without `FD_CLOEXEC`. Everything done
//! there is async-signal-safe: no allocation, no locks.

use std::io;
use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The descriptor number a native worker finds its link on.
pub(super) const LINK_FD: RawFd = 3;
/// The descriptor number a native worker finds its fd channel on (`SNAKEPIT_SHM_FD`).
pub(super) const SHM_FD: RawFd = 4;

/// Prepares the child between `fork` and `exec`. `link_fd` is the child's end of the link,
/// when the worker has a native link, `shm_fd` the child's end of its fd channel;
/// `host_pid` is the host's process id.
#[expect(
    unsafe_code,
    reason = "pre_exec is the only way to arm the parent-death signal and place the link fd; \
              the closure calls only async-signal-safe functions"
)]
pub(super) fn prepare_child(
    command: &mut tokio::process::Command,
    link_fd: Option<RawFd>,
    shm_fd: Option<RawFd>,
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
            // The fd channel first moves above both target numbers, so placing the link on
            // 3 cannot overwrite it, and its final dup2 onto 4 always clears close-on-exec.
            let shm_fd = match shm_fd {
                Some(fd) => {
                    let moved = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, SHM_FD + 1);
                    if moved < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    Some(moved)
                }
                None => None,
            };
            if let Some(fd) = link_fd {
                if fd == LINK_FD {
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                } else if libc::dup2(fd, LINK_FD) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            if let Some(fd) = shm_fd
                && libc::dup2(fd, SHM_FD) < 0
            {
                return Err(io::Error::last_os_error());
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
