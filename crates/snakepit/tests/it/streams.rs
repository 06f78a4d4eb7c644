//! Streaming calls: chunks as they come, cancel on drop, backpressure, queueing, deadlines.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use snakepit::{CallStream, Error, StreamItem};

use crate::support;

/// Reads a stream to its end: the chunks, then the final result.
async fn collect(mut stream: CallStream) -> (Vec<Value>, snakepit::Result<Value>) {
    let mut chunks = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(StreamItem::Chunk(chunk)) => chunks.push(chunk),
            Ok(StreamItem::Done(result)) => return (chunks, Ok(result)),
            Err(err) => return (chunks, Err(err)),
        }
    }
    panic!("the stream ended without a result");
}

#[tokio::test]
async fn generators_async_generators_and_stream_send_all_stream_in_order() {
    let pool = support::fault_pool(1).await;
    // An async generator cannot return a value, so its final result is null.
    let cases = [
        ("count", "i", json!({"total": 5})),
        ("acount", "i", Value::Null),
        ("send_count", "n", json!({"total": 5})),
    ];
    for (tool, key, final_result) in cases {
        let stream = pool.execute_stream(tool, json!({"n": 5})).await.unwrap();
        let (chunks, result) = collect(stream).await;
        let expected: Vec<Value> = (0..5).map(|i| json!({key: i})).collect();
        assert_eq!(chunks, expected, "{tool}");
        assert_eq!(result.unwrap(), final_result, "{tool}");
    }
    // Called without streaming, a generator's chunks come back as a list.
    let listed = pool.execute("count", json!({"n": 3})).await.unwrap();
    assert_eq!(listed, json!({"total": 3}));
    pool.shutdown().await;
}

#[tokio::test]
async fn the_first_chunk_arrives_before_the_tool_finishes() {
    let pool = support::fault_pool(1).await;
    let mut stream = pool
        .execute_stream("count", json!({"n": 5, "delay_ms": 300}))
        .await
        .unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first, StreamItem::Chunk(json!({"i": 0})));
    // The worker is still running the tool: the rest of the chunks are yet to come.
    assert_eq!(pool.stats().busy, 1);
    let (rest, result) = collect(stream).await;
    assert_eq!(rest.len(), 4);
    assert_eq!(result.unwrap(), json!({"total": 5}));
    pool.shutdown().await;
}

#[tokio::test]
async fn dropping_a_stream_closes_the_generator_and_frees_the_worker() {
    let pool = support::fault_pool(1).await;
    let pid = pool.execute("pid", json!({})).await.unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let closed_file = scratch.path().join("closed");
    let mut stream = pool
        .execute_stream(
            "endless",
            json!({"delay_ms": 5, "closed_file": closed_file}),
        )
        .await
        .unwrap();
    for _ in 0..3 {
        assert!(matches!(
            stream.next().await,
            Some(Ok(StreamItem::Chunk(_)))
        ));
    }
    drop(stream);
    // The next call runs on the same worker: it was freed, not killed.
    assert_eq!(pool.execute("pid", json!({})).await.unwrap(), pid);
    assert!(
        closed_file.exists(),
        "the generator never saw GeneratorExit"
    );
    assert_eq!(pool.stats().restarts, 0);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_slow_consumer_makes_the_worker_wait() {
    let pool = support::fault_pool(1).await;
    let scratch = tempfile::tempdir().unwrap();
    let progress = scratch.path().join("progress");
    let args = json!({"n": 1000, "size": 65536, "progress_file": progress});
    let mut stream = pool.execute_stream("big_count", args).await.unwrap();
    assert!(matches!(
        stream.next().await,
        Some(Ok(StreamItem::Chunk(_)))
    ));
    let produced = || {
        std::fs::read_to_string(&progress)
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    // The producer runs until the buffers fill, then stalls.
    let filled = support::eventually(Duration::from_secs(10), || async { produced() >= 10 }).await;
    assert!(filled, "the producer never got going");
    // A slow consumer: one chunk every 5 ms. However long it takes, the producer is never
    // more than the buffers (16 chunks in the host, a socket's worth of 64 KiB chunks)
    // ahead of it.
    let mut slow_consumer = tokio::time::interval(Duration::from_millis(5));
    for consumed in 1..=40u64 {
        slow_consumer.tick().await;
        let ahead = produced().saturating_sub(consumed);
        assert!(
            ahead < 100,
            "the producer ran {ahead} chunks of 64 KiB ahead"
        );
        assert!(matches!(
            stream.next().await,
            Some(Ok(StreamItem::Chunk(_)))
        ));
    }
    // Reading on lets it finish.
    let (rest, result) = collect(stream).await;
    assert_eq!(rest.len(), 959);
    assert_eq!(result.unwrap(), json!({"total": 1000}));
    pool.shutdown().await;
}

#[tokio::test]
async fn a_stream_waits_in_the_queue_behind_a_busy_worker() {
    let pool = support::fault_pool(1).await;
    let busy = support::occupy(&pool, "sleep", json!({"seconds": 0.3})).await;
    let queued = {
        let pool = pool.clone();
        tokio::spawn(async move {
            collect(pool.execute_stream("count", json!({"n": 3})).await.unwrap()).await
        })
    };
    let waiting = support::eventually(Duration::from_secs(10), || async {
        pool.stats().queued == 1
    })
    .await;
    assert!(waiting, "the stream did not queue");
    busy.await.unwrap().unwrap();
    let (chunks, result) = queued.await.unwrap();
    assert_eq!(chunks.len(), 3);
    assert!(result.is_ok());
    let stats = pool.stats();
    assert_eq!((stats.requests, stats.errors), (2, 0));
    pool.shutdown().await;
}

#[tokio::test]
async fn a_stream_past_its_deadline_ends_with_a_timeout_and_the_worker_recovers() {
    let pool = support::fault_pool(1).await;
    let pid = pool.execute("pid", json!({})).await.unwrap();
    let options = support::Options::new().timeout(Duration::from_millis(300));
    let stream = support::stream_with(&pool, "endless", json!({"delay_ms": 20}), &options)
        .await
        .unwrap();
    let (chunks, result) = collect(stream).await;
    assert!(!chunks.is_empty());
    assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
    assert_eq!(pool.execute("pid", json!({})).await.unwrap(), pid);
    assert_eq!(pool.stats().timeouts, 1);
    pool.shutdown().await;
}

#[tokio::test]
async fn the_showcase_progress_and_batch_process_tools_stream() {
    let pool = support::builder(support::showcase_adapter(), 1)
        .start()
        .await
        .unwrap();
    let stream = pool
        .execute_stream("progress", json!({"steps": 4, "delay_ms": 1}))
        .await
        .unwrap();
    let (chunks, result) = collect(stream).await;
    let progress: Vec<f64> = chunks
        .iter()
        .map(|chunk| chunk["progress"].as_f64().unwrap())
        .collect();
    assert_eq!(progress, vec![25.0, 50.0, 75.0, 100.0]);
    assert_eq!(result.unwrap()["done"], json!(true));
    let stream = pool
        .execute_stream("batch_process", json!({"items": [1, 2, 3]}))
        .await
        .unwrap();
    let (chunks, result) = collect(stream).await;
    assert_eq!(chunks.len(), 3);
    assert_eq!(chunks[2]["progress"].as_f64().unwrap(), 100.0);
    assert_eq!(result.unwrap(), json!({"total": 3}));
    pool.shutdown().await;
}
