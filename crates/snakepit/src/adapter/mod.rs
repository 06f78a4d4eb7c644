//! Adapters: what a pool's workers run and how calls to them are checked and shaped.
//!
//! An [`Adapter`] names the worker program and its protocol, and may validate commands,
//! prepare arguments, post-process results and set per-command timeouts. Two are built in:
//! [`PythonAdapter`] (the bundled bridge plus the user's `module:Class`) and
//! [`GenericAdapter`] (any executable, native or classic protocol). A third,
//! [`GrpcPythonAdapter`], runs the original Snakepit's gRPC workers (see `crate::grpc`).

mod bridge;
mod command;
mod generic;
mod python;

pub use crate::grpc::GrpcPythonAdapter;
pub(crate) use bridge::bridge_dir;
pub use command::{Adapter, WorkerCommand, WorkerProtocol};
pub use generic::GenericAdapter;
pub(crate) use python::resolve_interpreter;
pub use python::{BridgeSource, PythonAdapter, SHOWCASE_ADAPTER};
