//! Sessions: affinity modes under concurrent load, lost and busy owners, the session id and
//! state on the Python side, and variables read and written from Python.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use snakepit::session::VariableSpec;
use snakepit::{Affinity, Error};

use crate::support;

fn in_session(session: &str, affinity: Affinity) -> support::Options {
    support::Options::new().session(session).affinity(affinity)
}

/// What the worker kept under `key` in the session's state.
async fn recall(pool: &snakepit::Pool, session: &str, key: &str) -> Value {
    pool.execute_in_session(session, "recall", json!({"key": key}))
        .await
        .unwrap()
}

async fn owner_pid(pool: &snakepit::Pool, session: &str, affinity: Affinity) -> Value {
    support::execute_with(pool, "pid", json!({}), &in_session(session, affinity))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_strict_modes_every_call_of_a_session_lands_on_its_owner() {
    let pool = support::fault_pool(3).await;
    for affinity in [Affinity::StrictQueue, Affinity::StrictFailFast] {
        let mut calls = Vec::new();
        for n in 0..240usize {
            let pool = pool.clone();
            // A fixed scatter of 8 sessions, so sessions interleave and compete.
            let session = format!("{affinity:?}-{}", (n * 7 + n / 5) % 8);
            calls.push(tokio::spawn(async move {
                let options = in_session(&session, affinity);
                (
                    session,
                    support::execute_with(&pool, "pid", json!({}), &options).await,
                )
            }));
        }
        let mut owners: HashMap<String, Value> = HashMap::new();
        let mut served = 0;
        for call in calls {
            let (session, outcome) = call.await.unwrap();
            match outcome {
                Ok(pid) => {
                    served += 1;
                    let owner = owners.entry(session.clone()).or_insert_with(|| pid.clone());
                    assert_eq!(*owner, pid, "a call of {session} left its owner");
                }
                // Fail-fast refuses calls whose owner is busy; that is its contract.
                Err(Error::SessionBusy { .. }) if affinity == Affinity::StrictFailFast => {}
                Err(err) => panic!("{affinity:?}: {err:?}"),
            }
        }
        assert!(served >= 8, "{affinity:?} served only {served} calls");
    }
    pool.shutdown().await;
}

#[tokio::test]
async fn in_hint_mode_no_call_waits_behind_a_busy_owner_while_a_worker_is_idle() {
    let pool = support::fault_pool(2).await;
    let owner = owner_pid(&pool, "chat", Affinity::Hint).await;
    let options = support::Options::new().session("chat");
    let busy = support::occupy_with(&pool, "sleep", json!({"seconds": 5}), options).await;
    let other = owner_pid(&pool, "chat", Affinity::Hint).await;
    assert_ne!(other, owner, "the call waited for the busy owner");
    assert!(
        !busy.is_finished(),
        "the owner finished first; the test proves nothing"
    );
    // The session moved: its next call goes to the new owner.
    assert_eq!(
        owner_pid(&pool, "chat", Affinity::StrictFailFast).await,
        other
    );
    busy.abort();
    pool.shutdown().await;
}

#[tokio::test]
async fn strict_fail_fast_refuses_a_call_whose_owner_is_busy() {
    let pool = support::fault_pool(2).await;
    owner_pid(&pool, "s", Affinity::StrictFailFast).await;
    let options = in_session("s", Affinity::StrictFailFast);
    let busy = support::occupy_with(&pool, "sleep", json!({"seconds": 0.5}), options).await;
    let options = in_session("s", Affinity::StrictFailFast);
    let err = support::execute_with(&pool, "pid", json!({}), &options)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SessionBusy { .. }), "{err:?}");
    // Strict queue waits for the owner instead.
    let queued = support::execute_with(
        &pool,
        "pid",
        json!({}),
        &in_session("s", Affinity::StrictQueue),
    )
    .await;
    assert!(queued.is_ok());
    busy.await.unwrap().unwrap();
    pool.shutdown().await;
}

