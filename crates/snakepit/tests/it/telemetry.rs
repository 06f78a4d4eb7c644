//! Telemetry: each event once per occurrence with its fields, correlation ids end to end, a
//! slow subscriber that lags without slowing calls, and events from Python tools.

use std::time::Duration;

use serde_json::json;
use snakepit::telemetry::{CallOutcome, CorrelationId, Event, Events, Received};
use snakepit::{CircuitConfig, Error, ExitClass, PythonAdapter, RecycleConfig};

use crate::support;

/// The telemetry test adapter.
pub(crate) fn telemetry_adapter() -> PythonAdapter {
    PythonAdapter::new("telemetry_adapter:TelemetryAdapter")
        .python(support::python())
        .python_path(support::repo_root().join("crates/snakepit/tests/it/fixtures"))
}

/// Every event waiting now, failing on a lag.
fn drain(events: &mut Events) -> Vec<Event> {
    let mut seen = Vec::new();
    while let Some(received) = events.try_recv() {
        match received {
            Received::Event(event) => seen.push(event),
            other => panic!("lost events: {other:?}"),
        }
    }
    seen
}

/// Collects events until `done` holds of what was collected, or fails after 10 s.
async fn collect_until(events: &mut Events, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done(&seen) {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(Received::Event(event))) => seen.push(event),
            Ok(other) => panic!("unexpected: {other:?}"),
            Err(_) => panic!("timed out; events so far: {seen:#?}"),
        }
    }
    seen
}

fn count(events: &[Event], name: &str) -> usize {
    events.iter().filter(|event| event.name() == name).count()
}

#[tokio::test]
async fn a_crash_is_reported_once_with_its_class_and_the_replacement_starts() {
    let pool = support::fault_pool(1).await;
    let mut events = pool.events();
    let err = pool
        .call("crash_exit")
        .json(json!({"code": 3}))
        .correlation_id("crash-1")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WorkerExited { .. }), "{err:?}");
    let seen = collect_until(&mut events, |seen| {
        count(seen, "snakepit.pool.worker.ready") == 1
    })
    .await;
    support::assert_full_size(&pool, 1).await;
    let mut seen = seen;
    seen.extend(drain(&mut events));
    assert_eq!(
        count(&seen, "snakepit.pool.worker.terminated"),
        1,
        "{seen:#?}"
    );
    assert_eq!(count(&seen, "snakepit.pool.worker.spawned"), 1, "{seen:#?}");
    assert_eq!(count(&seen, "snakepit.request.executed"), 1, "{seen:#?}");
    let exited = seen.iter().find_map(|event| match event {
        Event::WorkerExited { exit, .. } => Some(*exit),
        _ => None,
    });
    assert_eq!(exited, Some(Some(ExitClass::ExitCode(3))));
    let finished = seen.iter().find_map(|event| match event {
        Event::CallFinished {
            correlation_id,
            outcome,
            command,
            worker,
            ..
        } => Some((correlation_id.clone(), *outcome, command.clone(), *worker)),
        _ => None,
    });
    let (correlation, outcome, command, worker) = finished.unwrap();
    assert_eq!(correlation, CorrelationId::from("crash-1"));
    assert_eq!(outcome, CallOutcome::WorkerExited);
    assert_eq!(command, "crash_exit");
    assert!(worker.is_some());
    let ready = seen.iter().find_map(|event| match event {
        Event::WorkerReady { start_duration, .. } => Some(*start_duration),
        _ => None,
    });
    assert!(ready.unwrap() > Duration::ZERO);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_recycle_is_reported_once() {
    let mut recycle = RecycleConfig::default();
    recycle.max_requests = Some(2);
    recycle.jitter = 0.0;
    let pool = support::builder(support::fault_adapter(), 1)
        .recycle(recycle)
        .start()
        .await
        .unwrap();
    let mut events = pool.events();
    for _ in 0..2 {
        pool.execute("pid", json!({})).await.unwrap();
    }
    let seen = collect_until(&mut events, |seen| {
        count(seen, "snakepit.pool.worker.recycled") == 1
            && count(seen, "snakepit.pool.worker.terminated") == 1
    })
    .await;
    let recycled = seen.iter().find_map(|event| match event {
        Event::WorkerRecycled {
            worker,
            replacement,
            reason,
            ..
        } => Some((*worker, *replacement, *reason)),
        _ => None,
    });
    let (old, fresh, reason) = recycled.unwrap();
    assert_ne!(old, fresh);
    assert_eq!(reason, "request count");
    support::assert_full_size(&pool, 1).await;
    let mut seen = seen;
    seen.extend(drain(&mut events));
    assert_eq!(
        count(&seen, "snakepit.pool.worker.recycled"),
        1,
        "{seen:#?}"
    );
    assert_eq!(pool.stats().recycled, 1);
    pool.shutdown().await;
}

