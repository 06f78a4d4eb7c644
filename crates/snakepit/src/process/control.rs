//! The descriptor plumbing a zygote needs: its `SOCK_SEQPACKET` control socket, sending
//! descriptors over it with `SCM_RIGHTS`, the output pipes of a forked worker, and watching
//! a process that is not our child through a pidfd.

use std::io;
#[cfg(target_os = "linux")]
use std::os::fd::FromRawFd;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream as StdUnixStream;

use nix::sys::socket::{
    AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, sendmsg, socketpair,
};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::error::{Error, Result};

/// A `SOCK_SEQPACKET` socketpair, both ends close-on-exec: (host end, child end).
///
/// # Errors
///
/// [`Error::Io`] when the system refuses.
pub(super) fn seqpacket_pair() -> Result<(StdUnixStream, StdUnixStream)> {
    let failed = |errno: nix::errno::Errno| Error::Io {
        context: "could not create a zygote's control socket".to_owned(),
        source: io::Error::from(errno),
    };
    #[cfg(target_os = "linux")]
    let (host, child) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(failed)?;
    // Without the flag, it is set right after; spawns run on the one spawner thread, but
    // other code of the host may fork in between (see `docs/design/zygote.md`).
    #[cfg(not(target_os = "linux"))]
    let (host, child) = {
        let pair = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::empty(),
        )
        .map_err(failed)?;
        for end in [&pair.0, &pair.1] {
            set_cloexec(end).map_err(failed)?;
        }
        pair
    };
    Ok((StdUnixStream::from(host), StdUnixStream::from(child)))
}

#[cfg(not(target_os = "linux"))]
fn set_cloexec(fd: &OwnedFd) -> nix::Result<()> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map(drop)
}

/// Sends one packet with `fds` attached (`SCM_RIGHTS`), waiting while the socket is full.
///
/// # Errors
///
/// The system error of `sendmsg`.
pub(crate) async fn send_with_fds(
    socket: &tokio::net::UnixStream,
    payload: &[u8],
    fds: &[RawFd],
) -> io::Result<()> {
    loop {
        socket.writable().await?;
        let sent = socket.try_io(Interest::WRITABLE, || {
            let rights = [ControlMessage::ScmRights(fds)];
            let control: &[ControlMessage<'_>] = if fds.is_empty() { &[] } else { &rights };
            sendmsg::<()>(
                socket.as_raw_fd(),
                &[io::IoSlice::new(payload)],
                control,
                MsgFlags::MSG_NOSIGNAL,
                None,
            )
            .map_err(io::Error::from)
        });
        match sent {
            Ok(_) => return Ok(()),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(err),
        }
    }
}

/// A close-on-exec pipe: (read end, write end), for a forked worker's stdout or stderr.
///
/// # Errors
///
/// [`Error::Io`] when the system refuses.
pub(crate) fn fork_pipe() -> Result<(OwnedFd, OwnedFd)> {
    let failed = |errno: nix::errno::Errno| Error::Io {
        context: "could not create a forked worker's output pipe".to_owned(),
        source: io::Error::from(errno),
    };
    #[cfg(target_os = "linux")]
    let pipe = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(failed)?;
    #[cfg(not(target_os = "linux"))]
    let pipe = {
        let pipe = nix::unistd::pipe().map_err(failed)?;
        set_cloexec(&pipe.0).map_err(failed)?;
        set_cloexec(&pipe.1).map_err(failed)?;
        pipe
    };
    Ok(pipe)
}

/// Waits until the process `pid` (not necessarily our child) has ended, through a pidfd.
/// Returns at once when the process is already gone.
///
/// # Errors
///
/// The system error when no pidfd can be opened or watched (kernels before 5.3), except
/// that a process already gone is success.
pub(crate) async fn wait_for_end(pid: u32) -> io::Result<()> {
    let Some(pidfd) = pidfd_open(pid)? else {
        return Ok(());
    };
    let watched = register(pidfd)?;
    // A pidfd becomes readable once the process has exited.
    let _ready = watched.readable().await?;
    Ok(())
}

/// Without pidfds (not Linux) a forked worker's end is known only from its zygote's report.
#[cfg(not(target_os = "linux"))]
fn pidfd_open(_pid: u32) -> io::Result<Option<OwnedFd>> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Registers an owned pidfd with the runtime.
#[expect(
    unsafe_code,
    reason = "AsyncFd registration is unsafe; an OwnedFd keeps its descriptor open and the \
              same for as long as the AsyncFd owns it"
)]
fn register(pidfd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: `pidfd` is an owned, open descriptor; `OwnedFd::as_raw_fd` always returns it.
    unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) }
        .map_err(|err| err.into_parts().1)
}

/// Opens a pidfd for `pid`; `None` when no such process exists.
#[cfg(target_os = "linux")]
#[expect(
    unsafe_code,
    reason = "pidfd_open has no safe wrapper in nix or libc; the returned descriptor is owned \
              here and nowhere else"
)]
fn pidfd_open(pid: u32) -> io::Result<Option<OwnedFd>> {
    let raw =
        libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a plain system call; on success it returns a new descriptor nobody else owns.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, raw, 0) };
    if fd < 0 {
        let err = io::Error::last_os_error();
        return if err.raw_os_error() == Some(libc::ESRCH) {
            Ok(None)
        } else {
            Err(err)
        };
    }
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY: `fd` was just returned by pidfd_open and is owned by nobody else.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}
