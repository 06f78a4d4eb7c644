//! The crate's error type, and the data a worker reports when a call fails.
//!
//! Every fallible operation in the library returns [`Error`]. Errors that come from the
//! worker's code (a Python exception) are data, [`WorkerError`], carried by
//! [`Error::Worker`]; errors about the worker process itself carry an [`ExitInfo`] and the
//! tail of its stderr.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::worker::WorkerId;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a pool.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Every worker is busy and the queue already holds `max_queue` calls.
    #[error("pool saturated: {queued} calls are already waiting for a worker")]
    PoolSaturated {
        /// How many calls were waiting.
        queued: usize,
    },
    /// The call waited in the queue longer than the pool's queue timeout.
    #[error("no worker became free within the queue timeout of {waited:?}")]
    QueueTimeout {
        /// How long the call waited.
        waited: Duration,
    },
    /// The call ran past its deadline. The worker was told to cancel it, and is killed and
    /// replaced if it does not stop within the pool's cancel grace period.
    #[error("call `{command}` timed out after {after:?}")]
    Timeout {
        /// The command that timed out.
        command: String,
        /// The deadline the call had.
        after: Duration,
    },
    /// The pool is shut down (or shutting down) and takes no more calls.
    #[error("the pool is shut down")]
    Shutdown,
    /// The worker that owns the session is gone (strict affinity), so the session's state on
    /// the worker is lost.
    #[error("session `{session}` is lost: its worker {worker} is gone")]
    SessionLost {
        /// The session.
        session: String,
        /// The worker that owned it.
        worker: WorkerId,
    },
    /// The worker that owns the session is busy (`strict_fail_fast` affinity).
    #[error("session `{session}` is busy: its worker {worker} is running another call")]
    SessionBusy {
        /// The session.
        session: String,
        /// The worker that owns it.
        worker: WorkerId,
    },
    /// The worker's code reported an error, for example a Python exception.
    #[error(transparent)]
    Worker(#[from] WorkerError),
    /// The worker process ended while a call was running on it.
    #[error("worker {worker} exited during the call ({exit}){}", tail_suffix(.stderr_tail))]
    WorkerExited {
        /// The worker that exited.
        worker: WorkerId,
        /// How it ended.
        exit: ExitInfo,
        /// The last lines the worker wrote to stderr.
        stderr_tail: String,
    },
    /// The worker sent something that is not a valid message (garbage, an oversize frame, an
    /// unexpected message). It was stopped and replaced.
    #[error("worker {worker} broke the protocol: {detail}")]
    WorkerProtocol {
        /// The worker that misbehaved.
        worker: WorkerId,
        /// What was wrong.
        detail: String,
    },
    /// A worker did not become ready.
    #[error("worker {worker} failed to start: {reason}{}", tail_suffix(.stderr_tail))]
    StartFailed {
        /// The worker that did not start.
        worker: WorkerId,
        /// Why it did not start.
        reason: String,
        /// The last lines the worker wrote to stderr.
        stderr_tail: String,
    },
    /// The worker program could not be spawned at all.
    #[error("could not spawn worker program `{program}`")]
    Spawn {
        /// The program that was run.
        program: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Bytes that are not a valid frame or message.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A message to send is larger than the maximum frame size.
    #[error("message of {size} bytes exceeds the maximum frame size of {max} bytes")]
    FrameTooLarge {
        /// The encoded size.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The adapter rejected the call before it was sent.
    #[error("invalid call to `{command}`: {reason}")]
    InvalidCall {
        /// The command.
        command: String,
        /// Why the adapter rejected it.
        reason: String,
    },
    /// The adapter rejected a worker's result.
    #[error("invalid result from `{command}`: {reason}")]
    InvalidResponse {
        /// The command.
        command: String,
        /// Why the adapter rejected it.
        reason: String,
    },
    /// A session-store operation failed: unknown session, limit reached, invalid variable.
    #[error(transparent)]
    Session(#[from] crate::session::SessionError),
    /// A pool or adapter setting is not valid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Arguments or a result did not convert between Rust types and JSON.
    #[error("could not convert {what} to or from JSON")]
    Convert {
        /// What was being converted.
        what: &'static str,
        /// The conversion error.
        #[source]
        source: serde_json::Error,
    },
    /// An I/O operation of the host failed.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

fn tail_suffix(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!("; stderr tail:\n{tail}")
    }
}

/// An error the worker's code reported: for Python, the exception's type, message and
/// traceback.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{command}` failed: {kind}: {message}")]
pub struct WorkerError {
    /// The exception type, such as `ValueError`, or one of the runtime's own kinds
    /// (`UnknownCommand`, `InvalidArguments`, `Cancelled`, `SerializationError`).
    pub kind: String,
    /// The exception's message.
    pub message: String,
    /// The formatted traceback, when the worker sent one.
    pub traceback: Option<String>,
    /// The command that failed.
    pub command: String,
}

/// How a worker process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExitInfo {
    /// The exit code, when the process exited by itself.
    pub code: Option<i32>,
    /// The signal that ended the process, when a signal did.
    pub signal: Option<i32>,
}

impl ExitInfo {
    /// Reads the exit information out of a process status.
    pub fn from_status(status: std::process::ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        Self {
            code: status.code(),
            signal: status.signal(),
        }
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exit code {code}"),
            (None, Some(signal)) => {
                write!(f, "killed by signal {signal} ({})", signal_name(signal))
            }
            (None, None) => f.write_str("unknown exit status"),
        }
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => "other",
    }
}
