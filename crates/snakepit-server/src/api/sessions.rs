//! Sessions of a pool and their typed variables, under `/v1/pools/{pool}/sessions`.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use snakepit::session::{Constraints, SessionInfo, Variable, VariableType};

use super::{PathParams, body_error};
use crate::error::ApiError;
use crate::state::AppState;

/// The longest TTL a session may ask for: thirty days.
const MAX_TTL_MS: u64 = 30 * 24 * 60 * 60 * 1000;

fn info_json(info: &SessionInfo) -> Value {
    let now = tokio::time::Instant::now();
    json!({
        "id": info.id().as_str(),
        "ttl_ms": millis(info.ttl()),
        "age_ms": millis(now.saturating_duration_since(info.created_at())),
        "idle_ms": millis(now.saturating_duration_since(info.last_access())),
        "owner": info.owner().map(|worker| worker.to_string()),
    })
}

/// `{"name", "type", "value", "constraints", "version"}`: the library's own JSON form.
fn variable_json(variable: &Variable) -> Value {
    serde_json::to_value(variable).unwrap_or_else(|err| {
        json!({"name": variable.name, "value": variable.value, "version": variable.version, "error": err.to_string()})
    })
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Parses an optional JSON body; an empty body is `T::default()`.
fn parse<T: DeserializeOwned + Default>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let body = body.map_err(|rejection| body_error(&rejection))?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&body)
        .map_err(|err| ApiError::bad_request(format!("the body is not valid: {err}")))
}

fn session_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 256 || id.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "a session id must be 1 to 256 bytes of text without control characters",
        ));
    }
    Ok(())
}

/// `GET /v1/pools/{pool}/sessions`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    params: PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let served = state.pool(&params.0?)?;
    let mut ids: Vec<String> = served
        .pool
        .sessions()
        .list()
        .into_iter()
        .map(|id| id.as_str().to_owned())
        .collect();
    ids.sort_unstable();
    Ok(Json(json!({ "sessions": ids })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    #[serde(default)]
    ttl_ms: Option<u64>,
}

/// `PUT /v1/pools/{pool}/sessions/{id}`: creates the session (201), 409 if it exists.
pub async fn create(
    State(state): State<Arc<AppState>>,
    params: PathParams<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (pool, id) = params.0?;
    let served = state.pool(&pool)?;
    session_id(&id)?;
    let body: CreateBody = parse(body)?;
    let ttl = match body.ttl_ms {
        Some(ms) if ms == 0 || ms > MAX_TTL_MS => {
            return Err(ApiError::bad_request(format!(
                "ttl_ms must be between 1 and {MAX_TTL_MS}"
            )));
        }
        other => other.map(Duration::from_millis),
    };
    let info = served.pool.sessions().create(id.as_str(), ttl)?;
    Ok((StatusCode::CREATED, Json(info_json(&info))).into_response())
}

/// `GET /v1/pools/{pool}/sessions/{id}`.
pub async fn get(
    State(state): State<Arc<AppState>>,
    params: PathParams<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (pool, id) = params.0?;
    let served = state.pool(&pool)?;
    let info = served.pool.sessions().get(&id)?;
    Ok(Json(info_json(&info)))
}

/// `DELETE /v1/pools/{pool}/sessions/{id}`: 204.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    params: PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (pool, id) = params.0?;
    let served = state.pool(&pool)?;
    served.pool.sessions().delete(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/pools/{pool}/sessions/{id}/variables`.
pub async fn variables(
    State(state): State<Arc<AppState>>,
    params: PathParams<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (pool, id) = params.0?;
    let served = state.pool(&pool)?;
    let variables = served.pool.sessions().list_variables(&id)?;
    let variables: Vec<Value> = variables.iter().map(variable_json).collect();
    Ok(Json(json!({ "variables": variables })))
}

/// `GET /v1/pools/{pool}/sessions/{id}/variables/{name}`.
pub async fn get_variable(
    State(state): State<Arc<AppState>>,
    params: PathParams<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (pool, id, name) = params.0?;
    let served = state.pool(&pool)?;
    let variable = served.pool.sessions().get_variable(&id, &name)?;
    Ok(Json(variable_json(&variable)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    #[serde(rename = "type")]
    var_type: VariableType,
    value: Value,
    #[serde(default)]
    constraints: Constraints,
}

/// `PUT /v1/pools/{pool}/sessions/{id}/variables/{name}`: registers a typed variable (201).
pub async fn register_variable(
    State(state): State<Arc<AppState>>,
    params: PathParams<(String, String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (pool, id, name) = params.0?;
    let served = state.pool(&pool)?;
    let body: Option<RegisterBody> = parse(body)?;
    let body = body.ok_or_else(|| {
        ApiError::bad_request("the body must give the variable's `type` and `value`")
    })?;
    let variable = served.pool.sessions().register_variable(
        &id,
        &name,
        body.var_type,
        body.value,
        body.constraints,
    )?;
    Ok((StatusCode::CREATED, Json(variable_json(&variable))).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    value: Value,
}

/// `PATCH /v1/pools/{pool}/sessions/{id}/variables/{name}`: sets a new value.
pub async fn update_variable(
    State(state): State<Arc<AppState>>,
    params: PathParams<(String, String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let (pool, id, name) = params.0?;
    let served = state.pool(&pool)?;
    let body: Option<UpdateBody> = parse(body)?;
    let body = body.ok_or_else(|| ApiError::bad_request("the body must give the `value`"))?;
    let variable = served
        .pool
        .sessions()
        .update_variable(&id, &name, body.value)?;
    Ok(Json(variable_json(&variable)))
}

/// `DELETE /v1/pools/{pool}/sessions/{id}/variables/{name}`: 204.
pub async fn delete_variable(
    State(state): State<Arc<AppState>>,
    params: PathParams<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let (pool, id, name) = params.0?;
    let served = state.pool(&pool)?;
    served.pool.sessions().delete_variable(&id, &name)?;
    Ok(StatusCode::NO_CONTENT)
}
