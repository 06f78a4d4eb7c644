//! Integration tests of the pool against real worker processes.
//!
//! One binary; each module covers one behaviour:
//! - `start`: concurrent start, start failures.
//! - `binary`: bytes and numpy arrays through a real Python worker, both encodings.
//! - `calls`: results, typed calls, Python errors, concurrency.
//! - `queue`: saturation and queue timeouts.
//! - `deadline`: call timeouts, cancel, kill and replacement of stuck workers.
//! - `crash`: workers that die or break the protocol mid-call.
//! - `classic`: v0.0.1 workers (Ruby and Python) through the generic adapter.
//! - `shutdown`: shutdown and drop leave no process behind.
//! - `bridge`: the embedded and the installed bridge.
//! - `lifecycle`: no orphans: host SIGKILL, ignored SIGTERM, grandchildren, the run registry,
//!   side-by-side hosts, script mode.
//! - `output`: worker stdout/stderr stay bounded in the host.
//! - `faults`: crash classes, retries, taint, circuit breaker, heartbeats, recycling, typed
//!   errors.
//! - `sessions`: affinity modes, lost and busy owners, session state and variables in Python.
//! - `streams`: streaming calls, cancel on drop, backpressure, queueing, deadlines.
//! - `host_tools`: Rust tools Python calls; session scoping; nesting.
//! - `capacity`: workers that take several calls at once.
//! - `profiles`: the concurrent profile with the Python bridge at capacity 8; serial
//!   sessions; a recycled concurrent worker drains its calls.
//! - `hardening`: deep and huge input, workers that stop reading or die while recycled,
//!   strict sessions that must not starve ordinary calls.
//! - `pools`: named pools started together, stats of all, one shutdown.
//! - `interpreter`: the interpreter lookup and shim resolution.
//! - `grpc`: the original's gRPC workers through `GrpcPythonAdapter`, with a wire-compatible
//!   test worker: calls, streams, sessions, errors, host tools, deadlines, dead servers.
//! - `metrics`: metric values after a workload, read from the Prometheus text.
//! - `otel`: call spans exported over OTLP to a collector started in the test.
//! - `telemetry`: events, correlation ids, metrics and the Prometheus text, Python events.
//! - `node`: Node workers through the embedded Node bridge: calls, streams, host tools,
//!   sessions, crashes, deadlines, no orphans.
//! - `zygote`: workers forked from a preloading zygote: own groups, one import, no orphans.

#![expect(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests unwrap freely, and probe for interpreters with plain commands"
)]

mod support;

mod binary;
mod bridge;
mod calls;
mod capacity;
mod classic;
mod crash;
mod deadline;
mod faults;
mod grpc;
mod hardening;
mod host_tools;
mod interpreter;
mod lifecycle;
mod metrics;
mod node;
mod otel;
mod output;
mod pools;
mod profiles;
mod queue;
mod sessions;
mod shm;
mod shutdown;
mod start;
mod streams;
mod telemetry;
mod transport;
mod workers;
mod zygote;
