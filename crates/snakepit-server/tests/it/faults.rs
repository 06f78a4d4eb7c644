//! Every failure answers JSON with its stable kind and status code.

use std::time::Duration;

use serde_json::{Value, json};
use snakepit::CircuitConfig;
use snakepit_server::{PoolDef, ServerConfig};

use crate::support::{eventually, serve, serve_default, serve_with, showcase};

fn kind(body: &Value) -> &str {
    body["error"]["kind"].as_str().unwrap_or("<none>")
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_and_unknown_names_are_4xx_with_kinds() {
    let server = serve_default(1).await;
    let (status, body) = server
        .call(
            "default",
            "compute",
            json!({"args": {"operation": "divide", "a": 1, "b": 0}}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(kind(&body), "worker_error");
    assert_eq!(body["error"]["type"], "ZeroDivisionError");
    assert_eq!(body["error"]["message"], "division by zero");
    assert!(
        body["error"]["traceback"]
            .as_str()
            .unwrap()
            .contains("Traceback"),
        "{body}"
    );

    let (status, body) = server.call("nope", "ping", json!({})).await;
    assert_eq!((status, kind(&body)), (404, "unknown_pool"));
    let (status, body) = server.call("default", "nope", json!({})).await;
    assert_eq!((status, kind(&body)), (404, "unknown_command"));
    let (status, body) = server.get("/v1/nothing").await;
    assert_eq!((status, kind(&body)), (404, "not_found"));

    for bad in [
        json!({"args": [1, 2]}),
        json!({"args": {}, "surprise": 1}),
        json!({"timeout_ms": 0}),
        json!({"timeout_ms": -5}),
        json!({"session": ""}),
        json!("just a string"),
    ] {
        let (status, body) = server.call("default", "ping", bad.clone()).await;
        assert_eq!((status, kind(&body)), (400, "bad_request"), "{bad}");
    }
    let response = server
        .client
        .post(server.url("/v1/pools/default/commands/ping"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let response = server
        .client
        .get(server.url("/v1/pools/default/commands/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.unwrap();
    assert_eq!(kind(&body), "method_not_allowed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_the_limit_is_413() {
    let mut config = ServerConfig::default();
    config.max_body_bytes = 1024;
    let server = serve_with(config, vec![PoolDef::new("default", "x", showcase(1))]).await;
    let big = json!({"args": {"blob": "x".repeat(4096)}});
    let (status, body) = server.call("default", "echo", big).await;
    assert_eq!((status, kind(&body)), (413, "payload_too_large"));
    let (status, _) = server
        .call("default", "echo", json!({"args": {"blob": "small"}}))
        .await;
    assert_eq!(status, 200);
    server.stop().await;
}

/// Starts a slow call in the background; returns its task.
fn slow_call(
    server: &crate::support::Running,
    pool: &str,
) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
    let request = server
        .client
        .post(server.url(&format!("/v1/pools/{pool}/commands/progress")))
        .json(&json!({"args": {"steps": 10, "delay_ms": 100}}));
    tokio::spawn(request.send())
}

#[tokio::test(flavor = "multi_thread")]
async fn timeouts_saturation_and_an_open_circuit_have_their_status() {
    let mut circuit = CircuitConfig::default();
    circuit.failure_threshold = 1;
    circuit.reset_after = Duration::from_secs(60);
    let server = serve(vec![
        PoolDef::new(
            "narrow",
            "narrow",
            showcase(1)
                .max_queue(1)
                .queue_timeout(Duration::from_secs(30)),
        ),
        PoolDef::new(
            "hasty",
            "hasty",
            showcase(1).queue_timeout(Duration::from_millis(200)),
        ),
        PoolDef::new("fragile", "fragile", showcase(1).circuit(circuit)),
    ])
    .await;

    // The call's own deadline: 504 timeout.
    let (status, body) = server
        .call(
            "hasty",
            "progress",
            json!({"args": {"steps": 20, "delay_ms": 100}, "timeout_ms": 100}),
        )
        .await;
    assert_eq!((status, kind(&body)), (504, "timeout"));

    // Waiting too long for a worker: 504 queue_timeout.
    let pool = server.handle.pool("hasty").unwrap();
    assert!(
        eventually(Duration::from_secs(10), || async {
            pool.stats().available == 1
        })
        .await
    );
    let busy = slow_call(&server, "hasty");
    assert!(
        eventually(Duration::from_secs(10), || async {
            let stats = pool.stats();
            stats.busy == 1 && stats.requests == 2
        })
        .await
    );
    let (status, body) = server.call("hasty", "ping", json!({})).await;
    assert_eq!((status, kind(&body)), (504, "queue_timeout"));
    assert_eq!(busy.await.unwrap().unwrap().status(), 200);

    // A full queue: 429 pool_saturated with Retry-After.
    let first = slow_call(&server, "narrow");
    let pool = server.handle.pool("narrow").unwrap();
    assert!(eventually(Duration::from_secs(10), || async { pool.stats().busy == 1 }).await);
    let second = slow_call(&server, "narrow");
    assert!(
        eventually(Duration::from_secs(10), || async {
            pool.stats().queued == 1
        })
        .await
    );
    let response = server
        .client
        .post(server.url("/v1/pools/narrow/commands/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(kind(&body), "pool_saturated");
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
    assert_eq!(second.await.unwrap().unwrap().status(), 200);

    // One timeout opens this circuit; the next call is refused at once: 503 circuit_open.
    let (status, _) = server
        .call(
            "fragile",
            "progress",
            json!({"args": {"steps": 20, "delay_ms": 100}, "timeout_ms": 100}),
        )
        .await;
    assert_eq!(status, 504);
    let response = server
        .client
        .post(server.url("/v1/pools/fragile/commands/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(kind(&body), "circuit_open");
    server.stop().await;
}
