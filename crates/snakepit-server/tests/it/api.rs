//! The API end to end: calls, streams, sessions and variables, tools, stats, health, metrics.

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::support::serve_default;

#[tokio::test(flavor = "multi_thread")]
async fn a_call_answers_its_result_and_a_correlation_id() {
    let server = serve_default(2).await;
    let (status, body) = server
        .call(
            "default",
            "compute",
            json!({"args": {"operation": "multiply", "a": 6, "b": 7}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"].as_f64(), Some(42.0), "{body}");

    let response = server
        .client
        .post(server.url("/v1/pools/default/commands/echo"))
        .header("x-correlation-id", "req-17")
        .header("x-snakepit-idempotent", "true")
        .body(r#"{"args": {"n": 17}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-correlation-id"], "req-17");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"]["n"], 17);

    // An empty body is a call without arguments.
    let response = server
        .client
        .post(server.url("/v1/pools/default/commands/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-correlation-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"]["status"], "ok");
    server.stop().await;
}

/// Reads a whole SSE response into `(event, data)` pairs.
async fn sse(response: reqwest::Response) -> Vec<(String, Value)> {
    let mut text = String::new();
    let mut bytes = response.bytes_stream();
    while let Some(piece) = bytes.next().await {
        text.push_str(&String::from_utf8_lossy(&piece.unwrap()));
    }
    text.split("\n\n")
        .filter_map(|block| {
            let event = block
                .lines()
                .find_map(|line| line.strip_prefix("event: "))?;
            let data = block.lines().find_map(|line| line.strip_prefix("data: "))?;
            Some((event.to_owned(), serde_json::from_str(data).unwrap()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_sends_each_chunk_then_the_result() {
    let server = serve_default(1).await;
    let response = server
        .client
        .post(server.url("/v1/pools/default/commands/progress/stream"))
        .json(&json!({"args": {"steps": 4, "delay_ms": 5}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = sse(response).await;
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["chunk", "chunk", "chunk", "chunk", "result"]);
    let steps: Vec<i64> = events[..4]
        .iter()
        .map(|(_, data)| data["step"].as_i64().unwrap())
        .collect();
    assert_eq!(steps, [1, 2, 3, 4]);
    assert_eq!(events[4].1["result"], json!({"steps": 4, "done": true}));

    // A stream that fails after it started ends with an `error` event.
    let response = server
        .client
        .post(server.url("/v1/pools/default/commands/progress/stream"))
        .json(&json!({"args": {"steps": 50, "delay_ms": 100}, "timeout_ms": 300}))
        .send()
        .await
        .unwrap();
    let events = sse(response).await;
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(data["error"]["kind"], "timeout");
    assert_eq!(data["error"]["status"], 504);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_and_their_variables_are_managed_over_http() {
    let server = serve_default(2).await;
    let base = "/v1/pools/default/sessions";
    let created = server
        .client
        .put(server.url(&format!("{base}/s1")))
        .json(&json!({"ttl_ms": 60_000}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let again = server
        .client
        .put(server.url(&format!("{base}/s1")))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    assert_eq!(
        again.json::<Value>().await.unwrap()["error"]["kind"],
        "session_exists"
    );

    let (status, body) = server.get(base).await;
    assert_eq!((status, body), (200, json!({"sessions": ["s1"]})));

    // A call in the session binds it to a worker.
    let (status, _) = server
        .call("default", "ping", json!({"session": "s1"}))
        .await;
    assert_eq!(status, 200);
    let (status, info) = server.get(&format!("{base}/s1")).await;
    assert_eq!(status, 200);
    assert_eq!(info["id"], "s1");
    assert_eq!(info["ttl_ms"], 60_000);
    assert!(info["owner"].is_string(), "{info}");

    let variable = format!("{base}/s1/variables/temperature");
    let registered = server
        .client
        .put(server.url(&variable))
        .json(&json!({"type": "float", "value": 0.5, "constraints": {"min": 0.0, "max": 1.0}}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let updated = server
        .client
        .patch(server.url(&variable))
        .json(&json!({"value": 0.9}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    assert_eq!(updated.json::<Value>().await.unwrap()["version"], 1);
    let refused = server
        .client
        .patch(server.url(&variable))
        .json(&json!({"value": 3.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"]["kind"],
        "invalid_variable"
    );
    let (status, listed) = server.get(&format!("{base}/s1/variables")).await;
    assert_eq!(status, 200);
    assert_eq!(listed["variables"][0]["value"], 0.9);

    let deleted = server
        .client
        .delete(server.url(&format!("{base}/s1")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let (status, body) = server.get(&format!("{base}/s1")).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["kind"], "session_not_found");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pools_tools_stats_health_and_metrics_describe_the_server() {
    let server = serve_default(2).await;
    let (status, pools) = server.get("/v1/pools").await;
    assert_eq!(status, 200);
    assert_eq!(pools["pools"][0]["name"], "default");
    assert_eq!(pools["pools"][0]["workers"], 2);

    let (status, tools) = server.get("/v1/pools/default/tools").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"compute") && names.contains(&"progress"),
        "{names:?}"
    );

    for _ in 0..3 {
        server.call("default", "ping", json!({})).await;
    }
    let (status, stats) = server.get("/v1/pools/default/stats").await;
    assert_eq!(status, 200);
    assert_eq!(stats["stats"]["requests"], 3);
    assert_eq!(stats["latency"]["window_calls"], 3);
    assert_eq!(stats["workers"].as_array().unwrap().len(), 2);
    assert!(stats["workers"][0]["rss_bytes"].as_u64().unwrap() > 0);

    assert_eq!(server.get("/healthz").await.0, 200);
    let (status, ready) = server.get("/readyz").await;
    assert_eq!((status, &ready["ready"]), (200, &json!(true)));

    let response = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let metrics = response.text().await.unwrap();
    let scrape = prometheus_parse::Scrape::parse(metrics.lines().map(|line| Ok(line.to_owned())))
        .expect("the exposition parses");
    let value = |name: &str, labels: &[(&str, &str)]| {
        scrape
            .samples
            .iter()
            .find(|sample| {
                sample.metric == name
                    && labels
                        .iter()
                        .all(|(key, value)| sample.labels.get(key) == Some(*value))
            })
            .map(|sample| match sample.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
    };
    let calls = value(
        "snakepit_calls_total",
        &[("pool", "default"), ("command", "ping"), ("outcome", "ok")],
    );
    assert_eq!(calls, Some(3.0), "{metrics}");
    assert!(
        metrics.contains("snakepit_call_duration_seconds_bucket{"),
        "{metrics}"
    );

    let openapi = server.get("/openapi.json").await.1;
    assert_eq!(openapi["openapi"], "3.0.3");
    server.stop().await;
}
