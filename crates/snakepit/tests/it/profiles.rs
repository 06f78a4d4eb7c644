//! The concurrent profile with the Python bridge at capacity 8: concurrent calls return to
//! their own callers, a cancel leaves the others running, streams, host calls and sessions
//! interleave, a non-thread-safe tool never overlaps itself, serial sessions (all of a
//! pool's, or one marked serial) run one call at a time, and a recycled worker drains its calls first.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt as _;
use serde_json::{Value, json};
use snakepit::tool::HostTool;
use snakepit::{Affinity, Error, Pool, Profile, RecycleConfig, StreamItem};

use crate::support;

const CAPACITY: usize = 8;

async fn concurrent_pool(size: usize) -> Pool {
    support::builder(support::fault_adapter(), size)
        .profile(Profile::concurrent(CAPACITY))
        .max_queue(2000)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_zero_capacity_or_a_capacity_set_by_environment_is_a_config_error() {
    let zero = support::builder(support::fault_adapter(), 1)
        .profile(Profile::concurrent(0))
        .start()
        .await;
    assert!(matches!(zero, Err(Error::Config(reason)) if reason.contains("capacity")));
    let by_env = support::builder(support::fault_adapter().env("SNAKEPIT_CAPACITY", "4"), 1)
        .start()
        .await;
    assert!(matches!(by_env, Err(Error::Config(reason)) if reason.contains("profile")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls_on_one_worker_each_return_to_their_caller() {
    let pool = concurrent_pool(1).await;
    let calls: Vec<_> = (0..1000)
        .map(|n| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let value = format!("payload-{n}-{}", n * 7919);
                let reply = pool
                    .execute("tag", json!({"value": value, "spin_ms": 0.2}))
                    .await
                    .unwrap();
                (value, reply)
            })
        })
        .collect();
    let mut threads = HashSet::new();
    for call in calls {
        let (value, reply) = call.await.unwrap();
        assert_eq!(reply["value"], Value::from(value));
        threads.insert(reply["thread"].as_str().unwrap().to_owned());
    }
    assert!(
        threads.len() > 1,
        "every call ran on one thread: {threads:?}"
    );
    assert!(threads.len() <= CAPACITY, "more threads than the capacity");
    assert_eq!(pool.stats().errors, 0);
    assert_eq!(pool.stats().restarts, 0);
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_one_concurrent_call_leaves_the_others_running() {
    let pool = concurrent_pool(1).await;
    let pid = pool
        .call("pid")
        .session("probe")
        .affinity(Affinity::StrictFailFast)
        .send()
        .await
        .unwrap();
    let others: Vec<_> = (0..CAPACITY - 1)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.execute("sleep", json!({"seconds": 6.0})).await })
        })
        .collect();
    let doomed = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.execute("sleep", json!({"seconds": 120.0})).await })
    };
    // A fail-fast call in a session the worker owns fails at once only when every place of
    // the worker is taken.
    let probe = || {
        pool.call("pid")
            .session("probe")
            .affinity(Affinity::StrictFailFast)
            .send()
    };
    let full = support::eventually(Duration::from_secs(10), || async {
        matches!(probe().await, Err(Error::SessionBusy { .. }))
    })
    .await;
    assert!(full, "the eight calls never filled the worker");
    let waiting = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.execute("pid", json!({})).await })
    };
    let queued = support::eventually(Duration::from_secs(10), || async {
        pool.stats().queued == 1
    })
    .await;
    assert!(queued, "the ninth call never queued: {:?}", pool.stats());
    doomed.abort();
    assert!(doomed.await.unwrap_err().is_cancelled());
    // The worker answers the cancel, which frees the place the waiting call gets, while the
    // other seven still sleep.
    let served = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the cancelled call's place never came back")
        .unwrap()
        .unwrap();
    assert_eq!(served, pid);
    assert!(
        others.iter().all(|call| !call.is_finished()),
        "the cancel ended other calls"
    );
    for call in others {
        assert_eq!(call.await.unwrap().unwrap(), json!({"slept": 6.0}));
    }
    assert_eq!(pool.stats().restarts, 0);
    assert_eq!(pool.execute("pid", json!({})).await.unwrap(), pid);
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_host_calls_and_sessions_interleave_at_capacity_eight() {
    let pool = concurrent_pool(1).await;
    pool.register_host_tool(HostTool::new(
        "add_numbers",
        "Add two numbers.",
        |_call, args: Value| async move {
            let a = args["a"].as_i64().ok_or("a must be an integer")?;
            let b = args["b"].as_i64().ok_or("b must be an integer")?;
            Ok(json!(a + b))
        },
    ));
    let mut tasks = Vec::new();
    for n in 0..24_i64 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            match n % 4 {
                0 => {
                    let mut stream = pool
                        .execute_stream("count", json!({"n": 20, "delay_ms": 2}))
                        .await
                        .unwrap();
                    let mut seen = Vec::new();
                    while let Some(item) = stream.next().await {
                        match item.unwrap() {
                            StreamItem::Chunk(chunk) => seen.push(chunk["i"].as_i64().unwrap()),
                            StreamItem::Done(_) => break,
                        }
                    }
                    assert_eq!(seen, (0..20).collect::<Vec<_>>());
                }
                1 => {
                    let sum = pool
                        .execute(
                            "host",
                            json!({"name": "add_numbers", "args": {"a": n, "b": 1000}}),
                        )
                        .await
                        .unwrap();
                    assert_eq!(sum, json!(n + 1000));
                }
                2 => {
                    let session = format!("s{n}");
                    for step in 0..5 {
                        pool.call("remember")
                            .args(&json!({"key": format!("k{step}"), "value": n * 10 + step}))
                            .unwrap()
                            .session(session.as_str())
                            .affinity(Affinity::StrictQueue)
                            .send()
                            .await
                            .unwrap();
                    }
                    let recalled = pool
                        .call("recall")
                        .args(&json!({"key": "k4"}))
                        .unwrap()
                        .session(session.as_str())
                        .affinity(Affinity::StrictQueue)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(recalled, json!(n * 10 + 4));
                }
                _ => {
                    let reply = pool
                        .execute("tag", json!({"value": n, "spin_ms": 1.0}))
                        .await
                        .unwrap();
                    assert_eq!(reply["value"], json!(n));
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let stats = pool.stats();
    assert_eq!((stats.errors, stats.restarts), (0, 0));
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_that_is_not_thread_safe_never_overlaps_itself() {
    let pool = concurrent_pool(1).await;
    let run = |tool: &'static str| {
        let calls: Vec<_> = (0..16)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.execute(tool, json!({"seconds": 0.05})).await })
            })
            .collect();
        async move {
            let mut most = 0;
            for call in calls {
                most = most.max(call.await.unwrap().unwrap().as_u64().unwrap());
            }
            most
        }
    };
    assert_eq!(
        run("exclusive").await,
        1,
        "a thread_safe=False tool overlapped"
    );
    assert!(
        run("overlapping").await > 1,
        "the control tool never overlapped"
    );
    pool.shutdown().await;
}

