//! The calls a worker owes an answer: each call id's reply sender, chunk sender and session.

use std::sync::Mutex;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::id_hash::IdMap;
use crate::protocol::Message;
use crate::session::SessionId;
use crate::value::{Buffer, Payload};

/// A worker's answer to a call (or a `pong`): the fields of its `result` frame the caller
/// needs, without the rest of the frame.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    /// Whether the call succeeded.
    pub(crate) success: Option<bool>,
    /// Its value, when it did.
    pub(crate) result: Option<Value>,
    /// Its error, when it did not.
    pub(crate) error: Option<Value>,
    /// The buffers the result's markers point at (empty, unallocated, when none).
    pub(crate) buffers: Vec<Buffer>,
}

impl Reply {
    /// The reply in `message`, with the buffers resolved from its `buffers` field.
    pub(crate) fn new(message: Message, buffers: Vec<Buffer>) -> Self {
        Self {
            success: message.success,
            result: message.result,
            error: message.error,
            buffers,
        }
    }
}

impl From<Message> for Reply {
    fn from(message: Message) -> Self {
        Self::new(message, Vec::new())
    }
}

/// Where a streaming call's chunks go (a chunk's value with its buffers); an error ends
/// the stream.
pub(crate) type ChunkSender = mpsc::Sender<Result<Payload>>;

/// A call waiting for its reply: where the reply goes, where its chunks go (streaming
/// calls), and the session it runs in (the scope of its host calls).
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) reply: oneshot::Sender<Result<Reply>>,
    pub(super) chunks: Option<ChunkSender>,
    pub(super) session: Option<SessionId>,
    /// What runs: a tool by its index in the worker's tool list (a pointer-sized copy, no
    /// allocation), for the worker snapshot.
    pub(super) running: Running,
}

/// What a pending call runs, as the worker snapshot reports it (8 bytes, copied into the
/// pending entry the call writes anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Running {
    /// A heartbeat `ping`, not a call.
    Ping,
    /// The tool at this index of the worker's tool list.
    Tool(u32),
    /// A command the worker did not list (classic workers list none).
    Unlisted,
}

/// The table of pending calls; `None` once the worker is closed, so nothing registers after
/// the supervisor drained it.
#[derive(Debug)]
pub(super) struct PendingTable(Mutex<Option<IdMap<u64, Pending>>>);

impl PendingTable {
    pub(super) fn new() -> Self {
        Self(Mutex::new(Some(IdMap::default())))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<IdMap<u64, Pending>>> {
        self.0.lock().expect("pending lock is never poisoned")
    }

    /// Registers call `id`; `None` when the worker is closed.
    pub(super) fn insert(&self, id: u64, pending: Pending) -> Option<()> {
        self.lock().as_mut()?.insert(id, pending);
        Some(())
    }

    /// Removes call `id`.
    pub(super) fn remove(&self, id: u64) -> Option<Pending> {
        self.lock().as_mut()?.remove(&id)
    }

    /// The chunk sender of call `id`.
    pub(super) fn chunks(&self, id: u64) -> Option<ChunkSender> {
        self.lock().as_ref()?.get(&id)?.chunks.clone()
    }

    /// The session of call `id`: `None` when no such call runs, `Some(None)` outside a session.
    pub(super) fn session(&self, id: u64) -> Option<Option<SessionId>> {
        Some(self.lock().as_ref()?.get(&id)?.session.clone())
    }

    /// What every pending call runs, pings left out.
    pub(super) fn running(&self) -> Vec<Running> {
        self.lock().as_ref().map_or_else(Vec::new, |table| {
            table
                .values()
                .map(|call| call.running)
                .filter(|running| *running != Running::Ping)
                .collect()
        })
    }

    /// The only pending call's id (classic workers that do not echo ids run one at a time).
    pub(super) fn only(&self) -> Option<u64> {
        let table = self.lock();
        let table = table.as_ref()?;
        (table.len() == 1)
            .then(|| table.keys().next().copied())
            .flatten()
    }

    /// Answers call `id` with `outcome`; `false` when no such call waits.
    pub(super) fn answer(&self, id: u64, outcome: Result<Reply>) -> bool {
        match self.remove(id) {
            Some(call) => {
                // The caller may have stopped waiting; the reply is then dropped.
                let _unheard = call.reply.send(outcome);
                true
            }
            None => false,
        }
    }

    /// Closes the table and fails every call still in it with `error`.
    pub(super) fn close(&self, error: impl Fn() -> Error) {
        let drained = self.lock().take();
        for (_, call) in drained.into_iter().flatten() {
            // A caller that stopped waiting has nothing to be told.
            let _unheard = call.reply.send(Err(error()));
        }
    }
}
