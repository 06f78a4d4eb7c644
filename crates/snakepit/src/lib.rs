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
mod worker;

pub use adapter::{
    Adapter, BridgeSource, GenericAdapter, PythonAdapter, WorkerCommand, WorkerProtocol,
};
pub use config::PoolConfig;
pub use error::{Error, ExitInfo, Result, WorkerError};
pub use pool::{CallOptions, Pool, PoolBuilder, PoolStats};
pub use worker::WorkerId;
