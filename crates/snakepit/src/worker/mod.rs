//! One worker: a process, its link, and the task that supervises both.
//!
//! [`Worker`] is the cheap cloneable handle the pool passes around; the private supervisor
//! task owns the child process and the reading half of the link. Replies are routed to
//! callers by call id through a table of pending calls. When the process ends, the
//! supervisor fails every pending call with an error saying why and reports the exit to the
//! pool. Calls from the worker into the host leave through the [`HostCalls`] seam; this
//! module does not know the pool.

mod handle;
mod host;
mod id;
mod link;
mod pending;
mod reading;
mod reply_wait;
mod route;
mod shared;
mod shm;
mod snapshot;
mod start;
mod state;
mod supervisor;

pub(crate) use handle::{CallFrame, InFlight, Worker};
pub(crate) use host::{HostAnswer, HostCalls, HostFailure, HostRequest};
pub use id::WorkerId;
pub(crate) use pending::{ChunkSender, Reply};
pub use snapshot::{UNLISTED_COMMAND, WorkerState};
pub(crate) use start::{WorkerSpec, released, start};
pub(crate) use state::WorkerEvent;
