//! What every measurement shares: the interpreter, CPU pinning, the warm-up length and the
//! one-worker pool of the bench adapter.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use nix::sched::{CpuSet, sched_setaffinity};
use nix::unistd::Pid;
use snakepit::{Pool, PythonAdapter};

/// The bundled adapter with the cheapest tool for each path: `ping`, `chunks` and
/// `host_round_trips`.
pub(super) const BENCH_ADAPTER: &str = "snakepit_bridge.examples.bench:BenchAdapter";

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

/// `$SNAKEPIT_PYTHON`, else `python3`, as the pool's Python adapter chooses.
pub(super) fn default_python() -> PathBuf {
    std::env::var_os("SNAKEPIT_PYTHON").map_or_else(|| PathBuf::from("python3"), PathBuf::from)
}

/// How many calls to make before measuring.
pub(super) fn warm_up(iterations: usize) -> usize {
    (iterations / 10).clamp(20, 500)
}

/// Starts a pool of one worker running the bench adapter.
///
/// # Errors
///
/// When the pool does not start.
pub(super) async fn bench_pool(python: &Path) -> anyhow::Result<Pool> {
    Pool::builder(PythonAdapter::new(BENCH_ADAPTER).python(python))
        .size(1)
        .start()
        .await
        .context("could not start a pool of one bench worker")
}

/// The tool of the bench adapter the `ping` section calls: it answers `{}` at once, exactly
/// the floors' reply to the same call, so pool and floors decode the same reply.
pub(super) const EMPTY: &str = "empty";

/// The latencies of `iterations` sequential calls of `command` (without arguments) through
/// `pool`.
///
/// # Errors
///
/// When a call fails.
pub(super) async fn ping_samples(
    pool: &Pool,
    command: &str,
    iterations: usize,
) -> anyhow::Result<Vec<std::time::Duration>> {
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = std::time::Instant::now();
        pool.execute(command, serde_json::json!({}))
            .await
            .context("ping failed")?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}
