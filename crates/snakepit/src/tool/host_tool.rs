//! [`HostTool`]: a named async Rust function a worker can call, and the context it runs in.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::HostToolError;
use crate::Pool;
use crate::protocol::ParamSpec;
use crate::session::SessionId;
use crate::value::Payload;
use crate::worker::WorkerId;

type Handler = dyn Fn(HostCall, Payload) -> Pin<Box<dyn Future<Output = Result<Payload, HostToolError>> + Send>>
    + Send
    + Sync;

/// A Rust function a worker can call, with its name, description and parameter specs.
///
/// ```
/// use snakepit::tool::HostTool;
///
/// #[derive(serde::Deserialize)]
/// struct Add { a: i64, b: i64 }
///
/// let add = HostTool::typed("add", "Adds two numbers.", |_call, args: Add| async move {
///     Ok::<_, String>(args.a + args.b)
/// });
/// assert_eq!(add.name(), "add");
/// ```
#[derive(Clone)]
pub struct HostTool {
    pub(super) name: String,
    pub(super) description: String,
    pub(super) parameters: Vec<ParamSpec>,
    pub(super) handler: Arc<Handler>,
}

impl fmt::Debug for HostTool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostTool")
            .field("name", &self.name)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl HostTool {
    /// A host tool taking and returning JSON. The handler gets the call's context and the
    /// arguments; its [`HostToolError`] (`"message".into()` makes one) becomes the exception
    /// the worker sees. Binary values in the arguments arrive in their tagged base64 form
    /// (`{"__snakepit_buffer__": {"base64": ..}, ..}`); [`HostTool::typed`] gets them as
    /// [`Buffer`](crate::value::Buffer)s and [`NdArray`](crate::value::NdArray)s instead.
    pub fn new<F, Fut>(name: impl Into<String>, description: impl Into<String>, handler: F) -> Self
    where
        F: Fn(HostCall, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, HostToolError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        Self::with_payload(name, description, move |call, args: Payload| {
            let handler = Arc::clone(&handler);
            async move {
                let args = args
                    .into_json()
                    .map_err(|reason| HostToolError::with_kind("InvalidArguments", reason))?;
                handler(call, args).await.map(Payload::json)
            }
        })
    }

    /// A host tool whose handler sees the arguments as a [`Payload`] (JSON with buffer
    /// markers, and the buffers) and answers one.
    pub(crate) fn with_payload<F, Fut>(
        name: impl Into<String>,
        description: impl Into<String>,
        handler: F,
    ) -> Self
    where
        F: Fn(HostCall, Payload) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Payload, HostToolError>> + Send + 'static,
    {
        Self {
            name: name.into(),
            description: description.into(),
            parameters: Vec::new(),
            handler: Arc::new(move |call, args| Box::pin(handler(call, args))),
        }
    }

    /// A host tool with typed arguments and result, converted through serde. Arguments that
    /// do not convert fail with the kind `InvalidArguments`; the handler's error is shown to
    /// the worker through its `Display`. [`Buffer`](crate::value::Buffer)s and
    /// [`NdArray`](crate::value::NdArray)s travel both ways as binary (numpy arrays in Python).
    pub fn typed<A, R, E, F, Fut>(
        name: impl Into<String>,
        description: impl Into<String>,
        handler: F,
    ) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + 'static,
        E: fmt::Display + 'static,
        F: Fn(HostCall, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        Self::with_payload(name, description, move |call, args: Payload| {
            let handler = Arc::clone(&handler);
            async move {
                let args: A = args
                    .decode()
                    .map_err(|err| HostToolError::with_kind("InvalidArguments", err.to_string()))?;
                let result = handler(call, args)
                    .await
                    .map_err(|err| HostToolError::new(err.to_string()))?;
                Payload::encode(&result).map_err(|err| HostToolError::new(err.to_string()))
            }
        })
    }

    /// Adds a parameter spec, shown to workers that list the host tools.
    #[must_use]
    pub fn param(mut self, spec: ParamSpec) -> Self {
        self.parameters.push(spec);
        self
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The context of one host call: the pool (so a tool may call workers itself), the
/// session of the call the worker runs, and the worker.
#[derive(Debug, Clone)]
pub struct HostCall {
    pub(crate) pool: Option<Pool>,
    pub(crate) session: Option<SessionId>,
    pub(crate) worker: WorkerId,
}

impl HostCall {
    /// The pool whose worker called; `None` when the pool is being dropped.
    pub fn pool(&self) -> Option<&Pool> {
        self.pool.as_ref()
    }

    /// The session of the call the worker runs, if any.
    pub fn session(&self) -> Option<&SessionId> {
        self.session.as_ref()
    }

    /// The worker that called.
    pub fn worker(&self) -> WorkerId {
        self.worker
    }
}
