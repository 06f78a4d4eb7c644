//! The start section: how long workers take to become ready, spawned or forked from a
//! preloading zygote (`PythonAdapter::preload`), beside a bare interpreter's start.
//!
//! - `bare_python_ms`: `python -c 'import msgpack'` run to its end: the least a worker
//!   process can cost.
//! - `one_worker_ms`: a pool of one plain worker (the bench adapter) started and ready.
//!   Target: within 10 ms of `bare_python_ms`.
//! - `spawn_8_ms`, `zygote_8_ms`: a pool of 8 workers whose adapter imports numpy, each
//!   spawned, or all forked from one zygote that imported numpy once. Target: `zygote_8_ms`
//!   ≤ `one_worker_ms` + 8 × 20 ms.
//! - `replace_spawn_ms`, `replace_zygote_ms`: from a crash (the `crash` tool) of one of
//!   those workers to the pool being whole again, with no restart backoff.
//!
//! Every figure is the median of `rounds` runs, each on a fresh pool.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;
use serde_json::json;
use snakepit::{HealthConfig, Pool, PythonAdapter};

/// The adapter whose module imports numpy.
const NUMPY_ADAPTER: &str = "snakepit_bridge.examples.numpy_bench:NumpyBenchAdapter";
/// The plain adapter.
const PLAIN_ADAPTER: &str = "snakepit_bridge.examples.bench:BenchAdapter";
/// Workers of the many-worker figures.
pub(super) const MANY: usize = 8;
/// What each worker may add to one plain worker's start when forked from the zygote.
pub(super) const TARGET_PER_WORKER_MS: f64 = 20.0;
/// What one plain worker's pool may add to a bare interpreter's start.
pub(super) const TARGET_OVER_BARE_MS: f64 = 10.0;

/// The start figures of one run, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct StartFigures {
    /// `python -c 'import msgpack'`, start to end.
    pub(crate) bare_python_ms: f64,
    /// One plain worker's pool, started and ready.
    pub(crate) one_worker_ms: f64,
    /// 8 numpy workers, spawned.
    pub(crate) spawn_8_ms: f64,
    /// 8 numpy workers, forked from a zygote that preloaded numpy.
    pub(crate) zygote_8_ms: f64,
    /// A crashed numpy worker replaced by a spawn.
    pub(crate) replace_spawn_ms: f64,
    /// A crashed numpy worker replaced by a fork from the zygote.
    pub(crate) replace_zygote_ms: f64,
}

impl StartFigures {
    /// Whether one plain worker is ready within [`TARGET_OVER_BARE_MS`] of a bare
    /// interpreter.
    pub(crate) fn one_worker_target_met(&self) -> bool {
        self.one_worker_ms - self.bare_python_ms <= TARGET_OVER_BARE_MS
    }

    /// Whether `zygote_8_ms` meets its target.
    pub(crate) fn zygote_target_met(&self) -> bool {
        self.zygote_8_ms <= self.target_zygote_ms()
    }

    /// The most `zygote_8_ms` may be.
    pub(crate) fn target_zygote_ms(&self) -> f64 {
        self.one_worker_ms + TARGET_PER_WORKER_MS * MANY as f64
    }
}

