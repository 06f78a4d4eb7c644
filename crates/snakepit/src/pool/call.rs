//! One call through the pool: validate, queue, send, wait under a deadline, and recover the
//! worker when the caller stops waiting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::Instrument;

use super::circuit::Outcome;
use super::handle::{Pool, PoolShared};
use super::inflight::InFlightGuard;
use super::route::checkout_for;
use super::stats::Counters;
use crate::config::{Affinity, RetryPolicy};
use crate::error::{Error, ErrorKind, Result, WorkerError};
use crate::protocol::Message;
use crate::session::SessionId;

/// Options of one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallOptions {
    /// The call's deadline, counted from when a worker takes it. Default: the adapter's
    /// per-command timeout, else the pool's `call_timeout`.
    pub timeout: Option<Duration>,
    /// The session the call runs in: it goes to the session's worker (see `affinity`) and
    /// the worker sees the session id. Default: none.
    pub session: Option<SessionId>,
    /// How a call in a session finds its worker. Default: the pool's `affinity`.
    pub affinity: Option<Affinity>,
    /// Whether the call may safely run twice: under the
    /// [`RetryPolicy::Idempotent`](crate::RetryPolicy::Idempotent) policy (the default), an
    /// idempotent call whose worker crashes is retried on another worker. Default: `false`.
    pub idempotent: bool,
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

    /// Runs the call in `session`.
    #[must_use]
    pub fn session(mut self, session: impl Into<SessionId>) -> Self {
        self.session = Some(session.into());
        self
    }

    /// Marks the call idempotent: retried on another worker if its worker crashes.
    #[must_use]
    pub fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    /// Sets the session affinity of this call.
    #[must_use]
    pub fn affinity(mut self, affinity: Affinity) -> Self {
        self.affinity = Some(affinity);
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
        let outcome = match shared.circuit.allow(Instant::now()) {
            Ok(permit) => {
                let outcome = call_with_retries(shared, command, args, options).await;
                shared
                    .circuit
                    .record(permit, Outcome::of(&outcome), Instant::now());
                outcome
            }
            Err(refused) => Err(refused),
        };
        if let Err(err) = &outcome {
            shared.counters.count_error(err);
        }
        outcome
    }

    /// Runs `command` in `session`, on the worker that owns the session (with the pool's
    /// affinity mode). The session is created if it does not exist.
    ///
    /// # Errors
    ///
    /// As [`Pool::execute`], and [`Error::SessionLost`] / [`Error::SessionBusy`] in the strict
    /// affinity modes, [`Error::Session`] when the session store is full.
    pub async fn execute_in_session(
        &self,
        session: impl Into<SessionId>,
        command: &str,
        args: Value,
    ) -> Result<Value> {
        self.execute_with(command, args, &CallOptions::new().session(session))
            .await
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

/// Runs a call, and runs it again on another worker when its worker crashed and the retry
/// policy allows it.
async fn call_with_retries(
    shared: &Arc<PoolShared>,
    command: &str,
    args: Value,
    options: &CallOptions,
) -> Result<Value> {
    let retry = &shared.config.retry;
    let retryable = match retry.policy_for(command) {
        RetryPolicy::Never => false,
        RetryPolicy::Idempotent => options.idempotent,
        RetryPolicy::Always => true,
    };
    if !retryable || retry.max_retries == 0 {
        return call(shared, command, args, options).await;
    }
    let mut attempt = 0;
    loop {
        let outcome = call(shared, command, args.clone(), options).await;
        let crashed = matches!(
            outcome,
            Err(Error::WorkerExited { .. } | Error::WorkerProtocol { .. })
        );
        if !crashed || attempt >= retry.max_retries {
            return outcome;
        }
        attempt += 1;
        Counters::bump(&shared.counters.retries);
        let pause = retry.backoff.saturating_mul(1 << (attempt - 1).min(16));
        tracing::info!(
            command,
            attempt,
            ?pause,
            "worker crashed; retrying the call"
        );
        tokio::time::sleep(pause).await;
    }
}

/// Runs the adapter's checks and shaping; returns the arguments to send and the deadline.
pub(super) fn prepare(
    shared: &PoolShared,
    command: &str,
    args: Value,
    options: &CallOptions,
) -> Result<(Value, Duration)> {
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
    Ok((args, timeout))
}

async fn call(
    shared: &Arc<PoolShared>,
    command: &str,
    args: Value,
    options: &CallOptions,
) -> Result<Value> {
    let (args, timeout) = prepare(shared, command, args, options)?;
    let queued_at = Instant::now();
    let session = options.session.as_ref();
    let affinity = options.affinity.unwrap_or(shared.config.affinity);
    let lease = checkout_for(shared, session, affinity).await?;
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
        let in_flight = worker
            .start_call(command, args, session, timeout, None)
            .await?;
        let mut guard = InFlightGuard {
            lease: Some(lease),
            id: in_flight.id,
            reply: Some(in_flight.reply),
            grace: shared.config.cancel_grace,
        };
        let outcome = tokio::time::timeout(timeout, guard.reply_mut()).await;
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

/// Turns a worker's reply into the call's result.
pub(super) fn to_result(shared: &PoolShared, command: &str, message: Message) -> Result<Value> {
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
        kind: ErrorKind::from_name(&kind),
        message,
        traceback,
        command: command.to_owned(),
    }
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
