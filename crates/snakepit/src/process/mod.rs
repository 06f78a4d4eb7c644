//! Operating-system processes: spawning workers into their own process group, wiring their
//! link, capturing their output, and signalling the whole group.
//!
//! This is the only module that creates processes (`clippy.toml` forbids `Command::new`
//! elsewhere). Every spawn runs on one long-lived thread, so the parent-death signal set in
//! the child follows a thread that lives as long as the host. A reaper process, forked once
//! from that thread, kills every registered worker group when the host dies, so processes
//! that tools started die too. `procfs` reads process identity (pid + start time) for the
//! run registry.

mod control;
mod link;
mod output;
mod procfs;
mod reaper;
mod run;
mod spawner;
mod unix;

pub(crate) use control::{fork_pipe, send_with_fds, wait_for_end};
pub(crate) use link::{LinkMode, LinkReader, LinkWriter, make as make_link};
pub(crate) use output::OutputTail;
pub(crate) use procfs::{
    group_members, group_rss_all_off_runtime, is_running, is_same_process, stat,
};
pub(crate) use run::{RunRequest, run_lines};
#[cfg(feature = "bench")]
pub(crate) use spawner::spawn_std_link;
pub(crate) use spawner::{
    ControlledProcess, SpawnRequest, SpawnedProcess, reaper, run_to_string, spawn, spawn_control,
};
pub(crate) use unix::SHM_FD;
pub(crate) use unix::signal_group;
