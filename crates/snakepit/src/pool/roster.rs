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

/// What the roster needs of a worker; implemented by [`Worker`] and by the fakes of the
/// roster's unit tests.
pub(super) trait Seat: Clone {
    /// The worker's id.
    fn id(&self) -> WorkerId;
    /// How many calls it takes at once.
    fn capacity(&self) -> usize;
    /// Whether it can run calls.
    fn is_alive(&self) -> bool;
    /// Whether it is retiring.
    fn is_retiring(&self) -> bool;
    /// Marks it retiring.
    fn retire(&self);
}

impl Seat for Worker {
    fn id(&self) -> WorkerId {
        Worker::id(self)
    }
    fn capacity(&self) -> usize {
        Worker::capacity(self)
    }
    fn is_alive(&self) -> bool {
        Worker::is_alive(self)
    }
    fn is_retiring(&self) -> bool {
        Worker::is_retiring(self)
    }
    fn retire(&self) {
        Worker::retire(self);
    }
}

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

    /// Gives back `places` places of worker `id` and hands them to waiting calls. Returns
    /// the worker when it is retiring and now idle, to be stopped.
    #[must_use = "a retiring worker comes back and must be stopped"]
    pub(super) fn release(&self, id: WorkerId, places: usize) -> Option<W> {
        let mut state = self.state();
        let mut retired = None;
        if let Some(member) = state.members.get_mut(&id) {
            member.load = member.load.saturating_sub(places);
            if member.worker.is_retiring() {
                if member.load == 0 {
                    retired = Some(member.worker.clone());
                }
            } else if member.worker.is_alive() {
                hand_over(&mut state, id);
            }
        }
        // Only a shutdown waits for places to come back.
        let closing = state.scheduler.is_closed();
        drop(state);
        if closing {
            self.released.notify_waiters();
        }
        retired
    }

    /// Leaves the queue; `false` when the ticket already got a worker.
    pub(super) fn leave(&self, ticket: u64) -> bool {
        self.state().scheduler.leave(ticket).is_some()
    }

    /// Forgets an exited worker; the calls waiting for it fail. Says whether to replace it.
    pub(super) fn on_exit(&self, id: WorkerId, now: Instant) -> AfterExit {
        let mut state = self.state();
        // A worker that never joined is handled where it was offered (`insert`).
        let Some(member) = state.members.remove(&id) else {
            return AfterExit::Nothing;
        };
        // Dropping their senders fails the calls waiting for this very worker.
        drop(state.scheduler.forget_owner(id));
        let slot = state.slots.release(id);
        let retiring = member.worker.is_retiring();
        if state.scheduler.is_closed() || retiring {
            return AfterExit::Nothing;
        }
        let slot = match slot {
            // The slot's next worker (a recycle's) is already starting.
            Some(slot) if state.slots.is_starting(slot) || state.slots.is_filled(slot) => {
                return AfterExit::Nothing;
            }
            Some(slot) => slot,
            None => return AfterExit::Nothing,
        };
        state.slots.begin_start(slot);
        let restart = state.slots.crashed(slot, now);
        AfterExit::Replace { slot, restart }
    }

    /// Starts recycling worker `id`: `Some(slot)` when its replacement may start now.
    pub(super) fn begin_recycle(&self, id: WorkerId) -> Option<usize> {
        let mut state = self.state();
        if state.scheduler.is_closed() {
            return None;
        }
        let member = state.members.get(&id)?;
        if !usable(member) {
            return None;
        }
        let slot = state.slots.slot_of(id)?;
        state.slots.begin_start(slot).then_some(slot)
    }

    /// A recycle's replacement is ready: it fills the slot and the old worker retires.
    /// Returns the workers to stop now (the old one when idle; the fresh one when closed),
    /// or `Err(needs_replacement)` when the fresh worker died before it joined.
    pub(super) fn finish_recycle(
        &self,
        old: WorkerId,
        fresh: W,
        slot: usize,
        now: Instant,
    ) -> Result<Vec<W>, bool> {
        match self.insert(fresh, slot, now) {
            Inserted::Joined => Ok(self.retire(old).into_iter().collect()),
            Inserted::Refused(fresh) => Ok(vec![fresh]),
            Inserted::Died(_) => Err(self.recycle_failed(slot)),
        }
    }

    /// A recycle's replacement failed to start. Says whether the slot now needs a
    /// replacement (its old worker died meanwhile).
    pub(super) fn recycle_failed(&self, slot: usize) -> bool {
        let mut state = self.state();
        state.slots.end_start(slot);
        let empty = !state.slots.is_filled(slot) && !state.scheduler.is_closed();
        if empty {
            state.slots.begin_start(slot);
        }
        empty
    }

    /// Records that `slot`'s worker is starting (the pool's first workers).
    pub(super) fn begin_start(&self, slot: usize) {
        self.state().slots.begin_start(slot);
    }

    /// A replacement for `slot` will not come (the pool closed).
    pub(super) fn start_abandoned(&self, slot: usize) {
        self.state().slots.end_start(slot);
    }

    /// Retires worker `id`: from now on it gets no call. Returns it when it is idle, to be
    /// stopped at once; a busy worker comes back from [`Roster::release`] instead.
    pub(super) fn retire(&self, id: WorkerId) -> Option<W> {
        let mut state = self.state();
        let member = state.members.get(&id)?;
        member.worker.retire();
        let idle = member.load == 0;
        let worker = member.worker.clone();
        // Its own waiting calls cannot run anywhere else.
        drop(state.scheduler.forget_owner(id));
        idle.then_some(worker)
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

/// Hands the free places of worker `id` to waiting calls, one place per call.
fn hand_over<W: Seat>(state: &mut State<W>, id: WorkerId) {
    loop {
        let Some(member) = state.members.get(&id) else {
            return;
        };
        if member.load >= member.worker.capacity() || !usable(member) {
            return;
        }
        let worker = member.worker.clone();
        let Some((_, sender)) = state.scheduler.next_for(id) else {
            return;
        };
        // A waiter that gave up is skipped; the place stays free for the next one.
        if sender.send(worker).is_ok() {
            if let Some(member) = state.members.get_mut(&id) {
                member.load += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[derive(Debug, Clone)]
    struct Fake {
        id: WorkerId,
        capacity: usize,
        alive: Arc<AtomicBool>,
        retiring: Arc<AtomicBool>,
    }

    impl Fake {
        fn new(capacity: usize) -> Self {
            Self {
                id: WorkerId::next(),
                capacity,
                alive: Arc::new(AtomicBool::new(true)),
                retiring: Arc::new(AtomicBool::new(false)),
            }
        }
    }

    impl Seat for Fake {
        fn id(&self) -> WorkerId {
            self.id
        }
        fn capacity(&self) -> usize {
            self.capacity
        }
        fn is_alive(&self) -> bool {
            self.alive.load(Ordering::SeqCst)
        }
        fn is_retiring(&self) -> bool {
            self.retiring.load(Ordering::SeqCst)
        }
        fn retire(&self) {
            self.retiring.store(true, Ordering::SeqCst);
        }
    }

    fn roster(size: usize) -> Roster<Fake> {
        Roster::new(8, size, HealthConfig::default())
    }

    fn ready(checkout: Result<Checkout<Fake>>) -> Fake {
        match checkout.unwrap() {
            Checkout::Ready(worker) => worker,
            other => panic!("not ready: {other:?}"),
        }
    }

    #[test]
    fn a_worker_is_never_handed_more_than_its_capacity() {
        let roster = roster(1);
        let worker = Fake::new(3);
        assert!(matches!(
            roster.insert(worker.clone(), 0, Instant::now()),
            Inserted::Joined
        ));
        for _ in 0..3 {
            assert_eq!(ready(roster.checkout()).id, worker.id);
        }
        assert!(matches!(roster.checkout().unwrap(), Checkout::Wait { .. }));
        assert!(roster.try_take_any().is_none());
        assert_eq!(roster.counts(Instant::now()).queued, 1);
    }

    #[test]
    fn checkout_prefers_the_least_loaded_worker() {
        let roster = roster(2);
        let first = Fake::new(4);
        let second = Fake::new(4);
        assert!(matches!(
            roster.insert(first.clone(), 0, Instant::now()),
            Inserted::Joined
        ));
        assert!(matches!(
            roster.insert(second.clone(), 1, Instant::now()),
            Inserted::Joined
        ));
        let mut taken = [0usize; 2];
        for _ in 0..6 {
            let worker = ready(roster.checkout());
            taken[usize::from(worker.id != first.id)] += 1;
        }
        assert_eq!(taken, [3, 3]);
    }

    #[test]
    fn a_freed_place_goes_to_the_oldest_waiting_call() {
        let roster = roster(1);
        let worker = Fake::new(1);
        assert!(matches!(
            roster.insert(worker.clone(), 0, Instant::now()),
            Inserted::Joined
        ));
        let _held = ready(roster.checkout());
        let Checkout::Wait { mut receiver, .. } = roster.checkout().unwrap() else {
            panic!("expected to wait");
        };
        assert!(receiver.try_recv().is_err());
        assert!(roster.release(worker.id, 1).is_none());
        assert_eq!(receiver.try_recv().unwrap().id, worker.id);
        // The place went to the waiter: the worker is still full.
        assert!(roster.try_take_any().is_none());
    }

    #[test]
    fn a_retiring_worker_takes_no_call_and_comes_back_to_be_stopped() {
        let roster = roster(1);
        let worker = Fake::new(2);
        assert!(matches!(
            roster.insert(worker.clone(), 0, Instant::now()),
            Inserted::Joined
        ));
        let _held = ready(roster.checkout());
        assert!(
            roster.retire(worker.id).is_none(),
            "busy: stopped on release"
        );
        assert!(roster.try_take_any().is_none());
        assert_eq!(roster.release(worker.id, 1).map(|w| w.id), Some(worker.id));
    }

    #[test]
    fn an_exit_during_a_recycle_starts_no_second_replacement() {
        let roster = roster(1);
        let old = Fake::new(1);
        assert!(matches!(
            roster.insert(old.clone(), 0, Instant::now()),
            Inserted::Joined
        ));
        assert_eq!(roster.begin_recycle(old.id), Some(0));
        assert_eq!(roster.begin_recycle(old.id), None, "one recycle at a time");
        old.alive.store(false, Ordering::SeqCst);
        assert_eq!(roster.on_exit(old.id, Instant::now()), AfterExit::Nothing);
        let fresh = Fake::new(1);
        assert!(
            roster
                .finish_recycle(old.id, fresh.clone(), 0, Instant::now())
                .unwrap()
                .is_empty()
        );
        let counts = roster.counts(Instant::now());
        assert_eq!(counts.live, 1);
        assert_eq!(ready(roster.checkout()).id, fresh.id);
    }

    #[test]
    fn a_crash_replaces_its_slot_once() {
        let roster = roster(2);
        let worker = Fake::new(1);
        assert!(matches!(
            roster.insert(worker.clone(), 1, Instant::now()),
            Inserted::Joined
        ));
        worker.alive.store(false, Ordering::SeqCst);
        match roster.on_exit(worker.id, Instant::now()) {
            AfterExit::Replace { slot, .. } => assert_eq!(slot, 1),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            roster.on_exit(worker.id, Instant::now()),
            AfterExit::Nothing
        );
    }

    #[test]
    fn a_worker_dead_before_it_joins_asks_for_its_slot_to_be_refilled() {
        let roster = roster(1);
        let worker = Fake::new(1);
        worker.alive.store(false, Ordering::SeqCst);
        assert_eq!(
            roster.on_exit(worker.id, Instant::now()),
            AfterExit::Nothing
        );
        match roster.insert(worker, 0, Instant::now()) {
            Inserted::Died(AfterExit::Replace { slot: 0, .. }) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(roster.counts(Instant::now()).live, 0);
    }

    #[test]
    fn sequential_calls_spread_over_idle_workers() {
        let roster = roster(2);
        let first = Fake::new(1);
        let second = Fake::new(1);
        assert!(matches!(
            roster.insert(first.clone(), 0, Instant::now()),
            Inserted::Joined
        ));
        assert!(matches!(
            roster.insert(second.clone(), 1, Instant::now()),
            Inserted::Joined
        ));
        let mut seen = std::collections::HashSet::new();
        for _ in 0..4 {
            let worker = ready(roster.checkout());
            seen.insert(worker.id);
            assert!(roster.release(worker.id, 1).is_none());
        }
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn a_failed_recycle_of_a_dead_worker_asks_for_a_replacement() {
        let roster = roster(1);
        let old = Fake::new(1);
        assert!(matches!(
            roster.insert(old.clone(), 0, Instant::now()),
            Inserted::Joined
        ));
        assert_eq!(roster.begin_recycle(old.id), Some(0));
        assert_eq!(roster.on_exit(old.id, Instant::now()), AfterExit::Nothing);
        assert!(roster.recycle_failed(0));
    }

    #[test]
    fn closing_fails_waiting_calls_and_refuses_new_ones() {
        let roster = roster(1);
        let worker = Fake::new(1);
        assert!(matches!(
            roster.insert(worker.clone(), 0, Instant::now()),
            Inserted::Joined
        ));
        let _held = ready(roster.checkout());
        let Checkout::Wait { mut receiver, .. } = roster.checkout().unwrap() else {
            panic!("expected to wait");
        };
        roster.close();
        assert!(matches!(
            receiver.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
        assert!(matches!(roster.checkout(), Err(Error::Shutdown)));
        assert!(matches!(
            roster.insert(Fake::new(1), 0, Instant::now()),
            Inserted::Refused(_)
        ));
    }

    #[test]
    fn strict_waiters_of_a_gone_worker_fail() {
        let roster = roster(1);
        let worker = Fake::new(1);
        assert!(matches!(
            roster.insert(worker.clone(), 0, Instant::now()),
            Inserted::Joined
        ));
        let _held = ready(roster.checkout());
        let Checkout::Wait { mut receiver, .. } = roster.checkout_worker(worker.id).unwrap() else {
            panic!("expected to wait");
        };
        roster.on_exit(worker.id, Instant::now());
        assert!(receiver.try_recv().is_err());
        assert!(matches!(
            roster.checkout_worker(worker.id),
            Ok(Checkout::Gone)
        ));
    }
}
