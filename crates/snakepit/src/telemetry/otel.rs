//! OpenTelemetry traces (feature `otel`): one span per call (`snakepit.call`) with two
//! children, `snakepit.queue_wait` and `snakepit.worker.execute`; the W3C `traceparent` of
//! the execute span travels in the `call` frame, and the spans a Python tool opens with
//! `telemetry.span` come back in `event` frames and become children of it.
//!
//! Spans go to the global tracer provider the application installs
//! (`opentelemetry::global::set_tracer_provider`, e.g. with an OTLP exporter); with none,
//! they are no-ops.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId,
    TraceState, Tracer as _,
};
use opentelemetry::{Context, KeyValue, global};
use serde_json::Value;

/// The tracer's name.
const TRACER: &str = "snakepit";

/// The spans of one call.
#[derive(Debug)]
pub(crate) struct CallSpans {
    /// The context holding the call's span.
    call: Context,
    /// The context holding the running attempt's execute span.
    execute: Option<Context>,
    /// When the current wait for a worker began.
    waiting_since: SystemTime,
}

impl CallSpans {
    /// Starts the call's span, a child of the caller's current context.
    pub(crate) fn start(command: &str, correlation_id: &str) -> Self {
        let tracer = global::tracer(TRACER);
        let span = tracer
            .span_builder("snakepit.call")
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new("snakepit.command", command.to_owned()),
                KeyValue::new("snakepit.correlation_id", correlation_id.to_owned()),
            ])
            .start(&tracer);
        Self {
            call: Context::current_with_span(span),
            execute: None,
            waiting_since: SystemTime::now(),
        }
    }

    /// A worker took the call: the queue wait ends, the execute span starts. Returns its
    /// W3C `traceparent`.
    pub(crate) fn dispatched(&mut self, worker: &str) -> String {
        self.end_attempt();
        let tracer = global::tracer(TRACER);
        let mut wait = tracer
            .span_builder("snakepit.queue_wait")
            .with_start_time(self.waiting_since)
            .start_with_context(&tracer, &self.call);
        wait.end();
        let execute = tracer
            .span_builder("snakepit.worker.execute")
            .with_attributes([KeyValue::new("snakepit.worker", worker.to_owned())])
            .start_with_context(&tracer, &self.call);
        let parent = traceparent(execute.span_context());
        self.execute = Some(self.call.with_span(execute));
        parent
    }

    fn end_attempt(&mut self) {
        if let Some(execute) = self.execute.take() {
            execute.span().end();
            self.waiting_since = SystemTime::now();
        }
    }

    /// The call ended as `outcome` (`ok` or the failure's name).
    pub(crate) fn finish(mut self, outcome: &'static str) {
        self.end_attempt();
        let span = self.call.span();
        span.set_attribute(KeyValue::new("snakepit.outcome", outcome));
        if outcome != "ok" {
            span.set_status(Status::error(outcome));
        }
        span.end();
    }
}

/// The W3C `traceparent` of a span.
fn traceparent(context: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        context.trace_id(),
        context.span_id(),
        context.trace_flags().to_u8()
    )
}

/// The span a `traceparent` names, as a remote parent.
fn parse_traceparent(text: &str) -> Option<SpanContext> {
    let mut parts = text.split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version != "00" || parts.next().is_some() {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok()?;
    let span_id = SpanId::from_hex(span).ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    let context = SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags),
        true,
        TraceState::default(),
    );
    context.is_valid().then_some(context)
}

/// Records a span a worker measured (an `event` frame with a `span` in its data: start and
/// end in Unix nanoseconds, and the call's `traceparent`) as a child of the call's execute
/// span.
pub(crate) fn worker_span(name: &str, parent: Option<&str>, data: &Value) {
    let Some(span) = data.get("span") else { return };
    let nanos = |key: &str| span.get(key).and_then(Value::as_u64);
    let (Some(start), Some(end)) = (nanos("start_unix_ns"), nanos("end_unix_ns")) else {
        return;
    };
    let Some(parent) = parent.and_then(parse_traceparent) else {
        return;
    };
    let base = name
        .strip_suffix(".stop")
        .or_else(|| name.strip_suffix(".exception"))
        .unwrap_or(name);
    let tracer = global::tracer(TRACER);
    let parent = Context::new().with_remote_span_context(parent);
    let mut recorded = tracer
        .span_builder(base.to_owned())
        .with_start_time(UNIX_EPOCH + Duration::from_nanos(start))
        .start_with_context(&tracer, &parent);
    if name.ends_with(".exception") {
        recorded.set_status(Status::error("the block raised"));
    }
    recorded.end_with_timestamp(UNIX_EPOCH + Duration::from_nanos(end));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_round_trips() {
        let context = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        let text = traceparent(&context);
        assert_eq!(
            text,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        let parsed = parse_traceparent(&text).unwrap();
        assert_eq!(parsed.trace_id(), context.trace_id());
        assert_eq!(parsed.span_id(), context.span_id());
        assert!(parse_traceparent("01-x-y-z").is_none());
    }
}
