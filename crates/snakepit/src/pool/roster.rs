//! The roster: every worker of the pool, how many calls each runs, the slots they fill, the
//! workers retiring, and the queue of calls waiting for one, all under one lock.
//!
//! A worker takes calls up to its capacity. Checkout picks the least loaded worker with a
//! free place; a place freed on a worker goes to the call the scheduler names (see
//! `scheduler.rs`). Whether a worker that exits or is recycled gets a replacement is decided
//! here too, under the same lock, so a slot never has two replacements starting at once.

use std::sync::Mutex;
use std::time::Instant;

use tokio::sync::{Notify, oneshot};

use super::health::{Restart, Slots};
use super::scheduler::{Refused, Scheduler};
use crate::config::HealthConfig;
use crate::error::{Error, Result};
use crate::id_hash::IdMap;
use crate::worker::{Worker, WorkerId};

pub(super) use seat::Seat;

/// The outcome of a checkout that does not wait.
#[derive(Debug)]
pub(super) enum Checkout<W = Worker> {
    /// A worker had a free place; it is taken.
    Ready(W),
    /// The call joined the queue under `ticket`; the worker arrives on `receiver`.
    Wait {
        ticket: u64,
        receiver: oneshot::Receiver<W>,
    },
    /// The worker asked for is gone.
    Gone,
}

/// What to do after a worker exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AfterExit {
    /// Nothing: the pool is closed, the worker was retiring, or its slot's next worker is
    /// already starting.
    Nothing,
    /// Start a replacement for `slot` after `restart.after`.
    Replace { slot: usize, restart: Restart },
}

#[derive(Debug)]
struct Member<W> {
    worker: W,
    /// Calls it runs now (or cancelled calls it has not answered yet).
    load: usize,
    /// When a place on it was last taken (a sequence number): among equally loaded
    /// workers, the one used longest ago goes first, so calls spread over the pool.
    last_taken: u64,
}

/// What became of a worker offered to the roster.
#[derive(Debug)]
pub(super) enum Inserted<W> {
    /// It joined and takes calls.
    Joined,
    /// The pool is closed: stop it.
    Refused(W),
    /// It died before it could join; its slot needs what this says.
    Died(AfterExit),
}

#[derive(Debug)]
struct State<W> {
    members: IdMap<WorkerId, Member<W>>,
    /// Counts places taken, for `Member::last_taken`.
    taken: u64,
    scheduler: Scheduler<WorkerId, oneshot::Sender<W>>,
    slots: Slots,
}

/// Counts for [`PoolStats`](crate::PoolStats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Counts {
    /// Live workers that are not retiring.
    pub(super) live: usize,
    /// Of those, the ones running nothing.
    pub(super) idle: usize,
    /// Calls waiting.
    pub(super) queued: usize,
    /// Workers running at least one call, retiring ones included.
    pub(super) busy: usize,
    /// Slots tainted now.
    pub(super) tainted: usize,
}

/// What giving places back did.
#[derive(Debug)]
#[must_use = "a retiring worker comes back and must be stopped"]
pub(super) struct Released<W> {
    /// The worker, when it is retiring and now idle: it must be stopped.
    pub(super) retired: Option<W>,
    /// How many of the places went straight to waiting calls.
    pub(super) handed_over: usize,
}

/// The pool's workers and its queue.
#[derive(Debug)]
pub(super) struct Roster<W = Worker> {
    state: Mutex<State<W>>,
    /// Notified whenever a place is freed.
    pub(super) released: Notify,
}

