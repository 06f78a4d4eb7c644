//! Node workers: the embedded Node bridge under the same pool, with real `node` processes.
//!
//! The showcase adapter is the bundled one; the fault adapter is
//! `node/test/support/fault_adapter.js`. A missing `node` fails these tests (set
//! `SNAKEPIT_NODE`). The host-kill test re-runs this binary on `helper_host_node_busy` with
//! `SNAKEPIT_TEST_HOST=1`, as the tests in `lifecycle` do for Python.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use snakepit::session::{Constraints, VariableType};
use snakepit::tool::HostTool;
use snakepit::{Error, NodeAdapter, Pool, PoolBuilder, StreamItem};

use crate::support;

/// The `node` the tests use: `$SNAKEPIT_NODE`, else `node`. Missing, it fails the test.
fn node() -> PathBuf {
    let node =
        std::env::var_os("SNAKEPIT_NODE").map_or_else(|| PathBuf::from("node"), PathBuf::from);
    let found = Command::new(&node).arg("--version").output();
    assert!(
        found.is_ok_and(|output| output.status.success()),
        "these tests need Node.js: `{}` does not run (set SNAKEPIT_NODE)",
        node.display()
    );
    node
}

fn fault_adapter() -> NodeAdapter {
    let file = support::repo_root().join("node/test/support/fault_adapter.js");
    NodeAdapter::new(format!("{}:FaultAdapter", file.display())).node(node())
}

fn builder(adapter: NodeAdapter, size: usize) -> PoolBuilder {
    support::builder(adapter, size)
}

async fn fault_pool(size: usize) -> Pool {
    builder(fault_adapter(), size).start().await.unwrap()
}

#[tokio::test]
async fn the_showcase_answers_the_original_javascript_commands() {
    let pool = builder(NodeAdapter::showcase().node(node()), 1)
        .start()
        .await
        .unwrap();
    let pong = pool.execute("ping", json!({})).await.unwrap();
    assert_eq!(pong["status"], "pong");
    let sum = pool
        .execute("compute", json!({"operation": "add", "a": 5, "b": 3}))
        .await
        .unwrap();
    assert_eq!(sum["result"], json!(8));
    let root = pool
        .execute("compute", json!({"operation": "sqrt", "a": 16}))
        .await
        .unwrap();
    assert_eq!(root["result"], json!(4));
    for _ in 0..20 {
        let draw = pool
            .execute("random", json!({"type": "uniform", "min": 0, "max": 100}))
            .await
            .unwrap();
        let value = draw["value"].as_f64().unwrap();
        assert!((0.0..100.0).contains(&value), "{draw}");
        let whole = pool
            .execute("random", json!({"type": "int", "min": 1, "max": 6}))
            .await
            .unwrap();
        assert!(
            (1..=6).contains(&whole["value"].as_i64().unwrap()),
            "{whole}"
        );
    }
    let echoed = pool
        .execute("echo", json!({"x": [1, "two"]}))
        .await
        .unwrap();
    assert_eq!(echoed, json!({"x": [1, "two"]}));
    let compute = pool
        .tools()
        .iter()
        .find(|tool| tool.name == "compute")
        .unwrap();
    let names: Vec<&str> = compute.parameters.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["operation", "a", "b"]);
    assert!(
        pool.tools()
            .iter()
            .any(|tool| tool.name == "progress" && tool.streaming)
    );
    let mut stream = pool
        .execute_stream("progress", json!({"steps": 3, "delay_ms": 1}))
        .await
        .unwrap();
    let mut chunks = Vec::new();
    while let Some(item) = stream.next().await {
        match item.unwrap() {
            StreamItem::Chunk(chunk) => chunks.push(chunk["step"].clone()),
            StreamItem::Done(result) => {
                assert_eq!(result, json!({"steps": 3, "done": true}));
                break;
            }
        }
    }
    assert_eq!(chunks, [json!(1), json!(2), json!(3)]);
    pool.shutdown().await;
}

