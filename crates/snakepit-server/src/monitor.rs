//! What the server watches of each pool for the dashboard, `/v1/pools/{pool}/stats` and the
//! `snapshot` events: the latency and rate of the calls it served, the recent errors with their
//! tracebacks, and each worker's pid, age and resident memory.
//!
//! STOPGAP until the library reports these itself (telemetry: latency percentiles and events;
//! a per-worker snapshot): latencies and errors are those of calls made *through this
//! server*, and a worker's age is counted from when the server first saw its pid, its RSS read
//! from `/proc`. Per-worker state, current command and calls served are not available from
//! the library yet and are reported as `null`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use snakepit::{CircuitState, Pool, PoolStats};

use crate::error::ApiError;

/// How far back calls/s and the latency percentiles look.
const WINDOW: Duration = Duration::from_secs(10);
/// The most latencies kept in the window.
const MAX_SAMPLES: usize = 50_000;
/// How many recent errors are kept.
const MAX_ERRORS: usize = 20;

/// The server's view of one pool.
#[derive(Debug, Default)]
pub struct Monitor {
    samples: Mutex<VecDeque<(Instant, u32)>>,
    errors: Mutex<VecDeque<Value>>,
    first_seen: Mutex<HashMap<u32, Instant>>,
}

/// How the worker set changed between two looks.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct WorkerChanges {
    /// Pids that appeared.
    pub started: Vec<u32>,
    /// Pids that are gone.
    pub exited: Vec<u32>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Monitor {
    /// Records one call the server served: its latency, and its error when it failed.
    pub fn record(&self, command: &str, elapsed: Duration, error: Option<&ApiError>) {
        let now = Instant::now();
        let micros = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX);
        {
            let mut samples = lock(&self.samples);
            samples.push_back((now, micros));
            while samples.len() > MAX_SAMPLES
                || samples
                    .front()
                    .is_some_and(|(at, _)| now.duration_since(*at) > WINDOW)
            {
                samples.pop_front();
            }
        }
        if let Some(error) = error {
            let mut entry = error.body()["error"].clone();
            entry["at_ms"] = json!(unix_millis());
            entry["command"] = json!(command);
            let mut errors = lock(&self.errors);
            errors.push_back(entry);
            while errors.len() > MAX_ERRORS {
                errors.pop_front();
            }
        }
    }

    /// Calls per second over the last `over`, and the p50/p90/p99 latencies in milliseconds
    /// of the window.
    pub fn rates(&self, over: Duration) -> Value {
        let now = Instant::now();
        let mut recent: Vec<u32> = Vec::new();
        let mut latest = 0_u64;
        {
            let samples = lock(&self.samples);
            for (at, micros) in samples.iter() {
                let age = now.duration_since(*at);
                if age <= WINDOW {
                    recent.push(*micros);
                }
                if age <= over {
                    latest += 1;
                }
            }
        }
        recent.sort_unstable();
        let pick = |q: f64| -> Value {
            if recent.is_empty() {
                return Value::Null;
            }
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss,
                reason = "an index into a non-empty sorted list"
            )]
            let index = ((recent.len() - 1) as f64 * q).round() as usize;
            json!(f64::from(recent[index]) / 1000.0)
        };
        #[expect(
            clippy::cast_precision_loss,
            reason = "a count of calls in a short window"
        )]
        let per_second = latest as f64 / over.as_secs_f64().max(0.001);
        json!({
            "calls_per_s": (per_second * 10.0).round() / 10.0,
            "p50_ms": pick(0.50),
            "p90_ms": pick(0.90),
            "p99_ms": pick(0.99),
            "window_calls": recent.len(),
        })
    }

    /// The recent errors, oldest first.
    pub fn errors(&self) -> Vec<Value> {
        lock(&self.errors).iter().cloned().collect()
    }

    /// Compares the live pids with the last look, and remembers when each was first seen.
    pub fn observe(&self, pids: &[u32]) -> WorkerChanges {
        let now = Instant::now();
        let mut seen = lock(&self.first_seen);
        let mut changes = WorkerChanges::default();
        for pid in pids {
            seen.entry(*pid).or_insert_with(|| {
                changes.started.push(*pid);
                now
            });
        }
        seen.retain(|pid, _| {
            let live = pids.contains(pid);
            if !live {
                changes.exited.push(*pid);
            }
            live
        });
        changes.exited.sort_unstable();
        changes
    }

    /// The workers: pid, age, RSS; `null` for what the library does not report yet.
    pub fn workers(&self, pids: &[u32]) -> Vec<Value> {
        let now = Instant::now();
        let seen = lock(&self.first_seen);
        pids.iter()
            .map(|pid| {
                let age = seen
                    .get(pid)
                    .map(|at| now.duration_since(*at).as_secs_f64());
                json!({
                    "pid": pid,
                    "state": "alive",
                    "current_command": null,
                    "calls_served": null,
                    "rss_bytes": rss_bytes(*pid),
                    "age_s": age.map(|age| (age * 10.0).round() / 10.0),
                })
            })
            .collect()
    }
}

