//! Classic v0.0.1 workers through the generic adapter: the Ruby bridge of the original
//! documentation, and a Python one.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use snakepit::{Error, GenericAdapter, Pool, WorkerProtocol};

use crate::support;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/fixtures")
        .join(name)
}

fn ruby() -> PathBuf {
    let ruby = PathBuf::from("ruby");
    let found = std::process::Command::new(&ruby).arg("--version").output();
    assert!(
        found.is_ok_and(|output| output.status.success()),
        "the classic-worker tests need `ruby` (apt-get install ruby)"
    );
    ruby
}

#[tokio::test]
async fn the_ruby_bridge_of_the_original_runs_unchanged() {
    let adapter = GenericAdapter::new(ruby())
        .arg(fixture("classic_bridge.rb"))
        .protocol(WorkerProtocol::Classic);
    let pool = Pool::builder(adapter).size(2).start().await.unwrap();
    assert_eq!(
        pool.execute("ping", json!({})).await.unwrap(),
        json!({"status": "ok", "message": "pong"})
    );
    assert_eq!(
        pool.execute("process_data", json!({"data": "hello"}))
            .await
            .unwrap(),
        json!({"processed": "HELLO", "length": 5})
    );
    let err = pool.execute("frobnicate", json!({})).await.unwrap_err();
    let Error::Worker(error) = err else {
        panic!("expected a worker error, got {err:?}")
    };
    assert_eq!(error.message, "Unknown command: frobnicate");
    let calls = (0..40).map(|n| {
        let pool = pool.clone();
        tokio::spawn(async move {
            pool.execute("process_data", json!({"data": format!("x{n}")}))
                .await
        })
    });
    for (n, call) in calls.enumerate() {
        assert_eq!(
            call.await.unwrap().unwrap()["processed"],
            json!(format!("X{n}"))
        );
    }
    let pids = pool.worker_pids();
    pool.shutdown().await;
    support::assert_all_gone(&pids, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_classic_python_worker_runs_and_is_killed_past_its_deadline() {
    let adapter = GenericAdapter::new(support::python())
        .arg(fixture("classic_worker.py"))
        .protocol(WorkerProtocol::Classic);
    let pool = Pool::builder(adapter)
        .size(1)
        .cancel_grace(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    assert_eq!(
        pool.execute("add", json!({"a": 2, "b": 3})).await.unwrap(),
        json!(5)
    );
    let err = support::execute_with(
        &pool,
        "sleep",
        json!({"seconds": 30}),
        &support::Options::new().timeout(Duration::from_millis(200)),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    // A classic worker cannot be told to cancel: it is replaced.
    assert_eq!(
        pool.execute("add", json!({"a": 1, "b": 1})).await.unwrap(),
        json!(2)
    );
    assert_eq!(pool.stats().restarts, 1);
    pool.shutdown().await;
}