#[tokio::test]
async fn timeouts_saturation_and_queue_timeouts_are_reported_once_each() {
    let pool = support::builder(support::fault_adapter(), 1)
        .max_queue(1)
        .queue_timeout(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    let mut events = pool.events();
    let err = pool
        .call("sleep")
        .json(json!({"seconds": 5}))
        .timeout(Duration::from_millis(100))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    support::assert_full_size(&pool, 1).await;
    let blocker = support::occupy(&pool, "sleep", json!({"seconds": 1.0})).await;
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.execute("pid", json!({})).await })
    };
    let queued = support::eventually(Duration::from_secs(5), || async {
        pool.stats().queued == 1
    })
    .await;
    assert!(queued);
    let refused = pool.execute("pid", json!({})).await.unwrap_err();
    assert!(
        matches!(refused, Error::PoolSaturated { .. }),
        "{refused:?}"
    );
    let late = waiter.await.unwrap().unwrap_err();
    assert!(matches!(late, Error::QueueTimeout { .. }), "{late:?}");
    blocker.await.unwrap().unwrap();
    let seen = drain(&mut events);
    assert_eq!(count(&seen, "snakepit.pool.saturated"), 1, "{seen:#?}");
    assert_eq!(count(&seen, "snakepit.pool.queue.timeout"), 1, "{seen:#?}");
    let outcomes: Vec<CallOutcome> = seen
        .iter()
        .filter_map(|event| match event {
            Event::CallFinished { outcome, .. } => Some(*outcome),
            _ => None,
        })
        .collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == CallOutcome::Timeout)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(outcomes.contains(&CallOutcome::Saturated));
    assert!(outcomes.contains(&CallOutcome::QueueTimeout));
    assert!(outcomes.contains(&CallOutcome::Ok));
    pool.shutdown().await;
}

