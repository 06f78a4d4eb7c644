//! The pool: a fixed number of workers, a FIFO queue of calls waiting for one, deadlines,
//! replacement of workers that die, statistics and shutdown.
//!
//! [`Pool`] is the cheap cloneable handle. A call checks out an idle worker through the
//! scheduler (or waits in its queue), sends the call on the worker's link and waits for the
//! reply under its deadline. A background manager task replaces workers that exit.

mod builder;
mod call;
mod handle;
mod lifecycle;
mod scheduler;
mod script;
mod stats;

pub use builder::PoolBuilder;
pub use call::CallOptions;
pub use handle::Pool;
pub use stats::PoolStats;
