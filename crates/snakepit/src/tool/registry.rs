//! The registry of host tools and the dispatch of one host call.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock, Weak};

use serde::Serialize;
use serde_json::Value;

use super::builtin;
use crate::Pool;
use crate::pool::PoolShared;
use crate::protocol::ParamSpec;
use crate::session::{SessionId, SessionStore};
use crate::worker::WorkerId;

type Handler = dyn Fn(HostCall, Value) -> Pin<Box<dyn Future<Output = Result<Value, String>> + Send>>
    + Send
    + Sync;

/// A Rust function workers can call.
#[derive(Clone)]
pub struct HostTool {
    name: String,
    description: String,
    parameters: Vec<ParamSpec>,
    handler: Arc<Handler>,
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
    /// A tool named `name` that runs `handler` with the call's context and arguments. An
    /// `Err(message)` reaches the worker as a `HostToolError` with that message.
    ///
    /// ```
    /// use serde_json::{Value, json};
    /// use snakepit::tool::HostTool;
    ///
    /// let tool = HostTool::new("lookup_user", "Find a user by id.", |_call, args: Value| async move {
    ///     let id = args["user_id"].as_i64().ok_or("user_id must be an integer")?;
    ///     Ok(json!({"id": id, "name": "Ada"}))
    /// });
    /// ```
    pub fn new<F, Fut>(name: impl Into<String>, description: impl Into<String>, handler: F) -> Self
    where
        F: Fn(HostCall, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, String>> + Send + 'static,
    {
        Self {
            name: name.into(),
            description: description.into(),
            parameters: Vec::new(),
            handler: Arc::new(move |call, args| Box::pin(handler(call, args))),
        }
    }

    /// Adds a parameter spec (shown to workers that list the host tools).
    #[must_use]
    pub fn param(mut self, spec: ParamSpec) -> Self {
        self.parameters.push(spec);
        self
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn info(&self) -> HostToolInfo {
        HostToolInfo {
            name: self.name.clone(),
            description: self.description.clone(),
            parameters: self.parameters.clone(),
        }
    }
}

/// How a host tool is described to workers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct HostToolInfo {
    /// The tool's name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Its parameters.
    pub parameters: Vec<ParamSpec>,
}

/// The context of one host call.
#[derive(Debug, Clone)]
pub struct HostCall {
    pool: Option<Pool>,
    session: Option<SessionId>,
    worker: WorkerId,
}

impl HostCall {
    /// The pool the calling worker belongs to, for tools that call workers themselves
    /// (`None` only while the pool is being dropped).
    pub fn pool(&self) -> Option<&Pool> {
        self.pool.as_ref()
    }

    /// The session of the call the worker is running, if any.
    pub fn session(&self) -> Option<&SessionId> {
        self.session.as_ref()
    }

    /// The worker that made the call.
    pub fn worker(&self) -> WorkerId {
        self.worker
    }
}

/// Why a host call failed: an error type and message for the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostFailure {
    pub(crate) kind: &'static str,
    pub(crate) message: String,
}

impl HostFailure {
    pub(crate) fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// The host tools of one pool: global ones and per-session ones.
#[derive(Debug, Default)]
pub struct HostTools {
    global: RwLock<HashMap<String, HostTool>>,
    by_session: RwLock<HashMap<SessionId, HashMap<String, HostTool>>>,
    pool: RwLock<Weak<PoolShared>>,
    sessions: SessionStore,
}

impl HostTools {
    pub(crate) fn new(sessions: SessionStore) -> Self {
        Self {
            global: RwLock::default(),
            by_session: RwLock::default(),
            pool: RwLock::new(Weak::new()),
            sessions,
        }
    }

    pub(crate) fn attach(&self, pool: Weak<PoolShared>) {
        *self.pool.write().expect("host tool lock is never poisoned") = pool;
    }

    /// Registers (or replaces) a tool every session sees.
    pub fn register(&self, tool: HostTool) {
        let mut global = self
            .global
            .write()
            .expect("host tool lock is never poisoned");
        global.insert(tool.name.clone(), tool);
    }

    /// Registers (or replaces) a tool only calls in `session` see.
    pub fn register_for_session(&self, session: impl Into<SessionId>, tool: HostTool) {
        let mut by_session = self
            .by_session
            .write()
            .expect("host tool lock is never poisoned");
        by_session
            .entry(session.into())
            .or_default()
            .insert(tool.name.clone(), tool);
    }

    /// Removes a global tool; returns whether it existed.
    pub fn unregister(&self, name: &str) -> bool {
        let mut global = self
            .global
            .write()
            .expect("host tool lock is never poisoned");
        global.remove(name).is_some()
    }

    /// Forgets every tool of a session (the pool does this when the session is removed).
    pub fn forget_session(&self, session: &SessionId) {
        let mut by_session = self
            .by_session
            .write()
            .expect("host tool lock is never poisoned");
        by_session.remove(session);
    }

    /// The tools a call in `session` sees, sorted by name (session tools shadow global ones).
    pub fn visible(&self, session: Option<&SessionId>) -> Vec<HostToolInfo> {
        let mut tools: HashMap<String, HostToolInfo> = self
            .global
            .read()
            .expect("host tool lock is never poisoned")
            .values()
            .map(|tool| (tool.name.clone(), tool.info()))
            .collect();
        if let Some(session) = session {
            let by_session = self
                .by_session
                .read()
                .expect("host tool lock is never poisoned");
            for tool in by_session
                .get(session)
                .into_iter()
                .flat_map(HashMap::values)
            {
                tools.insert(tool.name.clone(), tool.info());
            }
        }
        let mut tools: Vec<HostToolInfo> = tools.into_values().collect();
        tools.extend(builtin::infos());
        tools.sort_by(|left, right| left.name.cmp(&right.name));
        tools
    }

    fn find(&self, session: Option<&SessionId>, name: &str) -> Option<HostTool> {
        if let Some(session) = session {
            let by_session = self
                .by_session
                .read()
                .expect("host tool lock is never poisoned");
            if let Some(tool) = by_session.get(session).and_then(|tools| tools.get(name)) {
                return Some(tool.clone());
            }
        }
        let global = self
            .global
            .read()
            .expect("host tool lock is never poisoned");
        global.get(name).cloned()
    }

    /// Runs host tool `name` for a call of `worker` in `session`.
    pub(crate) async fn dispatch(
        &self,
        worker: WorkerId,
        session: Option<SessionId>,
        name: &str,
        args: Value,
    ) -> Result<Value, HostFailure> {
        if let Some(outcome) = builtin::dispatch(self, session.as_ref(), name, &args) {
            return outcome;
        }
        let Some(tool) = self.find(session.as_ref(), name) else {
            let names: Vec<String> = self
                .visible(session.as_ref())
                .into_iter()
                .map(|tool| tool.name)
                .collect();
            return Err(HostFailure::new(
                "UnknownHostTool",
                format!(
                    "no host tool `{name}`; visible host tools: {}",
                    names.join(", ")
                ),
            ));
        };
        let pool = self
            .pool
            .read()
            .expect("host tool lock is never poisoned")
            .upgrade()
            .map(Pool::from_shared);
        let call = HostCall {
            pool,
            session,
            worker,
        };
        (tool.handler)(call, args)
            .await
            .map_err(|message| HostFailure::new("HostToolError", message))
    }

    pub(super) fn sessions(&self) -> &SessionStore {
        &self.sessions
    }
}
