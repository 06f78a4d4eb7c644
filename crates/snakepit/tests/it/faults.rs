//! Fault tolerance: crash classes, retries, crash-loop taint, the circuit breaker,
//! heartbeats, recycling, typed errors and unserializable results.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use snakepit::{
    CircuitConfig, CircuitState, Error, ErrorKind, ExitClass, HealthConfig, RecycleConfig,
    RetryConfig, RetryPolicy,
};

use crate::support;

async fn exit_class(pool: &snakepit::Pool, command: &str, args: serde_json::Value) -> ExitClass {
    match pool.execute(command, args).await {
        Err(Error::WorkerExited { exit, .. }) => exit.class(),
        other => panic!("expected the worker to exit, got {other:?}"),
    }
}

#[tokio::test]
async fn every_exit_is_classified() {
    let pool = support::fault_pool(1).await;
    assert_eq!(
        exit_class(&pool, "crash_exit", json!({"code": 4})).await,
        ExitClass::ExitCode(4)
    );
    assert_eq!(
        exit_class(&pool, "crash_signal", json!({"signum": 11})).await,
        ExitClass::Segfault
    );
    assert_eq!(
        exit_class(&pool, "crash_signal", json!({"signum": 6})).await,
        ExitClass::Abort
    );
    assert_eq!(
        exit_class(&pool, "crash_signal", json!({"signum": 9})).await,
        ExitClass::Killed
    );
    pool.shutdown().await;
    // A worker the pool kills (past its deadline, not answering the cancel) is told apart.
    let pool = support::builder(support::fault_adapter(), 1)
        .cancel_grace(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let options = support::Options::new().timeout(Duration::from_millis(100));
    let busy = support::execute_with(&pool, "block", json!({"seconds": 30}), &options).await;
    assert!(matches!(busy, Err(Error::Timeout { .. })));
    support::assert_full_size(&pool, 1).await;
    pool.shutdown().await;
}

#[tokio::test]
async fn an_idempotent_call_is_retried_transparently_and_others_are_not() {
    let pool = support::fault_pool(2).await;
    let scratch = tempfile::tempdir().unwrap();
    let marker = scratch.path().join("first");
    let idempotent = support::Options::new().idempotent();
    let reply =
        support::execute_with(&pool, "crash_once", json!({"marker": marker}), &idempotent).await;
    assert_eq!(reply.unwrap(), json!("survived"));
    assert_eq!(pool.stats().retries, 1);
    let marker = scratch.path().join("second");
    let err = pool
        .execute("crash_once", json!({"marker": marker}))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WorkerExited { .. }), "{err:?}");
    assert_eq!(pool.stats().retries, 1);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_per_command_always_policy_retries_without_the_flag() {
    let mut retry = RetryConfig::default();
    retry
        .per_command
        .insert("crash_once".to_owned(), RetryPolicy::Always);
    let pool = support::builder(support::fault_adapter(), 1)
        .retry(retry)
        .start()
        .await
        .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let reply = pool
        .execute("crash_once", json!({"marker": scratch.path().join("m")}))
        .await;
    assert_eq!(reply.unwrap(), json!("survived"));
    assert_eq!(pool.stats().retries, 1);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_slot_that_keeps_crashing_is_tainted_and_the_pool_degraded() {
    let mut health = HealthConfig::default();
    health.restart_backoff = Duration::from_millis(20);
    health.taint_after = 3;
    health.taint_duration = Duration::from_millis(1500);
    health.heartbeat_interval = None;
    let pool = support::builder(support::fault_adapter(), 1)
        .health(health)
        .queue_timeout(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    for _ in 0..3 {
        // Each replacement may take a while under load; crash it only once it is there.
        support::assert_full_size(&pool, 1).await;
        let crashed = pool.execute("crash_exit", json!({"code": 1})).await;
        assert!(
            matches!(crashed, Err(Error::WorkerExited { .. })),
            "{crashed:?}"
        );
    }
    let stats = pool.stats();
    assert_eq!(stats.tainted_slots, 1, "{stats:?}");
    assert!(stats.degraded);
    // No worker runs while the slot is tainted.
    let err = pool.execute("pid", json!({})).await.unwrap_err();
    assert!(matches!(err, Error::QueueTimeout { .. }), "{err:?}");
    let healed = support::eventually(Duration::from_secs(10), || async {
        let stats = pool.stats();
        stats.workers == 1 && !stats.degraded && stats.tainted_slots == 0
    })
    .await;
    assert!(healed, "{:?}", pool.stats());
    pool.execute("pid", json!({})).await.unwrap();
    pool.shutdown().await;
}

#[tokio::test]
async fn the_circuit_opens_fails_fast_half_opens_and_closes() {
    let mut circuit = CircuitConfig::default();
    circuit.failure_threshold = 3;
    circuit.reset_after = Duration::from_millis(400);
    let pool = support::builder(support::fault_adapter(), 2)
        .circuit(circuit)
        .start()
        .await
        .unwrap();
    for _ in 0..3 {
        assert!(
            pool.execute("crash_exit", json!({"code": 1}))
                .await
                .is_err()
        );
    }
    assert_eq!(pool.stats().circuit, CircuitState::Open);
    let err = pool.execute("pid", json!({})).await.unwrap_err();
    assert!(matches!(err, Error::CircuitOpen { failures: 3 }), "{err:?}");
    let half_open = support::eventually(Duration::from_secs(5), || async {
        pool.stats().circuit == CircuitState::HalfOpen
    })
    .await;
    assert!(half_open);
    support::assert_full_size(&pool, 2).await;
    pool.execute("pid", json!({})).await.unwrap();
    assert_eq!(pool.stats().circuit, CircuitState::Closed);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_worker_hung_holding_the_gil_misses_its_heartbeat_and_is_replaced() {
    let mut health = HealthConfig::default();
    health.heartbeat_interval = Some(Duration::from_millis(100));
    health.heartbeat_timeout = Duration::from_millis(300);
    let pool = support::builder(support::fault_adapter(), 1)
        .health(health)
        .start()
        .await
        .unwrap();
    let hung = pool.execute("pid", json!({})).await.unwrap();
    assert_eq!(
        pool.execute("hang_gil_later", json!({"delay": 0.1}))
            .await
            .unwrap(),
        json!(true)
    );
    let replaced = support::eventually(Duration::from_secs(10), || async {
        pool.stats().restarts == 1
    })
    .await;
    assert!(replaced, "{:?}", pool.stats());
    assert_ne!(pool.execute("pid", json!({})).await.unwrap(), hung);
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recycling_by_request_count_under_load_fails_no_call() {
    let mut recycle = RecycleConfig::default();
    recycle.max_requests = Some(25);
    let pool = support::builder(support::fault_adapter(), 2)
        .recycle(recycle)
        .max_queue(1000)
        .start()
        .await
        .unwrap();
    // Calls of 5 ms each keep both workers busy for about a second: long enough for several
    // replacements to start while the load runs.
    let calls = (0..400).map(|_| {
        let pool = pool.clone();
        tokio::spawn(async move { pool.execute("sleep", json!({"seconds": 0.005})).await })
    });
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), json!({"slept": 0.005}));
    }
    let stats = pool.stats();
    assert!(stats.recycled >= 4, "{stats:?}");
    assert_eq!(stats.errors, 0);
    support::assert_full_size(&pool, 2).await;
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recycling_by_memory_under_load_fails_no_call() {
    let mut recycle = RecycleConfig::default();
    recycle.max_memory_bytes = Some(150 * 1024 * 1024);
    recycle.check_interval = Duration::from_millis(100);
    let pool = support::builder(support::fault_adapter(), 2)
        .recycle(recycle)
        .start()
        .await
        .unwrap();
    let running = Arc::new(AtomicBool::new(true));
    let load = {
        let pool = pool.clone();
        let running = Arc::clone(&running);
        tokio::spawn(async move {
            let mut served = 0u64;
            while running.load(Ordering::Relaxed) {
                pool.execute("add", json!({"a": 1, "b": 1})).await.unwrap();
                served += 1;
            }
            served
        })
    };
    assert_eq!(
        pool.execute("allocate", json!({"mb": 200})).await.unwrap(),
        json!(200)
    );
    let recycled = support::eventually(Duration::from_secs(20), || async {
        pool.stats().recycled >= 1
    })
    .await;
    running.store(false, Ordering::Relaxed);
    let served = load.await.unwrap();
    assert!(recycled, "{:?}", pool.stats());
    assert!(served > 0);
    assert_eq!(pool.stats().errors, 0);
    support::assert_full_size(&pool, 2).await;
    pool.shutdown().await;
}

#[tokio::test]
async fn python_exceptions_arrive_as_kinds_callers_can_match() {
    let pool = support::fault_pool(1).await;
    for (raised, expected) in [
        ("KeyError", ErrorKind::KeyError),
        ("ValueError", ErrorKind::ValueError),
        ("ModuleNotFoundError", ErrorKind::ImportError),
        ("UnicodeError", ErrorKind::Other("UnicodeError".to_owned())),
    ] {
        let err = pool
            .execute("raise_error", json!({"kind": raised, "message": "m"}))
            .await
            .unwrap_err();
        let Error::Worker(error) = err else {
            panic!("expected a worker error, got {err:?}")
        };
        assert_eq!(error.kind, expected, "{raised}");
        assert_eq!(error.command, "raise_error");
        assert!(
            error
                .traceback
                .is_some_and(|traceback| traceback.contains(raised))
        );
    }
    pool.shutdown().await;
}

#[tokio::test]
async fn an_unserializable_result_fails_the_call_clearly_and_the_worker_lives_on() {
    let pool = support::fault_pool(1).await;
    let pid = pool.execute("pid", json!({})).await.unwrap();
    let refused = pool.execute("unserializable", json!({})).await;
    match &refused {
        Err(Error::Worker(error)) => {
            assert_eq!(error.kind, "SerializationError");
            assert!(
                error.message.contains("builtins.object"),
                "{}",
                error.message
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(pool.execute("pid", json!({})).await.unwrap(), pid);
    assert_eq!(pool.stats().restarts, 0);
    pool.shutdown().await;
}
