//! The pool's side of the host-call seam: a worker's `host_call` runs the pool's host tools
//! with a [`HostCall`] naming the pool, the session and the worker.

use std::sync::{Arc, Weak};

use serde_json::Value;

use super::handle::{Pool, PoolShared};
use crate::protocol::Message;
use crate::telemetry::{CorrelationId, Event};
use crate::tool::HostCall;
use crate::worker::{HostAnswer, HostCalls, HostFailure, HostRequest, WorkerId};

/// Runs host calls for the workers of one pool. Holds the pool weakly: workers never keep
/// their pool alive.
#[derive(Debug)]
pub(super) struct PoolHost {
    pub(super) pool: Weak<PoolShared>,
}

impl HostCalls for PoolHost {
    fn worker_event(&self, worker: WorkerId, event: Message) {
        let Some(shared) = self.pool.upgrade() else {
            return;
        };
        let telemetry = &shared.telemetry;
        let Some(name) = event
            .name
            .as_deref()
            .and_then(|name| telemetry.gate.admit(name))
        else {
            telemetry.record_worker_event_dropped();
            return;
        };
        #[cfg(feature = "otel")]
        if let Some(data) = event.data.as_ref() {
            crate::telemetry::otel::worker_span(&name, event.traceparent.as_deref(), data);
        }
        telemetry.record_worker_event(Arc::clone(&name));
        telemetry.emit(|| {
            let mut data = event.data.unwrap_or(Value::Null);
            let mut field = |key: &str| data.get_mut(key).map_or(Value::Null, Value::take);
            Event::Worker {
                worker,
                name: name.to_string(),
                measurements: field("measurements"),
                metadata: field("metadata"),
                correlation_id: event.correlation_id.map(CorrelationId::from),
            }
        });
    }

    fn host_call(&self, request: HostRequest) -> HostAnswer {
        let shared = self.pool.upgrade();
        Box::pin(async move {
            let Some(shared) = shared else {
                return Err(HostFailure::new(
                    "UnknownHostTool",
                    "the pool is shutting down",
                ));
            };
            let tools = std::sync::Arc::clone(&shared.host);
            let shared_telemetry = shared.telemetry.clone();
            let call = HostCall {
                pool: Some(Pool::from_shared(shared)),
                session: request.session,
                worker: request.worker,
            };
            let telemetry = shared_telemetry;
            let outcome = tools.dispatch(call, &request.tool, request.args).await;
            // An unknown name is not a label: workers could make unbounded label sets.
            let known = !matches!(&outcome, Err(err) if err.kind == "UnknownHostTool");
            let tool = if known {
                request.tool
            } else {
                "unknown".to_owned()
            };
            telemetry.record_host_call(tool, outcome.is_ok());
            outcome.map_err(|err| HostFailure::new(err.kind, err.message))
        })
    }
}
