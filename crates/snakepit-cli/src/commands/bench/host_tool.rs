//! Host tools: a worker calling the no-op host tool `noop` back to back, each round trip
//! timed inside the worker, where it starts and ends (`host_round_trips` of the bench
//! adapter). One warm-up call first; p50 and p99 in µs, to read beside the plain `ping`.

use std::path::Path;

use anyhow::{Context as _, bail};
use serde::Serialize;
use serde_json::{Value, json};
use snakepit::Pool;
use snakepit::tool::HostTool;

use super::setup::{bench_pool, warm_up};
use super::stats::Latency;

/// The host tool the worker calls.
const TOOL: &str = "noop";

/// The host tool figures.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct HostToolFigures {
    /// Median round trip of a host call, in µs.
    pub(crate) p50_us: f64,
    /// 99th percentile round trip of a host call, in µs.
    pub(crate) p99_us: f64,
}

/// Registers `noop` on a one-worker pool and has the worker call it `iterations` times.
///
/// # Errors
///
/// When the pool does not start or a call fails.
pub(super) async fn measure(python: &Path, iterations: usize) -> anyhow::Result<HostToolFigures> {
    let pool = bench_pool(python).await?;
    pool.register_host_tool(HostTool::new(
        TOOL,
        "Does nothing; the host call benchmark's tool.",
        |_call, _args: Value| async { Ok(Value::Null) },
    ));
    let outcome = async {
        round_trips(&pool, warm_up(iterations))
            .await
            .context("the warm-up host calls failed")?;
        round_trips(&pool, iterations).await
    }
    .await;
    pool.shutdown().await;
    let latency = Latency::of_micros(&mut outcome?);
    Ok(HostToolFigures {
        p50_us: latency.p50_us,
        p99_us: latency.p99_us,
    })
}

/// Has the worker call `noop` `calls` times; returns each round trip in µs.
async fn round_trips(pool: &Pool, calls: usize) -> anyhow::Result<Vec<f64>> {
    let reply = pool
        .execute("host_round_trips", json!({ "n": calls, "tool_name": TOOL }))
        .await
        .context("host_round_trips failed")?;
    let durations: Vec<f64> = reply
        .as_array()
        .context("host_round_trips did not return a list")?
        .iter()
        .map(|duration| duration.as_f64().context("a round trip is not a number"))
        .collect::<anyhow::Result<_>>()?;
    if durations.len() != calls {
        bail!(
            "host_round_trips timed {} calls of {calls}",
            durations.len()
        );
    }
    Ok(durations)
}
