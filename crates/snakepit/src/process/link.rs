//! What a worker's link is made of: how it is wired ([`LinkMode`]), the descriptors the
//! child gets and the numbers it finds them on ([`ChildEnds`]), and the host's ends made into
//! the runtime's readers and writers or into blocking files ([`HostEnds`]).
//!
//! A native link is either one socketpair (`SNAKEPIT_FD=3`: the worker reads and writes
//! descriptor 3) or two pipes (`SNAKEPIT_FD=3,5`: it reads frames from 3 and writes them to
//! 5). Pipes keep a wait queue per direction: the host reading a worker's answer does not
//! wake the worker blocked reading its next call, as it does on the one queue of a socket
//! (`docs/design/worker-waits.md`).

#[cfg(feature = "bench")]
use std::fs::File;
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::net::UnixStream as StdUnixStream;

use tokio::io::{AsyncRead, AsyncWrite};

use super::control::{fork_pipe, seqpacket_pair};
use crate::error::{Error, Result};

/// The descriptor a native worker reads its link from (and writes to, on a socketpair).
const LINK_FD: RawFd = 3;
/// The descriptor a native worker writes its link to when the link is two pipes.
const LINK_OUT_FD: RawFd = 5;

/// How the worker's link is wired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkMode {
    /// A socketpair; the child's end is descriptor 3 (`SNAKEPIT_FD=3`).
    Socketpair,
    /// Two pipes; the child reads descriptor 3 and writes descriptor 5 (`SNAKEPIT_FD=3,5`).
    Pipes,
    /// The child's stdin and stdout.
    Stdio,
    /// A `SOCK_SEQPACKET` socketpair carrying a zygote's control messages (and descriptors);
    /// the child's end is descriptor 3 (`SNAKEPIT_FD`).
    Control,
}

/// The reading half of a link.
pub(crate) type LinkReader = Box<dyn AsyncRead + Send + Unpin>;
/// The writing half of a link.
pub(crate) type LinkWriter = Box<dyn AsyncWrite + Send + Unpin>;

/// The child's ends of a link, each with the descriptor number it gets in the child.
#[derive(Debug)]
pub(crate) struct ChildEnds {
    /// (descriptor, its number in the child); one for a socket, two for pipes.
    pub(crate) placed: Vec<(OwnedFd, RawFd)>,
}

impl ChildEnds {
    /// The value of `SNAKEPIT_FD`: the numbers of the child's ends, reading end first.
    pub(crate) fn env_value(&self) -> String {
        let numbers: Vec<String> = self.placed.iter().map(|(_, n)| n.to_string()).collect();
        numbers.join(",")
    }

    /// The one end of a socket link, as a socket (the gRPC translator speaks on it in the
    /// child's place); `None` for pipes.
    pub(crate) fn into_socket(mut self) -> Option<StdUnixStream> {
        if self.placed.len() != 1 {
            return None;
        }
        self.placed.pop().map(|(fd, _)| StdUnixStream::from(fd))
    }
}

/// The host's ends of a link.
#[derive(Debug)]
pub(crate) enum HostEnds {
    /// One socket for both directions.
    Socket(StdUnixStream),
    /// The pipe the host reads answers from, and the one it writes calls to.
    Pipes { reader: OwnedFd, writer: OwnedFd },
}

/// Makes the link `mode` asks for: the host's ends and the child's; `None` for stdio, whose
/// pipes the process spawner makes.
///
/// # Errors
///
/// [`Error::Io`] when the system refuses a socket or a pipe.
pub(crate) fn make(mode: LinkMode) -> Result<Option<(HostEnds, ChildEnds)>> {
    let io_error = |source| Error::Io {
        context: "could not create the worker's socketpair".to_owned(),
        source,
    };
    let (host, child) = match mode {
        LinkMode::Stdio => return Ok(None),
        LinkMode::Socketpair => StdUnixStream::pair().map_err(io_error)?,
        LinkMode::Control => seqpacket_pair()?,
        LinkMode::Pipes => {
            let (calls_read, calls_write) = fork_pipe()?;
            let (answers_read, answers_write) = fork_pipe()?;
            let host = HostEnds::Pipes {
                reader: answers_read,
                writer: calls_write,
            };
            let child = ChildEnds {
                placed: vec![(calls_read, LINK_FD), (answers_write, LINK_OUT_FD)],
            };
            return Ok(Some((host, child)));
        }
    };
    let child = ChildEnds {
        placed: vec![(OwnedFd::from(child), LINK_FD)],
    };
    Ok(Some((HostEnds::Socket(host), child)))
}

impl HostEnds {
    /// Registers the ends with the runtime (non-blocking) as a reader and a writer.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a descriptor cannot be registered.
    pub(crate) fn into_async(self) -> Result<(LinkReader, LinkWriter)> {
        let failed = |context: &str| {
            let context = context.to_owned();
            move |source| Error::Io { context, source }
        };
        match self {
            Self::Socket(socket) => {
                socket
                    .set_nonblocking(true)
                    .map_err(failed("could not make the link non-blocking"))?;
                let stream = tokio::net::UnixStream::from_std(socket)
                    .map_err(failed("could not register the link with the runtime"))?;
                let (read_half, write_half) = stream.into_split();
                Ok((Box::new(read_half), Box::new(write_half)))
            }
            Self::Pipes { reader, writer } => {
                let reader = tokio::net::unix::pipe::Receiver::from_owned_fd(reader)
                    .map_err(failed("could not register the link's reading pipe"))?;
                let writer = tokio::net::unix::pipe::Sender::from_owned_fd(writer)
                    .map_err(failed("could not register the link's writing pipe"))?;
                Ok((Box::new(reader), Box::new(writer)))
            }
        }
    }

    /// The ends as blocking files, (reader, writer), for a host that drives the link from
    /// a plain OS thread.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the socket cannot be duplicated.
    #[cfg(feature = "bench")]
    pub(crate) fn into_blocking(self) -> Result<(File, File)> {
        match self {
            Self::Socket(socket) => {
                let writer = socket.try_clone().map_err(|source| Error::Io {
                    context: "could not duplicate the link".to_owned(),
                    source,
                })?;
                Ok((
                    File::from(OwnedFd::from(socket)),
                    File::from(OwnedFd::from(writer)),
                ))
            }
            Self::Pipes { reader, writer } => Ok((File::from(reader), File::from(writer))),
        }
    }

    /// The socket of a control link; `None` for pipes.
    pub(crate) fn into_socket(self) -> Option<StdUnixStream> {
        match self {
            Self::Socket(socket) => Some(socket),
            Self::Pipes { .. } => None,
        }
    }
}
