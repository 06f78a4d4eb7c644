//! `snakepit bench --peers`: the pool against what a Python user would pick instead, in the
//! same run: `concurrent.futures.ProcessPoolExecutor` and `multiprocessing.Pool` from the
//! standard library (`peers.py`, run with the same interpreter), each with [`WORKERS`]
//! processes running the same trivial function with every call submitted at once, beside
//! the pool with the concurrent profile: [`WORKERS`] workers × capacity [`PEER_CAPACITY`],
//! so that each of the [`CALLERS`] callers always has a place (the peers, too, have every
//! call in flight; the profiles section measures capacity 8 against the pipelined floor).
//! The pool runs `ping_inline`, marked `@tool(inline=True)`, and `ping`, an ordinary tool
//! run on the workers' pool threads.
//! Targets, judged on `ping_inline` and printed as such: the pool at least
//! [`TARGET_PPE_RATIO`] × PPE and [`TARGET_MP_POOL_RATIO`] × `multiprocessing.Pool`. The
//! four alternate over `--rounds` rounds; every figure is a median, every ratio the median
//! of the rounds' ratios.

use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::profiles::{CALLERS, PING, PING_INLINE, WORKERS, concurrent_ping};
use super::stats::median;

/// The peers' script.
const SCRIPT: &str = include_str!("peers.py");
/// Calls at once per worker of the pool measured here: a place for every caller.
const PEER_CAPACITY: usize = CALLERS / WORKERS;
/// The pool's calls/s over PPE's, at the least.
pub(crate) const TARGET_PPE_RATIO: f64 = 10.0;
/// The pool's calls/s over `multiprocessing.Pool`'s, at the least.
pub(crate) const TARGET_MP_POOL_RATIO: f64 = 5.0;

/// The figures of the peers section (`"peers"` in `--json`).
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct PeerFigures {
    /// `ProcessPoolExecutor`, calls per second.
    pub(crate) ppe_calls_per_s: f64,
    /// `multiprocessing.Pool`, calls per second.
    pub(crate) mp_pool_calls_per_s: f64,
    /// Calls at once per worker of the pool measured here ([`PEER_CAPACITY`]).
    pub(crate) pool_capacity: usize,
    /// The pool with the concurrent profile, `ping_inline` (`@tool(inline=True)`), calls
    /// per second.
    pub(crate) pool_calls_per_s: f64,
    /// The same pool with `ping`, an ordinary tool run on the pool threads, calls per second.
    pub(crate) pool_threads_calls_per_s: f64,
    /// The pool's calls/s over PPE's: the median of the rounds' ratios.
    pub(crate) ppe_ratio: f64,
    /// The pool's calls/s over `multiprocessing.Pool`'s: the median of the rounds' ratios.
    pub(crate) mp_pool_ratio: f64,
    /// `ping` on the pool threads over PPE: the median of the rounds' ratios.
    pub(crate) ppe_threads_ratio: f64,
    /// `ping` on the pool threads over `multiprocessing.Pool`: the median of the rounds'
    /// ratios.
    pub(crate) mp_pool_threads_ratio: f64,
}

#[derive(Debug, Deserialize)]
struct Printed {
    ppe_calls_per_s: f64,
    mp_pool_calls_per_s: f64,
}

/// Runs `rounds` rounds, each both peers with `calls` calls and then the pool; every figure
/// is the median over the rounds, and every ratio the median of the rounds' own ratios (as
/// in the `ping` section), so that a change in the machine's load between rounds does not
/// skew them.
///
/// # Errors
///
/// When the script fails or prints something else, or the pool fails.
pub(super) async fn measure(
    python: &Path,
    calls: usize,
    rounds: usize,
) -> anyhow::Result<PeerFigures> {
    let calls = calls.max(1000);
    let mut ppe = Vec::with_capacity(rounds);
    let mut mp_pool = Vec::with_capacity(rounds);
    let mut pool = Vec::with_capacity(rounds);
    let mut threads = Vec::with_capacity(rounds);
    for _ in 0..rounds.max(1) {
        let printed = run_script(python, calls).await?;
        ppe.push(printed.ppe_calls_per_s);
        mp_pool.push(printed.mp_pool_calls_per_s);
        pool.push(concurrent_ping(python, PING_INLINE, calls, PEER_CAPACITY).await?);
        threads.push(concurrent_ping(python, PING, calls, PEER_CAPACITY).await?);
    }
    Ok(PeerFigures {
        ppe_ratio: median_ratio(&pool, &ppe),
        mp_pool_ratio: median_ratio(&pool, &mp_pool),
        ppe_threads_ratio: median_ratio(&threads, &ppe),
        mp_pool_threads_ratio: median_ratio(&threads, &mp_pool),
        ppe_calls_per_s: median(&mut ppe),
        mp_pool_calls_per_s: median(&mut mp_pool),
        pool_capacity: PEER_CAPACITY,
        pool_calls_per_s: median(&mut pool),
        pool_threads_calls_per_s: median(&mut threads),
    })
}

