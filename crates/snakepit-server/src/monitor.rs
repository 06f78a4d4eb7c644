//! What the server shows of each pool for the dashboard, `/v1/pools/{pool}/stats` and the
//! `snapshot` events. The library reports the workers ([`Pool::workers`]: pid, state, running
//! commands, calls served, RSS, age) and the latency percentiles ([`PoolStats::latency`]);
//! the server adds calls/s (the change of the pool's request count between the ticker's
//! samples), the recent errors with their tracebacks (calls made through this server), and
//! which worker pids appeared or went since the last look.
//!
//! Nothing here runs for a successful call: the monitor is fed by the ticker and by failed
//! calls only.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use snakepit::{CircuitState, Pool, PoolStats, WorkerSnapshot};

use crate::error::ApiError;

/// How far back calls/s looks.
const RATE_WINDOW: Duration = Duration::from_secs(2);
/// How many request-count samples are kept (the ticker takes one each interval).
const MAX_SAMPLES: usize = 64;
/// How many recent errors are kept.
const MAX_ERRORS: usize = 20;
/// What the dashboard shows as the current command of a worker running nothing.
pub const IDLE: &str = "idle";

/// The server's view of one pool.
#[derive(Debug, Default)]
pub struct Monitor {
    samples: Mutex<VecDeque<(Instant, u64)>>,
    errors: Mutex<VecDeque<Value>>,
    seen: Mutex<HashSet<u32>>,
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
    /// Records a failed call the server served, with its error.
    pub fn record_error(&self, command: &str, error: &ApiError) {
        let mut entry = error.body()["error"].clone();
        entry["at_ms"] = json!(unix_millis(SystemTime::now()));
        entry["command"] = json!(command);
        let mut errors = lock(&self.errors);
        errors.push_back(entry);
        while errors.len() > MAX_ERRORS {
            errors.pop_front();
        }
    }

    /// Notes the pool's request count now (the ticker calls this each interval).
    pub fn sample(&self, requests: u64) {
        self.sample_at(Instant::now(), requests);
    }

    fn sample_at(&self, now: Instant, requests: u64) {
        let mut samples = lock(&self.samples);
        samples.push_back((now, requests));
        while samples.len() > MAX_SAMPLES {
            samples.pop_front();
        }
    }

    /// Calls per second over about the last [`RATE_WINDOW`], from the samples; 0 before two.
    pub fn calls_per_s(&self) -> f64 {
        let samples = lock(&self.samples);
        let Some(&(last_at, last)) = samples.back() else {
            return 0.0;
        };
        let first = samples
            .iter()
            .find(|(at, _)| last_at.duration_since(*at) <= RATE_WINDOW)
            .copied();
        match first {
            Some((first_at, first)) if first_at < last_at => {
                #[expect(clippy::cast_precision_loss, reason = "a count of calls")]
                let calls = last.saturating_sub(first) as f64;
                calls / last_at.duration_since(first_at).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    /// Calls/s and the pool's latency percentiles (since it started) in milliseconds.
    pub fn rates(&self, stats: &PoolStats) -> Value {
        let ms = |duration: Option<Duration>| {
            duration.map_or(Value::Null, |duration| {
                json!((duration.as_secs_f64() * 1_000_000.0).round() / 1000.0)
            })
        };
        let latency = &stats.latency;
        json!({
            "calls_per_s": (self.calls_per_s() * 10.0).round() / 10.0,
            "p50_ms": ms(latency.p50),
            "p95_ms": ms(latency.p95),
            "p99_ms": ms(latency.p99),
            "window_calls": latency.count,
        })
    }

    /// The recent errors, oldest first.
    pub fn errors(&self) -> Vec<Value> {
        lock(&self.errors).iter().cloned().collect()
    }

    /// Compares the live pids with the last look.
    pub fn observe(&self, pids: &[u32]) -> WorkerChanges {
        let mut seen = lock(&self.seen);
        let mut changes = WorkerChanges::default();
        for pid in pids {
            if seen.insert(*pid) {
                changes.started.push(*pid);
            }
        }
        seen.retain(|pid| {
            let live = pids.contains(pid);
            if !live {
                changes.exited.push(*pid);
            }
            live
        });
        changes.exited.sort_unstable();
        changes
    }
}

/// One worker as JSON: every field has a value (`current_command` is [`IDLE`] when it runs
/// nothing; the RSS is read from `/proc` when the pool has not sampled it yet).
pub fn worker_json(worker: &WorkerSnapshot) -> Value {
    let current = if worker.running.is_empty() {
        IDLE.to_owned()
    } else {
        worker.running.join(", ")
    };
    let rss = worker
        .rss_bytes
        .or_else(|| rss_bytes(worker.pid))
        .unwrap_or(0);
    json!({
        "id": worker.id.to_string(),
        "pid": worker.pid,
        "state": worker.state.as_str(),
        "current_command": current,
        "running": worker.running,
        "calls_served": worker.calls_served,
        "rss_bytes": rss,
        "age_s": (worker.age.as_secs_f64() * 10.0).round() / 10.0,
        "started_at_ms": unix_millis(worker.started_at),
        "capacity": worker.capacity,
        "load": worker.load,
    })
}

/// Every worker of `pool` as JSON.
pub fn workers_json(pool: &Pool) -> Vec<Value> {
    pool.workers().iter().map(worker_json).collect()
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
    let stats = pool.stats();
    json!({
        "name": name,
        "adapter": pool.adapter_name(),
        "size": pool.config().size,
        "stats": stats_json(&stats),
        "sessions": pool.sessions().stats().sessions,
        "workers": workers_json(pool),
        "latency": monitor.rates(&stats),
        "recent_errors": monitor.errors(),
    })
}

fn unix_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |since| {
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
    fn calls_per_second_and_errors_come_from_samples_and_failed_calls() {
        let monitor = Monitor::default();
        assert!(monitor.calls_per_s().abs() < f64::EPSILON);
        let start = Instant::now();
        monitor.sample_at(start - Duration::from_secs(5), 0);
        monitor.sample_at(start, 100);
        monitor.sample_at(start + Duration::from_millis(500), 200);
        let rate = monitor.calls_per_s();
        assert!((rate - 200.0).abs() < 0.001, "rate {rate}");
        let error = ApiError::new(StatusCode::GATEWAY_TIMEOUT, "timeout", "late");
        monitor.record_error("slow", &error);
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
