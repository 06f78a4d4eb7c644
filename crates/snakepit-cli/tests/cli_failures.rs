//! How the `snakepit` binary fails: an exit code per failure class, each failure printed
//! once, `--args` from a file and stdin, session and stream output, and no stale run in the
//! registry after Ctrl-C or a kill. Real processes and real signals.

mod support;

use std::io::Write as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{call, run, snakepit, text};

#[test]
fn each_failure_class_has_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Usage: clap's own errors, bad --args, --timeout 0.
    assert_eq!(call(d, &["ping", "--args", "[1]"]).status.code(), Some(2));
    assert_eq!(call(d, &["ping", "--timeout", "0"]).status.code(), Some(2));
    assert_eq!(call(d, &["ping", "--no-such-flag"]).status.code(), Some(2));
    // Start failure, with the OS reason.
    let start = call(d, &["ping", "--python", "/nonexistent/python"]);
    assert_eq!(start.status.code(), Some(3), "{}", text(&start));
    assert!(
        String::from_utf8_lossy(&start.stderr).contains("No such file"),
        "{}",
        text(&start)
    );
    let not_executable = d.join("python");
    std::fs::write(&not_executable, "").unwrap();
    let denied = call(d, &["ping", "--python", not_executable.to_str().unwrap()]);
    assert_eq!(denied.status.code(), Some(3), "{}", text(&denied));
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("Permission denied"),
        "{}",
        text(&denied)
    );
    // A start failure shows the worker's traceback once (live, tagged with the worker).
    std::fs::write(d.join("bad.py"), "import nothing_here_either\n").unwrap();
    let bad = call(d, &["ping", "--adapter", "bad:X", "--python-path", "."]);
    assert_eq!(bad.status.code(), Some(3), "{}", text(&bad));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(
        stderr.matches("Traceback (most recent call last)").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("[w1 stderr]"), "{stderr}");
    assert_eq!(
        stderr.matches("error:").count(),
        2,
        "the bridge's line and ours: {stderr}"
    );
    // With -q the workers' output is hidden, so the error carries the stderr tail instead.
    let mut quiet = snakepit(d);
    quiet.args([
        "-q",
        "call",
        "ping",
        "--adapter",
        "bad:X",
        "--python-path",
        ".",
    ]);
    let quiet = run(quiet);
    let stderr = String::from_utf8_lossy(&quiet.stderr);
    assert!(!stderr.contains("[w1 stderr]"), "{stderr}");
    assert!(stderr.contains("nothing_here_either"), "{stderr}");
    // SNAKEPIT_PYTHON pointing at a missing file keeps the OS reason too.
    let mut from_env = snakepit(d);
    from_env
        .env("SNAKEPIT_PYTHON", "/nonexistent/python3")
        .args(["call", "ping"]);
    let from_env = run(from_env);
    assert_eq!(from_env.status.code(), Some(3), "{}", text(&from_env));
    assert!(
        String::from_utf8_lossy(&from_env.stderr).contains("No such file"),
        "{}",
        text(&from_env)
    );
    // Worker exception, printed once.
    let raised = call(
        d,
        &[
            "compute",
            "--args",
            r#"{"operation": "divide", "a": 1, "b": 0}"#,
        ],
    );
    assert_eq!(raised.status.code(), Some(4), "{}", text(&raised));
    let stderr = String::from_utf8_lossy(&raised.stderr);
    assert!(stderr.contains("ZeroDivisionError"), "{stderr}");
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
    // Timeout.
    let slow = call(
        d,
        &[
            "progress",
            "--args",
            r#"{"steps": 100, "delay_ms": 100}"#,
            "--timeout",
            "0.5",
        ],
    );
    assert_eq!(slow.status.code(), Some(5), "{}", text(&slow));
    // Lost worker: a worker that exits during the call.
    std::fs::write(
        d.join("dies.py"),
        "import os\nfrom snakepit_bridge import BaseAdapter, tool\n\n\nclass Dies(BaseAdapter):\n    @tool\n    def die(self):\n        os._exit(3)\n",
    )
    .unwrap();
    let lost = call(d, &["die", "--adapter", "dies:Dies", "--python-path", "."]);
    assert_eq!(lost.status.code(), Some(7), "{}", text(&lost));
    // The codes are listed in --help.
    let mut help = snakepit(d);
    help.arg("--help");
    let help = String::from_utf8_lossy(&run(help).stdout).into_owned();
    assert!(
        help.contains("Exit codes:") && help.contains("7    the worker died"),
        "{help}"
    );
}

