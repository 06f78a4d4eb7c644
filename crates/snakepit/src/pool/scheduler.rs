//! The queue of calls waiting for a worker, as a pure data structure: no I/O, no pool types.
//!
//! Waiting calls sit in one shared FIFO queue (any worker will do) or in the queue of one
//! particular worker (strict session affinity). When a worker frees a place,
//! [`Scheduler::next_for`] picks who gets it: within a queue, the oldest call first; between
//! the worker's own queue and the shared queue, the two take turns whenever both have
//! calls waiting, so the session owner keeps its priority but an ordinary call never waits
//! behind more than one owner call per freed place.

use std::collections::VecDeque;
use std::hash::Hash;

use crate::id_hash::IdMap;

/// A waiting call: its ticket and what to hand it (a reply channel, in the pool).
#[derive(Debug)]
struct Waiter<T> {
    ticket: u64,
    payload: T,
}

/// Why a call could not join the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// The queue holds `max_queue` calls.
    Saturated {
        /// How many wait.
        queued: usize,
    },
    /// The scheduler is closed.
    Closed,
}

/// The waiting calls. `K` names a worker, `T` is what a waiting call is handed.
#[derive(Debug)]
pub(super) struct Scheduler<K, T> {
    shared: VecDeque<Waiter<T>>,
    owned: IdMap<K, VecDeque<Waiter<T>>>,
    /// Workers whose last freed place went to their own queue.
    owner_served_last: IdMap<K, bool>,
    next_ticket: u64,
    max_queue: usize,
    closed: bool,
}

impl<K: Hash + Eq + Copy, T> Scheduler<K, T> {
    /// An empty queue holding at most `max_queue` calls.
    pub(super) fn new(max_queue: usize) -> Self {
        Self {
            shared: VecDeque::new(),
            owned: IdMap::default(),
            owner_served_last: IdMap::default(),
            next_ticket: 0,
            max_queue,
            closed: false,
        }
    }

    /// How many calls wait.
    pub(super) fn queued(&self) -> usize {
        self.shared.len() + self.owned.values().map(VecDeque::len).sum::<usize>()
    }

