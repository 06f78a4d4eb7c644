//! Worker profiles: what the concurrent profile delivers, measured in one run.
//!
//! - A trivial call through 2 workers of the concurrent profile, capacity 8 each, with many
//!   callers, beside the pipelined floor: 2 bare echo processes, each link carrying up to 8
//!   calls in flight. The trivial call is measured twice: `ping`, an ordinary tool, which a
//!   concurrent worker hands to one of its pool threads, and `ping_inline`, the same tool
//!   marked `@tool(inline=True)` (it promises never to block), which the worker runs on
//!   its reader thread. Target: the pool at least [`TARGET_CONCURRENT_RATIO`] × the floor,
//!   judged on `ping_inline`, and the output says so. They alternate over `--rounds`
//!   rounds; each figure is a median.
//! - An I/O-bound call (`sleep_ms`, 10 ms) at [`IO_CALLERS`] concurrent callers: 2 workers
//!   of the process profile against 2 workers of capacity 32. Expect about 16× (32 calls
//!   in flight per worker instead of 1, over a fixed 10 ms wait).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;
use serde_json::json;
use snakepit::floor::{Encoding, Floor};
use snakepit::{Pool, Profile, PythonAdapter};

use super::setup::{BENCH_ADAPTER, warm_up};
use super::stats::{median, split};

/// Workers of every pool and floor of this section.
pub(super) const WORKERS: usize = 2;
/// Calls at once per worker of the trivial-call figure.
pub(super) const CAPACITY: usize = 8;
/// Concurrent callers of the trivial-call figure: enough to keep every place busy.
pub(super) const CALLERS: usize = 4 * WORKERS * CAPACITY;
/// Concurrent callers of the I/O figures.
pub(super) const IO_CALLERS: usize = 64;
/// Calls at once per worker of the concurrent I/O figure.
pub(super) const IO_CAPACITY: usize = 32;
/// How long the I/O tool sleeps.
const IO_SLEEP_MS: f64 = 10.0;
/// The concurrent pool's calls/s as a share of the pipelined floor's, at the least.
pub(crate) const TARGET_CONCURRENT_RATIO: f64 = 0.8;
/// The trivial tool, an ordinary one: a concurrent worker runs it on a pool thread.
pub(super) const PING: &str = "ping";
/// The trivial tool marked `@tool(inline=True)`: run on the worker's reader thread.
pub(super) const PING_INLINE: &str = "ping_inline";

/// The figures of the profiles section (`"profiles"` in `--json`).
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct ProfileFigures {
    /// `ping` (on the workers' pool threads) through 2 concurrent workers of capacity 8.
    pub(crate) concurrent_calls_per_s: f64,
    /// `ping_inline` (`@tool(inline=True)`, on the reader threads) through the same pool.
    pub(crate) concurrent_inline_calls_per_s: f64,
    /// Pipelined echoes through 2 floors, 8 in flight per link.
    pub(crate) floor_pipelined_calls_per_s: f64,
    /// `concurrent_calls_per_s` over the floor.
    pub(crate) concurrent_ratio: f64,
    /// `concurrent_inline_calls_per_s` over the floor: the figure the target is judged on.
    pub(crate) concurrent_inline_ratio: f64,
    /// `sleep_ms` (10 ms) through 2 process-profile workers, 64 callers.
    pub(crate) io_process_calls_per_s: f64,
    /// `sleep_ms` (10 ms) through 2 workers of capacity 32, 64 callers.
    pub(crate) io_concurrent_calls_per_s: f64,
    /// The second over the first.
    pub(crate) io_ratio: f64,
}

/// A pool of `workers` bench workers with `profile`.
pub(super) async fn bench_pool_with(
    python: &Path,
    workers: usize,
    profile: Profile,
) -> anyhow::Result<Pool> {
    Pool::builder(PythonAdapter::new(BENCH_ADAPTER).python(python))
        .size(workers)
        .profile(profile)
        .max_queue(100_000)
        .queue_timeout(Duration::from_secs(60))
        .start()
        .await
        .with_context(|| format!("could not start a pool of {workers} bench workers ({profile:?})"))
}

/// Measures the section; every pool and floor is stopped before it returns.
///
/// # Errors
///
/// When a pool or a floor does not start, or a call fails.
pub(super) async fn measure(
    python: &Path,
    encoding: Encoding,
    iterations: usize,
    rounds: usize,
) -> anyhow::Result<ProfileFigures> {
    let calls = iterations.max(1000);
    // The floor and the pool alternate; each figure is the median over the rounds.
    let mut floors = Vec::with_capacity(rounds);
    let mut pools = Vec::with_capacity(rounds);
    let mut inline_pools = Vec::with_capacity(rounds);
    for _ in 0..rounds.max(1) {
        floors.push(floor_pipelined(python, encoding, calls).await?);
        pools.push(concurrent_ping(python, PING, calls, CAPACITY).await?);
        inline_pools.push(concurrent_ping(python, PING_INLINE, calls, CAPACITY).await?);
    }
    let (floor, concurrent) = (median(&mut floors), median(&mut pools));
    let concurrent_inline = median(&mut inline_pools);
    let io_calls_process = 200;
    let io_process = io_bound(python, Profile::Process, io_calls_process).await?;
    let io_concurrent = io_bound(
        python,
        Profile::concurrent(IO_CAPACITY),
        io_calls_process * 16,
    )
    .await?;
    Ok(ProfileFigures {
        concurrent_calls_per_s: concurrent,
        concurrent_inline_calls_per_s: concurrent_inline,
        floor_pipelined_calls_per_s: floor,
        concurrent_ratio: concurrent / floor,
        concurrent_inline_ratio: concurrent_inline / floor,
        io_process_calls_per_s: io_process,
        io_concurrent_calls_per_s: io_concurrent,
        io_ratio: io_concurrent / io_process,
    })
}

