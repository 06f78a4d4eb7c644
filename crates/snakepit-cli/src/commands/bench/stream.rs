//! Streaming: chunks per second of `chunks(n)` through one worker, beside the streaming floor
//! ([`Floor::stream`]: the same n bare chunk frames over the same link and codec).
//!
//! Both sides stream a short warm-up first, then [`ROUNDS`] measured streams, each timed from
//! the request until the final result; a rate is the median over the rounds. The target: the
//! pool reaches ≥ 50 % of the floor's frame rate.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures_util::StreamExt as _;
use serde::Serialize;
use serde_json::json;
use snakepit::floor::{Encoding, Floor};
use snakepit::{Pool, StreamItem};

use super::setup::{bench_pool, warm_up};
use super::stats::{median, per_second};

/// The smallest pool chunk rate allowed, as a fraction of the floor's frame rate.
pub(super) const TARGET_STREAM_RATIO: f64 = 0.5;
/// Chunks per stream for each `--iterations`.
const CHUNKS_PER_ITERATION: usize = 4;
/// Measured streams per side; one stream lasts only tens of milliseconds.
pub(super) const ROUNDS: usize = 5;

/// The streaming figures.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct StreamFigures {
    /// Chunks per second through the pool.
    pub(crate) chunks_per_s: f64,
    /// Chunk frames per second from the streaming floor.
    pub(crate) floor_frames_per_s: f64,
    /// Pool over floor (target ≥ 0.5).
    pub(crate) ratio: f64,
}

/// How many chunks one measured stream carries.
pub(super) fn chunk_count(iterations: usize) -> usize {
    iterations.saturating_mul(CHUNKS_PER_ITERATION)
}

/// Measures the pool's stream, then the floor's, both in `encoding`.
///
/// # Errors
///
/// When the pool or the floor does not start, or a stream fails or comes up short.
pub(super) async fn measure(
    python: &Path,
    encoding: Encoding,
    iterations: usize,
) -> anyhow::Result<StreamFigures> {
    let chunks = chunk_count(iterations);
    let pool = bench_pool(python).await?;
    let outcome = pool_rate(&pool, warm_up(iterations), chunks).await;
    pool.shutdown().await;
    let chunks_per_s = outcome?;
    let floor_frames_per_s = floor_rate(python, encoding, warm_up(iterations), chunks).await?;
    Ok(StreamFigures {
        chunks_per_s,
        floor_frames_per_s,
        ratio: chunks_per_s / floor_frames_per_s,
    })
}

async fn pool_rate(pool: &Pool, warm_up: usize, chunks: usize) -> anyhow::Result<f64> {
    pool_stream(pool, warm_up)
        .await
        .context("the warm-up stream failed")?;
    let mut rates = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        rates.push(per_second(chunks, pool_stream(pool, chunks).await?));
    }
    Ok(median(&mut rates))
}

/// Streams `chunks` chunks through the pool and returns how long it took until the result.
async fn pool_stream(pool: &Pool, chunks: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut stream = pool
        .execute_stream("chunks", json!({ "n": chunks }))
        .await
        .context("could not start the chunks stream")?;
    let mut received = 0_usize;
    while let Some(item) = stream.next().await {
        match item.context("the chunks stream failed")? {
            StreamItem::Chunk(_) => received += 1,
            StreamItem::Done(_) => {
                let elapsed = started.elapsed();
                if received != chunks {
                    bail!("the pool streamed {received} chunks of {chunks}");
                }
                return Ok(elapsed);
            }
        }
    }
    bail!("the chunks stream ended without a result")
}

async fn floor_rate(
    python: &Path,
    encoding: Encoding,
    warm_up: usize,
    chunks: usize,
) -> anyhow::Result<f64> {
    let mut floor = Floor::start(python, encoding)
        .await
        .context("could not start the floor")?;
    let outcome = async {
        floor_stream(&mut floor, 0, warm_up)
            .await
            .context("the floor's warm-up stream failed")?;
        let mut rates = Vec::with_capacity(ROUNDS);
        for id in 1..=ROUNDS as u64 {
            rates.push(per_second(
                chunks,
                floor_stream(&mut floor, id, chunks).await?,
            ));
        }
        anyhow::Ok(median(&mut rates))
    }
    .await;
    floor.stop().await;
    outcome
}

/// Streams `chunks` bare chunk frames from the floor and returns how long it took.
async fn floor_stream(floor: &mut Floor, id: u64, chunks: usize) -> anyhow::Result<Duration> {
    let expected = u64::try_from(chunks).context("too many chunks")?;
    let started = Instant::now();
    let received = floor
        .stream(id, expected)
        .await
        .context("the floor stream failed")?;
    let elapsed = started.elapsed();
    if received != expected {
        bail!("the floor streamed {received} chunks of {chunks}");
    }
    Ok(elapsed)
}
