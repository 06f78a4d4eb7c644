//! [`HostTools`]: the registry of a pool's host tools, global and per session, and the
//! dispatch of one host call.

use std::collections::HashMap;
use std::sync::RwLock;

use serde::Serialize;

use super::builtin;
use super::error::HostToolError;
use super::host_tool::{HostCall, HostTool};
use crate::protocol::ParamSpec;
use crate::session::{SessionId, SessionStore};
use crate::value::Payload;

/// What a worker sees of a host tool when it lists them.
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

impl HostTool {
    fn info(&self) -> HostToolInfo {
        HostToolInfo {
            name: self.name.clone(),
            description: self.description.clone(),
            parameters: self.parameters.clone(),
        }
    }
}

/// The host tools of a pool: global ones, and ones only a session's calls see. The built-in
/// `snakepit.*` tools (listing host tools, reading and writing session variables) are
/// registered as ordinary global tools when the registry is made. Register tools with
/// [`Pool::register_host_tool`](crate::Pool::register_host_tool) and
/// [`Pool::register_session_tool`](crate::Pool::register_session_tool).
#[derive(Debug, Default)]
pub struct HostTools {
    global: RwLock<HashMap<String, HostTool>>,
    by_session: RwLock<HashMap<SessionId, HashMap<String, HostTool>>>,
}

impl HostTools {
    /// A registry holding the built-in tools, which work on `sessions`.
    pub(crate) fn new(sessions: &SessionStore) -> Self {
        let tools = Self::default();
        for tool in builtin::tools(sessions) {
            tools.register(tool);
        }
        tools
    }

    pub(crate) fn register(&self, tool: HostTool) {
        let mut global = self
            .global
            .write()
            .expect("host tool lock is never poisoned");
        global.insert(tool.name.clone(), tool);
    }

    pub(crate) fn register_for_session(&self, session: impl Into<SessionId>, tool: HostTool) {
        let mut by_session = self
            .by_session
            .write()
            .expect("host tool lock is never poisoned");
        by_session
            .entry(session.into())
            .or_default()
            .insert(tool.name.clone(), tool);
    }

    pub(crate) fn unregister(&self, name: &str) -> bool {
        let mut global = self
            .global
            .write()
            .expect("host tool lock is never poisoned");
        global.remove(name).is_some()
    }

    /// Forgets the tools of a session (it was deleted or expired).
    pub(crate) fn forget_session(&self, session: &SessionId) {
        let mut by_session = self
            .by_session
            .write()
            .expect("host tool lock is never poisoned");
        by_session.remove(session);
    }

    /// The host tools a call in `session` (or outside any session) can use, by name.
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

    /// Runs host tool `name` in the scope of `call`: the session's own tools first, then
    /// the global ones.
    pub(crate) async fn dispatch(
        &self,
        call: HostCall,
        name: &str,
        args: Payload,
    ) -> Result<Payload, HostToolError> {
        let Some(tool) = self.find(call.session.as_ref(), name) else {
            let names: Vec<String> = self
                .visible(call.session.as_ref())
                .into_iter()
                .map(|tool| tool.name)
                .collect();
            return Err(HostToolError::with_kind(
                "UnknownHostTool",
                format!(
                    "no host tool `{name}`; visible host tools: {}",
                    names.join(", ")
                ),
            ));
        };
        (tool.handler)(call, args).await
    }
}
