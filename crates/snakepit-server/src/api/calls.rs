//! `POST /v1/pools/{pool}/commands/{command}` and its `/stream` twin: read the call from the
//! body and headers, run it through [`crate::dispatch`], answer JSON or Server-Sent Events.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt, stream};
use serde::Deserialize;
use serde_json::{Value, json};
use snakepit::StreamItem;

use super::{PathParams, body_error};
use crate::dispatch::{self, CallSpec};
use crate::error::ApiError;
use crate::state::{AppState, Served};

/// The header that carries the correlation id, in and out.
pub const CORRELATION_HEADER: &str = "x-correlation-id";
/// The longest deadline a call may ask for.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest session id or correlation id accepted.
const MAX_ID: usize = 256;

/// The body of a call; every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallBody {
    #[serde(default)]
    args: Option<Value>,
    #[serde(default)]
    session: Option<String>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    idempotent: Option<bool>,
    #[serde(default)]
    correlation_id: Option<String>,
}

/// A call ready to run.
struct Prepared {
    served: Arc<Served>,
    command: String,
    args: Value,
    spec: CallSpec,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    headers
        .get(name)
        .map(|value| {
            value
                .to_str()
                .map_err(|_| ApiError::bad_request(format!("header {name} is not text")))
        })
        .transpose()
}

fn checked_id(what: &str, id: String) -> Result<String, ApiError> {
    if id.is_empty() || id.len() > MAX_ID || id.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{what} must be 1 to {MAX_ID} bytes of text without control characters"
        )));
    }
    Ok(id)
}

fn new_correlation_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    format!(
        "{:012x}-{:06x}",
        nanos & 0xffff_ffff_ffff,
        NEXT.fetch_add(1, Ordering::Relaxed) & 0xff_ffff
    )
}

/// Reads a call from the request of a call or stream route.
fn accept(
    state: &AppState,
    params: PathParams<(String, String)>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Prepared, ApiError> {
    let body = body.map_err(|rejection| body_error(&rejection))?;
    prepare(state, params.0?, headers, &body)
}

/// Reads the call from the path, the headers and the body.
fn prepare(
    state: &AppState,
    params: (String, String),
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Prepared, ApiError> {
    let (pool, command) = params;
    let served = state.pool(&pool)?;
    let tools = served.pool.tools();
    if !tools.is_empty() && !tools.iter().any(|tool| tool.name == command) {
        return Err(ApiError::unknown_command(&pool, &command));
    }
    let body: CallBody = if body.iter().all(u8::is_ascii_whitespace) {
        CallBody::default()
    } else {
        serde_json::from_slice(body)
            .map_err(|err| ApiError::bad_request(format!("the body is not a valid call: {err}")))?
    };
    let args = match body.args {
        None | Some(Value::Null) => json!({}),
        Some(args @ Value::Object(_)) => args,
        Some(_) => return Err(ApiError::bad_request("`args` must be a JSON object")),
    };
    let session = match body.session {
        Some(session) => Some(session),
        None => header(headers, "x-snakepit-session")?.map(str::to_owned),
    }
    .map(|session| checked_id("the session id", session))
    .transpose()?;
    let timeout_ms = match body.timeout_ms {
        Some(ms) => Some(ms),
        None => header(headers, "x-snakepit-timeout-ms")?
            .map(|text| {
                text.parse::<u64>().map_err(|_| {
                    ApiError::bad_request("header x-snakepit-timeout-ms must be an integer")
                })
            })
            .transpose()?,
    };
    let timeout = timeout_ms
        .map(|ms| {
            let timeout = Duration::from_millis(ms);
            if ms == 0 || timeout > MAX_TIMEOUT {
                Err(ApiError::bad_request(format!(
                    "timeout_ms must be between 1 and {}",
                    MAX_TIMEOUT.as_millis()
                )))
            } else {
                Ok(timeout)
            }
        })
        .transpose()?;
    let idempotent = match body.idempotent {
        Some(flag) => flag,
        None => match header(headers, "x-snakepit-idempotent")? {
            None => false,
            Some("true" | "1") => true,
            Some("false" | "0") => false,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "header x-snakepit-idempotent must be true or false",
                ));
            }
        },
    };
    let correlation_id = match body.correlation_id {
        Some(id) => Some(id),
        None => header(headers, CORRELATION_HEADER)?.map(str::to_owned),
    }
    .map(|id| checked_id("the correlation id", id))
    .transpose()?
    .unwrap_or_else(new_correlation_id);
    Ok(Prepared {
        served,
        command,
        args,
        spec: CallSpec {
            session,
            timeout,
            idempotent,
            correlation_id,
        },
    })
}

