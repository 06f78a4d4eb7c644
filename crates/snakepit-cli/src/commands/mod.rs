//! The subcommands, one module each; `main` dispatches to their `run` functions on the tokio
//! runtime it builds.

pub(crate) mod bench;
pub(crate) mod call;
pub(crate) mod config;
pub(crate) mod demo;
pub(crate) mod registry;
pub(crate) mod tools;
pub(crate) mod workers;
