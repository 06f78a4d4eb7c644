//! [`Event`]: what a pool reports to its subscribers, one variant per occurrence, each with
//! a dotted name from the original's catalogue (`snakepit.pool.worker.spawned`, ...).

use std::time::Duration;

use serde_json::Value;

use super::correlation::CorrelationId;
use crate::error::ExitClass;
use crate::session::SessionId;
use crate::worker::WorkerId;

/// How a call ended, as events and metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallOutcome {
    /// The tool returned a result.
    Ok,
    /// The tool raised (`Error::Worker`) or its result could not be used.
    ToolError,
    /// The call ran past its deadline.
    Timeout,
    /// The call waited in the queue past the queue timeout.
    QueueTimeout,
    /// The queue was full.
    Saturated,
    /// The worker died or broke the protocol during the call.
    WorkerExited,
    /// The circuit breaker refused the call.
    CircuitOpen,
    /// A strict session's owner was gone or busy.
    SessionUnavailable,
    /// The adapter or the depth check refused the call.
    Invalid,
    /// The pool is shutting down.
    Shutdown,
    /// The caller dropped the call (a stream) before its end.
    Cancelled,
    /// Any other failure.
    Other,
}

impl CallOutcome {
    /// The outcome of a call that ended with `outcome`.
    pub fn of<T>(outcome: &crate::Result<T>) -> Self {
        use crate::Error;
        match outcome {
            Ok(_) => Self::Ok,
            Err(err) => match err {
                Error::Worker(_) | Error::InvalidResponse { .. } | Error::TooDeep { .. } => {
                    Self::ToolError
                }
                Error::Timeout { .. } => Self::Timeout,
                Error::QueueTimeout { .. } => Self::QueueTimeout,
                Error::PoolSaturated { .. } => Self::Saturated,
                Error::WorkerExited { .. } | Error::WorkerProtocol { .. } => Self::WorkerExited,
                Error::CircuitOpen { .. } => Self::CircuitOpen,
                Error::SessionLost { .. } | Error::SessionBusy { .. } => Self::SessionUnavailable,
                Error::InvalidCall { .. } | Error::Convert { .. } => Self::Invalid,
                Error::Shutdown => Self::Shutdown,
                _ => Self::Other,
            },
        }
    }

    /// The outcome's label value (`ok`, `tool_error`, `timeout`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::ToolError => "tool_error",
            Self::Timeout => "timeout",
            Self::QueueTimeout => "queue_timeout",
            Self::Saturated => "saturated",
            Self::WorkerExited => "worker_exited",
            Self::CircuitOpen => "circuit_open",
            Self::SessionUnavailable => "session_unavailable",
            Self::Invalid => "invalid",
            Self::Shutdown => "shutdown",
            Self::Cancelled => "cancelled",
            Self::Other => "other",
        }
    }
}

