//! End-to-end tests of the `snakepit` binary with a real Python interpreter.
//!
//! The interpreter is `$SNAKEPIT_PYTHON`, else `python3`; a test fails (it does not skip)
//! when that interpreter cannot run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A classic v0.0.1 worker: 4-byte big-endian length + JSON `{id, command, args}` on stdin,
/// `{id, success, result}` on stdout.
const CLASSIC_WORKER: &str = r#"
import json
import struct
import sys

source = sys.stdin.buffer
sink = sys.stdout.buffer
while True:
    header = source.read(4)
    if len(header) < 4:
        break
    (size,) = struct.unpack(">I", header)
    request = json.loads(source.read(size))
    if request["command"] == "ping":
        reply = {"id": request["id"], "success": True, "result": {"status": "ok", "worker": "classic"}}
    else:
        reply = {"id": request["id"], "success": False, "error": "Unknown command: " + request["command"]}
    payload = json.dumps(reply).encode()
    sink.write(struct.pack(">I", len(payload)) + payload)
    sink.flush()
"#;

/// The interpreter the tests use, checked to run.
fn python() -> PathBuf {
    let python =
        std::env::var_os("SNAKEPIT_PYTHON").map_or_else(|| PathBuf::from("python3"), PathBuf::from);
    let output = command(&python)
        .args(["-c", "import sys; print(sys.version)"])
        .output()
        .unwrap_or_else(|err| panic!("cannot run Python `{}`: {err}", python.display()));
    assert!(
        output.status.success(),
        "Python `{}` failed: {}",
        python.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    python
}

#[expect(
    clippy::disallowed_methods,
    reason = "the tests run the real binary and interpreter, not pool workers"
)]
fn command(program: &Path) -> Command {
    Command::new(program)
}

/// Runs `snakepit` with `args` and the chosen interpreter.
fn snakepit(args: &[&str]) -> Output {
    let python = python();
    command(Path::new(env!("CARGO_BIN_EXE_snakepit")))
        .args(args)
        .env("SNAKEPIT_PYTHON", &python)
        .output()
        .expect("the snakepit binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(output),
        stderr(output)
    );
}

#[test]
fn demo_runs_and_prints_stats() {
    let output = snakepit(&["demo", "--workers", "2"]);
    assert_success(&output);
    let text = stdout(&output);
    assert!(text.contains("stats:"), "{text}");
    assert!(text.contains("requests"), "{text}");
    assert!(text.contains("ZeroDivisionError"), "{text}");
    assert!(text.contains("worker processes are gone"), "{text}");
}

#[test]
fn call_ping_prints_json() {
    let output = snakepit(&["call", "ping", "--json"]);
    assert_success(&output);
    let result: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(result["status"], "ok");
}

#[test]
fn call_compute_reports_a_python_exception() {
    let output = snakepit(&[
        "call",
        "compute",
        "--args",
        r#"{"operation":"divide","a":1,"b":0}"#,
    ]);
    assert!(!output.status.success(), "{}", stdout(&output));
    let text = stderr(&output);
    assert!(text.contains("ZeroDivisionError"), "{text}");
    assert!(text.contains("division by zero"), "{text}");
    assert!(text.contains("Traceback"), "{text}");
}

#[test]
fn call_runs_a_classic_worker_command() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("classic_worker.py");
    std::fs::write(&script, CLASSIC_WORKER).unwrap();
    let python = python();
    let worker_cmd = shlex::try_join([
        python.to_str().expect("a UTF-8 interpreter path"),
        script.to_str().expect("a UTF-8 temp path"),
    ])
    .unwrap();
    let output = snakepit(&[
        "call",
        "--worker-cmd",
        &worker_cmd,
        "--classic",
        "ping",
        "--json",
    ]);
    assert_success(&output);
    let result: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(result["status"], "ok");
    assert_eq!(result["worker"], "classic");
}

