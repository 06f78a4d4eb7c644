//! `Pool::workers`: each worker's pid, state, running commands, calls served, memory, age,
//! capacity and load, as the pool sees them now.

use std::time::Duration;

use serde_json::json;
use snakepit::{Pool, WorkerState};

use crate::support;

/// Polls the snapshot until `check` holds for it (or 20 s pass).
async fn until(pool: &Pool, what: &str, check: impl Fn(&[snakepit::WorkerSnapshot]) -> bool) {
    let held = support::eventually(Duration::from_secs(20), || {
        let workers = pool.workers();
        let held = check(&workers);
        async move { held }
    })
    .await;
    assert!(held, "{what}: {:#?}", pool.workers());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_shows_each_workers_running_command_and_counts() {
    let pool = support::builder(support::showcase_adapter(), 2)
        .start()
        .await
        .unwrap();
    let workers = pool.workers();
    assert_eq!(workers.len(), 2);
    let mut pids: Vec<u32> = workers.iter().map(|worker| worker.pid).collect();
    pids.sort_unstable();
    assert_eq!(pids, pool.worker_pids());
    for worker in &workers {
        assert_eq!(worker.state, WorkerState::Ready);
        assert!(worker.running.is_empty());
        assert_eq!(
            (worker.capacity, worker.load, worker.calls_served),
            (1, 0, 0)
        );
        assert!(worker.started_at <= std::time::SystemTime::now());
    }

    for _ in 0..3 {
        pool.execute("ping", json!({})).await.unwrap();
    }
    let slow = {
        let pool = pool.clone();
        tokio::spawn(async move {
            pool.execute("progress", json!({"steps": 20, "delay_ms": 100}))
                .await
        })
    };
    until(&pool, "one worker runs `progress`", |workers| {
        workers
            .iter()
            .any(|worker| worker.running == ["progress"] && worker.load == 1)
    })
    .await;
    let idle = pool
        .workers()
        .into_iter()
        .find(|worker| worker.running.is_empty())
        .expect("the other worker is idle");
    assert_eq!(idle.load, 0);
    slow.await.unwrap().unwrap();
    until(&pool, "calls served and memory sampled", |workers| {
        workers
            .iter()
            .map(|worker| worker.calls_served)
            .sum::<u64>()
            == 4
            && workers
                .iter()
                .all(|worker| worker.rss_bytes.is_some_and(|bytes| bytes > 1024 * 1024))
            && workers.iter().all(|worker| worker.running.is_empty())
    })
    .await;
    pool.shutdown().await;
    assert!(
        pool.workers()
            .iter()
            .all(|worker| worker.state == WorkerState::Exited),
        "{:#?}",
        pool.workers()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_of_capacity_three_lists_every_call_it_runs() {
    let pool = support::builder(support::native_worker(), 1)
        .profile(snakepit::Profile::concurrent(3))
        .start()
        .await
        .unwrap();
    let calls: Vec<_> = (0..2)
        .map(|n| {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.execute("echo", json!({"value": n, "sleep": 2.0}))
                    .await
            })
        })
        .collect();
    until(&pool, "two echo calls on the one worker", |workers| {
        workers.len() == 1
            && workers[0].running == ["echo", "echo"]
            && workers[0].load == 2
            && workers[0].capacity == 3
    })
    .await;
    for call in calls {
        call.await.unwrap().unwrap();
    }
    until(&pool, "both served", |workers| {
        workers[0].calls_served == 2 && workers[0].running.is_empty()
    })
    .await;
    pool.shutdown().await;
}
