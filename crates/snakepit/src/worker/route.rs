//! What the supervisor does with each frame a worker sends: replies to their callers, chunks
//! to their streams, host calls to the host, and frames that nest too deep to the one call
//! they belong to.

use std::sync::Arc;

use serde_json::Value;

use super::host::{HostFailure, HostRequest};
use super::pending::{ChunkSender, Reply};
use super::shared::Shared;
use crate::error::Error;
use crate::protocol::{
    FrameError, Kind, MAX_DEPTH, Message, Scan, decode_frame, decode_inline_bins, plain_reply,
};
use crate::value::{Buffer, Payload, wire};

/// What a frame from the worker asks of the supervisor.
pub(super) enum Routed {
    /// Nothing more.
    Done,
    /// Deliver a chunk (or the error that ends the stream) to a streaming caller.
    Chunk(ChunkSender, crate::Result<Payload>),
    /// Run a host tool and answer.
    HostCall(Box<Message>),
    /// The reply to the call of the caller that routed it, taken out of the pending table.
    Mine(crate::Result<Reply>),
}

/// Routes one frame from the worker. An error means the worker broke the protocol.
pub(super) fn route(shared: &Shared, payload: &[u8]) -> Result<Routed, String> {
    route_as(shared, payload, None)
}

/// [`route`], by the caller of call `reader` reading its own reply: that reply comes back as
/// [`Routed::Mine`] instead of through the call's oneshot.
pub(super) fn route_as(
    shared: &Shared,
    payload: &[u8],
    reader: Option<u64>,
) -> Result<Routed, String> {
    if let Some(plain) = plain_reply(payload) {
        let reply = Reply {
            success: Some(plain.success),
            result: plain.result,
            error: plain.error,
            buffers: Vec::new(),
        };
        return Ok(deliver(shared, plain.id, Kind::Result, Ok(reply), reader));
    }
    let mut message = match decode_frame(payload) {
        Ok(message) => message,
        Err(FrameError::TooDeep(scan)) => return too_deep(shared, &scan),
        // Inline `bin`s in a value (a worker's msgpack library writes bytes so) are taken
        // out into buffers; only frames that fail the normal decode pay for the check.
        Err(FrameError::Malformed(err)) => match decode_inline_bins(payload) {
            Some(message) => message,
            None => return Err(err.to_string()),
        },
    };
    if message.buffers.is_some() {
        // Memfds are taken off the fd channel now, for every frame that names them, so the
        // channel stays in step with the link whatever happens to the frame next.
        shared.shm.take_shared(&mut message);
    }
    match message.kind() {
        Kind::Chunk => {
            let chunks = message.id.and_then(|id| shared.pending.chunks(id));
            Ok(match chunks {
                Some(chunks) => {
                    let chunk = buffers(&mut message).map(|buffers| Payload {
                        value: message.data.unwrap_or(Value::Null),
                        buffers,
                    });
                    Routed::Chunk(chunks, chunk)
                }
                None => Routed::Done,
            })
        }
        Kind::HostCall => Ok(Routed::HostCall(Box::new(message))),
        Kind::Result | Kind::Pong => {
            let id = match message.id {
                Some(id) => id,
                // A classic worker that does not echo ids has one call in flight.
                None if shared.classic => match shared.pending.only() {
                    Some(id) => id,
                    None => return Ok(Routed::Done),
                },
                None => return Err("a reply without an id".to_owned()),
            };
            let kind = message.kind();
            let reply = buffers(&mut message).map(|buffers| Reply::new(message, buffers));
            Ok(deliver(shared, id, kind, reply, reader))
        }
        Kind::Event => {
            if let Some(host) = &shared.host {
                host.worker_event(shared.id, message);
            }
            Ok(Routed::Done)
        }
        Kind::Hello => Err("a second hello".to_owned()),
        kind => {
            tracing::debug!(worker = %shared.id, ?kind, "message ignored");
            Ok(Routed::Done)
        }
    }
}

/// Hands the reply to call `id` (a `result` or a `pong`) to its caller.
fn deliver(
    shared: &Shared,
    id: u64,
    kind: Kind,
    reply: crate::Result<Reply>,
    reader: Option<u64>,
) -> Routed {
    if shared.capacity == 1 && kind == Kind::Result {
        // Cleared before the answer wakes the caller, who may start the next call.
        // Clearing an empty id costs less than asking whether output is logged.
        shared.output.set_call(None);
    }
    if reader == Some(id) {
        // The caller never waited on its oneshot: dropping the sender wakes no one.
        if shared.pending.remove(id).is_some() {
            return Routed::Mine(reply);
        }
        tracing::debug!(worker = %shared.id, id, "reply to no pending call");
        return Routed::Done;
    }
    if !shared.pending.answer(id, reply) {
        tracing::debug!(worker = %shared.id, id, "reply to no pending call");
    }
    // A caller reading its own reply is woken by the answer (a no-op when that caller
    // routed it).
    shared.read.wake_caller();
    Routed::Done
}

/// The buffers of a frame, taken out of it; an unusable entry fails the frame's call.
fn buffers(message: &mut Message) -> crate::Result<Vec<Buffer>> {
    match message.buffers.take() {
        None => Ok(Vec::new()),
        entries => wire::resolve(entries)
            .map_err(|reason| Error::Protocol(format!("the worker sent bad buffers: {reason}"))),
    }
}

