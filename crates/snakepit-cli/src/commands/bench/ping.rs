//! `ping` through the pool beside the floor, for each worker count W (1 and 2).
//!
//! - latency: sequential calls, one in flight, after a warm-up; p50 and p99 in µs. With
//!   several floors, the calls go round-robin over them.
//! - throughput: W tasks each making calls back to back (a closed loop), one floor process
//!   per task for the floor; calls per second over all tasks.
//!
//! The targets: pool p50 ≤ 1.5 × floor p50, pool throughput ≥ 80 % of the floor's. The first
//! pool also tells which codec the worker speaks, which every floor then uses.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::Serialize;
use serde_json::{Value, json};
use snakepit::floor::Floor;
use snakepit::floor::{Encoding, Message};
use snakepit::{Pool, PythonAdapter};

use super::setup::warm_up;
use super::stats::{Latency, per_second, split};

/// The worker counts every figure is measured with.
const WORKER_COUNTS: [usize; 2] = [1, 2];
/// The largest pool p50 allowed, as a multiple of the floor's.
pub(super) const TARGET_P50_RATIO: f64 = 1.5;
/// The smallest pool throughput allowed, as a fraction of the floor's.
pub(super) const TARGET_THROUGHPUT_RATIO: f64 = 0.8;

/// The `ping` figures for one worker count.
#[derive(Debug, Serialize)]
pub(crate) struct PingRow {
    /// How many workers (and floor processes).
    pub(crate) workers: usize,
    /// The bare framed echo.
    pub(crate) floor: Figures,
    /// The pool.
    pub(crate) pool: Figures,
    /// Pool over floor.
    pub(crate) ratio: Ratio,
}

/// Latency and throughput of one setup.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Figures {
    /// Median latency of sequential calls, in µs.
    pub(crate) p50_us: f64,
    /// 99th percentile latency of sequential calls, in µs.
    pub(crate) p99_us: f64,
    /// Calls per second with one closed-loop task per worker.
    pub(crate) calls_per_s: f64,
}

/// Pool figures divided by floor figures.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Ratio {
    /// Pool p50 / floor p50 (target ≤ 1.5).
    pub(crate) p50: f64,
    /// Pool calls/s / floor calls/s (target ≥ 0.8).
    pub(crate) throughput: f64,
}

/// Measures `ping` for every worker count; returns the codec and one row per count.
pub(super) async fn measure(
    python: &Path,
    iterations: usize,
) -> anyhow::Result<(Encoding, Vec<PingRow>)> {
    let mut encoding = None;
    let mut ping = Vec::new();
    for workers in WORKER_COUNTS {
        let pool_figures = measure_pool(python, workers, iterations, &mut encoding).await?;
        let codec = encoding.context("the encoding is known once a pool ran")?;
        let floor_figures = measure_floor(python, codec, workers, iterations).await?;
        ping.push(PingRow {
            workers,
            floor: floor_figures,
            pool: pool_figures,
            ratio: Ratio {
                p50: pool_figures.p50_us / floor_figures.p50_us,
                throughput: pool_figures.calls_per_s / floor_figures.calls_per_s,
            },
        });
    }
    let encoding = encoding.context("no pool ran")?;
    Ok((encoding, ping))
}

/// Measures `ping` through a pool of `workers`; learns the encoding on the first pool.
async fn measure_pool(
    python: &Path,
    workers: usize,
    iterations: usize,
    encoding: &mut Option<Encoding>,
) -> anyhow::Result<Figures> {
    let pool = Pool::builder(PythonAdapter::showcase().python(python))
        .size(workers)
        .start()
        .await
        .with_context(|| format!("could not start a pool of {workers} showcase workers"))?;
    let outcome = async {
        if encoding.is_none() {
            *encoding = Some(negotiated_encoding(&pool).await?);
        }
        pool_figures(&pool, workers, iterations).await
    }
    .await;
    pool.shutdown().await;
    outcome
}

/// The codec the pool uses: msgpack when the worker has it (the host always does).
async fn negotiated_encoding(pool: &Pool) -> anyhow::Result<Encoding> {
    let info = pool
        .execute("info", json!({}))
        .await
        .context("could not ask a worker for its encodings")?;
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

async fn pool_figures(pool: &Pool, workers: usize, iterations: usize) -> anyhow::Result<Figures> {
    for _ in 0..warm_up(iterations) {
        pool.execute("ping", json!({}))
            .await
            .context("warm-up ping failed")?;
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        pool.execute("ping", json!({}))
            .await
            .context("ping failed")?;
        samples.push(started.elapsed());
    }
    let began = Instant::now();
    let tasks: Vec<_> = split(iterations, workers)
        .map(|calls| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for _ in 0..calls {
                    pool.execute("ping", json!({})).await?;
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
    Ok(figures(&samples, iterations, began.elapsed()))
}

/// Measures the bare echo with `workers` floor processes.
async fn measure_floor(
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
    let mut id = 0_u64;
    let latency = async {
        for round in 0..warm_up(iterations) + iterations {
            id += 1;
            let slot = round % floors.len();
            let started = Instant::now();
            floor_ping(&mut floors[slot], id).await?;
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
    let began = Instant::now();
    let tasks: Vec<_> = floors
        .into_iter()
        .zip(split(iterations, workers))
        .map(|(mut floor, calls)| {
            tokio::spawn(async move {
                let mut outcome = Ok(());
                for id in 1..=calls as u64 {
                    if let Err(err) = floor_ping(&mut floor, id).await {
                        outcome = Err(err);
                        break;
                    }
                }
                (floor, outcome)
            })
        })
        .collect();
    let mut floors = Vec::with_capacity(workers);
    let mut failure = None;
    for task in tasks {
        match task.await {
            Ok((floor, outcome)) => {
                floors.push(floor);
                if let Err(err) = outcome {
                    failure.get_or_insert(err);
                }
            }
            Err(err) => {
                failure.get_or_insert(anyhow::Error::new(err).context("a floor task panicked"));
            }
        }
    }
    let elapsed = began.elapsed();
    stop_floors(floors).await;
    if let Some(err) = failure {
        return Err(err);
    }
    Ok(figures(&samples, iterations, elapsed))
}

async fn floor_ping(floor: &mut Floor, id: u64) -> anyhow::Result<()> {
    let reply = floor
        .echo(&Message::call(id, "ping", json!({})))
        .await
        .context("the floor echo failed")?;
    if reply.id != Some(id) {
        bail!("the floor answered id {:?} to id {id}", reply.id);
    }
    Ok(())
}

async fn stop_floors(floors: Vec<Floor>) {
    futures_util::future::join_all(floors.into_iter().map(Floor::stop)).await;
}

/// Latency percentiles of `samples` and the throughput of `calls` in `elapsed`.
fn figures(samples: &[Duration], calls: usize, elapsed: Duration) -> Figures {
    let latency = Latency::of_durations(samples);
    Figures {
        p50_us: latency.p50_us,
        p99_us: latency.p99_us,
        calls_per_s: per_second(calls, elapsed),
    }
}
