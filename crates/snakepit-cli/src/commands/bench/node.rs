//! The Node row: a trivial call through a pool of one Node worker beside its own floor.
//!
//! The pool runs the bundled Node showcase's `ping`; the floor is the Node bridge's
//! `src/floor.js`, a bare framed echo over the same link with the same codec. Both are
//! measured like the Python `ping` row: p50 and p99 of sequential calls after a warm-up, and
//! calls per second of one closed-loop task. Target: pool p50 within 1.5× of the floor's.
//! Without `node` on the machine the row is left out (`null` in `--json`) with a note on
//! stderr, so the rest of the bench still runs.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;
use serde_json::{Value, json};
use snakepit::floor::{Encoding, Floor};
use snakepit::{Adapter as _, NodeAdapter, Pool};

/// The largest pool p50 allowed, as a multiple of the floor's.
const TARGET_P50_RATIO: f64 = 1.5;

/// The Node figures of one run.
#[derive(Debug, Serialize)]
pub(crate) struct NodeFigures {
    /// The codec of the pool and the floor: `msgpack` or `json`.
    pub(crate) encoding: &'static str,
    /// The bare framed echo with a Node process.
    pub(crate) floor: Figures,
    /// A pool of one Node worker.
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
    /// Calls per second of one closed-loop task.
    pub(crate) calls_per_s: f64,
}

/// Pool figures divided by floor figures.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Ratio {
    /// Pool p50 / floor p50 (target ≤ 1.5).
    pub(crate) p50: f64,
    /// Pool calls/s / floor calls/s.
    pub(crate) throughput: f64,
}

/// Measures the Node row; `None` when `node` does not run here.
pub(super) async fn measure(iterations: usize) -> anyhow::Result<Option<NodeFigures>> {
    let adapter = NodeAdapter::showcase();
    let probe = adapter.clone();
    if let Err(err) = tokio::task::spawn_blocking(move || probe.worker_command())
        .await
        .context("preparing the Node worker panicked")?
    {
        eprintln!("snakepit bench: no Node row: {err}");
        return Ok(None);
    }
    let pool = Pool::builder(adapter.clone())
        .size(1)
        .start()
        .await
        .context("could not start a pool of one Node showcase worker")?;
    let outcome = async {
        let info = pool.execute("info", json!({})).await?;
        let encoding = if info.get("msgpack").and_then(Value::as_bool) == Some(true) {
            Encoding::MsgPack
        } else {
            Encoding::Json
        };
        let figures = measure_calls(iterations, || {
            let pool = pool.clone();
            async move {
                pool.execute("ping", json!({})).await?;
                anyhow::Ok(())
            }
        })
        .await?;
        anyhow::Ok((encoding, figures))
    }
    .await;
    pool.shutdown().await;
    let (encoding, pool_figures) = outcome.context("the Node pool benchmark failed")?;
    let command = tokio::task::spawn_blocking(move || adapter.floor_command())
        .await
        .context("preparing the Node floor panicked")??;
    let mut floor = Floor::start_command(command, encoding)
        .await
        .context("could not start the Node floor")?;
    let floor_outcome = floor_figures(&mut floor, iterations).await;
    floor.stop().await;
    let floor_figures = floor_outcome.context("the Node floor benchmark failed")?;
    Ok(Some(NodeFigures {
        encoding: encoding.as_str(),
        floor: floor_figures,
        pool: pool_figures,
        ratio: Ratio {
            p50: pool_figures.p50_us / floor_figures.p50_us,
            throughput: pool_figures.calls_per_s / floor_figures.calls_per_s,
        },
    }))
}

async fn floor_figures(floor: &mut Floor, iterations: usize) -> anyhow::Result<Figures> {
    let mut id = 0_u64;
    let mut samples = Vec::with_capacity(iterations * 2);
    for _ in 0..warm_up(iterations) + iterations * 2 {
        id += 1;
        let started = Instant::now();
        floor.ping(id).await.context("the Node floor echo failed")?;
        samples.push(started.elapsed());
    }
    let warm = warm_up(iterations);
    let latency = samples[warm..warm + iterations].to_vec();
    // Back to back, one call's end is the next one's start: the sum is the elapsed time.
    let throughput: Duration = samples[warm + iterations..].iter().sum();
    Ok(figures(latency, iterations, throughput))
}

/// Sequential calls after a warm-up (latency), then `iterations` more back to back
/// (throughput).
async fn measure_calls<F, Fut>(iterations: usize, mut call: F) -> anyhow::Result<Figures>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    for _ in 0..warm_up(iterations) {
        call().await?;
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        call().await?;
        samples.push(started.elapsed());
    }
    let began = Instant::now();
    for _ in 0..iterations {
        call().await?;
    }
    Ok(figures(samples, iterations, began.elapsed()))
}

/// Calls before measuring: longer than the Python rows' warm-up, because V8 optimises a
/// function only after it ran many times, and the bridge has more functions than the floor.
fn warm_up(iterations: usize) -> usize {
    (iterations / 5).clamp(500, 2000)
}

#[expect(
    clippy::cast_precision_loss,
    reason = "sample counts and indexes are far below 2^52"
)]
fn figures(mut samples: Vec<Duration>, calls: usize, elapsed: Duration) -> Figures {
    samples.sort_unstable();
    let at = |quantile: f64| {
        let index = ((samples.len() - 1) as f64 * quantile).round();
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a rounded index within the sample list"
        )]
        let index = index as usize;
        samples.get(index).map_or(0.0, |d| d.as_secs_f64() * 1e6)
    };
    Figures {
        p50_us: at(0.5),
        p99_us: at(0.99),
        calls_per_s: calls as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
    }
}

/// Prints the Node row, measured with `iterations` calls per figure.
pub(super) fn print(node: Option<&NodeFigures>, iterations: usize) {
    let Some(node) = node else {
        println!("\nnode: not measured (no usable `node`)");
        return;
    };
    println!(
        "\nnode: trivial call through 1 Node worker beside a bare framed echo with a Node process, {iterations} calls, encoding {}",
        node.encoding
    );
    println!(
        "{:<8} {:>10} {:>10} {:>12}",
        "setup", "p50 µs", "p99 µs", "calls/s"
    );
    for (setup, figures) in [("floor", node.floor), ("pool", node.pool)] {
        println!(
            "{setup:<8} {:>10.1} {:>10.1} {:>12.0}",
            figures.p50_us, figures.p99_us, figures.calls_per_s
        );
    }
    let verdict = if node.ratio.p50 <= TARGET_P50_RATIO {
        "ok"
    } else {
        "MISSED"
    };
    println!(
        "ratio    p50 {:.2}x floor (target <= {TARGET_P50_RATIO}x) {verdict}; throughput {:.0}% of floor",
        node.ratio.p50,
        node.ratio.throughput * 100.0
    );
}
