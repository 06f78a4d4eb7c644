//! Pool settings: plain data with documented defaults.

use std::path::PathBuf;
use std::time::Duration;

use crate::protocol::DEFAULT_MAX_FRAME;

/// The settings of a pool. Build one with [`Pool::builder`](crate::Pool::builder), or fill
/// the fields and pass it to [`PoolBuilder::config`](crate::PoolBuilder::config).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// How many workers the pool keeps running. Default: the number of CPUs.
    pub size: usize,
    /// How long a worker may take to say hello. Default: 20 s.
    pub startup_timeout: Duration,
    /// How many calls may wait for a worker before new ones fail with
    /// [`Error::PoolSaturated`](crate::Error::PoolSaturated). Default: 1000.
    pub max_queue: usize,
    /// How long a call may wait for a worker before it fails with
    /// [`Error::QueueTimeout`](crate::Error::QueueTimeout). Default: 5 s.
    pub queue_timeout: Duration,
    /// How long a call may run when neither the call nor the adapter says otherwise.
    /// Default: 30 s.
    pub call_timeout: Duration,
    /// How long a worker has to answer a cancel before it is killed and replaced.
    /// Default: 2 s.
    pub cancel_grace: Duration,
    /// How long [`Pool::shutdown`](crate::Pool::shutdown) lets running calls finish.
    /// Default: 5 s.
    pub drain_timeout: Duration,
    /// How long a stopping worker has between SIGTERM and SIGKILL. Default: 2 s.
    pub stop_grace: Duration,
    /// The largest frame either side may send, in bytes. Default: 64 MiB.
    pub max_frame: usize,
    /// Whether the pool records its workers in the run registry and sweeps the orphans of
    /// dead runs at start. Default: on.
    pub registry: bool,
    /// The registry's directory. Default: [`default_state_dir`](crate::registry::default_state_dir).
    pub state_dir: Option<PathBuf>,
    /// The pool's name in the registry and in `snakepit status`. Default: the adapter's name.
    pub instance_name: Option<String>,
    /// How calls in a session find their worker, unless a call says otherwise.
    /// Default: [`Affinity::Hint`].
    pub affinity: Affinity,
}

/// How a call in a session is routed to the worker that owns the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Affinity {
    /// Prefer the owner; if it is busy or gone, use a free worker and make it the owner.
    #[default]
    Hint,
    /// Wait for the owner; if it is gone, fail with
    /// [`Error::SessionLost`](crate::Error::SessionLost).
    StrictQueue,
    /// Owner busy: fail at once with [`Error::SessionBusy`](crate::Error::SessionBusy);
    /// owner gone: [`Error::SessionLost`](crate::Error::SessionLost).
    StrictFailFast,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            size: std::thread::available_parallelism().map_or(2, usize::from),
            startup_timeout: Duration::from_secs(20),
            max_queue: 1000,
            queue_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(30),
            cancel_grace: Duration::from_secs(2),
            drain_timeout: Duration::from_secs(5),
            stop_grace: Duration::from_secs(2),
            max_frame: DEFAULT_MAX_FRAME,
            registry: true,
            state_dir: None,
            instance_name: None,
            affinity: Affinity::Hint,
        }
    }
}

impl PoolConfig {
    /// Checks that the settings make sense.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) naming the first setting that does not.
    pub fn validate(&self) -> crate::Result<()> {
        let problem = if self.size == 0 {
            Some("size must be at least 1")
        } else if self.max_frame < 64 || self.max_frame > u32::MAX as usize {
            Some("max_frame must be between 64 bytes and 4 GiB")
        } else if self.startup_timeout.is_zero() {
            Some("startup_timeout must not be zero")
        } else if self.call_timeout.is_zero() {
            Some("call_timeout must not be zero")
        } else {
            None
        };
        match problem {
            Some(problem) => Err(crate::Error::Config(problem.to_owned())),
            None => Ok(()),
        }
    }
}
