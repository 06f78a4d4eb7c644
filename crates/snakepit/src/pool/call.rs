//! One call through the pool: validate, queue, send, wait under a deadline, and recover the
//! worker when the caller stops waiting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::oneshot;
use tracing::Instrument;

use super::handle::{Pool, PoolShared};
use super::scheduler::{Checkout, Lease, QueueSlot};
use super::stats::Counters;
use crate::error::{Error, Result, WorkerError};
use crate::protocol::Message;

/// Options of one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallOptions {
    /// The call's deadline, counted from when a worker takes it. Default: the adapter's
    /// per-command timeout, else the pool's `call_timeout`.
    pub timeout: Option<Duration>,
}

impl CallOptions {
    /// Default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the call's deadline.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

impl Pool {
    /// Runs `command` with `args` on a free worker and returns its result.
    ///
    /// # Errors
    ///
    /// [`Error::Worker`] when the tool raised, [`Error::Timeout`] past the deadline,
    /// [`Error::PoolSaturated`] and [`Error::QueueTimeout`] when no worker is free,
    /// [`Error::WorkerExited`] when the worker died during the call, [`Error::Shutdown`]
    /// once the pool is shut down, [`Error::InvalidCall`] when the adapter rejects it.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future is safe: a queued call leaves the queue; a running call is
    /// cancelled on the worker, which returns to the pool once it answers (or is killed and
    /// replaced after the cancel grace period).
    pub async fn execute(&self, command: &str, args: Value) -> Result<Value> {
        self.execute_with(command, args, &CallOptions::default())
            .await
    }

    /// [`Pool::execute`] with options.
    ///
    /// # Errors
    ///
    /// As [`Pool::execute`].
    pub async fn execute_with(
        &self,
        command: &str,
        args: Value,
        options: &CallOptions,
    ) -> Result<Value> {
        let shared = &self.shared;
        Counters::bump(&shared.counters.requests);
        let outcome = call(shared, command, args, options).await;
        if let Err(err) = &outcome {
            Counters::bump(&shared.counters.errors);
            match err {
                Error::Timeout { .. } => Counters::bump(&shared.counters.timeouts),
                Error::QueueTimeout { .. } => Counters::bump(&shared.counters.queue_timeouts),
                Error::PoolSaturated { .. } => Counters::bump(&shared.counters.pool_saturated),
                _ => {}
            }
        }
        outcome
    }

    /// [`Pool::execute`] with typed arguments and result, converted through serde.
    ///
    /// # Errors
    ///
    /// As [`Pool::execute`], and [`Error::Convert`] when the arguments or the result do not
    /// convert.
    pub async fn execute_typed<A, R>(&self, command: &str, args: &A) -> Result<R>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let args = serde_json::to_value(args).map_err(|source| Error::Convert {
            what: "the arguments",
            source,
        })?;
        let result = self.execute(command, args).await?;
        serde_json::from_value(result).map_err(|source| Error::Convert {
            what: "the result",
            source,
        })
    }
}

async fn call(
    shared: &Arc<PoolShared>,
    command: &str,
    args: Value,
    options: &CallOptions,
) -> Result<Value> {
    let adapter = &shared.adapter;
    adapter
        .validate(command, &args)
        .map_err(|reason| Error::InvalidCall {
            command: command.to_owned(),
            reason,
        })?;
    let args = adapter.prepare_args(command, args);
    let timeout = options
        .timeout
        .or_else(|| adapter.command_timeout(command, &args))
        .unwrap_or(shared.config.call_timeout);
    let queued_at = Instant::now();
    let lease = checkout(shared).await?;
    let worker = lease.worker().clone();
    let span = tracing::info_span!(
        "call",
        command,
        worker = %worker.id(),
        queue_wait_us = duration_us(queued_at.elapsed()),
        duration_us = tracing::field::Empty,
    );
    async move {
        let started = Instant::now();
        let in_flight = worker.start_call(command, args, None, timeout).await?;
        let mut guard = InFlightGuard {
            lease: Some(lease),
            id: in_flight.id,
            reply: Some(in_flight.reply),
            grace: shared.config.cancel_grace,
        };
        let reply = guard
            .reply
            .as_mut()
            .expect("the guard holds the reply until the end");
        let outcome = tokio::time::timeout(timeout, reply).await;
        let result = match outcome {
            Ok(reply) => {
                guard.complete();
                match reply {
                    Ok(Ok(message)) => to_result(shared, command, message),
                    Ok(Err(err)) => Err(err),
                    Err(_) => Err(worker.closed_error()),
                }
            }
            Err(_) => {
                drop(guard);
                Err(Error::Timeout {
                    command: command.to_owned(),
                    after: timeout,
                })
            }
        };
        tracing::Span::current().record("duration_us", duration_us(started.elapsed()));
        result
    }
    .instrument(span)
    .await
}