#[tokio::test]
async fn a_session_whose_owner_died_is_lost_once_in_strict_modes_and_moves_in_hint_mode() {
    let pool = support::fault_pool(2).await;
    for session in ["queued", "fast", "hinted"] {
        owner_pid(&pool, session, Affinity::Hint).await;
        let crash = pool
            .execute_in_session(session, "crash_exit", json!({"code": 9}))
            .await;
        assert!(
            matches!(crash, Err(Error::WorkerExited { .. })),
            "{crash:?}"
        );
    }
    for (session, affinity) in [
        ("queued", Affinity::StrictQueue),
        ("fast", Affinity::StrictFailFast),
    ] {
        let options = in_session(session, affinity);
        let err = support::execute_with(&pool, "pid", json!({}), &options)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::SessionLost { .. }),
            "{affinity:?}: {err:?}"
        );
        // Reported once: the session's next call binds a new owner.
        let again = support::execute_with(&pool, "pid", json!({}), &options).await;
        assert!(again.is_ok(), "{affinity:?}: {again:?}");
    }
    let moved = pool.execute_in_session("hinted", "pid", json!({})).await;
    assert!(moved.is_ok(), "{moved:?}");
    pool.shutdown().await;
}

#[tokio::test]
async fn python_sees_the_session_id_keeps_its_state_and_loses_it_after_delete() {
    let pool = support::fault_pool(1).await;
    let seen = pool
        .execute_in_session(
            "alice",
            "remember",
            json!({"key": "model", "value": "small"}),
        )
        .await
        .unwrap();
    assert_eq!(seen, json!("alice"));
    assert_eq!(recall(&pool, "alice", "model").await, json!("small"));
    assert_eq!(recall(&pool, "bob", "model").await, Value::Null);
    pool.sessions().delete("alice").unwrap();
    let forgotten = support::eventually(Duration::from_secs(5), || async {
        recall(&pool, "alice", "model").await == Value::Null
    })
    .await;
    assert!(forgotten, "the worker kept the deleted session's state");
    pool.shutdown().await;
}

#[tokio::test]
async fn an_expired_session_is_dropped_on_its_worker() {
    let mut config = snakepit::session::SessionStoreConfig::default();
    config.default_ttl = Duration::from_millis(300);
    config.sweep_interval = Duration::from_millis(50);
    let store = snakepit::session::SessionStore::new(config);
    let pool = support::builder(support::fault_adapter(), 1)
        .sessions(store)
        .start()
        .await
        .unwrap();
    pool.execute_in_session("brief", "remember", json!({"key": "k", "value": 1}))
        .await
        .unwrap();
    let expired = support::eventually(Duration::from_secs(5), || async {
        !pool.sessions().exists("brief")
    })
    .await;
    assert!(expired, "the session never expired");
    let dropped = support::eventually(Duration::from_secs(5), || async {
        recall(&pool, "brief", "k").await == Value::Null
    })
    .await;
    assert!(dropped, "the worker kept the expired session's state");
    pool.shutdown().await;
}

#[tokio::test]
async fn python_reads_and_writes_session_variables_through_the_host_store() {
    let pool = support::fault_pool(1).await;
    pool.sessions().create("tuning", None).unwrap();
    let limits = VariableSpec::Float {
        min: Some(0.0),
        max: Some(1.0),
    };
    pool.sessions()
        .define_variable("tuning", "temperature", limits, json!(0.7))
        .unwrap();
    let read = pool
        .execute_in_session("tuning", "get_var", json!({"name": "temperature"}))
        .await
        .unwrap();
    assert_eq!(read, json!(0.7));
    pool.execute_in_session(
        "tuning",
        "set_var",
        json!({"name": "temperature", "value": 0.2}),
    )
    .await
    .unwrap();
    assert_eq!(
        pool.sessions()
            .get_variable("tuning", "temperature")
            .unwrap()
            .value,
        json!(0.2)
    );
    let err = pool
        .execute_in_session(
            "tuning",
            "set_var",
            json!({"name": "temperature", "value": 3.0}),
        )
        .await
        .unwrap_err();
    let Error::Worker(error) = err else {
        panic!("expected a worker error, got {err:?}")
    };
    assert_eq!(error.kind, "HostToolError");
    assert!(error.message.contains("temperature"), "{}", error.message);
    assert_eq!(
        pool.sessions()
            .get_variable("tuning", "temperature")
            .unwrap()
            .value,
        json!(0.2)
    );
    pool.shutdown().await;
}