fn with_correlation(mut response: Response, id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(id) {
        response.headers_mut().insert(CORRELATION_HEADER, value);
    }
    response
}

/// Records a finished call in the pool's monitor and on the event bus.
fn finished(state: &AppState, call: &Prepared, started: Instant, error: Option<&ApiError>) {
    if let Some(error) = error {
        call.served.monitor.record_error(&call.command, error);
    }
    if !state.listened() {
        return;
    }
    let elapsed = started.elapsed();
    state.emit(
        "call",
        json!({
            "pool": call.served.name,
            "command": call.command,
            "correlation_id": call.spec.correlation_id,
            "duration_ms": elapsed.as_secs_f64() * 1000.0,
            "ok": error.is_none(),
            "kind": error.map(|error| error.kind),
        }),
    );
}

/// `POST /v1/pools/{pool}/commands/{command}`: `{"result": ..}` or an error.
pub async fn call(
    State(state): State<Arc<AppState>>,
    params: PathParams<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut call = match accept(&state, params, &headers, body) {
        Ok(call) => call,
        Err(err) => return err.into_response(),
    };
    let started = Instant::now();
    let args = std::mem::take(&mut call.args);
    let outcome = dispatch::call(&call.served.pool, &call.command, args, &call.spec).await;
    let response = match outcome {
        Ok(result) => {
            finished(&state, &call, started, None);
            axum::Json(json!({ "result": result })).into_response()
        }
        Err(err) => {
            let err = ApiError::from(err);
            finished(&state, &call, started, Some(&err));
            err.into_response()
        }
    };
    with_correlation(response, &call.spec.correlation_id)
}

/// `POST /v1/pools/{pool}/commands/{command}/stream`: a `chunk` event per chunk, then one
/// `result` event, or an `error` event. Errors before the call starts are plain JSON errors.
pub async fn stream(
    State(state): State<Arc<AppState>>,
    params: PathParams<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut call = match accept(&state, params, &headers, body) {
        Ok(call) => call,
        Err(err) => return err.into_response(),
    };
    let started = Instant::now();
    let args = std::mem::take(&mut call.args);
    let opened = dispatch::stream(&call.served.pool, &call.command, args, &call.spec).await;
    let correlation_id = call.spec.correlation_id.clone();
    let response = match opened {
        Ok(items) => Sse::new(events(state, call, started, items))
            .keep_alive(KeepAlive::default())
            .into_response(),
        Err(err) => {
            let err = ApiError::from(err);
            finished(&state, &call, started, Some(&err));
            err.into_response()
        }
    };
    with_correlation(response, &correlation_id)
}

/// The SSE events of a running stream. Dropping it (the client went away) drops the
/// library's stream, which cancels the call on the worker.
fn events(
    state: Arc<AppState>,
    call: Prepared,
    started: Instant,
    items: snakepit::CallStream,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let context = Some((state, call, started));
    stream::unfold((items, context), |(mut items, context)| async move {
        let (state, call, started) = context?;
        let event = match items.next().await {
            Some(Ok(StreamItem::Chunk(chunk))) => {
                let event = Event::default().event("chunk").data(chunk.to_string());
                return Some((Ok(event), (items, Some((state, call, started)))));
            }
            Some(Ok(StreamItem::Done(result))) => {
                finished(&state, &call, started, None);
                Event::default()
                    .event("result")
                    .data(json!({ "result": result }).to_string())
            }
            Some(Err(err)) => {
                let err = ApiError::from(err);
                finished(&state, &call, started, Some(&err));
                let mut body = err.body();
                body["error"]["status"] = json!(err.status.as_u16());
                Event::default().event("error").data(body.to_string())
            }
            None => return None,
        };
        Some((Ok(event), (items, None)))
    })
}
