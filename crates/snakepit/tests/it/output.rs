//! Worker output cannot grow the host: a worker printing a huge line without a newline
//! costs the host a bounded buffer, and the pool keeps answering meanwhile.

use std::time::Duration;

use serde_json::json;

use crate::support;

/// A `kB` field of this process's `/proc/self/status` (`VmRSS`, `VmHWM`), in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kib: u64 = line.split_whitespace().next().unwrap().parse().unwrap();
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_printing_128_mib_without_newline_does_not_grow_the_host() {
    const FLOOD_MIB: u64 = 128;
    let pool = support::fault_pool(2).await;
    for n in 0..4 {
        assert_eq!(
            pool.execute("add", json!({"a": n, "b": 1})).await.unwrap(),
            json!(n + 1)
        );
    }
    let rss_before = status_bytes("VmRSS");
    let peak_before = status_bytes("VmHWM");

    let flood = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.execute("flood", json!({"mb": FLOOD_MIB})).await })
    };
    // The other worker keeps answering while the flood goes on.
    let mut answered = 0;
    while !flood.is_finished() {
        let sum = tokio::time::timeout(
            Duration::from_secs(30),
            pool.execute("add", json!({"a": answered, "b": 2})),
        )
        .await
        .expect("a call waited behind the flood")
        .unwrap();
        assert_eq!(sum, json!(answered + 2));
        answered += 1;
    }
    assert_eq!(flood.await.unwrap().unwrap(), json!(FLOOD_MIB));
    assert!(answered > 0, "no call ran while the worker flooded");

    let rss_growth = status_bytes("VmRSS").saturating_sub(rss_before);
    let peak_growth = status_bytes("VmHWM").saturating_sub(peak_before);
    let limit = 16 * 1024 * 1024;
    assert!(
        rss_growth < limit && peak_growth < limit,
        "the host grew by {rss_growth} bytes (peak by {peak_growth}) for a {FLOOD_MIB} MiB line"
    );
    pool.shutdown().await;
}