#[tokio::test]
async fn javascript_exceptions_arrive_typed_with_their_stack() {
    let pool = builder(NodeAdapter::showcase().node(node()), 1)
        .start()
        .await
        .unwrap();
    let err = pool
        .execute("compute", json!({"operation": "divide", "a": 1, "b": 0}))
        .await
        .unwrap_err();
    let Error::Worker(failure) = err else {
        panic!("expected a worker error, got {err:?}")
    };
    assert_eq!(failure.kind, "RangeError");
    assert_eq!(failure.message, "division by zero");
    assert!(failure.traceback.unwrap().contains("compute"));
    let err = pool.execute("compute", json!({"a": 1})).await.unwrap_err();
    assert!(
        matches!(&err, Error::Worker(failure) if failure.kind == "InvalidArguments"),
        "{err:?}"
    );
    let err = pool.execute("nope", json!({})).await.unwrap_err();
    assert!(
        matches!(&err, Error::Worker(failure) if failure.kind == "UnknownCommand" && failure.message.contains("compute")),
        "{err:?}"
    );
    let pool2 = fault_pool(1).await;
    let err = pool2
        .execute("throw_typed", json!({"kind": "custom"}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Worker(failure) if failure.kind == "NotFound"),
        "{err:?}"
    );
    pool.shutdown().await;
    pool2.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls_all_get_their_own_answer() {
    let pool = fault_pool(4).await;
    let calls = (0..1000).map(|n| {
        let pool = pool.clone();
        async move { (n, pool.execute("add", json!({"a": n, "b": 1})).await) }
    });
    let answers = futures_util::future::join_all(calls).await;
    for (n, answer) in answers {
        assert_eq!(answer.unwrap(), json!(n + 1));
    }
    assert_eq!(pool.stats().restarts, 0);
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_worker_with_capacity_runs_calls_at_once_but_never_more() {
    let pool = builder(fault_adapter(), 1)
        .profile(snakepit::Profile::concurrent(4))
        .start()
        .await
        .unwrap();
    let calls = (0..16).map(|_| {
        let pool = pool.clone();
        async move { pool.execute("running", json!({"ms": 100})).await.unwrap() }
    });
    let replies = futures_util::future::join_all(calls).await;
    let most_at_once = replies
        .iter()
        .map(|reply| reply["running"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(most_at_once > 1, "the worker never ran two calls at once");
    assert!(
        most_at_once <= 4,
        "the worker ran {most_at_once} calls at once"
    );
    assert_eq!(pool.stats().errors, 0);
    pool.shutdown().await;
}

#[tokio::test]
async fn dropping_a_stream_closes_the_generator_and_keeps_the_worker() {
    let pool = fault_pool(1).await;
    let pid = pool.execute("pid", json!({})).await.unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let closed_file = scratch.path().join("closed");
    let mut stream = pool
        .execute_stream(
            "endless",
            json!({"delay_ms": 5, "closed_file": closed_file}),
        )
        .await
        .unwrap();
    for _ in 0..3 {
        assert!(matches!(
            stream.next().await,
            Some(Ok(StreamItem::Chunk(_)))
        ));
    }
    drop(stream);
    assert_eq!(pool.execute("pid", json!({})).await.unwrap(), pid);
    assert!(
        closed_file.exists(),
        "the generator's finally block never ran"
    );
    assert_eq!(pool.stats().restarts, 0);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_node_tool_calls_a_host_tool_and_gets_its_result_or_its_error() {
    let pool = fault_pool(1).await;
    pool.register_host_tool(HostTool::new(
        "add_numbers",
        "Add two numbers.",
        |_call, args: Value| async move {
            let a = args["a"].as_i64().ok_or("a must be an integer")?;
            let b = args["b"].as_i64().ok_or("b must be an integer")?;
            Ok(json!(a + b))
        },
    ));
    let sum = pool
        .execute(
            "host",
            json!({"name": "add_numbers", "args": {"a": 2, "b": 40}}),
        )
        .await
        .unwrap();
    assert_eq!(sum, json!(42));
    let failure = pool
        .execute(
            "host_error",
            json!({"name": "add_numbers", "args": {"a": "x", "b": 1}}),
        )
        .await
        .unwrap();
    assert_eq!(
        failure,
        json!({"type": "HostToolError", "message": "a must be an integer"})
    );
    let unknown = pool
        .execute("host_error", json!({"name": "nope"}))
        .await
        .unwrap();
    assert_eq!(unknown["type"], "UnknownHostTool");
    pool.shutdown().await;
}

#[tokio::test]
async fn session_state_and_variables_live_with_the_session() {
    let pool = fault_pool(1).await;
    for expected in 1..=3 {
        let seen = pool
            .execute_in_session("alice", "session_count", json!({}))
            .await
            .unwrap();
        assert_eq!(seen, json!({"session": "alice", "count": expected}));
    }
    let other = pool
        .execute_in_session("bob", "session_count", json!({}))
        .await
        .unwrap();
    assert_eq!(other["count"], json!(1));
    pool.sessions().delete("alice").unwrap();
    let forgotten = support::eventually(Duration::from_secs(5), || async {
        let seen = pool
            .execute_in_session("alice", "session_count", json!({}))
            .await
            .unwrap();
        seen["count"] == json!(1)
    })
    .await;
    assert!(forgotten, "the worker kept the deleted session's state");

    pool.sessions().create("tuning", None).unwrap();
    pool.sessions()
        .register_variable(
            "tuning",
            "temperature",
            VariableType::Float,
            json!(0.7),
            Constraints::default(),
        )
        .unwrap();
    let changed = pool
        .execute_in_session(
            "tuning",
            "variables",
            json!({"name": "temperature", "value": 0.2}),
        )
        .await
        .unwrap();
    assert_eq!(changed, json!({"before": 0.7, "after": 0.2}));
    assert_eq!(
        pool.sessions()
            .get_variable("tuning", "temperature")
            .unwrap()
            .value,
        json!(0.2)
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn a_crash_mid_call_fails_the_call_with_the_exit_and_the_stderr_tail() {
    let pool = fault_pool(1).await;
    let err = pool
        .execute(
            "crash",
            json!({"code": 3, "message": "the adapter gave up"}),
        )
        .await
        .unwrap_err();
    let Error::WorkerExited {
        exit, stderr_tail, ..
    } = &err
    else {
        panic!("expected an exit, got {err:?}")
    };
    assert_eq!(exit.code, Some(3));
    assert!(stderr_tail.contains("the adapter gave up"), "{stderr_tail}");
    support::assert_full_size(&pool, 1).await;
    assert_eq!(
        pool.execute("add", json!({"a": 1})).await.unwrap(),
        json!(1)
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn console_output_in_a_tool_never_reaches_the_link() {
    let pool = fault_pool(1).await;
    let lines = pool.execute("noisy", json!({"lines": 200})).await.unwrap();
    assert_eq!(lines, json!(200));
    assert_eq!(
        pool.execute("add", json!({"a": 2, "b": 2})).await.unwrap(),
        json!(4)
    );
    assert_eq!(pool.stats().restarts, 0);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_deadline_aborts_a_cooperative_tool_and_kills_one_that_ignores_it() {
    let pool = fault_pool(1).await;
    let within = Duration::from_millis(200);
    let pid = pool.execute("pid", json!({})).await.unwrap();
    let err = pool
        .call("sleep")
        .json(json!({"ms": 30_000}))
        .timeout(within)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    // The signal fired, the tool stopped, the worker answered and stays.
    assert_eq!(pool.execute("pid", json!({})).await.unwrap(), pid);
    assert_eq!(pool.stats().restarts, 0);

    let err = pool
        .call("ignore_abort")
        .json(json!({"ms": 30_000}))
        .timeout(within)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    let pid = u32::try_from(pid.as_u64().unwrap()).unwrap();
    support::assert_all_gone(&[pid], Duration::from_secs(5)).await;
    support::assert_full_size(&pool, 1).await;
    assert_ne!(pool.execute("pid", json!({})).await.unwrap(), json!(pid));
    pool.shutdown().await;
}

/// Helper host: 2 Node workers, each busy in a call that started a grandchild.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_host_node_busy() {
    if std::env::var_os("SNAKEPIT_TEST_HOST").is_none() {
        return;
    }
    let scratch = PathBuf::from(std::env::var_os("SNAKEPIT_TEST_SCRATCH").unwrap());
    let state = PathBuf::from(std::env::var_os("SNAKEPIT_TEST_STATE").unwrap());
    let pool = builder(fault_adapter(), 2)
        .state_dir(state)
        .start()
        .await
        .unwrap();
    for n in 0..2 {
        let pool = pool.clone();
        let pid_file = scratch.join(format!("grandchild-{n}"));
        tokio::spawn(async move {
            pool.execute("spawn_child", json!({"pid_file": pid_file}))
                .await?;
            pool.execute("sleep", json!({"ms": 120_000})).await
        });
    }
    let files_written = support::eventually(Duration::from_secs(30), || async {
        (0..2).all(|n| scratch.join(format!("grandchild-{n}")).exists())
    })
    .await;
    assert!(files_written);
    let pids: Vec<String> = pool.worker_pids().iter().map(u32::to_string).collect();
    println!("WORKERS {}", pids.join(" "));
    tokio::time::sleep(Duration::from_secs(120)).await;
}

fn read_pids(scratch: &Path) -> Vec<u32> {
    (0..2)
        .map(|n| {
            std::fs::read_to_string(scratch.join(format!("grandchild-{n}")))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .collect()
}

#[tokio::test]
async fn a_sigkilled_host_leaves_no_node_process_behind() {
    node();
    let state = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut host = Command::new(std::env::current_exe().unwrap())
        .args([
            "node::helper_host_node_busy",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SNAKEPIT_TEST_HOST", "1")
        .env("SNAKEPIT_TEST_STATE", state.path())
        .env("SNAKEPIT_TEST_SCRATCH", scratch.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(host.stdout.take().unwrap());
    let mut workers: Vec<u32> = Vec::new();
    for line in stdout.lines() {
        if let Some((_, pids)) = line.unwrap().split_once("WORKERS ") {
            workers = pids
                .split_whitespace()
                .map(|pid| pid.parse().unwrap())
                .collect();
            break;
        }
    }
    assert_eq!(workers.len(), 2, "the helper host printed no workers");
    let grandchildren = read_pids(scratch.path());
    let everyone: Vec<u32> = workers.iter().chain(&grandchildren).copied().collect();
    assert!(everyone.iter().all(|pid| support::is_alive(*pid)));
    host.kill().unwrap();
    host.wait().unwrap();
    support::assert_all_gone(&everyone, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_node_tools_telemetry_events_reach_the_host_with_the_calls_correlation_id() {
    let pool = fault_pool(1).await;
    let mut events = pool.events();
    let echoed = pool
        .call("emit_event")
        .json(json!({"name": "model.loaded"}))
        .correlation_id("node-7")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed, json!("node-7"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let event = loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(snakepit::telemetry::Received::Event(
                event @ snakepit::telemetry::Event::Worker { .. },
            ))) => break event,
            Ok(Some(_)) => {}
            other => panic!("no worker event: {other:?}"),
        }
    };
    match event {
        snakepit::telemetry::Event::Worker {
            name,
            measurements,
            correlation_id,
            ..
        } => {
            assert_eq!(name, "model.loaded");
            assert_eq!(measurements, json!({"items": 3}));
            assert_eq!(
                correlation_id.as_ref().map(|id| id.as_str()),
                Some("node-7")
            );
        }
        other => panic!("{other:?}"),
    }
    pool.shutdown().await;
}

#[tokio::test]
async fn node_workers_get_buffers_over_the_threshold_inline() {
    use snakepit::value::Buffer;
    // The Node bridge does not read memfds and does not announce `shm` in its hello, so a
    // buffer far above the shared-memory threshold travels inline and comes back whole.
    let pool = fault_pool(1).await;
    #[derive(serde::Serialize)]
    struct Echo<'a> {
        raw: &'a Buffer,
    }
    #[derive(serde::Deserialize)]
    struct Back {
        raw: Buffer,
    }
    let raw = Buffer::from(
        (0..300_000_u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    );
    let back: Back = pool
        .call("echo")
        .args(&Echo { raw: &raw })
        .unwrap()
        .send_as()
        .await
        .unwrap();
    assert_eq!(back.raw, raw);
    pool.shutdown().await;
}

#[tokio::test]
async fn node_buffers_travel_as_binary_both_ways() {
    use snakepit::value::{Buffer, NdArray};
    let pool = fault_pool(1).await;
    #[derive(serde::Deserialize)]
    struct Values {
        bytes: Buffer,
    }
    let values: Values = pool.call("values").json(json!({})).send_as().await.unwrap();
    assert_eq!(&values.bytes[..], b"hi");
    // A bytes marker reaches the tool as a Buffer and comes back as bytes; an array marker
    // reaches it as {dtype, shape, data}.
    #[derive(serde::Serialize)]
    struct Echo<'a> {
        raw: &'a Buffer,
        array: &'a NdArray,
    }
    let raw = Buffer::from(vec![0_u8, 1, 2, 255]);
    let array = NdArray::from_vec(vec![1.5_f64, -2.0], &[2]).unwrap();
    #[derive(serde::Deserialize)]
    struct Back {
        raw: Buffer,
        array: Back2,
    }
    #[derive(serde::Deserialize)]
    struct Back2 {
        dtype: String,
        shape: Vec<usize>,
        data: Buffer,
    }
    let back: Back = pool
        .call("echo")
        .args(&Echo {
            raw: &raw,
            array: &array,
        })
        .unwrap()
        .send_as()
        .await
        .unwrap();
    assert_eq!(back.raw, raw);
    assert_eq!(
        (back.array.dtype.as_str(), back.array.shape),
        ("float64", vec![2])
    );
    assert_eq!(&back.array.data[..], &array.data()[..]);
    pool.shutdown().await;
}