/// `command` ([`PING`] or [`PING_INLINE`]) through [`WORKERS`] workers of `capacity`, from
/// [`CALLERS`] tasks.
pub(super) async fn concurrent_ping(
    python: &Path,
    command: &'static str,
    calls: usize,
    capacity: usize,
) -> anyhow::Result<f64> {
    let pool = bench_pool_with(python, WORKERS, Profile::concurrent(capacity)).await?;
    let outcome = async {
        calls_per_s(&pool, command, json!({}), warm_up(calls), CALLERS).await?;
        calls_per_s(&pool, command, json!({}), calls, CALLERS).await
    }
    .await;
    pool.shutdown().await;
    outcome
}

/// `sleep_ms` through 2 workers of `profile`, from [`IO_CALLERS`] tasks.
async fn io_bound(python: &Path, profile: Profile, calls: usize) -> anyhow::Result<f64> {
    let pool = bench_pool_with(python, WORKERS, profile).await?;
    let args = json!({ "ms": IO_SLEEP_MS });
    let outcome = async {
        calls_per_s(&pool, "sleep_ms", args.clone(), IO_CALLERS, IO_CALLERS).await?;
        calls_per_s(&pool, "sleep_ms", args, calls, IO_CALLERS).await
    }
    .await;
    pool.shutdown().await;
    outcome
}

/// Makes `calls` calls of `command` from `callers` tasks; returns calls per second.
pub(super) async fn calls_per_s(
    pool: &Pool,
    command: &'static str,
    args: serde_json::Value,
    calls: usize,
    callers: usize,
) -> anyhow::Result<f64> {
    let began = Instant::now();
    let tasks: Vec<_> = split(calls, callers)
        .map(|share| {
            let pool = pool.clone();
            let args = args.clone();
            tokio::spawn(async move {
                for _ in 0..share {
                    pool.execute(command, args.clone()).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await
            .context("a caller task panicked")?
            .with_context(|| format!("`{command}` failed"))?;
    }
    Ok(rate(calls, began.elapsed()))
}

/// Pipelined echoes through [`WORKERS`] floors, [`CAPACITY`] in flight per link.
async fn floor_pipelined(python: &Path, encoding: Encoding, calls: usize) -> anyhow::Result<f64> {
    let mut floors = Vec::with_capacity(WORKERS);
    for _ in 0..WORKERS {
        floors.push(
            Floor::start(python, encoding)
                .await
                .context("could not start the floor")?,
        );
    }
    for floor in &mut floors {
        floor
            .pipelined(warm_up(calls) as u64, CAPACITY as u64)
            .await
            .context("the pipelined floor failed")?;
    }
    let began = Instant::now();
    let tasks: Vec<_> = floors
        .into_iter()
        .zip(split(calls, WORKERS))
        .map(|(mut floor, share)| {
            tokio::spawn(async move {
                let outcome = floor.pipelined(share as u64, CAPACITY as u64).await;
                floor.stop().await;
                outcome
            })
        })
        .collect();
    let mut failure = None;
    for task in tasks {
        if let Err(err) = task.await.context("a floor task panicked")? {
            failure.get_or_insert(err);
        }
    }
    let elapsed = began.elapsed();
    if let Some(err) = failure {
        return Err(err).context("the pipelined floor failed");
    }
    Ok(rate(calls, elapsed))
}

#[expect(clippy::cast_precision_loss, reason = "call counts are far below 2^52")]
fn rate(calls: usize, elapsed: Duration) -> f64 {
    calls as f64 / elapsed.as_secs_f64()
}

/// Prints the section.
pub(super) fn print(profiles: &ProfileFigures, iterations: usize) {
    let calls = iterations.max(1000);
    println!(
        "\nprofiles: ping, {calls} calls, {WORKERS} workers x capacity {CAPACITY} beside {WORKERS} floors with {CAPACITY} calls in flight per link"
    );
    println!(
        "{:<22} {:>12.0} calls/s",
        "pipelined floor", profiles.floor_pipelined_calls_per_s
    );
    println!(
        "{:<22} {:>12.0} calls/s, {:.2}x floor (ping, an ordinary tool, on the workers' pool threads)",
        "concurrent pool", profiles.concurrent_calls_per_s, profiles.concurrent_ratio,
    );
    println!(
        "{:<22} {:>12.0} calls/s, {:.2}x floor (>= {TARGET_CONCURRENT_RATIO}x) {} (ping_inline: ping marked @tool(inline=True), run on the reader thread)",
        "concurrent pool",
        profiles.concurrent_inline_calls_per_s,
        profiles.concurrent_inline_ratio,
        if profiles.concurrent_inline_ratio >= TARGET_CONCURRENT_RATIO {
            "ok"
        } else {
            "MISSED"
        },
    );
    println!(
        "I/O tool (sleeps {IO_SLEEP_MS} ms), {IO_CALLERS} callers, {WORKERS} workers: process {:.0} calls/s, concurrent x{IO_CAPACITY} {:.0} calls/s ({:.1}x)",
        profiles.io_process_calls_per_s, profiles.io_concurrent_calls_per_s, profiles.io_ratio,
    );
}
