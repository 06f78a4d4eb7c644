//! Starting a pool: concurrent start, and clear failures.

use std::time::{Duration, Instant};

use snakepit::{Error, GenericAdapter, Pool, PythonAdapter};

use crate::support;

/// The time the process started, in clock ticks since boot (`/proc/PID/stat`, field 22).
fn start_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let (_, rest) = stat.rsplit_once(')').unwrap();
    rest.split_whitespace().nth(19).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_workers_start_concurrently() {
    let started = Instant::now();
    let one = support::fault_pool(1).await;
    let one_worker = started.elapsed();
    one.shutdown().await;

    let pool = support::fault_pool(4).await;
    let pids = pool.worker_pids();
    assert_eq!(pids.len(), 4);
    assert_eq!(pool.stats().workers, 4);
    // Every worker was forked before the first one could have become ready: the starts
    // overlapped rather than ran one after another.
    let ticks: Vec<u64> = pids.iter().map(|pid| start_ticks(*pid)).collect();
    let spread_ticks = ticks.iter().max().unwrap() - ticks.iter().min().unwrap();
    let spread = Duration::from_millis(spread_ticks * 10);
    assert!(
        spread <= one_worker,
        "forks spread over {spread:?}, one start takes {one_worker:?}"
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn a_worker_that_cannot_import_its_adapter_fails_the_start_with_its_stderr() {
    let adapter = PythonAdapter::new("no_such_module_here:Nope").python(support::python());
    let err = support::builder(adapter, 2).start().await.unwrap_err();
    let Error::StartFailed {
        reason,
        stderr_tail,
        ..
    } = &err
    else {
        panic!("expected a start failure, got {err:?}")
    };
    assert!(reason.contains("exit"), "{reason}");
    assert!(stderr_tail.contains("no_such_module_here"), "{stderr_tail}");
    assert!(err.to_string().contains("failed to start"));
}

#[tokio::test]
async fn a_worker_that_never_says_hello_fails_the_start_in_time() {
    let adapter = GenericAdapter::new("sleep").arg("30");
    let started = Instant::now();
    let err = Pool::builder(adapter)
        .size(2)
        .startup_timeout(Duration::from_millis(300))
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::StartFailed { reason, .. } if reason.contains("not ready")),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_missing_program_and_bad_settings_are_clear_errors() {
    let err = Pool::builder(GenericAdapter::new("/no/such/program"))
        .size(1)
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Spawn { .. }), "{err:?}");
    let err = Pool::builder(support::fault_adapter())
        .size(0)
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    let err = Pool::builder(PythonAdapter::new("missing_colon"))
        .size(1)
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
}
