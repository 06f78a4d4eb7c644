//! The crate's error type, and the data a worker reports when a call fails.
//!
//! Every fallible operation in the library returns [`Error`]. Errors that come from the
//! worker's code (a Python exception) are data, [`WorkerError`], carried by
//! [`Error::Worker`]; errors about the worker process itself carry an [`ExitInfo`] and the
//! tail of its stderr.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::worker::WorkerId;

mod exit;
mod kind;

pub use exit::{ExitClass, ExitInfo};
pub use kind::{ErrorKind, WorkerError};

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
    /// Shared memory for large buffers would exceed the pool's cap
    /// ([`PoolBuilder::shm_cap`](crate::PoolBuilder::shm_cap)); the call fails, nothing is
    /// mapped.
    #[error(
        "shared memory cap reached: {requested} more bytes asked for, {in_use} of {cap} in use"
    )]
    SharedMemoryCap {
        /// The bytes asked for.
        requested: usize,
        /// The bytes the pool already held.
        in_use: usize,
        /// The cap.
        cap: usize,
    },
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
    /// A binary value is not valid: a byte length that does not fit the array's dtype and
    /// shape, an array viewed as the wrong element type.
    #[error("invalid binary value: {0}")]
    InvalidValue(String),
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
