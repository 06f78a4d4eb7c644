//! `snakepit bench`: the pool's `ping` latency and throughput beside the floor.
//!
//! The floor ([`snakepit::floor::Floor`]) is a bare framed echo with a Python process: the
//! same link, frames and codec as a pool worker and nothing else, so the ratio pool/floor is
//! what the pool itself costs. For each worker count W (1 and 2):
//!
//! - latency: sequential calls, one in flight, after a warm-up; p50 and p99 in µs. With
//!   several floors, the calls go round-robin over them.
//! - throughput: W tasks each making calls back to back (a closed loop), one floor process
//!   per task for the floor; calls per second over all tasks.
//!
//! The targets: pool p50 ≤ 1.5 × floor p50, pool throughput ≥ 80 % of the floor's.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use nix::sched::{CpuSet, sched_setaffinity};
use nix::unistd::Pid;
use serde::Serialize;
use serde_json::{Value, json};
use snakepit::floor::Floor;
use snakepit::protocol::{Encoding, Message};
use snakepit::{Pool, PythonAdapter};

use crate::cli::BenchArgs;

/// The worker counts every figure is measured with.
const WORKER_COUNTS: [usize; 2] = [1, 2];
/// The largest pool p50 allowed, as a multiple of the floor's.
const TARGET_P50_RATIO: f64 = 1.5;
/// The smallest pool throughput allowed, as a fraction of the floor's.
const TARGET_THROUGHPUT_RATIO: f64 = 0.8;

/// Everything one `snakepit bench` run measured; printed as is with `--json`.
///
/// Later benchmarks add their own top-level fields.
#[derive(Debug, Serialize)]
pub(crate) struct BenchReport {
    /// The codec of both the pool and the floor: `msgpack` or `json`.
    pub(crate) encoding: &'static str,
    /// The CPU the process was pinned to, if any.
    pub(crate) pinned: Option<usize>,
    /// `ping` through the pool beside the floor, per worker count.
    pub(crate) ping: Vec<PingRow>,
}

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

/// Pins the calling thread, and so every thread and process it starts afterwards, to `cpu`.
/// Call it before the tokio runtime exists.
///
/// # Errors
///
/// When `cpu` is out of range or the kernel refuses.
pub(crate) fn pin_to_cpu(cpu: usize) -> anyhow::Result<()> {
    let mut set = CpuSet::new();
    set.set(cpu)
        .with_context(|| format!("--pin {cpu}: no such CPU slot"))?;
    sched_setaffinity(Pid::from_raw(0), &set)
        .with_context(|| format!("could not pin the process to CPU {cpu}"))?;
    Ok(())
}

/// Runs `snakepit bench`.
///
/// # Errors
///
/// When a pool or a floor does not start, or a call fails.
pub(crate) async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let python = args.python.clone().unwrap_or_else(default_python);
    let iterations = usize::try_from(args.iterations).context("--iterations is too large")?;
    // Measure on a runtime worker thread, where the I/O driver runs, as a real caller
    // would; `block_on` polls on the main thread and would add a cross-thread wake-up to
    // every call.
    let (encoding, ping) = tokio::spawn(measure_ping(python, iterations))
        .await
        .context("the benchmark task panicked")??;
    let report = BenchReport {
        encoding: encoding.as_str(),
        pinned: args.pin,
        ping,
    };
    if args.json {
        let text = serde_json::to_string(&report).context("could not print the report")?;
        println!("{text}");
    } else {
        print_table(&report, iterations);
    }
    Ok(())
}

/// Measures `ping` for every worker count; returns the codec and one row per count.
async fn measure_ping(
    python: PathBuf,
    iterations: usize,
) -> anyhow::Result<(Encoding, Vec<PingRow>)> {
    let mut encoding = None;
    let mut ping = Vec::new();
    for workers in WORKER_COUNTS {
        let pool_figures = measure_pool(&python, workers, iterations, &mut encoding).await?;
        let codec = encoding.context("the encoding is known once a pool ran")?;
        let floor_figures = measure_floor(&python, codec, workers, iterations).await?;
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

/// `$SNAKEPIT_PYTHON`, else `python3`, as the pool's Python adapter chooses.
fn default_python() -> PathBuf {
    std::env::var_os("SNAKEPIT_PYTHON").map_or_else(|| PathBuf::from("python3"), PathBuf::from)
}

/// How many calls to make before measuring.
fn warm_up(iterations: usize) -> usize {
    (iterations / 10).clamp(20, 500)
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
    Ok(figures(&mut samples, iterations, began.elapsed()))
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
    Ok(figures(&mut samples, iterations, elapsed))
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

/// Splits `total` calls over `parts` tasks as evenly as possible.
fn split(total: usize, parts: usize) -> impl Iterator<Item = usize> {
    (0..parts).map(move |part| total / parts + usize::from(part < total % parts))
}

/// Latency percentiles of `samples` and the throughput of `calls` in `elapsed`.
fn figures(samples: &mut [Duration], calls: usize, elapsed: Duration) -> Figures {
    samples.sort_unstable();
    #[expect(clippy::cast_precision_loss, reason = "call counts are far below 2^52")]
    let calls_per_s = calls as f64 / elapsed.as_secs_f64();
    Figures {
        p50_us: percentile_us(samples, 0.50),
        p99_us: percentile_us(samples, 0.99),
        calls_per_s,
    }
}

/// The nearest-rank percentile of sorted `samples`, in µs.
fn percentile_us(sorted: &[Duration], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[expect(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "sample counts are small and the rank is clamped to the slice"
    )]
    let rank = ((quantile * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e6
}

fn print_table(report: &BenchReport, iterations: usize) {
    let pinned = report.pinned.map_or_else(
        || "not pinned".to_owned(),
        |cpu| format!("pinned to CPU {cpu}"),
    );
    println!(
        "snakepit bench: ping, {iterations} calls per figure, encoding {}, {pinned}",
        report.encoding
    );
    println!(
        "targets: pool p50 <= {TARGET_P50_RATIO}x floor, pool throughput >= {:.0}% of floor\n",
        TARGET_THROUGHPUT_RATIO * 100.0
    );
    println!(
        "{:<8} {:<6} {:>10} {:>10} {:>12}",
        "workers", "setup", "p50 µs", "p99 µs", "calls/s"
    );
    for row in &report.ping {
        for (setup, figures) in [("floor", row.floor), ("pool", row.pool)] {
            println!(
                "{:<8} {setup:<6} {:>10.1} {:>10.1} {:>12.0}",
                row.workers, figures.p50_us, figures.p99_us, figures.calls_per_s
            );
        }
        println!(
            "{:<8} {:<6} p50 {:.2}x floor (target <= {TARGET_P50_RATIO}x) {}; throughput {:.0}% of floor (target >= {:.0}%) {}",
            row.workers,
            "ratio",
            row.ratio.p50,
            verdict(row.ratio.p50 <= TARGET_P50_RATIO),
            row.ratio.throughput * 100.0,
            TARGET_THROUGHPUT_RATIO * 100.0,
            verdict(row.ratio.throughput >= TARGET_THROUGHPUT_RATIO),
        );
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "ok" } else { "MISSED" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_spreads_the_remainder() {
        assert_eq!(split(5, 2).collect::<Vec<_>>(), [3, 2]);
        assert_eq!(split(4, 1).collect::<Vec<_>>(), [4]);
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert!((percentile_us(&samples, 0.50) - 50.0).abs() < 1e-6);
        assert!((percentile_us(&samples, 0.99) - 99.0).abs() < 1e-6);
    }
}
