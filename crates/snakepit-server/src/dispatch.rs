//! The one place the server calls into a pool. Everything the HTTP layer knows about a call
//! (session, timeout, idempotent, correlation id) becomes a library request ([`Call`]) here
//! and only here, so a change of the library's call API is a change of this file.

use std::time::Duration;

use serde_json::Value;
use snakepit::{Call, CallStream, Pool};

/// The options of one call, as the API received them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallSpec {
    /// The session the call runs in.
    pub session: Option<String>,
    /// The call's deadline.
    pub timeout: Option<Duration>,
    /// Whether the call may run twice (retried on another worker after a crash).
    pub idempotent: bool,
    /// The call's correlation id: echoed in the response, passed to the call
    /// ([`Call::correlation_id`]: its events, its tracing span, `ctx.correlation_id` in the
    /// worker).
    pub correlation_id: String,
}

fn request<'p>(pool: &'p Pool, command: &'p str, args: Value, spec: &CallSpec) -> Call<'p> {
    let mut call = pool
        .call(command)
        .json(args)
        .correlation_id(spec.correlation_id.as_str());
    if let Some(session) = &spec.session {
        call = call.session(session.as_str());
    }
    if let Some(timeout) = spec.timeout {
        call = call.timeout(timeout);
    }
    if spec.idempotent {
        call = call.idempotent();
    }
    call
}

/// Runs one call.
///
/// # Errors
///
/// The library's errors, as [`Call::send`] returns them.
pub async fn call(
    pool: &Pool,
    command: &str,
    args: Value,
    spec: &CallSpec,
) -> snakepit::Result<Value> {
    request(pool, command, args, spec).send().await
}

/// Starts one streaming call.
///
/// # Errors
///
/// The library's errors, as [`Call::stream`] returns them.
pub async fn stream(
    pool: &Pool,
    command: &str,
    args: Value,
    spec: &CallSpec,
) -> snakepit::Result<CallStream> {
    request(pool, command, args, spec).stream().await
}
