//! Who gets which worker: the idle workers and the FIFO queue of calls waiting for one.
//!
//! One short critical section per checkout and per release. A released worker goes straight
//! to the oldest call waiting for that very worker (strict session affinity), else to the
//! oldest call waiting for any worker, so a call never overtakes one that waited longer.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, oneshot};

use super::handle::PoolShared;
use crate::error::{Error, Result};
use crate::worker::{Worker, WorkerId};

/// The outcome of a checkout that does not wait.
pub(super) enum Checkout {
    /// A worker was idle.
    Ready(Worker),
    /// The call joined the queue under `ticket`; the worker arrives on `receiver`.
    Wait {
        ticket: u64,
        receiver: oneshot::Receiver<Worker>,
    },
    /// The worker asked for has exited.
    Gone,
}

#[derive(Debug)]
struct Waiter {
    ticket: u64,
    sender: oneshot::Sender<Worker>,
}

#[derive(Debug, Default)]
struct State {
    idle: VecDeque<Worker>,
    /// Calls waiting for any worker.
    waiters: VecDeque<Waiter>,
    /// Calls waiting for one particular worker.
    owner_waiters: HashMap<WorkerId, VecDeque<Waiter>>,
    /// Workers that exited; nobody may wait for them any more.
    gone: HashSet<WorkerId>,
    next_ticket: u64,
    closed: bool,
}

impl State {
    fn queued(&self) -> usize {
        self.waiters.len()
            + self
                .owner_waiters
                .values()
                .map(VecDeque::len)
                .sum::<usize>()
    }

    fn ticket(&mut self) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        ticket
    }
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
        self.enqueue(&mut state, None)
    }

    /// Takes worker `id` if it is idle, or joins its own queue.
    ///
    /// # Errors
    ///
    /// As [`Scheduler::checkout`].
    pub(super) fn checkout_worker(&self, id: WorkerId) -> Result<Checkout> {
        let mut state = self.state();
        if state.closed {
            return Err(Error::Shutdown);
        }
        if state.gone.contains(&id) {
            return Ok(Checkout::Gone);
        }
        if let Some(worker) = take_idle(&mut state, id) {
            return Ok(Checkout::Ready(worker));
        }
        self.enqueue(&mut state, Some(id))
    }

    /// Takes worker `id` if it is idle; never waits.
    pub(super) fn try_take(&self, id: WorkerId) -> Option<Worker> {
        let mut state = self.state();
        if state.closed {
            return None;
        }
        take_idle(&mut state, id)
    }

    /// Takes any idle worker; never waits.
    pub(super) fn try_take_any(&self) -> Option<Worker> {
        let mut state = self.state();
        if state.closed {
            return None;
        }
        while let Some(worker) = state.idle.pop_front() {
            if worker.is_alive() {
                return Some(worker);
            }
        }
        None
    }

    fn enqueue(&self, state: &mut State, owner: Option<WorkerId>) -> Result<Checkout> {
        let queued = state.queued();
        if queued >= self.max_queue {
            return Err(Error::PoolSaturated { queued });
        }
        let ticket = state.ticket();
        let (sender, receiver) = oneshot::channel();
        let waiter = Waiter { ticket, sender };
        match owner {
            Some(owner) => state
                .owner_waiters
                .entry(owner)
                .or_default()
                .push_back(waiter),
            None => state.waiters.push_back(waiter),
        }
        Ok(Checkout::Wait { ticket, receiver })
    }

    /// Fails the calls waiting for worker `id` (it is gone): their receivers close.
    pub(super) fn forget_worker(&self, id: WorkerId) {
        let mut state = self.state();
        state.owner_waiters.remove(&id);
        state.gone.insert(id);
    }

    /// Hands a worker to the oldest waiter, or makes it idle. A dead worker is dropped; a
    /// retiring worker is handed back to the caller, to be stopped.
    #[must_use = "a retiring worker comes back and must be stopped"]
    pub(super) fn release(&self, worker: Worker) -> Option<Worker> {
        let mut retired = None;
        if worker.is_alive() {
            let mut state = self.state();
            // Checked under the lock, so a worker retired while it was busy is caught either
            // here or by `take_retired`, never left idle.
            if worker.is_retiring() {
                retired = Some(worker);
            } else {
                let id = worker.id();
                let mut worker = Some(worker);
                if let Some(owner_waiters) = state.owner_waiters.get_mut(&id) {
                    hand_over(owner_waiters, &mut worker);
                    if owner_waiters.is_empty() {
                        state.owner_waiters.remove(&id);
                    }
                }
                hand_over(&mut state.waiters, &mut worker);
                if let Some(worker) = worker {
                    state.idle.push_back(worker);
                }
            }
        }
        self.released.notify_waiters();
        retired
    }

    /// Retires `worker`: from now on it gets no call. Returns it when it is idle, to be
    /// stopped at once; a busy worker comes back from [`Scheduler::release`] instead.
    /// Marking and removing happen under the lock every checkout takes, so no checkout can
    /// see a retiring worker in the idle list.
    pub(super) fn retire(&self, worker: &Worker) -> Option<Worker> {
        let mut state = self.state();
        worker.retire();
        let index = state
            .idle
            .iter()
            .position(|idle| idle.id() == worker.id())?;
        state.idle.remove(index)
    }

    /// Leaves the queue. `false` when the ticket already got a worker.
    pub(super) fn leave(&self, ticket: u64) -> bool {
        let mut state = self.state();
        let state = &mut *state;
        std::iter::once(&mut state.waiters)
            .chain(state.owner_waiters.values_mut())
            .any(
                |queue| match queue.iter().position(|waiter| waiter.ticket == ticket) {
                    Some(index) => {
                        queue.remove(index);
                        true
                    }
                    None => false,
                },
            )
    }

    /// Stops taking calls; every waiting call fails with [`Error::Shutdown`].
    pub(super) fn close(&self) {
        let mut state = self.state();
        state.closed = true;
        state.waiters.clear();
        state.owner_waiters.clear();
    }

    pub(super) fn is_closed(&self) -> bool {
        self.state().closed
    }

    /// Idle live workers and waiting calls.
    pub(super) fn counts(&self) -> (usize, usize) {
        let state = self.state();
        let idle = state.idle.iter().filter(|worker| worker.is_alive()).count();
        (idle, state.queued())
    }
}

/// Removes worker `id` from the idle list, if it is there and alive.
fn take_idle(state: &mut State, id: WorkerId) -> Option<Worker> {
    let index = state.idle.iter().position(|worker| worker.id() == id)?;
    state.idle.remove(index).filter(Worker::is_alive)
}

/// Gives the worker in hand to the first waiter still waiting.
fn hand_over(waiters: &mut VecDeque<Waiter>, worker: &mut Option<Worker>) {
    while worker.is_some() {
        let Some(waiter) = waiters.pop_front() else {
            return;
        };
        let offered = worker
            .take()
            .expect("the loop runs while a worker is in hand");
        if let Err(returned) = waiter.sender.send(offered) {
            *worker = Some(returned);
        }
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
            super::recycle::give_back(&self.shared, worker, true);
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
                    super::recycle::give_back(&self.shared, worker, false);
                }
            }
        }
    }
}