/// Measures the start section, each figure the median of `rounds` runs.
///
/// # Errors
///
/// When a pool does not start (numpy missing, say) or the interpreter does not run.
pub(super) async fn measure(python: &Path, rounds: usize) -> anyhow::Result<StartFigures> {
    let mut runs: [Vec<f64>; 6] = Default::default();
    // One pool start first, so the bridge is written out and byte-compiled before timing.
    plain_start(python).await?;
    for _ in 0..rounds {
        runs[0].push(bare_python(python).await?);
        runs[1].push(plain_start(python).await?);
        let (spawn_8, replace_spawn) = numpy_pool(python, false).await?;
        let (zygote_8, replace_zygote) = numpy_pool(python, true).await?;
        runs[2].push(spawn_8);
        runs[3].push(zygote_8);
        runs[4].push(replace_spawn);
        runs[5].push(replace_zygote);
    }
    let [bare, one, spawn, zygote, replace_spawn, replace_zygote] = runs.map(median);
    Ok(StartFigures {
        bare_python_ms: bare,
        one_worker_ms: one,
        spawn_8_ms: spawn,
        zygote_8_ms: zygote,
        replace_spawn_ms: replace_spawn,
        replace_zygote_ms: replace_zygote,
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn ms(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}

#[expect(
    clippy::disallowed_methods,
    reason = "the bare interpreter start is the yardstick; it is run to its end and reaped here"
)]
async fn bare_python(python: &Path) -> anyhow::Result<f64> {
    let started = Instant::now();
    let status = tokio::process::Command::new(python)
        .args(["-c", "import msgpack"])
        .status()
        .await
        .with_context(|| format!("could not run {}", python.display()))?;
    anyhow::ensure!(
        status.success(),
        "`python -c 'import msgpack'` failed: {status}"
    );
    Ok(ms(started.elapsed()))
}

async fn plain_start(python: &Path) -> anyhow::Result<f64> {
    let started = Instant::now();
    let pool = Pool::builder(PythonAdapter::new(PLAIN_ADAPTER).python(python))
        .size(1)
        .start()
        .await
        .context("could not start a pool of one bench worker")?;
    let elapsed = ms(started.elapsed());
    pool.shutdown().await;
    Ok(elapsed)
}

/// Starts 8 numpy workers (from a zygote or not) and times it, then crashes one and times
/// its replacement.
async fn numpy_pool(python: &Path, zygote: bool) -> anyhow::Result<(f64, f64)> {
    let mut adapter = PythonAdapter::new(NUMPY_ADAPTER).python(python);
    if zygote {
        adapter = adapter.preload(["numpy"]);
    }
    let mut health = HealthConfig::default();
    health.restart_backoff = Duration::ZERO;
    health.heartbeat_interval = None;
    let started = Instant::now();
    let pool = Pool::builder(adapter)
        .size(MANY)
        .health(health)
        .start()
        .await
        .context("could not start 8 numpy workers (is numpy installed?)")?;
    let start = ms(started.elapsed());
    let outcome = replace_one(&pool).await;
    pool.shutdown().await;
    Ok((start, outcome?))
}

async fn replace_one(pool: &Pool) -> anyhow::Result<f64> {
    pool.execute("ping", json!({})).await?;
    let started = Instant::now();
    let crashed = pool.execute("crash", json!({})).await;
    anyhow::ensure!(crashed.is_err(), "the crash tool returned");
    let deadline = started + Duration::from_secs(60);
    loop {
        let stats = pool.stats();
        if stats.workers == MANY && stats.available == MANY {
            return Ok(ms(started.elapsed()));
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the crashed worker was not replaced"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Prints the section.
pub(super) fn print(figures: &StartFigures, rounds: usize) {
    println!("\nstart: ms to ready, median of {rounds} runs; {MANY} workers import numpy");
    println!(
        "{:<22} {:>9.1}",
        "bare python (msgpack)", figures.bare_python_ms
    );
    println!(
        "{:<22} {:>9.1} (+{:.1} over bare python, target <= +{TARGET_OVER_BARE_MS}) {}",
        "one plain worker",
        figures.one_worker_ms,
        figures.one_worker_ms - figures.bare_python_ms,
        if figures.one_worker_target_met() {
            "ok"
        } else {
            "MISSED"
        },
    );
    println!("{:<22} {:>9.1}", "8 workers, spawned", figures.spawn_8_ms);
    println!(
        "{:<22} {:>9.1} (target <= {:.1}) {}; {:.1}x faster than spawned",
        "8 workers, zygote",
        figures.zygote_8_ms,
        figures.target_zygote_ms(),
        if figures.zygote_target_met() {
            "ok"
        } else {
            "MISSED"
        },
        figures.spawn_8_ms / figures.zygote_8_ms,
    );
    println!(
        "{:<22} {:>9.1}",
        "replace, spawned", figures.replace_spawn_ms
    );
    println!(
        "{:<22} {:>9.1}",
        "replace, zygote", figures.replace_zygote_ms
    );
}
