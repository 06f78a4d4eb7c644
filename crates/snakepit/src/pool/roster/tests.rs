//! Unit tests of the roster, with fake workers.

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
    let released = roster.release(worker.id, 1);
    assert!(released.retired.is_none());
    assert_eq!(
        released.handed_over, 1,
        "the place went to the waiting call"
    );
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
    assert_eq!(
        roster.release(worker.id, 1).retired.map(|w| w.id),
        Some(worker.id)
    );
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
        assert!(roster.release(worker.id, 1).retired.is_none());
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

#[test]
fn a_retiring_worker_comes_back_only_after_its_last_concurrent_call() {
    let roster = roster(1);
    let worker = Fake::new(8);
    assert!(matches!(
        roster.insert(worker.clone(), 0, Instant::now()),
        Inserted::Joined
    ));
    for _ in 0..5 {
        assert_eq!(ready(roster.checkout()).id, worker.id);
    }
    assert!(roster.retire(worker.id).is_none(), "busy: drained first");
    assert!(matches!(
        roster.checkout_worker(worker.id),
        Ok(Checkout::Gone)
    ));
    for left in (1..5).rev() {
        assert!(
            roster.release(worker.id, 1).retired.is_none(),
            "stopped with {left} calls still running"
        );
    }
    assert_eq!(
        roster.release(worker.id, 1).retired.map(|w| w.id),
        Some(worker.id)
    );
}

#[test]
fn an_owner_takes_its_sessions_calls_concurrently_up_to_its_capacity() {
    let roster = roster(2);
    let owner = Fake::new(4);
    let other = Fake::new(4);
    for (slot, worker) in [owner.clone(), other.clone()].into_iter().enumerate() {
        assert!(matches!(
            roster.insert(worker, slot, Instant::now()),
            Inserted::Joined
        ));
    }
    for _ in 0..4 {
        assert_eq!(ready(roster.checkout_worker(owner.id)).id, owner.id);
    }
    let Ok(Checkout::Wait { mut receiver, .. }) = roster.checkout_worker(owner.id) else {
        panic!("a fifth call on a full owner waits");
    };
    // The other worker still takes ordinary calls; the owner's waiter is not handed to it.
    assert_eq!(ready(roster.checkout()).id, other.id);
    assert!(roster.release(other.id, 1).retired.is_none());
    assert!(receiver.try_recv().is_err());
    assert!(roster.release(owner.id, 1).retired.is_none());
    assert_eq!(receiver.try_recv().unwrap().id, owner.id);
}
