#![doc = include_str!("../README.md")]

/// The examples of the repository's top-level README, compiled as doctests so they cannot
/// drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeExamples;

pub mod adapter;
mod config;
mod error;
#[cfg(feature = "bench")]
#[doc(hidden)]
pub mod floor;
pub mod grpc;
mod id_hash;
pub mod packages;
mod pool;
mod pools;
mod process;
mod protocol;
pub mod python;
pub mod registry;
pub mod session;
mod shm;
pub mod telemetry;
pub mod tool;
pub mod value;
mod worker;
mod zygote;

pub use adapter::NodeAdapter;
pub use adapter::{
    Adapter, BridgeSource, GenericAdapter, LinkTransport, PythonAdapter, WorkerCommand,
    WorkerProtocol,
};
pub use config::{
    Affinity, CircuitConfig, HealthConfig, PoolConfig, Profile, RecycleConfig, RetryConfig,
    RetryPolicy,
};
pub use error::{Error, ErrorKind, ExitClass, ExitInfo, Result, WorkerError};
pub use pool::WorkerSnapshot;
pub use pool::{
    Call, CallStream, CircuitState, LatencyPercentiles, Pool, PoolBuilder, PoolStats, StreamItem,
    TypedStream,
};
pub use pools::{PoolStartError, Pools, PoolsBuilder};
pub use protocol::{MAX_DEPTH, ParamSpec, ToolSpec};
pub use shm::{DEFAULT_SHM_CAP, DEFAULT_SHM_THRESHOLD, SharedBuffer, SharedBufferMut};
pub use worker::WorkerId;
pub use worker::{UNLISTED_COMMAND, WorkerState};
