//! No process left behind, proven with real processes and real signals.
//!
//! Some tests need a second host process to kill or to run beside. Such a test runs this
//! test binary again, on itself, with `SNAKEPIT_TEST_HOST` naming the host to play
//! ([`spawn_host`]); in that child the test calls the host's code ([`busy_host`],
//! [`idle_host`]), which prints its workers and waits to be killed. In a normal run the
//! variable is unset and the test does its checks. The host code is plain functions, not
//! tests: nothing here passes without checking something.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use serde_json::json;
use snakepit::registry::{list_runs, sweep};

use crate::support;

/// The variable that makes a re-run of this binary play a second host.
const HOST_VAR: &str = "SNAKEPIT_TEST_HOST";
/// How long a second host waits to be killed before it fails.
const HOST_LIFETIME: Duration = Duration::from_secs(120);

/// The second hosts a test can start.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Host {
    /// 4 workers, each busy in a call that started a grandchild: [`busy_host`].
    Busy,
    /// 2 idle workers: [`idle_host`].
    Idle,
}

impl Host {
    fn name(self) -> &'static str {
        match self {
            Self::Busy => "busy",
            Self::Idle => "idle",
        }
    }

    /// Whether this process was started to play this host.
    fn is_me(self) -> bool {
        std::env::var(HOST_VAR).is_ok_and(|name| name == self.name())
    }
}

