//! Metrics: the values after a known workload, read back from the Prometheus text, which a
//! real parser must accept; latency percentiles in stats.

use std::time::Duration;

use serde_json::json;

use crate::support;
use crate::telemetry::telemetry_adapter;

/// The value of the sample `name` whose labels include every pair of `labels`.
fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|sample| sample.metric == name)
        .find(|sample| {
            labels
                .iter()
                .all(|(key, want)| sample.labels.get(key) == Some(*want))
        })
        .map(|sample| match &sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(buckets) => {
                buckets.last().map_or(f64::NAN, |bucket| bucket.count)
            }
            prometheus_parse::Value::Summary(_) => f64::NAN,
        })
}

fn scrape() -> prometheus_parse::Scrape {
    let text = snakepit::telemetry::prometheus::render().unwrap();
    let lines = text.lines().map(|line| Ok(line.to_owned()));
    prometheus_parse::Scrape::parse(lines).expect("the exposition parses")
}

#[tokio::test]
async fn metrics_after_a_known_workload_and_the_text_parses() {
    snakepit::telemetry::prometheus::install().unwrap();
    let pool = support::builder(telemetry_adapter(), 2)
        .instance_name("metrics-workload")
        .start()
        .await
        .unwrap();
    let (ok, failed): (u32, u32) = (10, 3);
    for n in 0..ok {
        assert_eq!(
            pool.execute("add", json!({"a": n, "b": 1})).await.unwrap(),
            json!(n + 1)
        );
    }
    for _ in 0..failed {
        assert!(pool.execute("fail", json!({})).await.is_err());
    }
    let pool_label = ("pool", "metrics-workload");
    let scraped = scrape();
    let calls = |command, outcome| {
        value(
            &scraped,
            "snakepit_calls_total",
            &[pool_label, ("command", command), ("outcome", outcome)],
        )
    };
    assert_eq!(calls("add", "ok"), Some(f64::from(ok)));
    assert_eq!(calls("fail", "tool_error"), Some(f64::from(failed)));
    let errors = value(
        &scraped,
        "snakepit_call_errors_total",
        &[pool_label, ("kind", "tool_error")],
    );
    assert_eq!(errors, Some(f64::from(failed)));
    let durations = value(
        &scraped,
        "snakepit_call_duration_seconds_count",
        &[pool_label, ("command", "add"), ("outcome", "ok")],
    );
    assert_eq!(durations, Some(f64::from(ok)));
    let waits = value(&scraped, "snakepit_queue_wait_seconds_count", &[pool_label]);
    assert_eq!(waits, Some(f64::from(ok + failed)));
    // The gauges are sampled every second.
    let sampled = support::eventually(Duration::from_secs(5), || async {
        value(&scrape(), "snakepit_workers", &[pool_label]) == Some(2.0)
    })
    .await;
    assert!(
        sampled,
        "{}",
        snakepit::telemetry::prometheus::render().unwrap()
    );
    let stats = pool.stats();
    assert_eq!(stats.latency.count, u64::from(ok + failed));
    let (p50, p99) = (stats.latency.p50.unwrap(), stats.latency.p99.unwrap());
    assert!(p50 > Duration::ZERO && p50 <= p99, "{:?}", stats.latency);
    pool.shutdown().await;
}

#[tokio::test]
async fn each_workers_resident_memory_is_sampled() {
    snakepit::telemetry::prometheus::install().unwrap();
    let pool = support::builder(telemetry_adapter(), 2)
        .instance_name("metrics-rss")
        .start()
        .await
        .unwrap();
    let sampled = support::eventually(Duration::from_secs(10), || async {
        let scraped = scrape();
        scraped
            .samples
            .iter()
            .filter(|sample| {
                sample.metric == "snakepit_worker_rss_bytes"
                    && sample.labels.get("pool") == Some("metrics-rss")
            })
            .filter(|sample| {
                matches!(sample.value, prometheus_parse::Value::Gauge(bytes) if bytes > 1_000_000.0)
            })
            .count()
            == 2
    })
    .await;
    assert!(sampled, "no RSS gauge for each of the 2 workers");
    pool.shutdown().await;
}
