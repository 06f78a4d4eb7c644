//! Adapters: what a pool's workers run and how calls to them are checked and shaped.
//!
//! An [`Adapter`] names the worker program and its protocol, and may validate commands,
//! prepare arguments, post-process results and set per-command timeouts. Three are built in:
//! [`PythonAdapter`] (the bundled bridge plus the user's `module:Class`), [`NodeAdapter`]
//! (the bundled Node bridge plus the user's `./file.mjs:Export`) and [`GenericAdapter`] (any
//! executable, native or classic protocol). A fourth, [`GrpcPythonAdapter`], runs the
//! original Snakepit's gRPC workers (see `crate::grpc`).

mod bridge;
mod command;
mod generic;
mod node;
mod python;

pub use crate::grpc::GrpcPythonAdapter;
pub(crate) use bridge::bridge_dir;
pub use command::{Adapter, LinkTransport, WorkerCommand, WorkerProtocol};
pub use generic::GenericAdapter;
pub use node::{NODE_SHOWCASE_ADAPTER, NodeAdapter};
pub(crate) use python::resolve_interpreter;
pub use python::{BridgeSource, PythonAdapter, SHOWCASE_ADAPTER};
