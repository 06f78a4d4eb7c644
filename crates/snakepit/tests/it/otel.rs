//! OpenTelemetry: spans of a call exported over OTLP to a real gRPC collector endpoint
//! started here, linked across the process boundary (call → queue wait and execute →
//! the Python tool's span).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::json;

use crate::support;
use crate::telemetry::telemetry_adapter;

/// A collector that keeps every span it is sent.
#[derive(Debug, Clone, Default)]
struct Collector(Arc<Mutex<Vec<Span>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans = request
            .into_inner()
            .resource_spans
            .into_iter()
            .flat_map(|resource| resource.scope_spans)
            .flat_map(|scope| scope.spans);
        self.0.lock().unwrap().extend(spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_of_a_call_reach_an_otlp_collector_linked_across_the_process_boundary() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let collector = Collector::default();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://{address}"))
        .build()
        .unwrap();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());

    let pool = support::builder(telemetry_adapter(), 1)
        .start()
        .await
        .unwrap();
    let answer = pool
        .call("traced")
        .correlation_id("otel-1")
        .send()
        .await
        .unwrap();
    pool.shutdown().await;
    let flushed = tokio::task::spawn_blocking(move || provider.force_flush())
        .await
        .unwrap();
    assert!(flushed.is_ok(), "{flushed:?}");
    let spans = collector.0.lock().unwrap().clone();
    let named = |name: &str| {
        spans
            .iter()
            .find(|span| span.name == name)
            .unwrap_or_else(|| panic!("no span {name}: {spans:#?}"))
            .clone()
    };
    let call = named("snakepit.call");
    let wait = named("snakepit.queue_wait");
    let execute = named("snakepit.worker.execute");
    let python = named("tool.execution");
    let correlated = call.attributes.iter().any(|attribute| {
        attribute.key == "snakepit.correlation_id"
            && format!("{:?}", attribute.value).contains("otel-1")
    });
    assert!(correlated, "{call:#?}");
    for child in [&wait, &execute, &python] {
        assert_eq!(child.trace_id, call.trace_id, "{child:#?}");
    }
    assert_eq!(wait.parent_span_id, call.span_id);
    assert_eq!(execute.parent_span_id, call.span_id);
    assert_eq!(
        python.parent_span_id, execute.span_id,
        "the Python span continues the trace"
    );
    assert!(python.start_time_unix_nano >= execute.start_time_unix_nano);
    assert!(python.end_time_unix_nano <= execute.end_time_unix_nano + 1_000_000);
    assert_eq!(answer["trace_id"], json!(hex(&call.trace_id)));
    server.abort();
    let _ = tokio::time::timeout(Duration::from_secs(1), server).await;
}
