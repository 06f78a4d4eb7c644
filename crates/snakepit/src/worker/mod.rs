//! One worker: a process, its link, and the task that supervises both.
//!
//! [`Worker`] is the cheap cloneable handle the pool passes around; the private supervisor
//! task owns the child process and the reading half of the link. Replies are routed to
//! callers by call id through a table of pending calls. When the process ends, the
//! supervisor fails every pending call with an error saying why and reports the exit to the
//! pool.

mod handle;
mod id;
mod link;
mod start;
mod supervisor;

pub(crate) use handle::{Worker, WorkerEvent};
pub use id::WorkerId;
pub(crate) use start::{WorkerSpec, start};
