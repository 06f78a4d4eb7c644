//! `snakepit bench`: the pool's hot paths, each beside what it costs at the least.
//!
//! One run measures, in this order, with every pool shut down before the next measurement
//! starts:
//!
//! - [`ping`]: `ping` latency and throughput through pools of 1 and 2 workers beside two
//!   floors, bare framed echoes with a Python process: the same link, frames and codec as a
//!   pool worker and nothing else, driven on the tokio runtime
//!   ([`snakepit::floor::Floor`]) or on plain blocking OS threads
//!   ([`snakepit::floor::BlockingFloor`]). Pool/floor is what the pool itself costs. The
//!   three alternate over `--rounds` rounds and every figure is a median.
//! - [`session`]: the session store's get/update rate in process, and `ping` round trips in
//!   a session through one worker.
//! - [`stream`]: chunks per second of a streaming call through one worker beside the
//!   streaming floor.
//! - [`host_tool`]: round trips of a worker calling a no-op host tool, timed in the worker.
//! - [`node`]: a trivial call through a Node worker beside a bare framed echo with Node.
//! - [`start`]: workers' start: a bare interpreter, one plain worker, 8 numpy workers
//!   spawned or forked from a preloading zygote, and a crashed worker's replacement.
//! - [`profiles`]: a trivial call through 2 concurrent workers of capacity 8 beside the
//!   pipelined floor, and an I/O-bound call with the process and the concurrent profile.
//! - with `--peers`, [`peers`]: `ProcessPoolExecutor` and `multiprocessing.Pool` beside the
//!   pool with the concurrent profile.
//! - [`large`]: float64 arrays of 80 MB and 16 MiB through shared memory beside two
//!   `memcpy`s, a size sweep across the threshold, the JSON-list path, and the `ping` p50
//!   before and after.
//! - [`telemetry`]: `ping` p50 with telemetry off and on (last: the recorder stays).
//!
//! With `--grpc TREE_DIR`, [`grpc`] alone runs instead: the native path beside the gRPC one.
//!
//! [`run()`] prints them as a table with the targets, or as one JSON object ([`report`]);
//! with `--check` it fails when a target is missed ([`check`]). `--only` runs one `ping`
//! path alone, for callgrind ([`only`]). `docs/benchmarks.md` explains every row.

mod check;
mod grpc;
mod host_tool;
mod large;
mod node;
mod only;
mod only_loops;
mod peers;
mod ping;
mod ping_floor;
mod ping_pool;
mod profiles;
mod report;
mod run;
mod session;
mod setup;
mod start;
mod stats;
mod stream;
mod table;
mod telemetry;

pub(crate) use run::run;
pub(crate) use setup::pin_to_cpu;
