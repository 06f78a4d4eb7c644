//! [`ReplyWait`]: the caller of a call alone on its link (capacity 1, no stream) waiting for
//! its reply. It reads the link itself and routes what it reads (`reading.rs`), so the reply
//! costs one wake, not two; its deadline is the worker's one reusable timer. Any other call
//! waits for the supervisor to hand its reply over.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::oneshot;
use tokio::sync::oneshot::error::TryRecvError;
use tokio::time::Instant;

use super::pending::Reply;
use super::reading::{LinkEnd, Next, ReadSide, ReadState};
use super::route::{Routed, route_as, spawn_host_call};
use super::shared::Shared;
use crate::error::{Error, Result};

/// Resolves with a call's reply, or the error that ended the worker; `None` when the
/// deadline it was given passed first.
///
/// # Cancel safety
///
/// Dropped before the reply came, a caller that was reading hands the link back to the
/// supervisor.
#[derive(Debug)]
#[must_use = "a reply wait does nothing unless awaited"]
pub(super) struct ReplyWait<'a> {
    shared: &'a Arc<Shared>,
    /// The call's id.
    id: u64,
    reply: &'a mut oneshot::Receiver<Result<Reply>>,
    /// The call's deadline.
    deadline: Instant,
    /// Whether the caller is registered as the link's reader and has not handed it back.
    reading: bool,
}

impl<'a> ReplyWait<'a> {
    pub(super) fn new(
        shared: &'a Arc<Shared>,
        id: u64,
        reply: &'a mut oneshot::Receiver<Result<Reply>>,
        deadline: Instant,
    ) -> Self {
        Self {
            shared,
            id,
            reply,
            deadline,
            reading: false,
        }
    }

    fn closed(&self) -> Error {
        self.shared
            .closed()
            .map_or(Error::Shutdown, |closed| closed.to_error(self.shared.id))
    }

    /// Reads frames until this call's reply is in or the link has nothing more for now.
    fn poll_reading(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Reply>>> {
        let shared: &'a Arc<Shared> = self.shared;
        let read = &shared.read;
        loop {
            // Registered before the reply is looked at: an answer from the supervisor
            // (after a worker's end, say) wakes the caller through this registration.
            read.register_caller(cx.waker());
            self.reading = true;
            match self.reply.try_recv() {
                Ok(reply) => return Poll::Ready(Some(self.finish(reply))),
                Err(TryRecvError::Closed) => {
                    return Poll::Ready(Some(self.finish(Err(self.closed()))));
                }
                Err(TryRecvError::Empty) => {}
            }
            let mut state = read.lock();
            // Once the link ended, the supervisor acts on it and answers every call.
            let next = if ReadSide::open(&state) {
                read.poll_locked(&mut state)
            } else {
                Poll::Pending
            };
            match next {
                Poll::Pending => {
                    drop(state);
                    return self.poll_deadline(cx);
                }
                Poll::Ready(next) => {
                    // Routing may answer this very call: no wake for it.
                    read.clear_caller();
                    if let Some(reply) = self.route_locked(&mut state, next) {
                        drop(state);
                        return Poll::Ready(Some(self.finish(reply)));
                    }
                }
            }
        }
    }

    /// Pending until the deadline; past it, the link goes back to the supervisor and the
    /// wait ends with `None`.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Reply>>> {
        match self.shared.read.poll_deadline(self.deadline, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                self.reading = false;
                self.shared.read.hand_back();
                Poll::Ready(None)
            }
        }
    }

    /// Routes what the link gave, as the supervisor would, with the reader locked (so frames
    /// are routed in the order they came); this call's own reply is returned.
    fn route_locked(&self, state: &mut ReadState, next: Next) -> Option<Result<Reply>> {
        let read = &self.shared.read;
        match next {
            Next::Frame(payload) => match route_as(self.shared, &payload, Some(self.id)) {
                Ok(Routed::Mine(reply)) => return Some(reply),
                Ok(Routed::Done) => {}
                Ok(Routed::Chunk(chunks, data)) => {
                    // Only streaming calls take chunks, and they are never read by their
                    // caller; a chunk here belongs to no one waiting.
                    if chunks.try_send(data).is_err() {
                        tracing::debug!(worker = %self.shared.id, "a chunk with no room dropped");
                    }
                }
                Ok(Routed::HostCall(message)) => spawn_host_call(self.shared, *message),
                Err(detail) => read.stash(state, LinkEnd::Protocol(detail)),
            },
            Next::End(end) => read.stash(state, end),
        }
        None
    }

    /// The reply is in: stop reading, leaving the link polled so that its next frame wakes
    /// the supervisor.
    fn finish(&mut self, reply: Result<Reply>) -> Result<Reply> {
        self.reading = false;
        let shared: &'a Arc<Shared> = self.shared;
        let read = &shared.read;
        read.clear_caller();
        let mut state = read.lock();
        while ReadSide::open(&state) {
            match read.poll_locked(&mut state) {
                Poll::Pending => break,
                Poll::Ready(next) => {
                    // Its own reply is in; nothing read now is for this call.
                    let _theirs = self.route_locked(&mut state, next);
                }
            }
        }
        reply
    }
}

impl Future for ReplyWait<'_> {
    type Output = Option<Result<Reply>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().poll_reading(cx)
    }
}

impl Drop for ReplyWait<'_> {
    fn drop(&mut self) {
        if self.reading {
            self.shared.read.hand_back();
        }
    }
}
