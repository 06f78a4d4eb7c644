//! Input that is deep or huge, workers that stop reading or die at awkward moments, and
//! sessions that must not starve ordinary calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use snakepit::{Affinity, Error, MAX_DEPTH, RecycleConfig};

use crate::support;

/// A list nested `depth` levels deep, built without recursion.
fn nested(depth: usize) -> Value {
    let mut value = json!(1);
    for _ in 0..depth {
        value = Value::Array(vec![value]);
    }
    value
}

/// Drops a deeply nested value level by level (a plain drop would recurse).
fn unnest(mut value: Value) {
    while let Value::Array(mut items) = value {
        value = items.pop().unwrap_or(Value::Null);
    }
}

fn depth_of(mut value: &Value) -> usize {
    let mut depth = 0;
    while let Value::Array(items) = value {
        depth += 1;
        value = &items[0];
    }
    depth
}

#[tokio::test]
async fn deeply_nested_arguments_are_refused_before_they_are_sent() {
    let pool = support::builder(support::native_worker(), 1)
        .start()
        .await
        .unwrap();
    let refused = pool.call("echo").json(nested(100_000)).send().await;
    match &refused {
        Err(Error::InvalidCall { reason, .. }) => {
            assert!(reason.contains(&MAX_DEPTH.to_string()), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Arguments within the limit still go through.
    let within = json!({"value": nested(MAX_DEPTH - 2)});
    let echoed = pool.execute("echo", within).await.unwrap();
    assert_eq!(depth_of(&echoed["value"]), MAX_DEPTH - 2);
    unnest(echoed);
    assert_eq!(pool.stats().restarts, 0);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_deep_result_arrives_up_to_the_limit_and_fails_alone_past_it() {
    let pool = support::builder(support::native_worker(), 1)
        .start()
        .await
        .unwrap();
    let pid = pool.execute("pid", json!({})).await.unwrap();
    for depth in [200, MAX_DEPTH] {
        let result = pool.execute("deep", json!({"depth": depth})).await.unwrap();
        assert_eq!(depth_of(&result), depth);
        unnest(result);
    }
    for depth in [MAX_DEPTH + 1, 50_000] {
        let refused = pool.execute("deep", json!({"depth": depth})).await;
        assert!(
            matches!(refused, Err(Error::TooDeep { limit, .. }) if limit == MAX_DEPTH),
            "{refused:?}"
        );
    }
    // The worker was not killed: the frame itself was well-formed.
    assert_eq!(pool.execute("pid", json!({})).await.unwrap(), pid);
    assert_eq!(pool.stats().restarts, 0);
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_bounds_the_send_to_a_worker_that_does_not_read() {
    let pool = support::builder(support::native_worker(), 1)
        .start()
        .await
        .unwrap();
    pool.execute("stall", json!({"seconds": 30})).await.unwrap();
    let big = "x".repeat(8 * 1024 * 1024);
    let started = Instant::now();
    let outcome = pool
        .call("echo")
        .json(json!({"value": big}))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    let waited = started.elapsed();
    assert!(matches!(outcome, Err(Error::Timeout { .. })), "{outcome:?}");
    assert!(
        waited < Duration::from_secs(5),
        "the send outlived its deadline: {waited:?}"
    );
    // Half a frame is on the link: the worker is killed and replaced.
    let replaced = support::eventually(Duration::from_secs(20), || async {
        pool.stats().restarts == 1 && pool.stats().available == 1
    })
    .await;
    assert!(replaced, "{:?}", pool.stats());
    assert!(pool.execute("pid", json!({})).await.is_ok());
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_that_die_while_being_recycled_are_replaced_once() {
    let scratch = tempfile::tempdir().unwrap();
    let delay_file = scratch.path().join("start-delay");
    let mut recycle = RecycleConfig::default();
    recycle.max_requests = Some(1);
    recycle.jitter = 0.0;
    let adapter =
        support::native_worker().env("NATIVE_WORKER_START_DELAY_FILE", delay_file.as_os_str());
    let pool = support::builder(adapter, 2)
        .recycle(recycle)
        .start()
        .await
        .unwrap();
    let old = pool.worker_pids();
    // From now on workers start slowly; one call on each makes both due for recycling.
    std::fs::write(&delay_file, "1.0").unwrap();
    let calls: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.execute("echo", json!({"sleep": 0.2})).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    // Both replacements are starting; their old workers die meanwhile.
    for pid in &old {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(*pid).unwrap()),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
    }
    let forgotten = support::eventually(Duration::from_secs(10), || async {
        pool.worker_pids().iter().all(|pid| !old.contains(pid))
    })
    .await;
    assert!(forgotten, "workers: {:?}", pool.worker_pids());
    std::fs::remove_file(&delay_file).unwrap();
    let replaced = support::eventually(Duration::from_secs(20), || async {
        let pids = pool.worker_pids();
        pids.iter().all(|pid| !old.contains(pid)) && pool.stats().available == 2
    })
    .await;
    assert!(
        replaced,
        "workers: {:?} {:?}",
        pool.worker_pids(),
        pool.stats()
    );
    // One replacement per slot, the recycle's: no crash replacement on top of it.
    assert_eq!(pool.worker_pids().len(), 2, "{:?}", pool.worker_pids());
    let stats = pool.stats();
    assert_eq!(
        (stats.workers, stats.recycled, stats.restarts),
        (2, 2, 0),
        "{stats:?}"
    );
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_strict_session_does_not_starve_ordinary_calls() {
    let pool = support::builder(support::native_worker(), 1)
        .affinity(Affinity::StrictQueue)
        .start()
        .await
        .unwrap();
    pool.execute_in_session("s", "pid", json!({}))
        .await
        .unwrap();
    let finished = Arc::new(AtomicUsize::new(0));
    let session_calls: Vec<_> = (0..20)
        .map(|_| {
            let pool = pool.clone();
            let finished = Arc::clone(&finished);
            tokio::spawn(async move {
                pool.execute_in_session("s", "echo", json!({"sleep": 0.02}))
                    .await
                    .unwrap();
                finished.fetch_add(1, Ordering::SeqCst)
            })
        })
        .collect();
    let queued = support::eventually(Duration::from_secs(10), || async {
        pool.stats().queued >= 15
    })
    .await;
    assert!(queued, "{:?}", pool.stats());
    let plain = {
        let pool = pool.clone();
        let finished = Arc::clone(&finished);
        tokio::spawn(async move {
            pool.execute("echo", json!({})).await.unwrap();
            finished.fetch_add(1, Ordering::SeqCst)
        })
    };
    let plain_rank = plain.await.unwrap();
    for call in session_calls {
        call.await.unwrap();
    }
    assert!(
        plain_rank <= 8,
        "the plain call finished {plain_rank}th, behind the session's later calls"
    );
    pool.shutdown().await;
}
