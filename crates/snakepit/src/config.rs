//! Pool settings: plain data with documented defaults.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::protocol::DEFAULT_MAX_FRAME;

/// The settings of a pool. Build one with [`Pool::builder`](crate::Pool::builder), or fill
/// the fields and pass it to [`PoolBuilder::config`](crate::PoolBuilder::config).
#[derive(Debug, Clone, PartialEq)]
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
    /// The size from which a binary buffer travels as a sealed memfd instead of inline in
    /// the frame. Default: [`DEFAULT_SHM_THRESHOLD`](crate::DEFAULT_SHM_THRESHOLD) (64 KiB).
    pub shm_threshold: usize,
    /// The most shared memory the pool holds at once (buffers received, allocated with
    /// [`Pool::alloc_shared`](crate::Pool::alloc_shared) or being sent); past it a transfer
    /// fails with [`Error::SharedMemoryCap`](crate::Error::SharedMemoryCap). Default:
    /// [`DEFAULT_SHM_CAP`](crate::DEFAULT_SHM_CAP) (4 GiB).
    pub shm_cap: usize,
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
    /// How many calls each worker runs at once. Default: [`Profile::Process`].
    pub profile: Profile,
    /// Whether the calls of one session run one at a time, even on a worker of the
    /// [`Profile::Concurrent`] profile: a session's next call waits (in the queue, up to
    /// the queue timeout) until its previous one has answered; with
    /// [`Affinity::StrictFailFast`] it fails with
    /// [`Error::SessionBusy`](crate::Error::SessionBusy) instead. Default: off (a session's
    /// calls may run concurrently on its owner, up to the owner's capacity; one session can
    /// still be made serial with
    /// [`SessionStore::set_serial`](crate::session::SessionStore::set_serial)).
    pub serial_sessions: bool,
    /// Retries of calls whose worker crashed.
    pub retry: RetryConfig,
    /// The pool's circuit breaker.
    pub circuit: CircuitConfig,
    /// Heartbeats and restart backoff.
    pub health: HealthConfig,
    /// Recycling of workers by requests served, age and memory.
    pub recycle: RecycleConfig,
}

/// Which calls are retried on another worker when their worker crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RetryPolicy {
    /// Never: the caller gets the crash error at once.
    #[default]
    Never,
    /// Only calls marked idempotent ([`Call::idempotent`](crate::Call::idempotent)).
    Idempotent,
    /// Every call.
    Always,
}

/// Retries of calls whose worker crashed (exited, was killed, broke the protocol) while
/// running them. Timeouts and errors raised by the tool are never retried.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryConfig {
    /// The policy for commands without one of their own. Default: [`RetryPolicy::Idempotent`].
    pub policy: RetryPolicy,
    /// Per-command policies.
    pub per_command: HashMap<String, RetryPolicy>,
    /// How many times a call is retried at most. Default: 2.
    pub max_retries: u32,
    /// The pause before the first retry; it doubles for each further one. Default: 50 ms.
    pub backoff: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            policy: RetryPolicy::Idempotent,
            per_command: HashMap::new(),
            max_retries: 2,
            backoff: Duration::from_millis(50),
        }
    }
}

impl RetryConfig {
    /// The policy for `command`.
    pub fn policy_for(&self, command: &str) -> RetryPolicy {
        self.per_command
            .get(command)
            .copied()
            .unwrap_or(self.policy)
    }
}

/// The circuit breaker: after `failure_threshold` consecutive failures (crashes and
/// timeouts) calls fail fast with [`Error::CircuitOpen`](crate::Error::CircuitOpen); after
/// `reset_after` one probe call at a time is let through, and a success closes the circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CircuitConfig {
    /// Whether the breaker is on. Default: on.
    pub enabled: bool,
    /// Consecutive failures that open the circuit. Default: 10.
    pub failure_threshold: u32,
    /// How long the circuit stays open before a probe. Default: 5 s.
    pub reset_after: Duration,
}

impl Default for CircuitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            failure_threshold: 10,
            reset_after: Duration::from_secs(5),
        }
    }
}

