//! `snakepit stats`: a pool's stats; with `--server`, those of a running server's pool
//! (workers, queue, counters, sessions, latency of the calls it served).

use anyhow::Context as _;
use serde_json::{Value, json};

use super::remote::Remote;
use super::workers::pool_builder;
use crate::cli::StatsArgs;

/// Runs `snakepit stats`.
///
/// # Errors
///
/// A server that cannot be reached or answers an error; workers that do not start.
pub(crate) async fn run(args: &StatsArgs) -> anyhow::Result<()> {
    let stats = match Remote::from_args(&args.remote, args.worker.pool.as_deref())? {
        Some(remote) => remote.stats().await?,
        None => {
            let stats = pool_builder(&args.worker)?
                .run_script(|pool| async move { pool.stats() })
                .await
                .context("could not start the workers")?;
            json!({ "pool": "local", "stats": snakepit_server::monitor::stats_json(&stats) })
        }
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&stats).context("could not print the stats")?
        );
        return Ok(());
    }
    println!("pool {}", stats["pool"].as_str().unwrap_or("?"));
    print_fields(&stats["stats"]);
    if let Value::Object(latency) = &stats["latency"] {
        println!(
            "  latency (served calls): p50 {} ms, p99 {} ms, {} calls/s",
            latency.get("p50_ms").unwrap_or(&Value::Null),
            latency.get("p99_ms").unwrap_or(&Value::Null),
            latency.get("calls_per_s").unwrap_or(&Value::Null),
        );
    }
    if let Some(live) = stats["sessions"]["live"].as_u64() {
        println!("  sessions: {live}");
    }
    Ok(())
}

fn print_fields(fields: &Value) {
    if let Value::Object(fields) = fields {
        for (name, value) in fields {
            println!("  {name}: {value}");
        }
    }
}
