//! [`PoolBuilder`]: settings in, a started [`Pool`] out.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::handle::Pool;
use super::lifecycle::start_pool;
use crate::adapter::{Adapter, LinkTransport, WorkerProtocol};
use crate::config::PoolConfig;
use crate::config::{Affinity, CircuitConfig, HealthConfig, Profile, RecycleConfig, RetryConfig};
use crate::error::{Error, Result};
use crate::process::LinkMode;
use crate::registry::{Run, default_state_dir, sweep};
use crate::session::SessionStore;
use crate::worker::WorkerSpec;

/// Builds a [`Pool`]. Every setting has a default; see [`PoolConfig`].
#[must_use = "a builder does nothing until `.start()` is awaited"]
#[derive(Debug)]
pub struct PoolBuilder {
    adapter: Arc<dyn Adapter>,
    config: PoolConfig,
    sessions: Option<SessionStore>,
}

impl Pool {
    /// A builder for a pool of workers of `adapter`.
    pub fn builder(adapter: impl Adapter) -> PoolBuilder {
        PoolBuilder {
            adapter: Arc::new(adapter),
            config: PoolConfig::default(),
            sessions: None,
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

    /// The size from which binary buffers travel in shared memory (a sealed memfd) instead
    /// of inline in the frame.
    pub fn shm_threshold(mut self, bytes: usize) -> Self {
        self.config.shm_threshold = bytes;
        self
    }

    /// The most shared memory the pool holds at once.
    pub fn shm_cap(mut self, bytes: usize) -> Self {
        self.config.shm_cap = bytes;
        self
    }

    /// Which crashed calls are retried, how often, with what backoff.
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.config.retry = retry;
        self
    }

    /// The circuit breaker's settings.
    pub fn circuit(mut self, circuit: CircuitConfig) -> Self {
        self.config.circuit = circuit;
        self
    }

    /// Heartbeats, restart backoff and taint.
    pub fn health(mut self, health: HealthConfig) -> Self {
        self.config.health = health;
        self
    }

    /// When workers are recycled.
    pub fn recycle(mut self, recycle: RecycleConfig) -> Self {
        self.config.recycle = recycle;
        self
    }

    /// Whether to record workers in the run registry and sweep dead runs at start.
    pub fn registry(mut self, enabled: bool) -> Self {
        self.config.registry = enabled;
        self
    }

    /// The run registry's directory.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.state_dir = Some(dir.into());
        self
    }

    /// The pool's name in the run registry.
    pub fn instance_name(mut self, name: impl Into<String>) -> Self {
        self.config.instance_name = Some(name.into());
        self
    }

    /// The default session affinity of calls in a session.
    pub fn affinity(mut self, affinity: Affinity) -> Self {
        self.config.affinity = affinity;
        self
    }

    /// How many calls each worker runs at once. Default: [`Profile::Process`], one.
    pub fn profile(mut self, profile: Profile) -> Self {
        self.config.profile = profile;
        self
    }

    /// Whether the calls of one session run one at a time (see
    /// [`PoolConfig::serial_sessions`]). Default: off.
    pub fn serial_sessions(mut self, serial: bool) -> Self {
        self.config.serial_sessions = serial;
        self
    }

    /// The session store the pool uses (to share one between pools, or to configure its TTL
    /// and limits). Default: a new store with default settings.
    pub fn sessions(mut self, store: SessionStore) -> Self {
        self.sessions = Some(store);
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
        let run = if self.config.registry {
            open_run(&self.config, &self.adapter.name()).await
        } else {
            None
        };
        let sessions = self.sessions.unwrap_or_default();
        let mut env = command.env;
        env.push((
            OsString::from("SNAKEPIT_MAX_FRAME"),
            OsString::from(self.config.max_frame.to_string()),
        ));
        // The profile decides the capacity.
        if env.iter().any(|(key, _)| key == "SNAKEPIT_CAPACITY") {
            return Err(Error::Config(
                "set a worker's capacity with the pool's profile \
                 (`.profile(Profile::concurrent(n))`), not with SNAKEPIT_CAPACITY"
                    .to_owned(),
            ));
        }
        env.push((
            OsString::from("SNAKEPIT_CAPACITY"),
            OsString::from(self.config.profile.capacity().to_string()),
        ));
        env.push((
            OsString::from("SNAKEPIT_SHM_THRESHOLD"),
            OsString::from(self.config.shm_threshold.to_string()),
        ));
        let zygote = match command.zygote {
            Some(zygote) => {
                let mut zygote_env = zygote.env;
                zygote_env.push((
                    OsString::from("SNAKEPIT_MAX_FRAME"),
                    OsString::from(self.config.max_frame.to_string()),
                ));
                // Forked workers inherit the zygote's environment.
                zygote_env.push((
                    OsString::from("SNAKEPIT_CAPACITY"),
                    OsString::from(self.config.profile.capacity().to_string()),
                ));
                zygote_env.push((
                    OsString::from("SNAKEPIT_SHM_THRESHOLD"),
                    OsString::from(self.config.shm_threshold.to_string()),
                ));
                Some(
                    crate::zygote::Zygote::start(&crate::zygote::ZygoteSpec {
                        program: zygote.program,
                        args: zygote.args,
                        env: zygote_env,
                        cwd: zygote.cwd,
                        startup_timeout: self.config.startup_timeout,
                        run: run.clone(),
                    })
                    .await?,
                )
            }
            None => None,
        };
        let spec = WorkerSpec {
            program: command.program,
            args: command.args,
            env,
            cwd: command.cwd,
            link: match (command.protocol, command.transport) {
                (WorkerProtocol::Classic, _) => LinkMode::Stdio,
                (_, LinkTransport::Pipes) => LinkMode::Pipes,
                _ => LinkMode::Socketpair,
            },
            startup_timeout: self.config.startup_timeout,
            max_frame: self.config.max_frame,
            max_capacity: self.config.profile.capacity(),
            shm: crate::shm::Budget::new(self.config.shm_cap),
            shm_threshold: self.config.shm_threshold,
            run,
            zygote,
            host: None,
            telemetry: crate::telemetry::Telemetry::new(
                self.config
                    .instance_name
                    .as_deref()
                    .unwrap_or(&self.adapter.name()),
            ),
        };
        start_pool(self.adapter, self.config, spec, sessions).await
    }
}

/// Sweeps the orphans of dead runs and registers this one. A registry that cannot be used is
/// logged, not fatal: the workers still die with the host through the parent-death signal
/// and the reaper.
async fn open_run(config: &PoolConfig, adapter_name: &str) -> Option<Arc<Run>> {
    let dir = config.state_dir.clone().unwrap_or_else(default_state_dir);
    let instance = config
        .instance_name
        .clone()
        .unwrap_or_else(|| adapter_name.to_owned());
    let opened = tokio::task::spawn_blocking(move || {
        if let Err(err) = sweep(&dir, false) {
            tracing::warn!(dir = %dir.display(), error = %err, "could not sweep the run registry");
        }
        Run::create(&dir, &instance).map_err(|err| (dir, err))
    })
    .await;
    match opened {
        Ok(Ok(run)) => Some(Arc::new(run)),
        Ok(Err((dir, err))) => {
            tracing::warn!(dir = %dir.display(), error = %err, "could not register the run; continuing without the registry");
            None
        }
        Err(err) => {
            tracing::warn!(error = %err, "registering the run panicked; continuing without the registry");
            None
        }
    }
}
