//! Who gets which worker: the idle workers and the FIFO queue of calls waiting for one.
//!
//! One short critical section per checkout and per release. A released worker goes straight
//! to the oldest waiter, so a call never overtakes one that waited longer.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, oneshot};

use super::handle::PoolShared;
use crate::error::{Error, Result};
use crate::worker::Worker;

/// The outcome of a checkout that does not wait.
pub(super) enum Checkout {
    /// A worker was idle.
    Ready(Worker),
    /// The call joined the queue under `ticket`; the worker arrives on `receiver`.
    Wait {
        ticket: u64,
        receiver: oneshot::Receiver<Worker>,
    },
}

#[derive(Debug)]
struct Waiter {
    ticket: u64,
    sender: oneshot::Sender<Worker>,
}

#[derive(Debug, Default)]
struct State {
    idle: VecDeque<Worker>,
    waiters: VecDeque<Waiter>,
    next_ticket: u64,
    closed: bool,
}

/// The idle workers and the queue.
#[derive(Debug)]
pub(super) struct Scheduler {
    state: Mutex<State>,
    max_queue: usize,
    /// Notified whenever a worker is released.
    pub(super) released: Notify,
}

impl Scheduler {
    pub(super) fn new(max_queue: usize) -> Self {
        Self {
            state: Mutex::default(),
            max_queue,
            released: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("scheduler lock is never poisoned")
    }

    /// Takes an idle worker, or joins the queue.
    ///
    /// # Errors
    ///
    /// [`Error::Shutdown`] once the pool is closed, [`Error::PoolSaturated`] when the queue
    /// is full.
    pub(super) fn checkout(&self) -> Result<Checkout> {
        let mut state = self.state();
        if state.closed {
            return Err(Error::Shutdown);
        }
        while let Some(worker) = state.idle.pop_front() {
            if worker.is_alive() {
                return Ok(Checkout::Ready(worker));
            }
        }
        if state.waiters.len() >= self.max_queue {
            return Err(Error::PoolSaturated {
                queued: state.waiters.len(),
            });
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        let (sender, receiver) = oneshot::channel();
        state.waiters.push_back(Waiter { ticket, sender });
        Ok(Checkout::Wait { ticket, receiver })
    }

    /// Hands a worker to the oldest waiter, or makes it idle. A dead worker is dropped.
    pub(super) fn release(&self, worker: Worker) {
        if worker.is_alive() {
            let mut state = self.state();
            let mut worker = Some(worker);
            while let Some(waiter) = state.waiters.pop_front() {
                match waiter
                    .sender
                    .send(worker.take().expect("a worker is in hand"))
                {
                    Ok(()) => break,
                    Err(returned) => worker = Some(returned),
                }
            }
            if let Some(worker) = worker {
                state.idle.push_back(worker);
            }
        }
        self.released.notify_waiters();
    }

    /// Leaves the queue. `false` when the ticket already got a worker.
    pub(super) fn leave(&self, ticket: u64) -> bool {
        let mut state = self.state();
        match state
            .waiters
            .iter()
            .position(|waiter| waiter.ticket == ticket)
        {
            Some(index) => {
                state.waiters.remove(index);
                true
            }
            None => false,
        }
    }

    /// Stops taking calls; every waiting call fails with [`Error::Shutdown`].
    pub(super) fn close(&self) {
        let mut state = self.state();
        state.closed = true;
        state.waiters.clear();
    }

    pub(super) fn is_closed(&self) -> bool {
        self.state().closed
    }

    /// Idle live workers and waiting calls.
    pub(super) fn counts(&self) -> (usize, usize) {
        let state = self.state();
        let idle = state.idle.iter().filter(|worker| worker.is_alive()).count();
        (idle, state.waiters.len())
    }
}

/// A checked-out worker. Dropping it returns the worker to the pool (or drops it if dead).
#[derive(Debug)]
pub(super) struct Lease {
    shared: Arc<PoolShared>,
    worker: Option<Worker>,
}

impl Lease {
    pub(super) fn new(shared: Arc<PoolShared>, worker: Worker) -> Self {
        Self {
            shared,
            worker: Some(worker),
        }
    }

    pub(super) fn worker(&self) -> &Worker {
        self.worker
            .as_ref()
            .expect("a lease holds its worker until dropped")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            self.shared.scheduler.release(worker);
        }
    }
}

/// A place in the queue. Dropping it leaves the queue, and gives back a worker that was
/// handed over just as the wait was abandoned.
pub(super) struct QueueSlot {
    pub(super) shared: Arc<PoolShared>,
    pub(super) ticket: u64,
    pub(super) receiver: Option<oneshot::Receiver<Worker>>,
}

impl Drop for QueueSlot {
    fn drop(&mut self) {
        if let Some(mut receiver) = self.receiver.take() {
            if !self.shared.scheduler.leave(self.ticket) {
                if let Ok(worker) = receiver.try_recv() {
                    self.shared.scheduler.release(worker);
                }
            }
        }
    }
}
