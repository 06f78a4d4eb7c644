//! Deadlines that really stop work: cancel, then kill and replace.

use std::time::Duration;

use serde_json::json;
use snakepit::Error;

use crate::support;

fn within(millis: u64) -> support::Options {
    support::Options::new().timeout(Duration::from_millis(millis))
}

#[tokio::test]
async fn a_cooperative_tool_is_cancelled_and_its_worker_kept() {
    let pool = support::fault_pool(1).await;
    let pid = pool.execute("pid", json!({})).await.unwrap();
    let err = support::execute_with(&pool, "sleep", json!({"seconds": 30}), &within(200))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Timeout { command, .. } if command == "sleep"),
        "{err:?}"
    );
    // The worker answers the cancel and comes back: same process, no restart.
    assert_eq!(pool.execute("pid", json!({})).await.unwrap(), pid);
    let stats = pool.stats();
    assert_eq!((stats.timeouts, stats.restarts), (1, 0));
    pool.shutdown().await;
}

#[tokio::test]
async fn an_async_tool_is_cancelled_and_its_worker_kept() {
    let pool = support::fault_pool(1).await;
    let pid = pool.execute("pid", json!({})).await.unwrap();
    let err = support::execute_with(&pool, "async_sleep", json!({"seconds": 30}), &within(200))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert_eq!(pool.execute("pid", json!({})).await.unwrap(), pid);
    assert_eq!(pool.stats().restarts, 0);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_stuck_worker_is_killed_replaced_and_never_handed_a_call_meanwhile() {
    let pool = support::fault_pool(1).await;
    let stuck_pid = pool.execute("pid", json!({})).await.unwrap();
    let err = support::execute_with(&pool, "block", json!({"seconds": 30}), &within(200))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    // The next call cannot go to the stuck worker: it waits for the replacement.
    let next_pid = pool.execute("pid", json!({})).await.unwrap();
    assert_ne!(next_pid, stuck_pid);
    let stuck_pid = u32::try_from(stuck_pid.as_u64().unwrap()).unwrap();
    support::assert_all_gone(&[stuck_pid], Duration::from_secs(5)).await;
    support::assert_full_size(&pool, 1).await;
    assert_eq!(pool.stats().restarts, 1);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_gil_holding_spin_is_killed_after_the_grace_period() {
    let pool = support::fault_pool(2).await;
    let err = support::execute_with(&pool, "spin", json!({"seconds": 30}), &within(200))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    support::assert_full_size(&pool, 2).await;
    assert_eq!(pool.stats().restarts, 1);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_caller_that_gives_up_does_not_leave_the_worker_busy() {
    let pool = support::fault_pool(1).await;
    let pid = pool.execute("pid", json!({})).await.unwrap();
    let abandoned = tokio::time::timeout(
        Duration::from_millis(200),
        pool.execute("sleep", json!({"seconds": 30})),
    )
    .await;
    assert!(
        abandoned.is_err(),
        "the call should still have been running"
    );
    assert_eq!(pool.execute("pid", json!({})).await.unwrap(), pid);
    pool.shutdown().await;
}
