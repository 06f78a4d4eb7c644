//! The roster's decisions about a slot's next worker: whether an exit needs a replacement,
//! when a recycle may start, and what happens when it is ready or fails. One start per slot
//! is under way at a time, decided under the roster's lock.

use std::time::Instant;

use super::{AfterExit, Inserted, Roster, Seat, usable};
use crate::worker::WorkerId;

impl<W: Seat> Roster<W> {
    /// Forgets an exited worker; the calls waiting for it fail. Says whether to replace it.
    pub(in crate::pool) fn on_exit(&self, id: WorkerId, now: Instant) -> AfterExit {
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
    pub(in crate::pool) fn begin_recycle(&self, id: WorkerId) -> Option<usize> {
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
    pub(in crate::pool) fn finish_recycle(
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
    pub(in crate::pool) fn recycle_failed(&self, slot: usize) -> bool {
        let mut state = self.state();
        state.slots.end_start(slot);
        let empty = !state.slots.is_filled(slot) && !state.scheduler.is_closed();
        if empty {
            state.slots.begin_start(slot);
        }
        empty
    }

    /// Records that `slot`'s worker is starting (the pool's first workers).
    pub(in crate::pool) fn begin_start(&self, slot: usize) {
        self.state().slots.begin_start(slot);
    }

    /// A replacement for `slot` will not come (the pool closed).
    pub(in crate::pool) fn start_abandoned(&self, slot: usize) {
        self.state().slots.end_start(slot);
    }

    /// Retires worker `id`: from now on it gets no call. Returns it when it is idle, to be
    /// stopped at once; a busy worker comes back from [`Roster::release`] instead.
    pub(in crate::pool) fn retire(&self, id: WorkerId) -> Option<W> {
        let mut state = self.state();
        let member = state.members.get(&id)?;
        member.worker.retire();
        let idle = member.load == 0;
        let worker = member.worker.clone();
        // Its own waiting calls cannot run anywhere else.
        drop(state.scheduler.forget_owner(id));
        idle.then_some(worker)
    }
}