/// Heartbeats of idle workers, and how restarts of crashing workers back off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthConfig {
    /// How often idle workers are pinged; `None` turns heartbeats off. Default: 10 s.
    pub heartbeat_interval: Option<Duration>,
    /// How long a pinged worker has to answer before it is killed and replaced. Default: 5 s.
    pub heartbeat_timeout: Duration,
    /// The pause before restarting a slot whose worker just crashed; it doubles with each
    /// crash within `crash_window`. Default: 100 ms.
    pub restart_backoff: Duration,
    /// The longest such pause. Default: 10 s.
    pub restart_backoff_max: Duration,
    /// The window in which crashes of a slot count together. Default: 60 s.
    pub crash_window: Duration,
    /// Crashes within the window that taint a slot. Default: 5.
    pub taint_after: u32,
    /// How long a tainted slot stays empty before it is tried again. Default: 30 s.
    pub taint_duration: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: Some(Duration::from_secs(10)),
            heartbeat_timeout: Duration::from_secs(5),
            restart_backoff: Duration::from_millis(100),
            restart_backoff_max: Duration::from_secs(10),
            crash_window: Duration::from_secs(60),
            taint_after: 5,
            taint_duration: Duration::from_secs(30),
        }
    }
}

/// When workers are replaced by fresh ones, make-before-break: the replacement is ready
/// before the old worker stops taking calls, and calls running on the old one finish.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RecycleConfig {
    /// After this many calls. Default: never.
    pub max_requests: Option<u64>,
    /// After this long. Default: never.
    pub max_age: Option<Duration>,
    /// When the resident memory of the worker's process group exceeds this. Default: never.
    pub max_memory_bytes: Option<u64>,
    /// Each worker's limits are scaled by a random factor in `1 ± jitter`, so workers do not
    /// all recycle at once. Default: 0.1.
    pub jitter: f64,
    /// How often age and memory are checked. Default: 1 s.
    pub check_interval: Duration,
}

impl Default for RecycleConfig {
    fn default() -> Self {
        Self {
            max_requests: None,
            max_age: None,
            max_memory_bytes: None,
            jitter: 0.1,
            check_interval: Duration::from_secs(1),
        }
    }
}

/// How many calls each worker of a pool runs at once.
///
/// ```no_run
/// # async fn demo() -> snakepit::Result<()> {
/// use snakepit::{Pool, Profile, PythonAdapter};
///
/// // 2 processes, each running up to 32 calls at once: sync tools on a thread pool of 32,
/// // `async def` tools on the worker's event loop.
/// let pool = Pool::builder(PythonAdapter::new("my_package.io:Fetcher"))
///     .size(2)
///     .profile(Profile::concurrent(32))
///     .start()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Profile {
    /// One call at a time per worker; parallelism comes from the number of processes. The
    /// right choice for CPU-bound tools on a CPython with a GIL.
    #[default]
    Process,
    /// Each worker takes up to `capacity` calls at once. The Python bridge runs synchronous
    /// tools on a thread pool of that size (in parallel on a free-threaded CPython, under
    /// the GIL otherwise, which still overlaps I/O) and `async def` tools concurrently on
    /// its event loop; tools marked `thread_safe=False` still run one at a time. Fewer
    /// processes hold fewer copies of what the adapter loads.
    Concurrent {
        /// Calls at once per worker, at least 1.
        capacity: usize,
    },
}

impl Profile {
    /// The concurrent profile with `capacity` calls at once per worker.
    pub fn concurrent(capacity: usize) -> Self {
        Self::Concurrent { capacity }
    }

    /// How many calls at once the profile gives each worker.
    pub fn capacity(self) -> usize {
        match self {
            Self::Process => 1,
            Self::Concurrent { capacity } => capacity,
        }
    }

    /// The most calls at once a concurrent worker may take.
    pub const MAX_CAPACITY: usize = 4096;

    fn check(self) -> Result<(), &'static str> {
        match self {
            Self::Concurrent { capacity: 0 } => Err("profile capacity must be at least 1"),
            Self::Concurrent { capacity } if capacity > Self::MAX_CAPACITY => {
                Err("profile capacity must be at most 4096")
            }
            _ => Ok(()),
        }
    }
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
            shm_threshold: crate::shm::DEFAULT_SHM_THRESHOLD,
            shm_cap: crate::shm::DEFAULT_SHM_CAP,
            registry: true,
            state_dir: None,
            instance_name: None,
            affinity: Affinity::Hint,
            profile: Profile::Process,
            serial_sessions: false,
            retry: RetryConfig::default(),
            circuit: CircuitConfig::default(),
            health: HealthConfig::default(),
            recycle: RecycleConfig::default(),
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
            self.profile.check().err()
        };
        match problem {
            Some(problem) => Err(crate::Error::Config(problem.to_owned())),
            None => Ok(()),
        }
    }
}
