//! Shutdown and drop: running calls finish or fail clearly, and no process is left.

use std::time::Duration;

use serde_json::json;
use snakepit::Error;

use crate::support;

#[tokio::test]
async fn after_shutdown_every_worker_is_gone_and_calls_are_refused() {
    let pool = support::fault_pool(3).await;
    let pids = pool.worker_pids();
    assert_eq!(pids.len(), 3);
    pool.shutdown().await;
    for pid in &pids {
        assert!(!support::is_alive(*pid), "worker {pid} outlived shutdown");
    }
    let err = pool.execute("pid", json!({})).await.unwrap_err();
    assert!(matches!(err, Error::Shutdown), "{err:?}");
    assert_eq!(pool.stats().workers, 0);
    // A second shutdown is harmless.
    pool.shutdown().await;
}

#[tokio::test]
async fn dropping_the_pool_without_shutdown_leaves_no_process() {
    let pool = support::fault_pool(3).await;
    let pids = pool.worker_pids();
    let busy = support::occupy(&pool, "block", json!({"seconds": 30})).await;
    busy.abort();
    drop(pool);
    support::assert_all_gone(&pids, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn shutdown_lets_a_running_call_finish() {
    let pool = support::fault_pool(1).await;
    let running = support::occupy(&pool, "sleep", json!({"seconds": 0.3})).await;
    pool.shutdown().await;
    assert_eq!(running.await.unwrap().unwrap(), json!({"slept": 0.3}));
}

#[tokio::test]
async fn shutdown_fails_calls_that_outlast_the_drain_and_those_still_queued() {
    let pool = support::builder(support::fault_adapter(), 1)
        .drain_timeout(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    let pids = pool.worker_pids();
    let running = support::occupy(&pool, "block", json!({"seconds": 30})).await;
    let queued = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.execute("pid", json!({})).await })
    };
    let reached = support::eventually(Duration::from_secs(10), || async {
        pool.stats().queued == 1
    })
    .await;
    assert!(reached);
    pool.shutdown().await;
    assert!(matches!(
        queued.await.unwrap().unwrap_err(),
        Error::Shutdown
    ));
    assert!(matches!(
        running.await.unwrap().unwrap_err(),
        Error::Shutdown
    ));
    support::assert_all_gone(&pids, Duration::from_secs(5)).await;
}
