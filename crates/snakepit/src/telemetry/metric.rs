//! The pool's metrics, recorded through the `metrics` facade under the names and labels of
//! `docs/telemetry.md`. With no recorder installed each call records nothing.

use std::time::Duration;

use metrics::{Level, Metadata, SharedString, counter, gauge};

use super::Telemetry;
use super::event::CallOutcome;
use crate::worker::WorkerId;

/// Calls, by `pool`, `command` and `outcome`.
pub const CALLS: &str = "snakepit_calls_total";
/// Failed calls, by `pool`, `command` and `kind` (the outcome).
pub const ERRORS: &str = "snakepit_call_errors_total";
/// Seconds from a call's start to its end, by `pool`, `command` and `outcome`.
pub const CALL_DURATION: &str = "snakepit_call_duration_seconds";
/// Seconds a call waited for a worker, by `pool`.
pub const QUEUE_WAIT: &str = "snakepit_queue_wait_seconds";
/// Calls run by each worker, by `pool` and `worker`.
pub const WORKER_CALLS: &str = "snakepit_worker_calls_total";
/// Calls waiting for a worker, by `pool` (sampled).
pub const QUEUE_DEPTH: &str = "snakepit_queue_depth";
/// Workers running at least one call, by `pool` (sampled).
pub const BUSY_WORKERS: &str = "snakepit_busy_workers";
/// Live workers, by `pool` (sampled).
pub const WORKERS: &str = "snakepit_workers";
/// Resident memory of each worker's process group in bytes, by `pool` and `worker`
/// (sampled).
pub const WORKER_RSS: &str = "snakepit_worker_rss_bytes";
/// Live sessions in the pool's store, by `pool` (sampled).
pub const SESSIONS: &str = "snakepit_sessions";
/// Replacement workers started after an exit, by `pool`.
pub const RESTARTS: &str = "snakepit_worker_restarts_total";
/// Workers replaced by recycling, by `pool` and `reason`.
pub const RECYCLES: &str = "snakepit_worker_recycles_total";
/// Worker exits, by `pool` and `class`.
pub const EXITS: &str = "snakepit_worker_exits_total";
/// Stream chunks delivered to callers, by `pool` and `command`.
pub const STREAM_CHUNKS: &str = "snakepit_stream_chunks_total";
/// Host tool calls from workers, by `pool`, `tool` and `outcome`.
pub const HOST_TOOL_CALLS: &str = "snakepit_host_tool_calls_total";
/// Events workers sent, by `pool` and `name`.
pub const WORKER_EVENTS: &str = "snakepit_worker_events_total";
/// Events workers sent that were dropped (bad or too many names), by `pool`.
pub const WORKER_EVENTS_DROPPED: &str = "snakepit_worker_events_dropped_total";

/// What the `counter!`/`histogram!` macros of this module register metrics with; the
/// per-call metrics are registered under their cached keys with the same.
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

impl Telemetry {
    fn pool_label(&self) -> SharedString {
        SharedString::from(std::sync::Arc::clone(&self.pool))
    }

    /// A call ended.
    pub(crate) fn record_call(
        &self,
        command: &str,
        worker: Option<WorkerId>,
        outcome: CallOutcome,
        duration: Duration,
    ) {
        let seconds = duration.as_secs_f64();
        if outcome == CallOutcome::Ok {
            let keys = self.keys.command(command);
            metrics::with_recorder(|recorder| {
                recorder
                    .register_counter(&keys.calls, &METADATA)
                    .increment(1);
                recorder
                    .register_histogram(&keys.duration, &METADATA)
                    .record(seconds);
            });
        } else {
            let outcome = outcome.as_str();
            let key = |name, last| self.keys.call_key(name, command, last, outcome);
            let (calls, errors, durations) = (
                key(CALLS, "outcome"),
                key(ERRORS, "kind"),
                key(CALL_DURATION, "outcome"),
            );
            metrics::with_recorder(|recorder| {
                recorder.register_counter(&calls, &METADATA).increment(1);
                recorder.register_counter(&errors, &METADATA).increment(1);
                recorder
                    .register_histogram(&durations, &METADATA)
                    .record(seconds);
            });
        }
        if let Some(worker) = worker {
            let key = self.keys.worker(worker);
            metrics::with_recorder(|recorder| {
                recorder.register_counter(&key, &METADATA).increment(1);
            });
        }
    }

    /// A call got its worker after `wait`.
    pub(crate) fn record_queue_wait(&self, wait: Duration) {
        metrics::with_recorder(|recorder| {
            recorder
                .register_histogram(&self.keys.queue_wait, &METADATA)
                .record(wait.as_secs_f64());
        });
    }

    /// The pool's sampled state.
    pub(crate) fn record_gauges(
        &self,
        queued: usize,
        busy: usize,
        workers: usize,
        sessions: usize,
    ) {
        let pool = self.pool_label();
        #[expect(clippy::cast_precision_loss, reason = "gauges are floats")]
        {
            gauge!(QUEUE_DEPTH, "pool" => pool.clone()).set(queued as f64);
            gauge!(BUSY_WORKERS, "pool" => pool.clone()).set(busy as f64);
            gauge!(WORKERS, "pool" => pool.clone()).set(workers as f64);
            gauge!(SESSIONS, "pool" => pool).set(sessions as f64);
        }
    }

    /// The resident memory of a worker's process group.
    pub(crate) fn record_worker_rss(&self, worker: crate::worker::WorkerId, bytes: u64) {
        #[expect(clippy::cast_precision_loss, reason = "gauges are floats")]
        gauge!(WORKER_RSS, "pool" => self.pool_label(), "worker" => worker.to_string())
            .set(bytes as f64);
    }

    /// A replacement worker started.
    pub(crate) fn record_restart(&self) {
        counter!(RESTARTS, "pool" => self.pool_label()).increment(1);
    }

    /// A worker was recycled for `reason`.
    pub(crate) fn record_recycle(&self, reason: &'static str) {
        counter!(RECYCLES, "pool" => self.pool_label(), "reason" => reason).increment(1);
    }

    /// A worker exited; `class` names how.
    pub(crate) fn record_exit(&self, class: &'static str) {
        counter!(EXITS, "pool" => self.pool_label(), "class" => class).increment(1);
    }

    /// A stream chunk reached its caller.
    pub(crate) fn record_chunk(&self, command: &str) {
        counter!(STREAM_CHUNKS, "pool" => self.pool_label(), "command" => command.to_owned())
            .increment(1);
    }

    /// A worker called a host tool.
    pub(crate) fn record_host_call(&self, tool: String, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        counter!(HOST_TOOL_CALLS, "pool" => self.pool_label(), "tool" => tool, "outcome" => outcome)
            .increment(1);
    }

    /// A worker's event was let through under `name`.
    pub(crate) fn record_worker_event(&self, name: std::sync::Arc<str>) {
        counter!(WORKER_EVENTS, "pool" => self.pool_label(), "name" => SharedString::from(name))
            .increment(1);
    }

    /// A worker's event was dropped.
    pub(crate) fn record_worker_event_dropped(&self) {
        counter!(WORKER_EVENTS_DROPPED, "pool" => self.pool_label()).increment(1);
    }
}
