//! What one translator shares between its link loop, its calls and the `BridgeService` it
//! serves to its worker: the writing half of the link, the calls running per gRPC session,
//! the open host calls, and the tools the worker registered.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::protocol::{Encoding, FrameBuffer, Kind, Message, ToolSpec};

/// The writing half of the link, with its encoding (JSON until the welcome names another).
struct LinkOut {
    half: OwnedWriteHalf,
    buffer: FrameBuffer,
    encoding: Encoding,
    max_frame: usize,
}

/// A host call's failure: its error type and message, as the host sent them.
#[derive(Debug)]
pub(super) struct HostFailure {
    pub(super) kind: String,
    pub(super) message: String,
}

/// The state of one translator.
pub(super) struct State {
    out: tokio::sync::Mutex<LinkOut>,
    /// The session id a call without a session runs under: one per worker, as the original
    /// host does (each new id starts a heartbeat loop in the worker that never stops).
    pub(super) worker_session: String,
    /// The native call id running under each gRPC session id.
    running: Mutex<HashMap<String, u64>>,
    host_calls: Mutex<HashMap<u64, oneshot::Sender<Message>>>,
    next_ref: AtomicU64,
    tools: Mutex<Option<Vec<ToolSpec>>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("worker_session", &self.worker_session)
            .finish_non_exhaustive()
    }
}

impl State {
    pub(super) fn new(half: OwnedWriteHalf, max_frame: usize, worker_session: String) -> Self {
        Self {
            out: tokio::sync::Mutex::new(LinkOut {
                half,
                buffer: FrameBuffer::new(),
                encoding: Encoding::Json,
                max_frame,
            }),
            worker_session,
            running: Mutex::new(HashMap::new()),
            host_calls: Mutex::new(HashMap::new()),
            next_ref: AtomicU64::new(1),
            tools: Mutex::new(None),
        }
    }

    /// Writes one message to the pool.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the link is closed; the translator then stops.
    pub(super) async fn send(&self, message: &Message) -> Result<()> {
        let mut out = self.out.lock().await;
        let LinkOut {
            half,
            buffer,
            encoding,
            max_frame,
        } = &mut *out;
        let frame = buffer.encode(message, *encoding, *max_frame)?;
        half.write_all(frame).await.map_err(|source| Error::Io {
            context: "could not write to the pool's link".to_owned(),
            source,
        })
    }

    /// Adopts the encoding and frame limit the pool's welcome names.
    pub(super) async fn welcome(&self, welcome: &Message) {
        let mut out = self.out.lock().await;
        if welcome.encoding.as_deref() == Some(Encoding::MsgPack.as_str()) {
            out.encoding = Encoding::MsgPack;
        }
        if let Some(max) = welcome.max_frame.and_then(|max| usize::try_from(max).ok()) {
            out.max_frame = max;
        }
    }

    /// Records that native call `id` runs under gRPC session `session`.
    pub(super) fn begin(&self, session: &str, id: u64) {
        self.running
            .lock()
            .expect("running lock is never poisoned")
            .insert(session.to_owned(), id);
    }

    /// Forgets call `id` under `session`.
    pub(super) fn end(&self, session: &str, id: u64) {
        let mut running = self.running.lock().expect("running lock is never poisoned");
        if running.get(session) == Some(&id) {
            running.remove(session);
        }
    }

    /// Runs a host tool for the worker's call in `session`, over the link.
    ///
    /// # Errors
    ///
    /// The host's error, or `InvalidHostCall` when no call runs in that session.
    pub(super) async fn host_call(
        &self,
        session: &str,
        tool: &str,
        args: Value,
    ) -> std::result::Result<Value, HostFailure> {
        let running = self
            .running
            .lock()
            .expect("running lock is never poisoned")
            .get(session)
            .copied();
        let Some(id) = running else {
            return Err(HostFailure {
                kind: "InvalidHostCall".to_owned(),
                message: format!("no call is running in session `{session}`"),
            });
        };
        let reference = self.next_ref.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        self.host_calls
            .lock()
            .expect("host call lock is never poisoned")
            .insert(reference, reply);
        let call = Message {
            id: Some(id),
            reference: Some(reference),
            tool: Some(tool.to_owned()),
            args: Some(args),
            ..Message::new(Kind::HostCall)
        };
        let lost = || HostFailure {
            kind: "HostToolError".to_owned(),
            message: "the host is gone".to_owned(),
        };
        if self.send(&call).await.is_err() {
            self.host_calls
                .lock()
                .expect("host call lock is never poisoned")
                .remove(&reference);
            return Err(lost());
        }
        let answer = answer.await.map_err(|_| lost())?;
        if answer.success == Some(true) {
            return Ok(answer.result.unwrap_or(Value::Null));
        }
        let error = answer.error.unwrap_or(Value::Null);
        let field = |name: &str| error.get(name).and_then(Value::as_str).map(str::to_owned);
        Err(HostFailure {
            kind: field("type").unwrap_or_else(|| "HostToolError".to_owned()),
            message: field("message").unwrap_or_else(|| error.to_string()),
        })
    }

    /// Delivers a `host_result` from the pool to the host call waiting for it.
    pub(super) fn host_result(&self, message: Message) {
        let waiting = message.reference.and_then(|reference| {
            self.host_calls
                .lock()
                .expect("host call lock is never poisoned")
                .remove(&reference)
        });
        if let Some(waiting) = waiting {
            // The worker's request may have been dropped meanwhile; then no one listens.
            let _unheard = waiting.send(message);
        }
    }

    /// Fails every open host call: the link is closed, no answer will come.
    pub(super) fn close(&self) {
        self.host_calls
            .lock()
            .expect("host call lock is never poisoned")
            .clear();
    }

    /// Keeps the first tool list the worker registers.
    pub(super) fn register_tools(&self, tools: Vec<ToolSpec>) {
        let mut known = self.tools.lock().expect("tools lock is never poisoned");
        if known.is_none() {
            *known = Some(tools);
        }
    }

    /// The tools the worker registered so far (empty when it registered none).
    pub(super) fn tools(&self) -> Vec<ToolSpec> {
        self.tools
            .lock()
            .expect("tools lock is never poisoned")
            .clone()
            .unwrap_or_default()
    }
}
