//! `/v1/events`: a snapshot first, then call and worker events as they happen.

use std::time::Duration;

use futures_util::StreamExt;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

use crate::support::serve_default;

/// Reads SSE events from `response` until `done` holds for one, or 20 s pass.
async fn read_until(
    bytes: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buffer: &mut String,
    mut done: impl FnMut(&str, &Value) -> bool,
) -> Vec<(String, Value)> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let event = block.lines().find_map(|line| line.strip_prefix("event: "));
            let data = block.lines().find_map(|line| line.strip_prefix("data: "));
            if let (Some(event), Some(data)) = (event, data) {
                let data: Value = serde_json::from_str(data).unwrap();
                let stop = done(event, &data);
                seen.push((event.to_owned(), data));
                if stop {
                    return seen;
                }
            }
        }
        let piece = tokio::time::timeout_at(deadline, bytes.next())
            .await
            .expect("the awaited event arrives in time")
            .expect("the stream goes on")
            .unwrap();
        buffer.push_str(&String::from_utf8_lossy(&piece));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn events_report_calls_and_a_killed_worker_replaced() {
    let server = serve_default(2).await;
    let response = server
        .client
        .get(server.url("/v1/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut bytes = response.bytes_stream();
    let mut buffer = String::new();

    let first = read_until(&mut bytes, &mut buffer, |_, _| true).await;
    assert_eq!(first[0].0, "snapshot");
    let pool = &first[0].1["pools"][0];
    assert_eq!(pool["name"], "default");
    assert_eq!(pool["workers"].as_array().unwrap().len(), 2);

    let (status, _) = server
        .call("default", "ping", json!({"correlation_id": "watched"}))
        .await;
    assert_eq!(status, 200);
    let seen = read_until(&mut bytes, &mut buffer, |name, data| {
        name == "call" && data["correlation_id"] == "watched"
    })
    .await;
    let (_, call) = seen.last().unwrap();
    assert_eq!(call["ok"], true);
    assert_eq!(call["command"], "ping");

    let victim = server.handle.pool("default").unwrap().worker_pids()[0];
    kill(
        Pid::from_raw(i32::try_from(victim).unwrap()),
        Signal::SIGKILL,
    )
    .unwrap();
    let mut exited = false;
    read_until(&mut bytes, &mut buffer, |name, data| {
        if name == "worker" && data["pid"] == victim && data["change"] == "exited" {
            exited = true;
        }
        exited
            && name == "snapshot"
            && data["pools"][0]["stats"]["restarts"] == 1
            && data["pools"][0]["workers"].as_array().unwrap().len() == 2
    })
    .await;
    drop(bytes);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pools_own_events_carry_the_requests_correlation_id() {
    let server = serve_default(1).await;
    let response = server
        .client
        .get(server.url("/v1/events"))
        .send()
        .await
        .unwrap();
    let mut bytes = response.bytes_stream();
    let mut buffer = String::new();
    read_until(&mut bytes, &mut buffer, |name, _| name == "snapshot").await;

    let response = server
        .client
        .post(server.url("/v1/pools/default/commands/ping"))
        .header("x-correlation-id", "from-the-header")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, _) = server
        .call(
            "default",
            "ping",
            json!({"correlation_id": "from-the-body"}),
        )
        .await;
    assert_eq!(status, 200);
    let mut finished = Vec::new();
    read_until(&mut bytes, &mut buffer, |name, data| {
        if name == "pool" && data["event"] == "snakepit.request.executed" {
            assert_eq!(data["pool"], "default");
            assert_eq!(data["command"], "ping");
            assert_eq!(data["outcome"], "ok");
            finished.push(data["correlation_id"].as_str().unwrap().to_owned());
        }
        finished.len() == 2
    })
    .await;
    assert_eq!(finished, ["from-the-header", "from-the-body"]);
    drop(bytes);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stats_report_each_worker_from_the_library_snapshot() {
    let server = serve_default(2).await;
    for _ in 0..3 {
        let (status, _) = server.call("default", "ping", json!({})).await;
        assert_eq!(status, 200);
    }
    let stats: Value = server
        .client
        .get(server.url("/v1/pools/default/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let workers = stats["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2);
    let pids = server.handle.pool("default").unwrap().worker_pids();
    let mut served = 0;
    for worker in workers {
        assert!(pids.contains(&u32::try_from(worker["pid"].as_u64().unwrap()).unwrap()));
        assert_eq!(worker["state"], "ready");
        assert_eq!(worker["current_command"], "idle");
        assert!(
            worker["rss_bytes"].as_u64().unwrap() > 1024 * 1024,
            "{worker}"
        );
        assert!(worker["age_s"].as_f64().unwrap() >= 0.0);
        assert_eq!(worker["capacity"], 1);
        assert_eq!(worker["load"], 0);
        served += worker["calls_served"].as_u64().unwrap();
    }
    assert_eq!(served, 3);
    assert!(stats["latency"]["p50_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(stats["latency"]["window_calls"], 3);
    server.stop().await;
}
