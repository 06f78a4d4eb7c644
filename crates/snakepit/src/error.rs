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
    /// The circuit breaker is open after too many consecutive failures; calls fail fast
    /// until it lets a probe through.
    #[error("the pool's circuit breaker is open after {failures} consecutive failures")]
    CircuitOpen {
        /// The consecutive failures that opened it.
        failures: u32,
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
    /// A value crossing the link nests deeper than the protocol allows
    /// ([`MAX_DEPTH`](crate::MAX_DEPTH) levels): the call fails, the worker keeps
    /// serving.
    #[error("{what} nests deeper than {limit} levels, the protocol's limit")]
    TooDeep {
        /// What was too deep: the result, a stream chunk.
        what: &'static str,
        /// The limit.
        limit: usize,
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
    /// The exception type, such as [`ErrorKind::ValueError`], or one of the runtime's own
    /// kinds (`UnknownCommand`, `InvalidArguments`, `Cancelled`, `SerializationError`).
    pub kind: ErrorKind,
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
    /// Whether the pool itself killed the process (deadline, protocol error, heartbeat,
    /// stop).
    pub killed_by_pool: bool,
}

/// What kind of end a worker met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExitClass {
    /// It exited with code 0.
    Clean,
    /// It exited with a non-zero code.
    ExitCode(i32),
    /// It crashed with a segmentation fault (or a bus error), typically in C code.
    Segfault,
    /// It aborted (SIGABRT), typically a failed assertion in C code.
    Abort,
    /// Something outside the pool killed it with SIGKILL: the kernel's OOM killer, or an
    /// operator.
    Killed,
    /// The pool killed it.
    KilledByPool,
    /// Another signal ended it.
    Signal(i32),
    /// The status is unknown.
    Unknown,
}

impl ExitInfo {
    /// Reads the exit information out of a process status.
    pub fn from_status(status: std::process::ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        Self {
            code: status.code(),
            signal: status.signal(),
            killed_by_pool: false,
        }
    }

    /// The kind of end this was.
    pub fn class(&self) -> ExitClass {
        if self.killed_by_pool {
            return ExitClass::KilledByPool;
        }
        match (self.code, self.signal) {
            (Some(0), _) => ExitClass::Clean,
            (Some(code), _) => ExitClass::ExitCode(code),
            (None, Some(libc::SIGSEGV | libc::SIGBUS)) => ExitClass::Segfault,
            (None, Some(libc::SIGABRT)) => ExitClass::Abort,
            (None, Some(libc::SIGKILL)) => ExitClass::Killed,
            (None, Some(signal)) => ExitClass::Signal(signal),
            (None, None) => ExitClass::Unknown,
        }
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exit code {code}")?,
            (None, Some(signal)) => {
                write!(f, "killed by signal {signal} ({})", signal_name(signal))?
            }
            (None, None) => f.write_str("unknown exit status")?,
        }
        match self.class() {
            ExitClass::Segfault => f.write_str(": a segfault"),
            ExitClass::Abort => f.write_str(": an abort"),
            ExitClass::Killed => f.write_str(": the OOM killer or an external kill"),
            ExitClass::KilledByPool => f.write_str(", by the pool"),
            _ => Ok(()),
        }
    }
}

/// The kind of a worker error: the common Python built-in exceptions, the runtime's own
/// kinds, and anything else by name. Compares equal to its name as a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `ValueError`
    ValueError,
    /// `TypeError`
    TypeError,
    /// `KeyError`
    KeyError,
    /// `IndexError`
    IndexError,
    /// `AttributeError`
    AttributeError,
    /// `RuntimeError`
    RuntimeError,
    /// `ZeroDivisionError`
    ZeroDivisionError,
    /// `ArithmeticError` and `OverflowError`
    ArithmeticError,
    /// `NotImplementedError`
    NotImplementedError,
    /// `AssertionError`
    AssertionError,
    /// `ImportError` and `ModuleNotFoundError`
    ImportError,
    /// `FileNotFoundError`
    FileNotFoundError,
    /// `PermissionError`
    PermissionError,
    /// `OSError`
    OsError,
    /// `TimeoutError`
    TimeoutError,
    /// `MemoryError`
    MemoryError,
    /// `RecursionError`
    RecursionError,
    /// The worker has no tool of that name.
    UnknownCommand,
    /// The arguments did not fit the tool's signature.
    InvalidArguments,
    /// The call was cancelled.
    Cancelled,
    /// The result could not be encoded.
    SerializationError,
    /// A host tool the worker called failed.
    HostToolError,
    /// A classic worker's error (a bare message).
    Error,
    /// Any other exception type, by name.
    Other(String),
}

/// The kinds with a variant of their own, and their names.
const KINDS: [(ErrorKind, &str); 23] = [
    (ErrorKind::ValueError, "ValueError"),
    (ErrorKind::TypeError, "TypeError"),
    (ErrorKind::KeyError, "KeyError"),
    (ErrorKind::IndexError, "IndexError"),
    (ErrorKind::AttributeError, "AttributeError"),
    (ErrorKind::RuntimeError, "RuntimeError"),
    (ErrorKind::ZeroDivisionError, "ZeroDivisionError"),
    (ErrorKind::ArithmeticError, "ArithmeticError"),
    (ErrorKind::NotImplementedError, "NotImplementedError"),
    (ErrorKind::AssertionError, "AssertionError"),
    (ErrorKind::ImportError, "ImportError"),
    (ErrorKind::FileNotFoundError, "FileNotFoundError"),
    (ErrorKind::PermissionError, "PermissionError"),
    (ErrorKind::OsError, "OSError"),
    (ErrorKind::TimeoutError, "TimeoutError"),
    (ErrorKind::MemoryError, "MemoryError"),
    (ErrorKind::RecursionError, "RecursionError"),
    (ErrorKind::UnknownCommand, "UnknownCommand"),
    (ErrorKind::InvalidArguments, "InvalidArguments"),
    (ErrorKind::Cancelled, "Cancelled"),
    (ErrorKind::SerializationError, "SerializationError"),
    (ErrorKind::HostToolError, "HostToolError"),
    (ErrorKind::Error, "Error"),
];

impl ErrorKind {
    /// The kind a worker named. Aliases map to their family (`ModuleNotFoundError` is an
    /// [`ErrorKind::ImportError`], `OverflowError` an [`ErrorKind::ArithmeticError`]).
    pub fn from_name(name: &str) -> Self {
        let name = match name {
            "ModuleNotFoundError" => "ImportError",
            "OverflowError" => "ArithmeticError",
            "IOError" => "OSError",
            other => other,
        };
        KINDS
            .iter()
            .find(|(_, known)| *known == name)
            .map_or_else(|| Self::Other(name.to_owned()), |(kind, _)| kind.clone())
    }

    /// The kind's name (for `Other`, the name the worker gave).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Other(name) => name,
            known => KINDS
                .iter()
                .find(|(kind, _)| kind == known)
                .map_or("Other", |(_, name)| name),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for ErrorKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
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
