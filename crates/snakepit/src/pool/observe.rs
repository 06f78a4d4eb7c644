//! The pool's telemetry hooks: what a call reports when it gets a worker and when it ends,
//! and the sampler that keeps the gauges current. Each hook is cheap and never waits (see
//! the telemetry invariant in `docs/ARCHITECTURE.md`).

use std::sync::Weak;
use std::time::{Duration, Instant};

use super::handle::PoolShared;
use crate::error::{Error, Result};
use crate::telemetry::{CallOutcome, CorrelationId, Event};
use crate::worker::{Worker, WorkerId};

/// How often the gauges (queue depth, busy workers, workers, sessions) are sampled.
pub(super) const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// What the telemetry of one call needs to know, from its start to its end.
#[derive(Debug)]
pub(super) struct CallTrace {
    pub(super) correlation: CorrelationId,
    pub(super) started: Instant,
    /// The worker that took it last.
    pub(super) worker: Option<WorkerId>,
    /// The W3C `traceparent` of the running attempt (feature `otel`).
    pub(super) traceparent: Option<String>,
    #[cfg(feature = "otel")]
    spans: Option<crate::telemetry::otel::CallSpans>,
}

impl CallTrace {
    /// A call starting now, with the caller's correlation id or a fresh one.
    pub(super) fn new(given: Option<CorrelationId>, command: &str) -> Self {
        let correlation = given.unwrap_or_else(CorrelationId::generate);
        #[cfg(feature = "otel")]
        let spans = Some(crate::telemetry::otel::CallSpans::start(
            command,
            correlation.as_str(),
        ));
        #[cfg(not(feature = "otel"))]
        let _unused = command;
        Self {
            correlation,
            started: Instant::now(),
            worker: None,
            traceparent: None,
            #[cfg(feature = "otel")]
            spans,
        }
    }
}

/// A worker took the call after `queue_wait`.
pub(super) fn dispatched(
    shared: &PoolShared,
    trace: &mut CallTrace,
    command: &str,
    worker: WorkerId,
    queue_wait: Duration,
) {
    trace.worker = Some(worker);
    #[cfg(feature = "otel")]
    if let Some(spans) = trace.spans.as_mut() {
        trace.traceparent = Some(spans.dispatched(&worker.to_string()));
    }
    shared.telemetry.record_queue_wait(queue_wait);
    shared.telemetry.emit(|| Event::CallDispatched {
        correlation_id: trace.correlation.clone(),
        command: command.to_owned(),
        worker,
        queue_wait,
    });
}

/// The call ended with `outcome`: latency stats, metrics and events.
pub(super) fn finished<T>(
    shared: &PoolShared,
    trace: &mut CallTrace,
    command: &str,
    outcome: &Result<T>,
) {
    finished_as(shared, trace, command, CallOutcome::of(outcome));
    let telemetry = &shared.telemetry;
    match outcome {
        Err(Error::PoolSaturated { queued }) => telemetry.emit(|| Event::QueueSaturated {
            correlation_id: trace.correlation.clone(),
            command: command.to_owned(),
            queued: *queued,
        }),
        Err(Error::QueueTimeout { waited }) => telemetry.emit(|| Event::QueueTimeout {
            correlation_id: trace.correlation.clone(),
            command: command.to_owned(),
            waited: *waited,
        }),
        _ => {}
    }
}

/// The call ended as `outcome`.
pub(super) fn finished_as(
    shared: &PoolShared,
    trace: &mut CallTrace,
    command: &str,
    outcome: CallOutcome,
) {
    #[cfg(feature = "otel")]
    if let Some(spans) = trace.spans.take() {
        spans.finish(outcome.as_str());
    }
    let duration = trace.started.elapsed();
    if trace.worker.is_some() {
        shared.counters.latency.record(duration);
    }
    shared
        .telemetry
        .record_call(command, trace.worker, outcome, duration);
    shared.telemetry.emit(|| Event::CallFinished {
        correlation_id: trace.correlation.clone(),
        command: command.to_owned(),
        worker: trace.worker,
        duration,
        outcome,
    });
}

/// Samples the gauges at [`SAMPLE_INTERVAL`] for as long as the pool exists.
pub(super) async fn sample_gauges(pool: Weak<PoolShared>) {
    let mut ticker = tokio::time::interval(SAMPLE_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(shared) = pool.upgrade() else { break };
        if shared.roster.is_closed() {
            break;
        }
        let counts = shared.roster.counts(Instant::now());
        let sessions = shared.sessions.stats().sessions;
        shared
            .telemetry
            .record_gauges(counts.queued, counts.busy, counts.live, sessions);
        let workers: Vec<Worker> = shared
            .roster
            .workers()
            .into_iter()
            .filter(Worker::is_alive)
            .collect();
        drop(shared);
        // One pass over /proc for every worker, off the runtime.
        let rss =
            crate::process::group_rss_all_off_runtime(workers.iter().map(Worker::pid).collect())
                .await;
        let Some(shared) = pool.upgrade() else { break };
        for worker in workers {
            if let Some(bytes) = rss.get(&worker.pid()) {
                worker.set_rss(*bytes);
                shared.telemetry.record_worker_rss(worker.id(), *bytes);
            }
        }
    }
}
