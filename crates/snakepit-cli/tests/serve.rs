//! End-to-end tests of `snakepit serve` as a process: its first line, `--server` clients,
//! the token rules, SIGTERM with calls in flight, and SIGHUP.
//!
//! The interpreter is `$SNAKEPIT_PYTHON`, else `python3`; the tests fail when it cannot run.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test at the first unexpected state"
)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

fn python() -> PathBuf {
    let python =
        std::env::var_os("SNAKEPIT_PYTHON").map_or_else(|| PathBuf::from("python3"), PathBuf::from);
    let ran = command(&python).arg("--version").output();
    assert!(
        ran.is_ok_and(|output| output.status.success()),
        "these tests need Python: `{}` does not run",
        python.display()
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

fn snakepit() -> Command {
    let mut command = command(Path::new(env!("CARGO_BIN_EXE_snakepit")));
    command
        .env("SNAKEPIT_PYTHON", python())
        .env_remove("SNAKEPIT_TOKEN")
        .env_remove("SNAKEPIT_CONFIG")
        .env(
            "SNAKEPIT_STATE_DIR",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("state"),
        );
    command
}

/// A running `snakepit serve` and the address from its first line.
struct Served {
    child: Child,
    base: String,
    stderr: mpsc::Receiver<String>,
}

impl Served {
    fn start(extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = snakepit();
        command
            .args(["serve", "--bind", "127.0.0.1:0", "--workers", "2"])
            .args(extra);
        for (key, value) in env {
            command.env(key, value);
        }
        Self::spawn(command)
    }

    fn spawn(mut command: Command) -> Self {
        command
            .current_dir(env!("CARGO_TARGET_TMPDIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the binary starts");
        let stdout = child.stdout.take().unwrap();
        let (line_tx, line_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut first = String::new();
            let _ = BufReader::new(stdout).read_line(&mut first);
            let _ = line_tx.send(first);
        });
        let stderr = child.stderr.take().unwrap();
        let (err_tx, err_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if err_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = line_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server prints its first line");
        let base = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first:?}"))
            .to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        Self {
            child,
            base,
            stderr: err_rx,
        }
    }

    fn signal(&self, signal: Signal) {
        kill(
            Pid::from_raw(i32::try_from(self.child.id()).unwrap()),
            signal,
        )
        .unwrap();
    }

    /// Waits for a stderr line containing `needle`; returns the lines read so far.
    fn wait_for_stderr(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .stderr
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no stderr line with {needle:?}; saw:\n{seen}"));
            seen.push_str(&line);
            seen.push('\n');
            if line.contains(needle) {
                return seen;
            }
        }
    }

    /// Waits for the process to exit; returns whether it exited 0, and its stderr.
    fn wait(mut self) -> (bool, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut stderr = String::new();
                while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(10)) {
                    stderr.push_str(&line);
                    stderr.push('\n');
                }
                return (status.success(), stderr);
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(command: &mut Command) -> Output {
    command.output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn alive(pid: u32) -> bool {
    kill(Pid::from_raw(i32::try_from(pid).unwrap()), None).is_ok()
}

#[test]
fn call_tools_and_stats_talk_to_a_running_server() {
    let served = Served::start(&[], &[]);
    let base = served.base.clone();
    let output = run(snakepit().args([
        "call",
        "--server",
        &base,
        "compute",
        "--args",
        r#"{"operation":"add","a":5,"b":3}"#,
        "--json",
    ]));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout).trim().parse::<f64>().unwrap(), 8.0);

    let output = run(snakepit().args([
        "call",
        "--server",
        &base,
        "progress",
        "--stream",
        "--json",
        "--args",
        r#"{"steps":3,"delay_ms":1}"#,
    ]));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let lines: Vec<Value> = text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "three chunks and the result: {lines:?}");
    assert_eq!(lines[3], json!({"steps": 3, "done": true}));

    let output = run(snakepit().args([
        "call",
        "--server",
        &base,
        "compute",
        "--args",
        r#"{"operation":"divide","a":1,"b":0}"#,
    ]));
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("ZeroDivisionError") && stderr.contains("Traceback"),
        "{stderr}"
    );

    let output = run(snakepit().args(["tools", "--server", &base, "--json"]));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let tools: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        tools
            .as_array()
            .unwrap()
            .iter()
            .any(|tool| tool["name"] == "compute")
    );

    let output = run(snakepit().args(["stats", "--server", &base, "--json"]));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stats: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(stats["pool"], "default");
    assert_eq!(stats["stats"]["requests"], 3);
    assert_eq!(stats["stats"]["workers"], 2);

    served.signal(Signal::SIGTERM);
    let (clean, stderr) = served.wait();
    assert!(clean, "{stderr}");
}

