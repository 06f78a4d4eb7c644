//! The one message envelope every frame carries, and the kinds it can have.
//!
//! The envelope is flat: every field of every kind is optional, and [`Message::kind`] tells
//! the kinds apart. That keeps the native protocol a strict superset of the classic one
//! (`{"id","command","args"}` → `{"id","success","result"|"error"}`), lets receivers ignore
//! fields they do not know, and decodes without buffering.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::value::wire::BufferEntry;

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    /// Worker → host: the worker is ready.
    Hello,
    /// Host → worker: the handshake answer.
    Welcome,
    /// Host → worker: run a command.
    Call,
    /// Worker → host: the final answer to a call.
    Result,
    /// Worker → host: one streamed chunk of a call.
    Chunk,
    /// Host → worker: stop a running call.
    Cancel,
    /// Worker → host: call a tool of the host.
    HostCall,
    /// Host → worker: the answer to a host call.
    HostResult,
    /// Host → worker: liveness check.
    Ping,
    /// Worker → host: answer to a ping.
    Pong,
    /// Worker → host: telemetry.
    Event,
    /// Host → worker: forget a session's state.
    SessionDrop,
    /// Host → worker: exit now.
    Shutdown,
    /// A kind this version does not know; receivers ignore it.
    #[serde(other)]
    Unknown,
}

/// One message: the payload of one frame.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Message {
    /// The message kind. Absent in classic messages; see [`Message::kind`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<Kind>,
    /// The call this message belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// `call`: the command (tool) to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) command: Option<String>,
    /// `call`, `host_call`: the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) args: Option<Value>,
    /// `call`, `session_drop`: the session the call belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) session_id: Option<String>,
    /// `call`: the call's deadline in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) timeout_ms: Option<u64>,
    /// `call`: the call's correlation id; `event`: the correlation id of the call it
    /// belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) correlation_id: Option<String>,
    /// `call`: the W3C `traceparent` of the call's span; `event`: that of the call it
    /// belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) traceparent: Option<String>,
    /// `call`: whether the caller wants a stream of chunks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stream: Option<bool>,
    /// `result`, `host_result`: whether the call succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) success: Option<bool>,
    /// `result`, `host_result`: the value, when the call succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) result: Option<Value>,
    /// `result`, `host_result`: the error, when the call failed: a map with `type`,
    /// `message` and `traceback`, or a plain string from a classic worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<Value>,
    /// `chunk`: the chunk's sequence number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) seq: Option<u64>,
    /// `chunk`, `event`: the payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) data: Option<Value>,
    /// `host_call`, `host_result`: the worker's reference for the host call.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub(crate) reference: Option<u64>,
    /// `host_call`: the host tool to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tool: Option<String>,
    /// `event`: the event's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// `hello`, `welcome`: the protocol version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) protocol: Option<u32>,
    /// `hello`: the worker's process id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pid: Option<u32>,
    /// `hello`: the encodings the worker speaks, preferred first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) encodings: Option<Vec<String>>,
    /// `hello`: the adapter's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) adapter: Option<String>,
    /// `hello`: the worker's runtime, such as `python 3.11.7`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) runtime: Option<String>,
    /// `hello`: the tools the worker offers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tools: Option<Vec<ToolSpec>>,
    /// `hello`: how many calls the worker runs at once (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) capacity: Option<u32>,
    /// `hello`: the worker reads sealed memfds from its fd channel (`SNAKEPIT_SHM_FD`);
    /// without it, every buffer travels inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) shm: Option<bool>,
    /// `welcome`: the encoding both sides use after the handshake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) encoding: Option<String>,
    /// `welcome`: the worker's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) worker_id: Option<String>,
    /// `welcome`: the maximum frame size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_frame: Option<u64>,
    /// `call`, `result`, `chunk`, `host_call`, `host_result`: the binary data the value's
    /// buffer markers point at (`docs/PROTOCOL.md`, "Buffers").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) buffers: Option<Vec<BufferEntry>>,
}

impl Message {
    /// The message's kind: its `kind` field, or for a classic message without one, `call`
    /// when it names a command and `result` when it says whether it succeeded.
    pub(crate) fn kind(&self) -> Kind {
        match self.kind {
            Some(kind) => kind,
            None if self.command.is_some() => Kind::Call,
            None if self.success.is_some() => Kind::Result,
            None => Kind::Unknown,
        }
    }

    /// A message of the given kind with no fields set.
    pub(crate) fn new(kind: Kind) -> Self {
        Self {
            kind: Some(kind),
            ..Self::default()
        }
    }

    /// A native `call` (the host builds its calls elsewhere; the floors and tests use this).
    #[cfg(any(test, feature = "bench"))]
    pub fn call(id: u64, command: &str, args: Value) -> Self {
        Self {
            kind: Some(Kind::Call),
            id: Some(id),
            command: Some(command.to_owned()),
            args: Some(args),
            ..Self::default()
        }
    }

    /// A classic v0.0.1 request: exactly `id`, `command` and `args`.
    #[cfg(test)]
    pub(crate) fn classic_call(id: u64, command: &str, args: Value) -> Self {
        Self {
            kind: None,
            ..Self::call(id, command, args)
        }
    }

    /// A message of `kind` that refers to call `id` (`cancel`, `ping`, `pong`).
    pub(crate) fn for_call(kind: Kind, id: u64) -> Self {
        Self {
            id: Some(id),
            ..Self::new(kind)
        }
    }
}

/// A tool a worker offers, as its `hello` describes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolSpec {
    /// The tool's name: the command that runs it.
    pub name: String,
    /// What the tool does.
    #[serde(default)]
    pub description: Option<String>,
    /// Its parameters.
    #[serde(default)]
    pub parameters: Vec<ParamSpec>,
    /// Whether it streams chunks.
    #[serde(default)]
    pub streaming: bool,
}

/// One parameter of a [`ToolSpec`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ParamSpec {
    /// The parameter's name.
    pub name: String,
    /// Its type, as the worker names it (`int`, `str`, ...).
    #[serde(default, rename = "type")]
    pub type_name: Option<String>,
    /// Whether a call must give it.
    #[serde(default)]
    pub required: bool,
    /// Its default value.
    #[serde(default)]
    pub default: Option<Value>,
    /// What it means.
    #[serde(default)]
    pub description: Option<String>,
}

impl ParamSpec {
    /// An optional parameter with no type, default or description.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Sets the type name (`int`, `str`, ...).
    #[must_use]
    pub fn type_name(mut self, type_name: impl Into<String>) -> Self {
        self.type_name = Some(type_name.into());
        self
    }

    /// Marks the parameter as required.
    #[must_use]
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Sets the description.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}
