//! Turning a worker's reply into the call's result: a value, or the worker's error as data.

use serde_json::Value;

use super::handle::PoolShared;
use crate::error::{Error, ErrorKind, Result, WorkerError};
use crate::value::Payload;
use crate::worker::Reply;

/// Turns a worker's reply into the call's result: its value, with the buffers its markers
/// point at (checked when there are any).
pub(super) fn to_result(shared: &PoolShared, command: &str, message: Reply) -> Result<Payload> {
    if message.success == Some(true) {
        let result = message.result.unwrap_or(Value::Null);
        let invalid = |reason| Error::InvalidResponse {
            command: command.to_owned(),
            reason,
        };
        let value = shared
            .adapter
            .process_response(command, result)
            .map_err(invalid)?;
        let payload = Payload {
            value,
            buffers: message.buffers,
        };
        if !payload.buffers.is_empty() {
            payload.check().map_err(invalid)?;
        }
        return Ok(payload);
    }
    Err(Error::Worker(worker_error(command, message.error.as_ref())))
}

fn worker_error(command: &str, error: Option<&Value>) -> WorkerError {
    let text = |value: Option<&Value>| match value {
        Some(Value::String(text)) => Some(text.clone()),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    let (kind, message, traceback) = match error {
        Some(Value::Object(fields)) => (
            text(fields.get("type")).unwrap_or_else(|| "Error".to_owned()),
            text(fields.get("message")).unwrap_or_default(),
            text(fields.get("traceback")),
        ),
        Some(Value::String(message)) => ("Error".to_owned(), message.clone(), None),
        None | Some(Value::Null) => (
            "Error".to_owned(),
            "the worker reported a failure without details".to_owned(),
            None,
        ),
        Some(other) => ("Error".to_owned(), other.to_string(), None),
    };
    WorkerError {
        kind: ErrorKind::from_name(&kind),
        message,
        traceback,
        command: command.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_python_error_map_becomes_a_worker_error() {
        let error = worker_error(
            "compute",
            Some(
                &json!({"type": "ZeroDivisionError", "message": "division by zero", "traceback": "tb"}),
            ),
        );
        assert_eq!(error.kind, "ZeroDivisionError");
        assert_eq!(error.message, "division by zero");
        assert_eq!(error.traceback.as_deref(), Some("tb"));
        assert_eq!(error.command, "compute");
    }

    #[test]
    fn a_classic_error_string_becomes_a_worker_error() {
        let error = worker_error("x", Some(&json!("Unknown command: x")));
        assert_eq!(error.kind, "Error");
        assert_eq!(error.message, "Unknown command: x");
        assert_eq!(error.traceback, None);
        let error = worker_error("x", None);
        assert!(!error.message.is_empty());
    }
}
