//! Fixtures: interpreters, adapters and pools for the tests, and polling helpers.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use snakepit::{Pool, PoolBuilder, PythonAdapter};
use tokio::task::JoinHandle;

mod options;
pub(crate) use options::{Options, execute_with, stream_with};

/// The repository root.
pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The Python interpreter the tests use: `$SNAKEPIT_PYTHON`, else `python3`. A missing
/// interpreter fails the test: Python is what this crate runs.
pub(crate) fn python() -> PathBuf {
    let python =
        std::env::var_os("SNAKEPIT_PYTHON").map_or_else(|| PathBuf::from("python3"), PathBuf::from);
    let found = std::process::Command::new(&python)
        .arg("--version")
        .output();
    assert!(
        found.is_ok_and(|output| output.status.success()),
        "these tests need a Python interpreter: `{}` does not run (set SNAKEPIT_PYTHON)",
        python.display()
    );
    python
}

/// The directory of the test-only Python adapter.
pub(crate) fn python_support_dir() -> PathBuf {
    repo_root().join("python/tests/support")
}

/// The test adapter with its faults (sleep, crash, garbage, ...).
pub(crate) fn fault_adapter() -> PythonAdapter {
    PythonAdapter::new("fault_adapter:FaultAdapter")
        .python(python())
        .python_path(python_support_dir())
}

/// The bare native test worker (`fixtures/native_worker.py`); it takes as many calls at
/// once as the pool's profile gives it.
pub(crate) fn native_worker() -> snakepit::GenericAdapter {
    snakepit::GenericAdapter::new(python())
        .arg(repo_root().join("crates/snakepit/tests/it/fixtures/native_worker.py"))
}

/// The bundled showcase adapter.
pub(crate) fn showcase_adapter() -> PythonAdapter {
    PythonAdapter::showcase().python(python())
}

/// The run registry the tests share (runs of other tests are live and left alone).
pub(crate) fn state_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("state")
}

/// A builder with test-friendly timeouts.
pub(crate) fn builder(adapter: impl snakepit::Adapter, size: usize) -> PoolBuilder {
    Pool::builder(adapter)
        .size(size)
        .state_dir(state_dir())
        .startup_timeout(Duration::from_secs(30))
        .queue_timeout(Duration::from_secs(30))
        .call_timeout(Duration::from_secs(30))
        .cancel_grace(Duration::from_millis(500))
        .stop_grace(Duration::from_millis(500))
}

/// A started pool of the fault adapter.
pub(crate) async fn fault_pool(size: usize) -> Pool {
    builder(fault_adapter(), size).start().await.unwrap()
}

/// Polls `condition` every 10 ms until it holds or `limit` passes; returns whether it held.
pub(crate) async fn eventually<F, Fut>(limit: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether a process exists and has not exited (a zombie has exited).
pub(crate) fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Waits until every pid is gone; panics naming the survivors otherwise.
pub(crate) async fn assert_all_gone(pids: &[u32], limit: Duration) {
    let gone = eventually(limit, || async { pids.iter().all(|pid| !is_alive(*pid)) }).await;
    let alive: Vec<u32> = pids.iter().copied().filter(|pid| is_alive(*pid)).collect();
    assert!(gone, "processes still alive: {alive:?}");
}

/// Waits until the pool is back to `size` live workers, none busy.
pub(crate) async fn assert_full_size(pool: &Pool, size: usize) {
    let full = eventually(Duration::from_secs(30), || async {
        let stats = pool.stats();
        stats.workers == size && stats.available == size
    })
    .await;
    assert!(
        full,
        "pool did not return to {size} workers: {:?}",
        pool.stats()
    );
}

/// Starts a call in the background and waits until the pool counts one more busy worker.
pub(crate) async fn occupy_with(
    pool: &Pool,
    command: &str,
    args: Value,
    options: Options,
) -> JoinHandle<snakepit::Result<Value>> {
    let busy_before = pool.stats().busy;
    let caller = pool.clone();
    let command = command.to_owned();
    let call = tokio::spawn(async move { execute_with(&caller, &command, args, &options).await });
    let busy = eventually(Duration::from_secs(10), || async {
        pool.stats().busy > busy_before
    })
    .await;
    assert!(busy, "the call never took a worker: {:?}", pool.stats());
    call
}

/// [`occupy_with`] with default options.
pub(crate) async fn occupy(
    pool: &Pool,
    command: &str,
    args: Value,
) -> JoinHandle<snakepit::Result<Value>> {
    occupy_with(pool, command, args, Options::new()).await
}