#[test]
fn args_come_from_a_file_or_stdin_and_bad_ones_are_quoted_briefly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("args.json");
    std::fs::write(&file, r#"{"operation": "add", "a": 2, "b": 3}"#).unwrap();
    let from_file = call(
        dir.path(),
        &[
            "compute",
            "--args",
            &format!("@{}", file.display()),
            "--json",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&from_file.stdout).trim(),
        "5",
        "{}",
        text(&from_file)
    );

    let mut command = snakepit(dir.path());
    command
        .args(["call", "compute", "--args", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"operation": "multiply", "a": 4, "b": 5}"#)
        .unwrap();
    let from_stdin = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&from_stdin.stdout).trim(),
        "20",
        "{}",
        text(&from_stdin)
    );

    let long = format!("{{\"a\": \"{}", "x".repeat(10_000));
    let bad = call(dir.path(), &["ping", "--args", &long]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad.stderr.len() < 600, "{}", text(&bad));
}

#[test]
fn session_and_stream_output_show_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let session = call(dir.path(), &["ping", "--session", "user_42"]);
    assert!(
        String::from_utf8_lossy(&session.stdout).starts_with("session user_42:\n"),
        "{}",
        text(&session)
    );
    let stream = call(
        dir.path(),
        &[
            "progress",
            "--stream",
            "--json",
            "--args",
            r#"{"steps": 3, "delay_ms": 1}"#,
        ],
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&stream.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        4,
        "three chunks then the result: {}",
        text(&stream)
    );
    assert!(
        lines[..3]
            .iter()
            .all(|chunk| chunk.get("progress").is_some())
    );
}

#[test]
fn no_stale_status_entry_after_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let mut command = snakepit(dir.path());
    command
        .env("SNAKEPIT_STATE_DIR", &state)
        .args([
            "call",
            "progress",
            "--args",
            r#"{"steps": 600, "delay_ms": 100}"#,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = command.spawn().unwrap();
    let status_json = || {
        let mut status = snakepit(dir.path());
        status
            .env("SNAKEPIT_STATE_DIR", &state)
            .args(["status", "--json"]);
        let output = run(status);
        serde_json::from_slice::<Vec<serde_json::Value>>(&output.stdout).unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while status_json().iter().all(|run| run["live"] != true) {
        assert!(
            Instant::now() < deadline,
            "the run never appeared in the registry"
        );
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", text(&output));
    assert!(
        status_json().is_empty(),
        "no run is left: {:?}",
        status_json()
    );
}

#[test]
fn an_old_python_is_refused_with_its_version_and_path() {
    // An interpreter that says it is 3.6.15, as the probe asks (CI has no real old Python).
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("python3.6");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho /opt/py36/bin/python3.6\necho 3.6.15\n",
    )
    .unwrap();
    let mut permissions = std::fs::metadata(&fake).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&fake, permissions).unwrap();
    let output = call(dir.path(), &["ping", "--python", fake.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("needs Python ≥ 3.9 (found 3.6.15 at /opt/py36/bin/python3.6)"),
        "{stderr}"
    );
    assert!(!stderr.contains("Traceback"), "{stderr}");
}

#[test]
fn a_killed_run_is_marked_dead_then_swept_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let status = || {
        let mut status = snakepit(dir.path());
        status
            .env("SNAKEPIT_STATE_DIR", &state)
            .args(["status", "--json"]);
        serde_json::from_slice::<Vec<serde_json::Value>>(&run(status).stdout).unwrap_or_default()
    };
    let mut command = snakepit(dir.path());
    command
        .env("SNAKEPIT_STATE_DIR", &state)
        .args([
            "call",
            "progress",
            "--args",
            r#"{"steps": 600, "delay_ms": 100}"#,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = command.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while status().iter().all(|run| run["live"] != true) {
        assert!(
            Instant::now() < deadline,
            "the run never appeared in the registry"
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let runs = status();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(
        runs[0]["live"], false,
        "a killed run is not listed as live: {runs:?}"
    );
    let mut next = snakepit(dir.path());
    next.env("SNAKEPIT_STATE_DIR", &state)
        .args(["call", "ping"]);
    assert!(run(next).status.success());
    assert!(
        status().is_empty(),
        "the next start swept it: {:?}",
        status()
    );
}
