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
