//! `ping` through the pool beside both floors, for each worker count W (1 and 2), in rounds.
//!
//! Each round measures the three setups one after the other, each freshly started and
//! stopped: the tokio floor ([`snakepit::floor::Floor`]), the blocking floor
//! ([`snakepit::floor::BlockingFloor`]) and a pool of W bench workers (their `empty` tool). The order rotates
//! from round to round so no setup always runs first. Each setup gives:
//!
//! - latency: sequential calls, one in flight, after a warm-up; p50 and p99 in µs. With
//!   several floors, the calls go round-robin over them.
//! - throughput: W closed loops (tasks for the pool and the tokio floor, OS threads for the
//!   blocking floor), each making calls back to back; calls per second over all of them.
//!
//! A reported figure is the median over the rounds, and a ratio is the median of the
//! per-round ratios, so that a slow spell of this shared machine moves both sides of a
//! ratio together. The targets are the `TARGET_*` constants.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use snakepit::floor::Encoding;

use super::ping_floor::{measure_blocking_floor, measure_floor};
use super::ping_pool::{measure_pool, negotiated_encoding};
use super::stats::{Latency, median, per_second};

/// The worker counts every figure is measured with.
const WORKER_COUNTS: [usize; 2] = [1, 2];
/// The largest pool p50 allowed, as a multiple of the tokio floor's.
pub(super) const TARGET_P50_RATIO: f64 = 1.5;
/// The smallest pool throughput allowed, as a fraction of the tokio floor's.
pub(super) const TARGET_THROUGHPUT_RATIO: f64 = 0.8;
/// The smallest pool throughput allowed with [`BLOCKING_TARGET_WORKERS`] workers, as a
/// fraction of the blocking floor's.
pub(super) const TARGET_BLOCKING_THROUGHPUT_RATIO: f64 = 0.6;
/// The worker count the blocking-floor target applies to.
pub(super) const BLOCKING_TARGET_WORKERS: usize = 2;

/// The `ping` figures for one worker count.
#[derive(Debug, Serialize)]
pub(crate) struct PingRow {
    /// How many workers (and floor processes).
    pub(crate) workers: usize,
    /// The bare framed echo on the tokio runtime.
    pub(crate) floor: Figures,
    /// The bare framed echo on blocking OS threads, one per floor process.
    pub(crate) blocking_floor: Figures,
    /// The pool.
    pub(crate) pool: Figures,
    /// Pool over floors.
    pub(crate) ratio: Ratio,
}

/// Latency and throughput of one setup.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Figures {
    /// Median latency of sequential calls, in µs.
    pub(crate) p50_us: f64,
    /// 99th percentile latency of sequential calls, in µs.
    pub(crate) p99_us: f64,
    /// Calls per second with one closed loop per worker.
    pub(crate) calls_per_s: f64,
}

impl Figures {
    /// The latency percentiles of `samples` and the throughput of `calls` in `elapsed`.
    pub(super) fn of(samples: &[Duration], calls: usize, elapsed: Duration) -> Self {
        let latency = Latency::of_durations(samples);
        Self {
            p50_us: latency.p50_us,
            p99_us: latency.p99_us,
            calls_per_s: per_second(calls, elapsed),
        }
    }
}

/// Pool figures divided by floor figures, each the median of the per-round ratios.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Ratio {
    /// Pool p50 / tokio floor p50 (target ≤ [`TARGET_P50_RATIO`]).
    pub(crate) p50: f64,
    /// Pool calls/s / tokio floor calls/s (target ≥ [`TARGET_THROUGHPUT_RATIO`]).
    pub(crate) throughput: f64,
    /// Pool calls/s / blocking floor calls/s (target ≥
    /// [`TARGET_BLOCKING_THROUGHPUT_RATIO`] with [`BLOCKING_TARGET_WORKERS`] workers).
    pub(crate) throughput_vs_blocking: f64,
}

/// What one round measured.
struct Round {
    floor: Figures,
    blocking_floor: Figures,
    pool: Figures,
}

/// One of the three setups a round measures.
#[derive(Debug, Clone, Copy)]
enum Setup {
    Floor,
    BlockingFloor,
    Pool,
}

const SETUPS: [Setup; 3] = [Setup::Floor, Setup::BlockingFloor, Setup::Pool];

