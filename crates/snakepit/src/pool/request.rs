//! [`Call`]: one request to the pool, built up with its options, then sent as a call, a
//! typed call or a stream. Every entry point of the pool ends here.

use std::borrow::Cow;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::dispatch;
use super::handle::Pool;
use super::stream::CallStream;
use crate::config::Affinity;
use crate::error::{Error, Result};
use crate::session::SessionId;
use crate::telemetry::CorrelationId;
use crate::value::{Buffer, Payload};

/// A request to run one command, with its options. Made by [`Pool::call`].
///
/// ```no_run
/// # async fn demo(pool: snakepit::Pool) -> snakepit::Result<()> {
/// use std::time::Duration;
///
/// #[derive(serde::Serialize)]
/// struct Add { a: i64, b: i64 }
///
/// let sum: i64 = pool
///     .call("add")
///     .args(&Add { a: 2, b: 3 })?
///     .session("user-1")
///     .timeout(Duration::from_secs(2))
///     .idempotent()
///     .send_as()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a call does nothing until it is sent"]
pub struct Call<'p> {
    pool: &'p Pool,
    pub(super) request: Request<'p>,
}

/// What a [`Call`] carries to the dispatch.
#[derive(Debug, Clone)]
pub(super) struct Request<'a> {
    pub(super) command: Cow<'a, str>,
    pub(super) args: Value,
    /// The buffers the arguments' markers point at.
    pub(super) buffers: Vec<Buffer>,
    pub(super) session: Option<SessionId>,
    pub(super) affinity: Option<Affinity>,
    pub(super) timeout: Option<Duration>,
    pub(super) idempotent: bool,
    pub(super) correlation_id: Option<CorrelationId>,
}

impl Pool {
    /// Starts a request to run `command`; set its arguments and options, then `send` it.
    pub fn call<'a>(&'a self, command: impl Into<Cow<'a, str>>) -> Call<'a> {
        Call {
            pool: self,
            request: Request {
                command: command.into(),
                args: Value::Object(serde_json::Map::new()),
                buffers: Vec::new(),
                session: None,
                affinity: None,
                timeout: None,
                idempotent: false,
                correlation_id: None,
            },
        }
    }

    /// Runs `command` with `args` on a free worker and returns its result; short for
    /// `pool.call(command).json(args).send()`.
    ///
    /// # Errors
    ///
    /// As [`Call::send`].
    ///
    /// # Cancel safety
    ///
    /// As [`Call::send`].
    pub fn execute<'a>(
        &'a self,
        command: &'a str,
        args: Value,
    ) -> impl Future<Output = Result<Value>> + Send + 'a {
        // Not an `async fn`: the call's future is returned as is, not moved into another.
        self.call(command).json(args).send()
    }

    /// Runs `command` in `session`, on the worker that owns the session (with the pool's
    /// affinity mode); short for `pool.call(command).json(args).session(session).send()`.
    ///
    /// # Errors
    ///
    /// As [`Call::send`].
    pub async fn execute_in_session(
        &self,
        session: impl Into<SessionId>,
        command: &str,
        args: Value,
    ) -> Result<Value> {
        self.call(command).json(args).session(session).send().await
    }

    /// Runs `command` with typed arguments and result, converted through serde; short for
    /// `pool.call(command).args(args)?.send_as()`.
    ///
    /// # Errors
    ///
    /// As [`Call::send_as`].
    pub async fn execute_typed<A, R>(&self, command: &str, args: &A) -> Result<R>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.call(command).args(args)?.send_as().await
    }

    /// Starts `command` as a streaming call; short for
    /// `pool.call(command).json(args).stream()`.
    ///
    /// # Errors
    ///
    /// As [`Call::stream`].
    pub async fn execute_stream(&self, command: &str, args: Value) -> Result<CallStream> {
        self.call(command).json(args).stream().await
    }
}