/// The median over the rounds of each round's `numerators[i] / denominators[i]`: both sides
/// of a ratio measured a few seconds apart, so that the machine's load drifting between
/// rounds moves them together.
fn median_ratio(numerators: &[f64], denominators: &[f64]) -> f64 {
    let mut ratios: Vec<f64> = numerators
        .iter()
        .zip(denominators)
        .map(|(numerator, denominator)| numerator / denominator)
        .collect();
    median(&mut ratios)
}

/// Runs `peers.py` once.
async fn run_script(python: &Path, calls: usize) -> anyhow::Result<Printed> {
    // A file, not `-c`: under the spawn and forkserver start methods the pools' processes
    // import the script's module to find the function.
    let script =
        std::env::temp_dir().join(format!("snakepit_bench_peers_{}.py", std::process::id()));
    std::fs::write(&script, SCRIPT).context("could not write the peers script")?;
    #[expect(
        clippy::disallowed_methods,
        reason = "runs the peers' benchmark script to completion, not a worker"
    )]
    let output = tokio::process::Command::new(python)
        .arg(&script)
        .arg(calls.to_string())
        .arg(WORKERS.to_string())
        .kill_on_drop(true)
        .output()
        .await;
    if let Err(err) = std::fs::remove_file(&script) {
        tracing::debug!(error = %err, "could not remove the peers script");
    }
    let output = output.with_context(|| format!("could not run {}", python.display()))?;
    if !output.status.success() {
        anyhow::bail!(
            "the peers script failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "the peers script printed {:?}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// Prints the section.
pub(super) fn print(peers: &PeerFigures, calls: usize) {
    println!(
        "\npeers: a trivial function, {calls} calls, {WORKERS} processes each, every call in flight at once; medians over the rounds"
    );
    println!(
        "{:<22} {:>12.0} calls/s",
        "ProcessPoolExecutor", peers.ppe_calls_per_s
    );
    println!(
        "{:<22} {:>12.0} calls/s",
        "multiprocessing.Pool", peers.mp_pool_calls_per_s
    );
    println!(
        "{:<22} {:>12.0} calls/s ({WORKERS} workers x capacity {PEER_CAPACITY}, {CALLERS} callers, ping on the pool threads): {:.1}x PPE, {:.1}x multiprocessing.Pool",
        "snakepit",
        peers.pool_threads_calls_per_s,
        peers.ppe_threads_ratio,
        peers.mp_pool_threads_ratio,
    );
    println!(
        "{:<22} {:>12.0} calls/s ({WORKERS} workers x capacity {PEER_CAPACITY}, {CALLERS} callers, ping_inline: marked @tool(inline=True))",
        "snakepit", peers.pool_calls_per_s
    );
    println!(
        "{:<22} {:.1}x PPE (>= {TARGET_PPE_RATIO}x) {}; {:.1}x multiprocessing.Pool (>= {TARGET_MP_POOL_RATIO}x) {}",
        "ratio (ping_inline)",
        peers.ppe_ratio,
        verdict(peers.ppe_ratio >= TARGET_PPE_RATIO),
        peers.mp_pool_ratio,
        verdict(peers.mp_pool_ratio >= TARGET_MP_POOL_RATIO),
    );
}

fn verdict(met: bool) -> &'static str {
    if met { "ok" } else { "MISSED" }
}
