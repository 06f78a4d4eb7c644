//! Streaming calls: chunks as the worker produces them, then the final result.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use futures_util::Stream;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Sleep;

use super::call::{CallOptions, prepare, to_result};
use super::circuit::{Outcome, Permit};
use super::handle::{Pool, PoolShared};
use super::inflight::InFlightGuard;
use super::route::checkout_for;
use super::stats::Counters;
use crate::error::{Error, Result};
use crate::protocol::Message;
use crate::session::SessionId;

/// How many chunks wait for a slow consumer before the worker is made to wait.
const CHUNK_BUFFER: usize = 16;

/// One item of a [`CallStream`].
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    /// A chunk the tool produced.
    Chunk(Value),
    /// The tool's final result; the stream ends after it.
    Done(Value),
}

/// The chunks of a streaming call, then its final result (or its error).
///
/// # Cancel safety
///
/// Dropping the stream before it ends cancels the tool on the worker (a Python generator
/// is closed); the worker returns to the pool once it answers the cancel, or is killed and
/// replaced after the cancel grace period.
#[derive(Debug)]
pub struct CallStream {
    shared: Arc<PoolShared>,
    command: String,
    chunks: mpsc::Receiver<Value>,
    guard: Option<InFlightGuard>,
    /// The reply, once it arrived while chunks were still to be read.
    ended: Option<Result<Message>>,
    done: bool,
    /// The circuit breaker's permit, spent when the stream ends.
    permit: Option<Permit>,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
}

impl Pool {
    /// Starts `command` as a streaming call: resolves once a worker has taken the call, and
    /// yields [`StreamItem::Chunk`]s as they arrive, then one [`StreamItem::Done`].
    ///
    /// ```no_run
    /// # async fn demo(pool: snakepit::Pool) -> snakepit::Result<()> {
    /// use futures_util::StreamExt;
    /// use snakepit::StreamItem;
    ///
    /// let mut stream = pool.execute_stream("progress", serde_json::json!({"steps": 5})).await?;
    /// while let Some(item) = stream.next().await {
    ///     match item? {
    ///         StreamItem::Chunk(chunk) => println!("{}%", chunk["progress"]),
    ///         StreamItem::Done(result) => println!("done: {result}"),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The errors of [`Pool::execute`] that happen before the call runs (queue, saturation,
    /// shutdown); later errors arrive as the stream's last item. The deadline covers the
    /// whole stream.
    pub async fn execute_stream(&self, command: &str, args: Value) -> Result<CallStream> {
        self.execute_stream_with(command, args, &CallOptions::new())
            .await
    }

    /// [`Pool::execute_stream`] in a session, on the session's worker.
    ///
    /// # Errors
    ///
    /// As [`Pool::execute_stream`] and [`Pool::execute_in_session`].
    pub async fn execute_in_session_stream(
        &self,
        session: impl Into<SessionId>,
        command: &str,
        args: Value,
    ) -> Result<CallStream> {
        self.execute_stream_with(command, args, &CallOptions::new().session(session))
            .await
    }

    /// [`Pool::execute_stream`] with options.
    ///
    /// # Errors
    ///
    /// As [`Pool::execute_stream`].
    pub async fn execute_stream_with(
        &self,
        command: &str,
        args: Value,
        options: &CallOptions,
    ) -> Result<CallStream> {
        let shared = &self.shared;
        Counters::bump(&shared.counters.requests);
        let started = match shared.circuit.allow(Instant::now()) {
            Ok(permit) => {
                let started = start_stream(shared, command, args, options, permit).await;
                if let Err(err) = &started {
                    shared
                        .circuit
                        .record(permit, Outcome::of(&started), Instant::now());
                    tracing::debug!(command, error = %err, "stream did not start");
                }
                started
            }
            Err(refused) => Err(refused),
        };
        if let Err(err) = &started {
            shared.counters.count_error(err);
        }
        started
    }
}

async fn start_stream(
    shared: &Arc<PoolShared>,
    command: &str,
    args: Value,
    options: &CallOptions,
    permit: Permit,
) -> Result<CallStream> {
    let (args, timeout) = prepare(shared, command, args, options)?;
    let session = options.session.as_ref();
    let affinity = options.affinity.unwrap_or(shared.config.affinity);
    let lease = checkout_for(shared, session, affinity).await?;
    let worker = lease.worker().clone();
    let (sender, chunks) = mpsc::channel(CHUNK_BUFFER);
    let in_flight = worker
        .start_call(command, args, session, timeout, Some(sender))
        .await?;
    Ok(CallStream {
        shared: Arc::clone(shared),
        command: command.to_owned(),
        chunks,
        guard: Some(InFlightGuard {
            lease: Some(lease),
            id: in_flight.id,
            reply: Some(in_flight.reply),
            grace: shared.config.cancel_grace,
        }),
        ended: None,
        done: false,
        permit: Some(permit),
        deadline: Box::pin(tokio::time::sleep(timeout)),
        timeout,
    })
}

impl CallStream {
    fn finish(&mut self, outcome: Result<Value>) -> Poll<Option<Result<StreamItem>>> {
        if let Err(err) = &outcome {
            self.shared.counters.count_error(err);
        }
        if let Some(permit) = self.permit.take() {
            self.shared
                .circuit
                .record(permit, Outcome::of(&outcome), Instant::now());
        }
        self.done = true;
        // Dropping a guard that has not completed cancels the call on the worker.
        self.guard = None;
        Poll::Ready(Some(outcome.map(StreamItem::Done)))
    }
}

impl Drop for CallStream {
    fn drop(&mut self) {
        // A stream dropped before its end tells the breaker nothing either way.
        if let Some(permit) = self.permit.take() {
            self.shared
                .circuit
                .record(permit, Outcome::Neutral, Instant::now());
        }
    }
}

impl Stream for CallStream {
    type Item = Result<StreamItem>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Poll::Ready(Some(chunk)) = this.chunks.poll_recv(cx) {
            return Poll::Ready(Some(Ok(StreamItem::Chunk(chunk))));
        }
        if this.ended.is_none() {
            if let Some(guard) = this.guard.as_mut() {
                if let Poll::Ready(reply) = Pin::new(guard.reply_mut()).poll(cx) {
                    let worker = guard.lease.as_ref().map(|lease| lease.worker().clone());
                    guard.complete();
                    this.ended = Some(match reply {
                        Ok(outcome) => outcome,
                        Err(_) => {
                            Err(worker.map_or(Error::Shutdown, |worker| worker.closed_error()))
                        }
                    });
                }
            }
        }
        if let Some(ended) = this.ended.take() {
            // The supervisor delivers every chunk before the result, but one may have landed
            // between the first poll above and the result: it still comes first.
            if let Ok(chunk) = this.chunks.try_recv() {
                this.ended = Some(ended);
                return Poll::Ready(Some(Ok(StreamItem::Chunk(chunk))));
            }
            let outcome = ended.and_then(|message| to_result(&this.shared, &this.command, message));
            return this.finish(outcome);
        }
        ready!(this.deadline.as_mut().poll(cx));
        let err = Error::Timeout {
            command: this.command.clone(),
            after: this.timeout,
        };
        this.finish(Err(err))
    }
}
