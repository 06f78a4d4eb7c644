//! One native `call` run on the worker as `ExecuteTool` or `ExecuteStreamingTool`, and its
//! answer as native frames: chunks, then one `result`.

use std::collections::HashMap;

use serde_json::{Value, json};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use super::convert;
use super::pb;
use super::pb::bridge_service_client::BridgeServiceClient;
use super::state::State;
use crate::protocol::{Kind, Message};

/// The map the worker returns when a generator tool is called through the unary RPC.
const STREAMING_ON_UNARY: &str = "Streaming tool called on non-streaming endpoint.";

/// How a call ended.
#[derive(Debug)]
pub(super) enum Outcome {
    /// The answer to send to the pool.
    Answer(Box<Message>),
    /// The worker's gRPC server failed: the transport broke, so the worker is unusable.
    Broken(Status),
}

/// Runs native call `call` on the worker.
pub(super) async fn run(
    state: &State,
    client: BridgeServiceClient<Channel>,
    worker: &str,
    call: Message,
) -> Outcome {
    let id = call.id.unwrap_or_default();
    let session = call
        .session_id
        .clone()
        .filter(|session| !session.is_empty())
        .unwrap_or_else(|| state.worker_session.clone());
    let correlation = format!("{worker}-{id}");
    let request = pb::ExecuteToolRequest {
        session_id: session.clone(),
        tool_name: call.command.clone().unwrap_or_default(),
        parameters: convert::parameters(call.args.as_ref()),
        metadata: HashMap::from([("correlation_id".to_owned(), correlation.clone())]),
        stream: call.stream == Some(true),
        binary_parameters: HashMap::new(),
    };
    state.begin(&session, id);
    let answered = if call.stream == Some(true) {
        stream(state, client, request, &correlation, Some(id)).await
    } else {
        unary(state, client, request, &correlation).await
    };
    state.end(&session, id);
    match answered {
        Ok(Answered::Value(value)) => Outcome::Answer(Box::new(Message {
            id: Some(id),
            success: Some(true),
            result: Some(value),
            ..Message::new(Kind::Result)
        })),
        Ok(Answered::Error(error)) => Outcome::Answer(Box::new(Message {
            id: Some(id),
            success: Some(false),
            error: Some(error),
            ..Message::new(Kind::Result)
        })),
        Err(status) => Outcome::Broken(status),
    }
}

/// What the tool answered.
enum Answered {
    Value(Value),
    Error(Value),
}

fn with_correlation<T>(message: T, correlation: &str) -> Request<T> {
    let mut request = Request::new(message);
    if let Ok(value) = correlation.parse() {
        request
            .metadata_mut()
            .insert("x-snakepit-correlation-id", value);
    }
    request
}

async fn unary(
    state: &State,
    mut client: BridgeServiceClient<Channel>,
    request: pb::ExecuteToolRequest,
    correlation: &str,
) -> Result<Answered, Status> {
    let response = client
        .execute_tool(with_correlation(request.clone(), correlation))
        .await?
        .into_inner();
    if !response.success {
        return Ok(Answered::Error(convert::error(&response.error_message)));
    }
    let value = convert::result(response.result.as_ref());
    if value == json!({ "error": STREAMING_ON_UNARY }) {
        // A generator tool called without a stream: collect its chunks, as native workers do.
        return stream(state, client, request, correlation, None).await;
    }
    Ok(Answered::Value(value))
}

/// Runs a streaming call. With `forward` (the native call id) each chunk goes to the pool
/// and the result is null; without, the chunks are collected into the result.
async fn stream(
    state: &State,
    mut client: BridgeServiceClient<Channel>,
    request: pb::ExecuteToolRequest,
    correlation: &str,
    forward: Option<u64>,
) -> Result<Answered, Status> {
    let streamed = client
        .execute_streaming_tool(with_correlation(request, correlation))
        .await;
    let mut chunks = match streamed {
        Ok(response) => response.into_inner(),
        Err(status) => return tool_error(status),
    };
    let mut collected = Vec::new();
    let mut seq = 0;
    loop {
        let chunk = match chunks.message().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(status) => return tool_error(status),
        };
        // The worker appends an empty final chunk when the tool did not mark its own last.
        if !(chunk.is_final && chunk.data.is_empty()) {
            let data = convert::chunk_data(&chunk.data);
            match forward {
                Some(id) => {
                    let message = Message {
                        id: Some(id),
                        seq: Some(seq),
                        data: Some(data),
                        ..Message::new(Kind::Chunk)
                    };
                    // A closed link ends the translator; the call no longer matters.
                    if state.send(&message).await.is_err() {
                        return Err(Status::cancelled("the pool's link is closed"));
                    }
                    seq += 1;
                }
                None => collected.push(data),
            }
        }
        if chunk.is_final {
            break;
        }
    }
    Ok(Answered::Value(match forward {
        Some(_) => Value::Null,
        None => Value::Array(collected),
    }))
}

/// A streaming RPC's failure: the worker reports a tool's error as `INTERNAL` with its error
/// JSON as the message; any other status is the transport failing.
fn tool_error(status: Status) -> Result<Answered, Status> {
    let is_error_json = serde_json::from_str::<serde_json::Map<String, Value>>(status.message())
        .is_ok_and(|fields| fields.contains_key("type"));
    if status.code() == Code::Internal && is_error_json {
        Ok(Answered::Error(convert::error(status.message())))
    } else {
        Err(status)
    }
}