/// One thing that happened in a pool. Received through [`Pool::events`](crate::Pool::events).
///
/// Every variant has a stable dotted [`name`](Event::name); the list, with each field, is in
/// `docs/telemetry.md`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A worker's process was forked; its handshake is not done. Name:
    /// `snakepit.pool.worker.spawned`.
    #[non_exhaustive]
    WorkerSpawned {
        /// The worker.
        worker: WorkerId,
        /// Its process id.
        pid: u32,
    },
    /// A worker finished its handshake and takes calls. Name: `snakepit.pool.worker.ready`.
    #[non_exhaustive]
    WorkerReady {
        /// The worker.
        worker: WorkerId,
        /// Its process id.
        pid: u32,
        /// From the fork to the end of the handshake.
        start_duration: Duration,
    },
    /// A worker's process ended. Name: `snakepit.pool.worker.terminated`.
    #[non_exhaustive]
    WorkerExited {
        /// The worker.
        worker: WorkerId,
        /// How it ended; `None` when the pool stopped it (recycle, shutdown) or it broke the
        /// protocol.
        exit: Option<ExitClass>,
    },
    /// A worker was replaced by a fresh one (requests, age or memory). Name:
    /// `snakepit.pool.worker.recycled`.
    #[non_exhaustive]
    WorkerRecycled {
        /// The worker that retires.
        worker: WorkerId,
        /// The one that took its slot.
        replacement: WorkerId,
        /// `request count`, `age` or `memory`.
        reason: &'static str,
    },
    /// A worker slot crashed too often and is left empty for a while. Name:
    /// `snakepit.worker.tainted`.
    #[non_exhaustive]
    WorkerTainted {
        /// The worker whose crash tainted the slot.
        worker: WorkerId,
        /// The slot.
        slot: usize,
        /// How long the slot stays empty.
        duration: Duration,
    },
    /// A call was handed to a worker. Name: `snakepit.pool.call.dispatched`.
    #[non_exhaustive]
    CallDispatched {
        /// The call's correlation id.
        correlation_id: CorrelationId,
        /// The command.
        command: String,
        /// The worker that took it.
        worker: WorkerId,
        /// How long it waited for a worker.
        queue_wait: Duration,
    },
    /// A call ended, by any outcome. Name: `snakepit.request.executed`.
    #[non_exhaustive]
    CallFinished {
        /// The call's correlation id.
        correlation_id: CorrelationId,
        /// The command.
        command: String,
        /// The worker that ran it last, if any took it.
        worker: Option<WorkerId>,
        /// From the call's start to its end, queue included.
        duration: Duration,
        /// How it ended.
        outcome: CallOutcome,
    },
    /// A call was refused because the queue was full. Name: `snakepit.pool.saturated`.
    #[non_exhaustive]
    QueueSaturated {
        /// The call's correlation id.
        correlation_id: CorrelationId,
        /// The command.
        command: String,
        /// Calls waiting when it was refused.
        queued: usize,
    },
    /// A call waited in the queue past the queue timeout. Name: `snakepit.pool.queue.timeout`.
    #[non_exhaustive]
    QueueTimeout {
        /// The call's correlation id.
        correlation_id: CorrelationId,
        /// The command.
        command: String,
        /// How long it waited.
        waited: Duration,
    },
    /// A call created its session. Name: `snakepit.session.created`.
    #[non_exhaustive]
    SessionCreated {
        /// The session.
        session: SessionId,
    },
    /// A session's TTL ran out. Name: `snakepit.session.expired`.
    #[non_exhaustive]
    SessionExpired {
        /// The session.
        session: SessionId,
    },
    /// A session was deleted. Name: `snakepit.session.destroyed`.
    #[non_exhaustive]
    SessionDeleted {
        /// The session.
        session: SessionId,
    },
    /// A session's owner was gone when a call of the session came. Name:
    /// `snakepit.session.affinity.broken`.
    #[non_exhaustive]
    SessionAffinityBroken {
        /// The session.
        session: SessionId,
        /// The owner that was lost.
        worker: WorkerId,
        /// The call's correlation id.
        correlation_id: CorrelationId,
    },
    /// The circuit breaker opened. Name: `snakepit.circuit.opened`.
    #[non_exhaustive]
    CircuitOpened {
        /// Consecutive failures counted.
        failures: u32,
    },
    /// The circuit breaker let a probe through. Name: `snakepit.circuit.half_open`.
    #[non_exhaustive]
    CircuitHalfOpen {},
    /// The circuit breaker closed again. Name: `snakepit.circuit.closed`.
    #[non_exhaustive]
    CircuitClosed {},
    /// An idle worker did not answer its ping and is killed. Name:
    /// `snakepit.heartbeat.missed`.
    #[non_exhaustive]
    HeartbeatMissed {
        /// The worker.
        worker: WorkerId,
    },
    /// A worker sent an `event` frame (Python `telemetry.emit` or `telemetry.span`). Name:
    /// `snakepit.python.<its name>`.
    #[non_exhaustive]
    Worker {
        /// The worker.
        worker: WorkerId,
        /// The name the worker gave (checked against the allow-list).
        name: String,
        /// Numbers measured.
        measurements: Value,
        /// Context.
        metadata: Value,
        /// The correlation id of the call it ran under, if any.
        correlation_id: Option<CorrelationId>,
    },
}

impl Event {
    /// The event's dotted name, after the original's catalogue where one matches.
    pub fn name(&self) -> &'static str {
        match self {
            Self::WorkerSpawned { .. } => "snakepit.pool.worker.spawned",
            Self::WorkerReady { .. } => "snakepit.pool.worker.ready",
            Self::WorkerExited { .. } => "snakepit.pool.worker.terminated",
            Self::WorkerRecycled { .. } => "snakepit.pool.worker.recycled",
            Self::WorkerTainted { .. } => "snakepit.worker.tainted",
            Self::CallDispatched { .. } => "snakepit.pool.call.dispatched",
            Self::CallFinished { .. } => "snakepit.request.executed",
            Self::QueueSaturated { .. } => "snakepit.pool.saturated",
            Self::QueueTimeout { .. } => "snakepit.pool.queue.timeout",
            Self::SessionCreated { .. } => "snakepit.session.created",
            Self::SessionExpired { .. } => "snakepit.session.expired",
            Self::SessionDeleted { .. } => "snakepit.session.destroyed",
            Self::SessionAffinityBroken { .. } => "snakepit.session.affinity.broken",
            Self::CircuitOpened { .. } => "snakepit.circuit.opened",
            Self::CircuitHalfOpen { .. } => "snakepit.circuit.half_open",
            Self::CircuitClosed { .. } => "snakepit.circuit.closed",
            Self::HeartbeatMissed { .. } => "snakepit.heartbeat.missed",
            Self::Worker { .. } => "snakepit.python.event",
        }
    }

    /// The correlation id of the call the event belongs to, if it belongs to one.
    pub fn correlation_id(&self) -> Option<&CorrelationId> {
        match self {
            Self::CallDispatched { correlation_id, .. }
            | Self::CallFinished { correlation_id, .. }
            | Self::QueueSaturated { correlation_id, .. }
            | Self::QueueTimeout { correlation_id, .. }
            | Self::SessionAffinityBroken { correlation_id, .. } => Some(correlation_id),
            Self::Worker { correlation_id, .. } => correlation_id.as_ref(),
            _ => None,
        }
    }
}
