//! The benchmark floors: a bare framed echo between this process and a Python process, with
//! no pool in between, and the store micro-benchmark. Not API: `snakepit bench` enables it
//! with the `bench` feature.
//!
//! `snakepit bench` compares every figure of the pool with a floor: the same link, the same
//! frames and the same codec, and nothing else. The Python side is
//! `python -m snakepit_bridge.floor`, which answers every message with a `result` carrying
//! the message's `args`. There are two host sides:
//!
//! - [`Floor`] drives the link on the tokio runtime, as the pool does;
//! - [`BlockingFloor`] drives it with plain blocking `write`/`read` calls from one OS thread,
//!   with no runtime at all: the most a host can get out of the same Python process.

mod blocking;
mod echo;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::process::Child;

pub use blocking::BlockingFloor;
pub use echo::Floor;

use crate::adapter::{Adapter, PythonAdapter};
use crate::error::{Error, Result};
use crate::process::{LinkMode, SpawnRequest, signal_group};
/// The wire types the floors speak, for the benchmark.
pub use crate::protocol::{Encoding, Message};
pub use crate::session::bench::bench_store_ops;
use crate::worker::WorkerId;

/// How long a floor gets to exit at end-of-file before its group is killed.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// The request that starts `python -m snakepit_bridge.floor` over a socketpair, with the
/// interpreter resolved as [`PythonAdapter`] resolves it.
async fn floor_request(python: PathBuf) -> Result<SpawnRequest> {
    let adapter = PythonAdapter::new("snakepit_bridge.floor:unused").python(python);
    let command = tokio::task::spawn_blocking(move || adapter.worker_command())
        .await
        .map_err(|err| Error::Config(format!("preparing the floor panicked: {err}")))??;
    Ok(SpawnRequest {
        program: command.program,
        args: vec![
            OsString::from("-m"),
            OsString::from("snakepit_bridge.floor"),
        ],
        env: command.env,
        cwd: None,
        link: LinkMode::Socketpair,
        worker: WorkerId::next(),
    })
}

/// Waits for a floor whose link is closed to exit; kills its group after [`STOP_GRACE`].
async fn reap(mut child: Child, pid: u32) {
    if tokio::time::timeout(STOP_GRACE, child.wait())
        .await
        .is_err()
    {
        if let Err(err) = signal_group(pid, Signal::SIGKILL) {
            tracing::warn!(error = %err, "could not kill the floor");
        }
        if let Err(err) = child.wait().await {
            tracing::debug!(error = %err, "could not reap the floor");
        }
    }
}