#[tokio::test]
async fn the_circuit_opening_is_reported_once() {
    let mut circuit = CircuitConfig::default();
    circuit.failure_threshold = 2;
    circuit.reset_after = Duration::from_secs(60);
    let pool = support::builder(support::fault_adapter(), 2)
        .circuit(circuit)
        .start()
        .await
        .unwrap();
    let mut events = pool.events();
    for _ in 0..2 {
        assert!(
            pool.execute("crash_exit", json!({"code": 1}))
                .await
                .is_err()
        );
    }
    for _ in 0..3 {
        let refused = pool.execute("pid", json!({})).await.unwrap_err();
        assert!(matches!(refused, Error::CircuitOpen { .. }), "{refused:?}");
    }
    let seen = drain(&mut events);
    let opened: Vec<u32> = seen
        .iter()
        .filter_map(|event| match event {
            Event::CircuitOpened { failures, .. } => Some(*failures),
            _ => None,
        })
        .collect();
    assert_eq!(opened, vec![2], "{seen:#?}");
    let refused = seen
        .iter()
        .filter(|event| {
            matches!(event, Event::CallFinished { outcome, .. } if *outcome == CallOutcome::CircuitOpen)
        })
        .count();
    assert_eq!(refused, 3);
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_lags_and_is_told_while_calls_go_on() {
    let pool = support::builder(telemetry_adapter(), 2)
        .start()
        .await
        .unwrap();
    // Subscribed and never read while the calls run.
    let mut slow = pool.events();
    let calls = snakepit::telemetry::EVENT_CAPACITY;
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for n in 0..calls / 4 {
                    assert_eq!(
                        pool.execute("add", json!({"a": n, "b": 1})).await.unwrap(),
                        json!(n + 1)
                    );
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    // Each call sent two events (dispatched, finished): twice what the subscriber holds.
    match slow.recv().await {
        Some(Received::Lagged(lost)) => assert_eq!(lost, calls as u64),
        other => panic!("expected a lag, got {other:?}"),
    }
    assert!(matches!(slow.try_recv(), Some(Received::Event(_))));
    assert_eq!(pool.stats().requests, calls as u64);
    pool.shutdown().await;
}

#[tokio::test]
async fn the_correlation_id_reaches_python_and_every_event_of_the_call() {
    let pool = support::builder(telemetry_adapter(), 1)
        .start()
        .await
        .unwrap();
    let mut events = pool.events();
    let seen = pool
        .call("correlation")
        .correlation_id("req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(seen, json!({"ctx": "req-42", "telemetry": "req-42"}));
    let generated = pool.call("correlation").send().await.unwrap();
    let generated = generated["ctx"].as_str().unwrap().to_owned();
    assert!(!generated.is_empty());
    let seen = drain(&mut events);
    let ids: Vec<&str> = seen
        .iter()
        .filter_map(|event| event.correlation_id().map(CorrelationId::as_str))
        .collect();
    assert_eq!(
        ids,
        ["req-42", "req-42", generated.as_str(), generated.as_str()]
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn python_events_arrive_with_the_call_and_a_name_flood_is_capped() {
    let pool = support::builder(telemetry_adapter(), 1)
        .start()
        .await
        .unwrap();
    let mut events = pool.events();
    pool.call("emit")
        .json(json!({"n": 3}))
        .correlation_id("py-1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        pool.execute("spanned", json!({})).await.unwrap(),
        json!("done")
    );
    assert!(
        pool.execute("spanned", json!({"fail": true}))
            .await
            .is_err()
    );
    let seen = drain(&mut events);
    let worker_events: Vec<(String, serde_json::Value, Option<String>)> = seen
        .iter()
        .filter_map(|event| match event {
            Event::Worker {
                name,
                measurements,
                correlation_id,
                ..
            } => Some((
                name.clone(),
                measurements.clone(),
                correlation_id.as_ref().map(|id| id.as_str().to_owned()),
            )),
            _ => None,
        })
        .collect();
    let names: Vec<&str> = worker_events
        .iter()
        .map(|(name, ..)| name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "tool.result_size",
            "tool.result_size",
            "tool.result_size",
            "tool.execution.stop",
            "tool.execution.exception"
        ]
    );
    assert_eq!(worker_events[2].1, json!({"bytes": 2}));
    assert_eq!(worker_events[0].2.as_deref(), Some("py-1"));
    assert!(worker_events[3].1["duration_us"].as_f64().unwrap() >= 0.0);

    let flood = 200;
    pool.execute("emit", json!({"n": flood, "distinct": true}))
        .await
        .unwrap();
    let stats = pool.worker_event_stats();
    let cap = snakepit::telemetry::MAX_WORKER_EVENT_NAMES;
    assert_eq!(stats.names, cap);
    // Three names were known before the flood.
    assert_eq!(stats.dropped, (flood - (cap - 3)) as u64, "{stats:?}");
    assert_eq!(stats.accepted, 5 + (cap - 3) as u64, "{stats:?}");
    pool.shutdown().await;
}