#[test]
fn bench_prints_the_json_report() {
    let output = snakepit(&[
        "bench",
        "--iterations",
        "200",
        "--rounds",
        "2",
        "--json",
        "--peers",
    ]);
    assert_success(&output);
    let report: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    let encoding = report["encoding"].as_str().unwrap();
    assert!(encoding == "msgpack" || encoding == "json", "{report}");
    assert!(report["pinned"].is_null(), "{report}");
    assert_eq!(report["rounds"], 2, "{report}");
    let rows = report["ping"].as_array().unwrap();
    let workers: Vec<u64> = rows
        .iter()
        .map(|row| row["workers"].as_u64().unwrap())
        .collect();
    assert_eq!(workers, [1, 2]);
    for row in rows {
        for setup in ["floor", "blocking_floor", "pool"] {
            for key in ["p50_us", "p99_us", "calls_per_s"] {
                let value = row[setup][key].as_f64().unwrap();
                assert!(value > 0.0, "{setup}.{key} = {value} in {row}");
            }
        }
        for key in ["p50", "throughput", "throughput_vs_blocking"] {
            let value = row["ratio"][key].as_f64().unwrap();
            assert!(value > 0.0, "ratio.{key} = {value} in {row}");
        }
    }
    for (section, keys) in [
        (
            "sessions",
            &["store_ops_per_s", "in_session_p50_us", "in_session_p99_us"][..],
        ),
        (
            "stream",
            &["chunks_per_s", "floor_frames_per_s", "ratio"][..],
        ),
        ("host_tool", &["p50_us", "p99_us"][..]),
        (
            "profiles",
            &[
                "concurrent_calls_per_s",
                "concurrent_inline_calls_per_s",
                "floor_pipelined_calls_per_s",
                "concurrent_ratio",
                "concurrent_inline_ratio",
                "io_process_calls_per_s",
                "io_concurrent_calls_per_s",
                "io_ratio",
            ][..],
        ),
        (
            "peers",
            &[
                "ppe_calls_per_s",
                "mp_pool_calls_per_s",
                "pool_calls_per_s",
                "pool_threads_calls_per_s",
                "ppe_ratio",
                "mp_pool_ratio",
                "ppe_threads_ratio",
                "mp_pool_threads_ratio",
            ][..],
        ),
    ] {
        for key in keys {
            let value = report[section][key].as_f64();
            assert!(
                value.is_some_and(|value| value > 0.0),
                "{section}.{key} = {value:?} in {report}"
            );
        }
    } // The Node row: a Node worker beside its own floor.
    let node = &report["node"];
    for setup in ["floor", "pool"] {
        for key in ["p50_us", "calls_per_s"] {
            let value = node[setup][key].as_f64();
            assert!(
                value.is_some_and(|v| v > 0.0),
                "node.{setup}.{key} in {node}"
            );
        }
    }
    assert!(
        node["ratio"]["p50"].as_f64().is_some_and(|v| v > 0.0),
        "{node}"
    );
}

#[test]
fn call_runs_the_node_showcase_and_a_node_adapter_file() {
    let output = snakepit(&[
        "call",
        "compute",
        "--runtime",
        "node",
        "--args",
        r#"{"operation":"sqrt","a":16}"#,
        "--json",
    ]);
    assert_success(&output);
    let result: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(result["result"], 4);
    let output = snakepit(&[
        "call",
        "compute",
        "--runtime",
        "node",
        "--args",
        r#"{"operation":"divide","a":1,"b":0}"#,
    ]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("RangeError: division by zero"),
        "{}",
        stderr(&output)
    );
    let adapter = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../node/test/support/fault_adapter.js:described");
    let output = snakepit(&[
        "call",
        "greet",
        "--runtime",
        "node",
        "--adapter",
        adapter.to_str().unwrap(),
        "--args",
        r#"{"name":"Ada"}"#,
        "--json",
    ]);
    assert_success(&output);
    assert_eq!(stdout(&output).trim(), r#""hello Ada""#);
}

#[test]
fn bench_only_runs_one_path_with_the_calls_asked() {
    let paths = [
        "ping-floor",
        "ping-blocking-floor",
        "ping-pool",
        "ping-floor-per-thread",
    ];
    for path in paths {
        for loops in [None, Some("2")] {
            let mut args = vec!["bench", "--only", path, "--iterations", "30"];
            args.extend(loops.iter().flat_map(|loops| ["--loops", loops]));
            let output = snakepit(&args);
            assert_success(&output);
            let text = stdout(&output);
            assert!(text.contains(": 30 pings in "), "{path}: {text}");
            assert_eq!(
                text.contains("over 2 closed loops"),
                loops.is_some(),
                "{text}"
            );
        }
    }
    let concurrent = snakepit(&["bench", "--only", "ping-concurrent", "--loops", "2"]);
    assert!(!concurrent.status.success());
    assert!(String::from_utf8_lossy(&concurrent.stderr).contains("--loops does not apply"));
}

#[test]
fn status_and_cleanup_read_and_sweep_the_registry() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().to_str().unwrap();
    let empty = snakepit(&["status", "--state-dir", dir]);
    assert_success(&empty);
    assert!(stdout(&empty).contains("no runs"), "{}", stdout(&empty));

    // A run whose host is gone: its lock file is not held by anyone.
    let record = serde_json::json!({
        "run_id": "7-7-7", "host_pid": 7, "host_start_ticks": 0, "instance": "crashed-service",
        "started_unix": 0, "workers": {}
    });
    std::fs::write(state.path().join("7-7-7.json"), record.to_string()).unwrap();
    std::fs::write(state.path().join("7-7-7.lock"), b"").unwrap();
    let listed = snakepit(&["status", "--state-dir", dir]);
    assert_success(&listed);
    assert!(stdout(&listed).contains("crashed-service") && stdout(&listed).contains("dead"));

    let dry = snakepit(&["cleanup", "--dry-run", "--state-dir", dir]);
    assert_success(&dry);
    assert!(stdout(&dry).contains("would kill"), "{}", stdout(&dry));
    assert!(
        state.path().join("7-7-7.lock").exists(),
        "a dry run removed the run"
    );

    let swept = snakepit(&["cleanup", "--json", "--state-dir", dir]);
    assert_success(&swept);
    let report: serde_json::Value = serde_json::from_str(&stdout(&swept)).unwrap();
    assert_eq!(report[0]["run_id"], "7-7-7");
    assert!(!state.path().join("7-7-7.lock").exists());
}

