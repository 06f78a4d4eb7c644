//! Call options as a value the tests can pass around, applied to a [`Call`] when sent.

use std::time::Duration;

use serde_json::Value;
use snakepit::{Affinity, Call, CallStream, Pool};

/// The options of a call.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    timeout: Option<Duration>,
    session: Option<String>,
    affinity: Option<Affinity>,
    idempotent: bool,
}

impl Options {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub(crate) fn session(mut self, session: &str) -> Self {
        self.session = Some(session.to_owned());
        self
    }

    pub(crate) fn affinity(mut self, affinity: Affinity) -> Self {
        self.affinity = Some(affinity);
        self
    }

    pub(crate) fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    fn apply<'p>(&self, mut call: Call<'p>) -> Call<'p> {
        if let Some(timeout) = self.timeout {
            call = call.timeout(timeout);
        }
        if let Some(session) = &self.session {
            call = call.session(session.as_str());
        }
        if let Some(affinity) = self.affinity {
            call = call.affinity(affinity);
        }
        if self.idempotent {
            call = call.idempotent();
        }
        call
    }
}

/// Runs a call with `options`.
pub(crate) async fn execute_with(
    pool: &Pool,
    command: &str,
    args: Value,
    options: &Options,
) -> snakepit::Result<Value> {
    options.apply(pool.call(command).json(args)).send().await
}

/// Starts a streaming call with `options`.
pub(crate) async fn stream_with(
    pool: &Pool,
    command: &str,
    args: Value,
    options: &Options,
) -> snakepit::Result<CallStream> {
    options.apply(pool.call(command).json(args)).stream().await
}
