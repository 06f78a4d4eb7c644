//! The pool: workers that each take calls up to their capacity, a FIFO queue of calls
//! waiting for a place, deadlines, replacement of workers that die, statistics and shutdown.
//!
//! [`Pool`] is the cheap cloneable handle; [`Call`] is one request. A call goes through one
//! path (`dispatch.rs`): circuit breaker, retries, routing (`route.rs`) to a place on a
//! worker held in a lease (`lease.rs`), the send and the wait under the deadline, and the
//! lease's return, the only way a place goes back. The roster (`roster.rs`) owns the
//! workers, their load, their slots and the queue (`scheduler.rs`, a pure data structure)
//! under one lock. Background tasks replace workers that exit, ping idle ones and recycle.

mod builder;
mod circuit;
mod dispatch;
mod handle;
mod health;
mod heartbeat;
mod host;
mod inflight;
mod lease;
mod lifecycle;
mod observe;
mod recycle;
mod replace;
mod reply;
mod request;
mod roster;
mod route;
mod scheduler;
mod script;
mod serial;
mod shared_memory;
mod stats;
mod stream;
mod typed_stream;
mod workers;

pub use builder::PoolBuilder;
pub use circuit::CircuitState;
pub use handle::Pool;
pub use request::Call;
pub use stats::{LatencyPercentiles, PoolStats};
pub use stream::{CallStream, StreamItem};
pub use typed_stream::TypedStream;
pub use workers::WorkerSnapshot;
