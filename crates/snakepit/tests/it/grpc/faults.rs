//! gRPC workers that misbehave or lose their host: a tool that ignores its deadline, a
//! server that dies mid-call, a worker that never writes its ready file, a SIGKILLed host.
//! Their worker cannot stop a tool and never notices a dead host by itself (with its
//! heartbeat off), so each test checks that the pool kills it and recovers.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use snakepit::{Error, HealthConfig, RecycleConfig};

use super::{adapter, builder};
use crate::support;

/// The pids of live processes whose environment holds `marker` (`KEY=value`).
fn pids_with_env(marker: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
                environ
                    .split(|byte| *byte == 0)
                    .any(|entry| entry == marker.as_bytes())
            })
        })
        .filter(|pid| support::is_alive(*pid))
        .collect()
}

#[tokio::test]
async fn a_grpc_tool_that_ignores_its_deadline_gets_its_worker_killed_and_replaced() {
    let pool = builder(adapter(), 1)
        .call_timeout(Duration::from_secs(1))
        .start()
        .await
        .unwrap();
    let before = pool.worker_pids();
    let err = pool
        .execute("sleep", json!({"seconds": 30}))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    // The worker cannot stop the tool, so it is killed after the cancel grace.
    support::assert_all_gone(&before, Duration::from_secs(10)).await;
    support::assert_full_size(&pool, 1).await;
    let after = pool.execute("whoami", json!({})).await.unwrap();
    assert_ne!(after["pid"], json!(before[0]));
    pool.shutdown().await;
}

/// The host port a worker was told to call back (`--elixir-address 127.0.0.1:<port>`).
fn host_port(pid: u32) -> u16 {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let args: Vec<String> = cmdline
        .split(|byte| *byte == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect();
    let at = args
        .iter()
        .position(|arg| arg == "--elixir-address")
        .unwrap();
    args[at + 1].rsplit_once(':').unwrap().1.parse().unwrap()
}

#[tokio::test]
async fn a_grpc_server_that_dies_mid_call_fails_the_call_and_the_pool_recovers() {
    let pool = builder(adapter(), 1).start().await.unwrap();
    let before = pool.worker_pids();
    let port = host_port(before[0]);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let err = pool.execute("kill_server", json!({})).await.unwrap_err();
    assert!(matches!(err, Error::WorkerExited { .. }), "{err:?}");
    // The process would have lived on with a dead server; it is gone.
    support::assert_all_gone(&before, Duration::from_secs(10)).await;
    support::assert_full_size(&pool, 1).await;
    assert_eq!(
        pool.execute("add", json!({"a": 1, "b": 2})).await.unwrap(),
        json!(3)
    );
    // The dead worker's translator and its BridgeService are gone too.
    let closed = support::eventually(Duration::from_secs(10), || async {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
    })
    .await;
    assert!(
        closed,
        "the host still serves the dead worker's port {port}"
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn a_grpc_worker_that_stops_answering_pings_is_replaced() {
    let mut health = HealthConfig::default();
    health.heartbeat_interval = Some(Duration::from_millis(200));
    health.heartbeat_timeout = Duration::from_millis(500);
    let pool = builder(adapter(), 1).health(health).start().await.unwrap();
    let before = pool.worker_pids();
    // Healthy, it answers the pool's heartbeats: the translator turns them into gRPC pings.
    let pinged = support::eventually(Duration::from_secs(10), || async {
        let counts = pool.execute("callbacks", json!({})).await.unwrap();
        counts["pings"].as_i64().unwrap() >= 3
    })
    .await;
    assert!(pinged, "the worker was never pinged");
    assert_eq!(pool.worker_pids(), before);
    assert_eq!(
        pool.execute("hang_pings", json!({})).await.unwrap(),
        json!(true)
    );
    // The translator answers a native ping only after the worker's gRPC Ping did.
    support::assert_all_gone(&before, Duration::from_secs(10)).await;
    support::assert_full_size(&pool, 1).await;
    pool.shutdown().await;
}

#[tokio::test]
async fn grpc_workers_are_recycled_after_their_request_budget() {
    let mut recycle = RecycleConfig::default();
    recycle.max_requests = Some(3);
    recycle.jitter = 0.0;
    let pool = builder(adapter(), 1)
        .recycle(recycle)
        .start()
        .await
        .unwrap();
    let first = pool.worker_pids();
    for _ in 0..6 {
        assert_eq!(
            pool.execute("add", json!({"a": 1, "b": 1})).await.unwrap(),
            json!(2)
        );
    }
    support::assert_all_gone(&first, Duration::from_secs(10)).await;
    support::assert_full_size(&pool, 1).await;
    assert!(pool.stats().recycled >= 1, "{:?}", pool.stats());
    assert_eq!(pool.stats().errors, 0);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_grpc_worker_that_never_writes_its_ready_file_fails_the_start_and_is_killed() {
    let marker = format!("FIXTURE_MARK=never-ready-{}", std::process::id());
    let (key, value) = marker.split_once('=').unwrap();
    let adapter = adapter().env("FIXTURE_NO_READY", "1").env(key, value);
    let starting = tokio::spawn(
        builder(adapter, 1)
            .startup_timeout(Duration::from_secs(3))
            .start(),
    );
    // The worker did start (it pinged the host and serves), it just never says so.
    let spawned = support::eventually(Duration::from_secs(10), || async {
        !pids_with_env(&marker).is_empty()
    })
    .await;
    assert!(spawned, "the worker never started");
    let pids = pids_with_env(&marker);
    let err = starting.await.unwrap().unwrap_err();
    assert!(
        matches!(&err, Error::StartFailed { reason, .. } if reason.contains("not ready")),
        "{err:?}"
    );
    support::assert_all_gone(&pids, Duration::from_secs(5)).await;
}

/// Helper host: 2 idle gRPC workers with their heartbeat off, kept until the host is killed.
#[tokio::test]
async fn helper_host_grpc() {
    if std::env::var_os("SNAKEPIT_TEST_HOST").is_none() {
        return;
    }
    let adapter = adapter().env("SNAKEPIT_HEARTBEAT_CONFIG", r#"{"enabled": false}"#);
    let pool = builder(adapter, 2)
        .state_dir(std::env::var_os("SNAKEPIT_TEST_STATE").unwrap())
        .start()
        .await
        .unwrap();
    let pids: Vec<String> = pool.worker_pids().iter().map(u32::to_string).collect();
    println!("WORKERS {}", pids.join(" "));
    tokio::time::sleep(Duration::from_secs(120)).await;
}

#[tokio::test]
async fn a_sigkilled_host_leaves_no_grpc_worker_behind() {
    let state = tempfile::tempdir().unwrap();
    let mut host = Command::new(std::env::current_exe().unwrap())
        .args([
            "grpc::faults::helper_host_grpc",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SNAKEPIT_TEST_HOST", "1")
        .env("SNAKEPIT_TEST_STATE", state.path())
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
    assert!(workers.iter().all(|pid| support::is_alive(*pid)));
    host.kill().unwrap();
    host.wait().unwrap();
    // Their heartbeat is off, so nothing of theirs would notice: the parent-death signal and
    // the reaper do.
    support::assert_all_gone(&workers, Duration::from_secs(3)).await;
}
