//! Workers that die or break the protocol during a call.

use std::time::Duration;

use serde_json::json;
use snakepit::Error;

use crate::support;

#[tokio::test]
async fn an_exit_mid_call_fails_the_call_with_the_exit_code_and_is_replaced() {
    let pool = support::fault_pool(2).await;
    let err = pool
        .execute("crash_exit", json!({"code": 7}))
        .await
        .unwrap_err();
    let Error::WorkerExited { exit, .. } = err else {
        panic!("expected an exit, got {err:?}")
    };
    assert_eq!(exit.code, Some(7));
    support::assert_full_size(&pool, 2).await;
    assert_eq!(pool.stats().restarts, 1);
    pool.execute("pid", json!({})).await.unwrap();
    pool.shutdown().await;
}

#[tokio::test]
async fn a_signal_mid_call_fails_the_call_with_the_signal() {
    let pool = support::fault_pool(1).await;
    for signal in [9, 11] {
        let err = pool
            .execute("crash_signal", json!({"signum": signal}))
            .await
            .unwrap_err();
        let Error::WorkerExited { exit, .. } = &err else {
            panic!("expected an exit, got {err:?}")
        };
        assert_eq!(exit.signal, Some(signal), "{err}");
        support::assert_full_size(&pool, 1).await;
    }
    assert_eq!(pool.stats().restarts, 2);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_crash_on_one_worker_leaves_the_others_serving() {
    let pool = support::fault_pool(2).await;
    let crash = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.execute("crash_exit", json!({"code": 1})).await })
    };
    for n in 0..50 {
        assert_eq!(
            pool.execute("add", json!({"a": n})).await.unwrap(),
            json!(n)
        );
    }
    assert!(crash.await.unwrap().is_err());
    support::assert_full_size(&pool, 2).await;
    pool.shutdown().await;
}

#[tokio::test]
async fn garbage_on_the_link_is_a_protocol_error_and_the_worker_is_replaced() {
    let pool = support::fault_pool(1).await;
    let err = tokio::time::timeout(Duration::from_secs(10), pool.execute("garbage", json!({})))
        .await
        .expect("garbage must not hang the call")
        .unwrap_err();
    assert!(matches!(err, Error::WorkerProtocol { .. }), "{err:?}");
    support::assert_full_size(&pool, 1).await;
    pool.execute("pid", json!({})).await.unwrap();
    pool.shutdown().await;
}

#[tokio::test]
async fn an_oversize_frame_is_refused_without_waiting_for_it() {
    let pool = support::builder(support::fault_adapter(), 1)
        .max_frame(1024 * 1024)
        .start()
        .await
        .unwrap();
    let err = tokio::time::timeout(Duration::from_secs(10), pool.execute("oversize", json!({})))
        .await
        .expect("an oversize frame must not hang the call")
        .unwrap_err();
    assert!(matches!(err, Error::WorkerProtocol { .. }), "{err:?}");
    support::assert_full_size(&pool, 1).await;
    // Arguments over the maximum are refused before they are sent; the worker is unharmed.
    let big = "x".repeat(2 * 1024 * 1024);
    let err = pool
        .execute("whole", json!({"big": big}))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::FrameTooLarge { .. }), "{err:?}");
    assert_eq!(
        pool.execute("whole", json!({"small": 1})).await.unwrap(),
        json!(["small"])
    );
    assert_eq!(pool.stats().restarts, 1);
    pool.shutdown().await;
}
