//! Calls: results, typed calls, Python errors, concurrency.

use serde::{Deserialize, Serialize};
use serde_json::json;
use snakepit::Error;

use crate::support;

#[tokio::test]
async fn the_showcase_adapter_answers_its_commands() {
    let pool = support::builder(support::showcase_adapter(), 2)
        .start()
        .await
        .unwrap();
    let pong = pool.execute("ping", json!({})).await.unwrap();
    assert_eq!(pong["status"], "ok");
    let echoed = pool
        .execute("echo", json!({"message": "héllo", "n": [1, 2.5, null]}))
        .await
        .unwrap();
    assert_eq!(echoed, json!({"message": "héllo", "n": [1, 2.5, null]}));
    let sum = pool
        .execute("compute", json!({"operation": "add", "a": 5, "b": 3}))
        .await
        .unwrap();
    assert_eq!(sum, json!(8));
    let product = pool
        .execute("compute", json!({"operation": "multiply", "a": 6, "b": 7}))
        .await
        .unwrap();
    assert_eq!(product, json!(42));
    let info = pool.execute("info", json!({})).await.unwrap();
    assert!(
        pool.worker_pids()
            .contains(&u32::try_from(info["pid"].as_u64().unwrap()).unwrap())
    );
    let names: Vec<&str> = pool.tools().iter().map(|tool| tool.name.as_str()).collect();
    for tool in ["ping", "echo", "compute", "info"] {
        assert!(names.contains(&tool), "{tool} missing from {names:?}");
    }
    pool.shutdown().await;
}

#[tokio::test]
async fn divide_by_zero_is_a_typed_python_error_with_a_traceback() {
    let pool = support::builder(support::showcase_adapter(), 1)
        .start()
        .await
        .unwrap();
    let err = pool
        .execute("compute", json!({"operation": "divide", "a": 1, "b": 0}))
        .await
        .unwrap_err();
    let Error::Worker(error) = err else {
        panic!("expected a worker error, got {err:?}")
    };
    assert_eq!(error.kind, "ZeroDivisionError");
    assert_eq!(error.command, "compute");
    assert!(
        error.message.contains("division by zero"),
        "{}",
        error.message
    );
    assert!(error.traceback.unwrap_or_default().contains("Traceback"));
    // The worker is unharmed.
    assert_eq!(
        pool.execute("compute", json!({"operation": "subtract", "a": 1, "b": 3}))
            .await
            .unwrap(),
        json!(-2)
    );
    assert_eq!(pool.stats().restarts, 0);
    pool.shutdown().await;
}

#[tokio::test]
async fn exceptions_unknown_commands_and_bad_arguments_are_typed() {
    let pool = support::fault_pool(1).await;
    let err = pool
        .execute(
            "raise_error",
            json!({"kind": "KeyError", "message": "missing"}),
        )
        .await
        .unwrap_err();
    let Error::Worker(error) = err else {
        panic!("expected a worker error, got {err:?}")
    };
    assert_eq!(error.kind, "KeyError");
    assert!(error.message.contains("missing"));

    let err = pool.execute("no_such_tool", json!({})).await.unwrap_err();
    let Error::Worker(error) = err else {
        panic!("expected a worker error, got {err:?}")
    };
    assert_eq!(error.kind, "UnknownCommand");
    assert!(
        error.message.contains("no_such_tool") && error.message.contains("sleep"),
        "{}",
        error.message
    );

    let err = pool
        .execute("add", json!({"a": 1, "bogus": 2}))
        .await
        .unwrap_err();
    let Error::Worker(error) = err else {
        panic!("expected a worker error, got {err:?}")
    };
    assert_eq!(error.kind, "InvalidArguments");
    assert_eq!(pool.stats().errors, 3);
    pool.shutdown().await;
}

#[derive(Serialize)]
struct AddArgs {
    a: i64,
    b: i64,
}

#[derive(Deserialize, Debug, PartialEq)]
struct Sorted(Vec<String>);

#[tokio::test]
async fn typed_calls_convert_through_serde() {
    let pool = support::fault_pool(1).await;
    let sum: i64 = pool
        .execute_typed("add", &AddArgs { a: 40, b: 2 })
        .await
        .unwrap();
    assert_eq!(sum, 42);
    let keys: Sorted = pool
        .execute_typed("whole", &json!({"b": 1, "a": 2}))
        .await
        .unwrap();
    assert_eq!(keys, Sorted(vec!["a".into(), "b".into()]));
    let err = pool
        .execute_typed::<_, String>("add", &AddArgs { a: 1, b: 2 })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Convert { .. }), "{err:?}");
    pool.shutdown().await;
}

#[tokio::test]
async fn prints_inside_a_tool_do_not_corrupt_the_link() {
    let pool = support::fault_pool(1).await;
    for round in 0..3 {
        let reply = pool
            .execute(
                "noisy",
                json!({"message": format!("round {round} {{\"id\": 1}}")}),
            )
            .await
            .unwrap();
        assert_eq!(reply, json!({"ok": true}));
    }
    assert_eq!(pool.stats().restarts, 0);
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls_each_get_their_own_answer() {
    let pool = support::builder(support::fault_adapter(), 4)
        .max_queue(2000)
        .start()
        .await
        .unwrap();
    let calls = (0..1000i64).map(|n| {
        let pool = pool.clone();
        tokio::spawn(async move {
            (
                n,
                pool.execute("add", json!({"a": n, "b": 1_000_000})).await,
            )
        })
    });
    let mut seen_workers = std::collections::HashSet::new();
    for call in calls {
        let (n, reply) = call.await.unwrap();
        assert_eq!(reply.unwrap(), json!(n + 1_000_000), "call {n}");
    }
    for _ in 0..20 {
        let pid = pool.execute("pid", json!({})).await.unwrap();
        seen_workers.insert(pid.as_u64().unwrap());
    }
    let stats = pool.stats();
    assert_eq!(stats.requests, 1020);
    assert_eq!(stats.errors, 0);
    assert_eq!(stats.workers, 4);
    assert!(seen_workers.len() > 1, "every call went to one worker");
    pool.shutdown().await;
}