/// Runs `test` (the calling test's full name) of this binary again as a separate host
/// process playing `host`, and returns it with the worker pids it prints
/// (`WORKERS <pid>...`).
fn spawn_host(test: &str, host: Host, state_dir: &Path, scratch: &Path) -> (Child, Vec<u32>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(HOST_VAR, host.name())
        .env("SNAKEPIT_TEST_STATE", state_dir)
        .env("SNAKEPIT_TEST_SCRATCH", scratch)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    for line in stdout.lines() {
        let line = line.unwrap();
        // The test harness may print the test's name on the same line first.
        if let Some((_, pids)) = line.split_once("WORKERS ") {
            let pids = pids
                .split_whitespace()
                .map(|pid| pid.parse().unwrap())
                .collect();
            return (child, pids);
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    panic!("the second host ended without printing its workers");
}

fn host_env(name: &str) -> PathBuf {
    PathBuf::from(std::env::var_os(name).unwrap())
}

/// Prints the pool's workers for the parent test, then waits to be killed.
async fn announce_and_wait(pool: &snakepit::Pool) -> ! {
    let pids: Vec<String> = pool.worker_pids().iter().map(u32::to_string).collect();
    println!("WORKERS {}", pids.join(" "));
    tokio::time::sleep(HOST_LIFETIME).await;
    panic!("the second host was never killed");
}

/// The busy second host: 4 workers, each busy in a call that started a grandchild.
async fn busy_host() -> ! {
    let scratch = host_env("SNAKEPIT_TEST_SCRATCH");
    let pool = support::builder(support::fault_adapter(), 4)
        .state_dir(host_env("SNAKEPIT_TEST_STATE"))
        .start()
        .await
        .unwrap();
    for n in 0..4 {
        let pool = pool.clone();
        let pid_file = scratch.join(format!("grandchild-{n}"));
        tokio::spawn(async move {
            let args = json!({"pid_file": pid_file, "block_seconds": 120});
            pool.execute("spawn_child", args).await
        });
    }
    let busy =
        support::eventually(Duration::from_secs(30), || async { pool.stats().busy == 4 }).await;
    assert!(busy, "the second host's workers did not all get busy");
    announce_and_wait(&pool).await
}

/// The idle second host: 2 idle workers.
async fn idle_host() -> ! {
    let pool = support::builder(support::fault_adapter(), 2)
        .state_dir(host_env("SNAKEPIT_TEST_STATE"))
        .start()
        .await
        .unwrap();
    announce_and_wait(&pool).await
}

async fn read_pid_files(scratch: &Path, count: usize) -> Vec<u32> {
    let files: Vec<PathBuf> = (0..count)
        .map(|n| scratch.join(format!("grandchild-{n}")))
        .collect();
    let written = support::eventually(Duration::from_secs(30), || async {
        files.iter().all(|file| file.exists())
    })
    .await;
    assert!(written, "the workers did not all start their grandchildren");
    files
        .iter()
        .map(|file| {
            std::fs::read_to_string(file)
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_host_takes_its_busy_workers_and_their_children_along() {
    if Host::Busy.is_me() {
        busy_host().await;
    }
    let state = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let (mut host, workers) = spawn_host(
        "lifecycle::a_sigkilled_host_takes_its_busy_workers_and_their_children_along",
        Host::Busy,
        state.path(),
        scratch.path(),
    );
    assert_eq!(workers.len(), 4);
    let grandchildren = read_pid_files(scratch.path(), 4).await;
    let everyone: Vec<u32> = workers.iter().chain(&grandchildren).copied().collect();
    assert!(everyone.iter().all(|pid| support::is_alive(*pid)));
    host.kill().unwrap();
    host.wait().unwrap();
    support::assert_all_gone(&everyone, Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_worker_that_ignores_sigterm_is_killed_after_the_grace_period() {
    let pool = support::builder(support::fault_adapter(), 1)
        .drain_timeout(Duration::from_millis(100))
        .stop_grace(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    assert_eq!(
        pool.execute("ignore_term", json!({})).await.unwrap(),
        json!(true)
    );
    let pids = pool.worker_pids();
    // Busy in a plain sleep, the worker reads neither the closed link nor SIGTERM.
    let busy = support::occupy(&pool, "block", json!({"seconds": 30})).await;
    let started = std::time::Instant::now();
    pool.shutdown().await;
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "the worker stopped before the grace period ran out"
    );
    assert!(!support::is_alive(pids[0]));
    assert!(busy.await.unwrap().is_err());
}

#[tokio::test]
async fn a_grandchild_started_by_a_tool_dies_at_shutdown() {
    let pool = support::fault_pool(1).await;
    let grandchild = pool.execute("spawn_child", json!({})).await.unwrap();
    let grandchild = u32::try_from(grandchild.as_u64().unwrap()).unwrap();
    assert!(support::is_alive(grandchild));
    pool.shutdown().await;
    support::assert_all_gone(&[grandchild], Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_crashed_worker_takes_its_grandchildren_along() {
    let pool = support::fault_pool(1).await;
    let grandchild = pool.execute("spawn_child", json!({})).await.unwrap();
    let grandchild = u32::try_from(grandchild.as_u64().unwrap()).unwrap();
    assert!(
        pool.execute("crash_exit", json!({"code": 1}))
            .await
            .is_err()
    );
    support::assert_all_gone(&[grandchild], Duration::from_secs(2)).await;
    pool.shutdown().await;
}

/// A process in its own group, standing in for a leftover worker of a dead run.
fn leftover_process() -> (Child, u64) {
    use std::os::unix::process::CommandExt;
    let child = Command::new("sleep")
        .arg("1000")
        .process_group(0)
        .spawn()
        .unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap();
    let (_, rest) = stat.rsplit_once(')').unwrap();
    let start_ticks = rest.split_whitespace().nth(19).unwrap().parse().unwrap();
    (child, start_ticks)
}

#[tokio::test]
async fn a_dead_run_is_swept_at_start_but_a_reused_pid_is_left_alone() {
    let state = tempfile::tempdir().unwrap();
    let (mut leftover, leftover_start) = leftover_process();
    let (mut stranger, stranger_start) = leftover_process();
    let record = json!({
        "run_id": "1-2-3",
        "host_pid": 1,
        "host_start_ticks": 0,
        "instance": "dead",
        "started_unix": 0,
        "workers": {
            "w1": {"worker_id": "w1", "pid": leftover.id(), "pgid": leftover.id(), "start_ticks": leftover_start},
            "w2": {"worker_id": "w2", "pid": stranger.id(), "pgid": stranger.id(), "start_ticks": stranger_start + 1},
        }
    });
    std::fs::write(state.path().join("1-2-3.json"), record.to_string()).unwrap();
    std::fs::write(state.path().join("1-2-3.lock"), b"").unwrap();

    let dry = sweep(state.path(), true).unwrap();
    assert_eq!(dry.len(), 1);
    assert_eq!(dry[0].killed, vec![leftover.id()]);
    assert_eq!(dry[0].left_alone, vec![stranger.id()]);
    assert!(
        support::is_alive(leftover.id()),
        "a dry run killed something"
    );

    let pool = support::builder(support::fault_adapter(), 1)
        .state_dir(state.path())
        .start()
        .await
        .unwrap();
    assert!(
        leftover.wait().unwrap().code().is_none(),
        "the leftover was not killed by a signal"
    );
    assert!(
        support::is_alive(stranger.id()),
        "a process with a reused pid was killed"
    );
    let runs = list_runs(state.path()).unwrap();
    assert_eq!(runs.len(), 1, "the dead run was not removed: {runs:?}");
    assert!(runs[0].live);
    pool.shutdown().await;
    stranger.kill().unwrap();
    stranger.wait().unwrap();
}

#[tokio::test]
async fn two_hosts_side_by_side_never_touch_each_others_workers() {
    if Host::Idle.is_me() {
        idle_host().await;
    }
    let state = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let (mut other_host, other_workers) = spawn_host(
        "lifecycle::two_hosts_side_by_side_never_touch_each_others_workers",
        Host::Idle,
        state.path(),
        scratch.path(),
    );
    assert_eq!(other_workers.len(), 2);
    // Starting sweeps the registry; the other host's run is live and must be left alone.
    let pool = support::builder(support::fault_adapter(), 2)
        .state_dir(state.path())
        .start()
        .await
        .unwrap();
    let runs = list_runs(state.path()).unwrap();
    assert_eq!(runs.iter().filter(|run| run.live).count(), 2, "{runs:?}");
    pool.execute("pid", json!({})).await.unwrap();
    pool.shutdown().await;
    assert!(
        other_workers.iter().all(|pid| support::is_alive(*pid)),
        "shutdown touched the other host"
    );
    other_host.kill().unwrap();
    other_host.wait().unwrap();
    support::assert_all_gone(&other_workers, Duration::from_secs(2)).await;
}

#[tokio::test]
async fn script_mode_with_a_panicking_block_leaves_no_process() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&seen);
    let outcome = std::panic::AssertUnwindSafe(
        support::builder(support::fault_adapter(), 2).run_script(|pool| async move {
            recorded.lock().unwrap().extend(pool.worker_pids());
            pool.execute("pid", json!({})).await.unwrap();
            panic!("the script failed");
        }),
    )
    .catch_unwind()
    .await;
    assert!(outcome.is_err(), "the panic must reach the caller");
    let pids = seen.lock().unwrap().clone();
    assert_eq!(pids.len(), 2);
    for pid in pids {
        assert!(!support::is_alive(pid), "worker {pid} outlived the script");
    }
}

#[tokio::test]
async fn script_mode_returns_the_block_output_and_stops_every_worker() {
    let mut pids = Vec::new();
    let answer = support::builder(support::fault_adapter(), 1)
        .run_script(|pool| async move {
            let pids = pool.worker_pids();
            (pids, pool.execute("add", json!({"a": 2, "b": 2})).await)
        })
        .await
        .unwrap();
    pids.extend(answer.0);
    assert_eq!(pids.len(), 1);
    assert_eq!(answer.1.unwrap(), json!(4));
    assert!(pids.iter().all(|pid| !support::is_alive(*pid)));
}
