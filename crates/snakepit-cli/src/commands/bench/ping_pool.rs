//! `ping` through a pool of W bench workers (their `empty` tool, which answers exactly what
//! the floors answer), and the codec every floor then uses.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};
use snakepit::floor::Encoding;
use snakepit::{Pool, PythonAdapter};

use super::ping::Figures;
use super::setup::{EMPTY, warm_up};
use super::stats::split;

/// Starts a pool of `workers` bench workers, for the `ping` figures.
pub(super) async fn ping_pool(python: &Path, workers: usize) -> anyhow::Result<Pool> {
    Pool::builder(PythonAdapter::new(super::setup::BENCH_ADAPTER).python(python))
        .size(workers)
        .start()
        .await
        .with_context(|| format!("could not start a pool of {workers} bench workers"))
}

/// Starts a pool of `workers` showcase workers.
pub(super) async fn showcase_pool(python: &Path, workers: usize) -> anyhow::Result<Pool> {
    Pool::builder(PythonAdapter::showcase().python(python))
        .size(workers)
        .start()
        .await
        .with_context(|| format!("could not start a pool of {workers} showcase workers"))
}

/// The codec a pool uses with this interpreter: msgpack when the worker has it (the host
/// always does). Asks a one-worker pool, then shuts it down.
pub(super) async fn negotiated_encoding(python: &Path) -> anyhow::Result<Encoding> {
    let pool = showcase_pool(python, 1).await?;
    let info = pool.execute("info", json!({})).await;
    pool.shutdown().await;
    let info = info.context("could not ask a worker for its encodings")?;
    let has_msgpack = info
        .get("msgpack")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(if has_msgpack {
        Encoding::MsgPack
    } else {
        Encoding::Json
    })
}

/// Measures `ping` through a fresh pool of `workers`, then shuts it down.
pub(super) async fn measure_pool(
    python: &Path,
    workers: usize,
    iterations: usize,
) -> anyhow::Result<Figures> {
    let pool = ping_pool(python, workers).await?;
    let outcome = pool_figures(&pool, workers, iterations).await;
    pool.shutdown().await;
    outcome
}

async fn pool_figures(pool: &Pool, workers: usize, iterations: usize) -> anyhow::Result<Figures> {
    for _ in 0..warm_up(iterations) {
        pool.execute(EMPTY, json!({}))
            .await
            .context("warm-up ping failed")?;
    }
    let samples = super::setup::ping_samples(pool, EMPTY, iterations).await?;
    let elapsed = pool_loops(pool, workers, iterations).await?;
    Ok(Figures::of(&samples, iterations, elapsed))
}

/// Runs `iterations` pings of the `empty` tool split over `loops` tasks, each a closed
/// loop; returns the wall time.
pub(super) async fn pool_loops(
    pool: &Pool,
    loops: usize,
    iterations: usize,
) -> anyhow::Result<Duration> {
    let began = Instant::now();
    let tasks: Vec<_> = split(iterations, loops)
        .map(|calls| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for _ in 0..calls {
                    pool.execute(EMPTY, json!({})).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await
            .context("a throughput task panicked")?
            .context("ping failed")?;
    }
    Ok(began.elapsed())
}