    /// Whether the scheduler is closed.
    pub(super) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Adds a call waiting for `owner` (or any worker); returns its ticket.
    pub(super) fn enqueue(&mut self, owner: Option<K>, payload: T) -> Result<u64, Refused> {
        if self.closed {
            return Err(Refused::Closed);
        }
        let queued = self.queued();
        if queued >= self.max_queue {
            return Err(Refused::Saturated { queued });
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        let waiter = Waiter { ticket, payload };
        match owner {
            Some(owner) => self.owned.entry(owner).or_default().push_back(waiter),
            None => self.shared.push_back(waiter),
        }
        Ok(ticket)
    }

    /// Takes the call that gets a place freed on `worker` (see the module docs for the
    /// rule); `None` when no call can run there.
    pub(super) fn next_for(&mut self, worker: K) -> Option<(u64, T)> {
        if self.shared.is_empty() && self.owned.is_empty() {
            return None;
        }
        let own_waiting = self
            .owned
            .get(&worker)
            .is_some_and(|queue| !queue.is_empty());
        let shared_waiting = !self.shared.is_empty();
        let owner_last = self
            .owner_served_last
            .get(&worker)
            .copied()
            .unwrap_or(false);
        let from_own = own_waiting && !(shared_waiting && owner_last);
        let waiter = if from_own {
            let queue = self.owned.get_mut(&worker)?;
            let waiter = queue.pop_front();
            if queue.is_empty() {
                self.owned.remove(&worker);
            }
            waiter
        } else {
            self.shared.pop_front()
        }?;
        if own_waiting && shared_waiting {
            self.owner_served_last.insert(worker, from_own);
        } else {
            self.owner_served_last.remove(&worker);
        }
        Some((waiter.ticket, waiter.payload))
    }

    /// Removes the call with `ticket`; `None` when it is no longer waiting.
    pub(super) fn leave(&mut self, ticket: u64) -> Option<T> {
        let shared = &mut self.shared;
        let queue = std::iter::once(shared)
            .chain(self.owned.values_mut())
            .find(|queue| queue.iter().any(|waiter| waiter.ticket == ticket))?;
        let index = queue.iter().position(|waiter| waiter.ticket == ticket)?;
        queue.remove(index).map(|waiter| waiter.payload)
    }

    /// Removes every call waiting for `worker` (it is gone) and returns them.
    pub(super) fn forget_owner(&mut self, worker: K) -> Vec<T> {
        self.owner_served_last.remove(&worker);
        self.owned
            .remove(&worker)
            .map(|queue| queue.into_iter().map(|waiter| waiter.payload).collect())
            .unwrap_or_default()
    }

    /// Closes the queue: every waiting call is returned, and no call joins any more.
    pub(super) fn close(&mut self) -> Vec<T> {
        self.closed = true;
        self.owner_served_last.clear();
        let shared = std::mem::take(&mut self.shared);
        let owned = std::mem::take(&mut self.owned);
        shared
            .into_iter()
            .chain(owned.into_values().flatten())
            .map(|waiter| waiter.payload)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain_for(scheduler: &mut Scheduler<u8, &'static str>, worker: u8) -> Vec<&'static str> {
        std::iter::from_fn(|| scheduler.next_for(worker).map(|(_, name)| name)).collect()
    }

    #[test]
    fn calls_are_served_in_arrival_order() {
        let mut scheduler = Scheduler::new(10);
        for name in ["a", "b", "c"] {
            scheduler.enqueue(None, name).unwrap();
        }
        assert_eq!(scheduler.queued(), 3);
        assert_eq!(drain_for(&mut scheduler, 1), ["a", "b", "c"]);
        assert_eq!(scheduler.queued(), 0);
    }

    #[test]
    fn a_worker_serves_only_its_own_queue_and_the_shared_one() {
        let mut scheduler = Scheduler::new(10);
        scheduler.enqueue(Some(2), "for-two").unwrap();
        scheduler.enqueue(Some(1), "for-one").unwrap();
        assert_eq!(drain_for(&mut scheduler, 1), ["for-one"]);
        assert_eq!(drain_for(&mut scheduler, 2), ["for-two"]);
    }

    #[test]
    fn owner_calls_and_shared_calls_take_turns() {
        let mut scheduler = Scheduler::new(20);
        for name in ["o1", "o2", "o3", "o4"] {
            scheduler.enqueue(Some(1), name).unwrap();
        }
        for name in ["s1", "s2"] {
            scheduler.enqueue(None, name).unwrap();
        }
        assert_eq!(
            drain_for(&mut scheduler, 1),
            ["o1", "s1", "o2", "s2", "o3", "o4"]
        );
    }

    #[test]
    fn a_full_queue_refuses_and_a_closed_one_returns_its_calls() {
        let mut scheduler = Scheduler::new(2);
        scheduler.enqueue(None, "a").unwrap();
        scheduler.enqueue(Some(3), "b").unwrap();
        assert_eq!(
            scheduler.enqueue(None, "c"),
            Err(Refused::Saturated { queued: 2 })
        );
        let mut returned = scheduler.close();
        returned.sort_unstable();
        assert_eq!(returned, ["a", "b"]);
        assert!(scheduler.is_closed());
        assert_eq!(scheduler.enqueue(None, "d"), Err(Refused::Closed));
        assert_eq!(scheduler.queued(), 0);
    }

    #[test]
    fn a_call_can_leave_and_an_owner_can_be_forgotten() {
        let mut scheduler = Scheduler::new(10);
        let a = scheduler.enqueue(None, "a").unwrap();
        let b = scheduler.enqueue(Some(4), "b").unwrap();
        scheduler.enqueue(Some(4), "c").unwrap();
        assert_eq!(scheduler.leave(a), Some("a"));
        assert_eq!(scheduler.leave(a), None);
        assert_eq!(scheduler.leave(b), Some("b"));
        assert_eq!(scheduler.forget_owner(4), ["c"]);
        assert_eq!(scheduler.queued(), 0);
        assert_eq!(scheduler.next_for(4), None);
    }
}
