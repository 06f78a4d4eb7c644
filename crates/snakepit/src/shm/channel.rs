//! The fd channel: a second socketpair per worker (`SOCK_SEQPACKET`, the worker finds its end
//! in `SNAKEPIT_SHM_FD`) that carries memfds with `SCM_RIGHTS`.
//!
//! A frame that names `n` memfd buffers is preceded on this channel by one packet: a 4-byte
//! little-endian count `n` and the `n` descriptors, in the order of the frame's `buffers`.
//! The sender writes the packet before the frame, under the same writer lock, so when the
//! receiver reads the frame the packet is already queued: receiving is one non-blocking
//! `recvmsg`, and the main link's read path stays a plain read.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};
use tokio::io::Interest;
use tokio::net::UnixStream;

use crate::error::{Error, Result};

/// The most descriptors one frame may carry.
pub(crate) const MAX_FDS_PER_FRAME: usize = 64;
/// The most descriptors Linux passes in one message (`SCM_MAX_FD`): the receive buffer has
/// room for all of them, so a packet is never truncated and every descriptor that arrives is
/// owned (and closed) here, however many a hostile sender put in.
const SCM_MAX_FD: usize = 253;

/// Makes a fd channel: the host's end and the worker's end, both close-on-exec.
///
/// # Errors
///
/// [`Error::Io`] when the socketpair cannot be made.
pub(crate) fn pair() -> Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
    )
    .map_err(|errno| Error::Io {
        context: "could not create the worker's fd channel".to_owned(),
        source: errno.into(),
    })
}

/// The host's end of a worker's fd channel.
#[derive(Debug)]
pub(crate) struct FdChannel {
    /// A seqpacket socket; tokio's stream type only registers it with the runtime, every
    /// transfer is a `sendmsg`/`recvmsg` on its descriptor.
    socket: UnixStream,
}

impl FdChannel {
    /// Wraps the host's end (non-blocking) of a channel made by [`pair`].
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the socket cannot be registered with the runtime.
    pub(crate) fn new(host_end: OwnedFd) -> Result<Self> {
        let socket = UnixStream::from_std(std::os::unix::net::UnixStream::from(host_end)).map_err(
            |source| Error::Io {
                context: "could not register the worker's fd channel".to_owned(),
                source,
            },
        )?;
        Ok(Self { socket })
    }

    /// Sends one packet carrying `fds`. Call it with the link's writer locked, right before
    /// the frame that names them.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] for more than [`MAX_FDS_PER_FRAME`] descriptors, [`Error::Io`]
    /// when the channel is broken.
    pub(crate) async fn send(&self, fds: &[BorrowedFd<'_>]) -> Result<()> {
        if fds.len() > MAX_FDS_PER_FRAME {
            return Err(Error::Protocol(format!(
                "a frame may carry at most {MAX_FDS_PER_FRAME} shared buffers, not {}",
                fds.len()
            )));
        }
        let raws: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
        let count = u32::try_from(raws.len()).unwrap_or(u32::MAX).to_le_bytes();
        loop {
            self.socket.writable().await.map_err(broken)?;
            let raw = self.socket.as_raw_fd();
            let sent = self.socket.try_io(Interest::WRITABLE, || {
                sendmsg::<()>(
                    raw,
                    &[IoSlice::new(&count)],
                    &[ControlMessage::ScmRights(&raws)],
                    MsgFlags::MSG_NOSIGNAL,
                    None,
                )
                .map_err(std::io::Error::from)
            });
            match sent {
                Ok(_) => return Ok(()),
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(broken(err)),
            }
        }
    }

    /// Takes the packet for a frame that names `expected` memfds. The packet was sent before
    /// the frame, so it is already queued; a missing one is the sender's error.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] when no packet is queued, when it carries more descriptors than
    /// one frame may, or another number than the frame names. Descriptors received with an
    /// error are closed.
    pub(crate) fn receive(&self, expected: usize) -> Result<Vec<OwnedFd>> {
        receive_from(self.socket.as_fd(), expected)
    }
}

/// [`FdChannel::receive`] on any seqpacket socket (the tests drive a raw pair).
pub(crate) fn receive_from(socket: BorrowedFd<'_>, expected: usize) -> Result<Vec<OwnedFd>> {
    let mut count = [0u8; 4];
    let mut iov = [IoSliceMut::new(&mut count)];
    let mut space = nix::cmsg_space!([RawFd; SCM_MAX_FD]);
    let message = match recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT,
    ) {
        Ok(message) => message,
        Err(Errno::EAGAIN) => {
            return Err(Error::Protocol(format!(
                "a frame names {expected} shared buffers, but no descriptors came before it \
                 on the fd channel"
            )));
        }
        Err(errno) => {
            return Err(Error::Protocol(format!(
                "the fd channel could not be read: {errno}"
            )));
        }
    };
    let truncated = message.flags.contains(MsgFlags::MSG_CTRUNC);
    let bytes = message.bytes;
    let mut fds = Vec::new();
    match message.cmsgs() {
        Ok(cmsgs) => {
            for cmsg in cmsgs {
                if let ControlMessageOwned::ScmRights(raws) = cmsg {
                    fds.extend(raws.into_iter().map(own));
                }
            }
        }
        Err(errno) => {
            return Err(Error::Protocol(format!(
                "the fd channel delivered unreadable control data: {errno}"
            )));
        }
    }
    if truncated || fds.len() > MAX_FDS_PER_FRAME {
        return Err(Error::Protocol(format!(
            "a frame carried {} descriptors, more than the {MAX_FDS_PER_FRAME} one frame may",
            fds.len()
        )));
    }
    let declared = (bytes == 4).then(|| u32::from_le_bytes(count));
    if declared.and_then(|n| usize::try_from(n).ok()) != Some(fds.len()) || fds.len() != expected {
        return Err(Error::Protocol(format!(
            "a frame names {expected} shared buffers, but {} descriptors came with it",
            fds.len()
        )));
    }
    Ok(fds)
}

/// Takes ownership of a descriptor that `recvmsg` just installed in this process.
fn own(raw: RawFd) -> OwnedFd {
    #[expect(
        unsafe_code,
        reason = "descriptors received with SCM_RIGHTS arrive as raw numbers; each is new and \
                  owned by nobody else"
    )]
    // SAFETY: the kernel installed `raw` in this process for this recvmsg call; nothing else
    // refers to it, so this is its one owner.
    unsafe {
        OwnedFd::from_raw_fd(raw)
    }
}

fn broken(source: std::io::Error) -> Error {
    Error::Io {
        context: "could not write to the worker's fd channel".to_owned(),
        source,
    }
}
