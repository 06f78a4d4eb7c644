//! The one path every call takes: circuit breaker, retries, the adapter's checks, routing to
//! a worker, sending under the deadline, and waiting for the answer. Streams take the same
//! path up to the send, then hand the running call to a [`CallStream`].

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

use super::circuit::{Outcome, Permit};
use super::handle::PoolShared;
use super::inflight::InFlightGuard;
use super::observe::{self, CallTrace};
use super::reply::to_result;
use super::request::Request;
use super::route::checkout_for;
use super::stats::Counters;
use super::stream::{CHUNK_BUFFER, CallStream};
use crate::config::RetryPolicy;
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::{MAX_DEPTH, dismantle, exceeds};
use crate::value::Payload;
use crate::worker::{CallFrame, ChunkSender};

/// A call a worker has taken and been sent, with its deadline.
#[derive(Debug)]
pub(super) struct Started {
    pub(super) guard: InFlightGuard,
    pub(super) deadline: Instant,
    pub(super) timeout: Duration,
}

/// Refuses arguments nested deeper than the protocol allows, before anything copies them;
/// they are taken apart without recursion.
fn check_depth(shared: &PoolShared, request: &mut Request<'_>) -> Result<()> {
    if !exceeds(&request.args, MAX_DEPTH) {
        return Ok(());
    }
    dismantle(std::mem::take(&mut request.args));
    let err = Error::InvalidCall {
        command: request.command.to_string(),
        reason: format!("the arguments nest deeper than {MAX_DEPTH} levels, the protocol's limit"),
    };
    shared.counters.count_error(&err);
    Err(err)
}

/// Runs a request as a call.
pub(super) async fn call(shared: &Arc<PoolShared>, mut request: Request<'_>) -> Result<Payload> {
    let mut trace = CallTrace::new(request.correlation_id.take(), &request.command);
    let outcome = call_traced(shared, &mut request, &mut trace).await;
    observe::finished(shared, &mut trace, &request.command, &outcome);
    outcome
}

async fn call_traced(
    shared: &Arc<PoolShared>,
    request: &mut Request<'_>,
    trace: &mut CallTrace,
) -> Result<Payload> {
    Counters::bump(&shared.counters.requests);
    check_depth(shared, request)?;
    // The call started a moment ago: its start is as good a now as another clock read.
    let outcome = match shared.circuit.allow(trace.started) {
        Ok(permit) => {
            let outcome = with_retries(shared, request, trace).await;
            shared
                .circuit
                .record(permit, Outcome::of(&outcome), std::time::Instant::now());
            outcome
        }
        Err(refused) => Err(refused),
    };
    if let Err(err) = &outcome {
        shared.counters.count_error(err);
    }
    outcome
}

/// Runs a request as a stream.
pub(super) async fn stream(
    shared: &Arc<PoolShared>,
    mut request: Request<'_>,
) -> Result<CallStream> {
    let mut trace = CallTrace::new(request.correlation_id.take(), &request.command);
    let started = stream_traced(shared, &mut request, &mut trace).await;
    match started {
        Ok((started, chunks, permit)) => Ok(CallStream::new(
            Arc::clone(shared),
            request.command.into_owned(),
            chunks,
            started,
            permit,
            trace,
        )),
        Err(err) => {
            let outcome = Err(err);
            observe::finished(shared, &mut trace, &request.command, &outcome);
            outcome
        }
    }
}

/// A stream taken by a worker: the running call, its chunks, and the breaker's permit.
type StreamStart = (Started, mpsc::Receiver<Result<Payload>>, Permit);

async fn stream_traced(
    shared: &Arc<PoolShared>,
    request: &mut Request<'_>,
    trace: &mut CallTrace,
) -> Result<StreamStart> {
    Counters::bump(&shared.counters.requests);
    check_depth(shared, request)?;
    let permit = match shared.circuit.allow(std::time::Instant::now()) {
        Ok(permit) => permit,
        Err(refused) => {
            shared.counters.count_error(&refused);
            return Err(refused);
        }
    };
    let (sender, chunks) = mpsc::channel(CHUNK_BUFFER);
    let command = request.command.to_string();
    let args = std::mem::take(&mut request.args);
    match start(shared, request, args, Some(sender), trace).await {
        Ok(started) => Ok((started, chunks, permit)),
        Err(err) => {
            shared
                .circuit
                .record(permit, Outcome::of_error(&err), std::time::Instant::now());
            tracing::debug!(command, error = %err, "stream did not start");
            shared.counters.count_error(&err);
            Err(err)
        }
    }
}

