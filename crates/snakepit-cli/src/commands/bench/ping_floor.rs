//! `ping` through the floors: W echo processes, driven by tokio tasks (the tokio floor) or by
//! plain OS threads (the blocking floor). Every floor process is stopped before a
//! measurement returns, also when it fails.

use std::path::Path;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use snakepit::floor::{BlockingFloor, Encoding, Floor};

use super::ping::Figures;
use super::setup::warm_up;
use super::stats::split;

/// Measures the tokio floor with `workers` echo processes.
pub(super) async fn measure_floor(
    python: &Path,
    encoding: Encoding,
    workers: usize,
    iterations: usize,
) -> anyhow::Result<Figures> {
    let mut floors = Vec::with_capacity(workers);
    for _ in 0..workers {
        match Floor::start(python, encoding).await {
            Ok(floor) => floors.push(floor),
            Err(err) => {
                stop_floors(floors).await;
                return Err(err).context("could not start the floor");
            }
        }
    }
    let mut samples = Vec::with_capacity(iterations);
    let latency = async {
        for round in 0..warm_up(iterations) + iterations {
            let slot = round % floors.len();
            let started = Instant::now();
            floors[slot]
                .ping(round as u64)
                .await
                .context("the floor echo failed")?;
            if round >= warm_up(iterations) {
                samples.push(started.elapsed());
            }
        }
        anyhow::Ok(())
    }
    .await;
    if let Err(err) = latency {
        stop_floors(floors).await;
        return Err(err);
    }
    let (floors, elapsed) = floor_loops(floors, iterations).await;
    stop_floors(floors).await;
    Ok(Figures::of(&samples, iterations, elapsed?))
}

/// Runs `iterations` pings split over one task per floor, each a closed loop; returns the
/// floors (to stop) and the wall time, or the first failure.
pub(super) async fn floor_loops(
    floors: Vec<Floor>,
    iterations: usize,
) -> (Vec<Floor>, anyhow::Result<Duration>) {
    let count = floors.len();
    let began = Instant::now();
    let tasks: Vec<_> = floors
        .into_iter()
        .zip(split(iterations, count))
        .map(|(mut floor, calls)| {
            tokio::spawn(async move {
                let mut outcome = Ok(());
                for id in 1..=calls as u64 {
                    if let Err(err) = floor.ping(id).await {
                        outcome = Err(err);
                        break;
                    }
                }
                (floor, outcome)
            })
        })
        .collect();
    let mut floors = Vec::with_capacity(count);
    let mut failure = None;
    for task in tasks {
        match task.await {
            Ok((floor, outcome)) => {
                floors.push(floor);
                if let Err(err) = outcome {
                    failure.get_or_insert(anyhow::Error::new(err).context("the floor echo failed"));
                }
            }
            Err(err) => {
                failure.get_or_insert(anyhow::Error::new(err).context("a floor task panicked"));
            }
        }
    }
    let elapsed = began.elapsed();
    (floors, failure.map_or(Ok(elapsed), Err))
}

/// Stops every floor, all at once.
pub(super) async fn stop_floors(floors: Vec<Floor>) {
    futures_util::future::join_all(floors.into_iter().map(Floor::stop)).await;
}

/// Measures the blocking floor with `workers` echo processes, off the runtime: latency on
/// one blocking thread, throughput on one OS thread per process.
pub(super) async fn measure_blocking_floor(
    python: &Path,
    encoding: Encoding,
    workers: usize,
    iterations: usize,
) -> anyhow::Result<Figures> {
    let mut floors = Vec::with_capacity(workers);
    for _ in 0..workers {
        match BlockingFloor::start(python, encoding).await {
            Ok(floor) => floors.push(floor),
            Err(err) => {
                stop_blocking_floors(floors).await;
                return Err(err).context("could not start the blocking floor");
            }
        }
    }
    let (floors, outcome) = tokio::task::spawn_blocking(move || {
        let outcome = blocking_figures(&mut floors, iterations);
        (floors, outcome)
    })
    .await
    .context("the blocking floor's thread panicked")?;
    stop_blocking_floors(floors).await;
    outcome
}

/// Sequential pings round-robin over `floors`, then one closed loop per floor, each on an OS
/// thread of its own; the clock starts when every thread is ready.
fn blocking_figures(floors: &mut [BlockingFloor], iterations: usize) -> anyhow::Result<Figures> {
    let mut samples = Vec::with_capacity(iterations);
    for round in 0..warm_up(iterations) + iterations {
        let slot = round % floors.len();
        let started = Instant::now();
        floors[slot]
            .ping(round as u64)
            .context("the blocking floor echo failed")?;
        if round >= warm_up(iterations) {
            samples.push(started.elapsed());
        }
    }
    let elapsed = closed_loops(floors, iterations)?;
    Ok(Figures::of(&samples, iterations, elapsed))
}

/// Runs `iterations` pings split over one OS thread per floor; returns the wall time.
pub(super) fn closed_loops(
    floors: &mut [BlockingFloor],
    iterations: usize,
) -> anyhow::Result<Duration> {
    let count = floors.len();
    timed_threads(
        floors
            .iter_mut()
            .zip(split(iterations, count))
            .map(|(floor, calls)| {
                move |ready: &Barrier| {
                    ready.wait();
                    (1..=calls as u64)
                        .try_for_each(|id| floor.ping(id))
                        .context("the blocking floor echo failed")
                }
            })
            .collect(),
    )
}

/// Runs each body on an OS thread of its own. A body must wait on the barrier it is given
/// once it is ready to be timed, also when it fails before; the clock runs from when every
/// body has passed the barrier until the last one ends. Returns that wall time, or the first
/// failure.
pub(super) fn timed_threads<F>(bodies: Vec<F>) -> anyhow::Result<Duration>
where
    F: FnOnce(&Barrier) -> anyhow::Result<()> + Send,
{
    let ready = Barrier::new(bodies.len() + 1);
    std::thread::scope(|scope| {
        let threads: Vec<_> = bodies
            .into_iter()
            .map(|body| {
                let ready = &ready;
                scope.spawn(move || body(ready))
            })
            .collect();
        ready.wait();
        let began = Instant::now();
        let mut failure = None;
        for thread in threads {
            let outcome = thread
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("a benchmark thread panicked")));
            if let Err(err) = outcome {
                failure.get_or_insert(err);
            }
        }
        let elapsed = began.elapsed();
        failure.map_or(Ok(elapsed), Err)
    })
}

/// Stops every blocking floor, all at once.
pub(super) async fn stop_blocking_floors(floors: Vec<BlockingFloor>) {
    futures_util::future::join_all(floors.into_iter().map(BlockingFloor::stop)).await;
}
