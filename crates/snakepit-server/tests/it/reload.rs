//! Reload: unchanged pools keep running, changed ones are replaced make-before-break (calls
//! in flight on the old pool finish), removed ones stop, and a failed start changes nothing.

use std::time::Duration;

use serde_json::json;
use snakepit::{Pool, PythonAdapter};
use snakepit_server::PoolDef;

use crate::support::{eventually, serve, showcase};

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_replaces_only_what_changed() {
    let server = serve(vec![
        PoolDef::new("steady", "v1", showcase(1)),
        PoolDef::new("changing", "v1", showcase(1)),
        PoolDef::new("leaving", "v1", showcase(1)),
    ])
    .await;
    let steady_pids = server.handle.pool("steady").unwrap().worker_pids();
    let old = server.handle.pool("changing").unwrap();
    let old_pids = old.worker_pids();

    // A call in flight on the pool about to be replaced.
    let in_flight = tokio::spawn(
        server
            .client
            .post(server.url("/v1/pools/changing/commands/progress"))
            .json(&json!({"args": {"steps": 10, "delay_ms": 100}}))
            .send(),
    );
    assert!(eventually(Duration::from_secs(10), || async { old.stats().busy == 1 }).await);

    let report = server
        .handle
        .reload(vec![
            PoolDef::new("steady", "v1", showcase(1)),
            PoolDef::new("changing", "v2", showcase(2)),
            PoolDef::new("arriving", "v1", showcase(1)),
        ])
        .await
        .unwrap();
    assert_eq!(report.kept, ["steady"]);
    assert_eq!(report.replaced, ["changing"]);
    assert_eq!(report.added, ["arriving"]);
    assert_eq!(report.removed, ["leaving"]);

    let answered = in_flight.await.unwrap().unwrap();
    assert_eq!(answered.status(), 200, "the call on the old pool finishes");
    assert_eq!(
        server.handle.pool("steady").unwrap().worker_pids(),
        steady_pids
    );
    let new_pids = server.handle.pool("changing").unwrap().worker_pids();
    assert_eq!(new_pids.len(), 2);
    assert!(new_pids.iter().all(|pid| !old_pids.contains(pid)));
    assert!(
        old.worker_pids().is_empty(),
        "the replaced pool is shut down"
    );
    let (status, _) = server.call("arriving", "ping", json!({})).await;
    assert_eq!(status, 200);
    // The library's registry follows: the replaced pool's new handle, the new pool, not the
    // removed one.
    let registry = server.handle.pools();
    let mut registered = registry.names();
    registered.sort();
    assert_eq!(registered, ["arriving", "changing", "steady"]);
    assert_eq!(
        registry.get("changing").unwrap().worker_pids(),
        new_pids,
        "the registry holds the replacement"
    );
    let (status, body) = server.call("leaving", "ping", json!({})).await;
    assert_eq!(
        (status, &body["error"]["kind"]),
        (404, &json!("unknown_pool"))
    );

    // A pool that cannot start: the reload fails and the running set stays.
    let broken = Pool::builder(
        PythonAdapter::new("no_such_module:Nothing").python(crate::support::python()),
    )
    .size(1)
    .startup_timeout(Duration::from_secs(20));
    let failed = server
        .handle
        .reload(vec![PoolDef::new("steady", "v2", broken)])
        .await;
    assert!(failed.is_err());
    let mut names = server.handle.pool_names();
    names.sort();
    assert_eq!(names, ["arriving", "changing", "steady"]);
    assert_eq!(
        server.handle.pool("steady").unwrap().worker_pids(),
        steady_pids
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_follow_the_shared_registry() {
    let server = serve(vec![PoolDef::new("default", "v1", showcase(1))]).await;
    let registry = server.handle.pools();

    // A pool a Rust program puts into the registry is served, with its own stats.
    let extra = showcase(1).start().await.unwrap();
    assert!(registry.insert("extra", extra.clone()).is_none());
    let (status, body) = server.call("extra", "ping", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        extra.stats().requests,
        1,
        "the call ran on the inserted pool"
    );
    let (status, listed) = server.get("/v1/pools").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = listed["pools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pool| pool["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "extra"]);
    let (status, stats) = server.get("/v1/pools/extra/stats").await;
    assert_eq!((status, &stats["stats"]["requests"]), (200, &json!(1)));

    // Replacing a pool in the registry sends the next call to the replacement.
    let replacement = showcase(1).start().await.unwrap();
    let old = registry.insert("default", replacement.clone()).unwrap();
    let (status, _) = server.call("default", "ping", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(replacement.stats().requests, 1);
    assert_eq!(old.stats().requests, 0);
    old.shutdown().await;

    // A pool taken out is no longer served.
    let taken = registry.remove("extra").unwrap();
    let (status, body) = server.call("extra", "ping", json!({})).await;
    assert_eq!(
        (status, &body["error"]["kind"]),
        (404, &json!("unknown_pool"))
    );
    taken.shutdown().await;

    // A reload replaces the pool the program put there (its fingerprint is not the
    // config's) and the server's shutdown stops what the registry holds.
    let report = server
        .handle
        .reload(vec![PoolDef::new("default", "v1", showcase(1))])
        .await
        .unwrap();
    assert_eq!(report.replaced, ["default"]);
    assert!(
        replacement.worker_pids().is_empty(),
        "the replaced pool is shut down"
    );
    let served = server.handle.pool("default").unwrap();
    server.stop().await;
    assert!(served.worker_pids().is_empty(), "shutdown stops it");
    assert!(registry.is_empty(), "the registry is emptied");
}
