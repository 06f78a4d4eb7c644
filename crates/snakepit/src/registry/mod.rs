//! The persistent run registry: which worker processes each pool started, kept on disk so
//! that the orphans of a crashed host can be found and killed later.
//!
//! Each run (one pool) has a lock file, locked with `flock` for the life of the host (the
//! kernel releases it when the host dies, however it dies), and a JSON record of its workers:
//! worker id, pid, process group and start time. A worker is recorded before it is spawned
//! and confirmed with its pid and start time after. The record is written by a thread of its
//! own (`writer.rs`), so the async code that changes it never waits on the disk. At pool start, and with
//! `snakepit cleanup`, runs whose lock is free are swept: their leftover process groups are
//! killed, but only processes whose pid *and* start time match the record.

mod run;
mod sweep;
mod writer;

pub(crate) use run::Run;
pub use run::{RunRecord, WorkerRecord, default_state_dir};
pub use sweep::{RunStatus, SweptRun, list_runs, sweep};