/// Six calls of `overlapping` (50 ms each) in `session` at once; resolves when all answered.
fn burst(pool: &Pool, session: &'static str) -> impl std::future::Future<Output = ()> {
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.call("overlapping")
                    .args(&json!({"seconds": 0.05}))
                    .unwrap()
                    .session(session)
                    .send()
                    .await
            })
        })
        .collect();
    async move {
        for call in calls {
            call.await.unwrap().unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_sessions_run_one_call_at_a_time_on_a_concurrent_worker() {
    let pool = support::builder(support::fault_adapter(), 1)
        .profile(Profile::concurrent(CAPACITY))
        .serial_sessions(true)
        .affinity(Affinity::StrictQueue)
        .start()
        .await
        .unwrap();
    let in_session = |session: &'static str| burst(&pool, session);
    in_session("only").await;
    // The tool reports the most calls of it ever seen at once, over the worker's life.
    let most = pool
        .execute("overlapping", json!({"seconds": 0.0}))
        .await
        .unwrap();
    assert_eq!(most, json!(1), "calls of one serial session overlapped");
    // Two sessions still run side by side on the one worker.
    futures_util::future::join(in_session("left"), in_session("right")).await;
    let most = pool
        .execute("overlapping", json!({"seconds": 0.0}))
        .await
        .unwrap();
    assert!(most.as_u64().unwrap() > 1, "two sessions never overlapped");
    // Fail-fast: a second call of a busy serial session fails at once.
    let busy = support::occupy_with(
        &pool,
        "sleep",
        json!({"seconds": 1.0}),
        support::Options::new().session("ff"),
    )
    .await;
    let refused = pool
        .call("pid")
        .session("ff")
        .affinity(Affinity::StrictFailFast)
        .send()
        .await;
    assert!(
        matches!(refused, Err(Error::SessionBusy { .. })),
        "{refused:?}"
    );
    busy.await.unwrap().unwrap();
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_serial_session_runs_one_call_at_a_time_while_others_overlap() {
    let pool = support::builder(support::fault_adapter(), 1)
        .profile(Profile::concurrent(CAPACITY))
        .affinity(Affinity::StrictQueue)
        .start()
        .await
        .unwrap();
    assert!(pool.sessions().set_serial("unknown", true).is_err());
    pool.sessions().create("serial", None).unwrap();
    pool.sessions().set_serial("serial", true).unwrap();
    assert!(pool.sessions().get("serial").unwrap().serial());
    let burst = |session: &'static str| burst(&pool, session);
    burst("serial").await;
    let most = pool
        .execute("overlapping", json!({"seconds": 0.0}))
        .await
        .unwrap();
    assert_eq!(most, json!(1), "calls of the serial session overlapped");
    // A session without the flag overlaps on the same worker.
    burst("free").await;
    let most = pool
        .execute("overlapping", json!({"seconds": 0.0}))
        .await
        .unwrap();
    assert!(
        most.as_u64().unwrap() > 1,
        "calls of an ordinary session never overlapped"
    );
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recycled_concurrent_worker_finishes_all_its_calls_before_it_stops() {
    let mut recycle = RecycleConfig::default();
    recycle.max_requests = Some(2);
    recycle.jitter = 0.0;
    let pool = support::builder(support::fault_adapter(), 1)
        .profile(Profile::concurrent(4))
        .recycle(recycle)
        .start()
        .await
        .unwrap();
    let old_pid = pool.execute("pid", json!({})).await.unwrap();
    // The first to answer is the worker's second call: it is due for recycling while the
    // other three still run on it.
    let calls: Vec<_> = [0.05, 1.0, 1.0, 1.0]
        .into_iter()
        .map(|seconds| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.execute("sleep", json!({"seconds": seconds})).await })
        })
        .collect();
    for call in calls {
        call.await
            .unwrap()
            .expect("a call of the recycled worker was cut off");
    }
    let recycled = support::eventually(Duration::from_secs(30), || async {
        pool.stats().recycled >= 1
    })
    .await;
    assert!(
        recycled,
        "the worker was never recycled: {:?}",
        pool.stats()
    );
    assert_ne!(pool.execute("pid", json!({})).await.unwrap(), old_pid);
    assert_eq!(pool.stats().errors, 0);
    pool.shutdown().await;
}
