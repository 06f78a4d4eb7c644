//! The [`Adapter`] trait and the [`WorkerCommand`] it produces.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::error::Result;

/// What a native worker's link is made of. Either way the frames are the same; the worker
/// finds the descriptors in `SNAKEPIT_FD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LinkTransport {
    /// One socketpair for both directions: `SNAKEPIT_FD=3`. Every bridge reads this form.
    #[default]
    Socket,
    /// Two pipes, one per direction: `SNAKEPIT_FD=3,5`, read frames from 3 and write them to
    /// 5. The host reading an answer does not wake a worker blocked reading its next call,
    /// as it does on a socket's one wait queue; for bridges that read this form (the Python
    /// bridge does). See `docs/design/worker-waits.md`.
    Pipes,
}

/// Which protocol a worker speaks on its link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WorkerProtocol {
    /// The native protocol over the link in `SNAKEPIT_FD` (see [`LinkTransport`]), with a
    /// hello handshake.
    #[default]
    Native,
    /// The classic v0.0.1 protocol: JSON frames over stdin/stdout, one call at a time, no
    /// handshake, no cancel.
    Classic,
}

/// How to start one worker process.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerCommand {
    /// The program to run.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Extra environment variables (the rest is inherited).
    pub env: Vec<(OsString, OsString)>,
    /// The working directory; the host's when `None`.
    pub cwd: Option<PathBuf>,
    /// The protocol the worker speaks.
    pub protocol: WorkerProtocol,
    /// What a native link is made of (a classic worker always talks over stdin/stdout).
    pub transport: LinkTransport,
    /// A fork server that starts the workers instead of running `program` for each: it is
    /// started once per pool with a control socket on `SNAKEPIT_FD` and forks a worker per
    /// request (see [`PythonAdapter::preload`](crate::PythonAdapter::preload) and
    /// `docs/design/zygote.md`). `None`: every worker is spawned.
    pub zygote: Option<Box<WorkerCommand>>,
}

impl WorkerCommand {
    /// A command running `program` with no arguments, speaking the native protocol.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            protocol: WorkerProtocol::Native,
            transport: LinkTransport::Socket,
            zygote: None,
        }
    }
}

/// What a pool's workers are and how calls to them are shaped.
///
/// Only [`Adapter::name`] and [`Adapter::worker_command`] are required; the other hooks
/// default to doing nothing.
pub trait Adapter: Send + Sync + fmt::Debug + 'static {
    /// A short name for logs and stats.
    fn name(&self) -> String;

    /// How to start a worker. Called once when the pool starts, on a blocking thread (it may
    /// run a short probe, such as resolving an interpreter).
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) when the adapter cannot run here.
    fn worker_command(&self) -> Result<WorkerCommand>;

    /// Checks a call before it is queued. An error is returned to the caller as
    /// [`Error::InvalidCall`](crate::Error::InvalidCall).
    ///
    /// # Errors
    ///
    /// A message saying what is wrong with the call.
    fn validate(&self, command: &str, args: &Value) -> Result<(), String> {
        let _unused = (command, args);
        Ok(())
    }

    /// Shapes the arguments before they are sent.
    fn prepare_args(&self, command: &str, args: Value) -> Value {
        let _unused = command;
        args
    }

    /// Shapes a successful result before it is returned. An error is returned to the caller
    /// as [`Error::InvalidResponse`](crate::Error::InvalidResponse).
    ///
    /// # Errors
    ///
    /// A message saying what is wrong with the result.
    fn process_response(&self, command: &str, result: Value) -> Result<Value, String> {
        let _unused = command;
        Ok(result)
    }

    /// The deadline for this command, when it differs from the pool's default.
    fn command_timeout(&self, command: &str, args: &Value) -> Option<Duration> {
        let _unused = (command, args);
        None
    }
}