fn duration_us(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Takes a worker, waiting in the queue up to the queue timeout.
async fn checkout(shared: &Arc<PoolShared>) -> Result<Lease> {
    match shared.scheduler.checkout()? {
        Checkout::Ready(worker) => Ok(Lease::new(Arc::clone(shared), worker)),
        Checkout::Wait { ticket, receiver } => {
            let started = Instant::now();
            let mut slot = QueueSlot {
                shared: Arc::clone(shared),
                ticket,
                receiver: Some(receiver),
            };
            let receiver = slot.receiver.as_mut().expect("the slot holds its receiver");
            match tokio::time::timeout(shared.config.queue_timeout, receiver).await {
                Ok(Ok(worker)) => {
                    slot.receiver = None;
                    Ok(Lease::new(Arc::clone(shared), worker))
                }
                Ok(Err(_)) => Err(Error::Shutdown),
                Err(_) => Err(Error::QueueTimeout {
                    waited: started.elapsed(),
                }),
            }
        }
    }
}

/// Turns a worker's reply into the call's result.
fn to_result(shared: &PoolShared, command: &str, message: Message) -> Result<Value> {
    if message.success == Some(true) {
        let result = message.result.unwrap_or(Value::Null);
        return shared
            .adapter
            .process_response(command, result)
            .map_err(|reason| Error::InvalidResponse {
                command: command.to_owned(),
                reason,
            });
    }
    Err(Error::Worker(worker_error(command, message.error.as_ref())))
}

fn worker_error(command: &str, error: Option<&Value>) -> WorkerError {
    let text = |value: Option<&Value>| match value {
        Some(Value::String(text)) => Some(text.clone()),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    let (kind, message, traceback) = match error {
        Some(Value::Object(fields)) => (
            text(fields.get("type")).unwrap_or_else(|| "Error".to_owned()),
            text(fields.get("message")).unwrap_or_default(),
            text(fields.get("traceback")),
        ),
        Some(Value::String(message)) => ("Error".to_owned(), message.clone(), None),
        None | Some(Value::Null) => (
            "Error".to_owned(),
            "the worker reported a failure without details".to_owned(),
            None,
        ),
        Some(other) => ("Error".to_owned(), other.to_string(), None),
    };
    WorkerError {
        kind,
        message,
        traceback,
        command: command.to_owned(),
    }
}

/// A call on a worker. Dropped before the reply arrived, it cancels the call and keeps the
/// worker out of the pool until the worker answers, or kills it after the grace period.
struct InFlightGuard {
    lease: Option<Lease>,
    id: u64,
    reply: Option<oneshot::Receiver<Result<Message>>>,
    grace: Duration,
}

impl InFlightGuard {
    /// The reply arrived: the worker goes back to the pool.
    fn complete(&mut self) {
        self.reply = None;
        self.lease = None;
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let (Some(lease), Some(reply)) = (self.lease.take(), self.reply.take()) else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(recover(lease, self.id, reply, self.grace));
            }
            Err(_) => lease.worker().kill(),
        }
    }
}

/// Cancels an abandoned call and returns the worker to the pool once it answers, or kills it.
async fn recover(
    lease: Lease,
    id: u64,
    reply: oneshot::Receiver<Result<Message>>,
    grace: Duration,
) {
    let worker = lease.worker().clone();
    worker.cancel(id).await;
    match tokio::time::timeout(grace, reply).await {
        Ok(Ok(Ok(_))) => tracing::debug!(worker = %worker.id(), id, "worker answered the cancel"),
        _ => {
            tracing::warn!(worker = %worker.id(), id, ?grace, "worker did not answer the cancel; killing it");
            worker.forget(id);
            worker.kill();
        }
    }
    drop(lease);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_python_error_map_becomes_a_worker_error() {
        let error = worker_error(
            "compute",
            Some(
                &json!({"type": "ZeroDivisionError", "message": "division by zero", "traceback": "tb"}),
            ),
        );
        assert_eq!(error.kind, "ZeroDivisionError");
        assert_eq!(error.message, "division by zero");
        assert_eq!(error.traceback.as_deref(), Some("tb"));
        assert_eq!(error.command, "compute");
    }

    #[test]
    fn a_classic_error_string_becomes_a_worker_error() {
        let error = worker_error("x", Some(&json!("Unknown command: x")));
        assert_eq!(error.kind, "Error");
        assert_eq!(error.message, "Unknown command: x");
        assert_eq!(error.traceback, None);
        let error = worker_error("x", None);
        assert!(!error.message.is_empty());
    }
}
