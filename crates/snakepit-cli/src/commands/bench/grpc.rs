//! `snakepit bench --grpc TREE_DIR`: a trivial call (`ping`) through one native worker (the
//! bundled showcase on our bridge) and through one gRPC worker (the original's tree, through
//! `GrpcPythonAdapter`), measured in the same run, so users can weigh the two paths.
//!
//! Each path: a warm-up, then `iterations` sequential calls (one in flight); p50 and p99 in
//! µs, and calls per second over the whole loop.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;
use serde_json::json;
use snakepit::grpc::GrpcPythonAdapter;
use snakepit::{Adapter, Pool, PythonAdapter};

use crate::cli::BenchArgs;

/// The figures of one path.
#[derive(Debug, Clone, Copy, Serialize)]
struct Figures {
    p50_us: f64,
    p99_us: f64,
    calls_per_s: f64,
}

/// Both paths and how they compare.
#[derive(Debug, Serialize)]
struct GrpcReport {
    iterations: usize,
    native: Figures,
    grpc: Figures,
    /// gRPC p50 over native p50.
    p50_ratio: f64,
    /// Native calls/s over gRPC calls/s.
    throughput_ratio: f64,
}

/// Runs the comparison and prints it (a table, or one JSON object with `--json`).
///
/// # Errors
///
/// When a pool does not start or a call fails.
pub(super) async fn run(
    args: &BenchArgs,
    tree: &Path,
    python: PathBuf,
    iterations: usize,
) -> anyhow::Result<()> {
    let mut grpc = GrpcPythonAdapter::showcase(tree).python(&python);
    if let Some(class) = &args.grpc_adapter {
        grpc = GrpcPythonAdapter::new(tree, class).python(&python);
    }
    let native = PythonAdapter::showcase().python(&python);
    let report = tokio::spawn(async move {
        let native = measure(native, iterations)
            .await
            .context("the native path failed")?;
        let grpc = measure(grpc, iterations)
            .await
            .context("the gRPC path failed")?;
        anyhow::Ok(GrpcReport {
            iterations,
            native,
            grpc,
            p50_ratio: grpc.p50_us / native.p50_us,
            throughput_ratio: native.calls_per_s / grpc.calls_per_s,
        })
    })
    .await
    .context("the benchmark task panicked")??;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

async fn measure(adapter: impl Adapter, iterations: usize) -> anyhow::Result<Figures> {
    let name = adapter.name();
    let pool = Pool::builder(adapter)
        .size(1)
        .start()
        .await
        .with_context(|| format!("could not start a worker of {name}"))?;
    let outcome = async {
        for _ in 0..(iterations / 10).clamp(20, 500) {
            pool.execute("ping", json!({})).await?;
        }
        let mut latencies = Vec::with_capacity(iterations);
        let started = Instant::now();
        for _ in 0..iterations {
            let call = Instant::now();
            pool.execute("ping", json!({})).await?;
            latencies.push(call.elapsed());
        }
        let total = started.elapsed();
        anyhow::Ok(figures(&mut latencies, total))
    }
    .await;
    pool.shutdown().await;
    outcome
}

fn figures(latencies: &mut [Duration], total: Duration) -> Figures {
    latencies.sort_unstable();
    let at = |quantile: f64| {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "an index into a sample of at most u32::MAX calls"
        )]
        let index = ((latencies.len() as f64 - 1.0) * quantile).round() as usize;
        latencies
            .get(index)
            .map_or(0.0, |latency| latency.as_secs_f64() * 1e6)
    };
    #[expect(clippy::cast_precision_loss, reason = "a call count far below 2^52")]
    let calls = latencies.len() as f64;
    Figures {
        p50_us: at(0.5),
        p99_us: at(0.99),
        calls_per_s: calls / total.as_secs_f64().max(f64::MIN_POSITIVE),
    }
}

fn print_table(report: &GrpcReport) {
    println!(
        "trivial call (`ping`), 1 worker, {} sequential calls per path",
        report.iterations
    );
    println!(
        "{:<8} {:>10} {:>10} {:>10}",
        "path", "p50 µs", "p99 µs", "calls/s"
    );
    for (name, row) in [("native", report.native), ("grpc", report.grpc)] {
        println!(
            "{name:<8} {:>10.1} {:>10.1} {:>10.0}",
            row.p50_us, row.p99_us, row.calls_per_s
        );
    }
    println!(
        "gRPC p50 is {:.1}× native; native makes {:.1}× the calls per second",
        report.p50_ratio, report.throughput_ratio
    );
}
