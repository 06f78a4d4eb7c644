//! Hosting the original Snakepit's Python workers over its gRPC protocol
//! (`snakepit.bridge.BridgeService`, `proto/snakepit_bridge.proto`), unchanged.
//!
//! The only module that knows tonic and prost. A gRPC worker is spawned like any other (its
//! own process group, parent-death signal, reaper and run record), but its link socketpair
//! stays inside the host: the pool's worker handle holds one end, and a translator task of
//! this module holds the other. The translator speaks native frames to the pool and gRPC to
//! the worker, and serves `BridgeService` on `127.0.0.1` for the worker's call-backs. The
//! protocol's quirks are all handled in `convert`; `docs/design/grpc-compat.md` lists them.
//!
//! - `adapter`: [`GrpcPythonAdapter`], the worker command.
//! - `launch`: the spawner's hook (listener, command line, ready file, translator start).
//! - `translator`: readiness, the handshake with the pool, and the link loop.
//! - `call`: one call as `ExecuteTool` / `ExecuteStreamingTool`.
//! - `host`: the `BridgeService` served to the worker.
//! - `state`: what the translator's parts share.
//! - `convert`: the payload conventions.

mod adapter;
mod call;
mod convert;
mod host;
mod launch;
mod state;
mod translator;

/// The code generated from `proto/snakepit_bridge.proto` at build time (protox, no `protoc`).
#[expect(
    unreachable_pub,
    clippy::doc_markdown,
    clippy::default_trait_access,
    clippy::too_many_lines,
    clippy::allow_attributes,
    clippy::enum_variant_names,
    reason = "generated code"
)]
pub(crate) mod generated {
    include!(concat!(env!("OUT_DIR"), "/snakepit.bridge.rs"));
}

pub use adapter::{GRPC_SHOWCASE_ADAPTER, GrpcPythonAdapter};
pub(crate) use generated as pb;
pub(crate) use launch::Launch;
