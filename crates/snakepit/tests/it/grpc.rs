//! The gRPC adapter end to end, against a wire-compatible worker of our own
//! (`fixtures/grpc_worker/`: grpcio and stubs generated from `proto/snakepit_bridge.proto`):
//! calls, streams, sessions, typed errors, call-backs and host tools. Faults (deadlines, dead
//! servers, workers that never get ready, a killed host) are in `grpc/faults.rs`.

mod faults;

use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use snakepit::grpc::GrpcPythonAdapter;
use snakepit::tool::HostTool;
use snakepit::{Error, ErrorKind, Pool, PoolBuilder, StreamItem};

use crate::support;

/// The fixture tree: `grpc_server.py`, the stubs and `test_adapter.py`.
pub(crate) fn tree() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/grpc_worker")
}

/// The interpreter, which must have grpcio and protobuf: the test fails without them.
fn python_with_grpc() -> PathBuf {
    let python = support::python();
    let found = std::process::Command::new(&python)
        .args(["-c", "import grpc, google.protobuf"])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "these tests need grpcio and protobuf in `{}` (scripts/test.sh installs them): {}",
        python.display(),
        String::from_utf8_lossy(&found.stderr)
    );
    python
}

/// The fixture's test adapter.
pub(crate) fn adapter() -> GrpcPythonAdapter {
    GrpcPythonAdapter::new(tree(), "test_adapter.TestAdapter").python(python_with_grpc())
}

/// A builder with test-friendly timeouts.
pub(crate) fn builder(adapter: GrpcPythonAdapter, size: usize) -> PoolBuilder {
    Pool::builder(adapter)
        .size(size)
        .state_dir(support::state_dir())
        .startup_timeout(Duration::from_secs(30))
        .queue_timeout(Duration::from_secs(30))
        .call_timeout(Duration::from_secs(30))
        .cancel_grace(Duration::from_millis(500))
        .stop_grace(Duration::from_secs(3))
}

async fn pool(size: usize) -> Pool {
    builder(adapter(), size).start().await.unwrap()
}

