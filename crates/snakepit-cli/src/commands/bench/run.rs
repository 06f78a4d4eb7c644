//! Runs every measurement in turn (or the one `--only` names) and prints the report.

use std::path::PathBuf;

use anyhow::{Context as _, bail};

use super::report::BenchReport;
use super::setup::default_python;
use super::{check, host_tool, only, ping, session, stream, table};
use crate::cli::BenchArgs;

/// Runs `snakepit bench`.
///
/// # Errors
///
/// When a pool or a floor does not start, or a call fails; with `--check`, when a target is
/// missed.
pub(crate) async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let python = args.python.clone().unwrap_or_else(default_python);
    let iterations = usize::try_from(args.iterations).context("--iterations is too large")?;
    let rounds = usize::try_from(args.rounds).context("--rounds is too large")?;
    if let Some(tree) = &args.grpc {
        return super::grpc::run(&args, tree, python, iterations).await;
    }
    // Measure on a runtime worker thread, where the I/O driver runs, as a real caller
    // would; `block_on` polls on the main thread and would add a cross-thread wake-up to
    // every call.
    if let Some(path) = args.only {
        let loops = args
            .loops
            .map(usize::try_from)
            .transpose()
            .context("--loops is too large")?;
        return tokio::spawn(async move { only::run(&python, path, iterations, loops).await })
            .await
            .context("the benchmark task panicked")?;
    }
    let report = tokio::spawn(measure(python, iterations, rounds, args.pin, args.peers))
        .await
        .context("the benchmark task panicked")??;
    if args.json {
        let text = serde_json::to_string(&report).context("could not print the report")?;
        println!("{text}");
    } else {
        table::print(&report, iterations);
    }
    if args.check {
        let missed = check::missed(&report);
        if !missed.is_empty() {
            bail!("missed targets:\n  {}", missed.join("\n  "));
        }
    }
    Ok(())
}

/// Runs the measurements one after the other; each shuts its pools down before the next.
async fn measure(
    python: PathBuf,
    iterations: usize,
    rounds: usize,
    pinned: Option<usize>,
    peers: bool,
) -> anyhow::Result<BenchReport> {
    let (encoding, ping) = ping::measure(&python, iterations, rounds).await?;
    let sessions = session::measure(&python, iterations)
        .await
        .context("the session benchmark failed")?;
    let stream = stream::measure(&python, encoding, iterations)
        .await
        .context("the stream benchmark failed")?;
    let host_tool = host_tool::measure(&python, iterations)
        .await
        .context("the host tool benchmark failed")?;
    let large = super::large::measure(&python, iterations)
        .await
        .context("the large-data benchmark failed")?;
    let node = super::node::measure(iterations).await?;
    let start = super::start::measure(&python, rounds)
        .await
        .context("the start benchmark failed")?;
    let profiles = super::profiles::measure(&python, encoding, iterations, rounds)
        .await
        .context("the profiles benchmark failed")?;
    let peers = if peers {
        Some(
            super::peers::measure(&python, iterations, rounds)
                .await
                .context("the peers benchmark failed")?,
        )
    } else {
        None
    };
    // Last: it installs a metrics recorder that stays for the rest of the process.
    let telemetry = super::telemetry::measure(&python, iterations).await?;
    Ok(BenchReport {
        encoding: encoding.as_str(),
        pinned,
        rounds,
        ping,
        sessions,
        stream,
        host_tool,
        large,
        node,
        start,
        profiles,
        peers,
        telemetry,
    })
}
