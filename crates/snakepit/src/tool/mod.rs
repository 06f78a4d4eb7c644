//! Host tools: Rust functions that worker code can call (`ctx.call_host_tool(...)` in
//! Python), registered for every session or for one session only.
//!
//! A [`HostTool`] is an async closure with a name, a description and parameter specs, made
//! with [`HostTool::new`] (JSON) or [`HostTool::typed`] (serde). The pool's [`HostTools`]
//! registry resolves a worker's `host_call` in the scope of the call it runs under: the
//! session's own tools first, then the global ones, among them the built-in `snakepit.*`
//! tools that read and write the session's variables.

mod builtin;
mod error;
mod host_tool;
mod registry;

pub use error::HostToolError;
pub use host_tool::{HostCall, HostTool};
pub use registry::{HostToolInfo, HostTools};
