//! Operating-system processes: spawning workers into their own process group, wiring their
//! link, capturing their output, and signalling the whole group.
//!
//! This is the only module that creates processes (`clippy.toml` forbids `Command::new`
//! elsewhere). Every spawn runs on one long-lived thread, so the parent-death signal set in
//! the child follows a thread that lives as long as the host.

mod output;
mod spawner;
mod unix;

pub(crate) use output::OutputTail;
pub(crate) use spawner::{
    LinkMode, LinkReader, LinkWriter, SpawnRequest, SpawnedProcess, run_to_string, spawn,
};
pub(crate) use unix::signal_group;
