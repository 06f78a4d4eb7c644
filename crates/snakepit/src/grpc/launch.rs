//! The spawner's side of a gRPC worker: recognise the request, bind the host's
//! `BridgeService` listener before the fork (the worker pings it before it is ready), complete
//! the worker's command line and environment, and after the fork start the translator on the
//! link end the child does not get.

use std::ffi::OsString;
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::process::SpawnRequest;
use crate::protocol::DEFAULT_MAX_FRAME;
use crate::worker::WorkerId;

/// The environment variable that marks a worker as a gRPC worker; its value is the adapter
/// class. The spawner takes it out of the environment the worker gets.
pub(crate) const LAUNCH_ENV: &str = "SNAKEPIT_GRPC_TRANSLATE";

/// A gRPC worker about to be forked.
#[derive(Debug)]
pub(crate) struct Launch {
    adapter: String,
    listener: TcpListener,
    ready_file: PathBuf,
    max_frame: usize,
    worker: WorkerId,
}

impl Launch {
    /// When `request` is for a gRPC worker: binds the host's listener on `127.0.0.1` and an
    /// ephemeral port, and adds `--elixir-address`, `--snakepit-run-id` and the ready file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when no port can be bound on the loopback interface.
    pub(crate) fn prepare(request: &mut SpawnRequest) -> Result<Option<Self>> {
        let Some(position) = request.env.iter().position(|(key, _)| key == LAUNCH_ENV) else {
            return Ok(None);
        };
        let (_, adapter) = request.env.remove(position);
        let max_frame = request
            .env
            .iter()
            .find(|(key, _)| key == "SNAKEPIT_MAX_FRAME")
            .and_then(|(_, value)| value.to_str()?.parse().ok())
            .unwrap_or(DEFAULT_MAX_FRAME);
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|source| Error::Io {
            context: "could not bind the gRPC host on 127.0.0.1".to_owned(),
            source,
        })?;
        let address = listener.local_addr().map_err(|source| Error::Io {
            context: "could not read the gRPC host's address".to_owned(),
            source,
        })?;
        let ready_file = ready_file(request.worker);
        request.args.extend([
            OsString::from("--elixir-address"),
            OsString::from(address.to_string()),
            OsString::from("--snakepit-run-id"),
            OsString::from(run_id()),
        ]);
        request
            .env
            .push(("SNAKEPIT_READY_FILE".into(), ready_file.clone().into()));
        Ok(Some(Self {
            adapter: adapter.to_string_lossy().into_owned(),
            listener,
            ready_file,
            max_frame,
            worker: request.worker,
        }))
    }

    /// Starts the translator for the forked worker `pid`, on the link end the pool's worker
    /// handle does not hold.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the link or the listener cannot join the runtime.
    pub(crate) fn start(self, link: UnixStream, pid: u32) -> Result<()> {
        let io = |context: &str| {
            let context = context.to_owned();
            move |source| Error::Io { context, source }
        };
        link.set_nonblocking(true)
            .map_err(io("could not make the gRPC link non-blocking"))?;
        self.listener
            .set_nonblocking(true)
            .map_err(io("could not make the gRPC listener non-blocking"))?;
        let link = tokio::net::UnixStream::from_std(link)
            .map_err(io("could not register the gRPC link"))?;
        let listener = tokio::net::TcpListener::from_std(self.listener)
            .map_err(io("could not register the gRPC listener"))?;
        let parts = super::translator::Parts {
            adapter: self.adapter,
            listener,
            ready_file: self.ready_file,
            link,
            pid,
            worker: self.worker,
            max_frame: self.max_frame,
        };
        tokio::spawn(super::translator::run(parts));
        Ok(())
    }
}

/// A fresh ready-file path for one worker, in the temporary directory.
fn ready_file(worker: WorkerId) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "snakepit_ready_{}_{worker}_{n}",
        std::process::id()
    ))
}

/// The 7-character `[0-9a-z]` run id the worker's command line carries for `ps`: the host's
/// pid in base 36. The host finds its workers by pid and start time, never by this id.
fn run_id() -> String {
    let mut pid = std::process::id();
    let mut digits = Vec::new();
    for _ in 0..7 {
        digits.push(char::from_digit(pid % 36, 36).unwrap_or('0'));
        pid /= 36;
    }
    digits.iter().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_id_is_seven_base36_characters() {
        let id = run_id();
        assert_eq!(id.len(), 7);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        );
    }
}
