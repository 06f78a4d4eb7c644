//! The read-only routes: pools, tools, stats, health, readiness and `/metrics`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::PathParams;
use crate::error::ApiError;
use crate::monitor::{circuit_name, stats_json, workers_json};
use crate::state::{AppState, Served};

fn summary(served: &Served) -> Value {
    let stats = served.pool.stats();
    json!({
        "name": served.name,
        "adapter": served.pool.adapter_name(),
        "size": served.pool.config().size,
        "workers": stats.workers,
        "available": stats.available,
        "busy": stats.busy,
        "queued": stats.queued,
        "circuit": circuit_name(stats.circuit),
        "degraded": stats.degraded,
        "sessions": served.pool.sessions().stats().sessions,
        "uptime_s": served.since.elapsed().as_secs(),
    })
}

/// `GET /v1/pools`.
pub async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    let pools: Vec<Value> = state
        .pools()
        .values()
        .map(|served| summary(served))
        .collect();
    Json(json!({ "pools": pools }))
}

/// `GET /v1/pools/{pool}`.
pub async fn get(
    State(state): State<Arc<AppState>>,
    params: PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let served = state.pool(&params.0?)?;
    Ok(Json(summary(&served)))
}

/// `GET /v1/pools/{pool}/tools`.
pub async fn tools(
    State(state): State<Arc<AppState>>,
    params: PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let served = state.pool(&params.0?)?;
    Ok(Json(json!({ "tools": served.pool.tools() })))
}

/// `GET /v1/pools/{pool}/stats`.
pub async fn stats(
    State(state): State<Arc<AppState>>,
    params: PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let served = state.pool(&params.0?)?;
    let sessions = served.pool.sessions().stats();
    let stats = served.pool.stats();
    Ok(Json(json!({
        "pool": served.name,
        "stats": stats_json(&stats),
        "sessions": {
            "live": sessions.sessions,
            "created": sessions.created,
            "deleted": sessions.deleted,
            "expired": sessions.expired,
        },
        "latency": served.monitor.rates(&stats),
        "workers": workers_json(&served.pool),
        "recent_errors": served.monitor.errors(),
    })))
}

/// `GET /healthz`: the process answers.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: 200 when every pool has a live worker, 503 otherwise.
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let (ready, body) = state.readiness();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// `GET /metrics`: the library's Prometheus text exposition of every pool of this process
/// ([`snakepit::telemetry::prometheus::render`]); each series carries the pool's instance
/// name as its `pool` label (the CLI names a pool of the config file after its section).
/// 503 `metrics_unavailable` when another `metrics` recorder owns the process.
pub async fn metrics() -> Response {
    match snakepit::telemetry::prometheus::render() {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(err) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics_unavailable",
            err.to_string(),
        )
        .into_response(),
    }
}