impl<W: Seat> Roster<W> {
    pub(super) fn new(max_queue: usize, size: usize, health: HealthConfig) -> Self {
        Self {
            state: Mutex::new(State {
                members: IdMap::default(),
                taken: 0,
                scheduler: Scheduler::new(max_queue),
                slots: Slots::new(size, health),
            }),
            released: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State<W>> {
        self.state.lock().expect("roster lock is never poisoned")
    }

    /// Adds a ready worker filling `slot` and hands its places to waiting calls.
    #[must_use = "a refused worker must be stopped, a dead one's slot refilled"]
    pub(super) fn insert(&self, worker: W, slot: usize, now: Instant) -> Inserted<W> {
        let mut state = self.state();
        if state.scheduler.is_closed() {
            state.slots.end_start(slot);
            return Inserted::Refused(worker);
        }
        if !worker.is_alive() {
            // Its exit was (or will be) reported while it was not a member, so nobody else
            // refills its slot: the slot stays marked as starting for the next attempt.
            let restart = state.slots.crashed(slot, now);
            return Inserted::Died(AfterExit::Replace { slot, restart });
        }
        state.slots.end_start(slot);
        let id = worker.id();
        state.slots.assign(id, slot);
        state.members.insert(
            id,
            Member {
                worker,
                load: 0,
                last_taken: 0,
            },
        );
        hand_over(&mut state, id);
        drop(state);
        self.released.notify_waiters();
        Inserted::Joined
    }

    /// Takes a place on the least loaded worker, or joins the shared queue.
    ///
    /// # Errors
    ///
    /// [`Error::Shutdown`] once closed, [`Error::PoolSaturated`] when the queue is full.
    pub(super) fn checkout(&self) -> Result<Checkout<W>> {
        let mut state = self.state();
        if let Some(worker) = take_least_loaded(&mut state) {
            return Ok(Checkout::Ready(worker));
        }
        enqueue(&mut state, None)
    }

    /// Takes a place on worker `id`, or joins its own queue.
    ///
    /// # Errors
    ///
    /// As [`Roster::checkout`].
    pub(super) fn checkout_worker(&self, id: WorkerId) -> Result<Checkout<W>> {
        let mut state = self.state();
        if state.scheduler.is_closed() {
            return Err(Error::Shutdown);
        }
        if !state.members.get(&id).is_some_and(|member| usable(member)) {
            return Ok(Checkout::Gone);
        }
        if let Some(worker) = take_place(&mut state, id) {
            return Ok(Checkout::Ready(worker));
        }
        enqueue(&mut state, Some(id))
    }

    /// Takes a place on worker `id` if it has one; never waits.
    pub(super) fn try_take(&self, id: WorkerId) -> Option<W> {
        let mut state = self.state();
        if state.scheduler.is_closed() {
            return None;
        }
        take_place(&mut state, id)
    }

    /// Takes a place on any worker; never waits.
    pub(super) fn try_take_any(&self) -> Option<W> {
        take_least_loaded(&mut self.state())
    }

    /// Takes all of an idle worker (heartbeats): no call runs on it meanwhile.
    pub(super) fn try_take_idle(&self, id: WorkerId) -> Option<W> {
        let mut state = self.state();
        if state.scheduler.is_closed() {
            return None;
        }
        let member = state.members.get_mut(&id)?;
        if member.load > 0 || !usable(member) {
            return None;
        }
        member.load = member.worker.capacity();
        Some(member.worker.clone())
    }

    /// Gives back `places` places of worker `id` and hands them to waiting calls; says
    /// how many went to waiting calls and returns the worker when it is retiring and now
    /// idle, to be stopped.
    pub(super) fn release(&self, id: WorkerId, places: usize) -> Released<W> {
        let mut state = self.state();
        let mut retired = None;
        let mut handed_over = 0;
        if let Some(member) = state.members.get_mut(&id) {
            member.load = member.load.saturating_sub(places);
            if member.worker.is_retiring() {
                if member.load == 0 {
                    retired = Some(member.worker.clone());
                }
            } else if member.worker.is_alive() {
                handed_over = hand_over(&mut state, id);
            }
        }
        // Only a shutdown waits for places to come back.
        let closing = state.scheduler.is_closed();
        drop(state);
        if closing {
            self.released.notify_waiters();
        }
        Released {
            retired,
            handed_over,
        }
    }

    /// Leaves the queue; `false` when the ticket already got a worker.
    pub(super) fn leave(&self, ticket: u64) -> bool {
        self.state().scheduler.leave(ticket).is_some()
    }

    /// Stops taking calls; every waiting call fails with [`Error::Shutdown`].
    pub(super) fn close(&self) {
        let waiting = self.state().scheduler.close();
        drop(waiting);
    }

    /// Whether the roster is closed.
    pub(super) fn is_closed(&self) -> bool {
        self.state().scheduler.is_closed()
    }

    /// Worker `id`, if it is in the roster.
    pub(super) fn get(&self, id: WorkerId) -> Option<W> {
        self.state()
            .members
            .get(&id)
            .map(|member| member.worker.clone())
    }

    /// Whether worker `id` is in the roster and alive.
    pub(super) fn is_live(&self, id: WorkerId) -> bool {
        self.state()
            .members
            .get(&id)
            .is_some_and(|member| member.worker.is_alive())
    }

    /// Every worker in the roster, retiring ones included.
    pub(super) fn workers(&self) -> Vec<W> {
        self.state()
            .members
            .values()
            .map(|member| member.worker.clone())
            .collect()
    }

    /// Every worker in the roster with the calls it runs now (its load).
    pub(super) fn loads(&self) -> Vec<(W, usize)> {
        self.state()
            .members
            .values()
            .map(|member| (member.worker.clone(), member.load))
            .collect()
    }

    /// The counts behind the pool's stats.
    pub(super) fn counts(&self, now: Instant) -> Counts {
        let state = self.state();
        let mut counts = Counts {
            queued: state.scheduler.queued(),
            tainted: state.slots.tainted(now),
            ..Counts::default()
        };
        for member in state.members.values() {
            if member.load > 0 {
                counts.busy += 1;
            }
            if usable(member) {
                counts.live += 1;
                if member.load == 0 {
                    counts.idle += 1;
                }
            }
        }
        counts
    }
}

/// Whether a member may be handed calls.
fn usable<W: Seat>(member: &Member<W>) -> bool {
    member.worker.is_alive() && !member.worker.is_retiring()
}

/// Takes a place on the least loaded usable worker.
fn take_least_loaded<W: Seat>(state: &mut State<W>) -> Option<W> {
    if state.scheduler.is_closed() {
        return None;
    }
    let member = state
        .members
        .values_mut()
        .filter(|member| usable(member) && member.load < member.worker.capacity())
        .min_by_key(|member| (member.load, member.last_taken))?;
    member.load += 1;
    state.taken += 1;
    member.last_taken = state.taken;
    Some(member.worker.clone())
}

/// Takes a place on worker `id` if it has one.
fn take_place<W: Seat>(state: &mut State<W>, id: WorkerId) -> Option<W> {
    let member = state.members.get_mut(&id)?;
    if !usable(member) || member.load >= member.worker.capacity() {
        return None;
    }
    member.load += 1;
    state.taken += 1;
    member.last_taken = state.taken;
    Some(member.worker.clone())
}

fn enqueue<W>(state: &mut State<W>, owner: Option<WorkerId>) -> Result<Checkout<W>> {
    let (sender, receiver) = oneshot::channel();
    match state.scheduler.enqueue(owner, sender) {
        Ok(ticket) => Ok(Checkout::Wait { ticket, receiver }),
        Err(Refused::Closed) => Err(Error::Shutdown),
        Err(Refused::Saturated { queued }) => Err(Error::PoolSaturated { queued }),
    }
}

/// Hands the free places of worker `id` to waiting calls, one place per call; returns how
/// many it handed.
fn hand_over<W: Seat>(state: &mut State<W>, id: WorkerId) -> usize {
    let mut handed = 0;
    loop {
        let Some(member) = state.members.get(&id) else {
            return handed;
        };
        if member.load >= member.worker.capacity() || !usable(member) {
            return handed;
        }
        let worker = member.worker.clone();
        let Some((_, sender)) = state.scheduler.next_for(id) else {
            return handed;
        };
        // A waiter that gave up is skipped; the place stays free for the next one.
        if sender.send(worker).is_ok() {
            handed += 1;
            if let Some(member) = state.members.get_mut(&id) {
                member.load += 1;
            }
        }
    }
}

mod replacement;
mod seat;
#[cfg(test)]
mod tests;
