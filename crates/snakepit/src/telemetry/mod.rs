//! Telemetry: typed events a caller subscribes to, metrics through the `metrics` facade, and
//! (behind the `prometheus` feature) a Prometheus text exposition of them.
//!
//! This module is the only one that knows the `metrics` facade. The pool holds one
//! `Telemetry` per pool (its name and its event bus) and calls its hooks; every hook is
//! cheap and none waits: events are dropped for a subscriber that lags, and metrics go to
//! whatever recorder the application installed (none: nothing is kept).
//!
//! The names of events and metrics, with their fields and labels, are in
//! `docs/telemetry.md`.

mod bus;
mod correlation;
mod event;
mod keys;
pub mod metric;
#[cfg(feature = "otel")]
pub(crate) mod otel;
#[cfg(feature = "prometheus")]
pub mod prometheus;
mod worker_events;

use std::sync::Arc;

pub(crate) use bus::EventBus;
pub use bus::{EVENT_CAPACITY, Events, Received};
pub use correlation::CorrelationId;
pub use event::{CallOutcome, Event};
pub(crate) use worker_events::WorkerEventGate;
pub use worker_events::{MAX_WORKER_EVENT_NAMES, WorkerEventStats};

/// One pool's telemetry: its name (the `pool` label) and its event bus. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Telemetry {
    /// The pool's name, the `pool` label of its metrics.
    pub(crate) pool: Arc<str>,
    /// Where its events go.
    pub(crate) bus: EventBus,
    /// What the workers' `event` frames may name.
    pub(crate) gate: Arc<WorkerEventGate>,
    /// The keys of the metrics every call records.
    pub(crate) keys: Arc<keys::CallKeys>,
}

impl Telemetry {
    /// The telemetry of a pool named `pool`.
    pub(crate) fn new(pool: &str) -> Self {
        let pool: Arc<str> = Arc::from(pool);
        Self {
            keys: Arc::new(keys::CallKeys::new(&pool)),
            pool,
            bus: EventBus::new(EVENT_CAPACITY),
            gate: Arc::new(WorkerEventGate::default()),
        }
    }

    /// Sends the event `make` builds, if anyone listens.
    #[inline]
    pub(crate) fn emit(&self, make: impl FnOnce() -> Event) {
        self.bus.emit(make);
    }
}