impl Call<'_> {
    /// Sets the arguments from any serializable value (a struct, a map). Binary values in
    /// it ([`Buffer`], [`NdArray`](crate::value::NdArray)) travel as binary, not as JSON:
    /// the worker gets `bytes` and numpy arrays.
    ///
    /// # Errors
    ///
    /// [`Error::Convert`] when `args` does not convert to JSON.
    pub fn args<A: Serialize + ?Sized>(mut self, args: &A) -> Result<Self> {
        let payload = Payload::encode(args).map_err(|source| Error::Convert {
            what: "the arguments",
            source,
        })?;
        self.request.args = payload.value;
        self.request.buffers = payload.buffers;
        Ok(self)
    }

    /// Sets the arguments as a JSON value (binary values in the tagged base64 form stay
    /// JSON maps; use [`Call::args`] to send them as binary).
    pub fn json(mut self, args: Value) -> Self {
        self.request.args = args;
        self.request.buffers = Vec::new();
        self
    }

    /// Runs the call in `session`: it goes to the session's worker (see
    /// [`Affinity`]) and the worker sees the session id. The session is created if missing.
    pub fn session(mut self, session: impl Into<SessionId>) -> Self {
        self.request.session = Some(session.into());
        self
    }

    /// Sets how a call in a session finds its worker. Default: the pool's `affinity`.
    pub fn affinity(mut self, affinity: Affinity) -> Self {
        self.request.affinity = Some(affinity);
        self
    }

    /// Sets the call's deadline, counted from when a worker takes it; it covers sending
    /// the call, running it and reading its answer (a stream: all its chunks). Default: the
    /// adapter's per-command timeout, else the pool's `call_timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.request.timeout = Some(timeout);
        self
    }

    /// Marks the call idempotent: under the [`RetryPolicy::Idempotent`](crate::RetryPolicy)
    /// policy (the default), a call whose worker crashes is retried on another worker.
    pub fn idempotent(mut self) -> Self {
        self.request.idempotent = true;
        self
    }

    /// Sets the call's correlation id: it is in every event of the call, its tracing span,
    /// and the `call` frame (`ctx.correlation_id` in Python). Default: a fresh id.
    pub fn correlation_id(mut self, id: impl Into<CorrelationId>) -> Self {
        self.request.correlation_id = Some(id.into());
        self
    }

    /// Sends the call and returns its result. Binary values in the result come in their
    /// tagged base64 form (`{"__snakepit_buffer__": {"base64": ".."}, ..}`, which
    /// [`Buffer`] and [`NdArray`](crate::value::NdArray) deserialize from); use
    /// [`Call::send_as`] to get them without the base64 step.
    ///
    /// # Errors
    ///
    /// [`Error::Worker`] when the tool raised, [`Error::Timeout`] past the deadline,
    /// [`Error::PoolSaturated`] and [`Error::QueueTimeout`] when no worker is free,
    /// [`Error::WorkerExited`] when the worker died during the call, [`Error::Shutdown`]
    /// once the pool is shut down, [`Error::InvalidCall`] when the adapter rejects it or the
    /// arguments nest deeper than [`MAX_DEPTH`](crate::MAX_DEPTH), [`Error::TooDeep`] when
    /// the result does, [`Error::CircuitOpen`] while the circuit breaker is open, and
    /// [`Error::SessionLost`] / [`Error::SessionBusy`] in the strict affinity modes.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future is safe: a queued call leaves the queue; a running call is
    /// cancelled on the worker, whose place comes back once it answers (or the worker is
    /// killed and replaced after the cancel grace period).
    pub async fn send(self) -> Result<Value> {
        let payload = dispatch::call(&self.pool.shared, self.request).await?;
        if payload.buffers.is_empty() {
            return Ok(payload.value);
        }
        payload.into_json().map_err(Error::Protocol)
    }

    /// Sends the call and converts its result through serde; [`Buffer`]s and
    /// [`NdArray`](crate::value::NdArray)s in it come straight from the reply's buffers.
    ///
    /// # Errors
    ///
    /// As [`Call::send`], and [`Error::Convert`] when the result does not convert.
    pub async fn send_as<R: DeserializeOwned>(self) -> Result<R> {
        let payload = dispatch::call(&self.pool.shared, self.request).await?;
        payload.decode().map_err(|source| Error::Convert {
            what: "the result",
            source,
        })
    }

    /// Sends the call as a streaming call: resolves once a worker has taken it, then yields
    /// chunks as they arrive, then the result.
    ///
    /// ```no_run
    /// # async fn demo(pool: snakepit::Pool) -> snakepit::Result<()> {
    /// use futures_util::StreamExt;
    /// use snakepit::StreamItem;
    ///
    /// let mut stream = pool.call("progress").json(serde_json::json!({"steps": 5})).stream().await?;
    /// while let Some(item) = stream.next().await {
    ///     match item? {
    ///         StreamItem::Chunk(chunk) => println!("{}%", chunk["progress"]),
    ///         StreamItem::Done(result) => println!("done: {result}"),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The errors of [`Call::send`] that happen before the call runs (queue, saturation,
    /// shutdown); later errors arrive as the stream's last item. The deadline covers the
    /// whole stream.
    pub async fn stream(self) -> Result<CallStream> {
        dispatch::stream(&self.pool.shared, self.request).await
    }
}