/// The pool's stats as JSON.
pub fn stats_json(stats: &PoolStats) -> Value {
    json!({
        "workers": stats.workers,
        "available": stats.available,
        "busy": stats.busy,
        "queued": stats.queued,
        "requests": stats.requests,
        "errors": stats.errors,
        "timeouts": stats.timeouts,
        "queue_timeouts": stats.queue_timeouts,
        "pool_saturated": stats.pool_saturated,
        "restarts": stats.restarts,
        "retries": stats.retries,
        "recycled": stats.recycled,
        "circuit": circuit_name(stats.circuit),
        "tainted_slots": stats.tainted_slots,
        "degraded": stats.degraded,
    })
}

/// The circuit breaker's state as a word.
pub fn circuit_name(state: CircuitState) -> &'static str {
    match state {
        CircuitState::Closed => "closed",
        CircuitState::Open => "open",
        CircuitState::HalfOpen => "half_open",
        _ => "unknown",
    }
}

/// Everything the dashboard shows of one pool.
pub fn pool_snapshot(name: &str, pool: &Pool, monitor: &Monitor) -> Value {
    let pids = pool.worker_pids();
    json!({
        "name": name,
        "adapter": pool.adapter_name(),
        "size": pool.config().size,
        "stats": stats_json(&pool.stats()),
        "sessions": pool.sessions().stats().sessions,
        "workers": monitor.workers(&pids),
        "latency": monitor.rates(Duration::from_secs(2)),
        "recent_errors": monitor.errors(),
    })
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// The resident memory of a process, from `/proc/PID/status`.
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn percentiles_and_errors_come_from_recorded_calls() {
        let monitor = Monitor::default();
        for ms in 1..=100 {
            monitor.record("ping", Duration::from_millis(ms), None);
        }
        let error = ApiError::new(StatusCode::GATEWAY_TIMEOUT, "timeout", "late");
        monitor.record("slow", Duration::from_millis(5), Some(&error));
        let rates = monitor.rates(Duration::from_secs(2));
        assert_eq!(rates["window_calls"], 101);
        let p50 = rates["p50_ms"].as_f64().expect("a p50");
        assert!((45.0..=55.0).contains(&p50), "p50 {p50}");
        let errors = monitor.errors();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0]["kind"], "timeout");
        assert_eq!(errors[0]["command"], "slow");
    }

    #[test]
    fn worker_changes_are_reported_once() {
        let monitor = Monitor::default();
        assert_eq!(monitor.observe(&[1, 2]).started, vec![1, 2]);
        let changes = monitor.observe(&[2, 3]);
        assert_eq!(changes.started, vec![3]);
        assert_eq!(changes.exited, vec![1]);
        assert_eq!(monitor.observe(&[2, 3]), WorkerChanges::default());
    }

    #[test]
    fn own_rss_is_readable() {
        assert!(rss_bytes(std::process::id()).is_some_and(|bytes| bytes > 0));
    }
}
