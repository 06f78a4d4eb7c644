//! `snakepit bench --only PATH`: one path alone, for counting the host's instructions per
//! call under callgrind (`docs/benchmarks.md`).
//!
//! It starts the one setup (a floor process or a pool of one bench worker), makes
//! [`WARM_UP`] pings, then `--iterations` sequential pings, stops the setup and prints how
//! long the measured pings took. The fixed work (start, warm-up, stop) is the same for any
//! `--iterations`, so two runs with different counts give the instructions of one call as
//! the difference of their totals over the difference of their counts. `ping-concurrent`
//! makes its pings from the profiles section's callers through its concurrent pool, after
//! a warm-up of `min(N, 10 000)` calls (so compare counts of 10 000 and more), and also
//! prints the host's and the workers' CPU per call. The floors speak
//! msgpack: the interpreter needs the `msgpack` package. With `--loops N` the pings come
//! from N closed loops at once ([`super::only_loops`]).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;
use snakepit::floor::{BlockingFloor, Encoding, Floor};

use snakepit::Profile;

use super::ping_pool::ping_pool;
use super::profiles::{CALLERS, CAPACITY, PING_INLINE, WORKERS, bench_pool_with, calls_per_s};
use super::setup::EMPTY;
use crate::cli::BenchOnly;
use crate::commands::cpu;

/// Pings before the measured ones, the same for every run (and every loop of `--loops`).
pub(super) const WARM_UP: u64 = 100;

/// Runs `path` alone with `calls` measured pings and prints the time they took.
///
/// # Errors
///
/// When the setup does not start or a ping fails.
pub(super) async fn run(
    python: &Path,
    path: BenchOnly,
    calls: usize,
    loops: Option<usize>,
) -> anyhow::Result<()> {
    let calls_u64 = u64::try_from(calls).context("--iterations is too large")?;
    let elapsed = match (path, loops) {
        (BenchOnly::FloorPerThread, None) => super::only_loops::run(python, path, 1, calls).await,
        (_, Some(loops)) => super::only_loops::run(python, path, loops, calls).await,
        (BenchOnly::Floor, None) => floor(python, calls_u64).await,
        (BenchOnly::BlockingFloor, None) => blocking_floor(python, calls_u64).await,
        (BenchOnly::Pool, None) => pool(python, calls_u64).await,
        (BenchOnly::Concurrent, None) => concurrent(python, calls).await,
    }?;
    let micros = elapsed.as_secs_f64() * 1e6;
    #[expect(clippy::cast_precision_loss, reason = "call counts are far below 2^52")]
    let per_call = micros / calls as f64;
    let over = loops.map_or_else(String::new, |loops| format!(" over {loops} closed loops"));
    println!(
        "ping through the {}: {calls} pings in {micros:.0} µs{over} ({per_call:.1} µs per ping)",
        name(path)
    );
    Ok(())
}

/// What the path measures, in words.
fn name(path: BenchOnly) -> &'static str {
    match path {
        BenchOnly::Floor => "tokio floor",
        BenchOnly::BlockingFloor => "blocking floor",
        BenchOnly::Pool => "pool",
        BenchOnly::FloorPerThread => "tokio floor, a runtime per thread",
        BenchOnly::Concurrent => "concurrent pool",
    }
}

async fn floor(python: &Path, calls: u64) -> anyhow::Result<Duration> {
    let mut floor = Floor::start(python, Encoding::MsgPack)
        .await
        .context("could not start the floor")?;
    let outcome = async {
        for id in 0..WARM_UP {
            floor.ping(id).await?;
        }
        let started = Instant::now();
        for id in WARM_UP..WARM_UP + calls {
            floor.ping(id).await?;
        }
        Ok(started.elapsed())
    }
    .await;
    floor.stop().await;
    outcome.map_err(|err: snakepit::Error| {
        anyhow::Error::new(err).context("the floor echo failed (is msgpack installed?)")
    })
}

async fn blocking_floor(python: &Path, calls: u64) -> anyhow::Result<Duration> {
    let mut floor = BlockingFloor::start(python, Encoding::MsgPack)
        .await
        .context("could not start the blocking floor")?;
    let (floor, outcome) = tokio::task::spawn_blocking(move || {
        let outcome = (|| {
            for id in 0..WARM_UP {
                floor.ping(id)?;
            }
            let started = Instant::now();
            for id in WARM_UP..WARM_UP + calls {
                floor.ping(id)?;
            }
            Ok(started.elapsed())
        })();
        (floor, outcome)
    })
    .await
    .context("the blocking floor's thread panicked")?;
    floor.stop().await;
    outcome.map_err(|err: snakepit::Error| {
        anyhow::Error::new(err).context("the blocking floor echo failed (is msgpack installed?)")
    })
}

async fn pool(python: &Path, calls: u64) -> anyhow::Result<Duration> {
    let pool = ping_pool(python, 1).await?;
    let outcome = async {
        for _ in 0..WARM_UP {
            pool.execute(EMPTY, json!({})).await?;
        }
        let started = Instant::now();
        for _ in 0..calls {
            pool.execute(EMPTY, json!({})).await?;
        }
        Ok(started.elapsed())
    }
    .await;
    pool.shutdown().await;
    outcome.map_err(|err: snakepit::Error| anyhow::Error::new(err).context("ping failed"))
}

/// `ping_inline` from the profiles section's callers through its concurrent pool; prints
/// the host's and the workers' CPU per call.
async fn concurrent(python: &Path, calls: usize) -> anyhow::Result<Duration> {
    let pool = bench_pool_with(python, WORKERS, Profile::concurrent(CAPACITY)).await?;
    let outcome = async {
        calls_per_s(&pool, PING_INLINE, json!({}), calls.min(10_000), CALLERS).await?;
        let pids = pool.worker_pids();
        let before = cpu::sample(&pids);
        let started = Instant::now();
        calls_per_s(&pool, PING_INLINE, json!({}), calls, CALLERS).await?;
        let elapsed = started.elapsed();
        let used = before.per_call(cpu::sample(&pids), u64::try_from(calls)?);
        println!(
            "CPU per call: host {:.1} µs, workers {:.1} µs",
            used.own_us, used.others_us
        );
        anyhow::Ok(elapsed)
    }
    .await;
    pool.shutdown().await;
    outcome
}
