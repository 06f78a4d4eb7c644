//! Queueing: FIFO order, saturation, queue timeout, abandoned waits.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use snakepit::Error;

use crate::support;

/// Waits until the pool reports `queued` waiting calls.
async fn until_queued(pool: &snakepit::Pool, queued: usize) {
    let reached = support::eventually(Duration::from_secs(10), || async {
        pool.stats().queued == queued
    })
    .await;
    assert!(reached, "queue never reached {queued}: {:?}", pool.stats());
}

#[tokio::test]
async fn a_full_queue_refuses_at_once_and_queued_calls_are_served_in_order() {
    let pool = support::builder(support::fault_adapter(), 1)
        .max_queue(3)
        .start()
        .await
        .unwrap();
    let blocker = support::occupy(&pool, "sleep", json!({"seconds": 0.5})).await;
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut queued = Vec::new();
    for n in 0..3 {
        let caller = pool.clone();
        let order = Arc::clone(&order);
        queued.push(tokio::spawn(async move {
            // Each call keeps the worker 20 ms, so a caller records its turn before the
            // next call can be answered.
            let reply = caller
                .execute("tag", json!({"value": n, "spin_ms": 20.0}))
                .await;
            order.lock().unwrap().push(n);
            reply
        }));
        until_queued(&pool, n as usize + 1).await;
    }
    let refused = pool.execute("add", json!({"a": 99})).await.unwrap_err();
    assert!(
        matches!(refused, Error::PoolSaturated { queued: 3 }),
        "{refused:?}"
    );
    assert_eq!(blocker.await.unwrap().unwrap(), json!({"slept": 0.5}));
    for (n, call) in queued.into_iter().enumerate() {
        assert_eq!(call.await.unwrap().unwrap()["value"], json!(n));
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2]);
    let stats = pool.stats();
    assert_eq!(stats.pool_saturated, 1);
    assert_eq!(stats.queued, 0);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_call_that_waits_past_the_queue_timeout_fails() {
    let pool = support::builder(support::fault_adapter(), 1)
        .queue_timeout(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    let blocker = support::occupy(&pool, "sleep", json!({"seconds": 1.0})).await;
    let err = pool.execute("pid", json!({})).await.unwrap_err();
    assert!(matches!(err, Error::QueueTimeout { .. }), "{err:?}");
    assert_eq!(pool.stats().queue_timeouts, 1);
    assert_eq!(pool.stats().queued, 0);
    blocker.await.unwrap().unwrap();
    // The worker is free again and serves the next call.
    pool.execute("pid", json!({})).await.unwrap();
    pool.shutdown().await;
}

#[tokio::test]
async fn an_abandoned_wait_leaves_the_queue_and_loses_no_worker() {
    let pool = support::fault_pool(1).await;
    let blocker = support::occupy(&pool, "sleep", json!({"seconds": 0.3})).await;
    let waiting = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.execute("pid", json!({})).await })
    };
    until_queued(&pool, 1).await;
    waiting.abort();
    assert!(waiting.await.unwrap_err().is_cancelled());
    until_queued(&pool, 0).await;
    blocker.await.unwrap().unwrap();
    support::assert_full_size(&pool, 1).await;
    pool.execute("pid", json!({})).await.unwrap();
    pool.shutdown().await;
}

#[tokio::test]
async fn a_caller_whose_worker_goes_to_a_waiting_call_lets_that_call_send_first() {
    let pool = support::fault_pool(1).await;
    let first = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let reply = pool.execute("sleep", json!({"seconds": 0.3})).await;
            // Nothing is awaited between the answer and this look at the worker.
            let running: Vec<String> = pool
                .workers()
                .into_iter()
                .flat_map(|worker| worker.running)
                .collect();
            (reply, running)
        })
    };
    let busy =
        support::eventually(Duration::from_secs(10), || async { pool.stats().busy == 1 }).await;
    assert!(busy, "the first call never took the worker");
    let waiting = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.execute("sleep", json!({"seconds": 0.2})).await })
    };
    until_queued(&pool, 1).await;
    let (reply, running) = first.await.unwrap();
    assert_eq!(reply.unwrap(), json!({"slept": 0.3}));
    assert_eq!(
        running,
        ["sleep"],
        "the waiting call was sent before the first caller went on"
    );
    assert_eq!(waiting.await.unwrap().unwrap(), json!({"slept": 0.2}));
    pool.shutdown().await;
}
