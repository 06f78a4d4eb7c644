//! A worker's lifecycle as one enum, and what the pool and the supervisor say to each other.

use std::time::Duration;

use super::WorkerId;
use crate::error::{Error, ExitInfo};

/// Where a worker is in its life. Only moves forward:
/// `Starting → Ready → Retiring → Stopping → Exited` (any step may be skipped).
#[derive(Debug, Clone)]
pub(crate) enum Lifecycle {
    /// Spawned; the handshake is not done.
    Starting,
    /// Takes calls.
    Ready,
    /// Being replaced: finishes the calls it runs, takes no new one, then is stopped.
    Retiring,
    /// Being stopped (`killed`: by SIGKILL from the pool, so its end is not a crash).
    Stopping {
        /// Whether the pool killed it.
        killed: bool,
    },
    /// Gone, and why.
    Exited(Closed),
}

impl Lifecycle {
    /// The order of the states, for "only moves forward".
    fn rank(&self) -> u8 {
        match self {
            Self::Starting => 0,
            Self::Ready => 1,
            Self::Retiring => 2,
            Self::Stopping { .. } => 3,
            Self::Exited(_) => 4,
        }
    }

    /// Whether `next` is a step forward from `self` (or marks a stop as a kill).
    pub(super) fn may_become(&self, next: &Self) -> bool {
        match (self, next) {
            (Self::Stopping { killed: false }, Self::Stopping { killed: true }) => true,
            _ => next.rank() > self.rank(),
        }
    }

    /// Whether the worker may be handed calls (ready) or still runs some (retiring).
    pub(crate) fn is_alive(&self) -> bool {
        matches!(self, Self::Ready | Self::Retiring)
    }

    /// Whether the pool killed the worker.
    pub(super) fn killed_by_pool(&self) -> bool {
        matches!(self, Self::Stopping { killed: true })
    }
}

/// Why a worker's link is closed, kept so that calls made after the fact get the same answer
/// as the calls that were pending.
#[derive(Debug, Clone)]
pub(crate) enum Closed {
    /// The process ended.
    Exited {
        /// How it ended.
        exit: ExitInfo,
        /// The last lines of its stderr.
        stderr_tail: String,
    },
    /// The worker broke the protocol and was killed.
    Protocol(String),
    /// The pool stopped the worker.
    Shutdown,
}

impl Closed {
    /// The error a call on the closed worker gets.
    pub(crate) fn to_error(&self, worker: WorkerId) -> Error {
        match self {
            Self::Exited { exit, stderr_tail } => Error::WorkerExited {
                worker,
                exit: *exit,
                stderr_tail: stderr_tail.clone(),
            },
            Self::Protocol(detail) => Error::WorkerProtocol {
                worker,
                detail: detail.clone(),
            },
            Self::Shutdown => Error::Shutdown,
        }
    }
}

/// What the pool hears from a worker's supervisor.
#[derive(Debug)]
pub(crate) enum WorkerEvent {
    /// The worker's process is gone and its pending calls have been failed.
    Exited {
        /// The worker that exited.
        worker: WorkerId,
    },
}

/// What a handle asks of the supervisor.
#[derive(Debug, Clone, Copy)]
pub(super) enum Control {
    /// Stop gracefully: TERM to the group, wait `grace`, then KILL.
    Stop { grace: Duration },
    /// Kill the group now.
    Kill,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifecycle_only_moves_forward() {
        let ready = Lifecycle::Ready;
        assert!(ready.may_become(&Lifecycle::Retiring));
        assert!(ready.may_become(&Lifecycle::Stopping { killed: true }));
        assert!(!Lifecycle::Retiring.may_become(&Lifecycle::Ready));
        assert!(
            Lifecycle::Stopping { killed: false }.may_become(&Lifecycle::Stopping { killed: true })
        );
        assert!(
            !Lifecycle::Stopping { killed: true }
                .may_become(&Lifecycle::Stopping { killed: false })
        );
        assert!(!Lifecycle::Exited(Closed::Shutdown).may_become(&Lifecycle::Ready));
        assert!(Lifecycle::Retiring.is_alive());
        assert!(!Lifecycle::Stopping { killed: false }.is_alive());
    }
}