#[test]
fn call_streams_chunks_and_runs_in_a_session() {
    let streamed = snakepit(&[
        "call",
        "progress",
        "--stream",
        "--json",
        "--args",
        r#"{"steps": 4, "delay_ms": 1}"#,
    ]);
    assert_success(&streamed);
    let lines: Vec<serde_json::Value> = stdout(&streamed)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    // Four chunks, then the final result.
    assert_eq!(lines.len(), 5, "{}", stdout(&streamed));
    assert_eq!(lines[3]["progress"], serde_json::json!(100.0));
    assert_eq!(lines[4]["done"], serde_json::json!(true));
    // Not a terminal: no progress bar.
    assert!(
        !stderr(&streamed).contains("100.0%"),
        "a progress bar off a terminal: {}",
        stderr(&streamed)
    );

    let in_session = snakepit(&[
        "call",
        "echo",
        "--session",
        "user-7",
        "--json",
        "--args",
        r#"{"x": 1}"#,
    ]);
    assert_success(&in_session);
    assert_eq!(stdout(&in_session).trim(), r#"{"x":1}"#);
    assert!(
        stderr(&in_session).contains("session user-7"),
        "{}",
        stderr(&in_session)
    );
}

#[test]
fn tools_lists_the_showcase_tools_with_their_parameters() {
    let listed = snakepit(&["tools"]);
    assert_success(&listed);
    let text = stdout(&listed);
    assert!(
        text.contains("compute(") && text.contains("operation"),
        "{text}"
    );
    assert!(
        text.contains("progress(") && text.contains("[streaming]"),
        "{text}"
    );
    let json = snakepit(&["tools", "--json"]);
    assert_success(&json);
    let tools: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert!(
        tools
            .as_array()
            .unwrap()
            .iter()
            .any(|tool| tool["name"] == "ping")
    );
}

/// The wire-compatible gRPC test worker of the library's tests.
fn grpc_tree() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../snakepit/tests/it/fixtures/grpc_worker")
        .display()
        .to_string()
}

#[test]
fn call_and_tools_run_a_grpc_worker_tree() {
    let tree = grpc_tree();
    let grpc = ["--grpc", &tree, "--adapter", "test_adapter.TestAdapter"];
    let output = snakepit(&[&["call", "add", "--args", r#"{"a": 2, "b": 3}"#], &grpc[..]].concat());
    assert_success(&output);
    assert_eq!(stdout(&output).trim(), "5");
    let output = snakepit(&[&["tools", "--json"], &grpc[..]].concat());
    assert_success(&output);
    let tools: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|tool| tool["name"].as_str())
        .collect();
    assert!(names.contains(&"countdown"), "{tools}");
}

#[test]
fn bench_compares_the_grpc_path_with_the_native_one() {
    let tree = grpc_tree();
    let output = snakepit(&[
        "bench",
        "--iterations",
        "50",
        "--json",
        "--grpc",
        &tree,
        "--grpc-adapter",
        "test_adapter.TestAdapter",
    ]);
    assert_success(&output);
    let report: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    for path in ["native", "grpc"] {
        for key in ["p50_us", "p99_us", "calls_per_s"] {
            let value = report[path][key].as_f64().unwrap();
            assert!(value > 0.0, "{path}.{key} = {value} in {report}");
        }
    }
    assert!(report["p50_ratio"].as_f64().unwrap() > 0.0, "{report}");
}

#[test]
fn a_config_file_runs_a_grpc_pool() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("snakepit.toml");
    let text = format!(
        "[pools.legacy.adapter]\ntype = \"grpc\"\ntree = {:?}\ngrpc_adapter = \"test_adapter.TestAdapter\"\npython = {:?}\n",
        grpc_tree(),
        python().display().to_string()
    );
    std::fs::write(&file, text).unwrap();
    let config = file.display().to_string();
    let output = snakepit(&[
        "call",
        "greet",
        "--config",
        &config,
        "--args",
        r#"{"name": "Ada"}"#,
    ]);
    assert_success(&output);
    assert_eq!(stdout(&output).trim(), r#""hello Ada""#);
}
