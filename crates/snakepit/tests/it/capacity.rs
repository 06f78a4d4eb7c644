//! Workers that take several calls at once: each call returns to its own caller, and no
//! worker is handed more calls than its capacity.

use std::collections::HashSet;

use serde_json::{Value, json};
use snakepit::Profile;

use crate::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_on_one_worker_each_return_to_their_caller() {
    let pool = support::builder(support::native_worker(), 2)
        .profile(Profile::concurrent(8))
        .max_queue(2000)
        .start()
        .await
        .unwrap();
    let calls: Vec<_> = (0..1000)
        .map(|n| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let value = format!("payload-{n}");
                let reply = pool
                    .execute("echo", json!({"value": value, "sleep": 0.002}))
                    .await
                    .unwrap();
                (value, reply)
            })
        })
        .collect();
    let mut most_at_once = 0;
    let mut pids = HashSet::new();
    for call in calls {
        let (value, reply) = call.await.unwrap();
        assert_eq!(reply["value"], Value::from(value));
        most_at_once = most_at_once.max(reply["running"].as_u64().unwrap());
        pids.insert(reply["pid"].as_u64().unwrap());
    }
    assert!(most_at_once > 1, "no worker ever ran two calls at once");
    assert!(
        most_at_once <= 8,
        "a worker ran {most_at_once} calls at once"
    );
    assert_eq!(pids.len(), 2);
    assert_eq!(pool.stats().errors, 0);
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_is_never_handed_more_than_its_capacity() {
    let pool = support::builder(support::native_worker(), 1)
        .profile(Profile::concurrent(3))
        .start()
        .await
        .unwrap();
    let calls: Vec<_> = (0..12)
        .map(|n| {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.execute("echo", json!({"value": n, "sleep": 0.1}))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut most_at_once = 0;
    for call in calls {
        let reply = call.await.unwrap();
        most_at_once = most_at_once.max(reply["running"].as_u64().unwrap());
    }
    assert_eq!(most_at_once, 3);
    pool.shutdown().await;
}
