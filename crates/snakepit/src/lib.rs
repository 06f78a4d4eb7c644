#![doc = include_str!("../README.md")]

pub mod adapter;
mod config;
mod error;
pub mod floor;
mod pool;
mod process;
pub mod protocol;
pub mod registry;
pub mod session;
pub mod tool;
mod worker;

pub use adapter::{
    Adapter, BridgeSource, GenericAdapter, PythonAdapter, WorkerCommand, WorkerProtocol,
};
pub use config::{Affinity, PoolConfig};
pub use error::{Error, ExitInfo, Result, WorkerError};
pub use pool::{CallOptions, CallStream, Pool, PoolBuilder, PoolStats, StreamItem};
pub use worker::WorkerId;
