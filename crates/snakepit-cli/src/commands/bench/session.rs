//! Sessions: the store's hot path in process, and `ping` in a session through one worker.
//!
//! - store: [`snakepit::floor::bench_store_ops`], get/update mixes from many tasks over many
//!   sessions, in ops per second (target ≥ 1 000 000).
//! - in session: sequential `execute_in_session` pings, one in flight, after a warm-up; p50
//!   and p99 in µs, to read beside the plain `ping`.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use serde::Serialize;
use serde_json::json;
use snakepit::Pool;
use snakepit::floor::bench_store_ops;

use super::setup::{bench_pool, warm_up};
use super::stats::Latency;

/// The smallest store rate allowed, in ops per second.
pub(super) const TARGET_STORE_OPS_PER_S: f64 = 1_000_000.0;
/// How many tasks hit the store at once.
pub(super) const STORE_TASKS: usize = 64;
/// How many sessions each task works over.
pub(super) const STORE_SESSIONS_PER_TASK: usize = 64;
/// Store operations per task for each `--iterations`.
const STORE_OPS_PER_ITERATION: usize = 40;
/// The session the in-session pings run in.
const SESSION: &str = "bench-session";

/// The session figures.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct SessionFigures {
    /// Store get/update operations per second over all tasks.
    pub(crate) store_ops_per_s: f64,
    /// Median latency of a `ping` in a session, in µs.
    pub(crate) in_session_p50_us: f64,
    /// 99th percentile latency of a `ping` in a session, in µs.
    pub(crate) in_session_p99_us: f64,
}

/// Measures the store, then pings in a session through a one-worker pool.
///
/// # Errors
///
/// When the pool does not start or a call fails.
pub(super) async fn measure(python: &Path, iterations: usize) -> anyhow::Result<SessionFigures> {
    let store_ops_per_s = bench_store_ops(
        STORE_TASKS,
        STORE_SESSIONS_PER_TASK,
        iterations.saturating_mul(STORE_OPS_PER_ITERATION),
    )
    .await;
    let pool = bench_pool(python).await?;
    let outcome = in_session_latency(&pool, iterations).await;
    pool.shutdown().await;
    let latency = outcome?;
    Ok(SessionFigures {
        store_ops_per_s,
        in_session_p50_us: latency.p50_us,
        in_session_p99_us: latency.p99_us,
    })
}

async fn in_session_latency(pool: &Pool, iterations: usize) -> anyhow::Result<Latency> {
    for _ in 0..warm_up(iterations) {
        pool.execute_in_session(SESSION, "ping", json!({}))
            .await
            .context("warm-up ping in a session failed")?;
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        pool.execute_in_session(SESSION, "ping", json!({}))
            .await
            .context("ping in a session failed")?;
        samples.push(started.elapsed());
    }
    Ok(Latency::of_durations(&samples))
}
