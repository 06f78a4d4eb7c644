//! The pool: a fixed number of workers, a FIFO queue of calls waiting for one, deadlines,
//! replacement of workers that die, statistics and shutdown.
//!
//! [`Pool`] is the cheap cloneable handle. A call checks out an idle worker through the
//! scheduler (or waits in its queue), sends the call on the worker's link and waits for the
//! reply under its deadline. A background manager task replaces workers that exit.

mod builder;
mod call;
mod circuit;
mod handle;
mod health;
mod heartbeat;
mod inflight;
mod lifecycle;
mod recycle;
mod route;
mod scheduler;
mod script;
mod stats;
mod stream;

pub use builder::PoolBuilder;
pub use call::CallOptions;
pub use circuit::CircuitState;
pub use handle::Pool;
pub(crate) use handle::PoolShared;
pub use stats::PoolStats;
pub use stream::{CallStream, StreamItem};
