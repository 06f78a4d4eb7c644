//! The subcommands, one module each; `main` dispatches to their `run` functions on the tokio
//! runtime it builds. `cpu` is shared by the benchmarks.

pub(crate) mod bench;
pub(crate) mod call;
pub(crate) mod completions;
pub(crate) mod config;
pub(crate) mod cpu;
pub(crate) mod demo;
pub(crate) mod doctor;
pub(crate) mod doctor_checks;
pub(crate) mod new;
pub(crate) mod registry;
pub(crate) mod remote;
pub(crate) mod serve;
pub(crate) mod serve_bench;
pub(crate) mod setup;
pub(crate) mod stats;
pub(crate) mod tools;
pub(crate) mod workers;
