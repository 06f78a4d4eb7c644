//! The seam through which a worker's calls back into the host leave the worker module.
//!
//! A worker's supervisor does not know the pool: it hands each `host_call` to a
//! [`HostCalls`] implementation (the pool provides one) and writes back what it answers.

use std::future::Future;
use std::pin::Pin;

use super::WorkerId;
use crate::session::SessionId;
use crate::value::Payload;

/// A call from a worker to a host tool.
#[derive(Debug)]
pub(crate) struct HostRequest {
    /// The worker that called.
    pub(crate) worker: WorkerId,
    /// The session of the call the worker runs, if any.
    pub(crate) session: Option<SessionId>,
    /// The host tool's name.
    pub(crate) tool: String,
    /// Its arguments, with their buffers.
    pub(crate) args: Payload,
}

/// Why a host call failed, as the worker sees it (`{type, message}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostFailure {
    /// The error's type name.
    pub(crate) kind: String,
    /// What went wrong.
    pub(crate) message: String,
}

impl HostFailure {
    /// A failure of `kind`.
    pub(crate) fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
        }
    }
}

/// The answer to a host call.
pub(crate) type HostAnswer = Pin<Box<dyn Future<Output = Result<Payload, HostFailure>> + Send>>;

/// Runs host calls for workers. The pool implements it; tests may fake it.
pub(crate) trait HostCalls: Send + Sync + std::fmt::Debug {
    /// Runs one host call.
    fn host_call(&self, request: HostRequest) -> HostAnswer;

    /// Takes an `event` frame the worker sent (telemetry). Never waits.
    fn worker_event(&self, worker: WorkerId, event: crate::protocol::Message) {
        let _ignored = (worker, event);
    }
}