#[test]
fn a_public_bind_needs_a_token_and_the_token_guards_the_api() {
    let output = run(snakepit().args(["serve", "--bind", "0.0.0.0:0"]));
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("without a token"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "file-token\n").unwrap();
    let token_path = token_file.to_str().unwrap();
    let served = Served::start(&["--token-file", token_path], &[]);
    let output = run(snakepit().args(["call", "--server", &served.base, "ping"]));
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("unauthorized"),
        "{}",
        text(&output.stderr)
    );
    let output = run(snakepit().args([
        "call",
        "--server",
        &served.base,
        "--token-file",
        token_path,
        "ping",
        "--json",
    ]));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let output = run(snakepit()
        .args(["call", "--server", &served.base, "ping", "--json"])
        .env("SNAKEPIT_TOKEN", "file-token"));
    assert!(output.status.success(), "{}", text(&output.stderr));
    served.signal(Signal::SIGINT);
    let (clean, stderr) = served.wait();
    assert!(clean, "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_answers_the_calls_in_flight_then_stops_every_worker() {
    let served = Served::start(&[], &[]);
    let client = reqwest::Client::new();
    let stats_url = format!("{}/v1/pools/default/stats", served.base);
    let stats: Value = client
        .get(&stats_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pids: Vec<u32> = stats["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|worker| u32::try_from(worker["pid"].as_u64().unwrap()).unwrap())
        .collect();
    assert_eq!(pids.len(), 2);

    let url = format!("{}/v1/pools/default/commands/progress", served.base);
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let request = client
                .post(&url)
                .json(&json!({"args": {"steps": 8, "delay_ms": 100}}));
            tokio::spawn(request.send())
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stats: Value = client
            .get(&stats_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if stats["stats"]["busy"] == 2 && stats["stats"]["queued"] == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the calls did not start: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    served.signal(Signal::SIGTERM);
    for call in calls {
        let response = call
            .await
            .unwrap()
            .expect("every call in flight is answered");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"]["done"], true);
    }
    let (clean, stderr) = tokio::task::spawn_blocking(move || served.wait())
        .await
        .unwrap();
    assert!(clean, "exit 0 after the drain: {stderr}");
    assert!(
        reqwest::get(&stats_url).await.is_err(),
        "no longer accepting connections"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|pid| alive(*pid)) {
        assert!(
            Instant::now() < deadline,
            "workers outlived the server: {pids:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A config with pools `steady` and `changing` of the showcase, `changing` of `size`.
fn write_config(path: &Path, changing_size: usize) {
    let python = python();
    let text = format!(
        "[python]\ninterpreter = {python:?}\n\n\
         [pools.steady]\nsize = 1\n[pools.steady.adapter]\ntype = \"python\"\n\n\
         [pools.changing]\nsize = {changing_size}\n[pools.changing.adapter]\ntype = \"python\"\n"
    );
    std::fs::write(path, text).unwrap();
}

fn pool_pids(base: &str, pool: &str) -> Vec<u64> {
    let output = run(snakepit().args(["stats", "--server", base, "--pool", pool, "--json"]));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stats: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut pids: Vec<u64> = stats["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|worker| worker["pid"].as_u64().unwrap())
        .collect();
    pids.sort_unstable();
    pids
}

#[test]
fn sighup_replaces_the_changed_pools_of_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("snakepit.toml");
    write_config(&file, 1);
    let mut command = snakepit();
    command
        .args(["serve", "--bind", "127.0.0.1:0", "--config"])
        .arg(&file);
    let served = Served::spawn(command);
    let steady = pool_pids(&served.base, "steady");
    let changing = pool_pids(&served.base, "changing");
    assert_eq!((steady.len(), changing.len()), (1, 1));

    write_config(&file, 2);
    served.signal(Signal::SIGHUP);
    let stderr = served.wait_for_stderr("reloaded");
    assert!(stderr.contains("replaced [\"changing\"]"), "{stderr}");
    assert_eq!(
        pool_pids(&served.base, "steady"),
        steady,
        "the unchanged pool keeps running"
    );
    let replaced = pool_pids(&served.base, "changing");
    assert_eq!(replaced.len(), 2);
    assert!(replaced.iter().all(|pid| !changing.contains(pid)));

    // A broken file is refused and the pools keep running.
    std::fs::write(&file, "[pools.steady]\nsurprise = 1\n").unwrap();
    served.signal(Signal::SIGHUP);
    let stderr = served.wait_for_stderr("reload refused");
    assert!(stderr.contains("surprise"), "{stderr}");
    assert_eq!(pool_pids(&served.base, "steady"), steady);

    served.signal(Signal::SIGTERM);
    let (clean, stderr) = served.wait();
    assert!(clean, "{stderr}");
}

#[test]
fn sighup_reloads_and_keeps_unchanged_pools_running() {
    let served = Served::start(&[], &[]);
    let pids = |base: &str| -> Vec<u64> {
        let output = run(snakepit().args(["stats", "--server", base, "--json"]));
        let stats: Value = serde_json::from_slice(&output.stdout).unwrap();
        let mut pids: Vec<u64> = stats["workers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|worker| worker["pid"].as_u64().unwrap())
            .collect();
        pids.sort_unstable();
        pids
    };
    let before = pids(&served.base);
    assert_eq!(before.len(), 2);
    served.signal(Signal::SIGHUP);
    let stderr = served.wait_for_stderr("reloaded");
    assert!(stderr.contains("reloaded (kept [\"default\"]"), "{stderr}");
    assert_eq!(
        pids(&served.base),
        before,
        "an unchanged pool keeps its workers"
    );
    served.signal(Signal::SIGTERM);
    let (clean, stderr) = served.wait();
    assert!(clean, "{stderr}");
}