/// A well-formed frame too deep to decode fails only the call it belongs to.
fn too_deep(shared: &Shared, scan: &Scan) -> Result<Routed, String> {
    let refused = |what: &'static str| Error::TooDeep {
        what,
        limit: MAX_DEPTH,
    };
    let Some(id) = scan.id else {
        return Err(format!(
            "a frame nested {} levels deep, and no call id to fail",
            scan.depth
        ));
    };
    match scan.kind.as_deref() {
        Some("chunk") => Ok(match shared.pending.chunks(id) {
            Some(chunks) => Routed::Chunk(chunks, Err(refused("a stream chunk"))),
            None => Routed::Done,
        }),
        Some("host_call") => {
            let failure = HostFailure::new(
                "DepthLimitExceeded",
                format!("host call arguments nest deeper than {MAX_DEPTH} levels"),
            );
            let reply = host_reply(Some(id), scan.reference, Err(failure), None);
            Ok(Routed::HostCall(Box::new(reply)))
        }
        _ => {
            shared.pending.answer(id, Err(refused("the result")));
            shared.read.wake_caller();
            Ok(Routed::Done)
        }
    }
}

/// The `host_result` frame answering a host call; with `shm_threshold`, the result's
/// buffers from that size on are named as memfds (sent on the fd channel before the frame).
pub(super) fn host_reply(
    id: Option<u64>,
    reference: Option<u64>,
    outcome: Result<Payload, HostFailure>,
    shm_threshold: Option<usize>,
) -> Message {
    let mut reply = Message {
        id,
        reference,
        ..Message::new(Kind::HostResult)
    };
    match outcome {
        Ok(result) => {
            reply.success = Some(true);
            reply.result = Some(result.value);
            if !result.buffers.is_empty() {
                reply.buffers = Some(
                    result
                        .buffers
                        .into_iter()
                        .map(|buffer| match shm_threshold {
                            Some(threshold) if buffer.len() >= threshold => {
                                wire::BufferEntry::Shm {
                                    len: u64::try_from(buffer.len()).unwrap_or(u64::MAX),
                                    id: None,
                                }
                            }
                            _ => wire::BufferEntry::Inline(buffer),
                        })
                        .collect(),
                );
            }
        }
        Err(failure) => {
            reply.success = Some(false);
            reply.error =
                Some(serde_json::json!({"type": failure.kind, "message": failure.message}));
        }
    }
    reply
}

/// Runs a host tool for the worker in a task of its own (the tool may take long, or call
/// the pool) and writes the answer to the worker. A prepared `host_result` is written as is.
pub(super) fn spawn_host_call(shared: &Arc<Shared>, message: Message) {
    let shared = Arc::clone(shared);
    if message.kind() == Kind::HostResult {
        tokio::spawn(async move {
            if let Err(err) = shared.send(&message).await {
                tracing::debug!(worker = %shared.id, error = %err, "could not answer a host call");
            }
        });
        return;
    }
    let session = message.id.and_then(|id| shared.pending.session(id));
    tokio::spawn(async move {
        let mut message = message;
        let buffers = buffers(&mut message);
        let tool = message.tool.unwrap_or_default();
        let args = message
            .args
            .unwrap_or_else(|| Value::Object(serde_json::Map::new()));
        let outcome = match (&shared.host, session, buffers) {
            (_, _, Err(err)) => Err(HostFailure::new("InvalidHostCall", err.to_string())),
            (Some(host), Some(session), Ok(buffers)) => {
                let request = HostRequest {
                    worker: shared.id,
                    session,
                    tool,
                    args: Payload {
                        value: args,
                        buffers,
                    },
                };
                host.host_call(request).await
            }
            (None, Some(_), _) => Err(HostFailure::new(
                "UnknownHostTool",
                "this pool offers no host tools",
            )),
            (_, None, _) => Err(HostFailure::new(
                "InvalidHostCall",
                "a host call outside any running call",
            )),
        };
        let outcome = outcome.and_then(|result| {
            if crate::protocol::exceeds(&result.value, MAX_DEPTH) {
                Err(HostFailure::new(
                    "DepthLimitExceeded",
                    format!("the host tool's result nests deeper than {MAX_DEPTH} levels"),
                ))
            } else {
                Ok(result)
            }
        });
        let (outcome, memfds) = share_result(&shared, outcome);
        let threshold = memfds.as_ref().and_then(|_| shared.shm.threshold());
        let reply = host_reply(message.id, message.reference, outcome, threshold);
        let sent = match &memfds {
            None => shared.send(&reply).await,
            Some(memfds) => shared.send_with_fds(&reply, memfds).await,
        };
        if let Err(err) = sent {
            tracing::debug!(worker = %shared.id, error = %err, "could not answer a host call");
        }
    });
}

/// The memfds for a host tool's result buffers that travel in shared memory (those of at
/// least the threshold, when the worker has an fd channel); a result that cannot be put in
/// shared memory (over the pool's cap) becomes the host call's failure.
fn share_result(
    shared: &Shared,
    outcome: Result<Payload, HostFailure>,
) -> (
    Result<Payload, HostFailure>,
    Option<Vec<crate::shm::SharedBuffer>>,
) {
    match outcome {
        Ok(result) if !result.buffers.is_empty() => match shared.shm.plan(&result.buffers) {
            Ok(memfds) => (Ok(result), memfds),
            Err(err) => (
                Err(HostFailure::new("SharedMemoryError", err.to_string())),
                None,
            ),
        },
        other => (other, None),
    }
}
