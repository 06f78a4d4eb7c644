//! Who reads a worker's link. The supervisor does, except while the caller of a call that is
//! alone on the link (capacity 1, no stream) waits for its reply: that caller reads and
//! routes the frames itself, so a reply wakes one task, the caller, instead of two (the
//! supervisor, then the caller). See `docs/design/reply-handoff.md`.
//!
//! The link is only ever polled with one waker, [`ReadSide::dispatch`]: it wakes the reading
//! caller when one waits, else the supervisor. Whoever stops reading leaves the link polled
//! to `Pending` (so the next frame wakes someone) or wakes the supervisor.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use bytes::BytesMut;
use futures_util::StreamExt;
use futures_util::task::AtomicWaker;
use tokio::time::{Instant, Sleep};
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

use crate::process::LinkReader;

/// The reading half of a worker's link, framed.
pub(super) type FrameReader = FramedRead<LinkReader, LengthDelimitedCodec>;

/// How a link ended, as its reader saw it.
#[derive(Debug)]
pub(super) enum LinkEnd {
    /// End of file.
    Closed,
    /// The read failed.
    Failed(io::Error),
    /// A frame broke the protocol (a caller routed it; the supervisor ends the worker).
    Protocol(String),
}

/// What a poll of the link gave.
#[derive(Debug)]
pub(super) enum Next {
    /// One frame's payload.
    Frame(BytesMut),
    /// The link ended.
    End(LinkEnd),
}

/// The reading half of the link and who waits on it.
pub(super) struct ReadSide {
    state: Mutex<ReadState>,
    wakers: Arc<Wakers>,
    dispatch: Waker,
    /// The deadline of the reading caller's call: one timer for every such call, moved
    /// forward from call to call (a later deadline costs an atomic store, not a timer
    /// registration). Made by the first caller that reads.
    timer: Mutex<Option<Pin<Box<Sleep>>>>,
}

impl std::fmt::Debug for ReadSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadSide").finish_non_exhaustive()
    }
}

/// The reader under its lock; held only for a poll and the routing of what it gave, never
/// across an `.await`.
pub(super) struct ReadState {
    reader: FrameReader,
    /// An end a caller read, left for the supervisor to act on. Once set, callers no longer
    /// read.
    end: EndState,
}

#[derive(Debug)]
enum EndState {
    Open,
    Stashed(LinkEnd),
    Taken,
}

/// The tasks the link's readiness may wake.
#[derive(Debug, Default)]
struct Wakers {
    /// The caller reading its own reply, while it waits.
    caller: AtomicWaker,
    supervisor: AtomicWaker,
}

impl Wake for Wakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        match self.caller.take() {
            Some(caller) => caller.wake(),
            None => self.supervisor.wake(),
        }
    }
}

impl ReadSide {
    pub(super) fn new(reader: FrameReader) -> Self {
        let wakers = Arc::new(Wakers::default());
        Self {
            state: Mutex::new(ReadState {
                reader,
                end: EndState::Open,
            }),
            dispatch: Waker::from(Arc::clone(&wakers)),
            wakers,
            timer: Mutex::new(None),
        }
    }

    /// Locks the reader.
    pub(super) fn lock(&self) -> MutexGuard<'_, ReadState> {
        self.state
            .lock()
            .expect("the reader lock is never poisoned")
    }

    /// The supervisor's read: registers it to be woken and locks the reader.
    pub(super) fn lock_for_supervisor(&self, cx: &Context<'_>) -> MutexGuard<'_, ReadState> {
        self.wakers.supervisor.register(cx.waker());
        self.lock()
    }

    /// The supervisor's next frame or the end of the link, an end a caller read first; the
    /// lock is held.
    pub(super) fn poll_supervisor(&self, state: &mut ReadState) -> Poll<Next> {
        if let EndState::Stashed(_) = state.end {
            if let EndState::Stashed(end) = std::mem::replace(&mut state.end, EndState::Taken) {
                return Poll::Ready(Next::End(end));
            }
        }
        self.poll_locked(state)
    }

    /// Polls the reader with the dispatching waker; the lock is held.
    pub(super) fn poll_locked(&self, state: &mut ReadState) -> Poll<Next> {
        let mut cx = Context::from_waker(&self.dispatch);
        state
            .reader
            .poll_next_unpin(&mut cx)
            .map(|next| match next {
                Some(Ok(frame)) => Next::Frame(frame),
                Some(Err(err)) => Next::End(LinkEnd::Failed(err)),
                None => Next::End(LinkEnd::Closed),
            })
    }

    /// Whether a caller may read: the link has not ended.
    pub(super) fn open(state: &ReadState) -> bool {
        matches!(state.end, EndState::Open)
    }

    /// Leaves `end` for the supervisor, and wakes it. Callers read no more.
    pub(super) fn stash(&self, state: &mut ReadState, end: LinkEnd) {
        state.end = EndState::Stashed(end);
        self.wakers.supervisor.wake();
    }

    /// Registers the waiting caller, to be woken by the link or by an answer.
    pub(super) fn register_caller(&self, waker: &Waker) {
        self.wakers.caller.register(waker);
    }

    /// Forgets the waiting caller.
    pub(super) fn clear_caller(&self) {
        drop(self.wakers.caller.take());
    }

    /// Wakes the waiting caller, if any: its call was answered by someone else.
    pub(super) fn wake_caller(&self) {
        self.wakers.caller.wake();
    }

    /// Whether `deadline` has passed; otherwise the reading caller (`cx`) is woken when it
    /// does.
    pub(super) fn poll_deadline(&self, deadline: Instant, cx: &mut Context<'_>) -> Poll<()> {
        let mut timer = self.timer.lock().expect("the timer lock is never poisoned");
        let sleep = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        sleep.as_mut().poll(cx)
    }

    /// A caller stops reading without having left the link polled: the supervisor reads on.
    pub(super) fn hand_back(&self) {
        self.clear_caller();
        self.wakers.supervisor.wake();
    }
}
