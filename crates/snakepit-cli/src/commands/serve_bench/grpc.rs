//! The grpcio baseline of `snakepit serve-bench`: the same trivial function served by a
//! Python grpcio server and called by a Python grpcio client at the same concurrency, each
//! in its own process (`grpc_baseline.py`, embedded in the binary), measured in the same run
//! as the snakepit figures.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt as _, BufReader};

use super::Figures;

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

/// Serves the function with grpcio and calls it at `concurrency` concurrent calls for
/// `seconds`; the figures of the client.
///
/// # Errors
///
/// When Python or its `grpcio` package is missing, or a process fails.
pub(super) async fn measure(
    python: &Path,
    concurrency: usize,
    seconds: f64,
) -> anyhow::Result<Figures> {
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
) -> anyhow::Result<Figures> {
    let mut server = python_command(python)
        .arg(script)
        .arg("server")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not run {}", python.display()))?;
    let stdout = server.stdout.take().context("the server's stdout")?;
    let mut stderr = server.stderr.take().context("the server's stderr")?;
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
    drop(server);
    if !output.status.success() {
        bail!(
            "the grpcio client failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let printed: Printed =
        serde_json::from_slice(&output.stdout).context("the grpcio client's figures")?;
    Ok(Figures {
        calls: printed.calls,
        errors: printed.errors,
        per_second: printed.calls_per_s,
        p50_us: printed.p50_us,
        p99_us: printed.p99_us,
    })
}
