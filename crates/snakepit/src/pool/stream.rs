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

use super::circuit::{Outcome, Permit};
use super::dispatch::Started;
use super::handle::PoolShared;
use super::inflight::InFlightGuard;
use super::observe::{self, CallTrace};
use super::reply::to_result;
use crate::error::{Error, Result};
use crate::telemetry::CallOutcome;
use crate::value::Payload;
use crate::worker::Reply;

/// How many chunks wait for a slow consumer before the worker is made to wait.
pub(super) const CHUNK_BUFFER: usize = 16;

/// One item of a [`CallStream`] (JSON), or of a [`TypedStream`](crate::TypedStream)
/// (`C` for chunks, `R` for the result).
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem<C = Value, R = Value> {
    /// A chunk the tool produced.
    Chunk(C),
    /// The tool's final result; the stream ends after it.
    Done(R),
}

/// The chunks of a streaming call, then its final result (or its error). Made by
/// [`Call::stream`](crate::Call::stream).
///
/// # Cancel safety
///
/// Dropping the stream before it ends cancels the tool on the worker (a Python generator
/// is closed); the worker's place comes back once it answers the cancel, or the worker is
/// killed and replaced after the cancel grace period.
#[derive(Debug)]
pub struct CallStream {
    shared: Arc<PoolShared>,
    command: String,
    chunks: mpsc::Receiver<Result<Payload>>,
    guard: Option<InFlightGuard>,
    /// The reply, once it arrived while chunks were still to be read.
    ended: Option<Result<Reply>>,
    done: bool,
    /// The circuit breaker's permit, spent when the stream ends.
    permit: Option<Permit>,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
    /// The call's telemetry.
    trace: CallTrace,
}

impl CallStream {
    pub(super) fn new(
        shared: Arc<PoolShared>,
        command: String,
        chunks: mpsc::Receiver<Result<Payload>>,
        started: Started,
        permit: Permit,
        trace: CallTrace,
    ) -> Self {
        Self {
            shared,
            command,
            chunks,
            guard: Some(started.guard),
            ended: None,
            done: false,
            permit: Some(permit),
            deadline: Box::pin(tokio::time::sleep_until(started.deadline)),
            timeout: started.timeout,
            trace,
        }
    }

    fn finish(
        &mut self,
        outcome: Result<Payload>,
    ) -> Poll<Option<Result<StreamItem<Payload, Payload>>>> {
        if let Err(err) = &outcome {
            self.shared.counters.count_error(err);
        }
        observe::finished(&self.shared, &mut self.trace, &self.command, &outcome);
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
        if !self.done {
            observe::finished_as(
                &self.shared,
                &mut self.trace,
                &self.command,
                CallOutcome::Cancelled,
            );
        }
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

    /// Chunks and the result as JSON, binary values in their tagged base64 form.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let item = ready!(this.poll_payload(cx));
        Poll::Ready(item.map(|item| {
            let invalid = |reason| Error::InvalidResponse {
                command: this.command.clone(),
                reason,
            };
            Ok(match item? {
                StreamItem::Chunk(chunk) => StreamItem::Chunk(chunk.into_json().map_err(invalid)?),
                StreamItem::Done(result) => StreamItem::Done(result.into_json().map_err(invalid)?),
            })
        }))
    }
}

impl CallStream {
    /// The next chunk or the result, as a payload: JSON with buffer markers, and buffers.
    pub(super) fn poll_payload(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<StreamItem<Payload, Payload>>>> {
        let this = self;
        if this.done {
            return Poll::Ready(None);
        }
        match this.chunks.poll_recv(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.shared.telemetry.record_chunk(&this.command);
                return Poll::Ready(Some(Ok(StreamItem::Chunk(chunk))));
            }
            Poll::Ready(Some(Err(err))) => return this.finish(Err(err)),
            Poll::Ready(None) | Poll::Pending => {}
        }
        if this.ended.is_none() {
            if let Some(guard) = this.guard.as_mut() {
                if let Poll::Ready(reply) = Pin::new(guard.reply_mut()).poll(cx) {
                    let worker = guard.worker().cloned();
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
            match this.chunks.try_recv() {
                Ok(Ok(chunk)) => {
                    this.shared.telemetry.record_chunk(&this.command);
                    this.ended = Some(ended);
                    return Poll::Ready(Some(Ok(StreamItem::Chunk(chunk))));
                }
                Ok(Err(err)) => return this.finish(Err(err)),
                Err(_) => {}
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
