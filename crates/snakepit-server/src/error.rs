//! The API's errors: every failure becomes a JSON body with a stable `kind` and a status
//! code, and [`ServerError`], the crate's one error enum for starting and running a server.
//!
//! The body is `{"error": {"kind": .., "message": .., ...}}`. `kind` is stable and meant for
//! programs; `message` is for people. A Python exception adds `type`, `traceback` and
//! `command`; refusals that may pass add `retry_after_s` (and a `Retry-After` header).

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use snakepit::session::SessionError;
use snakepit::{Error, ErrorKind};

/// What can go wrong starting or running a server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The settings are not allowed, for example a public bind address without a token.
    #[error("{0}")]
    Refused(String),
    /// The listening socket could not be opened.
    #[error("could not listen on {addr}")]
    Bind {
        /// The address.
        addr: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A pool did not start.
    #[error("pool `{pool}` did not start")]
    PoolStart {
        /// The pool's name.
        pool: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The server failed while serving.
    #[error("the server failed")]
    Serve(#[source] std::io::Error),
}

/// An API error: status code, stable kind, message and optional details.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable machine-readable kind, such as `pool_saturated`.
    pub kind: &'static str,
    /// What happened, for people.
    pub message: String,
    /// A Python exception's type, message-free traceback and command, when there is one.
    pub worker: Option<Box<WorkerDetails>>,
    /// When the client may try again.
    pub retry_after: Option<Duration>,
}

/// The parts of a worker exception the body carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerDetails {
    /// The exception type, such as `ZeroDivisionError`.
    #[serde(rename = "type")]
    pub exception: String,
    /// The formatted traceback, when the worker sent one.
    pub traceback: Option<String>,
    /// The command that failed.
    pub command: String,
}

impl ApiError {
    /// An error of `kind` with `status`.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            worker: None,
            retry_after: None,
        }
    }

    /// 400 `bad_request`: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404 `unknown_pool`.
    pub fn unknown_pool(pool: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown_pool",
            format!("no pool named `{pool}`"),
        )
    }

    /// 404 `unknown_command`.
    pub fn unknown_command(pool: &str, command: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown_command",
            format!("pool `{pool}` has no command `{command}`"),
        )
    }

    /// 401 `unauthorized`.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        )
    }

    /// 404 `not_found`: no such route.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such route")
    }

    /// 503 `shutting_down`.
    pub fn shutting_down() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        )
    }

    fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut error = json!({"kind": self.kind, "message": self.message});
        if let Some(worker) = &self.worker {
            error["type"] = json!(worker.exception);
            error["traceback"] = json!(worker.traceback);
            error["command"] = json!(worker.command);
        }
        if let Some(after) = self.retry_after {
            error["retry_after_s"] = json!(retry_seconds(after));
        }
        json!({ "error": error })
    }
}

fn retry_seconds(after: Duration) -> u64 {
    after.as_secs() + u64::from(after.subsec_nanos() > 0)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(after) = self.retry_after {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_seconds(after).max(1)),
            );
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"snakepit\""),
            );
        }
        response
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        let message = err.to_string();
        let status = |status, kind| Self::new(status, kind, message.clone());
        match err {
            Error::PoolSaturated { .. } => status(StatusCode::TOO_MANY_REQUESTS, "pool_saturated")
                .retry_after(Duration::from_secs(1)),
            Error::QueueTimeout { .. } => status(StatusCode::GATEWAY_TIMEOUT, "queue_timeout"),
            Error::Timeout { .. } => status(StatusCode::GATEWAY_TIMEOUT, "timeout"),
            Error::CircuitOpen { .. } => status(StatusCode::SERVICE_UNAVAILABLE, "circuit_open")
                .retry_after(Duration::from_secs(1)),
            Error::Shutdown => status(StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
            Error::SessionLost { .. } => status(StatusCode::CONFLICT, "session_lost"),
            Error::SessionBusy { .. } => {
                status(StatusCode::CONFLICT, "session_busy").retry_after(Duration::from_secs(1))
            }
            Error::Worker(failure) => {
                let (code, kind) = match failure.kind {
                    ErrorKind::UnknownCommand => (StatusCode::NOT_FOUND, "unknown_command"),
                    _ => (StatusCode::UNPROCESSABLE_ENTITY, "worker_error"),
                };
                let mut api = Self::new(code, kind, failure.message.clone());
                api.worker = Some(Box::new(WorkerDetails {
                    exception: failure.kind.as_str().to_owned(),
                    traceback: failure.traceback,
                    command: failure.command,
                }));
                api
            }
            Error::WorkerExited { .. } => status(StatusCode::BAD_GATEWAY, "worker_exited"),
            Error::WorkerProtocol { .. } | Error::InvalidResponse { .. } => {
                status(StatusCode::BAD_GATEWAY, "worker_protocol")
            }
            Error::InvalidCall { .. } => status(StatusCode::BAD_REQUEST, "invalid_call"),
            Error::Session(session) => session.into(),
            _ => status(StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(err: SessionError) -> Self {
        let message = err.to_string();
        let (status, kind) = match err {
            SessionError::NotFound(_) => (StatusCode::NOT_FOUND, "session_not_found"),
            SessionError::AlreadyExists(_) => (StatusCode::CONFLICT, "session_exists"),
            SessionError::TooMany { .. } => (StatusCode::SERVICE_UNAVAILABLE, "session_limit"),
            SessionError::VariableNotFound { .. } => (StatusCode::NOT_FOUND, "variable_not_found"),
            SessionError::VariableExists { .. } => (StatusCode::CONFLICT, "variable_exists"),
            SessionError::InvalidVariable { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_variable")
            }
            SessionError::ProgramNotFound { .. } => (StatusCode::NOT_FOUND, "program_not_found"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        Self::new(status, kind, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snakepit::WorkerError;

    #[test]
    fn library_errors_map_to_their_status_and_kind() {
        let saturated = ApiError::from(Error::PoolSaturated { queued: 3 });
        assert_eq!(saturated.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(saturated.kind, "pool_saturated");
        assert_eq!(saturated.body()["error"]["retry_after_s"], 1);
        let timeout = ApiError::from(Error::QueueTimeout {
            waited: Duration::from_secs(1),
        });
        assert_eq!(timeout.status, StatusCode::GATEWAY_TIMEOUT);
        let open = ApiError::from(Error::CircuitOpen { failures: 3 });
        assert_eq!(open.status, StatusCode::SERVICE_UNAVAILABLE);
        let missing = ApiError::from(Error::Session(SessionError::NotFound("s".into())));
        assert_eq!(missing.kind, "session_not_found");
    }

    #[test]
    fn a_worker_exception_keeps_type_and_traceback() {
        let api = ApiError::from(Error::Worker(WorkerError {
            kind: ErrorKind::ZeroDivisionError,
            message: "division by zero".into(),
            traceback: Some("Traceback ...".into()),
            command: "compute".into(),
        }));
        assert_eq!(api.status, StatusCode::UNPROCESSABLE_ENTITY);
        let body = api.body();
        assert_eq!(body["error"]["type"], "ZeroDivisionError");
        assert_eq!(body["error"]["traceback"], "Traceback ...");
        assert_eq!(body["error"]["message"], "division by zero");
    }
}
