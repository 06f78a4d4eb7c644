//! The grpcio baseline of `snakepit serve-bench`: the same trivial function served by a
//! Python grpcio server (`grpc_baseline.py`, embedded in the binary: the `grpc.aio` API,
//! one process, default options) and called at the same concurrency, measured in the same
//! run as the snakepit figures, two ways:
//!
//! 1. by a Python grpcio client (`grpc.aio`, one channel) in its own process;
//! 2. by `h2load` (Debian's `nghttp2-client`), a C HTTP/2 load generator, at as many
//!    connections as `wrk` uses against snakepit, posting the gRPC message frame of the
//!    request, when it is installed: the same kind of load generator on both sides.
//!
//! The grpcio server runs the function in its own process; snakepit's server passes each
//! call to a Python worker process and back.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt as _, BufReader};

use super::{Figures, cpu};

/// The baseline's Python script.
const SCRIPT: &str = include_str!("grpc_baseline.py");

/// What the client prints.
#[derive(Debug, Deserialize)]
struct Printed {
    calls: u64,
    errors: u64,
    calls_per_s: f64,
    p50_us: u64,
    p99_us: u64,
}

/// Kills the baseline server when the measurement ends, however it ends.
struct Reaped(tokio::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        // It may have exited already; nothing else to do then.
        let _gone = self.0.start_kill();
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "runs the baseline's processes, not workers"
)]
fn python_command(python: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(python);
    command.kill_on_drop(true);
    command
}

/// The baseline's figures: its Python client's, and `h2load`'s when it is installed.
#[derive(Debug)]
pub(super) struct Baseline {
    /// A Python grpcio client.
    pub(super) python_client: Figures,
    /// `h2load`; `None` when it is not on `PATH`.
    pub(super) h2load: Option<Figures>,
}

/// Serves the function with grpcio and calls it at `concurrency` concurrent calls for
/// `seconds`, with each client in turn.
///
/// # Errors
///
/// When Python or its `grpcio` package is missing, or a process fails.
pub(super) async fn measure(
    python: &Path,
    concurrency: usize,
    seconds: f64,
) -> anyhow::Result<Baseline> {
    let script = std::env::temp_dir().join(format!("snakepit-grpc-{}.py", std::process::id()));
    std::fs::write(&script, SCRIPT).context("could not write the grpcio baseline script")?;
    let outcome = run(python, &script, concurrency, seconds).await;
    let _ = std::fs::remove_file(&script);
    outcome
}

async fn run(
    python: &Path,
    script: &Path,
    concurrency: usize,
    seconds: f64,
) -> anyhow::Result<Baseline> {
    let mut server = python_command(python)
        .arg(script)
        .arg("server")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not run {}", python.display()))?;
    let stdout = server.stdout.take().context("the server's stdout")?;
    let mut stderr = server.stderr.take().context("the server's stderr")?;
    let server_pid: Vec<u32> = server.id().into_iter().collect();
    let server = Reaped(server);
    let mut lines = BufReader::new(stdout).lines();
    let port = match tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await {
        Ok(Ok(Some(line))) => line.trim().parse::<u16>().context("the server's port")?,
        _ => {
            let mut text = String::new();
            let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text).await;
            bail!(
                "the grpcio server did not start (is grpcio installed?): {}",
                text.trim()
            );
        }
    };
    let before = cpu::sample(&server_pid);
    let output = python_command(python)
        .arg(script)
        .args([
            "client",
            &port.to_string(),
            &concurrency.to_string(),
            &seconds.to_string(),
        ])
        .output()
        .await
        .context("could not run the grpcio client")?;
    let after = cpu::sample(&server_pid);
    if !output.status.success() {
        bail!(
            "the grpcio client failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let printed: Printed =
        serde_json::from_slice(&output.stdout).context("the grpcio client's figures")?;
    // The client counts only the calls after its warm-up; its CPU includes the warm-up.
    let python_client = Figures {
        calls: printed.calls,
        errors: printed.errors,
        per_second: printed.calls_per_s,
        p50_us: printed.p50_us,
        p99_us: printed.p99_us,
        cpu: Some(before.per_call(after, printed.calls)),
    };
    let before = cpu::sample(&server_pid);
    let mut h2load = super::h2load::run(port, concurrency, seconds).await;
    if let Some(h2load) = &mut h2load {
        h2load.cpu = Some(before.per_call(cpu::sample(&server_pid), h2load.calls));
    }
    drop(server);
    Ok(Baseline {
        python_client,
        h2load,
    })
}
