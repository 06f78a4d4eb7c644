//! [`PoolBuilder`]: settings in, a started [`Pool`] out.

use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

use super::handle::Pool;
use super::lifecycle::start_pool;
use crate::adapter::{Adapter, WorkerProtocol};
use crate::config::PoolConfig;
use crate::error::{Error, Result};
use crate::worker::WorkerSpec;

/// Builds a [`Pool`]. Every setting has a default; see [`PoolConfig`].
#[must_use = "a builder does nothing until `.start()` is awaited"]
#[derive(Debug)]
pub struct PoolBuilder {
    adapter: Arc<dyn Adapter>,
    config: PoolConfig,
}

impl Pool {
    /// A builder for a pool of workers of `adapter`.
    pub fn builder(adapter: impl Adapter) -> PoolBuilder {
        PoolBuilder {
            adapter: Arc::new(adapter),
            config: PoolConfig::default(),
        }
    }
}

impl PoolBuilder {
    /// Replaces every setting at once.
    pub fn config(mut self, config: PoolConfig) -> Self {
        self.config = config;
        self
    }

    /// How many workers the pool keeps running.
    pub fn size(mut self, size: usize) -> Self {
        self.config.size = size;
        self
    }

    /// How long a worker may take to become ready.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.config.startup_timeout = timeout;
        self
    }

    /// How many calls may wait for a worker.
    pub fn max_queue(mut self, max_queue: usize) -> Self {
        self.config.max_queue = max_queue;
        self
    }

    /// How long a call may wait for a worker.
    pub fn queue_timeout(mut self, timeout: Duration) -> Self {
        self.config.queue_timeout = timeout;
        self
    }

    /// The default deadline of a call.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.config.call_timeout = timeout;
        self
    }

    /// How long a worker has to answer a cancel before it is killed.
    pub fn cancel_grace(mut self, grace: Duration) -> Self {
        self.config.cancel_grace = grace;
        self
    }

    /// How long shutdown lets running calls finish.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.config.drain_timeout = timeout;
        self
    }

    /// How long a stopping worker has between SIGTERM and SIGKILL.
    pub fn stop_grace(mut self, grace: Duration) -> Self {
        self.config.stop_grace = grace;
        self
    }

    /// The largest frame either side may send, in bytes.
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.config.max_frame = bytes;
        self
    }

    /// Starts every worker concurrently and returns the pool once all are ready.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for settings that make no sense or an adapter that cannot run here;
    /// [`Error::StartFailed`] naming the first worker that did not start and the tail of its
    /// stderr (the workers that did start are killed); [`Error::Spawn`] when the program
    /// cannot be run.
    pub async fn start(self) -> Result<Pool> {
        self.config.validate()?;
        let adapter = Arc::clone(&self.adapter);
        let command = tokio::task::spawn_blocking(move || adapter.worker_command())
            .await
            .map_err(|err| {
                Error::Config(format!(
                    "the adapter panicked while preparing its command: {err}"
                ))
            })??;
        let mut env = command.env;
        env.push((
            OsString::from("SNAKEPIT_MAX_FRAME"),
            OsString::from(self.config.max_frame.to_string()),
        ));
        let spec = WorkerSpec {
            program: command.program,
            args: command.args,
            env,
            cwd: command.cwd,
            classic: command.protocol == WorkerProtocol::Classic,
            startup_timeout: self.config.startup_timeout,
            max_frame: self.config.max_frame,
        };
        start_pool(self.adapter, self.config, spec).await
    }
}