#[tokio::test]
async fn grpc_calls_come_back_as_native_values() {
    let pool = pool(1).await;
    // Python ints come back as floats on the wire; the adapter gives them back as ints.
    let sum = pool.execute("add", json!({"a": 2, "b": 3})).await.unwrap();
    assert_eq!(sum, json!(5));
    assert!(sum.is_i64(), "{sum:?}");
    let typed: i64 = pool.execute_typed("add", &json!({"a": 40})).await.unwrap();
    assert_eq!(typed, 42);
    let half = pool
        .execute("add", json!({"a": 0.5, "b": 1}))
        .await
        .unwrap();
    assert_eq!(half, json!(1.5));
    // None is the string "None" on the wire.
    assert_eq!(
        pool.execute("nothing", json!({})).await.unwrap(),
        Value::Null
    );
    let greeting = pool.execute("greet", json!({"name": "Ada"})).await.unwrap();
    assert_eq!(greeting, json!("hello Ada"));
    assert_eq!(
        pool.execute("ping", json!({})).await.unwrap(),
        json!({"pong": true})
    );
    // The hello carried the tools the worker registered, defaults included.
    let add = pool.tools().iter().find(|tool| tool.name == "add").unwrap();
    assert_eq!(add.parameters.len(), 2);
    assert_eq!(add.parameters[1].default, Some(json!(2)));
    assert!(
        pool.tools()
            .iter()
            .any(|tool| tool.name == "countdown" && tool.streaming)
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn grpc_streams_deliver_every_chunk_in_order() {
    let pool = pool(1).await;
    let mut stream = pool
        .execute_stream("countdown", json!({"count": 3}))
        .await
        .unwrap();
    let mut chunks = Vec::new();
    let mut done = None;
    while let Some(item) = stream.next().await {
        match item.unwrap() {
            StreamItem::Chunk(chunk) => chunks.push(chunk),
            StreamItem::Done(result) => done = Some(result),
        }
    }
    // Spaced JSON is parsed, a yielded string arrives as text, the appended empty final chunk
    // is not a chunk.
    assert_eq!(
        chunks,
        vec![
            json!({"n": 3, "of": [3]}),
            json!({"n": 2, "of": [3]}),
            json!({"n": 1, "of": [3]}),
            json!("liftoff"),
        ]
    );
    assert_eq!(done, Some(Value::Null));
    // Without a stream, a generator tool's chunks are collected, as on native workers.
    let collected = pool
        .execute("countdown", json!({"count": 1}))
        .await
        .unwrap();
    assert_eq!(collected, json!([{"n": 1, "of": [1]}, "liftoff"]));
    pool.shutdown().await;
}

#[tokio::test]
async fn grpc_sessions_stay_on_their_worker_and_keep_their_state() {
    let pool = pool(2).await;
    let first = pool
        .execute_in_session("s-1", "remember", json!({"value": "apple"}))
        .await
        .unwrap();
    for _ in 0..4 {
        let recalled = pool
            .execute_in_session("s-1", "recall", json!({}))
            .await
            .unwrap();
        assert_eq!(recalled["value"], "apple");
        assert_eq!(recalled["pid"], first["pid"]);
    }
    // The worker sees the pool's session id; calls without one share the worker's own id.
    let seen = pool
        .execute_in_session("s-1", "whoami", json!({}))
        .await
        .unwrap();
    assert_eq!(seen["session_id"], "s-1");
    let a = pool.execute("whoami", json!({})).await.unwrap();
    let b = pool.execute("whoami", json!({})).await.unwrap();
    let own = a["session_id"].as_str().unwrap();
    assert!(own.starts_with("session_"), "{own}");
    if a["pid"] == b["pid"] {
        assert_eq!(a["session_id"], b["session_id"]);
    }
    pool.shutdown().await;
}

#[tokio::test]
async fn a_deleted_session_is_cleaned_up_on_its_grpc_worker() {
    let pool = pool(1).await;
    pool.execute_in_session("gone-soon", "ping", json!({}))
        .await
        .unwrap();
    pool.sessions().delete("gone-soon").unwrap();
    // The pool sends `session_drop`; the translator calls the worker's CleanupSession, which
    // ends that session's heartbeat loop in the worker.
    let cleaned = support::eventually(Duration::from_secs(10), || async {
        let counts = pool.execute("callbacks", json!({})).await.unwrap();
        counts["cleanup"] == json!(1)
    })
    .await;
    assert!(cleaned, "the worker's CleanupSession was never called");
    pool.shutdown().await;
}

#[tokio::test]
async fn grpc_error_json_becomes_typed_worker_errors() {
    let pool = pool(1).await;
    let err = pool
        .execute(
            "fail",
            json!({"kind": "ZeroDivisionError", "message": "no"}),
        )
        .await
        .unwrap_err();
    let Error::Worker(error) = err else {
        panic!("expected a worker error, got {err:?}")
    };
    assert_eq!(error.kind, ErrorKind::ZeroDivisionError);
    assert_eq!(error.message, "no");
    assert!(
        error
            .traceback
            .as_deref()
            .is_some_and(|tb| tb.contains("Traceback")),
        "{error:?}"
    );
    let unknown = pool.execute("no_such_tool", json!({})).await.unwrap_err();
    assert!(
        matches!(&unknown, Error::Worker(error) if error.kind == ErrorKind::UnknownCommand),
        "{unknown:?}"
    );
    // A streaming call that fails ends with the same typed error (gRPC INTERNAL on the wire).
    let mut stream = pool
        .execute_stream("fail", json!({"kind": "KeyError", "message": "k"}))
        .await
        .unwrap();
    let last = stream.next().await.unwrap().unwrap_err();
    assert!(
        matches!(&last, Error::Worker(error) if error.kind == ErrorKind::KeyError),
        "{last:?}"
    );
    // The worker is still serving.
    assert_eq!(
        pool.execute("add", json!({"a": 1, "b": 1})).await.unwrap(),
        json!(2)
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn grpc_workers_get_their_call_backs_answered() {
    let pool = pool(1).await;
    for session in ["a", "b"] {
        pool.execute_in_session(session, "ping", json!({}))
            .await
            .unwrap();
    }
    pool.execute("ping", json!({})).await.unwrap();
    let counts = pool.execute("callbacks", json!({})).await.unwrap();
    // One bare InitializeSession per call (the start-up probe, three calls, and this one),
    // one RegisterTools per session (the worker's own, a, b), and heartbeats.
    assert_eq!(counts["initialize"], json!(5), "{counts}");
    assert_eq!(counts["register"], json!(3), "{counts}");
    assert!(counts["heartbeat_ok"].as_i64().unwrap() >= 1, "{counts}");
    pool.shutdown().await;
}

#[tokio::test]
async fn grpc_workers_call_host_tools() {
    let pool = pool(1).await;
    pool.register_host_tool(HostTool::new(
        "echo_back",
        "Returns its arguments.",
        |_call, args: Value| async move { Ok(args) },
    ));
    let listed = pool
        .execute_in_session("h", "host_tools", json!({}))
        .await
        .unwrap();
    assert!(
        listed.as_array().unwrap().contains(&json!("echo_back")),
        "{listed}"
    );
    // A string travels as a packed StringValue, a number as raw JSON.
    let echoed = pool
        .execute_in_session(
            "h",
            "call_host",
            json!({"tool": "echo_back", "text": "s", "number": 21}),
        )
        .await
        .unwrap();
    assert_eq!(echoed, json!({"text": "s", "number": 21}));
    let missing = pool
        .execute("call_host", json!({"tool": "nope"}))
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, Error::Worker(error) if error.kind == ErrorKind::RuntimeError),
        "{missing:?}"
    );
    pool.shutdown().await;
}

#[test]
fn the_committed_python_stubs_match_the_schema() {
    let python = python_with_grpc();
    let out = tempfile::tempdir().unwrap();
    let proto_dir = support::repo_root().join("proto");
    let generated = std::process::Command::new(&python)
        .args(["-m", "grpc_tools.protoc", "-I"])
        .arg(&proto_dir)
        .arg(format!("--python_out={}", out.path().display()))
        .arg(format!("--grpc_python_out={}", out.path().display()))
        .arg(proto_dir.join("snakepit_bridge.proto"))
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "grpc_tools.protoc failed (scripts/test.sh installs grpcio-tools): {}",
        String::from_utf8_lossy(&generated.stderr)
    );
    for stub in ["snakepit_bridge_pb2.py", "snakepit_bridge_pb2_grpc.py"] {
        let fresh = std::fs::read_to_string(out.path().join(stub)).unwrap();
        let committed = std::fs::read_to_string(tree().join(stub)).unwrap();
        assert!(
            fresh == committed,
            "{stub} is stale: regenerate it from proto/ (see docs/design/grpc-compat.md)"
        );
    }
}
