//! The event bus of one pool: a bounded broadcast channel, and [`Events`], a subscriber's
//! end of it.
//!
//! Sending never waits: a subscriber that falls more than the channel's capacity behind
//! loses the oldest events and is told how many on its next receive. While nobody
//! subscribes, an emit costs one atomic load and builds nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::broadcast;

use super::event::Event;

/// How many events a subscriber may fall behind before it loses some.
pub const EVENT_CAPACITY: usize = 1024;

/// The sending side, shared by everything in a pool that emits.
#[derive(Debug, Clone)]
pub(crate) struct EventBus {
    sender: broadcast::Sender<Event>,
    /// Live [`Events`] receivers; checked before an event is built.
    subscribers: Arc<AtomicUsize>,
}

impl EventBus {
    pub(crate) fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self {
            sender,
            subscribers: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Whether anyone listens.
    pub(crate) fn is_observed(&self) -> bool {
        self.subscribers.load(Ordering::Relaxed) > 0
    }

    /// Sends the event `make` builds, if anyone listens. Never waits.
    #[inline]
    pub(crate) fn emit(&self, make: impl FnOnce() -> Event) {
        if self.is_observed() {
            // No receiver left between the check and the send: the event is dropped.
            let _unheard = self.sender.send(make());
        }
    }

    /// A new subscriber, receiving the events sent from now on.
    pub(crate) fn subscribe(&self) -> Events {
        self.subscribers.fetch_add(1, Ordering::Relaxed);
        Events {
            receiver: self.sender.subscribe(),
            subscribers: Arc::clone(&self.subscribers),
        }
    }
}

/// What [`Events::recv`] got.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Received {
    /// The next event.
    Event(Event),
    /// The subscriber fell behind and this many events were lost; the next receive
    /// continues with the oldest event still kept.
    Lagged(u64),
}

/// A subscription to a pool's events, made by [`Pool::events`](crate::Pool::events).
///
/// It holds up to [`EVENT_CAPACITY`] events it has not read yet; past that the oldest are
/// lost and [`Events::recv`] says how many. A slow subscriber never slows the pool.
#[derive(Debug)]
pub struct Events {
    receiver: broadcast::Receiver<Event>,
    subscribers: Arc<AtomicUsize>,
}

impl Events {
    /// Waits for the next event. `None` once the pool is gone.
    pub async fn recv(&mut self) -> Option<Received> {
        match self.receiver.recv().await {
            Ok(event) => Some(Received::Event(event)),
            Err(broadcast::error::RecvError::Lagged(lost)) => Some(Received::Lagged(lost)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// The next event if one is waiting; never waits. `None` when there is none now (or the
    /// pool is gone).
    pub fn try_recv(&mut self) -> Option<Received> {
        match self.receiver.try_recv() {
            Ok(event) => Some(Received::Event(event)),
            Err(broadcast::error::TryRecvError::Lagged(lost)) => Some(Received::Lagged(lost)),
            Err(_) => None,
        }
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        self.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_built_without_a_subscriber() {
        let bus = EventBus::new(4);
        bus.emit(|| unreachable!("no subscriber: the event is never built"));
        let events = bus.subscribe();
        assert!(bus.is_observed());
        drop(events);
        assert!(!bus.is_observed());
    }

    #[test]
    fn a_slow_subscriber_is_told_how_many_it_lost() {
        let bus = EventBus::new(4);
        let mut events = bus.subscribe();
        for failures in 0..10 {
            bus.emit(|| Event::CircuitOpened { failures });
        }
        assert_eq!(events.try_recv(), Some(Received::Lagged(6)));
        assert_eq!(
            events.try_recv(),
            Some(Received::Event(Event::CircuitOpened { failures: 6 }))
        );
    }
}