/// Runs a call, and runs it again on another worker when its worker crashed and the retry
/// policy allows it.
async fn with_retries(
    shared: &Arc<PoolShared>,
    request: &mut Request<'_>,
    trace: &mut CallTrace,
) -> Result<Payload> {
    let retry = &shared.config.retry;
    let retryable = match retry.policy_for(&request.command) {
        RetryPolicy::Never => false,
        RetryPolicy::Idempotent => request.idempotent,
        RetryPolicy::Always => true,
    };
    if !retryable || retry.max_retries == 0 {
        let args = std::mem::take(&mut request.args);
        return once(shared, request, args, trace).await;
    }
    let mut attempt = 0;
    loop {
        let outcome = once(shared, request, request.args.clone(), trace).await;
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
            command = %request.command,
            attempt,
            ?pause,
            "worker crashed; retrying the call"
        );
        tokio::time::sleep(pause).await;
    }
}

/// Runs a call once.
async fn once(
    shared: &Arc<PoolShared>,
    request: &Request<'_>,
    args: Value,
    trace: &mut CallTrace,
) -> Result<Payload> {
    let started = start(shared, request, args, None, trace).await?;
    let command = &*request.command;
    let Started {
        mut guard,
        deadline,
        timeout,
    } = started;
    match guard.reply(deadline).await {
        Some(reply) => {
            if guard.complete() {
                // The worker went straight to a waiting call: let that call send its
                // request before this caller goes on with its answer (answering an HTTP
                // request, say), so the worker is not left idle meanwhile.
                tokio::task::yield_now().await;
            }
            match reply.and_then(|message| to_result(shared, command, message)) {
                // A worker that keeps the call's deadline itself (the frame's `timeout_ms`)
                // may answer `Cancelled` just as the host's timer fires: the deadline passed,
                // so the call timed out either way.
                Err(Error::Worker(error))
                    if error.kind == ErrorKind::Cancelled && Instant::now() >= deadline =>
                {
                    Err(Error::Timeout {
                        command: command.to_owned(),
                        after: timeout,
                    })
                }
                result => result,
            }
        }
        None => {
            // Dropping the guard cancels the call on the worker.
            drop(guard);
            Err(Error::Timeout {
                command: command.to_owned(),
                after: timeout,
            })
        }
    }
}

/// Checks the call, takes a worker for it and sends it; the deadline starts when the worker
/// is taken and bounds the send.
async fn start(
    shared: &Arc<PoolShared>,
    request: &Request<'_>,
    args: Value,
    chunks: Option<ChunkSender>,
    trace: &mut CallTrace,
) -> Result<Started> {
    let command = &*request.command;
    let (args, timeout) = prepare(shared, request, args)?;
    let queued_at = Instant::now();
    let session = request.session.as_ref();
    let affinity = request.affinity.unwrap_or(shared.config.affinity);
    let lease = checkout_for(shared, session, affinity, &trace.correlation).await?;
    let worker = lease.worker();
    let taken_at = Instant::now();
    let queue_wait = taken_at - queued_at;
    observe::dispatched(shared, trace, command, worker.id(), queue_wait);
    let deadline = taken_at + timeout;
    let span = tracing::debug_span!(
        "call",
        command,
        correlation_id = %trace.correlation,
        worker = %worker.id(),
        queue_wait_us = duration_us(queue_wait),
    );
    let frame = CallFrame {
        command,
        args,
        session,
        timeout,
        chunks,
        correlation_id: Some(trace.correlation.as_str()),
        traceparent: trace.traceparent.as_deref(),
        buffers: &request.buffers,
    };
    // Most sends finish at their first poll (the link is free and its buffer has room);
    // only one that has to wait gets a timer for the deadline.
    let sent = {
        let mut send = std::pin::pin!(worker.start_call(frame).instrument(span));
        match std::future::poll_fn(|cx| Poll::Ready(send.as_mut().poll(cx))).await {
            Poll::Ready(in_flight) => Ok(in_flight),
            Poll::Pending => tokio::time::timeout_at(deadline, send).await,
        }
    };
    let in_flight = match sent {
        Ok(in_flight) => in_flight?,
        Err(_) => {
            return Err(Error::Timeout {
                command: command.to_owned(),
                after: timeout,
            });
        }
    };
    Ok(Started {
        guard: InFlightGuard::new(lease, in_flight, shared.config.cancel_grace),
        deadline,
        timeout,
    })
}

/// Runs the adapter's checks and shaping and the depth check; returns the arguments to send
/// and the call's timeout.
fn prepare(shared: &PoolShared, request: &Request<'_>, args: Value) -> Result<(Value, Duration)> {
    let command = &*request.command;
    let invalid = |reason: String| Error::InvalidCall {
        command: command.to_owned(),
        reason,
    };
    let adapter = &shared.adapter;
    adapter.validate(command, &args).map_err(invalid)?;
    let args = adapter.prepare_args(command, args);
    let timeout = request
        .timeout
        .or_else(|| adapter.command_timeout(command, &args))
        .unwrap_or(shared.config.call_timeout);
    Ok((args, timeout))
}

fn duration_us(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}
