//! The `BridgeService` the host serves to one worker, on `127.0.0.1` and an ephemeral port:
//! the worker's start-up ping, its heartbeats, its per-call session and tool registration
//! call-backs, and its calls to host tools (`GetExposedElixirTools`, `ExecuteElixirTool`),
//! which go to the pool's host tools over the link as native `host_call`s.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use futures_util::Stream;
use serde_json::{Map, Value};
use tonic::{Request, Response, Status, Streaming};

use super::convert;
use super::pb;
use super::pb::bridge_service_server::BridgeService;
use super::state::State;

/// The host side of one worker's call-backs.
#[derive(Debug)]
pub(super) struct HostService {
    pub(super) state: Arc<State>,
}

type Chunks = Pin<Box<dyn Stream<Item = Result<pb::ToolChunk, Status>> + Send>>;
type Events = Pin<Box<dyn Stream<Item = Result<pb::TelemetryEvent, Status>> + Send>>;

fn now() -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp::from(SystemTime::now()))
}

#[tonic::async_trait]
impl BridgeService for HostService {
    type ExecuteStreamingToolStream = Chunks;
    type StreamTelemetryStream = Events;

    async fn ping(
        &self,
        request: Request<pb::PingRequest>,
    ) -> Result<Response<pb::PingResponse>, Status> {
        Ok(Response::new(pb::PingResponse {
            message: format!("Pong from snakepit: {}", request.into_inner().message),
            server_time: now(),
        }))
    }

    async fn heartbeat(
        &self,
        _request: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        Ok(Response::new(pb::HeartbeatResponse {
            server_time: now(),
            session_valid: true,
        }))
    }

    async fn initialize_session(
        &self,
        _request: Request<pb::InitializeSessionRequest>,
    ) -> Result<Response<pb::InitializeSessionResponse>, Status> {
        // On every call's path, with no deadline: answer at once. Sessions live in the pool.
        Ok(Response::new(pb::InitializeSessionResponse {
            success: true,
            ..pb::InitializeSessionResponse::default()
        }))
    }

    async fn cleanup_session(
        &self,
        _request: Request<pb::CleanupSessionRequest>,
    ) -> Result<Response<pb::CleanupSessionResponse>, Status> {
        Ok(Response::new(pb::CleanupSessionResponse {
            success: true,
            resources_cleaned: 0,
        }))
    }

    async fn get_session(
        &self,
        request: Request<pb::GetSessionRequest>,
    ) -> Result<Response<pb::GetSessionResponse>, Status> {
        Ok(Response::new(pb::GetSessionResponse {
            session_id: request.into_inner().session_id,
            ..pb::GetSessionResponse::default()
        }))
    }

    async fn register_tools(
        &self,
        request: Request<pb::RegisterToolsRequest>,
    ) -> Result<Response<pb::RegisterToolsResponse>, Status> {
        let request = request.into_inner();
        let tool_ids = request
            .tools
            .iter()
            .map(|tool| {
                let id = format!("{}:{}", request.session_id, tool.name);
                (tool.name.clone(), id)
            })
            .collect();
        self.state
            .register_tools(request.tools.iter().map(convert::tool_spec).collect());
        Ok(Response::new(pb::RegisterToolsResponse {
            success: true,
            tool_ids,
            error_message: String::new(),
        }))
    }

    async fn get_exposed_elixir_tools(
        &self,
        request: Request<pb::GetExposedElixirToolsRequest>,
    ) -> Result<Response<pb::GetExposedElixirToolsResponse>, Status> {
        let session = request.into_inner().session_id;
        let listed = self
            .state
            .host_call(
                &session,
                "snakepit.list_host_tools",
                Value::Object(Map::new()),
            )
            .await
            .map_err(|failure| Status::unknown(failure.message))?;
        let field = |tool: &Value, name: &str| {
            tool.get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let tools = listed
            .as_array()
            .into_iter()
            .flatten()
            .map(|tool| pb::ToolSpec {
                name: field(tool, "name"),
                description: field(tool, "description"),
                ..pb::ToolSpec::default()
            })
            .collect();
        Ok(Response::new(pb::GetExposedElixirToolsResponse { tools }))
    }

    async fn execute_elixir_tool(
        &self,
        request: Request<pb::ExecuteElixirToolRequest>,
    ) -> Result<Response<pb::ExecuteElixirToolResponse>, Status> {
        let started = Instant::now();
        let request = request.into_inner();
        let args: Map<String, Value> = request
            .parameters
            .iter()
            .map(|(name, any)| (name.clone(), convert::host_argument(any)))
            .collect();
        let outcome = self
            .state
            .host_call(&request.session_id, &request.tool_name, Value::Object(args))
            .await;
        let elapsed = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let response = match outcome {
            Ok(result) => pb::ExecuteElixirToolResponse {
                success: true,
                result: Some(convert::json_any(&result)),
                execution_time_ms: elapsed,
                ..pb::ExecuteElixirToolResponse::default()
            },
            Err(failure) => pb::ExecuteElixirToolResponse {
                success: false,
                error_message: format!("{}: {}", failure.kind, failure.message),
                execution_time_ms: elapsed,
                ..pb::ExecuteElixirToolResponse::default()
            },
        };
        Ok(Response::new(response))
    }

    async fn execute_tool(
        &self,
        _request: Request<pb::ExecuteToolRequest>,
    ) -> Result<Response<pb::ExecuteToolResponse>, Status> {
        Err(Status::unimplemented("the host runs no Python tools"))
    }

    async fn execute_streaming_tool(
        &self,
        _request: Request<pb::ExecuteToolRequest>,
    ) -> Result<Response<Self::ExecuteStreamingToolStream>, Status> {
        Err(Status::unimplemented("the host runs no Python tools"))
    }

    async fn stream_telemetry(
        &self,
        _request: Request<Streaming<pb::TelemetryControl>>,
    ) -> Result<Response<Self::StreamTelemetryStream>, Status> {
        Err(Status::unimplemented("the host emits no telemetry"))
    }
}
