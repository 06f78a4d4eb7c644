//! `snakepit bench --only PATH --loops N`: the `ping` section's throughput measurement of
//! one setup alone, N closed loops at once, for counting context switches and CPU per call
//! (`perf stat`) or for comparing ways of driving the links.
//!
//! `ping-floor`, `ping-blocking-floor` and `ping-pool` run exactly the closed loops the
//! `ping` section times (N floor processes, or a pool of N bench workers). One more path
//! exists only here: `ping-floor-per-thread`, the tokio floor with each loop on a
//! current-thread runtime of its own OS thread, so that a caller, its link and the
//! reactor that watches the link share one thread (`docs/design/co-location.md`).

use std::path::Path;
use std::sync::Barrier;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::json;
use snakepit::floor::{BlockingFloor, Encoding, Floor};

use super::only::WARM_UP;
use super::ping_floor::{
    closed_loops, floor_loops, stop_blocking_floors, stop_floors, timed_threads,
};
use super::ping_pool::{ping_pool, pool_loops};
use super::setup::EMPTY;
use super::stats::split;
use crate::cli::BenchOnly;

/// Runs `calls` pings of `path` over `loops` closed loops; returns their wall time.
///
/// # Errors
///
/// When a setup does not start, a ping fails, or `path` has no closed loops.
pub(super) async fn run(
    python: &Path,
    path: BenchOnly,
    loops: usize,
    calls: usize,
) -> anyhow::Result<Duration> {
    match path {
        BenchOnly::Floor => floors(python, loops, calls).await,
        BenchOnly::BlockingFloor => blocking_floors(python, loops, calls).await,
        BenchOnly::Pool => pool(python, loops, calls).await,
        BenchOnly::FloorPerThread => {
            let python = python.to_path_buf();
            tokio::task::spawn_blocking(move || floors_per_thread(&python, loops, calls))
                .await
                .context("the per-thread floors' thread panicked")?
        }
        BenchOnly::Concurrent => bail!("--loops does not apply to ping-concurrent"),
    }
}

async fn floors(python: &Path, loops: usize, calls: usize) -> anyhow::Result<Duration> {
    let mut started = Vec::with_capacity(loops);
    let warmed = async {
        for _ in 0..loops {
            started.push(Floor::start(python, Encoding::MsgPack).await?);
        }
        for floor in &mut started {
            for id in 0..WARM_UP {
                floor.ping(id).await?;
            }
        }
        Ok(())
    }
    .await;
    if let Err(err) = warmed {
        stop_floors(started).await;
        return Err(anyhow::Error::new::<snakepit::Error>(err))
            .context("the floor failed (is msgpack installed?)");
    }
    let (floors, elapsed) = floor_loops(started, calls).await;
    stop_floors(floors).await;
    elapsed
}

async fn blocking_floors(python: &Path, loops: usize, calls: usize) -> anyhow::Result<Duration> {
    let mut started = Vec::with_capacity(loops);
    for _ in 0..loops {
        match BlockingFloor::start(python, Encoding::MsgPack).await {
            Ok(floor) => started.push(floor),
            Err(err) => {
                stop_blocking_floors(started).await;
                return Err(err).context("could not start the blocking floor");
            }
        }
    }
    let (floors, elapsed) = tokio::task::spawn_blocking(move || {
        let warmed = started
            .iter_mut()
            .try_for_each(|floor| (0..WARM_UP).try_for_each(|id| floor.ping(id)))
            .context("the blocking floor echo failed (is msgpack installed?)");
        let elapsed = warmed.and_then(|()| closed_loops(&mut started, calls));
        (started, elapsed)
    })
    .await
    .context("the blocking floors' thread panicked")?;
    stop_blocking_floors(floors).await;
    elapsed
}

async fn pool(python: &Path, loops: usize, calls: usize) -> anyhow::Result<Duration> {
    let pool = ping_pool(python, loops).await?;
    let outcome = async {
        for _ in 0..WARM_UP {
            pool.execute(EMPTY, json!({}))
                .await
                .context("warm-up ping failed")?;
        }
        pool_loops(&pool, loops, calls).await
    }
    .await;
    pool.shutdown().await;
    outcome
}

/// One OS thread per loop, each with a current-thread runtime that starts its floor, warms
/// it up and runs its loop; the clock runs from when every thread is ready until the last
/// one is done.
fn floors_per_thread(python: &Path, loops: usize, calls: usize) -> anyhow::Result<Duration> {
    timed_threads(
        split(calls, loops)
            .map(|calls| move |ready: &Barrier| floor_on_own_thread(python, calls, ready))
            .collect(),
    )
}

/// The body of one of [`floors_per_thread`]'s threads. It always reaches the barrier, also
/// when its floor does not start, so that the others are not left waiting.
fn floor_on_own_thread(python: &Path, calls: usize, ready: &Barrier) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            ready.wait();
            return Err(err).context("could not start a current-thread runtime");
        }
    };
    runtime.block_on(async {
        let floor = async {
            let mut floor = Floor::start(python, Encoding::MsgPack).await?;
            for id in 0..WARM_UP {
                if let Err(err) = floor.ping(id).await {
                    floor.stop().await;
                    return Err(err);
                }
            }
            Ok(floor)
        }
        .await;
        ready.wait();
        let mut floor = floor.context("the floor failed (is msgpack installed?)")?;
        let mut outcome = Ok(());
        for id in 1..=calls as u64 {
            if let Err(err) = floor.ping(id).await {
                outcome = Err(anyhow::Error::new(err).context("the floor echo failed"));
                break;
            }
        }
        floor.stop().await;
        outcome
    })
}