/// Measures `ping` for every worker count in `rounds` rounds; returns the codec and one row
/// per count.
pub(super) async fn measure(
    python: &Path,
    iterations: usize,
    rounds: usize,
) -> anyhow::Result<(Encoding, Vec<PingRow>)> {
    let encoding = negotiated_encoding(python).await?;
    let mut rows = Vec::with_capacity(WORKER_COUNTS.len());
    for workers in WORKER_COUNTS {
        let mut measured = Vec::with_capacity(rounds);
        for round in 0..rounds {
            measured.push(
                measure_round(python, encoding, workers, iterations, round)
                    .await
                    .with_context(|| format!("ping with {workers} workers, round {}", round + 1))?,
            );
        }
        rows.push(summarize(workers, &measured));
    }
    Ok((encoding, rows))
}

/// Measures the three setups once, starting with the one `round` points at.
async fn measure_round(
    python: &Path,
    encoding: Encoding,
    workers: usize,
    iterations: usize,
    round: usize,
) -> anyhow::Result<Round> {
    let mut floor = None;
    let mut blocking_floor = None;
    let mut pool = None;
    for offset in 0..SETUPS.len() {
        match SETUPS[(round + offset) % SETUPS.len()] {
            Setup::Floor => {
                floor = Some(measure_floor(python, encoding, workers, iterations).await?);
            }
            Setup::BlockingFloor => {
                blocking_floor =
                    Some(measure_blocking_floor(python, encoding, workers, iterations).await?);
            }
            Setup::Pool => pool = Some(measure_pool(python, workers, iterations).await?),
        }
    }
    Ok(Round {
        floor: floor.context("every round measures the tokio floor")?,
        blocking_floor: blocking_floor.context("every round measures the blocking floor")?,
        pool: pool.context("every round measures the pool")?,
    })
}

/// The medians of the rounds' figures and of their per-round ratios.
fn summarize(workers: usize, rounds: &[Round]) -> PingRow {
    let of =
        |pick: &dyn Fn(&Round) -> f64| median(&mut rounds.iter().map(pick).collect::<Vec<_>>());
    let figures = |setup: &dyn Fn(&Round) -> Figures| Figures {
        p50_us: of(&|round| setup(round).p50_us),
        p99_us: of(&|round| setup(round).p99_us),
        calls_per_s: of(&|round| setup(round).calls_per_s),
    };
    PingRow {
        workers,
        floor: figures(&|round| round.floor),
        blocking_floor: figures(&|round| round.blocking_floor),
        pool: figures(&|round| round.pool),
        ratio: Ratio {
            p50: of(&|round| round.pool.p50_us / round.floor.p50_us),
            throughput: of(&|round| round.pool.calls_per_s / round.floor.calls_per_s),
            throughput_vs_blocking: of(&|round| {
                round.pool.calls_per_s / round.blocking_floor.calls_per_s
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(p50_us: f64, calls_per_s: f64) -> Figures {
        Figures {
            p50_us,
            p99_us: p50_us * 2.0,
            calls_per_s,
        }
    }

    #[test]
    fn a_ratio_is_the_median_of_the_rounds_ratios() {
        // A slow round slows floor and pool alike; its ratio stays in line.
        let rounds = [
            Round {
                floor: figures(10.0, 100.0),
                blocking_floor: figures(8.0, 200.0),
                pool: figures(12.0, 90.0),
            },
            Round {
                floor: figures(30.0, 30.0),
                blocking_floor: figures(20.0, 60.0),
                pool: figures(36.0, 27.0),
            },
            Round {
                floor: figures(11.0, 110.0),
                blocking_floor: figures(9.0, 220.0),
                pool: figures(22.0, 55.0),
            },
        ];
        let row = summarize(2, &rounds);
        assert!((row.floor.p50_us - 11.0).abs() < 1e-9);
        assert!((row.pool.calls_per_s - 55.0).abs() < 1e-9);
        assert!((row.ratio.p50 - 1.2).abs() < 1e-9, "{}", row.ratio.p50);
        assert!((row.ratio.throughput - 0.9).abs() < 1e-9);
        assert!((row.ratio.throughput_vs_blocking - 0.45).abs() < 1e-9);
    }
}
