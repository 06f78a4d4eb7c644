//! What telemetry costs a trivial call: `ping` p50 through one worker with telemetry off (no
//! event subscriber, no metrics recorder), then on (a subscriber draining every event and the
//! Prometheus recorder installed), in the same pool and run. Target: on ≤ 1.05 × off.
//!
//! A `metrics` recorder cannot be taken back once installed, so this runs last and measures
//! "off" first.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use serde::Serialize;
use serde_json::json;
use snakepit::Pool;
use snakepit::telemetry::Received;

use super::setup::{bench_pool, warm_up};
use super::stats::Latency;

/// The largest p50 with telemetry on, as a multiple of the p50 with it off.
pub(super) const TARGET_ON_RATIO: f64 = 1.05;

/// `ping` p50 with telemetry off and on.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct TelemetryFigures {
    /// p50 without a subscriber or a recorder, in µs.
    pub(crate) p50_us_off: f64,
    /// p50 with a draining subscriber and the Prometheus recorder, in µs.
    pub(crate) p50_us_on: f64,
    /// On over off (target ≤ 1.05).
    pub(crate) ratio: f64,
    /// Events the subscriber received during the "on" calls.
    pub(crate) events: u64,
}

/// Measures the two p50s.
///
/// # Errors
///
/// When the pool does not start, a call fails, or the recorder cannot be installed.
pub(super) async fn measure(python: &Path, iterations: usize) -> anyhow::Result<TelemetryFigures> {
    let pool = bench_pool(python).await?;
    let outcome = figures(&pool, iterations).await;
    pool.shutdown().await;
    outcome
}

async fn figures(pool: &Pool, iterations: usize) -> anyhow::Result<TelemetryFigures> {
    for _ in 0..warm_up(iterations) {
        pool.execute("ping", json!({}))
            .await
            .context("warm-up ping failed")?;
    }
    let off = p50(pool, iterations).await?;
    snakepit::telemetry::prometheus::install().context("could not install the recorder")?;
    let mut events = pool.events();
    let received = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&received);
    let drain = tokio::spawn(async move {
        while let Some(item) = events.recv().await {
            if let Received::Event(_) = item {
                counted.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    for _ in 0..warm_up(iterations) {
        pool.execute("ping", json!({}))
            .await
            .context("warm-up ping failed")?;
    }
    let on = p50(pool, iterations).await?;
    // The subscriber would end only with the pool; stop it here.
    drain.abort();
    let events = received.load(Ordering::Relaxed);
    Ok(TelemetryFigures {
        p50_us_off: off,
        p50_us_on: on,
        ratio: on / off,
        events,
    })
}

async fn p50(pool: &Pool, iterations: usize) -> anyhow::Result<f64> {
    let samples = super::setup::ping_samples(pool, "ping", iterations).await?;
    Ok(Latency::of_durations(&samples).p50_us)
}

/// Prints the figures as the table's last section.
pub(super) fn print(figures: &TelemetryFigures, iterations: usize) {
    println!(
        "\ntelemetry: ping p50 through one worker, {iterations} calls each; on = an event \
         subscriber and the Prometheus recorder"
    );
    println!(
        "{:<12} off {:.1} µs, on {:.1} µs, on/off {:.3} (target <= {TARGET_ON_RATIO}) {}",
        "p50",
        figures.p50_us_off,
        figures.p50_us_on,
        figures.ratio,
        if figures.ratio <= TARGET_ON_RATIO {
            "ok"
        } else {
            "MISSED"
        },
    );
}
